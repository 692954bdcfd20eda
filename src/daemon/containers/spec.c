/* spec.c - the Docker create body of a managed container (see spec.h). */
#include "daemon/containers/spec.h"

#include "daemon/containers/blockdev.h"
#include "daemon/containers/network.h"
#include "daemon/containers/sshkeys.h"
#include "daemon/containers/usercgroup.h"
#include "daemon/docker/dockerjson.h"
#include "shared/log.h"
#include "shared/names.h"
#include "shared/strbuf.h"
#include "shared/strv.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

/* The owner's name inside: the login name from NSS as it is, unless it could break the passwd
 * file's format or a path (then the container-name part). */
static const char *inside_name(const struct caller *c)
{
        for (const char *p = c->login; *p; p++)
                if (!(isalnum((unsigned char)*p) || strchr("._-", *p)))
                        return c->user_part;
        return c->login[0] == '.' || !c->login[0] ? c->user_part : c->login;
}

char *spec_home(const struct caller *c)
{
        return xasprintf("/home/%s", inside_name(c));
}

/* The /etc/passwd of the owner's containers. Without an entry for their uid, shells greet users
 * as "I have no name!" and tools that ask who they are fail (OpenSSH finds ~/.ssh through it,
 * not through $HOME). The image's own file cannot be read without touching the container's file
 * system, so each container gets this one, mounted read-only over it: root, nobody and the owner
 * (home spec_home). It is written by root in the daemon's own state directory (never a path a
 * user can reach), rewritten at each use; NULL (logged) when it cannot be, and the container
 * keeps the image's. */
char *spec_passwd_file(struct ds01d *d, const struct caller *c)
{
        const char *name = inside_name(c);
        _cleanup_free_ char *home = spec_home(c);
        _cleanup_free_ char *dir = xasprintf("%s/passwd", d->cfg->state_dir);
        _cleanup_free_ char *path = xasprintf("%s/%u", dir, (unsigned)c->uid);
        _cleanup_free_ char *tmp = xasprintf("%s/.%u.XXXXXX", dir, (unsigned)c->uid);
        _cleanup_free_ char *text =
            xasprintf("root:x:0:0:root:/root:/bin/sh\n"
                      "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
                      "%s:x:%u:%u:%s:%s:/bin/sh\n",
                      name, (unsigned)c->uid, (unsigned)c->gid, name, home);
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

/* The ds01.gpu.slots label: "<gpu index>" for a whole GPU, "<gpu index>.<profile>" for a MIG
 * instance, in lease order. */
static char *slots_label(const struct spec_input *in, size_t n_gpus)
{
        struct strbuf sb = STRBUF_INIT;
        for (size_t i = 0; i < n_gpus; i++) {
                const struct gpu_slot *s = gpu_inventory_find(in->inv, in->uuids[i]);
                if (i)
                        strbuf_addc(&sb, ',');
                if (s && s->parent_uuid)
                        strbuf_addf(&sb, "%d.%s", s->gpu_index, s->profile);
                else if (s)
                        strbuf_addf(&sb, "%d", s->gpu_index);
        }
        return strbuf_detach(&sb);
}

/* io_read_bps / io_write_bps on each disk, ulimit_nofile as both limits. */
static void add_io_limits(json_t *host, const struct limit_set *ls, char *const *disks)
{
        static const char *const keys[2] = {"BlkioDeviceReadBps", "BlkioDeviceWriteBps"};
        const int64_t rates[2] = {ls->io_read_bps, ls->io_write_bps};
        for (size_t k = 0; k < 2; k++) {
                if (rates[k] <= 0 || !disks || !disks[0])
                        continue;
                json_t *a = json_array();
                for (size_t i = 0; disks[i]; i++)
                        json_array_append_new(a, json_pack("{s:s, s:I}", "Path", disks[i], "Rate",
                                                           (json_int_t)rates[k]));
                json_object_set_new(host, keys[k], a);
        }
        if (ls->ulimit_nofile > 0)
                json_object_set_new(host, "Ulimits",
                                    json_pack("[{s:s, s:I, s:I}]", "Name", "nofile", "Soft",
                                              (json_int_t)ls->ulimit_nofile, "Hard",
                                              (json_int_t)ls->ulimit_nofile));
}

json_t *spec_create_body(const struct spec_input *in)
{
        const struct limit_set *ls = in->limits;
        char ts[32];
        _cleanup_free_ char *gpus = strv_join(in->uuids, ",");
        size_t n_gpus = 0;
        while (in->uuids && in->uuids[n_gpus])
                n_gpus++;

        const struct deploy_extras *x = in->extras;
        /* A Docker client's variables first; ds01's own (extras_env_reserved) are never theirs. */
        json_t *env = x && x->env ? json_deep_copy(x->env) : json_array();
        json_array_append_new(env, json_sprintf("HOME=%s", in->home));
        json_array_append_new(env, json_sprintf("USER=%s", in->login));
        json_array_append_new(env, json_sprintf("LOGNAME=%s", in->login));
        json_array_append_new(env, json_sprintf("DS01_PROJECT=%s", in->project));
        json_array_append_new(env, json_string("CUDA_DEVICE_ORDER=PCI_BUS_ID"));
        /* A container never sees a GPU it does not lease: "void" hides every device from the
         * NVIDIA runtime, and an empty CUDA_VISIBLE_DEVICES hides them from CUDA. */
        json_array_append_new(env,
                              json_sprintf("NVIDIA_VISIBLE_DEVICES=%s", n_gpus ? gpus : "void"));
        json_array_append_new(env, json_sprintf("CUDA_VISIBLE_DEVICES=%s", gpus));

        _cleanup_free_ char *slots = slots_label(in, n_gpus);
        json_t *labels = json_pack("{s:s, s:s, s:s, s:o, s:s, s:s, s:s, s:s, s:s}", "ds01.managed",
                                   "true", "ds01.instance", in->instance, "ds01.user", in->login,
                                   "ds01.uid", json_sprintf("%u", (unsigned)in->uid),
                                   "ds01.project", in->project, "ds01.interface", "orchestration",
                                   "ds01.created_at", format_iso8601(in->created_at, ts),
                                   "ds01.gpu.uuids", gpus, "ds01.gpu.slots", slots);
        json_object_set_new(labels, "ds01.gpu.request", json_string(in->gpu_request));
        /* The owner's own network (network.h): never another user's containers. */
        _cleanup_free_ char *net = network_name(in->instance, in->uid, NETWORK_CONTAINERS);
        json_object_set_new(labels, DOCKER_WORKSPACE_LABEL, json_string(in->workspace));
        blank_image_labels(in->image_inspect, labels);
        if (x) {
                json_object_update_missing(labels, x->labels); /* never over ds01.* */
                json_object_set_new(labels, "ds01.interface", json_string(x->interface));
                if (x->workspace && !streq(x->workspace, in->project))
                        json_object_set_new(labels, SPEC_WORKSPACE_PROJECT_LABEL,
                                            json_string(x->workspace));
        }

        json_t *mounts =
            json_pack("[{s:s, s:s, s:s, s:b}, {s:s, s:s, s:s, s:b}]", "Type", "bind", "Source",
                      in->pin, "Target", "/workspace", "ReadOnly", 0, "Type", "bind", "Source",
                      in->init_path, "Target", "/.ds01/init", "ReadOnly", 1);
        size_t i_target;
        json_t *more;
        json_array_foreach (x ? x->targets : NULL, i_target, more)
                json_array_append_new(mounts,
                                      json_pack("{s:s, s:s, s:O, s:b}", "Type", "bind", "Source",
                                                in->pin, "Target", more, "ReadOnly", 0));
        if (in->passwd_path)
                json_array_append_new(mounts, json_pack("{s:s, s:s, s:s, s:b}", "Type", "bind",
                                                        "Source", in->passwd_path, "Target",
                                                        "/etc/passwd", "ReadOnly", 1));

        /* --ssh: the owner's ~/.ssh and ~/.gitconfig, read-only, from their pin (sshkeys.h) */
        if (in->ssh_pin) {
                _cleanup_free_ char *src_ssh = sshkeys_pin_source(in->ssh_pin, SSHKEYS_DIR);
                _cleanup_free_ char *src_git = sshkeys_pin_source(in->ssh_pin, SSHKEYS_GITCONFIG);
                _cleanup_free_ char *dst_ssh = xasprintf("%s/.ssh", in->home);
                _cleanup_free_ char *dst_git = xasprintf("%s/.gitconfig", in->home);
                json_array_append_new(mounts,
                                      json_pack("{s:s, s:s, s:s, s:b}", "Type", "bind", "Source",
                                                src_ssh, "Target", dst_ssh, "ReadOnly", 1));
                json_array_append_new(mounts,
                                      json_pack("{s:s, s:s, s:s, s:b}", "Type", "bind", "Source",
                                                src_git, "Target", dst_git, "ReadOnly", 1));
                json_object_set_new(labels, SSHKEYS_LABEL, json_string("true"));
        }

        /* Shared datasets, read-only; the names go in a label so a recreation asks for them again
         */
        struct strbuf data = STRBUF_INIT;
        for (size_t i = 0; i < in->n_data; i++) {
                _cleanup_free_ char *target = datasets_target(in->data[i].name);
                json_array_append_new(mounts,
                                      json_pack("{s:s, s:s, s:s, s:b}", "Type", "bind", "Source",
                                                in->data[i].path, "Target", target, "ReadOnly", 1));
                strbuf_addf(&data, "%s%s", i ? "," : "", in->data[i].name);
        }
        if (in->n_data)
                json_object_set_new(labels, "ds01.data", json_string(data.buf));
        strbuf_release(&data);

        json_t *host =
            json_pack("{s:o, s:[s], s:[s], s:b, s:s, s:{s:s}, s:{s:s, s:{s:s, s:s}}}", "Mounts",
                      mounts, "SecurityOpt", "no-new-privileges", "CapDrop", "ALL", "Privileged", 0,
                      "NetworkMode", net, "RestartPolicy", "Name", "no", "LogConfig", "Type",
                      "json-file", "Config", "max-size", "10m", "max-file", "3");
        if (x && x->auto_remove)
                json_object_set_new(host, "AutoRemove", json_true());
        if (x && json_array_size(x->links) > 0)
                json_object_set(host, "Links", x->links);
        if (ls->max_cpus > 0) {
                /* Docker refuses more CPUs than the host has: a group's 32 on a smaller machine
                 * means "all of them". */
                double cpus = ls->max_cpus;
                if (in->host_cpus > 0 && cpus > (double)in->host_cpus)
                        cpus = (double)in->host_cpus;
                /* cgroup v1 refuses a container more CPU than its parent, the user's cap */
                if (in->cgroup_parent && ls->aggregate.cpu_quota > 0 &&
                    cpus > ls->aggregate.cpu_quota)
                        cpus = ls->aggregate.cpu_quota;
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
        add_io_limits(host, ls, in->io_disks);
        if (in->cgroup_parent)
                json_object_set_new(host, "CgroupParent", json_string(in->cgroup_parent));
        const char *mode = in->docker_devices;
        bool device_requests =
            streq(mode, "device-requests") || (streq(mode, "auto") && in->inventory_real);
        if (n_gpus && device_requests) {
                size_t n_mig = 0;
                for (size_t i = 0; i < n_gpus; i++) {
                        const struct gpu_slot *s = gpu_inventory_find(in->inv, in->uuids[i]);
                        n_mig += s && s->parent_uuid;
                }
                if (n_mig > 1)
                        /* Several MIG instances: the NVIDIA runtime reads them from
                         * NVIDIA_VISIBLE_DEVICES (a DeviceRequest takes one MIG device). */
                        json_object_set_new(host, "Runtime", json_string("nvidia"));
                else
                        json_object_set_new(host, "DeviceRequests",
                                            json_pack("[{s:s, s:o, s:[[s]]}]", "Driver", "nvidia",
                                                      "DeviceIDs", strv_to_json(in->uuids),
                                                      "Capabilities", "gpu"));
        }

        /* A Compose service's name (and any alias its client gave) on the owner's network */
        json_t *networking = NULL;
        if (x && json_array_size(x->aliases) > 0)
                networking =
                    json_pack("{s:{s:{s:O}}}", "EndpointsConfig", net, "Aliases", x->aliases);

        _cleanup_free_ char *user = xasprintf("%u:%u", (unsigned)in->uid, (unsigned)in->gid);
        json_t *entry_cmd = json_array();
        if (in->cmd && json_array_size(in->cmd) > 0) {
                json_array_append_new(entry_cmd, json_string("--"));
                json_array_extend(entry_cmd, (json_t *)in->cmd);
        }
        /* ds01-init takes SIGTERM as "stop" whatever STOPSIGNAL the image sets; a `docker stop`
         * that does not give a timeout (dockerd's own shutdown) waits the owner's grace too. */
        bool open_stdin = x && x->open_stdin;
        json_t *body =
            json_pack("{s:s, s:s, s:s, s:s, s:[s], s:o, s:o, s:o, s:b, s:b, s:b, s:b, s:o, s:s, "
                      "s:I}",
                      "Image", in->image, "User", user, "WorkingDir",
                      x && x->workdir ? x->workdir : "/workspace", "Hostname", in->project,
                      "Entrypoint", "/.ds01/init", "Cmd", entry_cmd, "Env", env, "Labels", labels,
                      "Tty", x && x->tty, "OpenStdin", open_stdin, "StdinOnce", x && x->stdin_once,
                      "AttachStdin", open_stdin, "HostConfig", host, "StopSignal", "SIGTERM",
                      "StopTimeout", (json_int_t)ls->policies.sigterm_grace_s);
        if (networking)
                json_object_set_new(body, "NetworkingConfig", networking);
        return body;
}

json_t *spec_create_body_of(struct ds01d *d, const struct caller *c, const struct limit_set *ls,
                            const char *project, const char *image, const json_t *img,
                            const char *workspace, const char *pin, char **uuids, const json_t *cmd,
                            const char *gpu_request, const struct dataset_mount *data,
                            size_t n_data, bool ssh, const struct deploy_extras *extras)
{
        _cleanup_free_ char *passwd = spec_passwd_file(d, c);
        _cleanup_free_ char *home = spec_home(c);
        _cleanup_free_ char *container = names_container(project, c->user_part);
        _cleanup_free_ char *ssh_pin = ssh ? sshkeys_pin_path(d->cfg->state_dir, container) : NULL;
        /* the disks of Docker's data and of the workspaces ("home": the users' homes) */
        const char *roots[2] = {docker_root_dir(d->docker), streq(d->cfg->workspace_root, "home")
                                                                ? "/home"
                                                                : d->cfg->workspace_root};
        char **disks =
            ls->io_read_bps > 0 || ls->io_write_bps > 0 ? blockdev_disks(roots, 2) : NULL;
        _cleanup_free_ char *cgroup = usercgroup_prepare(d, c->uid, ls, false);
        struct spec_input in = {
            .uid = c->uid,
            .gid = c->gid,
            .login = c->login,
            .limits = ls,
            .instance = d->cfg->instance,
            .project = project,
            .image = image,
            .image_inspect = img,
            .workspace = workspace,
            .pin = pin,
            .init_path = d->init_path,
            .passwd_path = passwd,
            .home = home,
            .ssh_pin = ssh_pin,
            .uuids = uuids,
            .inv = d->inv,
            .docker_devices = d->cfg->docker_devices,
            .inventory_real = gpu_inventory_is_real(d->inv),
            .cmd = cmd,
            .gpu_request = gpu_request,
            .data = data,
            .n_data = n_data,
            .created_at = now_s(),
            .extras = extras,
            .host_cpus = sysconf(_SC_NPROCESSORS_ONLN),
            .io_disks = disks,
            .cgroup_parent = cgroup,
        };
        json_t *body = spec_create_body(&in);
        strv_free(disks);
        return body;
}
