/* events.h - the audit log log_dir/events.jsonl in DS01's envelope:
 * {"timestamp","event_type","schema_version":"1","user","source":"ds01d","details":{...}}
 * One line per event, one write() each (O_APPEND), file mode 0600 (root-only).
 *
 * Rotation by size: when an append would take events.jsonl past max_bytes, events.jsonl.(k)
 * becomes .(k+1) (the oldest beyond `keep` is deleted), events.jsonl becomes events.jsonl.1 and
 * a new events.jsonl is started - all under the writers' mutex, so no line is split or lost.
 * A history query reads events.jsonl, then .1, .2 ... until it has `limit` matches, and looks
 * for the filter's user, type and container in a line's text before it parses it; a cursor query
 * reads on from its cursor, oldest first. Cursors are sealed with a key in log_dir/events.key
 * (root's): they show no offset or size (others' activity) and cannot be made up. */
#pragma once

#include "shared/error.h"

#include <jansson.h>

#define EVENTS_KEEP_MAX     100
#define EVENTS_FOLLOW_MAX   1000              /* events in one answer to a cursor query */
#define EVENTS_FOLLOW_BYTES (8 * 1024 * 1024) /* bytes of log read by one cursor query */

struct events;

/* max_bytes: rotate past this size (>= 1); keep: rotated files kept (1..EVENTS_KEEP_MAX). */
struct events *events_open(const char *log_dir, int64_t max_bytes, int keep, struct error **err);
struct events *events_free(struct events *ev);
/* Takes effect at the next append (a settings reload). */
void events_set_rotation(struct events *ev, int64_t max_bytes, int keep);
/* Never fails the caller: a write error is logged once. details is stolen (may be NULL). */
void events_log(struct events *ev, const char *type, const char *user, json_t *details);

struct events_filter {
        const char *user;      /* exact login, or NULL */
        const char *type;      /* exact type, or a prefix ending in '.' ("gpu."), or NULL */
        const char *container; /* details.container, or NULL */
        int64_t since, until;  /* unix seconds; 0 = open */
        size_t limit;          /* the newest `limit` matches; with `after`: at most this many */
        /* A cursor from an earlier answer (opaque to callers): the matches
         * written after it, oldest first, at most min(limit, EVENTS_FOLLOW_MAX) of them and
         * EVENTS_FOLLOW_BYTES read. NULL: the newest `limit` matches. */
        const char *after;
};

/* {events: [...] (oldest first), cursor: "..." (where the next `after` query continues),
 * more: true (with `after`: stopped at a bound; ask again at once), skipped: true (with
 * `after`: the cursor's file was rotated away, so events between it and the oldest file kept
 * were lost to this reader)}. A new reference; NULL and *err on failure (a malformed cursor is
 * DS01_EUSAGE). */
json_t *events_query(struct events *ev, const struct events_filter *f, struct error **err);
/* Counts the events written since `since` (unix seconds) into counters_event_seen, so that
 * ds01_events_24h_total does not start from zero when the daemon starts. */
void events_count_since(struct events *ev, int64_t since);
