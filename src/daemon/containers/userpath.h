/* userpath.h - the root daemon's file operations in places a user controls (workspaces,
 * .ds01-alerts, .keep-alive): ds01d never follows a user-controlled path.
 *
 * Every step opens one name beneath a directory fd without following a symlink or a magic link
 * and without crossing a mount (openat2 with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
 * RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV; on kernels without openat2, O_NOFOLLOW and an st_dev
 * check), and opens it O_PATH, so nothing is opened for I/O before fstat has shown what it is.
 * Only regular files and directories are accepted; a file is then reopened through its own fd,
 * so a FIFO, a device node or a socket is never opened at all and nothing can block. Files
 * (O_CREAT | O_EXCL) and directories are created with the user's file-system credentials, so
 * they are born the user's and nothing is ever chowned.
 *
 * No state and no locks: callable from any thread. */
#pragma once

#include "shared/error.h"

#include <stdbool.h>
#include <sys/types.h>

/* Opens the single component `name` (no '/') beneath dirfd as an O_PATH fd, following nothing:
 * -ELOOP for a symlink or magic link, -EXDEV for a mount crossing (only when same_fs), or
 * -errno. */
int userpath_step(int dirfd, const char *name, bool same_fs);

/* Whether fd is on a FUSE file system (or cannot be checked): a file system its user mounted
 * and serves, which can hang whoever reads it. */
bool userpath_on_fuse(int fd);

/* The refusal for userpath_step's result r < 0 on the path `shown`: -1 with err (DS01_EPERM
 * for a symlink or a mount crossing, naming the fix). */
int userpath_step_error(int r, const char *shown, struct error **err);

/* Which part of a path a directory is in: above the user's (root's, not writable by others
 * unless sticky), the anchor (the user's own top directory: theirs, not on FUSE), or below it
 * (theirs). */
enum userpath_part { USERPATH_ROOTS, USERPATH_ANCHOR, USERPATH_USERS };

/* Checks the directory fd (shown as `shown`) for its part of the path; -1 with err (DS01_EPERM
 * naming the fix) when it does not qualify. */
int userpath_check_dir(int fd, const char *shown, enum userpath_part part, uid_t uid,
                       struct error **err);

/* Opens the directory `path` (absolute) of uid as an O_PATH fd. From "/", components must be
 * directories owned by root and not writable by others (unless sticky) up to the first owned by
 * uid (the anchor: the user's home or own directory, which may be a mount but not FUSE); from
 * the anchor on, every component must be owned by uid and on the anchor's mount. Refusals are
 * DS01_EPERM naming the component. */
int userpath_open_dir(const char *path, uid_t uid, struct error **err);

/* Opens the regular file `name` in dirfd (from userpath_open_dir) with flags (O_RDONLY, or
 * O_WRONLY | O_APPEND; O_CREAT creates it exclusively, mode 0600, owned by uid:gid). Refuses
 * (DS01_EPERM) anything but a regular file owned by uid with a single link. Returns the fd,
 * -ENOENT when it does not exist and O_CREAT was not given (err untouched), or -1 with err. */
int userpath_open_file(int dirfd, const char *name, int flags, uid_t uid, gid_t gid,
                       struct error **err);

/* mkdirat(dirfd, name, mode) with the file-system uid and gid of the user, so the directory is
 * theirs from the start and the user's own permissions decide. 0 or -errno. */
int userpath_mkdir_as(int dirfd, const char *name, mode_t mode, uid_t uid, gid_t gid);

/* Opens for I/O (flags; O_NOCTTY | O_NONBLOCK | O_CLOEXEC added) the inode an O_PATH fd holds,
 * once fstat has shown it is what the caller wants: through /proc/self/fd, never by name. The
 * fd or -errno. */
int userpath_reopen(int path_fd, int flags);

/* The home directory of uid from its passwd entry (a new string), or NULL with err when it has
 * none or it is not absolute. A path to open with the functions above, never to follow. */
char *userpath_home(uid_t uid, struct error **err);
