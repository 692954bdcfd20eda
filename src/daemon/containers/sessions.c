/* sessions.c - container-run/attach sessions (exec), their terminals, and logs (see sessions.h). */
#include "daemon/containers/sessions.h"

#include "daemon/containers/managed.h"
#include "daemon/containers/verbs.h"
#include "daemon/docker/dockerjson.h"
#include "daemon/requests/access.h"

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

struct exec_registry *sessions_registry_new(void)
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

struct exec_registry *sessions_registry_free(struct exec_registry *r)
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
static void remember(struct exec_registry *r, const char *id, const char *container, uid_t uid,
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

void sessions_conn_closed(struct ds01d *d, uint64_t conn)
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

bool sessions_owner(struct ds01d *d, const char *id, uid_t *ret_uid)
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
bool sessions_open(struct ds01d *d, const char *name)
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

static bool term_ok(const char *t)
{
        size_t n = strlen(t);
        if (n == 0 || n > 64)
                return false;
        for (; *t; t++)
                if (!((*t >= 'a' && *t <= 'z') || (*t >= 'A' && *t <= 'Z') ||
                      (*t >= '0' && *t <= '9') || strchr("-_.+", *t)))
                        return false;
        return true;
}

int sessions_exec(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                  int *ret_fd, struct error **err)
{
        _cleanup_free_ char *name = NULL;
        json_t *inspect = NULL;
        if (access_container(d, c, jstr(params, "name"), "exec", &name, &inspect, err) < 0)
                return -1;
        if (!inspect)
                return access_not_found(jstr(params, "name"), err);
        int r = -1;
        bool tty = json_is_true(json_object_get(params, "tty"));
        bool start = json_is_true(json_object_get(params, "start"));
        json_t *cmd = json_object_get(params, "cmd");
        const char *term = jstr(params, "term");
        _cleanup_free_ char *exec_id = NULL;
        json_t *spec = NULL, *start_notices = NULL;
        bool running = json_is_true(json_object_get(json_object_get(inspect, "State"), "Running"));
        if (!running) {
                const char *p = managed_label(inspect, "ds01.project");
                if (!start) {
                        error_set(err, DS01_ERR,
                                  "'%s' is not running - container-run %s starts it and opens a "
                                  "shell",
                                  p ? p : name, p ? p : name);
                        goto out;
                }
                json_t *sp = json_pack("{s:s}", "name", name);
                json_t *res = NULL;
                int k = container_start(d, c, sp, &res, err);
                json_decref(sp);
                if (res)
                        start_notices = json_incref(json_object_get(res, "notices"));
                json_decref(res);
                if (k < 0)
                        goto out;
                /* A recreate (re-lease after the hold) changed the container. */
                json_decref(inspect);
                inspect = docker_container_inspect(d->docker, name, err);
                if (!inspect)
                        goto out;
        }
        /* The session runs as the container's owner (also when an admin opens it). */
        const char *user = jstr(json_object_get(inspect, "Config"), "User");
        json_t *env = json_array();
        json_array_append_new(env, json_sprintf("TERM=%s", term && term_ok(term) ? term
                                                           : tty                 ? "xterm"
                                                                                 : "dumb"));
        json_t *argv;
        if (cmd && json_array_size(cmd) > 0)
                argv = json_deep_copy(cmd);
        else
                argv = json_pack("[s, s, s]", "/bin/sh", "-c",
                                 "if command -v bash >/dev/null 2>&1; then exec bash -l; fi; "
                                 "exec sh -l");
        spec =
            json_pack("{s:b, s:b, s:b, s:b, s:s, s:s, s:o, s:o}", "AttachStdin", 1, "AttachStdout",
                      1, "AttachStderr", 1, "Tty", tty, "User", user ? user : "65534:65534",
                      "WorkingDir", "/workspace", "Env", env, "Cmd", argv);
        if (docker_exec_create(d->docker, name, spec, &exec_id, err) < 0) {
                error_wrap(err, "opening a session in '%s'", name);
                goto out;
        }
        int fd = -1;
        if (docker_exec_start_stream(d->docker, exec_id, tty, &fd, err) < 0) {
                error_wrap(err, "opening a session in '%s'", name);
                goto out;
        }
        remember(d->execs, exec_id, name, c->uid, c->conn);
        *ret_fd = fd;
        *ret_result =
            json_pack("{s:s, s:s, s:b}", "exec_id", exec_id, "container", name, "tty", tty);
        if (start_notices)
                json_object_set(*ret_result, "notices", start_notices);
        r = 0;
out:
        json_decref(start_notices);
        json_decref(spec);
        json_decref(inspect);
        return r;
}

int sessions_resize(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                    struct error **err)
{
        const char *id = jstr(params, "exec_id");
        if (access_exec(d, c, "resize", id, err) < 0)
                return -1;
        int rows = (int)json_integer_value(json_object_get(params, "rows"));
        int cols = (int)json_integer_value(json_object_get(params, "cols"));
        if (docker_exec_resize(d->docker, id, rows, cols, err) < 0)
                return -1;
        *ret_result = json_object();
        return 0;
}

int sessions_exec_status(struct ds01d *d, const struct caller *c, json_t *params,
                         json_t **ret_result, struct error **err)
{
        const char *id = jstr(params, "exec_id");
        if (access_exec(d, c, "exec_status", id, err) < 0)
                return -1;
        json_t *x = docker_exec_inspect(d->docker, id, err);
        if (!x)
                return -1;
        bool running = json_is_true(json_object_get(x, "Running"));
        json_t *code = json_object_get(x, "ExitCode");
        *ret_result =
            json_pack("{s:b, s:I}", "running", running, "exit_code",
                      (json_int_t)(json_is_integer(code) ? json_integer_value(code) : -1));
        json_decref(x);
        return 0;
}

int sessions_logs(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                  int *ret_fd, struct error **err)
{
        _cleanup_free_ char *name = NULL;
        json_t *inspect = NULL;
        if (access_container(d, c, jstr(params, "name"), "logs", &name, &inspect, err) < 0)
                return -1;
        if (!inspect)
                return access_not_found(jstr(params, "name"), err);
        bool follow = json_is_true(json_object_get(params, "follow"));
        json_t *jt = json_object_get(params, "tail");
        int64_t tail = jt ? json_integer_value(jt) : -1;
        bool tty = json_is_true(json_object_get(json_object_get(inspect, "Config"), "Tty"));
        json_decref(inspect);
        int fd = -1;
        if (docker_logs_stream(d->docker, name, follow, tail, &fd, err) < 0)
                return error_wrap(err, "reading the logs of '%s'", name);
        *ret_fd = fd;
        *ret_result = json_pack("{s:b}", "tty", tty);
        return 0;
}
