/* test-dockerapi.c - the Docker API endpoint's pure parts, as a client would notice them: which
 * method and path become which call (dapi_route: the version prefix, the object as named, what is
 * refused and with which advice, "No such object" for kinds ds01 does not offer, malformed paths
 * refused and never a call on another object), the `filters` of a container list with ds01's
 * label added (dapi_filters_with_label) and an exec create body checked and rewritten for the
 * caller (dapi_exec_body: never root, another user, another group or privileged), a network
 * create read as a view of the caller's network (dapi_network_create_body: Compose's only,
 * nothing a view cannot give) and a list's filters on views, and a create body on a view or with
 * links (dapi_create_params). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "daemon/docker/dockerjson.h"
#include "daemon/dockerapi/create.h"
#include "daemon/dockerapi/networks.h"
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
    {"POST", "/build", DAPI_REFUSE, NULL, NULL, NULL, "image-create PROJECT"},
    {"POST", "/v1.41/build", DAPI_REFUSE, "1.41", NULL, NULL, "image-update"},
    {"POST", "/build/cancel", DAPI_REFUSE, NULL, NULL, NULL, "image-create"},
    {"POST", "/build/prune", DAPI_REFUSE, NULL, NULL, NULL, "container-retire"},
    {"POST", "/session", DAPI_REFUSE, NULL, NULL, NULL, "image-create"},

    /* Networks: views of the caller's own network (networks.h). */
    {"GET", "/v1.41/networks", DAPI_NETWORK_LIST, "1.41"},
    {"POST", "/v1.41/networks/create", DAPI_NETWORK_CREATE, "1.41"},
    {"GET", "/networks/shop_default", DAPI_NETWORK_INSPECT, NULL, "shop_default", ""},
    {"DELETE", "/networks/shop_default", DAPI_NETWORK_REMOVE, NULL, "shop_default", ""},
    {"POST", "/networks/n/connect", DAPI_NETWORK_CONNECT, NULL, "n", "/connect"},
    {"POST", "/networks/n/disconnect", DAPI_NETWORK_CONNECT, NULL, "n", "/disconnect"},
    {"GET", "/networks/n/connect", DAPI_REFUSE, NULL, NULL, NULL, "private network"},
    {"POST", "/networks/a/../b/connect", DAPI_REFUSE, NULL, NULL, NULL, "private network"},

    /* Kinds ds01 does not offer: refused with what to use, or "No such object" for inspect. */
    {"POST", "/swarm/init", DAPI_REFUSE, NULL, NULL, NULL, "swarm"},
    {"GET", "/services", DAPI_REFUSE, NULL, NULL, NULL, "swarm"},
    {"POST", "/secrets/create", DAPI_REFUSE, NULL, NULL, NULL, "swarm"},
    {"GET", "/plugins", DAPI_REFUSE, NULL, NULL, NULL, "administrators"},
    {"POST", "/plugins/pull", DAPI_REFUSE, NULL, NULL, NULL, "administrators"},
    {"POST", "/volumes/create", DAPI_REFUSE, NULL, NULL, NULL, "~/workspace/PROJECT"},
    {"GET", "/volumes", DAPI_REFUSE, NULL, NULL, NULL, "/workspace"},
    {"DELETE", "/volumes/v", DAPI_REFUSE, NULL, NULL, NULL, "/workspace"},
    {"GET", "/networks/", DAPI_REFUSE, NULL, NULL, NULL, "private network"},
    {"GET", "/networks/create", DAPI_REFUSE, NULL, NULL, NULL, "private network"},
    {"PUT", "/networks/create", DAPI_REFUSE, NULL, NULL, NULL, "private network"},
    {"POST", "/networks/x/update", DAPI_REFUSE, NULL, NULL, NULL, "private network"},
    {"GET", "/networks/x/json", DAPI_REFUSE, NULL, NULL, NULL, "private network"},
    {"DELETE", "/networks", DAPI_REFUSE, NULL, NULL, NULL, "private network"},
    {"POST", "/system/prune", DAPI_REFUSE, NULL, NULL, NULL, "container-retire"},
    {"POST", "/volumes/prune", DAPI_REFUSE, NULL, NULL, NULL, "container-retire"},
    {"POST", "/networks/prune", DAPI_REFUSE, NULL, NULL, NULL, "container-retire"},
    {"GET", "/v1.41/events", DAPI_EVENTS, "1.41"},
    {"POST", "/events", DAPI_REFUSE, NULL, NULL, NULL, "not available"},
    {"GET", "/events/x", DAPI_REFUSE, NULL, NULL, NULL, "not available"},
    {"GET", "/system/df", DAPI_REFUSE, NULL, NULL, NULL, "not available"},
    {"POST", "/auth", DAPI_REFUSE, NULL, NULL, NULL, "not available"},
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
        for (int op = DAPI_REFUSE; op <= DAPI_EVENTS; op++)
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
        /* Docker reads all of one form or all of the other: the label in the client's */
        check_filters("{\"name\":{\"x\":true}}",
                      "{\"name\":{\"x\":true},\"label\":{\"" LABEL "\":true}}");
        check_filters("{\"event\":{\"start\":true},\"type\":[\"container\"]}",
                      "{\"event\":{\"start\":true},\"type\":[\"container\"],\"label\":{\"" LABEL
                      "\":true}}");
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

/* ---- networks: views of the caller's network (networks.h) ---- */

#define COMPOSE_LABELS                                                                             \
        "\"Labels\":{\"com.docker.compose.project\":\"shop\","                                     \
        "\"com.docker.compose.network\":\"default\"}"

static void check_network_ok(const char *body, const char *want_name)
{
        char *name = NULL;
        json_t *labels = NULL;
        struct error *err = NULL;
        if (dapi_network_create_body(body, body ? strlen(body) : 0, &name, &labels, &err) < 0)
                fail_msg("%s: refused: %s", body, err->message);
        assert_string_equal(name, want_name);
        assert_string_equal(jstr(labels, "com.docker.compose.project"), "shop");
        free(name);
        json_decref(labels);
}

static void check_network_refused(const char *body, int code, const char *why)
{
        char *name = (char *)"unset";
        json_t *labels = (json_t *)1;
        struct error *err = NULL;
        assert_int_equal(
            dapi_network_create_body(body, body ? strlen(body) : 0, &name, &labels, &err), -1);
        assert_null(name);
        assert_null(labels);
        if (err->code != code || !strstr(err->message, why))
                fail_msg("%s: code %d '%s', want %d '%s'", body, err->code, err->message, code,
                         why);
        error_free(err);
}

/* Compose's create (docker-compose 1.29) and the docker CLI's defaults, with Compose's labels,
 * are views; anything a view cannot give is refused naming it. */
static void test_network_create(void **state)
{
        (void)state;
        check_network_ok("{\"Name\":\"shop_default\",\"CheckDuplicate\":true," COMPOSE_LABELS
                         ",\"Attachable\":true}",
                         "shop_default");
        check_network_ok("{\"Name\":\"shop_back-end.1\",\"CheckDuplicate\":true,\"Driver\":"
                         "\"bridge\",\"Scope\":\"\",\"EnableIPv6\":false,\"IPAM\":{\"Driver\":"
                         "\"default\",\"Options\":{},\"Config\":[]},\"Internal\":false,"
                         "\"Attachable\":false,\"Ingress\":false,\"ConfigOnly\":false,"
                         "\"ConfigFrom\":{\"Network\":\"\"},\"Options\":{}," COMPOSE_LABELS "}",
                         "shop_back-end.1");
        /* not Compose's: docker network create */
        check_network_refused("{\"Name\":\"mynet\"}", DS01_EPERM, "private network");
        check_network_refused("{\"Name\":\"mynet\",\"Labels\":{\"com.docker.compose.project\":"
                              "\"shop\"}}",
                              DS01_EPERM, "private network");
        /* what a view cannot give */
        check_network_refused("{\"Name\":\"n\",\"Driver\":\"overlay\"," COMPOSE_LABELS "}",
                              DS01_EPERM, "driver overlay");
        check_network_refused("{\"Name\":\"n\",\"Driver\":\"macvlan\"," COMPOSE_LABELS "}",
                              DS01_EPERM, "driver macvlan");
        check_network_refused("{\"Name\":\"n\",\"Internal\":true," COMPOSE_LABELS "}", DS01_EPERM,
                              "internal");
        check_network_refused("{\"Name\":\"n\",\"EnableIPv6\":true," COMPOSE_LABELS "}", DS01_EPERM,
                              "IPv6");
        check_network_refused("{\"Name\":\"n\",\"Options\":{\"com.docker.network.bridge.name\":"
                              "\"eth0\"}," COMPOSE_LABELS "}",
                              DS01_EPERM, "driver options");
        check_network_refused(
            "{\"Name\":\"n\",\"IPAM\":{\"Config\":[{\"Subnet\":\"10.0.0.0/8\"}]}," COMPOSE_LABELS
            "}",
            DS01_EPERM, "subnet");
        check_network_refused("{\"Name\":\"n\",\"IPAM\":{\"Driver\":\"dhcp\"}," COMPOSE_LABELS "}",
                              DS01_EPERM, "IPAM driver");
        check_network_refused("{\"Name\":\"n\",\"Ingress\":true," COMPOSE_LABELS "}", DS01_EPERM,
                              "swarm");
        check_network_refused("{\"Name\":\"n\",\"ConfigFrom\":{\"Network\":\"x\"}," COMPOSE_LABELS
                              "}",
                              DS01_EPERM, "config-only");
        check_network_refused("{\"Name\":\"n\",\"Scope\":\"swarm\"," COMPOSE_LABELS "}", DS01_EPERM,
                              "scope");
        /* names */
        check_network_refused("{\"Name\":\"bridge\"," COMPOSE_LABELS "}", DS01_EUSAGE,
                              "invalid network name");
        check_network_refused("{\"Name\":\"host\"," COMPOSE_LABELS "}", DS01_EUSAGE,
                              "invalid network name");
        check_network_refused("{\"Name\":\"-x\"," COMPOSE_LABELS "}", DS01_EUSAGE,
                              "invalid network name");
        check_network_refused("{\"Name\":\"a/b\"," COMPOSE_LABELS "}", DS01_EUSAGE,
                              "invalid network name");
        check_network_refused("{\"Name\":\"\"," COMPOSE_LABELS "}", DS01_EUSAGE,
                              "invalid network name");
        check_network_refused("{" COMPOSE_LABELS "}", DS01_EUSAGE, "invalid network name");
        /* malformed */
        check_network_refused("{\"Name\":\"n\",\"Driverx\":\"x\"," COMPOSE_LABELS "}", DS01_EUSAGE,
                              "unknown key");
        check_network_refused("{\"Name\":\"n\",\"Labels\":[]}", DS01_EUSAGE, "Labels");
        check_network_refused("[]", DS01_EUSAGE, "JSON object");
        check_network_refused(NULL, DS01_EUSAGE, "JSON object");
}

static int matches(const json_t *net, const char *filters)
{
        struct error *err = NULL;
        int r = dapi_network_matches(net, filters, &err);
        if (r < 0) {
                assert_int_equal(err->code, DS01_EUSAGE);
                error_free(err);
        }
        return r;
}

static void test_network_filters(void **state)
{
        (void)state;
        json_t *net = json_pack("{s:s, s:s, s:{s:s, s:s}}", "Name", "shop_default", "Id", "abc123",
                                "Labels", "com.docker.compose.project", "shop", "x", "");
        assert_int_equal(matches(net, NULL), 1);
        assert_int_equal(matches(net, ""), 1);
        assert_int_equal(matches(net, "{}"), 1);
        assert_int_equal(matches(net, "{\"name\":[\"shop_default\"]}"), 1);
        assert_int_equal(matches(net, "{\"name\":[\"shop\"]}"), 1);
        assert_int_equal(matches(net, "{\"name\":{\"other\":true,\"default\":true}}"), 1);
        assert_int_equal(matches(net, "{\"name\":[\"other\"]}"), 0);
        assert_int_equal(matches(net, "{\"id\":[\"abc\"]}"), 1);
        assert_int_equal(matches(net, "{\"id\":[\"bc\"]}"), 0);
        assert_int_equal(matches(net, "{\"label\":[\"com.docker.compose.project=shop\"]}"), 1);
        assert_int_equal(matches(net, "{\"label\":[\"com.docker.compose.project\",\"x\"]}"), 1);
        assert_int_equal(matches(net, "{\"label\":[\"com.docker.compose.project=other\"]}"), 0);
        assert_int_equal(matches(net, "{\"label\":[\"x\",\"y\"]}"), 0); /* all must match */
        assert_int_equal(matches(net, "{\"driver\":[\"bridge\"],\"type\":[\"custom\"],"
                                      "\"scope\":[\"local\"]}"),
                         1);
        assert_int_equal(matches(net, "{\"driver\":[\"overlay\"]}"), 0);
        assert_int_equal(matches(net, "{\"type\":[\"builtin\"]}"), 0);
        assert_int_equal(matches(net, "{\"dangling\":[\"true\"]}"), -1);
        assert_int_equal(matches(net, "{\"name\":\"x\"}"), -1);
        assert_int_equal(matches(net, "{\"name\":[1]}"), -1);
        assert_int_equal(matches(net, "[]"), -1);
        json_decref(net);
}

/* ---- dapi_create_params: networks and links ---- */

static json_t *create_params(const char *body, const char *view, const json_t *links,
                             struct error **err)
{
        struct caller c = {
            .uid = UID, .gid = GID, .login = (char *)"alice", .user_part = (char *)"alice"};
        json_t *b = json_loads(body, 0, NULL);
        assert_non_null(b);
        json_t *img = json_pack("{s:{s:[s]}}", "Config", "Cmd", "sh");
        struct dapi_create_in in = {.body = b,
                                    .name = "shop_web_1",
                                    .c = &c,
                                    .workspace_dir = "/home/alice/workspace",
                                    .image = img,
                                    .generated_name = "docker-000000",
                                    .network_view = view,
                                    .links = links};
        json_t *p = dapi_create_params(&in, err);
        json_decref(b);
        json_decref(img);
        return p;
}

static void check_create_refused(const char *body, const char *view, const char *why)
{
        struct error *err = NULL;
        json_t *p = create_params(body, view, NULL, &err);
        if (p || err->code != DS01_EPERM || !strstr(err->message, why))
                fail_msg("%s: %s", body, p ? "accepted" : err->message);
        error_free(err);
}

/* Compose's create: its network is the caller's view, the service's aliases kept; its project
 * directory is the workspace. */
static void test_create_on_view(void **state)
{
        (void)state;
        const char *compose =
            "{\"Image\":\"img\",\"HostConfig\":{\"NetworkMode\":\"shop_default\",\"Links\":[],"
            "\"Binds\":[],\"PortBindings\":{},\"VolumesFrom\":[],\"LogConfig\":{\"Type\":\"\","
            "\"Config\":{}}},\"NetworkingConfig\":{\"EndpointsConfig\":{\"shop_default\":{"
            "\"Aliases\":[\"web\"],\"IPAMConfig\":{}}}},\"Labels\":{"
            "\"com.docker.compose.project\":\"shop\","
            "\"com.docker.compose.project.working_dir\":\"/home/alice/workspace/shop\"}}";
        struct error *err = NULL;
        json_t *p = create_params(compose, "shop_default", NULL, &err);
        if (!p)
                fail_msg("refused: %s", err->message);
        json_t *x = json_object_get(p, "docker");
        assert_string_equal(jstr(x, "interface"), "compose");
        assert_string_equal(json_string_value(json_array_get(json_object_get(x, "aliases"), 0)),
                            "web");
        assert_string_equal(jstr(x, "workspace"), "shop");
        assert_null(json_object_get(x, "links"));
        json_decref(p);

        /* the same network, not one of the caller's views: refused naming it */
        check_create_refused(compose, NULL, "--network shop_default");
        check_create_refused(compose, "other", "--network shop_default");
        /* what a view's endpoint cannot have */
        check_create_refused("{\"Image\":\"i\",\"HostConfig\":{\"NetworkMode\":\"v\"},"
                             "\"NetworkingConfig\":{\"EndpointsConfig\":{\"v\":{\"IPAMConfig\":{"
                             "\"IPv4Address\":\"10.0.0.5\"}}}}}",
                             "v", "--ip");
        check_create_refused("{\"Image\":\"i\",\"HostConfig\":{\"NetworkMode\":\"v\"},"
                             "\"NetworkingConfig\":{\"EndpointsConfig\":{\"v\":{\"MacAddress\":"
                             "\"02:42:ac:11:00:02\"}}}}",
                             "v", "--mac-address");
        check_create_refused("{\"Image\":\"i\",\"HostConfig\":{\"NetworkMode\":\"v\"},"
                             "\"NetworkingConfig\":{\"EndpointsConfig\":{\"v\":{},\"w\":{}}}}",
                             "v", "--network w");
        check_create_refused("{\"Image\":\"i\",\"HostConfig\":{\"NetworkMode\":\"host\"}}", "v",
                             "--network host");
        /* a working directory outside the caller's workspace is no workspace */
        p = create_params("{\"Image\":\"i\",\"Labels\":{\"com.docker.compose.project.working_dir\":"
                          "\"/home/bob/workspace/shop\"}}",
                          NULL, NULL, &err);
        assert_non_null(p);
        assert_null(json_object_get(json_object_get(p, "docker"), "workspace"));
        json_decref(p);
}

/* Links: only as the endpoint resolved them (the caller's own containers). */
static void test_create_links(void **state)
{
        (void)state;
        const char *body = "{\"Image\":\"i\",\"HostConfig\":{\"Links\":[\"web:db\"]}}";
        check_create_refused(body, NULL, "--link");
        json_t *links = json_pack("[s]", "shop_web_1._.alice:db");
        struct error *err = NULL;
        json_t *p = create_params(body, NULL, links, &err);
        assert_non_null(p);
        assert_true(json_equal(json_object_get(json_object_get(p, "docker"), "links"), links));
        json_decref(p);
        json_decref(links);
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
            cmocka_unit_test(test_network_create),
            cmocka_unit_test(test_network_filters),
            cmocka_unit_test(test_create_on_view),
            cmocka_unit_test(test_create_links),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
