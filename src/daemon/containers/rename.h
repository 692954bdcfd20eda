/* rename.h - a container's new name in its owner's namespace (`docker rename` through the
 * Docker API endpoint). "<project>._.<user>" becomes "<new project>._.<user>": in Docker first,
 * then in the ledger in one transaction (its row, leases and published ports move; its inbox
 * and lease history keep the old name), Docker renamed back if the ledger refuses. A crash in
 * between is recorded at start-up (reconcile.c adopts Docker's name). What does not move:
 * the workspace (the old project's, as its mounts say), its pins (under the name it was
 * created with; store_pin_name) and its ds01.project label (the project is its name's part,
 * managed_project). */
#pragma once

#include "daemon/ds01d.h"
#include "daemon/requests/caller.h"

/* params {name, to}: to is a project or "<project>._.<user>" with the owner's own user part.
 * Refused: an invalid name (DS01_EUSAGE), a name in use by a container or a waiting deploy
 * (DS01_ERESOURCE), a container with published ports or open sessions (DS01_ERESOURCE, saying
 * what to do). result {container, from, project}. */
int container_rename(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                     struct error **err);
