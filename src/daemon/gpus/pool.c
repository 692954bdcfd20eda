#include "daemon/gpus/pool.h"

#include <stdio.h>

int pool_parse_profile(const char *profile, int *ret_slices, int *ret_memory_gb, struct error **err)
{
        int slices = 0, mem = 0, n = 0;
        if (profile && sscanf(profile, "%dg%n", &slices, &n) == 1 && slices >= 1 && slices <= 7) {
                const char *rest = profile + n;
                int m = 0;
                if (*rest == '\0' || (sscanf(rest, ".%dgb%n", &mem, &m) == 1 && rest[m] == '\0' &&
                                      mem > 0 && mem <= 1024)) {
                        *ret_slices = slices;
                        *ret_memory_gb = mem;
                        return 0;
                }
        }
        return error_set(err, DS01_EUSAGE,
                         "invalid MIG profile '%.40s' - give one like '3g.20gb' or '1g' "
                         "(1 to 7 compute slices; 'ds01 gpus' lists this server's)",
                         profile ? profile : "");
}

static bool fits_profile(const struct gpu_slot *s, int slices, int mem_gb)
{
        return s->mig_slices >= slices && s->mig_memory_gb >= mem_gb;
}

size_t pool_candidates(const struct gpu_inventory *inv, const struct limit_set *ls,
                       const struct pool_request *req, const struct gpu_slot ***ret,
                       struct error **err)
{
        const struct gpu_slot *const *whole, *const *mig;
        size_t n_whole = gpu_inventory_allocatable(inv, false, &whole);
        size_t n_mig = gpu_inventory_allocatable(inv, true, &mig);
        int slices = 0, mem = 0;
        size_t k = 0;
        const struct gpu_slot **v;
        if (req->mig_profile) {
                v = xmalloc((n_mig + 1) * sizeof(*v));
                if (pool_parse_profile(req->mig_profile, &slices, &mem, err) < 0)
                        goto out;
                for (size_t i = 0; i < n_mig; i++)
                        if (fits_profile(mig[i], slices, mem))
                                v[k++] = mig[i];
                if (k == 0 && req->n_slots > 0)
                        error_set(err, DS01_ERESOURCE,
                                  "no MIG instance of %s or larger exists on this server - 'ds01 "
                                  "gpus' lists its GPUs; ask for another profile, or --gpus N%s",
                                  req->mig_profile,
                                  ls->allow_full_gpu ? "" : " (MIG slices only in your group)");
                goto out;
        }
        bool use_whole = ls->allow_full_gpu && n_whole > 0;
        size_t n = use_whole ? n_whole : n_mig;
        v = xmalloc((n + 1) * sizeof(*v));
        memcpy(v, use_whole ? whole : mig, n * sizeof(*v));
        k = n;
        if (k == 0 && req->n_slots > 0)
                error_set(err, DS01_ERESOURCE, "%s - deploy with --cpu-only",
                          !ls->allow_full_gpu && n_whole > 0
                              ? "your group may use MIG slices only, and this server has no "
                                "MIG instances"
                              : "this server has no GPU that can be leased");
out:
        *ret = v;
        return k;
}

/* Lower is better. */
static int cmp_wear(const struct store_free_slot *a, const struct store_free_slot *b)
{
        if (a->leased_s != b->leased_s)
                return a->leased_s < b->leased_s ? -1 : 1;
        if (a->last_released != b->last_released)
                return a->last_released < b->last_released ? -1 : 1;
        return a->slot->gpu_index - b->slot->gpu_index;
}

static int cmp_fit(const struct store_free_slot *a, const struct store_free_slot *b)
{
        if (a->slot->weight != b->slot->weight)
                return a->slot->weight < b->slot->weight ? -1 : 1;
        if (a->slot->memory_mib != b->slot->memory_mib)
                return a->slot->memory_mib < b->slot->memory_mib ? -1 : 1;
        return cmp_wear(a, b);
}

static int cmp_wear_idx(const void *a, const void *b, void *ctx)
{
        const struct store_free_slot *f = ctx;
        return cmp_wear(&f[*(const size_t *)a], &f[*(const size_t *)b]);
}

/* Moves the k best of idx[0..n) (by cmp) to the front, in order: k passes of selection, since
 * requests take one or two slots out of hundreds. */
static void select_best(const struct store_free_slot *f, size_t *idx, size_t n, size_t k,
                        int (*cmp)(const struct store_free_slot *, const struct store_free_slot *))
{
        for (size_t i = 0; i < k && i < n; i++) {
                size_t best = i;
                for (size_t j = i + 1; j < n; j++)
                        if (cmp(&f[idx[j]], &f[idx[best]]) < 0)
                                best = j;
                size_t t = idx[i];
                idx[i] = idx[best];
                idx[best] = t;
        }
}

/* The topology group of a whole GPU: its NVLink group, else its NUMA node, else one group. */
static int group_of(const struct gpu_slot *s, bool by_link)
{
        return by_link ? s->link_group : s->numa_node;
}

size_t pool_pick(const struct store_free_slot *f, size_t n_free, size_t n, void *ctx,
                 size_t *ret_idx)
{
        (void)ctx;
        if (n == 0 || n_free == 0)
                return 0;
        size_t *idx = xcalloc(n_free, sizeof(*idx));
        for (size_t i = 0; i < n_free; i++)
                idx[i] = i;
        bool mig = f[0].slot->parent_uuid != NULL;
        size_t take = n < n_free ? n : n_free;

        if (!mig && n > 1 && n <= n_free) {
                /* Keep the request on one NVLink group (else NUMA node) when topology is known
                 * for every free GPU. */
                bool link = true, numa = true;
                for (size_t i = 0; i < n_free; i++) {
                        link &= f[i].slot->link_group >= 0;
                        numa &= f[i].slot->numa_node >= 0;
                }
                if (link || numa) {
                        /* Grouping looks at every free GPU in wear order. */
                        qsort_r(idx, n_free, sizeof(*idx), cmp_wear_idx, (void *)f);
                        bool by_link = link;
                        int best_group = -1;
                        int64_t best_wear = 0;
                        for (size_t i = 0; i < n_free; i++) {
                                int g = group_of(f[idx[i]].slot, by_link);
                                /* the n least worn members of group g, in wear order */
                                size_t members = 0;
                                int64_t wear = 0;
                                for (size_t j = 0; j < n_free && members < n; j++)
                                        if (group_of(f[idx[j]].slot, by_link) == g) {
                                                members++;
                                                wear += f[idx[j]].leased_s;
                                        }
                                if (members == n && (best_group < 0 || wear < best_wear)) {
                                        best_group = g;
                                        best_wear = wear;
                                }
                        }
                        if (best_group >= 0) {
                                size_t k = 0;
                                for (size_t j = 0; j < n_free && k < n; j++)
                                        if (group_of(f[idx[j]].slot, by_link) == best_group)
                                                ret_idx[k++] = idx[j];
                                free(idx);
                                return k;
                        }
                }
        }
        select_best(f, idx, n_free, take, mig ? cmp_fit : cmp_wear);
        for (size_t i = 0; i < take; i++)
                ret_idx[i] = idx[i];
        free(idx);
        return take;
}
