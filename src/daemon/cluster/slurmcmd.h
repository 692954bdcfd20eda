/* slurmcmd.h - running one of Slurm's client commands (squeue, scancel, sacctmgr) from ds01d, the
 * one place the rules for it live: as root, argv only (no shell), stdin on /dev/null, a time
 * limit, the output bounded, and an environment of its own - PATH, LC_ALL=C and SLURM_CONF from
 * ds01.yaml's cluster key, nothing of ds01d's. No state. */
#pragma once

#include "daemon/config/config.h"
#include "shared/error.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Runs cl->slurm_bin/cmd with args (NULL-terminated; argv[0] is set here). Returns its exit
 * status with *ret_out and *ret_err set (NUL-terminated, the caller frees; stderr made one line,
 * for a message); -2 when it was stopped after timeout_ms or because *stop became true (NULL:
 * never; the output up to then is set); -1 with err when it cannot be run at all (naming the
 * fix: install Slurm's client commands or set cluster.slurm_bin). */
int slurmcmd_run(const struct config_cluster *cl, const char *cmd, const char *const *args,
                 int64_t timeout_ms, const _Atomic bool *stop, size_t max_bytes, char **ret_out,
                 char **ret_err, struct error **err);
