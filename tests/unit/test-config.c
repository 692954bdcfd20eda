/* test-config.c - ds01.yaml: embedded defaults, a full file, and errors that name file:line. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "daemon/config/config.h"
#include "shared/strbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

static char tmpdir[] = "/tmp/ds01-test-config.XXXXXX";
static char *tmpfile_path;

static int setup(void **state)
{
        (void)state;
        return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
        (void)state;
        if (tmpfile_path)
                unlink(tmpfile_path);
        free(tmpfile_path);
        tmpfile_path = NULL;
        return rmdir(tmpdir);
}

/* Writes `text` to a file in tmpdir and returns its path. */
static const char *write_yaml(const char *text)
{
        if (!tmpfile_path)
                tmpfile_path = xasprintf("%s/ds01.yaml", tmpdir);
        FILE *f = fopen(tmpfile_path, "w");
        assert_non_null(f);
        fputs(text, f);
        assert_int_equal(fclose(f), 0);
        return tmpfile_path;
}

static char *testdata(const char *rel)
{
        const char *dir = getenv("DS01_TESTDATA");
        assert_non_null(dir);
        return xasprintf("%s/%s", dir, rel);
}

/* Loads text, expects failure, and checks the message contains each of the NULL-terminated
 * fragments. */
static void expect_error(const char *text, ...)
{
        _cleanup_error_ struct error *err = NULL;
        const char *path = write_yaml(text);
        struct config *c = config_load(path, &err);
        if (c)
                fail_msg("loaded, expected an error for:\n%s", text);
        assert_non_null(err);
        assert_int_not_equal(err->code, DS01_OK);
        va_list ap;
        va_start(ap, text);
        for (const char *frag; (frag = va_arg(ap, const char *));)
                if (!strstr(err->message, frag))
                        fail_msg("message '%s' lacks '%s'", err->message, frag);
        va_end(ap);
}

static void expect_ok(const char *text)
{
        _cleanup_error_ struct error *err = NULL;
        struct config *c = config_load(write_yaml(text), &err);
        if (!c)
                fail_msg("refused: %s\n%s", err->message, text);
        config_free(c);
}

static void test_embedded_defaults(void **state)
{
        (void)state;
        _cleanup_error_ struct error *err = NULL;
        struct config *c = config_load(NULL, &err);
        assert_non_null(c);
        assert_null(err);
        assert_string_equal(c->source, "(embedded defaults)");
        assert_string_equal(c->instance, "ds01");
        assert_string_equal(c->socket, "/run/ds01/ds01.sock");
        assert_string_equal(c->state_dir, "/var/lib/ds01");
        assert_string_equal(c->log_dir, "/var/log/ds01");
        assert_string_equal(c->docker_socket, "/var/run/docker.sock");
        assert_string_equal(c->limits_file, "/etc/ds01/resource-limits.yaml");
        assert_string_equal(c->workspace_root, "home");
        assert_string_equal(c->metrics_listen, "127.0.0.1:9101");
        assert_int_equal(c->sample_interval_s, 60);
        assert_int_equal(c->restart_gap_s, 10);
        assert_string_equal(c->gpu_backend, "auto");
        assert_string_equal(c->nvml_library, "libnvidia-ml.so.1");
        assert_int_equal(c->n_simulated, 4);
        for (size_t i = 0; i < c->n_simulated; i++) {
                assert_string_equal(c->simulated[i].name, "NVIDIA A100-SXM4-40GB");
                assert_int_equal(c->simulated[i].memory_mib, 40960);
                assert_int_equal(c->simulated[i].n_mig, 0);
        }
        assert_string_equal(c->image_default, "ds01/base:latest");
        assert_string_equal(c->admin_group, "ds01-admin");
        assert_null(c->init_path);
        assert_int_equal(c->max_requests_per_uid, 16);
        assert_int_equal(c->events_max_kb, 65536);
        assert_int_equal(c->events_keep, 5);
        assert_string_equal(c->network_pool, "10.213.0.0/16");
        assert_int_equal(c->network_subnet_prefix, 26);
        assert_true(c->network_require_isolation);
        assert_null(config_free(c));
        assert_null(config_free(NULL));
}

static void test_full_file(void **state)
{
        (void)state;
        _cleanup_free_ char *path = testdata("config/full.yaml");
        _cleanup_error_ struct error *err = NULL;
        struct config *c = config_load(path, &err);
        if (!c)
                fail_msg("%s", err->message);
        assert_string_equal(c->source, path);
        assert_string_equal(c->instance, "ds01-test");
        assert_string_equal(c->socket, "/run/ds01-test/ds01.sock");
        assert_string_equal(c->state_dir, "/var/lib/ds01-test");
        assert_string_equal(c->log_dir, "/var/log/ds01-test");
        assert_string_equal(c->docker_socket, "/run/docker.sock");
        assert_string_equal(c->limits_file, "/etc/ds01-test/resource-limits.yaml");
        assert_string_equal(c->workspace_root, "/srv/workspaces");
        assert_string_equal(c->metrics_listen, "[::1]:9102");
        assert_int_equal(c->sample_interval_s, 5);
        assert_int_equal(c->restart_gap_s, 30);
        assert_string_equal(c->gpu_backend, "simulated");
        assert_string_equal(c->nvml_library, "/opt/fake/libnvidia-ml.so.1");
        assert_int_equal(c->n_simulated, 3);
        assert_string_equal(c->simulated[0].name, "NVIDIA A100-SXM4-40GB");
        assert_int_equal(c->simulated[0].n_mig, 0);
        assert_int_equal(c->simulated[1].n_mig, 3);
        assert_string_equal(c->simulated[1].mig[0], "3g.20gb");
        assert_string_equal(c->simulated[1].mig[1], "2g.10gb");
        assert_string_equal(c->simulated[1].mig[2], "1g.5gb");
        assert_string_equal(c->simulated[2].name, "NVIDIA H100 80GB HBM3");
        assert_int_equal(c->simulated[2].memory_mib, 81559);
        assert_int_equal(c->simulated[2].n_mig, 0);
        assert_string_equal(c->image_default, "registry.local/ds01/base:2");
        assert_string_equal(c->admin_group, "lab-admins");
        assert_string_equal(c->init_path, "/usr/libexec/ds01/ds01-init");
        assert_int_equal(c->max_requests_per_uid, 32);
        assert_int_equal(c->events_max_kb, 1024);
        assert_int_equal(c->events_keep, 10);
        config_free(c);
}

static void test_partial_and_empty(void **state)
{
        (void)state;
        _cleanup_error_ struct error *err = NULL;
        /* An empty file and a comment-only file are all defaults. */
        struct config *c = config_load(write_yaml(""), &err);
        assert_non_null(c);
        assert_string_equal(c->instance, "ds01");
        assert_string_equal(c->source, tmpfile_path);
        config_free(c);
        c = config_load(write_yaml("# nothing\n"), &err);
        assert_non_null(c);
        config_free(c);

        /* One key changes only that key; null keeps the default. */
        c = config_load(write_yaml("sample_interval_s: 1\nsocket: ~\ngpus:\n  backend: nvml\n"),
                        &err);
        assert_non_null(c);
        assert_int_equal(c->sample_interval_s, 1);
        assert_string_equal(c->socket, "/run/ds01/ds01.sock");
        assert_string_equal(c->gpu_backend, "nvml");
        assert_int_equal(c->n_simulated, 4);
        config_free(c);

        /* An empty simulated list means no simulated GPUs. */
        c = config_load(write_yaml("gpus:\n  simulated: []\n"), &err);
        assert_non_null(c);
        assert_int_equal(c->n_simulated, 0);
        config_free(c);

        expect_ok("metrics_listen: \"off\"\n");
        expect_ok("metrics_listen: off\n"); /* the bool spelling is a string here */
        expect_ok("instance: a\n");
        expect_ok("restart_gap_s: 0\n"); /* two sample intervals, nothing more */
        expect_ok("images:\n  max_images_mb_per_user: 0\n"); /* no limit */
        expect_ok("instance: test-1.x_y\n");
        expect_ok("gpus:\n  simulated:\n    - {name: X, memory_mib: 1, mig: [7g.40gb]}\n");
        expect_ok("gpus:\n  simulated:\n    - {name: X, memory_mib: 1, mig: [1g.10gb+me]}\n");
        expect_ok("images:\n  frameworks: ~\n");
        expect_ok("init_path: null\n");
        expect_ok("events_max_kb: 4\nevents_keep: 1\n");
        expect_ok("events_max_kb: 4194304\nevents_keep: 100\n");
}

static void test_unknown_key(void **state)
{
        (void)state;
        expect_error("instance: ds01\n\nsokcet: /run/x.sock\n",
                     "ds01.yaml:3:", "unknown key 'sokcet'", "did you mean 'socket'",
                     "known keys:", "sample_interval_s", NULL);
        expect_error("gpus:\n  backend: auto\n  simulate: []\n", ":3:", "unknown key 'simulate'",
                     "in gpus", "simulated", NULL);
        expect_error("gpus:\n  simulated:\n    - name: X\n      memory_mib: 1\n      uuid: G\n",
                     ":5:", "unknown key 'uuid'", "gpus.simulated[0]", "memory_mib", NULL);
        expect_error("images:\n  defualt: x\n", ":2:", "'defualt'", "did you mean 'default'", NULL);
        expect_error("foo: 1\n", ":1:", "unknown key 'foo' in ds01.yaml (known keys: instance",
                     NULL);
}

static void test_wrong_type(void **state)
{
        (void)state;
        expect_error("sample_interval_s: often\n", ":1:", "sample_interval_s",
                     "whole number from 1 to 3600", "'often'", NULL);
        expect_error("sample_interval_s: 0\n", ":1:", "from 1 to 3600", NULL);
        expect_error("sample_interval_s: 3601\n", ":1:", "from 1 to 3600", NULL);
        expect_error("sample_interval_s: -5\n", ":1:", "sample_interval_s", NULL);
        expect_error("restart_gap_s: 3601\n", ":1:", "'restart_gap_s'",
                     "whole number from 0 to 3600", NULL);
        expect_error("restart_gap_s: -1\n", ":1:", "restart_gap_s", "from 0 to 3600", NULL);
        expect_error("restart_gap_s: 1.5\n", ":1:", "restart_gap_s", "whole number", NULL);
        expect_error("max_requests_per_uid: 1025\n", ":1:", "from 1 to 1024", NULL);
        expect_error("max_requests_per_uid: 0\n", ":1:", "max_requests_per_uid", NULL);
        expect_error("\nevents_max_kb: 3\n", ":2:", "'events_max_kb'",
                     "whole number from 4 to 4194304", "'3'", NULL);
        expect_error("events_max_kb: 4194305\n", ":1:", "from 4 to 4194304", NULL);
        expect_error("events_max_kb: 64M\n", ":1:", "events_max_kb", "whole number", NULL);
        expect_error("events_keep: 0\n", ":1:", "'events_keep'", "from 1 to 100", NULL);
        expect_error("events_keep: 101\n", ":1:", "from 1 to 100", NULL);
        expect_error("events_keep: [1]\n", ":1:", "events_keep", NULL);
        expect_error("event_keep: 3\n", ":1:", "unknown key 'event_keep'",
                     "did you mean 'events_keep'", NULL);
        expect_error("socket: [a, b]\n", ":1:", "'socket' must be a string, not a list", NULL);
        expect_error("gpus: [a]\n", ":1:", "gpus must be a mapping, not a list", NULL);
        expect_error("gpus:\n  simulated: {name: x}\n", ":2:", "must be a list", NULL);
        expect_error("gpus:\n  simulated:\n    - \"A100\"\n", ":3:", "must be a mapping", NULL);
        expect_error("gpus:\n  backend: cuda\n", ":2:", "auto, nvml or simulated", "'cuda'", NULL);
        expect_error("gpus:\n  simulated:\n    - {name: X, memory_mib: lots}\n",
                     ":3:", "memory_mib", NULL);
        expect_error("images:\n  frameworks:\n    pytorch: [a]\n",
                     ":3:", "images.frameworks.pytorch", NULL);
        expect_error("- a\n- b\n", ":1:", "must be a mapping", NULL);
}

static void test_bad_values(void **state)
{
        (void)state;
        expect_error("instance: DS01\n", ":1:", "instance", "[a-z0-9][a-z0-9_.-]{0,62}", "'DS01'",
                     NULL);
        expect_error("instance: -x\n", ":1:", "instance", NULL);
        expect_error("instance: \"\"\n", ":1:", "instance", NULL);
        expect_error("instance: a/b\n", ":1:", "instance", NULL);
        expect_error("instance: "
                     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
                     ":1:", "instance", NULL);
        expect_error("\n\nstate_dir: var/lib/ds01\n", ":3:", "state_dir", "absolute path", NULL);
        expect_error("images:\n  max_builds_per_user: 0\n", ":2:", "images.max_builds_per_user",
                     NULL);
        expect_error("images:\n  max_context_mb: 70000\n", ":2:", "images.max_context_mb", NULL);
        expect_error("images:\n  max_images_mb_per_user: -1\n",
                     ":2:", "images.max_images_mb_per_user", NULL);
        expect_error("images:\n  spool_dir: spool\n", ":2:", "images.spool_dir", "absolute path",
                     NULL);
        expect_error("log_dir: \"/var/log/my logs\"\n", ":1:", "log_dir", NULL);
        expect_error("workspace_root: homes\n", ":1:", "workspace_root", "\"home\"", NULL);
        expect_error("metrics_listen: 9101\n", ":1:", "metrics_listen", "HOST:PORT", NULL);
        expect_error("metrics_listen: localhost:99999\n", ":1:", "metrics_listen", NULL);
        expect_error("gpus:\n  nvml_library: ./fake.so\n", ":2:", "nvml_library", NULL);
        expect_error("gpus:\n  simulated:\n    - {name: X, memory_mib: 1, mig: [8g.40gb]}\n",
                     ":3:", "bad MIG profile '8g.40gb'", NULL);
        expect_error("gpus:\n  simulated:\n    - {name: X, memory_mib: 1, mig: [3g]}\n",
                     ":3:", "bad MIG profile", NULL);
        expect_error("gpus:\n  simulated:\n    - {name: X, memory_mib: 1, mig: [0g.5gb]}\n",
                     ":3:", "bad MIG profile", NULL);
        expect_error("gpus:\n  simulated:\n    - {name: X, memory_mib: 1, mig: [4g.20gb, "
                     "4g.20gb]}\n",
                     ":3:", "compute slices", NULL);
        expect_error("gpus:\n  simulated:\n    - {name: \"\", memory_mib: 1}\n", ":3:", "name",
                     NULL);
        expect_error("gpus:\n  simulated:\n    - {memory_mib: 1}\n", ":3:", "has no name", NULL);
        expect_error("gpus:\n  simulated:\n    - {name: X}\n", ":3:", "has no memory_mib", NULL);

        expect_error("network:\n  pool: 10.213.0.1/16\n", ":2:", "network.pool", "host bits", NULL);
        expect_error("network:\n  pool: 10.213.0.0\n", ":2:", "network.pool", NULL);
        expect_error("network:\n  pool: 10.300.0.0/16\n", ":2:", "network.pool", NULL);
        expect_error("network:\n  pool: 10.0.0.0/30\n", ":2:", "network.pool", NULL);
        expect_error("network:\n  pool: 10.213.0.0/24\n  subnet_prefix: 20\n",
                     ":3:", "network.subnet_prefix", "pool's prefix", NULL);
        expect_error("network:\n  subnet_prefix: 30\n", ":2:", "network.subnet_prefix", NULL);
        expect_error("network:\n  require_isolation: maybe\n", ":2:", "require_isolation", NULL);
        expect_error("network:\n  pools: 10.0.0.0/8\n", ":2:", "unknown key 'pools'", NULL);
        expect_error("network:\n  pools: null\n", ":2:", "unknown key 'pools'", NULL);
        expect_ok("network:\n  pool: 172.30.0.0/20\n  subnet_prefix: 28\n  require_isolation: "
                  "false\n");

        /* At most 64 simulated GPUs. */
        _cleanup_(strbuf_release) struct strbuf sb = STRBUF_INIT;
        strbuf_adds(&sb, "gpus:\n  simulated:\n");
        for (int i = 0; i < 65; i++)
                strbuf_adds(&sb, "    - {name: X, memory_mib: 1}\n");
        expect_error(strbuf_str(&sb), ":3:", "the limit is 64", NULL);
}

static void test_yaml_errors(void **state)
{
        (void)state;
        expect_error("instance: ds01\ninstance: ds02\n", ":2:", "duplicate key 'instance'",
                     "line 1", NULL);
        expect_error("instance: [unclosed\n", "ds01.yaml:", NULL);
        expect_error("a: &x ds01\ninstance: *x\n", ":1:", "aliases are not supported", NULL);
        expect_error("instance: ds01\n---\ninstance: ds02\n", ":3:", "second YAML document", NULL);
        /* Deep nesting is bounded. */
        _cleanup_(strbuf_release) struct strbuf sb = STRBUF_INIT;
        strbuf_adds(&sb, "gpus: ");
        for (int i = 0; i < 200; i++)
                strbuf_adds(&sb, "[");
        for (int i = 0; i < 200; i++)
                strbuf_adds(&sb, "]");
        strbuf_adds(&sb, "\n");
        expect_error(strbuf_str(&sb), "nested too deeply", NULL);
}

static void test_missing_file(void **state)
{
        (void)state;
        _cleanup_error_ struct error *err = NULL;
        _cleanup_free_ char *path = xasprintf("%s/nope.yaml", tmpdir);
        assert_null(config_load(path, &err));
        assert_non_null(err);
        assert_non_null(strstr(err->message, path));
        assert_non_null(strstr(err->message, "no such file"));

        /* A directory is not a config file. */
        _cleanup_error_ struct error *err2 = NULL;
        assert_null(config_load(tmpdir, &err2));
        assert_non_null(err2);
        assert_non_null(strstr(err2->message, "not a regular file"));
}

static void test_too_large(void **state)
{
        (void)state;
        _cleanup_(strbuf_release) struct strbuf sb = STRBUF_INIT;
        strbuf_adds(&sb, "instance: ds01\n");
        while (sb.len <= 1024 * 1024)
                strbuf_adds(&sb, "# padding padding padding padding padding padding padding\n");
        expect_error(strbuf_str(&sb), "too large", NULL);
}

/* The example every key is documented in must load, and say what it documents. */
static void test_contrib_example(void **state)
{
        (void)state;
        const char *dir = getenv("DS01_TESTDATA");
        assert_non_null(dir);
        _cleanup_free_ char *path = xasprintf("%s/../../../contrib/ds01.yaml.example", dir);
        struct error *err = NULL;
        struct config *c = config_load(path, &err);
        if (!c)
                print_error("%s\n", err->message);
        assert_non_null(c);
        assert_string_equal(c->instance, "ds01");
        assert_string_equal(c->docker_devices, "auto");
        assert_int_equal(c->restart_gap_s, 10);
        assert_int_equal(c->build_timeout_s, 3600);
        assert_int_equal(c->max_builds_per_user, 1);
        assert_int_equal(c->max_spool_mb, 4096);
        assert_int_equal(c->max_images_mb_per_user, 51200);
        assert_null(c->webhook_url);
        assert_int_equal(c->events_max_kb, 65536);
        assert_int_equal(c->events_keep, 5);
        assert_int_equal(c->requests_per_s_per_uid, 100);
        assert_int_equal(c->audit_names_per_uid, 16);
        assert_int_equal(c->log_max_kb, 16384);
        assert_null(c->metrics_token_file);
        assert_int_equal(c->n_service_uids, 0);
        assert_string_equal(c->network_pool, "10.213.0.0/16");
        assert_int_equal(c->network_subnet_prefix, 26);
        config_free(c);
}

static struct config *load_text(const char *text)
{
        _cleanup_error_ struct error *err = NULL;
        struct config *c = config_load(write_yaml(text), &err);
        if (!c)
                fail_msg("refused: %s\n%s", err->message, text);
        return c;
}

static void assert_reload(const char *key, enum config_reload want, enum config_apply want_step)
{
        enum config_apply step = (enum config_apply) - 1;
        int r = config_key_reload(key, &step);
        if (r != (int)want)
                fail_msg("%s: reload %d, expected %d", key, r, (int)want);
        assert_int_equal(step, want_step);
}

/* What a reload does with a key is the table's to say: the five a reload refuses to change
 * (admin.c's reload), the ones it applies and with which step, the ones read once at start. */
static void test_reload_rules(void **state)
{
        (void)state;
        const char *restart[] = {"instance", "socket", "state_dir", "log_dir", "docker_socket"};
        for (size_t i = 0; i < ARRAY_SIZE(restart); i++)
                assert_reload(restart[i], CONFIG_RELOAD_RESTART, CONFIG_APPLY_NONE);
        assert_reload("admin_group", CONFIG_RELOAD_APPLY, CONFIG_APPLY_ADMIN_GROUP);
        assert_reload("events_max_kb", CONFIG_RELOAD_APPLY, CONFIG_APPLY_EVENTS_ROTATION);
        assert_reload("events_keep", CONFIG_RELOAD_APPLY, CONFIG_APPLY_EVENTS_ROTATION);
        assert_reload("log_max_kb", CONFIG_RELOAD_APPLY, CONFIG_APPLY_LOG_ROTATION);
        assert_reload("log_keep", CONFIG_RELOAD_APPLY, CONFIG_APPLY_LOG_ROTATION);
        assert_reload("audit_window_s", CONFIG_RELOAD_APPLY, CONFIG_APPLY_AUDIT);
        assert_reload("audit_names_per_uid", CONFIG_RELOAD_APPLY, CONFIG_APPLY_AUDIT);
        assert_reload("metrics_listen", CONFIG_RELOAD_APPLY, CONFIG_APPLY_METRICS);
        assert_reload("gpus.backend", CONFIG_RELOAD_START, CONFIG_APPLY_NONE);
        assert_reload("notify.webhook_url", CONFIG_RELOAD_START, CONFIG_APPLY_NONE);
        assert_reload("images.max_context_mb", CONFIG_RELOAD_LIVE, CONFIG_APPLY_NONE);
        assert_reload("gpus.simulated", CONFIG_RELOAD_LIVE, CONFIG_APPLY_NONE);
        assert_int_equal(config_key_reload("gpus", NULL), -ENOENT); /* a section, not a key */
        assert_int_equal(config_key_reload("max_context_mb", NULL), -ENOENT);
        assert_int_equal(config_key_reload("nope", NULL), -ENOENT);
        assert_int_equal(config_key_reload(NULL, NULL), -ENOENT);

        struct config *a = config_load(NULL, NULL);
        struct config *b = load_text("socket: /run/other.sock\n"
                                     "events_keep: 7\n"
                                     "admin_group: staff\n"
                                     "notify:\n  webhook_url: https://hooks.example/x\n"
                                     "images:\n  max_context_mb: 10\n");
        assert_string_equal(config_changed(a, b, CONFIG_RELOAD_RESTART), "socket");
        assert_string_equal(config_changed(a, b, CONFIG_RELOAD_START), "notify.webhook_url");
        assert_string_equal(config_changed(a, b, CONFIG_RELOAD_LIVE), "images.max_context_mb");
        assert_string_equal(config_changed(a, b, CONFIG_RELOAD_APPLY), "admin_group");
        assert_int_equal(config_apply_steps(a, b),
                         CONFIG_APPLY_EVENTS_ROTATION | CONFIG_APPLY_ADMIN_GROUP);
        for (int how = CONFIG_RELOAD_LIVE; how <= CONFIG_RELOAD_START; how++)
                assert_null(config_changed(b, b, (enum config_reload)how));
        assert_int_equal(config_apply_steps(b, b), 0);
        struct config *c = load_text("network:\n  require_isolation: false\n");
        assert_string_equal(config_changed(a, c, CONFIG_RELOAD_START), "network.require_isolation");
        config_free(c);
        config_free(b);
        config_free(a);
}

/* contrib/ds01.yaml.example shows each key with the table's default. */
static void test_contrib_example_defaults(void **state)
{
        (void)state;
        const char *dir = getenv("DS01_TESTDATA");
        assert_non_null(dir);
        _cleanup_free_ char *path = xasprintf("%s/../../../contrib/ds01.yaml.example", dir);
        _cleanup_error_ struct error *err = NULL;
        struct config *ex = config_load(path, &err);
        assert_non_null(ex);
        struct config *def = config_load(NULL, NULL);
        for (int how = CONFIG_RELOAD_LIVE; how <= CONFIG_RELOAD_START; how++) {
                const char *k = config_changed(def, ex, (enum config_reload)how);
                if (k)
                        fail_msg("contrib/ds01.yaml.example: %s is not the default", k);
        }
        config_free(def);
        config_free(ex);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_contrib_example), cmocka_unit_test(test_embedded_defaults),
            cmocka_unit_test(test_full_file),       cmocka_unit_test(test_partial_and_empty),
            cmocka_unit_test(test_unknown_key),     cmocka_unit_test(test_wrong_type),
            cmocka_unit_test(test_bad_values),      cmocka_unit_test(test_yaml_errors),
            cmocka_unit_test(test_missing_file),    cmocka_unit_test(test_too_large),
            cmocka_unit_test(test_reload_rules),    cmocka_unit_test(test_contrib_example_defaults),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
