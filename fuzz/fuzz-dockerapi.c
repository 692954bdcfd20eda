/* fuzz-dockerapi.c - the Docker API endpoint's pure parts over any request: the input is
 * "METHOD\nPATH\nBODY". The route (dapi_route) is refused with a message and no object, or
 * names its object the way endpoint.c relies on (one path segment, an offered action on it);
 * the body as a container list's `filters` always comes back as an object whose label holds
 * ds01's, or EUSAGE; as an exec create body it always comes back running as the caller
 * ("uid:gid"), never privileged, with no other spelling of either key that Docker would read,
 * or is refused (EUSAGE, EPERM); as a network create it is a view of Compose's or refused, and
 * as a network list's filters it matches, or not, or is EUSAGE. "CREATE\nNAME\nBODY" (and any
 * body routed as a create) is a
 * container create body with ?name=NAME (dapi_create_params): refused (EUSAGE, EPERM), or
 * container.deploy's parameters with a valid project, Docker's command, CPU only or 1..64 GPUs as
 * asked, extras the deploy takes (no ds01.* label, no reserved variable, mount points Docker
 * would not clean onto ds01's own, the workspace a project directory the client bound), the
 * same for the body cut to the keys create.c reads as spelled (another spelling is read by no
 * one), and a final Docker body (spec_create_body) that runs as the caller, unprivileged, with
 * no capability, ds01's three mounts and the workspace's mount points only. "EXTRAS\n\nJSON"
 * is the deploy's "docker" parameter from any client (extras_parse): refused, or the same. */
#include "daemon/containers/extras.h"
#include "daemon/containers/spec.h"
#include "daemon/dockerapi/create.h"
#include "daemon/dockerapi/networks.h"
#include "daemon/dockerapi/objects.h"
#include "daemon/dockerapi/routes.h"
#include "shared/names.h"
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

        static const char *const reads[] = {"/json", "/logs", "/top", "/stats", "/changes", NULL};
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
        case DAPI_BUILD:
                check(streq(p, "/build") && post && !r.object);
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
                check(one_of(rest, reads) && get);
                prefix = xstrdup("/containers/");
                break;
        case DAPI_COPY_OUT:
                check(streq(rest, "/archive") && (get || streq(method, "HEAD")));
                prefix = xstrdup("/containers/");
                break;
        case DAPI_COPY_IN:
                check(streq(rest, "/archive") && streq(method, "PUT"));
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
        case DAPI_CONTAINER_RENAME:
                check(post && streq(rest, "/rename"));
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

/* ---- a container create body (dapi_create_params) and the deploy's extras (extras_parse) ---- */

#define WSD    "/home/alice/workspace"
#define GEN    "docker-0a1b2c"
#define PIN    "/var/lib/ds01/pins/p._.alice"
#define INIT   "/usr/libexec/ds01/ds01-init"
#define PASSWD "/var/lib/ds01/passwd/1500"

/* Go's path.Clean, which Docker applies to a mount's target before it mounts it. */
static char *go_path_clean(const char *p)
{
        size_t n = strlen(p);
        char *out = xzalloc(2 * n + 3);
        size_t w = 0;
        bool rooted = p[0] == '/';
        if (rooted)
                out[w++] = '/';
        size_t dotdot = w;
        for (size_t r = rooted; r < n;) {
                if (p[r] == '/') {
                        r++;
                } else if (p[r] == '.' && (r + 1 == n || p[r + 1] == '/')) {
                        r++;
                } else if (p[r] == '.' && p[r + 1] == '.' && (r + 2 == n || p[r + 2] == '/')) {
                        r += 2;
                        if (w > dotdot) {
                                w--;
                                while (w > dotdot && out[w] != '/')
                                        w--;
                        } else if (!rooted) {
                                if (w > 0)
                                        out[w++] = '/';
                                out[w++] = '.';
                                out[w++] = '.';
                                dotdot = w;
                        }
                } else {
                        if ((rooted && w != 1) || (!rooted && w != 0))
                                out[w++] = '/';
                        for (; r < n && p[r] != '/'; r++)
                                out[w++] = p[r];
                }
        }
        if (w == 0)
                out[w++] = '.';
        out[w] = '\0';
        return out;
}

/* A mount point of the workspace as Docker would mount it: absolute, not /, not on ds01's own. */
static bool target_allowed(const char *t)
{
        if (!t || t[0] != '/')
                return false;
        _cleanup_free_ char *c = go_path_clean(t);
        if (streq(c, "/"))
                return false;
        static const char *const taken[] = {"/workspace", "/.ds01", "/etc/passwd", "/data"};
        for (size_t i = 0; i < ARRAY_SIZE(taken); i++) {
                size_t n = strlen(taken[i]);
                if (strncmp(c, taken[i], n) == 0 && (c[n] == '\0' || c[n] == '/'))
                        return false;
        }
        return true;
}

/* The final Docker body of extras x (spec_create_body, a fixed owner and mounts): confined. */
static void check_final(const struct deploy_extras *x, const json_t *cmd)
{
        struct limit_set ls = {.max_cpus = 4, .memory = 1LL << 30, .memory_swap = -1};
        struct spec_input in = {.uid = UID,
                                .gid = GID,
                                .login = "alice",
                                .limits = &ls,
                                .instance = "ds01",
                                .project = "p",
                                .image = "u",
                                .workspace = WSD "/p",
                                .pin = PIN,
                                .init_path = INIT,
                                .passwd_path = PASSWD,
                                .home = "/home/alice",
                                .docker_devices = "device-requests",
                                .cmd = cmd,
                                .gpu_request = "0",
                                .created_at = 1700000000,
                                .extras = x,
                                .host_cpus = 8};
        json_t *b = spec_create_body(&in);
        check(json_is_object(b));
        static const char *const top[] = {"Image",      "User",       "WorkingDir",  "Hostname",
                                          "Entrypoint", "Cmd",        "Env",         "Labels",
                                          "Tty",        "OpenStdin",  "StdinOnce",   "AttachStdin",
                                          "HostConfig", "StopSignal", "StopTimeout", NULL};
        static const char *const host[] = {
            "Mounts",    "SecurityOpt", "CapDrop",  "Privileged", "NetworkMode", "RestartPolicy",
            "LogConfig", "AutoRemove",  "NanoCpus", "Memory",     "MemorySwap",  NULL};
        const char *k;
        json_t *v;
        json_object_foreach (b, k, v)
                check(one_of(k, top));
        json_t *h = json_object_get(b, "HostConfig");
        json_object_foreach (h, k, v)
                check(one_of(k, host));
        check(streq_ptr(json_string_value(json_object_get(b, "User")), ME));
        check(json_is_false(json_object_get(h, "Privileged")));
        json_t *drop = json_object_get(h, "CapDrop");
        check(json_array_size(drop) == 1 &&
              streq_ptr(json_string_value(json_array_get(drop, 0)), "ALL"));
        json_t *sec = json_object_get(h, "SecurityOpt");
        check(json_array_size(sec) == 1 &&
              streq_ptr(json_string_value(json_array_get(sec, 0)), "no-new-privileges"));
        json_t *ep = json_object_get(b, "Entrypoint");
        check(json_array_size(ep) == 1 &&
              streq_ptr(json_string_value(json_array_get(ep, 0)), "/.ds01/init"));
        size_t i;
        json_t *m;
        bool ws = false;
        json_array_foreach (json_object_get(h, "Mounts"), i, m) {
                const char *src = json_string_value(json_object_get(m, "Source"));
                const char *dst = json_string_value(json_object_get(m, "Target"));
                check(src && dst);
                if (streq(src, PIN)) {
                        /* the workspace at /workspace once, and at the client's mount points */
                        if (streq(dst, "/workspace")) {
                                check(!ws);
                                ws = true;
                        } else {
                                check(target_allowed(dst));
                        }
                        check(json_is_false(json_object_get(m, "ReadOnly")));
                } else if (streq(src, INIT)) {
                        check(streq(dst, "/.ds01/init") &&
                              json_is_true(json_object_get(m, "ReadOnly")));
                } else {
                        check(streq(src, PASSWD) && streq(dst, "/etc/passwd") &&
                              json_is_true(json_object_get(m, "ReadOnly")));
                }
        }
        check(ws);
        json_t *labels = json_object_get(b, "Labels");
        check(streq_ptr(json_string_value(json_object_get(labels, "ds01.user")), "alice"));
        check(streq_ptr(json_string_value(json_object_get(labels, "ds01.uid")), "1500"));
        check(streq_ptr(json_string_value(json_object_get(labels, "ds01.managed")), "true"));
        check(
            streq_ptr(json_string_value(json_object_get(labels, "ds01.interface")), x->interface));
        /* ds01's own variables once each, ds01's values */
        size_t n_visible = 0, n_home = 0;
        json_array_foreach (json_object_get(b, "Env"), i, m) {
                const char *e = json_string_value(m);
                check(e);
                const char *eq = strchr(e, '=');
                size_t n = eq ? (size_t)(eq - e) : strlen(e);
                if (n == 22 && startswith(e, "NVIDIA_VISIBLE_DEVICES")) {
                        check(streq(e, "NVIDIA_VISIBLE_DEVICES=void"));
                        n_visible++;
                }
                if (n == 4 && startswith(e, "HOME")) {
                        check(streq(e, "HOME=/home/alice"));
                        n_home++;
                }
        }
        check(n_visible == 1 && n_home == 1);
        json_decref(b);
}

/* The extras as the deploy reads them: what is kept is allowed, and the final body confined. */
static void check_extras_ok(const struct deploy_extras *x, const json_t *cmd)
{
        check(
            one_of(x->interface, (const char *const[]){"docker", "compose", "devcontainer", NULL}));
        size_t i;
        json_t *v;
        json_array_foreach (x->env, i, v) {
                const char *e = json_string_value(v);
                check(e);
                const char *eq = strchr(e, '=');
                check(!extras_env_reserved(e, eq ? (size_t)(eq - e) : strlen(e)));
        }
        const char *k;
        json_object_foreach (x->labels, k, v)
                check(!startswith(k, "ds01.") && !startswith(k, "ds01-") && json_is_string(v));
        check(json_array_size(x->targets) <= EXTRAS_MAX_TARGETS);
        json_array_foreach (x->targets, i, v)
                check(target_allowed(json_string_value(v)));
        check(!x->workspace || names_check_project(x->workspace, NULL) == 0);
        check(!x->workdir || x->workdir[0] == '/');
        check_final(x, cmd);
}

/* Any "docker" parameter an RPC client may send: refused, or confined. */
static void check_extras(const char *body, size_t len)
{
        json_t *j = json_loadb(body, len, JSON_DECODE_ANY, NULL);
        struct deploy_extras x;
        struct error *err = NULL;
        if (extras_parse(j, &x, &err) < 0) {
                check(err && (err->code == DS01_EUSAGE || err->code == DS01_EPERM));
                error_free(err);
        } else {
                check(!err);
                check_extras_ok(&x, NULL);
                extras_release(&x);
        }
        json_decref(j);
}

/* A StrSlice as Docker decodes it: absent or null is nil (*nil true), a string is one word. */
static json_t *str_slice_ref(const json_t *v, bool *nil, bool *ok)
{
        *nil = !v || json_is_null(v);
        if (*nil)
                return json_array();
        if (json_is_string(v))
                return json_pack("[O]", v);
        size_t i;
        json_t *s;
        json_array_foreach (v, i, s)
                *ok = *ok && json_is_string(s);
        *ok = *ok && json_is_array(v);
        return json_is_array(v) ? json_deep_copy(v) : json_array();
}

/* Docker's command (moby daemon/commit.go merge, then create.go's [""] reset). */
static json_t *docker_command(const json_t *body, const json_t *img, bool *ok)
{
        const json_t *ic = json_object_get(img, "Config");
        bool ep_nil, nil;
        json_t *ep = str_slice_ref(json_object_get(body, "Entrypoint"), &ep_nil, ok);
        json_t *cmd = str_slice_ref(json_object_get(body, "Cmd"), &nil, ok);
        if (json_array_size(ep) == 0) {
                if (json_array_size(cmd) == 0) {
                        json_decref(cmd);
                        cmd = str_slice_ref(json_object_get(ic, "Cmd"), &nil, ok);
                }
                if (ep_nil) {
                        json_decref(ep);
                        ep = str_slice_ref(json_object_get(ic, "Entrypoint"), &nil, ok);
                }
        }
        if (json_array_size(ep) == 1 && streq_ptr(json_string_value(json_array_get(ep, 0)), ""))
                json_array_clear(ep);
        json_array_extend(ep, cmd);
        json_decref(cmd);
        return ep;
}

/* The body with only the keys create.c reads, spelled as it reads them: "only fields create.c
 * picks are used", so another spelling ("hostconfig", "privileged", "Uſer") or any other key
 * changes nothing. (A field create.c comes to read is added here.) */
static const char *const TOP_KEYS[] = {"Image",
                                       "User",
                                       "Volumes",
                                       "Entrypoint",
                                       "Cmd",
                                       "Env",
                                       "Labels",
                                       "Tty",
                                       "OpenStdin",
                                       "StdinOnce",
                                       "WorkingDir",
                                       "HostConfig",
                                       "NetworkingConfig",
                                       NULL};
static const char *const HOST_KEYS[] = {"Privileged",
                                        "CapAdd",
                                        "Devices",
                                        "DeviceCgroupRules",
                                        "SecurityOpt",
                                        "Sysctls",
                                        "CgroupParent",
                                        "VolumesFrom",
                                        "Links",
                                        "PortBindings",
                                        "PublishAllPorts",
                                        "Tmpfs",
                                        "GroupAdd",
                                        "OomKillDisable",
                                        "Ulimits",
                                        "MaskedPaths",
                                        "ReadonlyPaths",
                                        "PidMode",
                                        "IpcMode",
                                        "UTSMode",
                                        "UsernsMode",
                                        "CgroupnsMode",
                                        "NetworkMode",
                                        "Runtime",
                                        "RestartPolicy",
                                        "LogConfig",
                                        "Binds",
                                        "Mounts",
                                        "DeviceRequests",
                                        "AutoRemove",
                                        NULL};

static json_t *only_keys(const json_t *o, const char *const *keys)
{
        if (!json_is_object(o))
                return json_deep_copy(o);
        json_t *r = json_object();
        for (size_t i = 0; keys[i]; i++) {
                json_t *v = json_object_get(o, keys[i]);
                if (v)
                        json_object_set_new(r, keys[i], json_deep_copy(v));
        }
        return r;
}

static void only_keys_in(json_t *o, const char *key, const char *const *keys)
{
        json_t *v = json_object_get(o, key);
        if (json_is_object(v))
                json_object_set_new(o, key, only_keys(v, keys));
}

static void only_keys_each(json_t *o, const char *key, const char *const *keys, const char *inner,
                           const char *const *inner_keys)
{
        json_t *a = json_object_get(o, key);
        size_t i;
        json_t *v;
        json_array_foreach (a, i, v) {
                if (!json_is_object(v))
                        continue;
                json_t *r = only_keys(v, keys);
                if (inner)
                        only_keys_in(r, inner, inner_keys);
                json_array_set_new(a, i, r);
        }
}

static json_t *picked(const json_t *body)
{
        if (!json_is_object(body))
                return json_deep_copy(body);
        json_t *b = only_keys(body, TOP_KEYS);
        json_t *h = json_object_get(b, "HostConfig");
        if (json_is_object(h)) {
                h = only_keys(h, HOST_KEYS);
                json_object_set_new(b, "HostConfig", h);
                only_keys_in(h, "RestartPolicy", (const char *const[]){"Name", NULL});
                only_keys_in(h, "LogConfig", (const char *const[]){"Type", NULL});
                only_keys_each(
                    h, "Mounts",
                    (const char *const[]){"Type", "Source", "Target", "BindOptions", NULL},
                    "BindOptions", (const char *const[]){"Propagation", NULL});
                only_keys_each(h, "DeviceRequests",
                               (const char *const[]){"DeviceIDs", "Count", NULL}, NULL, NULL);
        }
        only_keys_in(b, "NetworkingConfig", (const char *const[]){"EndpointsConfig", NULL});
        return b;
}

static json_t *create(const json_t *body, const char *name, const json_t *img, struct error **err)
{
        struct caller c = {
            .uid = UID, .gid = GID, .login = (char *)"alice", .user_part = (char *)"alice"};
        struct dapi_create_in in = {.body = body,
                                    .name = name,
                                    .c = &c,
                                    .workspace_dir = WSD,
                                    .image = img,
                                    .generated_name = GEN};
        return dapi_create_params(&in, err);
}

/* A bind's source as create.c reads it: the project of WSD/P[/...], or NULL. */
static char *project_of_source(const char *src)
{
        if (!src || !startswith(src, WSD "/"))
                return NULL;
        char *p = xstrdup(src + strlen(WSD "/"));
        size_t n = strlen(p);
        while (n > 0 && p[n - 1] == '/')
                p[--n] = '\0';
        return p;
}

static void check_create_params(const json_t *body, const char *name, const json_t *img, json_t *p)
{
        static const char *const keys[] = {"project", "image",    "cmd",  "start",
                                           "docker",  "cpu_only", "gpus", NULL};
        const char *k;
        json_t *v;
        json_object_foreach (p, k, v)
                check(one_of(k, keys));
        check(json_is_false(json_object_get(p, "start")));
        const char *image = json_string_value(json_object_get(p, "image"));
        check(image && *image && streq(image, json_string_value(json_object_get(body, "Image"))));

        /* the project: the name without '/' or "._.alice", or the generated one */
        const char *project = json_string_value(json_object_get(p, "project"));
        check(project && names_check_project(project, NULL) == 0);
        if (name && *name) {
                const char *n = name[0] == '/' ? name + 1 : name;
                _cleanup_free_ char *full = xasprintf("%s._.alice", project);
                check(streq(n, project) || streq(n, full));
        } else {
                check(streq(project, GEN));
        }

        /* the command: Docker's */
        json_t *cmd = json_object_get(p, "cmd");
        size_t n = json_array_size(cmd);
        check(n >= 1 && n <= 256);
        bool ok = true;
        json_t *ref = docker_command(body, img, &ok);
        check(ok && json_equal(ref, cmd));
        json_decref(ref);

        /* CPU only, or 1..64 GPUs as asked */
        json_t *gpus = json_object_get(p, "gpus");
        bool cpu_only = json_is_true(json_object_get(p, "cpu_only"));
        check(cpu_only != (gpus != NULL));
        check(!json_object_get(p, "cpu_only") || cpu_only);
        const json_t *h = json_object_get(body, "HostConfig");
        const json_t *req = json_array_get(json_object_get(h, "DeviceRequests"), 0);
        if (gpus)
                check(json_integer_value(gpus) >= 1 && json_integer_value(gpus) <= 64 &&
                      json_integer_value(gpus) ==
                          json_integer_value(json_object_get(req, "Count")));
        else
                check(json_integer_value(json_object_get(req, "Count")) == 0);

        /* the extras: what the deploy takes, nothing that was not asked for */
        json_t *jx = json_object_get(p, "docker");
        static const char *const xkeys[] = {"interface",  "env",        "labels",      "tty",
                                            "open_stdin", "stdin_once", "auto_remove", "workdir",
                                            "targets",    "workspace",  NULL};
        json_object_foreach (jx, k, v)
                check(one_of(k, xkeys));
        struct deploy_extras x;
        struct error *err = NULL;
        check(extras_parse(jx, &x, &err) == 0 && !err);
        /* every target is a mount point the client gave, every host path the workspace */
        size_t i;
        json_array_foreach (x.targets, i, v) {
                bool asked = false;
                size_t j;
                json_t *b;
                json_array_foreach (json_object_get(h, "Binds"), j, b) {
                        const char *s = json_string_value(b);
                        const char *colon = s ? strchr(s, ':') : NULL;
                        if (colon) {
                                _cleanup_free_ char *dst = xstrdup(colon + 1);
                                char *mode = strchr(dst, ':');
                                if (mode)
                                        *mode = '\0';
                                asked = asked || streq(dst, json_string_value(v));
                        }
                }
                json_array_foreach (json_object_get(h, "Mounts"), j, b)
                        asked = asked || streq_ptr(json_string_value(json_object_get(b, "Target")),
                                                   json_string_value(v));
                check(asked);
        }
        size_t n_mounts = json_array_size(json_object_get(h, "Binds")) +
                          json_array_size(json_object_get(h, "Mounts"));
        check(!x.workspace == (n_mounts == 0));
        json_t *b;
        json_array_foreach (json_object_get(h, "Binds"), i, b) {
                _cleanup_free_ char *src = xstrdup(json_string_value(b));
                char *colon = strchr(src, ':');
                if (colon)
                        *colon = '\0';
                _cleanup_free_ char *proj = project_of_source(src);
                check(proj && x.workspace && streq(proj, x.workspace));
        }
        json_array_foreach (json_object_get(h, "Mounts"), i, b) {
                _cleanup_free_ char *proj =
                    project_of_source(json_string_value(json_object_get(b, "Source")));
                check(proj && x.workspace && streq(proj, x.workspace));
        }
        check_extras_ok(&x, cmd);
        extras_release(&x);
}

static void check_create(const char *name, const char *body, size_t len)
{
        json_t *b = json_loadb(body, len, 0, NULL); /* as endpoint.c reads it */
        json_t *img =
            json_pack("{s:{s:[s], s:[s]}}", "Config", "Entrypoint", "/entry", "Cmd", "bash");
        const json_t *imgs[] = {img, NULL};
        for (size_t i = 0; i < ARRAY_SIZE(imgs); i++) {
                struct error *err = NULL;
                json_t *p = create(b, name, imgs[i], &err);
                if (p) {
                        check(!err);
                        check_create_params(b, name, imgs[i], p);
                } else {
                        check(err && err->message && err->message[0] &&
                              (err->code == DS01_EUSAGE || err->code == DS01_EPERM));
                }
                /* only the keys create.c picks, as spelled, are read */
                json_t *only = picked(b);
                struct error *err2 = NULL;
                json_t *p2 = create(only, name, imgs[i], &err2);
                check(!p == !p2 && json_equal(p, p2) == (p != NULL));
                if (!p)
                        check(err2 && err2->code == err->code &&
                              streq(err2->message, err->message));
                json_decref(p2);
                error_free(err2);
                json_decref(only);
                json_decref(p);
                error_free(err);
        }
        json_decref(img);
        json_decref(b);
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
        /* "CREATE\nNAME\nBODY": a create body with ?name=NAME (none when empty); a create as
         * routed has none; "EXTRAS\n\nJSON": the deploy's "docker" parameter from any client */
        struct dapi_route r;
        dapi_route(method, path, &r);
        if (r.op == DAPI_CONTAINER_CREATE)
                check_create(NULL, body, len);
        dapi_route_release(&r);
        if (streq(method, "CREATE"))
                check_create(path[0] ? path : NULL, body, len);
        else if (streq(method, "EXTRAS"))
                check_extras(body, len);
        check_network(body, len, body_s);
        return 0;
}
