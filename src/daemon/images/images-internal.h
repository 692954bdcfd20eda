/* images-internal.h - what the parts of the images module share; private to src/daemon/images/
 * (everyone else uses images.h).
 *
 * The module is one in three files: images.c (image.project, the template, who may use an image,
 * list, delete and disk use), images-build.c (a build: its checks, Docker's stream relayed, the
 * result) and images-slots.c (what builds in flight hold: a slot per user, the spooled contexts'
 * bytes, the build cgroups).
 *
 * Locking: images-slots.c's builds_lock guards the slots, the spooled total, and the making and
 * removing of build cgroups (mkdir, rmdir, pids.max); each function below takes and drops it
 * inside, and it is never held across a call to Docker. */
#pragma once

#include "daemon/images/images.h"

#include <stdint.h>
#include <sys/types.h>

/* ---- disk use (images.c) ---- */

/* A build is refused while the user's images take max_mb or more (0: no limit), so one user
 * cannot fill the disk Docker shares with the ledger. */
int images_check_disk(struct ds01d *d, const struct caller *c, int64_t max_mb, struct error **err);

/* ---- what builds hold (images-slots.c) ---- */

/* Takes one of the caller's images.max_builds_per_user (max) build slots; DS01_ERESOURCE when
 * they have none left or the server's table is full. */
int images_build_slot_take(const struct caller *c, int64_t max, struct error **err);
/* The user's last build gone, their build cgroup goes too: under the lock, so a build that
 * took a slot meanwhile (and made the cgroup again) keeps it. */
void images_build_slot_give(const struct caller *c, bool cgroup);

/* Accounts k more spooled bytes against the total (k < 0 gives back); false when that would
 * pass max. */
bool images_spool_account(int64_t k, int64_t max);

struct spool_limits {
        int64_t max;       /* bytes of one context */
        int64_t max_total; /* bytes of all spooled contexts */
};

/* Reads the context from the CLI's pipe into an unnamed root-only file (so its size is known and
 * bounded before Docker sees it). The upload ends within SPOOL_TIMEOUT_S, stalls at most
 * SPOOL_IDLE_S, and stops as soon as the client hangs up. *ret_accounted: the bytes added to
 * spooled_total (the caller gives them back). */
int images_spool_context(const char *dir, int in, int client_fd, const struct spool_limits *lim,
                         int *ret_fd, int64_t *ret_len, int64_t *ret_accounted, struct error **err);

/* Docker's /build takes no pids limit: a build's containers are put under a cgroup of the
 * user's own, <instance>-builds/u<uid> (ds01-builds/u<uid> by default), whose pids.max is the
 * group's pids_limit (a fork bomb in a RUN step stops there). Docker creates the containers'
 * cgroups below it with the cgroupfs driver; with the systemd driver the parent would have to
 * be a slice, and builds get no pids limit (logged). Returns the cgroupparent for the query, or
 * NULL. */
char *images_build_cgroup(struct ds01d *d, uid_t uid, const struct limit_set *ls);
