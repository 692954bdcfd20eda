/* monitor.h - the daemon's timer: every sample_interval_s it rescans the GPUs (NVML: a MIG
 * reconfiguration shows up without a restart) and releases GPU holds that have expired. Idle and
 * runtime enforcement (issue #4) join this loop. */
#pragma once

#include "lifecycle.h"

struct monitor;

struct monitor *monitor_start(struct ds01d *d, struct error **err);
/* Stops the thread and waits for it. */
struct monitor *monitor_stop(struct monitor *m);
