/* fuzz-rpc.c - a request as the daemon receives it: JSON parse, envelope checks and the method
 * table's parameter validation (the code that runs before any handler). */
#include "daemon/requests/methods.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size > 64 * 1024)
                return 0;
        json_t *req = json_loadb((const char *)data, size, 0, NULL);
        if (!req)
                return 0;
        const char *method = json_string_value(json_object_get(req, "method"));
        json_t *params = json_object_get(req, "params");
        if (method && params) {
                struct error *err = NULL;
                methods_validate(method, params, &err);
                error_free(err);
        }
        json_decref(req);
        return 0;
}
