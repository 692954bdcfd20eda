/* managed.c - a managed container as Docker and the ledger describe it (see managed.h). */
#include "daemon/containers/managed.h"

#include "daemon/containers/spec.h"
#include "daemon/containers/sshkeys.h"
#include "daemon/containers/workspace.h"
#include "daemon/docker/dockerjson.h"
#include "daemon/containers/oplock.h"
#include "daemon/ledger/store.h"
#include "shared/names.h"

const char *managed_label(const json_t *inspect, const char *key)
{
        return jstr(json_object_get(json_object_get(inspect, "Config"), "Labels"), key);
}

const char *managed_workspace_project(const json_t *inspect)
{
        const char *ws = managed_label(inspect, SPEC_WORKSPACE_PROJECT_LABEL);
        return ws ? ws : managed_label(inspect, "ds01.project");
}

char *managed_project(const json_t *inspect)
{
        const char *nm = jstr(inspect, "Name");
        char *project = NULL, *user_part = NULL;
        if (nm && names_split_container(nm + (nm[0] == '/'), &project, &user_part) == 0) {
                free(user_part);
                return project;
        }
        const char *label = managed_label(inspect, "ds01.project");
        return label ? xstrdup(label) : NULL;
}

char *managed_pin_name(struct ds01d *d, const char *container)
{
        struct store_container sc;
        if (store_get(d->store, container, &sc, NULL) < 0)
                return xstrdup(container);
        char *pin = xstrdup(store_pin_name(&sc));
        store_container_release(&sc);
        return pin;
}

/* Whether Docker's container (an inspect) is one this daemon created: the ledger records its
 * name with this Docker id (store_records). *ret (optional) gets that record: owners come from
 * it, never from labels, which anyone who can build an image can set. */
bool managed_record(struct ds01d *d, const json_t *inspect, struct store_container *ret)
{
        const char *nm = jstr(inspect, "Name"), *id = jstr(inspect, "Id");
        if (!nm || !id)
                return false;
        if (nm[0] == '/')
                nm++;
        struct store_container sc;
        if (store_get(d->store, nm, &sc, NULL) < 0)
                return false;
        bool ok = store_records(&sc, nm, id);
        if (ok && ret)
                *ret = sc;
        else
                store_container_release(&sc);
        return ok;
}

const char *managed_state(const json_t *inspect)
{
        const char *s = jstr(json_object_get(inspect, "State"), "Status");
        return s ? s : "unknown";
}

/* The owner the ledger records for a container this daemon created (see ledger_record). */
int managed_owner(struct ds01d *d, const json_t *inspect, struct caller *ret)
{
        memset(ret, 0, sizeof(*ret));
        struct store_container rec;
        if (!managed_record(d, inspect, &rec))
                return -1;
        int r = caller_for(rec.uid, ret);
        store_container_release(&rec);
        return r;
}

void managed_uid_limits(struct ds01d *d, int64_t uid, const char *interface, struct limit_set *ret)
{
        struct caller owner;
        if (uid < 0 || caller_for((uid_t)uid, &owner) < 0)
                limits_resolve(d->limits, "", NULL, 0, ret);
        else {
                caller_limits(d, &owner, ret);
                caller_release(&owner);
        }
        limits_apply_interface(d->limits, interface, ret);
}

void managed_owner_limits(struct ds01d *d, const json_t *inspect, struct limit_set *ret)
{
        struct store_container rec;
        int64_t uid = -1;
        if (managed_record(d, inspect, &rec)) {
                uid = rec.uid;
                store_container_release(&rec);
        }
        managed_uid_limits(d, uid, managed_label(inspect, "ds01.interface"), ret);
}

static int grace_of(struct limit_set *ls)
{
        int64_t g = ls->policies.sigterm_grace_s;
        limit_set_release(ls);
        return (int)(g < 0 ? 0 : g);
}

int managed_grace_s(struct ds01d *d, const json_t *inspect)
{
        struct limit_set ls;
        managed_owner_limits(d, inspect, &ls);
        return grace_of(&ls);
}

int managed_uid_grace_s(struct ds01d *d, int64_t uid, const char *interface)
{
        struct limit_set ls;
        managed_uid_limits(d, uid, interface, &ls);
        return grace_of(&ls);
}

json_t *managed_cmd(const json_t *inspect)
{
        /* Cmd is ["--", CMD...] for a batch container, [] for a session. */
        json_t *cmd = json_object_get(json_object_get(inspect, "Config"), "Cmd");
        json_t *out = json_array();
        size_t i;
        json_t *v;
        json_array_foreach (cmd, i, v) {
                if (i == 0 && streq_ptr(json_string_value(v), "--"))
                        continue;
                json_array_append(out, v);
        }
        return out;
}

/* Starts a container with its workspace directory ws_fd (and --ssh's files) on its pins for the
 * time of the start: Docker mounts what ds01 opened and checked, never a path the user can
 * swap. */
int managed_start_pinned(struct ds01d *d, const char *pin, const char *id, int ws_fd,
                         const struct sshkeys *keys, struct error **err)
{
        if (keys && sshkeys_pin(d->cfg->state_dir, pin, keys, err) < 0)
                return -1;
        int r = workspace_pin(d->cfg->state_dir, pin, ws_fd, err);
        if (r == 0)
                r = docker_container_start(d->docker, id, err);
        workspace_unpin(d->cfg->state_dir, pin);
        if (keys)
                sshkeys_unpin(d->cfg->state_dir, pin);
        return r;
}

int managed_make_home(struct ds01d *d, const struct caller *owner, const char *id,
                      struct error **err)
{
        _cleanup_free_ char *home = spec_home(owner);
        return docker_container_mkdir(d->docker, id, home, owner->uid, owner->gid, 0700, err);
}

void managed_pins_remove(struct ds01d *d, const char *container, const char *pin)
{
        /* A renamed container's pins are under its old name, which a container deployed since
         * may use too (the starts of both pin there under that name's operation slot): they are
         * removed only when no other container has them (the one going is still in the ledger,
         * or already gone). Left, the start-up sweep removes them once unused. */
        bool slot = !streq(pin, container);
        if (slot && oplock_acquire_wait(d->ops, pin, 5, NULL) < 0)
                return;
        int users = store_pin_users(d->store, pin, NULL);
        if (users == 0 || users == 1) {
                workspace_pin_remove(d->cfg->state_dir, pin);
                sshkeys_pin_remove(d->cfg->state_dir, pin);
        }
        if (slot)
                oplock_release(d->ops, pin);
}
