/* tarball.c - the build context as a ustar/PAX stream, honouring .dockerignore (tarball.h). */
#include "tarball.h"

#include "../shared/strbuf.h"
#include "../shared/tarheader.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <sys/stat.h>

#define WBUF_SIZE        (256 * 1024)
#define MAX_IGNORE_BYTES (1024 * 1024)
#define MAX_DEPTH        256
#define MAX_LINK         (64 * 1024)

/* ---- .dockerignore ------------------------------------------------------------------------ */

struct pattern {
        char **elems; /* path elements; "**" is its own element */
        size_t n;
        bool exception; /* "!pattern" */
};

struct ignore {
        struct pattern *pats;
        size_t n;
        bool has_exceptions;
};

static void ignore_release(struct ignore *ig)
{
        for (size_t i = 0; i < ig->n; i++) {
                for (size_t j = 0; j < ig->pats[i].n; j++)
                        free(ig->pats[i].elems[j]);
                free(ig->pats[i].elems);
        }
        free(ig->pats);
        memset(ig, 0, sizeof(*ig));
}

static bool is_space(char c)
{
        return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Splits a cleaned pattern into elements: empty elements and "." go, as in Go's filepath.Clean;
 * ".." stays (it then matches nothing inside the root, as in Docker). */
static void pattern_add(struct ignore *ig, const char *text, size_t len, bool exception)
{
        struct pattern p = {.exception = exception};
        size_t i = 0;
        while (i < len) {
                size_t j = i;
                while (j < len && text[j] != '/')
                        j++;
                if (j > i && !(j - i == 1 && text[i] == '.')) {
                        p.elems = xrealloc(p.elems, (p.n + 1) * sizeof(char *));
                        p.elems[p.n++] = xstrndup(text + i, j - i);
                }
                i = j + 1;
        }
        if (p.n == 0) /* "", "/", "." : Docker ignores such patterns for files */
                return;
        ig->pats = xrealloc(ig->pats, (ig->n + 1) * sizeof(*ig->pats));
        ig->pats[ig->n++] = p;
        if (exception)
                ig->has_exceptions = true;
}

static void ignore_parse(struct ignore *ig, const char *text, size_t len)
{
        size_t i = 0;
        while (i < len) {
                size_t end = i;
                while (end < len && text[end] != '\n')
                        end++;
                size_t a = i, b = end;
                i = end + 1;
                while (a < b && is_space(text[a]))
                        a++;
                while (b > a && is_space(text[b - 1]))
                        b--;
                if (a == b || text[a] == '#')
                        continue;
                bool exception = false;
                if (text[a] == '!') {
                        exception = true;
                        a++;
                        while (a < b && is_space(text[a]))
                                a++;
                }
                pattern_add(ig, text + a, b - a, exception);
        }
}

/* Pattern elements pe[i..] against path elements se[j..]; "**" takes any number of elements. */
static bool match_elems(char *const *pe, size_t np, size_t i, char *const *se, size_t ns, size_t j)
{
        for (; i < np; i++, j++) {
                if (streq(pe[i], "**")) {
                        for (size_t k = j; k <= ns; k++)
                                if (match_elems(pe, np, i + 1, se, ns, k))
                                        return true;
                        return false;
                }
                if (j >= ns || fnmatch(pe[i], se[j], 0) != 0)
                        return false;
        }
        return j == ns;
}

/* The pattern matches the path or one of its parent directories. */
static bool pattern_matches(const struct pattern *p, char *const *se, size_t ns)
{
        for (size_t k = 1; k <= ns; k++)
                if (match_elems(p->elems, p->n, 0, se, k, 0))
                        return true;
        return false;
}

static bool ignore_excludes(const struct ignore *ig, char *const *se, size_t ns)
{
        /* Docker always sends these two, whatever .dockerignore says. */
        if (ns == 1 && (streq(se[0], "Dockerfile") || streq(se[0], ".dockerignore")))
                return false;
        bool excluded = false;
        for (size_t i = 0; i < ig->n; i++)
                if (ig->pats[i].exception == excluded && pattern_matches(&ig->pats[i], se, ns))
                        excluded = !ig->pats[i].exception;
        return excluded;
}

/* Could an exception pattern re-include something below the directory se[0..ns)? */
static bool exception_below(const struct ignore *ig, char *const *se, size_t ns)
{
        for (size_t i = 0; i < ig->n; i++) {
                const struct pattern *p = &ig->pats[i];
                if (!p->exception)
                        continue;
                for (size_t k = 0; k < p->n; k++) {
                        if (streq(p->elems[k], "**"))
                                return true;
                        if (k == ns)
                                return true; /* the pattern goes on below the directory */
                        if (fnmatch(p->elems[k], se[k], 0) != 0)
                                break;
                }
        }
        return false;
}

/* Splits a relative path into elements (pointers into the copy *ret_copy). */
static char **split_path(const char *path, char **ret_copy, size_t *ret_n)
{
        char *copy = xstrdup(path);
        size_t n = 0, cap = 8;
        char **v = xcalloc(cap, sizeof(char *));
        char *save = NULL;
        for (char *t = strtok_r(copy, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
                if (n == cap)
                        v = xrealloc(v, (cap *= 2) * sizeof(char *));
                v[n++] = t;
        }
        *ret_copy = copy;
        *ret_n = n;
        return v;
}

bool tarball_ignored(const char *dockerignore, const char *path)
{
        struct ignore ig = {0};
        ignore_parse(&ig, dockerignore, strlen(dockerignore));
        _cleanup_free_ char *copy = NULL;
        size_t n;
        _cleanup_free_ char **elems = split_path(path, &copy, &n);
        bool r = ignore_excludes(&ig, elems, n);
        ignore_release(&ig);
        return r;
}

/* ---- the tar writer ----------------------------------------------------------------------- */

struct tw {
        int fd; /* < 0: measure only */
        const char *project;
        int64_t max_bytes;
        int64_t total;      /* sum of file sizes so far */
        bool wrote;         /* something went out */
        unsigned char *buf; /* WBUF_SIZE */
        size_t len;
        struct ignore ig;
        char *elems[MAX_DEPTH + 1]; /* the current path's elements */
        size_t depth;
        struct strbuf path; /* the current relative path */
};

static int tw_flush(struct tw *w, struct error **err)
{
        if (w->fd < 0 || w->len == 0) {
                w->len = 0;
                return 0;
        }
        int r = write_all(w->fd, w->buf, w->len);
        w->len = 0;
        w->wrote = true;
        if (r == -EPIPE)
                return error_set(err, DS01_ERR,
                                 "the ds01 daemon stopped reading the build context");
        if (r < 0)
                return error_set_errno(err, r, "writing the build context");
        return 0;
}

static int tw_add(struct tw *w, const void *data, size_t n, struct error **err)
{
        if (w->fd < 0)
                return 0;
        const unsigned char *p = data;
        while (n > 0) {
                size_t k = WBUF_SIZE - w->len < n ? WBUF_SIZE - w->len : n;
                memcpy(w->buf + w->len, p, k);
                w->len += k;
                p += k;
                n -= k;
                if (w->len == WBUF_SIZE && tw_flush(w, err) < 0)
                        return -1;
        }
        return 0;
}

static int tw_pad(struct tw *w, uint64_t size, struct error **err)
{
        static const unsigned char zeros[TAR_BLOCK];
        size_t rest = (size_t)(size % TAR_BLOCK);
        return rest ? tw_add(w, zeros, TAR_BLOCK - rest, err) : 0;
}

static int write_header(struct tw *w, const char *name, char type, unsigned mode, uint64_t size,
                        int64_t mtime, const char *link, struct error **err)
{
        /* Callers pass names and links that fit (or a PAX record carries the real one). */
        unsigned char h[TAR_BLOCK];
        tar_header_format(h, &(struct tar_header){.name = name,
                                                  .type = type,
                                                  .mode = mode,
                                                  .size = size,
                                                  .mtime = mtime,
                                                  .link = link});
        return tw_add(w, h, TAR_BLOCK, err);
}

/* One PAX record "LEN key=value\n", where LEN counts itself. */
static void pax_record(struct strbuf *sb, const char *key, const char *value, size_t vlen)
{
        size_t base = 1 + strlen(key) + 1 + vlen + 1; /* ' ' key '=' value '\n' */
        size_t len = base + 1;
        for (;;) {
                int digits = snprintf(NULL, 0, "%zu", len);
                if (base + (size_t)digits == len)
                        break;
                len = base + (size_t)digits;
        }
        strbuf_addf(sb, "%zu %s=", len, key);
        strbuf_add(sb, value, vlen);
        strbuf_addc(sb, '\n');
}

/* Writes one entry's header(s): a PAX header first when the name, the link or the size do not
 * fit ustar. */
static int write_entry(struct tw *w, const char *name, char type, unsigned mode, uint64_t size,
                       int64_t mtime, const char *link, struct error **err)
{
        size_t nlen = strlen(name), llen = link ? strlen(link) : 0;
        if (nlen > TAR_NAME_MAX || llen > TAR_NAME_MAX || size > TAR_OCTAL_MAX) {
                struct strbuf pax = STRBUF_INIT;
                if (nlen > TAR_NAME_MAX)
                        pax_record(&pax, "path", name, nlen);
                if (llen > TAR_NAME_MAX)
                        pax_record(&pax, "linkpath", link, llen);
                if (size > TAR_OCTAL_MAX) {
                        char s[32];
                        int k = snprintf(s, sizeof(s), "%llu", (unsigned long long)size);
                        pax_record(&pax, "size", s, (size_t)k);
                }
                int r = write_header(w, "././@PaxHeader", 'x', 0644, pax.len, mtime, NULL, err);
                if (r == 0)
                        r = tw_add(w, pax.buf, pax.len, err);
                if (r == 0)
                        r = tw_pad(w, pax.len, err);
                strbuf_release(&pax);
                if (r < 0)
                        return -1;
        }
        return write_header(w, name, type, mode, size, mtime, link, err);
}

static int add_file(struct tw *w, int dirfd, const char *name, const struct stat *st,
                    struct error **err)
{
        if (w->total + st->st_size > w->max_bytes || w->total + st->st_size < w->total)
                return error_set(err, DS01_EUSAGE,
                                 "build context of %s is larger than %lld MB (see .dockerignore)",
                                 w->project, (long long)(w->max_bytes / (1024 * 1024)));
        w->total += st->st_size;
        if (w->fd < 0)
                return 0;
        _cleanup_close_ int fd =
            openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        struct stat fst;
        if (fd < 0 || fstat(fd, &fst) < 0)
                return error_set_errno(err, -errno,
                                       "cannot read '%s' for the build context (add it to "
                                       ".dockerignore?)",
                                       w->path.buf);
        if (!S_ISREG(fst.st_mode))
                return error_set(err, DS01_ERR, "'%s' changed while it was being sent",
                                 w->path.buf);
        /* The size in the header is the one we stat'ed; a file that grows is cut there, one that
         * shrinks is padded with zeros, so the stream stays well-formed. */
        uint64_t size = (uint64_t)st->st_size;
        if (write_entry(w, w->path.buf, '0', (unsigned)st->st_mode, size, st->st_mtim.tv_sec, NULL,
                        err) < 0)
                return -1;
        uint64_t left = size;
        while (left > 0) {
                if (w->len == WBUF_SIZE && tw_flush(w, err) < 0)
                        return -1;
                size_t room = WBUF_SIZE - w->len;
                size_t want = left < room ? (size_t)left : room;
                ssize_t k = read(fd, w->buf + w->len, want);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return error_set_errno(err, -errno, "reading '%s'", w->path.buf);
                if (k == 0) {
                        memset(w->buf + w->len, 0, want);
                        k = (ssize_t)want;
                }
                w->len += (size_t)k;
                left -= (uint64_t)k;
        }
        return tw_pad(w, size, err);
}

static int add_symlink(struct tw *w, int dirfd, const char *name, const struct stat *st,
                       struct error **err)
{
        size_t cap = 256;
        _cleanup_free_ char *target = NULL;
        for (;;) {
                target = xrealloc(target, cap);
                ssize_t k = readlinkat(dirfd, name, target, cap);
                if (k < 0)
                        return error_set_errno(err, -errno, "reading the symlink '%s'",
                                               w->path.buf);
                if ((size_t)k < cap) {
                        target[k] = '\0';
                        break;
                }
                if (cap >= MAX_LINK)
                        return error_set(err, DS01_ERR, "the symlink '%s' is too long",
                                         w->path.buf);
                cap *= 2;
        }
        return write_entry(w, w->path.buf, '2', (unsigned)st->st_mode, 0, st->st_mtim.tv_sec,
                           target, err);
}

static int cmp_names(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static int walk(struct tw *w, int dirfd, struct error **err);

static int add_entry(struct tw *w, int dirfd, const char *name, struct error **err)
{
        struct stat st;
        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                if (errno == ENOENT) /* gone since readdir */
                        return 0;
                return error_set_errno(err, -errno, "cannot stat '%s'", w->path.buf);
        }
        bool excluded = ignore_excludes(&w->ig, w->elems, w->depth);
        if (S_ISDIR(st.st_mode)) {
                if (excluded && !exception_below(&w->ig, w->elems, w->depth))
                        return 0;
                if (w->depth >= MAX_DEPTH)
                        return error_set(err, DS01_ERR,
                                         "'%s' is nested too deeply for a build context",
                                         w->path.buf);
                if (!excluded) {
                        _cleanup_free_ char *dname = xasprintf("%s/", w->path.buf);
                        if (write_entry(w, dname, '5', (unsigned)st.st_mode, 0, st.st_mtim.tv_sec,
                                        NULL, err) < 0)
                                return -1;
                }
                int sub = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (sub < 0) {
                        if (errno == ENOENT)
                                return 0;
                        return error_set_errno(err, -errno,
                                               "cannot read the directory '%s' (add it to "
                                               ".dockerignore?)",
                                               w->path.buf);
                }
                return walk(w, sub, err);
        }
        if (excluded)
                return 0;
        if (S_ISREG(st.st_mode))
                return add_file(w, dirfd, name, &st, err);
        if (S_ISLNK(st.st_mode))
                return add_symlink(w, dirfd, name, &st, err);
        return 0; /* sockets, devices, fifos */
}

/* Walks the directory dirfd (taken) whose relative path is w->path. */
static int walk(struct tw *w, int fd, struct error **err)
{
        DIR *d = fdopendir(fd);
        if (!d) {
                int e = errno;
                close(fd);
                return error_set_errno(err, -e, "cannot read the directory '%s'",
                                       w->path.len ? w->path.buf : ".");
        }
        char **names = NULL;
        size_t n = 0, cap = 0;
        int r = 0;
        for (;;) {
                errno = 0;
                struct dirent *de = readdir(d);
                if (!de) {
                        if (errno != 0)
                                r = error_set_errno(err, -errno, "reading the directory '%s'",
                                                    w->path.len ? w->path.buf : ".");
                        break;
                }
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (n == cap)
                        names = xrealloc(names, (cap = cap ? cap * 2 : 32) * sizeof(char *));
                names[n++] = xstrdup(de->d_name);
        }
        if (r == 0)
                qsort(names, n, sizeof(char *), cmp_names);
        size_t base = w->path.len;
        for (size_t i = 0; r == 0 && i < n; i++) {
                if (base > 0)
                        strbuf_addc(&w->path, '/');
                strbuf_adds(&w->path, names[i]);
                w->elems[w->depth++] = names[i];
                r = add_entry(w, fd, names[i], err);
                w->depth--;
                w->path.len = base;
                if (w->path.buf)
                        w->path.buf[base] = '\0';
        }
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
        closedir(d);
        return r;
}

static int read_dockerignore(int rootfd, struct ignore *ig, struct error **err)
{
        _cleanup_close_ int fd =
            openat(rootfd, ".dockerignore", O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0) {
                if (errno == ENOENT)
                        return 0;
                return error_set_errno(err, -errno, "cannot read .dockerignore");
        }
        struct stat st;
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
                return error_set(err, DS01_ERR, ".dockerignore is not a regular file");
        struct strbuf sb = STRBUF_INIT;
        char buf[8192];
        for (;;) {
                ssize_t k = read(fd, buf, sizeof(buf));
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0) {
                        strbuf_release(&sb);
                        return error_set_errno(err, -errno, "reading .dockerignore");
                }
                if (k == 0)
                        break;
                strbuf_add(&sb, buf, (size_t)k);
                if (sb.len > MAX_IGNORE_BYTES) {
                        strbuf_release(&sb);
                        return error_set(err, DS01_EUSAGE, ".dockerignore is larger than %d bytes",
                                         MAX_IGNORE_BYTES);
                }
        }
        ignore_parse(ig, sb.buf ? sb.buf : "", sb.len);
        strbuf_release(&sb);
        return 0;
}

int tarball_write(const char *root, int fd, int64_t max_bytes, int64_t *ret_bytes,
                  struct error **err)
{
        _cleanup_free_ char *copy = xstrdup(root);
        size_t rl = strlen(copy);
        while (rl > 1 && copy[rl - 1] == '/')
                copy[--rl] = '\0';
        const char *slash = strrchr(copy, '/');
        struct tw w = {
            .fd = fd,
            .project = slash && slash[1] ? slash + 1 : copy,
            .max_bytes = max_bytes,
            .buf = fd >= 0 ? xmalloc(WBUF_SIZE) : NULL,
            .path = STRBUF_INIT,
        };
        int r = 0;
        int rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (rootfd < 0)
                r = error_set_errno(err, -errno, "cannot open the project directory %s", root);
        if (r == 0)
                r = read_dockerignore(rootfd, &w.ig, err);
        if (r == 0)
                r = walk(&w, TAKE_FD(rootfd), err);
        if (r == 0 && fd >= 0) {
                static const unsigned char zeros[2 * TAR_BLOCK];
                r = tw_add(&w, zeros, sizeof(zeros), err);
                if (r == 0)
                        r = tw_flush(&w, err);
        } else if (r < 0 && fd >= 0) {
                /* Not a header (bad checksum): a reader fails instead of seeing an archive that
                 * merely ends early. Best effort: the reader may be gone. */
                unsigned char poison[TAR_BLOCK];
                memset(poison, 'X', sizeof(poison));
                w.len = 0;
                (void)write_all(fd, poison, sizeof(poison));
        }
        if (rootfd >= 0)
                close(rootfd);
        if (r == 0 && ret_bytes)
                *ret_bytes = w.total;
        ignore_release(&w.ig);
        strbuf_release(&w.path);
        free(w.buf);
        return r;
}
