/* test-extras.c - the "docker" parameter of container.deploy (extras_parse), which any RPC client
 * may send, not only the Docker API endpoint: ds01's own variables dropped from the environment,
 * ds01.* labels refused, the workspace's more mount points never over ds01's own mounts (/, the
 * workspace, ds01-init, /etc/passwd, the datasets), never relative, never through "..", never a
 * path Docker would clean into one of those; unknown keys refused, whatever their spelling. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "daemon/containers/extras.h"
#include "shared/util.h"

#include <string.h>

/* extras_parse on text: 0 with *x filled, or -1 with *err. */
static int parse(const char *text, struct deploy_extras *x, struct error **err)
{
        json_error_t jerr;
        json_t *j = json_loads(text, JSON_DECODE_ANY, &jerr);
        if (!j)
                fail_msg("test input %s: %s", text, jerr.text);
        int r = extras_parse(j, x, err);
        json_decref(j);
        return r;
}

static void check_refused(const char *text, int code, const char *why)
{
        struct deploy_extras x;
        struct error *err = NULL;
        if (parse(text, &x, &err) == 0) {
                extras_release(&x);
                fail_msg("extras %s accepted", text);
        }
        if (!err || err->code != code)
                fail_msg("extras %s: code %d, not %d", text, err ? err->code : -1, code);
        if (!strstr(err->message, why))
                fail_msg("extras %s: '%s' does not say '%s'", text, err->message, why);
        error_free(err);
}

static void test_accepted(void **state)
{
        (void)state;
        struct deploy_extras x;
        struct error *err = NULL;
        assert_int_equal(parse("{\"interface\": \"compose\", \"env\": [\"A=1\", \"B\"], "
                               "\"labels\": {\"com.docker.compose.project\": \"p\"}, "
                               "\"tty\": true, \"open_stdin\": true, \"stdin_once\": false, "
                               "\"auto_remove\": true, \"workdir\": \"/src\", "
                               "\"targets\": [\"/code\", \"/workspaces/p\"], \"workspace\": \"p\"}",
                               &x, &err),
                         0);
        assert_null(err);
        assert_string_equal(x.interface, "compose");
        assert_int_equal(json_array_size(x.env), 2);
        assert_string_equal(json_string_value(json_array_get(x.env, 1)), "B");
        assert_string_equal(
            json_string_value(json_object_get(x.labels, "com.docker.compose.project")), "p");
        assert_true(x.tty && x.open_stdin && !x.stdin_once && x.auto_remove);
        assert_string_equal(x.workdir, "/src");
        assert_int_equal(json_array_size(x.targets), 2);
        assert_string_equal(x.workspace, "p");
        extras_release(&x);

        /* Nothing given: a docker container with nothing more. */
        assert_int_equal(parse("{}", &x, &err), 0);
        assert_string_equal(x.interface, "docker");
        assert_int_equal(json_array_size(x.env), 0);
        assert_int_equal(json_object_size(x.labels), 0);
        assert_int_equal(json_array_size(x.targets), 0);
        assert_false(x.tty || x.open_stdin || x.stdin_once || x.auto_remove);
        assert_null(x.workdir);
        assert_null(x.workspace);
        extras_release(&x);
        assert_int_equal(parse("{\"env\": null, \"labels\": null}", &x, &err), 0);
        extras_release(&x);
        for (const char *const *i =
                 (const char *const[]){"docker", "compose", "devcontainer", NULL};
             *i; i++) {
                _cleanup_free_ char *t = xasprintf("{\"interface\": \"%s\"}", *i);
                assert_int_equal(parse(t, &x, &err), 0);
                assert_string_equal(x.interface, *i);
                extras_release(&x);
        }
}

/* The variables ds01 sets in every container are never a client's: dropped, the rest kept. */
static void test_env_reserved(void **state)
{
        (void)state;
        static const char *const reserved[] = {
            "HOME",
            "USER",
            "LOGNAME",
            "DS01_PROJECT",
            "CUDA_DEVICE_ORDER",
            "CUDA_VISIBLE_DEVICES",
            "NVIDIA_VISIBLE_DEVICES",
            "NVIDIA_DRIVER_CAPABILITIES",
            "NVIDIA_REQUIRE_CUDA",
            "NVIDIA_MOFED",
            "NVIDIA_NVSWITCH",
            "NVIDIA_GDS",
        };
        json_t *env = json_array();
        for (size_t i = 0; i < ARRAY_SIZE(reserved); i++) {
                assert_true(extras_env_reserved(reserved[i], strlen(reserved[i])));
                json_array_append_new(env, json_sprintf("%s=all", reserved[i]));
                json_array_append_new(env, json_sprintf("%s=", reserved[i]));
                json_array_append_new(env, json_string(reserved[i])); /* no '=' */
        }
        static const char *const kept[] = {"A=1",         "HOMEDIR=/x", "home=/x",
                                           "XHOME=/x",    "PATH=/bin",  "CUDA_VISIBLE=0",
                                           "HOME_=/x",    "NVIDIA=1",   "LD_LIBRARY_PATH=/l",
                                           "B=HOME=/evil"};
        for (size_t i = 0; i < ARRAY_SIZE(kept); i++)
                json_array_append_new(env, json_string(kept[i]));
        assert_false(extras_env_reserved("HOMEX", 5));
        assert_true(extras_env_reserved("HOMEX", 4)); /* a prefix of length n */

        json_t *j = json_pack("{s:o}", "env", env);
        struct deploy_extras x;
        struct error *err = NULL;
        assert_int_equal(extras_parse(j, &x, &err), 0);
        assert_int_equal(json_array_size(x.env), ARRAY_SIZE(kept));
        for (size_t i = 0; i < ARRAY_SIZE(kept); i++)
                assert_string_equal(json_string_value(json_array_get(x.env, i)), kept[i]);
        extras_release(&x);
        json_decref(j);
}

static void test_labels(void **state)
{
        (void)state;
        check_refused("{\"labels\": {\"ds01.user\": \"bob\"}}", DS01_EPERM, "ds01.user");
        check_refused("{\"labels\": {\"ds01.managed\": \"true\"}}", DS01_EPERM, "ds01.");
        check_refused("{\"labels\": {\"ds01.\": \"\"}}", DS01_EPERM, "ds01.");
        check_refused("{\"labels\": {\"a\": \"1\", \"ds01.workspace\": \"/\"}}", DS01_EPERM,
                      "ds01.workspace");
        check_refused("{\"labels\": {\"ds01-x\": \"1\"}}", DS01_EPERM, "ds01-x");
        check_refused("{\"labels\": {\"a\": 1}}", DS01_EUSAGE, "string value");
        check_refused("{\"labels\": {\"a\": null}}", DS01_EUSAGE, "string value");
        check_refused("{\"labels\": {\"\": \"x\"}}", DS01_EUSAGE, "string value");
        check_refused("{\"labels\": [\"a=1\"]}", DS01_EUSAGE, "'labels'");
        check_refused("{\"labels\": \"a=1\"}", DS01_EUSAGE, "'labels'");

        struct deploy_extras x;
        struct error *err = NULL;
        assert_int_equal(parse("{\"labels\": {\"ds01\": \"a\", \"x.ds01.y\": \"b\", "
                               "\"devcontainer.local_folder\": \"/x\"}}",
                               &x, &err),
                         0);
        assert_int_equal(json_object_size(x.labels), 3);
        extras_release(&x);
}

/* The more mount points of the workspace: never over ds01's own mounts or a path that is not a
 * plain absolute one; Docker cleans a mount's target (path.Clean), so neither may any spelling of
 * one ("//.ds01", "/./workspace"). */
static void test_targets(void **state)
{
        (void)state;
        static const char *const bad[] = {
            "/",
            "//",
            "/.",
            "/workspace",
            "/workspace/",
            "/workspace/x",
            "/.ds01",
            "/.ds01/init",
            "/.ds01/x",
            "/etc/passwd",
            "/data",
            "/data/x",
            "/data/imagenet",
            "/a/../workspace",
            "/a/..",
            "/..",
            "/../etc",
            "..",
            "rel",
            "code/x",
            "",
            "/a\tb",
            "/a\nb",
            "/a\x7f",
            /* spellings Docker cleans into a refused target */
            "//workspace",
            "//.ds01",
            "//.ds01/init",
            "/./.ds01",
            "/./workspace",
            "//etc/passwd",
            "/etc//passwd",
            "/etc/./passwd",
            "//data/x",
            "/.//data",
            "/code//x",
            "/code/.",
            "/code/./x",
        };
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                json_t *j = json_pack("{s:[s]}", "targets", bad[i]);
                struct deploy_extras x;
                struct error *err = NULL;
                if (extras_parse(j, &x, &err) == 0) {
                        extras_release(&x);
                        fail_msg("target '%s' accepted", bad[i]);
                }
                assert_int_equal(err->code, DS01_EPERM);
                assert_non_null(strstr(err->message, "cannot be mounted"));
                error_free(err);
                json_decref(j);
        }
        check_refused("{\"targets\": [5]}", DS01_EPERM, "cannot be mounted at '?'");
        check_refused("{\"targets\": [null]}", DS01_EPERM, "cannot be mounted");
        check_refused("{\"targets\": \"/code\"}", DS01_EUSAGE, "'targets'");
        check_refused("{\"targets\": {}}", DS01_EUSAGE, "'targets'");
        check_refused("{\"targets\": [\"/a\",\"/b\",\"/c\",\"/d\",\"/e\",\"/f\",\"/g\",\"/h\","
                      "\"/i\"]}",
                      DS01_EUSAGE, "at most 8");
        check_refused("{\"targets\": [\"/code\", \"/workspace\"]}", DS01_EPERM, "/workspace");

        static const char *const good[] = {
            "/code",         "/workspaces/p", "/workspace2", "/workspacex/y", "/data2",
            "/etc/passwdx",  "/.ds01x",       "/a/..b",      "/a/b..",        "/a/.b",
            "/home/alice/p", "/a b",          "/code/",      "/a/...",        "/a/.../b"};
        for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
                json_t *j = json_pack("{s:[s]}", "targets", good[i]);
                struct deploy_extras x;
                struct error *err = NULL;
                if (extras_parse(j, &x, &err) < 0)
                        fail_msg("target '%s' refused: %s", good[i], err->message);
                assert_string_equal(json_string_value(json_array_get(x.targets, 0)), good[i]);
                extras_release(&x);
                json_decref(j);
        }
}

/* Keys are read as spelled: another spelling of a known one is unknown, and refused. */
static void test_unknown_keys(void **state)
{
        (void)state;
        static const char *const bad[] = {
            "{\"privileged\": true}",
            "{\"binds\": [\"/:/host\"]}",
            "{\"Env\": [\"A=1\"]}",
            "{\"ENV\": []}",
            "{\"Labels\": {}}",
            "{\"Targets\": [\"/workspace\"]}",
            "{\"targets\": [], \"Targets\": [\"/\"]}",
            "{\"Workspace\": \"p\"}",
            "{\"user\": \"0\"}",
            "{\"mounts\": []}",
            "{\"interface\": \"docker\", \"cmd\": [\"sh\"]}",
            "{\"tty \": true}",
            "{\"\": 1}",
        };
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
                check_refused(bad[i], DS01_EUSAGE, "unknown key");
}

static void test_malformed(void **state)
{
        (void)state;
        struct deploy_extras x;
        struct error *err = NULL;
        assert_int_equal(extras_parse(NULL, &x, &err), -1);
        assert_int_equal(err->code, DS01_EUSAGE);
        err = error_free(err);
        check_refused("[]", DS01_EUSAGE, "must be an object");
        check_refused("\"docker\"", DS01_EUSAGE, "must be an object");
        check_refused("null", DS01_EUSAGE, "must be an object");
        check_refused("{\"interface\": \"orchestration\"}", DS01_EUSAGE, "'interface'");
        check_refused("{\"interface\": \"Docker\"}", DS01_EUSAGE, "'interface'");
        check_refused("{\"interface\": \"\"}", DS01_EUSAGE, "'interface'");
        check_refused("{\"workdir\": \"rel\"}", DS01_EUSAGE, "working directory");
        check_refused("{\"workdir\": \"\"}", DS01_EUSAGE, "working directory");
        check_refused("{\"workdir\": \"/a/../b\"}", DS01_EUSAGE, "working directory");
        check_refused("{\"workdir\": 5}", DS01_EUSAGE, "working directory");
        check_refused("{\"workspace\": \"../x\"}", DS01_EUSAGE, "project name");
        check_refused("{\"workspace\": \"UPPER\"}", DS01_EUSAGE, "project name");
        check_refused("{\"workspace\": \"a/b\"}", DS01_EUSAGE, "project name");
        check_refused("{\"workspace\": \"\"}", DS01_EUSAGE, "project name");
        check_refused("{\"workspace\": 5}", DS01_EUSAGE, "project name");
        check_refused("{\"tty\": \"yes\"}", DS01_EUSAGE, "'tty'");
        check_refused("{\"open_stdin\": 1}", DS01_EUSAGE, "'open_stdin'");
        check_refused("{\"stdin_once\": null}", DS01_EUSAGE, "'stdin_once'");
        check_refused("{\"auto_remove\": \"true\"}", DS01_EUSAGE, "'auto_remove'");
        check_refused("{\"env\": \"A=1\"}", DS01_EUSAGE, "'env'");
        check_refused("{\"env\": {\"A\": \"1\"}}", DS01_EUSAGE, "'env'");
        check_refused("{\"env\": [5]}", DS01_EUSAGE, "'env'");
        check_refused("{\"env\": [\"=x\"]}", DS01_EUSAGE, "no name");
        check_refused("{\"env\": [\"\"]}", DS01_EUSAGE, "no name");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_accepted),     cmocka_unit_test(test_env_reserved),
            cmocka_unit_test(test_labels),       cmocka_unit_test(test_targets),
            cmocka_unit_test(test_unknown_keys), cmocka_unit_test(test_malformed),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
