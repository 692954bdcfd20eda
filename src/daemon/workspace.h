/* workspace.h - the persistent side of a project: ~user/workspace/<project> (workspace_root
 * "home") or DIR/<user>/<project>. Created if missing, owned by the user; refused when any
 * component of the path is a symlink or owned by someone it should not be (a user must not get
 * /etc mounted into their container through a planted link). */
#pragma once

#include "../shared/error.h"

#include <sys/types.h>

/* Checks (and creates, when create is true) the workspace of uid/gid for project.
 * Components above the user's own directory must be real directories owned by root and not
 * writable by others (unless sticky); the user's directory and everything below must be real
 * directories owned by the user; nothing is followed (userpath.h). *ret_path is its absolute
 * path (to show); *ret_fd (when not NULL) an O_PATH fd of the directory the walk reached, the
 * only thing ds01 mounts. Refusals are DS01_EPERM with the offending path and the fix. */
int workspace_prepare(const char *workspace_root, const char *project, uid_t uid, gid_t gid,
                      bool create, char **ret_path, int *ret_fd, struct error **err);
