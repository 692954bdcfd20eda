#include "proto.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/un.h>

int proto_send(int sock, const char *data, size_t len, int pass_fd, struct error **err)
{
        size_t off = 0;
        int r = 0;
        do {
                size_t n = len - off > PROTO_FRAGMENT ? PROTO_FRAGMENT : len - off;
                bool last = off + n == len;
                char kind = last ? 'E' : 'M';
                struct iovec iov[2] = {{.iov_base = &kind, .iov_len = 1},
                                       {.iov_base = (char *)data + off, .iov_len = n}};
                union {
                        struct cmsghdr h;
                        char buf[CMSG_SPACE(sizeof(int))];
                } ctl;
                struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
                if (last && pass_fd >= 0) {
                        memset(&ctl, 0, sizeof(ctl));
                        mh.msg_control = ctl.buf;
                        mh.msg_controllen = sizeof(ctl.buf);
                        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
                        c->cmsg_level = SOL_SOCKET;
                        c->cmsg_type = SCM_RIGHTS;
                        c->cmsg_len = CMSG_LEN(sizeof(int));
                        memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
                }
                ssize_t k;
                do
                        k = sendmsg(sock, &mh, MSG_NOSIGNAL);
                while (k < 0 && errno == EINTR);
                if (k < 0) {
                        r = error_set_errno(err, errno, "sending to the ds01 socket");
                        break;
                }
                off += n;
        } while (off < len);
        return r;
}

int proto_try_send(int sock, const char *data, size_t len)
{
        if (len > PROTO_FRAGMENT)
                return 1;
        char kind = 'E';
        struct iovec iov[2] = {{.iov_base = &kind, .iov_len = 1},
                               {.iov_base = (char *)data, .iov_len = len}};
        struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
        ssize_t k;
        do
                k = sendmsg(sock, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
        while (k < 0 && errno == EINTR);
        if (k == (ssize_t)len + 1)
                return 0;
        return k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? 1 : -1;
}

int proto_send_json(int sock, const json_t *msg, int pass_fd, struct error **err)
{
        _cleanup_free_ char *s = json_dumps(msg, JSON_COMPACT);
        if (!s)
                return error_set(err, DS01_ERR, "cannot encode a protocol message");
        return proto_send(sock, s, strlen(s), pass_fd, err);
}

int proto_recv(int sock, size_t max, char **ret_data, size_t *ret_len, int *ret_fd,
               struct error **err)
{
        char small[4096]; /* most fragments; larger ones get a full-size buffer */
        char *big = NULL, *frag = small;
        char *data = NULL;
        size_t len = 0;
        int fd = -1, r = -1;
        for (;;) {
                /* The fragment's size first (MSG_TRUNC reports the datagram's real length),
                 * so a short message never needs a 60 KiB buffer. */
                char one;
                struct iovec piov = {.iov_base = &one, .iov_len = 1};
                struct msghdr pmh = {.msg_iov = &piov, .msg_iovlen = 1};
                ssize_t want;
                do
                        want = recvmsg(sock, &pmh, MSG_PEEK | MSG_TRUNC);
                while (want < 0 && errno == EINTR);
                size_t cap = sizeof(small);
                frag = small;
                if (want > (ssize_t)sizeof(small)) {
                        if (!big)
                                big = xmalloc(PROTO_FRAGMENT + 2);
                        frag = big;
                        cap = PROTO_FRAGMENT + 2;
                }
                struct iovec iov = {.iov_base = frag, .iov_len = cap};
                union {
                        struct cmsghdr h;
                        char buf[CMSG_SPACE(sizeof(int) * 4)];
                } ctl;
                struct msghdr mh = {.msg_iov = &iov,
                                    .msg_iovlen = 1,
                                    .msg_control = ctl.buf,
                                    .msg_controllen = sizeof(ctl.buf)};
                ssize_t k;
                do
                        k = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
                while (k < 0 && errno == EINTR);
                if (k < 0) {
                        error_set_errno(err, errno, "reading from the ds01 socket");
                        goto out;
                }
                for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
                        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                                continue;
                        size_t nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                        for (size_t i = 0; i < nfd; i++) {
                                int got;
                                memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                                if (fd < 0)
                                        fd = got;
                                else
                                        close(got);
                        }
                }
                if (k == 0) {
                        if (len == 0 && !data) {
                                r = 1;
                                goto out;
                        }
                        error_set(err, DS01_ERR,
                                  "the ds01 socket closed in the middle of a message");
                        goto out;
                }
                if (mh.msg_flags & MSG_TRUNC || (size_t)k > PROTO_FRAGMENT + 1 ||
                    (frag[0] != 'M' && frag[0] != 'E')) {
                        error_set(err, DS01_EUSAGE, "malformed protocol message");
                        goto out;
                }
                size_t n = (size_t)k - 1;
                if (len + n > max) {
                        error_set(err, DS01_EUSAGE, "protocol message larger than %zu bytes", max);
                        goto out;
                }
                data = xrealloc(data, len + n + 1);
                memcpy(data + len, frag + 1, n);
                len += n;
                data[len] = '\0';
                if (frag[0] == 'E')
                        break;
        }
        *ret_data = data;
        *ret_len = len;
        data = NULL;
        if (ret_fd) {
                *ret_fd = fd;
                fd = -1;
        }
        r = 0;
out:
        if (fd >= 0)
                close(fd);
        free(data);
        free(big);
        return r;
}

int proto_recv_json(int sock, size_t max, json_t **ret_msg, int *ret_fd, struct error **err)
{
        _cleanup_free_ char *data = NULL;
        size_t len;
        int fd = -1;
        int r = proto_recv(sock, max, &data, &len, &fd, err);
        if (r != 0)
                return r;
        json_error_t je;
        json_t *msg = json_loadb(data, len, 0, &je);
        if (!msg || !json_is_object(msg)) {
                json_decref(msg);
                if (fd >= 0)
                        close(fd);
                return error_set(err, DS01_EUSAGE, "malformed protocol message: %s",
                                 msg ? "not an object" : je.text);
        }
        *ret_msg = msg;
        if (ret_fd)
                *ret_fd = fd;
        else if (fd >= 0)
                close(fd);
        return 0;
}

int proto_connect(const char *path, struct error **err)
{
        if (!path)
                path = getenv("DS01_SOCKET");
        if (!path || !*path)
                path = PROTO_DEFAULT_SOCKET;
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        if (strlen(path) >= sizeof(sa.sun_path))
                return error_set(err, DS01_EUSAGE, "socket path too long: %s", path);
        strcpy(sa.sun_path, path);
        int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return error_set_errno(err, errno, "creating a socket");
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                int e = errno;
                close(fd);
                return error_set(err, DS01_ERR,
                                 "cannot reach the ds01 daemon at %s: %s (is ds01d running? an "
                                 "administrator starts it with 'make up' or 'ds01d')",
                                 path, strerror(e));
        }
        return fd;
}

/* The daemon may refuse a connection (too many requests in flight) and close it before the
 * request is sent: then the refusal is waiting to be read, and says more than "broken pipe". */
static int send_request(int sock, const json_t *req, int pass_fd, struct error **err)
{
        struct error *serr = NULL;
        if (proto_send_json(sock, req, pass_fd, &serr) == 0)
                return 0;
        json_t *resp = NULL;
        if (proto_recv_json(sock, PROTO_MAX_RESPONSE, &resp, NULL, NULL) == 0) {
                json_t *e = json_object_get(resp, "error");
                const char *m = json_string_value(json_object_get(e, "message"));
                json_int_t code = json_integer_value(json_object_get(e, "code"));
                if (m) {
                        error_set(err, error_code_known(code) ? (int)code : DS01_ERR, "%s", m);
                        json_decref(resp);
                        error_free(serr);
                        return -1;
                }
                json_decref(resp);
        }
        error_set(err, serr->code, "%s", serr->message);
        error_free(serr);
        return -1;
}

int proto_call(int sock, const char *method, json_t *params, json_t **ret_result, int *ret_fd,
               json_t **ret_notices, struct error **err)
{
        json_t *req = json_pack("{s:i, s:s, s:o}", "v", PROTO_VERSION, "method", method, "params",
                                params ? params : json_object());
        int r = send_request(sock, req, -1, err);
        json_decref(req);
        if (r < 0)
                return -1;
        json_t *resp = NULL;
        int fd = -1;
        r = proto_recv_json(sock, PROTO_MAX_RESPONSE, &resp, &fd, err);
        if (r == 1)
                return error_set(err, DS01_ERR, "the ds01 daemon closed the connection");
        if (r < 0)
                return -1;
        if (!json_is_true(json_object_get(resp, "ok"))) {
                json_t *e = json_object_get(resp, "error");
                json_int_t code = json_integer_value(json_object_get(e, "code"));
                const char *m = json_string_value(json_object_get(e, "message"));
                error_set(err, error_code_known(code) ? (int)code : DS01_ERR, "%s",
                          m ? m : "unknown error from the ds01 daemon");
                if (fd >= 0)
                        close(fd);
                json_decref(resp);
                return -1;
        }
        json_t *res = json_object_get(resp, "result");
        *ret_result = json_incref(res ? res : json_object_get(resp, "ok"));
        if (!res) {
                json_decref(*ret_result);
                *ret_result = json_object();
        }
        if (ret_notices) {
                json_t *n = json_object_get(resp, "notices");
                *ret_notices = n ? json_incref(n) : NULL;
        }
        if (ret_fd)
                *ret_fd = fd;
        else if (fd >= 0)
                close(fd);
        json_decref(resp);
        return 0;
}

int proto_call_stream(int sock, const char *method, json_t *params, int pass_fd,
                      proto_progress_fn on_progress, void *userdata, json_t **ret_result,
                      json_t **ret_notices, struct error **err)
{
        json_t *req = json_pack("{s:i, s:s, s:o}", "v", PROTO_VERSION, "method", method, "params",
                                params ? params : json_object());
        int r = send_request(sock, req, pass_fd, err);
        json_decref(req);
        if (r < 0)
                return -1;
        for (;;) {
                json_t *resp = NULL;
                r = proto_recv_json(sock, PROTO_MAX_RESPONSE, &resp, NULL, err);
                if (r == 1)
                        return error_set(err, DS01_ERR, "the ds01 daemon closed the connection");
                if (r < 0)
                        return -1;
                json_t *progress = json_object_get(resp, "progress");
                if (progress) {
                        int stop = on_progress ? on_progress(userdata, progress) : 0;
                        json_decref(resp);
                        if (stop)
                                return -1;
                        continue;
                }
                if (!json_is_true(json_object_get(resp, "ok"))) {
                        json_t *e = json_object_get(resp, "error");
                        json_int_t code = json_integer_value(json_object_get(e, "code"));
                        const char *m = json_string_value(json_object_get(e, "message"));
                        error_set(err, error_code_known(code) ? (int)code : DS01_ERR, "%s",
                                  m ? m : "unknown error from the ds01 daemon");
                        json_decref(resp);
                        return -1;
                }
                json_t *res = json_object_get(resp, "result");
                *ret_result = res ? json_incref(res) : json_object();
                if (ret_notices) {
                        json_t *n = json_object_get(resp, "notices");
                        *ret_notices = n ? json_incref(n) : NULL;
                }
                json_decref(resp);
                return 0;
        }
}
