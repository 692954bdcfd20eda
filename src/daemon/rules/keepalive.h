/* keepalive.h - container-keepalive: a time-limited exemption from the idle rule, bounded by
 * the owner's keepalive_max_duration_h (the .keep-alive file in a workspace is the monitor's). */
#pragma once

#include "daemon/ds01d.h"
#include "daemon/requests/caller.h"

/* container.keepalive {name, seconds | off}: {container, until, max_s}. */
int keepalive_set(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                  struct error **err);
