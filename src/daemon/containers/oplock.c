/* oplock.c - one operation at a time per container name (see oplock.h). */
#include "daemon/containers/oplock.h"

#include "shared/util.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>

struct oplocks {
        pthread_mutex_t lock;
        pthread_cond_t done; /* signalled when an operation finishes */
        char **names;        /* the names with an operation in progress */
        size_t n;
};

struct oplocks *oplocks_new(void)
{
        struct oplocks *o = xzalloc(sizeof(*o));
        pthread_mutex_init(&o->lock, NULL);
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&o->done, &ca);
        pthread_condattr_destroy(&ca);
        return o;
}

struct oplocks *oplocks_free(struct oplocks *o)
{
        if (o) {
                for (size_t i = 0; i < o->n; i++)
                        free(o->names[i]);
                free(o->names);
                pthread_cond_destroy(&o->done);
                pthread_mutex_destroy(&o->lock);
                free(o);
        }
        return NULL;
}

static bool has(const struct oplocks *o, const char *name)
{
        for (size_t i = 0; i < o->n; i++)
                if (streq(o->names[i], name))
                        return true;
        return false;
}

int oplock_acquire_wait(struct oplocks *o, const char *name, int wait_s, struct error **err)
{
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += wait_s;
        pthread_mutex_lock(&o->lock);
        int w = 0;
        bool waited = false;
        while (has(o, name) && w == 0 && wait_s > 0) {
                waited = true;
                w = pthread_cond_timedwait(&o->done, &o->lock, &until);
        }
        if (has(o, name)) {
                pthread_mutex_unlock(&o->lock);
                return error_set(err, DS01_ERR,
                                 "another operation on '%s' is in progress - try again in a "
                                 "moment",
                                 name);
        }
        o->names = xrealloc(o->names, (o->n + 1) * sizeof(*o->names));
        o->names[o->n++] = xstrdup(name);
        pthread_mutex_unlock(&o->lock);
        return waited;
}

int oplock_acquire(struct oplocks *o, const char *name, struct error **err)
{
        return oplock_acquire_wait(o, name, 0, err) < 0 ? -1 : 0;
}

void oplock_release(struct oplocks *o, const char *name)
{
        pthread_mutex_lock(&o->lock);
        for (size_t i = 0; i < o->n; i++)
                if (streq(o->names[i], name)) {
                        free(o->names[i]);
                        o->names[i] = o->names[--o->n];
                        break;
                }
        pthread_cond_broadcast(&o->done);
        pthread_mutex_unlock(&o->lock);
}

bool oplock_held(struct oplocks *o, const char *name)
{
        pthread_mutex_lock(&o->lock);
        bool busy = has(o, name);
        pthread_mutex_unlock(&o->lock);
        return busy;
}
