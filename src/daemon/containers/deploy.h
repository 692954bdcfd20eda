/* deploy.h - container-deploy: a project's container from request to running, in one
 * straight line on the caller's connection thread: check the request, choose the image,
 * prepare the workspace, lease GPUs (leases.h), create, bind, start; on any failure everything
 * done so far is rolled back. */
#pragma once

#include "daemon/ds01d.h"
#include "daemon/requests/caller.h"

/* container.deploy {project, image?, gpus?, mig?, cpu_only?, cmd?, start?, ...}: {container,
 * project, existed, state, image, gpus, workspace, volumes?, notices?}. A project that has its
 * container already answers it (existed true). While deploys wait for GPUs (gpus/queue.h) a
 * request for GPUs does not jump them: it is refused, busy. from_queue: the queue grants this
 * request (it waits behind nobody). *ret_busy (optional) says whether a refusal was only that
 * the GPUs are taken (a wait can help); with params wait: true the refusal logs no gpu.reject
 * (the caller queues it). The container.deploy method is gpus/queue.h's queue_deploy. */
int deploy_run(struct ds01d *d, const struct caller *c, json_t *params, bool from_queue,
               bool *ret_busy, json_t **ret_result, struct error **err);
