/* fuzz-demux.c - Docker's multiplexed stream, fed in pieces of every size. */
#include "../src/shared/stream.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void sink(void *ud, int stream, const char *p, size_t n)
{
        size_t *total = ud;
        (void)stream;
        (void)p;
        *total += n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size == 0)
                return 0;
        size_t step = data[0] % 17 + 1, total = 0;
        struct demux d;
        demux_init(&d);
        for (size_t off = 1; off < size; off += step) {
                size_t n = size - off < step ? size - off : step;
                if (demux_feed(&d, (const char *)data + off, n, sink, &total) < 0)
                        break;
        }
        return 0;
}
