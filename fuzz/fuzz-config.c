/* fuzz-config.c - ds01.yaml as an administrator might (mis)write it. */
#include "../src/daemon/config/config.h"

#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        int fd = memfd_create("ds01.yaml", MFD_CLOEXEC);
        if (fd < 0)
                return 0;
        if (write_all(fd, data, size) == 0) {
                char path[64];
                snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
                struct error *err = NULL;
                config_free(config_load(path, &err));
                error_free(err);
        }
        close(fd);
        return 0;
}
