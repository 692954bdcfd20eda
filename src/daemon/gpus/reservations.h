/* reservations.h - administrators' reservations of GPU slots for a window (Slurm's word; not a
 * container's lease, which the ledger also "reserves"):
 *
 *   ds01 reservation create NAME --gpus N | --slots UUID,... --start T --end T
 *                                --users U,... | --group G
 *
 * During the window [start, end) only the members (the logins listed, or the users whose limits
 * group it names) may lease its slots. Before it, a non-member's container is not placed on them
 * when its runtime cap could run into the window (a container with no cap never is). A slot no
 * member has leased by reservation_unused_release_m minutes into the window is everyone's again
 * until the window ends. Nothing is ever stopped for a reservation: a lease made before the
 * reservation existed runs on (`reservation list` shows it).
 *
 * The ledger keeps them (store_resv_*); placement (leases.c) asks resv_check before its
 * transaction, and records a member's lease with resv_note_lease.
 * Locking: none of its own. */
#pragma once

#include "daemon/config/limits.h"
#include "daemon/ds01d.h"
#include "daemon/ledger/store.h"
#include "daemon/requests/caller.h"

#include <jansson.h>
#include <stdbool.h>

/* Whether login (of limits group `group`) is one of r's members. Pure. */
bool resv_is_member(const struct store_resv *r, const char *login, const char *group);
/* Whether slot i of r is kept from a non-member at now, whose containers may run
 * max_runtime_h (< 0: no cap), with unused slots released release_s into the window. Pure. */
bool resv_withholds(const struct store_resv *r, size_t i, double max_runtime_h, int64_t now,
                    int64_t release_s);

/* Whether slot i of r is kept for its members now: in the window, and not released unused
 * (what the board and `reservation list` show). */
bool resv_holds_now(const struct ds01d *d, const struct store_resv *r, size_t i, int64_t now);

/* What the reservations mean for one requester now, read once per placement: the slots kept
 * from them (withheld, NULL-terminated; empty when none) and, when there are any, why (naming
 * the first reservation and its window, for a refusal); and the reservations not yet ended,
 * for resv_note_lease. login and group point into the caller's. */
struct resv_check {
        char **withheld;
        char *why;
        struct store_resv *v;
        size_t n;
        const char *login, *group;
};
/* Fills *ret for login with limits ls (its group, runtime cap and exemptions). 0, or -1 with
 * *err; release with resv_check_release either way. */
int resv_check(struct ds01d *d, const char *login, const struct limit_set *ls,
               struct resv_check *ret, struct error **err);
/* The requester leased uuids: those of a reservation they are a member of count as used (never
 * released as unused). */
void resv_note_lease(struct ds01d *d, const struct resv_check *rc, char *const *uuids);
void resv_check_release(struct resv_check *rc);

/* reservation.create (administrators): name, gpus or slots, start, end (unix s), users, group. */
int resv_create(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                struct error **err);
/* reservation.list: every reservation not yet ended, with its slots and their leases now;
 * members are named to administrators, others see whether they are one. */
int resv_list(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
              struct error **err);
/* reservation.delete (administrators): name. */
int resv_delete(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                struct error **err);
/* The reservations not yet ended at now as c sees them (NULL: anonymous, the board's web page):
 * members and the holders of slots named where names is true (status and /metrics: NULL,
 * true). [] when the ledger cannot be read (logged). */
json_t *resv_json(struct ds01d *d, const struct caller *c, bool names, int64_t now);
