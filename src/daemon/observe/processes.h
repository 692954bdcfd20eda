/* processes.h - container-top: the processes running in a user's container, so they can see
 * whether training is still going before they retire it (or after they left a shell). Docker's
 * top (the host's ps over the container's processes); pids are shown as the container sees
 * them. No state, no lock. */
#pragma once

#include "daemon/ds01d.h"
#include "daemon/requests/caller.h"

#include <jansson.h>

/* container.top: params {name}; result {container, processes: [{pid, cpu_percent, cpu_s,
 * elapsed_s, command}]}, ordered by pid. */
int processes_top(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                  struct error **err);
