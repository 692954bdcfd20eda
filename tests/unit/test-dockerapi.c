/* test-dockerapi.c - the Docker API endpoint's pure parts, as a client would notice them: which
 * method and path become which call (dapi_route: the version prefix, the object as named, what is
 * refused and with which advice, "No such object" for kinds ds01 does not offer, malformed paths
 * refused and never a call on another object), the `filters` of a container list with ds01's
 * label added (dapi_filters_with_label), an exec create body checked and rewritten for the
 * caller (dapi_exec_body: never root, another user, another group or privileged), a container
 * create body read as a deploy (dapi_create_params: the project, command, GPUs, extras and
 * workspace a client asks for; every option that gives more refused, naming it; no other spelling
 * of a key read; the final Docker body confined whatever was sent; on a network view or with
 * links), and a network create read as a view of the caller's network
 * (dapi_network_create_body: Compose's only, nothing a view cannot give) and a list's filters
 * on views. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "daemon/containers/extras.h"
#include "daemon/containers/spec.h"
#include "daemon/docker/dockerjson.h"
#include "daemon/dockerapi/create.h"
#include "daemon/dockerapi/networks.h"
#include "daemon/dockerapi/objects.h"
#include "daemon/dockerapi/routes.h"
#include "shared/names.h"
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
    {"GET", "/containers/abc/archive", DAPI_COPY_OUT, NULL, "abc", "/archive"},
    {"HEAD", "/containers/abc/archive", DAPI_COPY_OUT, NULL, "abc", "/archive"},
    {"POST", "/containers/abc/archive", DAPI_REFUSE, NULL, NULL, NULL, OTHER},
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
    {"PUT", "/containers/x/archive", DAPI_COPY_IN, NULL, "x", "/archive"},
    {"PUT", "/v1.41/containers/x/archive", DAPI_COPY_IN, "1.41", "x", "/archive"},
    {"PUT", "/containers/x/json", DAPI_REFUSE, NULL, NULL, NULL, OTHER},
    {"POST", "/containers/abc/rename", DAPI_CONTAINER_RENAME, NULL, "abc", "/rename"},
    {"GET", "/containers/abc/rename", DAPI_REFUSE, NULL, NULL, NULL, "container-retire"},
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
        return (struct caller){
            .uid = UID, .gid = GID, .login = (char *)"alice", .user_part = (char *)"alice"};
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
            ("{\"U\xc5\xbf"
             "er\":\"0\"}"), /* U+017F, which Go folds to 's' */
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

/* ---- dapi_create_params ---- */

#define WSD "/home/alice/workspace"
#define GEN "docker-0a1b2c"

/* What the docker CLI (24) sends for `docker run ubuntu echo hi`: every field, mostly empty. */
#define DOCKER_RUN_BODY                                                                            \
        "{\"Hostname\":\"\",\"Domainname\":\"\",\"User\":\"\",\"AttachStdin\":false,"              \
        "\"AttachStdout\":true,\"AttachStderr\":true,\"Tty\":false,\"OpenStdin\":false,"           \
        "\"StdinOnce\":false,\"Env\":[],\"Cmd\":[\"echo\",\"hi\"],\"Image\":\"ubuntu\","           \
        "\"Volumes\":{},\"WorkingDir\":\"\",\"Entrypoint\":null,\"OnBuild\":null,\"Labels\":{},"   \
        "\"HostConfig\":{\"Binds\":null,\"ContainerIDFile\":\"\",\"LogConfig\":{\"Type\":\"\","    \
        "\"Config\":{}},\"NetworkMode\":\"default\",\"PortBindings\":{},\"RestartPolicy\":{"       \
        "\"Name\":\"no\",\"MaximumRetryCount\":0},\"AutoRemove\":false,\"VolumeDriver\":\"\","     \
        "\"VolumesFrom\":null,\"ConsoleSize\":[40,120],\"CapAdd\":null,\"CapDrop\":null,"          \
        "\"CgroupnsMode\":\"\",\"Dns\":[],\"DnsOptions\":[],\"DnsSearch\":[],\"ExtraHosts\":null," \
        "\"GroupAdd\":null,\"IpcMode\":\"\",\"Cgroup\":\"\",\"Links\":null,\"OomScoreAdj\":0,"     \
        "\"PidMode\":\"\",\"Privileged\":false,\"PublishAllPorts\":false,\"ReadonlyRootfs\":"      \
        "false,"                                                                                   \
        "\"SecurityOpt\":null,\"UTSMode\":\"\",\"UsernsMode\":\"\",\"ShmSize\":0,"                 \
        "\"Isolation\":\"\",\"CpuShares\":0,\"Memory\":0,\"NanoCpus\":0,\"CgroupParent\":\"\","    \
        "\"BlkioWeight\":0,\"BlkioWeightDevice\":[],\"BlkioDeviceReadBps\":[],"                    \
        "\"BlkioDeviceWriteBps\":[],\"BlkioDeviceReadIOps\":[],\"BlkioDeviceWriteIOps\":[],"       \
        "\"CpuPeriod\":0,\"CpuQuota\":0,\"CpuRealtimePeriod\":0,\"CpuRealtimeRuntime\":0,"         \
        "\"CpusetCpus\":\"\",\"CpusetMems\":\"\",\"Devices\":[],\"DeviceCgroupRules\":null,"       \
        "\"DeviceRequests\":null,\"MemoryReservation\":0,\"MemorySwap\":0,"                        \
        "\"MemorySwappiness\":null,\"OomKillDisable\":false,\"PidsLimit\":null,\"Ulimits\":[],"    \
        "\"CpuCount\":0,\"CpuPercent\":0,\"IOMaximumIOps\":0,\"IOMaximumBandwidth\":0,"            \
        "\"MaskedPaths\":null,\"ReadonlyPaths\":null},"                                            \
        "\"NetworkingConfig\":{\"EndpointsConfig\":{}}}"

/* The image's defaults: ENTRYPOINT ["/entry"], CMD ["bash"]. */
static json_t *image_defaults(void)
{
        return json_pack("{s:{s:[s], s:[s]}}", "Config", "Entrypoint", "/entry", "Cmd", "bash");
}

/* dapi_create_params on body (JSON text, any value) with ?name=name and the image img. */
static json_t *create_with(const char *body, const char *name, const json_t *img,
                           struct error **err)
{
        struct caller c = alice();
        json_error_t jerr;
        json_t *b = json_loads(body, JSON_DECODE_ANY, &jerr);
        if (!b)
                fail_msg("test body %s: %s", body, jerr.text);
        struct dapi_create_in in = {.body = b,
                                    .name = name,
                                    .c = &c,
                                    .workspace_dir = WSD,
                                    .image = img,
                                    .generated_name = GEN};
        json_t *p = dapi_create_params(&in, err);
        json_decref(b);
        return p;
}

/* An accepted body's params: container.deploy's keys only, never started, a valid project,
 * CPU-only or 1..64 GPUs, a command, and extras the deploy takes. */
static json_t *create_ok_img(const char *body, const char *name, const json_t *img)
{
        struct error *err = NULL;
        json_t *p = create_with(body, name, img, &err);
        if (!p)
                fail_msg("create %s refused: %s", body, err ? err->message : "?");
        assert_null(err);
        static const char *const keys[] = {"project", "image",    "cmd",  "start",
                                           "docker",  "cpu_only", "gpus", NULL};
        const char *k;
        json_t *v;
        json_object_foreach (p, k, v) {
                bool known = false;
                for (size_t i = 0; keys[i]; i++)
                        known = known || streq(k, keys[i]);
                if (!known)
                        fail_msg("create %s: the params have '%s'", body, k);
        }
        assert_true(json_is_false(json_object_get(p, "start")));
        assert_int_equal(
            names_check_project(json_string_value(json_object_get(p, "project")), NULL), 0);
        json_t *gpus = json_object_get(p, "gpus");
        if (gpus)
                assert_true(json_integer_value(gpus) >= 1 && json_integer_value(gpus) <= 64 &&
                            !json_object_get(p, "cpu_only"));
        else
                assert_true(json_is_true(json_object_get(p, "cpu_only")));
        size_t n = json_array_size(json_object_get(p, "cmd"));
        assert_true(n >= 1 && n <= 256);
        struct deploy_extras x;
        if (extras_parse(json_object_get(p, "docker"), &x, &err) < 0)
                fail_msg("create %s: the deploy refuses its extras: %s", body, err->message);
        extras_release(&x);
        return p;
}

static json_t *create_ok(const char *body, const char *name)
{
        json_t *img = image_defaults();
        json_t *p = create_ok_img(body, name, img);
        json_decref(img);
        return p;
}

static void create_refused_img(const char *body, const char *name, const json_t *img, int code,
                               const char *why)
{
        struct error *err = NULL;
        json_t *p = create_with(body, name, img, &err);
        if (p) {
                char *s = json_dumps(p, JSON_COMPACT);
                fail_msg("create %s (name %s) accepted: %s", body, name ? name : "-", s);
        }
        if (!err || err->code != code)
                fail_msg("create %s: code %d, not %d (%s)", body, err ? err->code : -1, code,
                         err ? err->message : "");
        if (!strstr(err->message, why))
                fail_msg("create %s: '%s' does not say '%s'", body, err->message, why);
        error_free(err);
}

static void create_refused(const char *body, int code, const char *why)
{
        json_t *img = image_defaults();
        create_refused_img(body, NULL, img, code, why);
        json_decref(img);
}

/* v equals the JSON text want. */
static void assert_json(const json_t *v, const char *want)
{
        json_t *w = json_loads(want, JSON_DECODE_ANY, NULL);
        assert_non_null(w);
        if (!json_equal(v, w)) {
                char *got = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
                fail_msg("got %s, want %s", got ? got : "NULL", want);
        }
        json_decref(w);
}

static json_t *docker_of(json_t *p)
{
        json_t *x = json_object_get(p, "docker");
        assert_true(json_is_object(x));
        return x;
}

static void test_create_run(void **state)
{
        (void)state;
        json_t *p = create_ok(DOCKER_RUN_BODY, NULL);
        assert_json(p, "{\"project\":\"" GEN "\",\"image\":\"ubuntu\","
                       "\"cmd\":[\"/entry\",\"echo\",\"hi\"],\"start\":false,\"cpu_only\":true,"
                       "\"docker\":{\"interface\":\"docker\",\"env\":[],\"labels\":{},"
                       "\"tty\":false,\"open_stdin\":false,\"stdin_once\":false,"
                       "\"auto_remove\":false,\"targets\":[]}}");
        json_decref(p);

        /* The least a client may send. */
        p = create_ok("{\"Image\":\"ubuntu\",\"Cmd\":[\"ls\"]}", NULL);
        assert_json(p, "{\"project\":\"" GEN "\",\"image\":\"ubuntu\",\"cmd\":[\"/entry\",\"ls\"],"
                       "\"start\":false,\"cpu_only\":true,"
                       "\"docker\":{\"interface\":\"docker\",\"env\":null,\"labels\":null,"
                       "\"tty\":false,\"open_stdin\":false,\"stdin_once\":false,"
                       "\"auto_remove\":false,\"targets\":[]}}");
        json_decref(p);
}

/* The project: ?name= without a leading '/' or the caller's "._.alice"; or the generated name. */
static void test_create_name(void **state)
{
        (void)state;
        static const char *const names[][2] = {
            {"web", "web"},
            {"/web", "web"},
            {"web._.alice", "web"},
            {"/web._.alice", "web"},
            {"my_proj-2", "my_proj-2"},
            {"", GEN},
            {"0", "0"},
        };
        for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
                json_t *p = create_ok("{\"Image\":\"u\"}", names[i][0]);
                assert_string_equal(json_string_value(json_object_get(p, "project")), names[i][1]);
                json_decref(p);
        }
        json_t *p = create_ok("{\"Image\":\"u\"}", NULL);
        assert_string_equal(json_string_value(json_object_get(p, "project")), GEN);
        json_decref(p);

        json_t *img = image_defaults();
        static const char *const bad[] = {
            "UPPER", "a/b",       "../x",     "..",         "/",
            "//web", "web._.bob", "._.alice", "web.x",      "-web",
            "web/",  "web ",      "web\n",    "a._.alice.", "web._.alice._.alice"};
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
                create_refused_img("{\"Image\":\"u\"}", bad[i], img, DS01_EUSAGE, "project name");
        json_decref(img);
}

/* Docker's rule for the command: the client's entrypoint drops the image's Cmd, an empty Cmd is
 * the image's, --entrypoint "" clears it. */
static void test_create_command(void **state)
{
        (void)state;
        static const char *const cases[][2] = {
            {"{\"Image\":\"u\"}", "[\"/entry\",\"bash\"]"},
            {"{\"Image\":\"u\",\"Entrypoint\":null,\"Cmd\":null}", "[\"/entry\",\"bash\"]"},
            {"{\"Image\":\"u\",\"Cmd\":[\"ls\",\"-l\"]}", "[\"/entry\",\"ls\",\"-l\"]"},
            {"{\"Image\":\"u\",\"Cmd\":[]}", "[\"/entry\",\"bash\"]"},
            {"{\"Image\":\"u\",\"Cmd\":\"ls\"}", "[\"/entry\",\"ls\"]"},
            {"{\"Image\":\"u\",\"Entrypoint\":[\"python\"]}", "[\"python\"]"},
            {"{\"Image\":\"u\",\"Entrypoint\":[\"python\"],\"Cmd\":null}", "[\"python\"]"},
            {"{\"Image\":\"u\",\"Entrypoint\":[\"python\"],\"Cmd\":[\"x.py\"]}",
             "[\"python\",\"x.py\"]"},
            {"{\"Image\":\"u\",\"Entrypoint\":\"sh\",\"Cmd\":\"-c\"}", "[\"sh\",\"-c\"]"},
            {"{\"Image\":\"u\",\"Entrypoint\":[\"\"],\"Cmd\":[\"ls\"]}", "[\"ls\"]"},
            {"{\"Image\":\"u\",\"Entrypoint\":\"\",\"Cmd\":[\"ls\"]}", "[\"ls\"]"},
            {"{\"Image\":\"u\",\"Entrypoint\":[],\"Cmd\":[\"ls\"]}", "[\"ls\"]"},
            {"{\"Image\":\"u\",\"Entrypoint\":[]}", "[\"bash\"]"},
            {"{\"Image\":\"u\",\"Entrypoint\":[\"a\",\"\"],\"Cmd\":[\"\"]}", "[\"a\",\"\",\"\"]"},
        };
        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                json_t *p = create_ok(cases[i][0], NULL);
                assert_json(json_object_get(p, "cmd"), cases[i][1]);
                json_decref(p);
        }

        /* An image with only a Cmd, and one with nothing */
        json_t *img = json_pack("{s:{s:[s], s:n}}", "Config", "Cmd", "bash", "Entrypoint");
        json_t *p = create_ok_img("{\"Image\":\"u\"}", NULL, img);
        assert_json(json_object_get(p, "cmd"), "[\"bash\"]");
        json_decref(p);
        create_refused_img("{\"Image\":\"u\",\"Entrypoint\":[\"\"]}", NULL, img, DS01_EUSAGE,
                           "no command");
        json_decref(img);
        p = create_ok_img("{\"Image\":\"u\",\"Cmd\":[\"ls\"]}", NULL, NULL);
        assert_json(json_object_get(p, "cmd"), "[\"ls\"]");
        json_decref(p);
        create_refused_img("{\"Image\":\"u\"}", NULL, NULL, DS01_EUSAGE, "no command");
        create_refused_img("{\"Image\":\"u\",\"Cmd\":[]}", NULL, NULL, DS01_EUSAGE, "no command");

        create_refused("{\"Image\":\"u\",\"Cmd\":[1]}", DS01_EUSAGE, "lists of strings");
        create_refused("{\"Image\":\"u\",\"Cmd\":{}}", DS01_EUSAGE, "lists of strings");
        create_refused("{\"Image\":\"u\",\"Entrypoint\":5}", DS01_EUSAGE, "lists of strings");
        create_refused("{\"Image\":\"u\",\"Entrypoint\":[null]}", DS01_EUSAGE, "lists of strings");

        /* 256 words at most, the image's entrypoint counted */
        json_t *words = json_array();
        for (int i = 0; i < 255; i++)
                json_array_append_new(words, json_string("w"));
        json_t *b = json_pack("{s:s, s:O}", "Image", "u", "Cmd", words);
        char *text = json_dumps(b, JSON_COMPACT);
        p = create_ok(text, NULL);
        assert_int_equal(json_array_size(json_object_get(p, "cmd")), 256);
        json_decref(p);
        free(text);
        json_array_append_new(words, json_string("w"));
        json_object_set(b, "Cmd", words);
        text = json_dumps(b, JSON_COMPACT);
        create_refused(text, DS01_EUSAGE, "more than 256");
        free(text);
        json_decref(b);
        json_decref(words);
}

/* GPUs: none without --gpus; --gpus N leases N; all and device=... are refused. */
static void test_create_gpus(void **state)
{
        (void)state;
        json_t *p = create_ok("{\"Image\":\"u\",\"HostConfig\":{\"DeviceRequests\":null}}", NULL);
        assert_true(json_is_true(json_object_get(p, "cpu_only")));
        assert_null(json_object_get(p, "gpus"));
        json_decref(p);
        p = create_ok("{\"Image\":\"u\",\"HostConfig\":{\"DeviceRequests\":[]}}", NULL);
        assert_true(json_is_true(json_object_get(p, "cpu_only")));
        json_decref(p);
        static const int counts[] = {1, 2, 8, 64};
        for (size_t i = 0; i < ARRAY_SIZE(counts); i++) {
                _cleanup_free_ char *b = xasprintf(
                    "{\"Image\":\"u\",\"HostConfig\":{\"DeviceRequests\":[{\"Driver\":\"\","
                    "\"Count\":%d,\"DeviceIDs\":null,\"Capabilities\":[[\"gpu\"]],\"Options\":{}}]}"
                    "}",
                    counts[i]);
                p = create_ok(b, NULL);
                assert_int_equal(json_integer_value(json_object_get(p, "gpus")), counts[i]);
                assert_null(json_object_get(p, "cpu_only"));
                json_decref(p);
        }
        p = create_ok("{\"Image\":\"u\",\"HostConfig\":{\"DeviceRequests\":[{\"Count\":0}]}}",
                      NULL);
        assert_true(json_is_true(json_object_get(p, "cpu_only")));
        assert_null(json_object_get(p, "gpus"));
        json_decref(p);

        create_refused("{\"Image\":\"u\",\"HostConfig\":{\"DeviceRequests\":[{\"Count\":-1,"
                       "\"Capabilities\":[[\"gpu\"]]}]}}",
                       DS01_EPERM, "--gpus all");
        create_refused(
            "{\"Image\":\"u\",\"HostConfig\":{\"DeviceRequests\":[{\"DeviceIDs\":[\"0\"],"
            "\"Capabilities\":[[\"gpu\"]]}]}}",
            DS01_EPERM, "--gpus device=");
        create_refused("{\"Image\":\"u\",\"HostConfig\":{\"DeviceRequests\":[{\"Count\":1,"
                       "\"DeviceIDs\":[\"GPU-0\"]}]}}",
                       DS01_EPERM, "--gpus device=");
        create_refused("{\"Image\":\"u\",\"HostConfig\":{\"DeviceRequests\":[{\"Count\":65}]}}",
                       DS01_EUSAGE, "at most 64");
        create_refused("{\"Image\":\"u\",\"HostConfig\":{\"DeviceRequests\":[{\"Count\":1},"
                       "{\"Count\":1}]}}",
                       DS01_EUSAGE, "once");
}

/* What a client's container keeps: its interface, environment, labels, terminal, working
 * directory and --rm. */
static void test_create_extras(void **state)
{
        (void)state;
        json_t *p = create_ok("{\"Image\":\"u\",\"Env\":[\"A=1\",\"B=two words\"],"
                              "\"Labels\":{\"x.y\":\"z\"},\"Tty\":true,\"OpenStdin\":true,"
                              "\"StdinOnce\":true,\"WorkingDir\":\"/src\","
                              "\"HostConfig\":{\"AutoRemove\":true}}",
                              "web");
        assert_json(docker_of(p), "{\"interface\":\"docker\",\"env\":[\"A=1\",\"B=two words\"],"
                                  "\"labels\":{\"x.y\":\"z\"},\"tty\":true,\"open_stdin\":true,"
                                  "\"stdin_once\":true,\"auto_remove\":true,\"workdir\":\"/src\","
                                  "\"targets\":[]}");
        json_decref(p);

        p = create_ok("{\"Image\":\"u\",\"Labels\":{\"com.docker.compose.project\":\"app\","
                      "\"com.docker.compose.service\":\"web\"}}",
                      "app-web-1");
        assert_string_equal(json_string_value(json_object_get(docker_of(p), "interface")),
                            "compose");
        json_decref(p);
        p = create_ok("{\"Image\":\"u\",\"Labels\":{\"devcontainer.local_folder\":\"/x\"}}", NULL);
        assert_string_equal(json_string_value(json_object_get(docker_of(p), "interface")),
                            "devcontainer");
        json_decref(p);
        p = create_ok("{\"Image\":\"u\",\"Labels\":{\"devcontainer.metadata\":\"[]\","
                      "\"com.docker.compose.project\":\"app\"}}",
                      NULL);
        assert_string_equal(json_string_value(json_object_get(docker_of(p), "interface")),
                            "compose");
        json_decref(p);
        p = create_ok(
            "{\"Image\":\"u\",\"Labels\":{\"devcontainer\":\"x\",\"xdevcontainer.a\":\"\"}}", NULL);
        assert_string_equal(json_string_value(json_object_get(docker_of(p), "interface")),
                            "docker");
        json_decref(p);

        /* An empty or absent working directory is ds01's (/workspace) */
        p = create_ok("{\"Image\":\"u\",\"WorkingDir\":\"\"}", NULL);
        assert_null(json_object_get(docker_of(p), "workdir"));
        json_decref(p);

        /* What the deploy would refuse of them is refused here, naming it */
        create_refused("{\"Image\":\"u\",\"Labels\":{\"ds01.user\":\"bob\"}}", DS01_EPERM,
                       "ds01.user");
        create_refused("{\"Image\":\"u\",\"WorkingDir\":\"src\"}", DS01_EUSAGE,
                       "working directory");
        create_refused("{\"Image\":\"u\",\"Env\":\"A=1\"}", DS01_EUSAGE, "'env'");
        create_refused("{\"Image\":\"u\",\"Env\":[1]}", DS01_EUSAGE, "'env'");
        create_refused("{\"Image\":\"u\",\"Labels\":[\"a=b\"]}", DS01_EUSAGE, "'labels'");
        create_refused("{\"Image\":\"u\",\"Labels\":{\"a\":1}}", DS01_EUSAGE, "label 'a'");
}

/* A bind of a project directory of the caller's mounts that workspace, at /workspace and at the
 * client's path. */
static void test_create_workspace(void **state)
{
        (void)state;
        static const char *const binds[][2] = {
            {WSD "/proj:/code", "[\"/code\"]"},
            {WSD "/proj/:/code", "[\"/code\"]"},
            {WSD "/proj//:/code:ro", "[\"/code\"]"},
            {WSD "/proj:/code:rw,z", "[\"/code\"]"},
            {WSD "/proj:/workspace", "[]"},
            {WSD "/proj:/workspace:ro", "[]"},
            {WSD "/proj:/workspaces/proj", "[\"/workspaces/proj\"]"},
        };
        for (size_t i = 0; i < ARRAY_SIZE(binds); i++) {
                _cleanup_free_ char *b =
                    xasprintf("{\"Image\":\"u\",\"HostConfig\":{\"Binds\":[\"%s\"]}}", binds[i][0]);
                json_t *p = create_ok(b, "web");
                assert_string_equal(json_string_value(json_object_get(docker_of(p), "workspace")),
                                    "proj");
                assert_json(json_object_get(docker_of(p), "targets"), binds[i][1]);
                assert_string_equal(json_string_value(json_object_get(p, "project")), "web");
                json_decref(p);
        }
        /* Several mount points of one project; a dev container's --mount */
        json_t *p = create_ok("{\"Image\":\"u\",\"HostConfig\":{\"Binds\":[\"" WSD "/proj:/a\","
                              "\"" WSD "/proj/:/b\"],\"Mounts\":[{\"Type\":\"bind\",\"Source\":"
                              "\"" WSD "/proj\",\"Target\":\"/workspaces/proj\",\"Consistency\":"
                              "\"cached\"},{\"Type\":\"bind\",\"Source\":\"" WSD "/proj\","
                              "\"Target\":\"/workspace\"}]}}",
                              NULL);
        assert_string_equal(json_string_value(json_object_get(docker_of(p), "workspace")), "proj");
        assert_json(json_object_get(docker_of(p), "targets"),
                    "[\"/a\",\"/b\",\"/workspaces/proj\"]");
        json_decref(p);
        /* No bind: the container's own workspace */
        p = create_ok("{\"Image\":\"u\",\"HostConfig\":{\"Binds\":[],\"Mounts\":[]}}", NULL);
        assert_null(json_object_get(docker_of(p), "workspace"));
        assert_json(json_object_get(docker_of(p), "targets"), "[]");
        json_decref(p);
}

struct refusal {
        const char *body;
        int code;
        const char *why;
};

#define HC(x) "{\"Image\":\"u\",\"HostConfig\":{" x "}}"

static const struct refusal REFUSED[] = {
    /* What gives more than a deploy gives */
    {HC("\"Privileged\":true"), DS01_EPERM, "--privileged"},
    {HC("\"CapAdd\":[\"NET_ADMIN\"]"), DS01_EPERM, "--cap-add"},
    {HC("\"CapAdd\":\"ALL\""), DS01_EPERM, "--cap-add"},
    {HC("\"Devices\":[{\"PathOnHost\":\"/dev/sda\",\"PathInContainer\":\"/dev/sda\","
        "\"CgroupPermissions\":\"rwm\"}]"),
     DS01_EPERM, "--device"},
    {HC("\"DeviceCgroupRules\":[\"c 195:* rwm\"]"), DS01_EPERM, "--device-cgroup-rule"},
    {HC("\"SecurityOpt\":[\"seccomp=unconfined\"]"), DS01_EPERM, "--security-opt"},
    {HC("\"SecurityOpt\":[\"no-new-privileges\"]"), DS01_EPERM, "--security-opt"},
    {HC("\"Sysctls\":{\"net.ipv4.ip_unprivileged_port_start\":\"0\"}"), DS01_EPERM, "--sysctl"},
    {HC("\"CgroupParent\":\"/\""), DS01_EPERM, "--cgroup-parent"},
    {HC("\"PidMode\":\"host\""), DS01_EPERM, "--pid"},
    {HC("\"PidMode\":\"container:x\""), DS01_EPERM, "--pid"},
    {HC("\"IpcMode\":\"host\""), DS01_EPERM, "--ipc"},
    {HC("\"IpcMode\":\"container:x\""), DS01_EPERM, "--ipc"},
    {HC("\"UTSMode\":\"host\""), DS01_EPERM, "--uts"},
    {HC("\"UsernsMode\":\"host\""), DS01_EPERM, "--userns"},
    {HC("\"UsernsMode\":\"private\""), DS01_EPERM, "--userns"},
    {HC("\"CgroupnsMode\":\"host\""), DS01_EPERM, "--cgroupns"},
    {HC("\"NetworkMode\":\"host\""), DS01_EPERM, "--network"},
    {HC("\"NetworkMode\":\"container:x\""), DS01_EPERM, "--network"},
    {HC("\"NetworkMode\":\"ds01-1501\""), DS01_EPERM, "--network"},
    {HC("\"NetworkMode\":\"none\""), DS01_EPERM, "--network"},
    {HC("\"Runtime\":\"nvidia\""), DS01_EPERM, "--runtime"},
    {HC("\"RestartPolicy\":{\"Name\":\"always\"}"), DS01_EPERM, "--restart"},
    {HC("\"RestartPolicy\":{\"Name\":\"unless-stopped\"}"), DS01_EPERM, "--restart"},
    {HC("\"RestartPolicy\":{\"Name\":\"on-failure\",\"MaximumRetryCount\":3}"), DS01_EPERM,
     "--restart"},
    {HC("\"LogConfig\":{\"Type\":\"syslog\"}"), DS01_EPERM, "--log-driver"},
    {HC("\"PortBindings\":{\"80/tcp\":[{\"HostIp\":\"\",\"HostPort\":\"8080\"}]}"), DS01_EPERM,
     "-p/--publish"},
    {HC("\"PublishAllPorts\":true"), DS01_EPERM, "-P/--publish-all"},
    {HC("\"VolumesFrom\":[\"other\"]"), DS01_EPERM, "--volumes-from"},
    {HC("\"Links\":[\"other:db\"]"), DS01_EPERM, "--link"},
    {HC("\"Tmpfs\":{\"/x\":\"\"}"), DS01_EPERM, "--tmpfs"},
    {HC("\"GroupAdd\":[\"0\"]"), DS01_EPERM, "--group-add"},
    {HC("\"OomKillDisable\":true"), DS01_EPERM, "--oom-kill-disable"},
    {HC("\"Ulimits\":[{\"Name\":\"nofile\",\"Soft\":1,\"Hard\":1}]"), DS01_EPERM, "--ulimit"},
    {HC("\"MaskedPaths\":[]"), DS01_EPERM, "systempaths"},
    {HC("\"ReadonlyPaths\":[]"), DS01_EPERM, "systempaths"},
    {HC("\"MaskedPaths\":[\"/proc/kcore\"]"), DS01_EPERM, "systempaths"},

    /* Host paths: only a project directory of the caller's, one project */
    {HC("\"Binds\":[\"/:/host\"]"), DS01_EPERM, "-v /:"},
    {HC("\"Binds\":[\"/etc:/x\"]"), DS01_EPERM, "-v /etc:"},
    {HC("\"Binds\":[\"/var/run/docker.sock:/var/run/docker.sock\"]"), DS01_EPERM,
     "-v /var/run/docker.sock"},
    {HC("\"Binds\":[\"" WSD ":/x\"]"), DS01_EPERM, "project directory"},
    {HC("\"Binds\":[\"" WSD "/:/x\"]"), DS01_EPERM, "project directory"},
    {HC("\"Binds\":[\"" WSD "/../etc:/x\"]"), DS01_EPERM, "project directory"},
    {HC("\"Binds\":[\"" WSD "/..:/x\"]"), DS01_EPERM, "project directory"},
    {HC("\"Binds\":[\"" WSD "/.:/x\"]"), DS01_EPERM, "project directory"},
    {HC("\"Binds\":[\"" WSD "/proj/sub:/x\"]"), DS01_EPERM, "-v " WSD "/proj/sub"},
    {HC("\"Binds\":[\"" WSD "/proj/..:/x\"]"), DS01_EPERM, "project directory"},
    {HC("\"Binds\":[\"" WSD "//proj:/x\"]"), DS01_EPERM, "project directory"},
    {HC("\"Binds\":[\"" WSD "/./proj:/x\"]"), DS01_EPERM, "project directory"},
    {HC("\"Binds\":[\"" WSD "/Proj:/x\"]"), DS01_EPERM, "project directory"},
    {HC("\"Binds\":[\"" WSD "2/proj:/x\"]"), DS01_EPERM, "project directory"},
    {HC("\"Binds\":[\"/home/bob/workspace/proj:/x\"]"), DS01_EPERM, "project directory"},
    {HC("\"Binds\":[\"/home/alice:/x\"]"), DS01_EPERM, "project directory"},
    {HC("\"Binds\":[\"" WSD "/a:/x\",\"" WSD "/b:/y\"]"), DS01_EPERM, "one project"},
    {HC("\"Binds\":[\"" WSD "/a:/x\"],\"Mounts\":[{\"Type\":\"bind\",\"Source\":\"" WSD "/b\","
        "\"Target\":\"/y\"}]"),
     DS01_EPERM, "one project"},
    {HC("\"Binds\":[\"data:/x\"]"), DS01_EPERM, "a named volume"},
    {HC("\"Binds\":[\"proj:/x\"]"), DS01_EPERM, "a named volume"},
    {HC("\"Binds\":[\"\"]"), DS01_EPERM, "a named volume"},
    {HC("\"Binds\":[\"" WSD "/proj\"]"), DS01_EUSAGE, "target"},
    {HC("\"Binds\":[\"" WSD "/proj:code\"]"), DS01_EUSAGE, "target"},
    {HC("\"Binds\":[5]"), DS01_EUSAGE, "Binds must be strings"},
    {HC("\"Mounts\":[{\"Type\":\"volume\",\"Source\":\"data\",\"Target\":\"/x\"}]"), DS01_EPERM,
     "a named volume"},
    {HC("\"Mounts\":[{\"Type\":\"volume\",\"Target\":\"/x\"}]"), DS01_EPERM, "a named volume"},
    {HC("\"Mounts\":[{\"Type\":\"tmpfs\",\"Target\":\"/x\"}]"), DS01_EPERM, "--tmpfs"},
    {HC("\"Mounts\":[{\"Type\":\"npipe\",\"Source\":\"/x\",\"Target\":\"/x\"}]"), DS01_EPERM,
     "a named volume"},
    {HC("\"Mounts\":[{\"Source\":\"" WSD "/proj\",\"Target\":\"/x\"}]"), DS01_EPERM,
     "a named volume"},
    {HC("\"Mounts\":[{\"Type\":\"bind\",\"Source\":\"/etc\",\"Target\":\"/x\"}]"), DS01_EPERM,
     "-v /etc:"},
    {HC("\"Mounts\":[{\"Type\":\"bind\",\"Source\":\"" WSD "/proj\",\"Target\":\"/x\","
        "\"BindOptions\":{\"Propagation\":\"rshared\"}}]"),
     DS01_EPERM, "bind propagation"},
    {"{\"Image\":\"u\",\"Volumes\":{\"/x\":{}}}", DS01_EPERM, "anonymous volume"},

    /* Mount points of the workspace over ds01's own (the deploy's rule, checked here) */
    {HC("\"Binds\":[\"" WSD "/proj:/\"]"), DS01_EPERM, "cannot be mounted at '/'"},
    {HC("\"Binds\":[\"" WSD "/proj:/.ds01\"]"), DS01_EPERM, "cannot be mounted"},
    {HC("\"Binds\":[\"" WSD "/proj://.ds01\"]"), DS01_EPERM, "cannot be mounted"},
    {HC("\"Binds\":[\"" WSD "/proj:/etc/passwd\"]"), DS01_EPERM, "cannot be mounted"},
    {HC("\"Binds\":[\"" WSD "/proj:/workspace/sub\"]"), DS01_EPERM, "cannot be mounted"},
    {HC("\"Binds\":[\"" WSD "/proj:/workspace/\"]"), DS01_EPERM, "cannot be mounted"},
    {HC("\"Binds\":[\"" WSD "/proj:/data/x\"]"), DS01_EPERM, "cannot be mounted"},
    {HC("\"Binds\":[\"" WSD "/proj:/a/../etc\"]"), DS01_EPERM, "cannot be mounted"},

    /* Another user */
    {"{\"Image\":\"u\",\"User\":\"0\"}", DS01_EPERM, "--user 0"},
    {"{\"Image\":\"u\",\"User\":\"root\"}", DS01_EPERM, "--user root"},
    {"{\"Image\":\"u\",\"User\":\"0:0\"}", DS01_EPERM, "run as you"},
    {"{\"Image\":\"u\",\"User\":\"1501\"}", DS01_EPERM, "--user 1501"},
    {"{\"Image\":\"u\",\"User\":\"bob\"}", DS01_EPERM, "run as you"},
    {"{\"Image\":\"u\",\"User\":\"1500:0\"}", DS01_EPERM, "run as you"},
    {"{\"Image\":\"u\",\"User\":\"alice:root\"}", DS01_EPERM, "run as you"},
    {"{\"Image\":\"u\",\"User\":0}", DS01_EUSAGE, "User must be a string"},
    {"{\"Image\":\"u\",\"User\":null}", DS01_EUSAGE, "User must be a string"},

    /* Another network */
    {"{\"Image\":\"u\",\"NetworkingConfig\":{\"EndpointsConfig\":{\"other\":{}}}}", DS01_EPERM,
     "--network"},
    {"{\"Image\":\"u\",\"NetworkingConfig\":{\"EndpointsConfig\":{\"bridge\":{},\"host\":{}}}}",
     DS01_EPERM, "--network"},

    /* Malformed */
    {"{}", DS01_EUSAGE, "no image"},
    {"{\"Image\":\"\"}", DS01_EUSAGE, "no image"},
    {"{\"Image\":5}", DS01_EUSAGE, "no image"},
    {"{\"image\":\"u\"}", DS01_EUSAGE, "no image"},
    {"[]", DS01_EUSAGE, "JSON object"},
    {"[{\"Image\":\"u\"}]", DS01_EUSAGE, "JSON object"},
    {"\"u\"", DS01_EUSAGE, "JSON object"},
    {"5", DS01_EUSAGE, "JSON object"},
    {"null", DS01_EUSAGE, "JSON object"},
};

static void test_create_refused(void **state)
{
        (void)state;
        for (size_t i = 0; i < ARRAY_SIZE(REFUSED); i++)
                create_refused(REFUSED[i].body, REFUSED[i].code, REFUSED[i].why);
        /* Allowed values of the same fields */
        static const char *const allowed[] = {
            HC("\"Privileged\":false,\"CapAdd\":[],\"CapDrop\":[\"ALL\"],\"Devices\":[],"
               "\"SecurityOpt\":[],\"Sysctls\":{},\"CgroupParent\":\"\",\"Tmpfs\":{}"),
            HC("\"PidMode\":\"\",\"IpcMode\":\"private\",\"UTSMode\":\"\",\"UsernsMode\":\"\","
               "\"CgroupnsMode\":\"private\""),
            HC("\"IpcMode\":\"shareable\""),
            HC("\"NetworkMode\":\"bridge\",\"Runtime\":\"runc\","
               "\"RestartPolicy\":{\"Name\":\"\"},\"LogConfig\":{\"Type\":\"json-file\"}"),
            HC("\"NetworkMode\":\"\",\"Runtime\":\"\",\"RestartPolicy\":{}"),
            HC("\"PortBindings\":{},\"PublishAllPorts\":false,\"VolumesFrom\":[],"
               "\"MaskedPaths\":null,\"ReadonlyPaths\":null"),
            "{\"Image\":\"u\",\"User\":\"\"}",
            "{\"Image\":\"u\",\"User\":\"1500\"}",
            "{\"Image\":\"u\",\"User\":\"alice\"}",
            "{\"Image\":\"u\",\"User\":\"1500:1600\"}",
            "{\"Image\":\"u\",\"User\":\"alice:1600\"}",
            ("{\"Image\":\"u\",\"Volumes\":{},\"NetworkingConfig\":{\"EndpointsConfig\":"
             "{\"bridge\":{},\"default\":{}}}}"),
            "{\"Image\":\"u\",\"HostConfig\":null,\"NetworkingConfig\":null}",
        };
        for (size_t i = 0; i < ARRAY_SIZE(allowed); i++)
                json_decref(create_ok(allowed[i], NULL));

        struct caller c = alice();
        struct error *err = NULL;
        struct dapi_create_in in = {
            .body = NULL, .c = &c, .workspace_dir = WSD, .generated_name = GEN};
        assert_null(dapi_create_params(&in, &err));
        assert_int_equal(err->code, DS01_EUSAGE);
        error_free(err);
}

/* dapi_user_is_caller: the caller by uid, name or uid:gid; nobody else, no other group. */
static void test_user_is_caller(void **state)
{
        (void)state;
        struct caller c = alice();
        static const char *const me[] = {"", "1500", "alice", "1500:1600", "alice:1600"};
        for (size_t i = 0; i < ARRAY_SIZE(me); i++)
                if (!dapi_user_is_caller(me[i], &c))
                        fail_msg("'%s' is not alice", me[i]);
        assert_true(dapi_user_is_caller(NULL, &c));
        static const char *const others[] = {
            "0",           "root",  "0:0",     "1501",      "bob",   "1500:0", "1500:1500",
            "alice:alice", "1500:", ":1600",   "01500",     " 1500", "1500 ",  "alice:01600",
            "1500:1600:x", "Alice", "alice\n", "root:1600", "1600",  "65534",  "nobody",
        };
        for (size_t i = 0; i < ARRAY_SIZE(others); i++)
                if (dapi_user_is_caller(others[i], &c))
                        fail_msg("'%s' is alice", others[i]);
}

/* ---- other spellings ---- */

/* Docker reads a create body's keys case-insensitively (Go's encoding/json; of two spellings the
 * last wins): {"HostConfig": {...}, "hostconfig": {"Privileged": true}} is privileged to it.
 * create.c reads each key as spelled and never passes the body on, so another spelling is read by
 * no one: it changes nothing in the params. */
static const char *const SPELLINGS[][2] = {
    {"{\"Image\":\"u\",\"Cmd\":[\"ls\"],\"hostconfig\":{\"Privileged\":true,\"Binds\":"
     "[\"/:/host\"],\"CapAdd\":[\"ALL\"],\"PidMode\":\"host\",\"NetworkMode\":\"host\","
     "\"Devices\":[{\"PathOnHost\":\"/dev/mem\"}],\"DeviceRequests\":[{\"Count\":-1}]}}",
     "{\"Image\":\"u\",\"Cmd\":[\"ls\"]}"},
    {"{\"Image\":\"u\",\"Cmd\":[\"ls\"],\"HostConfig\":{\"privileged\":true,\"binds\":"
     "[\"/:/host\"],\"capAdd\":[\"SYS_ADMIN\"],\"pidmode\":\"host\",\"NETWORKMODE\":\"host\","
     "\"deviceRequests\":[{\"Count\":-1}],\"devices\":[{\"PathOnHost\":\"/dev/mem\"}],"
     "\"securityopt\":[\"apparmor=unconfined\"],\"autoRemove\":true,\"mounts\":[{\"Type\":"
     "\"bind\",\"Source\":\"/\",\"Target\":\"/host\"}],\"usernsmode\":\"host\","
     "\"Privil\xc3\xa9ged\":true,\"Cap\xe2\x84\xaa\":1,\"runtime\":\"nvidia\"}}",
     "{\"Image\":\"u\",\"Cmd\":[\"ls\"],\"HostConfig\":{}}"},
    /* a safe HostConfig, then another spelling of it */
    {"{\"Image\":\"u\",\"HostConfig\":{\"AutoRemove\":true,\"Binds\":[\"" WSD "/proj:/code\"]},"
     "\"hostconfig\":{\"Privileged\":true,\"Binds\":[\"/:/host\"],\"AutoRemove\":false},"
     "\"HOSTCONFIG\":{\"CapAdd\":[\"ALL\"]}}",
     "{\"Image\":\"u\",\"HostConfig\":{\"AutoRemove\":true,\"Binds\":[\"" WSD "/proj:/code\"]}}"},
    {"{\"hostconfig\":{\"Privileged\":true},\"Image\":\"u\",\"HostConfig\":{\"Privileged\":false}}",
     "{\"Image\":\"u\"}"},
    /* the top level's keys */
    {"{\"Image\":\"u\",\"Cmd\":[\"ls\"],\"user\":\"root\",\"USER\":\"0\",\"U\xc5\xbf"
     "er\":\"0\",\"volumes\":{\"/x\":{}},\"entrypoint\":[\"evil\"],\"cmd\":[\"evil\"],"
     "\"env\":[\"NVIDIA_VISIBLE_DEVICES=all\"],\"labels\":{\"ds01.user\":\"bob\"},"
     "\"image\":\"evil\",\"workingdir\":\"/etc\",\"tty\":true,\"openStdin\":true,"
     "\"networkingconfig\":{\"EndpointsConfig\":{\"host\":{}}},\"Hostconfig\":{\"Privileged\":"
     "true}}",
     "{\"Image\":\"u\",\"Cmd\":[\"ls\"]}"},
    /* a mount's, a device request's, a policy's keys */
    {"{\"Image\":\"u\",\"HostConfig\":{\"Mounts\":[{\"Type\":\"bind\",\"Source\":\"" WSD
     "/proj\",\"Target\":\"/code\",\"type\":\"volume\",\"source\":\"/\",\"target\":\"/etc\","
     "\"bindoptions\":{\"Propagation\":\"rshared\"},\"BindOptions\":{\"propagation\":"
     "\"rshared\"}}]}}",
     "{\"Image\":\"u\",\"HostConfig\":{\"Mounts\":[{\"Type\":\"bind\",\"Source\":\"" WSD
     "/proj\",\"Target\":\"/code\"}]}}"},
    {"{\"Image\":\"u\",\"HostConfig\":{\"DeviceRequests\":[{\"Count\":1,\"count\":-1,"
     "\"deviceIDs\":[\"0\"],\"DeviceIds\":[\"1\"]}]}}",
     "{\"Image\":\"u\",\"HostConfig\":{\"DeviceRequests\":[{\"Count\":1}]}}"},
    {"{\"Image\":\"u\",\"HostConfig\":{\"RestartPolicy\":{\"Name\":\"no\",\"name\":\"always\"},"
     "\"LogConfig\":{\"Type\":\"json-file\",\"type\":\"syslog\"}}}",
     "{\"Image\":\"u\",\"HostConfig\":{\"RestartPolicy\":{\"Name\":\"no\"},"
     "\"LogConfig\":{\"Type\":\"json-file\"}}}"},
    {"{\"Image\":\"u\",\"NetworkingConfig\":{\"endpointsconfig\":{\"host\":{}},"
     "\"EndpointsConfig\":{\"bridge\":{}}}}",
     "{\"Image\":\"u\",\"NetworkingConfig\":{\"EndpointsConfig\":{\"bridge\":{}}}}"},
};

static void test_create_other_spellings(void **state)
{
        (void)state;
        static const char *const never[] = {"rivileged", "/host",  "evil",    "ds01.user",
                                            "NVIDIA",    "volume", "syslog",  "always",
                                            "SYS_ADMIN", "/dev",   "rshared", "\"root\""};
        for (size_t i = 0; i < ARRAY_SIZE(SPELLINGS); i++) {
                json_t *a = create_ok(SPELLINGS[i][0], "web");
                json_t *b = create_ok(SPELLINGS[i][1], "web");
                char *sa = json_dumps(a, JSON_COMPACT | JSON_SORT_KEYS);
                char *sb = json_dumps(b, JSON_COMPACT | JSON_SORT_KEYS);
                if (!json_equal(a, b))
                        fail_msg("%s\n gave %s\n not %s", SPELLINGS[i][0], sa, sb);
                for (size_t k = 0; k < ARRAY_SIZE(never); k++)
                        if (strstr(sa, never[k]))
                                fail_msg("%s\n gave %s", SPELLINGS[i][0], sa);
                free(sa);
                free(sb);
                json_decref(a);
                json_decref(b);
        }
}

/* The final Docker body of an accepted request (the deploy's extras_parse, then
 * spec_create_body): confined whatever the client sent. */
#define PIN    "/var/lib/ds01/pins/web._.alice"
#define INIT   "/usr/libexec/ds01/ds01-init"
#define PASSWD "/var/lib/ds01/passwd/1500"

static void check_final_body(json_t *params)
{
        struct deploy_extras x;
        struct error *err = NULL;
        assert_int_equal(extras_parse(json_object_get(params, "docker"), &x, &err), 0);
        struct limit_set ls = {.max_cpus = 4, .memory = 1LL << 30, .memory_swap = -1};
        struct spec_input in = {.uid = UID,
                                .gid = GID,
                                .login = "alice",
                                .limits = &ls,
                                .instance = "ds01",
                                .project = json_string_value(json_object_get(params, "project")),
                                .image = json_string_value(json_object_get(params, "image")),
                                .workspace = WSD "/web",
                                .pin = PIN,
                                .init_path = INIT,
                                .passwd_path = PASSWD,
                                .home = "/home/alice",
                                .docker_devices = "device-requests",
                                .cmd = json_object_get(params, "cmd"),
                                .gpu_request = "0",
                                .created_at = 1700000000,
                                .extras = &x,
                                .host_cpus = 8};
        json_t *b = spec_create_body(&in);
        json_t *h = json_object_get(b, "HostConfig");
        assert_string_equal(json_string_value(json_object_get(b, "User")), "1500:1600");
        assert_json(json_object_get(b, "Entrypoint"), "[\"/.ds01/init\"]");
        assert_true(json_is_false(json_object_get(h, "Privileged")));
        assert_json(json_object_get(h, "CapDrop"), "[\"ALL\"]");
        assert_json(json_object_get(h, "SecurityOpt"), "[\"no-new-privileges\"]");
        static const char *const absent[] = {"CapAdd",  "Devices",    "Binds",   "PidMode",
                                             "IpcMode", "UsernsMode", "UTSMode", "VolumesFrom",
                                             "Tmpfs",   "Sysctls",    "Runtime", "DeviceRequests"};
        for (size_t i = 0; i < ARRAY_SIZE(absent); i++)
                if (json_object_get(h, absent[i]))
                        fail_msg("the final body has %s", absent[i]);
        size_t i;
        json_t *m;
        json_array_foreach (json_object_get(h, "Mounts"), i, m) {
                const char *src = json_string_value(json_object_get(m, "Source"));
                const char *dst = json_string_value(json_object_get(m, "Target"));
                if (streq(src, PIN)) {
                        bool target = streq(dst, "/workspace");
                        size_t j;
                        json_t *t;
                        json_array_foreach (x.targets, j, t)
                                target = target || streq(dst, json_string_value(t));
                        assert_true(target);
                } else if (streq(src, INIT)) {
                        assert_string_equal(dst, "/.ds01/init");
                } else {
                        assert_string_equal(src, PASSWD);
                        assert_string_equal(dst, "/etc/passwd");
                }
        }
        json_t *labels = json_object_get(b, "Labels");
        assert_string_equal(json_string_value(json_object_get(labels, "ds01.user")), "alice");
        assert_string_equal(json_string_value(json_object_get(labels, "ds01.uid")), "1500");
        assert_string_equal(json_string_value(json_object_get(labels, "ds01.interface")),
                            x.interface);
        size_t n_visible = 0;
        json_array_foreach (json_object_get(b, "Env"), i, m) {
                const char *e = json_string_value(m);
                if (startswith(e, "NVIDIA_VISIBLE_DEVICES")) {
                        assert_string_equal(e, "NVIDIA_VISIBLE_DEVICES=void");
                        n_visible++;
                }
                if (startswith(e, "HOME"))
                        assert_string_equal(e, "HOME=/home/alice");
        }
        assert_int_equal(n_visible, 1);
        json_decref(b);
        extras_release(&x);
}

static void test_create_final_body(void **state)
{
        (void)state;
        for (size_t i = 0; i < ARRAY_SIZE(SPELLINGS); i++) {
                json_t *p = create_ok(SPELLINGS[i][0], "web");
                check_final_body(p);
                json_decref(p);
        }
        static const char *const bodies[] = {
            DOCKER_RUN_BODY,
            "{\"Image\":\"u\",\"Env\":[\"HOME=/root\",\"NVIDIA_VISIBLE_DEVICES=all\",\"A=1\"],"
            "\"Labels\":{\"devcontainer.local_folder\":\"/x\"},\"HostConfig\":{\"Mounts\":"
            "[{\"Type\":\"bind\",\"Source\":\"" WSD "/web\",\"Target\":\"/workspaces/web\"}]}}",
        };
        for (size_t k = 0; k < ARRAY_SIZE(bodies); k++) {
                json_t *p = create_ok(bodies[k], "web");
                check_final_body(p);
                json_decref(p);
        }
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
            cmocka_unit_test(test_create_run),
            cmocka_unit_test(test_create_name),
            cmocka_unit_test(test_create_command),
            cmocka_unit_test(test_create_gpus),
            cmocka_unit_test(test_create_extras),
            cmocka_unit_test(test_create_workspace),
            cmocka_unit_test(test_create_refused),
            cmocka_unit_test(test_create_other_spellings),
            cmocka_unit_test(test_create_final_body),
            cmocka_unit_test(test_user_is_caller),
            cmocka_unit_test(test_network_create),
            cmocka_unit_test(test_network_filters),
            cmocka_unit_test(test_create_on_view),
            cmocka_unit_test(test_create_links),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
