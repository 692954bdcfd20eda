/* audit.c - see audit.h. */
#include "daemon/observe/audit.h"

#include "shared/log.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>

#define AUDIT_MAX_ENTRIES 4096 /* keys counted at once, all users */
#define AUDIT_OTHER       "*"  /* the target a uid's further targets are counted under */

struct denial {
        uid_t uid;
        char *login, *action, *target;
        int64_t window_end_ms; /* monotonic */
        int64_t repeats;       /* since the first (written at once) */
};

struct audit {
        struct events *ev;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        pthread_t thread;
        bool has_thread, stop;
        int64_t window_ms;
        size_t names_per_uid; /* distinct (action, target) of one uid in a window */
        struct denial *v;
        size_t n;
        int64_t dropped; /* denials not counted: the table was full */
};

static void write_event(struct audit *a, const struct denial *e, int64_t count, bool windowed)
{
        json_t *details =
            json_pack("{s:s, s:s, s:I, s:I}", "action", e->action, "container", e->target, "uid",
                      (json_int_t)e->uid, "count", (json_int_t)count);
        if (windowed)
                json_object_set_new(details, "window_s", json_integer(a->window_ms / 1000));
        events_log(a->ev, "auth.denied", e->login, details);
        if (windowed)
                log_notice("auth.denied: %s (uid %u) tried to %s '%s' %lld more time(s) in %lld s",
                           e->login, (unsigned)e->uid, e->action, e->target, (long long)count,
                           (long long)(a->window_ms / 1000));
        else
                log_notice("auth.denied: %s (uid %u) tried to %s '%s'", e->login, (unsigned)e->uid,
                           e->action, e->target);
}

static void denial_release(struct denial *e)
{
        free(e->login);
        free(e->action);
        free(e->target);
}

/* Writes and forgets the windows ended by now (all, with now < 0). Under a->lock. */
static void flush(struct audit *a, int64_t now)
{
        for (size_t i = 0; i < a->n;) {
                struct denial *e = &a->v[i];
                if (now >= 0 && e->window_end_ms > now) {
                        i++;
                        continue;
                }
                if (e->repeats > 0)
                        write_event(a, e, e->repeats, true);
                denial_release(e);
                a->v[i] = a->v[--a->n];
        }
        if (a->dropped > 0 && (now < 0 || a->n == 0)) {
                log_warning("auth.denied: %lld denied request(s) not itemised (too many at once)",
                            (long long)a->dropped);
                a->dropped = 0;
        }
}

/* The earliest window end, or INT64_MAX. Under a->lock. */
static int64_t next_end(const struct audit *a)
{
        int64_t t = INT64_MAX;
        for (size_t i = 0; i < a->n; i++)
                if (a->v[i].window_end_ms < t)
                        t = a->v[i].window_end_ms;
        return t;
}

static void *flusher(void *arg)
{
        struct audit *a = arg;
        pthread_mutex_lock(&a->lock);
        while (!a->stop) {
                int64_t end = next_end(a);
                if (end == INT64_MAX) {
                        pthread_cond_wait(&a->cond, &a->lock);
                        continue;
                }
                int64_t wait = end - mono_ms();
                if (wait > 0) {
                        struct timespec ts;
                        clock_gettime(CLOCK_MONOTONIC, &ts);
                        ts.tv_sec += wait / 1000;
                        ts.tv_nsec += (wait % 1000) * 1000000L;
                        if (ts.tv_nsec >= 1000000000L) {
                                ts.tv_sec++;
                                ts.tv_nsec -= 1000000000L;
                        }
                        pthread_cond_timedwait(&a->cond, &a->lock, &ts);
                        continue;
                }
                flush(a, mono_ms());
        }
        pthread_mutex_unlock(&a->lock);
        return NULL;
}

struct audit *audit_new(struct events *ev, int64_t window_s, int64_t names_per_uid)
{
        struct audit *a = xzalloc(sizeof(*a));
        a->ev = ev;
        a->window_ms = window_s * 1000;
        a->names_per_uid = (size_t)names_per_uid;
        a->v = xcalloc(AUDIT_MAX_ENTRIES, sizeof(*a->v));
        pthread_mutex_init(&a->lock, NULL);
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&a->cond, &ca);
        pthread_condattr_destroy(&ca);
        int r = pthread_create(&a->thread, NULL, flusher, a);
        if (r != 0) /* then windows are written at the next denial after they end */
                log_error("audit: cannot start its thread: %s", strerror(r));
        a->has_thread = r == 0;
        return a;
}

struct audit *audit_free(struct audit *a)
{
        if (!a)
                return NULL;
        pthread_mutex_lock(&a->lock);
        a->stop = true;
        pthread_cond_signal(&a->cond);
        pthread_mutex_unlock(&a->lock);
        if (a->has_thread)
                pthread_join(a->thread, NULL);
        flush(a, -1);
        pthread_mutex_destroy(&a->lock);
        pthread_cond_destroy(&a->cond);
        free(a->v);
        free(a);
        return NULL;
}

void audit_configure(struct audit *a, int64_t window_s, int64_t names_per_uid)
{
        pthread_mutex_lock(&a->lock);
        a->window_ms = window_s * 1000;
        a->names_per_uid = (size_t)names_per_uid;
        pthread_mutex_unlock(&a->lock);
}

void audit_denied(struct audit *a, uid_t uid, const char *login, const char *action,
                  const char *target)
{
        int64_t now = mono_ms();
        pthread_mutex_lock(&a->lock);
        flush(a, now);
        struct denial *e = NULL, *other = NULL;
        size_t mine = 0;
        for (size_t i = 0; i < a->n; i++) {
                struct denial *x = &a->v[i];
                if (x->uid != uid || !streq(x->action, action))
                        continue;
                mine++;
                if (streq(x->target, target))
                        e = x;
                else if (streq(x->target, AUDIT_OTHER))
                        other = x;
        }
        if (!e && mine >= a->names_per_uid) {
                e = other;
                target = AUDIT_OTHER;
        }
        if (e) {
                e->repeats++;
        } else if (a->n == AUDIT_MAX_ENTRIES) {
                a->dropped++;
        } else {
                e = &a->v[a->n++];
                *e = (struct denial){
                    uid, xstrdup(login), xstrdup(action), xstrdup(target), now + a->window_ms, 0};
                write_event(a, e, 1, false);
                pthread_cond_signal(&a->cond);
        }
        pthread_mutex_unlock(&a->lock);
}
