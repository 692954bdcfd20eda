/* relay.c - published service ports: listening sockets and relayed connections (see relay.h). */
#include "daemon/ports/relay.h"

#include "daemon/docker/dockerjson.h"
#include "shared/log.h"
#include "shared/names.h"

#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define CONNS_PER_PORT     256       /* a notebook's browser opens a few dozen */
#define CONNECT_TIMEOUT_MS 5000      /* to the service in the container */
#define PIPE_BYTES         (1 << 20) /* each direction's splice pipe: fewer wake-ups per GiB */
#define THREAD_STACK       (256 * 1024)

struct conn {
        int client, upstream; /* -1 until connected */
        struct conn *next;
};

struct listener {
        char *container, *path; /* path: NULL for a loopback TCP listener */
        int port;
        int tcp_port; /* > 0: a loopback TCP listener on this port */
        uid_t uid;
        int fd;
        bool closing;
        int refs; /* the acceptor and each connection */
        size_t n_conns;
        struct conn *conns;
        pthread_t acceptor;
        struct listener *next;
        struct relay *relay;
};

struct relay {
        struct docker *docker;
        struct audit *audit;
        char *dir;
        pthread_mutex_t lock;
        pthread_cond_t idle; /* threads reached 0 */
        struct listener *listeners;
        size_t threads; /* acceptors and connection threads still running */
};

struct relay *relay_new(struct docker *docker, struct audit *audit, const char *dir)
{
        struct relay *r = xzalloc(sizeof(*r));
        r->docker = docker;
        r->audit = audit;
        r->dir = xstrdup(dir);
        pthread_mutex_init(&r->lock, NULL);
        pthread_cond_init(&r->idle, NULL);
        return r;
}

char *relay_socket_path(const struct relay *r, const char *user_part, const char *project, int port)
{
        _cleanup_free_ char *file = names_port_socket(project, port);
        return xasprintf("%s/%s/%s", r->dir, user_part, file);
}

/* ---- the bytes ---- */

struct half {
        int from, to;
        int pipe[2];
        size_t queued;
        bool eof, done;
};

/* Moves what it can without blocking. -1: the connection is broken (reset, peer gone). */
static int pump(struct half *h)
{
        if (!h->eof && h->queued < PIPE_BYTES) {
                ssize_t k = splice(h->from, NULL, h->pipe[1], NULL, PIPE_BYTES - h->queued,
                                   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
                if (k > 0)
                        h->queued += (size_t)k;
                else if (k == 0)
                        h->eof = true;
                else if (errno != EAGAIN && errno != EINTR)
                        return -1;
        }
        while (h->queued > 0) {
                ssize_t k = splice(h->pipe[0], NULL, h->to, NULL, h->queued,
                                   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
                if (k > 0)
                        h->queued -= (size_t)k;
                else if (k < 0 && (errno == EAGAIN || errno == EINTR))
                        break;
                else
                        return -1;
        }
        if (h->eof && h->queued == 0 && !h->done) {
                shutdown(h->to, SHUT_WR); /* pass the half-close on */
                h->done = true;
        }
        return 0;
}

static void half_events(const struct half *h, struct pollfd *p, nfds_t *n)
{
        if (h->done)
                return;
        if (h->queued > 0)
                p[(*n)++] = (struct pollfd){.fd = h->to, .events = POLLOUT};
        else
                p[(*n)++] = (struct pollfd){.fd = h->from, .events = POLLIN};
}

void relay_bytes(int client, int upstream)
{
        struct half h[2] = {{.from = client, .to = upstream, .pipe = {-1, -1}},
                            {.from = upstream, .to = client, .pipe = {-1, -1}}};
        for (int i = 0; i < 2; i++) {
                if (pipe2(h[i].pipe, O_CLOEXEC | O_NONBLOCK) < 0)
                        goto out;
                fcntl(h[i].pipe[1], F_SETPIPE_SZ, PIPE_BYTES); /* best effort */
        }
        for (;;) {
                if (pump(&h[0]) < 0 || pump(&h[1]) < 0)
                        break;
                if (h[0].done && h[1].done)
                        break;
                struct pollfd p[2];
                nfds_t n = 0;
                half_events(&h[0], p, &n);
                half_events(&h[1], p, &n);
                if (poll(p, n, -1) < 0 && errno != EINTR)
                        break;
        }
out:
        for (int i = 0; i < 2; i++)
                for (int j = 0; j < 2; j++)
                        if (h[i].pipe[j] >= 0)
                                close(h[i].pipe[j]);
}

/* ---- the way to the container ---- */

/* The container's address on its network, if it runs. */
static int container_address(struct docker *docker, const char *container, struct in_addr *ret,
                             struct error **err)
{
        json_t *c = docker_container_inspect(docker, container, err);
        if (!c)
                return -1;
        bool found = false;
        if (json_is_true(json_object_get(json_object_get(c, "State"), "Running"))) {
                json_t *nets = json_object_get(json_object_get(c, "NetworkSettings"), "Networks");
                const char *k;
                json_t *n;
                json_object_foreach (nets, k, n) {
                        const char *ip = jstr(n, "IPAddress");
                        if (!found && ip && inet_pton(AF_INET, ip, ret) == 1)
                                found = true;
                }
        }
        json_decref(c);
        return found ? 0 : error_set(err, DS01_ERR, "container '%s' is not running", container);
}

static int connect_upstream(struct in_addr addr, int port)
{
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -1;
        struct sockaddr_in sa = {
            .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr = addr};
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS)
                goto fail;
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int e = 0;
        socklen_t len = sizeof(e);
        if (poll(&p, 1, CONNECT_TIMEOUT_MS) != 1 ||
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0 || e != 0)
                goto fail;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        return fd;
fail:
        close(fd);
        return -1;
}

/* ---- listeners and their threads ---- */

static void thread_done(struct relay *r)
{
        if (--r->threads == 0)
                pthread_cond_broadcast(&r->idle);
}

/* Drops a reference (r->lock held); the last one frees the listener. */
static void listener_unref(struct listener *l)
{
        if (--l->refs > 0)
                return;
        free(l->container);
        free(l->path);
        free(l);
}

struct conn_start {
        struct listener *l;
        struct conn *c;
};

static void *conn_main(void *arg)
{
        struct conn_start cs = *(struct conn_start *)arg;
        free(arg);
        struct listener *l = cs.l;
        struct relay *r = l->relay;
        struct in_addr addr;
        struct error *err = NULL;
        int up = -1;
        if (container_address(r->docker, l->container, &addr, &err) < 0)
                log_info("port %d of %s: %s", l->port, l->container, err->message);
        else if ((up = connect_upstream(addr, l->port)) < 0)
                log_info("port %d of %s: nothing answers there (is the service listening on "
                         "0.0.0.0:%d in the container?)",
                         l->port, l->container, l->port);
        error_free(err);

        pthread_mutex_lock(&r->lock);
        cs.c->upstream = up;
        bool go = up >= 0 && !l->closing;
        pthread_mutex_unlock(&r->lock);
        if (go) {
                fcntl(cs.c->client, F_SETFL, fcntl(cs.c->client, F_GETFL) | O_NONBLOCK);
                relay_bytes(cs.c->client, up);
        }

        pthread_mutex_lock(&r->lock);
        for (struct conn **p = &l->conns; *p; p = &(*p)->next)
                if (*p == cs.c) {
                        *p = cs.c->next;
                        break;
                }
        l->n_conns--;
        close(cs.c->client);
        if (cs.c->upstream >= 0)
                close(cs.c->upstream);
        free(cs.c);
        listener_unref(l);
        thread_done(r);
        pthread_mutex_unlock(&r->lock);
        return NULL;
}

static bool spawn(struct relay *r, void *(*fn)(void *), void *arg, pthread_t *ret)
{
        pthread_attr_t a;
        pthread_attr_init(&a);
        pthread_attr_setstacksize(&a, THREAD_STACK);
        pthread_t t;
        if (!ret)
                pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
        bool ok = pthread_create(ret ? ret : &t, &a, fn, arg) == 0;
        pthread_attr_destroy(&a);
        if (ok)
                r->threads++; /* r->lock held */
        return ok;
}

static void refuse_stranger(struct relay *r, struct listener *l, uid_t uid)
{
        char buf[1024];
        struct passwd pw, *p = NULL;
        getpwuid_r(uid, &pw, buf, sizeof(buf), &p);
        _cleanup_free_ char *target = xasprintf("%s:%d", l->container, l->port);
        audit_denied(r->audit, uid, p ? p->pw_name : NULL, "port.connect", target);
}

/* The uid owning the other end of loopback TCP connection fd (the kernel's socket table, by
 * the exact addresses and ports, NETLINK_SOCK_DIAG); -1 when it is not there (closed since). */
static int64_t tcp_peer_uid(int fd)
{
        struct sockaddr_in me, peer;
        socklen_t l1 = sizeof(me), l2 = sizeof(peer);
        if (getsockname(fd, (struct sockaddr *)&me, &l1) < 0 ||
            getpeername(fd, (struct sockaddr *)&peer, &l2) < 0 || peer.sin_family != AF_INET)
                return -1;
        int nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
        if (nl < 0)
                return -1;
        struct {
                struct nlmsghdr h;
                struct inet_diag_req_v2 r;
        } req = {
            .h = {.nlmsg_len = sizeof(req),
                  .nlmsg_type = SOCK_DIAG_BY_FAMILY,
                  .nlmsg_flags = NLM_F_REQUEST},
            .r = {.sdiag_family = AF_INET,
                  .sdiag_protocol = IPPROTO_TCP,
                  .idiag_states = ~0U,
                  .id = {.idiag_sport = peer.sin_port,
                         .idiag_dport = me.sin_port,
                         .idiag_src = {peer.sin_addr.s_addr},
                         .idiag_dst = {me.sin_addr.s_addr},
                         .idiag_cookie = {INET_DIAG_NOCOOKIE, INET_DIAG_NOCOOKIE}}},
        };
        int64_t uid = -1;
        long buf[1024];
        ssize_t n = -1;
        if (send(nl, &req, sizeof(req), 0) == (ssize_t)sizeof(req))
                n = recv(nl, buf, sizeof(buf), 0);
        /* the exact 4-tuple matches one socket: the answer's first message is it */
        struct nlmsghdr *h = (struct nlmsghdr *)buf;
        if (n > 0 && NLMSG_OK(h, (size_t)n) && h->nlmsg_type == SOCK_DIAG_BY_FAMILY &&
            h->nlmsg_len >= NLMSG_LENGTH(sizeof(struct inet_diag_msg))) {
                const struct inet_diag_msg *m = NLMSG_DATA(h);
                if (m->id.idiag_sport == peer.sin_port && m->id.idiag_dport == me.sin_port &&
                    m->id.idiag_src[0] == peer.sin_addr.s_addr)
                        uid = m->idiag_uid;
        }
        close(nl);
        return uid;
}

/* Who is on the other end of accepted connection fd: SO_PEERCRED for the Unix socket, the
 * kernel's socket table for loopback TCP. -1: unknown. */
static int64_t peer_uid(const struct listener *l, int fd)
{
        if (l->tcp_port > 0)
                return tcp_peer_uid(fd);
        struct ucred cred;
        socklen_t len = sizeof(cred);
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || len != sizeof(cred))
                return -1;
        return cred.uid;
}

/* One accepted connection: the owner's (or root's) gets a thread, anyone else is refused. */
static void take(struct listener *l, int fd)
{
        struct relay *r = l->relay;
        int64_t uid = peer_uid(l, fd);
        if (uid != (int64_t)l->uid && uid != 0) {
                /* a Unix socket's mode keeps others out (this runs if that was undone); a TCP
                 * port is open to every local user, and this is what keeps them out */
                refuse_stranger(r, l, (uid_t)uid);
                close(fd);
                return;
        }
        pthread_mutex_lock(&r->lock);
        if (l->closing || l->n_conns >= CONNS_PER_PORT) {
                if (!l->closing)
                        log_notice("port %d of %s: %d connections open, refusing another", l->port,
                                   l->container, CONNS_PER_PORT);
                pthread_mutex_unlock(&r->lock);
                close(fd);
                return;
        }
        struct conn *c = xzalloc(sizeof(*c));
        *c = (struct conn){.client = fd, .upstream = -1, .next = l->conns};
        struct conn_start *cs = xzalloc(sizeof(*cs));
        *cs = (struct conn_start){l, c};
        if (!spawn(r, conn_main, cs, NULL)) {
                free(cs);
                free(c);
                close(fd);
        } else {
                l->conns = c;
                l->n_conns++;
                l->refs++;
        }
        pthread_mutex_unlock(&r->lock);
}

static void *acceptor_main(void *arg)
{
        struct listener *l = arg;
        for (;;) {
                int fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
                if (fd >= 0) {
                        take(l, fd);
                        continue;
                }
                if (errno == EINTR || errno == ECONNABORTED)
                        continue;
                if (errno == EMFILE || errno == ENFILE || errno == ENOMEM) {
                        usleep(100 * 1000);
                        continue;
                }
                break; /* shut down by relay_close (EINVAL) */
        }
        return NULL;
}

/* <dir> 0755 and <dir>/<user_part> 0711, root's; anything else there is refused. */
static int make_dir(const char *path, mode_t mode, struct error **err)
{
        if (mkdir(path, mode) < 0 && errno != EEXIST)
                return error_set(err, DS01_ERR, "cannot make %s: %s", path, strerror(errno));
        struct stat st;
        if (lstat(path, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != 0)
                return error_set(err, DS01_ERR,
                                 "%s is not a directory of root's: remove it, and ds01d makes it "
                                 "again",
                                 path);
        if ((st.st_mode & 07777) != mode && chmod(path, mode) < 0)
                return error_set(err, DS01_ERR, "cannot chmod %s: %s", path, strerror(errno));
        return 0;
}

static int bind_socket(const char *path, uid_t uid, struct error **err)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        if (strlen(path) >= sizeof(sa.sun_path))
                return error_set(err, DS01_EUSAGE,
                                 "the port's socket path %s is %zu bytes long, more than Unix "
                                 "sockets allow (%zu): use a shorter project name",
                                 path, strlen(path), sizeof(sa.sun_path) - 1);
        strcpy(sa.sun_path, path);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return error_set(err, DS01_ERR, "socket: %s", strerror(errno));
        unlink(path); /* a socket a killed ds01d left: the directory is root's */
        /* created 0600 (umask), then given to the owner: nobody else may connect at any time */
        mode_t old = umask(0177);
        int b = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
        umask(old);
        if (b < 0 || chown(path, uid, (gid_t)-1) < 0 || listen(fd, 64) < 0) {
                error_set(err, DS01_ERR, "cannot serve %s: %s", path, strerror(errno));
                if (b == 0)
                        unlink(path);
                close(fd);
                return -1;
        }
        return fd;
}

static struct listener *find(struct relay *r, const char *container, int port, bool tcp)
{
        for (struct listener *l = r->listeners; l; l = l->next)
                if (streq(l->container, container) && l->port == port && (l->tcp_port > 0) == tcp)
                        return l;
        return NULL;
}

static struct listener *new_listener(struct relay *r, const char *container, uid_t uid, int port)
{
        struct listener *l = xzalloc(sizeof(*l));
        *l = (struct listener){.container = xstrdup(container),
                               .port = port,
                               .uid = uid,
                               .fd = -1,
                               .refs = 1,
                               .relay = r};
        return l;
}

/* Starts l's acceptor and links it (r->lock held, l->fd listening); on failure closes l->fd,
 * removes its socket and frees l. */
static int start_listener(struct relay *r, struct listener *l, struct error **err)
{
        if (!spawn(r, acceptor_main, l, &l->acceptor)) {
                if (l->path)
                        unlink(l->path);
                close(l->fd);
                listener_unref(l);
                return error_set(err, DS01_ERR, "cannot start a thread for port %d", l->port);
        }
        l->next = r->listeners;
        r->listeners = l;
        return 0;
}

int relay_listen(struct relay *r, const char *container, const char *project, const char *user_part,
                 uid_t uid, int port, struct error **err)
{
        _cleanup_free_ char *udir = xasprintf("%s/%s", r->dir, user_part);
        if (make_dir(r->dir, 0755, err) < 0 || make_dir(udir, 0711, err) < 0)
                return -1;
        struct listener *l = new_listener(r, container, uid, port);
        l->path = relay_socket_path(r, user_part, project, port);
        pthread_mutex_lock(&r->lock);
        int rc = 0;
        if (find(r, container, port, false)) /* served already (a restart's second try) */
                listener_unref(l);
        else if ((l->fd = bind_socket(l->path, uid, err)) < 0) {
                listener_unref(l);
                rc = -1;
        } else if ((rc = start_listener(r, l, err)) == 0)
                log_info("serving port %d of %s at %s", port, container, l->path);
        pthread_mutex_unlock(&r->lock);
        return rc;
}

/* A listening socket on 127.0.0.1:port; -1 (errno set) if it cannot be had. */
static int bind_loopback(int port)
{
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
        struct sockaddr_in sa = {.sin_family = AF_INET,
                                 .sin_port = htons((uint16_t)port),
                                 .sin_addr = {htonl(INADDR_LOOPBACK)}};
        /* a restart rebinds the port its connections left in TIME_WAIT */
        if (fd >= 0)
                setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(fd, 64) == 0)
                return fd;
        int e = errno;
        if (fd >= 0)
                close(fd);
        errno = e;
        return -1;
}

/* Binds the first loopback port of first..last that none of ours holds (r->lock held). */
static int bind_free_loopback(struct relay *r, struct listener *l, int first, int last)
{
        for (int p = first; p <= last && l->fd < 0; p++) {
                bool ours = false; /* another of ours holds it (a restart rebinds in turn) */
                for (struct listener *o = r->listeners; o && !ours; o = o->next)
                        ours = o->tcp_port == p;
                if (!ours && (l->fd = bind_loopback(p)) >= 0)
                        l->tcp_port = p;
        }
        return l->fd;
}

int relay_listen_tcp(struct relay *r, const char *container, uid_t uid, int port, int from, int to,
                     int *tcp_port, struct error **err)
{
        struct listener *l = new_listener(r, container, uid, port);
        pthread_mutex_lock(&r->lock);
        int rc = 0;
        if (find(r, container, port, true)) {
                listener_unref(l);
        } else if (bind_free_loopback(r, l, *tcp_port > 0 ? *tcp_port : from,
                                      *tcp_port > 0 ? *tcp_port : to) < 0) {
                rc = *tcp_port > 0 ? error_set(err, DS01_ERR, "cannot listen on 127.0.0.1:%d: %s",
                                               *tcp_port, strerror(errno))
                                   : error_set(err, DS01_ERR,
                                               "no loopback port free in %d-%d (ports_tcp_from, "
                                               "ports_tcp_to) - ask an administrator",
                                               from, to);
                listener_unref(l);
        } else if ((rc = start_listener(r, l, err)) == 0) {
                *tcp_port = l->tcp_port;
                log_info("serving port %d of %s on 127.0.0.1:%d", port, container, l->tcp_port);
        }
        pthread_mutex_unlock(&r->lock);
        return rc;
}

/* Unlinks l (r->lock held): no new connection, the ones open are cut; the caller joins its
 * acceptor. */
static void stop_listener(struct relay *r, struct listener *l)
{
        for (struct listener **p = &r->listeners; *p; p = &(*p)->next)
                if (*p == l) {
                        *p = l->next;
                        break;
                }
        l->closing = true;
        if (l->path)
                unlink(l->path);
        shutdown(l->fd, SHUT_RDWR); /* accept() returns EINVAL */
        for (struct conn *c = l->conns; c; c = c->next) {
                shutdown(c->client, SHUT_RDWR);
                if (c->upstream >= 0)
                        shutdown(c->upstream, SHUT_RDWR);
        }
}

static void join_listener(struct relay *r, struct listener *l)
{
        pthread_join(l->acceptor, NULL);
        pthread_mutex_lock(&r->lock);
        close(l->fd);
        thread_done(r);
        listener_unref(l);
        pthread_mutex_unlock(&r->lock);
}

/* Stops every listener of container's port (container NULL: all; port 0: every port) and joins
 * its acceptor. */
static void close_matching(struct relay *r, const char *container, int port)
{
        for (;;) {
                pthread_mutex_lock(&r->lock);
                struct listener *l = r->listeners;
                while (l && container &&
                       !(streq(l->container, container) && (port == 0 || l->port == port)))
                        l = l->next;
                if (l)
                        stop_listener(r, l);
                pthread_mutex_unlock(&r->lock);
                if (!l)
                        return;
                if (l->tcp_port > 0)
                        log_info("no longer serving port %d of %s on 127.0.0.1:%d", l->port,
                                 l->container, l->tcp_port);
                else
                        log_info("no longer serving port %d of %s", l->port, l->container);
                join_listener(r, l);
        }
}

void relay_close(struct relay *r, const char *container, int port)
{
        close_matching(r, container, port);
}

struct relay *relay_free(struct relay *r)
{
        if (!r)
                return NULL;
        close_matching(r, NULL, 0);
        pthread_mutex_lock(&r->lock);
        while (r->threads > 0)
                pthread_cond_wait(&r->idle, &r->lock);
        pthread_mutex_unlock(&r->lock);
        pthread_mutex_destroy(&r->lock);
        pthread_cond_destroy(&r->idle);
        free(r->dir);
        free(r);
        return NULL;
}
