/* access.h - who may act on what. A caller acts on their own containers and exec sessions;
 * administrators on anyone's. Another user's object is answered exactly as a missing one
 * ("not found", DS01_ENOTFOUND, exit 4), so names cannot be probed, and the attempt is
 * audited (auth.denied, audit.h). */
#pragma once

#include "daemon/ds01d.h"
#include "daemon/requests/caller.h"

/* What an RPC method acts on (its row in the method table says). */
enum access_target {
        TARGET_NONE,
        TARGET_CONTAINER, /* params "name": a project of the caller's, or a full name */
        TARGET_IMAGE,     /* params "image" / "project": a full ds01-<uid>/<project> image */
        TARGET_EXEC,      /* params "exec_id" */
        TARGET_USER,      /* params "user" (optional): a login */
};

/* A method's access rule, from its row in the method table. */
struct access_rule {
        const char *method;
        bool admin_only;
        enum access_target target;
};

/* The one authorisation rule, applied before every handler runs:
 * - an administrators' method from anyone else: EPERM (exit 5);
 * - "all": true from a non-administrator: EPERM (exit 5);
 * - another user's object (a container by its full name, an image ds01-<uid>/..., an exec
 *   session, a user's events or usage): "not found" (DS01_ENOTFOUND, exit 4);
 * and every refusal is audited (auth.denied). A container given by project name is always the
 * caller's own; its ledger owner is checked again by access_container when the handler takes
 * it (after waiting for an operation in progress, what it resolves to may have changed). */
int access_authorise(struct ds01d *d, const struct caller *c, const struct access_rule *rule,
                     json_t *params, struct error **err);
/* Whether image reference `ref` names another user's per-user image (ds01-<uid>/...):
 * audited and "not found" for non-administrators. 0 when it does not. */
int access_image(struct ds01d *d, const struct caller *c, const char *action, const char *ref,
                 struct error **err);

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
int access_exec(struct ds01d *d, const struct caller *c, const char *action, const char *id,
                struct error **err);
