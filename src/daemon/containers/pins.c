/* pins.c - bind mounts of checked fds for Docker to mount (see pins.h). */
#include "daemon/containers/pins.h"

#include "shared/log.h"
#include "shared/util.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

char *pins_dir(const char *state_dir, const char *kind, struct error **err)
{
        char *dir = xasprintf("%s/%s", state_dir, kind);
        if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
                error_set_errno(err, errno, "creating %s", dir);
                free(dir);
                return NULL;
        }
        struct stat st;
        if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
            (st.st_mode & 0077)) {
                error_set(err, DS01_ERR, "%s must be a directory of ds01d's, mode 0700", dir);
                free(dir);
                return NULL;
        }
        return dir;
}

int pins_bind(const char *target, int fd, const char *what, struct error **err)
{
        umount2(target, MNT_DETACH | UMOUNT_NOFOLLOW); /* a leftover of a crash */
        /* The source is the fd itself (the magic link of our own fd, which names the inode the
         * walk checked), never the user's path. */
        char src[64];
        snprintf(src, sizeof(src), "/proc/self/fd/%d", fd);
        if (mount(src, target, NULL, MS_BIND, NULL) < 0)
                return error_set_errno(err, errno, "pinning %s on %s", what, target);
        return 0;
}

void pins_unbind(const char *target)
{
        if (umount2(target, MNT_DETACH | UMOUNT_NOFOLLOW) < 0 && errno != EINVAL && errno != ENOENT)
                log_warning("unpinning %s: %m", target);
}

void pins_sweep(const char *state_dir, const char *kind,
                void (*unpin)(const char *state_dir, const char *container),
                void (*remove)(const char *state_dir, const char *container),
                bool (*exists)(const char *container, void *ctx), void *ctx)
{
        _cleanup_free_ char *dir = xasprintf("%s/%s", state_dir, kind);
        DIR *dp = opendir(dir);
        if (!dp)
                return;
        struct dirent *de;
        while ((de = readdir(dp))) {
                if (de->d_name[0] == '.')
                        continue;
                unpin(state_dir, de->d_name);
                if (!exists(de->d_name, ctx))
                        remove(state_dir, de->d_name);
        }
        closedir(dp);
}
