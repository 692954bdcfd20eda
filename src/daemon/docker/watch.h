/* watch.h - follows Docker's event stream so the ledger hears about containers that change
 * outside a ds01 request: a managed container destroyed by anyone releases its GPUs within a
 * second; one that stops holds them ("held"); one that starts again binds them. After a lost
 * connection (dockerd restart) it resumes from the last event it saw and reconciles, so nothing
 * in the gap is missed. */
#pragma once

#include "daemon/ds01d.h"
#include "daemon/requests/caller.h"

struct watch;

/* since: unix time to replay events from (the start of the start-up reconciliation). */
struct watch *watch_start(struct ds01d *d, int64_t since, struct error **err);
/* Stops the thread and waits for it. */
struct watch *watch_stop(struct watch *w);
