/* yamldoc.h - a YAML file loaded (libyaml document API) into a small tree with line numbers, and
 * the helpers config.c and limits.c use to walk it and to report errors as "FILE:LINE: ...".
 *
 * Plain `null`, `~` and empty values are YAMLDOC_NULL; a quoted "null" is a string. Aliases are
 * rejected (a config file never needs them, and they are how a small file becomes a huge tree);
 * anchors alone are harmless. Files are bounded in size and nesting; duplicate mapping keys are
 * errors. Content errors carry DS01_EUSAGE, I/O errors DS01_ERR (or DS01_EPERM). */
#pragma once

#include "shared/error.h"

#define YAMLDOC_MAX_FILE_SIZE (1024 * 1024)
#define YAMLDOC_MAX_DEPTH     64

enum yamldoc_kind {
        YAMLDOC_NULL,
        YAMLDOC_SCALAR,
        YAMLDOC_SEQ,
        YAMLDOC_MAP,
};

struct yamldoc_pair;

struct yamldoc_node {
        enum yamldoc_kind kind;
        unsigned line;               /* 1-based line where the node starts */
        char *scalar;                /* YAMLDOC_SCALAR: the text, never NULL */
        size_t n;                    /* YAMLDOC_SEQ: items; YAMLDOC_MAP: pairs */
        struct yamldoc_node **items; /* YAMLDOC_SEQ */
        struct yamldoc_pair *pairs;  /* YAMLDOC_MAP, in file order */
};

struct yamldoc_pair {
        char *key;
        unsigned line; /* the key's line */
        struct yamldoc_node *value;
};

struct yamldoc {
        char *file;                /* the path, as given */
        struct yamldoc_node *root; /* never NULL: an empty file is a YAMLDOC_NULL root */
};

/* Reads a whole regular file of at most YAMLDOC_MAX_FILE_SIZE bytes (NUL-terminated).
 * Returns 0, or -ENOENT without touching err when the file does not exist, or another negative
 * errno with err set. */
int yamldoc_read_file(const char *path, char **ret, size_t *ret_len, struct error **err);

/* Loads the first (only) document of a YAML file. Same return convention as yamldoc_read_file. */
int yamldoc_load(const char *path, struct yamldoc **ret, struct error **err);
struct yamldoc *yamldoc_free(struct yamldoc *d);
static inline void yamldoc_freep(struct yamldoc **d)
{
        yamldoc_free(*d);
}
#define _cleanup_yamldoc_ _cleanup_(yamldoc_freep)

/* "FILE:LINE: message" with DS01_EUSAGE; returns -1. */
int yamldoc_error(const struct yamldoc *d, unsigned line, struct error **err, const char *fmt, ...)
    _printf_(4, 5);

/* "a mapping", "a list", "a string", "null": for messages. */
const char *yamldoc_kind_name(const struct yamldoc_node *n);

static inline bool yamldoc_is_null(const struct yamldoc_node *n)
{
        return !n || n->kind == YAMLDOC_NULL;
}

/* The value of `key` in mapping n, or NULL (also when n is not a mapping). */
const struct yamldoc_node *yamldoc_map_get(const struct yamldoc_node *n, const char *key);
const struct yamldoc_pair *yamldoc_map_get_pair(const struct yamldoc_node *n, const char *key);

/* Errors unless n is of `kind`: "FILE:LINE: WHAT must be a mapping, not a list". */
int yamldoc_expect(const struct yamldoc *d, const struct yamldoc_node *n, enum yamldoc_kind kind,
                   const char *what, struct error **err);

/* "FILE:LINE: unknown key 'KEY' in WHERE (did you mean 'X'?) (known keys: a, b, c)";
 * known is NULL-terminated. Returns -1. */
int yamldoc_unknown_key(const struct yamldoc *d, const struct yamldoc_pair *p, const char *where,
                        const char *const *known, struct error **err);

/* Typed scalar getters. `what` names the key in messages ("gpus.backend"). Each fails with a
 * file:line error on null, a non-scalar or a bad value, and writes *ret only on success. */
int yamldoc_get_string(const struct yamldoc *d, const struct yamldoc_node *n, const char *what,
                       const char **ret, struct error **err);
int yamldoc_get_int64(const struct yamldoc *d, const struct yamldoc_node *n, const char *what,
                      int64_t min, int64_t max, int64_t *ret, struct error **err);
int yamldoc_get_double(const struct yamldoc *d, const struct yamldoc_node *n, const char *what,
                       double min, double max, double *ret, struct error **err);
int yamldoc_get_bool(const struct yamldoc *d, const struct yamldoc_node *n, const char *what,
                     bool *ret, struct error **err);
/* Docker sizes ("32g", "512m", plain bytes), see parse_size(). */
int yamldoc_get_size(const struct yamldoc *d, const struct yamldoc_node *n, const char *what,
                     int64_t *ret, struct error **err);
