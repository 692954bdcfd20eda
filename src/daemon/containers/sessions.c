/* sessions.c - container-run/attach sessions (exec), their terminals, and logs (see sessions.h). */
#include "daemon/containers/sessions.h"

#include "daemon/containers/execs.h"

#include "daemon/containers/managed.h"
#include "daemon/containers/verbs.h"
#include "daemon/docker/dockerjson.h"
#include "daemon/requests/access.h"

#include <pthread.h>

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
                _cleanup_free_ char *p = managed_project(inspect);
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
        execs_remember(d->execs, exec_id, name, c->uid, c->conn);
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
