/* endpoint.c - the Docker API endpoint: its socket, who is on each connection, and each call
 * dispatched by its route (see endpoint.h). */
#include "daemon/dockerapi/endpoint.h"

#include "daemon/config/generation.h"
#include "daemon/dockerapi/build.h"
#include "daemon/dockerapi/calls.h"
#include "daemon/dockerapi/copy.h"
#include "daemon/dockerapi/forward.h"
#include "daemon/dockerapi/networks.h"
#include "daemon/dockerapi/routes.h"
#include "daemon/observe/audit.h"
#include "daemon/requests/access.h"
#include "daemon/requests/peer.h"
#include "shared/log.h"
#include "shared/strbuf.h"
#include "shared/util.h"

#include <errno.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
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

/* POST /build and PUT .../archive: the build or ds01-cp starts before the body arrives, which
 * streams into it (a build context of up to images.max_context_mb, a tar of any size, is never
 * held in memory). */
static void maybe_start_upload(struct dapi *e, struct MHD_Connection *conn, const char *method,
                               const char *url, struct dreq *req)
{
        struct dapi_route route;
        dapi_route(method, url, &route);
        struct dconn *dc = conn_of(conn);
        if ((route.op == DAPI_BUILD || route.op == DAPI_COPY_IN) && dc && !dc->refusal) {
                struct ds01d v;
                ds01d_pin(e->d, &v);
                if (route.op == DAPI_COPY_IN) {
                        req->copy_in = dapi_copy_in_start(&v, conn, &dc->caller, route.object,
                                                          &req->upload_err);
                } else {
                        _cleanup_free_ char *project = NULL;
                        bool nocache = false;
                        if (dapi_build_params(conn, &dc->caller, &project, &nocache,
                                              &req->upload_err) == 0)
                                req->build = dapi_build_start(&v, &dc->caller, project, nocache,
                                                              &req->upload_err);
                        else if (req->upload_err->code == DS01_EPERM)
                                access_denied(&v, &dc->caller, "docker-api.build",
                                              req->upload_err->message);
                }
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
                maybe_start_upload(e, conn, method, url, req);
                return MHD_YES;
        }
        if (*upload_data_size > 0) {
                if (req->build)
                        dapi_build_feed(req->build, upload_data, *upload_data_size);
                else if (req->copy_in)
                        dapi_copy_in_feed(req->copy_in, upload_data, *upload_data_size);
                else if (req->upload_err)
                        ; /* a refused upload: dropped */
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
        } else if (req->upload_err) {
                ret = dapi_reply_error(&v, conn, TAKE_PTR(req->upload_err));
        } else if (req->build) {
                ret = dapi_build_respond(TAKE_PTR(req->build), &v, conn);
        } else if (req->copy_in) {
                ret = dapi_copy_in_respond(TAKE_PTR(req->copy_in), &v, conn);
        } else if (req->too_big) {
                ret = dapi_reply_message(&v, conn, MHD_HTTP_CONTENT_TOO_LARGE,
                                         "request body too large for ds01's Docker endpoint");
        } else {
                k.c = &k.dc->caller;
                dapi_route(method, url, &k.route);
                ret = dapi_call(&k);
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
                dapi_copy_in_abort(req->copy_in);
                error_free(req->upload_err);
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
