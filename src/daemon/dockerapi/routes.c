/* routes.c - the Docker API endpoint's map (see routes.h). */
#include "daemon/dockerapi/routes.h"

#include "shared/util.h"

#include <string.h>

#define NOT_HERE "this Docker API call is not available through ds01's Docker endpoint"

static const char *const REFUSE_BUILD =
    "BuildKit builds are not available through ds01's Docker endpoint: use the classic builder "
    "(DOCKER_BUILDKIT=0 docker build -t PROJECT .), or image-create PROJECT / image-update PROJECT";
static const char *const REFUSE_PULL =
    "pulling, pushing, tagging and importing images is for the administrators on ds01: ask them "
    "for a site image, or build your own with 'image-create PROJECT'";
static const char *const REFUSE_IMAGE_DELETE =
    "remove your project images with 'image-delete PROJECT'";
static const char *const REFUSE_SWARM = "swarm services, nodes, secrets and configs are not "
                                        "available on ds01";
static const char *const REFUSE_PLUGINS = "Docker plugins are managed by the administrators";
static const char *const REFUSE_VOLUMES =
    "named volumes are not available on ds01: keep your files in /workspace (~/workspace/PROJECT "
    "on the host), which outlives every container";
static const char *const REFUSE_NETWORKS =
    "networks are ds01's on this server: each user's containers share a private network of "
    "their own (Docker Compose's networks are names for it)";
static const char *const REFUSE_PRUNE =
    "prune is for the administrators: remove your containers with 'container-retire PROJECT'";
static const char *const REFUSE_CONTAINER_OTHER =
    NOT_HERE ": ds01 sets every container's resources, state and contents itself "
             "(container-deploy, container-stop, container-retire)";
static const char *const REFUSE_DEFAULT = NOT_HERE;

/* Strips "/vX.Y" into ret->version; returns the rest of the path. */
static const char *strip_version(const char *path, struct dapi_route *ret)
{
        if (path[0] != '/' || path[1] != 'v')
                return path;
        size_t n = strspn(path + 2, "0123456789.");
        if (n == 0 || n >= sizeof(ret->version) || (path[2 + n] != '/' && path[2 + n] != '\0'))
                return path;
        memcpy(ret->version, path + 2, n);
        ret->version[n] = '\0';
        return path + 2 + n;
}

/* The first segment after prefix ("/containers/"), split into object and rest. false when the
 * path is not prefix + a non-empty segment. */
static bool object_path(const char *p, const char *prefix, struct dapi_route *ret)
{
        if (!startswith(p, prefix))
                return false;
        const char *o = p + strlen(prefix);
        const char *slash = strchr(o, '/');
        size_t n = slash ? (size_t)(slash - o) : strlen(o);
        if (n == 0)
                return false;
        ret->object = xstrndup(o, n);
        ret->rest = xstrdup(o + n);
        return true;
}

static enum dapi_op refuse(struct dapi_route *ret, const char *why)
{
        free(ret->object);
        free(ret->rest);
        ret->object = ret->rest = NULL;
        ret->refusal = why;
        return DAPI_REFUSE;
}

static enum dapi_op container_route(const char *m, struct dapi_route *r)
{
        const char *rest = r->rest;
        bool get = streq(m, "GET"), head = streq(m, "HEAD"), post = streq(m, "POST");

        if (streq(rest, "") && streq(m, "DELETE"))
                return DAPI_CONTAINER_REMOVE;
        if (get && (streq(rest, "/json") || streq(rest, "/logs") || streq(rest, "/top") ||
                    streq(rest, "/stats") || streq(rest, "/changes")))
                return DAPI_CONTAINER_READ;
        if ((get || head) && streq(rest, "/archive"))
                return DAPI_COPY_OUT;
        if (streq(m, "PUT") && streq(rest, "/archive"))
                return DAPI_COPY_IN;
        if (!post)
                return refuse(r, REFUSE_CONTAINER_OTHER);
        if (streq(rest, "/start"))
                return DAPI_CONTAINER_START;
        if (streq(rest, "/stop"))
                return DAPI_CONTAINER_STOP;
        if (streq(rest, "/restart"))
                return DAPI_CONTAINER_RESTART;
        if (streq(rest, "/kill") || streq(rest, "/wait") || streq(rest, "/resize"))
                return DAPI_CONTAINER_POST;
        if (streq(rest, "/attach"))
                return DAPI_CONTAINER_ATTACH;
        if (streq(rest, "/exec"))
                return DAPI_EXEC_CREATE;
        if (streq(rest, "/rename"))
                return DAPI_CONTAINER_RENAME;
        return refuse(r, REFUSE_CONTAINER_OTHER);
}

static enum dapi_op exec_route(const char *m, struct dapi_route *r)
{
        if (streq(m, "POST") && streq(r->rest, "/start"))
                return DAPI_EXEC_START;
        if ((streq(m, "GET") && streq(r->rest, "/json")) ||
            (streq(m, "POST") && streq(r->rest, "/resize")))
                return DAPI_EXEC_READ;
        return refuse(r, REFUSE_DEFAULT);
}

static enum dapi_op network_route(const char *m, struct dapi_route *r)
{
        if (streq(r->rest, "") && streq(m, "GET"))
                return DAPI_NETWORK_INSPECT;
        if (streq(r->rest, "") && streq(m, "DELETE"))
                return DAPI_NETWORK_REMOVE;
        if (streq(m, "POST") && (streq(r->rest, "/connect") || streq(r->rest, "/disconnect")))
                return DAPI_NETWORK_CONNECT;
        return refuse(r, REFUSE_NETWORKS);
}

/* /images/NAME/json: NAME may hold slashes (ds01-1000/nlp:latest). */
static enum dapi_op image_route(const char *m, const char *p, struct dapi_route *r)
{
        const char *name = p + strlen("/images/");
        size_t n = strlen(name);
        if (streq(m, "GET") && n > 5 && streq(name + n - 5, "/json")) {
                r->object = xstrndup(name, n - 5);
                r->rest = xstrdup("/json");
                return DAPI_IMAGE_INSPECT;
        }
        if (streq(m, "DELETE"))
                return refuse(r, REFUSE_IMAGE_DELETE);
        return refuse(r, REFUSE_PULL);
}

static enum dapi_op route(const char *m, const char *p, struct dapi_route *r)
{
        bool get = streq(m, "GET");
        if (streq(p, "/_ping") && (get || streq(m, "HEAD")))
                return DAPI_PING;
        if (streq(p, "/version") && get)
                return DAPI_VERSION;
        if (streq(p, "/info") && get)
                return DAPI_INFO;
        if (streq(p, "/containers/json") && get)
                return DAPI_CONTAINER_LIST;
        if (streq(p, "/containers/create"))
                return streq(m, "POST") ? DAPI_CONTAINER_CREATE : refuse(r, REFUSE_DEFAULT);
        if (streq(p, "/containers/prune") || streq(p, "/images/prune") ||
            streq(p, "/volumes/prune") || streq(p, "/networks/prune") || streq(p, "/build/prune") ||
            streq(p, "/system/prune"))
                return refuse(r, REFUSE_PRUNE);
        if (object_path(p, "/containers/", r))
                return container_route(m, r);
        if (object_path(p, "/exec/", r))
                return exec_route(m, r);
        if (streq(p, "/images/json") && get)
                return DAPI_IMAGE_LIST;
        if (streq(p, "/build") && streq(m, "POST"))
                return DAPI_BUILD;
        if (streq(p, "/build") || startswith(p, "/build/") || streq(p, "/session"))
                return refuse(r, REFUSE_BUILD);
        if (startswith(p, "/images/"))
                return image_route(m, p, r);
        if (streq(p, "/networks") && get)
                return DAPI_NETWORK_LIST;
        if (streq(p, "/networks/create"))
                return streq(m, "POST") ? DAPI_NETWORK_CREATE : refuse(r, REFUSE_NETWORKS);
        if (object_path(p, "/networks/", r))
                return network_route(m, r);
        /* `docker inspect X` asks for X as each kind in turn: kinds ds01 does not offer have no
         * X, so the client goes on to tell "No such object". */
        if (get && (object_path(p, "/volumes/", r) || object_path(p, "/plugins/", r) ||
                    object_path(p, "/nodes/", r) || object_path(p, "/services/", r) ||
                    object_path(p, "/tasks/", r) || object_path(p, "/secrets/", r) ||
                    object_path(p, "/configs/", r)))
                return DAPI_NO_SUCH;
        if (streq(p, "/events"))
                return get ? DAPI_EVENTS : refuse(r, REFUSE_DEFAULT);
        if (startswith(p, "/swarm") || startswith(p, "/nodes") || startswith(p, "/services") ||
            startswith(p, "/tasks") || startswith(p, "/secrets") || startswith(p, "/configs"))
                return refuse(r, REFUSE_SWARM);
        if (startswith(p, "/plugins"))
                return refuse(r, REFUSE_PLUGINS);
        if (startswith(p, "/volumes"))
                return refuse(r, REFUSE_VOLUMES);
        if (startswith(p, "/networks"))
                return refuse(r, REFUSE_NETWORKS);
        return refuse(r, REFUSE_DEFAULT);
}

void dapi_route(const char *method, const char *path, struct dapi_route *ret)
{
        *ret = (struct dapi_route){0};
        const char *p = strip_version(path ? path : "", ret);
        ret->op = route(method ? method : "", p, ret);
}

void dapi_route_release(struct dapi_route *r)
{
        free(r->object);
        free(r->rest);
        r->object = r->rest = NULL;
}

bool dapi_op_hijacks(enum dapi_op op)
{
        return op == DAPI_CONTAINER_ATTACH || op == DAPI_EXEC_START;
}
