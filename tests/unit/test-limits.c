/* test-limits.c - DS01's resource-limits.yaml: the deployed file loads unmodified and resolves as
 * DS01 documents it, overrides inherit from the group, and bad files fail with file:line. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "daemon/config/limits.h"

#include <grp.h>
#include <stdio.h>
#include <sys/stat.h>

#define GiB (1024LL * 1024 * 1024)

static char tmpdir[] = "/tmp/ds01-test-limits.XXXXXX";
static char *written[16];
static size_t n_written;

static int setup(void **state)
{
        (void)state;
        if (!mkdtemp(tmpdir))
                return -1;
        _cleanup_free_ char *groups = xasprintf("%s/groups", tmpdir);
        return mkdir(groups, 0755);
}

static int teardown(void **state)
{
        (void)state;
        _cleanup_free_ char *groups = xasprintf("%s/groups", tmpdir);
        rmdir(groups);
        return rmdir(tmpdir);
}

/* Per test: remove what it wrote. */
static int clean_files(void **state)
{
        (void)state;
        for (size_t i = 0; i < n_written; i++) {
                unlink(written[i]);
                free(written[i]);
        }
        n_written = 0;
        return 0;
}

/* Writes tmpdir/rel and returns its path (owned by the test fixture). */
static const char *write_file(const char *rel, const char *text)
{
        char *path = xasprintf("%s/%s", tmpdir, rel);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(text, f);
        assert_int_equal(fclose(f), 0);
        for (size_t i = 0; i < n_written; i++)
                if (strcmp(written[i], path) == 0) {
                        free(path);
                        return written[i];
                }
        assert_true(n_written < ARRAY_SIZE(written));
        written[n_written++] = path;
        return path;
}

static const char *write_limits(const char *text)
{
        return write_file("resource-limits.yaml", text);
}

static struct limits *load_ok(const char *path)
{
        _cleanup_error_ struct error *err = NULL;
        struct limits *l = limits_load(path, &err);
        if (!l)
                fail_msg("refused: %s", err->message);
        assert_null(err);
        return l;
}

static struct limits *load_text_ok(const char *text)
{
        return load_ok(write_limits(text));
}

/* Loads the current files, expects failure with each NULL-terminated fragment in the message. */
static void expect_error_at(const char *path, ...)
{
        _cleanup_error_ struct error *err = NULL;
        struct limits *l = limits_load(path, &err);
        if (l) {
                limits_free(l);
                fail_msg("loaded %s, expected an error", path);
        }
        assert_non_null(err);
        assert_int_not_equal(err->code, DS01_OK);
        va_list ap;
        va_start(ap, path);
        for (const char *frag; (frag = va_arg(ap, const char *));)
                if (!strstr(err->message, frag))
                        fail_msg("message '%s' lacks '%s'", err->message, frag);
        va_end(ap);
}
#define expect_error(text, ...) expect_error_at(write_limits(text), __VA_ARGS__)

static void resolve(const struct limits *l, const char *user, struct limit_set *ret)
{
        limits_resolve(l, user, NULL, 0, ret);
}

static bool has_key(const char *const *list, const char *key)
{
        for (size_t i = 0; list[i]; i++)
                if (strcmp(list[i], key) == 0)
                        return true;
        return false;
}

static void assert_ds01_defaults(const struct limit_set *s)
{
        assert_float_equal(s->max_gpu_equivalents, 1.0, 1e-9);
        assert_int_equal(s->max_gpu_slots_per_container, 1);
        assert_true(s->allow_full_gpu);
        assert_float_equal(s->max_cpus, 32, 1e-9);
        assert_int_equal(s->memory, 32 * GiB);
        assert_int_equal(s->memory_swap, 32 * GiB);
        assert_int_equal(s->shm_size, 16 * GiB);
        assert_int_equal(s->pids_limit, 4096);
        assert_int_equal(s->max_containers_per_user, 3);
        assert_float_equal(s->max_runtime_h, 24, 1e-9);
        assert_float_equal(s->idle_timeout_h, 0.5, 1e-9);
        assert_float_equal(s->gpu_hold_after_stop_h, 0.25, 1e-9);
        assert_float_equal(s->container_hold_after_stop_h, 0.5, 1e-9);
        const struct limit_policies *p = &s->policies;
        assert_float_equal(p->gpu_idle_threshold, 5, 1e-9);
        assert_float_equal(p->cpu_idle_threshold, 2.0, 1e-9);
        assert_int_equal(p->network_idle_threshold, 1048576);
        assert_float_equal(p->grace_period_m, 30, 1e-9);
        assert_float_equal(p->keepalive_max_duration_h, 24, 1e-9);
        assert_int_equal(p->sigterm_grace_s, 60);
        assert_float_equal(p->created_container_timeout_m, 30, 1e-9);
        assert_float_equal(p->idle_warn_1, 0.80, 1e-9);
        assert_float_equal(p->idle_warn_2, 0.95, 1e-9);
        assert_float_equal(p->runtime_warn_1, 0.75, 1e-9);
        assert_float_equal(p->runtime_warn_2, 0.90, 1e-9);
}

static void test_builtin_defaults(void **state)
{
        (void)state;
        _cleanup_free_ char *missing = xasprintf("%s/no-such-limits.yaml", tmpdir);
        const char *paths[] = {NULL, missing};
        for (size_t i = 0; i < ARRAY_SIZE(paths); i++) {
                struct limits *l = load_ok(paths[i]);
                const char *const *groups = limits_groups(l);
                assert_string_equal(groups[0], "student");
                assert_null(groups[1]);
                assert_null(limits_unused_keys(l)[0]);
                struct limit_set s;
                resolve(l, "anyone", &s);
                assert_string_equal(s.user, "anyone");
                assert_string_equal(s.group, "student");
                assert_false(s.overridden);
                assert_ds01_defaults(&s);
                limit_set_release(&s);
                assert_null(limits_free(l));
        }
        assert_null(limits_free(NULL));
}

static struct limits *load_ds01(void)
{
        const char *dir = getenv("DS01_TESTDATA");
        assert_non_null(dir);
        _cleanup_free_ char *path = xasprintf("%s/ds01/resource-limits.yaml", dir);
        return load_ok(path);
}

static void test_ds01_groups(void **state)
{
        (void)state;
        struct limits *l = load_ds01();
        const char *const *groups = limits_groups(l);
        const char *want[] = {"student", "researcher", "faculty", "admin"};
        for (size_t i = 0; i < ARRAY_SIZE(want); i++)
                assert_string_equal(groups[i], want[i]);
        assert_null(groups[ARRAY_SIZE(want)]);

        struct limit_set s;
        /* Students, from the members file (with a trailing comment and leading spaces). */
        const char *students[] = {"alice", "bob@hertie-school.lan", "carol"};
        for (size_t i = 0; i < ARRAY_SIZE(students); i++) {
                resolve(l, students[i], &s);
                assert_string_equal(s.group, "student");
                assert_false(s.overridden);
                assert_float_equal(s.max_gpu_equivalents, 2.0, 1e-9);
                assert_int_equal(s.max_gpu_slots_per_container, 2);
                assert_int_equal(s.max_containers_per_user, 3);
                assert_float_equal(s.max_cpus, 32, 1e-9);
                assert_int_equal(s.memory, 32 * GiB);
                assert_int_equal(s.shm_size, 16 * GiB);
                assert_float_equal(s.idle_timeout_h, 0.5, 1e-9);
                assert_float_equal(s.policies.cpu_idle_threshold, 2.0, 1e-9);
                assert_float_equal(s.policies.grace_period_m, 30, 1e-9);
                /* DS01's file sets high demand at 80 %, idle timeouts halved */
                assert_float_equal(s.policies.high_demand_threshold, 0.8, 1e-9);
                assert_float_equal(s.policies.high_demand_idle_reduction, 0.5, 1e-9);
                assert_int_equal(s.policies.idle_detection_window, 3);
                assert_float_equal(s.policies.gpu_hold_after_manual_stop_m, 15, 1e-9);
                limit_set_release(&s);
        }

        resolve(l, "dave", &s);
        assert_string_equal(s.group, "researcher");
        assert_float_equal(s.max_gpu_equivalents, 4.0, 1e-9);
        assert_int_equal(s.max_gpu_slots_per_container, 3);
        assert_int_equal(s.max_containers_per_user, 5);
        assert_float_equal(s.max_cpus, 48, 1e-9);
        assert_int_equal(s.memory, 64 * GiB);
        assert_int_equal(s.memory_swap, 64 * GiB);
        assert_int_equal(s.shm_size, 32 * GiB);
        assert_int_equal(s.pids_limit, 4096); /* from defaults */
        assert_float_equal(s.max_runtime_h, 48, 1e-9);
        assert_float_equal(s.idle_timeout_h, 1, 1e-9);
        assert_float_equal(s.gpu_hold_after_stop_h, 0.25, 1e-9);
        assert_float_equal(s.policies.cpu_idle_threshold, 3.0, 1e-9); /* group policy */
        assert_int_equal(s.policies.sigterm_grace_s, 60);             /* global policy */
        limit_set_release(&s);

        resolve(l, "frank", &s);
        assert_string_equal(s.group, "faculty");
        assert_int_equal(s.max_gpu_slots_per_container, 4);
        assert_int_equal(s.memory, 128 * GiB);
        assert_float_equal(s.max_runtime_h, 72, 1e-9);
        limit_set_release(&s);

        /* admin: null means unlimited. */
        resolve(l, "datasciencelab", &s);
        assert_string_equal(s.group, "admin");
        assert_true(s.max_gpu_equivalents < 0);
        assert_true(s.max_gpu_slots_per_container < 0);
        assert_int_equal(s.max_containers_per_user, 10);
        assert_float_equal(s.max_cpus, 64, 1e-9);
        assert_int_equal(s.memory, 128 * GiB);
        assert_float_equal(s.gpu_hold_after_stop_h, 1, 1e-9);
        assert_float_equal(s.policies.cpu_idle_threshold, 2.0, 1e-9); /* global */
        limit_set_release(&s);

        /* Nobody's files list them (archived.members is not a group): default_group. */
        const char *others[] = {"olduser", "stranger"};
        for (size_t i = 0; i < ARRAY_SIZE(others); i++) {
                resolve(l, others[i], &s);
                assert_string_equal(s.group, "student");
                assert_float_equal(s.max_gpu_equivalents, 2.0, 1e-9);
                limit_set_release(&s);
        }
        /* ... and archived.members says who may not deploy */
        assert_true(limits_archived(l, "olduser"));
        assert_false(limits_archived(l, "stranger"));
        assert_false(limits_archived(l, "datasciencelab"));
        limits_free(l);
}

/* user-overrides.yaml beside the file: the override sits on top of the group (DS01 dropped it). */
static void test_ds01_overrides_inherit_group(void **state)
{
        (void)state;
        struct limits *l = load_ds01();
        struct limit_set s;
        resolve(l, "erin", &s);
        assert_string_equal(s.group, "researcher");
        assert_true(s.overridden);
        assert_int_equal(s.memory, 96 * GiB);
        assert_int_equal(s.memory_swap, 96 * GiB);
        assert_float_equal(s.max_gpu_equivalents, 4.0, 1e-9); /* still the group's */
        assert_int_equal(s.max_gpu_slots_per_container, 3);
        assert_float_equal(s.max_cpus, 48, 1e-9);
        assert_int_equal(s.shm_size, 32 * GiB);
        assert_float_equal(s.policies.cpu_idle_threshold, 4.0, 1e-9); /* override policy */
        assert_float_equal(s.policies.gpu_idle_threshold, 5, 1e-9);
        limit_set_release(&s);

        /* An override for someone in no group sits on the default group. */
        resolve(l, "grace", &s);
        assert_string_equal(s.group, "student");
        assert_true(s.overridden);
        assert_true(s.idle_timeout_h < 0);
        assert_float_equal(s.max_runtime_h, 0.005, 1e-12);
        assert_float_equal(s.max_gpu_equivalents, 2.0, 1e-9);
        limit_set_release(&s);
        limits_free(l);
}

/* groups.<g>.aggregate: the user's containers together. tasks_max falls back to max_tasks; a
 * group without aggregate (admin, max_tasks null) has no caps; gpu_limit lowers
 * max_gpu_equivalents; enforcement.aggregate_limits: false turns the cgroup caps off. */
static void test_ds01_aggregate(void **state)
{
        (void)state;
        struct limits *l = load_ds01();
        struct limit_set s;
        resolve(l, "alice", &s);
        assert_float_equal(s.aggregate.cpu_quota, 96, 1e-9); /* "9600%" */
        assert_int_equal(s.aggregate.memory_max, 96 * GiB);
        assert_int_equal(s.aggregate.memory_high, 86 * GiB);
        assert_int_equal(s.aggregate.tasks_max, 12288);
        assert_float_equal(s.aggregate.gpu_limit, 2.0, 1e-9);
        assert_true(limit_set_has_aggregate(&s));
        limit_set_release(&s);
        limits_free(l);

        l = load_text_ok("defaults:\n  max_tasks: 500\n  max_gpu_equivalents: 3\n"
                         "groups:\n  student:\n    aggregate: {gpu_limit: 1.5}\n"
                         "  staff:\n    members: [root]\n    max_tasks: null\n");
        resolve(l, "ann", &s);
        assert_int_equal(s.aggregate.tasks_max, 500); /* max_tasks */
        assert_float_equal(s.max_gpu_equivalents, 1.5, 1e-9);
        limit_set_release(&s);
        resolve(l, "root", &s);
        assert_false(limit_set_has_aggregate(&s));
        assert_float_equal(s.max_gpu_equivalents, 3, 1e-9);
        limit_set_release(&s);
        limits_free(l);

        l = load_text_ok("enforcement: {aggregate_limits: false}\n"
                         "groups:\n  student:\n    aggregate: {memory_max: 1g, gpu_limit: 1}\n");
        resolve(l, "ann", &s);
        assert_false(limit_set_has_aggregate(&s));
        assert_float_equal(s.max_gpu_equivalents, 1, 1e-9); /* still */
        limit_set_release(&s);
        limits_free(l);

        expect_error("groups:\n  student:\n    aggregate: {cpu_quota: 96}\n",
                     ":3:", "percentage of one CPU such as '400%'", NULL);
        expect_error("groups:\n  student:\n    aggregate: {memory: 1g}\n",
                     ":3:", "unknown key 'memory'", NULL);
}

static void test_ds01_unused_keys(void **state)
{
        (void)state;
        struct limits *l = load_ds01();
        const char *const *unused = limits_unused_keys(l);
        const char *want[] = {
            "enforcement.cgroup_driver",
            "gpu_allocation",
            "monitoring",
            "bare_metal_access.admin_group",
            "bare_metal_access.default_grant_duration_h",
            "bare_metal_access.state_dir",
            "access_control",
        };
        for (size_t i = 0; i < ARRAY_SIZE(want); i++)
                if (!has_key(unused, want[i]))
                        fail_msg("'%s' not listed as unused", want[i]);
        size_t n = 0;
        for (; unused[n]; n++)
                for (size_t j = 0; j < n; j++)
                        assert_string_not_equal(unused[j], unused[n]); /* each once */
        assert_int_equal(n, ARRAY_SIZE(want));
        /* bare_metal_access.exempt_users is acted on (DS01's file lists datasciencelab) */
        assert_true(limits_bare_metal_exempt(l, "datasciencelab"));
        assert_false(limits_bare_metal_exempt(l, "alice"));
        assert_false(limits_bare_metal_exempt(l, NULL));
        limits_free(l);
}

/* container_types: a Docker-made container's interface replaces the owner's idle timeout,
 * runtime cap (null: exempt) and grace; a deploy's ("orchestration") keeps the owner's. */
static void test_container_types(void **state)
{
        (void)state;
        struct limits *l = load_ds01();
        struct limit_set ls, base;
        limits_resolve(l, "nobody-in-particular", NULL, 0, &base);
        limits_resolve(l, "nobody-in-particular", NULL, 0, &ls);
        limits_apply_interface(l, "devcontainer", &ls);
        assert_true(ls.idle_timeout_h < 0);
        assert_true(ls.max_runtime_h == 168);
        assert_int_equal(ls.policies.sigterm_grace_s, 30);
        limit_set_release(&ls);
        limits_resolve(l, "nobody-in-particular", NULL, 0, &ls);
        limits_apply_interface(l, "compose", &ls);
        assert_true(ls.idle_timeout_h == 0.5);
        assert_true(ls.max_runtime_h == 72);
        assert_int_equal(ls.policies.sigterm_grace_s, 45);
        limit_set_release(&ls);
        limits_resolve(l, "nobody-in-particular", NULL, 0, &ls);
        limits_apply_interface(l, "orchestration", &ls);
        limits_apply_interface(l, NULL, &ls);
        assert_true(ls.idle_timeout_h == base.idle_timeout_h);
        assert_true(ls.max_runtime_h == base.max_runtime_h);
        assert_int_equal(ls.policies.sigterm_grace_s, base.policies.sigterm_grace_s);
        limit_set_release(&ls);
        limit_set_release(&base);
        limits_free(l);
}

static void test_unknown_keys(void **state)
{
        (void)state;
        expect_error("groups:\n  student:\n    max_cpus: 8\n    memroy: 8g\n",
                     "resource-limits.yaml:4:", "unknown key 'memroy'", "groups.student",
                     "did you mean 'memory'", "known keys:", "unix_group", NULL);
        expect_error("defaults:\n  memory: 8g\n  frobnicate: 1\n", ":3:", "'frobnicate'",
                     "in defaults", NULL);
        expect_error("policies:\n  gpu_idle_treshold: 5\n", ":2:", "gpu_idle_treshold",
                     "did you mean 'gpu_idle_threshold'", NULL);
        expect_error("groups:\n  a:\n    policies:\n      nap_time: 1\n", ":4:", "'nap_time'",
                     "groups.a.policies", NULL);
        expect_error("\nwizard_of_oz: true\n", ":2:", "unknown key 'wizard_of_oz'", "defaults",
                     NULL);
        /* members/unix_group belong to groups, not to defaults. */
        expect_error("defaults:\n  members: [a]\n", ":2:", "'members'", NULL);
        /* Known DS01 sections are accepted whatever they hold. */
        struct limits *l = load_text_ok("gpu_allocation:\nadvanced: {x: 1}\nwizard: [1]\n");
        assert_true(has_key(limits_unused_keys(l), "gpu_allocation"));
        assert_true(has_key(limits_unused_keys(l), "advanced"));
        limits_free(l);
}

static void test_bad_values(void **state)
{
        (void)state;
        expect_error("defaults:\n  memory: 32q\n", ":2:", "defaults.memory", "'32q'", "32g", NULL);
        expect_error("groups:\n  g:\n    shm_size: lots\n", ":3:", "groups.g.shm_size", NULL);
        expect_error("defaults:\n  max_cpus: -4\n", ":2:", "defaults.max_cpus", NULL);
        expect_error("defaults:\n  max_gpu_equivalents: -1\n", ":2:", "max_gpu_equivalents", NULL);
        expect_error("defaults:\n  max_containers_per_user: 2.5\n", ":2:", "whole number", NULL);
        expect_error("defaults:\n  idle_timeout_h: soon\n", ":2:", "idle_timeout_h", NULL);
        expect_error("defaults:\n  allow_full_gpu: maybe\n", ":2:", "true or false", NULL);
        expect_error("defaults:\n  allow_full_gpu: null\n", ":2:", "cannot be null", NULL);
        expect_error("defaults:\n  memory: [1]\n", ":2:", "must be a size", "not a list", NULL);
        expect_error("groups: [student]\n", ":1:", "groups must be a mapping", NULL);
        expect_error("groups:\n  \"bad/name\": {}\n", ":2:", "bad group name", NULL);
        expect_error("policies:\n  idle_warn_1: 1.5\n", ":2:", "idle_warn_1", NULL);
        expect_error("policies:\n  runtime_warn_2: 0\n", ":2:", "fraction", NULL);
        expect_error("policies:\n  idle_warn_1: 0.9\n  idle_warn_2: 0.5\n", "idle_warn_1",
                     "smaller than idle_warn_2", NULL);
        expect_error("policies:\n  gpu_idle_threshold: 101\n", ":2:", "gpu_idle_threshold", NULL);
        expect_error("policies:\n  sigterm_grace_s: null\n", ":2:", "cannot be null", NULL);
        expect_error("policies:\n  high_demand_threshold: 1.5\n", ":2:", "high_demand_threshold",
                     NULL);
        expect_error("policies:\n  high_demand_idle_reduction: 1\n", ":2:", "fraction", NULL);
        expect_error("policies:\n  high_demand_idle_reduction: null\n", ":2:", "cannot be null",
                     NULL);
        expect_error("defaults: {memory: 1g}\ndefaults: {memory: 2g}\n", ":2:", "duplicate key",
                     NULL);
        /* DS01's old name and the new one for the same limit. */
        expect_error("defaults:\n  max_gpu_equivalents: 2\n  max_gpu_slots: 3\n",
                     ":3:", "max_gpu_slots", "max_gpu_equivalents", "line 2", NULL);
}

static void test_values_parse(void **state)
{
        (void)state;
        struct limits *l = load_text_ok("defaults:\n"
                                        "  idle_timeout_h: 0.005\n"
                                        "  max_runtime_h: 0.01\n"
                                        "  gpu_hold_after_stop_h: null\n"
                                        "  container_hold_after_stop_h: 0\n"
                                        "  memory: 1.5g\n"
                                        "  memory_swap: 2048m\n"
                                        "  shm_size: 64mb\n"
                                        "  pids_limit: null\n"
                                        "  max_cpus: 0.5\n"
                                        "  allow_full_gpu: false\n"
                                        "  max_tasks: 1\n"
                                        "policies:\n"
                                        "  idle_warn_1: 0.5\n"
                                        "  idle_warn_2: 0.6\n"
                                        "  keepalive_max_duration_h: null\n"
                                        "  network_idle_threshold: 0\n");
        struct limit_set s;
        resolve(l, "u", &s);
        assert_float_equal(s.idle_timeout_h, 0.005, 1e-12); /* 18 s */
        assert_int_equal((int)(s.idle_timeout_h * 3600 + 0.5), 18);
        assert_float_equal(s.max_runtime_h, 0.01, 1e-12);
        assert_true(s.gpu_hold_after_stop_h < 0);
        assert_float_equal(s.container_hold_after_stop_h, 0, 1e-12);
        assert_int_equal(s.memory, 3 * GiB / 2);
        assert_int_equal(s.memory_swap, 2 * GiB);
        assert_int_equal(s.shm_size, 64LL << 20);
        assert_true(s.pids_limit < 0);
        assert_float_equal(s.max_cpus, 0.5, 1e-12);
        assert_false(s.allow_full_gpu);
        assert_float_equal(s.policies.idle_warn_1, 0.5, 1e-12);
        assert_float_equal(s.policies.idle_warn_2, 0.6, 1e-12);
        assert_float_equal(s.policies.runtime_warn_1, 0.75, 1e-12);
        assert_true(s.policies.keepalive_max_duration_h < 0);
        assert_int_equal(s.policies.network_idle_threshold, 0);
        /* Untouched keys keep DS01's defaults. */
        assert_float_equal(s.max_gpu_equivalents, 1.0, 1e-12);
        assert_int_equal(s.max_containers_per_user, 3);
        limit_set_release(&s);
        limits_free(l);

        /* DS01's old key names. */
        l = load_text_ok("default_group: old\n"
                         "groups:\n"
                         "  old:\n"
                         "    max_mig_instances: 3\n"
                         "    max_mig_per_container: 2\n"
                         "    cpus: 8\n");
        resolve(l, "u", &s);
        assert_string_equal(s.group, "old");
        assert_float_equal(s.max_gpu_equivalents, 3, 1e-12);
        assert_int_equal(s.max_gpu_slots_per_container, 2);
        assert_float_equal(s.max_cpus, 8, 1e-12);
        limit_set_release(&s);
        limits_free(l);
}

static void test_default_group(void **state)
{
        (void)state;
        /* No groups: default_group names a group with just the defaults. */
        struct limits *l = load_text_ok("default_group: lab\ndefaults:\n  max_cpus: 4\n");
        assert_string_equal(limits_groups(l)[0], "lab");
        struct limit_set s;
        resolve(l, "x", &s);
        assert_string_equal(s.group, "lab");
        assert_float_equal(s.max_cpus, 4, 1e-12);
        limit_set_release(&s);
        limits_free(l);

        expect_error("default_group: staff\ngroups:\n  student: {}\n",
                     ":1:", "default_group 'staff'", "student", NULL);
        expect_error("groups:\n  lab: {}\n", "default_group 'student'", NULL);
        expect_error("default_group: [a]\n", ":1:", "default_group", NULL);
}

static void test_membership(void **state)
{
        (void)state;
        write_file("groups/gpu.members", "# GPU people\n\nann\nben # second\n");
        write_file("groups/cpu.members", "ann\n");
        struct limits *l = load_text_ok("default_group: cpu\n"
                                        "groups:\n"
                                        "  gpu:\n"
                                        "    members: [cid]\n"
                                        "    max_gpu_equivalents: 3\n"
                                        "  cpu:\n"
                                        "    members: [ben, dan]\n"
                                        "    max_gpu_equivalents: 0\n");
        struct limit_set s;
        /* File members ∪ inline members; the first group in file order wins. */
        const char *gpu_users[] = {"ann", "ben", "cid"};
        for (size_t i = 0; i < ARRAY_SIZE(gpu_users); i++) {
                resolve(l, gpu_users[i], &s);
                assert_string_equal(s.group, "gpu");
                assert_float_equal(s.max_gpu_equivalents, 3, 1e-12);
                limit_set_release(&s);
        }
        resolve(l, "dan", &s);
        assert_string_equal(s.group, "cpu");
        assert_float_equal(s.max_gpu_equivalents, 0, 1e-12);
        limit_set_release(&s);
        resolve(l, "eve", &s);
        assert_string_equal(s.group, "cpu");
        limit_set_release(&s);
        limits_free(l);
}

/* group-overrides.txt (LOGIN:GROUP) wins over members files and file order; a line naming no
 * group of the file, or no group at all, is an error at its line. */
static void test_group_overrides(void **state)
{
        (void)state;
        write_file("groups/gpu.members", "ann\nben\n");
        write_file("group-overrides.txt", "# forced\nben: cpu\n\neve:gpu # new\n");
        write_file("groups/archived.members", "cid\n");
        struct limits *l = load_text_ok("default_group: cpu\n"
                                        "groups:\n"
                                        "  gpu:\n"
                                        "    max_gpu_equivalents: 3\n"
                                        "  cpu:\n"
                                        "    max_gpu_equivalents: 0\n");
        struct limit_set s;
        const char *want[][2] = {{"ann", "gpu"}, {"ben", "cpu"}, {"eve", "gpu"}, {"cid", "cpu"}};
        for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
                resolve(l, want[i][0], &s);
                assert_string_equal(s.group, want[i][1]);
                limit_set_release(&s);
        }
        assert_true(limits_archived(l, "cid"));
        assert_false(limits_archived(l, "ann"));
        limits_free(l);

        write_file("group-overrides.txt", "ann:gpu\nben:lab\n");
        const char *path = write_limits("groups:\n  gpu: {}\n");
        expect_error_at(path, "group-overrides.txt:2:", "group 'lab' of ben", NULL);
        write_file("group-overrides.txt", "ann\n");
        expect_error_at(path, "group-overrides.txt:1:", "not LOGIN:GROUP", NULL);
        write_file("group-overrides.txt", "a b:gpu\n");
        expect_error_at(path, "group-overrides.txt:1:", "invalid login 'a b'", NULL);
}

static void test_members_file_invalid(void **state)
{
        (void)state;
        write_file("groups/student.members", "# students\nalice\njane doe\n");
        const char *path = write_limits("groups:\n  student: {}\n");
        expect_error_at(path, "groups/student.members:3:", "invalid login 'jane doe'", NULL);
        expect_error("groups:\n  student:\n    members: [\"a b\"]\n", ":3:", "invalid login", NULL);
}

static void test_unix_group(void **state)
{
        (void)state;
        struct group *gr = getgrgid(0);
        if (!gr)
                skip();
        _cleanup_free_ char *text = xasprintf("groups:\n"
                                              "  staff:\n"
                                              "    unix_group: %s\n"
                                              "    max_cpus: 64\n"
                                              "  student:\n"
                                              "    max_cpus: 8\n",
                                              gr->gr_name);
        struct limits *l = load_text_ok(text);
        struct limit_set s;
        gid_t in[] = {12345, 0};
        limits_resolve(l, "someone", in, ARRAY_SIZE(in), &s);
        assert_string_equal(s.group, "staff");
        assert_float_equal(s.max_cpus, 64, 1e-12);
        limit_set_release(&s);
        gid_t out[] = {12345, 54321};
        limits_resolve(l, "someone", out, ARRAY_SIZE(out), &s);
        assert_string_equal(s.group, "student");
        assert_float_equal(s.max_cpus, 8, 1e-12);
        limit_set_release(&s);
        limits_resolve(l, "someone", NULL, 0, &s);
        assert_string_equal(s.group, "student");
        limit_set_release(&s);
        limits_free(l);

        /* A unix group that does not exist matches nobody. */
        l = load_text_ok("groups:\n  student: {}\n  ghosts:\n    unix_group: "
                         "ds01-no-such-group-xyz\n");
        limits_resolve(l, "someone", in, ARRAY_SIZE(in), &s);
        assert_string_equal(s.group, "student");
        limit_set_release(&s);
        limits_free(l);
}

static void test_overrides_inline_and_file(void **state)
{
        (void)state;
        write_file("user-overrides.yaml", "# file wins per key\n"
                                          "ann:\n"
                                          "  max_cpus: 16\n"
                                          "  policies:\n"
                                          "    gpu_idle_threshold: 1\n"
                                          "bob: ~\n");
        struct limits *l = load_text_ok("groups:\n"
                                        "  student:\n"
                                        "    members: [ann]\n"
                                        "    max_cpus: 4\n"
                                        "    memory: 8g\n"
                                        "    policies:\n"
                                        "      cpu_idle_threshold: 7\n"
                                        "user_overrides:\n"
                                        "  ann:\n"
                                        "    max_cpus: 12\n"
                                        "    shm_size: 1g\n"
                                        "    aggregate: {memory_max: 10G}\n");
        struct limit_set s;
        resolve(l, "ann", &s);
        assert_true(s.overridden);
        assert_string_equal(s.group, "student");
        assert_float_equal(s.max_cpus, 16, 1e-12);                   /* the file */
        assert_int_equal(s.shm_size, 1 * GiB);                       /* inline */
        assert_int_equal(s.memory, 8 * GiB);                         /* the group */
        assert_float_equal(s.policies.gpu_idle_threshold, 1, 1e-12); /* the file */
        assert_float_equal(s.policies.cpu_idle_threshold, 7, 1e-12); /* the group */
        limit_set_release(&s);
        resolve(l, "carl", &s);
        assert_false(s.overridden);
        limit_set_release(&s);
        resolve(l, "ann", &s); /* an override's aggregate: the user's own caps */
        assert_int_equal(s.aggregate.memory_max, 10 * GiB);
        assert_int_equal(s.aggregate.tasks_max, -1);
        limit_set_release(&s);
        limits_free(l);

        write_file("user-overrides.yaml", "ann:\n  max_cpus: 16\n  colour: blue\n");
        expect_error("groups:\n  student: {}\n", "user-overrides.yaml:3:", "unknown key 'colour'",
                     NULL);
}

static void test_exemptions(void **state)
{
        (void)state;
        write_file("lifecycle-exemptions.yaml",
                   "exemptions:\n"
                   "  - username: ann\n"
                   "    exempt_from: [idle_timeout_h]\n"
                   "    reason: demo\n"
                   "    expires_on: 2030-01-01T10:00:00+01:00\n"
                   "  - {username: bob, exempt_from: max_runtime_h, expires_on: null}\n");
        struct limits *l = load_text_ok("defaults: {}\n");
        limits_free(l);

        write_file("lifecycle-exemptions.yaml", "exemptions:\n"
                                                "  - username: ann\n"
                                                "    exempt_from: [sleep]\n");
        expect_error("defaults: {}\n", "lifecycle-exemptions.yaml:3:", "idle_timeout_h", NULL);
        write_file("lifecycle-exemptions.yaml", "exemptions:\n"
                                                "  - username: ann\n"
                                                "    exempt_from: [max_runtime_h]\n"
                                                "    expires_on: next tuesday\n");
        expect_error("defaults: {}\n", "lifecycle-exemptions.yaml:4:", "ISO-8601", NULL);
        write_file("lifecycle-exemptions.yaml", "exemptions:\n"
                                                "  - username: ann\n"
                                                "    expires_on: 2030-02-30\n"
                                                "    exempt_from: [max_runtime_h]\n");
        expect_error("defaults: {}\n", "lifecycle-exemptions.yaml:3:", NULL);
        write_file("lifecycle-exemptions.yaml", "exemptions:\n  - username: ann\n");
        expect_error("defaults: {}\n", "lifecycle-exemptions.yaml:2:", "exempt_from", NULL);
}

int main(void)
{
#define T(f) cmocka_unit_test_teardown(f, clean_files)
        const struct CMUnitTest tests[] = {
            T(test_builtin_defaults),
            T(test_ds01_groups),
            T(test_ds01_overrides_inherit_group),
            T(test_ds01_aggregate),
            T(test_ds01_unused_keys),
            T(test_unknown_keys),
            T(test_container_types),
            T(test_bad_values),
            T(test_values_parse),
            T(test_default_group),
            T(test_membership),
            T(test_members_file_invalid),
            T(test_group_overrides),
            T(test_unix_group),
            T(test_overrides_inline_and_file),
            T(test_exemptions),
        };
#undef T
        return cmocka_run_group_tests(tests, setup, teardown);
}
