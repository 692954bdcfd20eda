/* rules.c - the idle and runtime rules as decisions on numbers (see rules.h). */
#include "daemon/rules/rules.h"

/* The ledger's creation is the reservation, before Docker created the container (by seconds, or
 * by minutes on a loaded machine: never a reason to count from it). Only for a container recorded
 * before runtime_from_ms existed (-1) does a much older ledger creation mean that an older ds01
 * recreated it (a GPU hold that had expired). */
#define RECREATED_MS 60000
int64_t rules_runtime_start_ms(int64_t docker_created_ms, int64_t ledger_created_s,
                               int64_t runtime_from_ms)
{
        if (runtime_from_ms > 0)
                return runtime_from_ms;
        int64_t ledger = ledger_created_s > 0 ? ledger_created_s * 1000 : 0;
        if (docker_created_ms <= 0 ||
            (runtime_from_ms < 0 && ledger > 0 && ledger < docker_created_ms - RECREATED_MS))
                return ledger;
        return docker_created_ms;
}
