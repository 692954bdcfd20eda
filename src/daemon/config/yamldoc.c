/* yamldoc.c - libyaml's document API turned into a plain tree with line numbers. */
#include "daemon/config/yamldoc.h"

#include "shared/parse.h"
#include "shared/strbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>
#include <yaml.h>

int yamldoc_read_file(const char *path, char **ret, size_t *ret_len, struct error **err)
{
        /* O_NONBLOCK so a FIFO cannot hang us; it has no effect on regular files. */
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0) {
                if (errno == ENOENT || errno == ENOTDIR)
                        return -ENOENT;
                int e = -errno;
                error_set_errno(err, e, "cannot open %s", path);
                return e;
        }
        struct stat st;
        if (fstat(fd, &st) < 0) {
                int e = -errno;
                error_set_errno(err, e, "cannot stat %s", path);
                return e;
        }
        if (!S_ISREG(st.st_mode)) {
                error_set(err, DS01_ERR, "%s is not a regular file", path);
                return -EINVAL;
        }
        if (st.st_size > YAMLDOC_MAX_FILE_SIZE) {
                error_set(err, DS01_ERR, "%s is too large (%" PRIdMAX " bytes; the limit is %d)",
                          path, (intmax_t)st.st_size, YAMLDOC_MAX_FILE_SIZE);
                return -EFBIG;
        }
        size_t cap = (size_t)st.st_size + 1, len = 0;
        _cleanup_free_ char *buf = xmalloc(cap);
        for (;;) {
                if (len + 1 >= cap) {
                        if (cap > YAMLDOC_MAX_FILE_SIZE) {
                                error_set(err, DS01_ERR, "%s is too large (the limit is %d bytes)",
                                          path, YAMLDOC_MAX_FILE_SIZE);
                                return -EFBIG;
                        }
                        cap *= 2;
                        buf = xrealloc(buf, cap);
                }
                ssize_t r = read(fd, buf + len, cap - 1 - len);
                if (r < 0) {
                        if (errno == EINTR)
                                continue;
                        int e = -errno;
                        error_set_errno(err, e, "cannot read %s", path);
                        return e;
                }
                if (r == 0)
                        break;
                len += (size_t)r;
        }
        buf[len] = '\0';
        *ret = TAKE_PTR(buf);
        if (ret_len)
                *ret_len = len;
        return 0;
}

static struct yamldoc_node *node_free(struct yamldoc_node *n)
{
        if (!n)
                return NULL;
        free(n->scalar);
        for (size_t i = 0; n->items && i < n->n; i++)
                node_free(n->items[i]);
        free(n->items);
        for (size_t i = 0; n->pairs && i < n->n; i++) {
                free(n->pairs[i].key);
                node_free(n->pairs[i].value);
        }
        free(n->pairs);
        free(n);
        return NULL;
}

struct yamldoc *yamldoc_free(struct yamldoc *d)
{
        if (d) {
                node_free(d->root);
                free(d->file);
                free(d);
        }
        return NULL;
}

int yamldoc_error(const struct yamldoc *d, unsigned line, struct error **err, const char *fmt, ...)
{
        if (!err || *err)
                return -1;
        va_list ap;
        va_start(ap, fmt);
        _cleanup_free_ char *m = xvasprintf(fmt, ap);
        va_end(ap);
        return error_set(err, DS01_EUSAGE, "%s:%u: %s", d->file, line, m);
}

struct converter {
        struct yamldoc *doc;
        yaml_document_t *ydoc;
        bool *seen; /* per libyaml node: reached already (an alias) */
};

static bool is_null_scalar(const yaml_node_t *yn)
{
        if (yn->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
                return false;
        const char *v = (const char *)yn->data.scalar.value;
        return yn->data.scalar.length == 0 || streq(v, "~") || streq(v, "null") ||
               streq(v, "Null") || streq(v, "NULL");
}

static struct yamldoc_node *convert(struct converter *c, int id, unsigned depth, struct error **err)
{
        yaml_node_t *yn = yaml_document_get_node(c->ydoc, id);
        if (!yn) {
                error_set(err, DS01_EUSAGE, "%s: malformed YAML document", c->doc->file);
                return NULL;
        }
        unsigned line = (unsigned)yn->start_mark.line + 1;
        if (c->seen[id]) {
                /* libyaml resolves the alias to the anchored node: name the anchor's line. */
                yamldoc_error(c->doc, line, err,
                              "the value anchored here (&name) is reused through an alias "
                              "(*name); YAML aliases are not supported, write the value out");
                return NULL;
        }
        c->seen[id] = true;
        if (depth > YAMLDOC_MAX_DEPTH) {
                yamldoc_error(c->doc, line, err, "nested too deeply (the limit is %d levels)",
                              YAMLDOC_MAX_DEPTH);
                return NULL;
        }

        struct yamldoc_node *n = xzalloc(sizeof(*n));
        n->line = line;
        switch (yn->type) {
        case YAML_SCALAR_NODE:
                if (is_null_scalar(yn)) {
                        n->kind = YAMLDOC_NULL;
                } else {
                        n->kind = YAMLDOC_SCALAR;
                        n->scalar =
                            xstrndup((const char *)yn->data.scalar.value, yn->data.scalar.length);
                        if (strlen(n->scalar) != yn->data.scalar.length) {
                                yamldoc_error(c->doc, line, err, "NUL byte in a string");
                                return node_free(n);
                        }
                }
                break;
        case YAML_SEQUENCE_NODE: {
                n->kind = YAMLDOC_SEQ;
                size_t cnt = (size_t)(yn->data.sequence.items.top - yn->data.sequence.items.start);
                n->items = xcalloc(cnt ? cnt : 1, sizeof(*n->items));
                for (size_t i = 0; i < cnt; i++) {
                        n->items[i] = convert(c, yn->data.sequence.items.start[i], depth + 1, err);
                        n->n = i + 1;
                        if (!n->items[i])
                                return node_free(n);
                }
                break;
        }
        case YAML_MAPPING_NODE: {
                n->kind = YAMLDOC_MAP;
                size_t cnt = (size_t)(yn->data.mapping.pairs.top - yn->data.mapping.pairs.start);
                n->pairs = xcalloc(cnt ? cnt : 1, sizeof(*n->pairs));
                for (size_t i = 0; i < cnt; i++) {
                        yaml_node_pair_t *yp = &yn->data.mapping.pairs.start[i];
                        yaml_node_t *kn = yaml_document_get_node(c->ydoc, yp->key);
                        if (!kn) {
                                yamldoc_error(c->doc, line, err, "malformed mapping");
                                return node_free(n);
                        }
                        unsigned kline = (unsigned)kn->start_mark.line + 1;
                        if (kn->type != YAML_SCALAR_NODE) {
                                yamldoc_error(c->doc, kline, err,
                                              "mapping keys must be plain strings");
                                return node_free(n);
                        }
                        if (c->seen[yp->key]) {
                                yamldoc_error(c->doc, kline, err,
                                              "YAML aliases (*name) are not supported here; "
                                              "write the key out");
                                return node_free(n);
                        }
                        c->seen[yp->key] = true;
                        const char *k = (const char *)kn->data.scalar.value;
                        if (strlen(k) != kn->data.scalar.length) {
                                yamldoc_error(c->doc, kline, err, "NUL byte in a key");
                                return node_free(n);
                        }
                        if (streq(k, "<<") && kn->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
                                yamldoc_error(c->doc, kline, err,
                                              "YAML merge keys (<<) are not supported; write "
                                              "the keys out");
                                return node_free(n);
                        }
                        for (size_t j = 0; j < i; j++)
                                if (streq(n->pairs[j].key, k)) {
                                        yamldoc_error(c->doc, kline, err,
                                                      "duplicate key '%s' (first at line %u)", k,
                                                      n->pairs[j].line);
                                        return node_free(n);
                                }
                        n->pairs[i].key = xstrdup(k);
                        n->pairs[i].line = kline;
                        n->n = i + 1;
                        n->pairs[i].value = convert(c, yp->value, depth + 1, err);
                        if (!n->pairs[i].value)
                                return node_free(n);
                }
                break;
        }
        case YAML_NO_NODE:
        default:
                yamldoc_error(c->doc, line, err, "malformed YAML node");
                return node_free(n);
        }
        return n;
}

static int parser_error(const char *path, const yaml_parser_t *p, struct error **err)
{
        const char *problem = p->problem ? p->problem : "invalid YAML";
        if (p->context)
                return error_set(err, DS01_EUSAGE, "%s:%zu: %s (%s started at line %zu)", path,
                                 p->problem_mark.line + 1, problem, p->context,
                                 p->context_mark.line + 1);
        return error_set(err, DS01_EUSAGE, "%s:%zu: %s", path, p->problem_mark.line + 1, problem);
}

int yamldoc_load(const char *path, struct yamldoc **ret, struct error **err)
{
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        int r = yamldoc_read_file(path, &buf, &len, err);
        if (r < 0)
                return r;

        yaml_parser_t parser;
        if (!yaml_parser_initialize(&parser)) {
                error_set(err, DS01_ERR, "%s: cannot initialise the YAML parser", path);
                return -ENOMEM;
        }
        yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
        yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);

        yaml_document_t ydoc;
        if (!yaml_parser_load(&parser, &ydoc)) {
                parser_error(path, &parser, err);
                yaml_parser_delete(&parser);
                return -EINVAL;
        }

        _cleanup_yamldoc_ struct yamldoc *d = xzalloc(sizeof(*d));
        d->file = xstrdup(path);
        r = 0;
        yaml_node_t *root = yaml_document_get_root_node(&ydoc);
        if (!root) {
                d->root = xzalloc(sizeof(*d->root));
                d->root->kind = YAMLDOC_NULL;
                d->root->line = 1;
        } else {
                size_t nodes = (size_t)(ydoc.nodes.top - ydoc.nodes.start);
                struct converter c = {
                    .doc = d,
                    .ydoc = &ydoc,
                    .seen = xcalloc(nodes + 1, sizeof(bool)),
                };
                d->root = convert(&c, 1, 0, err);
                free(c.seen);
                if (!d->root)
                        r = -EINVAL;
        }
        yaml_document_delete(&ydoc);

        if (r == 0) {
                /* A second document is most likely a stray "---": refuse rather than ignore. */
                yaml_document_t extra;
                if (!yaml_parser_load(&parser, &extra)) {
                        parser_error(path, &parser, err);
                        r = -EINVAL;
                } else {
                        yaml_node_t *xroot = yaml_document_get_root_node(&extra);
                        if (xroot) {
                                yamldoc_error(d, (unsigned)xroot->start_mark.line + 1, err,
                                              "a second YAML document; only one is read");
                                r = -EINVAL;
                        }
                        yaml_document_delete(&extra);
                }
        }
        yaml_parser_delete(&parser);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(d);
        return 0;
}

const char *yamldoc_kind_name(const struct yamldoc_node *n)
{
        if (!n)
                return "null";
        switch (n->kind) {
        case YAMLDOC_NULL:
                return "null";
        case YAMLDOC_SCALAR:
                return "a string";
        case YAMLDOC_SEQ:
                return "a list";
        case YAMLDOC_MAP:
                return "a mapping";
        }
        return "?";
}

const struct yamldoc_pair *yamldoc_map_get_pair(const struct yamldoc_node *n, const char *key)
{
        if (!n || n->kind != YAMLDOC_MAP)
                return NULL;
        for (size_t i = 0; i < n->n; i++)
                if (streq(n->pairs[i].key, key))
                        return &n->pairs[i];
        return NULL;
}

const struct yamldoc_node *yamldoc_map_get(const struct yamldoc_node *n, const char *key)
{
        const struct yamldoc_pair *p = yamldoc_map_get_pair(n, key);
        return p ? p->value : NULL;
}

int yamldoc_expect(const struct yamldoc *d, const struct yamldoc_node *n, enum yamldoc_kind kind,
                   const char *what, struct error **err)
{
        if (n && n->kind == kind)
                return 0;
        struct yamldoc_node want = {.kind = kind};
        return yamldoc_error(d, n ? n->line : 1, err, "%s must be %s, not %s", what,
                             yamldoc_kind_name(&want), yamldoc_kind_name(n));
}

/* Levenshtein distance, capped: only used to suggest a spelling for short keys. */
static size_t edit_distance(const char *a, const char *b)
{
        size_t la = strlen(a), lb = strlen(b);
        if (la > 64 || lb > 64)
                return SIZE_MAX;
        size_t prev[65], cur[65];
        for (size_t j = 0; j <= lb; j++)
                prev[j] = j;
        for (size_t i = 1; i <= la; i++) {
                cur[0] = i;
                for (size_t j = 1; j <= lb; j++) {
                        size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
                        size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
                        size_t m = del < ins ? del : ins;
                        cur[j] = m < sub ? m : sub;
                }
                memcpy(prev, cur, sizeof(prev));
        }
        return prev[lb];
}

int yamldoc_unknown_key(const struct yamldoc *d, const struct yamldoc_pair *p, const char *where,
                        const char *const *known, struct error **err)
{
        _cleanup_(strbuf_release) struct strbuf sb = STRBUF_INIT;
        const char *best = NULL;
        size_t best_dist = 3; /* suggest only close matches */
        for (size_t i = 0; known && known[i]; i++) {
                strbuf_addf(&sb, "%s%s", i ? ", " : "", known[i]);
                size_t dist = edit_distance(p->key, known[i]);
                if (dist < best_dist) {
                        best_dist = dist;
                        best = known[i];
                }
        }
        if (best)
                return yamldoc_error(d, p->line, err,
                                     "unknown key '%s' in %s; did you mean '%s'? (known keys: %s)",
                                     p->key, where, best, strbuf_str(&sb));
        return yamldoc_error(d, p->line, err, "unknown key '%s' in %s (known keys: %s)", p->key,
                             where, strbuf_str(&sb));
}

static int need_scalar(const struct yamldoc *d, const struct yamldoc_node *n, const char *what,
                       const char *want, struct error **err)
{
        if (n && n->kind == YAMLDOC_SCALAR)
                return 0;
        return yamldoc_error(d, n ? n->line : 1, err, "'%s' must be %s, not %s", what, want,
                             yamldoc_kind_name(n));
}

int yamldoc_get_string(const struct yamldoc *d, const struct yamldoc_node *n, const char *what,
                       const char **ret, struct error **err)
{
        if (need_scalar(d, n, what, "a string", err) < 0)
                return -1;
        *ret = n->scalar;
        return 0;
}

int yamldoc_get_int64(const struct yamldoc *d, const struct yamldoc_node *n, const char *what,
                      int64_t min, int64_t max, int64_t *ret, struct error **err)
{
        if (need_scalar(d, n, what, "a whole number", err) < 0)
                return -1;
        if (parse_int64(n->scalar, min, max, ret) < 0)
                return yamldoc_error(d, n->line, err,
                                     "'%s' must be a whole number from %" PRId64 " to %" PRId64
                                     ", not '%s'",
                                     what, min, max, n->scalar);
        return 0;
}

int yamldoc_get_double(const struct yamldoc *d, const struct yamldoc_node *n, const char *what,
                       double min, double max, double *ret, struct error **err)
{
        if (need_scalar(d, n, what, "a number", err) < 0)
                return -1;
        if (parse_double(n->scalar, min, max, ret) < 0)
                return yamldoc_error(d, n->line, err,
                                     "'%s' must be a number from %g to %g, not '%s'", what, min,
                                     max, n->scalar);
        return 0;
}

int yamldoc_get_bool(const struct yamldoc *d, const struct yamldoc_node *n, const char *what,
                     bool *ret, struct error **err)
{
        if (need_scalar(d, n, what, "true or false", err) < 0)
                return -1;
        if (parse_bool(n->scalar, ret) < 0)
                return yamldoc_error(d, n->line, err, "'%s' must be true or false, not '%s'", what,
                                     n->scalar);
        return 0;
}

int yamldoc_get_size(const struct yamldoc *d, const struct yamldoc_node *n, const char *what,
                     int64_t *ret, struct error **err)
{
        if (need_scalar(d, n, what, "a size", err) < 0)
                return -1;
        if (parse_size(n->scalar, ret) < 0)
                return yamldoc_error(d, n->line, err,
                                     "'%s' must be a size such as 32g, 512m or 1024k (units b, k, "
                                     "m, g, t), not '%s'",
                                     what, n->scalar);
        return 0;
}
