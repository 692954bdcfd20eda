#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/stat.h>

/* A line longer than this is cut (a request's strings can be 64 KiB). */
#define LOG_LINE_MAX 8192

static int max_level = LOG_INFO_;

/* Rotation of the file on stderr (see log.h). rot_path and the files change under rot_lock;
 * rot_size is added to by every writer without it. */
static pthread_mutex_t rot_lock = PTHREAD_MUTEX_INITIALIZER;
static char *rot_path;  /* NULL: stderr is not a file ds01d rotates */
static bool rot_stdout; /* stdout is the same file: it moves along */
static bool rot_checked;
static atomic_llong rot_size;
static atomic_llong rot_max; /* 0: never */
static int rot_keep = 3;

void log_set_max_level(int level)
{
        max_level = level;
}

static bool same_file(int fd, const struct stat *st)
{
        struct stat o;
        return fstat(fd, &o) == 0 && o.st_dev == st->st_dev && o.st_ino == st->st_ino;
}

/* Whether stderr is a file ds01d may rotate: a regular file, reachable under its name, in a
 * directory only root can write (a rename and create there must not meet a user's symlink).
 * *ret_why says why not where that is worth a line. Under rot_lock. */
static char *rotatable_path(const char **ret_why)
{
        *ret_why = NULL;
        struct stat st, named, dst;
        char buf[4096];
        if (fstat(STDERR_FILENO, &st) < 0 || !S_ISREG(st.st_mode))
                return NULL; /* the journal, a pipe or a terminal: rotated elsewhere */
        ssize_t n = readlink("/proc/self/fd/2", buf, sizeof(buf) - 1);
        if (n <= 0 || buf[0] != '/')
                return NULL;
        buf[n] = '\0';
        if (lstat(buf, &named) < 0 || named.st_ino != st.st_ino || named.st_dev != st.st_dev) {
                *ret_why = "its name no longer refers to it";
                return NULL;
        }
        _cleanup_free_ char *dir = xstrdup(buf);
        if (stat(dirname(dir), &dst) < 0 || dst.st_uid != 0 || (dst.st_mode & 022)) {
                *ret_why = "its directory is writable by users other than root";
                return NULL;
        }
        rot_stdout = same_file(STDOUT_FILENO, &st);
        atomic_store(&rot_size, (long long)st.st_size);
        return xstrdup(buf);
}

void log_set_rotation(int64_t max_bytes, int keep)
{
        const char *why = NULL;
        pthread_mutex_lock(&rot_lock);
        atomic_store(&rot_max, (long long)max_bytes);
        rot_keep = keep < 1 ? 1 : keep;
        if (!rot_checked && max_bytes > 0) {
                rot_checked = true;
                rot_path = rotatable_path(&why);
        }
        pthread_mutex_unlock(&rot_lock);
        if (why)
                log_warning("the daemon log on stderr is not rotated: %s", why);
}

static void write_line(const char *line)
{
        (void)!write(STDERR_FILENO, line, strlen(line));
}

/* Moves the full log aside (ds01d.log -> .1 -> ... -> .<keep>) and goes on in a new file of the
 * same name. On an error rotation stops and the log goes on where it was. */
static void rotate(void)
{
        pthread_mutex_lock(&rot_lock);
        long long max = atomic_load(&rot_max);
        if (!rot_path || max <= 0 || atomic_load(&rot_size) <= max) {
                pthread_mutex_unlock(&rot_lock);
                return;
        }
        const char *failed = NULL;
        int e = 0;
        for (int k = rot_keep - 1; k >= 1 && !failed; k--) {
                _cleanup_free_ char *from = xasprintf("%s.%d", rot_path, k);
                _cleanup_free_ char *to = xasprintf("%s.%d", rot_path, k + 1);
                if (rename(from, to) < 0 && errno != ENOENT)
                        failed = "renaming", e = errno;
        }
        _cleanup_free_ char *first = xasprintf("%s.1", rot_path);
        int fd = -1;
        if (!failed && rename(rot_path, first) < 0)
                failed = "renaming", e = errno;
        if (!failed) {
                /* Exclusively: whatever appeared at the name in between is not followed. */
                fd = open(rot_path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                          0600);
                if (fd < 0)
                        failed = "creating", e = errno;
        }
        if (fd >= 0) {
                dup2(fd, STDERR_FILENO);
                if (rot_stdout)
                        dup2(fd, STDOUT_FILENO);
                close(fd);
                atomic_store(&rot_size, 0);
        }
        _cleanup_free_ char *msg =
            failed ? xasprintf("<%d>cannot rotate %s (%s: %s); it is no longer rotated\n", LOG_ERR_,
                               rot_path, failed, strerror(e))
                   : NULL;
        if (failed) {
                free(rot_path);
                rot_path = NULL;
        }
        pthread_mutex_unlock(&rot_lock);
        if (msg)
                write_line(msg);
}

void log_msg(int level, const char *fmt, ...)
{
        if (level > max_level)
                return;
        va_list ap;
        va_start(ap, fmt);
        _cleanup_free_ char *m = xvasprintf(fmt, ap);
        va_end(ap);
        /* Messages carry names users chose: a control character (a newline above all) would let
         * them write lines of their own, with their own "<N>" priority. */
        size_t n = strlen(m), cap = n * 4 + 16;
        _cleanup_free_ char *line = xmalloc(cap);
        size_t k = (size_t)snprintf(line, cap, "<%d>", level);
        for (size_t i = 0; i < n && k < LOG_LINE_MAX; i++) {
                unsigned char c = (unsigned char)m[i];
                if (c < 0x20 || c == 0x7f)
                        k += (size_t)snprintf(line + k, cap - k, "\\x%02x", c);
                else
                        line[k++] = (char)c;
        }
        if (k >= LOG_LINE_MAX)
                k = (size_t)snprintf(line + LOG_LINE_MAX - 4, 4, "...") + LOG_LINE_MAX - 4;
        line[k++] = '\n';
        line[k] = '\0';
        /* One write() per line so concurrent threads never interleave within a line. */
        write_line(line);
        long long max = atomic_load(&rot_max);
        if (atomic_fetch_add(&rot_size, (long long)k) + (long long)k > max && max > 0 && rot_path)
                rotate();
}
