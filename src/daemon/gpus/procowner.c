/* procowner.c - whom a process on a GPU belongs to, from /proc (see procowner.h). */
#include "daemon/gpus/procowner.h"

#include "shared/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* cgroup files are small (one line per hierarchy); a longer one is cut, not misread */
#define PROC_FILE_MAX 8192

static bool is_hex_id(const char *s, size_t n)
{
        if (n != PROCOWNER_ID_LEN)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                        return false;
        return true;
}

/* One path component: "<id>" or "docker-<id>.scope". */
static bool component_id(const char *c, size_t n, char ret[static PROCOWNER_ID_LEN + 1])
{
        static const char prefix[] = "docker-", suffix[] = ".scope";
        const size_t lp = sizeof(prefix) - 1, ls = sizeof(suffix) - 1;
        if (n == lp + PROCOWNER_ID_LEN + ls && !strncmp(c, prefix, lp) &&
            !strncmp(c + n - ls, suffix, ls)) {
                c += lp;
                n = PROCOWNER_ID_LEN;
        }
        if (!is_hex_id(c, n))
                return false;
        memcpy(ret, c, PROCOWNER_ID_LEN);
        ret[PROCOWNER_ID_LEN] = '\0';
        return true;
}

bool procowner_container_id(const char *text, char ret[static PROCOWNER_ID_LEN + 1])
{
        ret[0] = '\0';
        for (const char *line = text; line && *line;) {
                const char *end = strchr(line, '\n');
                size_t len = end ? (size_t)(end - line) : strlen(line);
                /* "hierarchy-id:controllers:path": the path follows the second colon */
                const char *c1 = memchr(line, ':', len);
                const char *c2 = c1 ? memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - line)) : NULL;
                for (const char *p = c2 ? c2 + 1 : line + len; p < line + len;) {
                        const char *slash = memchr(p, '/', (size_t)(line + len - p));
                        size_t n = slash ? (size_t)(slash - p) : (size_t)(line + len - p);
                        if (component_id(p, n, ret))
                                return true;
                        p += n + 1;
                }
                line = end ? end + 1 : NULL;
        }
        return false;
}

/* The start of /proc/PID/<name> into buf (NUL-terminated). 0 or -errno. */
static int read_proc(pid_t pid, const char *name, char *buf, size_t size)
{
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        size_t got = 0;
        while (got + 1 < size) {
                ssize_t k = read(fd, buf + got, size - 1 - got);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0) {
                        int e = -errno;
                        close(fd);
                        return e;
                }
                if (k == 0)
                        break;
                got += (size_t)k;
        }
        buf[got] = '\0';
        close(fd);
        return 0;
}

int procowner_pidns(pid_t pid, char *buf, size_t size)
{
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int)pid);
        ssize_t n = readlink(path, buf, size - 1);
        if (n < 0)
                return -errno;
        buf[n] = '\0';
        return 0;
}

int procowner_read(pid_t pid, struct procowner *ret)
{
        memset(ret, 0, sizeof(*ret));
        char buf[PROC_FILE_MAX];
        int r = read_proc(pid, "status", buf, sizeof(buf));
        if (r < 0)
                return r;
        const char *uid = strstr(buf, "\nUid:");
        unsigned real;
        if (!uid || sscanf(uid + 5, "%u", &real) != 1)
                return -EIO;
        ret->uid = (uid_t)real;
        if (read_proc(pid, "comm", ret->comm, sizeof(ret->comm)) < 0)
                snprintf(ret->comm, sizeof(ret->comm), "?");
        ret->comm[strcspn(ret->comm, "\n")] = '\0';
        if (read_proc(pid, "cgroup", buf, sizeof(buf)) == 0)
                procowner_container_id(buf, ret->container_id);
        char host[sizeof(ret->pidns)];
        if (procowner_pidns(pid, ret->pidns, sizeof(ret->pidns)) < 0)
                ret->pidns[0] = '\0';
        /* unknown (no permission, gone): the same as the host's, so nothing is invented */
        ret->own_pidns = ret->pidns[0] && procowner_pidns(1, host, sizeof(host)) == 0 &&
                         strcmp(ret->pidns, host) != 0;
        /* the process may have ended meanwhile and its pid been reused: the caller compares
         * with NVML's next list, which would no longer name it */
        return 0;
}
