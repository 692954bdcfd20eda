/* test-slurmjob.c - a Slurm job read for a deploy (cluster/slurmjob.c): squeue's JSON, host
 * lists, the GPU indexes a job holds on a node, and the node's GPUs as slurmd -G lists them. */
#include "daemon/cluster/slurmjob.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void test_ids(void **state)
{
        (void)state;
        int64_t id = 0;
        assert_true(slurmjob_id_valid("42", &id));
        assert_int_equal(id, 42);
        assert_true(slurmjob_id_valid("4294967295", NULL));
        assert_false(slurmjob_id_valid("4294967296", NULL));
        assert_false(slurmjob_id_valid("0", NULL));
        assert_false(slurmjob_id_valid("12_3", NULL));
        assert_false(slurmjob_id_valid("-1", NULL));
        assert_false(slurmjob_id_valid("", NULL));
        assert_false(slurmjob_id_valid("12345678901", NULL));
}

static void test_hostlist(void **state)
{
        (void)state;
        assert_int_equal(slurmjob_hostlist_index("n1", "n1"), 0);
        assert_int_equal(slurmjob_hostlist_index("n1", "n10"), -1);
        assert_int_equal(slurmjob_hostlist_index("login,n[1-3,7]", "n7"), 4);
        assert_int_equal(slurmjob_hostlist_index("n[1-3,7],x", "n2"), 1);
        assert_int_equal(slurmjob_hostlist_index("n[1-3,7],x", "x"), 4);
        assert_int_equal(slurmjob_hostlist_index("n[1-3,7]", "n5"), -1);
        assert_int_equal(slurmjob_hostlist_index("gpu[01-04]", "gpu03"), 2);
        assert_int_equal(slurmjob_hostlist_index("gpu[01-04]", "gpu3"), -1);
        assert_int_equal(slurmjob_hostlist_index("a[1-2]-gpu,r[1-2]-gpu", "r2-gpu"), 3);
        assert_int_equal(slurmjob_hostlist_index("n[1-3", "n1"), -1);
        assert_int_equal(slurmjob_hostlist_index("", "n1"), -1);
        assert_int_equal(slurmjob_hostlist_index(NULL, "n1"), -1);
}

static void test_parse(void **state)
{
        (void)state;
        /* squeue --json (Slurm 22.05): every job; the name cannot pass for the fields */
        const char *text =
            "{\"meta\": {}, \"errors\": [], \"jobs\": ["
            "{\"job_id\": 16, \"user_id\": 0, \"job_state\": \"RUNNING\", \"nodes\": \"n1\", "
            "\"gres_detail\": [\"gpu:4(IDX:0-3)\"]},"
            "{\"job_id\": 17, \"name\": \"x Nodes=n1 GRES=gpu:4(IDX:0-3) UserId=root(0)\", "
            "\"user_id\": 1001, \"job_state\": \"RUNNING\", \"nodes\": \"n[1-2]\", "
            "\"gres_detail\": [\"gpu:2(IDX:1,3)\", \"gpu:a100:1(IDX:0),gpu:v100:1(IDX:5-6)\"]},"
            "{\"job_id\": 18, \"user_id\": 1002, \"job_state\": \"RUNNING\", \"nodes\": \"n1\", "
            "\"gres_detail\": [\"\"]},"
            "{\"job_id\": 19, \"user_id\": 1002, \"job_state\": \"RUNNING\", \"nodes\": \"n1\", "
            "\"gres_detail\": [\"gpu:2\"]},"
            "{\"job_id\": 20, \"user_id\": 1002, \"nodes\": \"n1\", \"gres_detail\": []}"
            "]}";
        struct slurm_job j;
        struct error *err = NULL;
        assert_int_equal(slurmjob_parse(text, 17, &j, &err), 1);
        assert_int_equal(j.id, 17);
        assert_string_equal(j.state, "RUNNING");
        assert_int_equal(j.uid, 1001);
        assert_string_equal(j.node_list, "n[1-2]");
        int idx[SLURMJOB_MAX_GPUS];
        assert_int_equal(slurmjob_node_gpus(&j, "n1", idx, &err), 2);
        assert_int_equal(idx[0], 1);
        assert_int_equal(idx[1], 3);
        assert_int_equal(slurmjob_node_gpus(&j, "n2", idx, &err), 3);
        assert_int_equal(idx[0], 0);
        assert_int_equal(idx[2], 6);
        assert_int_equal(slurmjob_node_gpus(&j, "n3", idx, &err), 0);
        slurm_job_release(&j);

        /* no GRES on the node; a GRES without indexes is an error; a job without a field */
        assert_int_equal(slurmjob_parse(text, 18, &j, &err), 1);
        assert_int_equal(slurmjob_node_gpus(&j, "n1", idx, &err), 0);
        slurm_job_release(&j);
        assert_int_equal(slurmjob_parse(text, 19, &j, &err), 1);
        assert_int_equal(slurmjob_node_gpus(&j, "n1", idx, &err), -1);
        assert_non_null(strstr(err->message, "IDX"));
        err = error_free(err);
        slurm_job_release(&j);
        assert_int_equal(slurmjob_parse(text, 20, &j, &err), -1);
        assert_non_null(strstr(err->message, "job_state"));
        err = error_free(err);

        assert_int_equal(slurmjob_parse(text, 99, &j, &err), 0);
        /* slurmctld down: squeue --json exits 0 with no jobs and the failure in "errors" */
        const char *down = "{\"meta\": {}, \"errors\": [{\"description\": \"Failed while looking "
                           "for jobs\", \"error_number\": -1, \"error\": \"Unspecified error\", "
                           "\"source\": \"slurm_load_jobs\"}], \"jobs\": []}";
        assert_int_equal(slurmjob_parse(down, 99, &j, &err), -1);
        assert_non_null(strstr(err->message, "cannot ask Slurm about job 99"));
        assert_non_null(strstr(err->message, "Failed while looking for jobs"));
        err = error_free(err);
        assert_int_equal(slurmjob_parse("JobId=3 UserId=bob(1002)", 3, &j, &err), -1);
        assert_non_null(strstr(err->message, "no job list"));
        error_free(err);
}

/* slurmd -G's records as Slurm 22.05 prints them (grouped by type: the order of a job's IDX) */
static void test_gres_layout(void **state)
{
        (void)state;
        const char *text =
            "slurmd: Gres Name=gpu Type=a100 Count=1 Index=0 ID=7696487 File=/dev/nvidia0 (null)\n"
            "slurmd: Gres Name=gpu Type=a100 Count=1 Index=4 ID=7696487 File=/dev/nvidia4 (null)\n"
            "slurmd: Gres Name=gpu Type=3g.20gb Count=1 Index=1 ID=7696487 "
            "File=/dev/nvidia1,/dev/nvidia-caps/nvidia-cap21 (null)\n"
            "slurmd: Gres Name=mps Type=(null) Count=100 Index=0 ID=1 File=/dev/nvidia0 (null)\n"
            "slurmd: Gres Name=gpu Type=(null) Count=3 Index=5 ID=7696487 File=/dev/nvidia[5-6,8] "
            "(null)\n";
        struct slurm_gres_gpu g[SLURMJOB_MAX_GPUS];
        struct error *err = NULL;
        assert_int_equal(slurmjob_parse_gres_layout(text, g, &err), 6);
        assert_string_equal(g[0].type, "a100");
        assert_int_equal(g[0].file_no, 0);
        assert_int_equal(g[1].file_no, 4);
        assert_string_equal(g[2].type, "3g.20gb");
        assert_int_equal(g[2].file_no, 1); /* MultipleFiles: the first file's */
        assert_string_equal(g[3].type, "");
        assert_int_equal(g[3].file_no, 5);
        assert_int_equal(g[5].file_no, 8);
        /* a Count without as many files: the rest have no number */
        assert_int_equal(
            slurmjob_parse_gres_layout("slurmd: Gres Name=gpu Type=t Count=2 File=(null)", g, &err),
            2);
        assert_int_equal(g[1].file_no, -1);
        assert_int_equal(slurmjob_parse_gres_layout("nothing of gpus\n", g, &err), 0);
        /* as slurmcmd_run gives stderr: one line */
        assert_int_equal(slurmjob_parse_gres_layout(
                             "slurmd: Gres Name=gpu Type=a Count=1 File=/dev/n7 (null) slurmd: "
                             "Gres Name=gpu Type=b Count=1 File=/dev/n2 (null)",
                             g, &err),
                         2);
        assert_string_equal(g[1].type, "b");
        assert_int_equal(g[1].file_no, 2);
        /* malformed: no Count, a range beyond the bound */
        assert_int_equal(
            slurmjob_parse_gres_layout("slurmd: Gres Name=gpu Type=t File=/dev/x0", g, &err), -1);
        assert_non_null(strstr(err->message, "cannot read slurmd's GPU record"));
        err = error_free(err);
        assert_int_equal(slurmjob_parse_gres_layout(
                             "slurmd: Gres Name=gpu Type=t Count=99 File=/dev/x[0-98]", g, &err),
                         -1);
        error_free(err);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_ids),
            cmocka_unit_test(test_hostlist),
            cmocka_unit_test(test_parse),
            cmocka_unit_test(test_gres_layout),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
