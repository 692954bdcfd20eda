/* execs.c - the registry of exec sessions handed out (see execs.h). */
#include "daemon/containers/execs.h"

#include "daemon/docker/dockerjson.h"

#include <pthread.h>

#define EXEC_MAX_PER_UID 64
#define EXEC_MAX_AGE_S   (7 * 86400)

struct exec_entry {
        char *id;
        char *container; /* the container it runs in */
        uid_t uid;
        int64_t created;
        uint64_t conn; /* the connection that opened it (struct caller's conn) */
        /* Seen finished by the monitor, or the connection that opened it closed: either way
         * no one is at the other end any more, and it no longer counts as a session. */
        bool ended;
};

struct exec_registry {
        pthread_mutex_t lock;
        struct exec_entry *v;
        size_t n;
};

struct exec_registry *execs_new(void)
{
        struct exec_registry *r = xzalloc(sizeof(*r));
        pthread_mutex_init(&r->lock, NULL);
        return r;
}

static void entry_free(struct exec_entry *x)
{
        free(x->id);
        free(x->container);
}

struct exec_registry *execs_free(struct exec_registry *r)
{
        if (r) {
                for (size_t i = 0; i < r->n; i++)
                        entry_free(&r->v[i]);
                free(r->v);
                pthread_mutex_destroy(&r->lock);
                free(r);
        }
        return NULL;
}

/* Remembers who opened exec `id`, so resize and status answer only them. Old entries go after
 * EXEC_MAX_AGE_S; a user's oldest goes when they have EXEC_MAX_PER_UID. */
void execs_remember(struct exec_registry *r, const char *id, const char *container, uid_t uid,
                    uint64_t conn)
{
        int64_t now = now_s();
        pthread_mutex_lock(&r->lock);
        size_t per_uid = 0;
        for (size_t i = 0; i < r->n;) {
                struct exec_entry *x = &r->v[i];
                if (now - x->created > EXEC_MAX_AGE_S) {
                        entry_free(x);
                        *x = r->v[--r->n];
                        continue;
                }
                per_uid += x->uid == uid;
                i++;
        }
        if (per_uid >= EXEC_MAX_PER_UID) {
                /* Forget this user's oldest: resize/status of a very old session stop working. */
                size_t oldest = (size_t)-1;
                for (size_t i = 0; i < r->n; i++)
                        if (r->v[i].uid == uid &&
                            (oldest == (size_t)-1 || r->v[i].created < r->v[oldest].created))
                                oldest = i;
                entry_free(&r->v[oldest]);
                r->v[oldest] = r->v[--r->n];
        }
        r->v = xrealloc(r->v, (r->n + 1) * sizeof(*r->v));
        r->v[r->n++] = (struct exec_entry){xstrdup(id), xstrdup(container), uid, now, conn, false};
        pthread_mutex_unlock(&r->lock);
}

void execs_conn_closed(struct ds01d *d, uint64_t conn)
{
        if (!conn)
                return;
        struct exec_registry *r = d->execs;
        pthread_mutex_lock(&r->lock);
        for (size_t i = 0; i < r->n; i++)
                if (r->v[i].conn == conn)
                        r->v[i].ended = true;
        pthread_mutex_unlock(&r->lock);
}

bool execs_owner(struct ds01d *d, const char *id, uid_t *ret_uid)
{
        struct exec_registry *r = d->execs;
        bool found = false;
        pthread_mutex_lock(&r->lock);
        for (size_t i = 0; i < r->n && !found; i++)
                if (streq(r->v[i].id, id)) {
                        *ret_uid = r->v[i].uid;
                        found = true;
                }
        pthread_mutex_unlock(&r->lock);
        return found;
}

static void mark_ended(struct exec_registry *r, const char *id)
{
        pthread_mutex_lock(&r->lock);
        for (size_t k = 0; k < r->n; k++)
                if (streq(r->v[k].id, id))
                        r->v[k].ended = true;
        pthread_mutex_unlock(&r->lock);
}

/* Asks Docker about each session not known to have ended, without the registry's lock. */
bool execs_open(struct ds01d *d, const char *name)
{
        struct exec_registry *r = d->execs;
        char **ids = NULL;
        size_t n = 0;
        pthread_mutex_lock(&r->lock);
        for (size_t i = 0; i < r->n; i++)
                if (r->v[i].container && streq(r->v[i].container, name) && !r->v[i].ended) {
                        ids = xrealloc(ids, (n + 1) * sizeof(*ids));
                        ids[n++] = xstrdup(r->v[i].id);
                }
        pthread_mutex_unlock(&r->lock);
        bool open = false;
        for (size_t i = 0; i < n; i++) {
                json_t *x = docker_exec_inspect(d->docker, ids[i], NULL);
                bool running = json_is_true(json_object_get(x, "Running"));
                json_decref(x);
                open |= running;
                if (!running)
                        mark_ended(r, ids[i]);
                free(ids[i]);
        }
        free(ids);
        return open;
}
