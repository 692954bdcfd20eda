/* queuekick.c - the doorbell of the GPU queue's worker (see queuekick.h). */
#include "daemon/gpus/queuekick.h"

#include "shared/util.h"

#include <pthread.h>
#include <time.h>

struct queuekick {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        bool rung, stopped;
};

struct queuekick *queuekick_new(void)
{
        struct queuekick *k = xzalloc(sizeof(*k));
        pthread_mutex_init(&k->lock, NULL);
        pthread_cond_init(&k->cond, NULL);
        k->rung = true; /* a first pass at start-up: what a crash left */
        return k;
}

struct queuekick *queuekick_free(struct queuekick *k)
{
        if (!k)
                return NULL;
        pthread_cond_destroy(&k->cond);
        pthread_mutex_destroy(&k->lock);
        free(k);
        return NULL;
}

void queuekick_ring(struct queuekick *k)
{
        if (!k)
                return;
        pthread_mutex_lock(&k->lock);
        k->rung = true;
        pthread_cond_signal(&k->cond);
        pthread_mutex_unlock(&k->lock);
}

bool queuekick_wait(struct queuekick *k, int64_t timeout_s)
{
        pthread_mutex_lock(&k->lock);
        if (!k->rung && !k->stopped) {
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_sec += (time_t)timeout_s;
                pthread_cond_timedwait(&k->cond, &k->lock, &ts);
        }
        k->rung = false;
        bool go = !k->stopped;
        pthread_mutex_unlock(&k->lock);
        return go;
}

void queuekick_stop(struct queuekick *k)
{
        pthread_mutex_lock(&k->lock);
        k->stopped = true;
        pthread_cond_signal(&k->cond);
        pthread_mutex_unlock(&k->lock);
}
