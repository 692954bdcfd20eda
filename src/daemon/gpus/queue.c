/* queue.c - deploys waiting for GPUs: joining, the order, the grants (see queue.h). */
#include "daemon/gpus/queue.h"

#include "daemon/config/generation.h"
#include "daemon/containers/deploy.h"
#include "daemon/docker/dockerjson.h"
#include "daemon/gpus/backfill.h"
#include "daemon/gpus/queuekick.h"
#include "daemon/ledger/store.h"
#include "daemon/observe/board.h"
#include "daemon/observe/events.h"
#include "daemon/rules/enforce.h"
#include "shared/log.h"
#include "shared/names.h"
#include "shared/timestamp.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

/* ---- the priority (pure) ---- */

double queue_fairshare(double usage_share, double share)
{
        if (share <= 0)
                return 0;
        return exp2(-usage_share / share);
}

double queue_priority(const struct queue_weights *w, double fairshare, double waited_s,
                      double boost)
{
        double age = w->max_age_s > 0 ? fmin(1, fmax(0, waited_s) / w->max_age_s) : 1;
        return w->fairshare * fairshare + w->age * age + boost;
}

/* ---- the order of the waiting requests ---- */

struct ranked {
        struct store_queued *q;
        double priority, fairshare;
        int64_t cap_s;    /* the owner's runtime cap (s; < 0: none) */
        int64_t estimate; /* when it starts at the latest (unix s; 0: unknown) */
};

/* Each user counted in the fair share: who waits, and who used GPUs lately. */
struct share {
        unsigned uid;
        double used_h; /* decayed GPU-equivalent hours */
        double priority;
        int64_t cap_s;
};

struct order {
        struct store_queued *rows;
        size_t n;
        struct ranked *v; /* by priority, highest first */
        struct share *users;
        size_t n_users;
};

static struct share *share_of(struct order *o, unsigned uid)
{
        for (size_t i = 0; i < o->n_users; i++)
                if (o->users[i].uid == uid)
                        return &o->users[i];
        o->users = xrealloc(o->users, (o->n_users + 1) * sizeof(*o->users));
        o->users[o->n_users] = (struct share){.uid = uid, .priority = -1};
        return &o->users[o->n_users++];
}

static int64_t day_start(const char *day)
{
        int64_t t;
        _cleanup_free_ char *iso = xasprintf("%sT00:00:00Z", day);
        return timestamp_parse(iso, &t) == 0 ? t : 0;
}

/* Decayed GPU-hours per user from the usage ledger: a day's hours count 2^(-age/half-life),
 * its age taken at its middle. */
static void load_usage(struct ds01d *d, struct order *o, int64_t now)
{
        double half_d = (double)d->cfg->queue_half_life_d;
        int64_t back = (int64_t)fmin(365, 8 * half_d); /* older days weigh under 1/256 */
        time_t since = (time_t)(now - back * 86400);
        struct tm tm;
        gmtime_r(&since, &tm);
        char day[16];
        strftime(day, sizeof(day), "%Y-%m-%d", &tm);
        struct store_usage *u = NULL;
        size_t n = 0;
        struct error *err = NULL;
        if (store_usage_since(d->store, day, &u, &n, &err) < 0) {
                log_error("queue: reading usage: %s", err->message);
                error_free(err);
                return;
        }
        for (size_t i = 0; i < n; i++) {
                double age_d = (double)(now - day_start(u[i].day) - 43200) / 86400;
                share_of(o, u[i].uid)->used_h +=
                    u[i].allocated_s / 3600 * exp2(-fmax(0, age_d) / half_d);
        }
        store_usage_free(u, n);
}

/* The group priority and runtime cap of each user counted. */
static void load_limits(struct ds01d *d, struct order *o)
{
        for (size_t i = 0; i < o->n_users; i++) {
                struct share *s = &o->users[i];
                struct caller c;
                struct limit_set ls;
                if (caller_for((uid_t)s->uid, &c) == 0) {
                        caller_limits(d, &c, &ls);
                        caller_release(&c);
                } else {
                        limits_resolve(d->limits, "", NULL, 0, &ls); /* the default group's */
                }
                s->priority = (double)ls.priority;
                s->cap_s = ls.max_runtime_h < 0 ? -1 : (int64_t)ceil(ls.max_runtime_h * 3600);
                limit_set_release(&ls);
        }
}

static int cmp_ranked(const void *a, const void *b)
{
        const struct ranked *x = a, *y = b;
        if (x->priority != y->priority)
                return x->priority > y->priority ? -1 : 1;
        if (x->q->created_at != y->q->created_at)
                return x->q->created_at < y->q->created_at ? -1 : 1;
        return x->q->id < y->q->id ? -1 : x->q->id > y->q->id;
}

static void order_release(struct order *o)
{
        store_queue_free(o->rows, o->n);
        free(o->v);
        free(o->users);
        memset(o, 0, sizeof(*o));
}

static int order_load(struct ds01d *d, struct order *o, int64_t now, struct error **err)
{
        memset(o, 0, sizeof(*o));
        if (store_queue_list(d->store, &o->rows, &o->n, err) < 0)
                return -1;
        if (o->n == 0)
                return 0;
        for (size_t i = 0; i < o->n; i++)
                share_of(o, o->rows[i].uid);
        load_usage(d, o, now);
        load_limits(d, o);
        double used = 0, prio = 0;
        for (size_t i = 0; i < o->n_users; i++) {
                used += o->users[i].used_h;
                prio += o->users[i].priority;
        }
        struct queue_weights w = {.fairshare = (double)d->cfg->queue_weight_fairshare,
                                  .age = (double)d->cfg->queue_weight_age,
                                  .max_age_s = (double)d->cfg->queue_max_age_h * 3600};
        o->v = xcalloc(o->n, sizeof(*o->v));
        for (size_t i = 0; i < o->n; i++) {
                struct share *s = share_of(o, o->rows[i].uid);
                double f = queue_fairshare(used > 0 ? s->used_h / used : 0,
                                           prio > 0 ? s->priority / prio : 0);
                o->v[i] = (struct ranked){
                    .q = &o->rows[i],
                    .fairshare = f,
                    .priority = queue_priority(&w, f, (double)(now - o->rows[i].created_at),
                                               o->rows[i].boost),
                    .cap_s = s->cap_s,
                };
        }
        qsort(o->v, o->n, sizeof(*o->v), cmp_ranked);
        return 0;
}

/* ---- capacity (backfill.h): free slots now, and when the leased ones free at the latest ---- */

/* The capacity as a board (board.h) shows it. */
static void capacity_of(const json_t *b, struct capacity *cap)
{
        memset(cap, 0, sizeof(*cap));
        json_t *slots = json_object_get(b, "slots"), *s;
        size_t i;
        cap->ends = xcalloc(json_array_size(slots) + 1, sizeof(*cap->ends));
        json_array_foreach (slots, i, s) {
                const char *state = jstr(s, "state");
                json_t *t = json_object_get(s, "frees_by");
                if (streq_ptr(state, "free"))
                        cap->free_now++;
                else if (streq_ptr(state, "leased") && json_is_integer(t))
                        cap->ends[cap->n_ends++] = json_integer_value(t);
        }
        capacity_sort(cap);
}

static void capacity_load(struct ds01d *d, struct capacity *cap)
{
        struct error *err = NULL;
        json_t *b = board_json(d, NULL, &err);
        capacity_of(b, cap); /* no board (logged by the snapshot): nothing free, no ends */
        json_decref(b);
        error_free(err);
}

/* Each request's estimate: enough slots for it and every request ahead of it. */
static void estimate(struct order *o, const struct capacity *cap, int64_t now)
{
        int64_t need = 0;
        for (size_t i = 0; i < o->n; i++) {
                need += o->v[i].q->n_slots;
                o->v[i].estimate = capacity_when(cap, need, now);
        }
}

/* ---- a pass ---- */

static void tell(struct ds01d *d, const struct caller *owner, const struct store_queued *q,
                 const char *event, const char *text)
{
        _cleanup_free_ char *container = names_container(q->project, owner->user_part);
        enforce_notify(d, owner, container, q->project, NULL, event, text, NULL);
}

/* A request leaves the queue, with its reason in the events log (and to the owner). */
static void end_request(struct ds01d *d, const struct caller *owner, const struct store_queued *q,
                        const char *event, const char *why)
{
        struct error *err = NULL;
        if (store_queue_remove(d->store, q->id, &err) < 0) {
                log_error("queue: removing request %lld: %s", (long long)q->id, err->message);
                error_free(err);
                return;
        }
        events_log(d->events, event, q->user,
                   json_pack("{s:I, s:s, s:s}", "id", (json_int_t)q->id, "project", q->project,
                             "reason", why));
        if (owner) {
                _cleanup_free_ char *text =
                    xasprintf("Your wait for GPUs for '%s' ended: %s", q->project, why);
                tell(d, owner, q, event, text);
        }
}

static enum backfill_try grant(struct ds01d *d, const struct store_queued *q, int64_t now)
{
        struct caller owner;
        if (caller_for((uid_t)q->uid, &owner) < 0) {
                end_request(d, NULL, q, "queue.fail", "the account is gone");
                return BACKFILL_ENDED;
        }
        struct error *err = NULL;
        json_t *params = json_loads(q->params, 0, NULL), *res = NULL;
        enum backfill_try g = BACKFILL_ENDED;
        bool busy = false;
        if (!params || store_queue_set_granting(d->store, q->id, true, &err) < 0) {
                log_error("queue: request %lld: %s", (long long)q->id,
                          err ? err->message : "its parameters do not parse");
                goto out;
        }
        if (deploy_run(d, &owner, params, true, &busy, &res, &err) == 0) {
                store_queue_remove(d->store, q->id, NULL);
                char b[32];
                events_log(d->events, "queue.grant", q->user,
                           json_pack("{s:I, s:s, s:O, s:I}", "id", (json_int_t)q->id, "project",
                                     q->project, "gpus", json_object_get(res, "gpus"), "waited_s",
                                     (json_int_t)(now - q->created_at)));
                _cleanup_free_ char *text = xasprintf(
                    "'%s' is running: the GPUs you waited for (%s) are yours - container-attach "
                    "%s",
                    q->project, format_duration(now - q->created_at, b), q->project);
                tell(d, &owner, q, "queue_grant", text);
                g = BACKFILL_STARTED;
                goto out;
        }
        store_queue_set_granting(d->store, q->id, false, NULL);
        if (busy) {
                g = BACKFILL_BUSY;
        } else if (err->code == DS01_ERESOURCE) {
                g = BACKFILL_KEPT; /* over the quota or the container limit now: it may fit later */
        } else {
                end_request(d, &owner, q, "queue.fail", err->message);
        }
out:
        error_free(err);
        json_decref(params);
        json_decref(res);
        caller_release(&owner);
        return g;
}

/* Expired requests and grants a crash interrupted. Returns whether any request is left. */
static void tidy(struct ds01d *d, struct order *o, int64_t now)
{
        for (size_t i = 0; i < o->n; i++) {
                struct store_queued *q = &o->rows[i];
                struct caller owner;
                bool known = caller_for((uid_t)q->uid, &owner) == 0;
                if (q->expires_at > 0 && now >= q->expires_at) {
                        end_request(d, known ? &owner : NULL, q, "queue.expire",
                                    "it waited as long as --max-wait allowed");
                        q->n_slots = 0; /* gone: skipped below */
                } else if (q->granting) {
                        _cleanup_free_ char *name =
                            names_container(q->project, known ? owner.user_part : q->user);
                        struct store_container sc;
                        if (store_get(d->store, name, &sc, NULL) == 0) {
                                store_container_release(&sc);
                                store_queue_remove(d->store, q->id, NULL);
                                q->n_slots = 0;
                        } else {
                                store_queue_set_granting(d->store, q->id, false, NULL);
                        }
                }
                if (known)
                        caller_release(&owner);
        }
}

struct pass_ctx {
        struct ds01d *d;
        const struct order *o;
        int64_t now;
};

static enum backfill_try try_grant(void *ctx, size_t i)
{
        struct pass_ctx *p = ctx;
        return grant(p->d, p->o->v[i].q, p->now);
}

static void pass(struct ds01d *d)
{
        int64_t now = now_s();
        struct order o;
        struct error *err = NULL;
        if (order_load(d, &o, now, &err) < 0) {
                log_error("queue: %s", err->message);
                error_free(err);
                return;
        }
        if (o.n == 0) { /* the usual pass: nobody waits, nothing to read */
                order_release(&o);
                return;
        }
        tidy(d, &o, now);
        struct capacity cap;
        capacity_load(d, &cap);
        struct backfill_request *v = xcalloc(o.n, sizeof(*v));
        for (size_t i = 0; i < o.n; i++)
                v[i] = (struct backfill_request){o.v[i].q->n_slots, o.v[i].cap_s};
        struct pass_ctx ctx = {d, &o, now};
        backfill_pass(&cap, v, o.n, now, true, try_grant, &ctx);
        free(v);
        free(cap.ends);
        order_release(&o);
}

/* ---- the worker ---- */

struct queue {
        struct ds01d *root;
        pthread_t thread;
        atomic_bool halted;
};

static void *queue_thread(void *arg)
{
        struct queue *q = arg;
        int64_t interval = 15;
        while (queuekick_wait(q->root->kick, interval)) {
                if (atomic_load(&q->halted))
                        continue;
                struct ds01d v;
                ds01d_pin(q->root, &v);
                interval = v.cfg->queue_pass_interval_s;
                pass(&v);
                ds01d_unpin(&v);
        }
        return NULL;
}

struct queue *queue_start(struct ds01d *d, struct error **err)
{
        struct queue *q = xzalloc(sizeof(*q));
        q->root = d->root;
        int r = pthread_create(&q->thread, NULL, queue_thread, q);
        if (r != 0) {
                free(q);
                error_set_errno(err, r, "starting the queue's thread");
                return NULL;
        }
        return q;
}

void queue_halt(struct queue *q)
{
        if (q)
                atomic_store(&q->halted, true);
}

struct queue *queue_stop(struct queue *q)
{
        if (!q)
                return NULL;
        queuekick_stop(q->root->kick);
        pthread_join(q->thread, NULL);
        free(q);
        return NULL;
}

/* ---- requests ---- */

static json_t *row_json(const struct ranked *r, size_t position, int64_t now)
{
        const struct store_queued *q = r->q;
        json_t *o = json_pack(
            "{s:I, s:s, s:s, s:i, s:I, s:I, s:f, s:f}", "id", (json_int_t)q->id, "user", q->user,
            "project", q->project, "gpus", q->n_slots, "position", (json_int_t)position, "waited_s",
            (json_int_t)(now - q->created_at), "priority", r->priority, "fairshare", r->fairshare);
        json_object_set_new(o, "estimate",
                            r->estimate > 0 ? json_integer(r->estimate) : json_null());
        json_object_set_new(o, "expires_at",
                            q->expires_at > 0 ? json_integer(q->expires_at) : json_null());
        return o;
}

/* The queue in order with estimates; the rows of uid (everyone's when uid < 0). board: the
 * board already read for the caller, or NULL (read here). */
static int listing(struct ds01d *d, int64_t uid, const json_t *board, json_t **ret_rows,
                   size_t *ret_waiting, struct error **err)
{
        int64_t now = now_s();
        struct order o;
        if (order_load(d, &o, now, err) < 0)
                return -1;
        struct capacity cap;
        if (board)
                capacity_of(board, &cap);
        else
                capacity_load(d, &cap);
        estimate(&o, &cap, now);
        json_t *rows = json_array();
        for (size_t i = 0; i < o.n; i++)
                if (uid < 0 || o.v[i].q->uid == (unsigned)uid)
                        json_array_append_new(rows, row_json(&o.v[i], i + 1, now));
        *ret_rows = rows;
        *ret_waiting = o.n;
        free(cap.ends);
        order_release(&o);
        return 0;
}

static int queue_join(struct ds01d *d, const struct caller *c, const json_t *params, int n_slots,
                      json_t **ret_result, struct error **err)
{
        int64_t now = now_s();
        json_t *jw = json_object_get(params, "max_wait_s");
        int64_t max_wait = json_is_integer(jw) ? json_integer_value(jw) : 0;
        json_t *p = json_deep_copy(params);
        json_object_del(p, "wait");
        json_object_del(p, "max_wait_s");
        _cleanup_free_ char *text = json_dumps(p, JSON_COMPACT);
        json_decref(p);
        const char *project = jstr(params, "project");
        struct store_queued q = {
            .uid = (unsigned)c->uid,
            .user = c->login,
            .project = (char *)project,
            .params = text,
            .n_slots = n_slots,
            .created_at = now,
            .expires_at = max_wait > 0 ? now + max_wait : 0,
        };
        int64_t id;
        if (store_queue_add(d->store, &q, &id, err) < 0)
                return -1;
        events_log(d->events, "queue.join", c->login,
                   json_pack("{s:I, s:s, s:i}", "id", (json_int_t)id, "project", project, "gpus",
                             n_slots));
        json_t *rows = NULL;
        size_t waiting = 0;
        if (listing(d, (int64_t)c->uid, NULL, &rows, &waiting, err) < 0)
                return -1;
        json_t *mine = json_null(), *r;
        size_t i;
        json_array_foreach (rows, i, r)
                if (json_integer_value(json_object_get(r, "id")) == id)
                        mine = r;
        json_t *pos = json_object_get(mine, "position"), *est = json_object_get(mine, "estimate");
        *ret_result = json_pack("{s:b, s:I, s:s, s:O, s:O, s:I}", "queued", 1, "id", (json_int_t)id,
                                "project", project, "position", pos ? pos : json_null(), "estimate",
                                est ? est : json_null(), "waiting", (json_int_t)waiting);
        json_decref(rows);
        queuekick_ring(d->kick); /* it may be first, and something may have freed meanwhile */
        return 0;
}

int queue_deploy(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                 struct error **err)
{
        bool busy = false;
        int r = deploy_run(d, c, params, false, &busy, ret_result, err);
        if (r == 0 || !busy || !json_is_true(json_object_get(params, "wait")))
                return r;
        *err = error_free(*err); /* its GPUs are taken: a place in the queue instead */
        json_t *jg = json_object_get(params, "gpus");
        return queue_join(d, c, params, jg ? (int)json_integer_value(jg) : 1, ret_result, err);
}

int queue_board(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                struct error **err)
{
        (void)params;
        json_t *rows = NULL;
        size_t waiting = 0;
        *ret_result = board_json(d, c, err); /* read once: the estimates use it too */
        if (!*ret_result)
                return -1;
        if (listing(d, (int64_t)c->uid, *ret_result, &rows, &waiting, err) < 0) {
                json_decref(*ret_result);
                *ret_result = NULL;
                return -1;
        }
        json_object_set_new(*ret_result, "queue",
                            json_pack("{s:I, s:o}", "waiting", (json_int_t)waiting, "mine", rows));
        return 0;
}

int queue_list(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
               struct error **err)
{
        bool all = json_is_true(json_object_get(params, "all")); /* administrators (access.c) */
        json_t *rows = NULL;
        size_t waiting = 0;
        if (listing(d, all ? -1 : (int64_t)c->uid, NULL, &rows, &waiting, err) < 0)
                return -1;
        *ret_result = json_pack("{s:o, s:I}", "requests", rows, "waiting", (json_int_t)waiting);
        return 0;
}

int queue_leave(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                struct error **err)
{
        const char *project = jstr(params, "project");
        json_t *jid = json_object_get(params, "id");
        if (jid && !c->admin)
                return error_set(err, DS01_EPERM,
                                 "only administrators cancel a request by id - give your "
                                 "project's name: gpu-queue leave PROJECT");
        if (!project && !jid)
                return error_set(err, DS01_EUSAGE, "say which request: gpu-queue leave PROJECT");
        struct store_queued *v = NULL;
        size_t n = 0;
        if (store_queue_list(d->store, &v, &n, err) < 0)
                return -1;
        const struct store_queued *q = NULL;
        for (size_t i = 0; i < n && !q; i++)
                if (jid ? v[i].id == json_integer_value(jid)
                        : v[i].uid == (unsigned)c->uid && streq(v[i].project, project))
                        q = &v[i];
        int r = 0;
        if (!q) {
                r = jid ? error_set(err, DS01_ENOTFOUND,
                                    "no request %lld waits - gpu-queue --all "
                                    "lists them",
                                    (long long)json_integer_value(jid))
                        : error_set(err, DS01_ENOTFOUND,
                                    "no deploy of '%s' waits for GPUs - gpu-queue lists yours",
                                    project);
        } else {
                struct caller owner;
                bool other = q->uid != (unsigned)c->uid && caller_for((uid_t)q->uid, &owner) == 0;
                _cleanup_free_ char *why =
                    other ? xasprintf("cancelled by the administrator %s", c->login)
                          : xstrdup("you left the queue");
                end_request(d, other ? &owner : NULL, q, "queue.leave", why);
                if (other)
                        caller_release(&owner);
                *ret_result = json_pack("{s:I, s:s, s:s}", "id", (json_int_t)q->id, "user", q->user,
                                        "project", q->project);
        }
        store_queue_free(v, n);
        return r;
}

/* The priority that puts a request at index t of the others (o without it, best first). */
static double priority_at(const struct ranked *others, size_t n, size_t t)
{
        if (n == 0)
                return 0;
        if (t == 0)
                return others[0].priority + 1;
        if (t >= n)
                return others[n - 1].priority - 1;
        return (others[t - 1].priority + others[t].priority) / 2;
}

int queue_move(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
               struct error **err)
{
        int64_t id = json_integer_value(json_object_get(params, "id"));
        int64_t pos = json_integer_value(json_object_get(params, "position"));
        struct order o;
        if (order_load(d, &o, now_s(), err) < 0)
                return -1;
        size_t at = o.n;
        for (size_t i = 0; i < o.n; i++)
                if (o.v[i].q->id == id)
                        at = i;
        int r = -1;
        if (at == o.n) {
                error_set(err, DS01_ENOTFOUND, "no request %lld waits - gpu-queue --all lists them",
                          (long long)id);
                goto out;
        }
        struct ranked me = o.v[at];
        memmove(&o.v[at], &o.v[at + 1], (o.n - at - 1) * sizeof(*o.v));
        size_t t = (size_t)(pos < 1 ? 0 : pos - 1);
        double boost = me.q->boost + priority_at(o.v, o.n - 1, t) - me.priority;
        if (store_queue_set_boost(d->store, id, boost, err) < 0)
                goto out;
        events_log(d->events, "queue.move", me.q->user,
                   json_pack("{s:I, s:s, s:I, s:s}", "id", (json_int_t)id, "project", me.q->project,
                             "position", (json_int_t)(t + 1), "by", c->login));
        *ret_result = json_pack("{s:I, s:I}", "id", (json_int_t)id, "position",
                                (json_int_t)(t < o.n - 1 ? t + 1 : o.n));
        queuekick_ring(d->kick);
        r = 0;
out:
        order_release(&o);
        return r;
}
