/* clusterinfo.c - `cluster.info` (see clusterinfo.h). */
#include "daemon/cluster/clusterinfo.h"

#include "daemon/cluster/slurmplan.h"
#include "daemon/config/config.h"
#include "daemon/config/limits.h"

#include <math.h>

static json_t *num_or_null(double v)
{
        return v < 0 ? json_null() : json_real(v);
}

/* The caller's part: what the CLI needs to submit a deploy as a Slurm job. */
static void add_submit_params(struct ds01d *d, const struct config_cluster *cl,
                              const struct caller *c, json_t *res)
{
        struct limit_set ls;
        caller_limits(d, c, &ls);
        json_object_update_new(
            res, json_pack("{s:s, s:b, s:I, s:o, s:o, s:b}", "group", ls.group ? ls.group : "",
                           "accounts", cl->accounts, "sigterm_grace_s",
                           (json_int_t)ls.policies.sigterm_grace_s, "max_gpu_equivalents",
                           num_or_null(ls.max_gpu_equivalents), "max_runtime_h",
                           num_or_null(ls.max_runtime_h), "admin", c->admin));
        /* Slurm's time limit is ds01's runtime cap: the job ends where the container would be
         * stopped on a single server */
        json_object_set_new(res, "time_limit_min",
                            ls.max_runtime_h < 0
                                ? json_null()
                                : json_integer((json_int_t)fmax(1, ceil(ls.max_runtime_h * 60))));
        int64_t before = ls.policies.sigterm_grace_s + CLUSTERINFO_SIGNAL_MARGIN_S;
        json_object_set_new(res, "signal_before_end_s",
                            json_integer((json_int_t)(before > 65535 ? 65535 : before)));
        if (cl->accounts && ls.group) {
                /* the names slurm-sync gave the group's account and QOS (slurmplan.h) */
                char *name = slurmplan_object_name(cl->account_prefix, ls.group);
                if (name) {
                        json_object_set_new(res, "account", json_string(name));
                        json_object_set_new(res, "qos", json_string(name));
                        free(name);
                }
        }
        limit_set_release(&ls);
}

int clusterinfo_handle(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                       struct error **err)
{
        (void)params;
        (void)err;
        const struct config_cluster *cl = d->cfg->cluster;
        if (!cl) {
                *ret_result = json_pack("{s:b}", "enabled", false);
                return 0;
        }
        *ret_result = json_pack("{s:b, s:s?, s:s?, s:s?, s:s?, s:s?}", "enabled", true, "backend",
                                cl->backend, "name", cl->name, "node", cl->node, "slurm_conf",
                                cl->slurm_conf, "slurm_bin", cl->slurm_bin);
        if (!json_object_get(*ret_result, "slurm_conf"))
                json_object_set_new(*ret_result, "slurm_conf", json_null());
        add_submit_params(d, cl, c, *ret_result);
        return 0;
}
