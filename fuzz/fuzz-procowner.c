/* fuzz-procowner.c - procowner_container_id over any text (a /proc/PID/cgroup file; cgroup
 * names below a delegated subtree are chosen by users): it never reads past the text, and what
 * it finds is 64 lower-case hex digits that occur in the text. */
#include "../src/daemon/gpus/procowner.h"
#include "fuzz.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *text = fuzz_string(data, size);
        if (!text)
                return 0;
        char id[PROCOWNER_ID_LEN + 1];
        if (procowner_container_id(text, id)) {
                if (strlen(id) != PROCOWNER_ID_LEN ||
                    strspn(id, "0123456789abcdef") != PROCOWNER_ID_LEN || !strstr(text, id))
                        abort();
        } else if (id[0] != '\0')
                abort();
        free(text);
        return 0;
}
