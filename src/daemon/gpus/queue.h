/* queue.h - deploys waiting for GPUs: `container-deploy --wait`, `gpu-queue`, and the grants.
 *
 * Joining. A deploy with --wait whose GPUs are all taken (only that: a request over the user's
 * quota, or one the server can never hold, is refused at once) joins the queue in the ledger:
 * its request as sent, who, when, how long it may wait (--max-wait). While anyone waits, a
 * deploy that wants GPUs does not jump the queue: without --wait it is refused ("add --wait"),
 * with it it joins.
 *
 * Granting. A worker thread considers the queue whenever capacity may have appeared (queue_kick:
 * a container's GPUs released, a hold ended, an undrain or rescan, a request joined) and every
 * queue.pass_interval_s anyway (a reservation's end, a --max-wait running out). It takes the
 * requests in priority order and deploys each as its owner: the normal deploy, so the quota is
 * checked again and placement is the usual policy. The first request that cannot get its GPUs
 * blocks the ones behind it, except backfill (the rule is backfill.h's). A granted request leaves
 * the queue and its owner is told on every channel (inbox, terminals, alerts file, webhook); one
 * whose deploy fails for another reason (its image gone, the account archived) leaves it with the
 * reason; one over its quota keeps waiting.
 *
 * Priority, Slurm's multifactor with two factors:
 *   P = queue.weight_fairshare x F + queue.weight_age x A + an administrator's move
 *   F = 2^(-U/S), U the user's part of all users' decayed GPU-hours (the usage ledger, halved
 *       every queue.fairshare_half_life_d days), S the user's part of the group priorities
 *       (DS01's `priority`, default 10) of the users counted: 1 for no recent use, 1/2 at
 *       exactly one's share, towards 0 above it;
 *   A = min(1, time waited / queue.max_age_h), so that nobody starves.
 * Estimates treat every slot alike and take each lease's end at the latest (its runtime cap, a
 * stopped container's hold): a request starts no later than that, unless a cap is unlimited.
 *
 * Crash safety: a request is marked `granting` in the ledger before its deploy and removed after
 * it; a pass that finds one still marked (a crash in between) removes it when its container
 * exists (it was granted) and lets it wait again otherwise. Nothing is lost or granted twice.
 *
 * Locking: none of its own; the worker sleeps on queuekick.h's doorbell, and passes run on the
 * worker only, one at a time. */
#pragma once

#include "daemon/ds01d.h"
#include "daemon/requests/caller.h"

#include <jansson.h>
#include <stdint.h>

struct queue;

/* The fair-share factor 2^(-usage_share / share) (share <= 0: 0), and the priority of a request
 * waited_s old. Pure: unit tests and bench/sim use them. */
double queue_fairshare(double usage_share, double share);
struct queue_weights {
        double fairshare, age, max_age_s;
};
double queue_priority(const struct queue_weights *w, double fairshare, double waited_s,
                      double boost);

/* Starts the grant worker, which waits on d->kick (queuekick.h: whoever frees capacity rings
 * it). */
struct queue *queue_start(struct ds01d *d, struct error **err);
/* No grant starts after this (one under way finishes). */
void queue_halt(struct queue *q);
/* Stops and joins the worker (it finishes a grant under way). */
struct queue *queue_stop(struct queue *q);

/* The container.deploy method: a deploy (containers/deploy.h); with wait: true, one refused only
 * because its GPUs are taken (or others wait for them) joins the queue instead and answers
 * {queued: true, id, project, position, waiting, estimate (unix s, or null: unknown)}. */
int queue_deploy(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                 struct error **err);

/* board.get: the board (observe/board.h) for c, with c's place in the queue: {..., queue:
 * {waiting, mine: [queue.list's rows]}}. */
int queue_board(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                struct error **err);
/* gpu-queue: queue.list {all}: the caller's requests (administrators: everyone's, all: true)
 * with position and estimate, and how many wait. */
int queue_list(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
               struct error **err);
/* queue.leave {project} (the caller's), or {id} (an administrator: anyone's). */
int queue_leave(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                struct error **err);
/* queue.move {id, position} (administrators): the request's priority is raised or lowered so
 * that it stands at position (1 = first) now. */
int queue_move(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
               struct error **err);
