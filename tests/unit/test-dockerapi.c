/* test-dockerapi.c - the Docker API endpoint's pure parts, as a client would notice them: which
 * method and path become which call (dapi_route: the version prefix, the object as named, what is
 * refused and with which advice, "No such object" for kinds ds01 does not offer, malformed paths
 * refused and never a call on another object), the `filters` of a container list with ds01's
 * label added (dapi_filters_with_label) and an exec create body checked and rewritten for the
 * caller (dapi_exec_body: never root, another user, another group or privileged). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "daemon/dockerapi/objects.h"
#include "daemon/dockerapi/routes.h"
#include "shared/util.h"

#include <string.h>

/* ---- dapi_route ---- */

struct route_case {
        const char *method;
        const char *path;
        enum dapi_op op;
        const char *version; /* NULL: "" */
        const char *object;  /* NULL: none */
        const char *rest;    /* NULL: none */
        const char *refusal; /* DAPI_REFUSE: a part of the message */
};

#define WS    "~/workspace"
#define OTHER "container-deploy"

static const struct route_case ROUTES[] = {
    /* Answered or passed on without an object. */
    {"GET", "/_ping", DAPI_PING},
    {"HEAD", "/v1.41/_ping", DAPI_PING, "1.41"},
    {"GET", "/v1.45/version", DAPI_VERSION, "1.45"},
    {"GET", "/info", DAPI_INFO},
    {"GET", "/v1.41/containers/json", DAPI_CONTAINER_LIST, "1.41"},
    {"GET", "/containers/json", DAPI_CONTAINER_LIST},
    {"GET", "/v1.41/images/json", DAPI_IMAGE_LIST, "1.41"},
    {"POST", "/_ping", DAPI_REFUSE, NULL, NULL, NULL, "not available"},
    {"POST", "/containers/json", DAPI_REFUSE, NULL, NULL, NULL, OTHER},
    {"DELETE", "/info", DAPI_REFUSE, NULL, NULL, NULL, "not available"},

    /* A container's reads, passed on. */
    {"GET", "/containers/abc/logs", DAPI_CONTAINER_READ, NULL, "abc", "/logs"},
    {"GET", "/v1.41/containers/abc/json", DAPI_CONTAINER_READ, "1.41", "abc", "/json"},
    {"GET", "/containers/nlp._.alice/top", DAPI_CONTAINER_READ, NULL, "nlp._.alice", "/top"},
    {"GET", "/containers/abc/stats", DAPI_CONTAINER_READ, NULL, "abc", "/stats"},
    {"GET", "/containers/abc/changes", DAPI_CONTAINER_READ, NULL, "abc", "/changes"},
    {"GET", "/containers/abc/archive", DAPI_CONTAINER_READ, NULL, "abc", "/archive"},
    {"HEAD", "/containers/abc/archive", DAPI_CONTAINER_READ, NULL, "abc", "/archive"},
    {"HEAD", "/containers/abc/json", DAPI_REFUSE, NULL, NULL, NULL, OTHER},
    {"GET", "/containers/abc/export", DAPI_REFUSE, NULL, NULL, NULL, OTHER},

    /* A container's state: ds01's verbs, or passed on. */
    {"POST", "/v1.41/containers/abc/start", DAPI_CONTAINER_START, "1.41", "abc", "/start"},
    {"POST", "/containers/abc/stop", DAPI_CONTAINER_STOP, NULL, "abc", "/stop"},
    {"POST", "/containers/abc/restart", DAPI_CONTAINER_RESTART, NULL, "abc", "/restart"},
    {"POST", "/containers/abc/kill", DAPI_CONTAINER_POST, NULL, "abc", "/kill"},
    {"POST", "/containers/abc/wait", DAPI_CONTAINER_POST, NULL, "abc", "/wait"},
    {"POST", "/containers/abc/resize", DAPI_CONTAINER_POST, NULL, "abc", "/resize"},
    {"POST", "/containers/abc/attach", DAPI_CONTAINER_ATTACH, NULL, "abc", "/attach"},
    {"POST", "/containers/abc/exec", DAPI_EXEC_CREATE, NULL, "abc", "/exec"},
    {"DELETE", "/containers/x", DAPI_CONTAINER_REMOVE, NULL, "x", ""},
    {"DELETE", "/v1.41/containers/x", DAPI_CONTAINER_REMOVE, "1.41", "x", ""},
    {"GET", "/containers/abc/start", DAPI_REFUSE, NULL, NULL, NULL, OTHER},
    {"DELETE", "/containers/x/json", DAPI_REFUSE, NULL, NULL, NULL, OTHER},
    {"POST", "/containers/x", DAPI_REFUSE, NULL, NULL, NULL, OTHER},
    {"POST", "/containers/abc/update", DAPI_REFUSE, NULL, NULL, NULL, OTHER},
    {"POST", "/containers/abc/pause", DAPI_REFUSE, NULL, NULL, NULL, OTHER},
    {"POST", "/containers/abc/commit", DAPI_REFUSE, NULL, NULL, NULL, OTHER},
    {"PUT", "/containers/x/archive", DAPI_REFUSE, NULL, NULL, NULL, WS},
    {"PUT", "/v1.41/containers/x/archive", DAPI_REFUSE, "1.41", NULL, NULL, WS},
    {"POST", "/containers/abc/rename", DAPI_REFUSE, NULL, NULL, NULL, "retire it"},
    {"POST", "/containers/create", DAPI_CONTAINER_CREATE, NULL, NULL, NULL, NULL},
    {"POST", "/v1.41/containers/create", DAPI_CONTAINER_CREATE, "1.41", NULL, NULL, NULL},
    {"GET", "/containers/create", DAPI_REFUSE, NULL, NULL, NULL, "not available"},
    {"POST", "/containers/prune", DAPI_REFUSE, NULL, NULL, NULL, "container-retire"},

    /* Exec sessions. */
    {"POST", "/exec/e1/start", DAPI_EXEC_START, NULL, "e1", "/start"},
    {"GET", "/v1.41/exec/e1/json", DAPI_EXEC_READ, "1.41", "e1", "/json"},
    {"POST", "/exec/e1/resize", DAPI_EXEC_READ, NULL, "e1", "/resize"},
    {"GET", "/exec/e1/start", DAPI_REFUSE, NULL, NULL, NULL, "not available"},
    {"DELETE", "/exec/e1", DAPI_REFUSE, NULL, NULL, NULL, "not available"},
    {"POST", "/exec//start", DAPI_REFUSE, NULL, NULL, NULL, "not available"},

    /* Images: inspect (names with slashes and tags); the rest is the administrators' or ds01's. */
    {"GET", "/images/ds01-1000/p:latest/json", DAPI_IMAGE_INSPECT, NULL, "ds01-1000/p:latest",
     "/json"},
    {"GET", "/v1.41/images/ubuntu/json", DAPI_IMAGE_INSPECT, "1.41", "ubuntu", "/json"},
    {"GET", "/images/sha256:0123abcd/json", DAPI_IMAGE_INSPECT, NULL, "sha256:0123abcd", "/json"},
    {"GET", "/images//json", DAPI_REFUSE, NULL, NULL, NULL, "image-create"},
    {"GET", "/images/ubuntu/history", DAPI_REFUSE, NULL, NULL, NULL, "image-create"},
    {"DELETE", "/images/ds01-1000/p:latest", DAPI_REFUSE, NULL, NULL, NULL, "image-delete"},
    {"POST", "/images/create", DAPI_REFUSE, NULL, NULL, NULL, "image-create"},
    {"POST", "/images/ubuntu/push", DAPI_REFUSE, NULL, NULL, NULL, "administrators"},
    {"POST", "/images/ubuntu/tag", DAPI_REFUSE, NULL, NULL, NULL, "administrators"},
    {"POST", "/images/load", DAPI_REFUSE, NULL, NULL, NULL, "image-create"},
    {"POST", "/images/prune", DAPI_REFUSE, NULL, NULL, NULL, "container-retire"},
    {"POST", "/build", DAPI_BUILD, NULL, NULL, NULL, NULL},
    {"GET", "/build", DAPI_REFUSE, NULL, NULL, NULL, "image-create PROJECT"},
    {"POST", "/v1.41/build", DAPI_BUILD, "1.41", NULL, NULL, NULL},
    {"POST", "/build/cancel", DAPI_REFUSE, NULL, NULL, NULL, "image-create"},
    {"POST", "/build/prune", DAPI_REFUSE, NULL, NULL, NULL, "container-retire"},
    {"POST", "/session", DAPI_REFUSE, NULL, NULL, NULL, "image-create"},

    /* Kinds ds01 does not offer: refused with what to use, or "No such object" for inspect. */
    {"POST", "/swarm/init", DAPI_REFUSE, NULL, NULL, NULL, "swarm"},
    {"GET", "/services", DAPI_REFUSE, NULL, NULL, NULL, "swarm"},
    {"POST", "/secrets/create", DAPI_REFUSE, NULL, NULL, NULL, "swarm"},
    {"GET", "/plugins", DAPI_REFUSE, NULL, NULL, NULL, "administrators"},
    {"POST", "/plugins/pull", DAPI_REFUSE, NULL, NULL, NULL, "administrators"},
    {"POST", "/volumes/create", DAPI_REFUSE, NULL, NULL, NULL, "~/workspace/PROJECT"},
    {"GET", "/volumes", DAPI_REFUSE, NULL, NULL, NULL, "/workspace"},
    {"DELETE", "/volumes/v", DAPI_REFUSE, NULL, NULL, NULL, "/workspace"},
    {"POST", "/networks/create", DAPI_REFUSE, NULL, NULL, NULL, "private network"},
    {"GET", "/networks", DAPI_REFUSE, NULL, NULL, NULL, "private network"},
    {"GET", "/networks/", DAPI_REFUSE, NULL, NULL, NULL, "private network"},
    {"POST", "/networks/x/connect", DAPI_REFUSE, NULL, NULL, NULL, "private network"},
    {"POST", "/system/prune", DAPI_REFUSE, NULL, NULL, NULL, "container-retire"},
    {"POST", "/volumes/prune", DAPI_REFUSE, NULL, NULL, NULL, "container-retire"},
    {"POST", "/networks/prune", DAPI_REFUSE, NULL, NULL, NULL, "container-retire"},
    {"GET", "/events", DAPI_REFUSE, NULL, NULL, NULL, "ds01 events"},
    {"GET", "/system/df", DAPI_REFUSE, NULL, NULL, NULL, "not available"},
    {"POST", "/auth", DAPI_REFUSE, NULL, NULL, NULL, "not available"},
    {"GET", "/networks/x", DAPI_NO_SUCH, NULL, "x", ""},
    {"GET", "/v1.41/volumes/v", DAPI_NO_SUCH, "1.41", "v", ""},
    {"GET", "/plugins/p/json", DAPI_NO_SUCH, NULL, "p", "/json"},
    {"GET", "/nodes/n", DAPI_NO_SUCH, NULL, "n", ""},
    {"GET", "/services/s", DAPI_NO_SUCH, NULL, "s", ""},
    {"GET", "/tasks/t", DAPI_NO_SUCH, NULL, "t", ""},
    {"GET", "/secrets/s", DAPI_NO_SUCH, NULL, "s", ""},
    {"GET", "/configs/c", DAPI_NO_SUCH, NULL, "c", ""},

    /* Malformed: refused, never crashing, never a call. */
    {"GET", "", DAPI_REFUSE, NULL, NULL, NULL, "not available"},
    {"GET", "/", DAPI_REFUSE, NULL, NULL, NULL, "not available"},
    {"GET", "containers/json", DAPI_REFUSE, NULL, NULL, NULL, "not available"},
    {"GET", "/v/containers/json", DAPI_REFUSE, NULL, NULL, NULL, "not available"},
    {"GET", "/v1.41x/containers/json", DAPI_REFUSE, NULL, NULL, NULL, "not available"},
    {"GET", "/v1.41", DAPI_REFUSE, "1.41", NULL, NULL, "not available"},
    {"GET", "/v1.41/", DAPI_REFUSE, "1.41", NULL, NULL, "not available"},
    {"GET", "/v1.41/v1.41/containers/json", DAPI_REFUSE, "1.41", NULL, NULL, "not available"},
    {"GET", "/v1234567890.12345/containers/json", DAPI_REFUSE, NULL, NULL, NULL, "not available"},
    {"GET", "/containers//json", DAPI_REFUSE, NULL, NULL, NULL, "not available"},
    {"DELETE", "/containers/", DAPI_REFUSE, NULL, NULL, NULL, "not available"},
    {"GET", "/containers", DAPI_REFUSE, NULL, NULL, NULL, "not available"},
    {"get", "/containers/json", DAPI_REFUSE, NULL, NULL, NULL, "not available"},
    {"post", "/containers/abc/start", DAPI_REFUSE, NULL, NULL, NULL, OTHER},
    {"GET", "/containers/json/", DAPI_REFUSE, NULL, NULL, NULL, OTHER},
    {"", "/containers/json", DAPI_REFUSE, NULL, NULL, NULL, "not available"},

    /* Dot segments stay in the object's path: never a call on another object. */
    {"GET", "/containers/a/../b/json", DAPI_REFUSE, NULL, NULL, NULL, OTHER},
    {"POST", "/containers/a/../b/start", DAPI_REFUSE, NULL, NULL, NULL, OTHER},
    {"DELETE", "/containers/a/../b", DAPI_REFUSE, NULL, NULL, NULL, OTHER},
    {"POST", "/containers/a/./start", DAPI_REFUSE, NULL, NULL, NULL, OTHER},
    {"GET", "/containers/a/json/../../b/json", DAPI_REFUSE, NULL, NULL, NULL, OTHER},
    {"POST", "/exec/a/../b/start", DAPI_REFUSE, NULL, NULL, NULL, "not available"},
    {"GET", "/containers/../containers/json", DAPI_REFUSE, NULL, NULL, NULL, OTHER},
    /* An image name is passed whole (it may hold '/'); endpoint.c checks Docker's answer
     * (dapi_check_image) before the client sees it. */
    {"GET", "/images/../containers/x/json", DAPI_IMAGE_INSPECT, NULL, "../containers/x", "/json"},
};

static bool str_is(const char *got, const char *want)
{
        return want ? got && streq(got, want) : !got;
}

static void check_route(const struct route_case *t)
{
        struct dapi_route r;
        dapi_route(t->method, t->path, &r);
        bool ok = r.op == t->op && streq(r.version, t->version ? t->version : "") &&
                  str_is(r.object, t->object) && str_is(r.rest, t->rest);
        if (t->op == DAPI_REFUSE)
                ok = ok && r.refusal && strstr(r.refusal, t->refusal);
        else
                ok = ok && !r.refusal;
        if (!ok)
                fail_msg("%s %s: op %d version '%s' object '%s' rest '%s' refusal '%s'", t->method,
                         t->path, r.op, r.version, r.object ? r.object : "(null)",
                         r.rest ? r.rest : "(null)", r.refusal ? r.refusal : "(null)");
        dapi_route_release(&r);
        assert_null(r.object);
        assert_null(r.rest);
        dapi_route_release(&r); /* twice: harmless */
}

static void test_route_table(void **state)
{
        (void)state;
        for (size_t i = 0; i < ARRAY_SIZE(ROUTES); i++)
                check_route(&ROUTES[i]);
}

/* A ".." object names no container of the caller's: endpoint.c resolves it through the ledger
 * and passes the resolved id on, never the name. */
static void test_route_dot_object_is_not_an_action(void **state)
{
        (void)state;
        struct dapi_route r;
        dapi_route("GET", "/containers/../json", &r);
        assert_int_equal(r.op, DAPI_CONTAINER_READ);
        assert_string_equal(r.object, "..");
        assert_string_equal(r.rest, "/json");
        dapi_route_release(&r);
}

static void test_route_null(void **state)
{
        (void)state;
        struct dapi_route r;
        dapi_route(NULL, "/containers/json", &r);
        assert_int_equal(r.op, DAPI_REFUSE);
        assert_non_null(r.refusal);
        assert_null(r.object);
        dapi_route_release(&r);

        dapi_route(NULL, "/containers/abc/json", &r);
        assert_int_equal(r.op, DAPI_REFUSE);
        assert_null(r.object);
        assert_null(r.rest);
        dapi_route_release(&r);

        dapi_route("GET", NULL, &r);
        assert_int_equal(r.op, DAPI_REFUSE);
        assert_string_equal(r.version, "");
        assert_null(r.object);
        dapi_route_release(&r);

        dapi_route(NULL, NULL, &r);
        assert_int_equal(r.op, DAPI_REFUSE);
        dapi_route_release(&r);
}

/* The version buffer holds the longest accepted version and its NUL; one longer is no version. */
static void test_route_version_length(void **state)
{
        (void)state;
        struct dapi_route r;
        dapi_route("GET", "/v123456789012.45/containers/json", &r);
        assert_int_equal(r.op, DAPI_CONTAINER_LIST);
        assert_string_equal(r.version, "123456789012.45");
        dapi_route_release(&r);
        dapi_route("GET", "/v1234567890123.45/containers/json", &r);
        assert_int_equal(r.op, DAPI_REFUSE);
        assert_string_equal(r.version, "");
        dapi_route_release(&r);
}

static void test_hijacks(void **state)
{
        (void)state;
        for (int op = DAPI_REFUSE; op <= DAPI_IMAGE_INSPECT; op++)
                assert_int_equal(dapi_op_hijacks((enum dapi_op)op),
                                 op == DAPI_CONTAINER_ATTACH || op == DAPI_EXEC_START);
        struct dapi_route r;
        dapi_route("POST", "/v1.41/containers/abc/attach", &r);
        assert_true(dapi_op_hijacks(r.op));
        dapi_route_release(&r);
        dapi_route("POST", "/exec/e1/start", &r);
        assert_true(dapi_op_hijacks(r.op));
        dapi_route_release(&r);
        dapi_route("GET", "/containers/abc/logs", &r);
        assert_false(dapi_op_hijacks(r.op));
        dapi_route_release(&r);
}

/* ---- dapi_filters_with_label ---- */

#define LABEL "ds01.instance=test"

static void check_filters(const char *in, const char *want)
{
        struct error *err = NULL;
        _cleanup_free_ char *out = dapi_filters_with_label(in, LABEL, &err);
        assert_null(err);
        assert_non_null(out);
        json_t *got = json_loads(out, 0, NULL);
        json_t *exp = json_loads(want, 0, NULL);
        assert_non_null(got);
        assert_non_null(exp);
        if (!json_equal(got, exp))
                fail_msg("filters %s: got %s, want %s", in ? in : "(null)", out, want);
        json_decref(got);
        json_decref(exp);
}

static void test_filters(void **state)
{
        (void)state;
        check_filters(NULL, "{\"label\":[\"" LABEL "\"]}");
        check_filters("", "{\"label\":[\"" LABEL "\"]}");
        check_filters("{}", "{\"label\":[\"" LABEL "\"]}");
        check_filters("{\"name\":[\"x\"]}", "{\"name\":[\"x\"],\"label\":[\"" LABEL "\"]}");
        check_filters("{\"status\":[\"running\"],\"name\":[\"a\",\"b\"]}",
                      "{\"status\":[\"running\"],\"name\":[\"a\",\"b\"],\"label\":[\"" LABEL
                      "\"]}");
        check_filters("{\"label\":[\"a=b\"]}", "{\"label\":[\"a=b\",\"" LABEL "\"]}");
        check_filters("{\"label\":[]}", "{\"label\":[\"" LABEL "\"]}");
        check_filters("{\"label\":{\"a=b\":true}}",
                      "{\"label\":{\"a=b\":true,\"" LABEL "\":true}}");
        check_filters("{\"label\":{\"" LABEL "\":false}}", "{\"label\":{\"" LABEL "\":true}}");
        check_filters("{\"name\":{\"x\":true}}",
                      "{\"name\":{\"x\":true},\"label\":[\"" LABEL "\"]}");
}

static void test_filters_invalid(void **state)
{
        (void)state;
        static const char *const bad[] = {
            "[]",
            "[\"label\"]",
            "5",
            "\"label\"",
            "null",
            "{",
            "{}x",
            "{\"label\":5}",
            "{\"label\":\"x\"}",
            "{\"label\":null}",
            "label",
            "{\"label\":true}",
            "not json at all",
        };
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                struct error *err = NULL;
                char *out = dapi_filters_with_label(bad[i], LABEL, &err);
                if (out || !err || err->code != DS01_EUSAGE || !strstr(err->message, "filters"))
                        fail_msg("filters %s: got %s", bad[i], out ? out : "NULL");
                error_free(err);
        }
}

/* ---- dapi_exec_body ---- */

#define UID 1500
#define GID 1600

static struct caller alice(void)
{
        return (struct caller){.uid = UID, .gid = GID, .login = (char *)"alice"};
}

static void check_exec_ok(const char *body)
{
        struct caller c = alice();
        struct error *err = NULL;
        json_t *b = dapi_exec_body(body, strlen(body), &c, &err);
        if (!b)
                fail_msg("exec %s refused: %s", body, err ? err->message : "?");
        assert_null(err);
        assert_string_equal(json_string_value(json_object_get(b, "User")), "1500:1600");
        assert_true(json_is_false(json_object_get(b, "Privileged")));
        /* The rest of the request is the client's. */
        json_t *in = json_loads(body, 0, NULL);
        const char *key;
        json_t *value;
        json_object_foreach (in, key, value) {
                if (!streq(key, "User") && !streq(key, "Privileged"))
                        assert_true(json_equal(json_object_get(b, key), value));
        }
        json_decref(in);
        json_decref(b);
}

static void check_exec_refused(const char *body, int code, const char *why)
{
        struct caller c = alice();
        struct error *err = NULL;
        json_t *b = dapi_exec_body(body, body ? strlen(body) : 0, &c, &err);
        if (b || !err || err->code != code)
                fail_msg("exec %s: not refused with code %d", body ? body : "(null)", code);
        if (!strstr(err->message, why))
                fail_msg("exec %s: '%s' does not say '%s'", body, err->message, why);
        error_free(err);
}

static void test_exec_accepted(void **state)
{
        (void)state;
        check_exec_ok("{}");
        check_exec_ok("{\"Cmd\":[\"bash\"],\"Tty\":true,\"AttachStdin\":true}");
        check_exec_ok("{\"User\":\"\",\"Cmd\":[\"id\"]}");
        check_exec_ok("{\"User\":\"1500\"}");
        check_exec_ok("{\"User\":\"1500:1600\"}");
        check_exec_ok("{\"User\":\"alice\",\"Env\":[\"A=1\"],\"WorkingDir\":\"/workspace\"}");
        check_exec_ok("{\"User\":\"alice:1600\"}");
        check_exec_ok("{\"Privileged\":false,\"Cmd\":[\"ls\"]}");
        check_exec_ok("{\"Privileged\":null}");
        /* Repeated keys: the last is the one read, here and by Docker; one is sent on. */
        check_exec_ok("{\"User\":\"0\",\"User\":\"1500\"}");
}

static void test_exec_refused(void **state)
{
        (void)state;
        static const char *const others[] = {
            "{\"User\":\"0\"}",
            "{\"User\":\"root\"}",
            "{\"User\":\"0:0\"}",
            "{\"User\":\"1501\"}",
            "{\"User\":\"bob\"}",
            "{\"User\":\"1500:0\"}",
            "{\"User\":\"1500:1500\"}",
            "{\"User\":\"alice:alice\"}",
            "{\"User\":\"alice:\"}",
            "{\"User\":\"1500:1600:x\"}",
            "{\"User\":\" 1500\"}",
            "{\"User\":\"01500\"}",
            "{\"User\":\":1600\"}",
            "{\"User\":\"root:1600\"}",
            "{\"User\":\"1500\",\"User\":\"0\"}",
        };
        for (size_t i = 0; i < ARRAY_SIZE(others); i++)
                check_exec_refused(others[i], DS01_EPERM, "run as you");
        check_exec_refused("{\"Privileged\":true}", DS01_EPERM, "privileged");
        check_exec_refused("{\"User\":\"1500\",\"Privileged\":true}", DS01_EPERM, "privileged");
        check_exec_refused("{\"User\":\"0\",\"Privileged\":true}", DS01_EPERM, "run as you");
}

/* Docker (Go) reads object keys case-insensitively and takes the last: another spelling of User
 * or Privileged would override the checked one. */
static void test_exec_other_spellings(void **state)
{
        (void)state;
        static const char *const bodies[] = {
            "{\"User\":\"\",\"user\":\"root\"}",
            "{\"user\":\"0\"}",
            "{\"USER\":\"0\"}",
            "{\"User\":\"1500\",\"uSeR\":\"1500\"}",
            "{\"U\xc5\xbf"
            "er\":\"0\"}", /* U+017F, which Go folds to 's' */
            "{\"Privileged\":false,\"privileged\":true}",
            "{\"PRIVILEGED\":true}",
            "{\"privileged\":false}",
        };
        for (size_t i = 0; i < ARRAY_SIZE(bodies); i++)
                check_exec_refused(bodies[i], DS01_EUSAGE, "spell it so");
        /* Keys that only look alike are the client's. */
        check_exec_ok("{\"Users\":\"0\",\"Use\":\"0\",\"xUser\":\"0\",\"Privilege\":true}");
}

static void test_exec_invalid(void **state)
{
        (void)state;
        check_exec_refused("not json", DS01_EUSAGE, "JSON object");
        check_exec_refused("", DS01_EUSAGE, "JSON object");
        check_exec_refused(NULL, DS01_EUSAGE, "JSON object");
        check_exec_refused("[]", DS01_EUSAGE, "JSON object");
        check_exec_refused("[{\"User\":\"0\"}]", DS01_EUSAGE, "JSON object");
        check_exec_refused("\"User\"", DS01_EUSAGE, "JSON object");
        check_exec_refused("{\"User\":\"1500\"} {}", DS01_EUSAGE, "JSON object");
        check_exec_refused("{\"User\":5}", DS01_EUSAGE, "must be a string");
        check_exec_refused("{\"User\":0}", DS01_EUSAGE, "must be a string");
        check_exec_refused("{\"User\":null}", DS01_EUSAGE, "must be a string");
        check_exec_refused("{\"User\":[\"root\"]}", DS01_EUSAGE, "must be a string");
        check_exec_refused("{\"User\":{}}", DS01_EUSAGE, "must be a string");
}

/* The body is len bytes, not a string: a NUL or what follows it is not read as more JSON. */
static void test_exec_length(void **state)
{
        (void)state;
        struct caller c = alice();
        struct error *err = NULL;
        const char body[] = "{\"User\":\"1500\"}{\"User\":\"0\"}";
        json_t *b = dapi_exec_body(body, strlen("{\"User\":\"1500\"}"), &c, &err);
        assert_non_null(b);
        assert_string_equal(json_string_value(json_object_get(b, "User")), "1500:1600");
        json_decref(b);
        b = dapi_exec_body(body, sizeof(body) - 1, &c, &err);
        assert_null(b);
        assert_int_equal(err->code, DS01_EUSAGE);
        error_free(err);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_route_table),
            cmocka_unit_test(test_route_dot_object_is_not_an_action),
            cmocka_unit_test(test_route_null),
            cmocka_unit_test(test_route_version_length),
            cmocka_unit_test(test_hijacks),
            cmocka_unit_test(test_filters),
            cmocka_unit_test(test_filters_invalid),
            cmocka_unit_test(test_exec_accepted),
            cmocka_unit_test(test_exec_refused),
            cmocka_unit_test(test_exec_other_spellings),
            cmocka_unit_test(test_exec_invalid),
            cmocka_unit_test(test_exec_length),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
