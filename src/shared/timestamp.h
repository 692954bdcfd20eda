/* timestamp.h - the one reader of ISO-8601 / RFC 3339 times: exemption dates in the config,
 * Docker's JSON ("Created", "StartedAt"), the event log and the CLI's rendering of both. The one
 * writer is format_iso8601() in util.h, whose output this reads back exactly. */
#pragma once

#include <stdint.h>

/* "2026-03-01" (midnight UTC) or "2026-03-01T12:00[:00[.123456789]]" followed by "Z", "+01:00",
 * "+0100" or nothing (UTC); 'T' may also be 't' or a space, 'Z' also 'z'. Writes milliseconds
 * since the epoch (a fraction is truncated to milliseconds, an offset is applied) to *ret_ms and
 * returns 0; anything else, trailing text and impossible dates ("2026-02-30") included, is
 * -EINVAL and leaves *ret_ms alone. Docker's zero time "0001-01-01T00:00:00Z" parses (to year 1);
 * timestamp_ms_or_zero() is for times that may be unset. */
int timestamp_parse_ms(const char *s, int64_t *ret_ms);

/* The same in whole seconds, rounded down. */
int timestamp_parse(const char *s, int64_t *ret_s);

/* For a time that may be absent: NULL, unparsable text, Docker's zero time (year 1) and any time
 * at or before the epoch read as 0 ("never"); otherwise milliseconds since the epoch. */
int64_t timestamp_ms_or_zero(const char *s);
