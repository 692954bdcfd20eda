/* extras.c - a Docker-made container's extras, checked (see extras.h). */
#include "daemon/containers/extras.h"

#include "shared/names.h"
#include "shared/util.h"

#include <ctype.h>
#include <string.h>

#define VALUE_MAX (64u << 10) /* one label or variable */
#define PATH_MAX_ (4096)

static const char *const INTERFACES[] = {"docker", "compose", "devcontainer", NULL};

/* What spec.c sets in every container: a user's value would lie about the container. */
static const char *const RESERVED_ENV[] = {"HOME",
                                           "USER",
                                           "LOGNAME",
                                           "DS01_PROJECT",
                                           "CUDA_DEVICE_ORDER",
                                           "CUDA_VISIBLE_DEVICES",
                                           "NVIDIA_VISIBLE_DEVICES",
                                           "NVIDIA_DRIVER_CAPABILITIES",
                                           "NVIDIA_REQUIRE_CUDA",
                                           NULL};

bool extras_env_reserved(const char *name, size_t len)
{
        /* Every NVIDIA_* variable is the container toolkit's: some make it add devices
         * (NVIDIA_MOFED, NVIDIA_NVSWITCH, NVIDIA_GDS, ...). */
        if (len >= 7 && memcmp(name, "NVIDIA_", 7) == 0)
                return true;
        for (size_t i = 0; RESERVED_ENV[i]; i++)
                if (strlen(RESERVED_ENV[i]) == len && memcmp(RESERVED_ENV[i], name, len) == 0)
                        return true;
        return false;
}

static bool plain_string(const json_t *v, size_t max)
{
        return json_is_string(v) && json_string_length(v) <= max &&
               strlen(json_string_value(v)) == json_string_length(v);
}

/* An absolute path inside the container: no "..", no control characters, not ds01's own. */
static bool inside_path_ok(const char *p)
{
        if (!p || p[0] != '/' || strlen(p) > PATH_MAX_)
                return false;
        for (const char *s = p; *s; s++)
                if ((unsigned char)*s < 0x20 || *s == 0x7f)
                        return false;
        for (const char *s = p; (s = strstr(s, "/..")); s += 3)
                if (s[3] == '/' || s[3] == '\0')
                        return false;
        return true;
}

/* Docker cleans a mount's target (path.Clean) before it is mounted: a target with an empty or
 * "." segment ("//.ds01", "/./workspace") is the path it cleans to, which is not compared below. */
static bool clean_path(const char *p)
{
        for (const char *s = p; (s = strchr(s, '/')); s++)
                if (s[1] == '/' || (s[1] == '.' && (s[2] == '/' || s[2] == '\0')))
                        return false;
        return true;
}

static bool target_ok(const char *t)
{
        if (!inside_path_ok(t) || streq(t, "/") || !clean_path(t))
                return false;
        /* ds01's own mounts stay ds01's */
        static const char *const taken[] = {"/workspace", "/.ds01", "/etc/passwd", "/data", NULL};
        for (size_t i = 0; taken[i]; i++) {
                size_t n = strlen(taken[i]);
                if (strncmp(t, taken[i], n) == 0 && (t[n] == '\0' || t[n] == '/'))
                        return false;
        }
        return true;
}

static int parse_env(const json_t *j, struct deploy_extras *e, struct error **err)
{
        e->env = json_array();
        if (!j || json_is_null(j))
                return 0;
        if (!json_is_array(j) || json_array_size(j) > EXTRAS_MAX_ENV)
                return error_set(err, DS01_EUSAGE,
                                 "'env' must be a list of at most %d NAME=VALUE strings",
                                 EXTRAS_MAX_ENV);
        size_t i;
        json_t *v;
        json_array_foreach (j, i, v) {
                if (!plain_string(v, VALUE_MAX))
                        return error_set(err, DS01_EUSAGE,
                                         "'env' items must be NAME=VALUE strings");
                const char *s = json_string_value(v);
                const char *eq = strchr(s, '=');
                size_t n = eq ? (size_t)(eq - s) : strlen(s);
                if (n == 0)
                        return error_set(err, DS01_EUSAGE, "'env' item '%.40s' has no name", s);
                if (!extras_env_reserved(s, n))
                        json_array_append(e->env, v);
        }
        return 0;
}

static int parse_labels(const json_t *j, struct deploy_extras *e, struct error **err)
{
        e->labels = json_object();
        if (!j || json_is_null(j))
                return 0;
        if (!json_is_object(j) || json_object_size(j) > EXTRAS_MAX_LABELS)
                return error_set(err, DS01_EUSAGE, "'labels' must be a map of at most %d strings",
                                 EXTRAS_MAX_LABELS);
        const char *k;
        json_t *v;
        json_object_foreach ((json_t *)j, k, v) {
                if (!plain_string(v, VALUE_MAX) || !*k || strlen(k) > 1024)
                        return error_set(err, DS01_EUSAGE, "label '%.40s' must have a string value",
                                         k);
                if (startswith(k, "ds01.") || startswith(k, "ds01-"))
                        return error_set(err, DS01_EPERM,
                                         "label '%.80s': labels starting with 'ds01.' are ds01's "
                                         "own - choose another name",
                                         k);
                json_object_set(e->labels, k, v);
        }
        return 0;
}

static int parse_targets(const json_t *j, struct deploy_extras *e, struct error **err)
{
        e->targets = json_array();
        if (!j)
                return 0;
        if (!json_is_array(j) || json_array_size(j) > EXTRAS_MAX_TARGETS)
                return error_set(err, DS01_EUSAGE, "'targets' must be a list of at most %d paths",
                                 EXTRAS_MAX_TARGETS);
        size_t i;
        json_t *v;
        json_array_foreach (j, i, v) {
                if (!plain_string(v, PATH_MAX_) || !target_ok(json_string_value(v)))
                        return error_set(err, DS01_EPERM,
                                         "the workspace cannot be mounted at '%.200s': give an "
                                         "absolute path of your own (not /, /workspace, /data, "
                                         "/.ds01 or /etc/passwd; no '.', '..' or empty segments)",
                                         json_is_string(v) ? json_string_value(v) : "?");
                json_array_append(e->targets, v);
        }
        return 0;
}

bool extras_alias_ok(const char *s)
{
        size_t n = s ? strlen(s) : 0;
        if (n == 0 || n > 128 || !isalnum((unsigned char)s[0]))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isalnum((unsigned char)s[i]) && !strchr("_.-", s[i]))
                        return false;
        return true;
}

static int parse_aliases(const json_t *j, struct deploy_extras *e, struct error **err)
{
        e->aliases = json_array();
        if (!j || json_is_null(j))
                return 0;
        if (!json_is_array(j) || json_array_size(j) > EXTRAS_MAX_ALIASES)
                return error_set(err, DS01_EUSAGE, "'aliases' must be a list of at most %d names",
                                 EXTRAS_MAX_ALIASES);
        size_t i;
        json_t *v;
        json_array_foreach (j, i, v) {
                if (!plain_string(v, 128) || !extras_alias_ok(json_string_value(v)))
                        return error_set(err, DS01_EUSAGE,
                                         "network alias '%.80s': use letters, digits, '_', '.' and "
                                         "'-', starting with a letter or digit",
                                         json_is_string(v) ? json_string_value(v) : "?");
                bool dup = false;
                size_t k;
                json_t *w;
                json_array_foreach (e->aliases, k, w)
                        dup = dup || json_equal(v, w);
                if (!dup)
                        json_array_append(e->aliases, v);
        }
        return 0;
}

/* "<container>:<alias>": a managed container's full name (names.h), an alias. */
static bool link_ok(const char *s)
{
        const char *colon = strrchr(s, ':');
        if (!colon || !extras_alias_ok(colon + 1))
                return false;
        _cleanup_free_ char *name = xstrndup(s, (size_t)(colon - s));
        const char *sep = strstr(name, NAMES_SEPARATOR);
        if (!sep)
                return false;
        _cleanup_free_ char *project = xstrndup(name, (size_t)(sep - name));
        return names_check_project(project, NULL) == 0 &&
               names_check_user_part(sep + strlen(NAMES_SEPARATOR), NULL) == 0;
}

static int parse_links(const json_t *j, struct deploy_extras *e, struct error **err)
{
        e->links = json_array();
        if (!j || json_is_null(j))
                return 0;
        if (!json_is_array(j) || json_array_size(j) > EXTRAS_MAX_LINKS)
                return error_set(err, DS01_EUSAGE, "'links' must be a list of at most %d links",
                                 EXTRAS_MAX_LINKS);
        size_t i;
        json_t *v;
        json_array_foreach (j, i, v) {
                if (!plain_string(v, 256) || !link_ok(json_string_value(v)))
                        return error_set(err, DS01_EUSAGE,
                                         "link '%.80s': give CONTAINER:ALIAS, the full name of a "
                                         "container of yours",
                                         json_is_string(v) ? json_string_value(v) : "?");
                json_array_append(e->links, v);
        }
        return 0;
}

static int parse_bool(const json_t *o, const char *key, bool *ret, struct error **err)
{
        json_t *v = json_object_get(o, key);
        if (v && !json_is_boolean(v))
                return error_set(err, DS01_EUSAGE, "'%s' must be true or false", key);
        *ret = json_is_true(v);
        return 0;
}

static const char *const KNOWN[] = {"interface",  "env",         "labels",  "tty",     "open_stdin",
                                    "stdin_once", "auto_remove", "workdir", "targets", "workspace",
                                    "aliases",    "links",       NULL};

int extras_parse(const json_t *j, struct deploy_extras *ret, struct error **err)
{
        *ret = (struct deploy_extras){.interface = "docker"};
        if (!json_is_object(j))
                return error_set(err, DS01_EUSAGE, "parameter 'docker' must be an object");
        const char *k;
        json_t *v;
        json_object_foreach ((json_t *)j, k, v) {
                bool known = false;
                for (size_t i = 0; KNOWN[i] && !known; i++)
                        known = streq(k, KNOWN[i]);
                if (!known)
                        return error_set(err, DS01_EUSAGE, "unknown key '%.40s' in 'docker'", k);
        }
        const char *iface = json_string_value(json_object_get(j, "interface"));
        if (iface) {
                ret->interface = NULL;
                for (size_t i = 0; INTERFACES[i]; i++)
                        if (streq(iface, INTERFACES[i]))
                                ret->interface = INTERFACES[i];
                if (!ret->interface)
                        return error_set(err, DS01_EUSAGE,
                                         "'interface' must be docker, compose or devcontainer");
        }
        const char *wd = json_string_value(json_object_get(j, "workdir"));
        if (json_object_get(j, "workdir") && !inside_path_ok(wd))
                return error_set(err, DS01_EUSAGE,
                                 "the working directory must be an absolute path without '..'");
        const char *ws = json_string_value(json_object_get(j, "workspace"));
        if (json_object_get(j, "workspace") && names_check_project(ws, err) < 0)
                return -1;
        if (parse_env(json_object_get(j, "env"), ret, err) < 0 ||
            parse_labels(json_object_get(j, "labels"), ret, err) < 0 ||
            parse_targets(json_object_get(j, "targets"), ret, err) < 0 ||
            parse_aliases(json_object_get(j, "aliases"), ret, err) < 0 ||
            parse_links(json_object_get(j, "links"), ret, err) < 0 ||
            parse_bool(j, "tty", &ret->tty, err) < 0 ||
            parse_bool(j, "open_stdin", &ret->open_stdin, err) < 0 ||
            parse_bool(j, "stdin_once", &ret->stdin_once, err) < 0 ||
            parse_bool(j, "auto_remove", &ret->auto_remove, err) < 0) {
                extras_release(ret);
                return -1;
        }
        ret->workdir = wd ? xstrdup(wd) : NULL;
        ret->workspace = ws ? xstrdup(ws) : NULL;
        return 0;
}

void extras_release(struct deploy_extras *e)
{
        json_decref(e->env);
        json_decref(e->labels);
        json_decref(e->targets);
        json_decref(e->aliases);
        json_decref(e->links);
        free(e->workdir);
        free(e->workspace);
        *e = (struct deploy_extras){0};
}

/* The inspect's ds01 label `key`, or NULL. */
static const char *label_of(const json_t *inspect, const char *key)
{
        return json_string_value(
            json_object_get(json_object_get(json_object_get(inspect, "Config"), "Labels"), key));
}

bool extras_of_inspect(const json_t *inspect, struct deploy_extras *ret)
{
        const char *iface = label_of(inspect, "ds01.interface");
        *ret = (struct deploy_extras){0};
        for (size_t i = 0; iface && INTERFACES[i]; i++)
                if (streq(iface, INTERFACES[i]))
                        ret->interface = INTERFACES[i];
        if (!ret->interface)
                return false;
        const json_t *cfg = json_object_get(inspect, "Config");
        ret->env = json_array();
        size_t i;
        json_t *v;
        json_array_foreach (json_object_get(cfg, "Env"), i, v) {
                const char *s = json_string_value(v);
                const char *eq = s ? strchr(s, '=') : NULL;
                if (eq && !extras_env_reserved(s, (size_t)(eq - s)))
                        json_array_append(ret->env, v);
        }
        ret->labels = json_object();
        const char *k;
        json_object_foreach (json_object_get(cfg, "Labels"), k, v)
                if (!startswith(k, "ds01.") && !startswith(k, "ds01-"))
                        json_object_set(ret->labels, k, v);
        ret->tty = json_is_true(json_object_get(cfg, "Tty"));
        ret->open_stdin = json_is_true(json_object_get(cfg, "OpenStdin"));
        ret->stdin_once = json_is_true(json_object_get(cfg, "StdinOnce"));
        ret->auto_remove =
            json_is_true(json_object_get(json_object_get(inspect, "HostConfig"), "AutoRemove"));
        const char *wd = json_string_value(json_object_get(cfg, "WorkingDir"));
        ret->workdir = wd && !streq(wd, "/workspace") ? xstrdup(wd) : NULL;
        const char *ws = label_of(inspect, "ds01.workspace_project");
        ret->workspace = ws ? xstrdup(ws) : NULL;
        /* more mount points of the workspace: the mounts whose source is /workspace's pin */
        const char *pin = NULL;
        json_t *mounts = json_object_get(inspect, "Mounts");
        json_array_foreach (mounts, i, v)
                if (streq_ptr(json_string_value(json_object_get(v, "Destination")), "/workspace"))
                        pin = json_string_value(json_object_get(v, "Source"));
        ret->targets = json_array();
        json_array_foreach (mounts, i, v) {
                const char *dst = json_string_value(json_object_get(v, "Destination"));
                if (pin && dst && !streq(dst, "/workspace") &&
                    streq_ptr(json_string_value(json_object_get(v, "Source")), pin))
                        json_array_append_new(ret->targets, json_string(dst));
        }
        /* its aliases on the owner's network, less the short id Docker gives every container */
        const json_t *hc = json_object_get(inspect, "HostConfig");
        const char *net = json_string_value(json_object_get(hc, "NetworkMode"));
        const char *id = json_string_value(json_object_get(inspect, "Id"));
        const json_t *aliases = json_object_get(
            json_object_get(
                json_object_get(json_object_get(inspect, "NetworkSettings"), "Networks"),
                net ? net : ""),
            "Aliases");
        ret->aliases = json_array();
        json_array_foreach (aliases, i, v) {
                const char *a = json_string_value(v);
                bool short_id = a && id && strlen(a) == 12 && startswith(id, a);
                if (a && !short_id && extras_alias_ok(a) &&
                    json_array_size(ret->aliases) < EXTRAS_MAX_ALIASES)
                        json_array_append(ret->aliases, v);
        }
        /* its links, as Docker shows them: "/<container>:/<this one>/<alias>" */
        ret->links = json_array();
        json_array_foreach (json_object_get(hc, "Links"), i, v) {
                const char *l = json_string_value(v);
                const char *colon = l ? strchr(l, ':') : NULL;
                const char *alias = colon ? strrchr(colon, '/') : NULL;
                if (!alias || json_array_size(ret->links) >= EXTRAS_MAX_LINKS)
                        continue;
                const char *target = l[0] == '/' ? l + 1 : l;
                _cleanup_free_ char *link =
                    xasprintf("%.*s:%s", (int)(colon - target), target, alias + 1);
                if (link_ok(link))
                        json_array_append_new(ret->links, json_string(link));
        }
        return true;
}
