/* access.h - who may act on what. A caller acts on their own containers and exec sessions;
 * administrators on anyone's. Another user's object is answered exactly as a missing one
 * ("not found", DS01_ENOTFOUND, exit 4), so names cannot be probed, and the attempt is
 * audited (auth.denied, audit.h). */
#pragma once

#include "daemon/ds01d.h"
#include "daemon/requests/caller.h"

/* Logs and audits (auth.denied) a request for someone else's object. */
void access_denied(struct ds01d *d, const struct caller *c, const char *action, const char *target);
/* "no container NAME - ..." (DS01_ENOTFOUND); returns -1. */
int access_not_found(const char *what, struct error **err);
/* Resolves `name` (a project of the caller's, or a full container name) to a container the
 * caller may act on: *ret_name its full name, *ret_inspect Docker's inspect of it, or NULL when
 * only the ledger still has it (a crash left the record). Containers this daemon did not create,
 * and other users' (for non-admins), are "not found". */
int access_container(struct ds01d *d, const struct caller *c, const char *name, const char *action,
                     char **ret_name, json_t **ret_inspect, struct error **err);
/* Whether the caller may use exec session `id` (theirs, or an admin): else "not found". */
int access_exec(struct ds01d *d, const struct caller *c, const char *id, struct error **err);
