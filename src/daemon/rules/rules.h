/* rules.h - the lifecycle rules as pure decisions: given what was observed (times, counters,
 * limits), what is due. No I/O, no locks, no daemon state: the monitor (monitor.h) samples and
 * calls these; enforcement (enforce.h) acts on what they decide; the verbs (verbs.h) ask the
 * same questions before a start. Unit-tested in tests/unit/test-rules.c. */
#pragma once

#include <stdint.h>

/* Where a container's runtime count starts (unix ms; 0: unknown): the start the ledger recorded
 * when ds01 recreated the container (runtime_from_ms > 0: the replacement keeps the count), else
 * its creation as Docker records it; for a container recorded before runtime_from_ms existed
 * (-1), the ledger's creation where that is much older (an older ds01 recreated it). */
int64_t rules_runtime_start_ms(int64_t docker_created_ms, int64_t ledger_created_s,
                               int64_t runtime_from_ms);
