/* fuzz.h - what the fuzz targets share (header only: a target is linked with driver.c or with
 * libFuzzer). */
#pragma once

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The input as a NUL-terminated string (a NUL inside ends it early, as a C parser would see
 * it), or NULL when out of memory; the caller frees it. */
static inline char *fuzz_string(const uint8_t *data, size_t size)
{
        char *s = malloc(size + 1);
        if (s) {
                memcpy(s, data, size);
                s[size] = '\0';
        }
        return s;
}
