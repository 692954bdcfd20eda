/* counters.c - see counters.h. */
#include "daemon/observe/counters.h"

#include "shared/util.h"

#include <pthread.h>
#include <time.h>

/* RPC latency: from a cached read (well under a millisecond) to a deploy that pulls nothing
 * (a few hundred ms) to a slow stop (the grace period). */
static const double rpc_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                    0.1,    0.25,  0.5,    1,     2.5,  5,     10};
/* A sweep: a handful of cgroup reads per container, a Docker list, a ledger read. */
static const double sweep_bounds[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1,
                                      0.25,  0.5,   1,    2.5,   5,    10};

static const char *const action_names[COUNTERS_N_ACTIONS] = {
    [COUNTERS_IDLE_STOP] = "idle_stop",       [COUNTERS_RUNTIME_STOP] = "runtime_stop",
    [COUNTERS_IDLE_WARNING] = "idle_warning", [COUNTERS_RUNTIME_WARNING] = "runtime_warning",
    [COUNTERS_HOLD_RELEASE] = "hold_release", [COUNTERS_CLEANUP_REMOVE] = "cleanup_remove",
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct counters_snapshot state = {
    .sweep = {.bounds = sweep_bounds, .n_bounds = ARRAY_SIZE(sweep_bounds)},
};

_Static_assert(ARRAY_SIZE(rpc_bounds) <= COUNTERS_MAX_BUCKETS, "too many RPC buckets");
_Static_assert(ARRAY_SIZE(sweep_bounds) <= COUNTERS_MAX_BUCKETS, "too many sweep buckets");

int64_t counters_now_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void observe(struct counters_hist *h, int64_t elapsed_ns)
{
        double s = elapsed_ns > 0 ? (double)elapsed_ns / 1e9 : 0;
        size_t i = 0;
        while (i < h->n_bounds && s > h->bounds[i])
                i++;
        h->counts[i]++;
        h->count++;
        h->sum += s;
}

void counters_rpc(const char *method, bool ok, int64_t elapsed_ns)
{
        pthread_mutex_lock(&lock);
        struct counters_rpc *r = NULL;
        for (size_t i = 0; i < state.n_rpc && !r; i++)
                if (streq(state.rpc[i].method, method ? method : "unknown"))
                        r = &state.rpc[i];
        if (!r) {
                /* The last place is kept for "unknown" (a full table, or no method). */
                bool full = state.n_rpc >= COUNTERS_MAX_METHODS;
                if (full || !method)
                        method = "unknown";
                for (size_t i = 0; i < state.n_rpc && !r; i++)
                        if (streq(state.rpc[i].method, method))
                                r = &state.rpc[i];
                if (!r && state.n_rpc < ARRAY_SIZE(state.rpc)) {
                        r = &state.rpc[state.n_rpc++];
                        r->method = xstrdup(method);
                        r->latency.bounds = rpc_bounds;
                        r->latency.n_bounds = ARRAY_SIZE(rpc_bounds);
                }
        }
        if (r) {
                if (ok)
                        r->ok++;
                else
                        r->error++;
                observe(&r->latency, elapsed_ns);
        }
        pthread_mutex_unlock(&lock);
}

/* The counter of an event type, added if new (with the lock held). */
static struct counters_event *event_slot(const char *type)
{
        for (size_t i = 0; i < state.n_events; i++)
                if (streq(state.events[i].type, type))
                        return &state.events[i];
        if (state.n_events >= COUNTERS_MAX_EVENT_TYPES) {
                for (size_t i = 0; i < state.n_events; i++)
                        if (streq(state.events[i].type, "other"))
                                return &state.events[i];
                type = "other";
        }
        if (state.n_events >= ARRAY_SIZE(state.events))
                return NULL;
        struct counters_event *e = &state.events[state.n_events++];
        e->type = xstrdup(type);
        return e;
}

static void count_hour(struct counters_event *e, int64_t t)
{
        int64_t h = t / 3600;
        size_t k = (size_t)(h % 24);
        if (h < e->hour_of[k])
                return; /* older than the day the slot counts now */
        if (e->hour_of[k] != h) {
                e->hour_of[k] = h;
                e->by_hour[k] = 0;
        }
        e->by_hour[k]++;
}

void counters_event(const char *type)
{
        if (!type)
                return;
        pthread_mutex_lock(&lock);
        struct counters_event *e = event_slot(type);
        if (e) {
                e->n++;
                count_hour(e, now_s());
        }
        pthread_mutex_unlock(&lock);
}

void counters_event_seen(const char *type, int64_t t)
{
        if (!type || t <= 0)
                return;
        pthread_mutex_lock(&lock);
        struct counters_event *e = event_slot(type);
        if (e)
                count_hour(e, t);
        pthread_mutex_unlock(&lock);
}

uint64_t counters_events_recent(const struct counters_event *e, int64_t now)
{
        int64_t h = now / 3600;
        uint64_t n = 0;
        for (size_t k = 0; k < 24; k++)
                if (e->hour_of[k] > h - 24 && e->hour_of[k] <= h)
                        n += e->by_hour[k];
        return n;
}

void counters_action(enum counters_action a)
{
        if ((unsigned)a >= COUNTERS_N_ACTIONS)
                return;
        pthread_mutex_lock(&lock);
        state.actions[a]++;
        pthread_mutex_unlock(&lock);
}

void counters_sweep(int64_t elapsed_ns)
{
        pthread_mutex_lock(&lock);
        observe(&state.sweep, elapsed_ns);
        state.last_sweep_ms = now_ms();
        pthread_mutex_unlock(&lock);
}

const char *counters_action_name(enum counters_action a)
{
        return (unsigned)a < COUNTERS_N_ACTIONS ? action_names[a] : "unknown";
}

void counters_read(struct counters_snapshot *ret)
{
        pthread_mutex_lock(&lock);
        *ret = state;
        pthread_mutex_unlock(&lock);
}
