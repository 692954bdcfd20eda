/* slurmcmd.c - Slurm's client commands run by ds01d (see slurmcmd.h). */
#include "daemon/cluster/slurmcmd.h"

#include "shared/spawn.h"
#include "shared/util.h"

#include <errno.h>
#include <string.h>

int slurmcmd_run(const struct config_cluster *cl, const char *cmd, const char *const *args,
                 int64_t timeout_ms, const _Atomic bool *stop, size_t max_bytes, char **ret_out,
                 char **ret_err, struct error **err)
{
        _cleanup_free_ char *path = xasprintf("%s/%s", cl->slurm_bin, cmd);
        _cleanup_free_ char *conf =
            cl->slurm_conf ? xasprintf("SLURM_CONF=%s", cl->slurm_conf) : NULL;
        const char *envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", conf, NULL};
        size_t n = 0;
        while (args[n])
                n++;
        _cleanup_free_ const char **argv = xcalloc(n + 2, sizeof(*argv));
        argv[0] = path;
        for (size_t i = 0; i < n; i++)
                argv[i + 1] = args[i];
        *ret_out = *ret_err = NULL;
        int r =
            spawn_capture_until(path, argv, envp, timeout_ms, stop, max_bytes, ret_out, ret_err);
        if (r == -1)
                return error_set(err, DS01_ERR,
                                 "cannot run %s: %s - install Slurm's client commands on this "
                                 "node or set cluster.slurm_bin in ds01.yaml",
                                 path, strerror(errno));
        for (char *p = *ret_err; p && *p; p++) /* one line: its message goes into ds01's */
                if (*p == '\n')
                        *p = p[1] ? ' ' : '\0';
        return r;
}
