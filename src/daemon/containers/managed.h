/* managed.h - a managed container as Docker and the ledger describe it: its labels, whether
 * this daemon created it (the ledger, never the labels, says so), its owner, its state, the
 * owner's grace, its batch command; and the one way to start it (on its workspace pin). */
#pragma once

#include "daemon/ds01d.h"
#include "daemon/requests/caller.h"

struct sshkeys;

/* The value of label `key` of a container (an inspect), or NULL. */
const char *managed_label(const json_t *inspect, const char *key);
/* The project whose workspace the container mounts: its own, or the one a Docker client bound
 * (the ds01.workspace_project label, spec.h). */
const char *managed_workspace_project(const json_t *inspect);
/* Whether Docker's container (an inspect) is one this daemon created: the ledger records its
 * name with this Docker id. *ret (optional) gets that record. */
bool managed_record(struct ds01d *d, const json_t *inspect, struct store_container *ret);
/* Docker's State.Status, or "unknown". */
const char *managed_state(const json_t *inspect);
/* The owner the ledger records, as a caller; -1 when the container is not ours or the owner has
 * no account. */
int managed_owner(struct ds01d *d, const json_t *inspect, struct caller *ret);
/* The limits of uid's containers made through `interface` (ds01.interface; NULL: none): the
 * default group's when uid (-1: unknown) has no account any more. */
void managed_uid_limits(struct ds01d *d, int64_t uid, const char *interface, struct limit_set *ret);
/* The owner's limits, as managed_uid_limits gives them for the ledger's owner of a container. */
void managed_owner_limits(struct ds01d *d, const json_t *inspect, struct limit_set *ret);
/* How long a stop waits after SIGTERM before Docker kills what is left: the owner's
 * sigterm_grace_s. */
int managed_grace_s(struct ds01d *d, const json_t *inspect);
/* The same for uid's containers made through `interface`, when the ledger row may be gone. */
int managed_uid_grace_s(struct ds01d *d, int64_t uid, const char *interface);
/* The batch command the container was created with (a new array; [] for a session container). */
json_t *managed_cmd(const json_t *inspect);
/* Starts container `id` with its workspace directory ws_fd on its pins (under `pin`, the name
 * managed_pin_name gives; the caller holds that name's operation slot) for
 * the time of the start: Docker mounts what ds01 opened and checked, never a path the user can
 * swap (workspace.h). keys (NULL: none) are the owner's ~/.ssh and ~/.gitconfig for a container
 * made with --ssh, opened by the caller as ws_fd is (sshkeys_open). */
int managed_start_pinned(struct ds01d *d, const char *pin, const char *id, int ws_fd,
                         const struct sshkeys *keys, struct error **err);
/* Makes the owner's home directory (spec_home) in a container just created: theirs, mode 0700. */
int managed_make_home(struct ds01d *d, const struct caller *owner, const char *id,
                      struct error **err);
/* Removes the pins of a container that is going (workspace.h, sshkeys.h), named pin (its
 * store_pin_name; call before its ledger row goes). The pins of a renamed container are
 * removed only when no other container uses them; the caller holds container's operation
 * slot. */
void managed_pins_remove(struct ds01d *d, const char *container, const char *pin);
/* The project of a container (an inspect): its name's "<project>" part, which a rename changes
 * (the ds01.project label keeps the one it was created with); NULL if it has neither. */
char *managed_project(const json_t *inspect);
/* The name the pins of container are under (store_pin_name; its own name when the ledger has
 * no row for it). */
char *managed_pin_name(struct ds01d *d, const char *container);
