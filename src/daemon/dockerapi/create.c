/* create.c - a Docker create request read as a ds01 deploy (see create.h). */
#include "daemon/dockerapi/create.h"

#include "daemon/containers/extras.h"
#include "shared/names.h"
#include "shared/util.h"

#include <stdio.h>
#include <string.h>

bool dapi_user_is_caller(const char *user, const struct caller *c)
{
        if (!user || !*user)
                return true;
        _cleanup_free_ char *u = xstrdup(user);
        char *colon = strchr(u, ':');
        if (colon)
                *colon = '\0';
        char uid_s[16];
        snprintf(uid_s, sizeof(uid_s), "%u", (unsigned)c->uid);
        bool me = streq(u, uid_s) || streq_ptr(u, c->login);
        if (me && colon) {
                char gid_s[16];
                snprintf(gid_s, sizeof(gid_s), "%u", (unsigned)c->gid);
                me = streq(colon + 1, gid_s); /* a group by name is not looked up: refused */
        }
        return me;
}

/* ---- what is refused ---- */

static int refuse(struct error **err, const char *option, const char *instead)
{
        return error_set(err, DS01_EPERM, "%s is not available on ds01%s%s", option,
                         instead ? ": " : "", instead ? instead : "");
}

/* The same for an option with its value ("--network host"). */
static int refuse_value(struct error **err, const char *option, const char *value,
                        const char *instead)
{
        _cleanup_free_ char *o = xasprintf("%s %.80s", option, value ? value : "");
        return refuse(err, o, instead);
}

static bool set_nonempty(const json_t *v)
{
        return (json_is_array(v) && json_array_size(v) > 0) ||
               (json_is_object(v) && json_object_size(v) > 0) ||
               (json_is_string(v) && json_string_length(v) > 0) || json_is_true(v);
}

/* A namespace mode that shares the host's or another container's. */
static bool shares_namespace(const json_t *v)
{
        const char *s = json_string_value(v);
        return s && (streq(s, "host") || startswith(s, "container:") || startswith(s, "ns:"));
}

struct forbidden {
        const char *key;    /* in HostConfig */
        const char *option; /* as the docker CLI spells it */
        const char *instead;
};

static const struct forbidden FORBIDDEN[] = {
    {"Privileged", "--privileged", NULL},
    {"CapAdd", "--cap-add", NULL},
    {"Devices", "--device", "ds01 gives your containers their GPUs (--gpus N)"},
    {"DeviceCgroupRules", "--device-cgroup-rule", NULL},
    {"SecurityOpt", "--security-opt", NULL},
    {"Sysctls", "--sysctl", NULL},
    {"CgroupParent", "--cgroup-parent", NULL},
    {"VolumesFrom", "--volumes-from", "keep shared files in your workspace"},
    {"PortBindings", "-p/--publish",
     "publish a port to yourself with 'container-port NAME add PORT'"},
    {"PublishAllPorts", "-P/--publish-all", "publish a port with 'container-port NAME add PORT'"},
    {"Tmpfs", "--tmpfs", NULL},
    {"GroupAdd", "--group-add", NULL},
    {"OomKillDisable", "--oom-kill-disable", NULL},
    {"Ulimits", "--ulimit", NULL},
    {"MaskedPaths", "--security-opt systempaths=unconfined", NULL},
    {"ReadonlyPaths", "--security-opt systempaths=unconfined", NULL},
    {NULL, NULL, NULL},
};

static int check_host(const json_t *h, const char *view, struct error **err)
{
        for (size_t i = 0; FORBIDDEN[i].key; i++) {
                const json_t *v = json_object_get(h, FORBIDDEN[i].key);
                /* MaskedPaths: [] (present at all) is the unmasking */
                bool set = (streq(FORBIDDEN[i].key, "MaskedPaths") ||
                            streq(FORBIDDEN[i].key, "ReadonlyPaths"))
                               ? json_is_array(v)
                               : set_nonempty(v);
                if (set)
                        return refuse(err, FORBIDDEN[i].option, FORBIDDEN[i].instead);
        }
        static const char *const ns[][2] = {{"PidMode", "--pid"},
                                            {"IpcMode", "--ipc"},
                                            {"UTSMode", "--uts"},
                                            {"UsernsMode", "--userns"},
                                            {"CgroupnsMode", "--cgroupns"}};
        for (size_t i = 0; i < ARRAY_SIZE(ns); i++) {
                const json_t *v = json_object_get(h, ns[i][0]);
                if (shares_namespace(v) || (streq(ns[i][0], "UsernsMode") && set_nonempty(v)))
                        return refuse_value(err, ns[i][1], json_string_value(v),
                                            "containers have their own namespaces");
        }
        const char *net = json_string_value(json_object_get(h, "NetworkMode"));
        if (net && *net && !streq(net, "default") && !streq(net, "bridge") && !streq_ptr(net, view))
                return refuse_value(err, "--network", net,
                                    "each user's containers share a private network of their own");
        const char *rt = json_string_value(json_object_get(h, "Runtime"));
        if (rt && *rt && !streq(rt, "runc"))
                return refuse_value(err, "--runtime", rt, "ask for GPUs with --gpus N");
        const char *restart =
            json_string_value(json_object_get(json_object_get(h, "RestartPolicy"), "Name"));
        if (restart && *restart && !streq(restart, "no"))
                return refuse(err, "--restart",
                              "ds01 stops idle containers and never restarts them by itself");
        const char *log =
            json_string_value(json_object_get(json_object_get(h, "LogConfig"), "Type"));
        if (log && *log && !streq(log, "json-file"))
                return refuse(err, "--log-driver", NULL);
        return 0;
}

/* ---- the workspace ---- */

/* A bind's source, which must be a project directory of the caller's: its project. */
static int workspace_of_source(const char *src, const char *ws_dir, char **ret_project,
                               struct error **err)
{
        size_t n = strlen(ws_dir);
        _cleanup_free_ char *s = xstrdup(src);
        size_t len = strlen(s);
        while (len > 1 && s[len - 1] == '/')
                s[--len] = '\0';
        if (strncmp(s, ws_dir, n) != 0 || s[n] != '/' || strchr(s + n + 1, '/') ||
            names_check_project(s + n + 1, NULL) < 0)
                return error_set(err, DS01_EPERM,
                                 "-v %.200s: only a project directory of your own (%s/PROJECT) can "
                                 "be mounted on ds01 - put the files there",
                                 src, ws_dir);
        if (*ret_project && !streq(*ret_project, s + n + 1))
                return error_set(err, DS01_EPERM,
                                 "one container mounts one project's workspace: %s and %s/%s "
                                 "were both asked for",
                                 *ret_project, ws_dir, s + n + 1);
        if (!*ret_project)
                *ret_project = xstrdup(s + n + 1);
        return 0;
}

static int add_bind(const char *src, const char *dst, const char *ws_dir, char **project,
                    json_t *targets, struct error **err)
{
        if (!src || src[0] != '/')
                return refuse(err, "a named volume",
                              "keep your files in /workspace (~/workspace/PROJECT on the host), "
                              "which outlives every container");
        if (!dst || dst[0] != '/')
                return error_set(err, DS01_EUSAGE, "a mount needs an absolute target path");
        if (workspace_of_source(src, ws_dir, project, err) < 0)
                return -1;
        if (!streq(dst, "/workspace"))
                json_array_append_new(targets, json_string(dst));
        return 0;
}

static int parse_mounts(const json_t *h, const char *ws_dir, char **project, json_t *targets,
                        struct error **err)
{
        size_t i;
        json_t *b;
        json_array_foreach (json_object_get(h, "Binds"), i, b) {
                const char *s = json_string_value(b);
                if (!s)
                        return error_set(err, DS01_EUSAGE, "Binds must be strings");
                _cleanup_free_ char *copy = xstrdup(s);
                char *dst = strchr(copy, ':');
                if (dst)
                        *dst++ = '\0';
                char *mode = dst ? strchr(dst, ':') : NULL;
                if (mode)
                        *mode = '\0';
                if (add_bind(copy, dst, ws_dir, project, targets, err) < 0)
                        return -1;
        }
        json_array_foreach (json_object_get(h, "Mounts"), i, b) {
                const char *type = json_string_value(json_object_get(b, "Type"));
                const char *src = json_string_value(json_object_get(b, "Source"));
                const char *dst = json_string_value(json_object_get(b, "Target"));
                if (!streq_ptr(type, "bind"))
                        return refuse(err,
                                      type && streq(type, "tmpfs") ? "--tmpfs" : "a named volume",
                                      "keep your files in /workspace (~/workspace/PROJECT on the "
                                      "host)");
                if (set_nonempty(json_object_get(b, "BindOptions")) &&
                    set_nonempty(json_object_get(json_object_get(b, "BindOptions"), "Propagation")))
                        return refuse(err, "bind propagation", NULL);
                if (add_bind(src, dst, ws_dir, project, targets, err) < 0)
                        return -1;
        }
        return 0;
}

/* ---- GPUs ---- */

static int parse_gpus(const json_t *h, json_t *params, struct error **err)
{
        const json_t *reqs = json_object_get(h, "DeviceRequests");
        if (json_array_size(reqs) == 0) {
                json_object_set_new(params, "cpu_only", json_true());
                return 0;
        }
        if (json_array_size(reqs) > 1)
                return error_set(err, DS01_EUSAGE, "ask for GPUs once: --gpus N");
        const json_t *r = json_array_get(reqs, 0);
        if (json_array_size(json_object_get(r, "DeviceIDs")) > 0)
                return refuse(err, "--gpus device=...",
                              "ds01 chooses your GPUs: ask for a number, --gpus N");
        json_int_t n = json_integer_value(json_object_get(r, "Count"));
        if (n < 0)
                return refuse(err, "--gpus all",
                              "ask for the number of GPUs you need, --gpus N (your quota is in "
                              "check-limits)");
        if (n > 64)
                return error_set(err, DS01_EUSAGE, "--gpus %lld: at most 64", (long long)n);
        if (n == 0)
                json_object_set_new(params, "cpu_only", json_true());
        else
                json_object_set_new(params, "gpus", json_integer(n));
        return 0;
}

/* ---- the command ---- */

/* A StrSlice: an array of strings, one string, or null. */
static json_t *str_slice(const json_t *v, bool *present, struct error **err)
{
        *present = v && !json_is_null(v);
        if (!*present)
                return json_array();
        if (json_is_string(v))
                return json_pack("[O]", v);
        if (!json_is_array(v)) {
                error_set(err, DS01_EUSAGE, "Entrypoint and Cmd must be lists of strings");
                return NULL;
        }
        size_t i;
        json_t *s;
        json_array_foreach (v, i, s)
                if (!json_is_string(s)) {
                        error_set(err, DS01_EUSAGE, "Entrypoint and Cmd must be lists of strings");
                        return NULL;
                }
        return json_deep_copy(v);
}

/* Docker's rule (daemon/commit.go merge, then create.go): a client's entrypoint replaces the
 * image's and drops the image's Cmd; an empty client Cmd ([] as null) is the image's; an empty
 * entrypoint ([]) keeps the image's Cmd and drops its entrypoint, null keeps both; --entrypoint ""
 * ([""]) clears it, the image's Cmd with it. */
static json_t *command(const json_t *cfg, const json_t *image, struct error **err)
{
        const json_t *icfg = json_object_get(image, "Config");
        bool has_ep, dummy;
        json_t *ep = str_slice(json_object_get(cfg, "Entrypoint"), &has_ep, err);
        json_t *cmd = ep ? str_slice(json_object_get(cfg, "Cmd"), &dummy, err) : NULL;
        if (!cmd) {
                json_decref(ep);
                return NULL;
        }
        if (json_array_size(ep) == 0) {
                if (json_array_size(cmd) == 0) {
                        json_decref(cmd);
                        cmd = str_slice(json_object_get(icfg, "Cmd"), &dummy, err);
                }
                if (!has_ep) {
                        json_decref(ep);
                        ep = str_slice(json_object_get(icfg, "Entrypoint"), &dummy, err);
                }
        }
        if (!ep || !cmd) {
                json_decref(ep);
                json_decref(cmd);
                return NULL;
        }
        if (json_array_size(ep) == 1 && streq(json_string_value(json_array_get(ep, 0)), ""))
                json_array_clear(ep);
        json_array_extend(ep, cmd);
        json_decref(cmd);
        size_t n = json_array_size(ep);
        if (n == 0 || n > 256) {
                json_decref(ep);
                error_set(err, DS01_EUSAGE,
                          n ? "the command has more than 256 words"
                            : "no command to run: the image has none - give one");
                return NULL;
        }
        return ep;
}

/* ---- the whole request ---- */

static const char *interface_of(const json_t *labels)
{
        if (json_object_get(labels, "com.docker.compose.project"))
                return "compose";
        const char *k;
        json_t *v;
        json_object_foreach ((json_t *)labels, k, v)
                if (startswith(k, "devcontainer."))
                        return "devcontainer";
        return "docker";
}

/* The project: the client's name, without a leading '/' or the caller's "._.<user>". */
static char *project_of(const struct dapi_create_in *in, struct error **err)
{
        if (!in->name || !*in->name)
                return xstrdup(in->generated_name);
        const char *n = in->name[0] == '/' ? in->name + 1 : in->name;
        _cleanup_free_ char *suffix = xasprintf("._.%s", in->c->user_part);
        size_t len = strlen(n), sl = strlen(suffix);
        char *p = len > sl && streq(n + len - sl, suffix) ? xstrndup(n, len - sl) : xstrdup(n);
        if (names_check_project(p, err) < 0) {
                free(p);
                return NULL;
        }
        return p;
}

static int check_config(const json_t *cfg, const struct caller *c, struct error **err)
{
        const char *user = json_string_value(json_object_get(cfg, "User"));
        if (json_object_get(cfg, "User") && !json_is_string(json_object_get(cfg, "User")))
                return error_set(err, DS01_EUSAGE, "User must be a string");
        if (!dapi_user_is_caller(user, c))
                return error_set(err, DS01_EPERM,
                                 "containers run as you (%s) on ds01: '--user %s' is not available",
                                 c->login, user);
        if (set_nonempty(json_object_get(cfg, "Volumes")))
                return refuse(err, "an anonymous volume (-v /PATH)",
                              "keep your files in /workspace (~/workspace/PROJECT on the host)");
        if (!json_is_string(json_object_get(cfg, "Image")) ||
            json_string_length(json_object_get(cfg, "Image")) == 0)
                return error_set(err, DS01_EUSAGE, "no image given");
        return 0;
}

/* The endpoint on a view: its aliases, and nothing a view cannot give. */
static int check_endpoint(const json_t *ep, json_t *aliases, struct error **err)
{
        if (!json_is_object(ep) && !json_is_null(ep))
                return error_set(err, DS01_EUSAGE, "invalid create request: EndpointsConfig");
        const json_t *ipam = json_object_get(ep, "IPAMConfig");
        if (set_nonempty(json_object_get(ipam, "IPv4Address")) ||
            set_nonempty(json_object_get(ipam, "IPv6Address")))
                return refuse(err, "--ip", "ds01 gives your containers their addresses");
        if (set_nonempty(json_object_get(ipam, "LinkLocalIPs")) ||
            set_nonempty(json_object_get(ep, "LinkLocalIPs")))
                return refuse(err, "--link-local-ip", NULL);
        if (set_nonempty(json_object_get(ep, "Links")))
                return refuse(err, "--link", NULL);
        if (set_nonempty(json_object_get(ep, "MacAddress")))
                return refuse(err, "--mac-address", NULL);
        if (set_nonempty(json_object_get(ep, "DriverOpts")))
                return refuse(err, "network driver options", NULL);
        const json_t *a = json_object_get(ep, "Aliases");
        if (a && !json_is_null(a) && !json_is_array(a))
                return error_set(err, DS01_EUSAGE, "invalid create request: Aliases");
        size_t i;
        json_t *v;
        json_array_foreach (a, i, v) {
                if (!json_is_string(v))
                        return error_set(err, DS01_EUSAGE, "invalid create request: Aliases");
                json_array_append(aliases, v);
        }
        return 0;
}

static int check_networking(const json_t *body, const char *view, json_t *aliases,
                            struct error **err)
{
        const char *k;
        json_t *v;
        json_object_foreach (
            json_object_get(json_object_get(body, "NetworkingConfig"), "EndpointsConfig"), k, v) {
                if (view && streq(k, view)) {
                        if (check_endpoint(v, aliases, err) < 0)
                                return -1;
                } else if (!streq(k, "bridge") && !streq(k, "default")) {
                        return refuse_value(
                            err, "--network", k,
                            "each user's containers share a private network of their own");
                }
        }
        return 0;
}

json_t *dapi_create_params(const struct dapi_create_in *in, struct error **err)
{
        const json_t *b = in->body;
        if (!json_is_object(b)) {
                error_set(err, DS01_EUSAGE, "invalid create request: a JSON object is expected");
                return NULL;
        }
        const json_t *h = json_object_get(b, "HostConfig");
        if (set_nonempty(json_object_get(h, "Links")) && !in->links) {
                refuse(err, "--link", NULL);
                return NULL;
        }
        json_t *aliases = json_array();
        if (check_config(b, in->c, err) < 0 || check_host(h, in->network_view, err) < 0 ||
            check_networking(b, in->network_view, aliases, err) < 0) {
                json_decref(aliases);
                return NULL;
        }
        _cleanup_free_ char *project = project_of(in, err);
        if (!project) {
                json_decref(aliases);
                return NULL;
        }
        json_t *targets = json_array();
        char *ws = NULL;
        json_t *params = NULL, *cmd = NULL;
        if (parse_mounts(h, in->workspace_dir, &ws, targets, err) < 0)
                goto fail;
        /* A Compose project in ~/workspace/P that binds none: its services' /workspace is P. */
        const char *cwd = json_string_value(json_object_get(
            json_object_get(b, "Labels"), "com.docker.compose.project.working_dir"));
        if (!ws && cwd && workspace_of_source(cwd, in->workspace_dir, &ws, NULL) < 0)
                ws = NULL;
        cmd = command(b, in->image, err);
        if (!cmd)
                goto fail;
        const json_t *labels = json_object_get(b, "Labels");
        json_t *extras =
            json_pack("{s:s, s:O?, s:O?, s:b, s:b, s:b, s:b, s:o}", "interface",
                      interface_of(labels), "env", json_object_get(b, "Env"), "labels", labels,
                      "tty", json_is_true(json_object_get(b, "Tty")), "open_stdin",
                      json_is_true(json_object_get(b, "OpenStdin")), "stdin_once",
                      json_is_true(json_object_get(b, "StdinOnce")), "auto_remove",
                      json_is_true(json_object_get(h, "AutoRemove")), "targets", targets);
        targets = NULL;
        if (!extras) {
                error_set(err, DS01_EUSAGE, "invalid create request: Env or Labels malformed");
                goto fail;
        }
        const char *wd = json_string_value(json_object_get(b, "WorkingDir"));
        if (wd && *wd)
                json_object_set_new(extras, "workdir", json_string(wd));
        if (ws)
                json_object_set_new(extras, "workspace", json_string(ws));
        if (json_array_size(in->links) > 0)
                json_object_set(extras, "links", (json_t *)in->links);
        if (json_array_size(aliases) > 0)
                json_object_set(extras, "aliases", aliases);
        /* What the deploy checks of them (a ds01.* label, a target over ds01's mounts, a relative
         * working directory) is refused here, before the call, naming it. */
        struct deploy_extras checked;
        if (extras_parse(extras, &checked, err) < 0) {
                json_decref(extras);
                goto fail;
        }
        extras_release(&checked);
        params = json_pack("{s:s, s:O, s:o, s:b, s:o}", "project", project, "image",
                           json_object_get(b, "Image"), "cmd", cmd, "start", 0, "docker", extras);
        cmd = NULL;
        if (parse_gpus(h, params, err) < 0) {
                json_decref(params);
                params = NULL;
        }
fail:
        json_decref(aliases);
        json_decref(targets);
        json_decref(cmd);
        free(ws);
        return params;
}
