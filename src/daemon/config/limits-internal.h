/* limits-internal.h - what the parts of the limits module share; private to src/daemon/config/
 * (everyone else uses limits.h).
 *
 * The module is one in three files: limits-schema.c (every limit and policy key with its type
 * and bound, DS01's old names, the keys accepted and not acted on, layers, the built-in
 * defaults, and a mapping of values parsed into a layer), limits-load.c (resource-limits.yaml
 * and the files beside it read into struct limits) and limits.c (a user's effective limits and
 * exemptions from it).
 *
 * A struct limits is built by limits_load alone and never changed after: it needs no lock
 * (generation.h shares it). */
#pragma once

#include "daemon/config/limits.h"

#include "daemon/config/yamldoc.h"

#include <stdbool.h>
#include <stdint.h>

/* --- layers: a partial set of values ------------------------------------------------------- */

struct layer {
        uint32_t set;  /* bit i: value_fields[i] given */
        uint32_t pset; /* bit i: policy_fields[i] given */
        uint32_t aset; /* bit i: aggregate_fields[i] given */
        struct limit_set v;
        struct limit_policies p;
};

/* --- the loaded state ---------------------------------------------------------------------- */

struct limit_group {
        char *name;
        char **members; /* sorted */
        size_t n_members;
        char *unix_group; /* NULL: none */
        struct layer layer;
        struct limit_set base; /* built-in ⊕ defaults ⊕ this group (user/group unset) */
};

struct override {
        char *user;
        struct layer layer;
};

enum {
        EXEMPT_IDLE = 1 << 0,
        EXEMPT_RUNTIME = 1 << 1,
};

/* container_types.<name>: a Docker-made container's lifecycle (limits-types.c) */
struct limit_type {
        char *name; /* devcontainer, compose, docker, api, unknown */
        bool has_idle, has_runtime, has_grace;
        double idle_timeout_h; /* -1: exempt (null) */
        double max_runtime_h;  /* -1: exempt (null) */
        int64_t sigterm_grace_s;
};

struct exemption {
        char *user;
        unsigned exempt_from; /* EXEMPT_* */
        char *reason;
        int64_t expires_on; /* unix time; -1: never */
};

struct limits {
        char *source;
        struct layer top; /* `defaults:` + global `policies:` */
        struct limit_group *groups;
        size_t n_groups;
        size_t default_group;
        char *default_group_name;
        unsigned default_group_line;
        struct override *overrides; /* sorted by user */
        size_t n_overrides;
        struct exemption *exemptions;
        size_t n_exemptions;
        char **unused; /* NULL-terminated */
        size_t n_unused;
        char **group_names; /* NULL-terminated */
        /* group-overrides.txt: logins whose group is forced, in file order */
        struct forced_group {
                char *user;
                size_t group; /* index in groups */
        } * forced;
        size_t n_forced;
        bool aggregate_off; /* enforcement.aggregate_limits: false */
        char **archived;    /* groups/archived.members: may not deploy (sorted) */
        size_t n_archived;
        char **bare_metal_exempt; /* bare_metal_access.exempt_users (sorted) */
        size_t n_bare_metal_exempt;
        struct limit_type *types; /* container_types */
        size_t n_types;
};

/* --- the schema and layers (limits-schema.c) ----------------------------------------------- */

bool limits_in_list(const char *const *list, const char *s);
void limits_layer_apply(struct limit_set *s, const struct layer *l);
void limits_layer_merge(struct layer *dst, const struct layer *src);
/* DS01's `defaults:` and global `policies:` as deployed. */
void limits_builtin_defaults(struct limit_set *s);
/* Notes a dotted key path ds01 accepts and does not act on (limits_unused_keys), once. */
void limits_note_unused(struct limits *l, const char *path);
/* A login as members files and overrides spell it: printable, no spaces, bounded. DS01's
 * logins look like "jdoe@hertie-school.lan", so '@' and '.' are fine. */
bool limits_login_valid(const char *s);

/* --- parsing (limits-schema.c) ------------------------------------------------------------- */

struct loader {
        struct limits *l;
        const struct yamldoc *d;
        char *dir; /* directory of the limits file */
};

enum section_kind {
        SECTION_DEFAULTS,
        SECTION_GROUP,
        SECTION_OVERRIDE,
};

/* A mapping of limit values: `defaults:`, `groups.<g>:` (g takes its members: and unix_group:)
 * or one user's override, into out. */
int limits_parse_values(const struct loader *ld, const struct yamldoc_node *n, const char *where,
                        const char *unused_prefix, enum section_kind kind, struct layer *out,
                        struct limit_group *g, struct error **err);
/* An `aggregate:` mapping (a group's or an override's), into out. */
int limits_parse_aggregate(const struct loader *ld, const struct yamldoc_node *n, const char *where,
                           struct layer *out, struct error **err);
/* A `policies:` mapping (global, a group's or an override's), into out. */
int limits_parse_policies(const struct loader *ld, const struct yamldoc_node *n, const char *where,
                          const char *unused_prefix, struct layer *out, struct error **err);

/* `container_types:` (limits-types.c). */
int limits_parse_types(struct loader *ld, const struct yamldoc_node *n, struct error **err);
void limits_types_free(struct limits *l);

/* --- resolution (limits.c) ----------------------------------------------------------------- */

/* Orders groups' members (sorted when loaded, searched when resolved). */
int limits_cmp_str(const void *a, const void *b);
