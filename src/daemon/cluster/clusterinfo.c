/* clusterinfo.c - `cluster.info` (see clusterinfo.h). */
#include "daemon/cluster/clusterinfo.h"

#include "daemon/config/config.h"

int clusterinfo_handle(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                       struct error **err)
{
        (void)c;
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
        return 0;
}
