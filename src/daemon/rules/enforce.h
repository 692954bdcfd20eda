/* enforce.h - what the monitor decided, done on the owner's behalf: an idle or runtime stop
 * (SIGTERM and the owner's grace first), the removal of a container whose hold after stop
 * expired, and telling the owner on every channel. The monitor decides (rules.h); these act. */
#pragma once

#include "daemon/ds01d.h"
#include "daemon/requests/caller.h"

/* Tells the owner: inbox, terminals, the workspace's .ds01-alerts, webhook. */
void enforce_notify(struct ds01d *d, const struct caller *owner, const char *container,
                    const char *project, const char *workspace, const char *event, const char *text,
                    const json_t *details);
/* Stops managed container `id` (SIGTERM, the owner's sigterm_grace_s, SIGKILL), releases its
 * GPUs, logs `event` ("maintenance.idle_kill" / "maintenance.runtime_kill") with evidence
 * (stolen) and tells the owner `text`. */
int enforce_stop(struct ds01d *d, const char *id, const char *event, const char *text,
                 json_t *evidence);
/* Removes a stopped (or never started) managed container and its ledger record. */
int enforce_cleanup_remove(struct ds01d *d, const char *id, const char *reason);
