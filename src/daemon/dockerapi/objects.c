/* objects.c - containers, exec sessions and images as a Docker API client names them, resolved
 * for the caller (see objects.h). */
#include "daemon/dockerapi/objects.h"

#include "daemon/containers/extras.h"
#include "daemon/docker/dockerjson.h"
#include "daemon/dockerapi/create.h"
#include "daemon/images/images.h"
#include "daemon/requests/access.h"
#include "shared/names.h"
#include "shared/util.h"

#include <stdio.h>
#include <string.h>

void dapi_container_release(struct dapi_container *c)
{
        free(c->name);
        free(c->id);
        c->name = c->id = NULL;
}

/* How well row matches ref: 2 exactly (name, project, whole id), 1 an id prefix, 0 not. */
static int match(const struct store_container *row, const char *ref, const char *own_name)
{
        if (!row->docker_id)
                return 0;
        if (streq(row->name, ref) || streq(row->docker_id, ref) || streq_ptr(own_name, row->name))
                return 2;
        return ref[0] && startswith(row->docker_id, ref) ? 1 : 0;
}

/* Whether ref names a managed container of anyone's (for the audit). */
static bool anyones(struct ds01d *v, const char *ref)
{
        struct store_container *rows = NULL;
        size_t n = 0;
        bool found = false;
        if (store_list(v->store, -1, &rows, &n, NULL) < 0)
                return false;
        for (size_t i = 0; i < n && !found; i++)
                found = match(&rows[i], ref, NULL) > 0;
        store_containers_free(rows, n);
        return found;
}

int dapi_resolve_container(struct ds01d *v, const struct caller *c, const char *ref,
                           struct dapi_container *ret, struct error **err)
{
        struct store_container *rows = NULL;
        size_t n = 0;
        if (store_list(v->store, c->uid, &rows, &n, err) < 0)
                return -1;
        /* A project name ("nlp") is the caller's "nlp._.<user>". */
        _cleanup_free_ char *own =
            names_check_project(ref, NULL) == 0 ? names_container(ref, c->user_part) : NULL;
        const struct store_container *best = NULL;
        int best_score = 0, prefixes = 0;
        for (size_t i = 0; i < n; i++) {
                int s = match(&rows[i], ref, own);
                if (s == 1)
                        prefixes++;
                if (s > best_score) {
                        best = &rows[i];
                        best_score = s;
                }
        }
        int r = 0;
        if (best && (best_score == 2 || prefixes == 1)) {
                ret->name = xstrdup(best->name);
                ret->id = xstrdup(best->docker_id);
        } else if (best) {
                r = error_set(err, DS01_EUSAGE,
                              "multiple containers found with provided prefix: %s", ref);
        } else {
                if (anyones(v, ref))
                        access_denied(v, c, "docker-api.container", ref);
                r = error_set(err, DS01_ENOTFOUND, "No such container: %s", ref);
        }
        store_containers_free(rows, n);
        return r;
}

int dapi_resolve_exec(struct ds01d *v, const struct caller *c, const char *id,
                      struct dapi_container *ret, struct error **err)
{
        json_t *ex = docker_exec_inspect(v->docker, id, NULL);
        const char *cid = ex ? jstr(ex, "ContainerID") : NULL;
        int r = -1;
        if (cid) {
                struct error *e = NULL;
                r = dapi_resolve_container(v, c, cid, ret, &e);
                if (r < 0 && e->code == DS01_ENOTFOUND)
                        access_denied(v, c, "docker-api.exec", id);
                error_free(e);
        }
        json_decref(ex);
        if (r < 0)
                return error_set(err, DS01_ENOTFOUND, "No such exec instance: %s", id);
        return 0;
}

json_t *dapi_resolve_links(struct ds01d *v, const struct caller *c, const json_t *links,
                           struct error **err)
{
        json_t *out = json_array();
        if (links && !json_is_null(links) && !json_is_array(links)) {
                json_decref(out);
                error_set(err, DS01_EUSAGE, "invalid create request: Links must be a list");
                return NULL;
        }
        size_t i;
        json_t *l;
        json_array_foreach (links, i, l) {
                const char *s = json_string_value(l);
                if (!s) {
                        json_decref(out);
                        error_set(err, DS01_EUSAGE,
                                  "invalid create request: Links must be strings");
                        return NULL;
                }
                /* Docker's form: "name:alias" or "name", either with a leading '/' */
                _cleanup_free_ char *name = xstrdup(s[0] == '/' ? s + 1 : s);
                char *alias = strchr(name, ':');
                if (alias)
                        *alias++ = '\0';
                alias = alias ? alias : name;
                alias = alias[0] == '/' ? alias + 1 : alias;
                struct dapi_container ct = {0};
                if (!extras_alias_ok(alias)) {
                        json_decref(out);
                        error_set(err, DS01_EUSAGE, "--link %.80s: invalid alias", s);
                        return NULL;
                }
                if (dapi_resolve_container(v, c, name, &ct, err) < 0) {
                        json_decref(out);
                        return NULL;
                }
                json_array_append_new(out, json_sprintf("%s:%s", ct.name, alias));
                dapi_container_release(&ct);
        }
        return out;
}

void dapi_filter_containers(struct ds01d *v, const struct caller *c, json_t *list)
{
        struct store_container *rows = NULL;
        size_t n = 0;
        if (store_list(v->store, c->uid, &rows, &n, NULL) < 0)
                n = 0;
        for (size_t i = json_array_size(list); i-- > 0;) {
                const char *id = jstr(json_array_get(list, i), "Id");
                bool mine = false;
                for (size_t k = 0; k < n && !mine; k++)
                        mine = id && streq_ptr(rows[k].docker_id, id);
                if (!mine)
                        json_array_remove(list, i);
        }
        store_containers_free(rows, n);
}

/* An entry of Docker's image list in the shape images_usable_by reads (an inspect's). */
static bool list_entry_usable(const json_t *e, unsigned uid)
{
        json_t *shape = json_pack(
            "{s:{s:O?}, s:O?, s:O?}", "Config", "Labels", json_object_get(e, "Labels"), "RepoTags",
            json_object_get(e, "RepoTags"), "RepoDigests", json_object_get(e, "RepoDigests"));
        bool ok = shape && images_usable_by(shape, uid);
        json_decref(shape);
        return ok;
}

void dapi_filter_images(const struct caller *c, json_t *list)
{
        for (size_t i = json_array_size(list); i-- > 0;)
                if (!list_entry_usable(json_array_get(list, i), c->uid))
                        json_array_remove(list, i);
}

int dapi_check_image(struct ds01d *v, const struct caller *c, const char *ref, const json_t *image,
                     struct error **err)
{
        if (images_usable_by(image, c->uid))
                return 0;
        access_denied(v, c, "docker-api.image", ref);
        return error_set(err, DS01_ENOTFOUND, "No such image: %s", ref);
}

char *dapi_filters_with_label(const char *filters, const char *label, struct error **err)
{
        json_t *f = filters && *filters ? json_loads(filters, 0, NULL) : json_object();
        if (!json_is_object(f)) {
                json_decref(f);
                error_set(err, DS01_EUSAGE, "invalid filters: a JSON object is expected");
                return NULL;
        }
        json_t *labels = json_object_get(f, "label");
        if (!labels) {
                /* in the form of the client's other filters: Docker reads one form or the other */
                bool maps = false;
                const char *k;
                json_t *v;
                json_object_foreach (f, k, v)
                        maps = maps || json_is_object(v);
                labels = maps ? json_object() : json_array();
                json_object_set_new(f, "label", labels);
        }
        if (json_is_array(labels)) {
                json_array_append_new(labels, json_string(label));
        } else if (json_is_object(labels)) {
                json_object_set_new(labels, label, json_true());
        } else {
                json_decref(f);
                error_set(err, DS01_EUSAGE, "invalid filters: 'label' must be a list");
                return NULL;
        }
        char *s = json_dumps(f, JSON_COMPACT);
        json_decref(f);
        return s;
}

/* Whether Docker (Go's encoding/json) reads key as the field `name` (ASCII): it matches names
 * case-insensitively, with U+017F (long s) as 's' and U+212A (Kelvin) as 'k'. */
static bool go_field_is(const char *key, const char *name)
{
        for (; *name; name++) {
                char n = (char)(*name | 0x20);
                if (n == 's' && startswith(key, "\xc5\xbf"))
                        key += 2;
                else if (n == 'k' && startswith(key, "\xe2\x84\xaa"))
                        key += 3;
                else if (*key && (char)(*key | 0x20) == n)
                        key++;
                else
                        return false;
        }
        return !*key;
}

json_t *dapi_exec_body(const char *body, size_t len, const struct caller *c, struct error **err)
{
        json_t *b = json_loadb(body ? body : "", len, 0, NULL);
        if (!json_is_object(b)) {
                json_decref(b);
                error_set(err, DS01_EUSAGE, "invalid exec request: a JSON object is expected");
                return NULL;
        }
        /* Docker takes the last of "User" and "user" (or "USER"...): only "User" is checked and
         * rewritten here, so another spelling of it or of "Privileged" would win over ours. */
        const char *key;
        json_t *value;
        json_object_foreach (b, key, value) {
                if ((go_field_is(key, "User") && !streq(key, "User")) ||
                    (go_field_is(key, "Privileged") && !streq(key, "Privileged"))) {
                        error_set(err, DS01_EUSAGE,
                                  "invalid exec request: '%s' is read by Docker as 'User' or "
                                  "'Privileged': spell it so",
                                  key);
                        json_decref(b);
                        return NULL;
                }
        }
        json_t *user = json_object_get(b, "User");
        if (user && !json_is_string(user)) {
                json_decref(b);
                error_set(err, DS01_EUSAGE, "invalid exec request: 'User' must be a string");
                return NULL;
        }
        if (!dapi_user_is_caller(json_string_value(user), c)) {
                error_set(err, DS01_EPERM,
                          "commands in your containers run as you (%s) on ds01: '--user %s' is "
                          "not available",
                          c->login, json_string_value(user));
                json_decref(b);
                return NULL;
        }
        if (json_is_true(json_object_get(b, "Privileged"))) {
                json_decref(b);
                error_set(err, DS01_EPERM, "privileged commands are not available on ds01");
                return NULL;
        }
        json_object_set_new(b, "User", json_sprintf("%u:%u", (unsigned)c->uid, (unsigned)c->gid));
        json_object_set_new(b, "Privileged", json_false());
        return b;
}
