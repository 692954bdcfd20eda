/* rename.c - a container's new name in its owner's namespace (see rename.h). */
#include "daemon/containers/rename.h"

#include "daemon/containers/execs.h"
#include "daemon/containers/managed.h"
#include "daemon/containers/oplock.h"
#include "daemon/containers/verbs.h"
#include "daemon/docker/dockerjson.h"
#include "shared/log.h"
#include "shared/names.h"
#include "shared/strbuf.h"

/* The full new name for `to` in the namespace of user_part, or NULL with *err. */
static char *new_name(const char *to, const char *user_part, struct error **err)
{
        _cleanup_free_ char *project = NULL, *up = NULL;
        if (names_split_container(to, &project, &up) == 0) {
                if (names_check_project(project, err) < 0)
                        return NULL;
                if (!streq(up, user_part)) {
                        error_set(err, DS01_EUSAGE,
                                  "a container keeps its owner's name: give the new name as "
                                  "PROJECT or PROJECT._.%s",
                                  user_part);
                        return NULL;
                }
                return names_container(project, user_part);
        }
        if (strstr(to, NAMES_SEPARATOR) || names_check_project(to, err) < 0) {
                if (err && !*err)
                        error_set(err, DS01_EUSAGE,
                                  "invalid name '%.80s': give PROJECT or PROJECT._.%s", to,
                                  user_part);
                return NULL;
        }
        return names_container(to, user_part);
}

/* What keeps the name in use elsewhere (a container, a waiting deploy), or what stays keyed
 * by the old name in memory and is refused rather than moved: 0 or -1 with *err. */
static int check_free(struct ds01d *d, const char *name, const char *to, const char *project,
                      unsigned uid, struct error **err)
{
        struct error *ierr = NULL;
        json_t *other = docker_container_inspect(d->docker, to, &ierr);
        json_decref(other);
        bool docker_has = other != NULL;
        if (!other && ierr->code != DS01_ENOTFOUND) {
                if (err)
                        *err = ierr;
                else
                        error_free(ierr);
                return -1;
        }
        error_free(ierr);
        struct store_container sc;
        bool ledger_has = store_get(d->store, to, &sc, NULL) == 0;
        if (ledger_has)
                store_container_release(&sc);
        if (docker_has || ledger_has)
                return error_set(err, DS01_ERESOURCE,
                                 "Conflict. The container name \"/%s\" is already in use: choose "
                                 "another name, or retire that container first (container-retire "
                                 "%s)",
                                 to, project);
        struct store_queued *q = NULL;
        size_t n_q = 0;
        if (store_queue_list(d->store, &q, &n_q, err) < 0)
                return -1;
        bool queued = false;
        for (size_t i = 0; i < n_q && !queued; i++)
                queued = q[i].uid == uid && streq_ptr(q[i].project, project);
        store_queue_free(q, n_q);
        if (queued)
                return error_set(err, DS01_ERESOURCE,
                                 "Conflict. The name \"%s\" is in use by your deploy waiting in "
                                 "the GPU queue: choose another name, or stop waiting first "
                                 "(gpu-queue leave %s)",
                                 project, project);
        if (store_get(d->store, name, &sc, err) < 0)
                return -1;
        /* Published ports have relays and sockets by name (ports/): refused rather than moved. */
        struct strbuf ports = STRBUF_INIT;
        for (size_t i = 0; i < sc.n_ports; i++)
                strbuf_addf(&ports, "%s%d", i ? ", " : "", sc.ports[i]);
        _cleanup_free_ char *old_project = xstrdup(sc.project);
        store_container_release(&sc);
        if (ports.len) {
                error_set(err, DS01_ERESOURCE,
                          "'%s' has published ports (%s), which cannot follow a rename: remove "
                          "the ports first (container-port %s remove PORT), rename, then publish "
                          "them again",
                          old_project, ports.buf, old_project);
                strbuf_release(&ports);
                return -1;
        }
        strbuf_release(&ports);
        /* Open sessions hold off the idle stop by name (execs.c): they would stop holding. */
        if (execs_open(d, name))
                return error_set(err, DS01_ERESOURCE,
                                 "'%s' has sessions open (docker exec, container-run): close "
                                 "them first, then rename",
                                 old_project);
        return 0;
}

int container_rename(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                     struct error **err)
{
        _cleanup_free_ char *name = NULL, *to = NULL, *project = NULL, *user_part = NULL;
        _cleanup_free_ char *owner = NULL;
        json_t *inspect = NULL;
        if (verbs_acquire(d, c, jstr(params, "name"), "rename", true, &name, &inspect, err) < 0)
                return -1;
        int r = -1;
        bool to_slot = false;
        if (names_split_container(name, &project, &user_part) < 0) {
                error_set(err, DS01_ERR, "'%s' is not a ds01 container name", name);
                goto out;
        }
        free(TAKE_PTR(project));
        to = new_name(jstr(params, "to"), user_part, err);
        if (!to)
                goto out;
        char *p_end = strstr(to, NAMES_SEPARATOR);
        project = xstrndup(to, (size_t)(p_end - to));
        if (streq(to, name)) {
                error_set(err, DS01_EUSAGE,
                          "Renaming a container with the same name as its current name");
                goto out;
        }
        /* Both names' slots for the whole rename: no stop, start, retire or deploy of either
         * runs in between, and the periodic reconciliation leaves both rows alone. */
        if (oplock_acquire(d->ops, to, err) < 0)
                goto out;
        to_slot = true;
        struct store_container sc;
        if (store_get(d->store, name, &sc, err) < 0)
                goto out;
        unsigned uid = sc.uid;
        owner = xstrdup(sc.user);
        store_container_release(&sc);
        if (check_free(d, name, to, project, uid, err) < 0)
                goto out;
        /* Docker first: its name is the truth a crash leaves (reconcile.c adopts it). */
        const char *id = jstr(inspect, "Id");
        if (docker_container_rename(d->docker, id ? id : name, to, err) < 0) {
                error_wrap(err, "renaming '%s'", name);
                goto out;
        }
        if (store_rename(d->store, name, to, project, err) < 0) {
                struct error *berr = NULL;
                if (docker_container_rename(d->docker, id ? id : to, name, &berr) < 0) {
                        log_error("renaming %s back to %s after the ledger refused: %s", to, name,
                                  berr->message);
                        error_free(berr);
                }
                error_wrap(err, "recording the rename of '%s'", name);
                goto out;
        }
        events_log(d->events, "container.rename", owner,
                   json_pack("{s:s, s:s, s:s}", "from", name, "to", to, "by", c->login));
        *ret_result =
            json_pack("{s:s, s:s, s:s}", "container", to, "from", name, "project", project);
        r = 0;
out:
        if (to_slot)
                oplock_release(d->ops, to);
        oplock_release(d->ops, name);
        json_decref(inspect);
        return r;
}
