/* endpoint.c - the Docker API endpoint: its socket, who is on each connection, and each call
 * dispatched by its route (see endpoint.h). */
#include "daemon/dockerapi/endpoint.h"

#include "daemon/config/generation.h"
#include "daemon/containers/execs.h"
#include "daemon/containers/workspace.h"
#include "daemon/dockerapi/build.h"
#include "daemon/dockerapi/create.h"
#include "daemon/docker/dockerjson.h"
#include "daemon/dockerapi/events.h"
#include "daemon/dockerapi/forward.h"
#include "daemon/dockerapi/networks.h"
#include "daemon/dockerapi/objects.h"
#include "daemon/dockerapi/routes.h"
#include "daemon/observe/audit.h"
#include "daemon/observe/snapshot.h"
#include "daemon/requests/access.h"
#include "daemon/requests/methods.h"
#include "daemon/requests/peer.h"
#include "shared/log.h"
#include "shared/strbuf.h"
#include "shared/util.h"

#include <errno.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_CONNECTIONS 256
#define MAX_BODY        (1u << 20) /* a JSON request body (exec create) */
#define IDLE_TIMEOUT_S  300        /* a kept-alive connection with no request */
#define MAX_UIDS        MAX_CONNECTIONS
/* A Docker client keeps connections open between its requests, one per path it has called in
 * docker-py (Compose's library keeps up to 25): a uid may have this many open per request in
 * flight that max_requests_per_uid allows. */
#define CONNECTIONS_PER_REQUEST 4

struct dapi {
        struct ds01d *d; /* the root */
        struct peers *peers;
        struct dapi_networks *nets;
        struct MHD_Daemon *mhd;
        char *path;
        pthread_mutex_t lock;
        struct {
                uid_t uid;
                unsigned n;
        } uids[MAX_UIDS];
};

/* Who is on a connection (libmicrohttpd's socket context). */
struct dconn {
        int fd;
        bool counted;
        char *refusal; /* why every request on it is refused, or NULL */
        struct caller caller;
};

/* One request: its body as it arrives. */
struct dreq {
        struct strbuf body;
        bool too_big;
        struct dapi_build *build; /* POST /build: its context goes to the build as it comes */
        struct error *build_err;  /* ... or why no build started */
};

/* ---- connections ---- */

static bool count_uid(struct dapi *e, uid_t uid, int delta, int64_t max)
{
        bool ok = true;
        pthread_mutex_lock(&e->lock);
        size_t free_i = MAX_UIDS, i;
        for (i = 0; i < MAX_UIDS; i++) {
                if (e->uids[i].n > 0 && e->uids[i].uid == uid)
                        break;
                if (e->uids[i].n == 0 && free_i == MAX_UIDS)
                        free_i = i;
        }
        if (i == MAX_UIDS)
                i = free_i;
        if (delta > 0 && (i == MAX_UIDS || (int64_t)e->uids[i].n >= max)) {
                ok = false;
        } else if (i < MAX_UIDS) {
                e->uids[i].uid = uid;
                e->uids[i].n += (unsigned)delta;
        }
        pthread_mutex_unlock(&e->lock);
        return ok;
}

static void identify(struct dapi *e, struct dconn *c)
{
        struct error *err = NULL;
        if (peer_creds(c->fd, &c->caller, &err) < 0) {
                c->refusal = xasprintf("ds01d could not tell who connected: %s", err->message);
                error_free(err);
                return;
        }
        static _Atomic uint64_t next_conn = UINT64_C(1) << 48; /* apart from rpc.c's */
        c->caller.conn = ++next_conn;
        if (peer_in_our_userns(e->peers, c->fd, c->caller.pid) != 1) {
                audit_denied(e->d->audit, c->caller.uid, "?", "docker-api.connect",
                             "(user namespace)");
                c->refusal = xstrdup("ds01's Docker endpoint cannot be used from inside a user "
                                     "namespace: use it from your normal login session");
                return;
        }
        if (peer_identify(e->peers, e->d, c->fd, &c->caller, &err) < 0) {
                c->refusal = xstrdup(err->message);
                error_free(err);
                return;
        }
        struct ds01d v;
        ds01d_pin(e->d, &v);
        int64_t max = v.cfg->max_requests_per_uid * CONNECTIONS_PER_REQUEST;
        ds01d_unpin(&v);
        c->counted = count_uid(e, c->caller.uid, 1, max);
        if (!c->counted)
                c->refusal = xstrdup("too many connections to ds01's Docker endpoint for your "
                                     "user: end some docker commands (logs -f, exec sessions)");
}

static void notify_connection(void *cls, struct MHD_Connection *conn, void **ctx,
                              enum MHD_ConnectionNotificationCode what)
{
        struct dapi *e = cls;
        if (what == MHD_CONNECTION_NOTIFY_STARTED) {
                struct dconn *c = xzalloc(sizeof(*c));
                const union MHD_ConnectionInfo *fi =
                    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
                c->fd = fi ? fi->connect_fd : -1;
                identify(e, c);
                *ctx = c;
        } else if (what == MHD_CONNECTION_NOTIFY_CLOSED && *ctx) {
                struct dconn *c = *ctx;
                if (c->counted)
                        count_uid(e, c->caller.uid, -1, 0);
                free(c->refusal);
                caller_release(&c->caller);
                free(c);
                *ctx = NULL;
        }
}

static struct dconn *conn_of(struct MHD_Connection *conn)
{
        const union MHD_ConnectionInfo *si =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        return si ? si->socket_context : NULL;
}

/* ---- answers ---- */

static unsigned http_status_of(int code)
{
        switch (code) {
        case DS01_EUSAGE:
                return MHD_HTTP_BAD_REQUEST;
        case DS01_ENOTFOUND:
                return MHD_HTTP_NOT_FOUND;
        case DS01_EPERM:
                return MHD_HTTP_FORBIDDEN;
        case DS01_ERESOURCE:
                return MHD_HTTP_CONFLICT;
        default:
                return MHD_HTTP_INTERNAL_SERVER_ERROR;
        }
}

static enum MHD_Result reply_error(struct ds01d *v, struct MHD_Connection *conn, struct error *err)
{
        enum MHD_Result r = dapi_reply_message(v, conn, http_status_of(err->code), err->message);
        error_free(err);
        return r;
}

static enum MHD_Result reply_empty(struct ds01d *v, struct MHD_Connection *conn, unsigned status)
{
        struct MHD_Response *resp =
            MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        dapi_common_headers(v, resp);
        enum MHD_Result r = MHD_queue_response(conn, status, resp);
        MHD_destroy_response(resp);
        return r;
}

static enum MHD_Result reply_ping(struct ds01d *v, struct MHD_Connection *conn)
{
        struct MHD_Response *resp =
            MHD_create_response_from_buffer(2, (void *)"OK", MHD_RESPMEM_PERSISTENT);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
                                "no-cache, no-store, must-revalidate");
        MHD_add_response_header(resp, "Builder-Version", "1");
        dapi_common_headers(v, resp);
        enum MHD_Result r = MHD_queue_response(conn, MHD_HTTP_OK, resp);
        MHD_destroy_response(resp);
        return r;
}

/* ---- calls ---- */

/* Everything one call needs. */
struct call {
        struct ds01d *v;
        struct MHD_Connection *conn;
        struct dconn *dc;
        const struct caller *c;
        const char *method;
        const char *url;
        struct dapi_route route;
        struct dreq *req;
        struct dapi_networks *nets;
};

static void request_for(const struct call *k, const char *path, struct dapi_request *ret)
{
        *ret = (struct dapi_request){.method = k->method, .version = k->route.version};
        ret->path = xstrdup(path);
        dapi_query_of(k->conn, NULL, &ret->query);
        ret->content_type =
            MHD_lookup_connection_value(k->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
        ret->body = k->req->body.buf;
        ret->body_len = k->req->body.len;
}

/* A ds01 method on the caller's behalf, as the CLI would call it; 0 or -1 with *err.
 * *ret_result (may be NULL) its result. */
static int call_method(const struct call *k, const char *method, json_t *params,
                       json_t **ret_result, struct error **err)
{
        int idx = methods_find(method, err);
        if (idx < 0) {
                json_decref(params);
                return -1;
        }
        struct method_io io = {.in_fd = -1, .client_fd = -1, .out_fd = -1};
        int r = methods_call(k->v->root, k->c, idx, params, &io, err);
        json_decref(params);
        if (ret_result && r == 0)
                *ret_result = json_incref(io.result);
        json_decref(io.result);
        free(io.text);
        if (io.out_fd >= 0)
                close(io.out_fd);
        return r;
}

static enum MHD_Result list_containers(struct call *k)
{
        struct dapi_request r;
        request_for(k, "/containers/json", &r);
        strbuf_release(&r.query);
        dapi_query_of(k->conn, "filters", &r.query);
        /* Docker lists this daemon's containers labelled with the caller's uid (the spec sets
         * both); the ledger then has the last word on whose each is. */
        _cleanup_free_ char *label = xasprintf("ds01.instance=%s", k->v->cfg->instance);
        _cleanup_free_ char *uid_label = xasprintf("ds01.uid=%u", (unsigned)k->c->uid);
        struct error *err = NULL;
        _cleanup_free_ char *f1 = dapi_filters_with_label(
            MHD_lookup_connection_value(k->conn, MHD_GET_ARGUMENT_KIND, "filters"), label, &err);
        _cleanup_free_ char *filters = f1 ? dapi_filters_with_label(f1, uid_label, &err) : NULL;
        if (!filters) {
                dapi_request_release(&r);
                return reply_error(k->v, k->conn, err);
        }
        dapi_query_add(&r.query, "filters", filters);
        int status;
        json_t *list = NULL;
        struct strbuf raw;
        int rc = dapi_forward_json(k->v, &r, &status, &list, &raw, &err);
        dapi_request_release(&r);
        if (rc < 0)
                return reply_error(k->v, k->conn, err);
        size_t n = json_array_size(list);
        if (json_is_array(list))
                dapi_filter_containers(k->v, k->c, list);
        if (json_is_array(list) && json_array_size(list) == n) {
                /* nothing removed: Docker's bytes as they came, not written out again */
                json_decref(list);
                return dapi_reply_raw(k->v, k->conn, (unsigned)status, &raw);
        }
        strbuf_release(&raw);
        return dapi_reply_json(k->v, k->conn, (unsigned)status, list);
}

/* Counts of the caller's own in Docker's /info. */
static void own_counts(struct call *k, json_t *info)
{
        _cleanup_free_ char *label = xasprintf("ds01.instance=%s", k->v->cfg->instance);
        json_t *list = docker_container_list(k->v->docker, label, true, NULL);
        dapi_filter_containers(k->v, k->c, list);
        json_int_t running = 0, paused = 0, stopped = 0;
        size_t i;
        json_t *c;
        json_array_foreach (list, i, c) {
                const char *state = jstr(c, "State");
                if (streq_ptr(state, "running"))
                        running++;
                else if (streq_ptr(state, "paused"))
                        paused++;
                else
                        stopped++;
        }
        json_object_set_new(info, "Containers", json_integer((json_int_t)json_array_size(list)));
        json_object_set_new(info, "ContainersRunning", json_integer(running));
        json_object_set_new(info, "ContainersPaused", json_integer(paused));
        json_object_set_new(info, "ContainersStopped", json_integer(stopped));
        json_decref(list);
}

static enum MHD_Result info(struct call *k)
{
        struct dapi_request r;
        request_for(k, "/info", &r);
        int status;
        json_t *body = NULL;
        struct error *err = NULL;
        int rc = dapi_forward_json(k->v, &r, &status, &body, NULL, &err);
        dapi_request_release(&r);
        if (rc < 0)
                return reply_error(k->v, k->conn, err);
        if (json_is_object(body) && status == 200) {
                own_counts(k, body);
                json_object_del(body, "Images"); /* of every user: not shown */
                json_object_set_new(body, "Images", json_integer(0));
        }
        return dapi_reply_json(k->v, k->conn, (unsigned)status, body);
}

static enum MHD_Result list_images(struct call *k)
{
        struct dapi_request r;
        request_for(k, "/images/json", &r);
        int status;
        json_t *list = NULL;
        struct error *err = NULL;
        int rc = dapi_forward_json(k->v, &r, &status, &list, NULL, &err);
        dapi_request_release(&r);
        if (rc < 0)
                return reply_error(k->v, k->conn, err);
        if (json_is_array(list))
                dapi_filter_images(k->c, list);
        return dapi_reply_json(k->v, k->conn, (unsigned)status, list);
}

static enum MHD_Result inspect_image(struct call *k)
{
        _cleanup_free_ char *path = xasprintf("/images/%s/json", k->route.object);
        struct dapi_request r;
        request_for(k, path, &r);
        /* The name is re-encoded for the request line: it may hold '/' and ':' but no spaces. */
        if (strpbrk(k->route.object, " \t\r\n?#%") || strstr(k->route.object, "..")) {
                dapi_request_release(&r);
                struct error *err = NULL;
                error_set(&err, DS01_ENOTFOUND, "No such image: %s", k->route.object);
                return reply_error(k->v, k->conn, err);
        }
        int status;
        json_t *img = NULL;
        struct error *err = NULL;
        int rc = dapi_forward_json(k->v, &r, &status, &img, NULL, &err);
        dapi_request_release(&r);
        if (rc < 0)
                return reply_error(k->v, k->conn, err);
        if (status == 200 && dapi_check_image(k->v, k->c, k->route.object, img, &err) < 0) {
                json_decref(img);
                return reply_error(k->v, k->conn, err);
        }
        return dapi_reply_json(k->v, k->conn, (unsigned)status, img);
}

/* A call on one of the caller's containers, passed on with its id in the path. */
static enum MHD_Result container_passed_on(struct call *k, const struct dapi_container *ct)
{
        _cleanup_free_ char *path = xasprintf("/containers/%s%s", ct->id, k->route.rest);
        struct dapi_request r;
        request_for(k, path, &r);
        enum MHD_Result ret = dapi_forward(k->v, k->conn, k->dc->fd, &r);
        dapi_request_release(&r);
        return ret;
}

/* Docker's t= (seconds) for stop and restart: -1 when absent; bounded as container-stop's. */
static int stop_timeout(struct call *k, int *ret, struct error **err)
{
        const char *t = MHD_lookup_connection_value(k->conn, MHD_GET_ARGUMENT_KIND, "t");
        *ret = -1;
        if (!t || !*t)
                return 0;
        char *end;
        long n = strtol(t, &end, 10);
        if (*end || n < -1 || n > 600)
                return error_set(err, DS01_EUSAGE, "invalid stop timeout '%s': 0 to 600 seconds",
                                 t);
        *ret = (int)n;
        return 0;
}

static int verb(struct call *k, const char *method, const struct dapi_container *ct,
                struct error **err)
{
        json_t *params = json_pack("{s:s}", "name", ct->name);
        if (streq(method, "container.stop")) {
                int t;
                if (stop_timeout(k, &t, err) < 0) {
                        json_decref(params);
                        return -1;
                }
                if (t >= 0)
                        json_object_set_new(params, "timeout_s", json_integer(t));
        } else if (streq(method, "container.remove")) {
                const char *f =
                    MHD_lookup_connection_value(k->conn, MHD_GET_ARGUMENT_KIND, "force");
                bool force = f && (streq(f, "1") || streq(f, "true") || streq(f, "True"));
                json_object_set_new(params, "force", json_boolean(force));
        }
        return call_method(k, method, params, NULL, err);
}

static enum MHD_Result container_verb(struct call *k, const struct dapi_container *ct)
{
        struct error *err = NULL;
        enum dapi_op op = k->route.op;
        int r;
        if (op == DAPI_CONTAINER_START) {
                r = verb(k, "container.start", ct, &err);
        } else if (op == DAPI_CONTAINER_STOP || op == DAPI_CONTAINER_RESTART) {
                r = verb(k, "container.stop", ct, &err);
                if (r == 0 && op == DAPI_CONTAINER_RESTART)
                        r = verb(k, "container.start", ct, &err);
        } else {
                r = verb(k, "container.remove", ct, &err);
        }
        if (r < 0)
                return reply_error(k->v, k->conn, err);
        return reply_empty(k->v, k->conn, MHD_HTTP_NO_CONTENT);
}

/* The caller's workspace root, where their project directories are ("/home/alice/workspace"). */
static char *workspace_dir(struct call *k, struct error **err)
{
        _cleanup_free_ char *one = workspace_path(k->v->cfg->workspace_root, "p", k->c->uid, err);
        if (!one)
                return NULL;
        one[strlen(one) - 2] = '\0';
        return TAKE_PTR(one);
}

static char *generated_name(void)
{
        unsigned char b[3] = {0};
        if (getrandom(b, sizeof(b), 0) != sizeof(b))
                b[0] = (unsigned char)getpid();
        return xasprintf("docker-%02x%02x%02x", b[0], b[1], b[2]);
}

static enum MHD_Result created(struct call *k, json_t *result)
{
        if (json_is_true(json_object_get(result, "existed"))) {
                const char *name = jstr(result, "container");
                const char *project = jstr(result, "project");
                _cleanup_free_ char *msg = xasprintf(
                    "Conflict. The container name \"/%s\" is already in use: ds01 keeps one "
                    "container per project - use it (docker start %s, docker exec %s ...) or "
                    "retire it first (container-retire %s; the workspace stays)",
                    name, project, project, project);
                json_decref(result);
                return dapi_reply_message(k->v, k->conn, MHD_HTTP_CONFLICT, msg);
        }
        json_t *warnings = json_array();
        size_t i;
        json_t *n;
        json_array_foreach (json_object_get(result, "notices"), i, n) {
                const char *text = json_is_string(n) ? json_string_value(n) : jstr(n, "message");
                if (text)
                        json_array_append_new(warnings, json_string(text));
        }
        json_t *body =
            json_pack("{s:O, s:o}", "Id", json_object_get(result, "id"), "Warnings", warnings);
        json_decref(result);
        return dapi_reply_json(k->v, k->conn, MHD_HTTP_CREATED, body);
}

/* The caller's network view (networks.h) that a create body names: its NetworkMode, or else the
 * one network of its EndpointsConfig; NULL for none. */
static char *network_view_of(struct call *k, const json_t *body)
{
        const char *mode =
            json_string_value(json_object_get(json_object_get(body, "HostConfig"), "NetworkMode"));
        const json_t *eps =
            json_object_get(json_object_get(body, "NetworkingConfig"), "EndpointsConfig");
        if ((!mode || !*mode || streq(mode, "default")) && json_object_size(eps) == 1)
                mode = json_object_iter_key(json_object_iter((json_t *)eps));
        return mode ? dapi_network_view(k->nets, k->c->uid, mode) : NULL;
}

static enum MHD_Result create(struct call *k)
{
        struct error *err = NULL;
        json_t *body = json_loadb(k->req->body.buf, k->req->body.len, 0, NULL);
        const char *image = jstr(body, "Image");
        json_t *img = image ? docker_image_inspect(k->v->docker, image, NULL) : NULL;
        json_t *params = NULL, *result = NULL;
        _cleanup_free_ char *ws = NULL, *gen = generated_name();
        if (image && !img) {
                error_set(&err, DS01_ENOTFOUND, "No such image: %s", image);
        } else if (!img || dapi_check_image(k->v, k->c, image, img, &err) == 0) {
                ws = workspace_dir(k, &err);
                _cleanup_free_ char *view = network_view_of(k, body);
                json_t *links =
                    ws ? dapi_resolve_links(
                             k->v, k->c,
                             json_object_get(json_object_get(body, "HostConfig"), "Links"), &err)
                       : NULL;
                struct dapi_create_in in = {
                    .body = body,
                    .network_view = view,
                    .links = links,
                    .name = MHD_lookup_connection_value(k->conn, MHD_GET_ARGUMENT_KIND, "name"),
                    .c = k->c,
                    .workspace_dir = ws,
                    .image = img,
                    .generated_name = gen,
                };
                params = ws && links ? dapi_create_params(&in, &err) : NULL;
                json_decref(links);
        }
        json_decref(img);
        json_decref(body);
        if (!params) {
                if (err->code == DS01_EPERM)
                        access_denied(k->v, k->c, "docker-api.create", err->message);
                return reply_error(k->v, k->conn, err);
        }
        if (call_method(k, "container.deploy", params, &result, &err) < 0) {
                /* what the deploy itself refuses (a workspace that is a link, a ds01 label) */
                if (err->code == DS01_EPERM)
                        access_denied(k->v, k->c, "docker-api.create", err->message);
                return reply_error(k->v, k->conn, err);
        }
        return created(k, result);
}

static enum MHD_Result exec_create(struct call *k, const struct dapi_container *ct)
{
        struct error *err = NULL;
        json_t *body = dapi_exec_body(k->req->body.buf, k->req->body.len, k->c, &err);
        if (!body) {
                if (err->code == DS01_EPERM)
                        access_denied(k->v, k->c, "docker-api.exec", err->message);
                return reply_error(k->v, k->conn, err);
        }
        _cleanup_free_ char *text = json_dumps(body, JSON_COMPACT);
        json_decref(body);
        _cleanup_free_ char *path = xasprintf("/containers/%s/exec", ct->id);
        struct dapi_request r;
        request_for(k, path, &r);
        r.body = text;
        r.body_len = strlen(text);
        r.content_type = "application/json";
        enum MHD_Result ret = dapi_forward(k->v, k->conn, k->dc->fd, &r);
        dapi_request_release(&r);
        return ret;
}

/* An exec session through the endpoint counts as a session (it holds off the idle stop) while
 * its stream is open, as container-run's does. */
struct session {
        struct ds01d *root;
        uint64_t conn;
};

static void session_closed(void *cls)
{
        struct session *s = cls;
        execs_conn_closed(s->root, s->conn);
        free(s);
}

static enum MHD_Result hijacked(struct call *k, const char *path, const struct dapi_container *ct,
                                const char *exec_id, const char *body)
{
        struct dapi_request r;
        request_for(k, path, &r);
        r.upgrade = true;
        if (body) {
                r.body = body;
                r.body_len = strlen(body);
                r.content_type = "application/json";
        }
        struct session *s = NULL;
        if (exec_id) {
                s = xzalloc(sizeof(*s));
                s->root = k->v->root;
                s->conn = k->c->conn;
                execs_remember(k->v->execs, exec_id, ct->name, k->c->uid, k->c->conn);
        }
        enum MHD_Result ret = dapi_hijack(k->v, k->conn, &r, s ? session_closed : NULL, s);
        dapi_request_release(&r);
        return ret;
}

/* An exec start's body as Docker gets it: only Detach and Tty, read here, so that ds01 and
 * Docker cannot disagree on whether a stream follows (Go would also read "detach"). */
static char *exec_start_body(const struct call *k, bool *ret_detach)
{
        json_t *b = json_loadb(k->req->body.buf, k->req->body.len, 0, NULL);
        *ret_detach = json_is_true(json_object_get(b, "Detach"));
        bool tty = json_is_true(json_object_get(b, "Tty"));
        json_decref(b);
        return xasprintf("{\"Detach\":%s,\"Tty\":%s}", *ret_detach ? "true" : "false",
                         tty ? "true" : "false");
}

static enum MHD_Result on_container(struct call *k)
{
        struct dapi_container ct = {0};
        struct error *err = NULL;
        if (dapi_resolve_container(k->v, k->c, k->route.object, &ct, &err) < 0)
                return reply_error(k->v, k->conn, err);
        enum dapi_op op = k->route.op;
        enum MHD_Result ret;
        if (op == DAPI_CONTAINER_READ || op == DAPI_CONTAINER_POST) {
                ret = container_passed_on(k, &ct);
        } else if (op == DAPI_CONTAINER_ATTACH) {
                _cleanup_free_ char *path = xasprintf("/containers/%s/attach", ct.id);
                ret = hijacked(k, path, &ct, NULL, NULL);
        } else if (op == DAPI_EXEC_CREATE) {
                ret = exec_create(k, &ct);
        } else {
                ret = container_verb(k, &ct);
        }
        dapi_container_release(&ct);
        return ret;
}

static enum MHD_Result on_exec(struct call *k)
{
        struct dapi_container ct = {0};
        struct error *err = NULL;
        if (strpbrk(k->route.object, "/?#% ") ||
            dapi_resolve_exec(k->v, k->c, k->route.object, &ct, &err) < 0) {
                if (!err)
                        error_set(&err, DS01_ENOTFOUND, "No such exec instance: %s",
                                  k->route.object);
                return reply_error(k->v, k->conn, err);
        }
        _cleanup_free_ char *path = xasprintf("/exec/%s%s", k->route.object, k->route.rest);
        bool detach = false;
        _cleanup_free_ char *body =
            k->route.op == DAPI_EXEC_START ? exec_start_body(k, &detach) : NULL;
        enum MHD_Result ret;
        if (body && !detach) {
                ret = hijacked(k, path, &ct, k->route.object, body);
        } else {
                struct dapi_request r;
                request_for(k, path, &r);
                if (body) {
                        r.body = body;
                        r.body_len = strlen(body);
                        r.content_type = "application/json";
                }
                ret = dapi_forward(k->v, k->conn, k->dc->fd, &r);
                dapi_request_release(&r);
        }
        dapi_container_release(&ct);
        return ret;
}

static enum MHD_Result version(struct call *k)
{
        struct dapi_request r;
        request_for(k, "/version", &r);
        enum MHD_Result ret = dapi_forward(k->v, k->conn, k->dc->fd, &r);
        dapi_request_release(&r);
        return ret;
}

static enum MHD_Result events(struct call *k)
{
        struct dapi_request r;
        request_for(k, "/events", &r);
        strbuf_release(&r.query);
        dapi_query_of(k->conn, "filters", &r.query);
        return dapi_events(k->v, k->conn, k->dc->fd, k->c, &r,
                           MHD_lookup_connection_value(k->conn, MHD_GET_ARGUMENT_KIND, "filters"));
}

static enum MHD_Result dispatch(struct call *k)
{
        enum dapi_op op = k->route.op;
        if (op == DAPI_REFUSE) {
                struct strbuf q;
                dapi_query_of(k->conn, NULL, &q);
                _cleanup_free_ char *what =
                    xasprintf("%s %s%s%.200s", k->method, k->url, q.len ? "?" : "", q.buf);
                strbuf_release(&q);
                audit_denied(k->v->audit, k->c->uid, k->c->login, "docker-api", what);
                return dapi_reply_message(k->v, k->conn, MHD_HTTP_FORBIDDEN, k->route.refusal);
        }
        if (op == DAPI_NO_SUCH) {
                _cleanup_free_ char *msg = xasprintf("No such object: %s", k->route.object);
                return dapi_reply_message(k->v, k->conn, MHD_HTTP_NOT_FOUND, msg);
        }
        if (op == DAPI_PING)
                return reply_ping(k->v, k->conn);
        if (op == DAPI_VERSION)
                return version(k);
        if (op == DAPI_INFO)
                return info(k);
        if (op == DAPI_CONTAINER_LIST)
                return list_containers(k);
        if (op == DAPI_CONTAINER_CREATE)
                return create(k);
        if (op == DAPI_IMAGE_LIST)
                return list_images(k);
        if (op == DAPI_IMAGE_INSPECT)
                return inspect_image(k);
        if (op == DAPI_EXEC_START || op == DAPI_EXEC_READ)
                return on_exec(k);
        if (op == DAPI_EVENTS)
                return events(k);
        if (op >= DAPI_NETWORK_LIST && op <= DAPI_NETWORK_CONNECT)
                return dapi_networks_call(k->nets, k->v, k->conn, k->c, &k->route, k->req->body.buf,
                                          k->req->body.len);
        return on_container(k);
}

/* POST /build: the build starts before its body arrives, which streams into it (a context of
 * up to images.max_context_mb is never held in memory). */
static void maybe_start_build(struct dapi *e, struct MHD_Connection *conn, const char *method,
                              const char *url, struct dreq *req)
{
        struct dapi_route route;
        dapi_route(method, url, &route);
        struct dconn *dc = conn_of(conn);
        if (route.op == DAPI_BUILD && dc && !dc->refusal) {
                _cleanup_free_ char *project = NULL;
                bool nocache = false;
                struct ds01d v;
                ds01d_pin(e->d, &v);
                if (dapi_build_params(conn, &dc->caller, &project, &nocache, &req->build_err) == 0)
                        req->build =
                            dapi_build_start(&v, &dc->caller, project, nocache, &req->build_err);
                else if (req->build_err->code == DS01_EPERM)
                        access_denied(&v, &dc->caller, "docker-api.build", req->build_err->message);
                ds01d_unpin(&v);
        }
        dapi_route_release(&route);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls)
{
        (void)version;
        struct dapi *e = cls;
        struct dreq *req = *con_cls;
        if (!req) {
                req = xzalloc(sizeof(*req));
                req->body = (struct strbuf)STRBUF_INIT;
                strbuf_adds(&req->body, "");
                *con_cls = req;
                maybe_start_build(e, conn, method, url, req);
                return MHD_YES;
        }
        if (*upload_data_size > 0) {
                if (req->build)
                        dapi_build_feed(req->build, upload_data, *upload_data_size);
                else if (req->build_err)
                        ; /* a refused build's context: dropped */
                else if (req->body.len + *upload_data_size > MAX_BODY)
                        req->too_big = true;
                else
                        strbuf_add(&req->body, upload_data, *upload_data_size);
                *upload_data_size = 0;
                return MHD_YES;
        }

        struct ds01d v;
        ds01d_pin(e->d, &v);
        struct call k = {.v = &v,
                         .conn = conn,
                         .dc = conn_of(conn),
                         .method = method,
                         .url = url,
                         .req = req,
                         .nets = e->nets};
        enum MHD_Result ret;
        if (!k.dc || k.dc->refusal) {
                ret = dapi_reply_message(&v, conn, MHD_HTTP_FORBIDDEN,
                                         k.dc ? k.dc->refusal : "who connected is not known");
        } else if (req->build_err) {
                ret = reply_error(&v, conn, TAKE_PTR(req->build_err));
        } else if (req->build) {
                ret = dapi_build_respond(TAKE_PTR(req->build), &v, conn);
        } else if (req->too_big) {
                ret = dapi_reply_message(&v, conn, MHD_HTTP_CONTENT_TOO_LARGE,
                                         "request body too large for ds01's Docker endpoint");
        } else {
                k.c = &k.dc->caller;
                dapi_route(method, url, &k.route);
                ret = dispatch(&k);
                dapi_route_release(&k.route);
        }
        ds01d_unpin(&v);
        return ret;
}

static void request_done(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
        (void)cls;
        (void)conn;
        (void)toe;
        struct dreq *req = *con_cls;
        if (req) {
                dapi_build_abort(req->build);
                error_free(req->build_err);
                strbuf_release(&req->body);
                free(req);
                *con_cls = NULL;
        }
}

/* ---- the socket ---- */

static int listen_unix(const char *path, struct error **err)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        if (strlen(path) >= sizeof(sa.sun_path))
                return error_set(err, DS01_ERR, "docker_api_socket is too long: %s", path);
        strcpy(sa.sun_path, path);
        _cleanup_free_ char *dir = xstrdup(path);
        char *slash = strrchr(dir, '/');
        if (slash && slash != dir) {
                *slash = '\0';
                if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                        return error_set_errno(err, -errno, "creating %s", dir);
        }
        struct stat st;
        if (lstat(path, &st) == 0) {
                if (!S_ISSOCK(st.st_mode))
                        return error_set(err, DS01_ERR, "%s exists and is not a socket - remove it",
                                         path);
                int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                bool live = probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0;
                if (probe >= 0)
                        close(probe);
                if (live)
                        return error_set(err, DS01_ERR,
                                         "%s is served by another process (another ds01d?) - stop "
                                         "it, or give this one its own docker_api_socket",
                                         path);
                unlink(path); /* a stale one */
        }
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return error_set_errno(err, -errno, "creating the Docker endpoint's socket");
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(path, 0666) < 0 ||
            listen(fd, 128) < 0) {
                int e = errno;
                close(fd);
                return error_set_errno(err, -e, "listening on %s", path);
        }
        return fd;
}

int dapi_start(struct ds01d *d, struct dapi **ret, struct error **err)
{
        struct ds01d v;
        ds01d_pin(d, &v);
        _cleanup_free_ char *path = xstrdup(v.cfg->docker_api_socket);
        ds01d_unpin(&v);
        *ret = NULL;
        if (streq(path, "off")) {
                log_info("docker api: off (docker_api_socket: off)");
                return 0;
        }
        int fd = listen_unix(path, err);
        if (fd < 0)
                return -1;
        struct dapi *e = xzalloc(sizeof(*e));
        e->d = d;
        e->peers = peers_new();
        e->nets = dapi_networks_new();
        e->path = xstrdup(path);
        pthread_mutex_init(&e->lock, NULL);
        e->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                                      MHD_USE_POLL | MHD_ALLOW_UPGRADE,
                                  0, NULL, NULL, handle, e, MHD_OPTION_LISTEN_SOCKET, fd,
                                  MHD_OPTION_CONNECTION_LIMIT, (unsigned)MAX_CONNECTIONS,
                                  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)IDLE_TIMEOUT_S,
                                  MHD_OPTION_NOTIFY_CONNECTION, notify_connection, e,
                                  MHD_OPTION_NOTIFY_COMPLETED, request_done, e, MHD_OPTION_END);
        if (!e->mhd) {
                close(fd);
                unlink(path);
                dapi_stop(e);
                return error_set(err, DS01_ERR, "starting the Docker endpoint on %s failed", path);
        }
        log_info("docker api: serving the Docker Engine API for users on %s", path);
        *ret = e;
        return 0;
}

struct dapi *dapi_stop(struct dapi *e)
{
        if (!e)
                return NULL;
        if (e->mhd) {
                dapi_streams_end();
                MHD_stop_daemon(e->mhd);
                unlink(e->path);
        }
        e->peers = peers_free(e->peers);
        e->nets = dapi_networks_free(e->nets);
        pthread_mutex_destroy(&e->lock);
        free(e->path);
        free(e);
        return NULL;
}
