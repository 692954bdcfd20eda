#include "daemon/containers/userpath.h"

#include "shared/strbuf.h"

#include <errno.h>
#include <pwd.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef FUSE_SUPER_MAGIC
#define FUSE_SUPER_MAGIC 0x65735546
#endif

/* 0: unknown, 1: the kernel has openat2, -1: it has not (ENOSYS, or a seccomp filter's EPERM).
 * Atomic: any thread may learn it first (each learns the same answer). The unit test of the
 * fallback builds this file with USERPATH_NO_OPENAT2. */
#ifdef USERPATH_NO_OPENAT2
static _Atomic int have_openat2 = -1;
#else
static _Atomic int have_openat2;
#endif

/* The mount id of fd (name_to_handle_at fills it even when the handle does not fit, and on
 * kernels without openat2 or statx's STATX_MNT_ID); -errno where the file system has no handles. */
static int mount_id(int fd, int *ret)
{
        struct {
                struct file_handle fh;
                unsigned char space[MAX_HANDLE_SZ];
        } h;
        h.fh.handle_bytes = MAX_HANDLE_SZ;
        if (name_to_handle_at(fd, "", &h.fh, ret, AT_EMPTY_PATH) < 0 && errno != EOVERFLOW)
                return -errno;
        return 0;
}

/* The same checks as openat2's RESOLVE flags, one component at a time: O_NOFOLLOW (a final
 * symlink is opened as itself and refused), and for mounts the device and the mount id. */
static int step_fallback(int dirfd, const char *name, bool same_fs)
{
        int fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        struct stat st, parent;
        if (fstat(fd, &st) < 0 || fstat(dirfd, &parent) < 0) {
                int e = errno;
                close(fd);
                return -e;
        }
        int r = 0;
        if (S_ISLNK(st.st_mode))
                r = -ELOOP;
        else if (same_fs && st.st_dev != parent.st_dev)
                r = -EXDEV;
        else if (same_fs) {
                int a, b;
                if (mount_id(fd, &a) == 0 && mount_id(dirfd, &b) == 0 && a != b)
                        r = -EXDEV; /* a bind mount from the same file system */
        }
        if (r < 0) {
                close(fd);
                return r;
        }
        return fd;
}

int userpath_step(int dirfd, const char *name, bool same_fs)
{
        if (!*name || strchr(name, '/') || streq(name, ".") || streq(name, ".."))
                return -EINVAL;
        if (have_openat2 >= 0) {
                struct open_how how = {
                    .flags = O_PATH | O_NOFOLLOW | O_CLOEXEC,
                    .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS |
                               (same_fs ? RESOLVE_NO_XDEV : 0),
                };
                long fd = syscall(SYS_openat2, dirfd, name, &how, sizeof(how));
                if (fd >= 0) {
                        have_openat2 = 1;
                        /* O_PATH | O_NOFOLLOW opens a final symlink itself: refuse it here. */
                        struct stat st;
                        if (fstat((int)fd, &st) < 0 || S_ISLNK(st.st_mode)) {
                                int e = S_ISLNK(st.st_mode) ? ELOOP : errno;
                                close((int)fd);
                                return -e;
                        }
                        return (int)fd;
                }
                if (errno != ENOSYS && !(errno == EPERM && have_openat2 == 0))
                        return -errno;
                have_openat2 = -1;
        }
        return step_fallback(dirfd, name, same_fs);
}

bool userpath_on_fuse(int fd)
{
        struct statfs sfs;
        return fstatfs(fd, &sfs) < 0 || sfs.f_type == FUSE_SUPER_MAGIC;
}

static bool trusted_dir(const struct stat *st)
{
        return st->st_uid == 0 && (!(st->st_mode & 0002) || (st->st_mode & S_ISVTX));
}

int userpath_step_error(int r, const char *shown, struct error **err)
{
        if (r == -ELOOP)
                return error_set(err, DS01_EPERM,
                                 "%s is a symlink; ds01 follows no link in your files - replace "
                                 "it with a real directory (mv it away and mkdir %s)",
                                 shown, shown);
        if (r == -EXDEV)
                return error_set(err, DS01_EPERM,
                                 "%s is a mount point; ds01 does not cross mounts inside your "
                                 "files - use a plain directory, or ask an administrator to set "
                                 "workspace_root to that disk",
                                 shown);
        return error_set_errno(err, r, "opening %s", shown);
}

int userpath_check_dir(int fd, const char *shown, enum userpath_part part, uid_t uid,
                       struct error **err)
{
        struct stat st;
        if (fstat(fd, &st) < 0)
                return error_set_errno(err, errno, "stat %s", shown);
        if (!S_ISDIR(st.st_mode))
                return error_set(err, DS01_EPERM,
                                 "%s is not a directory - move it away so ds01 can use the path",
                                 shown);
        if (part == USERPATH_ROOTS) {
                if (!trusted_dir(&st))
                        return error_set(err, DS01_EPERM,
                                         "%s must be owned by root and not writable by others - "
                                         "ask an administrator to fix it",
                                         shown);
                return 0;
        }
        if (st.st_uid != uid)
                return error_set(err, DS01_EPERM,
                                 "%s is owned by uid %u, not by uid %u - ds01 uses only "
                                 "directories their user owns",
                                 shown, (unsigned)st.st_uid, (unsigned)uid);
        if (part == USERPATH_ANCHOR && userpath_on_fuse(fd))
                return error_set(err, DS01_EPERM,
                                 "%s is on a FUSE file system (or cannot be checked); ds01 does "
                                 "not use such directories",
                                 shown);
        return 0;
}

int userpath_open_dir(const char *path, uid_t uid, struct error **err)
{
        if (path[0] != '/')
                return error_set(err, DS01_ERR, "%s is not an absolute path", path);
        _cleanup_close_ int dirfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (dirfd < 0)
                return error_set_errno(err, errno, "opening /");
        _cleanup_free_ char *copy = xstrdup(path);
        struct strbuf sofar = STRBUF_INIT;
        bool in_user = uid == 0; /* past the anchor: the user's own part of the path */
        char *save = NULL;
        int r = 0;
        for (char *comp = strtok_r(copy, "/", &save); comp; comp = strtok_r(NULL, "/", &save)) {
                strbuf_addc(&sofar, '/');
                strbuf_adds(&sofar, comp);
                const char *here = strbuf_str(&sofar);
                int fd = userpath_step(dirfd, comp, in_user && uid != 0);
                if (fd < 0) {
                        r = userpath_step_error(fd, here, err);
                        break;
                }
                close(dirfd);
                dirfd = fd;
                struct stat st;
                if (fstat(dirfd, &st) < 0) {
                        r = error_set_errno(err, errno, "stat %s", here);
                        break;
                }
                enum userpath_part part = in_user            ? USERPATH_USERS
                                          : st.st_uid == uid ? USERPATH_ANCHOR
                                                             : USERPATH_ROOTS;
                r = userpath_check_dir(dirfd, here, part, uid, err);
                if (r < 0)
                        break;
                in_user = in_user || part == USERPATH_ANCHOR;
        }
        if (r == 0 && !in_user)
                r = error_set(err, DS01_EPERM, "%s is not owned by uid %u", path, (unsigned)uid);
        strbuf_release(&sofar);
        return r < 0 ? -1 : TAKE_FD(dirfd);
}

/* What a file in a user's directory must be before the daemon writes or reads it. */
static int check_file(const struct stat *st, const char *name, uid_t uid, struct error **err)
{
        if (!S_ISREG(st->st_mode))
                return error_set(err, DS01_EPERM, "%s is not a regular file; not opening it", name);
        if (st->st_nlink != 1)
                return error_set(err, DS01_EPERM,
                                 "%s has %ju links; ds01 opens only files with a single link", name,
                                 (uintmax_t)st->st_nlink);
        if (st->st_uid != uid)
                return error_set(err, DS01_EPERM, "%s is owned by uid %u, not by uid %u", name,
                                 (unsigned)st->st_uid, (unsigned)uid);
        return 0;
}

/* Creates name exclusively, with the user's file-system ids (setfsuid/setfsgid are per thread):
 * the file is born the user's, so nothing is ever chowned, and a concurrent open of the same
 * name never finds a file that is still root's. The fd, -1 with err, or -2 when it exists. */
static int create_file(int dirfd, const char *name, int flags, uid_t uid, gid_t gid,
                       struct error **err)
{
        gid_t old_gid = (gid_t)setfsgid(gid);
        uid_t old_uid = (uid_t)setfsuid(uid);
        int fd =
            openat(dirfd, name,
                   flags | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC, 0600);
        int e = errno;
        setfsuid(old_uid);
        setfsgid(old_gid);
        if (fd < 0 && e == EEXIST)
                return -2;
        if (fd < 0)
                return error_set_errno(err, e, "creating %s", name);
        return fd;
}

int userpath_open_file(int dirfd, const char *name, int flags, uid_t uid, gid_t gid,
                       struct error **err)
{
        int pfd = userpath_step(dirfd, name, true);
        if (pfd == -ENOENT && (flags & O_CREAT)) {
                int fd = create_file(dirfd, name, flags, uid, gid, err);
                if (fd != -2)
                        return fd;
                pfd = userpath_step(dirfd, name, true); /* created meanwhile: check that */
        }
        if (pfd == -ENOENT)
                return -ENOENT;
        if (pfd == -ELOOP)
                return error_set(err, DS01_EPERM, "%s is a symlink; not following it", name);
        if (pfd == -EXDEV)
                return error_set(err, DS01_EPERM, "%s is a mount point; not crossing it", name);
        if (pfd < 0)
                return error_set_errno(err, -pfd, "opening %s", name);
        _cleanup_close_ int path_fd = pfd;
        struct stat st;
        if (fstat(path_fd, &st) < 0)
                return error_set_errno(err, errno, "stat %s", name);
        if (check_file(&st, name, uid, err) < 0)
                return -1;
        int fd = userpath_reopen(path_fd, flags & ~(O_CREAT | O_EXCL | O_TRUNC));
        if (fd < 0)
                return error_set_errno(err, fd, "opening %s", name);
        return fd;
}

int userpath_reopen(int path_fd, int flags)
{
        /* The inode the O_PATH fd holds, not a name (which may have changed since the check). */
        char proc[64];
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", path_fd);
        int fd = open(proc, (flags & ~O_NOFOLLOW) | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
}

int userpath_mkdir_as(int dirfd, const char *name, mode_t mode, uid_t uid, gid_t gid)
{
        /* setfsuid/setfsgid are per thread: only this mkdirat runs as the user. */
        gid_t old_gid = (gid_t)setfsgid(gid);
        uid_t old_uid = (uid_t)setfsuid(uid);
        int r = mkdirat(dirfd, name, mode) < 0 ? -errno : 0;
        setfsuid(old_uid);
        setfsgid(old_gid);
        return r;
}

char *userpath_home(uid_t uid, struct error **err)
{
        struct passwd pw, *res = NULL;
        char buf[4096];
        int r = getpwuid_r(uid, &pw, buf, sizeof(buf), &res);
        if (r != 0 || !res) {
                error_set(err, DS01_ERR, "uid %u has no passwd entry, so it has no home directory",
                          (unsigned)uid);
                return NULL;
        }
        if (pw.pw_dir[0] != '/') {
                error_set(err, DS01_ERR, "home directory of uid %u is not absolute: %s",
                          (unsigned)uid, pw.pw_dir);
                return NULL;
        }
        return xstrdup(pw.pw_dir);
}
