/* networks.c - networks as views of the caller's own network (see networks.h). */
#include "daemon/dockerapi/networks.h"

#include "daemon/containers/extras.h"
#include "daemon/docker/dockerjson.h"
#include "daemon/dockerapi/forward.h"
#include "daemon/dockerapi/objects.h"
#include "daemon/observe/audit.h"
#include "daemon/requests/access.h"
#include "shared/util.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define NAME_MAX_      128
#define NETWORKS_TOTAL 4096

struct view {
        uid_t uid;
        char *name;
        char id[65];
        int64_t created; /* unix seconds */
        json_t *labels;
        bool attachable;
};

struct dapi_networks {
        pthread_mutex_t lock;
        struct view *views;
        size_t n;
};

static const char *const REFUSE_CREATE =
    "networks are ds01's on this server: each user's containers share a private network of "
    "their own. Docker Compose's networks are answered as names for it";

struct dapi_networks *dapi_networks_new(void)
{
        struct dapi_networks *n = xzalloc(sizeof(*n));
        pthread_mutex_init(&n->lock, NULL);
        return n;
}

static void view_release(struct view *w)
{
        free(w->name);
        json_decref(w->labels);
}

struct dapi_networks *dapi_networks_free(struct dapi_networks *n)
{
        if (!n)
                return NULL;
        for (size_t i = 0; i < n->n; i++)
                view_release(&n->views[i]);
        free(n->views);
        pthread_mutex_destroy(&n->lock);
        free(n);
        return NULL;
}

/* ---- pure parts ---- */

static bool name_ok(const char *s)
{
        size_t n = s ? strlen(s) : 0;
        if (n == 0 || n > NAME_MAX_ || !isalnum((unsigned char)s[0]))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isalnum((unsigned char)s[i]) && !strchr("_.-", s[i]))
                        return false;
        static const char *const reserved[] = {"bridge", "host", "none", "default", NULL};
        for (size_t i = 0; reserved[i]; i++)
                if (streq(s, reserved[i]))
                        return false;
        return true;
}

static bool empty(const json_t *v)
{
        return !v || json_is_null(v) || json_is_false(v) ||
               (json_is_string(v) && json_string_length(v) == 0) ||
               (json_is_object(v) && json_object_size(v) == 0) ||
               (json_is_array(v) && json_array_size(v) == 0);
}

static int refuse(struct error **err, const char *what)
{
        return error_set(err, DS01_EPERM,
                         "%s is not available on ds01: each user's containers share a private "
                         "network of their own, and a Compose network is a name for it",
                         what);
}

/* The IPAM of a view: Docker's default driver and no configuration of its own. */
static int check_ipam(const json_t *ipam, struct error **err)
{
        if (empty(ipam))
                return 0;
        if (!json_is_object(ipam))
                return error_set(err, DS01_EUSAGE, "invalid network request: IPAM");
        const char *drv = json_string_value(json_object_get(ipam, "Driver"));
        if (drv && *drv && !streq(drv, "default"))
                return refuse(err, "an IPAM driver");
        if (!empty(json_object_get(ipam, "Config")))
                return refuse(err, "a network's subnet, IP range or gateway (ipam config)");
        if (!empty(json_object_get(ipam, "Options")))
                return refuse(err, "IPAM options");
        const char *k;
        json_t *v;
        json_object_foreach ((json_t *)ipam, k, v)
                if (!streq(k, "Driver") && !streq(k, "Config") && !streq(k, "Options"))
                        return error_set(err, DS01_EUSAGE,
                                         "invalid network request: unknown key IPAM.%.40s", k);
        return 0;
}

int dapi_network_create_body(const char *body, size_t len, char **ret_name, json_t **ret_labels,
                             struct error **err)
{
        *ret_name = NULL;
        *ret_labels = NULL;
        json_t *b = json_loadb(body ? body : "", len, 0, NULL);
        int r = -1;
        if (!json_is_object(b)) {
                error_set(err, DS01_EUSAGE, "invalid network request: a JSON object is expected");
                goto out;
        }
        static const char *const known[] = {
            "Name",       "CheckDuplicate", "Driver",     "Scope",   "EnableIPv6",
            "IPAM",       "Internal",       "Attachable", "Ingress", "ConfigOnly",
            "ConfigFrom", "Options",        "Labels",     NULL};
        const char *k;
        json_t *v;
        json_object_foreach (b, k, v) {
                bool ok = false;
                for (size_t i = 0; known[i] && !ok; i++)
                        ok = streq(k, known[i]);
                if (!ok) {
                        error_set(err, DS01_EUSAGE, "invalid network request: unknown key %.40s",
                                  k);
                        goto out;
                }
        }
        const char *name = json_string_value(json_object_get(b, "Name"));
        const json_t *labels = json_object_get(b, "Labels");
        const char *drv = json_string_value(json_object_get(b, "Driver"));
        const char *scope = json_string_value(json_object_get(b, "Scope"));
        const json_t *from = json_object_get(b, "ConfigFrom");
        if (!name || !name_ok(name)) {
                error_set(err, DS01_EUSAGE,
                          "invalid network name '%.80s': use letters, digits, '_', '.' and '-' "
                          "(at most %d), starting with a letter or digit; not bridge, host, "
                          "none or default",
                          name ? name : "", NAME_MAX_);
                goto out;
        }
        if (labels && !json_is_null(labels) && !json_is_object(labels)) {
                error_set(err, DS01_EUSAGE, "invalid network request: Labels must be a map");
                goto out;
        }
        json_object_foreach ((json_t *)labels, k, v) {
                if (!json_is_string(v) || json_object_size(labels) > 64 || strlen(k) > 1024 ||
                    json_string_length(v) > 4096) {
                        error_set(err, DS01_EUSAGE,
                                  "invalid network request: labels must be at most 64 strings");
                        goto out;
                }
        }
        if (!json_string_length(json_object_get(labels, "com.docker.compose.project")) ||
            !json_string_length(json_object_get(labels, "com.docker.compose.network"))) {
                error_set(err, DS01_EPERM, "docker network create: %s", REFUSE_CREATE);
                goto out;
        }
        if (drv && *drv && !streq(drv, "bridge")) {
                _cleanup_free_ char *what = xasprintf("the network driver %.40s", drv);
                refuse(err, what);
                goto out;
        }
        if (scope && *scope && !streq(scope, "local")) {
                refuse(err, "a network scope other than local");
                goto out;
        }
        if (!empty(json_object_get(b, "Internal"))) {
                refuse(err, "an internal network");
                goto out;
        }
        if (!empty(json_object_get(b, "EnableIPv6"))) {
                refuse(err, "IPv6 (enable_ipv6)");
                goto out;
        }
        if (!empty(json_object_get(b, "Options"))) {
                refuse(err, "network driver options (driver_opts)");
                goto out;
        }
        if (!empty(json_object_get(b, "Ingress")) || !empty(json_object_get(b, "ConfigOnly")) ||
            !(empty(from) || (json_is_object(from) && json_object_size(from) == 1 &&
                              empty(json_object_get(from, "Network"))))) {
                refuse(err, "a swarm or config-only network");
                goto out;
        }
        if (check_ipam(json_object_get(b, "IPAM"), err) < 0)
                goto out;
        *ret_name = xstrdup(name);
        *ret_labels = labels ? json_deep_copy(labels) : json_object();
        r = 0;
out:
        json_decref(b);
        return r;
}

/* The values a filter asks for: ["a", "b"] or {"a": true, "b": true}; NULL when malformed. */
static json_t *filter_values(const json_t *f)
{
        json_t *out = json_array();
        size_t i;
        const char *k;
        json_t *v;
        if (json_is_array(f)) {
                json_array_foreach (f, i, v) {
                        if (!json_is_string(v))
                                goto bad;
                        json_array_append(out, v);
                }
                return out;
        }
        if (json_is_object(f)) {
                json_object_foreach ((json_t *)f, k, v) {
                        if (!json_is_boolean(v))
                                goto bad;
                        if (json_is_true(v))
                                json_array_append_new(out, json_string(k));
                }
                return out;
        }
bad:
        json_decref(out);
        return NULL;
}

/* Whether the network matches one value of filter `key`. */
static bool match_one(const json_t *net, const char *key, const char *want)
{
        if (streq(key, "name"))
                return strstr(jstr(net, "Name"), want) != NULL;
        if (streq(key, "id"))
                return startswith(jstr(net, "Id"), want);
        if (streq(key, "driver"))
                return streq(want, "bridge");
        if (streq(key, "type"))
                return streq(want, "custom");
        if (streq(key, "scope"))
                return streq(want, "local");
        /* label: "key" or "key=value" */
        const json_t *labels = json_object_get(net, "Labels");
        const char *eq = strchr(want, '=');
        if (!eq)
                return json_object_get(labels, want) != NULL;
        _cleanup_free_ char *lk = xstrndup(want, (size_t)(eq - want));
        const char *have = json_string_value(json_object_get(labels, lk));
        return have && streq(have, eq + 1);
}

int dapi_network_matches(const json_t *net, const char *filters, struct error **err)
{
        if (!filters || !*filters)
                return 1;
        json_t *f = json_loads(filters, 0, NULL);
        if (!json_is_object(f)) {
                json_decref(f);
                return error_set(err, DS01_EUSAGE, "invalid filters: a JSON object is expected");
        }
        int r = 1;
        const char *key;
        json_t *v;
        json_object_foreach (f, key, v) {
                static const char *const keys[] = {"name", "id",    "label", "driver",
                                                   "type", "scope", NULL};
                bool known = false;
                for (size_t i = 0; keys[i] && !known; i++)
                        known = streq(key, keys[i]);
                json_t *values = known ? filter_values(v) : NULL;
                if (!values) {
                        r = error_set(err, DS01_EUSAGE, "invalid filter '%.40s'", key);
                        break;
                }
                /* label filters must all match; for the others, one of the values */
                bool all = streq(key, "label"), ok = all || json_array_size(values) == 0;
                size_t i;
                json_t *w;
                json_array_foreach (values, i, w) {
                        bool m = match_one(net, key, json_string_value(w));
                        if (all && !m)
                                ok = false;
                        else if (!all && m)
                                ok = true;
                }
                json_decref(values);
                if (!ok) {
                        r = 0;
                        break;
                }
        }
        json_decref(f);
        return r;
}

/* ---- the views ---- */

static struct view *find(struct dapi_networks *n, uid_t uid, const char *ref)
{
        struct view *prefix = NULL;
        size_t n_prefix = 0;
        for (size_t i = 0; i < n->n; i++) {
                struct view *w = &n->views[i];
                if (w->uid != uid)
                        continue;
                if (streq(w->name, ref) || streq(w->id, ref))
                        return w;
                if (strlen(ref) >= 1 && startswith(w->id, ref)) {
                        prefix = w;
                        n_prefix++;
                }
        }
        return n_prefix == 1 ? prefix : NULL;
}

char *dapi_network_view(struct dapi_networks *n, uid_t uid, const char *ref)
{
        if (!ref || !*ref)
                return NULL;
        pthread_mutex_lock(&n->lock);
        struct view *w = find(n, uid, ref);
        char *name = w ? xstrdup(w->name) : NULL;
        pthread_mutex_unlock(&n->lock);
        return name;
}

static json_t *view_json(const struct view *w)
{
        char ts[32];
        return json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:{s:s, s:{}, s:[]}, s:b, s:b, s:b, "
                         "s:{s:s}, s:b, s:{}, s:{}, s:o}",
                         "Name", w->name, "Id", w->id, "Created", format_iso8601(w->created, ts),
                         "Scope", "local", "Driver", "bridge", "EnableIPv6", 0, "IPAM", "Driver",
                         "default", "Options", "Config", "Internal", 0, "Attachable", w->attachable,
                         "Ingress", 0, "ConfigFrom", "Network", "", "ConfigOnly", 0, "Containers",
                         "Options", "Labels", json_deep_copy(w->labels));
}

/* The inspect of uid's view ref, or NULL. */
static json_t *inspect(struct dapi_networks *n, uid_t uid, const char *ref)
{
        pthread_mutex_lock(&n->lock);
        struct view *w = find(n, uid, ref);
        json_t *j = w ? view_json(w) : NULL;
        pthread_mutex_unlock(&n->lock);
        return j;
}

static void random_id(char id[65])
{
        unsigned char b[32] = {0};
        if (getrandom(b, sizeof(b), 0) != sizeof(b))
                for (size_t i = 0; i < sizeof(b); i++)
                        b[i] = (unsigned char)(rand() ^ getpid());
        for (size_t i = 0; i < sizeof(b); i++)
                snprintf(id + 2 * i, 3, "%02x", b[i]);
}

static int add(struct dapi_networks *n, uid_t uid, char *name, json_t *labels, bool attachable,
               char ret_id[65], struct error **err)
{
        pthread_mutex_lock(&n->lock);
        size_t mine = 0;
        bool exists = false;
        for (size_t i = 0; i < n->n; i++) {
                mine += n->views[i].uid == uid;
                exists = exists || (n->views[i].uid == uid && streq(n->views[i].name, name));
        }
        int r = 0;
        if (exists) {
                r = error_set(err, DS01_ERESOURCE, "network with name %s already exists", name);
        } else if (mine >= NETWORKS_PER_UID || n->n >= NETWORKS_TOTAL) {
                r = error_set(err, DS01_ERESOURCE,
                              "too many networks: you have %zu (at most %d): remove some with "
                              "'docker-compose down' or 'docker network rm'",
                              mine, NETWORKS_PER_UID);
        } else {
                n->views = xrealloc(n->views, (n->n + 1) * sizeof(*n->views));
                struct view *w = &n->views[n->n++];
                *w = (struct view){.uid = uid,
                                   .name = name,
                                   .labels = labels,
                                   .created = now_s(),
                                   .attachable = attachable};
                random_id(w->id);
                memcpy(ret_id, w->id, 65);
                name = NULL;
                labels = NULL;
        }
        pthread_mutex_unlock(&n->lock);
        free(name);
        json_decref(labels);
        return r;
}

static bool remove_view(struct dapi_networks *n, uid_t uid, const char *ref)
{
        pthread_mutex_lock(&n->lock);
        struct view *w = find(n, uid, ref);
        if (w) {
                view_release(w);
                *w = n->views[--n->n];
        }
        pthread_mutex_unlock(&n->lock);
        return w != NULL;
}

/* ---- the calls ---- */

static enum MHD_Result not_found(struct ds01d *v, struct MHD_Connection *conn, const char *ref)
{
        _cleanup_free_ char *msg = xasprintf("network %s not found", ref);
        return dapi_reply_message(v, conn, MHD_HTTP_NOT_FOUND, msg);
}

static enum MHD_Result list(struct dapi_networks *n, struct ds01d *v, struct MHD_Connection *conn,
                            const struct caller *c)
{
        const char *filters = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "filters");
        json_t *all = json_array();
        pthread_mutex_lock(&n->lock);
        for (size_t i = 0; i < n->n; i++)
                if (n->views[i].uid == c->uid)
                        json_array_append_new(all, view_json(&n->views[i]));
        pthread_mutex_unlock(&n->lock);
        json_t *out = json_array();
        size_t i;
        json_t *w;
        struct error *err = NULL;
        json_array_foreach (all, i, w) {
                int m = dapi_network_matches(w, filters, &err);
                if (m < 0) {
                        json_decref(all);
                        json_decref(out);
                        return dapi_reply_error(v, conn, err);
                }
                if (m)
                        json_array_append(out, w);
        }
        json_decref(all);
        return dapi_reply_json(v, conn, MHD_HTTP_OK, out);
}

static enum MHD_Result create(struct dapi_networks *n, struct ds01d *v, struct MHD_Connection *conn,
                              const struct caller *c, const char *body, size_t len)
{
        char *name = NULL;
        json_t *labels = NULL;
        struct error *err = NULL;
        if (dapi_network_create_body(body, len, &name, &labels, &err) < 0) {
                if (err->code == DS01_EPERM)
                        access_denied(v, c, "docker-api.network", err->message);
                return dapi_reply_error(v, conn, err);
        }
        json_t *b = json_loadb(body, len, 0, NULL);
        bool attachable = json_is_true(json_object_get(b, "Attachable"));
        json_decref(b);
        char id[65];
        if (add(n, c->uid, name, labels, attachable, id, &err) < 0)
                return dapi_reply_error(v, conn, err);
        return dapi_reply_json(v, conn, MHD_HTTP_CREATED,
                               json_pack("{s:s, s:s}", "Id", id, "Warning", ""));
}

/* Whether every alias asked for is one the container answers to already (given at its create, or
 * its short id). */
static bool aliases_held(struct ds01d *v, const char *id, const json_t *asked)
{
        if (json_array_size(asked) == 0)
                return true;
        json_t *ins = docker_container_inspect(v->docker, id, NULL);
        const char *net =
            json_string_value(json_object_get(json_object_get(ins, "HostConfig"), "NetworkMode"));
        const json_t *have = json_object_get(
            json_object_get(json_object_get(json_object_get(ins, "NetworkSettings"), "Networks"),
                            net ? net : ""),
            "Aliases");
        bool ok = ins != NULL;
        size_t i, k;
        json_t *a, *h;
        json_array_foreach (asked, i, a) {
                const char *s = json_string_value(a);
                bool held = s && strlen(s) == 12 && startswith(id, s);
                json_array_foreach (have, k, h)
                        held = held || json_equal(a, h);
                ok = ok && held;
        }
        json_decref(ins);
        return ok;
}

static enum MHD_Result connect_call(struct dapi_networks *n, struct ds01d *v,
                                    struct MHD_Connection *conn, const struct caller *c,
                                    const struct dapi_route *r, const char *body, size_t len)
{
        _cleanup_free_ char *name = dapi_network_view(n, c->uid, r->object);
        if (!name)
                return not_found(v, conn, r->object);
        json_t *b = json_loadb(body ? body : "", len, 0, NULL);
        const char *ref = json_string_value(json_object_get(b, "Container"));
        struct error *err = NULL;
        struct dapi_container ct = {0};
        enum MHD_Result ret;
        if (!ref) {
                json_decref(b);
                error_set(&err, DS01_EUSAGE, "invalid request: no Container given");
                return dapi_reply_error(v, conn, err);
        }
        if (dapi_resolve_container(v, c, ref, &ct, &err) < 0) {
                json_decref(b);
                return dapi_reply_error(v, conn, err);
        }
        if (streq(r->rest, "/disconnect")) {
                /* it stays on the caller's network, which it never leaves */
                ret = dapi_reply_empty(v, conn, MHD_HTTP_OK);
                goto out;
        }
        const json_t *ep = json_object_get(b, "EndpointConfig");
        const json_t *ipam = json_object_get(ep, "IPAMConfig");
        if (!empty(json_object_get(ipam, "IPv4Address")) ||
            !empty(json_object_get(ipam, "IPv6Address")) ||
            !empty(json_object_get(ipam, "LinkLocalIPs")) ||
            !empty(json_object_get(ep, "LinkLocalIPs")) || !empty(json_object_get(ep, "Links")) ||
            !empty(json_object_get(ep, "MacAddress")) ||
            !empty(json_object_get(ep, "DriverOpts"))) {
                refuse(&err, "a container's address, links or driver options on a network");
        } else if (!aliases_held(v, ct.id, json_object_get(ep, "Aliases"))) {
                error_set(&err, DS01_EPERM,
                          "network aliases are given when a container is created on ds01 "
                          "(docker run --network-alias, a Compose service's name)");
        }
        if (err) {
                if (err->code == DS01_EPERM)
                        access_denied(v, c, "docker-api.network", err->message);
                ret = dapi_reply_error(v, conn, err);
        } else {
                ret = dapi_reply_empty(v, conn, MHD_HTTP_OK);
        }
out:
        json_decref(b);
        dapi_container_release(&ct);
        return ret;
}

enum MHD_Result dapi_networks_call(struct dapi_networks *n, struct ds01d *v,
                                   struct MHD_Connection *conn, const struct caller *c,
                                   const struct dapi_route *r, const char *body, size_t len)
{
        enum dapi_op op = r->op;
        if (op == DAPI_NETWORK_LIST)
                return list(n, v, conn, c);
        if (op == DAPI_NETWORK_CREATE)
                return create(n, v, conn, c, body, len);
        if (op == DAPI_NETWORK_INSPECT) {
                json_t *j = inspect(n, c->uid, r->object);
                return j ? dapi_reply_json(v, conn, MHD_HTTP_OK, j) : not_found(v, conn, r->object);
        }
        if (op == DAPI_NETWORK_REMOVE)
                return remove_view(n, c->uid, r->object)
                           ? dapi_reply_empty(v, conn, MHD_HTTP_NO_CONTENT)
                           : not_found(v, conn, r->object);
        if (op == DAPI_NETWORK_CONNECT)
                return connect_call(n, v, conn, c, r, body, len);
        return dapi_reply_message(v, conn, MHD_HTTP_FORBIDDEN, REFUSE_CREATE);
}
