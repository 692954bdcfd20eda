/* copy.c - docker cp through the endpoint, by ds01-cp as the caller (see copy.h). */
#include "daemon/dockerapi/copy.h"

#include "daemon/docker/docker.h"
#include "daemon/dockerapi/forward.h"
#include "daemon/observe/audit.h"
#include "shared/log.h"
#include "shared/strbuf.h"
#include "shared/util.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_STAT_LINE 65536
#define MAX_STDERR    4096

/* ds01-cp's exit statuses (src/cp/cp.c). */
enum { CP_USAGE = 2, CP_NOT_FOUND = 3, CP_DENIED = 4, CP_CONFLICT = 5 };

/* One ds01-cp at work. */
struct helper {
        pid_t pid;
        int in, out, err; /* its stdin, stdout and stderr; -1 once closed */
        char *container;  /* full name */
        char *path;
        uid_t uid;
        char *login;
};

static void helper_release(struct helper *h)
{
        free(h->container);
        free(h->path);
        free(h->login);
        h->container = h->path = h->login = NULL;
}

/* ---- the container's first process ---- */

/* The pid of a running container's first process: 0 when it is not running. */
static int running_pid(struct ds01d *v, const char *id, struct error **err)
{
        json_t *ins = docker_container_inspect(v->docker, id, err);
        if (!ins)
                return -1;
        json_t *state = json_object_get(ins, "State");
        json_int_t pid = json_integer_value(json_object_get(state, "Pid"));
        bool running = json_is_true(json_object_get(state, "Running"));
        json_decref(ins);
        return running && pid > 0 && pid < INT32_MAX ? (int)pid : 0;
}

/* A pidfd of ct's first process, known to be that process: Docker says the same pid before the
 * pidfd is opened and after, so a pid reused in between is never entered. */
static int container_pidfd(struct ds01d *v, const struct dapi_container *ct, struct error **err)
{
        int pid = running_pid(v, ct->id, err);
        if (pid < 0)
                return -1;
        int fd = pid > 0 ? (int)syscall(SYS_pidfd_open, pid, 0) : -1;
        if (fd >= 0 && running_pid(v, ct->id, err) == pid)
                return fd;
        if (fd >= 0)
                close(fd);
        /* 409, as Docker answers a call that needs a running container */
        return error_set(err, DS01_ERESOURCE,
                         "container %s is not running: on ds01, docker cp works in a running "
                         "container - docker start it first (what is in /workspace is also in "
                         "your workspace on the host)",
                         ct->name);
}

/* ---- ds01-cp ---- */

static void close_fd(int *fd)
{
        if (*fd >= 0)
                close(*fd);
        *fd = -1;
}

static int spawn(struct ds01d *v, const struct caller *c, const struct dapi_container *ct,
                 const char *mode, const char *path, bool no_overwrite, struct helper *ret,
                 struct error **err)
{
        const char *prog = v->root->cp_path;
        if (!prog)
                return error_set(err, DS01_ERR,
                                 "docker cp is not available: ds01-cp is missing beside ds01d - "
                                 "reinstall ds01 (make install)");
        if (c->uid == 0)
                return error_set(err, DS01_EPERM,
                                 "docker cp as root: use Docker's own socket (DOCKER_HOST unset)");
        if (!path || path[0] != '/')
                return error_set(err, DS01_EUSAGE,
                                 "docker cp needs an absolute path in the container, not '%s'",
                                 path ? path : "");
        _cleanup_close_ int pidfd = container_pidfd(v, ct, err);
        if (pidfd < 0)
                return -1;
        int p[3][2] = {{-1, -1}, {-1, -1}, {-1, -1}};
        for (size_t i = 0; i < 3; i++)
                if (pipe2(p[i], O_CLOEXEC) < 0) {
                        int e = errno;
                        for (size_t k = 0; k < 6; k++)
                                close_fd(&p[k / 2][k % 2]);
                        return error_set_errno(err, -e, "pipe");
                }
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, p[0][0], 0);
        posix_spawn_file_actions_adddup2(&fa, p[1][1], 1);
        posix_spawn_file_actions_adddup2(&fa, p[2][1], 2);
        posix_spawn_file_actions_adddup2(&fa, pidfd, 3);
        _cleanup_free_ char *uid = xasprintf("%u", (unsigned)c->uid);
        _cleanup_free_ char *gid = xasprintf("%u", (unsigned)c->gid);
        const char *argv[] = {"ds01-cp", mode, path,
                              uid,       gid,  no_overwrite ? "--no-overwrite-dir-non-dir" : NULL,
                              NULL};
        char *envp[] = {NULL};
        pid_t pid;
        int r = posix_spawn(&pid, prog, &fa, NULL, (char *const *)argv, envp);
        posix_spawn_file_actions_destroy(&fa);
        close_fd(&p[0][0]);
        close_fd(&p[1][1]);
        close_fd(&p[2][1]);
        if (r != 0) {
                close_fd(&p[0][1]);
                close_fd(&p[1][0]);
                close_fd(&p[2][0]);
                return error_set_errno(err, -r, "starting %s", prog);
        }
        *ret = (struct helper){.pid = pid,
                               .in = p[0][1],
                               .out = p[1][0],
                               .err = p[2][0],
                               .container = xstrdup(ct->name),
                               .path = xstrdup(path),
                               .uid = c->uid,
                               .login = xstrdup(c->login)};
        return 0;
}

/* Waits for h to end: 0, or -1 with *err saying what it said, as Docker would answer it. A
 * refusal of the kernel's is audited with v (NULL: not). */
static int finish(struct helper *h, struct ds01d *v, struct error **err)
{
        close_fd(&h->in);
        close_fd(&h->out);
        struct strbuf msg = STRBUF_INIT;
        strbuf_adds(&msg, "");
        char buf[512];
        ssize_t k;
        while ((k = read(h->err, buf, sizeof(buf))) > 0 || (k < 0 && errno == EINTR))
                if (k > 0 && msg.len < MAX_STDERR)
                        strbuf_add(&msg, buf, (size_t)k);
        close_fd(&h->err);
        while (msg.len && msg.buf[msg.len - 1] == '\n')
                msg.buf[--msg.len] = '\0';
        int status = 0;
        while (waitpid(h->pid, &status, 0) < 0 && errno == EINTR)
                ;
        int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        int r = 0;
        if (code == CP_NOT_FOUND)
                r = error_set(err, DS01_ENOTFOUND, "Could not find the file %s in container %s",
                              h->path, h->container);
        else if (code == CP_DENIED)
                r = error_set(err, DS01_EPERM,
                              "permission denied: docker cp on ds01 reads and writes as you (uid "
                              "%u), as your programs in the container do: %s",
                              (unsigned)h->uid, msg.buf);
        else if (code == CP_CONFLICT)
                r = error_set(err, DS01_EUSAGE, "%s", msg.buf);
        else if (code != 0)
                r = error_set(err, DS01_ERR, "docker cp failed: %s", msg.buf);
        if (code != 0 && code != CP_NOT_FOUND && code != CP_DENIED && code != CP_CONFLICT)
                log_warning("docker api: ds01-cp in %s for uid %u exited %d: %s", h->container,
                            (unsigned)h->uid, code, msg.buf);
        if (code == CP_DENIED && v)
                audit_denied(v->audit, h->uid, h->login, "docker-api.cp", h->path);
        strbuf_release(&msg);
        helper_release(h);
        return r;
}

/* ---- out: HEAD and GET ---- */

/* ds01-cp's first line, the stat, as the header's value (base64 of its JSON); NULL when it
 * wrote none (it failed: finish says why). */
static char *stat_header(int fd)
{
        struct strbuf line = STRBUF_INIT;
        strbuf_adds(&line, "");
        char ch;
        ssize_t k;
        while (line.len < MAX_STAT_LINE &&
               ((k = read(fd, &ch, 1)) == 1 || (k < 0 && errno == EINTR)))
                if (k == 1) {
                        if (ch == '\n')
                                break;
                        strbuf_addc(&line, ch);
                }
        json_t *j = json_loadb(line.buf, line.len, 0, NULL);
        char *ret = NULL;
        if (json_is_object(j)) {
                struct strbuf b = STRBUF_INIT;
                strbuf_adds(&b, "");
                strbuf_add_base64(&b, line.buf, line.len);
                ret = strbuf_detach(&b);
        }
        json_decref(j);
        strbuf_release(&line);
        return ret;
}

static ssize_t tar_read(void *cls, uint64_t pos, char *buf, size_t max)
{
        (void)pos;
        return dapi_read_pipe(((struct helper *)cls)->out, buf, max);
}

/* The answer is done or the client left: ds01-cp, writing to no one, stops. */
static void tar_done(void *cls)
{
        struct helper *h = cls;
        struct error *err = NULL;
        finish(h, NULL, &err); /* the answer is sent: the view it could audit with is gone */
        error_free(err);
        free(h);
}

enum MHD_Result dapi_copy_out(struct ds01d *v, struct MHD_Connection *conn, const struct caller *c,
                              const struct dapi_container *ct, bool stat_only)
{
        const char *path = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "path");
        struct helper *h = xzalloc(sizeof(*h));
        struct error *err = NULL;
        if (spawn(v, c, ct, stat_only ? "stat" : "get", path, false, h, &err) < 0) {
                free(h);
                return dapi_reply_error(v, conn, err);
        }
        close_fd(&h->in);
        _cleanup_free_ char *stat = stat_header(h->out);
        if (!stat || stat_only) {
                int r = finish(h, v, &err);
                free(h);
                if (!stat && r == 0)
                        error_set(&err, DS01_ERR, "docker cp failed: ds01-cp gave no stat");
                if (!stat || r < 0)
                        return dapi_reply_error(v, conn, err);
        }
        struct MHD_Response *resp =
            stat_only
                ? MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT)
                : MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 65536, tar_read, h, tar_done);
        MHD_add_response_header(resp, "X-Docker-Container-Path-Stat", stat);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/x-tar");
        dapi_common_headers(v, resp);
        enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
        MHD_destroy_response(resp);
        return ret;
}

/* ---- in: PUT ---- */

struct dapi_copy_in {
        struct helper h;
};

static bool query_true(struct MHD_Connection *conn, const char *key)
{
        const char *s = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, key);
        return s && (streq(s, "1") || streq(s, "true") || streq(s, "True"));
}

struct dapi_copy_in *dapi_copy_in_start(struct ds01d *v, struct MHD_Connection *conn,
                                        const struct caller *c, const char *ref, struct error **err)
{
        struct dapi_container ct = {0};
        if (dapi_resolve_container(v, c, ref, &ct, err) < 0)
                return NULL;
        struct dapi_copy_in *p = xzalloc(sizeof(*p));
        /* copyUIDGID changes nothing: what ds01-cp writes is the caller's, as the container's
         * user is */
        int r = spawn(v, c, &ct, "put",
                      MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "path"),
                      query_true(conn, "noOverwriteDirNonDir"), &p->h, err);
        dapi_container_release(&ct);
        if (r < 0) {
                free(p);
                return NULL;
        }
        return p;
}

void dapi_copy_in_feed(struct dapi_copy_in *p, const char *data, size_t n)
{
        if (p->h.in >= 0 && write_all(p->h.in, data, n) < 0)
                close_fd(&p->h.in);
}

enum MHD_Result dapi_copy_in_respond(struct dapi_copy_in *p, struct ds01d *v,
                                     struct MHD_Connection *conn)
{
        struct error *err = NULL;
        int r = finish(&p->h, v, &err);
        free(p);
        if (r < 0)
                return dapi_reply_error(v, conn, err);
        return dapi_reply_empty(v, conn, MHD_HTTP_OK);
}

void dapi_copy_in_abort(struct dapi_copy_in *p)
{
        if (!p)
                return;
        close_fd(&p->h.in); /* a tar cut short: ds01-cp fails and ends */
        struct error *err = NULL;
        finish(&p->h, NULL, &err);
        error_free(err);
        free(p);
}
