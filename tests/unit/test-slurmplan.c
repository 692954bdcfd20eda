/* test-slurmplan.c - slurm-sync's plan (cluster/slurmplan.c): sacctmgr's output read, the steps
 * from what Slurm has to what the limits want, ownership, and ds01.yaml's cluster key. */
#include "daemon/cluster/slurmplan.h"
#include "daemon/config/config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static void test_names(void **state)
{
        (void)state;
        assert_true(slurmplan_name_valid("alice"));
        assert_true(slurmplan_name_valid("it123a"));
        assert_true(slurmplan_name_valid("j.doe-2"));
        assert_false(slurmplan_name_valid("-alice"));
        assert_false(slurmplan_name_valid("Alice"));
        assert_false(slurmplan_name_valid("a,b"));
        assert_false(slurmplan_name_valid("a=b"));
        assert_false(slurmplan_name_valid(""));
        char *n = slurmplan_object_name("ds01_", "PhD-Students");
        assert_string_equal(n, "ds01_phd_students");
        free(n);
        assert_null(slurmplan_object_name("ds01_", "a b"));
}

static void test_wall(void **state)
{
        (void)state;
        assert_int_equal(slurmplan_parse_wall(""), -1);
        assert_int_equal(slurmplan_parse_wall("2-00:00:00"), 2880);
        assert_int_equal(slurmplan_parse_wall("48:00:00"), 2880);
        assert_int_equal(slurmplan_parse_wall("01:30:00"), 90);
        assert_int_equal(slurmplan_parse_wall("30:00"), 30);
        assert_int_equal(slurmplan_parse_wall("1-x"), -2);
}

/* Slurm as sacctmgr shows it: a site account, ds01's student group with an old MaxWall, an
 * orphan ds01 group, and a QOS named like ds01's that ds01 did not make. */
static void have_state(struct slurm_state *h)
{
        assert_int_equal(
            slurmplan_parse_qos(h,
                                "normal|Normal QOS default||\n"
                                "ds01_student|ds01: group student|gres/gpu=2|2-00:00:00\n"
                                "ds01_old|ds01: group old|cpu=4,gres/gpu=1|\n",
                                NULL),
            0);
        assert_int_equal(slurmplan_parse_accounts(h,
                                                  "root|default root account\n"
                                                  "site|site account\n"
                                                  "ds01_student|ds01: group student\n"
                                                  "ds01_old|ds01: group old\n",
                                                  NULL),
                         0);
        assert_int_equal(slurmplan_parse_assocs(h,
                                                "root||1|normal|\n"
                                                "site||1|normal|\n"
                                                "site|bob|1|normal|\n"
                                                "ds01_student||10|ds01_student|ds01_student\n"
                                                "ds01_student|alice|1|ds01_student|ds01_student\n"
                                                "ds01_old||10|ds01_old|ds01_old\n"
                                                "ds01_old|carol|1|ds01_old|ds01_old\n",
                                                NULL),
                         0);
        assert_int_equal(
            slurmplan_parse_defaults(h, "alice|ds01_student\nbob|site\ncarol|ds01_old\n", NULL), 0);
        assert_int_equal(h->qos[2].max_gpus, 1);
        assert_int_equal(h->qos[1].max_wall_min, 2880);
}

static bool has_step(const struct slurm_plan *p, enum slurm_op op, const char *what)
{
        for (size_t i = 0; i < p->n; i++)
                if (p->steps[i].op == op && strstr(p->steps[i].what, what))
                        return true;
        return false;
}

/* The first step whose text starts with what. */
static size_t step_index(const struct slurm_plan *p, const char *what)
{
        for (size_t i = 0; i < p->n; i++)
                if (strncmp(p->steps[i].what, what, strlen(what)) == 0)
                        return i;
        return (size_t)-1;
}

static void test_diff(void **state)
{
        (void)state;
        struct slurm_state want = {0}, have = {0};
        have_state(&have);
        slurmplan_want_group(&want, "ds01_student", "student", 2.0, 24, 10);
        slurmplan_want_group(&want, "ds01_research", "research", 1.5, -1, 0);
        slurmplan_want_user(&want, "alice", "ds01_student");
        slurmplan_want_user(&want, "carol", "ds01_research");
        struct slurm_plan p = {0};
        assert_int_equal(slurmplan_diff(&want, &have, "c1", "ds01_", &p, NULL), 0);
        assert_true(has_step(&p, SLURM_CHANGE,
                             "qos ds01_student: gres/gpu per user 2 -> 2, "
                             "MaxWall 2880 min -> 1440 min"));
        assert_true(
            has_step(&p, SLURM_ADD, "qos ds01_research: gres/gpu per user 2, MaxWall none"));
        assert_true(has_step(&p, SLURM_ADD, "account ds01_research on c1: Fairshare 1"));
        assert_true(has_step(&p, SLURM_ADD, "user carol in account ds01_research"));
        assert_true(has_step(&p, SLURM_CHANGE,
                             "user carol: default account ds01_old -> "
                             "ds01_research"));
        assert_true(has_step(&p, SLURM_REMOVE, "user carol in account ds01_old"));
        assert_true(has_step(&p, SLURM_REMOVE, "account ds01_old on c1"));
        assert_true(has_step(&p, SLURM_REMOVE, "qos ds01_old"));
        /* never the site's */
        assert_false(has_step(&p, SLURM_REMOVE, "site"));
        assert_false(has_step(&p, SLURM_REMOVE, "bob"));
        assert_false(has_step(&p, SLURM_REMOVE, "normal"));
        /* an order that is safe to stop and repeat: what is needed before what needs it */
        assert_true(step_index(&p, "qos ds01_research") < step_index(&p, "account ds01_research"));
        assert_true(step_index(&p, "account ds01_research") <
                    step_index(&p, "user carol in account ds01_research"));
        assert_true(step_index(&p, "user carol: default account") <
                    step_index(&p, "user carol in account ds01_old"));
        assert_true(step_index(&p, "user carol in account ds01_old") <
                    step_index(&p, "account ds01_old on"));
        assert_true(step_index(&p, "account ds01_old on") < step_index(&p, "qos ds01_old"));
        /* the argv of a change: no shell, one word per value */
        size_t i = step_index(&p, "qos ds01_student");
        const char *want_args[] = {"modify",
                                   "qos",
                                   "where",
                                   "name=ds01_student",
                                   "set",
                                   "Description=ds01: group student",
                                   "MaxTRESPerUser=gres/gpu=2",
                                   "MaxWall=1440",
                                   "Flags=DenyOnLimit",
                                   NULL};
        for (size_t k = 0; want_args[k]; k++)
                assert_string_equal(p.steps[i].args[k], want_args[k]);
        assert_null(p.steps[i].args[9]);
        slurm_plan_release(&p);
        slurm_state_release(&want);
        slurm_state_release(&have);
}

static void test_converged(void **state)
{
        (void)state;
        struct slurm_state want = {0}, have = {0};
        have_state(&have);
        slurmplan_want_group(&want, "ds01_student", "student", 2.0, 48, 10);
        slurmplan_want_group(&want, "ds01_old", "old", 1, -1, 10);
        slurmplan_want_user(&want, "alice", "ds01_student");
        slurmplan_want_user(&want, "carol", "ds01_old");
        /* ds01_old's QOS has a cpu limit beside gres/gpu, and no MaxWall: as wanted */
        struct slurm_plan p = {0};
        assert_int_equal(slurmplan_diff(&want, &have, "c1", "ds01_", &p, NULL), 0);
        assert_int_equal(p.n, 0);
        slurm_plan_release(&p);
        slurm_state_release(&want);
        slurm_state_release(&have);
}

static void test_not_ours(void **state)
{
        (void)state;
        struct slurm_state want = {0}, have = {0};
        assert_int_equal(slurmplan_parse_qos(&have, "ds01_student|made by hand||\n", NULL), 0);
        slurmplan_want_group(&want, "ds01_student", "student", 2.0, 48, 10);
        struct slurm_plan p = {0};
        struct error *err = NULL;
        assert_int_equal(slurmplan_diff(&want, &have, "c1", "ds01_", &p, &err), -1);
        assert_non_null(strstr(err->message, "QOS 'ds01_student' that ds01 did not make"));
        assert_non_null(strstr(err->message, "cluster.account_prefix"));
        error_free(err);
        err = NULL;
        assert_int_equal(slurmplan_parse_accounts(&have, "a|b|c\n", &err), -1);
        assert_non_null(strstr(err->message, "3 fields where 2"));
        error_free(err);
        slurm_state_release(&want);
        slurm_state_release(&have);
}

/* ds01.yaml's cluster key: absent is single-server mode; bad values name the key and the fix. */
static struct config *load_yaml(const char *text, struct error **err)
{
        char path[] = "/tmp/test-slurmplan-XXXXXX";
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
        close(fd);
        struct config *c = config_load(path, err);
        unlink(path);
        return c;
}

static void test_config(void **state)
{
        (void)state;
        struct error *err = NULL;
        struct config *c = load_yaml("instance: x\n", &err);
        assert_non_null(c);
        assert_null(c->cluster);
        config_free(c);
        c = load_yaml(
            "cluster:\n  backend: slurm\n  name: lab-1\n  slurm_conf: /etc/slurm/slurm.conf\n",
            &err);
        assert_non_null(c);
        assert_string_equal(c->cluster->name, "lab-1");
        assert_string_equal(c->cluster->slurm_bin, "/usr/bin");
        assert_string_equal(c->cluster->account_prefix, "ds01_");
        assert_string_equal(c->cluster->slurm_conf, "/etc/slurm/slurm.conf");
        assert_true(c->cluster->accounts); /* slurm-sync's accounts are used by default */
        /* node: the short hostname unless given */
        char host[256] = "";
        assert_int_equal(gethostname(host, sizeof(host) - 1), 0);
        host[strcspn(host, ".")] = '\0';
        assert_string_equal(c->cluster->node, host);
        config_free(c);
        c = load_yaml("cluster:\n  backend: slurm\n  name: a\n  node: gpu-01.b_2\n", &err);
        assert_non_null(c);
        assert_string_equal(c->cluster->node, "gpu-01.b_2");
        config_free(c);
        c = load_yaml("cluster:\n  backend: slurm\n  name: a\n  accounts: false\n", &err);
        assert_non_null(c);
        assert_false(c->cluster->accounts);
        config_free(c);
        static const struct {
                const char *yaml, *msg;
        } bad[] = {
            {"cluster:\n  backend: k8s\n  name: a\n",
             ":2: 'cluster.backend' must be slurm, not 'k8s'"},
            {"cluster:\n  name: a\n", "'cluster.backend' must be slurm (or leave"},
            {"cluster:\n  backend: slurm\n", "'cluster.name' must be the ClusterName"},
            {"cluster:\n  backend: slurm\n  name: A;B\n", ":3: 'cluster.name' must be"},
            {"cluster:\n  backend: slurm\n  name: a\n  account_prefix: Ds-\n",
             ":4: 'cluster.account_prefix' must be lower-case"},
            {"cluster:\n  backend: slurm\n  name: a\n  slurm_bin: bin\n",
             "'cluster.slurm_bin' must be"},
            {"cluster:\n  backend: slurm\n  name: a\n  partiton: gpu\n", "unknown key 'partiton'"},
            {"cluster: slurm\n", "cluster must be a mapping"},
            {"cluster:\n  backend: slurm\n  name: a\n  node: n[1-2]\n",
             ":4: 'cluster.node' must be this host's NodeName"},
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                err = NULL;
                c = load_yaml(bad[i].yaml, &err);
                assert_null(c);
                assert_non_null(err);
                if (!strstr(err->message, bad[i].msg))
                        fail_msg("%s: got '%s'", bad[i].msg, err->message);
                error_free(err);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_names),    cmocka_unit_test(test_wall),
            cmocka_unit_test(test_diff),     cmocka_unit_test(test_converged),
            cmocka_unit_test(test_not_ours), cmocka_unit_test(test_config),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
