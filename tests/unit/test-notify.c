/* test-notify.c - the alerts file (written only where it is safe to) and the webhook (against a
 * tiny HTTP server on 127.0.0.1). Terminals need a logged-in user and are left to integration
 * tests. The tests run as root, so a workspace can be handed to a made-up uid. */
#include "daemon/observe/notify.h"
#include "shared/strbuf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cmocka.h>

#define FAKE_UID 4242
#define FAKE_GID 4343

static char *make_workspace(uid_t uid, gid_t gid)
{
        char tmpl[] = "/tmp/ds01-notify-XXXXXX";
        assert_non_null(mkdtemp(tmpl));
        assert_int_equal(chown(tmpl, uid, gid), 0);
        return xstrdup(tmpl);
}

static void remove_tree(const char *dir)
{
        _cleanup_free_ char *cmd = xasprintf("rm -rf '%s'", dir);
        assert_int_equal(system(cmd), 0);
}

static char *read_file(const char *path)
{
        FILE *f = fopen(path, "re");
        if (!f)
                return NULL;
        struct strbuf sb = STRBUF_INIT;
        strbuf_adds(&sb, "");
        char buf[4096];
        size_t r;
        while ((r = fread(buf, 1, sizeof(buf), f)) > 0)
                strbuf_add(&sb, buf, r);
        fclose(f);
        return strbuf_detach(&sb);
}

static void write_file(const char *path, const char *content)
{
        FILE *f = fopen(path, "we");
        assert_non_null(f);
        fputs(content, f);
        fclose(f);
}

static struct notify_msg msg(const char *ws, uid_t uid, gid_t gid, const char *event,
                             const char *text)
{
        return (struct notify_msg){
            .uid = uid,
            .gid = gid,
            .login = "ds01-nobody-here", /* no terminals */
            .container = "proj._.alice",
            .project = "proj",
            .workspace = ws,
            .event = event,
            .text = text,
        };
}

static size_t count_lines(const char *s)
{
        size_t n = 0;
        for (; *s; s++)
                n += *s == '\n';
        return n;
}

/* ---- alerts file ---- */

static void test_alerts_appended(void **state)
{
        (void)state;
        _cleanup_free_ char *ws = make_workspace(FAKE_UID, FAKE_GID);
        _cleanup_free_ char *path = xasprintf("%s/.ds01-alerts", ws);
        struct error *err = NULL;
        struct notify *n = notify_new(NULL, &err);
        assert_non_null(n);
        assert_null(err);

        struct notify_msg m = msg(ws, FAKE_UID, FAKE_GID, "idle_warning",
                                  "idle for 3h; stops in 45m.\nTouch .keep-alive to keep it.");
        notify_send(n, &m);
        m.event = "idle_stop";
        m.text = "stopped after 4h idle";
        notify_send(n, &m);

        struct stat st;
        assert_int_equal(lstat(path, &st), 0);
        assert_true(S_ISREG(st.st_mode));
        assert_int_equal(st.st_uid, FAKE_UID);
        assert_int_equal(st.st_gid, FAKE_GID);
        assert_int_equal(st.st_mode & 07777, 0600);

        _cleanup_free_ char *content = read_file(path);
        assert_non_null(content);
        assert_int_equal(count_lines(content), 2);
        char *second = strchr(content, '\n') + 1;
        /* "2026-11-28T15:46:43Z idle_warning proj._.alice: ..." */
        assert_int_equal(content[4], '-');
        assert_int_equal(content[19], 'Z');
        assert_non_null(strstr(content, " idle_warning proj._.alice: idle for 3h; stops in 45m. "
                                        "Touch .keep-alive to keep it.\n"));
        assert_non_null(strstr(second, " idle_stop proj._.alice: stopped after 4h idle\n"));

        n = notify_free(n);
        assert_null(n);
        remove_tree(ws);
}

static void test_alerts_uid0_workspace(void **state)
{
        (void)state;
        /* The user is root itself: the file is ours from the start. */
        _cleanup_free_ char *ws = make_workspace(0, 0);
        _cleanup_free_ char *path = xasprintf("%s/.ds01-alerts", ws);
        struct notify *n = notify_new("", NULL);
        struct notify_msg m = msg(ws, 0, 0, "runtime_warning", "runtime cap in 1h");
        notify_send(n, &m);
        notify_send(n, &m);
        notify_send(n, &m);
        _cleanup_free_ char *content = read_file(path);
        assert_non_null(content);
        assert_int_equal(count_lines(content), 3);
        notify_free(n);
        remove_tree(ws);
}

static void test_alerts_symlink_not_followed(void **state)
{
        (void)state;
        _cleanup_free_ char *ws = make_workspace(FAKE_UID, FAKE_GID);
        _cleanup_free_ char *outside = make_workspace(0, 0);
        _cleanup_free_ char *target = xasprintf("%s/x", outside);
        _cleanup_free_ char *dangling = xasprintf("%s/not-there", outside);
        _cleanup_free_ char *path = xasprintf("%s/.ds01-alerts", ws);
        write_file(target, "precious\n");
        assert_int_equal(symlink(target, path), 0);

        struct notify *n = notify_new(NULL, NULL);
        struct notify_msg m = msg(ws, FAKE_UID, FAKE_GID, "idle_stop", "stopped");
        notify_send(n, &m);
        _cleanup_free_ char *content = read_file(target);
        assert_string_equal(content, "precious\n");
        struct stat st;
        assert_int_equal(stat(target, &st), 0);
        assert_int_equal(st.st_uid, 0); /* not handed to the user either */

        /* A dangling symlink is not created through either. */
        assert_int_equal(unlink(path), 0);
        assert_int_equal(symlink(dangling, path), 0);
        notify_send(n, &m);
        assert_int_equal(access(dangling, F_OK), -1);
        assert_int_equal(errno, ENOENT);

        notify_free(n);
        remove_tree(ws);
        remove_tree(outside);
}

static void test_alerts_hardlink_not_written(void **state)
{
        (void)state;
        _cleanup_free_ char *ws = make_workspace(FAKE_UID, FAKE_GID);
        _cleanup_free_ char *other = xasprintf("%s/shadow", ws);
        _cleanup_free_ char *path = xasprintf("%s/.ds01-alerts", ws);
        write_file(other, "");
        assert_int_equal(chown(other, FAKE_UID, FAKE_GID), 0);
        assert_int_equal(link(other, path), 0);

        struct notify *n = notify_new(NULL, NULL);
        struct notify_msg m = msg(ws, FAKE_UID, FAKE_GID, "idle_stop", "stopped");
        notify_send(n, &m);
        _cleanup_free_ char *content = read_file(other);
        assert_string_equal(content, "");
        notify_free(n);
        remove_tree(ws);
}

static void test_alerts_foreign_workspace_skipped(void **state)
{
        (void)state;
        /* The workspace belongs to someone else: nothing is created there. */
        _cleanup_free_ char *ws = make_workspace(FAKE_UID + 1, FAKE_GID);
        _cleanup_free_ char *path = xasprintf("%s/.ds01-alerts", ws);
        struct notify *n = notify_new(NULL, NULL);
        struct notify_msg m = msg(ws, FAKE_UID, FAKE_GID, "idle_stop", "stopped");
        notify_send(n, &m);
        notify_send(n, &m); /* logged once, still skipped */
        assert_int_equal(access(path, F_OK), -1);
        notify_free(n);
        remove_tree(ws);
}

static void test_alerts_foreign_file_skipped(void **state)
{
        (void)state;
        /* A non-empty file owned by root (or anyone else) is never taken over. */
        _cleanup_free_ char *ws = make_workspace(FAKE_UID, FAKE_GID);
        _cleanup_free_ char *path = xasprintf("%s/.ds01-alerts", ws);
        write_file(path, "root's\n");
        struct notify *n = notify_new(NULL, NULL);
        struct notify_msg m = msg(ws, FAKE_UID, FAKE_GID, "idle_stop", "stopped");
        notify_send(n, &m);
        _cleanup_free_ char *content = read_file(path);
        assert_string_equal(content, "root's\n");
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_uid, 0);
        notify_free(n);
        remove_tree(ws);
}

static void test_alerts_bounded(void **state)
{
        (void)state;
        _cleanup_free_ char *ws = make_workspace(FAKE_UID, FAKE_GID);
        _cleanup_free_ char *path = xasprintf("%s/.ds01-alerts", ws);
        int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, 2 * 1024 * 1024), 0);
        assert_int_equal(fchown(fd, FAKE_UID, FAKE_GID), 0);
        close(fd);

        struct notify *n = notify_new(NULL, NULL);
        struct notify_msg m = msg(ws, FAKE_UID, FAKE_GID, "idle_stop", "stopped");
        notify_send(n, &m);
        notify_send(n, &m);
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_size, 2 * 1024 * 1024);
        notify_free(n);
        remove_tree(ws);
}

/* ---- webhook ---- */

#define MAX_REQS 16

struct request {
        char *request_line;
        char *content_type;
        char *body;
};

struct server {
        int fd;
        int port;
        int expected; /* stop after this many requests once the client hangs up */
        int n_reqs;
        struct request reqs[MAX_REQS];
        pthread_t thread;
};

static int listen_local(int *ret_port)
{
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(listen(fd, 16), 0);
        socklen_t len = sizeof(sa);
        assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
        *ret_port = ntohs(sa.sin_port);
        return fd;
}

/* Reads more into sb with a 10 s limit; false on EOF, error or timeout. */
static bool read_more(int fd, struct strbuf *sb)
{
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 10000) <= 0)
                return false;
        char buf[4096];
        ssize_t r = read(fd, buf, sizeof(buf));
        if (r <= 0)
                return false;
        strbuf_add(sb, buf, (size_t)r);
        return true;
}

static char *header_value(const char *head, const char *name)
{
        size_t nl = strlen(name);
        for (const char *line = strstr(head, "\r\n"); line; line = strstr(line, "\r\n")) {
                line += 2;
                if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
                        const char *v = line + nl + 1;
                        v += strspn(v, " \t");
                        return xstrndup(v, strcspn(v, "\r\n"));
                }
        }
        return NULL;
}

/* Serves one connection (keep-alive: several requests) until the client hangs up. */
static void serve_connection(struct server *s, int c)
{
        struct strbuf sb = STRBUF_INIT;
        strbuf_adds(&sb, "");
        for (;;) {
                char *end;
                while (!(end = strstr(strbuf_str(&sb), "\r\n\r\n")))
                        if (!read_more(c, &sb))
                                goto out;
                size_t head_len = (size_t)(end - sb.buf) + 4;
                _cleanup_free_ char *head = xstrndup(sb.buf, head_len);
                _cleanup_free_ char *cl = header_value(head, "Content-Length");
                size_t body_len = cl ? strtoul(cl, NULL, 10) : 0;
                while (sb.len < head_len + body_len)
                        if (!read_more(c, &sb))
                                goto out;
                if (s->n_reqs++ < MAX_REQS) {
                        struct request *r = &s->reqs[s->n_reqs - 1];
                        r->request_line = xstrndup(head, strcspn(head, "\r\n"));
                        r->content_type = header_value(head, "Content-Type");
                        r->body = xstrndup(sb.buf + head_len, body_len);
                }
                static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
                if (write_all(c, answer, strlen(answer)) < 0)
                        break;
                /* keep what follows the body (pipelining) */
                size_t rest = sb.len - head_len - body_len;
                memmove(sb.buf, sb.buf + head_len + body_len, rest + 1);
                sb.len = rest;
        }
out:
        strbuf_release(&sb);
}

static void *server_main(void *arg)
{
        struct server *s = arg;
        while (s->n_reqs < s->expected) {
                struct pollfd p = {.fd = s->fd, .events = POLLIN};
                if (poll(&p, 1, 10000) <= 0)
                        break;
                int c = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC);
                if (c < 0)
                        break;
                serve_connection(s, c);
                close(c);
        }
        return NULL;
}

static void test_webhook_posts_json(void **state)
{
        (void)state;
        struct server s = {.expected = 2};
        s.fd = listen_local(&s.port);
        assert_int_equal(pthread_create(&s.thread, NULL, server_main, &s), 0);

        _cleanup_free_ char *url = xasprintf("http://127.0.0.1:%d/hook", s.port);
        struct error *err = NULL;
        struct notify *n = notify_new(url, &err);
        assert_null(err);
        assert_non_null(n);

        json_t *details = json_pack("{s:i, s:s}", "idle_minutes", 180, "gpu", "0");
        struct notify_msg m = msg(NULL, FAKE_UID, FAKE_GID, "idle_warning", "idle for 3h");
        m.login = "alice";
        m.details = details;
        notify_send(n, &m);
        m.event = "idle_stop";
        m.text = "stopped \"proj\" after 4h idle\nbye";
        m.details = NULL;
        notify_send(n, &m);
        json_decref(details);
        n = notify_free(n); /* sends what is queued first */

        pthread_join(s.thread, NULL);
        close(s.fd);
        assert_int_equal(s.n_reqs, 2);

        const char *events[] = {"idle_warning", "idle_stop"};
        const char *texts[] = {"ds01: idle for 3h", "ds01: stopped \"proj\" after 4h idle\nbye"};
        for (int i = 0; i < 2; i++) {
                struct request *r = &s.reqs[i];
                assert_string_equal(r->request_line, "POST /hook HTTP/1.1");
                assert_non_null(r->content_type);
                assert_string_equal(r->content_type, "application/json");
                json_error_t jerr;
                json_t *o = json_loads(r->body, 0, &jerr);
                assert_non_null(o);
                assert_string_equal(json_string_value(json_object_get(o, "text")), texts[i]);
                assert_string_equal(json_string_value(json_object_get(o, "event")), events[i]);
                assert_string_equal(json_string_value(json_object_get(o, "user")), "alice");
                assert_string_equal(json_string_value(json_object_get(o, "container")),
                                    "proj._.alice");
                assert_string_equal(json_string_value(json_object_get(o, "project")), "proj");
                assert_non_null(json_string_value(json_object_get(o, "host")));
                const char *ts = json_string_value(json_object_get(o, "timestamp"));
                assert_non_null(ts);
                assert_int_equal(strlen(ts), 20);
                if (i == 0)
                        assert_int_equal(json_integer_value(json_object_get(
                                             json_object_get(o, "details"), "idle_minutes")),
                                         180);
                json_decref(o);
                free(r->request_line);
                free(r->content_type);
                free(r->body);
        }
}

struct sender {
        struct notify *n;
        const char *ws;
};

static void *sender_main(void *arg)
{
        struct sender *snd = arg;
        struct notify_msg m = msg(snd->ws, FAKE_UID, FAKE_GID, "idle_warning", "idle for 3h");
        for (int i = 0; i < 50; i++)
                notify_send(snd->n, &m);
        return NULL;
}

static void test_concurrent_senders(void **state)
{
        (void)state;
        /* 4 threads x 50 messages: every line lands whole, every POST arrives. */
        struct server s = {.expected = 200};
        s.fd = listen_local(&s.port);
        assert_int_equal(pthread_create(&s.thread, NULL, server_main, &s), 0);
        _cleanup_free_ char *ws = make_workspace(FAKE_UID, FAKE_GID);
        _cleanup_free_ char *path = xasprintf("%s/.ds01-alerts", ws);
        _cleanup_free_ char *url = xasprintf("http://127.0.0.1:%d/hook", s.port);
        struct notify *n = notify_new(url, NULL);
        assert_non_null(n);

        struct sender snd = {.n = n, .ws = ws};
        pthread_t t[4];
        for (size_t i = 0; i < ARRAY_SIZE(t); i++)
                assert_int_equal(pthread_create(&t[i], NULL, sender_main, &snd), 0);
        for (size_t i = 0; i < ARRAY_SIZE(t); i++)
                pthread_join(t[i], NULL);
        notify_free(n);
        pthread_join(s.thread, NULL);
        close(s.fd);

        assert_int_equal(s.n_reqs, 200);
        for (int i = 0; i < MAX_REQS; i++) {
                free(s.reqs[i].request_line);
                free(s.reqs[i].content_type);
                free(s.reqs[i].body);
        }
        _cleanup_free_ char *content = read_file(path);
        assert_non_null(content);
        assert_int_equal(count_lines(content), 200);
        static const char want[] = " idle_warning proj._.alice: idle for 3h\n";
        for (const char *line = content; *line; line = strchr(line, '\n') + 1) {
                /* "<20-byte timestamp><want>", never two lines run together */
                assert_true(strlen(line) >= 20 + strlen(want));
                assert_memory_equal(line + 20, want, strlen(want));
        }
        remove_tree(ws);
}

static void test_webhook_never_blocks(void **state)
{
        (void)state;
        /* Connections complete in the backlog but nobody ever answers. */
        int port;
        int fd = listen_local(&port);
        _cleanup_free_ char *url = xasprintf("http://127.0.0.1:%d/hook", port);
        struct notify *n = notify_new(url, NULL);
        assert_non_null(n);

        struct notify_msg m = msg(NULL, FAKE_UID, FAKE_GID, "idle_warning", "idle for 3h");
        int64_t t0 = mono_ms();
        for (int i = 0; i < 10; i++)
                notify_send(n, &m);
        int64_t spent = mono_ms() - t0;
        assert_true(spent < 50);

        /* Closing the listener resets the pending connection, so shutdown is quick; it must
         * in any case stay within its few seconds. */
        close(fd);
        t0 = mono_ms();
        notify_free(n);
        assert_true(mono_ms() - t0 < 6500);
}

static void test_webhook_shutdown_bounded(void **state)
{
        (void)state;
        /* Nobody answers and the listener stays open: notify_free gives up after ~5 s. */
        int port;
        int fd = listen_local(&port);
        _cleanup_free_ char *url = xasprintf("http://127.0.0.1:%d/hook", port);
        struct notify *n = notify_new(url, NULL);
        struct notify_msg m = msg(NULL, FAKE_UID, FAKE_GID, "idle_warning", "idle for 3h");
        for (int i = 0; i < 300; i++) /* more than the queue holds: the oldest are dropped */
                notify_send(n, &m);
        int64_t t0 = mono_ms();
        notify_free(n);
        assert_true(mono_ms() - t0 < 6500);
        close(fd);
}

static void test_webhook_url_checked(void **state)
{
        (void)state;
        struct error *err = NULL;
        assert_null(notify_new("ftp://x", &err));
        assert_non_null(err);
        assert_non_null(strstr(err->message, "ftp://x"));
        assert_non_null(strstr(err->message, "http://"));
        assert_non_null(strstr(err->message, "https://"));
        err = error_free(err);

        assert_null(notify_new("http://", &err));
        assert_non_null(err);
        assert_non_null(strstr(err->message, "no host"));
        err = error_free(err);

        assert_null(notify_new("https://exa mple.org/x", &err));
        assert_non_null(err);
        err = error_free(err);

        struct notify *n = notify_new("HTTPS://hooks.example.org/services/T0/B0/secret", &err);
        assert_null(err);
        assert_non_null(n);
        notify_free(n);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_alerts_appended),
            cmocka_unit_test(test_alerts_uid0_workspace),
            cmocka_unit_test(test_alerts_symlink_not_followed),
            cmocka_unit_test(test_alerts_hardlink_not_written),
            cmocka_unit_test(test_alerts_foreign_workspace_skipped),
            cmocka_unit_test(test_alerts_foreign_file_skipped),
            cmocka_unit_test(test_alerts_bounded),
            cmocka_unit_test(test_webhook_posts_json),
            cmocka_unit_test(test_concurrent_senders),
            cmocka_unit_test(test_webhook_never_blocks),
            cmocka_unit_test(test_webhook_shutdown_bounded),
            cmocka_unit_test(test_webhook_url_checked),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
