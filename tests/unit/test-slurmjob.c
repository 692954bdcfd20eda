/* test-slurmjob.c - a Slurm job read for a deploy (cluster/slurmjob.c): scontrol's one-line
 * answer, host lists, and the GPU indexes a job holds on a node. */
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
        assert_true(slurmjob_hostlist_contains("n1", "n1"));
        assert_false(slurmjob_hostlist_contains("n1", "n10"));
        assert_true(slurmjob_hostlist_contains("login,n[1-3,7]", "n7"));
        assert_true(slurmjob_hostlist_contains("n[1-3,7],x", "n2"));
        assert_false(slurmjob_hostlist_contains("n[1-3,7]", "n5"));
        assert_true(slurmjob_hostlist_contains("gpu[01-04]", "gpu03"));
        assert_false(slurmjob_hostlist_contains("gpu[01-04]", "gpu3"));
        assert_true(slurmjob_hostlist_contains("r[1-2]-gpu", "r2-gpu"));
        assert_false(slurmjob_hostlist_contains("n[1-3", "n1"));
        assert_false(slurmjob_hostlist_contains("(null)", "n1"));
        assert_false(slurmjob_hostlist_contains(NULL, "n1"));
}

static void test_parse(void **state)
{
        (void)state;
        const char *text =
            "JobId=17 JobName=w UserId=alice(1001) GroupId=alice(1001) MCS_label=N/A "
            "Priority=1 JobState=RUNNING Reason=None NodeList=n[1-2] BatchHost=n1 "
            "TresPerNode=gres:gpu:2 Nodes=n1 CPU_IDs=0 Mem=0 GRES=gpu:2(IDX:1,3) "
            "Nodes=n2 CPU_IDs=0-1 Mem=0 GRES=gpu:a100:1(IDX:0),gpu:v100:1(IDX:5-6) "
            "Command=/home/alice/job.sh\n";
        struct slurm_job j;
        struct error *err = NULL;
        assert_int_equal(slurmjob_parse(text, &j, &err), 0);
        assert_int_equal(j.id, 17);
        assert_string_equal(j.state, "RUNNING");
        assert_string_equal(j.user, "alice");
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

        /* no GRES on the node; a GRES without indexes is an error */
        assert_int_equal(
            slurmjob_parse("JobId=3 UserId=bob(1002) JobState=RUNNING NodeList=n1 Nodes=n1 "
                           "CPU_IDs=0 Mem=0 GRES=",
                           &j, &err),
            0);
        assert_int_equal(slurmjob_node_gpus(&j, "n1", idx, &err), 0);
        slurm_job_release(&j);
        assert_int_equal(slurmjob_parse("JobId=3 UserId=bob(1002) JobState=RUNNING NodeList=n1 "
                                        "Nodes=n1 GRES=gpu:2",
                                        &j, &err),
                         0);
        assert_int_equal(slurmjob_node_gpus(&j, "n1", idx, &err), -1);
        assert_non_null(strstr(err->message, "IDX"));
        err = error_free(err);
        slurm_job_release(&j);

        assert_int_equal(slurmjob_parse("No jobs in the system\n", &j, &err), -1);
        assert_non_null(strstr(err->message, "JobId"));
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
