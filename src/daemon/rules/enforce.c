/* enforce.c - what the monitor decided, done on the owner's behalf: stops, removals, telling them
 * (see enforce.h). */
#include "daemon/rules/enforce.h"

#include "daemon/containers/managed.h"
#include "daemon/containers/oplock.h"
#include "daemon/containers/verbs.h"
#include "daemon/docker/dockerjson.h"
#include "daemon/observe/counters.h"
#include "daemon/observe/notify.h"
#include "daemon/observe/usage.h"
#include "shared/log.h"
#include "shared/strv.h"

void enforce_notify(struct ds01d *d, const struct caller *owner, const char *container,
                    const char *project, const char *workspace, const char *event, const char *text,
                    const json_t *details)
{
        struct error *err = NULL;
        if (store_inbox_add(d->store, owner->uid, container, event, text, &err) < 0) {
                log_error("inbox of %s: %s", owner->login, err->message);
                error_free(err);
        }
        struct notify_msg m = {
            .uid = owner->uid,
            .gid = owner->gid,
            .login = owner->login,
            .container = container,
            .project = project,
            .workspace = workspace,
            .event = event,
            .text = text,
            .details = details,
        };
        if (d->notify)
                notify_send(d->notify, &m);
}

int enforce_stop(struct ds01d *d, const char *id, const char *event, const char *text,
                 json_t *evidence)
{
        int r = -1;
        struct error *err = NULL;
        struct caller owner = {0};
        _cleanup_free_ char *name = NULL;
        json_t *inspect = docker_container_inspect(d->docker, id, &err);
        if (!inspect)
                goto out;
        /* never touch what this daemon did not create */
        if (managed_owner(d, inspect, &owner) < 0)
                goto out;
        const char *nm = jstr(inspect, "Name");
        name = xstrdup(nm[0] == '/' ? nm + 1 : nm);
        if (oplock_acquire(d->ops, name, &err) < 0)
                goto out;
        int grace = managed_grace_s(d, inspect);
        /* SIGTERM to every process, `grace` seconds, then SIGKILL: Docker's stop and
         * ds01-init do exactly that. */
        if (docker_container_stop(d->docker, id, grace, &err) < 0) {
                oplock_release(d->ops, name);
                goto out;
        }
        struct store_container sc;
        if (store_get(d->store, name, &sc, NULL) == 0) {
                if (sc.slurm_job > 0) /* the watcher ends it (cluster/slurmlife.h) */
                        json_object_set_new(evidence, "slurm_job", json_integer(sc.slurm_job));
                store_container_release(&sc);
        }
        char **rel = NULL;
        if (store_release_leases(d->store, name, &rel, &err) < 0) {
                log_error("%s: releasing its GPUs after %s: %s", name, event, err->message);
                err = error_free(err);
        }
        oplock_release(d->ops, name);
        json_object_set_new(evidence, "gpus_released", strv_to_json(rel));
        json_object_set_new(evidence, "container", json_string(name));
        json_object_set_new(evidence, "sigterm_grace_s", json_integer(grace));
        events_log(d->events, event, owner.login, json_incref(evidence));
        if (rel && rel[0])
                events_log(d->events, "gpu.release", owner.login,
                           json_pack("{s:s, s:o, s:s}", "container", name, "gpus",
                                     strv_to_json(rel), "reason", event));
        store_strv_free(rel);
        char *project = managed_project(inspect); /* its name's: a rename changes it */
        enforce_notify(d, &owner, name, project ? project : name, docker_inspect_workspace(inspect),
                       streq(event, "maintenance.idle_kill") ? "idle_stop" : "runtime_stop", text,
                       evidence);
        free(project);
        log_notice("%s: stopped (%s)", name, event);
        usage_count_stop(d->store, (unsigned)owner.uid, owner.login, now_s());
        counters_action(streq(event, "maintenance.idle_kill") ? COUNTERS_IDLE_STOP
                                                              : COUNTERS_RUNTIME_STOP);
        r = 0;
out:
        if (err) {
                log_error("enforcing %s on %.12s: %s", event, id, err->message);
                error_free(err);
        }
        caller_release(&owner);
        json_decref(inspect);
        json_decref(evidence);
        return r;
}

int enforce_cleanup_remove(struct ds01d *d, const char *id, const char *reason)
{
        struct error *err = NULL;
        _cleanup_free_ char *name = NULL;
        json_t *inspect = docker_container_inspect(d->docker, id, &err);
        int r = -1;
        if (!inspect)
                goto out;
        if (!managed_record(d, inspect, NULL) ||
            json_is_true(json_object_get(json_object_get(inspect, "State"), "Running")))
                goto out;
        const char *nm = jstr(inspect, "Name");
        name = xstrdup(nm[0] == '/' ? nm + 1 : nm);
        if (oplock_acquire(d->ops, name, &err) < 0)
                goto out;
        struct caller sys = {.login = (char *)"ds01d"};
        char **rel = NULL;
        r = container_remove_and_release(d, &sys, name, inspect, reason, &rel, &err);
        oplock_release(d->ops, name);
        store_strv_free(rel);
        if (r == 0) {
                log_notice("%s: removed (%s)", name, reason);
                counters_action(COUNTERS_CLEANUP_REMOVE);
        }
out:
        if (err) {
                log_error("cleaning up %.12s: %s", id, err->message);
                error_free(err);
        }
        json_decref(inspect);
        return r;
}
