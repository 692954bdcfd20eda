/* metrics.h - /metrics on metrics_listen: the Prometheus text format, rendered
 * from what the daemon already keeps in memory - the last container snapshot (snapshot.h), the
 * GPU inventory, the monitor's samples, the counters (counters.h) - and never by asking Docker
 * inside a request. A scrape wakes a helper thread that refreshes the snapshot in the background
 * (a Docker list only when something changed), so the next scrape is current.
 *
 * Names and labels of DS01's exporter are kept so existing dashboards work; the
 * full list is in README.md ("Metrics"). */
#pragma once

#include "daemon/ds01d.h"
#include "daemon/requests/caller.h"

struct metrics;

/* Listens on d->cfg->metrics_listen (exactly that address; "off": nothing, and *ret is NULL with
 * no error). Call after the monitor started. NULL with *err when the address cannot be bound. */
int metrics_start(struct ds01d *d, struct metrics **ret, struct error **err);
/* Stops serving and waits for the helper thread. Accepts NULL. */
struct metrics *metrics_stop(struct metrics *m);
/* After a reload: if metrics_listen changed, moves to the new address (or stops, for "off").
 * If the new address cannot be bound the old one is kept and the error logged. Returns the
 * server now running (NULL when off). */
struct metrics *metrics_reload(struct metrics *m, struct ds01d *d);

/* The exposition as a string (tests and benchmarks); the same text a scrape gets. */
char *metrics_render(struct ds01d *d);
