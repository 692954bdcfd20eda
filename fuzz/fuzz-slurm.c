/* fuzz-slurm.c - what ds01d reads from Slurm before it deploys for a job (cluster/slurmjob.c):
 * squeue's JSON (a job's name and comment are its user's text), host lists and GRES strings in
 * it, and slurmd -G's GPU records. Any bytes: no crash, no read past the input, and the bounds
 * hold (at most SLURMJOB_MAX_GPUS indexes, ascending and distinct; types NUL-terminated). */
#include "../src/daemon/cluster/slurmjob.h"
#include "fuzz.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void job(const char *s)
{
        struct slurm_job j;
        struct error *err = NULL;
        for (int64_t id = 1; id <= 3; id++) {
                int r = slurmjob_parse(s, id, &j, &err);
                if (r < 0) {
                        if (!err)
                                abort();
                        err = error_free(err);
                        continue;
                }
                if (r == 0)
                        continue;
                int idx[SLURMJOB_MAX_GPUS];
                int n = slurmjob_node_gpus(&j, "n1", idx, &err);
                if (n > SLURMJOB_MAX_GPUS)
                        abort();
                for (int i = 1; i < n; i++)
                        if (idx[i] <= idx[i - 1])
                                abort();
                err = error_free(err);
                slurm_job_release(&j);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *s = fuzz_string(data, size);
        if (!s)
                return 0;
        job(s);
        int64_t pos = slurmjob_hostlist_index(s, "n1");
        if (pos < -1)
                abort();
        struct slurm_gres_gpu g[SLURMJOB_MAX_GPUS];
        struct error *err = NULL;
        int n = slurmjob_parse_gres_layout(s, g, &err);
        if (n > SLURMJOB_MAX_GPUS || (n < 0 && !err))
                abort();
        for (int i = 0; i < n; i++)
                if (strnlen(g[i].type, sizeof(g[i].type)) == sizeof(g[i].type) || g[i].file_no < -1)
                        abort();
        error_free(err);
        free(s);
        return 0;
}
