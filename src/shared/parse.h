/* parse.h - checked parsers for numbers, sizes and durations from config, argv and the wire.
 * Never atoi. Each returns 0 on success and writes *ret only then; -EINVAL/-ERANGE otherwise. */
#pragma once

#include "util.h"

int parse_int64(const char *s, int64_t min, int64_t max, int64_t *ret);
int parse_double(const char *s, double min, double max, double *ret);
/* Docker sizes: "32g", "512m", "1024k", "100b", "4096" (bytes), "1.5g"; units b k m g t, case-
 * insensitive, optional trailing 'b' ("32gb"). */
int parse_size(const char *s, int64_t *ret);
/* Durations for users: "90s", "30m", "2h", "1d", "1h30m", plain number = seconds. */
int parse_duration(const char *s, int64_t *ret_seconds);
/* Booleans as YAML spells them: true/false/yes/no/on/off (case-insensitive). */
int parse_bool(const char *s, bool *ret);
