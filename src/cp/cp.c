/* cp.c - ds01-cp: `docker cp` for a user's container, done as the user inside the container's
 * own mount namespace. ds01d (src/daemon/dockerapi/copy.c) starts it for the Docker API
 * endpoint's archive calls instead of passing them to dockerd: Docker would read and write as
 * root, through the host paths of the container's mounts as they are now (a workspace a user
 * replaced by a link would be followed on the host), and would keep the owners, set-id bits and
 * extended attributes an archive carries.
 *
 *   ds01-cp stat PATH UID GID        the path's stat, as Docker's X-Docker-Container-Path-Stat
 *   ds01-cp get  PATH UID GID        that stat's line, then a tar of PATH (renamed to its base)
 *   ds01-cp put  PATH UID GID [--no-overwrite-dir-non-dir]
 *                                    extracts the tar on stdin into the directory PATH
 *
 * fd 3 is a pidfd of the container's first process: the namespace is entered through it, then
 * every privilege is dropped before any path is touched, so a path can lead only where the user
 * could go from inside the container. What it writes belongs to the user: no owners from the
 * archive, no set-id bits, no extended attributes, no device files.
 *
 * Exit status: 0; 1 failed (stderr says why); 2 usage; 3 no such file; 4 permission denied;
 * 5 the extraction point is not a directory, or a directory and a file would replace each
 * other. Nothing here runs as root once the namespace is entered. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <jansson.h>
#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

enum {
        EXIT_USAGE = 2,
        EXIT_NOT_FOUND = 3,
        EXIT_DENIED = 4,
        EXIT_CONFLICT = 5,
};

#define NS_FD 3

/* Leak checking needs to trace the process, which a process that changed its uid may not. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
        return "detect_leaks=0";
}

static _Noreturn __attribute__((format(printf, 2, 3))) void fail(int status, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        exit(status);
}

static int status_of_errno(int e)
{
        if (e == ENOENT || e == ENOTDIR)
                return EXIT_NOT_FOUND;
        if (e == EACCES || e == EPERM || e == EROFS)
                return EXIT_DENIED;
        return EXIT_FAILURE;
}

/* Into the container's mount namespace (root and working directory become its root), then
 * the user for good: no groups but their own, no way back, no new privileges. */
static void become_user(uid_t uid, gid_t gid)
{
        if (setns(NS_FD, CLONE_NEWNS) < 0)
                fail(EXIT_FAILURE, "entering the container's mount namespace: %s", strerror(errno));
        close(NS_FD);
        if (chdir("/") < 0 || setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 ||
            setresuid(uid, uid, uid) < 0)
                fail(EXIT_FAILURE, "becoming uid %u: %s", (unsigned)uid, strerror(errno));
        if (getuid() != uid || geteuid() != uid || getegid() != gid || setuid(0) == 0)
                fail(EXIT_FAILURE, "could not drop root");
        prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
        umask(022);
}

/* ---- stat ---- */

/* Go's os.FileMode of a st_mode: the permission bits and Go's own type and set-id bits. */
static unsigned long go_file_mode(mode_t m)
{
        unsigned long g = m & 0777;
        switch (m & S_IFMT) {
        case S_IFDIR:
                g |= 1ul << 31;
                break;
        case S_IFLNK:
                g |= 1ul << 27;
                break;
        case S_IFBLK:
                g |= 1ul << 26;
                break;
        case S_IFCHR:
                g |= (1ul << 26) | (1ul << 21);
                break;
        case S_IFIFO:
                g |= 1ul << 25;
                break;
        case S_IFSOCK:
                g |= 1ul << 24;
                break;
        default:
                break;
        }
        if (m & S_ISUID)
                g |= 1ul << 23;
        if (m & S_ISGID)
                g |= 1ul << 22;
        if (m & S_ISVTX)
                g |= 1ul << 20;
        return g;
}

/* Go's RFC 3339 with nanoseconds, trailing zeros dropped. */
static void go_time(const struct timespec *t, char *buf, size_t n)
{
        struct tm tm;
        gmtime_r(&t->tv_sec, &tm);
        size_t k = strftime(buf, n, "%Y-%m-%dT%H:%M:%S", &tm);
        if (t->tv_nsec) {
                char frac[16];
                snprintf(frac, sizeof(frac), ".%09ld", t->tv_nsec);
                for (size_t i = strlen(frac) - 1; frac[i] == '0'; i--)
                        frac[i] = '\0';
                snprintf(buf + k, n - k, "%sZ", frac);
        } else {
                snprintf(buf + k, n - k, "Z");
        }
}

/* Go's filepath.Base of the path as asked: "." for "/a/.", "/" for "/". */
static char *base_name(const char *path)
{
        size_t n = strlen(path);
        while (n > 1 && path[n - 1] == '/')
                n--;
        if (n == 1 && path[0] == '/')
                return strdup("/");
        const char *b = path + n;
        while (b > path && b[-1] != '/')
                b--;
        return strndup(b, (size_t)(path + n - b));
}

static void print_stat(const char *path)
{
        struct stat st;
        if (lstat(path, &st) < 0)
                fail(status_of_errno(errno), "%s: %s", path, strerror(errno));
        char mtime[64];
        go_time(&st.st_mtim, mtime, sizeof(mtime));
        char *name = base_name(path);
        char *target = NULL;
        if (S_ISLNK(st.st_mode)) {
                target = realpath(path, NULL);
                if (!target) { /* a dangling link: where it points */
                        char buf[PATH_MAX];
                        ssize_t k = readlink(path, buf, sizeof(buf) - 1);
                        buf[k > 0 ? k : 0] = '\0';
                        target = strdup(buf);
                }
        }
        json_t *j = json_pack("{s:s, s:I, s:I, s:s, s:s}", "name", name, "size",
                              (json_int_t)st.st_size, "mode", (json_int_t)go_file_mode(st.st_mode),
                              "mtime", mtime, "linkTarget", target ? target : "");
        char *s = json_dumps(j, JSON_COMPACT);
        if (!s || printf("%s\n", s) < 0 || fflush(stdout) != 0)
                fail(EXIT_FAILURE, "writing the stat");
        free(s);
        json_decref(j);
        free(name);
        free(target);
}

/* ---- get ---- */

static void archive_failed(struct archive *a, const char *what)
{
        int e = archive_errno(a);
        fail(e > 0 ? status_of_errno(e) : EXIT_FAILURE, "%s: %s", what, archive_error_string(a));
}

/* The entry's name in the archive: the path's base, then what lies under it ("/" itself is
 * ".", as its entries extract where they are asked to). */
static void rebase(struct archive_entry *e, const char *root, const char *base)
{
        const char *p = archive_entry_pathname(e);
        size_t n = strlen(root);
        while (n > 1 && root[n - 1] == '/')
                n--;
        if (n == 1)
                n = 0;
        const char *under =
            strncmp(p, root, n) == 0 && (p[n] == '\0' || p[n] == '/') ? p + n : NULL;
        char *name = NULL;
        if (!under)
                name = strdup(p);
        else if (asprintf(&name, "%s%s", n ? base : ".", under) < 0)
                name = NULL;
        if (!name)
                fail(EXIT_FAILURE, "out of memory");
        archive_entry_set_pathname(e, name);
        free(name);
}

static void get(const char *path)
{
        print_stat(path);
        char *base = base_name(path);
        struct archive *disk = archive_read_disk_new(), *out = archive_write_new();
        archive_read_disk_set_symlink_physical(disk);
        archive_read_disk_set_behavior(disk, ARCHIVE_READDISK_NO_XATTR | ARCHIVE_READDISK_NO_ACL |
                                                 ARCHIVE_READDISK_NO_FFLAGS);
        archive_write_set_format_pax_restricted(out);
        if (archive_write_open_fd(out, STDOUT_FILENO) != ARCHIVE_OK)
                archive_failed(out, "writing the archive");
        if (archive_read_disk_open(disk, path) != ARCHIVE_OK)
                archive_failed(disk, path);
        struct archive_entry *e = archive_entry_new();
        int r;
        while ((r = archive_read_next_header2(disk, e)) == ARCHIVE_OK) {
                archive_read_disk_descend(disk);
                rebase(e, path, base);
                if (archive_write_header(out, e) < ARCHIVE_WARN)
                        archive_failed(out, "writing the archive");
                char buf[65536];
                ssize_t k;
                while (archive_entry_filetype(e) == AE_IFREG &&
                       (k = archive_read_data(disk, buf, sizeof(buf))) > 0)
                        if (archive_write_data(out, buf, (size_t)k) < 0)
                                archive_failed(out, "writing the archive");
                archive_entry_clear(e);
        }
        if (r != ARCHIVE_EOF)
                archive_failed(disk, path);
        if (archive_write_close(out) != ARCHIVE_OK)
                archive_failed(out, "writing the archive");
        archive_entry_free(e);
        archive_read_free(disk);
        archive_write_free(out);
        free(base);
}

/* ---- put ---- */

/* The entry made the user's own: a name relative to the extraction point (without a trailing
 * slash), no set-id bits, no extended attributes, ACLs or flags; a device file is refused. */
static void make_plain(struct archive_entry *e)
{
        const char *names[2] = {archive_entry_pathname(e), archive_entry_hardlink(e)};
        for (int i = 0; i < 2; i++) {
                const char *n = names[i];
                if (!n)
                        continue;
                while (*n == '/')
                        n++;
                char *copy = strdup(*n ? n : ".");
                if (!copy)
                        fail(EXIT_FAILURE, "out of memory");
                for (size_t k = strlen(copy); k > 1 && copy[k - 1] == '/'; k--)
                        copy[k - 1] = '\0'; /* "d/" is "d": its type says it is a directory */
                if (i == 0)
                        archive_entry_set_pathname(e, copy);
                else
                        archive_entry_set_hardlink(e, copy);
                free(copy);
        }
        mode_t type = archive_entry_filetype(e);
        if (type == AE_IFCHR || type == AE_IFBLK)
                fail(EXIT_DENIED, "%s: device files cannot be copied into a container on ds01",
                     archive_entry_pathname(e));
        archive_entry_set_perm(e, archive_entry_perm(e) & 01777);
        archive_entry_xattr_clear(e);
        archive_entry_acl_clear(e);
        archive_entry_set_fflags(e, 0, 0);
}

/* Docker's noOverwriteDirNonDir: a directory never replaces a file, nor a file a directory. */
static void check_overwrite(const char *dest, struct archive_entry *e)
{
        struct stat st;
        const char *name = archive_entry_pathname(e);
        if (lstat(name, &st) < 0)
                return;
        bool entry_dir = archive_entry_filetype(e) == AE_IFDIR;
        if (S_ISDIR(st.st_mode) && !entry_dir)
                fail(EXIT_CONFLICT, "cannot overwrite directory \"%s/%s\" with non-directory", dest,
                     name);
        if (!S_ISDIR(st.st_mode) && entry_dir)
                fail(EXIT_CONFLICT, "cannot overwrite non-directory \"%s/%s\" with directory", dest,
                     name);
}

static void put(const char *dest, bool no_overwrite_dir_non_dir)
{
        struct stat st;
        if (stat(dest, &st) < 0)
                fail(status_of_errno(errno), "%s: %s", dest, strerror(errno));
        if (!S_ISDIR(st.st_mode))
                fail(EXIT_CONFLICT, "extraction point is not a directory");
        if (chdir(dest) < 0)
                fail(status_of_errno(errno), "%s: %s", dest, strerror(errno));
        struct archive *in = archive_read_new(), *disk = archive_write_disk_new();
        archive_read_support_format_tar(in);
        archive_write_disk_set_options(disk, ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM |
                                                 ARCHIVE_EXTRACT_SECURE_NODOTDOT |
                                                 ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS);
        if (archive_read_open_fd(in, STDIN_FILENO, 65536) != ARCHIVE_OK)
                archive_failed(in, "reading the archive");
        struct archive_entry *e;
        int r;
        while ((r = archive_read_next_header(in, &e)) == ARCHIVE_OK) {
                make_plain(e);
                if (no_overwrite_dir_non_dir)
                        check_overwrite(dest, e);
                if (archive_write_header(disk, e) < ARCHIVE_WARN)
                        archive_failed(disk, archive_entry_pathname(e));
                const void *buf;
                size_t n;
                int64_t off;
                int k;
                while ((k = archive_read_data_block(in, &buf, &n, &off)) == ARCHIVE_OK)
                        if (archive_write_data_block(disk, buf, n, off) < ARCHIVE_WARN)
                                archive_failed(disk, archive_entry_pathname(e));
                if (k != ARCHIVE_EOF)
                        archive_failed(in, "reading the archive");
                if (archive_write_finish_entry(disk) < ARCHIVE_WARN)
                        archive_failed(disk, archive_entry_pathname(e));
        }
        if (r != ARCHIVE_EOF)
                archive_failed(in, "reading the archive");
        if (archive_write_close(disk) != ARCHIVE_OK)
                archive_failed(disk, "finishing the copy");
        archive_read_free(in);
        archive_write_free(disk);
}

static unsigned parse_id(const char *s)
{
        char *end;
        errno = 0;
        unsigned long n = strtoul(s, &end, 10);
        if (errno || *end || !*s || n == 0 || n >= UINT_MAX)
                fail(EXIT_USAGE, "ds01-cp: bad id '%s' (root is never used)", s);
        return (unsigned)n;
}

int main(int argc, char **argv)
{
        if (argc < 5 || argc > 6 || argv[2][0] != '/')
                fail(EXIT_USAGE, "usage: ds01-cp stat|get|put /PATH UID GID "
                                 "[--no-overwrite-dir-non-dir] (fd 3: a pidfd)");
        bool no_overwrite = argc == 6 && strcmp(argv[5], "--no-overwrite-dir-non-dir") == 0;
        if (argc == 6 && !no_overwrite)
                fail(EXIT_USAGE, "ds01-cp: unknown option %s", argv[5]);
        uid_t uid = parse_id(argv[3]);
        gid_t gid = parse_id(argv[4]);
        syscall(SYS_close_range, NS_FD + 1, ~0u, 0); /* nothing of the daemon's */
        become_user(uid, gid);
        if (strcmp(argv[1], "stat") == 0)
                print_stat(argv[2]);
        else if (strcmp(argv[1], "get") == 0)
                get(argv[2]);
        else if (strcmp(argv[1], "put") == 0)
                put(argv[2], no_overwrite);
        else
                fail(EXIT_USAGE, "ds01-cp: unknown mode %s", argv[1]);
        return 0;
}
