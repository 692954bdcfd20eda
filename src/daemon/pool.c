#include "pool.h"

static int by_weight_then_index(const void *a, const void *b)
{
        const struct gpu_slot *x = *(const struct gpu_slot *const *)a;
        const struct gpu_slot *y = *(const struct gpu_slot *const *)b;
        if (x->weight != y->weight)
                return x->weight < y->weight ? -1 : 1;
        return x->gpu_index - y->gpu_index;
}

size_t pool_candidates(const struct gpu_inventory *inv, const struct limit_set *ls,
                       const struct pool_request *req, const struct gpu_slot ***ret)
{
        (void)req;
        const struct gpu_slot *slots;
        size_t n = gpu_inventory_slots(inv, &slots);
        const struct gpu_slot **v = xcalloc(n + 1, sizeof(*v));
        size_t k = 0;
        bool want_full = ls->allow_full_gpu;
        for (size_t i = 0; i < n; i++) {
                if (!slots[i].allocatable)
                        continue;
                bool full = slots[i].parent_uuid == NULL;
                if (full == want_full)
                        v[k++] = &slots[i];
        }
        if (!want_full)
                qsort(v, k, sizeof(*v), by_weight_then_index);
        *ret = v;
        return k;
}
