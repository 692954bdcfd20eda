/* fuzz-limits.c - resource-limits.yaml, then resolution for a user, as the daemon does. */
#include "../src/daemon/config/limits.h"

#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        int fd = memfd_create("resource-limits.yaml", MFD_CLOEXEC);
        if (fd < 0)
                return 0;
        if (write_all(fd, data, size) == 0) {
                char path[64];
                snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
                struct error *err = NULL;
                struct limits *l = limits_load(path, &err);
                if (l) {
                        gid_t gids[] = {0, 100};
                        struct limit_set ls;
                        limits_resolve(l, "alice", gids, 2, &ls);
                        limit_set_release(&ls);
                        limits_free(l);
                }
                error_free(err);
        }
        close(fd);
        return 0;
}
