/* events.h - the audit log log_dir/events.jsonl in DS01's envelope:
 * {"timestamp","event_type","schema_version":"1","user","source":"ds01d","details":{...}}
 * One line per event, one write() each (O_APPEND), file mode 0600 (root-only). */
#pragma once

#include "../shared/error.h"

#include <jansson.h>

struct events;

struct events *events_open(const char *log_dir, struct error **err);
struct events *events_free(struct events *ev);
/* Never fails the caller: a write error is logged once. details is stolen (may be NULL). */
void events_log(struct events *ev, const char *type, const char *user, json_t *details);

struct events_filter {
        const char *user;      /* exact login, or NULL */
        const char *type;      /* exact type, or a prefix ending in '.' ("gpu."), or NULL */
        const char *container; /* details.container, or NULL */
        int64_t since, until;  /* unix seconds; 0 = open */
        size_t limit;          /* the newest `limit` matches */
};

/* The matching events, oldest first, as a JSON array (new reference). */
json_t *events_query(struct events *ev, const struct events_filter *f, struct error **err);
