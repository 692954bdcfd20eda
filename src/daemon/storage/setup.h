/* setup.h - `ds01 storage setup` (storage.setup, administrators): hard limits through kernel
 * project quotas (quota.h). Every known user's workspace directory is labelled with project id
 * = uid and FS_XFLAG_PROJINHERIT (and everything already below it with the project id), and the
 * project gets the user's storage_workspace as its block hard limit. Nothing is changed unless
 * every file system involved supports project quotas; the refusal names the file system, the cause
 * and the fix. No state, no locks. */
#pragma once

#include "daemon/ds01d.h"
#include "daemon/requests/caller.h"

#include <jansson.h>

int storage_setup(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                  struct error **err);
