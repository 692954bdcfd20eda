/* sshkeys.h - a user's SSH keys and git identity in their container (container-deploy --ssh):
 * ~/.ssh mounted read-only at <home inside>/.ssh, ~/.gitconfig read-only at
 * <home inside>/.gitconfig (spec.c places them), so `git clone git@host:...` and `git commit`
 * work inside as the user.
 *
 * Both come from the user's home with the workspace's care (userpath.h): ~/.ssh must be a real
 * directory of the user's below a home of theirs, ~/.gitconfig a regular file of theirs with one
 * link (or absent: the container then gets an empty one); nothing is followed. Docker mounts the
 * container's pin, <state_dir>/ssh/<container>/{ssh,gitconfig}, on which ds01d binds what it
 * opened only while Docker starts the container (pins.h), so they are checked again at every
 * start. A container asked for them carries the label ds01.ssh=true.
 *
 * No state and no locks; callers hold the container's operation slot around pin operations. */
#pragma once

#include "shared/error.h"

#include <stdbool.h>
#include <sys/types.h>

#define SSHKEYS_LABEL "ds01.ssh"

/* The two entries of a pin. */
enum sshkeys_entry { SSHKEYS_DIR, SSHKEYS_GITCONFIG };

/* What sshkeys_open opened: O_PATH fds, -1 for none. */
struct sshkeys {
        int ssh_fd;
        int gitconfig_fd;
};
#define SSHKEYS_INIT                                                                               \
        {                                                                                          \
                .ssh_fd = -1, .gitconfig_fd = -1                                                   \
        }

/* Opens uid's ~/.ssh and ~/.gitconfig (see above). -1 with err (DS01_EUSAGE when there is no
 * ~/.ssh, DS01_EPERM for one that is not safe, each naming the fix). */
int sshkeys_open(uid_t uid, gid_t gid, struct sshkeys *k, struct error **err);
void sshkeys_close(struct sshkeys *k);

/* The container's pin directory, <state_dir>/ssh/<container> (a new string; nothing made). */
char *sshkeys_pin_path(const char *state_dir, const char *container);
/* The host path of one entry of the pin: what Docker mounts (a new string). */
char *sshkeys_pin_source(const char *pin, enum sshkeys_entry e);

/* Makes the pin (its directory, an empty ssh/ and an empty gitconfig) and binds k on it. */
int sshkeys_pin(const char *state_dir, const char *container, const struct sshkeys *k,
                struct error **err);
/* Makes the pin's entries without binding anything: before the container is created, so Docker
 * finds what it is to mount. */
int sshkeys_pin_prepare(const char *state_dir, const char *container, struct error **err);
void sshkeys_unpin(const char *state_dir, const char *container);
/* Unbinds and removes the pin of a container that is gone (nothing if it has none). */
void sshkeys_pin_remove(const char *state_dir, const char *container);
/* At daemon start: pins_sweep over the ssh pins. */
void sshkeys_pins_sweep(const char *state_dir, bool (*exists)(const char *container, void *ctx),
                        void *ctx);
