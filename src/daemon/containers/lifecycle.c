/* lifecycle.c - deploy/start/stop/remove/retire/list/exec/logs orchestration. */
#include "daemon/containers/lifecycle.h"

#include "daemon/observe/audit.h"

#include "shared/log.h"
#include "daemon/observe/counters.h"
#include "daemon/docker/dockerjson.h"
#include "shared/names.h"
#include "shared/parse.h"
#include "shared/strbuf.h"
#include "daemon/images/images.h"
#include "daemon/rules/monitor.h"
#include "daemon/containers/network.h"
#include "daemon/observe/snapshot.h"
#include "daemon/observe/notify.h"
#include "daemon/gpus/pool.h"
#include "daemon/observe/usage.h"
#include "daemon/containers/workspace.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <math.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>

#define EXEC_MAX_PER_UID 64
#define EXEC_MAX_AGE_S   (7 * 86400)

void caller_release(struct caller *c)
{
        free(c->gids);
        free(c->login);
        free(c->user_part);
        memset(c, 0, sizeof(*c));
}

/* ---- small helpers ---------------------------------------------------------------------- */

static const char *label(const json_t *inspect, const char *key)
{
        return jstr(json_object_get(json_object_get(inspect, "Config"), "Labels"), key);
}

/* Whether Docker's container (an inspect) is one this daemon created: the ledger records its
 * name with this Docker id (store_records). *ret (optional) gets that record: owners come from
 * it, never from labels, which anyone who can build an image can set. */
static bool ledger_record(struct ds01d *d, const json_t *inspect, struct store_container *ret)
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

static json_t *strv_to_json(char **v)
{
        json_t *a = json_array();
        for (size_t i = 0; v && v[i]; i++)
                json_array_append_new(a, json_string(v[i]));
        return a;
}

static char *strv_join(char **v, const char *sep)
{
        struct strbuf sb = STRBUF_INIT;
        for (size_t i = 0; v && v[i]; i++) {
                if (i)
                        strbuf_adds(&sb, sep);
                strbuf_adds(&sb, v[i]);
        }
        return strbuf_detach(&sb);
}

static bool busy_has(struct ds01d *d, const char *name)
{
        for (size_t i = 0; i < d->n_busy; i++)
                if (streq(d->busy[i], name))
                        return true;
        return false;
}

/* Serialises operations on one container name (deploy vs retire of the same project, two
 * deploys racing, a user's retire while the monitor stops the container). The second waits up
 * to wait_s for the first to finish - a user's stop or retire arriving during an idle stop
 * should do its work, not fail - and is told to retry after that. */
static int busy_acquire_wait(struct ds01d *d, const char *name, int wait_s, struct error **err)
{
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += wait_s;
        pthread_mutex_lock(&d->busy_lock);
        int w = 0;
        bool waited = false;
        while (busy_has(d, name) && w == 0 && (waited = true))
                w = wait_s > 0 ? pthread_cond_timedwait(&d->busy_done, &d->busy_lock, &until)
                               : ETIMEDOUT;
        if (busy_has(d, name)) {
                pthread_mutex_unlock(&d->busy_lock);
                return error_set(err, DS01_ERR,
                                 "another operation on '%s' is in progress - try again "
                                 "in a moment",
                                 name);
        }
        d->busy = xrealloc(d->busy, (d->n_busy + 1) * sizeof(*d->busy));
        d->busy[d->n_busy++] = xstrdup(name);
        pthread_mutex_unlock(&d->busy_lock);
        return waited;
}

static int busy_acquire(struct ds01d *d, const char *name, struct error **err)
{
        return busy_acquire_wait(d, name, 0, err) < 0 ? -1 : 0;
}

static void busy_release(struct ds01d *d, const char *name)
{
        pthread_mutex_lock(&d->busy_lock);
        for (size_t i = 0; i < d->n_busy; i++)
                if (streq(d->busy[i], name)) {
                        free(d->busy[i]);
                        d->busy[i] = d->busy[--d->n_busy];
                        break;
                }
        pthread_cond_broadcast(&d->busy_done);
        pthread_mutex_unlock(&d->busy_lock);
}

void lifecycle_audit_denied(struct ds01d *d, const struct caller *c, const char *action,
                            const char *target)
{
        audit_denied(d->audit, c->uid, c->login, action, target);
}

int lifecycle_not_found(const char *what, struct error **err)
{
        /* For a full name, the hint names only the project part: that is what deploy takes. */
        _cleanup_free_ char *project = NULL, *user_part = NULL;
        if (names_split_container(what, &project, &user_part) == 0)
                return error_set(err, DS01_ENOTFOUND,
                                 "no container '%s' - container-list shows yours", what);
        return error_set(err, DS01_ENOTFOUND,
                         "no container '%s' - container-list shows yours, container-deploy %s "
                         "creates one",
                         what, what);
}

/* The container a request names. NAME is a project of the caller, or (admins, and callers
 * naming their own) a full "<project>._.<user>" name. Someone else's container is "not found"
 * and audited. *ret_inspect is Docker's inspect of it, or NULL when Docker has no such
 * container but the ledger does (ret_name is still set). */
static int resolve_target(struct ds01d *d, const struct caller *c, const char *name,
                          const char *action, char **ret_name, json_t **ret_inspect,
                          struct error **err)
{
        _cleanup_free_ char *container = NULL;
        _cleanup_free_ char *project = NULL, *user_part = NULL;
        if (names_split_container(name, &project, &user_part) == 0) {
                if (names_check_project(project, err) < 0 ||
                    names_check_user_part(user_part, err) < 0)
                        return -1;
                if (!streq(user_part, c->user_part) && !c->admin) {
                        lifecycle_audit_denied(d, c, action, name);
                        return lifecycle_not_found(name, err);
                }
                container = xstrdup(name);
        } else {
                if (names_check_project(name, err) < 0)
                        return -1;
                container = names_container(name, c->user_part);
        }

        struct error *derr = NULL;
        json_t *inspect = docker_container_inspect(d->docker, container, &derr);
        if (!inspect) {
                bool missing = derr->code == DS01_ENOTFOUND;
                if (!missing) {
                        error_set(err, derr->code, "%s", derr->message);
                        error_free(derr);
                        return -1;
                }
                error_free(derr);
                struct store_container sc;
                if (store_get(d->store, container, &sc, NULL) == 0) {
                        bool mine = sc.uid == c->uid || c->admin;
                        store_container_release(&sc);
                        if (mine) {
                                *ret_name = TAKE_PTR(container);
                                *ret_inspect = NULL;
                                return 0;
                        }
                }
                return lifecycle_not_found(name, err);
        }
        /* Only containers this daemon created; and only the caller's own (by the ledger's
         * owner, not by the name) unless admin. */
        struct store_container rec;
        if (!ledger_record(d, inspect, &rec)) {
                json_decref(inspect);
                return lifecycle_not_found(name, err);
        }
        bool mine = rec.uid == (unsigned)c->uid;
        store_container_release(&rec);
        if (!c->admin && !mine) {
                json_decref(inspect);
                lifecycle_audit_denied(d, c, action, name);
                return lifecycle_not_found(name, err);
        }
        *ret_name = TAKE_PTR(container);
        *ret_inspect = inspect;
        return 0;
}

static const char *inspect_state(const json_t *inspect)
{
        const char *s = jstr(json_object_get(inspect, "State"), "Status");
        return s ? s : "unknown";
}

/* The user's passwd entry, for operations on another user's behalf (admin, reconcile). */
static int lookup_uid(uid_t uid, gid_t *ret_gid, char **ret_login)
{
        struct passwd pw, *res = NULL;
        char buf[4096];
        if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) != 0 || !res)
                return -1;
        *ret_gid = pw.pw_gid;
        *ret_login = xstrdup(pw.pw_name);
        return 0;
}

/* ---- deploy ------------------------------------------------------------------------------ */

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
                unsigned owner;
                if (sscanf(requested, "ds01-%u/", &owner) == 1 && owner != c->uid && !c->admin)
                        return error_set(err, DS01_EPERM,
                                         "image '%s' belongs to another user - use your own "
                                         "(ds01-%u/<project>) or a shared image",
                                         requested, (unsigned)c->uid);
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
                        return error_set(err, DS01_EPERM,
                                         "image '%s' belongs to another user, or to nobody ds01 "
                                         "knows (an unnamed build layer) - use your own "
                                         "(ds01-%u/<project>) or a shared image",
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

/* The /etc/passwd of the owner's containers. Without an entry for their uid, shells greet users
 * as "I have no name!" and tools that ask who they are fail. The image's own file cannot be read
 * without touching the container's file system, so each container gets this one, mounted
 * read-only over it: root, nobody and the owner (home /workspace). It is written by root in the
 * daemon's own state directory (never a path a user can reach), rewritten at each use; NULL
 * (logged) when it cannot be, and the container keeps the image's. */
static char *passwd_file(struct ds01d *d, const struct caller *c)
{
        /* a login name from NSS is used as it is only if it cannot break the file's format */
        const char *name = c->login;
        for (const char *p = name; *p; p++)
                if (!(isalnum((unsigned char)*p) || strchr("._-", *p)))
                        name = c->user_part;
        _cleanup_free_ char *dir = xasprintf("%s/passwd", d->cfg->state_dir);
        _cleanup_free_ char *path = xasprintf("%s/%u", dir, (unsigned)c->uid);
        _cleanup_free_ char *tmp = xasprintf("%s/.%u.XXXXXX", dir, (unsigned)c->uid);
        _cleanup_free_ char *text =
            xasprintf("root:x:0:0:root:/root:/bin/sh\n"
                      "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
                      "%s:x:%u:%u:%s:/workspace:/bin/sh\n",
                      name, (unsigned)c->uid, (unsigned)c->gid, name);
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                goto fail;
        int fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                goto fail;
        bool ok = fchmod(fd, 0644) == 0 && write_all(fd, text, strlen(text)) == 0;
        close(fd);
        if (!ok || rename(tmp, path) < 0) {
                unlink(tmp);
                goto fail;
        }
        return TAKE_PTR(path);
fail:
        log_warning("cannot write %s (the container keeps the image's /etc/passwd): %s", path,
                    strerror(errno));
        return NULL;
}

/* Docker gives a container its image's labels under its own: a ds01.* label of the image that
 * ds01 does not set itself is blanked, so no image (whoever wrote its Dockerfile) puts ds01's
 * labels on a container. */
static void blank_image_labels(const json_t *img, json_t *labels)
{
        const char *k;
        json_t *v;
        json_object_foreach (json_object_get(json_object_get(img, "Config"), "Labels"), k, v)
                if (strncmp(k, "ds01.", 5) == 0 && !json_object_get(labels, k))
                        json_object_set_new(labels, k, json_string(""));
}

/* The whole container spec, from the owner's limits and the leased slots. gpu_request is what
 * the user asked for ("2", "mig:3g.20gb", "0"), kept as a label so a re-lease after a hold can
 * ask for the same. /workspace is mounted from pin (workspace.h); workspace, the user's path, is
 * a label to show. */
static json_t *build_spec(struct ds01d *d, const struct caller *c, const struct limit_set *ls,
                          const char *project, const char *image, const json_t *img,
                          const char *workspace, const char *pin, char **uuids, const json_t *cmd,
                          const char *gpu_request)
{
        char ts[32];
        _cleanup_free_ char *gpus = strv_join(uuids, ",");
        size_t n_gpus = 0;
        while (uuids && uuids[n_gpus])
                n_gpus++;

        json_t *env = json_array();
        json_array_append_new(env, json_string("HOME=/workspace"));
        json_array_append_new(env, json_sprintf("USER=%s", c->login));
        json_array_append_new(env, json_sprintf("LOGNAME=%s", c->login));
        json_array_append_new(env, json_sprintf("DS01_PROJECT=%s", project));
        json_array_append_new(env, json_string("CUDA_DEVICE_ORDER=PCI_BUS_ID"));
        /* A container never sees a GPU it does not lease: "void" hides every device from the
         * NVIDIA runtime, and an empty CUDA_VISIBLE_DEVICES hides them from CUDA. */
        json_array_append_new(env,
                              json_sprintf("NVIDIA_VISIBLE_DEVICES=%s", n_gpus ? gpus : "void"));
        json_array_append_new(env, json_sprintf("CUDA_VISIBLE_DEVICES=%s", gpus));

        _cleanup_free_ char *slots = NULL;
        {
                struct strbuf sb = STRBUF_INIT;
                for (size_t i = 0; i < n_gpus; i++) {
                        const struct gpu_slot *s = gpu_inventory_find(d->inv, uuids[i]);
                        if (i)
                                strbuf_addc(&sb, ',');
                        if (s && s->parent_uuid)
                                strbuf_addf(&sb, "%d.%s", s->gpu_index, s->profile);
                        else if (s)
                                strbuf_addf(&sb, "%d", s->gpu_index);
                }
                slots = strbuf_detach(&sb);
        }
        json_t *labels =
            json_pack("{s:s, s:s, s:s, s:o, s:s, s:s, s:s, s:s, s:s}", "ds01.managed", "true",
                      "ds01.instance", d->cfg->instance, "ds01.user", c->login, "ds01.uid",
                      json_sprintf("%u", (unsigned)c->uid), "ds01.project", project,
                      "ds01.interface", "orchestration", "ds01.created_at",
                      format_iso8601(now_s(), ts), "ds01.gpu.uuids", gpus, "ds01.gpu.slots", slots);
        json_object_set_new(labels, "ds01.gpu.request", json_string(gpu_request));
        /* The owner's own network (network.h): never another user's containers. */
        _cleanup_free_ char *net = network_name(d->cfg->instance, c->uid, NETWORK_CONTAINERS);
        json_object_set_new(labels, DOCKER_WORKSPACE_LABEL, json_string(workspace));
        blank_image_labels(img, labels);

        json_t *mounts =
            json_pack("[{s:s, s:s, s:s, s:b}, {s:s, s:s, s:s, s:b}]", "Type", "bind", "Source", pin,
                      "Target", "/workspace", "ReadOnly", 0, "Type", "bind", "Source", d->init_path,
                      "Target", "/.ds01/init", "ReadOnly", 1);
        _cleanup_free_ char *passwd = passwd_file(d, c);
        if (passwd)
                json_array_append_new(mounts,
                                      json_pack("{s:s, s:s, s:s, s:b}", "Type", "bind", "Source",
                                                passwd, "Target", "/etc/passwd", "ReadOnly", 1));

        json_t *host =
            json_pack("{s:o, s:[s], s:[s], s:b, s:s, s:{s:s}, s:{s:s, s:{s:s, s:s}}}", "Mounts",
                      mounts, "SecurityOpt", "no-new-privileges", "CapDrop", "ALL", "Privileged", 0,
                      "NetworkMode", net, "RestartPolicy", "Name", "no", "LogConfig", "Type",
                      "json-file", "Config", "max-size", "10m", "max-file", "3");
        if (ls->max_cpus > 0) {
                /* Docker refuses more CPUs than the host has: a group's 32 on a smaller machine
                 * means "all of them". */
                double cpus = ls->max_cpus;
                long online = sysconf(_SC_NPROCESSORS_ONLN);
                if (online > 0 && cpus > (double)online)
                        cpus = (double)online;
                json_object_set_new(host, "NanoCpus", json_integer((json_int_t)(cpus * 1e9)));
        }
        if (ls->memory > 0) {
                json_object_set_new(host, "Memory", json_integer(ls->memory));
                int64_t swap = ls->memory_swap;
                if (swap >= 0 && swap < ls->memory)
                        swap = ls->memory;
                json_object_set_new(host, "MemorySwap", json_integer(swap < 0 ? -1 : swap));
        }
        if (ls->shm_size > 0)
                json_object_set_new(host, "ShmSize", json_integer(ls->shm_size));
        if (ls->pids_limit > 0)
                json_object_set_new(host, "PidsLimit", json_integer(ls->pids_limit));
        const char *mode = d->cfg->docker_devices;
        bool device_requests = streq(mode, "device-requests") ||
                               (streq(mode, "auto") && gpu_inventory_is_real(d->inv));
        if (n_gpus && device_requests) {
                size_t n_mig = 0;
                for (size_t i = 0; i < n_gpus; i++) {
                        const struct gpu_slot *s = gpu_inventory_find(d->inv, uuids[i]);
                        n_mig += s && s->parent_uuid;
                }
                if (n_mig > 1)
                        /* Several MIG instances: the NVIDIA runtime reads them from
                         * NVIDIA_VISIBLE_DEVICES (a DeviceRequest takes one MIG device). */
                        json_object_set_new(host, "Runtime", json_string("nvidia"));
                else
                        json_object_set_new(host, "DeviceRequests",
                                            json_pack("[{s:s, s:o, s:[[s]]}]", "Driver", "nvidia",
                                                      "DeviceIDs", strv_to_json(uuids),
                                                      "Capabilities", "gpu"));
        }

        _cleanup_free_ char *user = xasprintf("%u:%u", (unsigned)c->uid, (unsigned)c->gid);
        json_t *entry_cmd = json_array();
        if (cmd && json_array_size(cmd) > 0) {
                json_array_append_new(entry_cmd, json_string("--"));
                json_array_extend(entry_cmd, (json_t *)cmd);
        }
        /* ds01-init takes SIGTERM as "stop" whatever STOPSIGNAL the image sets; a `docker stop`
         * that does not give a timeout (dockerd's own shutdown) waits the owner's grace too. */
        return json_pack("{s:s, s:s, s:s, s:s, s:[s], s:o, s:o, s:o, s:b, s:b, s:o, s:s, s:I}",
                         "Image", image, "User", user, "WorkingDir", "/workspace", "Hostname",
                         project, "Entrypoint", "/.ds01/init", "Cmd", entry_cmd, "Env", env,
                         "Labels", labels, "Tty", 0, "OpenStdin", 0, "HostConfig", host,
                         "StopSignal", "SIGTERM", "StopTimeout",
                         (json_int_t)ls->policies.sigterm_grace_s);
}

static json_t *gpus_json(struct ds01d *d, char **uuids)
{
        json_t *a = json_array();
        for (size_t i = 0; uuids && uuids[i]; i++) {
                const struct gpu_slot *s = gpu_inventory_find(d->inv, uuids[i]);
                json_t *g = json_pack("{s:s}", "uuid", uuids[i]);
                if (s) {
                        json_object_set_new(g, "name", json_string(s->name));
                        json_object_set_new(g, "index", json_integer(s->gpu_index));
                        json_object_set_new(g, "weight", json_real(s->weight));
                        if (s->profile)
                                json_object_set_new(g, "profile", json_string(s->profile));
                }
                json_array_append_new(a, g);
        }
        return a;
}

/* Reserve GPUs for a container: the one step a cluster backend (Slurm) would replace.
 * existing: the container is already in the ledger (a re-lease after its hold expired). */
static int lifecycle_reserve_gpus(struct ds01d *d, const struct caller *c,
                                  const struct limit_set *ls, const char *container,
                                  const char *project, struct pool_request *preq, bool existing,
                                  char ***ret_uuids, struct error **err)
{
        const struct gpu_slot **cands = NULL;
        struct error *perr = NULL;
        size_t n_cands = pool_candidates(d->inv, ls, preq, &cands, &perr);
        if (perr) {
                free(cands);
                error_set(err, perr->code, "%s", perr->message);
                error_free(perr);
                return -1;
        }
        struct store_reservation_req req = {
            .container = container,
            .project = project,
            .user = c->login,
            .uid = c->uid,
            .n_slots = preq->n_slots,
            .max_gpu_equivalents = ls->max_gpu_equivalents,
            .max_slots_per_container = ls->max_gpu_slots_per_container,
            .max_containers = ls->max_containers_per_user,
            .candidates = cands,
            .n_candidates = n_cands,
            .pick = pool_pick,
            .pick_ctx = preq,
            .existing = existing,
        };
        int r = store_reserve(d->store, &req, ret_uuids, err);
        free(cands);
        return r;
}

static void resolve_limits(struct ds01d *d, const struct caller *c, struct limit_set *ret)
{
        limits_resolve(d->limits, c->login, c->gids, c->n_gids, ret);
}

static void split_csv(const char *s, char ***ret, size_t *ret_n);

static json_t *existing_result(struct ds01d *d, const char *container, const json_t *inspect,
                               const char *project)
{
        char **uuids = NULL;
        size_t n = 0;
        split_csv(label(inspect, "ds01.gpu.uuids"), &uuids, &n);
        const char *ws = docker_inspect_workspace(inspect);
        const char *image = jstr(json_object_get(inspect, "Config"), "Image");
        json_t *r =
            json_pack("{s:s, s:s, s:b, s:s, s:s, s:o, s:s}", "container", container, "project",
                      project, "existed", 1, "state", inspect_state(inspect), "image",
                      image ? image : "", "gpus", gpus_json(d, uuids), "workspace", ws ? ws : "");
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

/* path as Docker cleans it (filepath.Clean): no ".", "..", or repeated or trailing slashes. */
static char *clean_path(const char *path)
{
        _cleanup_free_ char *copy = xstrdup(path);
        char **parts = NULL;
        size_t n = 0;
        char *save = NULL;
        for (char *t = strtok_r(copy, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
                if (streq(t, "."))
                        continue;
                if (streq(t, "..")) {
                        n -= n > 0;
                        continue;
                }
                parts = xrealloc(parts, (n + 1) * sizeof(*parts));
                parts[n++] = t;
        }
        struct strbuf sb = STRBUF_INIT;
        for (size_t i = 0; i < n; i++) {
                strbuf_addc(&sb, '/');
                strbuf_adds(&sb, parts[i]);
        }
        free(parts);
        if (n == 0)
                strbuf_addc(&sb, '/');
        return strbuf_detach(&sb);
}

/* The VOLUMEs of an image (Config.Volumes). One below /workspace is refused: Docker would mount
 * an empty anonymous volume over that part of the workspace (hiding the user's files there),
 * leave a root-owned directory in the workspace, and delete what was written there with the
 * container. /workspace itself is the workspace mount. Others are anonymous volumes that go
 * with the container (docker rm -v): returned in *ret_volumes, so the user is told. */
static int image_volumes(const json_t *img, const char *image, json_t **ret_volumes,
                         struct error **err)
{
        *ret_volumes = json_array();
        const char *path;
        json_t *v;
        int r = 0;
        json_object_foreach (json_object_get(json_object_get(img, "Config"), "Volumes"), path, v) {
                _cleanup_free_ char *clean = clean_path(path);
                if (streq(clean, "/workspace"))
                        continue;
                if (startswith(clean, "/workspace/")) {
                        r = error_set(err, DS01_ERR,
                                      "image '%s' declares VOLUME %s, inside /workspace: Docker "
                                      "would hide your files there under an empty volume that is "
                                      "deleted with the container - remove that VOLUME line and "
                                      "rebuild (everything under /workspace is kept anyway)",
                                      image, path);
                        break;
                }
                json_array_append_new(*ret_volumes, json_string(clean));
        }
        return r;
}

/* The notice of a container with image VOLUMEs outside /workspace, or NULL. */
static json_t *volumes_notice(const json_t *volumes, bool retired)
{
        if (json_array_size(volumes) == 0)
                return NULL;
        struct strbuf sb = STRBUF_INIT;
        size_t i;
        json_t *v;
        json_array_foreach (volumes, i, v) {
                if (i)
                        strbuf_adds(&sb, ", ");
                strbuf_adds(&sb, json_string_value(v));
        }
        json_t *n = json_sprintf(
            retired ? "the files in %s (the image's VOLUME) were deleted with the container; only "
                      "/workspace is kept"
                    : "the image declares VOLUME %s: files there live in a Docker volume that is "
                      "deleted when the container is retired or recreated - keep what you need "
                      "in /workspace",
            strbuf_str(&sb));
        strbuf_release(&sb);
        return n;
}

/* Starts a container with its workspace directory ws_fd on its pin for the time of the start:
 * Docker mounts what ds01 opened and checked, never a path the user can swap. */
static int start_pinned(struct ds01d *d, const char *container, const char *id, int ws_fd,
                        struct error **err)
{
        if (workspace_pin(d->cfg->state_dir, container, ws_fd, err) < 0)
                return -1;
        int r = docker_container_start(d->docker, id, err);
        workspace_unpin(d->cfg->state_dir, container);
        return r;
}

int lifecycle_deploy(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                     struct error **err)
{
        const char *project = jstr(params, "project");
        const char *image_req = jstr(params, "image");
        json_t *jg = json_object_get(params, "gpus");
        bool cpu_only = json_is_true(json_object_get(params, "cpu_only"));
        json_t *cmd = json_object_get(params, "cmd");
        json_t *jstart = json_object_get(params, "start");
        bool start = !jstart || json_is_true(jstart);
        int n_gpus = jg ? (int)json_integer_value(jg) : 1;
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
        if (names_check_project(project, err) < 0)
                return -1;
        struct pool_request preq = {.n_slots = n_gpus, .mig_profile = mig};
        _cleanup_free_ char *gpu_request =
            mig ? xasprintf("mig:%s:%d", mig, n_gpus) : xasprintf("%d", n_gpus);

        _cleanup_free_ char *container = names_container(project, c->user_part);
        if (busy_acquire(d, container, err) < 0)
                return -1;

        int r = -1;
        struct limit_set ls;
        memset(&ls, 0, sizeof(ls));
        bool have_limits = false;
        char **uuids = NULL;
        _cleanup_free_ char *image = NULL, *workspace = NULL, *id = NULL, *net = NULL, *pin = NULL;
        _cleanup_close_ int ws_fd = -1;
        json_t *spec = NULL, *volumes = NULL, *img = NULL;
        bool reserved = false, created = false;

        /* A project has one container: say so instead of failing. */
        struct error *ierr = NULL;
        json_t *inspect = docker_container_inspect(d->docker, container, &ierr);
        if (inspect) {
                struct store_container rec;
                bool managed = ledger_record(d, inspect, &rec);
                bool mine = managed && rec.uid == (unsigned)c->uid;
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

        resolve_limits(d, c, &ls);
        have_limits = true;
        if (choose_image(d, c, project, image_req, &image, &img, err) < 0)
                goto out;
        if (image_volumes(img, image, &volumes, err) < 0)
                goto out;
        if (workspace_prepare(d->cfg->workspace_root, project, c->uid, c->gid, true, &workspace,
                              &ws_fd, err) < 0)
                goto out;
        pin = workspace_pin_prepare(d->cfg->state_dir, container, err);
        if (!pin)
                goto out;

        if (lifecycle_reserve_gpus(d, c, &ls, container, project, &preq, false, &uuids, err) < 0) {
                if ((*err)->code == DS01_ERESOURCE)
                        events_log(d->events, "gpu.reject", c->login,
                                   json_pack("{s:s, s:i, s:s}", "container", container, "requested",
                                             n_gpus, "reason", (*err)->message));
                goto out;
        }
        reserved = true;

        if (network_acquire(d->net, d->cfg, c->uid, NETWORK_CONTAINERS, &net, err) < 0)
                goto out;
        spec = build_spec(d, c, &ls, project, image, img, workspace, pin, uuids, cmd, gpu_request);
        if (docker_container_create(d->docker, container, spec, &id, err) < 0) {
                error_wrap(err, "creating container '%s'", container);
                goto out;
        }
        created = true;
        if (store_bind(d->store, container, id, err) < 0)
                goto out;
        if (start && start_pinned(d, container, id, ws_fd, err) < 0) {
                error_wrap(err, "starting container '%s'", container);
                goto out;
        }
        if (start && json_array_size(cmd) > 0 && check_cmd_started(d, id, cmd, image, err) < 0)
                goto out;

        char ts[32];
        events_log(d->events, "container.create", c->login,
                   json_pack("{s:s, s:s, s:s, s:s, s:o, s:s}", "container", container, "project",
                             project, "image", image, "interface", "orchestration", "gpus",
                             strv_to_json(uuids), "created_at", format_iso8601(now_s(), ts)));
        if (uuids && uuids[0])
                events_log(
                    d->events, "gpu.allocate", c->login,
                    json_pack("{s:s, s:o}", "container", container, "gpus", strv_to_json(uuids)));
        log_info("deployed %s for %s (uid %u): image %s, %d GPU(s)", container, c->login,
                 (unsigned)c->uid, image, n_gpus);
        usage_count_deploy(d->store, (unsigned)c->uid, c->login, now_s());
        *ret_result =
            json_pack("{s:s, s:s, s:b, s:s, s:s, s:o, s:s}", "container", container, "project",
                      project, "existed", 0, "state", start ? "running" : "created", "image", image,
                      "gpus", gpus_json(d, uuids), "workspace", workspace);
        json_object_set(*ret_result, "volumes", volumes);
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
                        if (store_forget(d->store, container, NULL, &rerr) < 0)
                                log_error("rolling back the lease of %s: %s", container,
                                          rerr->message);
                        error_free(rerr);
                }
                if (pin)
                        workspace_pin_remove(d->cfg->state_dir, container);
        }
        network_release(d->net, net); /* the container, if any, now keeps it */
        store_strv_free(uuids);
        json_decref(spec);
        json_decref(volumes);
        json_decref(img);
        if (have_limits)
                limit_set_release(&ls);
        busy_release(d, container);
        return r;
}

/* ---- start / stop / remove / retire -------------------------------------------------------- */

/* The owner of a container as a caller (uid, gid, login, groups), for work done on their behalf:
 * an admin's start, a re-lease, the monitor. */
/* The account of uid as a caller, with its groups (getgrouplist, grown past 64 if needed). */
int lifecycle_caller_for(uid_t uid, struct caller *ret)
{
        memset(ret, 0, sizeof(*ret));
        if (lookup_uid(uid, &ret->gid, &ret->login) < 0)
                return -1;
        ret->uid = uid;
        ret->user_part = names_user_part(ret->login, uid);
        int n = 64;
        ret->gids = xcalloc((size_t)n, sizeof(gid_t));
        if (getgrouplist(ret->login, ret->gid, ret->gids, &n) < 0) {
                ret->gids = xrealloc(ret->gids, (size_t)n * sizeof(gid_t));
                if (getgrouplist(ret->login, ret->gid, ret->gids, &n) < 0)
                        n = 0;
        }
        ret->n_gids = (size_t)(n > 0 ? n : 0);
        return 0;
}

/* The owner the ledger records for a container this daemon created (see ledger_record). */
static int owner_of(struct ds01d *d, const json_t *inspect, struct caller *ret)
{
        memset(ret, 0, sizeof(*ret));
        struct store_container rec;
        if (!ledger_record(d, inspect, &rec))
                return -1;
        int r = lifecycle_caller_for(rec.uid, ret);
        store_container_release(&rec);
        return r;
}

/* How long a stop of this container waits after SIGTERM before Docker kills what is left: its
 * owner's sigterm_grace_s (the default group's when the owner has no account any more). */
static void owner_limits(struct ds01d *d, const json_t *inspect, struct limit_set *ret)
{
        struct caller owner;
        if (owner_of(d, inspect, &owner) < 0) {
                limits_resolve(d->limits, "", NULL, 0, ret);
                return;
        }
        limits_resolve(d->limits, owner.login, owner.gids, owner.n_gids, ret);
        caller_release(&owner);
}

static int stop_grace_s(struct ds01d *d, const json_t *inspect)
{
        struct limit_set ls;
        owner_limits(d, inspect, &ls);
        int64_t g = ls.policies.sigterm_grace_s;
        limit_set_release(&ls);
        return (int)(g < 0 ? 0 : g);
}

/* "2" -> 2 GPUs; "mig:3g.20gb:1" -> 1 MIG instance of 3g.20gb or larger. */
static void parse_gpu_request(const char *s, struct pool_request *ret, char **ret_profile)
{
        memset(ret, 0, sizeof(*ret));
        *ret_profile = NULL;
        if (!s)
                return;
        if (startswith(s, "mig:")) {
                const char *p = s + 4, *colon = strrchr(p, ':');
                if (colon) {
                        *ret_profile = xstrndup(p, (size_t)(colon - p));
                        ret->mig_profile = *ret_profile;
                        ret->n_slots = (int)strtol(colon + 1, NULL, 10);
                }
                return;
        }
        ret->n_slots = (int)strtol(s, NULL, 10);
}

static json_t *spec_cmd(const json_t *inspect)
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

/* Leases GPUs again for a stopped container whose hold expired, preferring the slots it had.
 * Same slots: they are bound to the container as it is. Other slots: the container is recreated
 * on them (its devices are fixed at creation); /workspace is kept, the container's own files
 * are not, and *ret_notice says so. */
static int relet_gpus(struct ds01d *d, const struct caller *owner, json_t *inspect,
                      const char *name, char **ret_notice, struct error **err)
{
        char **old = NULL, **got = NULL;
        size_t n_old = 0;
        split_csv(label(inspect, "ds01.gpu.uuids"), &old, &n_old);
        _cleanup_free_ char *profile = NULL;
        struct pool_request preq;
        const char *request = label(inspect, "ds01.gpu.request");
        parse_gpu_request(request, &preq, &profile);
        if (!request)
                preq.n_slots = (int)n_old;
        const char *project = label(inspect, "ds01.project");
        struct limit_set ls;
        limits_resolve(d->limits, owner->login, owner->gids, owner->n_gids, &ls);
        int r = -1;
        json_t *spec = NULL, *img = NULL;
        _cleanup_free_ char *new_id = NULL, *workspace = NULL, *list = NULL, *net = NULL,
                            *pin = NULL;

        /* 1. The slots it had, if all of them are free and still exist. */
        const struct gpu_slot **prev = xcalloc(n_old + 1, sizeof(*prev));
        size_t n_prev = 0;
        for (size_t i = 0; i < n_old; i++) {
                const struct gpu_slot *sl = gpu_inventory_find(d->inv, old[i]);
                if (sl && sl->allocatable)
                        prev[n_prev++] = sl;
        }
        struct store_reservation_req req = {
            .container = name,
            .project = project ? project : "",
            .user = owner->login,
            .uid = owner->uid,
            .n_slots = preq.n_slots,
            .max_gpu_equivalents = ls.max_gpu_equivalents,
            .max_slots_per_container = ls.max_gpu_slots_per_container,
            .max_containers = ls.max_containers_per_user,
            .candidates = prev,
            .n_candidates = n_prev,
            .existing = true,
        };
        struct error *e1 = NULL;
        if (n_prev == n_old && (size_t)preq.n_slots == n_old &&
            store_reserve(d->store, &req, &got, &e1) == 0) {
                free(prev);
                if (store_bind(d->store, name, jstr(inspect, "Id"), err) < 0)
                        goto fail;
                r = 0;
                goto out;
        }
        free(prev);
        if (e1 && e1->code != DS01_ERESOURCE) {
                error_set(err, e1->code, "%s", e1->message);
                error_free(e1);
                goto out;
        }
        error_free(e1);

        /* 2. Any slots, by the placement policy; the container is recreated on them. */
        if (lifecycle_reserve_gpus(d, owner, &ls, name, project ? project : "", &preq, true, &got,
                                   err) < 0)
                goto out;
        const char *image = jstr(json_object_get(inspect, "Config"), "Image");
        if (!image || !project ||
            workspace_prepare(d->cfg->workspace_root, project, owner->uid, owner->gid, true,
                              &workspace, NULL, err) < 0) {
                error_set(err, DS01_ERR, "cannot recreate '%s': its labels are incomplete", name);
                goto fail;
        }
        if (network_acquire(d->net, d->cfg, owner->uid, NETWORK_CONTAINERS, &net, err) < 0)
                goto fail;
        pin = workspace_pin_prepare(d->cfg->state_dir, name, err);
        if (!pin)
                goto fail;
        img = docker_image_inspect(d->docker, image, err);
        if (!img)
                goto fail;
        json_t *volumes = NULL;
        int vr = image_volumes(img, image, &volumes, err);
        json_decref(volumes);
        if (vr < 0)
                goto fail;
        json_t *cmd = spec_cmd(inspect);
        spec = build_spec(d, owner, &ls, project, image, img, workspace, pin, got, cmd,
                          request ? request : "1");
        json_decref(cmd);
        /* The replacement keeps the runtime count of the container it replaces (which may itself
         * be a replacement): recorded before that one goes, so a crash cannot lose it. */
        struct store_container sc;
        if (store_get(d->store, name, &sc, err) < 0)
                goto fail;
        int64_t from = monitor_runtime_start_ms(docker_time_ms(jstr(inspect, "Created")),
                                                sc.created_at, sc.runtime_from_ms);
        store_container_release(&sc);
        if (from > 0 && store_set_runtime_from(d->store, name, from, err) < 0)
                goto fail;
        /* From the removal until the new id is bound, the ledger records no container for the
         * name: a crash in between leaves a reservation for the start-up reconciliation. */
        if (docker_container_remove(d->docker, name, true, err) < 0 ||
            store_unbind(d->store, name, err) < 0 ||
            docker_container_create(d->docker, name, spec, &new_id, err) < 0) {
                error_wrap(err, "recreating '%s' on a free GPU", name);
                goto fail;
        }
        if (store_bind(d->store, name, new_id, err) < 0)
                goto fail;
        list = strv_join(got, ", ");
        *ret_notice = xasprintf("the GPU hold of '%s' had expired and its GPU was taken, so it was "
                                "recreated on %s: /workspace is kept, changes elsewhere in the "
                                "container are not",
                                project, list);
        r = 0;
        goto out;
fail:
        if (new_id) /* created but not recorded: nothing would manage it */
                docker_container_remove(d->docker, new_id, true, NULL);
        store_release_leases(d->store, name, NULL, NULL);
out:
        if (r == 0)
                events_log(d->events, "gpu.allocate", owner->login,
                           json_pack("{s:s, s:o, s:s}", "container", name, "gpus",
                                     strv_to_json(got), "reason",
                                     new_id ? "re-leased after the hold (recreated)"
                                            : "re-leased after the hold"));
        network_release(d->net, net);
        json_decref(spec);
        json_decref(img);
        store_strv_free(old);
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
        double h = ls.max_runtime_h;
        limit_set_release(&ls);
        if (h < 0 || limits_exemption(d->limits, owner->login, LIMITS_RUNTIME, now_s()))
                return 0;
        int64_t cap = (int64_t)llround(h * 3600);
        int64_t start = monitor_runtime_start_ms(docker_time_ms(jstr(inspect, "Created")),
                                                 sc->created_at, sc->runtime_from_ms);
        int64_t ran = start > 0 ? (now_ms() - start) / 1000 : 0;
        if (start <= 0 || ran < cap)
                return 0;
        char b1[32], b2[32];
        return error_set(
            err, DS01_ERESOURCE,
            "'%s' has used its maximum runtime of %s (max_runtime_h; it was created %s "
            "ago, and a restart does not reset the count), so it cannot be started "
            "again. Your files in ~/workspace/%s are kept: container-retire %s, then "
            "container-deploy %s for a fresh container",
            name, format_duration(cap, b1), format_duration(ran, b2), project, project, project);
}

/* A container made before pins (workspace.h) has the user's path as its mount source: started,
 * Docker would follow whatever that path is then. Refused, with the way out. */
static int check_pinned(struct ds01d *d, const json_t *inspect, const char *name,
                        const char *project, struct error **err)
{
        _cleanup_free_ char *pin = workspace_pin_prepare(d->cfg->state_dir, name, err);
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

/* resolve_target, then the container's operation slot, waiting for one in progress. What
 * was resolved before a wait may have changed during it, so it is resolved again. A
 * container that must exist in Docker (need_docker) and does not is "not found". On success
 * the caller owns the slot: busy_release(d, *ret_name). */
static int acquire_target(struct ds01d *d, const struct caller *c, const char *name,
                          const char *action, bool need_docker, char **ret_name,
                          json_t **ret_inspect, struct error **err)
{
        if (resolve_target(d, c, name, action, ret_name, ret_inspect, err) < 0)
                return -1;
        int w = busy_acquire_wait(d, *ret_name, USER_VERB_WAIT_S, err);
        if (w == 1) {
                _cleanup_free_ char *held = TAKE_PTR(*ret_name);
                json_decref(TAKE_PTR(*ret_inspect));
                if (resolve_target(d, c, name, action, ret_name, ret_inspect, err) < 0) {
                        busy_release(d, held);
                        return -1;
                }
        }
        if (w >= 0 && (*ret_inspect || !need_docker))
                return 0;
        if (w >= 0) {
                busy_release(d, *ret_name);
                lifecycle_not_found(name, err);
        }
        free(TAKE_PTR(*ret_name));
        json_decref(TAKE_PTR(*ret_inspect));
        return -1;
}

int lifecycle_start(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                    struct error **err)
{
        _cleanup_free_ char *name = NULL, *notice = NULL;
        json_t *inspect = NULL;
        struct caller owner = {0};
        if (acquire_target(d, c, jstr(params, "name"), "start", true, &name, &inspect, err) < 0)
                return -1;
        int r = -1;
        bool running = json_is_true(json_object_get(json_object_get(inspect, "State"), "Running"));
        if (!running) {
                _cleanup_free_ char *ws = NULL;
                _cleanup_close_ int ws_fd = -1;
                const char *project = label(inspect, "ds01.project");
                if (owner_of(d, inspect, &owner) < 0 || !project) {
                        error_set(err, DS01_ERR, "container '%s' has no owner with an account",
                                  name);
                        goto unbusy;
                }
                struct store_container sc;
                if (store_get(d->store, name, &sc, err) < 0)
                        goto unbusy;
                if (check_runtime_left(d, &owner, inspect, name, project, &sc, err) < 0) {
                        store_container_release(&sc);
                        goto unbusy;
                }
                /* The workspace is mounted again at every start: check it again. */
                if (workspace_prepare(d->cfg->workspace_root, project, owner.uid, owner.gid, true,
                                      &ws, &ws_fd, err) < 0 ||
                    check_pinned(d, inspect, name, project, err) < 0) {
                        store_container_release(&sc);
                        goto unbusy;
                }
                store_container_release(&sc);
                /* Its GPUs: still held (same devices), or released after the hold (lease
                 * again, maybe elsewhere). They are bound before Docker starts it: the hold
                 * sweep releases only held leases, so either it released them first and they
                 * are leased again here, or it finds them bound and leaves them. */
                bool needs_gpus = false;
                const char *had = label(inspect, "ds01.gpu.uuids");
                if (had && *had) {
                        if (store_unhold(d->store, name, err) < 0 ||
                            store_get(d->store, name, &sc, err) < 0)
                                goto unbusy;
                        needs_gpus = sc.n_leases == 0;
                        store_container_release(&sc);
                }
                if (needs_gpus && relet_gpus(d, &owner, inspect, name, &notice, err) < 0)
                        goto unbusy;
                if (start_pinned(d, name, name, ws_fd, err) < 0) {
                        error_wrap(err, "starting '%s'", name);
                        store_hold(d->store, name, NULL); /* stopped still: held again */
                        goto unbusy;
                }
                events_log(d->events, "container.started", c->login,
                           json_pack("{s:s}", "container", name));
        }
        *ret_result = json_pack("{s:s, s:s, s:b}", "container", name, "state", "running", "started",
                                !running);
        if (notice)
                json_object_set_new(*ret_result, "notices", json_pack("[s]", notice));
        r = 0;
unbusy:
        busy_release(d, name);
        caller_release(&owner);
        json_decref(inspect);
        return r;
}

int lifecycle_stop(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                   struct error **err)
{
        _cleanup_free_ char *name = NULL;
        json_t *inspect = NULL;
        if (acquire_target(d, c, jstr(params, "name"), "stop", true, &name, &inspect, err) < 0)
                return -1;
        /* The owner's grace, unless the caller asks for another (container-stop --timeout). */
        json_t *jt = json_object_get(params, "timeout_s");
        int timeout = jt ? (int)json_integer_value(jt) : stop_grace_s(d, inspect);
        int r = -1;
        if (docker_container_stop(d->docker, name, timeout, err) < 0) {
                error_wrap(err, "stopping '%s'", name);
                goto unbusy;
        }
        store_hold(d->store, name, NULL);
        events_log(d->events, "container.stopped", c->login,
                   json_pack("{s:s, s:s}", "container", name, "by", "user"));
        /* What happens next, for the CLI to say: the holds of the GPUs and of the container. */
        struct limit_set ls;
        owner_limits(d, inspect, &ls);
        const char *gpus = label(inspect, "ds01.gpu.uuids");
        *ret_result = json_pack("{s:s, s:s, s:i, s:b, s:f, s:f}", "container", name, "state",
                                "exited", "sigterm_grace_s", timeout, "gpus", gpus && *gpus,
                                "gpu_hold_after_stop_h", ls.gpu_hold_after_stop_h,
                                "container_hold_after_stop_h", ls.container_hold_after_stop_h);
        limit_set_release(&ls);
        r = 0;
unbusy:
        busy_release(d, name);
        json_decref(inspect);
        return r;
}

/* Removes the container (if Docker still has it) and releases its ledger record. */
static int remove_and_release(struct ds01d *d, const struct caller *c, const char *name,
                              const json_t *inspect, const char *reason, char ***ret_released,
                              struct error **err)
{
        if (inspect && docker_container_remove(d->docker, name, true, err) < 0) {
                if ((*err)->code != DS01_ENOTFOUND)
                        return error_wrap(err, "removing '%s'", name);
                *err = error_free(*err);
        }
        workspace_pin_remove(d->cfg->state_dir, name);
        char **rel = NULL;
        if (store_forget(d->store, name, &rel, err) < 0)
                return -1;
        const char *owner = inspect ? label(inspect, "ds01.user") : NULL;
        events_log(
            d->events, "container.remove", owner ? owner : c->login,
            json_pack("{s:s, s:s, s:s}", "container", name, "reason", reason, "by", c->login));
        if (rel && rel[0])
                events_log(d->events, "gpu.release", owner ? owner : c->login,
                           json_pack("{s:s, s:o, s:s}", "container", name, "gpus",
                                     strv_to_json(rel), "reason", reason));
        *ret_released = rel;
        return 0;
}

int lifecycle_remove(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                     struct error **err)
{
        _cleanup_free_ char *name = NULL;
        json_t *inspect = NULL;
        if (acquire_target(d, c, jstr(params, "name"), "remove", false, &name, &inspect, err) < 0)
                return -1;
        int r = -1;
        bool force = json_is_true(json_object_get(params, "force"));
        bool running =
            inspect && json_is_true(json_object_get(json_object_get(inspect, "State"), "Running"));
        if (running && !force) {
                const char *p = label(inspect, "ds01.project");
                error_set(err, DS01_ERR,
                          "'%s' is running - stop it first (container-stop %s), retire it "
                          "(container-retire %s) or use --force",
                          p ? p : name, p ? p : name, p ? p : name);
                goto unbusy;
        }
        /* --force stops it as every stop does, with SIGTERM and the grace, before removing. */
        if (running && docker_container_stop(d->docker, name, stop_grace_s(d, inspect), err) < 0) {
                if ((*err)->code != DS01_ENOTFOUND) {
                        error_wrap(err, "stopping '%s'", name);
                        goto unbusy;
                }
                *err = error_free(*err);
        }
        char **rel = NULL;
        if (remove_and_release(d, c, name, inspect, "removed", &rel, err) < 0)
                goto unbusy;
        *ret_result = json_pack("{s:s, s:o}", "container", name, "released", strv_to_json(rel));
        store_strv_free(rel);
        r = 0;
unbusy:
        busy_release(d, name);
        json_decref(inspect);
        return r;
}

/* The anonymous volumes of a container (its image's VOLUMEs), which docker rm -v deletes. */
static json_t *inspect_volumes(const json_t *inspect)
{
        json_t *out = json_array();
        size_t i;
        json_t *m;
        json_array_foreach (json_object_get(inspect, "Mounts"), i, m) {
                if (streq_ptr(jstr(m, "Type"), "volume") && jstr(m, "Destination"))
                        json_array_append_new(out, json_string(jstr(m, "Destination")));
        }
        return out;
}

int lifecycle_retire(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                     struct error **err)
{
        _cleanup_free_ char *name = NULL;
        json_t *inspect = NULL;
        _cleanup_free_ char *workspace = NULL;
        if (acquire_target(d, c, jstr(params, "name"), "retire", false, &name, &inspect, err) < 0)
                return -1;
        int r = -1;
        /* Stop first, so every process gets SIGTERM and the owner's grace, then remove. */
        int grace = inspect ? stop_grace_s(d, inspect) : 0;
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
        json_t *volumes = inspect_volumes(inspect);
        char **rel = NULL;
        if (remove_and_release(d, c, name, inspect, "retired", &rel, err) < 0) {
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
        busy_release(d, name);
        json_decref(inspect);
        return r;
}

/* ---- list ------------------------------------------------------------------------------- */

int lifecycle_list(struct ds01d *d, const struct caller *c, json_t *params, char **ret_text,
                   size_t *ret_len, struct error **err)
{
        bool all = json_is_true(json_object_get(params, "all")) && c->admin;
        const struct snapshot *snap = snapshot_get(d, err);
        if (!snap)
                return -1;
        int64_t now = now_s();
        /* Written as text: each row was serialised when the snapshot was built, and only its
         * changing members (status, keepalive, the monitor's clocks) are added here. */
        struct strbuf sb = STRBUF_INIT;
        strbuf_adds(&sb, "{\"containers\":[");
        bool first = true;
        for (size_t i = 0; i < snap->n; i++) {
                const struct snap_container *sc = &snap->containers[i];
                if (!all && sc->uid != (int64_t)c->uid)
                        continue;
                if (!first)
                        strbuf_addc(&sb, ',');
                first = false;
                strbuf_add(&sb, sc->row_text, sc->row_len);
                _cleanup_free_ char *status = snapshot_status_text(sc, now);
                strbuf_adds(&sb, sc->row_len > 1 ? ",\"status\":" : "\"status\":");
                strbuf_add_json_string(&sb, status);
                /* idle and runtime clocks as the monitor saw them at its last tick; its
                 * keepalive (file or command) wins over the ledger's */
                bool keepalive =
                    streq(sc->state, "running") && monitor_describe_text(d->monitor, sc->id, &sb);
                if (!keepalive && sc->keepalive_until > now)
                        monitor_keepalive_text(&sb, sc->keepalive_until, "command");
                strbuf_addc(&sb, '}');
        }
        snapshot_put(d->snap, snap);
        strbuf_adds(&sb, "]}");
        *ret_len = sb.len;
        *ret_text = strbuf_detach(&sb);
        return 0;
}

/* ---- exec, resize, logs ------------------------------------------------------------------- */

static void exec_remember(struct ds01d *d, const char *id, const char *container, uid_t uid,
                          uint64_t conn)
{
        int64_t now = now_s();
        pthread_mutex_lock(&d->exec_lock);
        size_t per_uid = 0;
        for (size_t i = 0; i < d->n_execs;) {
                struct exec_entry *x = &d->execs[i];
                if (now - x->created > EXEC_MAX_AGE_S) {
                        free(x->id);
                        free(x->container);
                        *x = d->execs[--d->n_execs];
                        continue;
                }
                per_uid += x->uid == uid;
                i++;
        }
        if (per_uid >= EXEC_MAX_PER_UID) {
                /* Forget this user's oldest: resize/status of a very old session stop working. */
                size_t oldest = (size_t)-1;
                for (size_t i = 0; i < d->n_execs; i++)
                        if (d->execs[i].uid == uid &&
                            (oldest == (size_t)-1 ||
                             d->execs[i].created < d->execs[oldest].created))
                                oldest = i;
                free(d->execs[oldest].id);
                free(d->execs[oldest].container);
                d->execs[oldest] = d->execs[--d->n_execs];
        }
        d->execs = xrealloc(d->execs, (d->n_execs + 1) * sizeof(*d->execs));
        d->execs[d->n_execs++] =
            (struct exec_entry){xstrdup(id), xstrdup(container), uid, now, conn, false};
        pthread_mutex_unlock(&d->exec_lock);
}

void lifecycle_conn_closed(struct ds01d *d, uint64_t conn)
{
        if (!conn)
                return;
        pthread_mutex_lock(&d->exec_lock);
        for (size_t i = 0; i < d->n_execs; i++)
                if (d->execs[i].conn == conn)
                        d->execs[i].ended = true;
        pthread_mutex_unlock(&d->exec_lock);
}

static int exec_check(struct ds01d *d, const struct caller *c, const char *id, struct error **err)
{
        bool ok = false;
        pthread_mutex_lock(&d->exec_lock);
        for (size_t i = 0; i < d->n_execs; i++)
                if (streq(d->execs[i].id, id))
                        ok = d->execs[i].uid == c->uid || c->admin;
        pthread_mutex_unlock(&d->exec_lock);
        if (!ok)
                return error_set(err, DS01_ENOTFOUND, "no session '%.80s'", id);
        return 0;
}

static bool term_ok(const char *t)
{
        size_t n = strlen(t);
        if (n == 0 || n > 64)
                return false;
        for (; *t; t++)
                if (!((*t >= 'a' && *t <= 'z') || (*t >= 'A' && *t <= 'Z') ||
                      (*t >= '0' && *t <= '9') || strchr("-_.+", *t)))
                        return false;
        return true;
}

int lifecycle_exec(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                   int *ret_fd, struct error **err)
{
        _cleanup_free_ char *name = NULL;
        json_t *inspect = NULL;
        if (resolve_target(d, c, jstr(params, "name"), "exec", &name, &inspect, err) < 0)
                return -1;
        if (!inspect)
                return lifecycle_not_found(jstr(params, "name"), err);
        int r = -1;
        bool tty = json_is_true(json_object_get(params, "tty"));
        bool start = json_is_true(json_object_get(params, "start"));
        json_t *cmd = json_object_get(params, "cmd");
        const char *term = jstr(params, "term");
        _cleanup_free_ char *exec_id = NULL;
        json_t *spec = NULL, *start_notices = NULL;
        bool running = json_is_true(json_object_get(json_object_get(inspect, "State"), "Running"));
        if (!running) {
                const char *p = label(inspect, "ds01.project");
                if (!start) {
                        error_set(err, DS01_ERR,
                                  "'%s' is not running - container-run %s starts it and opens a "
                                  "shell",
                                  p ? p : name, p ? p : name);
                        goto out;
                }
                json_t *sp = json_pack("{s:s}", "name", name);
                json_t *res = NULL;
                int k = lifecycle_start(d, c, sp, &res, err);
                json_decref(sp);
                if (res)
                        start_notices = json_incref(json_object_get(res, "notices"));
                json_decref(res);
                if (k < 0)
                        goto out;
                /* A recreate (re-lease after the hold) changed the container. */
                json_decref(inspect);
                inspect = docker_container_inspect(d->docker, name, err);
                if (!inspect)
                        goto out;
        }
        /* The session runs as the container's owner (also when an admin opens it). */
        const char *user = jstr(json_object_get(inspect, "Config"), "User");
        json_t *env = json_array();
        json_array_append_new(env, json_sprintf("TERM=%s", term && term_ok(term) ? term
                                                           : tty                 ? "xterm"
                                                                                 : "dumb"));
        json_t *argv;
        if (cmd && json_array_size(cmd) > 0)
                argv = json_deep_copy(cmd);
        else
                argv = json_pack("[s, s, s]", "/bin/sh", "-c",
                                 "if command -v bash >/dev/null 2>&1; then exec bash -l; fi; "
                                 "exec sh -l");
        spec =
            json_pack("{s:b, s:b, s:b, s:b, s:s, s:s, s:o, s:o}", "AttachStdin", 1, "AttachStdout",
                      1, "AttachStderr", 1, "Tty", tty, "User", user ? user : "65534:65534",
                      "WorkingDir", "/workspace", "Env", env, "Cmd", argv);
        if (docker_exec_create(d->docker, name, spec, &exec_id, err) < 0) {
                error_wrap(err, "opening a session in '%s'", name);
                goto out;
        }
        int fd = -1;
        if (docker_exec_start_stream(d->docker, exec_id, tty, &fd, err) < 0) {
                error_wrap(err, "opening a session in '%s'", name);
                goto out;
        }
        exec_remember(d, exec_id, name, c->uid, c->conn);
        *ret_fd = fd;
        *ret_result =
            json_pack("{s:s, s:s, s:b}", "exec_id", exec_id, "container", name, "tty", tty);
        if (start_notices)
                json_object_set(*ret_result, "notices", start_notices);
        r = 0;
out:
        json_decref(start_notices);
        json_decref(spec);
        json_decref(inspect);
        return r;
}

int lifecycle_resize(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                     struct error **err)
{
        const char *id = jstr(params, "exec_id");
        if (exec_check(d, c, id, err) < 0)
                return -1;
        int rows = (int)json_integer_value(json_object_get(params, "rows"));
        int cols = (int)json_integer_value(json_object_get(params, "cols"));
        if (docker_exec_resize(d->docker, id, rows, cols, err) < 0)
                return -1;
        *ret_result = json_object();
        return 0;
}

int lifecycle_exec_status(struct ds01d *d, const struct caller *c, json_t *params,
                          json_t **ret_result, struct error **err)
{
        const char *id = jstr(params, "exec_id");
        if (exec_check(d, c, id, err) < 0)
                return -1;
        json_t *x = docker_exec_inspect(d->docker, id, err);
        if (!x)
                return -1;
        bool running = json_is_true(json_object_get(x, "Running"));
        json_t *code = json_object_get(x, "ExitCode");
        *ret_result =
            json_pack("{s:b, s:I}", "running", running, "exit_code",
                      (json_int_t)(json_is_integer(code) ? json_integer_value(code) : -1));
        json_decref(x);
        return 0;
}

int lifecycle_logs(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                   int *ret_fd, struct error **err)
{
        _cleanup_free_ char *name = NULL;
        json_t *inspect = NULL;
        if (resolve_target(d, c, jstr(params, "name"), "logs", &name, &inspect, err) < 0)
                return -1;
        if (!inspect)
                return lifecycle_not_found(jstr(params, "name"), err);
        bool follow = json_is_true(json_object_get(params, "follow"));
        json_t *jt = json_object_get(params, "tail");
        int64_t tail = jt ? json_integer_value(jt) : -1;
        bool tty = json_is_true(json_object_get(json_object_get(inspect, "Config"), "Tty"));
        json_decref(inspect);
        int fd = -1;
        if (docker_logs_stream(d->docker, name, follow, tail, &fd, err) < 0)
                return error_wrap(err, "reading the logs of '%s'", name);
        *ret_fd = fd;
        *ret_result = json_pack("{s:b}", "tty", tty);
        return 0;
}

/* ---- limits ----------------------------------------------------------------------------- */

static json_t *num_or_null(double v)
{
        return v < 0 ? json_null() : json_real(v);
}

static json_t *int_or_null(int64_t v)
{
        return v < 0 ? json_null() : json_integer(v);
}

int lifecycle_limits(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                     struct error **err)
{
        (void)params;
        struct limit_set ls;
        resolve_limits(d, c, &ls);
        struct store_container *rows = NULL;
        size_t n = 0;
        if (store_list(d->store, (int64_t)c->uid, &rows, &n, err) < 0) {
                limit_set_release(&ls);
                return -1;
        }
        double used = 0;
        size_t slots = 0;
        json_t *held = json_array();
        for (size_t i = 0; i < n; i++)
                for (size_t k = 0; k < rows[i].n_leases; k++) {
                        used += rows[i].leases[k].weight;
                        slots++;
                        json_array_append_new(held, json_pack("{s:s, s:s, s:f}", "container",
                                                              rows[i].name, "uuid",
                                                              rows[i].leases[k].slot_uuid, "weight",
                                                              rows[i].leases[k].weight));
                }
        const struct limit_policies *p = &ls.policies;
        json_t *lim = json_pack(
            "{s:o, s:o, s:b, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
            "max_gpu_equivalents", num_or_null(ls.max_gpu_equivalents),
            "max_gpu_slots_per_container", int_or_null(ls.max_gpu_slots_per_container),
            "allow_full_gpu", ls.allow_full_gpu, "max_cpus",
            ls.max_cpus > 0 ? json_real(ls.max_cpus) : json_null(), "memory",
            int_or_null(ls.memory), "memory_swap", int_or_null(ls.memory_swap), "shm_size",
            int_or_null(ls.shm_size), "pids_limit", int_or_null(ls.pids_limit),
            "max_containers_per_user", int_or_null(ls.max_containers_per_user), "max_runtime_h",
            num_or_null(ls.max_runtime_h), "idle_timeout_h", num_or_null(ls.idle_timeout_h),
            "gpu_hold_after_stop_h", num_or_null(ls.gpu_hold_after_stop_h),
            "container_hold_after_stop_h", num_or_null(ls.container_hold_after_stop_h));
        /* Each build runs under memory and max_cpus above; this many at once. */
        json_object_set_new(lim, "max_builds_per_user",
                            json_integer((json_int_t)d->cfg->max_builds_per_user));
        json_object_set_new(
            lim, "policies",
            json_pack("{s:f, s:f, s:I, s:f, s:f, s:I}", "gpu_idle_threshold", p->gpu_idle_threshold,
                      "cpu_idle_threshold", p->cpu_idle_threshold, "network_idle_threshold",
                      (json_int_t)p->network_idle_threshold, "grace_period_m", p->grace_period_m,
                      "keepalive_max_duration_h", p->keepalive_max_duration_h, "sigterm_grace_s",
                      (json_int_t)p->sigterm_grace_s));
        *ret_result =
            json_pack("{s:s, s:I, s:s, s:b, s:o, s:{s:f, s:I, s:I, s:o}}", "user", c->login, "uid",
                      (json_int_t)c->uid, "group", ls.group ? ls.group : "", "overridden",
                      ls.overridden, "limits", lim, "usage", "gpu_equivalents", used, "gpu_slots",
                      (json_int_t)slots, "containers", (json_int_t)n, "gpus", held);
        json_object_set_new(json_object_get(*ret_result, "usage"), "builds",
                            json_integer(images_builds_running(c->uid)));
        store_containers_free(rows, n);
        limit_set_release(&ls);
        return 0;
}

/* ---- start-up reconciliation --------------------------------------------------------------- */

static void split_csv(const char *s, char ***ret, size_t *ret_n)
{
        char **v = NULL;
        size_t n = 0;
        if (s && *s) {
                _cleanup_free_ char *copy = xstrdup(s);
                char *save = NULL;
                for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                        v = xrealloc(v, (n + 2) * sizeof(*v));
                        v[n++] = xstrdup(t);
                        v[n] = NULL;
                }
        }
        *ret = v;
        *ret_n = n;
}

static bool is_busy(struct ds01d *d, const char *name)
{
        bool busy = false;
        pthread_mutex_lock(&d->busy_lock);
        for (size_t i = 0; i < d->n_busy; i++)
                busy |= streq(d->busy[i], name);
        pthread_mutex_unlock(&d->busy_lock);
        return busy;
}

void lifecycle_on_destroyed(struct ds01d *d, const char *name, const char *docker_id)
{
        /* A request on this name (retire, a new deploy) owns it for now; it finishes quickly. */
        bool mine = busy_acquire_wait(d, name, 5, NULL) >= 0;
        /* Still busy after 5 s: go ahead (the record is checked by Docker id below), but do not
         * release what the other request holds. */
        struct store_container sc;
        if (store_get(d->store, name, &sc, NULL) < 0)
                goto out; /* already released (retire, remove) */
        bool same = sc.docker_id && streq(sc.docker_id, docker_id);
        char *user = xstrdup(sc.user ? sc.user : "");
        store_container_release(&sc);
        if (same) {
                char **rel = NULL;
                struct error *err = NULL;
                workspace_pin_remove(d->cfg->state_dir, name);
                if (store_forget(d->store, name, &rel, &err) < 0) {
                        log_error("releasing %s after Docker destroyed it: %s", name, err->message);
                        error_free(err);
                } else {
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
                busy_release(d, name);
}

/* Whether container (a name) is in list, Docker's container list. */
static bool in_docker_list(const char *container, void *list)
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

int lifecycle_reconcile(struct ds01d *d, bool startup, struct error **err)
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
                if (!startup && (reserved || is_busy(d, rows[k].name)))
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
                if (docker_id) {
                        /* Stops and starts while nobody listened (daemon down, stream lost): the
                         * lease follows what the container is now. */
                        bool running = streq_ptr(docker_state, "running");
                        int n = running ? store_unhold(d->store, rows[k].name, NULL)
                                        : store_hold(d->store, rows[k].name, NULL);
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
        store_containers_free(rows, n_rows);
        if (startup)
                workspace_pins_sweep(d->cfg->state_dir, in_docker_list, list);
        json_decref(list);
        log_info("reconciled ledger with docker: %zu correction(s)", fixed);
        return 0;
}

/* ---- Docker events: die / start ----------------------------------------------------------- */

void lifecycle_on_died(struct ds01d *d, const char *name, const char *docker_id)
{
        struct store_container sc;
        if (store_get(d->store, name, &sc, NULL) < 0)
                return;
        bool same = sc.docker_id && streq(sc.docker_id, docker_id);
        store_container_release(&sc);
        if (!same)
                return;
        int n = store_hold(d->store, name, NULL);
        if (n > 0)
                log_info("%s stopped: holding its %d GPU lease(s)", name, n);
}

void lifecycle_on_started(struct ds01d *d, const char *name, const char *docker_id)
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

/* ---- holds -------------------------------------------------------------------------------- */

void lifecycle_sweep_holds(struct ds01d *d)
{
        struct store_container *rows = NULL;
        size_t n = 0;
        struct error *err = NULL;
        if (store_list(d->store, -1, &rows, &n, &err) < 0) {
                log_error("hold sweep: %s", err->message);
                error_free(err);
                return;
        }
        int64_t now = now_s();
        for (size_t i = 0; i < n; i++) {
                const struct store_container *sc = &rows[i];
                int64_t held_since = 0;
                for (size_t k = 0; k < sc->n_leases; k++)
                        if (streq(sc->leases[k].state, "held") &&
                            (held_since == 0 || sc->leases[k].since < held_since))
                                held_since = sc->leases[k].since;
                if (held_since == 0)
                        continue;
                /* The owner's limits decide the hold; a deleted account gets the defaults. */
                struct caller owner;
                bool known = lifecycle_caller_for(sc->uid, &owner) == 0;
                struct limit_set ls;
                limits_resolve(d->limits, known ? owner.login : sc->user, owner.gids, owner.n_gids,
                               &ls);
                double hold_h = ls.gpu_hold_after_stop_h;
                limit_set_release(&ls);
                caller_release(&owner);
                if (hold_h < 0 || (double)(now - held_since) < hold_h * 3600.0)
                        continue;
                if (is_busy(d, sc->name))
                        continue;
                /* Started again (outside ds01, its event not handled yet): bound, not free. */
                json_t *ins =
                    sc->docker_id ? docker_container_inspect(d->docker, sc->docker_id, NULL) : NULL;
                bool running =
                    json_is_true(json_object_get(json_object_get(ins, "State"), "Running"));
                json_decref(ins);
                if (running) {
                        store_unhold(d->store, sc->name, NULL);
                        continue;
                }
                /* Only what is still held when the release commits: a start binds its leases
                 * before it starts the container. */
                char **rel = NULL;
                if (store_release_held(d->store, sc->name, &rel, &err) < 0) {
                        log_error("releasing the held GPUs of %s: %s", sc->name, err->message);
                        err = error_free(err);
                        continue;
                }
                char buf[32];
                size_t n_rel = 0;
                while (rel && rel[n_rel])
                        n_rel++;
                if (n_rel == 0) {
                        store_strv_free(rel);
                        continue;
                }
                log_notice("%s: GPU hold of %s after stop expired; released %zu GPU(s)", sc->name,
                           format_duration((int64_t)(hold_h * 3600), buf), n_rel);
                counters_action(COUNTERS_HOLD_RELEASE);
                events_log(d->events, "gpu.release", sc->user,
                           json_pack("{s:s, s:o, s:s, s:f}", "container", sc->name, "gpus",
                                     strv_to_json(rel), "reason", "hold after stop expired",
                                     "gpu_hold_after_stop_h", hold_h));
                store_strv_free(rel);
        }
        store_containers_free(rows, n);
}

/* ---- GPU administration --------------------------------------------------------------------- */

static int rescan(struct ds01d *d, json_t **ret_result, struct error **err);

/* One rescan at a time: each reads the inventory it installed after dropping d->lock, and a
 * concurrent one (the monitor's tick and `ds01 gpus --rescan`) would free it as its old one. */
int lifecycle_rescan(struct ds01d *d, json_t **ret_result, struct error **err)
{
        static pthread_mutex_t one = PTHREAD_MUTEX_INITIALIZER;
        pthread_mutex_lock(&one);
        int r = rescan(d, ret_result, err);
        pthread_mutex_unlock(&one);
        return r;
}

static int rescan(struct ds01d *d, json_t **ret_result, struct error **err)
{
        /* Scan without the lock (NVML may take a while), swap under it. */
        pthread_rwlock_rdlock(&d->lock);
        struct gpu_inventory *inv = gpu_inventory_scan(d->cfg, d->nvml, err);
        pthread_rwlock_unlock(&d->lock);
        if (!inv)
                return -1;
        pthread_rwlock_wrlock(&d->lock);
        bool same = gpu_inventory_same(d->inv, inv);
        struct gpu_inventory *old = d->inv;
        d->inv = inv;
        pthread_rwlock_unlock(&d->lock);

        json_t *added = json_array(), *removed = json_array(), *orphaned = json_array();
        if (!same) {
                const struct gpu_slot *a, *b;
                size_t na = gpu_inventory_slots(old, &a), nb = gpu_inventory_slots(inv, &b);
                for (size_t i = 0; i < nb; i++)
                        if (!gpu_inventory_find(old, b[i].uuid) ||
                            gpu_inventory_find(old, b[i].uuid)->allocatable != b[i].allocatable)
                                json_array_append_new(added, json_string(b[i].uuid));
                for (size_t i = 0; i < na; i++)
                        if (!gpu_inventory_find(inv, a[i].uuid))
                                json_array_append_new(removed, json_string(a[i].uuid));
                /* Leases on slots that no longer exist stay until their container goes: the
                 * running work is not touched; they are flagged. */
                struct store_container *rows = NULL;
                size_t n = 0;
                if (store_list(d->store, -1, &rows, &n, NULL) == 0) {
                        for (size_t i = 0; i < n; i++)
                                for (size_t k = 0; k < rows[i].n_leases; k++)
                                        if (!gpu_inventory_find(inv, rows[i].leases[k].slot_uuid)) {
                                                json_array_append_new(
                                                    orphaned, json_pack("{s:s, s:s}", "uuid",
                                                                        rows[i].leases[k].slot_uuid,
                                                                        "container", rows[i].name));
                                                log_warning("GPU %s leased to %s is gone from the "
                                                            "inventory after a rescan",
                                                            rows[i].leases[k].slot_uuid,
                                                            rows[i].name);
                                        }
                        store_containers_free(rows, n);
                }
                log_notice("GPU inventory changed: %zu slot(s) new or changed, %zu gone",
                           json_array_size(added), json_array_size(removed));
                events_log(d->events, "gpu.inventory_changed", NULL,
                           json_pack("{s:O, s:O, s:O}", "added", added, "removed", removed,
                                     "orphaned_leases", orphaned));
        }
        gpu_inventory_free(old);
        const struct gpu_slot *slots;
        size_t ns = gpu_inventory_slots(inv, &slots), alloc = 0;
        for (size_t i = 0; i < ns; i++)
                alloc += slots[i].allocatable;
        if (ret_result)
                *ret_result = json_pack("{s:b, s:o, s:o, s:o, s:I}", "changed", !same, "added",
                                        added, "removed", removed, "orphaned_leases", orphaned,
                                        "allocatable", (json_int_t)alloc);
        else {
                json_decref(added);
                json_decref(removed);
                json_decref(orphaned);
        }
        return 0;
}

int lifecycle_gpus(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                   struct error **err)
{
        (void)c;
        (void)params;
        struct store_container *rows = NULL;
        size_t n = 0;
        struct store_drain *drains = NULL;
        size_t n_drains = 0;
        if (store_list(d->store, -1, &rows, &n, err) < 0)
                return -1;
        if (store_drains(d->store, &drains, &n_drains, err) < 0) {
                store_containers_free(rows, n);
                return -1;
        }
        int64_t now = now_s();
        const struct gpu_slot *slots;
        size_t ns = gpu_inventory_slots(d->inv, &slots);
        json_t *out = json_array();
        for (size_t i = 0; i < ns; i++) {
                const struct gpu_slot *sl = &slots[i];
                json_t *o =
                    json_pack("{s:s, s:s, s:i, s:f, s:I, s:b}", "uuid", sl->uuid, "name", sl->name,
                              "index", sl->gpu_index, "weight", sl->weight, "memory_mib",
                              (json_int_t)sl->memory_mib, "allocatable", sl->allocatable);
                if (sl->parent_uuid)
                        json_object_set_new(o, "parent", json_string(sl->parent_uuid));
                if (sl->profile)
                        json_object_set_new(o, "profile", json_string(sl->profile));
                if (sl->numa_node >= 0)
                        json_object_set_new(o, "numa_node", json_integer(sl->numa_node));
                if (sl->link_group >= 0)
                        json_object_set_new(o, "link_group", json_integer(sl->link_group));
                for (size_t k = 0; k < n_drains; k++)
                        if (streq(drains[k].slot_uuid, sl->uuid) ||
                            streq_ptr(drains[k].slot_uuid, sl->parent_uuid))
                                json_object_set_new(o, "drained",
                                                    json_pack("{s:s, s:s, s:I}", "by", drains[k].by,
                                                              "reason", drains[k].reason, "since",
                                                              (json_int_t)drains[k].since));
                for (size_t r = 0; r < n; r++)
                        for (size_t k = 0; k < rows[r].n_leases; k++) {
                                const struct store_lease *l = &rows[r].leases[k];
                                if (!streq(l->slot_uuid, sl->uuid))
                                        continue;
                                json_object_set_new(
                                    o, "lease",
                                    json_pack("{s:s, s:s, s:I, s:s, s:s, s:I, s:I}", "container",
                                              rows[r].name, "user", rows[r].user, "uid",
                                              (json_int_t)rows[r].uid, "project", rows[r].project,
                                              "state", l->state, "since", (json_int_t)l->since,
                                              "age_s", (json_int_t)(now - l->since)));
                        }
                json_array_append_new(out, o);
        }
        /* Leases whose slot is not in the inventory any more (MIG change, vanished GPU). */
        json_t *orphans = json_array();
        for (size_t r = 0; r < n; r++)
                for (size_t k = 0; k < rows[r].n_leases; k++)
                        if (!gpu_inventory_find(d->inv, rows[r].leases[k].slot_uuid))
                                json_array_append_new(orphans,
                                                      json_pack("{s:s, s:s, s:s}", "uuid",
                                                                rows[r].leases[k].slot_uuid,
                                                                "container", rows[r].name, "state",
                                                                rows[r].leases[k].state));
        *ret_result = json_pack("{s:s, s:o, s:o}", "backend", gpu_inventory_backend(d->inv),
                                "slots", out, "orphaned_leases", orphans);
        store_containers_free(rows, n);
        store_drains_free(drains, n_drains);
        return 0;
}

int lifecycle_drain(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                    struct error **err)
{
        const char *uuid = jstr(params, "uuid");
        bool undrain = json_is_true(json_object_get(params, "undrain"));
        const struct gpu_slot *sl = gpu_inventory_find(d->inv, uuid);
        if (!sl)
                return error_set(err, DS01_ENOTFOUND,
                                 "no GPU or MIG instance '%s' on this server - 'ds01 gpus' lists "
                                 "them",
                                 uuid);
        const char *reason = jstr(params, "reason");
        int r = undrain ? store_undrain(d->store, uuid, err)
                        : store_drain(d->store, uuid, c->login, reason ? reason : "", err);
        if (r < 0)
                return -1;
        events_log(d->events, undrain ? "gpu.undrain" : "gpu.drain", c->login,
                   json_pack("{s:s, s:s, s:b}", "gpu", uuid, "reason", reason ? reason : "",
                             "changed", r > 0));
        log_notice("%s %s GPU %s", c->login, undrain ? "undrained" : "drained", uuid);
        *ret_result =
            json_pack("{s:s, s:b, s:b}", "uuid", uuid, "drained", !undrain, "changed", r > 0);
        return 0;
}

/* ---- enforcement actions (the monitor decides, these act) ---------------------------------- */

void lifecycle_notify(struct ds01d *d, const struct caller *owner, const char *container,
                      const char *project, const char *workspace, const char *event,
                      const char *text, const json_t *details)
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

int lifecycle_enforce_stop(struct ds01d *d, const char *id, const char *event, const char *text,
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
        if (owner_of(d, inspect, &owner) < 0)
                goto out;
        const char *nm = jstr(inspect, "Name");
        name = xstrdup(nm[0] == '/' ? nm + 1 : nm);
        if (busy_acquire(d, name, &err) < 0)
                goto out;
        int grace = stop_grace_s(d, inspect);
        /* SIGTERM to every process, `grace` seconds, then SIGKILL: Docker's stop and
         * ds01-init do exactly that. */
        if (docker_container_stop(d->docker, id, grace, &err) < 0) {
                busy_release(d, name);
                goto out;
        }
        char **rel = NULL;
        if (store_release_leases(d->store, name, &rel, &err) < 0) {
                log_error("%s: releasing its GPUs after %s: %s", name, event, err->message);
                err = error_free(err);
        }
        busy_release(d, name);
        json_object_set_new(evidence, "gpus_released", strv_to_json(rel));
        json_object_set_new(evidence, "container", json_string(name));
        json_object_set_new(evidence, "sigterm_grace_s", json_integer(grace));
        events_log(d->events, event, owner.login, json_incref(evidence));
        if (rel && rel[0])
                events_log(d->events, "gpu.release", owner.login,
                           json_pack("{s:s, s:o, s:s}", "container", name, "gpus",
                                     strv_to_json(rel), "reason", event));
        store_strv_free(rel);
        const char *project = label(inspect, "ds01.project");
        lifecycle_notify(
            d, &owner, name, project ? project : name, docker_inspect_workspace(inspect),
            streq(event, "maintenance.idle_kill") ? "idle_stop" : "runtime_stop", text, evidence);
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

int lifecycle_cleanup_remove(struct ds01d *d, const char *id, const char *reason)
{
        struct error *err = NULL;
        _cleanup_free_ char *name = NULL;
        json_t *inspect = docker_container_inspect(d->docker, id, &err);
        int r = -1;
        if (!inspect)
                goto out;
        if (!ledger_record(d, inspect, NULL) ||
            json_is_true(json_object_get(json_object_get(inspect, "State"), "Running")))
                goto out;
        const char *nm = jstr(inspect, "Name");
        name = xstrdup(nm[0] == '/' ? nm + 1 : nm);
        if (busy_acquire(d, name, &err) < 0)
                goto out;
        struct caller sys = {.login = (char *)"ds01d"};
        char **rel = NULL;
        r = remove_and_release(d, &sys, name, inspect, reason, &rel, &err);
        busy_release(d, name);
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

/* ---- keep-alive and inbox ---------------------------------------------------------------------
 */

int lifecycle_keepalive(struct ds01d *d, const struct caller *c, json_t *params,
                        json_t **ret_result, struct error **err)
{
        _cleanup_free_ char *name = NULL;
        json_t *inspect = NULL;
        struct caller owner = {0};
        if (resolve_target(d, c, jstr(params, "name"), "keepalive", &name, &inspect, err) < 0)
                return -1;
        int r = -1;
        if (!inspect) {
                lifecycle_not_found(jstr(params, "name"), err);
                goto out;
        }
        if (owner_of(d, inspect, &owner) < 0) {
                error_set(err, DS01_ERR, "container '%s' has no owner with an account", name);
                goto out;
        }
        struct limit_set ls;
        limits_resolve(d->limits, owner.login, owner.gids, owner.n_gids, &ls);
        double max_h = ls.policies.keepalive_max_duration_h;
        limit_set_release(&ls);
        bool off = json_is_true(json_object_get(params, "off"));
        json_int_t secs = json_integer_value(json_object_get(params, "seconds"));
        char b1[32], b2[32];
        const char *project = label(inspect, "ds01.project");
        if (!off && (max_h <= 0 || (double)secs > max_h * 3600.0)) {
                error_set(err, DS01_EUSAGE,
                          "a keep-alive of %s is longer than your group allows (%s, "
                          "keepalive_max_duration_h) - ask for at most %s, e.g. "
                          "container-keepalive %s %s",
                          format_duration(secs, b1), format_duration((int64_t)(max_h * 3600), b2),
                          b2, project ? project : name, b2);
                goto out;
        }
        if (!off && secs <= 0) {
                error_set(err, DS01_EUSAGE, "give a duration such as 2h, or 'off'");
                goto out;
        }
        int64_t until = off ? 0 : now_s() + secs;
        if (store_set_keepalive(d->store, name, until, err) < 0)
                goto out;
        char ts[32];
        events_log(d->events, "container.keepalive", c->login,
                   json_pack("{s:s, s:o}", "container", name, "until",
                             off ? json_null() : json_string(format_iso8601(until, ts))));
        *ret_result = json_pack("{s:s, s:I, s:I}", "container", name, "until", (json_int_t)until,
                                "max_s", (json_int_t)(max_h * 3600));
        r = 0;
out:
        caller_release(&owner);
        json_decref(inspect);
        return r;
}

static json_t *inbox_json(const struct store_inbox_msg *v, size_t n)
{
        json_t *a = json_array();
        char ts[32];
        for (size_t i = 0; i < n; i++)
                json_array_append_new(a, json_pack("{s:I, s:s, s:s, s:s, s:s}", "id",
                                                   (json_int_t)v[i].id, "container", v[i].container,
                                                   "event", v[i].event, "message", v[i].message,
                                                   "time", format_iso8601(v[i].created_at, ts)));
        return a;
}

int lifecycle_inbox(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                    struct error **err)
{
        json_t *jl = json_object_get(params, "limit");
        struct store_inbox_msg *v = NULL;
        size_t n = 0;
        /* Listing marks everything shown, so it does not pop up again with the next command. */
        struct store_inbox_msg *unseen = NULL;
        size_t n_unseen = 0;
        if (store_inbox_take(d->store, c->uid, &unseen, &n_unseen, err) < 0)
                return -1;
        store_inbox_free(unseen, n_unseen);
        if (store_inbox_list(d->store, c->uid, jl ? json_integer_value(jl) : 50, &v, &n, err) < 0)
                return -1;
        *ret_result = json_pack("{s:o}", "messages", inbox_json(v, n));
        store_inbox_free(v, n);
        return 0;
}

json_t *lifecycle_inbox_notices(struct ds01d *d, uid_t uid)
{
        struct store_inbox_msg *v = NULL;
        size_t n = 0;
        if (store_inbox_take(d->store, uid, &v, &n, NULL) < 0 || n == 0) {
                store_inbox_free(v, n);
                return NULL;
        }
        json_t *a = json_array();
        char ts[32];
        for (size_t i = 0; i < n; i++)
                json_array_append_new(
                    a, json_sprintf("[%s] %s", format_iso8601(v[i].created_at, ts), v[i].message));
        store_inbox_free(v, n);
        return a;
}

/* ---- events -----------------------------------------------------------------------------------
 */

/* "2h" (ago), "2026-11-28", "2026-11-28T10:00:00Z" -> unix seconds; -1 if none of those. */
static int64_t when(const char *s)
{
        int64_t secs;
        if (parse_duration(s, &secs) == 0)
                return now_s() - secs;
        struct tm tm;
        memset(&tm, 0, sizeof(tm));
        const char *end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
        if (!end) {
                memset(&tm, 0, sizeof(tm));
                end = strptime(s, "%Y-%m-%d", &tm);
        }
        if (!end || (*end && !streq(end, "Z")))
                return -1;
        return (int64_t)timegm(&tm);
}

int lifecycle_events(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                     struct error **err)
{
        const char *user = jstr(params, "user");
        const char *container = jstr(params, "container");
        const char *since = jstr(params, "since"), *until = jstr(params, "until");
        json_t *jl = json_object_get(params, "limit");
        /* A user reads their own events; administrators anyone's. */
        if (user && !streq(user, c->login) && !c->admin)
                return error_set(err, DS01_EPERM,
                                 "only administrators read other users' events - leave out "
                                 "--user to see yours");
        struct events_filter f = {
            .user = c->admin ? user : c->login,
            .type = jstr(params, "type"),
            .limit = jl ? (size_t)json_integer_value(jl) : 200,
            .after = jstr(params, "after"),
        };
        _cleanup_free_ char *full = NULL;
        if (container) {
                _cleanup_free_ char *p = NULL, *u = NULL;
                if (names_split_container(container, &p, &u) < 0) {
                        if (names_check_project(container, err) < 0)
                                return -1;
                        full = names_container(container, c->user_part);
                } else if (names_check_project(p, err) < 0 || names_check_user_part(u, err) < 0) {
                        return -1;
                } else {
                        full = xstrdup(container);
                }
                f.container = full;
        }
        if (since && (f.since = when(since)) < 0)
                return error_set(err, DS01_EUSAGE,
                                 "--since '%.40s': give a time (2026-11-28, "
                                 "2026-11-28T10:00:00Z) or how long ago (2h, 30m)",
                                 since);
        if (until && (f.until = when(until)) < 0)
                return error_set(err, DS01_EUSAGE,
                                 "--until '%.40s': give a time (2026-11-28, "
                                 "2026-11-28T10:00:00Z) or how long ago (2h, 30m)",
                                 until);
        json_t *res = events_query(d->events, &f, err);
        if (!res)
                return -1;
        *ret_result = res;
        return 0;
}
