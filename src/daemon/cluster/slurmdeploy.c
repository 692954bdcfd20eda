/* slurmdeploy.c - checking a Slurm job for a deploy (see slurmdeploy.h). */
#include "daemon/cluster/slurmdeploy.h"

#include "daemon/cluster/slurmcmd.h"
#include "daemon/cluster/slurmjob.h"
#include "daemon/config/config.h"
#include "daemon/gpus/gpu.h"
#include "daemon/gpus/pool.h"
#include "daemon/ledger/store.h"
#include "daemon/requests/access.h"

#include <errno.h>
#include <string.h>

#define SQUEUE_TIMEOUT_MS (20 * 1000)
/* Slurm 22.05's squeue --json lists every job slurmctld knows, whatever -j says: about 4 KiB a
 * job */
#define SQUEUE_MAX_OUTPUT (64u << 20)

/* `squeue --json -j ID`: its stdout in *ret_out, or *ret_missing when Slurm says it knows no
 * such job (finished jobs leave slurmctld after MinJobAge). */
static int squeue_job(const struct config_cluster *cl, int64_t id, char **ret_out,
                      bool *ret_missing, struct error **err)
{
        _cleanup_free_ char *ids = xasprintf("%lld", (long long)id);
        const char *args[] = {"--json", "-j", ids, NULL};
        _cleanup_free_ char *out = NULL, *errout = NULL;
        *ret_missing = false;
        int r = slurmcmd_run(cl, "squeue", args, SQUEUE_TIMEOUT_MS, NULL, SQUEUE_MAX_OUTPUT, &out,
                             &errout, err);
        if (r == -1)
                return -1;
        const char *e = errout ? errout : "";
        if (r != 0 && strstr(e, "Invalid job id")) {
                *ret_missing = true;
                return 0;
        }
        if (r == -2)
                return error_set(err, DS01_ERR,
                                 "cannot ask Slurm about job %lld: squeue was stopped after %d s, "
                                 "slurmctld does not answer - try again later (%.300s)",
                                 (long long)id, SQUEUE_TIMEOUT_MS / 1000, e);
        if (r != 0)
                return error_set(err, DS01_ERR,
                                 "cannot ask Slurm about job %lld: squeue exited with %d: "
                                 "%.300s",
                                 (long long)id, r, e);
        *ret_out = TAKE_PTR(out);
        return 0;
}

/* The node's GPUs as Slurm indexes them, from `slurmd -G -N NODE` (it reads slurm.conf and
 * gres.conf and prints, on stderr, the records in the order a job's IDX counts them).
 * slurmd is in the sbin beside slurm_bin's bin (/usr/bin -> /usr/sbin). */
static int gres_layout(const struct config_cluster *cl, struct slurm_gres_gpu *ret,
                       struct error **err)
{
        const char *args[] = {"-G", "-N", cl->node, NULL};
        _cleanup_free_ char *out = NULL, *errout = NULL;
        int r = slurmcmd_run(cl, "../sbin/slurmd", args, SQUEUE_TIMEOUT_MS, NULL, 1u << 20, &out,
                             &errout, err);
        if (r == -1)
                return -1;
        if (r != 0)
                return error_set(err, DS01_ERR,
                                 "cannot read this node's GPUs from Slurm: slurmd -G exited with "
                                 "%d: %.300s",
                                 r, errout ? errout : "");
        return slurmjob_parse_gres_layout(errout, ret, err);
}

/* A MIG profile's shape ("3g.20gb"): such a gres type names MIG instances. */
static bool is_profile(const char *type)
{
        int slices, mem;
        _cleanup_error_ struct error *e = NULL;
        return strchr(type, '.') && pool_parse_profile(type, &slices, &mem, &e) == 0;
}

/* The ds01 slot of the job's GPU index idx: record idx of the node's layout. A record typed as
 * a MIG profile is ds01's k-th allocatable instance of that profile (k: its rank among the
 * layout's records of that type); any other is the whole GPU whose minor is its device file's
 * number. NULL with err when ds01 has no such slot. */
static const struct gpu_slot *slot_of_gres(const struct gpu_inventory *inv,
                                           const struct slurm_gres_gpu *layout, int n_layout,
                                           int64_t job, int idx, const char *node,
                                           struct error **err)
{
        const struct slurm_gres_gpu *g = idx < n_layout ? &layout[idx] : NULL;
        bool mig = g && is_profile(g->type);
        const struct gpu_slot *const *cand;
        size_t n = gpu_inventory_allocatable(inv, mig, &cand);
        int rank = 0;
        for (int i = 0; g && mig && i < idx; i++)
                rank += streq(layout[i].type, g->type);
        for (size_t i = 0; g && i < n; i++) {
                if (mig ? streq(cand[i]->profile, g->type) && rank-- == 0
                        : g->file_no >= 0 && cand[i]->minor == (unsigned)g->file_no)
                        return cand[i];
        }
        if (!g)
                error_set(err, DS01_ERR,
                          "Slurm gave job %lld GPU %d of node %s, which slurmd -G does not list "
                          "(%d GPUs) - slurm.conf and gres.conf disagree; an administrator "
                          "restarts slurmd after changing them",
                          (long long)job, idx, node, n_layout);
        else
                error_set(err, DS01_ERR,
                          "Slurm gave job %lld GPU %d of node %s (gres type '%s', device file "
                          "number %ld), which ds01 does not have as %s (it has %zu such "
                          "slots) - gres.conf and ds01's GPUs disagree; an administrator lists "
                          "the whole GPUs by their /dev/nvidiaN and each MIG instance with its "
                          "profile as Type (docs/cluster-design.md)",
                          (long long)job, idx, node, g->type, g->file_no,
                          mig ? "a MIG instance of that profile" : "a whole GPU", n);
        return NULL;
}

int slurmdeploy_check(struct ds01d *d, const struct caller *c, const json_t *job, int64_t *ret_id,
                      const struct gpu_slot ***ret_slots, size_t *ret_n, struct error **err)
{
        const struct config_cluster *cl = d->cfg->cluster;
        if (!cl)
                return error_set(err, DS01_EUSAGE,
                                 "this server is not in a cluster: --slurm-job needs ds01.yaml's "
                                 "'cluster' key - deploy without it");
        /* a number or a string of digits ($SLURM_JOB_ID) */
        _cleanup_free_ char *text = json_is_integer(job)
                                        ? xasprintf("%lld", (long long)json_integer_value(job))
                                    : json_is_string(job) ? xstrdup(json_string_value(job))
                                                          : xstrdup("");
        int64_t id;
        if (!slurmjob_id_valid(text, &id))
                return error_set(err, DS01_EUSAGE,
                                 "'%.40s' is not a Slurm job id - give the job's number "
                                 "($SLURM_JOB_ID in the job's script)",
                                 text);
        _cleanup_free_ char *out = NULL;
        bool missing;
        if (squeue_job(cl, id, &out, &missing, err) < 0)
                return -1;
        struct slurm_job sj;
        int found = missing ? 0 : slurmjob_parse(out, id, &sj, err);
        if (found < 0)
                return -1;
        if (found == 0)
                return error_set(err, DS01_ENOTFOUND,
                                 "Slurm has no job %lld (or it ended a while ago) - give the id "
                                 "of a running job of yours (squeue --me)",
                                 (long long)id);
        int r = -1;
        if (sj.uid < 0 || sj.uid != (int64_t)c->uid) {
                /* as if there were none: whose jobs run is not the caller's business here */
                _cleanup_free_ char *what = xasprintf("slurm job %lld", (long long)id);
                access_denied(d, c, "container.deploy", what);
                error_set(err, DS01_ENOTFOUND,
                          "job %lld is not yours - give the id of a running job of yours "
                          "(squeue --me)",
                          (long long)id);
                goto out;
        }
        if (!streq(sj.state, "RUNNING")) {
                error_set(err, DS01_EUSAGE,
                          "job %lld is %s, not RUNNING - a container is deployed from a job's "
                          "script while the job runs",
                          (long long)id, sj.state);
                goto out;
        }
        if (slurmjob_hostlist_index(sj.node_list, cl->node) < 0) {
                error_set(err, DS01_EUSAGE,
                          "job %lld runs on %s, not on this node (%s) - ask the ds01d of the "
                          "job's node (run the deploy from the job's script)",
                          (long long)id, *sj.node_list ? sj.node_list : "no node", cl->node);
                goto out;
        }
        int idx[SLURMJOB_MAX_GPUS];
        int n = slurmjob_node_gpus(&sj, cl->node, idx, err);
        if (n < 0)
                goto out;
        if (n == 0) {
                error_set(err, DS01_EUSAGE,
                          "job %lld holds no GPUs on %s - submit it with --gres=gpu:N (a "
                          "CPU-only container needs no job: container-deploy --cpu-only)",
                          (long long)id, cl->node);
                goto out;
        }
        struct slurm_gres_gpu layout[SLURMJOB_MAX_GPUS];
        int n_layout = gres_layout(cl, layout, err);
        if (n_layout < 0)
                goto out;
        const struct gpu_slot **slots = xcalloc((size_t)n + 1, sizeof(*slots));
        for (int i = 0; i < n; i++) {
                slots[i] = slot_of_gres(d->inv, layout, n_layout, id, idx[i], cl->node, err);
                if (!slots[i]) {
                        free(slots);
                        goto out;
                }
        }
        *ret_id = id;
        *ret_slots = slots;
        *ret_n = (size_t)n;
        r = 0;
out:
        slurm_job_release(&sj);
        return r;
}

int slurmdeploy_one_container(struct ds01d *d, const struct caller *c, int64_t job,
                              const char *container, struct error **err)
{
        struct store_container *rows = NULL;
        size_t n = 0;
        if (store_list(d->store, (int64_t)c->uid, &rows, &n, err) < 0)
                return -1;
        int r = 0;
        for (size_t i = 0; i < n && r == 0; i++)
                if (rows[i].slurm_job == job && !streq(rows[i].name, container))
                        r = error_set(err, DS01_EUSAGE,
                                      "Slurm job %lld has container %s already: one container "
                                      "per job - submit another job for another project "
                                      "(container-deploy PROJECT --gpus N)",
                                      (long long)job, rows[i].name);
        store_containers_free(rows, n);
        return r;
}
