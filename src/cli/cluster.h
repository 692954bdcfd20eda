/* cluster.h - the same commands from any node of a Slurm cluster (issue 17 item 3,
 * docs/cluster-design.md "The same commands from any node"). A container deployed for a Slurm
 * job lives on the job's node. The CLI, as the user, finds the user's running ds01 jobs
 * (`squeue --me`, job names `ds01:PROJECT`) and reaches a container on another node by running
 * itself there in the job: `srun --overlap --jobid ID ds01 COMMAND ARGS...`. Slurm
 * authenticates the user (munge) and starts the step on the job's node as that user, where the
 * CLI talks to that node's ds01d, which checks the caller by SO_PEERCRED as always: no new
 * network surface and no trust between daemons.
 *
 * Cluster mode is what the local ds01d says (`cluster.info`); a host without a ds01d (a login
 * node) is in the cluster when DS01_CLUSTER_SLURM_CONF is set (the slurm.conf path, or empty
 * for Slurm's default). Without either, every function here leaves the single-server path as
 * it was. No state. */
#pragma once

#include "cmd.h"

#include <jansson.h>

/* Where a command about container NAME runs: CLI_CONTINUE to go on here (no cluster, the
 * container is here, or no job of the caller's for its project runs elsewhere), or the exit
 * code of the same command run on the job's node through srun (argv as the command got it,
 * argv[0] its name). pty: an interactive session (srun --pty when stdin is a terminal). */
int cluster_route(const struct cli_command *cmd, const char *name, int argc, char **argv, bool pty);

/* container-list across the cluster: *ret_list is NULL when not in cluster mode (list as on a
 * single server). Otherwise the caller's containers of this node (ds01d's container.list with
 * all) and of every other node with a ds01 job of the caller's (one srun per node), each with
 * "node"; a node that does not answer is named on stderr and left out. Returns 0, or the exit
 * code after an error was printed. */
int cluster_list(const struct cli_command *cmd, bool all, json_t **ret_list);

/* On a host where no ds01d answers: whether it is a login node of the cluster
 * (DS01_CLUSTER_SLURM_CONF is set, and this is not a command routed here through srun), with
 * *ret_conf its slurm.conf (NULL: Slurm's default). */
bool cluster_login(const char **ret_conf);

/* The user's environment for Slurm's commands, run as the user: SLURM_CONF set to slurm_conf
 * (NULL: the user's own), no routing marker. routed: also without DS01_SOCKET (a command sent
 * to another node through srun talks to that node's ds01d: the default socket, or what
 * slurm.conf's TaskProlog exports); a submitted job keeps it. hop: with the routing marker (the
 * command on the far side does not route again). NULL-terminated; free with cluster_env_free. */
char **cluster_slurm_env(const char *slurm_conf, bool routed, bool hop);
void cluster_env_free(char **env);

/* The path of Slurm's program `prog`: in slurm_bin (the cluster key's), else the first in PATH
 * (a login node's). A new string. */
char *cluster_slurm_prog(const char *slurm_bin, const char *prog);
