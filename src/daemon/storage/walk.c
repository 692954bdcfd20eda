/* walk.c - a directory tree's space, a bounded number of entries per step (see walk.h). */
#include "daemon/storage/walk.h"

#include "daemon/containers/userpath.h"

#include "shared/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Inodes with more than one link already counted: open addressing on the inode number (the
 * walk never leaves one file system, so the inode alone names a file). */
struct inode_set {
        ino_t *slots; /* 0: empty (no file system hands out inode 0) */
        size_t cap, n;
};

struct storage_walk {
        DIR *stack[WALK_MAX_DEPTH];
        size_t depth;
        dev_t dev;
        uint64_t bytes, entries;
        bool truncated;
        struct inode_set links;
        storage_walk_visit_fn visit;
        void *visit_ctx;
};

void storage_walk_set_visit(struct storage_walk *w, storage_walk_visit_fn fn, void *ctx)
{
        w->visit = fn;
        w->visit_ctx = ctx;
}

/* Adds ino; false when it was there already. */
static bool inode_set_add(struct inode_set *s, ino_t ino)
{
        if ((s->n + 1) * 2 > s->cap) {
                struct inode_set bigger = {.cap = s->cap ? s->cap * 2 : 64};
                bigger.slots = xcalloc(bigger.cap, sizeof(ino_t));
                for (size_t i = 0; i < s->cap; i++)
                        if (s->slots[i])
                                inode_set_add(&bigger, s->slots[i]);
                free(s->slots);
                *s = bigger;
        }
        size_t i = (size_t)(ino * 0x9E3779B97F4A7C15ULL) & (s->cap - 1);
        while (s->slots[i]) {
                if (s->slots[i] == ino)
                        return false;
                i = (i + 1) & (s->cap - 1);
        }
        s->slots[i] = ino;
        s->n++;
        return true;
}

/* A directory to read from an fd that may be O_PATH: checked to be a directory on the walk's
 * file system, then reopened for reading through the fd itself (never by name). Takes fd. */
static DIR *open_dir(int fd, const dev_t *dev, int *ret_errno)
{
        struct stat st;
        if (fstat(fd, &st) < 0 || !S_ISDIR(st.st_mode) || (dev && st.st_dev != *dev)) {
                *ret_errno = ENOTDIR;
                close(fd);
                return NULL;
        }
        int rfd = userpath_reopen(fd, O_RDONLY | O_DIRECTORY);
        close(fd);
        if (rfd < 0) {
                *ret_errno = -rfd;
                return NULL;
        }
        DIR *dir = fdopendir(rfd);
        if (!dir) {
                *ret_errno = errno;
                close(rfd);
        }
        return dir;
}

struct storage_walk *storage_walk_new(int dir_fd, int *ret_errno)
{
        struct stat st;
        if (fstat(dir_fd, &st) < 0) {
                *ret_errno = errno;
                close(dir_fd);
                return NULL;
        }
        DIR *dir = open_dir(dir_fd, NULL, ret_errno);
        if (!dir)
                return NULL;
        struct storage_walk *w = xcalloc(1, sizeof(*w));
        w->stack[0] = dir;
        w->depth = 1;
        w->dev = st.st_dev;
        w->bytes = (uint64_t)st.st_blocks * 512;
        return w;
}

struct storage_walk *storage_walk_free(struct storage_walk *w)
{
        if (!w)
                return NULL;
        while (w->depth)
                closedir(w->stack[--w->depth]);
        free(w->links.slots);
        free(w);
        return NULL;
}

/* Enters the subdirectory `name` of the directory on top of the stack, if it is still one. */
static void descend(struct storage_walk *w, const char *name)
{
        if (w->depth == WALK_MAX_DEPTH) {
                w->truncated = true;
                return;
        }
        int fd = userpath_step(dirfd(w->stack[w->depth - 1]), name, true);
        if (fd < 0) {
                /* -ELOOP: replaced by a symlink since the stat; -EXDEV: a mount. Neither is
                 * entered; a vanished one (-ENOENT) takes no space any more. */
                if (fd != -ELOOP && fd != -EXDEV && fd != -ENOENT)
                        w->truncated = true;
                return;
        }
        int e = 0;
        DIR *sub = open_dir(fd, &w->dev, &e);
        if (!sub) {
                if (e != ENOTDIR)
                        w->truncated = true;
                return;
        }
        w->stack[w->depth++] = sub;
}

/* Counts one entry of the directory on top of the stack. */
static void count_entry(struct storage_walk *w, const char *name)
{
        struct stat st;
        if (fstatat(dirfd(w->stack[w->depth - 1]), name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return; /* removed meanwhile */
        w->entries++;
        if (st.st_dev != w->dev)
                return; /* a mount point: what is mounted there is not this tree's */
        bool dir = S_ISDIR(st.st_mode);
        if (w->visit)
                w->visit(dirfd(w->stack[w->depth - 1]), name, &st, w->visit_ctx);
        if (!dir && st.st_nlink > 1 && !inode_set_add(&w->links, st.st_ino))
                return;
        w->bytes += (uint64_t)st.st_blocks * 512;
        if (dir)
                descend(w, name);
}

int storage_walk_step(struct storage_walk *w, size_t max_entries)
{
        for (size_t n = 0; n < max_entries && w->depth > 0; n++) {
                errno = 0;
                struct dirent *de = readdir(w->stack[w->depth - 1]);
                if (!de) {
                        if (errno)
                                w->truncated = true;
                        closedir(w->stack[--w->depth]);
                        continue;
                }
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                count_entry(w, de->d_name);
        }
        return w->depth == 0;
}

uint64_t storage_walk_bytes(const struct storage_walk *w)
{
        return w->bytes;
}

uint64_t storage_walk_entries(const struct storage_walk *w)
{
        return w->entries;
}

bool storage_walk_truncated(const struct storage_walk *w)
{
        return w->truncated;
}
