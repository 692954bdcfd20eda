/* rpc.c - the CLI's socket: connections, peer credentials, bounds and rate limits (see rpc.h). */
#include "daemon/requests/rpc.h"

#include "daemon/config/generation.h"
#include "daemon/config/reload.h"
#include "daemon/containers/deploy.h"
#include "daemon/containers/execs.h"
#include "daemon/containers/verbs.h"
#include "daemon/docker/dockerjson.h"
#include "daemon/gpus/gpuadmin.h"
#include "daemon/images/images.h"
#include "daemon/observe/audit.h"
#include "daemon/observe/counters.h"
#include "daemon/observe/queries.h"
#include "daemon/observe/rows.h"
#include "daemon/observe/snapshot.h"
#include "daemon/observe/status.h"
#include "daemon/observe/usage.h"
#include "daemon/requests/methods.h"
#include "daemon/requests/peer.h"
#include "daemon/rules/keepalive.h"
#include "proto/proto.h"
#include "shared/log.h"
#include "shared/names.h"
#include "shared/strbuf.h"

#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <stdatomic.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>

/* ---- connections ------------------------------------------------------------------------- */

struct uid_count {
        uid_t uid;
        unsigned n;
};

#define QUICK_MAX   4096 /* a request larger than this is never answered by an event loop */
#define LOOP_EVENTS 16
/* A connection must send its first request within this long: one that never does would hold
 * a place in the bounds for nothing. */
#define FIRST_REQUEST_MS 5000
#define SWEEP_MS         1000
/* Places only root may take once the others are full (root can always look at what is
 * going on). */
#define ROOT_RESERVE 32
/* Per-uid request buckets remembered (uids beyond share the least recently used ones). */
#define RATE_BUCKETS 1024
#define RATE_PROBE   16

struct rpc_server {
        struct ds01d *d;
        int fd;
        char *path;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        int conns[RPC_MAX_CONNECTIONS]; /* fds of live connections, -1 free */
        struct conn *slot_conn[RPC_MAX_CONNECTIONS];
        size_t n_conns;
        atomic_llong swept_ms; /* when a loop last looked for connections without a request */
        struct uid_count uids[RPC_MAX_CONNECTIONS];
        size_t n_uids;
        bool stopping;
        int stop_fd;      /* eventfd: readable once stopping */
        size_t n_threads; /* event loops and connection threads, while they run */
        size_t n_loops;
        struct peers *peers; /* who is on the other end (peer.h) */
        /* per-uid token buckets (requests_per_s_per_uid, request_burst_per_uid) */
        pthread_mutex_t rate_lock;
        struct rate_bucket {
                uid_t uid;
                bool used;
                double tokens;
                int64_t at_ms;
        } rate[RATE_BUCKETS];
};

struct conn {
        struct rpc_server *srv;
        int fd;
        int slot;
        bool in_loop; /* registered in its event loop's epoll */
        struct caller caller;
        atomic_llong waiting_ms; /* accepted at (monotonic ms); 0 once a request came */
};

static json_t *error_response(const struct error *e)
{
        return json_pack("{s:i, s:b, s:{s:i, s:s}}", "v", PROTO_VERSION, "ok", 0, "error", "code",
                         e->code, "message", e->message);
}

/* One request: parse, validate, dispatch. Returns the response; *ret_fd a fd to pass. */
/* images_progress_fn for a connection: one {"v":1, "progress":X} message. */
static int send_progress(void *ctx, json_t *progress)
{
        struct conn *cn = ctx;
        json_t *msg = json_pack("{s:i, s:o}", "v", PROTO_VERSION, "progress", progress);
        int r = proto_send_json(cn->fd, msg, -1, NULL);
        json_decref(msg);
        return r < 0 ? -1 : 0;
}

/* Takes one request from uid's bucket: 0 when it may go on, else the milliseconds until it may.
 * Root is never limited. */
static int64_t rate_take(struct rpc_server *s, uid_t uid)
{
        if (uid == 0)
                return 0;
        struct ds01d v;
        ds01d_pin(s->d, &v);
        double rate = (double)v.cfg->requests_per_s_per_uid;
        double burst = (double)v.cfg->request_burst_per_uid;
        ds01d_unpin(&v);
        if (rate <= 0)
                return 0;
        int64_t now = mono_ms(), wait = 0;
        pthread_mutex_lock(&s->rate_lock);
        struct rate_bucket *b = NULL, *oldest = NULL;
        for (size_t k = 0; k < RATE_PROBE && !b; k++) {
                struct rate_bucket *x = &s->rate[((size_t)uid + k) % RATE_BUCKETS];
                if (x->used && x->uid == uid)
                        b = x;
                else if (!oldest || !x->used || (oldest->used && x->at_ms < oldest->at_ms))
                        oldest = x;
        }
        if (!b) {
                b = oldest;
                *b = (struct rate_bucket){uid, true, burst, now};
        }
        b->tokens += (double)(now - b->at_ms) * rate / 1000.0;
        if (b->tokens > burst)
                b->tokens = burst;
        b->at_ms = now;
        if (b->tokens >= 1)
                b->tokens -= 1;
        else
                wait = (int64_t)((1 - b->tokens) * 1000.0 / rate) + 1;
        pthread_mutex_unlock(&s->rate_lock);
        return wait;
}

/* in_fd: a descriptor that came with the request (closed here); only stream methods use one.
 * Returns the response, serialised (*ret_len bytes); *ret_fd a fd to pass. */
static char *serve_one(struct conn *cn, json_t *req, int in_fd, int *ret_fd, size_t *ret_len)
{
        struct ds01d *d = cn->srv->d;
        struct error *err = NULL;
        json_t *result = NULL, *resp = NULL;
        char *text = NULL; /* a text handler's result */
        size_t text_len = 0;
        *ret_fd = -1;

        json_t *v = json_object_get(req, "v");
        const char *method = json_string_value(json_object_get(req, "method"));
        json_t *params = json_object_get(req, "params");
        if (!json_is_integer(v) || json_integer_value(v) != PROTO_VERSION) {
                error_set(&err, DS01_EUSAGE,
                          "protocol version mismatch (daemon speaks %d) - use the ds01 CLI that "
                          "came with this ds01d",
                          PROTO_VERSION);
                goto out;
        }
        if (!method) {
                error_set(&err, DS01_EUSAGE, "request without a method");
                goto out;
        }
        int64_t wait_ms = rate_take(cn->srv, cn->caller.uid);
        if (wait_ms > 0) {
                /* Counted, not itemised: a flood must not flood the audit log either. */
                audit_denied(d->audit, cn->caller.uid, cn->caller.login,
                             "exceed the request rate with", "requests_per_s_per_uid");
                error_set(&err, DS01_ERESOURCE,
                          "rate limited: your user sent more requests than ds01d takes per "
                          "second - retry in %lld s",
                          (long long)((wait_ms + 999) / 1000));
                goto out;
        }
        json_t *empty = NULL;
        if (!params)
                params = empty = json_object();
        int64_t started_ns = counters_now_ns();
        int idx = methods_find(method, &err);
        if (idx >= 0) {
                struct method_io io = {.in_fd = in_fd,
                                       .client_fd = cn->fd,
                                       .progress = send_progress,
                                       .progress_ctx = cn};
                int64_t t0 = mono_ms();
                int r = methods_call(d, &cn->caller, idx, params, &io, &err);
                result = io.result;
                text = io.text;
                text_len = io.text_len;
                *ret_fd = io.out_fd;
                log_debug("%s by %s: %s in %lld ms", method, cn->caller.login,
                          r < 0 ? "error" : "ok", (long long)(mono_ms() - t0));
        }
        counters_rpc(idx >= 0 ? methods_name(idx) : NULL, !err, counters_now_ns() - started_ns);
        json_decref(empty);
out:
        if (in_fd >= 0)
                close(in_fd);
        if (err) {
                resp = error_response(err);
                if (*ret_fd >= 0)
                        close(*ret_fd);
                *ret_fd = -1;
                free(text);
                text = NULL;
                json_decref(result);
        } else if (!text) {
                resp = json_pack("{s:i, s:b, s:o}", "v", PROTO_VERSION, "ok", 1, "result",
                                 result ? result : json_object());
                /* A handler's "notices" go to the envelope, where every CLI command shows them. */
                json_t *res = json_object_get(resp, "result");
                json_t *notices = json_object_get(res, "notices");
                if (json_is_array(notices)) {
                        json_object_set(resp, "notices", notices);
                        json_object_del(res, "notices");
                }
        }
        error_free(err);
        /* Warnings and stops waiting in the caller's inbox ride along with any answer, once. */
        json_t *inbox = NULL;
        if (method && !streq(method, "inbox.list") && !streq(method, "daemon.ping")) {
                inbox = queries_inbox_notices(d, cn->caller.uid);
        }
        if (resp) {
                if (inbox) {
                        json_t *notices = json_object_get(resp, "notices");
                        if (json_is_array(notices))
                                json_array_extend(inbox, notices);
                        json_object_set_new(resp, "notices", inbox);
                }
                char *out = json_text(resp);
                json_decref(resp);
                *ret_len = strlen(out);
                return out;
        }
        /* the envelope around a text result, as json_dumps would write it */
        struct strbuf sb = STRBUF_INIT;
        strbuf_addf(&sb, "{\"v\":%d,\"ok\":true,\"result\":", PROTO_VERSION);
        strbuf_add(&sb, text, text_len);
        free(text);
        if (inbox) {
                _cleanup_free_ char *n = json_text(inbox);
                json_decref(inbox);
                strbuf_adds(&sb, ",\"notices\":");
                strbuf_adds(&sb, n);
        }
        strbuf_addc(&sb, '}');
        *ret_len = sb.len;
        return strbuf_detach(&sb);
}

static void uid_release(struct rpc_server *s, uid_t uid)
{
        for (size_t i = 0; i < s->n_uids; i++)
                if (s->uids[i].uid == uid) {
                        if (--s->uids[i].n == 0)
                                s->uids[i] = s->uids[--s->n_uids];
                        return;
                }
}

/* Ends a connection: closes it and gives back its place in the bounds. */
static void conn_end(struct conn *cn)
{
        struct rpc_server *s = cn->srv;
        /* Its container-run/attach sessions no longer count as activity (item 15 of issue 11:
         * a client killed with its session open must not keep the container from idling). */
        execs_conn_closed(s->d, cn->caller.conn);
        pthread_mutex_lock(&s->lock);
        s->conns[cn->slot] = -1;
        s->slot_conn[cn->slot] = NULL;
        s->n_conns--;
        uid_release(s, cn->caller.uid);
        close(cn->fd);
        pthread_cond_broadcast(&s->cond);
        pthread_mutex_unlock(&s->lock);
        caller_release(&cn->caller);
        free(cn);
}

/* Answers one request (taken) and sends the answer; false once the connection is unusable. */
static bool answer(struct conn *cn, json_t *req, int in_fd)
{
        int fd = -1;
        size_t len = 0;
        _cleanup_free_ char *resp = serve_one(cn, req, in_fd, &fd, &len);
        json_decref(req);
        struct error *serr = NULL;
        int r = proto_send(cn->fd, resp, len, fd, &serr);
        error_free(serr);
        if (fd >= 0)
                close(fd);
        return r == 0;
}

/* Serves the connection's requests, blocking, until the client closes it. */
static void serve_rest(struct conn *cn)
{
        for (;;) {
                json_t *req = NULL;
                struct error *err = NULL;
                int in_fd = -1;
                int r = proto_recv_json(cn->fd, PROTO_MAX_REQUEST, &req, &in_fd, &err);
                if (r == 1)
                        break;
                if (r < 0) {
                        /* A malformed message gets an answer; a dead socket just ends. */
                        if (err->code == DS01_EUSAGE) {
                                json_t *resp = error_response(err);
                                proto_send_json(cn->fd, resp, -1, NULL);
                                json_decref(resp);
                        }
                        error_free(err);
                        break;
                }
                if (!answer(cn, req, in_fd))
                        break;
        }
}

/* Gives the kernel back the pages of this thread's stack below the current frame (the stack
 * grows down): a thread that ends should not leave what a deep request touched in glibc's
 * cache of stacks. */
static void stack_release(void)
{
        pthread_attr_t attr;
        void *base;
        size_t size;
        if (pthread_getattr_np(pthread_self(), &attr) != 0)
                return;
        int r = pthread_attr_getstack(&attr, &base, &size);
        pthread_attr_destroy(&attr);
        if (r != 0)
                return;
        long page = sysconf(_SC_PAGESIZE);
        char here;
        uintptr_t low = ((uintptr_t)base + (uintptr_t)page - 1) & ~((uintptr_t)page - 1);
        uintptr_t high = ((uintptr_t)&here - 8192) & ~((uintptr_t)page - 1);
        if (high > low)
                (void)madvise((void *)low, high - low, MADV_DONTNEED);
}

static void thread_done(struct rpc_server *s)
{
        pthread_mutex_lock(&s->lock);
        s->n_threads--;
        pthread_cond_broadcast(&s->cond);
        pthread_mutex_unlock(&s->lock);
}

static bool start_thread(struct rpc_server *s, void *(*fn)(void *), void *arg)
{
        pthread_mutex_lock(&s->lock);
        s->n_threads++;
        pthread_mutex_unlock(&s->lock);
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attr, 256 * 1024);
        pthread_t t;
        int r = pthread_create(&t, &attr, fn, arg);
        pthread_attr_destroy(&attr);
        if (r != 0) {
                log_error("cannot start a connection thread: %s", strerror(r));
                thread_done(s);
                return false;
        }
        return true;
}

/* Answers with an error before the connection is closed. Closing a socket with a request still
 * unread makes the client's read fail with ECONNRESET instead of showing this answer, so the
 * client's sending side is shut first (its request, if not sent yet, fails with EPIPE and the CLI
 * then reads the answer) and whatever it already sent is dropped. Never waits. */
static void refuse(int fd, int code, const char *msg)
{
        struct error e = {code, (char *)msg};
        json_t *resp = error_response(&e);
        _cleanup_free_ char *text = json_text(resp);
        json_decref(resp);
        (void)proto_try_send(fd, text, strlen(text));
        shutdown(fd, SHUT_RD);
        char drop[64];
        while (recv(fd, drop, sizeof(drop), MSG_DONTWAIT | MSG_TRUNC) > 0)
                ;
}

/* Accepts one connection, checks the bounds and identifies the caller; NULL when there was none
 * (another loop took it) or it was refused. */
static struct conn *accept_one(struct rpc_server *s)
{
        int fd = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC);
        /* (blocking: a connection handed to its own thread reads and writes it so; the loops
         * only ever use MSG_DONTWAIT) */
        if (fd < 0) {
                if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                        log_warning("accept: %s", strerror(errno));
                return NULL;
        }
        struct conn *cn = xzalloc(sizeof(*cn));
        cn->srv = s;
        cn->fd = fd;
        struct error *err = NULL;
        if (peer_creds(fd, &cn->caller, &err) < 0) {
                log_warning("rejecting a connection: %s", err->message);
                error_free(err);
                close(fd);
                free(cn);
                return NULL;
        }
        static _Atomic uint64_t next_conn;
        cn->caller.conn = ++next_conn;
        int in_ns = peer_in_our_userns(s->peers, fd, cn->caller.pid);
        if (in_ns != 1) {
                _cleanup_free_ char *who = peer_login(s->peers, cn->caller.uid);
                if (!who)
                        who = xasprintf("u%u", (unsigned)cn->caller.uid);
                audit_denied(s->d->audit, cn->caller.uid, who, "connect",
                             in_ns ? "(unverifiable process)" : "(user namespace)");
                refuse(fd, DS01_EPERM,
                       in_ns ? "ds01d could not check the process that connected (it exited?) - "
                               "run the command again"
                             : "ds01 cannot be used from inside a user namespace (unshare -U, "
                               "rootless containers): each uid there would count as a user of "
                               "its own - run the command in your normal login session");
                close(fd);
                free(cn);
                return NULL;
        }
        struct ds01d v;
        ds01d_pin(s->d, &v);
        int64_t per_uid_max = v.cfg->max_requests_per_uid;
        ds01d_unpin(&v);
        pthread_mutex_lock(&s->lock);
        struct uid_count *uc = NULL;
        for (size_t i = 0; i < s->n_uids; i++)
                if (s->uids[i].uid == cn->caller.uid)
                        uc = &s->uids[i];
        const char *why = NULL;
        if (s->stopping)
                why = "ds01d is shutting down - try again in a moment";
        else if (s->n_conns >= RPC_MAX_CONNECTIONS ||
                 (s->n_conns >= RPC_MAX_CONNECTIONS - ROOT_RESERVE && cn->caller.uid != 0))
                why = "ds01d is at its connection limit - try again in a moment";
        else if (uc && (int64_t)uc->n >= per_uid_max)
                why = "too many requests in flight for your user (close some container-run "
                      "sessions or wait for running commands)";
        if (why) {
                pthread_mutex_unlock(&s->lock);
                refuse(fd, DS01_ERESOURCE, why);
                close(fd);
                caller_release(&cn->caller);
                free(cn);
                return NULL;
        }
        if (!uc) {
                uc = &s->uids[s->n_uids++];
                uc->uid = cn->caller.uid;
                uc->n = 0;
        }
        uc->n++;
        for (int i = 0; i < RPC_MAX_CONNECTIONS; i++)
                if (s->conns[i] < 0) {
                        cn->slot = i;
                        break;
                }
        s->conns[cn->slot] = fd;
        s->slot_conn[cn->slot] = cn;
        atomic_store(&cn->waiting_ms, mono_ms());
        s->n_conns++;
        pthread_mutex_unlock(&s->lock);
        if (peer_identify(s->peers, s->d, fd, &cn->caller, &err) < 0) {
                if (err->code == DS01_EPERM) {
                        _cleanup_free_ char *who = xasprintf("u%u", (unsigned)cn->caller.uid);
                        audit_denied(s->d->audit, cn->caller.uid, who, "connect", "(no account)");
                        refuse(fd, err->code, err->message);
                } else {
                        log_warning("rejecting a connection: %s", err->message);
                }
                error_free(err);
                conn_end(cn);
                return NULL;
        }
        return cn;
}

/* A connection an event loop passed on: with a request it read, or an answer it could not
 * send without waiting, or neither (the next request is still in the socket). */
struct handoff {
        struct conn *cn;
        json_t *req;
        char *answer;
        size_t answer_len;
};

static void *conn_thread(void *arg)
{
        struct handoff *h = arg;
        struct conn *cn = h->cn;
        struct rpc_server *s = cn->srv;
        bool ok = true;
        /* A client that stops reading must not hold this thread forever (the loops never
         * wait: they send with MSG_DONTWAIT). */
        struct timeval tv = {.tv_sec = 30};
        setsockopt(cn->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        if (h->answer)
                ok = proto_send(cn->fd, h->answer, h->answer_len, -1, NULL) == 0;
        else if (h->req)
                ok = answer(cn, h->req, -1);
        free(h->answer);
        free(h);
        if (ok)
                serve_rest(cn);
        conn_end(cn);
        stack_release();
        thread_done(s);
        return NULL;
}

/* The connection goes to a thread of its own (one that may wait: on Docker, on a client that
 * reads slowly, on an interactive session). Takes req and answer. */
static void hand_off(struct conn *cn, json_t *req, char *answer, size_t answer_len)
{
        struct handoff *h = xzalloc(sizeof(*h));
        *h = (struct handoff){cn, req, answer, answer_len};
        if (start_thread(cn->srv, conn_thread, h))
                return;
        refuse(cn->fd, DS01_ERESOURCE, "ds01d cannot start a thread - try again in a moment");
        json_decref(req);
        free(answer);
        free(h);
        conn_end(cn);
}

enum { CONN_KEEP, CONN_GONE };

/* A connection leaves its loop's epoll before anyone else may close it (its descriptor number
 * could otherwise be reused by a new connection while the loop still names it). */
static void leave_loop(int ep, struct conn *cn)
{
        if (cn->in_loop)
                epoll_ctl(ep, EPOLL_CTL_DEL, cn->fd, NULL);
        cn->in_loop = false;
}

/* Waits (in the loop's epoll) for the connection's next request; false if it had to be ended. */
static bool arm(int ep, struct conn *cn)
{
        struct epoll_event ev = {.events = EPOLLIN | EPOLLONESHOT, .data.ptr = cn};
        if (epoll_ctl(ep, cn->in_loop ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, cn->fd, &ev) == 0) {
                cn->in_loop = true;
                return true;
        }
        log_warning("connection loop: %s", strerror(errno));
        conn_end(cn); /* closing it takes it out of the epoll */
        return false;
}

/* A connection an event loop owns has something to read: a quick request is answered here,
 * anything else is handed off. CONN_GONE when the loop no longer owns it. Never waits. */
static int serve_ready(int ep, struct conn *cn)
{
        /* The datagram's size, kind and whether a descriptor came with it, without taking it
         * (no control buffer: MSG_CTRUNC tells of a descriptor without receiving it). */
        char kind;
        struct iovec piov = {.iov_base = &kind, .iov_len = 1};
        struct msghdr pmh = {.msg_iov = &piov, .msg_iovlen = 1};
        ssize_t want = recvmsg(cn->fd, &pmh, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT);
        if (want < 0 && (errno == EAGAIN || errno == EINTR))
                return CONN_KEEP;
        if (want <= 0) {      /* the client closed it (or it broke) */
                conn_end(cn); /* closing it takes it out of the epoll */
                return CONN_GONE;
        }
        atomic_store(&cn->waiting_ms, 0); /* a datagram is a whole request */
        if (kind != 'E' || want > QUICK_MAX || (pmh.msg_flags & MSG_CTRUNC)) {
                leave_loop(ep, cn);
                hand_off(cn, NULL, NULL, 0);
                return CONN_GONE;
        }
        char buf[QUICK_MAX];
        ssize_t k = recv(cn->fd, buf, sizeof(buf), MSG_DONTWAIT);
        json_t *req = k > 1 ? json_loadb(buf + 1, (size_t)k - 1, 0, NULL) : NULL;
        if (!json_is_object(req)) {
                if (k > 0)
                        refuse(cn->fd, DS01_EUSAGE, "malformed protocol message");
                json_decref(req);
                conn_end(cn); /* closing it takes it out of the epoll */
                return CONN_GONE;
        }
        const char *method = json_string_value(json_object_get(req, "method"));
        bool quick = methods_quick(method);
        if (quick) {
                struct ds01d v;
                ds01d_pin(cn->srv->d, &v);
                quick = snapshot_ready(&v);
                ds01d_unpin(&v);
        }
        if (!quick) {
                leave_loop(ep, cn);
                hand_off(cn, req, NULL, 0);
                return CONN_GONE;
        }
        int fd = -1;
        size_t len = 0;
        char *resp = serve_one(cn, req, -1, &fd, &len);
        json_decref(req);
        if (fd >= 0) /* quick methods pass none */
                close(fd);
        int sent = proto_try_send(cn->fd, resp, len);
        if (sent <= 0) {
                free(resp);
                if (sent == 0)
                        return CONN_KEEP;
                conn_end(cn); /* broken; closing it takes it out of the epoll */
                return CONN_GONE;
        }
        leave_loop(ep, cn);
        hand_off(cn, NULL, resp, len); /* a large answer, or a client not reading yet */
        return CONN_GONE;
}

/* Ends the connections that sent no request within FIRST_REQUEST_MS of being accepted (their
 * loop sees the end and lets them go). At most once per SWEEP_MS, by whichever loop is due. */
static void sweep_silent(struct rpc_server *s)
{
        int64_t now = mono_ms();
        long long last = atomic_load(&s->swept_ms);
        if (now - last < SWEEP_MS || !atomic_compare_exchange_strong(&s->swept_ms, &last, now))
                return;
        pthread_mutex_lock(&s->lock);
        for (int i = 0; i < RPC_MAX_CONNECTIONS; i++) {
                struct conn *cn = s->slot_conn[i];
                long long since = cn ? atomic_load(&cn->waiting_ms) : 0;
                if (!since || now - since < FIRST_REQUEST_MS ||
                    !atomic_compare_exchange_strong(&cn->waiting_ms, &since, 0))
                        continue;
                /* (closed only under s->lock: the descriptor is still this connection's) */
                _cleanup_free_ char *msg =
                    xasprintf("no request within %d s of connecting: ds01d closed the connection",
                              FIRST_REQUEST_MS / 1000);
                refuse(s->conns[i], DS01_EUSAGE, msg);
                shutdown(s->conns[i], SHUT_RDWR);
        }
        pthread_mutex_unlock(&s->lock);
}

/* Connections are served by a fixed set of event loops, one per CPU (at least 2). Each waits
 * in its own epoll on the listening socket (EPOLLEXCLUSIVE: the kernel wakes one loop per
 * connection) and on the connections it accepted. A quick request (M_QUICK: answered from
 * memory) is answered by the loop itself, so a burst of container-list calls costs no thread
 * and no context switch beyond the socket's; every other request, a request with a descriptor
 * or larger than QUICK_MAX, and an answer the client is not ready to take, move the connection
 * to a thread of its own, which serves it until it closes. A loop never waits on Docker. */
static void *loop_thread(void *arg)
{
        struct rpc_server *s = arg;
        int ep = epoll_create1(EPOLL_CLOEXEC);
        struct epoll_event lev = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = NULL};
        struct epoll_event sev = {.events = EPOLLIN, .data.ptr = &s->stop_fd};
        if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, s->fd, &lev) < 0 ||
            epoll_ctl(ep, EPOLL_CTL_ADD, s->stop_fd, &sev) < 0) {
                log_error("connection loop: epoll: %s", strerror(errno));
                if (ep >= 0)
                        close(ep);
                thread_done(s);
                return NULL;
        }
        size_t owned = 0;
        bool stopping = false;
        while (!stopping || owned > 0) {
                struct epoll_event evs[LOOP_EVENTS];
                int n = epoll_wait(ep, evs, LOOP_EVENTS, SWEEP_MS);
                if (!stopping)
                        sweep_silent(s);
                if (n < 0 && errno != EINTR) {
                        log_error("connection loop: epoll_wait: %s", strerror(errno));
                        break;
                }
                for (int i = 0; i < n; i++) {
                        void *p = evs[i].data.ptr;
                        if (p == &s->stop_fd) {
                                /* its connections get EOF from rpc_server_stop's shutdown */
                                stopping = true;
                                epoll_ctl(ep, EPOLL_CTL_DEL, s->stop_fd, NULL);
                                epoll_ctl(ep, EPOLL_CTL_DEL, s->fd, NULL);
                                continue;
                        }
                        /* A new connection's request is usually there by the time it is
                         * accepted and identified: answered at once, before it is armed. */
                        struct conn *cn = p ? p : accept_one(s);
                        if (!cn)
                                continue;
                        if (!p)
                                owned++;
                        if (serve_ready(ep, cn) == CONN_GONE || !arm(ep, cn))
                                owned--;
                }
        }
        close(ep);
        thread_done(s);
        return NULL;
}

int rpc_server_start(struct rpc_server *s, struct error **err)
{
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        size_t n = cpus < 2 ? 2 : cpus > 16 ? 16 : (size_t)cpus;
        for (s->n_loops = 0; s->n_loops < n; s->n_loops++)
                if (!start_thread(s, loop_thread, s))
                        break;
        if (s->n_loops == 0)
                return error_set(err, DS01_ERR, "cannot start the connection threads");
        return 0;
}

struct rpc_server *rpc_server_new(struct ds01d *d, struct error **err)
{
        struct ds01d v;
        ds01d_pin(d, &v);
        _cleanup_free_ char *path = xstrdup(v.cfg->socket);
        ds01d_unpin(&v);
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        if (strlen(path) >= sizeof(sa.sun_path)) {
                error_set(err, DS01_ERR, "socket path too long: %s", path);
                return NULL;
        }
        strcpy(sa.sun_path, path);
        _cleanup_free_ char *dir = xstrdup(path);
        char *slash = strrchr(dir, '/');
        if (slash && slash != dir) {
                *slash = '\0';
                if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
                        error_set_errno(err, errno, "creating %s", dir);
                        return NULL;
                }
        }
        /* A stale socket from a previous run is replaced; anything else at that path is not. */
        struct stat st;
        if (lstat(path, &st) == 0) {
                if (!S_ISSOCK(st.st_mode)) {
                        error_set(err, DS01_ERR, "%s exists and is not a socket - remove it", path);
                        return NULL;
                }
                int probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
                if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
                        close(probe);
                        error_set(err, DS01_ERR,
                                  "another ds01d is already serving %s - stop it first, or give "
                                  "this one its own socket",
                                  path);
                        return NULL;
                }
                if (probe >= 0)
                        close(probe);
                unlink(path);
        }
        int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
                error_set_errno(err, errno, "creating the socket");
                return NULL;
        }
        mode_t old = umask(0);
        int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
        umask(old);
        if (r < 0 || chmod(path, 0666) < 0 || listen(fd, 128) < 0) {
                error_set_errno(err, errno, "listening on %s", path);
                close(fd);
                return NULL;
        }
        int stop_fd = eventfd(0, EFD_CLOEXEC);
        if (stop_fd < 0) {
                error_set_errno(err, errno, "eventfd");
                close(fd);
                return NULL;
        }
        struct rpc_server *s = xzalloc(sizeof(*s));
        s->d = d;
        s->fd = fd;
        s->stop_fd = stop_fd;
        s->path = xstrdup(path);
        for (int i = 0; i < RPC_MAX_CONNECTIONS; i++)
                s->conns[i] = -1;
        pthread_mutex_init(&s->lock, NULL);
        pthread_cond_init(&s->cond, NULL);
        pthread_mutex_init(&s->rate_lock, NULL);
        s->peers = peers_new();
        /* Up to RPC_MAX_CONNECTIONS connections, each a descriptor (a session holds two). */
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 4 * RPC_MAX_CONNECTIONS &&
            rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur =
                    rl.rlim_max < 4 * RPC_MAX_CONNECTIONS ? rl.rlim_max : 4 * RPC_MAX_CONNECTIONS;
                (void)setrlimit(RLIMIT_NOFILE, &rl);
        }
        return s;
}

size_t rpc_server_stop(struct rpc_server *s, int timeout_ms)
{
        unlink(s->path);
        pthread_mutex_lock(&s->lock);
        s->stopping = true;
        uint64_t one = 1;
        if (write(s->stop_fd, &one, sizeof(one)) != sizeof(one))
                log_warning("waking the connection threads: %s", strerror(errno));
        /* Wake every connection thread: its recv() returns EOF and it ends. A request being
         * handled finishes first (its Docker call is not interrupted). */
        for (int i = 0; i < RPC_MAX_CONNECTIONS; i++)
                if (s->conns[i] >= 0)
                        shutdown(s->conns[i], SHUT_RD);
        struct timespec deadline;
        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_sec += timeout_ms / 1000;
        deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
                deadline.tv_sec++;
                deadline.tv_nsec -= 1000000000L;
        }
        while (s->n_conns > 0 || s->n_threads > 0)
                if (pthread_cond_timedwait(&s->cond, &s->lock, &deadline) == ETIMEDOUT)
                        break;
        size_t left = s->n_conns > s->n_threads ? s->n_conns : s->n_threads;
        pthread_mutex_unlock(&s->lock);
        close(s->fd);
        if (left > 0) {
                /* Threads still inside a handler keep using the daemon's state: leave the
                 * server (and the caller must leave the state) allocated; the process exits. */
                log_warning("%zu connection(s) still busy at shutdown", left);
                return left;
        }
        pthread_mutex_destroy(&s->lock);
        pthread_cond_destroy(&s->cond);
        pthread_mutex_destroy(&s->rate_lock);
        s->peers = peers_free(s->peers);
        close(s->stop_fd);
        free(s->path);
        free(s);
        return 0;
}
