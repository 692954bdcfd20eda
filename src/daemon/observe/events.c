/* events.c - events.jsonl: DS01's event envelope, one line per event, appended with one write()
 * under a mutex so lines never interleave, and rotated by size under the same mutex. The files
 * are created 0600: events name users and containers, so only root reads them (users get theirs
 * through the daemon). Readers take a snapshot of every file under the mutex, then read without
 * it. */
#include "daemon/observe/events.h"

#include "shared/log.h"
#include "daemon/observe/counters.h"
#include "shared/parse.h"
#include "shared/timestamp.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#define EVENTS_MAX_LINE 4000

struct events {
        int fd;
        char *path; /* log_dir/events.jsonl; rotated files are path.1 ... path.<keep> */
        pthread_mutex_t lock;
        int64_t size;      /* of the file fd writes, kept current under lock */
        int64_t max_bytes; /* rotate before an append takes size past this */
        int keep;
        bool failed;        /* a write error was logged already */
        bool rotate_failed; /* a rotation error was logged already */
        uint64_t key[2];    /* seals cursors (log_dir/events.key, kept across restarts) */
};

/* ---- the cursor key ------------------------------------------------------------------------ */

/* SipHash-2-4 of (a, b, c, d) under key k: a keyed pseudo-random function, so a cursor reveals
 * nothing of the offsets it holds and cannot be forged. */
#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                   \
        do {                                                                                       \
                v0 += v1, v1 = ROTL(v1, 13), v1 ^= v0, v0 = ROTL(v0, 32);                          \
                v2 += v3, v3 = ROTL(v3, 16), v3 ^= v2;                                             \
                v0 += v3, v3 = ROTL(v3, 21), v3 ^= v0;                                             \
                v2 += v1, v1 = ROTL(v1, 17), v1 ^= v2, v2 = ROTL(v2, 32);                          \
        } while (0)

static uint64_t prf(const uint64_t k[2], uint64_t a, uint64_t b, uint64_t c, uint64_t d)
{
        uint64_t v0 = 0x736f6d6570736575ULL ^ k[0], v1 = 0x646f72616e646f6dULL ^ k[1];
        uint64_t v2 = 0x6c7967656e657261ULL ^ k[0], v3 = 0x7465646279746573ULL ^ k[1];
        const uint64_t m[5] = {a, b, c, d, 32ULL << 56}; /* 32 bytes, length in the last */
        for (size_t i = 0; i < 5; i++) {
                v3 ^= m[i];
                SIPROUND;
                SIPROUND;
                v0 ^= m[i];
        }
        v2 ^= 0xff;
        SIPROUND;
        SIPROUND;
        SIPROUND;
        SIPROUND;
        return v0 ^ v1 ^ v2 ^ v3;
}
#undef SIPROUND
#undef ROTL

/* The key in log_dir/events.key (root's, 0600), made on first use. A new key (the file lost)
 * only makes cursors handed out before unusable. */
static void load_key(struct events *ev, const char *log_dir)
{
        _cleanup_free_ char *path = xasprintf("%s/events.key", log_dir);
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd >= 0 && read(fd, ev->key, sizeof(ev->key)) == (ssize_t)sizeof(ev->key)) {
                close(fd);
                return;
        }
        if (fd >= 0)
                close(fd);
        if (getrandom(ev->key, sizeof(ev->key), 0) != (ssize_t)sizeof(ev->key)) {
                log_error("events: no random bytes for the cursor key: %s", strerror(errno));
                ev->key[0] = (uint64_t)now_ms() ^ (uint64_t)getpid() << 32;
        }
        (void)unlink(path);
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0 || write_all(fd, ev->key, sizeof(ev->key)) != 0)
                log_warning("events: cannot keep the cursor key in %s (cursors end with the "
                            "daemon): %s",
                            path, strerror(errno));
        if (fd >= 0)
                close(fd);
}

/* A line cut short by a crash would swallow the next event: end it. */
static void end_partial_line(const char *path)
{
        _cleanup_close_ int fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
        struct stat st;
        char last;
        if (fd < 0 || fstat(fd, &st) < 0 || st.st_size == 0 ||
            pread(fd, &last, 1, st.st_size - 1) != 1 || last == '\n')
                return;
        (void)write_all(fd, "\n", 1);
}

static int open_current(struct events *ev, int64_t *ret_size, struct error **err)
{
        _cleanup_close_ int fd =
            open(ev->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0)
                return error_set_errno(err, errno, "opening %s", ev->path);
        /* An existing file keeps its owner but never stays readable by others. */
        (void)fchmod(fd, 0600);
        *ret_size = st.st_size;
        return TAKE_FD(fd);
}

struct events *events_open(const char *log_dir, int64_t max_bytes, int keep, struct error **err)
{
        if (mkdir(log_dir, 0700) < 0 && errno != EEXIST) {
                error_set_errno(err, errno, "creating log directory %s", log_dir);
                return NULL;
        }
        struct events *ev = xzalloc(sizeof(*ev));
        ev->path = xasprintf("%s/events.jsonl", log_dir);
        end_partial_line(ev->path);
        ev->fd = open_current(ev, &ev->size, err);
        if (ev->fd < 0)
                return events_free(ev);
        pthread_mutex_init(&ev->lock, NULL);
        events_set_rotation(ev, max_bytes, keep);
        load_key(ev, log_dir);
        return ev;
}

struct events *events_free(struct events *ev)
{
        if (!ev)
                return NULL;
        if (ev->fd >= 0) {
                close(ev->fd);
                pthread_mutex_destroy(&ev->lock);
        }
        free(ev->path);
        free(ev);
        return NULL;
}

void events_set_rotation(struct events *ev, int64_t max_bytes, int keep)
{
        assert(max_bytes >= 1 && keep >= 1 && keep <= EVENTS_KEEP_MAX);
        pthread_mutex_lock(&ev->lock);
        ev->max_bytes = max_bytes;
        ev->keep = keep;
        pthread_mutex_unlock(&ev->lock);
}

static char *rotated_path(const struct events *ev, int k)
{
        return xasprintf("%s.%d", ev->path, k);
}

static void rotate_error(struct events *ev, const char *fmt, ...) _printf_(2, 3);
static void rotate_error(struct events *ev, const char *fmt, ...)
{
        if (ev->rotate_failed)
                return;
        ev->rotate_failed = true;
        va_list ap;
        va_start(ap, fmt);
        _cleanup_free_ char *msg = NULL;
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        log_error("cannot rotate %s: %s; events go on into it, further rotation errors are not "
                  "logged",
                  ev->path, msg ? msg : "?");
}

/* Called with ev->lock held, so no append interleaves: every line stays whole in the file it
 * was written to. On an error events go on into the current file (no line is lost) and the next
 * append tries again. */
static void rotate(struct events *ev)
{
        /* Files beyond keep (keep was lowered) go; the oldest kept is overwritten by the shift. */
        for (int k = ev->keep + 1; k <= EVENTS_KEEP_MAX; k++) {
                _cleanup_free_ char *p = rotated_path(ev, k);
                (void)unlink(p);
        }
        for (int k = ev->keep - 1; k >= 1; k--) {
                _cleanup_free_ char *from = rotated_path(ev, k), *to = rotated_path(ev, k + 1);
                if (rename(from, to) < 0 && errno != ENOENT) {
                        rotate_error(ev, "renaming %s to %s: %s", from, to, strerror(errno));
                        return;
                }
        }
        _cleanup_free_ char *first = rotated_path(ev, 1);
        if (rename(ev->path, first) < 0) {
                rotate_error(ev, "renaming it to %s: %s", first, strerror(errno));
                return;
        }
        _cleanup_error_ struct error *e = NULL;
        int64_t size;
        int fd = open_current(ev, &size, &e);
        if (fd < 0) {
                /* Put it back: the writer's fd stays the file named events.jsonl. */
                (void)rename(first, ev->path);
                rotate_error(ev, "%s", e->message);
                return;
        }
        close(ev->fd);
        ev->fd = fd;
        ev->size = size;
        ev->rotate_failed = false;
}

void events_log(struct events *ev, const char *type, const char *user, json_t *details)
{
        char ts[32];
        json_t *o = json_object();
        json_object_set_new(o, "timestamp", json_string(format_iso8601(now_s(), ts)));
        json_object_set_new(o, "event_type", json_string(type));
        json_object_set_new(o, "schema_version", json_string("1"));
        if (user && *user)
                json_object_set_new(o, "user", json_string(user));
        json_object_set_new(o, "source", json_string("ds01d"));
        if (details && json_object_size(details) > 0)
                json_object_set(o, "details", details);
        char *line = json_dumps(o, JSON_COMPACT);
        if (line && strlen(line) > EVENTS_MAX_LINE) {
                /* Keep appends atomic (PIPE_BUF-sized lines, as DS01 does). */
                size_t orig = strlen(line);
                free(line);
                json_object_set_new(
                    o, "details",
                    json_pack("{s:b, s:I}", "truncated", 1, "original_size", (json_int_t)orig));
                line = json_dumps(o, JSON_COMPACT);
        }
        json_decref(details);
        json_decref(o);
        counters_event(type);
        if (!line || !ev)
                goto out;
        size_t n = strlen(line);
        line[n] = '\n';
        pthread_mutex_lock(&ev->lock);
        if (ev->size > 0 && ev->size + (int64_t)n + 1 > ev->max_bytes)
                rotate(ev);
        int r = write_all(ev->fd, line, n + 1);
        if (r == 0) {
                ev->size += (int64_t)n + 1;
                ev->failed = false;
        } else {
                struct stat st;
                if (fstat(ev->fd, &st) == 0)
                        ev->size = st.st_size;
                if (!ev->failed) {
                        ev->failed = true;
                        log_error("cannot write %s: %s; further event write errors are not "
                                  "logged",
                                  ev->path, strerror(-r));
                }
        }
        pthread_mutex_unlock(&ev->lock);
out:
        free(line);
}

static bool matches(const json_t *e, const struct events_filter *f)
{
        const char *type = json_string_value(json_object_get(e, "event_type"));
        const char *user = json_string_value(json_object_get(e, "user"));
        if (f->user && !streq_ptr(user, f->user))
                return false;
        if (f->type && type) {
                size_t n = strlen(f->type);
                bool prefix = n > 0 && f->type[n - 1] == '.';
                if (prefix ? strncmp(type, f->type, n) != 0 : !streq(type, f->type))
                        return false;
        } else if (f->type)
                return false;
        if (f->container) {
                const char *c =
                    json_string_value(json_object_get(json_object_get(e, "details"), "container"));
                if (!streq_ptr(c, f->container))
                        return false;
        }
        if (f->since || f->until) {
                int64_t t =
                    timestamp_ms_or_zero(json_string_value(json_object_get(e, "timestamp"))) / 1000;
                if ((f->since && t < f->since) || (f->until && t > f->until))
                        return false;
        }
        return true;
}

/* The log as it stands at one instant: every file open, oldest first, each with its size then.
 * Taken under the writers' mutex, so no rotation falls between two opens and every size ends at
 * a line boundary (appends are whole lines under the same mutex). */
struct log_file {
        int fd;
        uint64_t ino;
        int64_t size;
        int64_t mtime;
        bool rotated;
};

struct log_snapshot {
        struct log_file f[EVENTS_KEEP_MAX + 1];
        size_t n;
};

static void snapshot_release(struct log_snapshot *s)
{
        for (size_t i = 0; i < s->n; i++)
                if (s->f[i].fd >= 0)
                        close(s->f[i].fd);
        s->n = 0;
}

static int snapshot_take(struct events *ev, struct log_snapshot *s, struct error **err)
{
        s->n = 0;
        int r = 0;
        pthread_mutex_lock(&ev->lock);
        for (int k = ev->keep; k >= 0; k--) {
                _cleanup_free_ char *p = k ? rotated_path(ev, k) : xstrdup(ev->path);
                int fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
                struct stat st;
                if (fd < 0 && errno == ENOENT)
                        continue;
                if (fd < 0 || fstat(fd, &st) < 0) {
                        r = error_set_errno(err, errno, "reading %s", p);
                        if (fd >= 0)
                                close(fd);
                        break;
                }
                s->f[s->n++] = (struct log_file){fd, (uint64_t)st.st_ino, (int64_t)st.st_size,
                                                 (int64_t)st.st_mtime, k > 0};
        }
        pthread_mutex_unlock(&ev->lock);
        if (r < 0)
                snapshot_release(s);
        return r;
}

/* A cursor holds the end of the last line a reader was given: the inode of its file (found among
 * events.jsonl and its rotated files, whatever their names now) and the offset in it. An inode is
 * reused once its file is deleted, so a hash of the bytes just before the offset (the tag) tells
 * the file apart from a newer one that got the same inode. Inode 0, offset 0 is the start of an
 * empty log. Sealed as "<nonce>:<inode'>:<offset'>:<mac>" (hex): inode and offset masked with
 * PRF(key, nonce), the mac PRF(key, nonce, inode, offset ^ tag), so a user learns nothing from it
 * (the offset would be the size of everyone's log: others' activity) and cannot make one up. */
#define CURSOR_TAG_BYTES 512

static uint64_t cursor_tag(int fd, int64_t off)
{
        char buf[CURSOR_TAG_BYTES];
        size_t n = off < CURSOR_TAG_BYTES ? (size_t)off : CURSOR_TAG_BYTES;
        if (pread(fd, buf, n, (off_t)(off - (int64_t)n)) != (ssize_t)n)
                return 0;
        uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
        for (size_t i = 0; i < n; i++)
                h = (h ^ (unsigned char)buf[i]) * 0x100000001b3ULL;
        return h;
}

#define PRF_INO 1
#define PRF_OFF 2
#define PRF_MAC 3

static char *cursor_seal(const struct events *ev, uint64_t ino, int64_t off, uint64_t tag)
{
        static atomic_uint_fast64_t counter;
        uint64_t nonce = prf(ev->key, 0, (uint64_t)now_ms(), atomic_fetch_add(&counter, 1), 0);
        return xasprintf("%016" PRIx64 ":%016" PRIx64 ":%016" PRIx64 ":%016" PRIx64, nonce,
                         ino ^ prf(ev->key, PRF_INO, nonce, 0, 0),
                         (uint64_t)off ^ prf(ev->key, PRF_OFF, nonce, 0, 0),
                         prf(ev->key, PRF_MAC, nonce, ino, (uint64_t)off ^ tag));
}

/* Unseals a cursor; the tag is not in it: *ret_mac is checked against the file's (mac_ok). */
static int cursor_parse(const struct events *ev, const char *s, uint64_t *ret_ino, int64_t *ret_off,
                        uint64_t *ret_nonce, uint64_t *ret_mac)
{
        uint64_t v[4];
        for (size_t k = 0; k < 4; k++) {
                if (strspn(s, "0123456789abcdef") != 16 || s[16] != (k < 3 ? ':' : '\0'))
                        return -EINVAL;
                v[k] = strtoull(s, NULL, 16);
                s += 17;
        }
        *ret_nonce = v[0];
        *ret_ino = v[1] ^ prf(ev->key, PRF_INO, v[0], 0, 0);
        uint64_t off = v[2] ^ prf(ev->key, PRF_OFF, v[0], 0, 0);
        if (off > INT64_MAX)
                return -EINVAL;
        *ret_off = (int64_t)off;
        *ret_mac = v[3];
        return 0;
}

static bool mac_ok(const struct events *ev, uint64_t nonce, uint64_t ino, int64_t off, uint64_t tag,
                   uint64_t mac)
{
        return prf(ev->key, PRF_MAC, nonce, ino, (uint64_t)off ^ tag) == mac;
}

/* The cursor for "up to offset off of file i": an offset 0 means the end of the file before. */
static char *cursor_at(const struct events *ev, const struct log_snapshot *snap, size_t i,
                       int64_t off)
{
        while (off == 0 && i > 0) {
                i--;
                off = snap->f[i].size;
        }
        if (off == 0 || i >= snap->n)
                return cursor_seal(ev, 0, 0, 0);
        return cursor_seal(ev, snap->f[i].ino, off, cursor_tag(snap->f[i].fd, off));
}

/* Calls fn(line, len, data) for each whole line of f from `from` up to its snapshot size, until
 * fn returns false. Returns the offset after the last line handed to fn. */
static int64_t read_lines(const struct log_file *f, int64_t from,
                          bool (*fn)(const char *line, size_t len, void *data), void *data)
{
        int fd = fcntl(f->fd, F_DUPFD_CLOEXEC, 0);
        FILE *fp = fd >= 0 ? fdopen(fd, "r") : NULL;
        if (!fp) {
                if (fd >= 0)
                        close(fd);
                return from;
        }
        int64_t pos = from;
        if (fseeko(fp, (off_t)from, SEEK_SET) == 0) {
                _cleanup_free_ char *line = NULL;
                size_t cap = 0;
                ssize_t n;
                while (pos < f->size && (n = getline(&line, &cap, fp)) > 0) {
                        if (pos + n > f->size) /* written after the snapshot: next time */
                                break;
                        pos += n;
                        if (!fn(line, (size_t)n, data))
                                break;
                }
        }
        fclose(fp);
        return pos;
}

struct scan {
        const struct events_filter *f;
        /* `"key":"value"` texts a matching line must hold (as events_log writes them), looked
         * for before a line is parsed: most lines of a busy log are other users'. */
        char *needles[3];
        json_t *out;
        size_t limit;   /* history: ring size; follow: most matches */
        bool ring;      /* keep the newest `limit` (history) or stop at `limit` (follow) */
        int64_t budget; /* follow: bytes left to read */
        bool stopped;   /* follow: a bound was reached */
};

/* `"key":<value as JSON>`, or NULL for no value. */
static char *needle(const char *key, const char *value)
{
        if (!value)
                return NULL;
        json_t *v = json_string(value);
        _cleanup_free_ char *text = v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
        json_decref(v);
        return text ? xasprintf("\"%s\":%s", key, text) : NULL;
}

static void scan_needles(struct scan *sc, const struct events_filter *f)
{
        size_t n = f->type ? strlen(f->type) : 0;
        sc->needles[0] = needle("user", f->user);
        /* (a type prefix "gpu." matches several values: no needle) */
        sc->needles[1] = n && f->type[n - 1] != '.' ? needle("event_type", f->type) : NULL;
        sc->needles[2] = needle("container", f->container);
}

static void scan_release(struct scan *sc)
{
        for (size_t i = 0; i < ARRAY_SIZE(sc->needles); i++)
                free(sc->needles[i]);
}

static bool scan_line(const char *line, size_t len, void *data)
{
        struct scan *sc = data;
        bool maybe = true;
        for (size_t i = 0; i < ARRAY_SIZE(sc->needles) && maybe; i++)
                maybe = !sc->needles[i] ||
                        memmem(line, len, sc->needles[i], strlen(sc->needles[i])) != NULL;
        json_t *e = maybe ? json_loadb(line, len, 0, NULL) : NULL;
        if (e && matches(e, sc->f)) {
                if (sc->ring && json_array_size(sc->out) == sc->limit)
                        json_array_remove(sc->out, 0);
                json_array_append(sc->out, e);
        }
        json_decref(e);
        if (!sc->ring) {
                sc->budget -= (int64_t)len;
                if (json_array_size(sc->out) >= sc->limit || sc->budget <= 0) {
                        sc->stopped = true;
                        return false;
                }
        }
        return true;
}

static bool count_line(const char *line, size_t len, void *data)
{
        const int64_t *since = data;
        json_t *e = json_loadb(line, len, 0, NULL);
        int64_t t = timestamp_ms_or_zero(json_string_value(json_object_get(e, "timestamp"))) / 1000;
        if (t >= *since)
                counters_event_seen(json_string_value(json_object_get(e, "event_type")), t);
        json_decref(e);
        return true;
}

void events_count_since(struct events *ev, int64_t since)
{
        struct log_snapshot snap;
        struct error *err = NULL;
        if (snapshot_take(ev, &snap, &err) < 0) {
                log_warning("counting the events of the last day: %s", err->message);
                error_free(err);
                return;
        }
        for (size_t i = 0; i < snap.n; i++)
                if (!(snap.f[i].rotated && snap.f[i].mtime < since))
                        read_lines(&snap.f[i], 0, count_line, &since);
        snapshot_release(&snap);
}

json_t *events_query(struct events *ev, const struct events_filter *f, struct error **err)
{
        uint64_t after_ino = 0, after_nonce = 0, after_mac = 0;
        int64_t after_off = 0;
        if (f->after &&
            cursor_parse(ev, f->after, &after_ino, &after_off, &after_nonce, &after_mac) < 0) {
                error_set(err, DS01_EUSAGE,
                          "bad events cursor '%.40s' - use the cursor of an earlier answer",
                          f->after);
                return NULL;
        }
        _cleanup_(snapshot_release) struct log_snapshot snap;
        if (snapshot_take(ev, &snap, err) < 0)
                return NULL;
        json_t *res = json_object();
        if (f->after && after_ino == 0 && !mac_ok(ev, after_nonce, 0, 0, 0, after_mac)) {
                error_set(err, DS01_EUSAGE,
                          "bad events cursor '%.40s' - use the cursor of an earlier answer",
                          f->after);
                return NULL;
        }
        struct scan sc = {.f = f, .out = json_array(), .ring = !f->after};
        scan_needles(&sc, f);
        json_object_set_new(res, "events", sc.out);
        /* Where this answer ends: file index and offset. */
        size_t at = snap.n ? snap.n - 1 : 0;
        int64_t at_off = snap.n ? snap.f[at].size : 0;

        if (!f->after) {
                /* Newest file first, each file's newest matches before the older files': the
                 * scan stops at the file that completes `limit`. */
                size_t limit = f->limit ? f->limit : 200;
                for (size_t i = snap.n; i-- > 0 && json_array_size(sc.out) < limit;) {
                        /* A rotated file last written before `since` holds nothing newer. */
                        if (f->since && snap.f[i].rotated && snap.f[i].mtime < f->since)
                                break;
                        json_t *newer = sc.out; /* res's, until replaced */
                        sc.out = json_array();
                        sc.limit = limit - json_array_size(newer);
                        read_lines(&snap.f[i], 0, scan_line, &sc);
                        json_array_extend(sc.out, newer);
                        json_object_set_new(res, "events", sc.out);
                }
        } else {
                sc.limit = f->limit && f->limit < EVENTS_FOLLOW_MAX ? f->limit : EVENTS_FOLLOW_MAX;
                sc.budget = EVENTS_FOLLOW_BYTES;
                size_t i = 0;
                int64_t off = 0;
                if (after_ino != 0) {
                        while (i < snap.n &&
                               !(snap.f[i].ino == after_ino && after_off > 0 &&
                                 after_off <= snap.f[i].size &&
                                 mac_ok(ev, after_nonce, after_ino, after_off,
                                        cursor_tag(snap.f[i].fd, after_off), after_mac)))
                                i++;
                        if (i < snap.n) {
                                off = after_off;
                        } else {
                                /* Rotated away: go on from the oldest file kept. */
                                json_object_set_new(res, "skipped", json_true());
                                i = 0;
                        }
                }
                at = i;
                at_off = off;
                for (; i < snap.n; i++, off = 0) {
                        at = i;
                        at_off = read_lines(&snap.f[i], off, scan_line, &sc);
                        if (sc.stopped) {
                                json_object_set_new(res, "more", json_true());
                                break;
                        }
                }
        }
        scan_release(&sc);
        _cleanup_free_ char *cursor = cursor_at(ev, &snap, at, at_off);
        json_object_set_new(res, "cursor", json_string(cursor));
        return res;
}
