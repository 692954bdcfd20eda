/* events.c - Docker's event stream, the caller's containers' events only (see events.h). */
#include "daemon/dockerapi/events.h"

#include "daemon/docker/dockerjson.h"
#include "daemon/dockerapi/objects.h"
#include "shared/util.h"

#include <stdio.h>

struct events_ctx {
        struct ds01d *root;
        uid_t uid;
};

bool dapi_event_is_callers(struct ds01d *root, uid_t uid, const json_t *event)
{
        const char *type = jstr(event, "Type");
        const json_t *actor = json_object_get(event, "Actor");
        const char *id = jstr(actor, "ID");
        if (!streq_ptr(type, "container") || !id || !*id)
                return false;
        /* a label any image may carry: a quick no, never a yes */
        const char *label = jstr(json_object_get(actor, "Attributes"), "ds01.uid");
        char uid_s[16];
        snprintf(uid_s, sizeof(uid_s), "%u", (unsigned)uid);
        if (!streq_ptr(label, uid_s))
                return false;
        struct store_container *rows = NULL;
        size_t n = 0;
        bool mine = false;
        if (store_list(root->store, uid, &rows, &n, NULL) < 0)
                return false;
        for (size_t i = 0; i < n && !mine; i++)
                mine = streq_ptr(rows[i].docker_id, id);
        store_containers_free(rows, n);
        return mine;
}

static bool keep(const json_t *event, void *cls)
{
        struct events_ctx *x = cls;
        return dapi_event_is_callers(x->root, x->uid, event);
}

enum MHD_Result dapi_events(struct ds01d *v, struct MHD_Connection *conn, int client_fd,
                            const struct caller *c, struct dapi_request *r, const char *filters)
{
        struct error *err = NULL;
        _cleanup_free_ char *instance = xasprintf("ds01.instance=%s", v->cfg->instance);
        _cleanup_free_ char *uid = xasprintf("ds01.uid=%u", (unsigned)c->uid);
        _cleanup_free_ char *f1 = dapi_filters_with_label(filters, instance, &err);
        _cleanup_free_ char *f2 = f1 ? dapi_filters_with_label(f1, uid, &err) : NULL;
        if (!f2) {
                dapi_request_release(r);
                enum MHD_Result ret =
                    dapi_reply_message(v, conn, MHD_HTTP_BAD_REQUEST, err->message);
                error_free(err);
                return ret;
        }
        dapi_query_add(&r->query, "filters", f2);
        struct events_ctx *x = xzalloc(sizeof(*x));
        x->root = v->root;
        x->uid = c->uid;
        enum MHD_Result ret = dapi_forward_filtered(v, conn, client_fd, r, keep, x, free);
        dapi_request_release(r);
        return ret;
}
