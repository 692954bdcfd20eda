/* slurmend.c - ending the Slurm jobs whose container ended first (see slurmend.h). */
#include "daemon/cluster/slurmend.h"

#include "daemon/cluster/slurmcmd.h"
#include "shared/log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

/* How long after the container's end ds01d waits before it ends the job: a retire (stop,
 * remove) routed from another node runs inside the job (`srun --overlap`, src/cli/cluster.c),
 * and ending the job at once would kill the step that asked before its answer is out. The
 * container has had its grace already; the job's end is bookkeeping and can wait this long. */
#define END_DELAY_MS (3 * 1000)
/* A job Slurm still runs this long after `scancel ID` is asked for again from the start (a
 * scancel that failed, a slurmctld that lost it). */
#define END_RETRY_MS       (60 * 1000)
#define SCANCEL_TIMEOUT_MS (20 * 1000)
#define SCANCEL_MAX_OUTPUT (64u << 10)

struct end {
        int64_t job, uid;
        char *container, *why;
        int64_t grace_ms;         /* after SIGTERM, the script's time to end by itself */
        int64_t asked_ms;         /* unix ms the end was asked for */
        int64_t term_ms, kill_ms; /* unix ms the scancel was run (0: not yet) */
};

struct slurmend {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        bool rung, stopped;
        _Atomic bool halted; /* stopped, for a scancel under way (no lock) */
        struct end *v;
        size_t n;
};

struct slurmend *slurmend_new(void)
{
        struct slurmend *e = xzalloc(sizeof(*e));
        pthread_mutex_init(&e->lock, NULL);
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&e->cond, &ca);
        pthread_condattr_destroy(&ca);
        return e;
}

static void end_release(struct end *x)
{
        free(x->container);
        free(x->why);
}

struct slurmend *slurmend_free(struct slurmend *e)
{
        if (!e)
                return NULL;
        for (size_t i = 0; i < e->n; i++)
                end_release(&e->v[i]);
        free(e->v);
        pthread_cond_destroy(&e->cond);
        pthread_mutex_destroy(&e->lock);
        free(e);
        return NULL;
}

void slurmend_ring(struct slurmend *e)
{
        if (!e)
                return;
        pthread_mutex_lock(&e->lock);
        e->rung = true;
        pthread_cond_signal(&e->cond);
        pthread_mutex_unlock(&e->lock);
}

void slurmend_request(struct slurmend *e, int64_t job, int64_t uid, const char *container,
                      const char *why, int grace_s)
{
        if (!e || job <= 0)
                return;
        pthread_mutex_lock(&e->lock);
        bool known = false;
        for (size_t i = 0; i < e->n && !known; i++)
                known = e->v[i].job == job;
        if (!known) {
                e->v = xrealloc(e->v, (e->n + 1) * sizeof(*e->v));
                e->v[e->n++] = (struct end){.job = job,
                                            .uid = uid,
                                            .container = xstrdup(container),
                                            .why = xstrdup(why),
                                            .grace_ms = (int64_t)(grace_s < 0 ? 0 : grace_s) * 1000,
                                            .asked_ms = now_ms()};
        }
        e->rung = true;
        pthread_cond_signal(&e->cond);
        pthread_mutex_unlock(&e->lock);
}

bool slurmend_wait(struct slurmend *e, int64_t timeout_ms)
{
        pthread_mutex_lock(&e->lock);
        if (!e->rung && !e->stopped) {
                struct timespec ts;
                clock_gettime(CLOCK_MONOTONIC, &ts);
                int64_t ns = (int64_t)ts.tv_nsec + (timeout_ms % 1000) * 1000000;
                ts.tv_sec += (time_t)(timeout_ms / 1000 + ns / 1000000000);
                ts.tv_nsec = (long)(ns % 1000000000);
                pthread_cond_timedwait(&e->cond, &e->lock, &ts);
        }
        e->rung = false;
        bool go = !e->stopped;
        pthread_mutex_unlock(&e->lock);
        return go;
}

void slurmend_stop(struct slurmend *e)
{
        atomic_store(&e->halted, true);
        pthread_mutex_lock(&e->lock);
        e->stopped = true;
        pthread_cond_signal(&e->cond);
        pthread_mutex_unlock(&e->lock);
}

size_t slurmend_pending(struct slurmend *e)
{
        pthread_mutex_lock(&e->lock);
        size_t n = e->n;
        pthread_mutex_unlock(&e->lock);
        return n;
}

/* `scancel [--signal=TERM --full] ID`, its outcome as an event (and a log line when it fails). */
static void scancel(struct slurmend *e, struct ds01d *v, const struct end *x, bool term)
{
        _cleanup_free_ char *id = xasprintf("%lld", (long long)x->job);
        const char *soft[] = {"--signal=TERM", "--full", id, NULL}, *hard[] = {id, NULL};
        _cleanup_free_ char *out = NULL, *errout = NULL;
        struct error *err = NULL;
        int r = slurmcmd_run(v->cfg->cluster, "scancel", term ? soft : hard, SCANCEL_TIMEOUT_MS,
                             &e->halted, SCANCEL_MAX_OUTPUT, &out, &errout, &err);
        _cleanup_free_ char *why =
            r == 0    ? NULL
            : r == -1 ? xstrdup(err->message)
            : r == -2 ? xasprintf("scancel was stopped after %d s: %.300s",
                                  SCANCEL_TIMEOUT_MS / 1000, errout)
                      : xasprintf("scancel exited with %d: %.300s", r, errout ? errout : "");
        error_free(err);
        const char *what = term ? "SIGTERM to its script and steps (scancel --signal=TERM --full)"
                                : "cancelled (scancel)";
        if (why)
                log_warning("Slurm job %lld (container %s): %s failed: %s", (long long)x->job,
                            x->container, term ? "scancel --signal=TERM --full" : "scancel", why);
        else
                log_notice("Slurm job %lld: %s, its container %s %s", (long long)x->job, what,
                           x->container, x->why);
        json_t *ev = json_pack("{s:I, s:s, s:s, s:s, s:b}", "slurm_job", (json_int_t)x->job,
                               "container", x->container, "why", x->why, "action",
                               term ? "sigterm" : "cancel", "ok", why == NULL);
        if (why)
                json_object_set_new(ev, "error", json_string(why));
        events_log(v->events, "slurm.job_end", NULL, ev);
}

bool slurm_running_has(const struct slurm_running *running, size_t n, int64_t job, int64_t uid)
{
        for (size_t i = 0; i < n; i++)
                if (running[i].job == job && running[i].uid == uid)
                        return true;
        return false;
}

/* What is due for x at now (unix ms): 1 SIGTERM, 2 the cancel, 0 nothing; *due the next time. */
static int due(struct end *x, int64_t now, int64_t *next)
{
        if (x->kill_ms > 0 && now - x->kill_ms >= END_RETRY_MS)
                x->term_ms = x->kill_ms = 0; /* Slurm did not end it: again from the start */
        if (x->term_ms == 0 && now - x->asked_ms < END_DELAY_MS) {
                int64_t at = x->asked_ms + END_DELAY_MS;
                if (*next == 0 || at < *next)
                        *next = at;
                return 0;
        }
        int what = x->term_ms == 0 ? 1 : x->kill_ms == 0 && now - x->term_ms >= x->grace_ms ? 2 : 0;
        int64_t at = what ? 0 : x->kill_ms ? x->kill_ms + END_RETRY_MS : x->term_ms + x->grace_ms;
        if (at > 0 && (*next == 0 || at < *next))
                *next = at;
        return what;
}

int64_t slurmend_pass(struct slurmend *e, struct ds01d *v, const struct slurm_running *running,
                      size_t n_running)
{
        int64_t next = 0;
        /* the work, copied out: scancel waits on slurmctld, with no lock held */
        pthread_mutex_lock(&e->lock);
        struct end *work = xcalloc(e->n + 1, sizeof(*work));
        int *what = xcalloc(e->n + 1, sizeof(*what));
        size_t n = 0;
        int64_t now = now_ms();
        for (size_t i = 0; i < e->n;) {
                struct end *x = &e->v[i];
                if (!slurm_running_has(running, n_running, x->job, x->uid)) {
                        if (x->term_ms > 0)
                                log_info("Slurm job %lld has ended (container %s)",
                                         (long long)x->job, x->container);
                        end_release(x);
                        e->v[i] = e->v[--e->n];
                        continue;
                }
                int w = due(x, now, &next);
                if (w) {
                        work[n] = *x;
                        work[n].container = xstrdup(x->container);
                        work[n].why = xstrdup(x->why);
                        what[n++] = w;
                        if (w == 1)
                                x->term_ms = now;
                        else
                                x->kill_ms = now;
                        int64_t at = now + (w == 1 ? x->grace_ms : END_RETRY_MS);
                        if (next == 0 || at < next)
                                next = at;
                }
                i++;
        }
        pthread_mutex_unlock(&e->lock);
        for (size_t i = 0; i < n; i++) {
                scancel(e, v, &work[i], what[i] == 1);
                end_release(&work[i]);
        }
        free(work);
        free(what);
        return next;
}
