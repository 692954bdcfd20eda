#include "monitor.h"

#include "../shared/log.h"

#include <errno.h>
#include <time.h>

struct monitor {
        struct ds01d *d;
        pthread_t thread;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        bool stop;
};

static void tick(struct monitor *m)
{
        struct ds01d *d = m->d;
        if (d->nvml) {
                struct error *err = NULL;
                if (lifecycle_rescan(d, NULL, &err) < 0) {
                        log_warning("GPU rescan failed: %s", err->message);
                        error_free(err);
                }
        }
        pthread_rwlock_rdlock(&d->lock);
        lifecycle_sweep_holds(d);
        pthread_rwlock_unlock(&d->lock);
}

static void *monitor_thread(void *arg)
{
        struct monitor *m = arg;
        pthread_mutex_lock(&m->lock);
        while (!m->stop) {
                pthread_rwlock_rdlock(&m->d->lock);
                int64_t interval = m->d->cfg->sample_interval_s;
                pthread_rwlock_unlock(&m->d->lock);
                struct timespec until;
                clock_gettime(CLOCK_MONOTONIC, &until);
                until.tv_sec += interval > 0 ? interval : 60;
                while (!m->stop && pthread_cond_timedwait(&m->cond, &m->lock, &until) != ETIMEDOUT)
                        ;
                if (m->stop)
                        break;
                pthread_mutex_unlock(&m->lock);
                tick(m);
                pthread_mutex_lock(&m->lock);
        }
        pthread_mutex_unlock(&m->lock);
        return NULL;
}

struct monitor *monitor_start(struct ds01d *d, struct error **err)
{
        struct monitor *m = xzalloc(sizeof(*m));
        m->d = d;
        pthread_mutex_init(&m->lock, NULL);
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&m->cond, &ca);
        pthread_condattr_destroy(&ca);
        int r = pthread_create(&m->thread, NULL, monitor_thread, m);
        if (r != 0) {
                error_set_errno(err, r, "starting the monitor thread");
                pthread_mutex_destroy(&m->lock);
                pthread_cond_destroy(&m->cond);
                free(m);
                return NULL;
        }
        return m;
}

struct monitor *monitor_stop(struct monitor *m)
{
        if (!m)
                return NULL;
        pthread_mutex_lock(&m->lock);
        m->stop = true;
        pthread_cond_broadcast(&m->cond);
        pthread_mutex_unlock(&m->lock);
        pthread_join(m->thread, NULL);
        pthread_mutex_destroy(&m->lock);
        pthread_cond_destroy(&m->cond);
        free(m);
        return NULL;
}
