/* buildcheck.c - a build context read as Docker's classic builder reads it (buildcheck.h).
 *
 * The checks are only as good as the agreement with Docker: the tar reader follows Go's
 * archive/tar and Docker's untar (names cleaned, PAX records, header-only types), and the
 * Dockerfile reader follows BuildKit's parser that the classic builder uses (line
 * continuations, comments inside them, the escape directive, Unicode white space, builder flags,
 * quote removal). Where a reading is uncertain the check takes both: the Dockerfile is read with
 * each escape character, and a name is checked as written and unquoted. */
#include "daemon/images/buildcheck.h"

#include "shared/strbuf.h"
#include "shared/util.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#define BLOCK          512
#define DOCKERFILE_MAX (1024 * 1024)
#define REF_MAX        255
#define REFS_MAX       256

/* ---- the context tar ---------------------------------------------------------------------- */

/* Go's strings.TrimSpace/unicode.IsSpace: the length of the white space character at p, or 0. */
static size_t uspace(const char *s)
{
        const unsigned char *p = (const unsigned char *)s;
        if (*p == ' ' || (*p >= '\t' && *p <= '\r'))
                return 1;
        if (p[0] == 0xc2 && (p[1] == 0x85 || p[1] == 0xa0))
                return 2;
        if (p[0] == 0xe1 && p[1] == 0x9a && p[2] == 0x80)
                return 3;
        if (p[0] == 0xe2 && p[1] == 0x80 &&
            ((p[2] >= 0x80 && p[2] <= 0x8a) || p[2] == 0xa8 || p[2] == 0xa9 || p[2] == 0xaf))
                return 3;
        if (p[0] == 0xe2 && p[1] == 0x81 && p[2] == 0x9f)
                return 3;
        if (p[0] == 0xe3 && p[1] == 0x80 && p[2] == 0x80)
                return 3;
        return 0;
}

/* Go's unicode.IsSpace(rune(b)) over single bytes, as extractBuilderFlags tests them. */
static bool byte_space(unsigned char b)
{
        return b == ' ' || (b >= '\t' && b <= '\r') || b == 0x85 || b == 0xa0;
}

/* An octal header field as Go parses it: spaces and NULs around digits; false otherwise (base
 * 256 included: no context is that large). */
static bool octal_field(const char *f, size_t n, uint64_t *ret)
{
        size_t i = 0, e = n;
        while (i < n && (f[i] == ' ' || f[i] == '\0'))
                i++;
        while (e > i && (f[e - 1] == ' ' || f[e - 1] == '\0'))
                e--;
        uint64_t v = 0;
        if (i == e) {
                *ret = 0;
                return true;
        }
        for (; i < e; i++) {
                if (f[i] < '0' || f[i] > '7' || v > (UINT64_MAX >> 3))
                        return false;
                v = v * 8 + (uint64_t)(f[i] - '0');
        }
        *ret = v;
        return true;
}

static bool checksum_ok(const unsigned char *h)
{
        uint64_t want;
        if (!octal_field((const char *)h + 148, 8, &want))
                return false;
        uint64_t sum = 0;
        for (size_t i = 0; i < BLOCK; i++)
                sum += (i >= 148 && i < 156) ? ' ' : h[i];
        return sum == want;
}

/* Docker's filepath.Clean of an entry name, relative to the context root ("" for the root).
 * ".." at the root stays at the root: Docker either refuses such a name or writes it there. */
static char *clean_name(const char *name)
{
        struct strbuf out = STRBUF_INIT;
        const char *p = name;
        while (*p) {
                while (*p == '/')
                        p++;
                size_t n = strcspn(p, "/");
                if (n == 0)
                        break;
                if (n == 1 && p[0] == '.') {
                } else if (n == 2 && p[0] == '.' && p[1] == '.') {
                        char *slash = out.len ? strrchr(out.buf, '/') : NULL;
                        out.len = slash ? (size_t)(slash - out.buf) : 0;
                        if (out.buf)
                                out.buf[out.len] = '\0';
                } else {
                        if (out.len)
                                strbuf_addc(&out, '/');
                        strbuf_add(&out, p, n);
                }
                p += n;
        }
        if (!out.buf)
                strbuf_adds(&out, "");
        return strbuf_detach(&out);
}

struct pax {
        char *path;
        bool has_size;
        uint64_t size;
};

/* PAX records "LEN key=value\n" of an 'x' header: path and size apply to the next entry. */
static int pax_parse(const char *d, uint64_t n, struct pax *px, struct error **err)
{
        uint64_t off = 0;
        while (off < n) {
                uint64_t len = 0;
                uint64_t i = off;
                while (i < n && d[i] >= '0' && d[i] <= '9' && len < n)
                        len = len * 10 + (uint64_t)(d[i++] - '0');
                if (i >= n || d[i] != ' ' || len == 0 || len > n - off || d[off + len - 1] != '\n')
                        return error_set(err, DS01_EUSAGE,
                                         "the build context has a malformed "
                                         "PAX header");
                const char *kv = d + i + 1, *end = d + off + len - 1;
                const char *eq = memchr(kv, '=', (size_t)(end - kv));
                if (!eq || memchr(kv, '\0', (size_t)(end - kv)))
                        return error_set(err, DS01_EUSAGE,
                                         "the build context has a malformed "
                                         "PAX header");
                size_t kl = (size_t)(eq - kv), vl = (size_t)(end - eq - 1);
                if (kl == 4 && memcmp(kv, "path", 4) == 0) {
                        free(px->path);
                        px->path = xstrndup(eq + 1, vl);
                        if (vl == 0)
                                return error_set(err, DS01_EUSAGE,
                                                 "the build context has an empty PAX path");
                } else if (kl == 4 && memcmp(kv, "size", 4) == 0) {
                        _cleanup_free_ char *v = xstrndup(eq + 1, vl);
                        char *e = NULL;
                        px->size = strtoull(v, &e, 10);
                        px->has_size = true;
                        if (vl == 0 || *e || v[0] < '0' || v[0] > '9')
                                return error_set(err, DS01_EUSAGE,
                                                 "the build context has a bad PAX size");
                } else if (kl >= 10 && strncmp(kv, "GNU.sparse", 10) == 0)
                        return error_set(err, DS01_EUSAGE,
                                         "the build context has a sparse file: ds01 does not "
                                         "take those");
                off += len;
        }
        return 0;
}

/* Whether a proper leading part of name (a/b of a/b/c) is a symlink the archive made. */
static bool through_symlink(char **links, size_t n, const char *name)
{
        for (size_t i = 0; i < n; i++) {
                size_t l = strlen(links[i]);
                if (l < strlen(name) && strncmp(name, links[i], l) == 0 && name[l] == '/')
                        return true;
        }
        return false;
}

static int context_refuse(struct error **err, const char *why)
{
        return error_set(err, DS01_EUSAGE,
                         "the build context %s - send it with image-create, which writes a "
                         "context ds01 can check",
                         why);
}

int buildcheck_context(const char *buf, size_t len, char **ret_dockerfile, struct error **err)
{
        /* gzip, bzip2, xz ("\xfd7zXZ": split so that \xfd does not swallow the 7), zstd */
        static const char *const magics[] = {"\x1f\x8b", "BZh",
                                             ("\xfd"
                                              "7zXZ"),
                                             "\x28\xb5\x2f\xfd"};
        for (size_t i = 0; i < sizeof(magics) / sizeof(magics[0]); i++)
                if (len >= strlen(magics[i]) && memcmp(buf, magics[i], strlen(magics[i])) == 0)
                        return context_refuse(err, "is compressed");
        size_t off = 0, n_df = 0, n_links = 0;
        char **links = NULL;
        char *df = NULL;
        struct pax px = {0};
        int r = 0;
        while (r == 0) {
                if (len - off < BLOCK) {
                        if (off != len)
                                r = context_refuse(err, "ends in the middle of a header");
                        break;
                }
                const unsigned char *h = (const unsigned char *)buf + off;
                static const unsigned char zero[BLOCK];
                if (memcmp(h, zero, BLOCK) == 0)
                        break; /* the end, as for Go (a non-zero block after it: Docker fails) */
                uint64_t size;
                /* ustar's magic and version; not star's trailer (Go reads a shorter prefix). */
                static const char magic[8] = {'u', 's', 't', 'a', 'r', '\0', '0', '0'};
                if (!checksum_ok(h) || memcmp(h + 257, magic, 8) != 0 ||
                    memcmp(h + 508, "tar", 4) == 0 ||
                    !octal_field((const char *)h + 124, 12, &size)) {
                        r = context_refuse(err, "has a header that is not ustar or PAX");
                        break;
                }
                char type = (char)h[156];
                off += BLOCK;
                struct strbuf name = STRBUF_INIT;
                if (h[345])
                        strbuf_addf(&name, "%.155s/", (const char *)h + 345);
                strbuf_addf(&name, "%.100s", (const char *)h);
                if (type == 'x') {
                        free(px.path);
                        px = (struct pax){0};
                        if (size > len - off)
                                r = context_refuse(err, "is truncated");
                        else
                                r = pax_parse(buf + off, size, &px, err);
                        off += (size_t)((size + BLOCK - 1) / BLOCK * BLOCK);
                        strbuf_release(&name);
                        continue;
                }
                if (type != '\0' && (type < '0' || type > '7')) {
                        strbuf_release(&name);
                        r = context_refuse(err, "has GNU or global headers");
                        break;
                }
                const char *raw = px.path ? px.path : strbuf_str(&name);
                if (px.has_size)
                        size = px.size;
                /* Go: a name ending in '/' of type '\0' is a directory; and directories, links,
                 * devices and FIFOs have no data whatever their size field says. */
                if (type == '\0' && raw[0] && raw[strlen(raw) - 1] == '/')
                        type = '5';
                if (type >= '1' && type <= '6')
                        size = 0;
                _cleanup_free_ char *clean = clean_name(raw);
                strbuf_release(&name);
                if (size > len - off) {
                        r = context_refuse(err, "is truncated");
                        break;
                }
                if (through_symlink(links, n_links, clean)) {
                        r = error_set(err, DS01_EUSAGE,
                                      "the build context writes '%.100s' through a symlink it "
                                      "made - Docker would follow it; remove the symlink",
                                      clean);
                        break;
                }
                if (streq(clean, "Dockerfile")) {
                        if (++n_df > 1) {
                                r = error_set(err, DS01_EUSAGE,
                                              "the build context has more than one Dockerfile "
                                              "entry (Dockerfile, ./Dockerfile, ...): Docker "
                                              "would build another one than ds01 checks");
                                break;
                        }
                        if (type != '0' && type != '\0' && type != '7') {
                                r = error_set(err, DS01_EUSAGE,
                                              "the Dockerfile of the build context is not a "
                                              "regular file (a link?) - make it a plain file");
                                break;
                        }
                        if (size > DOCKERFILE_MAX) {
                                r = error_set(err, DS01_EUSAGE,
                                              "the Dockerfile is larger than 1 MB");
                                break;
                        }
                        df = xstrndup(buf + off, (size_t)size);
                        if (strlen(df) != size) {
                                r = error_set(err, DS01_EUSAGE, "the Dockerfile has NUL bytes");
                                break;
                        }
                }
                if (type == '1' || type == '2') {
                        const char *ln = (const char *)h + 157;
                        _cleanup_free_ char *target = xstrndup(ln, strnlen(ln, 100));
                        _cleanup_free_ char *tclean = clean_name(target);
                        if (type == '1' && streq(tclean, "Dockerfile")) {
                                r = error_set(err, DS01_EUSAGE,
                                              "the build context hard-links the Dockerfile - "
                                              "make it a plain file");
                                break;
                        }
                        if (type == '2') {
                                links = xrealloc(links, (n_links + 1) * sizeof(*links));
                                links[n_links++] = xstrdup(clean);
                        }
                }
                free(px.path);
                px = (struct pax){0};
                off += (size_t)((size + BLOCK - 1) / BLOCK * BLOCK);
                if (off > len)
                        off = len;
        }
        free(px.path);
        for (size_t i = 0; i < n_links; i++)
                free(links[i]);
        free(links);
        if (r == 0 && n_df == 0)
                r = error_set(err, DS01_EUSAGE, "the build context has no Dockerfile at its top");
        if (r < 0) {
                free(df);
                return -1;
        }
        *ret_dockerfile = df;
        return 0;
}

/* ---- the Dockerfile ----------------------------------------------------------------------- */

struct parse {
        char esc;
        bool primary; /* the reading Docker makes: malformed names are refused */
        bool onbuild; /* inside an ONBUILD trigger */
        char ***refs;
        size_t *n_refs;
        struct error **err;
};

static const char *ltrim(const char *s)
{
        size_t k;
        while ((k = uspace(s)))
                s += k;
        return s;
}

static bool ref_chars(const char *s)
{
        size_t n = strlen(s);
        if (n == 0 || n > REF_MAX || s[0] == '-')
                return false;
        for (; *s; s++)
                if (!isalnum((unsigned char)*s) && !strchr("._/:@-", *s))
                        return false;
        return true;
}

/* A word as Docker's shell lexer makes it (quotes and escapes removed); NULL when it expands a
 * variable ($) or has an unterminated quote. */
static char *unquote(const char *w, char esc)
{
        struct strbuf o = STRBUF_INIT;
        for (const char *p = w; *p; p++) {
                if (*p == esc) {
                        if (p[1])
                                p++;
                        strbuf_addc(&o, *p);
                } else if (*p == '\'') {
                        const char *e = strchr(p + 1, '\'');
                        if (!e)
                                goto bad;
                        strbuf_add(&o, p + 1, (size_t)(e - p - 1));
                        p = e;
                } else if (*p == '"') {
                        for (p++; *p != '"'; p++) {
                                if (!*p || *p == '$')
                                        goto bad;
                                if (*p == esc && p[1] && strchr("\"$", p[1]))
                                        p++;
                                else if (*p == esc && p[1] == esc)
                                        p++;
                                strbuf_addc(&o, *p);
                        }
                } else if (*p == '$')
                        goto bad;
                else
                        strbuf_addc(&o, *p);
        }
        if (!o.buf)
                strbuf_adds(&o, "");
        return strbuf_detach(&o);
bad:
        strbuf_release(&o);
        return NULL;
}

static bool numeric(const char *s)
{
        if (*s == '+' || *s == '-')
                s++;
        if (!*s)
                return false;
        for (; *s; s++)
                if (!isdigit((unsigned char)*s))
                        return false;
        return true;
}

static void push_ref(struct parse *ps, const char *s)
{
        for (size_t i = 0; i < *ps->n_refs; i++)
                if (streq((*ps->refs)[i], s))
                        return;
        *ps->refs = xrealloc(*ps->refs, (*ps->n_refs + 2) * sizeof(char *));
        (*ps->refs)[(*ps->n_refs)++] = xstrdup(s);
        (*ps->refs)[*ps->n_refs] = NULL;
}

/* One image name the Dockerfile reads. */
static int add_ref(struct parse *ps, const char *word, const char *what)
{
        if (ps->onbuild)
                return error_set(ps->err, DS01_EUSAGE,
                                 "the Dockerfile has an ONBUILD trigger that reads an image (%s "
                                 "%.80s): ds01 cannot check it where it runs - remove it",
                                 what, word);
        if (*ps->n_refs >= REFS_MAX)
                return error_set(ps->err, DS01_EUSAGE, "the Dockerfile names too many images");
        _cleanup_free_ char *u = unquote(word, ps->esc);
        if (ps->primary && !u)
                return error_set(ps->err, DS01_EUSAGE,
                                 "the Dockerfile names its base through a build argument or an "
                                 "unfinished quote (%s %.80s): write the image name itself",
                                 what, word);
        if (ps->primary && !ref_chars(u))
                return error_set(ps->err, DS01_EUSAGE,
                                 "the Dockerfile's %s '%.80s' is not an image name ds01 can "
                                 "check: write it plainly (letters, digits, ._/:@-)",
                                 what, u);
        if (u && ref_chars(u))
                push_ref(ps, u);
        if (ref_chars(word))
                push_ref(ps, word);
        return 0;
}

/* BuildKit's extractBuilderFlags: leading "--" words, with quotes and backslashes removed.
 * Returns where the arguments after the flags start. */
static const char *builder_flags(const char *line, char ***ret_flags, size_t *ret_n)
{
        const unsigned char *p = (const unsigned char *)line;
        for (;;) {
                while (*p && byte_space(*p))
                        p++;
                if (!(p[0] == '-' && p[1] == '-'))
                        return (const char *)p;
                struct strbuf w = STRBUF_INIT;
                char quote = 0;
                for (; *p; p++) {
                        if (quote) {
                                if (*p == quote) {
                                        quote = 0;
                                        continue;
                                }
                        } else if (byte_space(*p))
                                break;
                        else if (*p == '\'' || *p == '"') {
                                quote = (char)*p;
                                continue;
                        }
                        if (*p == '\\') {
                                if (!p[1])
                                        break;
                                p++;
                        }
                        strbuf_addc(&w, (char)*p);
                }
                if (w.len == 2 && memcmp(w.buf, "--", 2) == 0) {
                        strbuf_release(&w);
                        return (const char *)p;
                }
                *ret_flags = xrealloc(*ret_flags, (*ret_n + 1) * sizeof(char *));
                (*ret_flags)[(*ret_n)++] = strbuf_detach(&w);
        }
}

/* BuildKit's parseWords: white space splits words outside quotes; quotes and escapes stay. */
static char **words(const char *s, char esc, size_t *ret_n)
{
        char **out = NULL;
        size_t n = 0;
        struct strbuf w = STRBUF_INIT;
        char quote = 0;
        bool have = false;
        for (const char *p = s;;) {
                size_t k = *p ? uspace(p) : 0;
                if (!*p || (!quote && k)) {
                        if (have) {
                                out = xrealloc(out, (n + 2) * sizeof(char *));
                                out[n++] = w.buf ? strbuf_detach(&w) : xstrdup("");
                                out[n] = NULL;
                                w = (struct strbuf)STRBUF_INIT;
                        }
                        have = false;
                        if (!*p)
                                break;
                        p += k;
                        continue;
                }
                have = true;
                if (quote && *p == quote)
                        quote = 0;
                else if (!quote && (*p == '\'' || *p == '"'))
                        quote = *p;
                if (*p == esc && quote != '\'' && p[1]) {
                        strbuf_addc(&w, *p++);
                }
                strbuf_addc(&w, *p++);
        }
        strbuf_release(&w);
        *ret_n = n;
        return out;
}

/* A LABEL key, as Docker may read it (quotes and escapes removed), may not be ds01's. */
static int check_label_key(struct parse *ps, const char *key, size_t n)
{
        struct strbuf k = STRBUF_INIT;
        for (size_t i = 0; i < n; i++)
                if (key[i] != '"' && key[i] != '\'' && key[i] != ps->esc && key[i] != '\\' &&
                    key[i] != '`')
                        strbuf_addc(&k, (char)tolower((unsigned char)key[i]));
        const char *s = k.buf ? k.buf : "";
        s = ltrim(s);
        bool bad = strncmp(s, "ds01.", 5) == 0 || strchr(s, '$');
        /* Dockerfiles written by image-create before ds01 labelled images itself have one. */
        bool legacy = streq(s, "ds01.project") || streq(s, "ds01.framework");
        int r = 0;
        if (bad)
                r = error_set(ps->err, DS01_EUSAGE,
                              "the Dockerfile sets the label '%.*s': labels starting with ds01. "
                              "are ds01's own (and keys may not come from variables) - remove "
                              "it; ds01 labels the image itself%s",
                              (int)(n > 80 ? 80 : n), key,
                              legacy ? " (delete the line 'LABEL ds01.project=... "
                                       "ds01.framework=...' that older image-create wrote)"
                                     : "");
        strbuf_release(&k);
        return r;
}

static int check_labels(struct parse *ps, const char *rest)
{
        size_t n = 0;
        char **w = words(rest, ps->esc, &n);
        int r = 0;
        if (n > 0 && !strchr(w[0], '=')) /* the old form: LABEL key value */
                r = check_label_key(ps, w[0], strcspn(w[0], " \t\v\f\r"));
        for (size_t i = 0; i < n && r == 0; i++) {
                const char *eq = strchr(w[i], '=');
                if (eq)
                        r = check_label_key(ps, w[i], (size_t)(eq - w[i]));
        }
        for (size_t i = 0; i < n; i++)
                free(w[i]);
        free(w);
        return r;
}

/* The --mount=type=bind,from=IMAGE,... of a RUN flag: the from= value, or NULL. */
static int mount_from(struct parse *ps, const char *spec)
{
        _cleanup_free_ char *s = xstrdup(spec);
        char *save = NULL;
        for (char *f = strtok_r(s, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
                char *eq = strchr(f, '=');
                if (!eq)
                        continue;
                *eq = '\0';
                _cleanup_free_ char *key = unquote(f, '\\');
                if (key && strcasecmp(ltrim(key), "from") == 0 && !numeric(eq + 1) &&
                    add_ref(ps, eq + 1, "RUN --mount from=") < 0)
                        return -1;
        }
        return 0;
}

static int instruction(struct parse *ps, const char *line);

static int dispatch(struct parse *ps, const char *cmd, const char *rest, char **flags,
                    size_t n_flags)
{
        if (strcasecmp(cmd, "from") == 0) {
                const char *s = rest;
                while (*s && strchr(" \t\v\f\r", *s))
                        s++;
                _cleanup_free_ char *ref = xstrndup(s, strcspn(s, " \t\v\f\r"));
                return *ref ? add_ref(ps, ref, "FROM") : 0;
        }
        if (strcasecmp(cmd, "copy") == 0 || strcasecmp(cmd, "add") == 0) {
                for (size_t i = 0; i < n_flags; i++)
                        if (strncasecmp(flags[i], "--from=", 7) == 0 && !numeric(flags[i] + 7) &&
                            add_ref(ps, flags[i] + 7, "COPY --from=") < 0)
                                return -1;
                return 0;
        }
        if (strcasecmp(cmd, "run") == 0) {
                for (size_t i = 0; i < n_flags; i++)
                        if (strncasecmp(flags[i], "--mount=", 8) == 0 &&
                            mount_from(ps, flags[i] + 8) < 0)
                                return -1;
                return 0;
        }
        if (strcasecmp(cmd, "label") == 0)
                return check_labels(ps, rest);
        if (strcasecmp(cmd, "onbuild") == 0) {
                if (ps->onbuild)
                        return error_set(ps->err, DS01_EUSAGE,
                                         "the Dockerfile chains ONBUILD triggers");
                ps->onbuild = true;
                int r = instruction(ps, rest);
                ps->onbuild = false;
                return r;
        }
        return 0;
}

/* The instruction word as Go's strings.ToLower sees it: beside ASCII, U+0130 (dotted I) and
 * U+212A (Kelvin sign) become i and k ("ONBU\u0130LD" is ONBUILD). */
static char *fold_instruction(const char *s, size_t n)
{
        struct strbuf o = STRBUF_INIT;
        for (size_t i = 0; i < n; i++) {
                if (i + 1 < n && (unsigned char)s[i] == 0xc4 && (unsigned char)s[i + 1] == 0xb0) {
                        strbuf_addc(&o, 'i');
                        i++;
                } else if (i + 2 < n && (unsigned char)s[i] == 0xe2 &&
                           (unsigned char)s[i + 1] == 0x84 && (unsigned char)s[i + 2] == 0xaa) {
                        strbuf_addc(&o, 'k');
                        i += 2;
                } else
                        strbuf_addc(&o, s[i]);
        }
        if (!o.buf)
                strbuf_adds(&o, "");
        return strbuf_detach(&o);
}

/* One logical line: the instruction, its builder flags, its arguments. */
static int instruction(struct parse *ps, const char *line)
{
        const char *s = ltrim(line);
        size_t cl = strcspn(s, " \t\v\f\r");
        _cleanup_free_ char *cmd = fold_instruction(s, cl);
        const char *rest = s + cl;
        rest += strspn(rest, " \t\v\f\r");
        char **flags = NULL;
        size_t n_flags = 0;
        const char *args = builder_flags(rest, &flags, &n_flags);
        int r = dispatch(ps, cmd, args, flags, n_flags);
        for (size_t i = 0; i < n_flags; i++)
                free(flags[i]);
        free(flags);
        return r;
}

/* Cuts a trailing escape character (and blanks after it) off sb; true if there was one. */
static bool cut_continuation(struct strbuf *sb, char esc)
{
        size_t n = sb->len;
        while (n > 0 && (sb->buf[n - 1] == ' ' || sb->buf[n - 1] == '\t'))
                n--;
        if (n == 0 || sb->buf[n - 1] != esc)
                return false;
        sb->len = n - 1;
        sb->buf[sb->len] = '\0';
        return true;
}

static int parse(struct parse *ps, char **lines, size_t n)
{
        for (size_t i = 0; i < n;) {
                const char *first = ltrim(lines[i++]);
                if (*first == '#')
                        continue;
                struct strbuf sb = STRBUF_INIT;
                strbuf_adds(&sb, first);
                bool cont = cut_continuation(&sb, ps->esc);
                if (!cont && sb.len == 0) {
                        strbuf_release(&sb);
                        continue;
                }
                while (cont && i < n) {
                        const char *l = lines[i++];
                        if (*ltrim(l) == '#' || *ltrim(l) == '\0')
                                continue;
                        strbuf_adds(&sb, l);
                        cont = cut_continuation(&sb, ps->esc);
                }
                int r = instruction(ps, sb.buf ? sb.buf : "");
                strbuf_release(&sb);
                if (r < 0)
                        return -1;
        }
        return 0;
}

/* The escape directive: '#' escape=X among the first comment lines. */
static char escape_directive(char **lines, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                const char *s = ltrim(lines[i]);
                if (*s != '#')
                        break;
                s = ltrim(s + 1);
                if (strncasecmp(s, "escape", 6) != 0)
                        continue;
                s = ltrim(s + 6);
                if (*s++ != '=')
                        continue;
                s = ltrim(s);
                if (*s == '`')
                        return '`';
        }
        return '\\';
}

void buildcheck_refs_free(char **refs)
{
        for (size_t i = 0; refs && refs[i]; i++)
                free(refs[i]);
        free(refs);
}

int buildcheck_dockerfile(const char *df, char ***ret_refs, struct error **err)
{
        _cleanup_free_ char *copy = xstrdup(df);
        char *text = copy;
        if (startswith(text, "\xef\xbb\xbf"))
                text += 3;
        char **lines = NULL;
        size_t n = 0;
        for (char *l = text; l;) {
                char *nl = strchr(l, '\n');
                if (nl)
                        *nl = '\0';
                size_t k = strlen(l);
                if (k && l[k - 1] == '\r')
                        l[k - 1] = '\0';
                if (nl || *l) {
                        lines = xrealloc(lines, (n + 1) * sizeof(char *));
                        lines[n++] = l;
                }
                l = nl ? nl + 1 : NULL;
        }
        char **refs = NULL;
        size_t n_refs = 0;
        char esc = escape_directive(lines, n);
        /* Docker's reading, then the other escape character's, in case the directive was read
         * differently: a name either reading finds is checked. */
        struct parse a = {esc, true, false, &refs, &n_refs, err};
        struct parse b = {esc == '\\' ? '`' : '\\', false, false, &refs, &n_refs, err};
        int r = parse(&a, lines, n);
        if (r == 0)
                r = parse(&b, lines, n);
        free(lines);
        if (r < 0) {
                buildcheck_refs_free(refs);
                return -1;
        }
        if (!refs)
                refs = xcalloc(1, sizeof(char *));
        *ret_refs = refs;
        return 0;
}
