/* quota.c - kernel project quotas: probe, label, limit, usage (see quota.h). */
#include "daemon/storage/quota.h"

#include "daemon/containers/userpath.h"
#include "daemon/storage/walk.h"

#include "shared/strbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/quota.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/quota.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#ifndef PRJQUOTA
#define PRJQUOTA 2
#endif
/* QCMD(cmd, PRJQUOTA) without the kernel macro's signed shift (Q_GETINFO << 8 overflows int:
 * undefined behaviour); the unsigned result converts to the int quotactl takes as GCC defines. */
#define PRJ_QCMD(cmd) ((int)(((unsigned)(cmd) << 8) | PRJQUOTA))

/* mountinfo escapes blanks in paths as \040 and so on. */
static char *unescape(const char *s)
{
        char *out = xstrdup(s), *o = out;
        for (const char *p = s; *p; p++) {
                if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' &&
                    p[3] >= '0' && p[3] <= '7') {
                        *o++ = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
                        p += 3;
                } else {
                        *o++ = *p;
                }
        }
        *o = 0;
        return out;
}

/* One mountinfo line of device dev: "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS ... - TYPE SOURCE
 * SUPEROPTS". */
static bool parse_line(char *line, dev_t dev, struct quota_fs *ret)
{
        unsigned maj, min;
        char mnt[4096];
        if (sscanf(line, "%*u %*u %u:%u %*s %4095s", &maj, &min, mnt) != 3 ||
            makedev(maj, min) != dev)
                return false;
        char *sep = strstr(line, " - ");
        if (!sep)
                return false;
        char type[64], source[4096];
        if (sscanf(sep + 3, "%63s %4095s", type, source) != 2)
                return false;
        ret->fstype = xstrdup(type);
        ret->device = unescape(source);
        ret->mountpoint = unescape(mnt);
        return true;
}

int quota_fs_of(int fd, const char *shown, struct quota_fs *ret, struct error **err)
{
        struct stat st;
        if (fstat(fd, &st) < 0)
                return error_set_errno(err, errno, "looking at %s", shown);
        FILE *f = fopen("/proc/self/mountinfo", "re");
        if (!f)
                return error_set_errno(err, errno, "reading /proc/self/mountinfo");
        char *line = NULL;
        size_t cap = 0;
        struct quota_fs fs = {0};
        bool found = false;
        while (!found && getline(&line, &cap, f) > 0)
                found = parse_line(line, st.st_dev, &fs);
        free(line);
        fclose(f);
        if (!found)
                return error_set(err, DS01_ERR,
                                 "%s: its file system is not in /proc/self/mountinfo", shown);
        *ret = fs;
        return 0;
}

void quota_fs_release(struct quota_fs *fs)
{
        free(fs->device);
        free(fs->fstype);
        free(fs->mountpoint);
        *fs = (struct quota_fs){0};
}

/* ext4's read-only-compatible features (superblock at 1024, s_feature_ro_compat at 0x64): 1 with
 * both quota (0x100) and project (0x2000), 0 without, -1 when the device cannot be read. */
static int ext4_has_project_feature(const char *device)
{
        int fd = open(device, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return -1;
        unsigned char b[4];
        ssize_t n = pread(fd, b, sizeof(b), 1024 + 0x64);
        close(fd);
        if (n != (ssize_t)sizeof(b))
                return -1;
        uint32_t ro =
            (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
        return (ro & 0x100) && (ro & 0x2000);
}

/* Whether the running kernel has a symbol (/proc/kallsyms lists names even where it hides
 * addresses): 1, 0, -1 unknown. */
static int kernel_has(const char *symbol)
{
        FILE *f = fopen("/proc/kallsyms", "re");
        if (!f)
                return -1;
        char line[512];
        size_t len = strlen(symbol);
        int found = 0, lines = 0;
        while (!found && fgets(line, sizeof(line), f)) {
                lines++;
                char *name = strrchr(line, ' ');
                found = name && strncmp(name + 1, symbol, len) == 0 &&
                        (name[1 + len] == '\n' || name[1 + len] == '\t' || !name[1 + len]);
        }
        fclose(f);
        return found ? 1 : lines > 0 ? 0 : -1;
}

static int refuse_ext4(const struct quota_fs *fs, struct error **err)
{
        int v2 = kernel_has("v2_read_file_info");
        const char *kernel = v2 == 0 ? " This kernel was built without CONFIG_QFMT_V2 (the quota "
                                       "format ext4 needs), so it cannot enforce them at all: "
                                       "use a kernel with CONFIG_QUOTA and CONFIG_QFMT_V2."
                                     : "";
        int feat = ext4_has_project_feature(fs->device);
        if (feat == 0)
                return error_set(err, DS01_ERR,
                                 "project quotas are not available on %s (ext4 on %s): the file "
                                 "system has no quota and project features - unmount it, run "
                                 "'tune2fs -O quota,project %s', and mount it with -o prjquota.%s",
                                 fs->mountpoint, fs->device, fs->device, kernel);
        return error_set(err, DS01_ERR,
                         "project quotas are not on for %s (ext4 on %s) - mount it with -o "
                         "prjquota (the file system needs 'tune2fs -O quota,project %s' "
                         "first).%s",
                         fs->mountpoint, fs->device, fs->device, kernel);
}

int quota_probe(const struct quota_fs *fs, struct error **err)
{
        bool ext4 = streq(fs->fstype, "ext4"), xfs = streq(fs->fstype, "xfs");
        if (!ext4 && !xfs)
                return error_set(err, DS01_ERR,
                                 "project quotas are not available on %s: it is %s, and only ext4 "
                                 "and XFS have them - put the workspaces on ext4 or XFS, or leave "
                                 "storage to ds01's scan (warnings and refused deploys, no hard "
                                 "limit)",
                                 fs->mountpoint, fs->fstype);
        struct if_dqinfo info;
        if (quotactl(PRJ_QCMD(Q_GETINFO), fs->device, 0, (caddr_t)&info) == 0)
                return 0;
        int e = errno;
        if (e == ENOSYS)
                return error_set(err, DS01_ERR,
                                 "this kernel has no quota support (CONFIG_QUOTA): project quotas "
                                 "cannot be enforced on %s - use a kernel built with CONFIG_QUOTA",
                                 fs->mountpoint);
        if (e == ESRCH && ext4)
                return refuse_ext4(fs, err);
        if (e == ESRCH)
                return error_set(err, DS01_ERR,
                                 "project quotas are not on for %s (XFS on %s) - mount it with -o "
                                 "prjquota (the kernel needs CONFIG_XFS_QUOTA)",
                                 fs->mountpoint, fs->device);
        return error_set_errno(err, e, "asking the kernel about project quotas on %s (%s)",
                               fs->mountpoint, fs->device);
}

/* Sets projid on the open fd (and PROJINHERIT on a directory). 0 or -errno. */
static int label_fd(int rfd, uint32_t projid, bool dir)
{
        struct fsxattr fa;
        if (ioctl(rfd, FS_IOC_FSGETXATTR, &fa) < 0)
                return -errno;
        fa.fsx_projid = projid;
        if (dir)
                fa.fsx_xflags |= FS_XFLAG_PROJINHERIT;
        return ioctl(rfd, FS_IOC_FSSETXATTR, &fa) < 0 ? -errno : 0;
}

/* Labels the directory fd (an O_PATH fd is reopened through itself) with projid and
 * FS_XFLAG_PROJINHERIT. */
static int quota_assign(int fd, uint32_t projid, struct error **err)
{
        int rfd = userpath_reopen(fd, O_RDONLY | O_DIRECTORY);
        if (rfd < 0)
                return error_set_errno(err, rfd, "opening a workspace to label it");
        int r = label_fd(rfd, projid, true);
        close(rfd);
        return r < 0 ? error_set_errno(err, r, "labelling a workspace with project %u", projid) : 0;
}

struct relabel {
        uint32_t projid;
        int first_error; /* -errno */
};

/* A walk's visitor: the entry opened beneath its directory without following anything, checked
 * to be the same regular file or directory fstatat saw, labelled through its own fd. */
static void relabel_entry(int dirfd, const char *name, const struct stat *st, void *ctx)
{
        struct relabel *rl = ctx;
        bool dir = S_ISDIR(st->st_mode);
        if (!dir && !S_ISREG(st->st_mode))
                return;
        int fd = userpath_step(dirfd, name, true);
        if (fd < 0)
                return; /* swapped for a link, or gone: nothing of ours to label */
        struct stat now;
        int r = 0;
        if (fstat(fd, &now) == 0 && now.st_ino == st->st_ino && now.st_dev == st->st_dev) {
                int rfd = userpath_reopen(fd, O_RDONLY | (dir ? O_DIRECTORY : 0));
                r = rfd < 0 ? rfd : label_fd(rfd, rl->projid, dir);
                if (rfd >= 0)
                        close(rfd);
        }
        close(fd);
        if (r < 0 && !rl->first_error)
                rl->first_error = r;
}

int quota_assign_tree(int fd, uint32_t projid, struct error **err)
{
        if (quota_assign(fd, projid, err) < 0)
                return -1;
        int e = 0;
        struct storage_walk *w = storage_walk_new(fcntl(fd, F_DUPFD_CLOEXEC, 3), &e);
        if (!w)
                return error_set_errno(err, e, "walking a workspace to label it");
        struct relabel rl = {.projid = projid};
        storage_walk_set_visit(w, relabel_entry, &rl);
        while (storage_walk_step(w, 4096) == 0)
                ;
        storage_walk_free(w);
        if (rl.first_error)
                return error_set_errno(err, rl.first_error,
                                       "labelling the files of a workspace with project %u",
                                       projid);
        return 0;
}

int quota_set_limit(const struct quota_fs *fs, uint32_t projid, int64_t bytes, struct error **err)
{
        struct if_dqblk q = {
            .dqb_bhardlimit = bytes < 0 ? 0 : ((uint64_t)bytes + 1023) / 1024,
            .dqb_bsoftlimit = 0,
            .dqb_valid = QIF_BLIMITS,
        };
        if (quotactl(PRJ_QCMD(Q_SETQUOTA), fs->device, (int)projid, (caddr_t)&q) < 0)
                return error_set_errno(err, errno, "setting the quota of project %u on %s", projid,
                                       fs->mountpoint);
        return 0;
}

int quota_usage(int fd, uint32_t projid, int64_t *ret_bytes)
{
        int rfd = userpath_reopen(fd, O_RDONLY | O_DIRECTORY);
        if (rfd < 0)
                return -1;
        struct fsxattr fa;
        int r = ioctl(rfd, FS_IOC_FSGETXATTR, &fa);
        close(rfd);
        if (r < 0 || fa.fsx_projid != projid || !(fa.fsx_xflags & FS_XFLAG_PROJINHERIT))
                return -1;
        struct quota_fs fs;
        if (quota_fs_of(fd, "a workspace", &fs, NULL) < 0)
                return -1;
        struct if_dqblk q;
        r = quotactl(PRJ_QCMD(Q_GETQUOTA), fs.device, (int)projid, (caddr_t)&q);
        quota_fs_release(&fs);
        if (r < 0 || !(q.dqb_valid & QIF_SPACE))
                return -1;
        *ret_bytes = (int64_t)q.dqb_curspace;
        return 0;
}
