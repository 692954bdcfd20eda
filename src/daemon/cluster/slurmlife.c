/* slurmlife.c - the watcher: containers of Slurm jobs kept to their jobs' lives (see
 * slurmlife.h). */
#include "daemon/cluster/slurmlife.h"

#include "daemon/cluster/slurmcmd.h"
#include "daemon/cluster/slurmend.h"
#include "daemon/config/generation.h"
#include "daemon/containers/managed.h"
#include "daemon/containers/oplock.h"
#include "daemon/containers/verbs.h"
#include "daemon/docker/dockerjson.h"
#include "daemon/gpus/leases.h"
#include "daemon/observe/snapshot.h"
#include "daemon/rules/enforce.h"
#include "shared/log.h"
#include "shared/strv.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

/* squeue's time limit: it retries an unreachable slurmctld for about 10 s itself */
#define SQUEUE_TIMEOUT_MS (20 * 1000)
#define SQUEUE_MAX_OUTPUT (4u << 20) /* "ID UID\n": about 20 bytes a job */
/* The shortest wait between passes (a due scancel, a burst of rings). */
#define MIN_WAIT_MS 200

struct slurmlife {
        struct ds01d *d; /* the root */
        pthread_t thread;
        bool joinable;         /* its thread runs, not yet joined (main's thread only) */
        _Atomic bool stopping; /* no more passes: a squeue under way gives up */
        pthread_mutex_t lock;
        /* the last pass, for health */
        size_t containers;
        int64_t asked_ms, failing_ms;
        size_t tries; /* failed asks since failing_ms */
        char *error;
        /* containers being stopped and retired, by name, and their threads */
        struct strv ending;
        unsigned threads;
};

/* --- Slurm's answer ------------------------------------------------------------------------- */

/* "123 1001" -> job 123 of uid 1001; false when the line is anything else. */
static bool parse_line(const char *s, size_t n, struct slurm_running *ret)
{
        int64_t v[2] = {0, 0};
        size_t k = 0, i = 0;
        while (i < n && s[i] == ' ')
                i++;
        for (; k < 2; k++) {
                size_t digits = 0;
                for (; i < n && s[i] >= '0' && s[i] <= '9' && digits < 10; i++, digits++)
                        v[k] = v[k] * 10 + (s[i] - '0');
                if (digits == 0)
                        return false;
                bool gap = false;
                while (i < n && s[i] == ' ')
                        i++, gap = true;
                if (k == 0 && !gap)
                        return false;
        }
        if (i != n || v[0] <= 0)
                return false;
        *ret = (struct slurm_running){v[0], v[1]};
        return true;
}

/* The jobs Slurm runs on cl->node, with their users' uids. */
static int running_jobs(const struct config_cluster *cl, const _Atomic bool *stop,
                        struct slurm_running **ret, size_t *ret_n, struct error **err)
{
        _cleanup_free_ char *nodes = xasprintf("--nodelist=%s", cl->node);
        const char *args[] = {"--noheader", nodes, "--states=RUNNING", "--format=%A %U", NULL};
        _cleanup_free_ char *out = NULL, *errout = NULL;
        int r = slurmcmd_run(cl, "squeue", args, SQUEUE_TIMEOUT_MS, stop, SQUEUE_MAX_OUTPUT, &out,
                             &errout, err);
        if (r == -1)
                return -1;
        if (r == -2)
                return error_set(err, DS01_ERR, "squeue was stopped after %d s: %.300s",
                                 SQUEUE_TIMEOUT_MS / 1000, errout);
        if (r != 0)
                return error_set(err, DS01_ERR, "squeue exited with %d: %.300s", r,
                                 errout ? errout : "");
        struct slurm_running *v = NULL;
        size_t n = 0;
        for (const char *p = out; *p;) {
                const char *nl = strchr(p, '\n');
                size_t len = nl ? (size_t)(nl - p) : strlen(p);
                if (len > 0) {
                        v = xrealloc(v, (n + 1) * sizeof(*v));
                        if (!parse_line(p, len, &v[n])) {
                                free(v);
                                return error_set(err, DS01_ERR,
                                                 "squeue's answer has a line that is not "
                                                 "\"JOBID UID\": '%.60s'",
                                                 p);
                        }
                        n++;
                }
                p += len + (nl != NULL);
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

static void note_answer(struct slurmlife *l, size_t containers)
{
        pthread_mutex_lock(&l->lock);
        if (l->failing_ms)
                log_notice("Slurm answers again: the containers of Slurm jobs follow their jobs");
        l->failing_ms = 0;
        l->tries = 0;
        free(l->error);
        l->error = NULL;
        l->asked_ms = now_ms();
        l->containers = containers;
        pthread_mutex_unlock(&l->lock);
}

/* No news: nothing is stopped. Logged once, until Slurm answers again. */
static void note_failure(struct slurmlife *l, size_t containers, const char *node, const char *why)
{
        pthread_mutex_lock(&l->lock);
        if (!l->failing_ms)
                log_warning("cannot ask Slurm which jobs run on %s: %s - the %zu container(s) of "
                            "Slurm jobs are left as they are until it answers",
                            node, why, containers);
        if (!l->failing_ms)
                l->failing_ms = now_ms();
        l->tries++;
        free(l->error);
        l->error = xstrdup(why);
        l->containers = containers;
        pthread_mutex_unlock(&l->lock);
}

/* --- a container whose job ended: stopped and retired --------------------------------------- */

struct ending {
        struct slurmlife *l;
        char *name, *docker_id;
        int64_t job;
};

/* owner: resolved before the ledger row went (managed_owner reads it) */
static void tell_owner(struct ds01d *v, const struct caller *owner, const json_t *inspect,
                       const char *name, int64_t job, int grace, bool stopped)
{
        _cleanup_free_ char *project = managed_project(inspect);
        const char *ws = docker_inspect_workspace(inspect);
        _cleanup_free_ char *sig =
            stopped
                ? xasprintf(" Its processes got SIGTERM and up to %d s to save their work.", grace)
                : xstrdup("");
        _cleanup_free_ char *text = xasprintf(
            "'%s' was retired: its Slurm job %lld is no longer running on %s (it ended, was "
            "cancelled or reached its time limit).%s Its GPUs were released; your files in %s are "
            "kept. A new job deploys it again",
            project ? project : name, (long long)job, v->cfg->cluster->node, sig,
            ws && *ws ? ws : "its workspace");
        json_t *details = json_pack("{s:I}", "slurm_job", (json_int_t)job);
        enforce_notify(v, owner, name, project ? project : name, ws, "slurm_job_ended", text,
                       details);
        json_decref(details);
}

static void end_container(struct ds01d *v, const struct ending *j)
{
        struct error *err = NULL;
        json_t *inspect = NULL;
        _cleanup_free_ char *why = xasprintf("its Slurm job %lld is no longer running on %s",
                                             (long long)j->job, v->cfg->cluster->node);
        if (oplock_acquire(v->ops, j->name, &err) < 0) {
                error_free(err); /* a request on it: the next pass looks again */
                return;
        }
        struct store_container sc;
        bool same = false;
        if (store_get(v->store, j->name, &sc, NULL) == 0) {
                same = sc.slurm_job == j->job && streq_ptr(sc.docker_id, j->docker_id);
                store_container_release(&sc);
        }
        if (!same)
                goto unbusy; /* retired meanwhile, or a new container of the name */
        inspect = docker_container_inspect(v->docker, j->docker_id, &err);
        if (!inspect && err->code != DS01_ENOTFOUND)
                goto unbusy;
        err = error_free(err);
        bool running =
            inspect && json_is_true(json_object_get(json_object_get(inspect, "State"), "Running"));
        int grace = inspect ? managed_grace_s(v, inspect) : 0;
        /* SIGTERM to every process, the grace, then SIGKILL, as every stop */
        if (running && docker_container_stop(v->docker, j->docker_id, grace, &err) < 0)
                goto unbusy;
        struct caller sys = {.login = (char *)"ds01d"}, owner = {0};
        bool told = inspect && managed_owner(v, inspect, &owner) == 0;
        char **rel = NULL;
        if (container_remove_and_release(v, &sys, j->name, inspect, why, &rel, &err) == 0) {
                log_notice("%s: %s%s; retired", j->name, why, running ? ": stopped" : "");
                store_strv_free(rel);
                oplock_release(v->ops, j->name);
                if (told)
                        tell_owner(v, &owner, inspect, j->name, j->job, grace, running);
                caller_release(&owner);
                json_decref(inspect);
                return;
        }
        caller_release(&owner);
unbusy:
        if (err) {
                log_error("%s: retiring it after its Slurm job %lld ended: %s", j->name,
                          (long long)j->job, err->message);
                error_free(err);
        }
        oplock_release(v->ops, j->name);
        json_decref(inspect);
}

static void *ending_thread(void *arg)
{
        struct ending *j = arg;
        struct slurmlife *l = j->l;
        struct ds01d v;
        ds01d_pin(l->d, &v);
        if (v.cfg->cluster)
                end_container(&v, j);
        ds01d_unpin(&v);
        pthread_mutex_lock(&l->lock);
        for (size_t i = 0; i < l->ending.n; i++)
                if (streq(l->ending.v[i], j->name)) {
                        free(l->ending.v[i]);
                        l->ending.v[i] = l->ending.v[--l->ending.n];
                        l->ending.v[l->ending.n] = NULL;
                        break;
                }
        l->threads--;
        pthread_mutex_unlock(&l->lock);
        free(j->name);
        free(j->docker_id);
        free(j);
        return NULL;
}

/* In a thread of its own: a container that ignores SIGTERM takes its grace, and the others'
 * stops must not wait for it. Once per name at a time. */
static void start_ending(struct slurmlife *l, const struct store_container *row)
{
        pthread_mutex_lock(&l->lock);
        bool busy = strv_contains(&l->ending, row->name);
        if (!busy) {
                strv_push(&l->ending, row->name);
                l->threads++;
        }
        pthread_mutex_unlock(&l->lock);
        if (busy)
                return;
        struct ending *j = xzalloc(sizeof(*j));
        *j = (struct ending){l, xstrdup(row->name), xstrdup(row->docker_id), row->slurm_job};
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_t t;
        if (pthread_create(&t, &attr, ending_thread, j) != 0) {
                log_error("%s: cannot start a thread to retire it; retiring it inline", row->name);
                ending_thread(j);
        }
        pthread_attr_destroy(&attr);
}

/* --- the pass ------------------------------------------------------------------------------- */

static const struct snap_container *snap_of(const struct snapshot *snap, const char *id)
{
        for (size_t i = 0; snap && id && i < snap->n; i++)
                if (streq(snap->containers[i].id, id))
                        return &snap->containers[i];
        return NULL;
}

/* Rows first, then Slurm: a row read before squeue answered belongs to a job that was RUNNING
 * when it was deployed, so a job missing from the answer has ended since. Returns the unix ms
 * of the next due scancel (0: none). */
static int64_t pass(struct slurmlife *l, struct ds01d *v)
{
        const struct config_cluster *cl = v->cfg->cluster;
        struct store_container *rows = NULL;
        size_t n_rows = 0, n_slurm = 0;
        struct error *err = NULL;
        if (store_list(v->store, -1, &rows, &n_rows, &err) < 0) {
                log_warning("Slurm watcher: reading the ledger: %s", err->message);
                error_free(err);
                return 0;
        }
        for (size_t k = 0; k < n_rows; k++)
                n_slurm += rows[k].slurm_job > 0;
        int64_t next = 0;
        if (!cl || (n_slurm == 0 && slurmend_pending(v->slurmend) == 0)) {
                pthread_mutex_lock(&l->lock);
                l->containers = n_slurm;
                pthread_mutex_unlock(&l->lock);
                goto out;
        }
        struct slurm_running *run = NULL;
        size_t n_run = 0;
        if (running_jobs(cl, &l->stopping, &run, &n_run, &err) < 0) {
                if (!atomic_load(&l->stopping))
                        note_failure(l, n_slurm, cl->node, err->message);
                error_free(err);
                goto out;
        }
        note_answer(l, n_slurm);
        const struct snapshot *snap = snapshot_get(v, &err);
        if (!snap) { /* Docker's states unknown: only what needs none (the job's end) */
                log_warning("Slurm watcher: listing containers: %s", err->message);
                err = error_free(err);
        }
        for (size_t k = 0; k < n_rows; k++) {
                const struct store_container *row = &rows[k];
                if (row->slurm_job <= 0 || !streq(row->state, "bound"))
                        continue; /* a deploy under way holds it reserved */
                if (!slurm_running_has(run, n_run, row->slurm_job, row->uid)) {
                        start_ending(l, row);
                        continue;
                }
                const struct snap_container *sc = snap_of(snap, row->docker_id);
                if (!sc || (!streq(sc->state, "exited") && !streq(sc->state, "dead")))
                        continue;
                /* its container ended first: the GPUs go before the job does (the job Slurm
                 * starts next on them finds them free) */
                if (row->n_leases > 0)
                        leases_stopped(v, row->name);
                slurmend_request(v->slurmend, row->slurm_job, row->uid, row->name,
                                 "stopped while its job ran",
                                 managed_uid_grace_s(v, row->uid, sc->interface));
        }
        if (snap)
                snapshot_put(v->snap, snap);
        next = slurmend_pass(v->slurmend, v, run, n_run);
        free(run);
out:
        store_containers_free(rows, n_rows);
        return next;
}

static void *watcher(void *arg)
{
        struct slurmlife *l = arg;
        int64_t wait_ms;
        do {
                struct ds01d v;
                ds01d_pin(l->d, &v);
                int64_t due = pass(l, &v);
                wait_ms = (v.cfg->sample_interval_s > 0 ? v.cfg->sample_interval_s : 60) * 1000;
                ds01d_unpin(&v);
                int64_t now = now_ms();
                if (due > 0 && due - now < wait_ms)
                        wait_ms = due - now;
                if (wait_ms < MIN_WAIT_MS)
                        wait_ms = MIN_WAIT_MS;
        } while (slurmend_wait(l->d->slurmend, wait_ms));
        return NULL;
}

struct slurmlife *slurmlife_new(struct ds01d *d)
{
        struct slurmlife *l = xzalloc(sizeof(*l));
        l->d = d;
        pthread_mutex_init(&l->lock, NULL);
        d->slurmlife = l;
        return l;
}

int slurmlife_start(struct slurmlife *l, struct error **err)
{
        int r = pthread_create(&l->thread, NULL, watcher, l);
        if (r != 0)
                return error_set_errno(err, r, "starting the Slurm watcher thread");
        l->joinable = true;
        return 0;
}

void slurmlife_halt(struct slurmlife *l)
{
        if (!l)
                return;
        atomic_store(&l->stopping, true);
        slurmend_stop(l->d->slurmend);
        if (l->joinable)
                pthread_join(l->thread, NULL);
        l->joinable = false;
}

struct slurmlife *slurmlife_stop(struct slurmlife *l)
{
        if (!l)
                return NULL;
        slurmlife_halt(l);
        /* Stops in flight finish (bounded by their grace periods) before the state goes. */
        for (int i = 0; i < 1200; i++) {
                pthread_mutex_lock(&l->lock);
                unsigned left = l->threads;
                pthread_mutex_unlock(&l->lock);
                if (!left)
                        break;
                struct timespec ts = {0, 50 * 1000 * 1000};
                nanosleep(&ts, NULL);
        }
        strv_release(&l->ending);
        free(l->error);
        pthread_mutex_destroy(&l->lock);
        free(l);
        return NULL;
}

void slurmlife_status(struct slurmlife *l, struct slurmlife_status *ret)
{
        *ret = (struct slurmlife_status){0};
        if (!l)
                return;
        pthread_mutex_lock(&l->lock);
        ret->containers = l->containers;
        ret->asked_ms = l->asked_ms;
        ret->failing_ms = l->failing_ms;
        ret->tries = l->tries;
        ret->error = l->error ? xstrdup(l->error) : NULL;
        pthread_mutex_unlock(&l->lock);
        ret->ending = slurmend_pending(l->d->slurmend);
}
