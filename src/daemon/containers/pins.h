/* pins.h - the host paths Docker mounts from a user's files: directories and files of root's in
 * <state_dir>/<kind>/ on which ds01d bind-mounts, only while Docker starts the container, the
 * inode it opened and checked (an fd, never the user's path). Docker then mounts the pin, and the
 * running container keeps its own mount; a start outside ds01 finds the pin empty. The kinds are
 * workspace.h's "workspaces" and sshkeys.h's "ssh".
 *
 * No state and no locks; callers hold the container's operation slot (oplock.h) around a pin's
 * bind and unbind. ds01d and dockerd must share a mount namespace. */
#pragma once

#include "shared/error.h"

#include <stdbool.h>

/* <state_dir>/<kind>, created if missing and checked to be a directory of ds01d's, mode 0700
 * (a new string), or NULL with err. */
char *pins_dir(const char *state_dir, const char *kind, struct error **err);

/* Bind-mounts the inode fd holds on target (a leftover mount of a crash is undone first). No
 * MS_REC: mounts beneath it stay out. what names it in the error. */
int pins_bind(const char *target, int fd, const char *what, struct error **err);

/* Undoes pins_bind (nothing if target is not a mount). */
void pins_unbind(const char *target);

/* At daemon start, for each entry of <state_dir>/<kind>: unpin(state_dir, name) (no start is in
 * progress: every bind is a leftover), then remove(state_dir, name) where exists() is false. */
void pins_sweep(const char *state_dir, const char *kind,
                void (*unpin)(const char *state_dir, const char *container),
                void (*remove)(const char *state_dir, const char *container),
                bool (*exists)(const char *container, void *ctx), void *ctx);
