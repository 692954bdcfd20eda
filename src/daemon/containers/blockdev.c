/* blockdev.c - the disks that hold paths (see blockdev.h). */
#include "daemon/containers/blockdev.h"

#include "shared/strv.h"
#include "shared/util.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* "/dev/vda" for the file system of path, or NULL. */
static char *disk_of(const char *path)
{
        struct stat st;
        if (lstat(path, &st) < 0 || major(st.st_dev) == 0)
                return NULL; /* no such path, or a file system on no device */
        _cleanup_free_ char *sys =
            xasprintf("/sys/dev/block/%u:%u", major(st.st_dev), minor(st.st_dev));
        _cleanup_free_ char *real = realpath(sys, NULL);
        if (!real)
                return NULL;
        _cleanup_free_ char *part = xasprintf("%s/partition", real);
        if (access(part, F_OK) == 0) { /* .../block/vda/vda1: the disk is the parent */
                char *slash = strrchr(real, '/');
                if (!slash)
                        return NULL;
                *slash = '\0';
        }
        const char *name = strrchr(real, '/');
        if (!name)
                return NULL;
        char *dev = xasprintf("/dev/%s", name + 1);
        struct stat ds;
        if (stat(dev, &ds) < 0 || !S_ISBLK(ds.st_mode)) {
                free(dev);
                return NULL;
        }
        return dev;
}

char **blockdev_disks(const char *const *paths, size_t n)
{
        struct strv out = {0};
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *dev = paths[i] ? disk_of(paths[i]) : NULL;
                if (dev && !strv_contains(&out, dev))
                        strv_push(&out, dev);
        }
        return strv_take(&out);
}
