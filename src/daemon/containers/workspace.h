/* workspace.h - the persistent side of a project: ~user/workspace/<project> (workspace_root
 * "home") or DIR/<user>/<project>. Created if missing, owned by the user; refused when any
 * component of the path is a symlink or owned by someone it should not be (a user must not get
 * /etc mounted into their container through a planted link).
 *
 * Docker never gets the user's path, which the user could swap for a symlink between the check
 * and Docker's mount. It gets the container's pin, <state_dir>/workspaces/<container>: a
 * directory of root's (under a 0700 root directory) on which ds01d bind-mounts the directory the
 * check opened, only while Docker starts the container (workspace_pin ... docker start ...
 * workspace_unpin; the running container keeps its own mount). A start outside ds01 finds the
 * pin empty. ds01d and dockerd must share a mount namespace. Callers hold the container's busy
 * mark around pin operations. */
#pragma once

#include "shared/error.h"

#include <sys/types.h>

/* Checks (and creates, when create is true) the workspace of uid/gid for project.
 * Components above the user's own directory must be real directories owned by root and not
 * writable by others (unless sticky); the user's directory and everything below must be real
 * directories owned by the user; nothing is followed (userpath.h). *ret_path is its absolute
 * path (to show); *ret_fd (when not NULL) an O_PATH fd of the directory the walk reached, the
 * only thing ds01 mounts. Refusals are DS01_EPERM with the offending path and the fix. */
int workspace_prepare(const char *workspace_root, const char *project, uid_t uid, gid_t gid,
                      bool create, char **ret_path, int *ret_fd, struct error **err);

/* The path of uid's workspace for project, as workspace_prepare() would check it, without
 * looking at it: what to show a user. NULL with err when uid has no passwd entry. */
char *workspace_path(const char *workspace_root, const char *project, uid_t uid,
                     struct error **err);

/* Creates (if missing) the container's pin directory; returns its path, the bind source to give
 * Docker, or NULL with err. */
char *workspace_pin_prepare(const char *state_dir, const char *container, struct error **err);
/* Bind-mounts the workspace directory fd (from workspace_prepare) on the container's pin. */
int workspace_pin(const char *state_dir, const char *container, int fd, struct error **err);
/* Unmounts the pin (once Docker started the container, or failed to). */
void workspace_unpin(const char *state_dir, const char *container);
/* Unmounts and removes the pin of a container that is gone. */
void workspace_pin_remove(const char *state_dir, const char *container);
/* At daemon start: unmounts every pin left by a crash, and removes those of containers for
 * which exists() is false. */
void workspace_pins_sweep(const char *state_dir, bool (*exists)(const char *container, void *ctx),
                          void *ctx);
