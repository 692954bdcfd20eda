/* spawn.c - running a system program and waiting for it (see spawn.h). */
#include "shared/spawn.h"

#include "shared/strbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

int spawn_wait(const char *const *paths, size_t n, const char *argv[])
{
        char *envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
        for (size_t i = 0; i < n; i++) {
                if (access(paths[i], X_OK) != 0)
                        continue;
                posix_spawn_file_actions_t fa;
                posix_spawn_file_actions_init(&fa);
                posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
                posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
                posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
                pid_t pid;
                argv[0] = paths[i];
                int r = posix_spawn(&pid, paths[i], &fa, NULL, (char *const *)argv, envp);
                posix_spawn_file_actions_destroy(&fa);
                if (r != 0)
                        continue;
                int status;
                while (waitpid(pid, &status, 0) < 0)
                        if (errno != EINTR)
                                return -1;
                return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        }
        return -1;
}

/* Reads what is there from fd into sb (up to max bytes kept); false at end of file. */
static bool drain(int fd, struct strbuf *sb, size_t max)
{
        char buf[4096];
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0)
                return errno == EINTR || errno == EAGAIN;
        if (n == 0)
                return false;
        if (sb->len < max)
                strbuf_add(sb, buf, (size_t)n < max - sb->len ? (size_t)n : max - sb->len);
        return true;
}

/* Both pipes read to their end, or the deadline (or *stop): false when it passed. */
static bool collect(int out, int err, int64_t deadline, const _Atomic bool *stop, struct strbuf *o,
                    struct strbuf *e, size_t max)
{
        struct pollfd p[2] = {{out, POLLIN, 0}, {err, POLLIN, 0}};
        while (p[0].fd >= 0 || p[1].fd >= 0) {
                int64_t left = deadline - now_ms();
                if (left <= 0 || (stop && atomic_load(stop)))
                        return false;
                int r = poll(p, 2, (int)(left > 1000 ? 1000 : left));
                if (r < 0 && errno != EINTR)
                        return false;
                for (int i = 0; i < 2 && r > 0; i++)
                        if (p[i].fd >= 0 && p[i].revents && !drain(p[i].fd, i ? e : o, max))
                                p[i].fd = -1;
        }
        return true;
}

int spawn_capture(const char *path, const char *const argv[], const char *const envp[],
                  int64_t timeout_ms, size_t max_bytes, char **ret_out, char **ret_err)
{
        return spawn_capture_until(path, argv, envp, timeout_ms, NULL, max_bytes, ret_out, ret_err);
}

int spawn_capture_until(const char *path, const char *const argv[], const char *const envp[],
                        int64_t timeout_ms, const _Atomic bool *stop, size_t max_bytes,
                        char **ret_out, char **ret_err)
{
        int po[2], pe[2];
        if (pipe2(po, O_CLOEXEC) < 0)
                return -1;
        if (pipe2(pe, O_CLOEXEC) < 0) {
                close(po[0]);
                close(po[1]);
                return -1;
        }
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_adddup2(&fa, po[1], 1);
        posix_spawn_file_actions_adddup2(&fa, pe[1], 2);
        pid_t pid;
        int r = posix_spawn(&pid, path, &fa, NULL, (char *const *)argv, (char *const *)envp);
        posix_spawn_file_actions_destroy(&fa);
        close(po[1]);
        close(pe[1]);
        if (r != 0) {
                close(po[0]);
                close(pe[0]);
                errno = r;
                return -1;
        }
        struct strbuf o = STRBUF_INIT, e = STRBUF_INIT;
        bool done = collect(po[0], pe[0], now_ms() + timeout_ms, stop, &o, &e, max_bytes);
        close(po[0]);
        close(pe[0]);
        if (!done)
                kill(pid, SIGKILL); /* a child of ours that has not been waited for: no reuse */
        int status;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR) {
                        status = -1;
                        break;
                }
        *ret_out = strbuf_detach(&o);
        *ret_err = strbuf_detach(&e);
        if (!done || status == -1 || !WIFEXITED(status))
                return -2;
        return WEXITSTATUS(status);
}
