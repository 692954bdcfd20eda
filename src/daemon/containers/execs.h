/* execs.h - the registry of exec sessions handed out (container-run, container-attach): who
 * opened each, so that only they (or an administrator) can resize it or ask how it ended
 * (access.h asks), and whether anyone is still at the other end (an open session keeps a
 * container from counting as idle; the monitor asks).
 *
 * Locking: one mutex inside, a leaf, never held across a Docker call. */
#pragma once

#include "daemon/ds01d.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct exec_registry *execs_new(void);
struct exec_registry *execs_free(struct exec_registry *r);

/* Remembers that uid opened exec `id` in `container` on connection conn. Old entries go after
 * a week; a user's oldest goes when they have 64. */
void execs_remember(struct exec_registry *r, const char *id, const char *container, uid_t uid,
                    uint64_t conn);
/* The connection `conn` closed: the sessions it opened end (its client is gone, even when the
 * commands it started go on running). */
void execs_conn_closed(struct ds01d *d, uint64_t conn);
/* Whether exec `id` is known; *ret_uid who opened it. */
bool execs_owner(struct ds01d *d, const char *id, uid_t *ret_uid);
/* Whether a session into container `name` is still open: its command runs (Docker says) and its
 * client is still connected. */
bool execs_open(struct ds01d *d, const char *name);
