/* metrics-server.c - /metrics over HTTP: listener, connection bounds, token, snapshot refresh. */
#include "daemon/observe/metrics-internal.h"
#include "daemon/config/generation.h"

#include "shared/log.h"
#include "daemon/observe/board.h"
#include "daemon/observe/snapshot.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONN_TIMEOUT_S 10
/* A connection has this long from its start, or from the end of its previous request, to send
 * a whole request and take the answer; then it is shut. MHD's own timeout restarts with every
 * byte, so a client sending one byte a second would otherwise keep its place for ever. */
#define REQUEST_DEADLINE_MS 3000
#define WATCH_MS            250
/* Connections from one remote address (loopback excepted: every local user shares it), and from
 * one local user (root excepted) over loopback. */
#define PER_ADDRESS_MAX 4
#define PER_UID_MAX     4
#define TOKEN_MIN       16
#define TOKEN_MAX       4096
#define CONTENT_TYPE    "text/plain; version=0.0.4; charset=utf-8"
#define BOARD_REFRESH_S 30 /* how often /board reloads itself */

/* A connection as the deadline watch sees it (MHD's socket context). */
struct mconn {
        int fd;           /* a duplicate of MHD's: shutting it down ends MHD's too, and it
                             cannot be a reused descriptor number */
        int64_t since_ms; /* when its clock started; 0 once shut */
        struct sockaddr_storage addr;
        bool loopback;
        int64_t uid; /* loopback: the local user at the other end; -1 unknown */
};

/* ---- the snapshot refresh ------------------------------------------------------------------- */

/* Shuts the connections past REQUEST_DEADLINE_MS (MHD then sees them end and closes them). Under
 * m->lock. */
static void watch_deadlines(struct metrics *m)
{
        int64_t now = mono_ms();
        for (size_t i = 0; i < m->n_conns; i++) {
                struct mconn *c = m->conns[i];
                if (c->since_ms && now - c->since_ms > REQUEST_DEADLINE_MS) {
                        shutdown(c->fd, SHUT_RDWR);
                        c->since_ms = 0;
                }
        }
}

static void *refresher_thread(void *arg)
{
        struct metrics *m = arg;
        pthread_mutex_lock(&m->lock);
        for (;;) {
                while (!m->stop && !m->want_refresh) {
                        /* (the deadlines are looked at every WATCH_MS while anyone is connected) */
                        if (m->n_conns == 0) {
                                pthread_cond_wait(&m->cond, &m->lock);
                                continue;
                        }
                        struct timespec ts;
                        clock_gettime(CLOCK_REALTIME, &ts);
                        ts.tv_nsec += WATCH_MS * 1000000L;
                        if (ts.tv_nsec >= 1000000000L) {
                                ts.tv_sec++;
                                ts.tv_nsec -= 1000000000L;
                        }
                        pthread_cond_timedwait(&m->cond, &m->lock, &ts);
                        watch_deadlines(m);
                }
                if (m->stop)
                        break;
                m->want_refresh = false;
                pthread_mutex_unlock(&m->lock);
                /* Rebuilds only when something changed or the snapshot is older than
                 * SNAPSHOT_MAX_AGE_MS; an error leaves the last one in place. */
                struct ds01d v;
                ds01d_pin(m->d, &v);
                snapshot_refresh(&v);
                ds01d_unpin(&v);
                pthread_mutex_lock(&m->lock);
        }
        pthread_mutex_unlock(&m->lock);
        return NULL;
}

/* ---- HTTP ----------------------------------------------------------------------------------- */

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned status, char *body,
                               const char *content_type, const char *allow)
{
        struct MHD_Response *r =
            MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
        if (allow)
                MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
        enum MHD_Result ret = MHD_queue_response(conn, status, r);
        MHD_destroy_response(r);
        return ret;
}

/* Who may see the per-user series: a scraper presenting the token in metrics_token_file as
 * "Authorization: Bearer <token>". 1 authorised, 0 anonymous (no header), -1 a header with a
 * wrong token (or no token configured). */
static int authorised(struct metrics *m, struct MHD_Connection *conn)
{
        const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
        if (!h)
                return 0;
        struct ds01d v;
        ds01d_pin(m->d, &v);
        _cleanup_free_ char *path =
            v.cfg->metrics_token_file ? xstrdup(v.cfg->metrics_token_file) : NULL;
        ds01d_unpin(&v);
        if (!path || strncasecmp(h, "Bearer ", 7) != 0)
                return -1;
        h += 7;
        /* Read at each authorised scrape: a new token takes effect without a reload. */
        char tok[TOKEN_MAX + 1];
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        struct stat st;
        ssize_t n =
            fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? read(fd, tok, TOKEN_MAX) : -1;
        while (n > 0 && (tok[n - 1] == '\n' || tok[n - 1] == '\r' || tok[n - 1] == ' '))
                n--;
        if (n < TOKEN_MIN) {
                if (!m->token_warned)
                        log_warning("metrics: %s is missing or holds no token of at least %d "
                                    "characters: no scrape gets the per-user series",
                                    path, TOKEN_MIN);
                m->token_warned = true;
                return -1;
        }
        if (st.st_mode & S_IROTH && !m->token_warned) {
                log_warning("metrics: %s is readable by every user: anyone can read the token "
                            "(chmod 0640, group of the Prometheus user)",
                            path);
                m->token_warned = true;
        }
        /* compared in constant time */
        size_t hl = strlen(h);
        unsigned char diff = hl != (size_t)n;
        for (size_t i = 0; i < (size_t)n; i++)
                diff |= (unsigned char)tok[i] ^ (unsigned char)(i < hl ? h[i] : 0);
        return diff == 0 ? 1 : -1;
}

/* /board: the board as everyone may see it, no names unless the site shows them (board.h). */
static enum MHD_Result board_page(struct metrics *m, struct MHD_Connection *conn)
{
        struct ds01d v;
        ds01d_pin(m->d, &v);
        struct error *err = NULL;
        json_t *b = board_json(&v, NULL, &err);
        ds01d_unpin(&v);
        if (!b) {
                char *msg = xasprintf("the board is not available now: %s\n", err->message);
                error_free(err);
                return respond(conn, MHD_HTTP_SERVICE_UNAVAILABLE, msg, "text/plain", NULL);
        }
        char *html = board_html(b, BOARD_REFRESH_S);
        json_decref(b);
        return respond(conn, MHD_HTTP_OK, html, "text/html; charset=utf-8", NULL);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls)
{
        (void)version;
        (void)upload_data;
        (void)upload_data_size;
        (void)con_cls;
        struct metrics *m = cls;
        if (!streq(url, "/metrics") && !streq(url, "/board"))
                return respond(conn, MHD_HTTP_NOT_FOUND,
                               xstrdup("not found: ds01d serves /metrics and /board only\n"),
                               "text/plain", NULL);
        if (!streq(method, MHD_HTTP_METHOD_GET) && !streq(method, MHD_HTTP_METHOD_HEAD))
                return respond(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
                               xstrdup("method not allowed: use GET\n"), "text/plain", "GET, HEAD");
        if (streq(url, "/board"))
                return board_page(m, conn);
        int auth = authorised(m, conn);
        if (auth < 0) {
                static const char msg[] = "wrong token: send the one in metrics_token_file "
                                          "(ds01.yaml), or none for the aggregate series\n";
                struct MHD_Response *r = MHD_create_response_from_buffer(strlen(msg), (void *)msg,
                                                                         MHD_RESPMEM_PERSISTENT);
                MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain");
                MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
                enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_UNAUTHORIZED, r);
                MHD_destroy_response(r);
                return ret;
        }
        struct strbuf sb = STRBUF_INIT;
        metrics_render_into(m, m->d, &sb, auth == 1);
        pthread_mutex_lock(&m->lock);
        m->want_refresh = true;
        pthread_cond_signal(&m->cond);
        pthread_mutex_unlock(&m->lock);
        return respond(conn, MHD_HTTP_OK, strbuf_detach(&sb), CONTENT_TYPE, NULL);
}

/* ---- start and stop ------------------------------------------------------------------------- */

static bool is_loopback(const struct sockaddr *sa);

/* MHD_OPTION_APC: a remote address gets at most PER_ADDRESS_MAX connections. */
static enum MHD_Result accept_policy(void *cls, const struct sockaddr *addr, socklen_t len)
{
        struct metrics *m = cls;
        if (is_loopback(addr))
                return MHD_YES;
        size_t same = 0;
        pthread_mutex_lock(&m->lock);
        for (size_t i = 0; i < m->n_conns; i++)
                same += len <= sizeof(m->conns[i]->addr) &&
                        memcmp(&m->conns[i]->addr, addr,
                               addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                           : sizeof(struct sockaddr_in)) == 0;
        pthread_mutex_unlock(&m->lock);
        return same < PER_ADDRESS_MAX ? MHD_YES : MHD_NO;
}

/* The uid owning the client's end of a loopback TCP connection, from the kernel's socket table
 * (NETLINK_SOCK_DIAG, an exact lookup by address and ports); -1 when it cannot be told. */
static int64_t loopback_peer_uid(int fd)
{
        struct sockaddr_storage self, peer;
        socklen_t sl = sizeof(self), pl = sizeof(peer);
        if (getsockname(fd, (struct sockaddr *)&self, &sl) < 0 ||
            getpeername(fd, (struct sockaddr *)&peer, &pl) < 0 || self.ss_family != peer.ss_family)
                return -1;
        struct {
                struct nlmsghdr nlh;
                struct inet_diag_req_v2 r;
        } req = {
            .nlh = {.nlmsg_len = sizeof(req),
                    .nlmsg_type = SOCK_DIAG_BY_FAMILY,
                    .nlmsg_flags = NLM_F_REQUEST},
            .r = {.sdiag_family = (uint8_t)peer.ss_family,
                  .sdiag_protocol = IPPROTO_TCP,
                  .idiag_states = ~0U},
        };
        struct inet_diag_sockid *id = &req.r.id;
        id->idiag_cookie[0] = id->idiag_cookie[1] = INET_DIAG_NOCOOKIE;
        /* the client's socket: its source is our peer, its destination us */
        if (peer.ss_family == AF_INET) {
                const struct sockaddr_in *p = (const void *)&peer, *s = (const void *)&self;
                id->idiag_sport = p->sin_port;
                id->idiag_dport = s->sin_port;
                memcpy(id->idiag_src, &p->sin_addr, sizeof(p->sin_addr));
                memcpy(id->idiag_dst, &s->sin_addr, sizeof(s->sin_addr));
        } else if (peer.ss_family == AF_INET6) {
                const struct sockaddr_in6 *p = (const void *)&peer, *s = (const void *)&self;
                id->idiag_sport = p->sin6_port;
                id->idiag_dport = s->sin6_port;
                memcpy(id->idiag_src, &p->sin6_addr, sizeof(p->sin6_addr));
                memcpy(id->idiag_dst, &s->sin6_addr, sizeof(s->sin6_addr));
        } else {
                return -1;
        }
        _cleanup_close_ int nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
        struct timeval tv = {.tv_usec = 200000};
        if (nl < 0 || setsockopt(nl, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
            send(nl, &req, sizeof(req), 0) != (ssize_t)sizeof(req))
                return -1;
        union {
                struct nlmsghdr h;
                char buf[1024];
        } ans;
        ssize_t n = recv(nl, &ans, sizeof(ans), 0);
        if (n < (ssize_t)NLMSG_LENGTH(sizeof(struct inet_diag_msg)) ||
            !NLMSG_OK(&ans.h, (size_t)n) || ans.h.nlmsg_type != SOCK_DIAG_BY_FAMILY)
                return -1;
        return ((const struct inet_diag_msg *)NLMSG_DATA(&ans.h))->idiag_uid;
}

/* MHD_OPTION_NOTIFY_CONNECTION: the watch's view of each connection. A local user past
 * PER_UID_MAX loopback connections has the new one shut at once. */
static void notify_connection(void *cls, struct MHD_Connection *conn, void **ctx,
                              enum MHD_ConnectionNotificationCode what)
{
        struct metrics *m = cls;
        struct mconn *c = *ctx;
        if (what == MHD_CONNECTION_NOTIFY_STARTED) {
                const union MHD_ConnectionInfo *fi =
                    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
                const union MHD_ConnectionInfo *ai =
                    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
                c = xzalloc(sizeof(*c));
                c->fd = fi ? fcntl(fi->connect_fd, F_DUPFD_CLOEXEC, 0) : -1;
                c->since_ms = mono_ms();
                c->uid = -1;
                if (ai && ai->client_addr) {
                        memcpy(&c->addr, ai->client_addr,
                               ai->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                                      : sizeof(struct sockaddr_in));
                        c->loopback = is_loopback(ai->client_addr);
                }
                *ctx = c;
                if (c->loopback && c->fd >= 0)
                        c->uid = loopback_peer_uid(c->fd);
                pthread_mutex_lock(&m->lock);
                size_t same = 0;
                for (size_t i = 0; i < m->n_conns && c->uid > 0; i++)
                        same += m->conns[i]->uid == c->uid && m->conns[i]->since_ms;
                if (same >= PER_UID_MAX) {
                        shutdown(c->fd, SHUT_RDWR);
                        c->since_ms = 0;
                }
                if (m->n_conns < ARRAY_SIZE(m->conns))
                        m->conns[m->n_conns++] = c;
                pthread_cond_signal(&m->cond); /* the watch starts */
                pthread_mutex_unlock(&m->lock);
                return;
        }
        if (!c)
                return;
        pthread_mutex_lock(&m->lock);
        for (size_t i = 0; i < m->n_conns; i++)
                if (m->conns[i] == c)
                        m->conns[i] = m->conns[--m->n_conns];
        pthread_mutex_unlock(&m->lock);
        if (c->fd >= 0)
                close(c->fd);
        free(c);
        *ctx = NULL;
}

/* MHD_OPTION_NOTIFY_COMPLETED: a request was answered; the next one's clock starts. */
static void request_done(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
        (void)con_cls;
        (void)toe;
        struct metrics *m = cls;
        const union MHD_ConnectionInfo *si =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        struct mconn *c = si ? si->socket_context : NULL;
        if (!c)
                return;
        pthread_mutex_lock(&m->lock);
        if (c->since_ms)
                c->since_ms = mono_ms();
        pthread_mutex_unlock(&m->lock);
}

static bool is_loopback(const struct sockaddr *sa)
{
        if (sa->sa_family == AF_INET)
                return (ntohl(((const struct sockaddr_in *)(const void *)sa)->sin_addr.s_addr) >>
                        24) == 127;
        if (sa->sa_family == AF_INET6)
                return IN6_IS_ADDR_LOOPBACK(
                    &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr);
        return false;
}

/* A listening socket on exactly HOST:PORT ("127.0.0.1:9101", "[::1]:9101", "localhost:9101"). */
static int listen_on(const char *addr, bool *ret_loopback, struct error **err)
{
        const char *colon = strrchr(addr, ':');
        if (!colon || colon == addr)
                return error_set(err, DS01_EUSAGE, "metrics_listen '%s' is not HOST:PORT", addr);
        _cleanup_free_ char *host = xstrndup(addr, (size_t)(colon - addr));
        size_t hl = strlen(host);
        if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
                memmove(host, host + 1, hl - 2);
                host[hl - 2] = '\0';
        }
        struct addrinfo hints = {.ai_family = AF_UNSPEC,
                                 .ai_socktype = SOCK_STREAM,
                                 .ai_flags = AI_NUMERICSERV | AI_PASSIVE},
                        *res = NULL;
        int r = getaddrinfo(host, colon + 1, &hints, &res);
        if (r != 0)
                return error_set(err, DS01_ERR,
                                 "metrics_listen '%s': cannot resolve '%s': %s - use an address "
                                 "such as 127.0.0.1:9101",
                                 addr, host, gai_strerror(r));
        int fd = -1, last_errno = 0;
        for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
                fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
                if (fd < 0) {
                        last_errno = errno;
                        continue;
                }
                int one = 1;
                setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
                if (ai->ai_family == AF_INET6)
                        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
                if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 64) < 0) {
                        last_errno = errno;
                        close(fd);
                        fd = -1;
                        continue;
                }
                *ret_loopback = is_loopback(ai->ai_addr);
        }
        freeaddrinfo(res);
        if (fd < 0)
                return error_set_errno(err, last_errno,
                                       "cannot listen on metrics_listen %s - choose a free port "
                                       "or set metrics_listen: off",
                                       addr);
        return fd;
}

static struct metrics *start_on(struct ds01d *d, const char *addr, struct error **err)
{
        bool loopback = false;
        int fd = listen_on(addr, &loopback, err);
        if (fd < 0)
                return NULL;
        struct metrics *m = xzalloc(sizeof(*m));
        m->d = d;
        m->listen = xstrdup(addr);
        m->started_s = now_s();
        pthread_mutex_init(&m->lock, NULL);
        pthread_cond_init(&m->cond, NULL);
        int r = pthread_create(&m->refresher, NULL, refresher_thread, m);
        if (r != 0) {
                close(fd);
                error_set_errno(err, r, "starting the metrics refresh thread");
                goto fail;
        }
        /* One internal thread serves every connection: scrapes are rendered one at a time,
         * from memory, so that is plenty, and it bounds what scrapes can cost. */
        m->mhd = MHD_start_daemon(
            MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, 0, accept_policy, m, handle, m,
            MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT, (unsigned)MAX_CONNECTIONS,
            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONN_TIMEOUT_S, MHD_OPTION_NOTIFY_CONNECTION,
            notify_connection, m, MHD_OPTION_NOTIFY_COMPLETED, request_done, m, MHD_OPTION_END);
        if (!m->mhd) {
                close(fd);
                error_set(err, DS01_ERR, "starting the metrics server on %s failed", addr);
                pthread_mutex_lock(&m->lock);
                m->stop = true;
                pthread_cond_signal(&m->cond);
                pthread_mutex_unlock(&m->lock);
                pthread_join(m->refresher, NULL);
                goto fail;
        }
        if (loopback)
                log_info("metrics: serving /metrics on http://%s/metrics", addr);
        else
                log_notice("metrics: serving /metrics on %s, which is not a loopback address: "
                           "anyone who reaches it sees the aggregate series (per-user ones need "
                           "the metrics_token_file token)",
                           addr);
        return m;
fail:
        pthread_mutex_destroy(&m->lock);
        pthread_cond_destroy(&m->cond);
        free(m->listen);
        free(m);
        return NULL;
}

int metrics_start(struct ds01d *d, struct metrics **ret, struct error **err)
{
        struct ds01d v;
        ds01d_pin(d, &v);
        _cleanup_free_ char *addr = xstrdup(v.cfg->metrics_listen);
        *ret = NULL;
        if (streq(addr, "off")) {
                log_info("metrics: off (metrics_listen: off)");
                ds01d_unpin(&v);
                return 0;
        }
        /* The first scrape should find a snapshot: the monitor's first tick is a sample
         * interval away. */
        snapshot_refresh(&v);
        ds01d_unpin(&v);
        struct metrics *m = start_on(d, addr, err);
        if (!m)
                return -1;
        *ret = m;
        return 0;
}

struct metrics *metrics_stop(struct metrics *m)
{
        if (!m)
                return NULL;
        MHD_stop_daemon(m->mhd);
        pthread_mutex_lock(&m->lock);
        m->stop = true;
        pthread_cond_signal(&m->cond);
        pthread_mutex_unlock(&m->lock);
        pthread_join(m->refresher, NULL);
        pthread_mutex_destroy(&m->lock);
        pthread_cond_destroy(&m->cond);
        for (size_t i = 0; i < m->n_groups; i++) {
                free(m->groups[i].user);
                free(m->groups[i].group);
        }
        free(m->groups);
        free(m->listen);
        free(m);
        return NULL;
}

struct metrics *metrics_reload(struct metrics *m, struct ds01d *d)
{
        struct ds01d v;
        ds01d_pin(d, &v);
        _cleanup_free_ char *addr = xstrdup(v.cfg->metrics_listen);
        ds01d_unpin(&v);
        _cleanup_free_ char *old = xstrdup(m ? m->listen : "off");
        if (streq(addr, old))
                return m;
        /* Free the old address first: the new one may be the same port on another host part. */
        m = metrics_stop(m);
        if (streq(addr, "off")) {
                log_notice("metrics: stopped (metrics_listen: off)");
                return NULL;
        }
        struct error *err = NULL;
        m = start_on(d, addr, &err);
        if (m)
                return m;
        log_error("metrics: %s", err->message);
        err = error_free(err);
        if (streq(old, "off"))
                return NULL;
        m = start_on(d, old, &err);
        if (!m) {
                log_error("metrics: off: %s", err->message);
                error_free(err);
        } else {
                log_notice("metrics: still on %s", old);
        }
        return m;
}
