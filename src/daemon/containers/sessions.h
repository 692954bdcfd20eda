/* sessions.h - container-run and container-attach sessions (Docker execs), their terminals,
 * and container-logs. The registry of exec ids remembers who opened each, so that only they
 * (or an administrator) can resize it or ask how it ended, and whether anyone is still at the
 * other end (an open session keeps a container from counting as idle).
 *
 * Locking: the registry has its own mutex, a leaf, never held across a Docker call. */
#pragma once

#include "daemon/ds01d.h"
#include "daemon/requests/caller.h"

struct exec_registry *sessions_registry_new(void);
struct exec_registry *sessions_registry_free(struct exec_registry *r);

/* container.exec {name, cmd?, tty?, term?, start?}: opens a session; *ret_fd the stream. */
int sessions_exec(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                  int *ret_fd, struct error **err);
/* container.resize {exec_id, rows, cols}. */
int sessions_resize(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                    struct error **err);
/* container.exec_status {exec_id}: {running, exit_code}. */
int sessions_exec_status(struct ds01d *d, const struct caller *c, json_t *params,
                         json_t **ret_result, struct error **err);
/* container.logs {name, follow?, tail?}: {tty}; *ret_fd the stream. */
int sessions_logs(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                  int *ret_fd, struct error **err);

/* The connection `conn` closed: the sessions it opened end (its client is gone, even when the
 * commands it started go on running). */
void sessions_conn_closed(struct ds01d *d, uint64_t conn);
/* Whether exec `id` is known; *ret_uid who opened it. */
bool sessions_owner(struct ds01d *d, const char *id, uid_t *ret_uid);
/* Whether a session into container `name` is still open: its command runs (Docker says) and its
 * client is still connected. */
bool sessions_open(struct ds01d *d, const char *name);
