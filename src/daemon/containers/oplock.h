/* oplock.h - one operation at a time per container name.
 *
 * A deploy and a retire of the same project, two deploys racing, a user's retire while the
 * monitor stops the container: each takes the name's slot for the whole operation (its Docker
 * calls included) and gives it back when done. Nothing else is serialised by it: two
 * containers' operations never wait for each other.
 *
 * Locking: one mutex inside, held only to look at or change the set of busy names, never
 * across I/O; a waiter sleeps on a condition variable. It is a leaf: no other lock is taken
 * while it is held. */
#pragma once

#include <stdbool.h>

#include "shared/error.h"

struct oplocks;

struct oplocks *oplocks_new(void);
struct oplocks *oplocks_free(struct oplocks *o);

/* Takes name's slot, waiting up to wait_s seconds for an operation in progress to finish
 * (0: no wait). Returns 0 when the slot was free, 1 when it was taken after a wait (what the
 * caller read before may have changed meanwhile), -1 with *err (DS01_ERR, "another operation on
 * NAME is in progress - try again in a moment") when it stayed busy. */
int oplock_acquire_wait(struct oplocks *o, const char *name, int wait_s, struct error **err);
/* oplock_acquire_wait with no wait: 0 or -1. */
int oplock_acquire(struct oplocks *o, const char *name, struct error **err);
void oplock_release(struct oplocks *o, const char *name);
/* Whether an operation on name is in progress (for sweeps that leave such names alone). */
bool oplock_held(struct oplocks *o, const char *name);
