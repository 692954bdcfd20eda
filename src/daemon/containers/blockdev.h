/* blockdev.h - the disks that hold a set of paths, for Docker's per-device I/O limits
 * (io_read_bps, io_write_bps: HostConfig.BlkioDeviceReadBps/WriteBps): the whole disk of each
 * path's file system (a partition's disk, as the kernel throttles disks), by path as Docker
 * wants it ("/dev/vda"). A file system on no block device (tmpfs, overlay, NFS) has none.
 *
 * Paths are the daemon's own (Docker's data root, the workspace root), never a user's: lstat
 * does not follow a last link. No state, no locks. */
#pragma once

#include <stddef.h>

/* The distinct disks of paths (n of them): a new NULL-terminated list (empty when none). */
char **blockdev_disks(const char *const *paths, size_t n);
