/* walk.h - the space a directory tree takes, measured a bounded number of entries at a time, so
 * the caller (storage.c's low-priority thread) can pause between steps and stop at any step.
 *
 * Security: the tree belongs to a user, who may change it while it is walked. Nothing is
 * followed: every entry is looked at with fstatat(AT_SYMLINK_NOFOLLOW), every directory is
 * entered with userpath_step (openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
 * RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV) and checked again (a directory, on the root's file
 * system) before it is read. A symlink swapped in for a directory between the stat and the open is
 * skipped; a mount below the root is not entered. Only directories are ever opened for reading
 * (never a file, a FIFO or a device).
 *
 * What counts: st_blocks * 512 of every entry (the space it takes, not its apparent size), the
 * root included; a file with several hard links once per inode. Depth is bounded (WALK_MAX_DEPTH):
 * what lies deeper is not counted and the walk says so (storage_walk_truncated).
 *
 * No locks: a walk is used by one thread at a time. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WALK_MAX_DEPTH 256

struct storage_walk;

/* Starts a walk of the directory dir_fd (an O_PATH or ordinary fd; the walk takes it, even on
 * failure). NULL with *ret_errno when it is not a directory or cannot be read. */
struct storage_walk *storage_walk_new(int dir_fd, int *ret_errno);
struct storage_walk *storage_walk_free(struct storage_walk *w);

#include <sys/stat.h>

/* Called for each entry counted (not for the root), with the directory it is in and what
 * fstatat saw; for a directory before the walk enters it. */
typedef void (*storage_walk_visit_fn)(int dirfd, const char *name, const struct stat *st,
                                      void *ctx);
void storage_walk_set_visit(struct storage_walk *w, storage_walk_visit_fn fn, void *ctx);

/* Looks at up to max_entries more entries. 1: the walk is complete; 0: more to do. */
int storage_walk_step(struct storage_walk *w, size_t max_entries);

/* Bytes counted so far (the total once storage_walk_step returned 1). */
uint64_t storage_walk_bytes(const struct storage_walk *w);
/* Entries looked at so far. */
uint64_t storage_walk_entries(const struct storage_walk *w);
/* Whether something was left out: deeper than WALK_MAX_DEPTH, or a directory that could not be
 * read. */
bool storage_walk_truncated(const struct storage_walk *w);
