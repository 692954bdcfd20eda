/* bench/sim/sim.c - the GPU policy measured on a virtual clock (issue 16, item 6).
 *
 *   bench-sim [--trace lab | FILE.csv] [--days N] [--seed N] [--gpus N] [--json FILE]
 *             [--svg FILE]
 *
 * Replays a trace of sessions through the daemon's own decisions: gpus/pool.c's pool_pick
 * chooses each grant's GPUs (wear spreading), gpus/queue.c's queue_fairshare and
 * queue_priority order the waiting requests, gpus/backfill.c's backfill_pass decides which of
 * them start (the blocked one, backfill past it), rules/rules.c's rules_idle (with
 * idle_detection_window), rules_idle_timeout_s (high demand), rules_runtime and
 * rules_gpu_hold_s decide idle stops, runtime stops and the GPU hold after a stop. No Docker
 * and no ledger: leases, the queue and the usage are arrays here. A step is one sample
 * interval of virtual time.
 *
 * Three policies, each on the same trace:
 *   ds01    the queue (--wait): fair share (decayed GPU-hours against group priority) and age,
 *           the first request that cannot fit blocks the rest except backfill; idle samples
 *           every 60 s, a window of 1; high demand (0.8, halving the idle timeout) as DS01's
 *           file sets it.
 *   ds01-legacy  DS01 as it behaved: no queue - a refused user retries every 15 minutes;
 *           idle checks hourly, 3 idle observations in a row before the stop; no high demand.
 *   fcfs    ds01's idle rules, a queue in arrival order without fair share or backfill.
 *
 * The lab trace (--trace lab, seeded): a teaching lab's week, 8 GPUs, 30 students (group
 * priority 10, idle timeout 0.5 h, runtime cap 24 h) and 6 researchers (priority 20, 1 h,
 * 48 h). Assumptions, each a parameter below: students come on weekdays between 09:00 and
 * 19:00, 1-3 sessions a day each, more in the two days before Friday's deadline; researchers
 * any time, 1 session a day, half of them 2 GPUs. A session is work (GPU busy) in runs of
 * 20-180 min with pauses between runs (mostly a few minutes, one in five 20-90 min: lunch, a
 * lecture); when the work is done 60 % of users retire, the rest leave the container idle.
 * A user back from a pause whose container was stopped deploys again for the work left.
 *
 * A job trace (--trace FILE): the public Helios traces' CSV (cluster_log.csv: user, vc,
 * gpu_num, submit_time, duration, among others; csv_trace says how they are read); a job is
 * busy all its duration and then retired.
 *
 * Reported per policy: GPU utilisation (busy GPU-hours / capacity), idle-held GPU-hours (held
 * but idle, as a share of allocated), queue wait p50 and p95 per group (from a request until
 * its grant), and Jain's fairness index of each backlogged user's busy GPU-hours against their
 * share. One JSON object on stdout (or --json FILE); --svg draws the comparison. */
#include "../../src/daemon/config/config.h"
#include "../../src/daemon/config/limits.h"
#include "../../src/daemon/gpus/backfill.h"
#include "../../src/daemon/gpus/pool.h"
#include "../../src/daemon/gpus/queue.h"
#include "../../src/daemon/gpus/slot.h"
#include "../../src/daemon/rules/rules.h"
#include "../../src/shared/util.h"

#include <getopt.h>
#include <time.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_GPUS 64
#define DAY      86400

/* ---- the trace ---- */

struct phase {
        int64_t busy_s, pause_s; /* a run, then a pause (-1 after the last run: done) */
};

struct session {
        int user;
        int64_t arrive_s;
        int gpus;
        struct phase *phases;
        size_t n_phases;
        bool retires; /* when the work is done; else the container is left idle */
};

struct user {
        char name[64];
        int group; /* 0 student, 1 researcher */
        double decayed_gpu_s;
        double busy_gpu_s;
        bool backlogged; /* ever waited */
};

static const char *const GROUP_NAMES[] = {"student", "researcher"};

struct trace {
        struct session *s;
        size_t n;
        struct user *users;
        size_t n_users;
        int64_t horizon_s;
};

static double rnd(unsigned *seed)
{
        return (double)rand_r(seed) / ((double)RAND_MAX + 1);
}

static int64_t rexp(unsigned *seed, double mean)
{
        return (int64_t)(-mean * log(1 - rnd(seed)));
}

static void add_session(struct trace *t, struct session s)
{
        t->s = xrealloc(t->s, (t->n + 1) * sizeof(*t->s));
        t->s[t->n++] = s;
}

/* A session of `work_s` busy seconds in runs with pauses between. */
static struct session make_session(unsigned *seed, int user, int64_t at, int gpus, int64_t work_s)
{
        struct session s = {.user = user, .arrive_s = at, .gpus = gpus, .retires = rnd(seed) < 0.6};
        while (work_s > 0) {
                int64_t run = 1200 + (int64_t)(rnd(seed) * 9600);
                if (run > work_s)
                        run = work_s;
                work_s -= run;
                int64_t pause = rnd(seed) < 0.2 ? 1200 + (int64_t)(rnd(seed) * 4200)
                                                : 60 + rexp(seed, 180);
                s.phases = xrealloc(s.phases, (s.n_phases + 1) * sizeof(*s.phases));
                s.phases[s.n_phases++] = (struct phase){run, work_s > 0 ? pause : -1};
        }
        return s;
}

static int cmp_arrival(const void *a, const void *b)
{
        const struct session *x = a, *y = b;
        return x->arrive_s < y->arrive_s ? -1 : x->arrive_s > y->arrive_s;
}

static void lab_trace(struct trace *t, unsigned seed, int days)
{
        t->n_users = 36;
        t->users = xcalloc(t->n_users, sizeof(*t->users));
        for (size_t u = 0; u < t->n_users; u++) {
                t->users[u].group = u < 30 ? 0 : 1;
                snprintf(t->users[u].name, sizeof(t->users[u].name), "%s%02zu",
                         u < 30 ? "student" : "researcher", u);
        }
        for (int d = 0; d < days; d++) {
                int wd = d % 7; /* 0 Monday .. 6 Sunday; the deadline is Friday */
                for (size_t u = 0; u < t->n_users; u++) {
                        bool student = t->users[u].group == 0;
                        int n = student ? (wd >= 5 ? 0 : 1 + (int)(rnd(&seed) * (wd >= 2 ? 3 : 2)))
                                        : 1;
                        for (int k = 0; k < n; k++) {
                                int64_t at = (int64_t)d * DAY +
                                             (student ? 9 * 3600 + (int64_t)(rnd(&seed) * 36000)
                                                      : (int64_t)(rnd(&seed) * DAY));
                                int gpus = !student && rnd(&seed) < 0.5 ? 2 : 1;
                                int64_t work = student ? 1800 + (int64_t)(rnd(&seed) * 10800)
                                                       : 3600 + (int64_t)(rnd(&seed) * 28800);
                                add_session(t, make_session(&seed, (int)u, at, gpus, work));
                        }
                }
        }
        qsort(t->s, t->n, sizeof(*t->s), cmp_arrival);
        t->horizon_s = (int64_t)days * DAY;
}

static int find_user(struct trace *t, const char *name, const char *group)
{
        for (size_t i = 0; i < t->n_users; i++)
                if (streq(t->users[i].name, name))
                        return (int)i;
        t->users = xrealloc(t->users, (t->n_users + 1) * sizeof(*t->users));
        struct user *u = &t->users[t->n_users];
        memset(u, 0, sizeof(*u));
        snprintf(u->name, sizeof(u->name), "%s", name);
        u->group = streq(group, "researcher") ? 1 : 0;
        return (int)t->n_users++;
}

/* The column of name in a CSV header line, or -1. */
static int column(const char *header, const char *name)
{
        _cleanup_free_ char *h = xstrdup(header);
        h[strcspn(h, "\r\n")] = '\0';
        int k = 0;
        char *save = NULL;
        for (char *f = strtok_r(h, ",", &save); f; f = strtok_r(NULL, ",", &save), k++)
                if (streq(f, name))
                        return k;
        return -1;
}

/* Field k of a CSV line (no quoting: the traces have none), into buf. */
static bool field(const char *line, int k, char *buf, size_t n)
{
        const char *p = line;
        for (int i = 0; i < k && p; i++)
                p = (p = strchr(p, ',')) ? p + 1 : NULL;
        if (!p)
                return false;
        size_t len = strcspn(p, ",\r\n");
        if (len >= n)
                return false;
        memcpy(buf, p, len);
        buf[len] = '\0';
        return true;
}

/* "2020-04-01 08:30:00" -> unix seconds (UTC). */
static bool datetime(const char *s, int64_t *ret)
{
        struct tm tm = {0};
        const char *end = strptime(s, "%Y-%m-%d %H:%M:%S", &tm);
        if (!end || *end)
                return false;
        *ret = (int64_t)timegm(&tm);
        return true;
}

/* The Helios job trace's format (cluster_log.csv: a header naming the columns; user, vc,
 * gpu_num, submit_time as a date and time, duration in seconds): each job with GPUs, its submit
 * time counted from the first. The virtual cluster (vc) decides the group: the sum of its
 * name's bytes, even for students, odd for researchers - the traces' vc names are anonymous,
 * so the split is arbitrary but fixed. */
static int csv_trace(struct trace *t, const char *path)
{
        FILE *f = fopen(path, "re");
        if (!f)
                return -1;
        char line[1024], user[64], vc[64], gpus_s[32], submit[64], dur_s[32];
        int cu = -1, cv = -1, cg = -1, cs = -1, cd = -1;
        int64_t first = -1;
        while (fgets(line, sizeof(line), f)) {
                if (line[0] == '#')
                        continue;
                if (cu < 0) { /* the header */
                        cu = column(line, "user"), cv = column(line, "vc");
                        cg = column(line, "gpu_num"), cs = column(line, "submit_time");
                        cd = column(line, "duration");
                        if (cu < 0 || cv < 0 || cg < 0 || cs < 0 || cd < 0)
                                break;
                        continue;
                }
                int64_t at;
                if (!field(line, cu, user, sizeof(user)) || !field(line, cv, vc, sizeof(vc)) ||
                    !field(line, cg, gpus_s, sizeof(gpus_s)) ||
                    !field(line, cs, submit, sizeof(submit)) ||
                    !field(line, cd, dur_s, sizeof(dur_s)) || !datetime(submit, &at))
                        continue;
                int gpus = atoi(gpus_s);
                int64_t dur = strtoll(dur_s, NULL, 10);
                if (gpus < 1 || dur < 1)
                        continue; /* CPU-only jobs, and jobs that never ran */
                if (first < 0)
                        first = at;
                unsigned sum = 0;
                for (const char *c = vc; *c; c++)
                        sum += (unsigned char)*c;
                const char *group = sum % 2 ? "researcher" : "student";
                struct session s = {.user = find_user(t, user, group), .arrive_s = at - first,
                                    .gpus = gpus > 8 ? 8 : gpus, .retires = true};
                s.phases = xcalloc(1, sizeof(*s.phases));
                s.phases[0] = (struct phase){dur, -1};
                s.n_phases = 1;
                add_session(t, s);
                if (s.arrive_s + dur > t->horizon_s)
                        t->horizon_s = s.arrive_s + dur;
        }
        fclose(f);
        qsort(t->s, t->n, sizeof(*t->s), cmp_arrival);
        return t->n > 0 ? 0 : -1;
}

/* ---- the policies ---- */

struct policy {
        const char *name;
        bool queue;          /* requests wait in a queue (else a refused user retries) */
        bool fairshare;      /* ordered by priority (else by arrival) */
        bool backfill;       /* a request may pass a blocked one (queue.h's rule) */
        int64_t sample_s;    /* idle samples */
        int64_t window;      /* idle samples in a row before a warning or the stop */
        int64_t retry_s;     /* without a queue: a refused user tries again after this */
        double high_demand;  /* threshold (< 0: none) */
};

static const struct policy POLICIES[] = {
    {"ds01", true, true, true, 60, 1, 0, 0.8},
    {"ds01-legacy", false, false, false, 3600, 3, 900, -1},
    {"fcfs", true, false, false, 60, 1, 0, 0.8},
};

/* The groups' limits, as resource-limits.yaml would give them. */
static void group_limits(const struct policy *p, int group, struct limit_set *ls)
{
        memset(ls, 0, sizeof(*ls));
        ls->priority = group == 0 ? 10 : 20;
        ls->idle_timeout_h = group == 0 ? 0.5 : 1;
        ls->max_runtime_h = group == 0 ? 24 : 48;
        ls->gpu_hold_after_stop_h = 0.25;
        ls->policies = (struct limit_policies){
            .idle_warn_1 = 0.8,
            .idle_warn_2 = 0.95,
            .runtime_warn_1 = 0.75,
            .runtime_warn_2 = 0.9,
            .high_demand_threshold = p->high_demand,
            .high_demand_idle_reduction = 0.5,
            .idle_detection_window = p->window,
            .gpu_hold_after_manual_stop_m = -1,
        };
}

/* ---- the engine ---- */

enum jstate { J_WAIT, J_RUN, J_HELD, J_AWAY, J_GONE };

struct job {
        int session;
        enum jstate state;
        size_t phase;
        int64_t left_s;     /* of the run or the pause */
        bool pausing, done; /* done: the work is over, the container left idle */
        int64_t asked_at, next_try_at, started_at, held_until;
        int slots[8];
        int n;
        int64_t last_active, streak;
        int warned;
};

struct sim {
        const struct policy *p;
        const struct trace *t;
        struct user *users;
        struct limit_set ls[2];
        int n_gpus;
        struct gpu_slot slot[MAX_GPUS];
        bool free_[MAX_GPUS];
        int64_t leased_s[MAX_GPUS], released_at[MAX_GPUS];
        struct job *jobs;
        size_t n_jobs;
        int64_t now, dt;
        double busy_gpu_s, alloc_gpu_s;
        /* allocated but idle, by why: a pause in the work (the container kept running), the
         * work done and the container left running, the GPU held after a stop */
        double pause_gpu_s, left_gpu_s, hold_gpu_s;
        double *waits[2];
        size_t n_waits[2];
};

static const struct session *sess(const struct sim *s, const struct job *j)
{
        return &s->t->s[j->session];
}

static const struct limit_set *limits_of(const struct sim *s, const struct job *j)
{
        return &s->ls[s->users[sess(s, j)->user].group];
}

static struct job *new_job(struct sim *s, int session, size_t phase, int64_t left, bool pausing)
{
        s->jobs = xrealloc(s->jobs, (s->n_jobs + 1) * sizeof(*s->jobs));
        struct job *j = &s->jobs[s->n_jobs++];
        *j = (struct job){.session = session, .state = J_WAIT, .phase = phase, .left_s = left,
                          .pausing = pausing, .asked_at = s->now, .next_try_at = s->now};
        return j;
}

static void release(struct sim *s, struct job *j)
{
        for (int i = 0; i < j->n; i++) {
                s->free_[j->slots[i]] = true;
                s->leased_s[j->slots[i]] += s->now - j->started_at;
                s->released_at[j->slots[i]] = s->now;
        }
        j->n = 0;
}

static int n_free(const struct sim *s)
{
        int n = 0;
        for (int i = 0; i < s->n_gpus; i++)
                n += s->free_[i];
        return n;
}

/* The placement policy's choice among the free GPUs (gpus/pool.c). */
static bool place(struct sim *s, struct job *j)
{
        struct store_free_slot fs[MAX_GPUS];
        int map[MAX_GPUS];
        size_t nf = 0, idx[8];
        for (int i = 0; i < s->n_gpus; i++)
                if (s->free_[i]) {
                        fs[nf] = (struct store_free_slot){&s->slot[i], s->leased_s[i],
                                                          s->released_at[i]};
                        map[nf++] = i;
                }
        struct pool_request preq = {.n_slots = sess(s, j)->gpus};
        if (nf < (size_t)preq.n_slots || pool_pick(fs, nf, (size_t)preq.n_slots, &preq, idx) <
                                             (size_t)preq.n_slots)
                return false;
        for (int k = 0; k < preq.n_slots; k++) {
                j->slots[k] = map[idx[k]];
                s->free_[j->slots[k]] = false;
        }
        j->n = preq.n_slots;
        return true;
}

static void grant(struct sim *s, struct job *j)
{
        int g = s->users[sess(s, j)->user].group;
        s->waits[g] = xrealloc(s->waits[g], (s->n_waits[g] + 1) * sizeof(double));
        s->waits[g][s->n_waits[g]++] = (double)(s->now - j->asked_at);
        j->state = J_RUN;
        j->started_at = j->last_active = s->now;
        j->streak = j->warned = 0;
}

/* The user's own clock: runs end, pauses end, the work ends. */
static void advance(struct sim *s, struct job *j)
{
        if (j->done || (j->state != J_RUN && !j->pausing))
                return;
        j->left_s -= s->dt;
        if (j->left_s > 0)
                return;
        const struct session *se = sess(s, j);
        if (!j->pausing) { /* a run ended */
                int64_t pause = se->phases[j->phase].pause_s;
                if (pause < 0) { /* the work is done */
                        j->done = true;
                        if (se->retires) {
                                release(s, j);
                                j->state = J_GONE;
                        }
                        return;
                }
                j->pausing = true;
                j->left_s = pause;
                return;
        }
        /* back from a pause: the next run, in the container or from a new deploy */
        j->pausing = false;
        j->phase++;
        j->left_s = se->phases[j->phase].busy_s;
        if (j->state == J_HELD) {
                j->state = J_RUN; /* container-start: its GPUs were still held */
                j->last_active = s->now;
                j->streak = j->warned = 0;
        } else if (j->state == J_AWAY) {
                j->state = J_GONE;
                new_job(s, j->session, j->phase, j->left_s, false);
        }
}

static void stop(struct sim *s, struct job *j)
{
        bool waiting = false; /* ds01 gives a stopped container's GPUs to the queue at once */
        for (size_t i = 0; s->p->queue && i < s->n_jobs && !waiting; i++)
                waiting = s->jobs[i].state == J_WAIT;
        int64_t hold = rules_gpu_hold_s(limits_of(s, j), false, waiting);
        j->state = J_HELD;
        j->held_until = hold < 0 ? INT64_MAX : s->now + hold;
}

static void rules_step(struct sim *s, struct job *j, const struct rules_demand *dm)
{
        const struct limit_set *ls = limits_of(s, j);
        bool active = !j->pausing && !j->done;
        if (s->now % s->p->sample_s == 0) {
                if (active) {
                        j->last_active = s->now;
                        j->streak = 0;
                        j->warned = 0;
                } else {
                        j->streak++;
                }
                struct rules_clock c = {.since_ms = j->last_active * 1000,
                                        .limit_s = rules_idle_timeout_s(ls, dm, NULL),
                                        .warn_1 = ls->policies.idle_warn_1,
                                        .warn_2 = ls->policies.idle_warn_2,
                                        .warned = j->warned,
                                        .measured = true,
                                        .streak = j->streak,
                                        .window = ls->policies.idle_detection_window};
                int64_t due;
                enum rules_verdict v = c.limit_s < 0 ? RULES_NONE : rules_idle(&c, s->now * 1000, &due);
                if (v == RULES_WARN)
                        j->warned++;
                if (v == RULES_STOP) {
                        stop(s, j);
                        return;
                }
        }
        struct rules_clock rc = {.since_ms = j->started_at * 1000,
                                 .limit_s = (int64_t)(ls->max_runtime_h * 3600),
                                 .warn_1 = ls->policies.runtime_warn_1,
                                 .warn_2 = ls->policies.runtime_warn_2,
                                 .warned = 2};
        int64_t due;
        if (ls->max_runtime_h >= 0 && rules_runtime(&rc, s->now * 1000, &due) == RULES_STOP) {
                release(s, j); /* the cap: the user deploys again for the work left */
                j->state = J_GONE;
                if (!j->done)
                        new_job(s, j->session, j->phase, j->left_s, j->pausing);
        }
}

/* ---- granting ---- */

struct ranked {
        struct job *j;
        double key; /* larger first */
};

static int cmp_key(const void *a, const void *b)
{
        const struct ranked *x = a, *y = b;
        if (x->key != y->key)
                return x->key > y->key ? -1 : 1;
        return x->j->asked_at < y->j->asked_at ? -1 : x->j->asked_at > y->j->asked_at;
}

/* queue.c's order: fair share of decayed GPU-hours against group priority, and age. */
static double priority_of(const struct sim *s, const struct job *j, double used, double prio)
{
        const struct user *u = &s->users[sess(s, j)->user];
        struct queue_weights w = {.fairshare = QUEUE_DEFAULT_WEIGHT_FAIRSHARE,
                                  .age = QUEUE_DEFAULT_WEIGHT_AGE,
                                  .max_age_s = QUEUE_DEFAULT_MAX_AGE_H * 3600};
        double f = queue_fairshare(used > 0 ? u->decayed_gpu_s / used : 0,
                                   (double)s->ls[u->group].priority / prio);
        return queue_priority(&w, f, (double)(s->now - j->asked_at), 0);
}

/* A job's runtime cap in seconds (< 0: none), as queue.c takes its owner's. */
static int64_t cap_s_of(const struct sim *s, const struct job *j)
{
        double h = limits_of(s, j)->max_runtime_h;
        return h < 0 ? -1 : (int64_t)ceil(h * 3600);
}

/* The capacity as the board gives it to the queue: free GPUs now, and when each leased one
 * frees at the latest (a running job's runtime cap, a stopped one's hold). */
static void capacity_now(const struct sim *s, struct capacity *cap)
{
        cap->free_now = n_free(s);
        cap->ends = xcalloc((size_t)s->n_gpus + 1, sizeof(*cap->ends));
        cap->n_ends = 0;
        for (size_t i = 0; i < s->n_jobs; i++) {
                const struct job *j = &s->jobs[i];
                int64_t cap_s = cap_s_of(s, j);
                int64_t end = j->state == J_RUN && cap_s >= 0 ? j->started_at + cap_s
                              : j->state == J_HELD ? j->held_until
                                                   : INT64_MAX;
                for (int k = 0; end != INT64_MAX && k < j->n; k++)
                        cap->ends[cap->n_ends++] = end;
        }
        capacity_sort(cap);
}

struct pass_ctx {
        struct sim *s;
        struct ranked *r;
};

/* backfill.h's try: the placement policy's choice, and the grant. */
static enum backfill_try try_place(void *ctx, size_t i)
{
        struct pass_ctx *p = ctx;
        if (!place(p->s, p->r[i].j))
                return BACKFILL_BUSY;
        grant(p->s, p->r[i].j);
        return BACKFILL_STARTED;
}

static void grant_queue(struct sim *s)
{
        double used = 0, prio = 0;
        for (size_t u = 0; u < s->t->n_users; u++) {
                used += s->users[u].decayed_gpu_s;
                prio += (double)s->ls[s->users[u].group].priority;
        }
        struct ranked *r = xcalloc(s->n_jobs + 1, sizeof(*r));
        size_t n = 0;
        for (size_t i = 0; i < s->n_jobs; i++)
                if (s->jobs[i].state == J_WAIT) {
                        s->users[sess(s, &s->jobs[i])->user].backlogged = true;
                        r[n].j = &s->jobs[i];
                        r[n++].key = s->p->fairshare ? priority_of(s, &s->jobs[i], used, prio)
                                                     : -(double)s->jobs[i].asked_at;
                }
        qsort(r, n, sizeof(*r), cmp_key);
        struct backfill_request *v = xcalloc(n + 1, sizeof(*v));
        for (size_t i = 0; i < n; i++)
                v[i] = (struct backfill_request){sess(s, r[i].j)->gpus, cap_s_of(s, r[i].j)};
        struct capacity cap;
        capacity_now(s, &cap);
        struct pass_ctx ctx = {s, r};
        backfill_pass(&cap, v, n, s->now, s->p->backfill, try_place, &ctx);
        free(cap.ends);
        free(v);
        free(r);
}

/* DS01: no queue; whoever retries when a GPU is free gets it. */
static void grant_retries(struct sim *s)
{
        for (size_t i = 0; i < s->n_jobs; i++) {
                struct job *j = &s->jobs[i];
                if (j->state != J_WAIT || j->next_try_at > s->now)
                        continue;
                if (place(s, j))
                        grant(s, j);
                else {
                        s->users[sess(s, j)->user].backlogged = true;
                        j->next_try_at = s->now + s->p->retry_s;
                }
        }
}

/* ---- one run ---- */

/* Drops finished jobs (at a step's start, when no pointer into the array is held). */
static void compact(struct sim *s)
{
        size_t k = 0;
        for (size_t i = 0; i < s->n_jobs; i++)
                if (s->jobs[i].state != J_GONE)
                        s->jobs[k++] = s->jobs[i];
        s->n_jobs = k;
}

static void step(struct sim *s, size_t *next_arrival)
{
        if (s->now % 3600 == 0)
                compact(s);
        while (*next_arrival < s->t->n && s->t->s[*next_arrival].arrive_s <= s->now) {
                const struct session *se = &s->t->s[*next_arrival];
                new_job(s, (int)*next_arrival, 0, se->phases[0].busy_s, false);
                (*next_arrival)++;
        }
        struct rules_demand dm = {.slots = (size_t)s->n_gpus,
                                  .leased = (size_t)(s->n_gpus - n_free(s))};
        for (size_t i = 0; i < s->n_jobs; i++)
                dm.waiting += s->p->queue && s->jobs[i].state == J_WAIT;
        for (size_t i = 0; i < s->n_jobs; i++) {
                if (s->jobs[i].state == J_GONE)
                        continue;
                advance(s, &s->jobs[i]);
                struct job *j = &s->jobs[i];
                if (j->state == J_RUN)
                        rules_step(s, j, &dm);
                j = &s->jobs[i];
                if (j->state == J_HELD && s->now >= j->held_until) {
                        release(s, j);
                        j->state = j->done ? J_GONE : J_AWAY;
                }
        }
        if (s->p->queue)
                grant_queue(s);
        else
                grant_retries(s);
        double decay = exp2(-(double)s->dt / (QUEUE_DEFAULT_HALF_LIFE_D * (double)DAY));
        for (size_t u = 0; u < s->t->n_users; u++)
                s->users[u].decayed_gpu_s *= decay;
        for (size_t i = 0; i < s->n_jobs; i++) {
                struct job *j = &s->jobs[i];
                if (j->state != J_RUN && j->state != J_HELD)
                        continue;
                struct user *u = &s->users[sess(s, j)->user];
                double g = (double)j->n * (double)s->dt;
                s->alloc_gpu_s += g;
                u->decayed_gpu_s += g;
                if (j->state == J_HELD)
                        s->hold_gpu_s += g;
                else if (j->done)
                        s->left_gpu_s += g;
                else if (j->pausing)
                        s->pause_gpu_s += g;
                else {
                        s->busy_gpu_s += g;
                        u->busy_gpu_s += g;
                }
        }
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? -1 : x > y;
}

static double percentile(double *v, size_t n, double p)
{
        if (n == 0)
                return 0;
        qsort(v, n, sizeof(*v), cmp_double);
        size_t k = (size_t)ceil(p * (double)n);
        return v[k == 0 ? 0 : k - 1];
}

/* Jain's index of the backlogged users' busy GPU-hours against their shares. */
static double jain(const struct sim *s)
{
        double sum = 0, sq = 0;
        size_t n = 0;
        for (size_t u = 0; u < s->t->n_users; u++) {
                if (!s->users[u].backlogged)
                        continue;
                double x = s->users[u].busy_gpu_s / (double)s->ls[s->users[u].group].priority;
                sum += x;
                sq += x * x;
                n++;
        }
        return n == 0 || sq == 0 ? 1 : sum * sum / ((double)n * sq);
}

static json_t *run(const struct policy *p, const struct trace *t, int n_gpus)
{
        struct sim s = {.p = p, .t = t, .n_gpus = n_gpus, .dt = 60};
        s.users = xcalloc(t->n_users, sizeof(*s.users));
        memcpy(s.users, t->users, t->n_users * sizeof(*s.users));
        group_limits(p, 0, &s.ls[0]);
        group_limits(p, 1, &s.ls[1]);
        char uuids[MAX_GPUS][48];
        for (int i = 0; i < n_gpus; i++) {
                snprintf(uuids[i], sizeof(uuids[i]), "GPU-sim-%02d", i);
                s.slot[i] = (struct gpu_slot){.uuid = uuids[i], .gpu_index = i, .weight = 1,
                                              .allocatable = true, .numa_node = -1,
                                              .link_group = -1};
                s.free_[i] = true;
        }
        size_t next = 0;
        for (s.now = 0; s.now < t->horizon_s; s.now += s.dt)
                step(&s, &next);
        double cap = (double)n_gpus * (double)t->horizon_s;
        json_t *o = json_pack("{s:f, s:f, s:f, s:f, s:f}", "utilisation", s.busy_gpu_s / cap,
                              "idle_held_share",
                              s.alloc_gpu_s > 0 ? (s.alloc_gpu_s - s.busy_gpu_s) / s.alloc_gpu_s : 0,
                              "busy_gpu_h", s.busy_gpu_s / 3600, "allocated_gpu_h",
                              s.alloc_gpu_s / 3600, "fairness", jain(&s));
        json_object_set_new(o, "idle_held_gpu_h",
                            json_pack("{s:f, s:f, s:f}", "pauses", s.pause_gpu_s / 3600,
                                      "left_running", s.left_gpu_s / 3600, "held_after_stop",
                                      s.hold_gpu_s / 3600));
        json_t *p50 = json_object(), *p95 = json_object();
        for (int g = 0; g < 2; g++) {
                json_object_set_new(p50, GROUP_NAMES[g],
                                    json_real(percentile(s.waits[g], s.n_waits[g], 0.5)));
                json_object_set_new(p95, GROUP_NAMES[g],
                                    json_real(percentile(s.waits[g], s.n_waits[g], 0.95)));
                free(s.waits[g]);
        }
        json_object_set_new(o, "wait_p50_s", p50);
        json_object_set_new(o, "wait_p95_s", p95);
        free(s.jobs);
        free(s.users);
        return o;
}

/* ---- output ---- */

static double num(const json_t *o, const char *k)
{
        return json_number_value(json_object_get(o, k));
}

/* Three bar charts side by side: utilisation, idle-held share, students' p95 wait. */
static void write_svg(const char *path, json_t *pols)
{
        FILE *f = fopen(path, "we");
        if (!f)
                return;
        static const char *const colour[] = {"#2e9e44", "#d98a1c", "#3b6fd6"};
        static const char *const title[] = {"GPU utilisation (%)", "idle-held (% of allocated)",
                                            "students' p95 wait (h)"};
        fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"720\" height=\"260\" "
                   "font-family=\"sans-serif\" font-size=\"12\">\n"
                   "<rect width=\"720\" height=\"260\" fill=\"white\"/>\n");
        for (int c = 0; c < 3; c++) {
                double v[3], max = 0;
                const char *key;
                json_t *o;
                int k = 0;
                json_object_foreach (pols, key, o) {
                        v[k] = c == 0   ? 100 * num(o, "utilisation")
                               : c == 1 ? 100 * num(o, "idle_held_share")
                                        : num(json_object_get(o, "wait_p95_s"), "student") / 3600;
                        max = fmax(max, v[k]);
                        k++;
                }
                int x0 = 20 + c * 240;
                fprintf(f, "<text x=\"%d\" y=\"18\">%s</text>\n", x0, title[c]);
                k = 0;
                json_object_foreach (pols, key, o) {
                        double h = max > 0 ? 170 * v[k] / max : 0;
                        int x = x0 + k * 70;
                        fprintf(f,
                                "<rect x=\"%d\" y=\"%.1f\" width=\"50\" height=\"%.1f\" "
                                "fill=\"%s\"/>\n<text x=\"%d\" y=\"%.1f\">%.1f</text>\n"
                                "<text x=\"%d\" y=\"250\">%s</text>\n",
                                x, 220 - h, h, colour[k], x, 215 - h, v[k], x, key);
                        k++;
                }
        }
        fprintf(f, "</svg>\n");
        fclose(f);
}

static void usage(void)
{
        fprintf(stderr, "usage: bench-sim [--trace lab|FILE.csv] [--days N] [--seed N] "
                        "[--gpus N] [--json FILE] [--svg FILE]\n");
        exit(2);
}

int main(int argc, char **argv)
{
        const char *trace_arg = "lab", *json_path = NULL, *svg_path = NULL;
        int days = 7, gpus = 8;
        unsigned seed = 1;
        static const struct option opts[] = {
            {"trace", 1, NULL, 't'}, {"days", 1, NULL, 'd'}, {"seed", 1, NULL, 's'},
            {"gpus", 1, NULL, 'g'},  {"json", 1, NULL, 'j'}, {"svg", 1, NULL, 'v'},
            {NULL, 0, NULL, 0},
        };
        int c;
        while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                switch (c) {
                case 't': trace_arg = optarg; break;
                case 'd': days = atoi(optarg); break;
                case 's': seed = (unsigned)strtoul(optarg, NULL, 10); break;
                case 'g': gpus = atoi(optarg); break;
                case 'j': json_path = optarg; break;
                case 'v': svg_path = optarg; break;
                default: usage();
                }
        }
        if (days < 1 || days > 3650 || gpus < 1 || gpus > MAX_GPUS)
                usage();
        struct trace t = {0};
        if (streq(trace_arg, "lab"))
                lab_trace(&t, seed, days);
        else if (csv_trace(&t, trace_arg) < 0) {
                fprintf(stderr, "bench-sim: cannot read a trace from %s\n", trace_arg);
                return 1;
        }
        json_t *pols = json_object();
        for (size_t i = 0; i < ARRAY_SIZE(POLICIES); i++)
                json_object_set_new(pols, POLICIES[i].name, run(&POLICIES[i], &t, gpus));
        json_t *ds = json_object_get(pols, "ds01"), *ff = json_object_get(pols, "fcfs");
        bool p95_ok = true;
        for (int g = 0; g < 2; g++)
                p95_ok &= num(json_object_get(ds, "wait_p95_s"), GROUP_NAMES[g]) <=
                          num(json_object_get(ff, "wait_p95_s"), GROUP_NAMES[g]);
        json_t *out = json_pack(
            "{s:s, s:i, s:i, s:i, s:I, s:o, s:{s:b, s:b, s:b}}", "trace", trace_arg, "days", days,
            "gpus", gpus, "seed", (int)seed, "sessions", (json_int_t)t.n, "policies", pols,
            "targets", "idle_held_below_5pct", num(ds, "idle_held_share") < 0.05,
            "p95_wait_below_fcfs", p95_ok, "fairness_at_least_0_9", num(ds, "fairness") >= 0.9);
        if (svg_path)
                write_svg(svg_path, pols);
        FILE *f = json_path ? fopen(json_path, "we") : stdout;
        if (!f)
                return 1;
        json_dumpf(out, f, JSON_INDENT(2));
        fputc('\n', f);
        if (f != stdout)
                fclose(f);
        json_decref(out);
        for (size_t i = 0; i < t.n; i++)
                free(t.s[i].phases);
        free(t.s);
        free(t.users);
        return 0;
}
