/* quota.h - kernel project quotas (ext4, XFS) as the hard limit and the meter of a user's
 * workspaces: each user's workspace directory is labelled with project id = the user's uid and
 * FS_XFLAG_PROJINHERIT (so everything made below inherits it), the limit is the project's block
 * hard limit, and the usage is what the kernel has counted for the project (no walk at all).
 *
 * Support is probed, never assumed: the file system must be ext4 or XFS, have project quotas
 * (ext4: the quota and project features; both: mounted with prjquota), and the kernel must have
 * quota support (CONFIG_QUOTA, and for ext4 CONFIG_QFMT_V2; for XFS CONFIG_XFS_QUOTA). Where
 * something lacks, the refusal names it and the fix.
 *
 * No state and no locks. */
#pragma once

#include "shared/error.h"

#include <stdint.h>

struct quota_fs {
        char *device;     /* the block device quotactl is asked about */
        char *fstype;     /* "ext4", "xfs", ... */
        char *mountpoint; /* where it is mounted (to show) */
};

/* The file system holding fd (shown as `shown`), found in /proc/self/mountinfo. */
int quota_fs_of(int fd, const char *shown, struct quota_fs *ret, struct error **err);
void quota_fs_release(struct quota_fs *fs);

/* Whether project quotas are enforced on fs now: 0, or -1 with err (DS01_ERR) naming the cause
 * (not ext4/XFS, no quota feature, not mounted with prjquota, a kernel without the quota format)
 * and the fix. */
int quota_probe(const struct quota_fs *fs, struct error **err);

/* Labels the directory fd (an O_PATH fd is reopened through itself) with project id projid and
 * FS_XFLAG_PROJINHERIT, and what it holds, all the way down (files and directories; links, devices,
 * FIFOs and sockets are never opened), so what was there before setup counts too. The first
 * failure is returned; what the walk could not reach is left as it was. */
int quota_assign_tree(int fd, uint32_t projid, struct error **err);

/* The project's block hard limit (bytes rounded up to KiB; < 0: none). */
int quota_set_limit(const struct quota_fs *fs, uint32_t projid, int64_t bytes, struct error **err);

/* The bytes the kernel counts for projid, if the directory fd is labelled with projid and
 * quotas are on for its file system: 0, or -1 (then the caller measures another way). */
int quota_usage(int fd, uint32_t projid, int64_t *ret_bytes);
