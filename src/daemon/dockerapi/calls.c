/* calls.c - the Docker API endpoint's calls: what each route does for its caller (calls.h). */
#include "daemon/dockerapi/calls.h"

#include "daemon/config/generation.h"
#include "daemon/containers/execs.h"
#include "daemon/containers/workspace.h"
#include "daemon/dockerapi/build.h"
#include "daemon/dockerapi/copy.h"
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
#include "shared/log.h"
#include "shared/strbuf.h"
#include "shared/util.h"

#include <errno.h>
#include <microhttpd.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

/* ---- answers ---- */

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
                return dapi_reply_error(k->v, k->conn, err);
        }
        dapi_query_add(&r.query, "filters", filters);
        int status;
        json_t *list = NULL;
        struct strbuf raw;
        int rc = dapi_forward_json(k->v, &r, &status, &list, &raw, &err);
        dapi_request_release(&r);
        if (rc < 0)
                return dapi_reply_error(k->v, k->conn, err);
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
                return dapi_reply_error(k->v, k->conn, err);
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
                return dapi_reply_error(k->v, k->conn, err);
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
                return dapi_reply_error(k->v, k->conn, err);
        }
        int status;
        json_t *img = NULL;
        struct error *err = NULL;
        int rc = dapi_forward_json(k->v, &r, &status, &img, NULL, &err);
        dapi_request_release(&r);
        if (rc < 0)
                return dapi_reply_error(k->v, k->conn, err);
        if (status == 200 && dapi_check_image(k->v, k->c, k->route.object, img, &err) < 0) {
                json_decref(img);
                return dapi_reply_error(k->v, k->conn, err);
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
        } else if (streq(method, "container.rename")) {
                const char *to =
                    MHD_lookup_connection_value(k->conn, MHD_GET_ARGUMENT_KIND, "name");
                if (!to || !*to) {
                        json_decref(params);
                        return error_set(err, DS01_EUSAGE,
                                         "give the new name: docker rename "
                                         "CONTAINER NEW_NAME");
                }
                /* Docker's clients send "/NAME" at times, as Docker lists names */
                json_object_set_new(params, "to", json_string(to + (to[0] == '/')));
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
        } else if (op == DAPI_CONTAINER_REMOVE) {
                r = verb(k, "container.remove", ct, &err);
        } else if (op == DAPI_CONTAINER_RENAME) {
                r = verb(k, "container.rename", ct, &err);
        } else { /* an upload (PUT .../archive) is answered by endpoint.c, never here */
                r = error_set(&err, DS01_ERR, "internal error: %s %s was not routed", k->method,
                              k->url);
        }
        if (r < 0)
                return dapi_reply_error(k->v, k->conn, err);
        return dapi_reply_empty(k->v, k->conn, MHD_HTTP_NO_CONTENT);
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
                return dapi_reply_error(k->v, k->conn, err);
        }
        if (call_method(k, "container.deploy", params, &result, &err) < 0) {
                /* what the deploy itself refuses (a workspace that is a link, a ds01 label) */
                if (err->code == DS01_EPERM)
                        access_denied(k->v, k->c, "docker-api.create", err->message);
                return dapi_reply_error(k->v, k->conn, err);
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
                return dapi_reply_error(k->v, k->conn, err);
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
                return dapi_reply_error(k->v, k->conn, err);
        enum dapi_op op = k->route.op;
        enum MHD_Result ret;
        if (op == DAPI_CONTAINER_READ || op == DAPI_CONTAINER_POST) {
                ret = container_passed_on(k, &ct);
        } else if (op == DAPI_COPY_OUT) {
                ret = dapi_copy_out(k->v, k->conn, k->c, &ct, streq(k->method, "HEAD"));
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
                return dapi_reply_error(k->v, k->conn, err);
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

enum MHD_Result dapi_call(struct call *k)
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
