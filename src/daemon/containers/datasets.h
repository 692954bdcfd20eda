/* datasets.h - read-only data an administrator offers (the `datasets:` key of ds01.yaml) as a
 * user asks for it (`container-deploy --data NAME`): which datasets the user's group may have,
 * and the check that makes a dataset's host path safe to hand to Docker. A user names a
 * dataset, never a path. No state, no lock. */
#pragma once

#include "daemon/config/config.h"
#include "shared/error.h"

#include <jansson.h>
#include <stddef.h>

#define DATASETS_MAX 16 /* per container */

/* Where dataset `name` is in a container: "/data/<name>". */
char *datasets_target(const char *name);

/* A dataset to mount at datasets_target(name); strings borrowed from the configuration. */
struct dataset_mount {
        const char *name;
        const char *path;
};

/* Resolves the names (a JSON array of strings; NULL: none) for a user of ds01 group `group`:
 * DS01_EUSAGE for a name that is not declared (the message lists the ones the group may use) or
 * given twice, DS01_EPERM for one the group may not use, DS01_ERR when its host path is not safe
 * (datasets_check_path). *ret (free() it) gets them in order. */
int datasets_resolve(const struct config *cfg, const char *group, const json_t *names,
                     struct dataset_mount **ret, size_t *ret_n, struct error **err);
/* The datasets group may use, as [{name, path}] (check-limits). */
json_t *datasets_for_group(const struct config *cfg, const char *group);
/* A dataset's host path is safe to bind-mount when no user can swap any part of it: every
 * component, itself included, is a real directory (no symlink) owned by root, and every
 * directory above it is writable by root only or sticky (as /tmp is). */
int datasets_check_path(const char *path, struct error **err);
