/* generation.c - config, limits and inventory as one reference-counted generation (see
 * generation.h). */
#include "daemon/config/generation.h"

#include "daemon/ds01d.h"
#include "shared/util.h"

#include <pthread.h>

/* A part shared by the generations that did not replace it. */
struct part {
        int refs; /* under generations.lock */
        void *obj;
        void (*free)(void *obj);
};

struct generation {
        int refs; /* under generations.lock: the current pointer and each pinned view */
        uint64_t serial;
        struct part *cfg, *limits, *inv;
        gid_t admin_gid;
};

struct generations {
        pthread_mutex_t lock;
        struct generation *current;
        uint64_t serial;
};

static void free_config(void *p)
{
        config_free(p);
}

static void free_limits(void *p)
{
        limits_free(p);
}

static void free_inventory(void *p)
{
        gpu_inventory_free(p);
}

static struct part *part_new(void *obj, void (*fn)(void *))
{
        struct part *p = xzalloc(sizeof(*p));
        *p = (struct part){1, obj, fn};
        return p;
}

/* Drops one reference (under the lock); returns the part to free after unlocking, or NULL. */
static struct part *part_drop(struct part *p)
{
        return --p->refs == 0 ? p : NULL;
}

static void part_free(struct part *p)
{
        if (p) {
                p->free(p->obj);
                free(p);
        }
}

/* Drops a generation's reference (under the lock); what is left to free goes into dead[3]
 * (after unlocking) and the generation itself is returned when it went. */
static struct generation *gen_drop(struct generation *gen, struct part *dead[3])
{
        dead[0] = dead[1] = dead[2] = NULL;
        if (--gen->refs > 0)
                return NULL;
        dead[0] = part_drop(gen->cfg);
        dead[1] = part_drop(gen->limits);
        dead[2] = part_drop(gen->inv);
        return gen;
}

static void gen_free(struct generation *gen, struct part *dead[3])
{
        for (int i = 0; i < 3; i++)
                part_free(dead[i]);
        free(gen);
}

struct generations *generations_new(struct config *cfg, struct limits *limits,
                                    struct gpu_inventory *inv, gid_t admin_gid)
{
        struct generations *g = xzalloc(sizeof(*g));
        pthread_mutex_init(&g->lock, NULL);
        struct generation *gen = xzalloc(sizeof(*gen));
        *gen = (struct generation){1,
                                   ++g->serial,
                                   part_new(cfg, free_config),
                                   part_new(limits, free_limits),
                                   part_new(inv, free_inventory),
                                   admin_gid};
        g->current = gen;
        return g;
}

struct generations *generations_free(struct generations *g)
{
        if (g) {
                struct part *dead[3];
                struct generation *gone = gen_drop(g->current, dead);
                if (gone)
                        gen_free(gone, dead);
                pthread_mutex_destroy(&g->lock);
                free(g);
        }
        return NULL;
}

uint64_t generations_publish(struct generations *g, const struct generation_change *ch)
{
        struct generation *gen = xzalloc(sizeof(*gen));
        struct part *cfg = ch->cfg ? part_new(ch->cfg, free_config) : NULL;
        struct part *limits = ch->limits ? part_new(ch->limits, free_limits) : NULL;
        struct part *inv = ch->inv ? part_new(ch->inv, free_inventory) : NULL;
        pthread_mutex_lock(&g->lock);
        struct generation *old = g->current;
        *gen = (struct generation){1,
                                   ++g->serial,
                                   cfg ? cfg : old->cfg,
                                   limits ? limits : old->limits,
                                   inv ? inv : old->inv,
                                   cfg ? ch->admin_gid : old->admin_gid};
        /* the kept parts gain the new generation's reference */
        gen->cfg->refs += !cfg;
        gen->limits->refs += !limits;
        gen->inv->refs += !inv;
        g->current = gen;
        uint64_t serial = gen->serial;
        struct part *dead[3];
        struct generation *gone = gen_drop(old, dead);
        pthread_mutex_unlock(&g->lock);
        if (gone)
                gen_free(gone, dead);
        return serial;
}

void ds01d_pin(const struct ds01d *root, struct ds01d *view)
{
        *view = *root;
        struct generations *g = root->gens;
        pthread_mutex_lock(&g->lock);
        struct generation *gen = g->current;
        gen->refs++;
        pthread_mutex_unlock(&g->lock);
        view->gen = gen;
        view->cfg = gen->cfg->obj;
        view->limits = gen->limits->obj;
        view->inv = gen->inv->obj;
        view->admin_gid = gen->admin_gid;
}

void ds01d_unpin(struct ds01d *view)
{
        struct generation *gen = view->gen;
        if (!gen)
                return;
        struct generations *g = view->gens;
        struct part *dead[3];
        pthread_mutex_lock(&g->lock);
        struct generation *gone = gen_drop(gen, dead);
        pthread_mutex_unlock(&g->lock);
        if (gone)
                gen_free(gone, dead);
        view->gen = NULL;
        view->cfg = NULL;
        view->limits = NULL;
        view->inv = NULL;
}

uint64_t ds01d_generation(const struct ds01d *view)
{
        return view->gen ? view->gen->serial : 0;
}
