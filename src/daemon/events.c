/* events.c - events.jsonl: DS01's event envelope, one line per event, appended with one write()
 * under a mutex so lines never interleave. The file is created 0600: events name users and
 * containers, so only root reads them (users get theirs through the daemon). */
#include "events.h"

#include "../shared/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#define EVENTS_MAX_LINE 4000

struct events {
        int fd;
        char *path;
        pthread_mutex_t lock;
        bool failed; /* a write error was logged already */
};

struct events *events_open(const char *log_dir, struct error **err)
{
        if (mkdir(log_dir, 0700) < 0 && errno != EEXIST) {
                error_set_errno(err, errno, "creating log directory %s", log_dir);
                return NULL;
        }
        struct events *ev = xzalloc(sizeof(*ev));
        ev->path = xasprintf("%s/events.jsonl", log_dir);
        ev->fd = open(ev->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (ev->fd < 0) {
                error_set_errno(err, errno, "opening %s", ev->path);
                return events_free(ev);
        }
        /* An existing file keeps its owner but never stays readable by others. */
        (void)fchmod(ev->fd, 0600);
        pthread_mutex_init(&ev->lock, NULL);
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
        if (!line || !ev)
                goto out;
        size_t n = strlen(line);
        line[n] = '\n';
        pthread_mutex_lock(&ev->lock);
        int r = write_all(ev->fd, line, n + 1);
        if (r < 0 && !ev->failed) {
                ev->failed = true;
                log_error("cannot write %s: %s; further event write errors are not logged",
                          ev->path, strerror(-r));
        } else if (r == 0)
                ev->failed = false;
        pthread_mutex_unlock(&ev->lock);
out:
        free(line);
}

static int64_t iso_to_unix(const char *s)
{
        struct tm tm;
        memset(&tm, 0, sizeof(tm));
        if (!s || !strptime(s, "%Y-%m-%dT%H:%M:%S", &tm))
                return 0;
        return (int64_t)timegm(&tm);
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
                int64_t t = iso_to_unix(json_string_value(json_object_get(e, "timestamp")));
                if ((f->since && t < f->since) || (f->until && t > f->until))
                        return false;
        }
        return true;
}

json_t *events_query(struct events *ev, const struct events_filter *f, struct error **err)
{
        FILE *fp = fopen(ev->path, "re");
        if (!fp) {
                error_set_errno(err, errno, "reading %s", ev->path);
                return NULL;
        }
        size_t limit = f->limit ? f->limit : 200;
        json_t *ring = json_array(); /* the newest `limit` matches */
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        while ((n = getline(&line, &cap, fp)) > 0) {
                json_t *e = json_loadb(line, (size_t)n, 0, NULL);
                if (e && matches(e, f)) {
                        if (json_array_size(ring) == limit)
                                json_array_remove(ring, 0);
                        json_array_append(ring, e);
                }
                json_decref(e);
        }
        free(line);
        fclose(fp);
        return ring;
}
