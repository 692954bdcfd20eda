/* metrics-internal.h - what the two halves of /metrics share; private to observe/metrics*.c
 * (everyone else uses metrics.h). metrics-server.c serves and refreshes; metrics.c renders. */
#pragma once

#include "daemon/observe/metrics.h"

#include <pthread.h>

#include "shared/strbuf.h"

/* The most connections served at once: a bound on what scrapes cost. */
#define MAX_CONNECTIONS 32

/* A user's limits group as metrics.c caches it (GROUP_CACHE_S). */
struct group_entry {
        int64_t uid;
        char *user;
        char *group;
        int64_t expires;
};

struct mconn; /* a connection, as metrics-server.c watches it */

struct metrics {
        struct ds01d *d;
        struct MHD_Daemon *mhd;
        char *listen;
        int64_t started_s;

        /* the background snapshot refresh, woken by each scrape */
        pthread_t refresher;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        bool want_refresh, stop;

        /* connections, under `lock` (MHD's thread adds and removes, the refresher shuts) */
        struct mconn *conns[MAX_CONNECTIONS + 1];
        size_t n_conns;
        bool token_warned;

        /* user -> limits group; used by MHD's one thread only */
        struct group_entry *groups;
        size_t n_groups;
};

/* The exposition into sb. m: the server (its start time, its group cache) or NULL (metrics_render:
 * no cache). personal: the series that name users and containers (for authorised scrapers only).
 * Pins a generation of its own (generation.h). */
void metrics_render_into(struct metrics *m, struct ds01d *d, struct strbuf *sb, bool personal);
