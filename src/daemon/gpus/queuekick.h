/* queuekick.h - the doorbell of the GPU queue's worker (queue.h): whatever may free capacity (a
 * release, a hold's end, an undrain, a rescan, a reservation's deletion) or adds a request rings
 * it, and the worker wakes for a pass. A leaf, so that those callers need not know the queue.
 *
 * Locking: one mutex and condition inside; a leaf in the lock order. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct queuekick;

struct queuekick *queuekick_new(void);
struct queuekick *queuekick_free(struct queuekick *k);
/* A pass soon. k NULL: nothing. */
void queuekick_ring(struct queuekick *k);
/* The worker: waits until rung, timeout_s passed or stopped. Returns false once stopped. */
bool queuekick_wait(struct queuekick *k, int64_t timeout_s);
/* Wakes the worker for good: queuekick_wait returns false from now on. */
void queuekick_stop(struct queuekick *k);
