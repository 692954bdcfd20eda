/* reconcile.h - the ledger kept in step with Docker: at start-up, after the event stream was
 * lost, and on each Docker event about a managed container (watch.c delivers them). Containers
 * the ledger does not record are never adopted, whatever their labels: ds01 manages only what
 * it created. */
#pragma once

#include "daemon/ds01d.h"

/* Logs and records an event for every correction. At start-up (startup true) everything is
 * checked; at run time, rows still "reserved" and containers with an operation in progress are
 * left to that operation. */
int reconcile_ledger(struct ds01d *d, bool startup, struct error **err);
/* Docker saw container `name` (id docker_id) stop / start: its leases become held / bound. */
void reconcile_on_died(struct ds01d *d, const char *name, const char *docker_id);
void reconcile_on_started(struct ds01d *d, const char *name, const char *docker_id);
/* Docker destroyed container `name`, by whatever means: release its ledger record if it is that
 * container's (not a newer one of the same name). */
void reconcile_on_destroyed(struct ds01d *d, const char *name, const char *docker_id);
