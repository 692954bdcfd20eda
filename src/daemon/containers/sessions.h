/* sessions.h - container-run and container-attach sessions (Docker execs), their terminals,
 * and container-logs. Who opened which exec is kept by the registry (execs.h). */
#pragma once

#include "daemon/ds01d.h"
#include "daemon/requests/caller.h"

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
