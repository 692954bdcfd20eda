/* reload.h - ds01.yaml and the limits files read again and swapped in (SIGHUP, `ds01 reload`),
 * and the start-up reads that share the same rules: a bad file leaves the running
 * configuration as it is. What a reload applies and what needs a restart is documented per key
 * in the config table (config.c). */
#pragma once

#include "daemon/ds01d.h"
#include "daemon/requests/caller.h"

/* Reads ds01.yaml (d->config_path) and the limits files again and swaps them in; on any error
 * the running configuration stays and *err says why. One reload at a time; the new config and
 * limits are published as a new generation (generation.h), so no request waits for it. */
int reload_config(struct ds01d *d, struct error **err);
/* No reload from now on (the daemon is stopping: the /metrics server must stay put). */
void reload_stop(void);
/* admin.reload: {config, limits_file}. */
int reload_request(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                   struct error **err);
/* The limits file of c (logs the DS01 keys ds01 does not use). */
struct limits *reload_load_limits(const struct config *c, struct error **err);
/* gid of a group name, (gid_t)-1 if there is none. */
gid_t reload_lookup_gid(const char *name);
