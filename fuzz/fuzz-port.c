/* fuzz-port.c - names_parse_port over any bytes: it takes exactly the canonical decimal spellings
 * of 1..65535 (what a user types for --port and container-port) and refuses everything else
 * with a message, never reading past the string. */
#include "../src/shared/names.h"
#include "fuzz.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *s = fuzz_string(data, size);
        if (!s)
                return 0;
        struct error *err = NULL;
        int port = -1;
        int r = names_parse_port(s, &port, &err);
        char canon[16];
        if (r == 0) {
                snprintf(canon, sizeof(canon), "%d", port);
                if (port < 1 || port > 65535 || strcmp(canon, s) != 0 || err)
                        abort();
        } else if (r != -1 || !err || err->code != DS01_EUSAGE || port != -1) {
                abort();
        }
        error_free(err);
        free(s);
        return 0;
}
