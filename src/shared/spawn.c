/* spawn.c - running a system program and waiting for it (see spawn.h). */
#include "shared/spawn.h"

#include <errno.h>
#include <fcntl.h>
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
