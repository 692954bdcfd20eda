/* peer.h - who is on the other end of a connection, from the kernel, never from the message:
 * SO_PEERCRED (uid, gid, pid), SO_PEERGROUPS (the groups at connect()), the peer's user
 * namespace (SO_PEERPIDFD), and the account of its uid (getpwuid, cached). The result is a
 * struct caller (caller.h), with the admin flag from admin_group.
 *
 * Locking: the login cache has its own mutex, a leaf, not held across getpwuid. */
#pragma once

#include "daemon/ds01d.h"
#include "daemon/requests/caller.h"

struct peers;

struct peers *peers_new(void);
struct peers *peers_free(struct peers *s);

/* The peer's uid, gid and pid (what the accept loop needs for its per-uid bound). */
int peer_creds(int fd, struct caller *ret, struct error **err);
/* Whether the peer is in ds01d's user namespace: 1 yes, 0 no, -1 it cannot be told. */
int peer_in_our_userns(struct peers *s, int fd, pid_t pid);
/* The login name of uid (a new string), or NULL when it has no account. */
char *peer_login(struct peers *s, uid_t uid);
/* The rest of who is asking: groups, login, admin (d: the root or a view). A uid without an
 * account (and not in service_uids) is refused with DS01_EPERM. */
int peer_identify(struct peers *s, struct ds01d *d, int fd, struct caller *ret, struct error **err);
