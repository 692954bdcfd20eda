/* fuzz-buildcheck.c - a build context as a user sends it: the tar reader, then the Dockerfile
 * reader over the input itself (a Dockerfile is any text). */
#include "../src/daemon/images/buildcheck.h"
#include "fuzz.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *df = NULL;
        struct error *e = NULL;
        if (buildcheck_context((const char *)data, size, &df, &e) == 0) {
                char **refs = NULL;
                if (buildcheck_dockerfile(df, &refs, &e) == 0)
                        buildcheck_refs_free(refs);
                free(df);
        }
        e = error_free(e);
        char *text = fuzz_string(data, size);
        if (!text)
                return 0;
        char **refs = NULL;
        if (buildcheck_dockerfile(text, &refs, &e) == 0)
                buildcheck_refs_free(refs);
        error_free(e);
        free(text);
        return 0;
}
