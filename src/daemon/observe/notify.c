/* notify.c - warnings and stops reach the user where they are.
 *
 * Terminals and the alerts file are written synchronously by the caller, but never block: ttys
 * are opened O_NONBLOCK (a full or stuck terminal drops the line) and the alerts file is a local
 * append. The webhook is sent by one worker thread from a bounded queue, so notify_send never
 * waits for the network.
 *
 * Everything written on the user's behalf is checked after open() against the fd (fstat), never
 * against the path: ttys must be character devices owned by the user; the alerts file must be a
 * regular file with one link, owned by the user, inside a workspace the user owns, and is never
 * reached through a symlink, a magic link or a mount (userpath.h). */
#include "daemon/observe/notify.h"

#include "daemon/containers/userpath.h"

#include "shared/log.h"
#include "shared/strbuf.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <utmpx.h>

#define QUEUE_MAX            256 /* webhook messages waiting for the worker */
#define ALERTS_FILE          ".ds01-alerts"
#define ALERTS_MAX_BYTES     (1024 * 1024) /* the file is not appended to beyond this */
#define TERMINALS_MAX        64            /* ttys written per message */
#define TEXT_MAX             4096          /* bytes of text kept for a terminal or a line */
#define LOG_ONCE_MAX         1024          /* distinct causes remembered by warn_once */
#define HTTP_TIMEOUT_MS      5000L         /* a whole webhook request */
#define HTTP_CONNECT_MS      2000L         /* its connection */
#define HTTP_RETRY_PAUSE_MS  1000          /* before the single retry */
#define SHUTDOWN_WAIT_MS     5000          /* notify_free drains the queue at most this long */
#define WEBHOOK_LOG_EVERY_MS (60 * 1000)   /* failures of one URL are logged this often */

struct notify {
        pthread_mutex_t lock; /* everything below but the worker-only fields */
        pthread_cond_t cond;  /* queue non-empty, or stopping (CLOCK_MONOTONIC) */

        /* causes already logged ("kind\x1fobject") */
        char **logged;
        size_t n_logged;

        /* webhook; url NULL: none */
        char *url;
        char *url_for_log; /* scheme://host[:port]: paths and user info often hold secrets */
        char host[256];
        char *queue[QUEUE_MAX]; /* ring of serialised JSON payloads */
        size_t q_head, q_len;
        uint64_t dropped;
        bool worker_started;
        pthread_t worker;
        atomic_bool stopping;
        _Atomic int64_t deadline_ms; /* mono_ms() by which notify_free gives up */

        /* worker only */
        int64_t last_fail_log_ms;
        bool fail_logged;
        uint64_t fails_unlogged;
};

/* getutxent() walks process-global state. */
static pthread_mutex_t utmp_lock = PTHREAD_MUTEX_INITIALIZER;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result = CURLE_OK;

static void curl_init_once(void)
{
        curl_init_result = curl_global_init(CURL_GLOBAL_ALL);
}

/* True the first time (kind, object) is seen: the same cause is logged once. */
static bool first_time(struct notify *n, const char *kind, const char *object)
{
        _cleanup_free_ char *key = xasprintf("%s\x1f%s", kind, object ? object : "");
        bool first = true;

        pthread_mutex_lock(&n->lock);
        for (size_t i = 0; i < n->n_logged; i++) {
                if (streq(n->logged[i], key)) {
                        first = false;
                        break;
                }
        }
        if (first) {
                if (n->n_logged < LOG_ONCE_MAX) {
                        n->logged = xrealloc(n->logged, (n->n_logged + 1) * sizeof(*n->logged));
                        n->logged[n->n_logged++] = TAKE_PTR(key);
                } else {
                        /* Out of room: stay quiet rather than repeat ourselves forever. */
                        first = false;
                }
        }
        pthread_mutex_unlock(&n->lock);
        return first;
}

/* Logs a warning once per (kind, object). errno is preserved for %m in fmt. */
_printf_(4, 5) static void warn_once(struct notify *n, const char *kind, const char *object,
                                     const char *fmt, ...)
{
        int saved = errno;
        if (!first_time(n, kind, object))
                return;
        va_list ap;
        va_start(ap, fmt);
        errno = saved;
        _cleanup_free_ char *m = xvasprintf(fmt, ap);
        va_end(ap);
        log_warning("notify: %s", m);
        errno = saved;
}

/* Appends text with control characters neutralised: '\n' becomes nl ("\r\n" for a terminal,
 * " " for a one-line record), tabs stay, any other control byte becomes a space, so nothing a
 * name or message carries can drive the terminal. At most TEXT_MAX bytes are taken. */
static void add_clean(struct strbuf *sb, const char *text, const char *nl)
{
        if (!text)
                return;
        size_t n = strnlen(text, TEXT_MAX);
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)text[i];
                if (c == '\n')
                        strbuf_adds(sb, nl);
                else if (c == '\r')
                        continue;
                else if (c == '\t' || (c >= 0x20 && c != 0x7f))
                        strbuf_addc(sb, (char)c);
                else
                        strbuf_addc(sb, ' ');
        }
}

/* ---- terminals ---- */

static bool tty_line_ok(const char *line)
{
        if (!startswith(line, "pts/") && !startswith(line, "tty"))
                return false;
        return !strstr(line, "/..") && !strstr(line, "..");
}

/* /dev paths of the user's USER_PROCESS entries in utmp, at most TERMINALS_MAX. */
static size_t user_ttys(const char *login, char **ret, size_t max)
{
        size_t n = 0, login_len = strlen(login);

        pthread_mutex_lock(&utmp_lock);
        setutxent();
        for (struct utmpx *u; n < max && (u = getutxent());) {
                if (u->ut_type != USER_PROCESS)
                        continue;
                /* ut_user and ut_line are not necessarily NUL-terminated. */
                if (strnlen(u->ut_user, sizeof(u->ut_user)) != login_len ||
                    memcmp(u->ut_user, login, login_len) != 0)
                        continue;
                _cleanup_free_ char *line = xstrndup(u->ut_line, sizeof(u->ut_line));
                if (!tty_line_ok(line))
                        continue;
                ret[n++] = xasprintf("/dev/%s", line);
        }
        endutxent();
        pthread_mutex_unlock(&utmp_lock);
        return n;
}

static void notify_terminals(const struct notify_msg *m)
{
        if (!m->login || !*m->login || !m->text)
                return;

        char *paths[TERMINALS_MAX];
        size_t n = user_ttys(m->login, paths, ARRAY_SIZE(paths));
        if (n == 0)
                return;

        struct strbuf sb = STRBUF_INIT;
        strbuf_adds(&sb, "\r\n*** ds01: ");
        add_clean(&sb, m->text, "\r\n");
        strbuf_adds(&sb, " ***\r\n");

        dev_t written[TERMINALS_MAX];
        size_t n_written = 0;
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *path = paths[i];
                /* O_PATH first: a device is opened for writing only once it shows itself a
                 * terminal of the user's (opening some devices has effects of its own). */
                _cleanup_close_ int pfd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
                if (pfd < 0)
                        continue; /* logged out since utmp was written */
                struct stat st;
                if (fstat(pfd, &st) < 0 || !S_ISCHR(st.st_mode) || st.st_uid != m->uid)
                        continue;
                _cleanup_close_ int fd = userpath_reopen(pfd, O_WRONLY);
                if (fd < 0)
                        continue;
                bool seen = false;
                for (size_t j = 0; j < n_written; j++)
                        seen = seen || written[j] == st.st_rdev;
                if (seen)
                        continue;
                written[n_written++] = st.st_rdev;
                /* One write, no retry: a full terminal (EAGAIN) loses the line, never the daemon
                 * its time. */
                (void)!write(fd, strbuf_str(&sb), sb.len);
        }
        strbuf_release(&sb);
}

/* ---- alerts file ---- */

static void notify_alerts_file(struct notify *n, const struct notify_msg *m)
{
        const char *ws = m->workspace;
        struct error *err = NULL;

        /* Nothing on the way is followed, and only a regular file of the user's is opened:
         * userpath.h. */
        _cleanup_close_ int dfd = userpath_open_dir(ws, m->uid, &err);
        if (dfd < 0) {
                warn_once(n, "ws-open", ws, "not writing the alerts file of workspace %s: %s", ws,
                          err->message);
                error_free(err);
                return;
        }
        _cleanup_close_ int fd = userpath_open_file(dfd, ALERTS_FILE, O_WRONLY | O_APPEND | O_CREAT,
                                                    m->uid, m->gid, &err);
        if (fd < 0) {
                warn_once(n, "alerts-open", ws, "not writing %s/" ALERTS_FILE ": %s", ws,
                          err ? err->message : "it vanished");
                error_free(err);
                return;
        }
        struct stat st;
        if (fstat(fd, &st) < 0) {
                warn_once(n, "alerts-stat", ws, "cannot stat %s/" ALERTS_FILE ": %m", ws);
                return;
        }
        if (st.st_size > ALERTS_MAX_BYTES) {
                warn_once(n, "alerts-full", ws,
                          "%s/" ALERTS_FILE " is larger than %d bytes; not appending to it "
                          "until the user truncates it",
                          ws, ALERTS_MAX_BYTES);
                return;
        }

        char ts[32];
        struct strbuf sb = STRBUF_INIT;
        strbuf_adds(&sb, format_iso8601(now_s(), ts));
        strbuf_addc(&sb, ' ');
        add_clean(&sb, m->event ? m->event : "notice", " ");
        strbuf_addc(&sb, ' ');
        add_clean(&sb, m->container ? m->container : "-", " ");
        strbuf_adds(&sb, ": ");
        add_clean(&sb, m->text, " ");
        strbuf_addc(&sb, '\n');
        ssize_t w = write(fd, strbuf_str(&sb), sb.len);
        if (w < 0)
                warn_once(n, "alerts-write", ws, "writing %s/" ALERTS_FILE ": %m", ws);
        else if ((size_t)w != sb.len)
                warn_once(n, "alerts-write", ws, "short write to %s/" ALERTS_FILE, ws);
        strbuf_release(&sb);
}

/* ---- webhook ---- */

/* "https://user:pw@host:8443/secret?x" -> "https://host:8443", NULL if there is no host. */
static char *url_origin(const char *url)
{
        const char *p = strstr(url, "://");
        if (!p)
                return NULL;
        const char *host = p + 3;
        size_t len = strcspn(host, "/?#");
        const char *at = memrchr(host, '@', len);
        if (at) {
                len -= (size_t)(at + 1 - host);
                host = at + 1;
        }
        if (len == 0)
                return NULL;
        return xasprintf("%.*s://%.*s", (int)(p - url), url, (int)len, host);
}

static size_t discard_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
        (void)ptr;
        (void)userdata;
        return size * nmemb;
}

/* Aborts a transfer still running when notify_free's deadline has passed. */
static int xfer_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                         curl_off_t ulnow)
{
        struct notify *n = userdata;
        (void)dltotal;
        (void)dlnow;
        (void)ultotal;
        (void)ulnow;
        if (atomic_load(&n->stopping) && mono_ms() >= atomic_load(&n->deadline_ms))
                return 1;
        return 0;
}

static CURL *webhook_handle(struct notify *n, struct curl_slist *headers)
{
        CURL *c = curl_easy_init();
        if (!c)
                return NULL;
        curl_easy_setopt(c, CURLOPT_URL, n->url);
#if LIBCURL_VERSION_NUM >= 0x075500
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
        curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
        curl_easy_setopt(c, CURLOPT_PROXY, "");
        curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard_body);
        curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, xfer_progress);
        curl_easy_setopt(c, CURLOPT_XFERINFODATA, n);
        curl_easy_setopt(c, CURLOPT_USERAGENT, "ds01d/" DS01_VERSION);
        return c;
}

/* One POST. 0 on a 2xx answer; otherwise fills why and says whether a retry may help. */
static int webhook_post_once(struct notify *n, CURL *c, const char *payload, char *why,
                             size_t why_size, bool *ret_retryable)
{
        long timeout = HTTP_TIMEOUT_MS;
        if (atomic_load(&n->stopping)) {
                int64_t left = atomic_load(&n->deadline_ms) - mono_ms();
                if (left <= 0) {
                        snprintf(why, why_size, "shutting down");
                        *ret_retryable = false;
                        return -1;
                }
                if (left < timeout)
                        timeout = (long)left;
        }
        char errbuf[CURL_ERROR_SIZE] = "";
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                         timeout < HTTP_CONNECT_MS ? timeout : HTTP_CONNECT_MS);
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(payload));

        CURLcode rc = curl_easy_perform(c);
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
        if (rc != CURLE_OK) {
                snprintf(why, why_size, "%s", *errbuf ? errbuf : curl_easy_strerror(rc));
                *ret_retryable = rc != CURLE_ABORTED_BY_CALLBACK;
                return -1;
        }
        long status = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        if (status >= 200 && status < 300)
                return 0;
        snprintf(why, why_size, "HTTP %ld", status);
        /* A 4xx will say the same again; a 5xx or 429 may not. */
        *ret_retryable = status >= 500 || status == 429;
        return -1;
}

/* Sleeps up to ms, returning early when notify_free asks the worker to finish. */
static void pause_unless_stopping(struct notify *n, int ms)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += ms / 1000;
        ts.tv_nsec += (long)(ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&n->lock);
        while (!atomic_load(&n->stopping))
                if (pthread_cond_timedwait(&n->cond, &n->lock, &ts) == ETIMEDOUT)
                        break;
        pthread_mutex_unlock(&n->lock);
}

static void webhook_send(struct notify *n, CURL *c, const char *payload)
{
        char why[CURL_ERROR_SIZE + 64] = "";
        bool retryable = false;

        if (!c) {
                snprintf(why, sizeof(why), "cannot create a curl handle");
        } else {
                for (int attempt = 0; attempt < 2; attempt++) {
                        if (webhook_post_once(n, c, payload, why, sizeof(why), &retryable) == 0)
                                return;
                        if (!retryable || attempt > 0 || atomic_load(&n->stopping))
                                break;
                        pause_unless_stopping(n, HTTP_RETRY_PAUSE_MS);
                        if (atomic_load(&n->stopping))
                                break;
                }
        }

        int64_t now = mono_ms();
        if (n->fail_logged && now - n->last_fail_log_ms < WEBHOOK_LOG_EVERY_MS) {
                n->fails_unlogged++;
                return;
        }
        if (n->fails_unlogged)
                log_warning("notify: webhook %s failed: %s (and %" PRIu64 " more failures in "
                            "the last minute); the message is dropped",
                            n->url_for_log, why, n->fails_unlogged);
        else
                log_warning("notify: webhook %s failed: %s; the message is dropped", n->url_for_log,
                            why);
        n->fail_logged = true;
        n->last_fail_log_ms = now;
        n->fails_unlogged = 0;
}

static void *webhook_worker(void *arg)
{
        struct notify *n = arg;
        struct curl_slist *headers = NULL;
        headers = curl_slist_append(headers, "Content-Type: application/json");
        /* No "Expect: 100-continue" round trip (and its 1 s wait) for larger bodies. */
        headers = curl_slist_append(headers, "Expect:");
        CURL *c = NULL;

        pthread_mutex_lock(&n->lock);
        for (;;) {
                while (n->q_len == 0 && !atomic_load(&n->stopping))
                        pthread_cond_wait(&n->cond, &n->lock);
                if (n->q_len == 0)
                        break;
                if (atomic_load(&n->stopping) && mono_ms() >= atomic_load(&n->deadline_ms)) {
                        log_warning("notify: webhook %s: %zu queued message(s) not sent before "
                                    "shutdown",
                                    n->url_for_log, n->q_len);
                        break;
                }
                _cleanup_free_ char *payload = n->queue[n->q_head];
                n->queue[n->q_head] = NULL;
                n->q_head = (n->q_head + 1) % QUEUE_MAX;
                n->q_len--;
                pthread_mutex_unlock(&n->lock);

                if (!c)
                        c = webhook_handle(n, headers);
                webhook_send(n, c, payload);

                pthread_mutex_lock(&n->lock);
        }
        pthread_mutex_unlock(&n->lock);

        if (c)
                curl_easy_cleanup(c);
        curl_slist_free_all(headers);
        return NULL;
}

static void webhook_enqueue(struct notify *n, const struct notify_msg *m)
{
        char ts[32];
        _cleanup_free_ char *text = xasprintf("ds01: %s", m->text ? m->text : "");
        json_t *details = m->details ? json_deep_copy(m->details) : NULL;
        json_t *o = json_pack("{s:s, s:s?, s:s?, s:s?, s:s?, s:s, s:s, s:o?}", "text", text,
                              "event", m->event, "user", m->login, "container", m->container,
                              "project", m->project, "host", n->host, "timestamp",
                              format_iso8601(now_s(), ts), "details", details);
        if (!o) {
                /* json_pack steals details even on failure. Most likely invalid UTF-8. */
                warn_once(n, "webhook-json", m->event,
                          "cannot build the webhook message for event %s (invalid UTF-8?); "
                          "not sending it",
                          m->event ? m->event : "?");
                return;
        }
        char *payload = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        if (!payload)
                return;

        bool first_drop = false;
        pthread_mutex_lock(&n->lock);
        if (n->q_len == QUEUE_MAX) {
                /* Full: the oldest message is the least useful one. */
                free(n->queue[n->q_head]);
                n->queue[n->q_head] = NULL;
                n->q_head = (n->q_head + 1) % QUEUE_MAX;
                n->q_len--;
                first_drop = n->dropped++ == 0;
        }
        n->queue[(n->q_head + n->q_len) % QUEUE_MAX] = payload;
        n->q_len++;
        pthread_cond_signal(&n->cond);
        pthread_mutex_unlock(&n->lock);

        if (first_drop)
                log_warning("notify: webhook %s is not keeping up: more than %d messages queued, "
                            "dropping the oldest",
                            n->url_for_log, QUEUE_MAX);
}

/* ---- public ---- */

static int check_webhook_url(const char *url, struct error **err)
{
        if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0)
                return error_set(err, DS01_EUSAGE,
                                 "notify.webhook_url '%s' is not supported: only http:// and "
                                 "https:// URLs are accepted",
                                 url);
        for (const unsigned char *p = (const unsigned char *)url; *p; p++)
                if (*p <= 0x20 || *p == 0x7f)
                        return error_set(err, DS01_EUSAGE,
                                         "notify.webhook_url '%s' contains a space or control "
                                         "character; percent-encode it",
                                         url);
        _cleanup_free_ char *origin = url_origin(url);
        if (!origin)
                return error_set(err, DS01_EUSAGE,
                                 "notify.webhook_url '%s' has no host: expected "
                                 "http(s)://host[:port]/path",
                                 url);
        return 0;
}

struct notify *notify_new(const char *webhook_url, struct error **err)
{
        if (webhook_url && *webhook_url && check_webhook_url(webhook_url, err) < 0)
                return NULL;

        struct notify *n = xzalloc(sizeof(*n));
        pthread_mutex_init(&n->lock, NULL);
        pthread_condattr_t attr;
        pthread_condattr_init(&attr);
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        pthread_cond_init(&n->cond, &attr);
        pthread_condattr_destroy(&attr);
        atomic_init(&n->stopping, false);
        atomic_init(&n->deadline_ms, 0);

        if (!webhook_url || !*webhook_url)
                return n;

        n->url = xstrdup(webhook_url);
        n->url_for_log = url_origin(webhook_url);
        if (gethostname(n->host, sizeof(n->host) - 1) < 0)
                snprintf(n->host, sizeof(n->host), "unknown");

        pthread_once(&curl_once, curl_init_once);
        if (curl_init_result != CURLE_OK) {
                error_set(err, DS01_ERR, "initialising libcurl for the webhook: %s",
                          curl_easy_strerror(curl_init_result));
                return notify_free(n);
        }
        int r = pthread_create(&n->worker, NULL, webhook_worker, n);
        if (r != 0) {
                error_set_errno(err, -r, "starting the webhook thread");
                return notify_free(n);
        }
        n->worker_started = true;
        return n;
}

struct notify *notify_free(struct notify *n)
{
        if (!n)
                return NULL;
        if (n->worker_started) {
                pthread_mutex_lock(&n->lock);
                atomic_store(&n->deadline_ms, mono_ms() + SHUTDOWN_WAIT_MS);
                atomic_store(&n->stopping, true);
                pthread_cond_broadcast(&n->cond);
                pthread_mutex_unlock(&n->lock);
                pthread_join(n->worker, NULL);
        }
        for (size_t i = 0; i < n->q_len; i++)
                free(n->queue[(n->q_head + i) % QUEUE_MAX]);
        for (size_t i = 0; i < n->n_logged; i++)
                free(n->logged[i]);
        free(n->logged);
        free(n->url);
        free(n->url_for_log);
        pthread_cond_destroy(&n->cond);
        pthread_mutex_destroy(&n->lock);
        free(n);
        return NULL;
}

void notify_send(struct notify *n, const struct notify_msg *m)
{
        if (!n || !m)
                return;
        notify_terminals(m);
        if (m->workspace && *m->workspace)
                notify_alerts_file(n, m);
        if (n->url)
                webhook_enqueue(n, m);
}
