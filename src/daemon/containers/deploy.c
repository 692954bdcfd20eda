/* deploy.c - container-deploy: a project's container, from request to running (see deploy.h). */
#include "daemon/containers/deploy.h"
#include "daemon/cluster/slurmdeploy.h"
#include "daemon/storage/storage.h"
#include "daemon/containers/extras.h"

#include "daemon/containers/managed.h"
#include "daemon/containers/network.h"
#include "daemon/containers/oplock.h"
#include "daemon/containers/spec.h"
#include "daemon/containers/sshkeys.h"
#include "daemon/containers/volumes.h"
#include "daemon/containers/workspace.h"
#include "daemon/docker/dockerjson.h"
#include "daemon/gpus/leases.h"
#include "daemon/gpus/pool.h"
#include "daemon/images/images.h"
#include "daemon/observe/usage.h"
#include "daemon/ports/ports.h"
#include "daemon/ports/relay.h"
#include "daemon/requests/access.h"
#include "shared/log.h"
#include "shared/names.h"
#include "shared/strv.h"

#include <stdio.h>
#include <unistd.h>

static bool image_ref_ok(const char *ref)
{
        size_t n = strlen(ref);
        if (n == 0 || n > 255 || ref[0] == '-')
                return false;
        for (const char *p = ref; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                      (*p >= '0' && *p <= '9') || strchr("._-/:@", *p)))
                        return false;
        return true;
}

/* --image, else the project's own image, else images.default. Another user's
 * per-user image is refused: it may hold their files. *ret_img is Docker's inspect of it (one
 * inspect serves the ownership check, the VOLUME check and the labels). */
static int choose_image(struct ds01d *d, const struct caller *c, const char *project,
                        const char *requested, char **ret_image, json_t **ret_img,
                        struct error **err)
{
        struct error *ierr = NULL;
        json_t *img;
        if (requested) {
                if (!image_ref_ok(requested))
                        return error_set(err, DS01_EUSAGE,
                                         "invalid image name '%.80s' - give a local image such as "
                                         "'ds01/base:latest' (image-list shows yours)",
                                         requested);
                if (access_image(d, c, "deploy", requested, err) < 0)
                        return -1;
                img = docker_image_inspect(d->docker, requested, &ierr);
                if (!img) {
                        int code = ierr->code;
                        error_free(ierr);
                        return error_set(err, code == DS01_ENOTFOUND ? DS01_ENOTFOUND : DS01_ERR,
                                         "image '%s' is not on this server - build it with "
                                         "image-create, or pick one that 'docker images' lists "
                                         "(ds01 pulls nothing)",
                                         requested);
                }
                /* By label and tag, whatever name reached it (an id, docker.io/...). */
                bool usable = c->admin || images_usable_by(img, c->uid);
                if (!usable) {
                        json_decref(img);
                        access_denied(d, c, "deploy", requested);
                        return error_set(err, DS01_ENOTFOUND,
                                         "no image '%s' of yours - it belongs to another user, or "
                                         "to nobody ds01 knows (an unnamed build layer); use your "
                                         "own (ds01-%u/<project>) or a shared image",
                                         requested, (unsigned)c->uid);
                }
                *ret_image = xstrdup(requested);
                *ret_img = img;
                return 0;
        }
        _cleanup_free_ char *own = names_user_image(c->uid, project);
        img = docker_image_inspect(d->docker, own, &ierr);
        if (img) {
                *ret_image = TAKE_PTR(own);
                *ret_img = img;
                return 0;
        }
        ierr = error_free(ierr);
        img = docker_image_inspect(d->docker, d->cfg->image_default, &ierr);
        if (!img) {
                error_free(ierr);
                return error_set(err, DS01_ERR,
                                 "the default image '%s' is missing - an administrator creates it "
                                 "with 'make up' (or set images.default in ds01.yaml)",
                                 d->cfg->image_default);
        }
        *ret_image = xstrdup(d->cfg->image_default);
        *ret_img = img;
        return 0;
}

static json_t *existing_result(struct ds01d *d, const char *container, const json_t *inspect,
                               const char *project)
{
        char **uuids = NULL;
        size_t n = 0;
        strv_split_csv(managed_label(inspect, "ds01.gpu.uuids"), &uuids, &n);
        const char *ws = docker_inspect_workspace(inspect);
        const char *image = jstr(json_object_get(inspect, "Config"), "Image");
        json_t *r =
            json_pack("{s:s, s:s, s:b, s:s, s:s, s:o, s:s}", "container", container, "project",
                      project, "existed", 1, "state", managed_state(inspect), "image",
                      image ? image : "", "gpus", leases_json(d, uuids), "workspace", ws ? ws : "");
        store_strv_free(uuids);
        return r;
}

/* A batch command that cannot start (not in the image, not runnable) makes ds01-init exit at
 * once with 127 or 126, as a shell would; once the command runs, ds01-init names itself
 * "ds01-init:run". Waits for one or the other (or CMD_START_WAIT_MS), so that a mistyped command
 * fails its deploy instead of being reported as deployed. */
#define CMD_START_WAIT_MS 5000
static int check_cmd_started(struct ds01d *d, const char *id, const json_t *cmd, const char *image,
                             struct error **err)
{
        const char *name = json_string_value(json_array_get(cmd, 0));
        int64_t deadline = mono_ms() + CMD_START_WAIT_MS;
        pid_t pid = 0;
        for (int delay_ms = 2;; delay_ms = delay_ms < 50 ? delay_ms * 2 : 50) {
                if (pid <= 0) {
                        json_t *ins = docker_container_inspect(d->docker, id, err);
                        if (!ins)
                                return -1;
                        json_t *st = json_object_get(ins, "State");
                        bool running = json_is_true(json_object_get(st, "Running"));
                        json_int_t code = json_integer_value(json_object_get(st, "ExitCode"));
                        pid = (pid_t)json_integer_value(json_object_get(st, "Pid"));
                        json_decref(ins);
                        if (!running && code == DS01_ECMDNOTFOUND)
                                return error_set(err, DS01_ECMDNOTFOUND,
                                                 "cannot run '%s': there is no such command in "
                                                 "image %s (exit 127) - check its spelling, or "
                                                 "give its full path; nothing was deployed",
                                                 name, image);
                        if (!running && code == DS01_ECMDNOEXEC)
                                return error_set(err, DS01_ECMDNOEXEC,
                                                 "cannot run '%s' in a container of image %s: "
                                                 "it is not an executable file (exit 126) - check "
                                                 "the path and its permissions; nothing was "
                                                 "deployed",
                                                 name, image);
                        if (!running)
                                return 0; /* it ran, and is done already */
                }
                /* /proc of the host: the pid is Docker's, never a path a user chose */
                _cleanup_free_ char *path = xasprintf("/proc/%d/comm", (int)pid);
                char comm[32] = "";
                FILE *f = fopen(path, "re");
                if (f) {
                        if (!fgets(comm, sizeof(comm), f))
                                comm[0] = '\0';
                        fclose(f);
                } else
                        pid = 0; /* gone: ask Docker how it ended */
                if (startswith(comm, "ds01-init:run") || mono_ms() >= deadline)
                        return 0;
                usleep((useconds_t)delay_ms * 1000);
        }
}

/* --ssh (jssh true), or the site's ssh_keys (jssh absent): whether the container mounts the
 * caller's ~/.ssh and ~/.gitconfig; if so they are opened into *keys (for the start) and the pin
 * is made. A site default passes over a user without ~/.ssh; an explicit --ssh is refused. */
static int prepare_ssh(struct ds01d *d, const struct caller *c, const char *container,
                       const json_t *jssh, struct sshkeys *keys, bool *ssh, struct error **err)
{
        *ssh = jssh ? json_is_true(jssh) : d->cfg->ssh_keys;
        if (!*ssh)
                return 0;
        struct error *kerr = NULL;
        if (sshkeys_open(c->uid, c->gid, keys, &kerr) < 0) {
                *ssh = false;
                if (!jssh && kerr->code == DS01_EUSAGE) {
                        error_free(kerr);
                        return 0;
                }
                error_set(err, kerr->code, "%s", kerr->message);
                error_free(kerr);
                return -1;
        }
        return sshkeys_pin_prepare(d->cfg->state_dir, container, err);
}

/* A Docker client's links (extras.h) name the caller's own containers only: Docker would find
 * any container by name, and tell whether another user's exists. */
static int check_links(struct ds01d *d, const struct caller *c, const struct deploy_extras *x,
                       struct error **err)
{
        size_t i;
        json_t *v;
        json_array_foreach (x ? x->links : NULL, i, v) {
                const char *l = json_string_value(v);
                _cleanup_free_ char *name = xstrndup(l, (size_t)(strrchr(l, ':') - l));
                struct store_container sc;
                bool mine = false;
                if (store_get(d->store, name, &sc, NULL) == 0) {
                        mine = sc.uid == (unsigned)c->uid && sc.docker_id;
                        if (!mine)
                                access_denied(d, c, "container.link", name);
                        store_container_release(&sc);
                }
                if (!mine)
                        return error_set(err, DS01_ENOTFOUND, "no container %s to link to", name);
        }
        return 0;
}

/* The GPUs of a request: none while others wait and it is not theirs (refused, busy, though
 * the ledger checks its limits as usual), else leased. */
static int lease_gpus(struct ds01d *d, const struct caller *c, const struct limit_set *ls,
                      const char *container, const char *project, struct pool_request *preq,
                      bool from_queue, char ***ret_uuids, bool *ret_busy, struct error **err)
{
        int64_t ahead = !from_queue && preq->n_slots > 0 ? store_queue_count(d->store) : 0;
        preq->queue_ahead = ahead > 0;
        int r = leases_reserve(d, c, ls, container, project, preq, false, ret_uuids, ret_busy, err);
        if (r < 0 && *ret_busy && ahead > 0) { /* the GPUs may be free: say why none is given */
                *err = error_free(*err);
                error_set(err, DS01_ERESOURCE,
                          "%lld deploy%s wait%s for GPUs ahead of you - add --wait to join the "
                          "queue (gpu-queue shows it)",
                          (long long)ahead, ahead == 1 ? "" : "s", ahead == 1 ? "s" : "");
        }
        return r;
}

int deploy_run(struct ds01d *d, const struct caller *c, json_t *params, bool from_queue,
               bool *ret_busy, json_t **ret_result, struct error **err)
{
        bool busy_ = false, *busy = ret_busy ? ret_busy : &busy_;
        *busy = false;
        bool wait = !from_queue && json_is_true(json_object_get(params, "wait"));
        const char *project = jstr(params, "project");
        const char *image_req = jstr(params, "image");
        json_t *jg = json_object_get(params, "gpus");
        bool cpu_only = json_is_true(json_object_get(params, "cpu_only"));
        json_t *cmd = json_object_get(params, "cmd");
        json_t *jstart = json_object_get(params, "start");
        bool start = !jstart || json_is_true(jstart);
        json_t *jssh = json_object_get(params, "ssh"); /* absent: the site's ssh_keys */
        bool ssh = false;
        struct sshkeys keys = SSHKEYS_INIT;
        int n_gpus = jg ? (int)json_integer_value(jg) : 1;
        if (limits_archived(d->limits, c->login))
                return error_set(err, DS01_EPERM,
                                 "your account is archived on this server (groups/"
                                 "archived.members): no new containers; you can still stop and "
                                 "retire the ones you have - ask an administrator to restore it");
        /* cluster mode: the GPUs of the caller's Slurm job on this node, checked with Slurm */
        json_t *jjob = json_object_get(params, "slurm_job");
        int64_t slurm_job = 0;
        _cleanup_free_ const struct gpu_slot **job_slots = NULL;
        size_t n_job_slots = 0;
        if (jjob && (jg || cpu_only || jstr(params, "mig") || wait || from_queue))
                return error_set(err, DS01_EUSAGE,
                                 "--slurm-job takes the job's GPUs: give no --gpus, --mig, "
                                 "--cpu-only or --wait with it");
        if (jjob) {
                if (slurmdeploy_check(d, c, jjob, &slurm_job, &job_slots, &n_job_slots, err) < 0)
                        return -1;
                n_gpus = (int)n_job_slots;
        }
        if (cpu_only)
                n_gpus = 0;
        if (cpu_only && jg && json_integer_value(jg) > 0)
                return error_set(err, DS01_EUSAGE,
                                 "--cpu-only and --gpus %d contradict each other - give one",
                                 (int)json_integer_value(jg));
        const char *mig = jstr(params, "mig");
        int mig_slices, mig_mem;
        if (mig && cpu_only)
                return error_set(err, DS01_EUSAGE,
                                 "--cpu-only and --mig %s contradict each other - give one", mig);
        if (mig && pool_parse_profile(mig, &mig_slices, &mig_mem, err) < 0)
                return -1;
        /* In a cluster the GPUs are Slurm's: a lease of ds01's own, from any path (an old CLI,
         * the Docker endpoint's --gpus, a raw request), would be a GPU Slurm gives a job next */
        if (d->cfg->cluster && !jjob && (n_gpus > 0 || mig))
                return error_set(err, DS01_EUSAGE,
                                 "this node's GPUs are Slurm's (cluster '%s'): container-deploy "
                                 "%s --gpus N submits a Slurm job for them, or deploy with "
                                 "--cpu-only",
                                 d->cfg->cluster->name ? d->cfg->cluster->name : "?",
                                 project ? project : "NAME");
        if (names_check_project(project, err) < 0)
                return -1;
        int ports[NAMES_PORTS_MAX];
        size_t n_ports;
        if (ports_parse_request(json_object_get(params, "ports"), ports, &n_ports, err) < 0)
                return -1;
        struct deploy_extras extras = {0}, *x = NULL;
        json_t *jx = json_object_get(params, "docker");
        if (jx) {
                if (extras_parse(jx, &extras, err) < 0)
                        return -1;
                x = &extras;
                if (check_links(d, c, x, err) < 0) {
                        extras_release(x);
                        return -1;
                }
        }
        /* the project whose workspace is /workspace: the container's own, or one a Docker
         * client bound */
        const char *ws_project = x && x->workspace ? x->workspace : project;
        struct pool_request preq = {.n_slots = n_gpus, .mig_profile = mig};
        _cleanup_free_ char *gpu_request =
            mig ? xasprintf("mig:%s:%d", mig, n_gpus) : xasprintf("%d", n_gpus);

        _cleanup_free_ char *container = names_container(project, c->user_part);
        if (oplock_acquire(d->ops, container, err) < 0) {
                if (x)
                        extras_release(x);
                return -1;
        }

        int r = -1;
        struct limit_set ls;
        memset(&ls, 0, sizeof(ls));
        bool have_limits = false;
        char **uuids = NULL;
        _cleanup_free_ char *image = NULL, *workspace = NULL, *id = NULL, *net = NULL, *pin = NULL;
        _cleanup_close_ int ws_fd = -1;
        json_t *spec = NULL, *volumes = NULL, *img = NULL;
        bool reserved = false, created = false;
        struct dataset_mount *data = NULL;
        size_t n_data = 0;

        /* A project has one container: say so instead of failing. */
        struct error *ierr = NULL;
        json_t *inspect = docker_container_inspect(d->docker, container, &ierr);
        if (inspect) {
                struct store_container rec;
                bool managed = managed_record(d, inspect, &rec);
                bool mine = managed && rec.uid == (unsigned)c->uid;
                int64_t rec_job = managed ? rec.slurm_job : 0;
                if (managed)
                        store_container_release(&rec);
                if (!mine) {
                        json_decref(inspect);
                        error_set(err, DS01_ERR,
                                  "a container named '%s' exists but ds01 does not manage it "
                                  "for you - choose another project name",
                                  container);
                        goto out;
                }
                if (slurm_job > 0 && rec_job != slurm_job) {
                        json_decref(inspect);
                        error_set(err, DS01_EUSAGE,
                                  "'%s' already has a container%s - retire it (container-retire "
                                  "%s; the workspace stays), or deploy another project for job "
                                  "%lld",
                                  project, rec_job > 0 ? ", of another Slurm job" : "", project,
                                  (long long)slurm_job);
                        goto out;
                }
                /* what is mounted when a container is made cannot be added to one */
                const char *made_with = json_array_size(json_object_get(params, "data")) > 0
                                            ? "--data"
                                        : json_is_true(jssh) ? "--ssh"
                                                             : NULL;
                if (made_with) {
                        json_decref(inspect);
                        error_set(err, DS01_EUSAGE,
                                  "'%s' already has a container, and %s is mounted when one is "
                                  "made - retire it (container-retire %s; the workspace stays) "
                                  "and deploy again with %s",
                                  project, made_with, project, made_with);
                        goto out;
                }
                if (n_ports > 0) {
                        json_decref(inspect);
                        error_set(err, DS01_EUSAGE,
                                  "'%s' already has a container: publish a port of it with "
                                  "container-port %s add PORT",
                                  project, project);
                        goto out;
                }
                *ret_result = existing_result(d, container, inspect, project);
                json_decref(inspect);
                r = 0;
                goto out;
        }
        if (ierr->code != DS01_ENOTFOUND) {
                error_set(err, ierr->code, "%s", ierr->message);
                error_free(ierr);
                goto out;
        }
        ierr = error_free(ierr);
        if (slurm_job > 0 && slurmdeploy_one_container(d, c, slurm_job, container, err) < 0)
                goto out;
        struct store_container sc;
        if (store_get(d->store, container, &sc, NULL) == 0) {
                /* In the ledger but not in Docker: a leftover of a crash; reconcile it now. */
                store_container_release(&sc);
                char **rel = NULL;
                if (store_forget(d->store, container, &rel, err) < 0)
                        goto out;
                if (rel && rel[0])
                        events_log(d->events, "gpu.release", c->login,
                                   json_pack("{s:s, s:o, s:s}", "container", container, "gpus",
                                             strv_to_json(rel), "reason",
                                             "container vanished from docker"));
                store_strv_free(rel);
        }

        caller_limits(d, c, &ls);
        if (x) /* the Docker interface's lifecycle: its grace is in the create body */
                limits_apply_interface(d->limits, x->interface, &ls);
        have_limits = true;
        /* over storage_workspace: the last measurement says so (storage.h) */
        if (storage_check_deploy(d, c->uid, &ls, err) < 0)
                goto out;
        if (datasets_resolve(d->cfg, ls.group, json_object_get(params, "data"), &data, &n_data,
                             err) < 0)
                goto out;
        if (choose_image(d, c, project, image_req, &image, &img, err) < 0)
                goto out;
        if (volumes_of_image(img, image, &volumes, err) < 0)
                goto out;
        if (workspace_prepare(d->cfg->workspace_root, ws_project, c->uid, c->gid, true, &workspace,
                              &ws_fd, err) < 0)
                goto out;
        pin = workspace_pin_prepare(d->cfg->state_dir, container, err);
        if (!pin || prepare_ssh(d, c, container, jssh, &keys, &ssh, err) < 0)
                goto out;

        if (slurm_job > 0) {
                if (leases_reserve_slots(d, c, &ls, container, project, job_slots, n_job_slots,
                                         &uuids, err) < 0)
                        goto out;
                reserved = true;
                if (store_set_slurm_job(d->store, container, slurm_job, err) < 0)
                        goto out;
        } else if (lease_gpus(d, c, &ls, container, project, &preq, from_queue, &uuids, busy, err) <
                   0) {
                if ((*err)->code == DS01_ERESOURCE && !from_queue && !(*busy && wait))
                        events_log(d->events, "gpu.reject", c->login,
                                   json_pack("{s:s, s:i, s:s}", "container", container, "requested",
                                             n_gpus, "reason", (*err)->message));
                goto out;
        }
        reserved = true;

        if (network_acquire(d->net, d->cfg, c->uid, NETWORK_CONTAINERS, &net, err) < 0)
                goto out;
        spec = spec_create_body_of(d, c, &ls, project, image, img, workspace, pin, uuids, cmd,
                                   gpu_request, data, n_data, ssh, x);
        if (slurm_job > 0)
                json_object_set_new(json_object_get(spec, "Labels"), "ds01.slurm.job",
                                    json_sprintf("%lld", (long long)slurm_job));
        if (docker_container_create(d->docker, container, spec, &id, err) < 0) {
                error_wrap(err, "creating container '%s'", container);
                goto out;
        }
        created = true;
        if (managed_make_home(d, c, id, err) < 0 || store_bind(d->store, container, id, err) < 0)
                goto out;
        if (start && managed_start_pinned(d, container, id, ws_fd, ssh ? &keys : NULL, err) < 0) {
                error_wrap(err, "starting container '%s'", container);
                goto out;
        }
        if (start && json_array_size(cmd) > 0 && check_cmd_started(d, id, cmd, image, err) < 0)
                goto out;
        if (ports_publish(d, container, c->uid, ports, n_ports, err) < 0)
                goto out;

        char ts[32];
        events_log(d->events, "container.create", c->login,
                   json_pack("{s:s, s:s, s:s, s:s, s:o, s:s}", "container", container, "project",
                             project, "image", image, "interface",
                             x ? x->interface : "orchestration", "gpus", strv_to_json(uuids),
                             "created_at", format_iso8601(now_s(), ts)));
        if (uuids && uuids[0]) {
                json_t *ev =
                    json_pack("{s:s, s:o}", "container", container, "gpus", strv_to_json(uuids));
                if (slurm_job > 0)
                        json_object_set_new(ev, "slurm_job", json_integer(slurm_job));
                events_log(d->events, "gpu.allocate", c->login, ev);
        }
        log_info("deployed %s for %s (uid %u): image %s, %d GPU(s)", container, c->login,
                 (unsigned)c->uid, image, n_gpus);
        usage_count_deploy(d->store, (unsigned)c->uid, c->login, now_s());
        *ret_result =
            json_pack("{s:s, s:s, s:b, s:s, s:s, s:o, s:s}", "container", container, "project",
                      project, "existed", 0, "state", start ? "running" : "created", "image", image,
                      "gpus", leases_json(d, uuids), "workspace", workspace);
        json_object_set(*ret_result, "volumes", volumes);
        json_object_set_new(*ret_result, "id", json_string(id));
        json_object_set_new(*ret_result, "ports", ports_json(d, container, ports, NULL, n_ports));
        json_t *jdata = json_array();
        for (size_t i = 0; i < n_data; i++) {
                _cleanup_free_ char *target = datasets_target(data[i].name);
                json_array_append_new(jdata, json_string(target));
        }
        json_object_set_new(*ret_result, "data", jdata);
        char *home = spec_home(c);
        json_object_set_new(*ret_result, "home", json_string(home));
        free(home);
        json_object_set_new(*ret_result, "ssh", json_boolean(ssh));
        if (slurm_job > 0)
                json_object_set_new(*ret_result, "slurm_job", json_integer(slurm_job));
        json_t *notice = volumes_notice(volumes, false);
        if (notice)
                json_object_set_new(*ret_result, "notices", json_pack("[o]", notice));
        r = 0;
out:
        if (r < 0 && (created || reserved))
                log_notice("deploy of %s for %s failed and was rolled back: %s", container,
                           c->login, *err ? (*err)->message : "?");
        if (r < 0) {
                /* Roll back: nothing half-done survives a failed deploy. */
                if (created) {
                        struct error *rerr = NULL;
                        if (docker_container_remove(d->docker, id ? id : container, true, &rerr) <
                            0)
                                log_error("rolling back %s: %s", container, rerr->message);
                        error_free(rerr);
                }
                if (reserved) {
                        struct error *rerr = NULL;
                        relay_close(d->relay, container, 0);
                        if (store_forget(d->store, container, NULL, &rerr) < 0)
                                log_error("rolling back the lease of %s: %s", container,
                                          rerr->message);
                        error_free(rerr);
                }
        }
        if (r < 0 && pin)
                managed_pins_remove(d, container, container);
        sshkeys_close(&keys);
        if (x)
                extras_release(x);
        network_release(d->net, net); /* the container, if any, now keeps it */
        store_strv_free(uuids);
        free(data);
        json_decref(spec);
        json_decref(volumes);
        json_decref(img);
        if (have_limits)
                limit_set_release(&ls);
        oplock_release(d->ops, container);
        return r;
}
