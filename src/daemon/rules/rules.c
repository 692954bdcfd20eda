/* rules.c - the idle and runtime rules as decisions on numbers (see rules.h). */
#include "daemon/rules/rules.h"

#include <math.h>

/* The ledger's creation is the reservation, before Docker created the container (by seconds, or
 * by minutes on a loaded machine: never a reason to count from it). Only for a container recorded
 * before runtime_from_ms existed (-1) does a much older ledger creation mean that an older ds01
 * recreated it (a GPU hold that had expired). */
#define RECREATED_MS 60000
int64_t rules_runtime_start_ms(int64_t docker_created_ms, int64_t ledger_created_s,
                               int64_t runtime_from_ms)
{
        if (runtime_from_ms > 0)
                return runtime_from_ms;
        int64_t ledger = ledger_created_s > 0 ? ledger_created_s * 1000 : 0;
        if (docker_created_ms <= 0 ||
            (runtime_from_ms < 0 && ledger > 0 && ledger < docker_created_ms - RECREATED_MS))
                return ledger;
        return docker_created_ms;
}

bool rules_active(const struct limit_policies *p, const struct rules_sample *s)
{
        return s->cpu_pct >= p->cpu_idle_threshold || s->net_delta >= p->network_idle_threshold ||
               (s->gpu_pct >= 0 && s->gpu_pct >= p->gpu_idle_threshold) || s->session;
}

bool rules_gpu_active(const struct limit_policies *p, const struct rules_sample *s)
{
        if (s->gpu_pct >= 0)
                return s->gpu_pct >= p->gpu_idle_threshold;
        return rules_active(p, s);
}

bool rules_high_demand(const struct limit_policies *p, const struct rules_demand *dm)
{
        if (p->high_demand_threshold < 0)
                return false;
        if (dm->waiting > 0)
                return true;
        return dm->slots > 0 && (double)dm->leased >= p->high_demand_threshold * (double)dm->slots;
}

int64_t rules_idle_timeout_s(const struct limit_set *ls, const struct rules_demand *dm,
                             int64_t *ret_full_s)
{
        int64_t full = ls->idle_timeout_h < 0 ? -1 : llround(ls->idle_timeout_h * 3600);
        if (ret_full_s)
                *ret_full_s = full;
        const struct limit_policies *p = &ls->policies;
        if (full <= 0 || !rules_high_demand(p, dm))
                return full;
        int64_t t = llround((double)full * (1 - p->high_demand_idle_reduction));
        return t < 1 ? 1 : t;
}

int64_t rules_gpu_hold_s(const struct limit_set *ls, bool manual, bool queue_waiting)
{
        if (queue_waiting && !manual)
                return 0; /* ds01 stopped it: its GPUs go to those waiting, now */
        /* rounded up: a hold lasts at least what was set, counted in the ledger's seconds */
        double m = ls->policies.gpu_hold_after_manual_stop_m;
        if (manual && m >= 0)
                return (int64_t)ceil(m * 60);
        return ls->gpu_hold_after_stop_h < 0 ? -1 : (int64_t)ceil(ls->gpu_hold_after_stop_h * 3600);
}

/* The three steps of a clock, in ms after its start. */
static void steps(const struct rules_clock *c, int64_t step[3])
{
        step[0] = llround(c->warn_1 * (double)c->limit_s * 1000);
        step[1] = llround(c->warn_2 * (double)c->limit_s * 1000);
        step[2] = c->limit_s * 1000;
}

enum rules_verdict rules_idle(const struct rules_clock *c, int64_t now_ms, int64_t *ret_due_ms)
{
        int64_t step[3];
        steps(c, step);
        int w = c->warned < 2 ? c->warned : 2;
        int64_t idle_ms = now_ms > c->since_ms ? now_ms - c->since_ms : 0;
        *ret_due_ms = c->since_ms + step[w];
        if (idle_ms < step[w])
                return RULES_NONE;
        if (!c->measured || c->streak < c->window)
                return RULES_MEASURE;
        return w >= 2 ? RULES_STOP : RULES_WARN;
}

enum rules_verdict rules_runtime(const struct rules_clock *c, int64_t now_ms, int64_t *ret_due_ms)
{
        int64_t step[3];
        steps(c, step);
        int w = c->warned < 2 ? c->warned : 2;
        int64_t run_ms = now_ms > c->since_ms ? now_ms - c->since_ms : 0;
        *ret_due_ms = c->since_ms + step[w];
        if (run_ms >= step[2] && (w >= 2 || c->limit_s == 0))
                return RULES_STOP;
        return run_ms >= step[w] && w < 2 ? RULES_WARN : RULES_NONE;
}
