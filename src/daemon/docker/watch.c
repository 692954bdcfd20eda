#include "daemon/docker/watch.h"
#include "daemon/config/generation.h"
#include "daemon/containers/reconcile.h"

#include "daemon/observe/snapshot.h"

#include "shared/log.h"
#include "shared/strbuf.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>

#define WATCH_LINE_MAX (64 * 1024)

struct watch {
        struct ds01d *d;
        pthread_t thread;
        pthread_mutex_t lock;
        int fd; /* the current stream, -1 between connections */
        bool stop;
        int64_t since; /* last event time seen (seconds) */
};

static bool stopping(struct watch *w)
{
        pthread_mutex_lock(&w->lock);
        bool s = w->stop;
        pthread_mutex_unlock(&w->lock);
        return s;
}

static void handle_event(struct watch *w, json_t *ev)
{
        const char *action = json_string_value(json_object_get(ev, "Action"));
        json_t *actor = json_object_get(ev, "Actor");
        const char *id = json_string_value(json_object_get(actor, "ID"));
        const char *name =
            json_string_value(json_object_get(json_object_get(actor, "Attributes"), "name"));
        json_int_t t = json_integer_value(json_object_get(ev, "time"));
        if (t > w->since)
                w->since = t;
        /* Whatever happened, container-list must not show what was before. */
        snapshot_docker_event(w->d->snap, id);
        if (!action || !id || !name)
                return;
        struct ds01d v;
        ds01d_pin(w->d, &v);
        if (streq(action, "destroy"))
                reconcile_on_destroyed(&v, name, id);
        else if (streq(action, "die"))
                reconcile_on_died(&v, name, id);
        else if (streq(action, "start"))
                reconcile_on_started(&v, name, id);
        ds01d_unpin(&v);
}

/* Reads newline-terminated JSON objects until EOF or stop. */
static void follow(struct watch *w, int fd)
{
        struct strbuf line = STRBUF_INIT;
        char buf[8192];
        bool changed = false;
        for (;;) {
                /* Once a burst of events is over (20 ms without another), rebuild the snapshot
                 * here, so that requests find it fresh instead of waiting on Docker's list. */
                struct pollfd p = {.fd = fd, .events = POLLIN};
                if (changed && poll(&p, 1, 20) == 0) {
                        struct ds01d v;
                        ds01d_pin(w->d, &v);
                        snapshot_refresh(&v);
                        ds01d_unpin(&v);
                        changed = false;
                }
                ssize_t k = read(fd, buf, sizeof(buf));
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        break;
                for (ssize_t i = 0; i < k; i++) {
                        if (buf[i] != '\n') {
                                if (line.len < WATCH_LINE_MAX)
                                        strbuf_addc(&line, buf[i]);
                                continue;
                        }
                        json_t *ev = json_loadb(strbuf_str(&line), line.len, 0, NULL);
                        if (ev) {
                                handle_event(w, ev);
                                changed = true;
                        }
                        json_decref(ev);
                        strbuf_reset(&line);
                }
        }
        strbuf_release(&line);
}

static void *watch_thread(void *arg)
{
        struct watch *w = arg;
        bool lost = false;
        unsigned backoff_ms = 200;
        while (!stopping(w)) {
                _cleanup_free_ char *filter = NULL;
                struct ds01d v;
                ds01d_pin(w->d, &v);
                filter = xasprintf("ds01.instance=%s", v.cfg->instance);
                ds01d_unpin(&v);
                struct error *err = NULL;
                int fd = -1;
                if (docker_events_stream(w->d->docker, filter, w->since, &fd, &err) < 0) {
                        if (!lost)
                                log_warning("lost Docker's event stream: %s; retrying",
                                            err->message);
                        lost = true;
                        error_free(err);
                        for (unsigned t = 0; t < backoff_ms && !stopping(w); t += 100)
                                poll(NULL, 0, 100);
                        if (backoff_ms < 5000)
                                backoff_ms *= 2;
                        continue;
                }
                pthread_mutex_lock(&w->lock);
                bool s = w->stop;
                if (!s)
                        w->fd = fd;
                pthread_mutex_unlock(&w->lock);
                if (s) {
                        close(fd);
                        break;
                }
                if (lost) {
                        /* Events Docker dropped while it was away (its buffer does not survive
                         * a restart): catch up from Docker's current state. */
                        log_notice("Docker's event stream is back; reconciling");
                        struct ds01d rv;
                        ds01d_pin(w->d, &rv);
                        struct error *rerr = NULL;
                        if (reconcile_ledger(&rv, false, &rerr) < 0) {
                                log_error("reconciling after the event stream came back: %s",
                                          rerr->message);
                                error_free(rerr);
                        }
                        ds01d_unpin(&rv);
                        lost = false;
                }
                backoff_ms = 200;
                snapshot_stream(w->d->snap, true);
                follow(w, fd);
                snapshot_stream(w->d->snap, false);
                pthread_mutex_lock(&w->lock);
                w->fd = -1;
                pthread_mutex_unlock(&w->lock);
                close(fd);
                lost = true;
        }
        return NULL;
}

struct watch *watch_start(struct ds01d *d, int64_t since, struct error **err)
{
        struct watch *w = xzalloc(sizeof(*w));
        w->d = d;
        w->fd = -1;
        w->since = since;
        pthread_mutex_init(&w->lock, NULL);
        int r = pthread_create(&w->thread, NULL, watch_thread, w);
        if (r != 0) {
                error_set_errno(err, r, "starting the Docker event thread");
                pthread_mutex_destroy(&w->lock);
                free(w);
                return NULL;
        }
        return w;
}

struct watch *watch_stop(struct watch *w)
{
        if (!w)
                return NULL;
        pthread_mutex_lock(&w->lock);
        w->stop = true;
        if (w->fd >= 0)
                shutdown(w->fd, SHUT_RDWR);
        pthread_mutex_unlock(&w->lock);
        pthread_join(w->thread, NULL);
        pthread_mutex_destroy(&w->lock);
        free(w);
        return NULL;
}
