/* reconcile.c - the ledger kept in step with Docker: at start-up, and on Docker's events (see
 * reconcile.h). */
#include "daemon/containers/reconcile.h"
#include "daemon/ports/relay.h"

#include "daemon/cluster/slurmend.h"
#include "daemon/gpus/leases.h"

#include "daemon/containers/managed.h"
#include "daemon/containers/oplock.h"
#include "daemon/containers/sshkeys.h"
#include "daemon/containers/workspace.h"
#include "daemon/docker/dockerjson.h"
#include "daemon/rules/monitor.h"
#include "shared/log.h"
#include "shared/names.h"
#include "shared/strv.h"

void reconcile_on_destroyed(struct ds01d *d, const char *name, const char *docker_id)
{
        /* A request on this name (retire, a new deploy) owns it for now; it finishes quickly. */
        bool mine = oplock_acquire_wait(d->ops, name, 5, NULL) >= 0;
        _cleanup_free_ char *pin = NULL;
        /* Still busy after 5 s: go ahead (the record is checked by Docker id below), but do not
         * release what the other request holds. */
        struct store_container sc;
        if (store_get(d->store, name, &sc, NULL) < 0)
                goto out; /* already released (retire, remove) */
        bool same = sc.docker_id && streq(sc.docker_id, docker_id);
        char *user = xstrdup(sc.user ? sc.user : "");
        pin = xstrdup(store_pin_name(&sc));
        store_container_release(&sc);
        if (same) {
                char **rel = NULL;
                struct error *err = NULL;
                managed_pins_remove(d, name, pin);
                if (store_forget(d->store, name, &rel, &err) < 0) {
                        log_error("releasing %s after Docker destroyed it: %s", name, err->message);
                        error_free(err);
                } else {
                        relay_close(d->relay, name, 0);
                        log_notice("%s was removed outside ds01; released its ledger record", name);
                        events_log(d->events, "container.remove", user,
                                   json_pack("{s:s, s:s}", "container", name, "reason",
                                             "removed outside ds01"));
                        if (rel && rel[0])
                                events_log(d->events, "gpu.release", user,
                                           json_pack("{s:s, s:o, s:s}", "container", name, "gpus",
                                                     strv_to_json(rel), "reason",
                                                     "container removed outside ds01"));
                }
                store_strv_free(rel);
        }
        free(user);
out:
        if (mine)
                oplock_release(d->ops, name);
}

/* Whether container (a name) is in list, Docker's container list. */
static bool in_docker_list(const char *container, const json_t *list)
{
        size_t i;
        json_t *e;
        json_array_foreach ((json_t *)list, i, e) {
                const char *nm = json_string_value(json_array_get(json_object_get(e, "Names"), 0));
                if (nm && nm[0] == '/' && streq(nm + 1, container))
                        return true;
        }
        return false;
}

struct pins_in_use {
        const json_t *list;
        const struct store_container *rows;
        size_t n_rows;
};

/* Whether pins named `pin` are a container's: one of Docker's by that name, or a renamed
 * container whose pins are still under its old name (store_pin_name). */
static bool pin_in_use(const char *pin, void *ctx)
{
        const struct pins_in_use *u = ctx;
        for (size_t k = 0; k < u->n_rows; k++)
                if (u->rows[k].pin && streq(u->rows[k].pin, pin))
                        return true;
        return in_docker_list(pin, u->list);
}

/* Docker's container with this id, or NULL. */
static json_t *docker_by_id(json_t *list, const char *id)
{
        size_t i;
        json_t *e;
        json_array_foreach (list, i, e)
                if (id && streq_ptr(jstr(e, "Id"), id))
                        return e;
        return NULL;
}

/* A bound row whose Docker container (its id) has another name: a rename (rename.c) that Docker
 * made but the ledger did not record (a crash in between). Docker's name is the truth - the
 * rename renames Docker first, and back if the ledger refuses - so the ledger adopts it, when it
 * is a name of the same owner ("<project>._.<user part>" with the row's user part). At start-up
 * only: while the daemon runs, a rename in progress holds both names' operation slots and this
 * pass may have listed Docker before it. 1 adopted, 0 not. */
static int adopt_rename(struct ds01d *d, const struct store_container *row, const json_t *e)
{
        const char *nm = json_string_value(json_array_get(json_object_get(e, "Names"), 0));
        if (!nm || nm[0] != '/')
                return 0;
        _cleanup_free_ char *p = NULL, *u = NULL, *rp = NULL, *ru = NULL;
        if (names_split_container(nm + 1, &p, &u) < 0 ||
            names_split_container(row->name, &rp, &ru) < 0 || !streq(u, ru) ||
            names_check_project(p, NULL) < 0)
                return 0;
        struct error *err = NULL;
        if (store_rename(d->store, row->name, nm + 1, p, &err) < 0) {
                log_error("reconcile: recording the rename of %s to %s: %s", row->name, nm + 1,
                          err->message);
                error_free(err);
                return 0;
        }
        log_notice("reconcile: %s was renamed %s in Docker; recorded", row->name, nm + 1);
        /* its leases follow what it is now, as for the rows found by name */
        if (streq_ptr(jstr(e, "State"), "running"))
                store_unhold(d->store, nm + 1, NULL);
        else
                leases_stopped(d, nm + 1);
        events_log(
            d->events, "container.rename", row->user,
            json_pack("{s:s, s:s, s:s}", "from", row->name, "to", nm + 1, "by", "reconcile"));
        return 1;
}

int reconcile_ledger(struct ds01d *d, bool startup, struct error **err)
{
        _cleanup_free_ char *filter = xasprintf("ds01.instance=%s", d->cfg->instance);
        json_t *list = docker_container_list(d->docker, filter, true, err);
        if (!list)
                return error_wrap(err, "listing containers for reconciliation");
        struct store_container *rows = NULL;
        size_t n_rows = 0;
        if (store_list(d->store, -1, &rows, &n_rows, err) < 0) {
                json_decref(list);
                return -1;
        }
        size_t fixed = 0;

        /* 1. Ledger rows whose container Docker does not have: roll back / release. Rows still
         *    "reserved" whose container does exist (a crash between create and bind): bind. A
         *    bound row's container is the one with its Docker id; a reserved row's, the one of
         *    its name created since the reservation with this instance's labels (only root and
         *    ds01 name containers "<project>._.<user>"). */
        for (size_t k = 0; k < n_rows; k++) {
                const char *docker_id = NULL, *docker_state = NULL;
                bool reserved = streq(rows[k].state, "reserved");
                if (!startup && (reserved || oplock_held(d->ops, rows[k].name)))
                        continue;
                size_t i;
                json_t *e;
                json_array_foreach (list, i, e) {
                        const char *nm =
                            json_string_value(json_array_get(json_object_get(e, "Names"), 0));
                        if (!nm || nm[0] != '/' || !streq(nm + 1, rows[k].name))
                                continue;
                        const char *id = jstr(e, "Id");
                        bool ours = reserved ? json_integer_value(json_object_get(e, "Created")) >=
                                                   rows[k].created_at
                                             : store_records(&rows[k], nm + 1, id);
                        if (ours) {
                                docker_id = id;
                                docker_state = jstr(e, "State");
                        }
                }
                json_t *renamed =
                    reserved || docker_id ? NULL : docker_by_id(list, rows[k].docker_id);
                if (renamed && !startup)
                        continue; /* a rename in progress, or one the next start-up records */
                if (renamed && adopt_rename(d, &rows[k], renamed) > 0) {
                        if (!rows[k].pin) /* its pins stay under the old name: kept below */
                                rows[k].pin = xstrdup(rows[k].name);
                        fixed++;
                        continue;
                }
                if (docker_id) {
                        /* Stops and starts while nobody listened (daemon down, stream lost): the
                         * lease follows what the container is now. */
                        bool running = streq_ptr(docker_state, "running");
                        int n = running ? store_unhold(d->store, rows[k].name, NULL)
                                        : leases_stopped(d, rows[k].name);
                        if (n > 0) {
                                log_notice("reconcile: %s is %s; its GPU lease is now %s",
                                           rows[k].name, docker_state ? docker_state : "?",
                                           running ? "bound" : "held");
                                fixed++;
                        }
                        if (reserved) {
                                struct error *e2 = NULL;
                                if (store_bind(d->store, rows[k].name, docker_id, &e2) < 0)
                                        log_error("reconcile: binding %s: %s", rows[k].name,
                                                  e2->message);
                                error_free(e2);
                                log_notice("reconcile: %s was created but not recorded; bound",
                                           rows[k].name);
                                fixed++;
                        }
                        continue;
                }
                char **rel = NULL;
                struct error *e2 = NULL;
                if (store_forget(d->store, rows[k].name, &rel, &e2) < 0) {
                        log_error("reconcile: releasing %s: %s", rows[k].name, e2->message);
                        error_free(e2);
                        continue;
                }
                const char *why = reserved ? "reservation whose container was never created"
                                           : "container no longer exists";
                log_notice("reconcile: released %s (%s)", rows[k].name, why);
                events_log(d->events, "gpu.release", rows[k].user,
                           json_pack("{s:s, s:o, s:s}", "container", rows[k].name, "gpus",
                                     strv_to_json(rel), "reason", why));
                store_strv_free(rel);
                fixed++;
        }

        /* 2. Containers with this instance's labels that the ledger does not record are not
         *    this daemon's: a build step of an image with LABEL ds01.*, or made behind its
         *    back. They are left alone, never adopted: labels prove nothing. */
        size_t i;
        json_t *e;
        json_array_foreach (list, i, e) {
                const char *nm = json_string_value(json_array_get(json_object_get(e, "Names"), 0));
                const char *id = jstr(e, "Id");
                bool known = false;
                for (size_t k = 0; k < n_rows && !known; k++)
                        known = streq_ptr(rows[k].docker_id, id) ||
                                (streq(rows[k].state, "reserved") && nm &&
                                 streq(rows[k].name, nm + (nm[0] == '/')));
                if (!known && startup)
                        log_info("reconcile: container %.12s (%s) carries this instance's "
                                 "labels but ds01 did not create it; not managed",
                                 id ? id : "?", nm ? nm + (nm[0] == '/') : "?");
        }
        if (startup) {
                /* the rows as they were before adopt_rename: a row it renamed is listed under
                 * its old name, which is its pin */
                struct pins_in_use u = {.list = list, .rows = rows, .n_rows = n_rows};
                workspace_pins_sweep(d->cfg->state_dir, pin_in_use, &u);
                sshkeys_pins_sweep(d->cfg->state_dir, pin_in_use, &u);
        }
        store_containers_free(rows, n_rows);
        json_decref(list);
        log_info("reconciled ledger with docker: %zu correction(s)", fixed);
        return 0;
}

void reconcile_on_died(struct ds01d *d, const char *name, const char *docker_id)
{
        struct store_container sc;
        if (store_get(d->store, name, &sc, NULL) < 0)
                return;
        bool same = sc.docker_id && streq(sc.docker_id, docker_id);
        int64_t job = sc.slurm_job;
        store_container_release(&sc);
        if (!same)
                return;
        int n = leases_stopped(d, name);
        if (n > 0 && job <= 0)
                log_info("%s stopped: holding its %d GPU lease(s)", name, n);
        if (job > 0) /* a Slurm job's container ended first: the watcher ends the job */
                slurmend_ring(d->slurmend);
}

void reconcile_on_started(struct ds01d *d, const char *name, const char *docker_id)
{
        struct store_container sc;
        if (store_get(d->store, name, &sc, NULL) < 0)
                return;
        bool same = sc.docker_id && streq(sc.docker_id, docker_id);
        store_container_release(&sc);
        if (!same)
                return; /* not a container this daemon created (a build step, ...) */
        store_unhold(d->store, name, NULL);
        /* however it was started, its idle and runtime rules apply now */
        monitor_wake(d->monitor);
}
