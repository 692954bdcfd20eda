/* audit.h - denied requests, aggregated: the first denial of a (uid, action, target) is written
 * to events.jsonl ("auth.denied", details.count 1) and to the daemon log at once; repeats within
 * the window are only counted, and written as one event (details.count N, details.window_s) when
 * the window ends. A uid's distinct targets in a window are bounded (further ones share the
 * target "*", written as the window ends), and so is the whole table, so a user hammering the
 * socket cannot flush the audit log or grow the daemon. A thread of its own writes the windows that
 * ended. Thread-safe (one mutex). */
#pragma once

#include "daemon/observe/events.h"

#include <sys/types.h>

struct audit;

/* names_per_uid: distinct (action, target) itemised per uid and window (audit_names_per_uid). */
struct audit *audit_new(struct events *ev, int64_t window_s, int64_t names_per_uid);
/* Writes what is still counted, stops the thread. Accepts NULL. */
struct audit *audit_free(struct audit *a);
/* Takes effect for windows opened from now on (a reload). */
void audit_configure(struct audit *a, int64_t window_s, int64_t names_per_uid);
/* A denied request of uid (login) to `action` `target` (any bytes: escaped where written). */
void audit_denied(struct audit *a, uid_t uid, const char *login, const char *action,
                  const char *target);
