/* deploy.h - container-deploy: a project's container from request to running, in one
 * straight line on the caller's connection thread: check the request, choose the image,
 * prepare the workspace, lease GPUs (leases.h), create, bind, start; on any failure everything
 * done so far is rolled back. */
#pragma once

#include "daemon/ds01d.h"
#include "daemon/requests/caller.h"

/* container.deploy {project, image?, gpus?, mig?, cpu_only?, cmd?, start?}: {container,
 * project, existed, state, image, gpus, workspace, volumes?, notices?}. A project that has its
 * container already answers it (existed true). */
int container_deploy(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                     struct error **err);
