/* test-slurmjob.c - a Slurm job read for a deploy (cluster/slurmjob.c): squeue's JSON, host
 * lists, and the GPU indexes a job holds on a node. */
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

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_ids),
            cmocka_unit_test(test_hostlist),
            cmocka_unit_test(test_parse),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
