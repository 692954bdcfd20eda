/* build.c - docker build through the endpoint, as image-create builds (see build.h). */
#include "daemon/dockerapi/build.h"

#include "daemon/config/generation.h"
#include "daemon/dockerapi/forward.h"
#include "daemon/images/images.h"
#include "shared/log.h"
#include "shared/names.h"
#include "shared/util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct dapi_build {
        int ctx_w;   /* the context, to the build */
        int msgs_r;  /* the build's messages, to the client */
        int alive_w; /* closed when the client is gone: the build's "client" hangs up */
};

/* What the build thread owns. */
struct job {
        struct ds01d *root;
        struct caller c;
        char *project;
        bool nocache;
        int ctx_r, msgs_w;
        int client_fd; /* the read end of the connection's "alive" pipe (its hang-up cancels) */
};

/* ---- the request ---- */

struct query_check {
        const char *refused;
        int tags;
        const char *tag;
        bool nocache;
};

static enum MHD_Result check_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
        (void)kind;
        struct query_check *q = cls;
        const char *v = value ? value : "";
        if (streq(key, "t")) {
                q->tags++;
                q->tag = value;
        } else if (streq(key, "nocache")) {
                q->nocache = streq(v, "1") || streq(v, "true");
        } else if (streq(key, "networkmode")) {
                if (*v && !streq(v, "default") && !streq(v, "bridge"))
                        q->refused = "--network";
        } else if (streq(key, "dockerfile")) {
                if (*v && !streq(v, "Dockerfile"))
                        q->refused = "--file (a Dockerfile of another name)";
        } else if (streq(key, "buildargs")) {
                if (*v && !streq(v, "{}") && !streq(v, "null"))
                        q->refused = "--build-arg";
        } else if (streq(key, "labels")) {
                if (*v && !streq(v, "{}") && !streq(v, "null"))
                        q->refused = "--label";
        } else if (streq(key, "target") || streq(key, "platform") || streq(key, "remote") ||
                   streq(key, "extrahosts") || streq(key, "cgroupparent") ||
                   streq(key, "isolation") || streq(key, "squash") || streq(key, "outputs")) {
                if (*v && !streq(v, "0") && !streq(v, "false") && !streq(v, "[]") &&
                    !streq(v, "null"))
                        q->refused = key;
        }
        /* anything else (q, rm, forcerm, pull, memory, cpu...) is ds01's to set */
        return MHD_YES;
}

int dapi_build_params(struct MHD_Connection *conn, const struct caller *c, char **ret_project,
                      bool *ret_nocache, struct error **err)
{
        struct query_check q = {0};
        MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, check_arg, &q);
        if (q.refused)
                return error_set(err, DS01_EPERM,
                                 "docker build %s is not available on ds01: image-create builds "
                                 "your project's Dockerfile with your group's limits",
                                 q.refused);
        if (q.tags != 1)
                return error_set(err, DS01_EUSAGE,
                                 "docker build on ds01 needs one tag, -t PROJECT (it builds "
                                 "ds01-%u/PROJECT:latest, as image-create PROJECT does)",
                                 (unsigned)c->uid);
        _cleanup_free_ char *prefix = xasprintf("ds01-%u/", (unsigned)c->uid);
        const char *p = startswith(q.tag, prefix) ? q.tag + strlen(prefix) : q.tag;
        _cleanup_free_ char *project = xstrdup(p);
        char *colon = strchr(project, ':');
        if (colon && streq(colon, ":latest"))
                *colon = '\0';
        if (strchr(project, '/') || strchr(project, ':') || names_check_project(project, NULL) < 0)
                return error_set(err, DS01_EPERM,
                                 "-t %.100s: your images are %sPROJECT:latest on ds01 - tag it -t "
                                 "PROJECT",
                                 q.tag, prefix);
        *ret_project = TAKE_PTR(project);
        *ret_nocache = q.nocache;
        return 0;
}

/* ---- the build thread ---- */

static int write_line(int fd, json_t *msg)
{
        char *s = json_dumps(msg, JSON_COMPACT);
        json_decref(msg);
        if (!s)
                return 0;
        size_t n = strlen(s);
        s = xrealloc(s, n + 2);
        s[n] = '\n';
        int r = write_all(fd, s, n + 1);
        free(s);
        return r;
}

/* images_build's messages: Docker's own are passed on, its step markers are not. */
static int progress(void *ctx, json_t *msg)
{
        struct job *j = ctx;
        if (!json_object_get(msg, "stream") && !json_object_get(msg, "aux") &&
            !json_object_get(msg, "error") && !json_object_get(msg, "status")) {
                json_decref(msg);
                return 0;
        }
        return write_line(j->msgs_w, msg) < 0 ? -1 : 0;
}

static void *build_thread(void *arg)
{
        struct job *j = arg;
        struct ds01d v;
        ds01d_pin(j->root, &v);
        json_t *params = json_pack("{s:s, s:b}", "project", j->project, "nocache", j->nocache);
        json_t *result = NULL;
        struct error *err = NULL;
        int r = images_build(&v, &j->c, params, j->ctx_r, j->client_fd, progress, j, &result, &err);
        close(j->ctx_r); /* a context still coming now finds no reader */
        if (r == 0) {
                _cleanup_free_ char *tag = names_user_image(j->c.uid, j->project);
                write_line(j->msgs_w,
                           json_pack("{s:s++}", "stream", "Successfully tagged ", tag, "\n"));
        } else {
                write_line(j->msgs_w, json_pack("{s:{s:s}, s:s}", "errorDetail", "message",
                                                err->message, "error", err->message));
                log_info("docker api: build of %s for %s: %s", j->project, j->c.login,
                         err->message);
        }
        error_free(err);
        json_decref(result);
        json_decref(params);
        ds01d_unpin(&v);
        close(j->msgs_w);
        close(j->client_fd);
        caller_release(&j->c);
        free(j->project);
        free(j);
        return NULL;
}

static void close_pipes(int p[][2], size_t n)
{
        for (size_t i = 0; i < n; i++)
                for (size_t k = 0; k < 2; k++)
                        if (p[i][k] >= 0)
                                close(p[i][k]);
}

struct dapi_build *dapi_build_start(struct ds01d *v, const struct caller *c, const char *project,
                                    bool nocache, struct error **err)
{
        /* the context, the messages, and "alive": the HTTP client's own socket cannot tell the
         * build that it left, as it is readable all through the upload */
        int p[3][2] = {{-1, -1}, {-1, -1}, {-1, -1}};
        for (size_t i = 0; i < 3; i++)
                if (pipe2(p[i], O_CLOEXEC) < 0) {
                        int e = errno;
                        close_pipes(p, 3);
                        return error_set_errno(err, -e, "pipe"), NULL;
                }
        int *ctx = p[0], *msgs = p[1], *alive = p[2];
        struct job *j = xzalloc(sizeof(*j));
        j->root = v->root;
        if (caller_for(c->uid, &j->c) < 0) {
                free(j);
                close_pipes(p, 3);
                return error_set(err, DS01_EPERM, "uid %u has no account", (unsigned)c->uid), NULL;
        }
        j->project = xstrdup(project);
        j->nocache = nocache;
        j->ctx_r = ctx[0];
        j->msgs_w = msgs[1];
        j->client_fd = alive[0];
        pthread_t t;
        pthread_attr_t a;
        pthread_attr_init(&a);
        pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
        int r = pthread_create(&t, &a, build_thread, j);
        pthread_attr_destroy(&a);
        if (r != 0) {
                caller_release(&j->c);
                free(j->project);
                free(j);
                close_pipes(p, 3);
                return error_set_errno(err, -r, "starting a build thread"), NULL;
        }
        struct dapi_build *b = xzalloc(sizeof(*b));
        b->ctx_w = ctx[1];
        b->msgs_r = msgs[0];
        b->alive_w = alive[1];
        return b;
}

int dapi_build_feed(struct dapi_build *b, const char *data, size_t n)
{
        if (b->ctx_w < 0)
                return -1;
        if (write_all(b->ctx_w, data, n) < 0) {
                close(b->ctx_w);
                b->ctx_w = -1;
                return -1;
        }
        return 0;
}

static ssize_t read_msgs(void *cls, uint64_t pos, char *buf, size_t max)
{
        (void)pos;
        return dapi_read_pipe(((struct dapi_build *)cls)->msgs_r, buf, max);
}

/* The answer is done or the client is gone: the build's client hangs up with it. */
static void close_msgs(void *cls)
{
        struct dapi_build *b = cls;
        close(b->msgs_r);
        close(b->alive_w);
        free(b);
}

enum MHD_Result dapi_build_respond(struct dapi_build *b, struct ds01d *v,
                                   struct MHD_Connection *conn)
{
        if (b->ctx_w >= 0)
                close(b->ctx_w); /* the end of the context */
        b->ctx_w = -1;
        struct MHD_Response *resp =
            MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, read_msgs, b, close_msgs);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
        dapi_common_headers(v, resp);
        enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
        MHD_destroy_response(resp);
        return ret;
}

void dapi_build_abort(struct dapi_build *b)
{
        if (!b)
                return;
        if (b->ctx_w >= 0)
                close(b->ctx_w);
        close(b->msgs_r);
        close(b->alive_w);
        free(b);
}
