/* verbs.c - container-start, -stop, -remove, -retire (see verbs.h). */
#include "daemon/containers/verbs.h"

#include "daemon/ports/relay.h"

#include "daemon/cluster/slurmend.h"

#include "daemon/containers/managed.h"
#include "daemon/containers/network.h"
#include "daemon/containers/oplock.h"
#include "daemon/containers/spec.h"
#include "daemon/containers/sshkeys.h"
#include "daemon/containers/usercgroup.h"
#include "daemon/containers/volumes.h"
#include "daemon/containers/workspace.h"
#include "daemon/docker/dockerjson.h"
#include "daemon/gpus/leases.h"
#include "daemon/gpus/queuekick.h"
#include "daemon/requests/access.h"
#include "daemon/rules/rules.h"
#include "shared/log.h"
#include "shared/parse.h"
#include "shared/strv.h"

#include <math.h>

/* Recreates stopped container `name` on the slots `got` (leased to it already), with the spec
 * it had otherwise. The replacement keeps the runtime count of the container it replaces. */
static int recreate(struct ds01d *d, const struct caller *owner, const json_t *inspect,
                    const char *name, const struct limit_set *ls, char **got, struct error **err)
{
        /* The new container is of its name's project (a renamed one's too: managed_project), on
         * the workspace the old one had (a renamed one's is its old project's). */
        _cleanup_free_ char *project = managed_project(inspect);
        const char *ws_project = managed_workspace_project(inspect);
        const char *request = managed_label(inspect, "ds01.gpu.request");
        const char *image = jstr(json_object_get(inspect, "Config"), "Image");
        _cleanup_free_ char *new_id = NULL, *workspace = NULL, *net = NULL, *pin = NULL;
        _cleanup_free_ char *old_pin = NULL;
        json_t *spec = NULL, *img = NULL;
        int r = -1;
        if (!image || !project ||
            workspace_prepare(d->cfg->workspace_root, ws_project, owner->uid, owner->gid, true,
                              &workspace, NULL, err) < 0) {
                error_set(err, DS01_ERR, "cannot recreate '%s': its labels are incomplete", name);
                goto out;
        }
        if (network_acquire(d->net, d->cfg, owner->uid, NETWORK_CONTAINERS, &net, err) < 0)
                goto out;
        bool ssh = streq_ptr(managed_label(inspect, SSHKEYS_LABEL), "true");
        pin = workspace_pin_prepare(d->cfg->state_dir, name, err);
        if (!pin || (ssh && sshkeys_pin_prepare(d->cfg->state_dir, name, err) < 0))
                goto out;
        img = docker_image_inspect(d->docker, image, err);
        if (!img)
                goto out;
        json_t *volumes = NULL;
        int vr = volumes_of_image(img, image, &volumes, err);
        json_decref(volumes);
        if (vr < 0)
                goto out;
        /* the datasets it had, asked for again: the site may have withdrawn one since */
        char **names = NULL;
        size_t n_names = 0;
        strv_split_csv(managed_label(inspect, "ds01.data"), &names, &n_names);
        json_t *jnames = strv_to_json(names);
        strv_free(names);
        struct dataset_mount *data = NULL;
        size_t n_data = 0;
        vr = datasets_resolve(d->cfg, ls->group, jnames, &data, &n_data, err);
        json_decref(jnames);
        if (vr < 0) {
                error_wrap(err,
                           "'%s' cannot be recreated with its datasets (retire it and deploy "
                           "again)",
                           name);
                goto out;
        }
        json_t *cmd = managed_cmd(inspect);
        struct deploy_extras extras, *x = extras_of_inspect(inspect, &extras) ? &extras : NULL;
        spec = spec_create_body_of(d, owner, ls, project, image, img, workspace, pin, got, cmd,
                                   request ? request : "1", data, n_data, ssh, x);
        if (ws_project && !streq(ws_project, project))
                json_object_set_new(json_object_get(spec, "Labels"), SPEC_WORKSPACE_PROJECT_LABEL,
                                    json_string(ws_project));
        if (x)
                extras_release(x);
        json_decref(cmd);
        free(data);
        /* Recorded before the old container goes, so a crash cannot lose the count. */
        struct store_container sc;
        if (store_get(d->store, name, &sc, err) < 0)
                goto out;
        int64_t from = rules_runtime_start_ms(docker_time_ms(jstr(inspect, "Created")),
                                              sc.created_at, sc.runtime_from_ms);
        store_container_release(&sc);
        if (from > 0 && store_set_runtime_from(d->store, name, from, err) < 0)
                goto out;
        /* From the removal until the new id is bound, the ledger records no container for the
         * name: a crash in between leaves a reservation for the start-up reconciliation. */
        if (docker_container_remove(d->docker, name, true, err) < 0 ||
            store_unbind(d->store, name, err) < 0 ||
            docker_container_create(d->docker, name, spec, &new_id, err) < 0 ||
            managed_make_home(d, owner, new_id, err) < 0) {
                error_wrap(err, "recreating '%s' on a free GPU", name);
                goto out;
        }
        r = store_bind(d->store, name, new_id, err);
        /* The new container's mounts are under its own name: a renamed one's old pins go. */
        old_pin = r == 0 ? managed_pin_name(d, name) : NULL;
        if (old_pin && !streq(old_pin, name)) {
                managed_pins_remove(d, name, old_pin);
                r = store_clear_pin(d->store, name, err);
        }
out:
        if (r < 0 && new_id) /* created but not recorded: nothing would manage it */
                docker_container_remove(d->docker, new_id, true, NULL);
        network_release(d->net, net);
        json_decref(spec);
        json_decref(img);
        return r;
}

/* Leases GPUs again for a stopped container whose hold expired, preferring the slots it had.
 * Same slots: they are bound to the container as it is (leases_relet). Other slots: the
 * container is recreated on them (its devices are fixed at creation); /workspace is kept, the
 * container's own files are not, and *ret_notice says so. */
static int relet_gpus(struct ds01d *d, const struct caller *owner, json_t *inspect,
                      const char *name, char **ret_notice, struct error **err)
{
        struct limit_set ls;
        limits_resolve(d->limits, owner->login, owner->gids, owner->n_gids, &ls);
        limits_apply_interface(d->limits, managed_label(inspect, "ds01.interface"), &ls);
        char **got = NULL;
        bool same = false;
        int r = leases_relet(d, owner, inspect, name, &ls, &got, &same, err);
        if (r == 0 && !same) {
                r = recreate(d, owner, inspect, name, &ls, got, err);
                if (r < 0)
                        store_release_leases(d->store, name, NULL, NULL);
        }
        if (r == 0 && !same) {
                _cleanup_free_ char *list = strv_join(got, ", ");
                _cleanup_free_ char *project = managed_project(inspect);
                *ret_notice = xasprintf("the GPU hold of '%s' had expired and its GPU was taken, "
                                        "so it was recreated on %s: /workspace is kept, changes "
                                        "elsewhere in the container are not",
                                        project ? project : name, list);
        }
        if (r == 0)
                events_log(d->events, "gpu.allocate", owner->login,
                           json_pack("{s:s, s:o, s:s}", "container", name, "gpus",
                                     strv_to_json(got), "reason",
                                     same ? "re-leased after the hold"
                                          : "re-leased after the hold (recreated)"));
        store_strv_free(got);
        limit_set_release(&ls);
        return r;
}

/* A container whose maximum runtime is used up would only be stopped again at once: refused.
 * The count runs from its creation (a restart does not reset it). */
static int check_runtime_left(struct ds01d *d, const struct caller *owner, json_t *inspect,
                              const char *name, const char *project,
                              const struct store_container *sc, struct error **err)
{
        struct limit_set ls;
        limits_resolve(d->limits, owner->login, owner->gids, owner->n_gids, &ls);
        limits_apply_interface(d->limits, managed_label(inspect, "ds01.interface"), &ls);
        double h = ls.max_runtime_h;
        limit_set_release(&ls);
        if (h < 0 || limits_exemption(d->limits, owner->login, LIMITS_RUNTIME, now_s()))
                return 0;
        int64_t cap = (int64_t)llround(h * 3600);
        int64_t start = rules_runtime_start_ms(docker_time_ms(jstr(inspect, "Created")),
                                               sc->created_at, sc->runtime_from_ms);
        int64_t ran = start > 0 ? (now_ms() - start) / 1000 : 0;
        if (start <= 0 || ran < cap)
                return 0;
        char b1[32], b2[32];
        const char *ws = docker_inspect_workspace(inspect);
        return error_set(
            err, DS01_ERESOURCE,
            "'%s' has used its maximum runtime of %s (max_runtime_h; it was created %s "
            "ago, and a restart does not reset the count), so it cannot be started "
            "again. Your files in %s are kept: container-retire %s, then "
            "container-deploy %s for a fresh container",
            name, format_duration(cap, b1), format_duration(ran, b2),
            ws && *ws ? ws : "its workspace", project, project);
}

/* A Slurm job's container lives as long as its job (cluster/slurmlife.h): its stop ended the
 * job, so it is not started again. */
static int check_slurm_job(const json_t *inspect, const char *project,
                           const struct store_container *sc, struct error **err)
{
        if (sc->slurm_job <= 0)
                return 0;
        const char *ws = docker_inspect_workspace(inspect);
        return error_set(err, DS01_ERR,
                         "'%s' cannot be started again: its Slurm job %lld ended when it "
                         "stopped - deploy again from a new job (container-deploy %s --slurm-job "
                         "$SLURM_JOB_ID in the job's script); your files in %s are kept",
                         project, (long long)sc->slurm_job, project,
                         ws && *ws ? ws : "its workspace");
}

/* A container made before pins (workspace.h) has the user's path as its mount source: started,
 * Docker would follow whatever that path is then. Refused, with the way out. */
static int check_pinned(struct ds01d *d, const json_t *inspect, const char *pin_name,
                        const char *project, struct error **err)
{
        _cleanup_free_ char *pin = workspace_pin_prepare(d->cfg->state_dir, pin_name, err);
        if (!pin)
                return -1;
        size_t i;
        json_t *m;
        json_array_foreach (json_object_get(inspect, "Mounts"), i, m) {
                if (streq_ptr(jstr(m, "Destination"), "/workspace") &&
                    !streq_ptr(jstr(m, "Source"), pin))
                        return error_set(err, DS01_ERR,
                                         "'%s' was created by an older ds01 that mounted the "
                                         "workspace by its path, which is not safe to start - "
                                         "container-retire %s, then container-deploy %s (your "
                                         "files in /workspace are kept)",
                                         project, project, project);
        }
        return 0;
}

/* How long a user's verb waits for another operation on the same container (an idle stop
 * with its grace, another of the user's own requests) before it gives up. */
#define USER_VERB_WAIT_S 60

int verbs_acquire(struct ds01d *d, const struct caller *c, const char *name, const char *action,
                  bool need_docker, char **ret_name, json_t **ret_inspect, struct error **err)
{
        if (access_container(d, c, name, action, ret_name, ret_inspect, err) < 0)
                return -1;
        int w = oplock_acquire_wait(d->ops, *ret_name, USER_VERB_WAIT_S, err);
        if (w == 1) {
                _cleanup_free_ char *held = TAKE_PTR(*ret_name);
                json_decref(TAKE_PTR(*ret_inspect));
                if (access_container(d, c, name, action, ret_name, ret_inspect, err) < 0) {
                        oplock_release(d->ops, held);
                        return -1;
                }
        }
        if (w >= 0 && (*ret_inspect || !need_docker))
                return 0;
        if (w >= 0) {
                oplock_release(d->ops, *ret_name);
                access_not_found(name, err);
        }
        free(TAKE_PTR(*ret_name));
        json_decref(TAKE_PTR(*ret_inspect));
        return -1;
}

/* A container made under its owner's cgroup starts in it again: made again if it went (a
 * reboot), with the caps in force now. */
static void restore_user_cgroup(struct ds01d *d, const struct caller *owner, const json_t *inspect)
{
        const char *parent = jstr(json_object_get(inspect, "HostConfig"), "CgroupParent");
        if (!parent || !*parent)
                return;
        struct limit_set ls;
        caller_limits(d, owner, &ls);
        free(usercgroup_prepare(d, owner->uid, &ls, true));
        limit_set_release(&ls);
}

int container_start(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                    struct error **err)
{
        _cleanup_free_ char *name = NULL, *notice = NULL, *project = NULL, *pin = NULL;
        json_t *inspect = NULL;
        struct caller owner = {0};
        bool pin_slot = false;
        if (verbs_acquire(d, c, jstr(params, "name"), "start", true, &name, &inspect, err) < 0)
                return -1;
        int r = -1;
        bool running = json_is_true(json_object_get(json_object_get(inspect, "State"), "Running"));
        if (!running) {
                _cleanup_free_ char *ws = NULL;
                _cleanup_close_ int ws_fd = -1;
                _cleanup_(sshkeys_close) struct sshkeys keys = SSHKEYS_INIT;
                bool ssh = streq_ptr(managed_label(inspect, SSHKEYS_LABEL), "true");
                project = managed_project(inspect);
                /* A renamed container pins under its old name, which a container deployed
                 * since may have too: its starts take that name's slot as well. */
                pin = managed_pin_name(d, name);
                if (!streq(pin, name)) {
                        if (oplock_acquire_wait(d->ops, pin, USER_VERB_WAIT_S, err) < 0)
                                goto unbusy;
                        pin_slot = true;
                }
                if (managed_owner(d, inspect, &owner) < 0 || !project) {
                        error_set(err, DS01_ERR, "container '%s' has no owner with an account",
                                  name);
                        goto unbusy;
                }
                struct store_container sc;
                if (store_get(d->store, name, &sc, err) < 0)
                        goto unbusy;
                if (check_slurm_job(inspect, project, &sc, err) < 0 ||
                    check_runtime_left(d, &owner, inspect, name, project, &sc, err) < 0) {
                        store_container_release(&sc);
                        goto unbusy;
                }
                /* The workspace (and --ssh's files) are mounted again at every start: check
                 * them again. */
                if (workspace_prepare(d->cfg->workspace_root, managed_workspace_project(inspect),
                                      owner.uid, owner.gid, true, &ws, &ws_fd, err) < 0 ||
                    check_pinned(d, inspect, pin, project, err) < 0 ||
                    (ssh && sshkeys_open(owner.uid, owner.gid, &keys, err) < 0)) {
                        store_container_release(&sc);
                        goto unbusy;
                }
                store_container_release(&sc);
                /* Its GPUs: still held (same devices), or released after the hold (lease
                 * again, maybe elsewhere). They are bound before Docker starts it: the hold
                 * sweep releases only held leases, so either it released them first and they
                 * are leased again here, or it finds them bound and leaves them. */
                bool needs_gpus = false;
                const char *had = managed_label(inspect, "ds01.gpu.uuids");
                if (had && *had) {
                        if (store_unhold(d->store, name, err) < 0 ||
                            store_get(d->store, name, &sc, err) < 0)
                                goto unbusy;
                        needs_gpus = sc.n_leases == 0;
                        store_container_release(&sc);
                }
                if (needs_gpus && relet_gpus(d, &owner, inspect, name, &notice, err) < 0)
                        goto unbusy;
                restore_user_cgroup(d, &owner, inspect);
                if (managed_start_pinned(d, pin, name, ws_fd, ssh ? &keys : NULL, err) < 0) {
                        error_wrap(err, "starting '%s'", name);
                        store_hold(d->store, name, NULL); /* stopped still: held again */
                        goto unbusy;
                }
                events_log(d->events, "container.started", c->login,
                           json_pack("{s:s}", "container", name));
                store_set_manual_stop(d->store, name, 0, NULL); /* a stop from now on is new */
        }
        *ret_result = json_pack("{s:s, s:s, s:b}", "container", name, "state", "running", "started",
                                !running);
        if (notice)
                json_object_set_new(*ret_result, "notices", json_pack("[s]", notice));
        r = 0;
unbusy:
        if (pin_slot)
                oplock_release(d->ops, pin);
        oplock_release(d->ops, name);
        caller_release(&owner);
        json_decref(inspect);
        return r;
}

/* The GPU hold a stop starts, in hours (-1: until retired), as the CLI reports it. */
static double hold_h(struct ds01d *d, const struct limit_set *ls, bool manual)
{
        int64_t s = rules_gpu_hold_s(ls, manual, store_queue_count(d->store) > 0);
        return s < 0 ? -1 : (double)s / 3600;
}

int container_stop(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                   struct error **err)
{
        _cleanup_free_ char *name = NULL;
        json_t *inspect = NULL;
        if (verbs_acquire(d, c, jstr(params, "name"), "stop", true, &name, &inspect, err) < 0)
                return -1;
        /* The owner's grace, unless the caller asks for another (container-stop --timeout). */
        json_t *jt = json_object_get(params, "timeout_s");
        int timeout = jt ? (int)json_integer_value(jt) : managed_grace_s(d, inspect);
        int r = -1;
        /* The owner's own stop gets gpu_hold_after_manual_stop_m (an administrator's does not). */
        struct store_container sc;
        bool manual = false;
        int64_t job = 0;
        if (store_get(d->store, name, &sc, NULL) == 0) {
                manual = sc.uid == (unsigned)c->uid;
                job = sc.slurm_job;
                store_container_release(&sc);
        }
        if (manual)
                store_set_manual_stop(d->store, name, now_s(), NULL);
        if (docker_container_stop(d->docker, name, timeout, err) < 0) {
                if (manual)
                        store_set_manual_stop(d->store, name, 0, NULL);
                error_wrap(err, "stopping '%s'", name);
                goto unbusy;
        }
        /* held, or released at once for a Slurm job's (whose end the watcher sees to) */
        leases_stopped(d, name);
        json_t *ev = json_pack("{s:s, s:s}", "container", name, "by", "user");
        if (job > 0)
                json_object_set_new(ev, "slurm_job", json_integer(job));
        events_log(d->events, "container.stopped", c->login, ev);
        /* What happens next, for the CLI to say: the holds of the GPUs and of the container. */
        struct limit_set ls;
        managed_owner_limits(d, inspect, &ls);
        const char *gpus = managed_label(inspect, "ds01.gpu.uuids");
        *ret_result = json_pack("{s:s, s:s, s:i, s:b, s:f, s:f}", "container", name, "state",
                                "exited", "sigterm_grace_s", timeout, "gpus", gpus && *gpus,
                                "gpu_hold_after_stop_h", job > 0 ? 0 : hold_h(d, &ls, manual),
                                "container_hold_after_stop_h", ls.container_hold_after_stop_h);
        if (job > 0)
                json_object_set_new(*ret_result, "slurm_job", json_integer(job));
        limit_set_release(&ls);
        r = 0;
unbusy:
        oplock_release(d->ops, name);
        json_decref(inspect);
        return r;
}

/* Removes the container (if Docker still has it) and releases its ledger record. */
int container_remove_and_release(struct ds01d *d, const struct caller *c, const char *name,
                                 const json_t *inspect, const char *reason, char ***ret_released,
                                 struct error **err)
{
        if (inspect && docker_container_remove(d->docker, name, true, err) < 0) {
                if ((*err)->code != DS01_ENOTFOUND)
                        return error_wrap(err, "removing '%s'", name);
                *err = error_free(*err);
        }
        _cleanup_free_ char *pin = managed_pin_name(d, name);
        managed_pins_remove(d, name, pin);
        struct store_container sc;
        int64_t job = 0, uid = -1;
        if (store_get(d->store, name, &sc, NULL) == 0) {
                job = sc.slurm_job;
                uid = sc.uid;
                store_container_release(&sc);
        }
        char **rel = NULL;
        if (store_forget(d->store, name, &rel, err) < 0)
                return -1;
        relay_close(d->relay, name, 0); /* its published ports went with the row */
        const char *owner = inspect ? managed_label(inspect, "ds01.user") : NULL;
        json_t *ev =
            json_pack("{s:s, s:s, s:s}", "container", name, "reason", reason, "by", c->login);
        if (job > 0)
                json_object_set_new(ev, "slurm_job", json_integer(job));
        events_log(d->events, "container.remove", owner ? owner : c->login, ev);
        /* A Slurm job's container went: its job ends too, on the watcher's thread (when the job
         * ended first - the watcher's own retire - the request is only forgotten there). */
        if (job > 0) {
                const char *iface = inspect ? managed_label(inspect, "ds01.interface") : NULL;
                slurmend_request(d->slurmend, job, uid, name, reason,
                                 managed_uid_grace_s(d, uid, iface));
        }
        if (rel && rel[0])
                events_log(d->events, "gpu.release", owner ? owner : c->login,
                           json_pack("{s:s, s:o, s:s}", "container", name, "gpus",
                                     strv_to_json(rel), "reason", reason));
        *ret_released = rel;
        if (rel && rel[0])
                queuekick_ring(d->kick); /* a waiting deploy may fit now */
        return 0;
}

int container_remove(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                     struct error **err)
{
        _cleanup_free_ char *name = NULL;
        json_t *inspect = NULL;
        if (verbs_acquire(d, c, jstr(params, "name"), "remove", false, &name, &inspect, err) < 0)
                return -1;
        int r = -1;
        bool force = json_is_true(json_object_get(params, "force"));
        bool running =
            inspect && json_is_true(json_object_get(json_object_get(inspect, "State"), "Running"));
        if (running && !force) {
                _cleanup_free_ char *p = managed_project(inspect);
                error_set(err, DS01_ERR,
                          "'%s' is running - stop it first (container-stop %s), retire it "
                          "(container-retire %s) or use --force",
                          p ? p : name, p ? p : name, p ? p : name);
                goto unbusy;
        }
        /* --force stops it as every stop does, with SIGTERM and the grace, before removing. */
        if (running &&
            docker_container_stop(d->docker, name, managed_grace_s(d, inspect), err) < 0) {
                if ((*err)->code != DS01_ENOTFOUND) {
                        error_wrap(err, "stopping '%s'", name);
                        goto unbusy;
                }
                *err = error_free(*err);
        }
        char **rel = NULL;
        if (container_remove_and_release(d, c, name, inspect, "removed", &rel, err) < 0)
                goto unbusy;
        *ret_result = json_pack("{s:s, s:o}", "container", name, "released", strv_to_json(rel));
        store_strv_free(rel);
        r = 0;
unbusy:
        oplock_release(d->ops, name);
        json_decref(inspect);
        return r;
}

int container_retire(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                     struct error **err)
{
        _cleanup_free_ char *name = NULL;
        json_t *inspect = NULL;
        _cleanup_free_ char *workspace = NULL;
        if (verbs_acquire(d, c, jstr(params, "name"), "retire", false, &name, &inspect, err) < 0)
                return -1;
        int r = -1;
        /* Stop first, so every process gets SIGTERM and the owner's grace, then remove. */
        int grace = inspect ? managed_grace_s(d, inspect) : 0;
        bool running =
            inspect && json_is_true(json_object_get(json_object_get(inspect, "State"), "Running"));
        if (running && docker_container_stop(d->docker, name, grace, err) < 0) {
                if ((*err)->code != DS01_ENOTFOUND) {
                        error_wrap(err, "stopping '%s'", name);
                        goto unbusy;
                }
                *err = error_free(*err);
        }
        const char *ws = inspect ? docker_inspect_workspace(inspect) : NULL;
        workspace = ws ? xstrdup(ws) : NULL;
        json_t *volumes = volumes_of_container(inspect);
        char **rel = NULL;
        if (container_remove_and_release(d, c, name, inspect, "retired", &rel, err) < 0) {
                json_decref(volumes);
                goto unbusy;
        }
        *ret_result =
            json_pack("{s:s, s:o, s:s, s:o, s:b, s:i}", "container", name, "released",
                      strv_to_json(rel), "workspace", workspace ? workspace : "", "volumes_deleted",
                      volumes, "stopped", running, "sigterm_grace_s", grace);
        json_t *notice = volumes_notice(volumes, true);
        if (notice)
                json_object_set_new(*ret_result, "notices", json_pack("[o]", notice));
        store_strv_free(rel);
        r = 0;
unbusy:
        oplock_release(d->ops, name);
        json_decref(inspect);
        return r;
}
