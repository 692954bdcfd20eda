/* bench/alloc.c - how fast ds01 decides GPU allocations (issue #3).
 *
 *   bench-alloc [--seconds S] [--durable-seconds S] [--occupancy F] [--seed N] [--dir DIR]
 *
 * Inventory: 512 whole simulated A100s + 128 A100s with MIG on, 4 instances each (3g.20gb,
 * 2g.10gb, 1g.5gb, 1g.5gb) = 1,024 allocatable slots, half of them MIG, made by the real
 * gpu_inventory_scan() from a struct config filled in here: ds01.yaml caps gpus.simulated at 64
 * GPUs (CONFIG_MAX_SIMULATED), too few for 1,024 slots, so no YAML file is written.
 * Users: 1,000, with limit_set values set directly: 2.0 GPU-equivalents, 2 slots per container,
 * allow_full_gpu for even user numbers only; no container limit.
 *
 * (a) In memory: per decision, a random user and request (half `--gpus 1|2`, half
 *     `--mig 1g.5gb|2g.10gb|3g.20gb`): pool_candidates() for the user's limits, the free
 *     candidates with their wear history from an in-memory lease table, pool_pick(), then the
 *     quota arithmetic of ledger/store-leases.c (the user's leased weights + the request vs the quota; a
 *     missing slot costs the cheapest candidate) and, when granted, the leases. Random containers
 *     are released (outside the timed part) to keep ~70 % of the slots leased. Each decision is
 *     timed on its own (CLOCK_MONOTONIC); decisions_per_s = decisions / time inside decisions.
 * (b) Durable, through the real ledger (store.c, SQLite WAL, synchronous=FULL) in a temp dir:
 *     store_reserve(.pick = pool_pick) + store_bind for random users, store_forget of random
 *     containers to keep ~70 % of the slots leased; each call is one transaction, so every
 *     commit waits for an fsync of the WAL. A direct pwrite+fdatasync measurement in the same
 *     directory is reported beside it.
 *
 * Prints one JSON object on stdout; bench/alloc.sh adds the start-up reconcile measurement. */
#include "../src/daemon/config/config.h"
#include "../src/daemon/gpus/gpu.h"
#include "../src/daemon/config/limits.h"
#include "../src/daemon/gpus/pool.h"
#include "../src/daemon/ledger/store.h"
#include "../src/shared/util.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#define N_WHOLE        512
#define N_MIG_GPUS     128
#define N_SLOTS        (N_WHOLE + N_MIG_GPUS * 4)
#define N_USERS        1000
#define USER_MAX_CONTS 16 /* 2.0 GPU-equivalents / (1/7) = 14 containers at most */
#define QUOTA_EPSILON  1e-9 /* as ledger/store-leases.c */

static const char *const mig_layout[] = {"3g.20gb", "2g.10gb", "1g.5gb", "1g.5gb"};
static const char *const mig_requests[] = {"1g.5gb", "2g.10gb", "3g.20gb"};

/* ---- small helpers ------------------------------------------------------------------------ */

static uint64_t rng_state;

static uint64_t rnd(void) /* xorshift64* */
{
        rng_state ^= rng_state >> 12;
        rng_state ^= rng_state << 25;
        rng_state ^= rng_state >> 27;
        return rng_state * 2685821657736338717ULL;
}

static size_t rnd_below(size_t n)
{
        return (size_t)(rnd() % n);
}

static int64_t mono_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t cpu_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
        return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

struct samples {
        int64_t *v;
        size_t n, cap;
};

static void samples_add(struct samples *s, int64_t ns)
{
        if (s->n == s->cap) {
                s->cap = s->cap ? s->cap * 2 : 4096;
                s->v = xrealloc(s->v, s->cap * sizeof(*s->v));
        }
        s->v[s->n++] = ns;
}

static int cmp_i64(const void *a, const void *b)
{
        int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
        return (x > y) - (x < y);
}

static int64_t samples_total(const struct samples *s)
{
        int64_t t = 0;
        for (size_t i = 0; i < s->n; i++)
                t += s->v[i];
        return t;
}

/* Sorts the samples; q in [0, 1]; nearest rank. */
static double samples_q(struct samples *s, double q)
{
        if (s->n == 0)
                return NAN;
        qsort(s->v, s->n, sizeof(*s->v), cmp_i64);
        size_t k = (size_t)ceil(q * (double)s->n);
        if (k > 0)
                k--;
        if (k >= s->n)
                k = s->n - 1;
        return (double)s->v[k];
}

static json_t *round_json(double v, double unit)
{
        if (!isfinite(v))
                return json_null();
        return json_real(round(v / unit * 1000.0) / 1000.0);
}

_noreturn_ static void die(const char *what, struct error *err)
{
        fprintf(stderr, "bench-alloc: %s%s%s\n", what, err ? ": " : "", err ? err->message : "");
        exit(1);
}

/* ---- the inventory and the users ---------------------------------------------------------- */

static struct config *make_config(void)
{
        struct error *err = NULL;
        struct config *c = config_load(NULL, &err);
        if (!c)
                die("loading the embedded default config", err);
        for (size_t i = 0; i < c->n_simulated; i++) {
                free(c->simulated[i].name);
                for (size_t k = 0; k < c->simulated[i].n_mig; k++)
                        free(c->simulated[i].mig[k]);
                free(c->simulated[i].mig);
        }
        free(c->simulated);
        c->n_simulated = N_WHOLE + N_MIG_GPUS;
        c->simulated = xcalloc(c->n_simulated, sizeof(*c->simulated));
        for (size_t i = 0; i < c->n_simulated; i++) {
                struct config_sim_gpu *g = &c->simulated[i];
                g->name = xstrdup("NVIDIA A100-SXM4-40GB");
                g->memory_mib = 40960;
                if (i < N_WHOLE)
                        continue;
                g->n_mig = ARRAY_SIZE(mig_layout);
                g->mig = xcalloc(g->n_mig, sizeof(*g->mig));
                for (size_t k = 0; k < g->n_mig; k++)
                        g->mig[k] = xstrdup(mig_layout[k]);
        }
        free(c->gpu_backend);
        c->gpu_backend = xstrdup("simulated");
        return c;
}

static void make_users(struct limit_set *users)
{
        for (int i = 0; i < N_USERS; i++) {
                struct limit_set *ls = &users[i];
                memset(ls, 0, sizeof(*ls));
                ls->user = xasprintf("bench%04d", i);
                ls->group = xstrdup("bench");
                ls->max_gpu_equivalents = 2.0;
                ls->max_gpu_slots_per_container = 2;
                ls->allow_full_gpu = i % 2 == 0;
                ls->max_cpus = 1;
                ls->memory = ls->memory_swap = ls->shm_size = ls->pids_limit = -1;
                ls->max_containers_per_user = -1;
                ls->max_runtime_h = ls->idle_timeout_h = -1;
                ls->gpu_hold_after_stop_h = ls->container_hold_after_stop_h = -1;
        }
}

static void random_request(struct pool_request *req)
{
        if (rnd() & 1) {
                req->n_slots = 1 + (int)rnd_below(2);
                req->mig_profile = NULL;
        } else {
                req->n_slots = 1;
                req->mig_profile = mig_requests[rnd_below(ARRAY_SIZE(mig_requests))];
        }
}

/* ---- (a) in memory ------------------------------------------------------------------------ */

enum outcome { GRANTED, REFUSED_QUOTA, REFUSED_NO_FREE, REFUSED_LIMIT, REFUSED_IMPOSSIBLE, _N_OUT };
static const char *const outcome_names[_N_OUT] = {"granted", "refused_quota", "refused_no_free",
                                                  "refused_slots_limit", "refused_impossible"};

struct mem_container {
        int user;
        int n;
        size_t slot[2];
        int64_t since;
};

struct sim {
        const struct gpu_inventory *inv;
        const struct gpu_slot *base; /* gpu_inventory_slots(): candidates point into it */
        size_t n_all;
        const struct limit_set *users;
        /* the lease table, by slot index */
        int *owner; /* container id, -1 free */
        int64_t *leased_s, *last_released;
        size_t n_leased;
        /* containers */
        struct mem_container *conts;
        int *free_ids;
        size_t n_free_ids;
        int *live; /* ids of live containers, for random release */
        size_t n_live;
        size_t *live_pos;
        int (*user_conts)[USER_MAX_CONTS];
        int *n_user_conts;
        /* scratch */
        struct store_free_slot *free_;
        size_t *pick;
        int64_t tick; /* logical clock: one per decision */
};

static enum outcome decide(struct sim *s, int user, const struct pool_request *req)
{
        const struct limit_set *ls = &s->users[user];
        const struct gpu_slot **cands = NULL;
        struct error *err = NULL;
        size_t nc = pool_candidates(s->inv, ls, req, &cands, &err);
        enum outcome out;
        if (nc == 0) {
                out = REFUSED_IMPOSSIBLE;
                goto done;
        }
        if (ls->max_gpu_slots_per_container >= 0 && req->n_slots > ls->max_gpu_slots_per_container) {
                out = REFUSED_LIMIT;
                goto done;
        }
        size_t n_free = 0;
        double cheapest = INFINITY;
        for (size_t i = 0; i < nc; i++) {
                size_t k = (size_t)(cands[i] - s->base);
                cheapest = fmin(cheapest, cands[i]->weight);
                if (s->owner[k] >= 0)
                        continue;
                s->free_[n_free++] = (struct store_free_slot){
                    .slot = cands[i],
                    .leased_s = s->leased_s[k],
                    .last_released = s->last_released[k],
                };
        }
        size_t n_picked = n_free ? pool_pick(s->free_, n_free, (size_t)req->n_slots, (void *)req,
                                             s->pick)
                                 : 0;
        if (n_picked > (size_t)req->n_slots)
                n_picked = (size_t)req->n_slots;
        double weight = 0;
        for (size_t i = 0; i < n_picked; i++)
                weight += s->free_[s->pick[i]].slot->weight;
        size_t missing = (size_t)req->n_slots - n_picked;
        double need = weight + (missing && isfinite(cheapest) ? (double)missing * cheapest : 0);
        double held = 0;
        for (int c = 0; c < s->n_user_conts[user]; c++) {
                const struct mem_container *mc = &s->conts[s->user_conts[user][c]];
                for (int j = 0; j < mc->n; j++)
                        held += s->base[mc->slot[j]].weight;
        }
        if (held + need > ls->max_gpu_equivalents + QUOTA_EPSILON) {
                out = REFUSED_QUOTA;
                goto done;
        }
        if (missing) {
                out = REFUSED_NO_FREE;
                goto done;
        }
        assert(s->n_free_ids > 0 && s->n_user_conts[user] < USER_MAX_CONTS);
        int id = s->free_ids[--s->n_free_ids];
        struct mem_container *mc = &s->conts[id];
        mc->user = user;
        mc->n = (int)n_picked;
        mc->since = s->tick;
        for (size_t i = 0; i < n_picked; i++) {
                size_t k = (size_t)(s->free_[s->pick[i]].slot - s->base);
                mc->slot[i] = k;
                s->owner[k] = id;
        }
        s->n_leased += n_picked;
        s->user_conts[user][s->n_user_conts[user]++] = id;
        s->live_pos[id] = s->n_live;
        s->live[s->n_live++] = id;
        out = GRANTED;
done:
        error_free(err);
        free(cands);
        return out;
}

/* 0: --gpus N as whole GPUs (allow_full_gpu), 1: --gpus N as MIG instances, 2: --mig PROFILE */
static int request_kind(const struct sim *s, int user, const struct pool_request *req)
{
        if (req->mig_profile)
                return 2;
        return s->users[user].allow_full_gpu ? 0 : 1;
}

static void release_random(struct sim *s)
{
        size_t p = rnd_below(s->n_live);
        int id = s->live[p];
        s->live[p] = s->live[--s->n_live];
        s->live_pos[s->live[p]] = p;
        struct mem_container *mc = &s->conts[id];
        for (int j = 0; j < mc->n; j++) {
                size_t k = mc->slot[j];
                s->owner[k] = -1;
                s->leased_s[k] += s->tick - mc->since;
                s->last_released[k] = s->tick;
        }
        s->n_leased -= (size_t)mc->n;
        int *uc = s->user_conts[mc->user];
        for (int c = 0; c < s->n_user_conts[mc->user]; c++)
                if (uc[c] == id) {
                        uc[c] = uc[--s->n_user_conts[mc->user]];
                        break;
                }
        s->free_ids[s->n_free_ids++] = id;
}

static json_t *bench_memory(const struct gpu_inventory *inv, const struct limit_set *users,
                            double seconds, double occupancy)
{
        struct sim s = {.inv = inv, .users = users};
        s.n_all = gpu_inventory_slots(inv, &s.base);
        s.owner = xcalloc(s.n_all, sizeof(*s.owner));
        for (size_t i = 0; i < s.n_all; i++)
                s.owner[i] = -1;
        s.leased_s = xcalloc(s.n_all, sizeof(*s.leased_s));
        s.last_released = xcalloc(s.n_all, sizeof(*s.last_released));
        s.conts = xcalloc(N_SLOTS, sizeof(*s.conts));
        s.free_ids = xcalloc(N_SLOTS, sizeof(*s.free_ids));
        for (int i = 0; i < N_SLOTS; i++)
                s.free_ids[s.n_free_ids++] = N_SLOTS - 1 - i;
        s.live = xcalloc(N_SLOTS, sizeof(*s.live));
        s.live_pos = xcalloc(N_SLOTS, sizeof(*s.live_pos));
        s.user_conts = xcalloc(N_USERS, sizeof(*s.user_conts));
        s.n_user_conts = xcalloc(N_USERS, sizeof(*s.n_user_conts));
        s.free_ = xcalloc(s.n_all + 1, sizeof(*s.free_));
        s.pick = xcalloc(s.n_all + 1, sizeof(*s.pick));

        size_t target = (size_t)(occupancy * N_SLOTS);
        struct pool_request req;
        /* warm-up: fill to the target occupancy (and warm the caches), not timed */
        for (int i = 0; i < 200000 && s.n_leased < target; i++) {
                random_request(&req);
                decide(&s, (int)rnd_below(N_USERS), &req);
                s.tick++;
        }

        struct samples lat = {0}, by_kind[3] = {{0}};
        size_t counts[_N_OUT] = {0};
        double occ_sum = 0;
        int64_t t0 = mono_ns(), t_end = t0 + (int64_t)(seconds * 1e9), t1;
        for (;;) {
                for (int b = 0; b < 1024; b++) {
                        random_request(&req);
                        int user = (int)rnd_below(N_USERS);
                        int64_t a = mono_ns();
                        enum outcome o = decide(&s, user, &req);
                        int64_t z = mono_ns();
                        samples_add(&lat, z - a);
                        samples_add(&by_kind[request_kind(&s, user, &req)], z - a);
                        counts[o]++;
                        s.tick++;
                        while (s.n_leased > target)
                                release_random(&s);
                        occ_sum += (double)s.n_leased / N_SLOTS;
                }
                t1 = mono_ns();
                if (t1 >= t_end)
                        break;
        }
        double wall = (double)(t1 - t0) / 1e9;
        double inside = (double)samples_total(&lat) / 1e9;
        json_t *o = json_object();
        json_object_set_new(o, "decisions", json_integer((json_int_t)lat.n));
        json_object_set_new(o, "seconds", round_json(wall, 1));
        json_object_set_new(o, "decisions_per_s", json_integer((json_int_t)round((double)lat.n / inside)));
        json_object_set_new(o, "wall_decisions_per_s",
                            json_integer((json_int_t)round((double)lat.n / wall)));
        json_object_set_new(o, "p50_us", round_json(samples_q(&lat, 0.50), 1e3));
        json_object_set_new(o, "p99_us", round_json(samples_q(&lat, 0.99), 1e3));
        json_object_set_new(o, "max_us", round_json(samples_q(&lat, 1.0), 1e3));
        json_object_set_new(o, "mean_occupancy", round_json(occ_sum / (double)lat.n, 1));
        json_t *oc = json_object();
        for (int i = 0; i < _N_OUT; i++)
                json_object_set_new(oc, outcome_names[i], json_integer((json_int_t)counts[i]));
        json_object_set_new(o, "outcomes", oc);
        static const char *const kind_names[3] = {"gpus_whole", "gpus_mig", "mig_profile"};
        json_t *kinds = json_object();
        for (int i = 0; i < 3; i++) {
                json_t *k = json_object();
                json_object_set_new(k, "decisions", json_integer((json_int_t)by_kind[i].n));
                json_object_set_new(k, "p50_us", round_json(samples_q(&by_kind[i], 0.50), 1e3));
                json_object_set_new(k, "p99_us", round_json(samples_q(&by_kind[i], 0.99), 1e3));
                json_object_set_new(kinds, kind_names[i], k);
                free(by_kind[i].v);
        }
        json_object_set_new(o, "by_request", kinds);

        free(lat.v);
        free(s.owner);
        free(s.leased_s);
        free(s.last_released);
        free(s.conts);
        free(s.free_ids);
        free(s.live);
        free(s.live_pos);
        free(s.user_conts);
        free(s.n_user_conts);
        free(s.free_);
        free(s.pick);
        return o;
}

/* ---- (b) through the ledger --------------------------------------------------------------- */

struct live_c {
        char *name;
        int n;
};

struct durable {
        struct store *st;
        const struct gpu_inventory *inv;
        const struct limit_set *users;
        struct live_c *live;
        size_t n_live;
        size_t n_leased;
        unsigned serial;
        struct samples reserve, bind, forget;
        size_t attempts, granted, refused, txs;
};

static void durable_reserve(struct durable *d)
{
        int user = (int)rnd_below(N_USERS);
        const struct limit_set *ls = &d->users[user];
        struct pool_request preq;
        random_request(&preq);
        const struct gpu_slot **cands = NULL;
        struct error *err = NULL;
        size_t nc = pool_candidates(d->inv, ls, &preq, &cands, &err);
        error_free(err);
        err = NULL;
        _cleanup_free_ char *project = xasprintf("p%u", d->serial++);
        _cleanup_free_ char *name = xasprintf("%s._.%s", project, ls->user);
        struct store_reservation_req req = {
            .container = name,
            .project = project,
            .user = ls->user,
            .uid = 10000 + (unsigned)user,
            .n_slots = preq.n_slots,
            .max_gpu_equivalents = ls->max_gpu_equivalents,
            .max_slots_per_container = ls->max_gpu_slots_per_container,
            .max_containers = ls->max_containers_per_user,
            .candidates = cands,
            .n_candidates = nc,
            .pick = pool_pick,
            .pick_ctx = &preq,
        };
        char **uuids = NULL;
        int64_t a = mono_ns();
        int r = store_reserve(d->st, &req, &uuids, &err);
        samples_add(&d->reserve, mono_ns() - a);
        d->attempts++;
        d->txs++;
        free(cands);
        if (r < 0) {
                if (err->code != DS01_ERESOURCE)
                        die("store_reserve", err);
                error_free(err);
                d->refused++;
                return;
        }
        int n = 0;
        while (uuids && uuids[n])
                n++;
        store_strv_free(uuids);
        char docker_id[65];
        snprintf(docker_id, sizeof(docker_id), "%064x", d->serial);
        a = mono_ns();
        if (store_bind(d->st, name, docker_id, &err) < 0)
                die("store_bind", err);
        samples_add(&d->bind, mono_ns() - a);
        d->txs++;
        d->granted++;
        d->live = xrealloc(d->live, (d->n_live + 1) * sizeof(*d->live));
        d->live[d->n_live++] = (struct live_c){xstrdup(name), n};
        d->n_leased += (size_t)n;
}

static void durable_forget_random(struct durable *d)
{
        size_t p = rnd_below(d->n_live);
        struct live_c c = d->live[p];
        d->live[p] = d->live[--d->n_live];
        struct error *err = NULL;
        char **rel = NULL;
        int64_t a = mono_ns();
        if (store_forget(d->st, c.name, &rel, &err) < 0)
                die("store_forget", err);
        samples_add(&d->forget, mono_ns() - a);
        d->txs++;
        store_strv_free(rel);
        d->n_leased -= (size_t)c.n;
        free(c.name);
}

/* pwrite + fdatasync of one page, as a WAL commit does at least once. */
static double fsync_p50_ns(const char *dir, int n)
{
        _cleanup_free_ char *path = xasprintf("%s/fsync-probe", dir);
        _cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
                return NAN;
        char page[4096];
        memset(page, 'x', sizeof(page));
        struct samples s = {0};
        for (int i = 0; i < n; i++) {
                int64_t a = mono_ns();
                if (pwrite(fd, page, sizeof(page), (off_t)(i % 64) * 4096) != (ssize_t)sizeof(page) ||
                    fdatasync(fd) < 0)
                        break;
                samples_add(&s, mono_ns() - a);
        }
        unlink(path);
        double p50 = samples_q(&s, 0.5);
        free(s.v);
        return p50;
}

static void rm_tree_flat(const char *dir) /* the state dir holds only files */
{
        DIR *dp = opendir(dir);
        if (dp) {
                struct dirent *e;
                while ((e = readdir(dp)))
                        if (!streq(e->d_name, ".") && !streq(e->d_name, "..")) {
                                _cleanup_free_ char *p = xasprintf("%s/%s", dir, e->d_name);
                                unlink(p);
                        }
                closedir(dp);
        }
        rmdir(dir);
}

static json_t *bench_durable(const struct gpu_inventory *inv, const struct limit_set *users,
                             const char *parent, double seconds, double occupancy)
{
        _cleanup_free_ char *tmp = xasprintf("%s/ds01-bench-alloc.XXXXXX", parent);
        if (!mkdtemp(tmp)) {
                perror("bench-alloc: mkdtemp");
                exit(1);
        }
        _cleanup_free_ char *state = xasprintf("%s/state", tmp);
        struct error *err = NULL;
        struct durable d = {.inv = inv, .users = users};
        d.st = store_open(state, &err);
        if (!d.st)
                die("store_open", err);

        size_t target = (size_t)(occupancy * N_SLOTS);
        int64_t f0 = mono_ns();
        for (int i = 0; i < 20000 && d.n_leased < target; i++)
                durable_reserve(&d);
        double fill_s = (double)(mono_ns() - f0) / 1e9;
        size_t fill_granted = d.granted;
        free(d.reserve.v);
        free(d.bind.v);
        d.reserve = d.bind = (struct samples){0};
        d.attempts = d.granted = d.refused = d.txs = 0;

        double occ_sum = 0;
        size_t occ_n = 0;
        int64_t c0 = cpu_ns(), t0 = mono_ns(), t_end = t0 + (int64_t)(seconds * 1e9), t1;
        do {
                durable_reserve(&d);
                while (d.n_leased > target)
                        durable_forget_random(&d);
                occ_sum += (double)d.n_leased / N_SLOTS;
                occ_n++;
                t1 = mono_ns();
        } while (t1 < t_end);
        double wall = (double)(t1 - t0) / 1e9;
        double cpu = (double)(cpu_ns() - c0) / 1e9;
        double fsync_ns = fsync_p50_ns(tmp, 200);

        json_t *o = json_object();
        json_object_set_new(o, "seconds", round_json(wall, 1));
        json_object_set_new(o, "fill_reservations", json_integer((json_int_t)fill_granted));
        json_object_set_new(o, "fill_seconds", round_json(fill_s, 1));
        json_object_set_new(o, "attempts", json_integer((json_int_t)d.attempts));
        json_object_set_new(o, "granted", json_integer((json_int_t)d.granted));
        json_object_set_new(o, "refused", json_integer((json_int_t)d.refused));
        json_object_set_new(o, "reservations_per_s",
                            json_integer((json_int_t)round((double)d.granted / wall)));
        json_object_set_new(o, "transactions_per_s",
                            json_integer((json_int_t)round((double)d.txs / wall)));
        json_object_set_new(o, "cpu_fraction", round_json(cpu / wall, 1));
        json_object_set_new(o, "reserve_p50_ms", round_json(samples_q(&d.reserve, 0.50), 1e6));
        json_object_set_new(o, "reserve_p99_ms", round_json(samples_q(&d.reserve, 0.99), 1e6));
        json_object_set_new(o, "bind_p50_ms", round_json(samples_q(&d.bind, 0.50), 1e6));
        json_object_set_new(o, "forget_p50_ms", round_json(samples_q(&d.forget, 0.50), 1e6));
        json_object_set_new(o, "fdatasync_p50_ms", round_json(fsync_ns, 1e6));
        json_object_set_new(o, "mean_occupancy", round_json(occ_sum / (double)occ_n, 1));
        json_object_set_new(o, "dir", json_string(parent));

        for (size_t i = 0; i < d.n_live; i++)
                free(d.live[i].name);
        free(d.live);
        free(d.reserve.v);
        free(d.bind.v);
        free(d.forget.v);
        store_free(d.st);
        rm_tree_flat(state);
        rmdir(tmp);
        return o;
}

/* ---- main --------------------------------------------------------------------------------- */

static void usage(FILE *f)
{
        fprintf(f, "usage: bench-alloc [--seconds S] [--durable-seconds S] [--occupancy F] "
                   "[--seed N] [--dir DIR]\n"
                   "  --seconds S          in-memory decisions for S seconds (default 3; >= 2, 0: skip)\n"
                   "  --durable-seconds S  ledger reservations for S seconds (default 3; 0: skip)\n"
                   "  --occupancy F        fraction of slots kept leased (default 0.7)\n"
                   "  --seed N             random seed (default 1)\n"
                   "  --dir DIR            where the temporary ledger goes (default $TMPDIR or "
                   "/tmp)\n");
}

static double arg_double(const char *opt, const char *s, double lo, double hi)
{
        char *end;
        errno = 0;
        double v = strtod(s, &end);
        if (errno || end == s || *end || !(v >= lo && v <= hi)) {
                fprintf(stderr, "bench-alloc: %s needs a number from %g to %g, not '%s'\n", opt, lo,
                        hi, s);
                exit(2);
        }
        return v;
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
            {"seconds", required_argument, NULL, 's'},
            {"durable-seconds", required_argument, NULL, 'D'},
            {"occupancy", required_argument, NULL, 'o'},
            {"seed", required_argument, NULL, 'S'},
            {"dir", required_argument, NULL, 'd'},
            {"help", no_argument, NULL, 'h'},
            {0},
        };
        double seconds = 3, durable_s = 3, occupancy = 0.7;
        uint64_t seed = 1;
        const char *dir = getenv("TMPDIR");
        if (!dir || !*dir)
                dir = "/tmp";
        int o;
        while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
                switch (o) {
                case 's':
                        seconds = arg_double("--seconds", optarg, 0, 3600);
                        if (seconds > 0 && seconds < 2) {
                                fprintf(stderr, "bench-alloc: --seconds is 0 (skip) or >= 2\n");
                                return 2;
                        }
                        break;
                case 'D':
                        durable_s = arg_double("--durable-seconds", optarg, 0, 3600);
                        break;
                case 'o':
                        occupancy = arg_double("--occupancy", optarg, 0.05, 0.95);
                        break;
                case 'S':
                        seed = (uint64_t)arg_double("--seed", optarg, 1, 1e15);
                        break;
                case 'd':
                        dir = optarg;
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        }
        if (optind < argc) {
                usage(stderr);
                return 2;
        }
        rng_state = seed * 0x9E3779B97F4A7C15ULL + 1;

        struct config *cfg = make_config();
        struct error *err = NULL;
        struct gpu_inventory *inv = gpu_inventory_scan(cfg, NULL, &err);
        if (!inv)
                die("gpu_inventory_scan", err);
        const struct gpu_slot *slots;
        size_t n_all = gpu_inventory_slots(inv, &slots), n_alloc = 0, n_mig = 0;
        for (size_t i = 0; i < n_all; i++) {
                n_alloc += slots[i].allocatable;
                n_mig += slots[i].allocatable && slots[i].parent_uuid;
        }
        if (n_alloc != N_SLOTS) {
                fprintf(stderr, "bench-alloc: the inventory has %zu allocatable slots, not %d\n",
                        n_alloc, N_SLOTS);
                return 1;
        }
        struct limit_set *users = xcalloc(N_USERS, sizeof(*users));
        make_users(users);

        json_t *mem = seconds > 0 ? bench_memory(inv, users, seconds, occupancy) : json_null();
        json_t *dur = durable_s > 0 ? bench_durable(inv, users, dir, durable_s, occupancy)
                                    : json_null();

        struct utsname un;
        uname(&un);
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        char machine[160];
        snprintf(machine, sizeof(machine), "%s, %ld cpus", un.release, cpus);
        json_t *out = json_pack(
            "{s:i, s:i, s:i, s:i, s:s, s:f, s:I, s:o, s:o, s:s, s:s, s:i}", "slots", (int)n_alloc,
            "mig_slots", (int)n_mig, "whole_slots", (int)(n_alloc - n_mig), "users", N_USERS,
            "inventory", "512 whole A100 + 128 A100 x MIG [3g.20gb, 2g.10gb, 1g.5gb, 1g.5gb]",
            "occupancy_target", occupancy, "seed", (json_int_t)seed, "memory", mem, "durable", dur,
            "machine", machine, "kernel", un.release, "cpus", (int)cpus);
        json_dumpf(out, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(8));
        putchar('\n');
        json_decref(out);

        for (int i = 0; i < N_USERS; i++)
                limit_set_release(&users[i]);
        free(users);
        gpu_inventory_free(inv);
        config_free(cfg);
        return 0;
}
