/* test-spec.c - the Docker create body of a managed container (spec_create_body), without
 * dockerd: what a user's safety depends on. The container runs as its owner, with no
 * capabilities, privileges or host namespaces, on the owner's network, with the three mounts
 * and nothing else, sees only its leased GPUs, and gets the owner's limits. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "daemon/config/config.h"
#include "daemon/containers/spec.h"
#include "daemon/docker/dockerjson.h"
#include "daemon/gpus/gpu.h"
#include "shared/util.h"

#define UID 1234
#define GID 2345

struct fixture {
        struct config *cfg;
        struct gpu_inventory *inv;
        const char *whole[2]; /* the whole GPUs' uuids */
        const char *mig[2];   /* the two MIG instances of the third GPU */
        struct limit_set ls;
        json_t *img;
        struct spec_input in;
};

/* A simulated inventory: two whole GPUs, and one split into two 3g.20gb instances. */
static int setup(void **state)
{
        struct fixture *f = xzalloc(sizeof(*f));
        f->cfg = config_load(NULL, NULL);
        assert_non_null(f->cfg);
        for (size_t i = 0; i < f->cfg->n_simulated; i++) /* the default: whole GPUs */
                free(f->cfg->simulated[i].name);
        free(f->cfg->simulated);
        f->cfg->simulated = xcalloc(3, sizeof(*f->cfg->simulated));
        f->cfg->n_simulated = 3;
        for (size_t i = 0; i < 2; i++)
                f->cfg->simulated[i] =
                    (struct config_sim_gpu){.name = xstrdup("A100"), .memory_mib = 40960};
        char **profiles = xcalloc(3, sizeof(char *));
        profiles[0] = xstrdup("3g.20gb");
        profiles[1] = xstrdup("3g.20gb");
        f->cfg->simulated[2] = (struct config_sim_gpu){
            .name = xstrdup("A100"), .memory_mib = 40960, .mig = profiles, .n_mig = 2};
        f->inv = gpu_inventory_scan(f->cfg, NULL, NULL);
        assert_non_null(f->inv);
        const struct gpu_slot *const *v;
        assert_int_equal(gpu_inventory_allocatable(f->inv, false, &v), 2);
        f->whole[0] = v[0]->uuid;
        f->whole[1] = v[1]->uuid;
        assert_int_equal(gpu_inventory_allocatable(f->inv, true, &v), 2);
        f->mig[0] = v[0]->uuid;
        f->mig[1] = v[1]->uuid;

        f->ls = (struct limit_set){.max_cpus = 4,
                                   .memory = 8LL << 30,
                                   .memory_swap = -1,
                                   .shm_size = 1LL << 30,
                                   .pids_limit = 4096,
                                   .policies = {.sigterm_grace_s = 77}};
        /* An image whose Dockerfile sets ds01.* labels of its own. */
        f->img =
            json_pack("{s:{s:{s:s, s:s, s:s}}}", "Config", "Labels", "ds01.user", "mallory",
                      "ds01.keepalive_until", "2999-01-01T00:00:00Z", "org.example.note", "kept");
        f->in = (struct spec_input){.uid = UID,
                                    .gid = GID,
                                    .login = "alice",
                                    .limits = &f->ls,
                                    .instance = "ds01",
                                    .project = "proj",
                                    .image = "ds01-1234/proj",
                                    .image_inspect = f->img,
                                    .workspace = "/home/alice/workspace/proj",
                                    .pin = "/var/lib/ds01/pins/proj._.alice",
                                    .init_path = "/usr/libexec/ds01/ds01-init",
                                    .passwd_path = "/var/lib/ds01/passwd/1234",
                                    .home = "/home/alice",
                                    .uuids = NULL,
                                    .inv = f->inv,
                                    .docker_devices = "device-requests",
                                    .inventory_real = false,
                                    .cmd = NULL,
                                    .gpu_request = "0",
                                    .created_at = 1700000000,
                                    .host_cpus = 16};
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;
        json_decref(f->img);
        gpu_inventory_free(f->inv);
        config_free(f->cfg);
        free(f);
        return 0;
}

static json_t *host_of(json_t *body)
{
        json_t *h = json_object_get(body, "HostConfig");
        assert_true(json_is_object(h));
        return h;
}

static const char *label(json_t *body, const char *key)
{
        return jstr(json_object_get(body, "Labels"), key);
}

/* Env's value of `name`, or NULL when it is not set. */
static const char *env(json_t *body, const char *name)
{
        size_t i, n = strlen(name);
        json_t *e;
        json_array_foreach (json_object_get(body, "Env"), i, e) {
                const char *s = json_string_value(e);
                if (s && strncmp(s, name, n) == 0 && s[n] == '=')
                        return s + n + 1;
        }
        return NULL;
}

static bool only_keys(json_t *obj, const char *const *allowed, size_t n_allowed)
{
        const char *k;
        json_t *v;
        json_object_foreach (obj, k, v) {
                bool ok = false;
                for (size_t i = 0; i < n_allowed && !ok; i++)
                        ok = streq(k, allowed[i]);
                if (!ok) {
                        print_error("unexpected key %s\n", k);
                        return false;
                }
        }
        return true;
}

static void assert_mount(json_t *m, const char *source, const char *target, bool ro)
{
        assert_string_equal(jstr(m, "Type"), "bind");
        assert_string_equal(jstr(m, "Source"), source);
        assert_string_equal(jstr(m, "Target"), target);
        assert_true(json_is_boolean(json_object_get(m, "ReadOnly")));
        assert_int_equal(json_is_true(json_object_get(m, "ReadOnly")), ro);
}

/* Who it runs as and what it may do: the owner's uid:gid, no capabilities, no privilege gain,
 * not privileged, the owner's network, and nothing of the host's beyond the three mounts. */
static void test_confinement(void **state)
{
        struct fixture *f = *state;
        json_t *b = spec_create_body(&f->in);
        assert_non_null(b);
        assert_string_equal(jstr(b, "User"), "1234:2345"); /* absent would be the image's: root */
        assert_string_equal(jstr(b, "WorkingDir"), "/workspace");
        json_t *ep = json_object_get(b, "Entrypoint");
        assert_int_equal(json_array_size(ep), 1);
        assert_string_equal(json_string_value(json_array_get(ep, 0)), "/.ds01/init");
        assert_true(json_is_false(json_object_get(b, "Tty")));
        assert_true(json_is_false(json_object_get(b, "OpenStdin")));

        json_t *h = host_of(b);
        json_t *drop = json_object_get(h, "CapDrop");
        assert_int_equal(json_array_size(drop), 1);
        assert_string_equal(json_string_value(json_array_get(drop, 0)), "ALL");
        json_t *sec = json_object_get(h, "SecurityOpt");
        assert_int_equal(json_array_size(sec), 1);
        assert_string_equal(json_string_value(json_array_get(sec, 0)), "no-new-privileges");
        assert_true(json_is_false(json_object_get(h, "Privileged")));
        assert_string_equal(jstr(h, "NetworkMode"), "ds01-u1234");
        assert_string_equal(jstr(json_object_get(h, "RestartPolicy"), "Name"), "no");

        /* Nothing else: no host namespaces (PidMode, IpcMode, UTSMode, UsernsMode, a "host"
         * network), no Devices, Binds, CapAdd, VolumesFrom, PortBindings, cgroup parents. */
        static const char *const host_keys[] = {
            "Mounts",        "SecurityOpt", "CapDrop",        "Privileged", "NetworkMode",
            "RestartPolicy", "LogConfig",   "NanoCpus",       "Memory",     "MemorySwap",
            "ShmSize",       "PidsLimit",   "DeviceRequests", "Runtime"};
        assert_true(only_keys(h, host_keys, ARRAY_SIZE(host_keys)));
        static const char *const top_keys[] = {
            "Image",      "User",       "WorkingDir",  "Hostname",  "Entrypoint",
            "Cmd",        "Env",        "Labels",      "Tty",       "OpenStdin",
            "HostConfig", "StopSignal", "StopTimeout", "StdinOnce", "AttachStdin"};
        assert_true(only_keys(b, top_keys, ARRAY_SIZE(top_keys)));

        json_t *m = json_object_get(h, "Mounts");
        assert_int_equal(json_array_size(m), 3);
        assert_mount(json_array_get(m, 0), f->in.pin, "/workspace", false);
        assert_mount(json_array_get(m, 1), f->in.init_path, "/.ds01/init", true);
        assert_mount(json_array_get(m, 2), f->in.passwd_path, "/etc/passwd", true);
        json_decref(b);

        /* Without a passwd file the image's is kept: no third mount. */
        f->in.passwd_path = NULL;
        b = spec_create_body(&f->in);
        m = json_object_get(host_of(b), "Mounts");
        assert_int_equal(json_array_size(m), 2);
        assert_mount(json_array_get(m, 0), f->in.pin, "/workspace", false);
        assert_mount(json_array_get(m, 1), f->in.init_path, "/.ds01/init", true);
        json_decref(b);

        /* Another owner, another network. */
        f->in.uid = 1235;
        b = spec_create_body(&f->in);
        assert_string_equal(jstr(host_of(b), "NetworkMode"), "ds01-u1235");
        assert_string_equal(jstr(b, "User"), "1235:2345");
        json_decref(b);
}

/* ds01's labels say who owns it; an image cannot put ds01.* labels on a container. */
static void test_labels(void **state)
{
        struct fixture *f = *state;
        char *uuids[] = {(char *)f->whole[1], NULL};
        f->in.uuids = uuids;
        f->in.gpu_request = "1";
        json_t *b = spec_create_body(&f->in);
        assert_string_equal(label(b, "ds01.managed"), "true");
        assert_string_equal(label(b, "ds01.instance"), "ds01");
        assert_string_equal(label(b, "ds01.user"), "alice"); /* not the image's "mallory" */
        assert_string_equal(label(b, "ds01.uid"), "1234");
        assert_string_equal(label(b, "ds01.project"), "proj");
        assert_string_equal(label(b, "ds01.interface"), "orchestration");
        assert_string_equal(label(b, "ds01.created_at"), "2023-11-14T22:13:20Z");
        assert_string_equal(label(b, "ds01.gpu.uuids"), f->whole[1]);
        assert_string_equal(label(b, "ds01.gpu.slots"), "1");
        assert_string_equal(label(b, "ds01.gpu.request"), "1");
        assert_string_equal(label(b, "ds01.workspace"), f->in.workspace);
        /* the image's own ds01.* label is blanked; its other labels are Docker's to merge */
        assert_string_equal(label(b, "ds01.keepalive_until"), "");
        assert_null(json_object_get(json_object_get(b, "Labels"), "org.example.note"));
        assert_string_equal(env(b, "USER"), "alice");
        assert_string_equal(env(b, "HOME"), "/home/alice");
        assert_string_equal(env(b, "DS01_PROJECT"), "proj");
        assert_string_equal(jstr(b, "Image"), "ds01-1234/proj");
        assert_string_equal(jstr(b, "Hostname"), "proj");
        json_decref(b);
}

static json_t *device_ids(json_t *b)
{
        json_t *dr = json_object_get(host_of(b), "DeviceRequests");
        if (!dr)
                return NULL;
        assert_int_equal(json_array_size(dr), 1);
        json_t *r = json_array_get(dr, 0);
        assert_string_equal(jstr(r, "Driver"), "nvidia");
        json_t *caps = json_object_get(r, "Capabilities");
        assert_int_equal(json_array_size(caps), 1);
        assert_string_equal(json_string_value(json_array_get(json_array_get(caps, 0), 0)), "gpu");
        return json_object_get(r, "DeviceIDs");
}

/* A container without GPUs sees none, in every mode. */
static void test_no_gpus(void **state)
{
        struct fixture *f = *state;
        const char *modes[] = {"device-requests", "auto", "env"};
        char *empty[] = {NULL};
        for (size_t i = 0; i < ARRAY_SIZE(modes); i++)
                for (int k = 0; k < 2; k++) {
                        f->in.docker_devices = modes[i];
                        f->in.inventory_real = true;
                        f->in.uuids = k ? empty : NULL;
                        json_t *b = spec_create_body(&f->in);
                        assert_string_equal(env(b, "NVIDIA_VISIBLE_DEVICES"), "void");
                        assert_string_equal(env(b, "CUDA_VISIBLE_DEVICES"), "");
                        assert_null(json_object_get(host_of(b), "DeviceRequests"));
                        assert_null(json_object_get(host_of(b), "Runtime"));
                        assert_string_equal(label(b, "ds01.gpu.uuids"), "");
                        json_decref(b);
                }
}

/* The leased GPUs and only those, by the mode the config asks for. */
static void test_gpus(void **state)
{
        struct fixture *f = *state;
        char *two[] = {(char *)f->whole[0], (char *)f->whole[1], NULL};
        f->in.uuids = two;
        json_t *b = spec_create_body(&f->in);
        json_t *ids = device_ids(b);
        assert_int_equal(json_array_size(ids), 2);
        assert_string_equal(json_string_value(json_array_get(ids, 0)), f->whole[0]);
        assert_string_equal(json_string_value(json_array_get(ids, 1)), f->whole[1]);
        assert_null(json_object_get(host_of(b), "Runtime"));
        _cleanup_free_ char *both = xasprintf("%s,%s", f->whole[0], f->whole[1]);
        assert_string_equal(env(b, "NVIDIA_VISIBLE_DEVICES"), both);
        assert_string_equal(env(b, "CUDA_VISIBLE_DEVICES"), both);
        assert_string_equal(label(b, "ds01.gpu.slots"), "0,1");
        json_decref(b);

        /* "env": the GPUs reach it by the environment alone (a simulated inventory) */
        f->in.docker_devices = "env";
        b = spec_create_body(&f->in);
        assert_null(json_object_get(host_of(b), "DeviceRequests"));
        assert_string_equal(env(b, "NVIDIA_VISIBLE_DEVICES"), both);
        json_decref(b);
        /* "auto": device requests only when the inventory is real */
        f->in.docker_devices = "auto";
        b = spec_create_body(&f->in);
        assert_null(json_object_get(host_of(b), "DeviceRequests"));
        json_decref(b);
        f->in.inventory_real = true;
        b = spec_create_body(&f->in);
        assert_int_equal(json_array_size(device_ids(b)), 2);
        json_decref(b);

        /* One MIG instance: a device request for it alone. */
        f->in.docker_devices = "device-requests";
        char *one_mig[] = {(char *)f->mig[1], NULL};
        f->in.uuids = one_mig;
        b = spec_create_body(&f->in);
        ids = device_ids(b);
        assert_int_equal(json_array_size(ids), 1);
        assert_string_equal(json_string_value(json_array_get(ids, 0)), f->mig[1]);
        assert_string_equal(label(b, "ds01.gpu.slots"), "2.3g.20gb");
        json_decref(b);

        /* Several MIG instances: the NVIDIA runtime, which reads NVIDIA_VISIBLE_DEVICES. */
        char *two_mig[] = {(char *)f->mig[0], (char *)f->mig[1], NULL};
        f->in.uuids = two_mig;
        b = spec_create_body(&f->in);
        assert_null(json_object_get(host_of(b), "DeviceRequests"));
        assert_string_equal(jstr(host_of(b), "Runtime"), "nvidia");
        _cleanup_free_ char *migs = xasprintf("%s,%s", f->mig[0], f->mig[1]);
        assert_string_equal(env(b, "NVIDIA_VISIBLE_DEVICES"), migs);
        assert_string_equal(env(b, "CUDA_VISIBLE_DEVICES"), migs);
        json_decref(b);
}

static json_int_t host_int(json_t *b, const char *key)
{
        json_t *v = json_object_get(host_of(b), key);
        assert_true(json_is_integer(v));
        return json_integer_value(v);
}

static bool host_has(json_t *b, const char *key)
{
        return json_object_get(host_of(b), key) != NULL;
}

/* The owner's limits, as Docker takes them. */
static void test_limits(void **state)
{
        struct fixture *f = *state;
        struct limit_set *ls = &f->ls;
        json_t *b = spec_create_body(&f->in);
        assert_int_equal(host_int(b, "NanoCpus"), 4000000000LL);
        assert_int_equal(host_int(b, "Memory"), 8LL << 30);
        assert_int_equal(host_int(b, "MemorySwap"), -1); /* unlimited swap */
        assert_int_equal(host_int(b, "ShmSize"), 1LL << 30);
        assert_int_equal(host_int(b, "PidsLimit"), 4096);
        assert_string_equal(jstr(b, "StopSignal"), "SIGTERM");
        assert_int_equal(json_integer_value(json_object_get(b, "StopTimeout")), 77);
        json_decref(b);

        /* More CPUs than the host has: all of them. Fractions are kept. */
        ls->max_cpus = 32;
        b = spec_create_body(&f->in);
        assert_int_equal(host_int(b, "NanoCpus"), 16000000000LL);
        json_decref(b);
        ls->max_cpus = 2.5;
        b = spec_create_body(&f->in);
        assert_int_equal(host_int(b, "NanoCpus"), 2500000000LL);
        json_decref(b);
        ls->max_cpus = 32;
        f->in.host_cpus = 0; /* unknown: the limit as it is */
        b = spec_create_body(&f->in);
        assert_int_equal(host_int(b, "NanoCpus"), 32000000000LL);
        json_decref(b);

        /* Swap is never below memory (Docker refuses it); above it, as given. */
        ls->memory_swap = 2LL << 30;
        b = spec_create_body(&f->in);
        assert_int_equal(host_int(b, "MemorySwap"), 8LL << 30);
        json_decref(b);
        ls->memory_swap = 12LL << 30;
        b = spec_create_body(&f->in);
        assert_int_equal(host_int(b, "MemorySwap"), 12LL << 30);
        json_decref(b);

        /* Unlimited: no limit at all in the body (Docker's default). */
        ls->max_cpus = 0;
        ls->memory = -1;
        ls->shm_size = -1;
        ls->pids_limit = -1;
        ls->policies.sigterm_grace_s = 5;
        b = spec_create_body(&f->in);
        assert_false(host_has(b, "NanoCpus"));
        assert_false(host_has(b, "Memory"));
        assert_false(host_has(b, "MemorySwap"));
        assert_false(host_has(b, "ShmSize"));
        assert_false(host_has(b, "PidsLimit"));
        assert_int_equal(json_integer_value(json_object_get(b, "StopTimeout")), 5);
        json_decref(b);
}

/* Under the owner's cgroup (aggregate caps), and never more CPU than the owner's cap there:
 * cgroup v1 refuses a child more than its parent. */
static void test_user_cgroup(void **state)
{
        struct fixture *f = *state;
        struct limit_set *ls = &f->ls;
        json_t *b = spec_create_body(&f->in);
        assert_false(host_has(b, "CgroupParent"));
        json_decref(b);
        f->in.cgroup_parent = "/ds01/u1234";
        ls->aggregate.cpu_quota = 1.5;
        b = spec_create_body(&f->in);
        assert_string_equal(jstr(host_of(b), "CgroupParent"), "/ds01/u1234");
        assert_int_equal(host_int(b, "NanoCpus"), 1500000000LL); /* max_cpus 4 */
        json_decref(b);
        ls->aggregate.cpu_quota = 8;
        b = spec_create_body(&f->in);
        assert_int_equal(host_int(b, "NanoCpus"), 4000000000LL);
        json_decref(b);
}

/* A batch command reaches ds01-init after "--", so it cannot be taken for init's options. */
static void test_cmd(void **state)
{
        struct fixture *f = *state;
        json_t *b = spec_create_body(&f->in);
        assert_int_equal(json_array_size(json_object_get(b, "Cmd")), 0);
        json_decref(b);
        json_t *none = json_array();
        f->in.cmd = none;
        b = spec_create_body(&f->in);
        assert_int_equal(json_array_size(json_object_get(b, "Cmd")), 0);
        json_decref(b);
        json_decref(none);
        json_t *cmd = json_pack("[s, s, s]", "--help", "python", "train.py");
        f->in.cmd = cmd;
        b = spec_create_body(&f->in);
        json_t *got = json_object_get(b, "Cmd");
        json_t *want = json_pack("[s, s, s, s]", "--", "--help", "python", "train.py");
        assert_true(json_equal(got, want));
        json_decref(want);
        json_decref(b);
        json_decref(cmd);
}

/* A shared dataset is read-only at /data/NAME, named in a label for a recreation. */
static void test_datasets(void **state)
{
        struct fixture *f = *state;
        const struct dataset_mount data[] = {{"imagenet", "/srv/data/imagenet"},
                                             {"coco", "/srv/coco"}};
        f->in.data = data;
        f->in.n_data = 2;
        json_t *b = spec_create_body(&f->in);
        json_t *m = json_object_get(host_of(b), "Mounts");
        assert_int_equal(json_array_size(m), 5);
        assert_mount(json_array_get(m, 3), "/srv/data/imagenet", "/data/imagenet", true);
        assert_mount(json_array_get(m, 4), "/srv/coco", "/data/coco", true);
        assert_string_equal(jstr(json_object_get(b, "Labels"), "ds01.data"), "imagenet,coco");
        json_decref(b);
        f->in.n_data = 0;
        b = spec_create_body(&f->in);
        assert_null(json_object_get(json_object_get(b, "Labels"), "ds01.data"));
        json_decref(b);
}

/* --ssh: ~/.ssh and ~/.gitconfig, read-only, from the pin, in the owner's home; the label says
 * so for a recreation and each start. */
static void test_ssh(void **state)
{
        struct fixture *f = *state;
        f->in.ssh_pin = "/var/lib/ds01/ssh/proj._.alice";
        json_t *b = spec_create_body(&f->in);
        json_t *m = json_object_get(host_of(b), "Mounts");
        assert_int_equal(json_array_size(m), 5);
        assert_mount(json_array_get(m, 3), "/var/lib/ds01/ssh/proj._.alice/ssh", "/home/alice/.ssh",
                     true);
        assert_mount(json_array_get(m, 4), "/var/lib/ds01/ssh/proj._.alice/gitconfig",
                     "/home/alice/.gitconfig", true);
        assert_string_equal(label(b, "ds01.ssh"), "true");
        json_decref(b);
        f->in.ssh_pin = NULL;
        b = spec_create_body(&f->in);
        assert_int_equal(json_array_size(json_object_get(host_of(b), "Mounts")), 3);
        assert_null(json_object_get(json_object_get(b, "Labels"), "ds01.ssh"));
        json_decref(b);
}

/* A container made through the Docker API endpoint: the client's environment (ds01's own
 * variables are never theirs), labels (never over ds01's), terminal, working directory, --rm and
 * more mount points of the same workspace pin; its interface label; a Compose service's aliases
 * on the owner's network and its links, kept through a recreation. */
static void test_docker_extras(void **state)
{
        struct fixture *f = *state;
        json_t *j =
            json_pack("{s:s, s:[s, s], s:{s:s}, s:b, s:b, s:b, s:s, s:[s], s:s}", "interface",
                      "devcontainer", "env", "A=1", "HOME=/evil", "labels",
                      "devcontainer.local_folder", "/x", "tty", 1, "open_stdin", 1, "auto_remove",
                      1, "workdir", "/workspaces/p", "targets", "/workspaces/p", "workspace", "p");
        struct deploy_extras x;
        struct error *err = NULL;
        assert_int_equal(extras_parse(j, &x, &err), 0);
        f->in.extras = &x;
        json_t *b = spec_create_body(&f->in);
        json_t *env = json_object_get(b, "Env");
        assert_string_equal(json_string_value(json_array_get(env, 0)), "A=1");
        size_t i;
        json_t *v;
        json_array_foreach (env, i, v)
                assert_false(streq(json_string_value(v), "HOME=/evil"));
        assert_string_equal(label(b, "ds01.interface"), "devcontainer");
        assert_string_equal(label(b, "devcontainer.local_folder"), "/x");
        assert_string_equal(label(b, "ds01.workspace_project"), "p");
        assert_true(json_is_true(json_object_get(b, "Tty")));
        assert_true(json_is_true(json_object_get(b, "OpenStdin")));
        assert_string_equal(jstr(b, "WorkingDir"), "/workspaces/p");
        assert_true(json_is_true(json_object_get(host_of(b), "AutoRemove")));
        json_t *m = json_object_get(host_of(b), "Mounts");
        assert_mount(json_array_get(m, 0), f->in.pin, "/workspace", false);
        assert_mount(json_array_get(m, 2), f->in.pin, "/workspaces/p", false);
        json_decref(b);
        extras_release(&x);
        f->in.extras = NULL;
        json_decref(j);

        /* A Compose service: its aliases on the owner's network, its links */
        j = json_pack("{s:s, s:[s, s, s], s:[s]}", "interface", "compose", "aliases", "web", "db",
                      "web", "links", "shop_web_1._.alice:cache");
        assert_int_equal(extras_parse(j, &x, &err), 0);
        f->in.extras = &x;
        b = spec_create_body(&f->in);
        json_t *aliases =
            json_object_get(json_object_get(json_object_get(json_object_get(b, "NetworkingConfig"),
                                                            "EndpointsConfig"),
                                            jstr(host_of(b), "NetworkMode")),
                            "Aliases");
        json_t *want = json_pack("[s, s]", "web", "db");
        assert_true(json_equal(aliases, want)); /* once each */
        json_decref(want);
        want = json_pack("[s]", "shop_web_1._.alice:cache");
        assert_true(json_equal(json_object_get(host_of(b), "Links"), want));
        json_decref(want);
        json_decref(b);
        extras_release(&x);
        f->in.extras = NULL;
        json_decref(j);
        /* ... read back from Docker's inspect for a recreation: not the old short id */
        json_t *ins = json_pack("{s:s, s:{s:{s:s}}, s:{s:s, s:[s]}, s:{s:{s:{s:[s, s, s]}}}}", "Id",
                                "0123456789abcdef", "Config", "Labels", "ds01.interface", "compose",
                                "HostConfig", "NetworkMode", "ds01-u1500", "Links",
                                "/shop_web_1._.alice:/shop_run._.alice/cache", "NetworkSettings",
                                "Networks", "ds01-u1500", "Aliases", "web", "0123456789ab", "db");
        assert_true(extras_of_inspect(ins, &x));
        want = json_pack("[s, s]", "web", "db");
        assert_true(json_equal(x.aliases, want));
        json_decref(want);
        want = json_pack("[s]", "shop_web_1._.alice:cache");
        assert_true(json_equal(x.links, want));
        json_decref(want);
        extras_release(&x);
        json_decref(ins);

        /* What no client may have */
        static const char *const bad[] = {"{\"labels\": {\"ds01.user\": \"x\"}}",
                                          "{\"targets\": [\"/\"]}",
                                          "{\"targets\": [\"/etc/passwd\"]}",
                                          "{\"targets\": [\"/a/../workspace\"]}",
                                          "{\"interface\": \"orchestration\"}",
                                          "{\"workdir\": \"rel\"}",
                                          "{\"workspace\": \"../x\"}",
                                          "{\"unknown\": 1}",
                                          "{\"aliases\": [\"-x\"]}",
                                          "{\"aliases\": [\"a b\"]}",
                                          "{\"aliases\": \"web\"}",
                                          "{\"links\": [\"web:db\"]}",
                                          "{\"links\": [\"web._.alice\"]}",
                                          "{\"links\": [\"web._.alice:a b\"]}",
                                          "{\"links\": [\"../x._.alice:db\"]}"};
        for (size_t k = 0; k < ARRAY_SIZE(bad); k++) {
                json_t *bj = json_loads(bad[k], 0, NULL);
                assert_non_null(bj);
                assert_int_equal(extras_parse(bj, &x, &err), -1);
                err = error_free(err);
                json_decref(bj);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_confinement, setup, teardown),
            cmocka_unit_test_setup_teardown(test_labels, setup, teardown),
            cmocka_unit_test_setup_teardown(test_no_gpus, setup, teardown),
            cmocka_unit_test_setup_teardown(test_gpus, setup, teardown),
            cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
            cmocka_unit_test_setup_teardown(test_user_cgroup, setup, teardown),
            cmocka_unit_test_setup_teardown(test_cmd, setup, teardown),
            cmocka_unit_test_setup_teardown(test_datasets, setup, teardown),
            cmocka_unit_test_setup_teardown(test_ssh, setup, teardown),
            cmocka_unit_test_setup_teardown(test_docker_extras, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
