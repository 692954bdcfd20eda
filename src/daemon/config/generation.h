/* generation.h - the configuration, the limits and the GPU inventory, published together as
 * one immutable, reference-counted generation.
 *
 * A request (and each monitor tick, Docker event, scrape) pins the current generation once, at
 * its start, into a view of the daemon context (ds01d_pin): it then reads view->cfg,
 * view->limits and view->inv for as long as it runs, with no lock held, whatever it waits on.
 * A reload or a rescan builds the new parts first and publishes them in a new generation (a
 * rescan that finds no change publishes nothing); the old one is freed when its last reader
 * unpins it. Parts a publish does not replace are shared between generations.
 *
 * Locking: one mutex inside, held only to read or swap the current pointer and its reference
 * count; a leaf in the lock order (docs/architecture.md, "Threads and locks"). */
#pragma once

#include "daemon/config/config.h"
#include "daemon/config/limits.h"
#include "daemon/gpus/gpu.h"

#include <stdint.h>
#include <sys/types.h>

struct ds01d;
struct generations;
struct generation;

/* Takes ownership of the first generation's parts. */
struct generations *generations_new(struct config *cfg, struct limits *limits,
                                    struct gpu_inventory *inv, gid_t admin_gid);
/* Frees the current generation; no view may still be pinned. */
struct generations *generations_free(struct generations *g);

/* What a publish replaces: NULL parts are kept from the current generation. admin_gid goes with
 * cfg. Takes ownership of the parts given. Returns the new generation's serial. */
struct generation_change {
        struct config *cfg;
        gid_t admin_gid;
        struct limits *limits;
        struct gpu_inventory *inv;
};
uint64_t generations_publish(struct generations *g, const struct generation_change *ch);

/* *view becomes a copy of root with the current generation pinned in it (view->cfg, ->limits,
 * ->inv, ->admin_gid, ->gen). Pair with ds01d_unpin. */
void ds01d_pin(const struct ds01d *root, struct ds01d *view);
void ds01d_unpin(struct ds01d *view);
/* The serial of the generation pinned in view (1 for the first; each publish adds one). */
uint64_t ds01d_generation(const struct ds01d *view);
