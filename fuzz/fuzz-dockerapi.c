/* fuzz-dockerapi.c - the Docker API endpoint's pure parts over any request: the input is
 * "METHOD\nPATH\nBODY". The route (dapi_route) is refused with a message and no object, or
 * names its object the way endpoint.c relies on (one path segment, an offered action on it);
 * the body as a container list's `filters` always comes back as an object whose label holds
 * ds01's, or EUSAGE; as an exec create body it always comes back running as the caller
 * ("uid:gid"), never privileged, with no other spelling of either key that Docker would read,
 * or is refused (EUSAGE, EPERM); as a network create it is a view of Compose's or refused, and
 * as a network list's filters it matches, or not, or is EUSAGE. */
#include "daemon/dockerapi/networks.h"
#include "daemon/dockerapi/objects.h"
#include "daemon/dockerapi/routes.h"
#include "shared/util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define LABEL "ds01.instance=fuzz"
#define UID   1500
#define GID   1600
#define ME    "1500:1600"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define check(x)                                                                                   \
        do {                                                                                       \
                if (!(x))                                                                          \
                        abort();                                                                   \
        } while (0)

/* The next '\n'-terminated piece of [*p, end) as a string (cut at a NUL as C reads it). */
static char *piece(const uint8_t **p, const uint8_t *end)
{
        const uint8_t *nl = memchr(*p, '\n', (size_t)(end - *p));
        size_t n = nl ? (size_t)(nl - *p) : (size_t)(end - *p);
        char *s = xstrndup((const char *)*p, n);
        *p = nl ? nl + 1 : end;
        return s;
}

static bool one_of(const char *s, const char *const *set)
{
        for (; s && *set; set++)
                if (streq(s, *set))
                        return true;
        return false;
}

/* The kinds ds01 answers "No such object" for. */
static const char *const NO_SUCH_KINDS[] = {"/volumes/", "/plugins/", "/nodes/",   "/services/",
                                            "/tasks/",   "/secrets/", "/configs/", NULL};

static void check_route(const char *method, const char *path)
{
        struct dapi_route r;
        dapi_route(method, path, &r);
        check(r.op >= DAPI_REFUSE && r.op <= DAPI_EVENTS);
        check(dapi_op_hijacks(r.op) == (r.op == DAPI_CONTAINER_ATTACH || r.op == DAPI_EXEC_START));

        /* The version is what followed "/v", digits and dots only, and the rest is routed. */
        size_t vn = strlen(r.version);
        check(vn < sizeof(r.version));
        check(strspn(r.version, "0123456789.") == vn);
        const char *p = path;
        if (vn) {
                check(path[0] == '/' && path[1] == 'v' && strncmp(path + 2, r.version, vn) == 0);
                p = path + 2 + vn;
        }

        static const char *const reads[] = {"/json",    "/logs",    "/top", "/stats",
                                            "/changes", "/archive", NULL};
        static const char *const posts[] = {"/kill", "/wait", "/resize", NULL};
        static const char *const exec_reads[] = {"/json", "/resize", NULL};
        bool get = streq(method, "GET"), post = streq(method, "POST");
        const char *rest = r.rest ? r.rest : "(none)";
        _cleanup_free_ char *prefix = NULL;
        switch (r.op) {
        case DAPI_REFUSE:
                check(r.refusal && r.refusal[0]);
                check(!r.object && !r.rest);
                break;
        case DAPI_PING:
                check(streq(p, "/_ping") && (get || streq(method, "HEAD")));
                break;
        case DAPI_VERSION:
                check(streq(p, "/version") && get);
                break;
        case DAPI_INFO:
                check(streq(p, "/info") && get);
                break;
        case DAPI_CONTAINER_LIST:
                check(streq(p, "/containers/json") && get);
                break;
        case DAPI_CONTAINER_CREATE:
                check(streq(p, "/containers/create") && post && !r.object);
                break;
        case DAPI_IMAGE_LIST:
                check(streq(p, "/images/json") && get);
                break;
        case DAPI_NO_SUCH:
                check(get && p[0] && strchr(p + 1, '/'));
                prefix = xstrndup(p, (size_t)(strchr(p + 1, '/') - p) + 1);
                check(one_of(prefix, NO_SUCH_KINDS));
                break;
        case DAPI_CONTAINER_READ:
                check(one_of(rest, reads) &&
                      (get || (streq(method, "HEAD") && streq(rest, "/archive"))));
                prefix = xstrdup("/containers/");
                break;
        case DAPI_CONTAINER_POST:
                check(post && one_of(rest, posts));
                prefix = xstrdup("/containers/");
                break;
        case DAPI_CONTAINER_START:
                check(post && streq(rest, "/start"));
                prefix = xstrdup("/containers/");
                break;
        case DAPI_CONTAINER_STOP:
                check(post && streq(rest, "/stop"));
                prefix = xstrdup("/containers/");
                break;
        case DAPI_CONTAINER_RESTART:
                check(post && streq(rest, "/restart"));
                prefix = xstrdup("/containers/");
                break;
        case DAPI_CONTAINER_REMOVE:
                check(streq(method, "DELETE") && streq(rest, ""));
                prefix = xstrdup("/containers/");
                break;
        case DAPI_CONTAINER_ATTACH:
                check(post && streq(rest, "/attach"));
                prefix = xstrdup("/containers/");
                break;
        case DAPI_EXEC_CREATE:
                check(post && streq(rest, "/exec"));
                prefix = xstrdup("/containers/");
                break;
        case DAPI_EXEC_START:
                check(post && streq(rest, "/start"));
                prefix = xstrdup("/exec/");
                break;
        case DAPI_EXEC_READ:
                check(one_of(rest, exec_reads));
                check(streq(rest, "/json") ? get : post);
                prefix = xstrdup("/exec/");
                break;
        case DAPI_NETWORK_LIST:
                check(streq(p, "/networks") && get);
                break;
        case DAPI_NETWORK_CREATE:
                check(streq(p, "/networks/create") && post);
                break;
        case DAPI_NETWORK_INSPECT:
                check(get && streq(rest, ""));
                prefix = xstrdup("/networks/");
                break;
        case DAPI_NETWORK_REMOVE:
                check(streq(method, "DELETE") && streq(rest, ""));
                prefix = xstrdup("/networks/");
                break;
        case DAPI_NETWORK_CONNECT:
                check(post && (streq(rest, "/connect") || streq(rest, "/disconnect")));
                prefix = xstrdup("/networks/");
                break;
        case DAPI_EVENTS:
                check(streq(p, "/events") && get);
                break;
        case DAPI_IMAGE_INSPECT: {
                /* The one object that may hold '/': an image name (ds01-1000/p:latest). */
                check(get && r.object && r.object[0] && streq(rest, "/json"));
                _cleanup_free_ char *whole = xasprintf("/images/%s/json", r.object);
                check(streq(whole, p));
                break;
        }
        }
        if (r.op != DAPI_REFUSE)
                check(!r.refusal);
        if (prefix) {
                /* One segment, non-empty, and the path is exactly prefix + object + rest. */
                check(r.object && r.object[0] && !strchr(r.object, '/') && r.rest);
                _cleanup_free_ char *whole = xasprintf("%s%s%s", prefix, r.object, r.rest);
                check(streq(whole, p));
        } else if (r.op != DAPI_IMAGE_INSPECT) {
                check(!r.object && !r.rest);
        }

        /* The same request is routed the same way. */
        struct dapi_route again;
        dapi_route(method, path, &again);
        check(again.op == r.op && streq(again.version, r.version) &&
              streq_ptr(again.object, r.object) && streq_ptr(again.rest, r.rest) &&
              again.refusal == r.refusal);
        dapi_route_release(&again);
        dapi_route_release(&r);
        check(!r.object && !r.rest);

        /* Without a method or a path, nothing is a call. */
        dapi_route(NULL, path, &r);
        check(r.op == DAPI_REFUSE && r.refusal && !r.object && !r.rest);
        dapi_route_release(&r);
        dapi_route(method, NULL, &r);
        check(r.op == DAPI_REFUSE && r.refusal && !r.object && !r.rest);
        dapi_route_release(&r);
}

static void check_filters(const char *filters)
{
        struct error *err = NULL;
        char *out = dapi_filters_with_label(filters, LABEL, &err);
        if (!out) {
                check(err && err->code == DS01_EUSAGE && err->message);
                error_free(err);
                return;
        }
        check(!err);
        json_t *f = json_loads(out, 0, NULL);
        check(json_is_object(f));
        json_t *label = json_object_get(f, "label");
        if (json_is_array(label)) {
                size_t n = json_array_size(label);
                check(n > 0 && streq_ptr(json_string_value(json_array_get(label, n - 1)), LABEL));
        } else {
                check(json_is_object(label) && json_is_true(json_object_get(label, LABEL)));
        }
        /* What the client asked for besides the label is kept. */
        json_t *in = filters[0] ? json_loads(filters, 0, NULL) : json_object();
        check(json_is_object(in));
        const char *key;
        json_t *value;
        json_object_foreach (in, key, value) {
                if (!streq(key, "label"))
                        check(json_equal(json_object_get(f, key), value));
        }
        check(json_object_size(f) == json_object_size(in) + !json_object_get(in, "label"));
        json_decref(in);
        json_decref(f);
        free(out);
}

/* key as Go's encoding/json matches a field name: ASCII case folded, U+017F as 's', U+212A as
 * 'k'; NULL when it has another non-ASCII byte (then it matches no ASCII name). */
static char *go_fold(const char *key)
{
        char *s = xzalloc(strlen(key) + 1), *o = s;
        for (const char *k = key; *k;) {
                if (startswith(k, "\xc5\xbf")) {
                        *o++ = 's';
                        k += 2;
                } else if (startswith(k, "\xe2\x84\xaa")) {
                        *o++ = 'k';
                        k += 3;
                } else if ((unsigned char)*k >= 0x80) {
                        free(s);
                        return NULL;
                } else {
                        *o++ = (char)((*k >= 'A' && *k <= 'Z') ? *k + 32 : *k);
                        k++;
                }
        }
        return s;
}

/* Whether Docker would read body's user and privileged fields as just "User" and "Privileged". */
static bool only_exact_spellings(json_t *body)
{
        const char *key;
        json_t *value;
        json_object_foreach (body, key, value) {
                _cleanup_free_ char *folded = go_fold(key);
                if (folded && streq(folded, "user") && !streq(key, "User"))
                        return false;
                if (folded && streq(folded, "privileged") && !streq(key, "Privileged"))
                        return false;
        }
        return true;
}

static void check_exec(const char *body, size_t len)
{
        struct caller c = {.uid = UID, .gid = GID, .login = (char *)"alice"};
        struct error *err = NULL;
        json_t *out = dapi_exec_body(body, len, &c, &err);
        json_t *in = json_loadb(body, len, 0, NULL);
        if (out) {
                check(!err && json_is_object(out) && json_is_object(in));
                check(streq_ptr(json_string_value(json_object_get(out, "User")), ME));
                check(json_is_false(json_object_get(out, "Privileged")));
                check(only_exact_spellings(out));
                /* The rest is the client's, unchanged. */
                const char *key;
                json_t *value;
                json_object_foreach (in, key, value) {
                        if (!streq(key, "User") && !streq(key, "Privileged"))
                                check(json_equal(json_object_get(out, key), value));
                }
                /* Sent on as text and read back, it says the same. */
                char *text = json_dumps(out, JSON_COMPACT);
                json_t *back = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
                check(json_equal(back, out));
                json_decref(back);
                free(text);
        } else {
                check(err && err->message);
                check(err->code == DS01_EUSAGE ||
                      (err->code == DS01_EPERM &&
                       (strstr(err->message, "run as you") || strstr(err->message, "privileged"))));
                /* A body that already runs as the caller, plainly spelled and not privileged, is
                 * never refused. */
                json_t *user = json_object_get(in, "User");
                if (json_is_object(in) && only_exact_spellings(in) &&
                    streq_ptr(json_string_value(user), ME) &&
                    !json_is_true(json_object_get(in, "Privileged")))
                        abort();
                error_free(err);
        }
        json_decref(in);
        json_decref(out);
}

/* A network create body is a view (a name Docker would take, not one of its own networks',
 * Compose's labels) or refused (EUSAGE, EPERM); as a list's filters, it matches or not, or is
 * EUSAGE. */
static void check_network(const char *body, size_t len, const char *body_s)
{
        char *name = NULL;
        json_t *labels = NULL;
        struct error *err = NULL;
        if (dapi_network_create_body(body, len, &name, &labels, &err) == 0) {
                check(!err && name && name[0] && strlen(name) <= 128);
                check(strspn(name, "abcdefghijklmnopqrstuvwxyz"
                                   "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == strlen(name));
                check(!streq(name, "bridge") && !streq(name, "host") && !streq(name, "none"));
                check(json_is_object(labels));
                check(json_string_length(json_object_get(labels, "com.docker.compose.project")) >
                      0);
                free(name);
                json_decref(labels);
        } else {
                check(!name && !labels && err && err->message);
                check(err->code == DS01_EUSAGE || err->code == DS01_EPERM);
                err = error_free(err);
        }
        json_t *net = json_pack("{s:s, s:s, s:{s:s}}", "Name", "shop_default", "Id", "abc",
                                "Labels", "a", "b");
        int m = dapi_network_matches(net, body_s, &err);
        check(m == 0 || m == 1 || (m == -1 && err && err->code == DS01_EUSAGE));
        error_free(err);
        json_decref(net);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size > 64 * 1024)
                return 0;
        const uint8_t *p = data, *end = data + size;
        _cleanup_free_ char *method = piece(&p, end);
        _cleanup_free_ char *path = piece(&p, end);
        const char *body = (const char *)p;
        size_t len = (size_t)(end - p);
        _cleanup_free_ char *body_s = xstrndup(body, len);

        check_route(method, path);
        check_filters(body_s);
        check_exec(body, len);
        check_network(body, len, body_s);
        return 0;
}
