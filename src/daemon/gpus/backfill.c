/* backfill.c - which waiting requests may start now (see backfill.h). */
#include "daemon/gpus/backfill.h"

#include <stdlib.h>

int64_t capacity_when(const struct capacity *cap, int64_t need, int64_t now)
{
        if (need <= cap->free_now)
                return now;
        size_t k = (size_t)(need - cap->free_now);
        return k <= cap->n_ends ? cap->ends[k - 1] : 0;
}

int64_t capacity_free_at(const struct capacity *cap, int64_t t)
{
        int64_t n = cap->free_now;
        for (size_t i = 0; i < cap->n_ends && cap->ends[i] <= t; i++)
                n++;
        return n;
}

static int cmp_i64(const void *a, const void *b)
{
        int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
        return x < y ? -1 : x > y;
}

void capacity_sort(struct capacity *cap)
{
        qsort(cap->ends, cap->n_ends, sizeof(*cap->ends), cmp_i64);
}

/* Whether r is gone again by the blocked request's estimated start (0: not known). */
static bool ends_before(const struct backfill_request *r, int64_t now, int64_t shadow)
{
        return shadow > 0 && r->cap_s >= 0 && now + r->cap_s <= shadow;
}

size_t backfill_pass(struct capacity *cap, const struct backfill_request *v, size_t n, int64_t now,
                     bool backfill, backfill_try_fn try_start, void *ctx)
{
        bool blocked = false;
        int64_t shadow = 0; /* the blocked request's estimated start (0: not known) */
        int64_t extra = 0;  /* slots free then that it will not need */
        size_t started = 0;
        for (size_t i = 0; i < n; i++) {
                const struct backfill_request *r = &v[i];
                if (r->need == 0)
                        continue;
                /* in_extra: it fits in slots the blocked one will not need */
                bool in_extra = blocked && r->need <= extra;
                if (blocked && (!backfill || !(in_extra || ends_before(r, now, shadow))))
                        continue; /* it would delay the blocked request */
                /* fewer slots free than it needs: it cannot start now (a try would only be
                 * refused, at the cost of a deploy's checks) */
                enum backfill_try t = cap->free_now < r->need ? BACKFILL_BUSY : try_start(ctx, i);
                if (t == BACKFILL_STARTED) {
                        cap->free_now -= r->need;
                        started++;
                        if (in_extra)
                                extra -= r->need;
                } else if (t == BACKFILL_BUSY && !blocked) {
                        blocked = true;
                        shadow = capacity_when(cap, r->need, now);
                        extra = shadow > 0 ? capacity_free_at(cap, shadow) - r->need : 0;
                }
        }
        return started;
}
