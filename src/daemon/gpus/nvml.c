/* nvml.c - the GPU inventory from the NVIDIA driver, through libnvidia-ml loaded with dlopen.
 *
 * No package ships nvml.h, so the few types and calls used are declared here, matching the
 * driver's ABI exactly (the layouts below are those of nvml.h from CUDA 11 to 12.x). Required
 * symbols are the ones every driver since R450 exports; the rest are optional and looked up one
 * by one, so an old driver still gives an inventory, only with less topology.
 *
 * struct nvml is immutable after nvml_open (NVML itself is thread-safe), and no device handle is
 * kept between calls: MIG devices come and go when an admin reconfigures a GPU, so every call
 * walks the handles again and matches on UUID. */
#include "daemon/gpus/nvml.h"

#include <assert.h>
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

/* ---- the part of nvml.h that ds01 uses ---- */

typedef int nvml_return_t;
typedef struct nvml_device_st *nvml_device_t;

#define NVML_SUCCESS                           0
#define NVML_ERROR_NOT_SUPPORTED               3
#define NVML_ERROR_NOT_FOUND                   6
#define NVML_ERROR_INSUFFICIENT_SIZE           7
#define NVML_DEVICE_MIG_ENABLE                 1
#define NVML_FEATURE_ENABLED                   1
#define NVML_AFFINITY_SCOPE_NODE               0
#define NVML_DEVICE_UUID_V2_BUFFER_SIZE        96
#define NVML_DEVICE_NAME_V2_BUFFER_SIZE        96
#define NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE 80
#define NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE     32
#define NVML_DEVICE_PCI_BUS_ID_BUFFER_V2_SIZE  16
#define NVML_NVLINK_MAX_LINKS                  18

struct nvml_memory { /* nvmlMemory_t (v1) */
        unsigned long long total;
        unsigned long long free;
        unsigned long long used;
};

struct nvml_utilization { /* nvmlUtilization_t */
        unsigned int gpu;
        unsigned int memory;
};

struct nvml_process_info { /* nvmlProcessInfo_v2_t, the layout _v2 and _v3 take (but see below) */
        unsigned int pid;
        unsigned long long used_gpu_memory;
        unsigned int gpu_instance_id;
        unsigned int compute_instance_id;
};

struct nvml_pci_info { /* nvmlPciInfo_t */
        char bus_id_legacy[NVML_DEVICE_PCI_BUS_ID_BUFFER_V2_SIZE];
        unsigned int domain;
        unsigned int bus;
        unsigned int device;
        unsigned int pci_device_id;
        unsigned int pci_sub_system_id;
        char bus_id[NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE];
};

struct nvml_device_attributes { /* nvmlDeviceAttributes_t (the _v2 call) */
        unsigned int multiprocessor_count;
        unsigned int shared_copy_engine_count;
        unsigned int shared_decoder_count;
        unsigned int shared_encoder_count;
        unsigned int shared_jpeg_count;
        unsigned int shared_ofa_count;
        unsigned int gpu_instance_slice_count;
        unsigned int compute_instance_slice_count;
        unsigned long long memory_size_mb;
};

_Static_assert(sizeof(struct nvml_process_info) == 24, "nvmlProcessInfo_v2_t is 24 bytes");
_Static_assert(sizeof(struct nvml_pci_info) == 68, "nvmlPciInfo_t is 68 bytes");
_Static_assert(sizeof(struct nvml_device_attributes) == 40, "nvmlDeviceAttributes_t is 40 bytes");

typedef nvml_return_t (*nvml_void_fn)(void);
typedef const char *(*nvml_error_string_fn)(nvml_return_t);
typedef nvml_return_t (*nvml_string_fn)(char *, unsigned int);
typedef nvml_return_t (*nvml_count_fn)(unsigned int *);
typedef nvml_return_t (*nvml_handle_by_index_fn)(unsigned int, nvml_device_t *);
typedef nvml_return_t (*nvml_dev_string_fn)(nvml_device_t, char *, unsigned int);
typedef nvml_return_t (*nvml_dev_memory_fn)(nvml_device_t, struct nvml_memory *);
typedef nvml_return_t (*nvml_dev_uint_fn)(nvml_device_t, unsigned int *);
typedef nvml_return_t (*nvml_dev_pci_fn)(nvml_device_t, struct nvml_pci_info *);
typedef nvml_return_t (*nvml_dev_mig_mode_fn)(nvml_device_t, unsigned int *, unsigned int *);
typedef nvml_return_t (*nvml_dev_mig_handle_fn)(nvml_device_t, unsigned int, nvml_device_t *);
typedef nvml_return_t (*nvml_dev_attributes_fn)(nvml_device_t, struct nvml_device_attributes *);
typedef nvml_return_t (*nvml_dev_utilization_fn)(nvml_device_t, struct nvml_utilization *);
typedef nvml_return_t (*nvml_dev_processes_fn)(nvml_device_t, unsigned int *, void *);
typedef nvml_return_t (*nvml_dev_affinity_fn)(nvml_device_t, unsigned int, unsigned long *,
                                              unsigned int);
typedef nvml_return_t (*nvml_dev_link_state_fn)(nvml_device_t, unsigned int, unsigned int *);
typedef nvml_return_t (*nvml_dev_link_pci_fn)(nvml_device_t, unsigned int, struct nvml_pci_info *);

struct nvml {
        void *dl;
        char *library;
        char driver_version[NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE];

        /* required */
        nvml_void_fn init;
        nvml_void_fn shutdown;
        nvml_error_string_fn error_string;
        nvml_count_fn device_count;
        nvml_handle_by_index_fn handle_by_index;
        nvml_dev_string_fn uuid;
        nvml_dev_string_fn name;
        nvml_dev_memory_fn memory_info;

        /* optional: NULL when this driver lacks them */
        nvml_string_fn driver_version_fn;
        nvml_dev_uint_fn minor_number;
        nvml_dev_pci_fn pci_info;
        nvml_dev_mig_mode_fn mig_mode;
        nvml_dev_uint_fn max_mig_count;
        nvml_dev_mig_handle_fn mig_handle;
        nvml_dev_attributes_fn attributes;
        nvml_dev_utilization_fn utilization;
        nvml_dev_processes_fn processes;
        bool processes_v3;
        nvml_dev_affinity_fn memory_affinity;
        nvml_dev_uint_fn numa_node;
        nvml_dev_link_state_fn link_state;
        nvml_dev_link_pci_fn link_remote_pci;
};

static const char *nvml_strerror(const struct nvml *n, nvml_return_t r)
{
        const char *s = n->error_string ? n->error_string(r) : NULL;
        return s ? s : "unknown NVML error";
}

static int nvml_fail(const struct nvml *n, struct error **err, nvml_return_t r, const char *call,
                     const char *object)
{
        error_set(err, DS01_ERR, "%s: %s failed: %s (NVML error %d)", object, call,
                  nvml_strerror(n, r), r);
        return -EIO;
}

struct nvml *nvml_close(struct nvml *n)
{
        if (!n)
                return NULL;
        if (n->shutdown)
                n->shutdown();
        if (n->dl)
                dlclose(n->dl);
        free(n->library);
        free(n);
        return NULL;
}

#define LOAD(n, field, symbol) ((n)->field = (__typeof__((n)->field))dlsym((n)->dl, symbol))

struct nvml *nvml_open(const char *library, struct error **err)
{
        struct nvml *n = xzalloc(sizeof(*n));
        n->library = xstrdup(library);

        n->dl = dlopen(library, RTLD_NOW | RTLD_LOCAL);
        if (!n->dl) {
                const char *why = dlerror();
                error_set(err, DS01_ERR,
                          "cannot load %s: %s - install the NVIDIA driver, or set gpus.backend: "
                          "simulated",
                          library, why ? why : "unknown dlopen error");
                return nvml_close(n);
        }

        const char *missing = NULL;
        nvml_void_fn shutdown_fn;
#define REQUIRE(field, symbol)                                                                     \
        do {                                                                                       \
                if (!LOAD(n, field, symbol) && !missing)                                           \
                        missing = symbol;                                                          \
        } while (0)
        REQUIRE(init, "nvmlInit_v2");
        REQUIRE(error_string, "nvmlErrorString");
        REQUIRE(device_count, "nvmlDeviceGetCount_v2");
        REQUIRE(handle_by_index, "nvmlDeviceGetHandleByIndex_v2");
        REQUIRE(uuid, "nvmlDeviceGetUUID");
        REQUIRE(name, "nvmlDeviceGetName");
        REQUIRE(memory_info, "nvmlDeviceGetMemoryInfo");
#undef REQUIRE
        shutdown_fn = (nvml_void_fn)dlsym(n->dl, "nvmlShutdown");
        if (!shutdown_fn && !missing)
                missing = "nvmlShutdown";
        if (missing) {
                error_set(err, DS01_ERR,
                          "cannot use %s: it has no %s (not NVML, or a driver too old) - update "
                          "the NVIDIA driver, or set gpus.backend: simulated",
                          library, missing);
                return nvml_close(n);
        }

        nvml_return_t r = n->init();
        if (r != NVML_SUCCESS) {
                error_set(err, DS01_ERR,
                          "cannot initialise NVML from %s: %s (NVML error %d) - check that the "
                          "NVIDIA kernel driver is loaded (nvidia-smi), or set gpus.backend: "
                          "simulated",
                          library, nvml_strerror(n, r), r);
                return nvml_close(n);
        }
        /* Only now: nvml_close calls nvmlShutdown exactly when nvmlInit succeeded. */
        n->shutdown = shutdown_fn;

        LOAD(n, driver_version_fn, "nvmlSystemGetDriverVersion");
        LOAD(n, minor_number, "nvmlDeviceGetMinorNumber");
        LOAD(n, pci_info, "nvmlDeviceGetPciInfo_v3");
        LOAD(n, mig_mode, "nvmlDeviceGetMigMode");
        LOAD(n, max_mig_count, "nvmlDeviceGetMaxMigDeviceCount");
        LOAD(n, mig_handle, "nvmlDeviceGetMigDeviceHandleByIndex");
        LOAD(n, attributes, "nvmlDeviceGetAttributes_v2");
        LOAD(n, utilization, "nvmlDeviceGetUtilizationRates");
        n->processes_v3 = LOAD(n, processes, "nvmlDeviceGetComputeRunningProcesses_v3") != NULL;
        if (!n->processes)
                LOAD(n, processes, "nvmlDeviceGetComputeRunningProcesses_v2");
        LOAD(n, memory_affinity, "nvmlDeviceGetMemoryAffinity");
        LOAD(n, numa_node, "nvmlDeviceGetNumaNodeId");
        LOAD(n, link_state, "nvmlDeviceGetNvLinkState");
        LOAD(n, link_remote_pci, "nvmlDeviceGetNvLinkRemotePciInfo_v2");

        if (n->driver_version_fn &&
            n->driver_version_fn(n->driver_version, sizeof(n->driver_version)) != NVML_SUCCESS)
                n->driver_version[0] = '\0';
        n->driver_version[sizeof(n->driver_version) - 1] = '\0';
        return n;
}

const char *nvml_driver_version(const struct nvml *n)
{
        return n->driver_version;
}

/* ---- small helpers ---- */

/* "00000000:07:00.0" or the legacy "0000:07:00.0" -> one comparable number; 0 if malformed. */
static uint64_t pci_key(const char *bus_id)
{
        unsigned domain, bus, device, function;
        if (sscanf(bus_id, "%x:%x:%x.%x", &domain, &bus, &device, &function) != 4)
                return 0;
        return (uint64_t)domain << 32 | (uint64_t)(bus & 0xff) << 16 |
               (uint64_t)(device & 0x1f) << 8 | (function & 0x7) | (uint64_t)1 << 31;
}

static uint64_t pci_info_key(const struct nvml_pci_info *p)
{
        char bus_id[sizeof(p->bus_id) + 1];
        memcpy(bus_id, p->bus_id, sizeof(p->bus_id));
        bus_id[sizeof(p->bus_id)] = '\0';
        uint64_t k = pci_key(bus_id);
        if (k)
                return k;
        return (uint64_t)p->domain << 32 | (uint64_t)(p->bus & 0xff) << 16 |
               (uint64_t)(p->device & 0x1f) << 8 | (uint64_t)1 << 31;
}

static int get_uuid(struct nvml *n, nvml_device_t d,
                    char buf[static NVML_DEVICE_UUID_V2_BUFFER_SIZE])
{
        nvml_return_t r = n->uuid(d, buf, NVML_DEVICE_UUID_V2_BUFFER_SIZE);
        buf[NVML_DEVICE_UUID_V2_BUFFER_SIZE - 1] = '\0';
        return r;
}

static bool mig_enabled(struct nvml *n, nvml_device_t d)
{
        unsigned current = 0, pending = 0;
        return n->mig_mode && n->mig_handle && n->mig_mode(d, &current, &pending) == NVML_SUCCESS &&
               current == NVML_DEVICE_MIG_ENABLE;
}

/* How many MIG slots a GPU has (7 on A100/H100, 4 on A30); 0 if unknown. */
static unsigned max_mig_count(struct nvml *n, nvml_device_t d)
{
        unsigned count = 0;
        if (!n->max_mig_count || n->max_mig_count(d, &count) != NVML_SUCCESS)
                return 0;
        return count;
}

/* The NUMA node a GPU is attached to, -1 if unknown. The memory affinity (closest node) comes
 * first: nvmlDeviceGetNumaNodeId answers only where GPU memory is itself a node (Grace Hopper),
 * and there it names the GPU's own node rather than the CPUs it sits next to. */
static int numa_node_of(struct nvml *n, nvml_device_t d)
{
        if (n->memory_affinity) {
                unsigned long set[4] = {0};
                if (n->memory_affinity(d, ARRAY_SIZE(set), set, NVML_AFFINITY_SCOPE_NODE) ==
                    NVML_SUCCESS) {
                        int node = -1, count = 0;
                        for (size_t w = 0; w < ARRAY_SIZE(set); w++)
                                for (size_t b = 0; b < 8 * sizeof(set[0]); b++)
                                        if (set[w] & (1UL << b)) {
                                                if (count++ == 0)
                                                        node = (int)(w * 8 * sizeof(set[0]) + b);
                                        }
                        if (count == 1)
                                return node;
                }
        }
        unsigned node;
        if (n->numa_node && n->numa_node(d, &node) == NVML_SUCCESS && node < 4096)
                return (int)node;
        return -1;
}

/* "NVIDIA A100-SXM4-40GB MIG 3g.20gb" -> "3g.20gb"; NULL if the name has no profile. */
static char *profile_from_name(const char *name)
{
        const char *p = NULL;
        for (const char *s = strstr(name, "MIG "); s; s = strstr(s + 1, "MIG "))
                p = s + 4;
        if (!p || p[0] < '1' || p[0] > '9')
                return NULL;
        size_t len = strcspn(p, " \t");
        return len ? xstrndup(p, len) : NULL;
}

static void slots_append(struct gpu_slot **v, size_t *n, size_t *cap, const struct gpu_slot *s)
{
        if (*n == *cap) {
                *cap = *cap ? 2 * *cap : 8;
                *v = xrealloc(*v, *cap * sizeof(**v));
        }
        (*v)[(*n)++] = *s;
}

/* ---- NVLink groups: union-find over GPUs and the remote ends of their links ---- */

struct link_graph {
        uint64_t *keys; /* PCI key per node: GPUs first (0..n_gpus-1), then NVSwitches etc. */
        size_t *parent;
        size_t n, cap;
};

static size_t graph_node(struct link_graph *g, uint64_t key)
{
        for (size_t i = 0; i < g->n; i++)
                if (g->keys[i] == key)
                        return i;
        if (g->n == g->cap) {
                g->cap = g->cap ? 2 * g->cap : 16;
                g->keys = xrealloc(g->keys, g->cap * sizeof(*g->keys));
                g->parent = xrealloc(g->parent, g->cap * sizeof(*g->parent));
        }
        g->keys[g->n] = key;
        g->parent[g->n] = g->n;
        return g->n++;
}

static size_t graph_find(struct link_graph *g, size_t i)
{
        while (g->parent[i] != i) {
                g->parent[i] = g->parent[g->parent[i]];
                i = g->parent[i];
        }
        return i;
}

/* Roots are always the smallest index, so a group's root is its smallest GPU index. */
static void graph_union(struct link_graph *g, size_t a, size_t b)
{
        a = graph_find(g, a);
        b = graph_find(g, b);
        if (a < b)
                g->parent[b] = a;
        else if (b < a)
                g->parent[a] = b;
}

/* Fills link_group (per physical GPU) from NVLink: GPUs whose active links reach each other, or
 * reach the same NVSwitch, share the smallest index among them; a GPU with NVLink but no active
 * link is a group of its own; -1 where the driver cannot say. pci[i] == 0: bus id unknown. */
static void link_groups(struct nvml *n, const uint64_t *pci, size_t n_gpus, int *ret_group)
{
        for (size_t i = 0; i < n_gpus; i++)
                ret_group[i] = -1;
        if (!n->link_state || !n->link_remote_pci)
                return;

        struct link_graph g = {0};
        bool *has_nvlink = xcalloc(n_gpus ? n_gpus : 1, sizeof(*has_nvlink));
        for (size_t i = 0; i < n_gpus; i++) /* distinct keys, so GPU i is node i */
                graph_node(&g, pci[i] ? pci[i] : (uint64_t)i + 1);

        for (size_t i = 0; i < n_gpus; i++) {
                nvml_device_t d;
                if (!pci[i] || n->handle_by_index((unsigned)i, &d) != NVML_SUCCESS)
                        continue;
                for (unsigned link = 0; link < NVML_NVLINK_MAX_LINKS; link++) {
                        unsigned active = 0;
                        nvml_return_t r = n->link_state(d, link, &active);
                        if (r != NVML_SUCCESS)
                                continue; /* not supported, or past this GPU's last link */
                        has_nvlink[i] = true;
                        struct nvml_pci_info remote;
                        memset(&remote, 0, sizeof(remote));
                        if (active != NVML_FEATURE_ENABLED ||
                            n->link_remote_pci(d, link, &remote) != NVML_SUCCESS)
                                continue;
                        uint64_t key = pci_info_key(&remote);
                        if (key)
                                graph_union(&g, i, graph_node(&g, key));
                }
        }
        for (size_t i = 0; i < n_gpus; i++)
                if (has_nvlink[i])
                        ret_group[i] = (int)graph_find(&g, i);
        free(has_nvlink);
        free(g.keys);
        free(g.parent);
}

/* ---- scan ---- */

static int scan_mig(struct nvml *n, nvml_device_t parent, const struct gpu_slot *p,
                    struct gpu_slot **v, size_t *count, size_t *cap, struct error **err)
{
        unsigned max = max_mig_count(n, parent);
        unsigned slices_total = max ? max : 7;
        if (max == 0)
                max = 7;
        for (unsigned m = 0; m < max; m++) {
                nvml_device_t d;
                nvml_return_t r = n->mig_handle(parent, m, &d);
                if (r != NVML_SUCCESS)
                        continue; /* NOT_FOUND: no instance at this index (indexes are sparse) */

                char uuid[NVML_DEVICE_UUID_V2_BUFFER_SIZE];
                r = get_uuid(n, d, uuid);
                if (r != NVML_SUCCESS) {
                        _cleanup_free_ char *what = xasprintf("GPU %s MIG device %u", p->uuid, m);
                        return nvml_fail(n, err, r, "nvmlDeviceGetUUID", what);
                }
                char name[NVML_DEVICE_NAME_V2_BUFFER_SIZE] = "";
                if (n->name(d, name, sizeof(name)) != NVML_SUCCESS)
                        name[0] = '\0';
                name[sizeof(name) - 1] = '\0';

                struct nvml_device_attributes attr;
                memset(&attr, 0, sizeof(attr));
                bool have_attr = n->attributes && n->attributes(d, &attr) == NVML_SUCCESS;

                char *profile = profile_from_name(name);
                if (!profile && have_attr && attr.gpu_instance_slice_count > 0)
                        profile = xasprintf("%ug.%llugb", attr.gpu_instance_slice_count,
                                            (attr.memory_size_mb + 512) / 1024);

                unsigned slices = have_attr ? attr.gpu_instance_slice_count : 0;
                if (slices == 0 && profile && profile[0] >= '1' && profile[0] <= '9')
                        slices = (unsigned)(profile[0] - '0');
                if (slices == 0)
                        slices = 1; /* unknown: the smallest instance */

                struct nvml_memory mem;
                int64_t memory_mib = 0;
                if (n->memory_info(d, &mem) == NVML_SUCCESS)
                        memory_mib = (int64_t)(mem.total / (1024 * 1024));
                else if (have_attr)
                        memory_mib = (int64_t)attr.memory_size_mb;

                struct gpu_slot s = {
                    .uuid = xstrdup(uuid),
                    .parent_uuid = xstrdup(p->uuid),
                    .name = name[0] && strstr(name, "MIG ")
                                ? xstrdup(name)
                                : xasprintf("%s MIG %s", p->name, profile ? profile : "unknown"),
                    .profile = profile,
                    .gpu_index = p->gpu_index,
                    .memory_mib = memory_mib,
                    /* Slices of this GPU's MIG slots: 7 on A100/H100, so 3g -> 3/7. */
                    .weight = (double)slices / slices_total,
                    .allocatable = true,
                    .numa_node = p->numa_node,
                    .link_group = p->link_group,
                    .minor = p->minor,
                    .pci_bus_id = p->pci_bus_id ? xstrdup(p->pci_bus_id) : NULL,
                };
                if (s.weight > 1.0)
                        s.weight = 1.0;
                slots_append(v, count, cap, &s);
        }
        return 0;
}

int nvml_scan(struct nvml *n, struct gpu_slot **ret, size_t *ret_n, struct error **err)
{
        unsigned n_gpus = 0;
        nvml_return_t r = n->device_count(&n_gpus);
        if (r != NVML_SUCCESS)
                return nvml_fail(n, err, r, "nvmlDeviceGetCount", n->library);
        if (n_gpus > 1024) {
                error_set(err, DS01_ERR, "%s: implausible GPU count %u", n->library, n_gpus);
                return -EIO;
        }

        struct gpu_slot *v = NULL;
        size_t count = 0, cap = 0;
        uint64_t *pci = xcalloc(n_gpus + 1, sizeof(*pci));
        int *group = xcalloc(n_gpus + 1, sizeof(*group));
        bool *mig = xcalloc(n_gpus + 1, sizeof(*mig));
        int ret_code = 0;

        /* Pass 1: physical GPUs. */
        for (unsigned i = 0; i < n_gpus; i++) {
                _cleanup_free_ char *what = xasprintf("GPU %u", i);
                nvml_device_t d;
                r = n->handle_by_index(i, &d);
                if (r != NVML_SUCCESS) {
                        ret_code = nvml_fail(n, err, r, "nvmlDeviceGetHandleByIndex", what);
                        goto fail;
                }
                char uuid[NVML_DEVICE_UUID_V2_BUFFER_SIZE];
                r = get_uuid(n, d, uuid);
                if (r != NVML_SUCCESS) {
                        ret_code = nvml_fail(n, err, r, "nvmlDeviceGetUUID", what);
                        goto fail;
                }
                char name[NVML_DEVICE_NAME_V2_BUFFER_SIZE];
                r = n->name(d, name, sizeof(name));
                if (r != NVML_SUCCESS) {
                        ret_code = nvml_fail(n, err, r, "nvmlDeviceGetName", uuid);
                        goto fail;
                }
                name[sizeof(name) - 1] = '\0';
                struct nvml_memory mem;
                r = n->memory_info(d, &mem);
                if (r != NVML_SUCCESS) {
                        ret_code = nvml_fail(n, err, r, "nvmlDeviceGetMemoryInfo", uuid);
                        goto fail;
                }

                /* gpu_slot.minor has no "unknown": the index is /dev/nvidia<index> on
                 * nearly every machine, and drivers without the call are very old. */
                unsigned minor = i;
                if (n->minor_number && n->minor_number(d, &minor) != NVML_SUCCESS)
                        minor = i;
                struct nvml_pci_info p;
                memset(&p, 0, sizeof(p));
                bool have_pci = n->pci_info && n->pci_info(d, &p) == NVML_SUCCESS;
                p.bus_id[sizeof(p.bus_id) - 1] = '\0';
                pci[i] = have_pci ? pci_info_key(&p) : 0;
                mig[i] = mig_enabled(n, d);

                struct gpu_slot s = {
                    .uuid = xstrdup(uuid),
                    .name = xstrdup(name),
                    .gpu_index = (int)i,
                    .memory_mib = (int64_t)(mem.total / (1024 * 1024)),
                    .weight = 1.0,
                    .allocatable = !mig[i],
                    .numa_node = numa_node_of(n, d),
                    .link_group = -1,
                    .minor = minor,
                    .pci_bus_id = have_pci && p.bus_id[0] ? xstrdup(p.bus_id) : NULL,
                };
                slots_append(&v, &count, &cap, &s);
        }

        /* Pass 2: NVLink groups need every GPU's bus id. */
        link_groups(n, pci, n_gpus, group);
        for (unsigned i = 0; i < n_gpus; i++)
                v[i].link_group = group[i]; /* GPU i is slot i until the reordering */

        /* Pass 3: MIG devices, appended after the GPUs for now. */
        for (unsigned i = 0; i < n_gpus; i++) {
                if (!mig[i])
                        continue;
                nvml_device_t d;
                r = n->handle_by_index(i, &d);
                if (r != NVML_SUCCESS) {
                        _cleanup_free_ char *what = xasprintf("GPU %u", i);
                        ret_code = nvml_fail(n, err, r, "nvmlDeviceGetHandleByIndex", what);
                        goto fail;
                }
                /* scan_mig may move v: pass a copy of the parent's fields. */
                struct gpu_slot parent = v[i];
                ret_code = scan_mig(n, d, &parent, &v, &count, &cap, err);
                if (ret_code < 0)
                        goto fail;
        }

        /* Each GPU followed by its MIG devices, so the order is stable across scans. */
        struct gpu_slot *out = xcalloc(count + 1, sizeof(*out));
        size_t out_n = 0;
        for (unsigned i = 0; i < n_gpus; i++) {
                out[out_n++] = v[i];
                for (size_t k = n_gpus; k < count; k++)
                        if (v[k].gpu_index == (int)i)
                                out[out_n++] = v[k];
        }
        assert(out_n == count);
        free(v);
        free(pci);
        free(group);
        free(mig);
        *ret = out;
        *ret_n = out_n;
        return 0;

fail:
        gpu_slots_free(v, count);
        free(pci);
        free(group);
        free(mig);
        return ret_code;
}

/* ---- per-device queries ---- */

/* The device with this UUID, looked up afresh (MIG devices change with reconfiguration). */
static int find_device(struct nvml *n, const char *uuid, nvml_device_t *ret, bool *ret_mig,
                       struct error **err)
{
        unsigned n_gpus = 0;
        nvml_return_t r = n->device_count(&n_gpus);
        if (r != NVML_SUCCESS)
                return nvml_fail(n, err, r, "nvmlDeviceGetCount", n->library);
        bool want_mig = startswith(uuid, "MIG-");
        for (unsigned i = 0; i < n_gpus; i++) {
                nvml_device_t d;
                char buf[NVML_DEVICE_UUID_V2_BUFFER_SIZE];
                if (n->handle_by_index(i, &d) != NVML_SUCCESS)
                        continue;
                if (!want_mig) {
                        if (get_uuid(n, d, buf) == NVML_SUCCESS && streq(buf, uuid)) {
                                *ret = d;
                                *ret_mig = false;
                                return 0;
                        }
                        continue;
                }
                if (!mig_enabled(n, d))
                        continue;
                unsigned max = max_mig_count(n, d);
                for (unsigned m = 0; m < (max ? max : 7); m++) {
                        nvml_device_t md;
                        if (n->mig_handle(d, m, &md) == NVML_SUCCESS &&
                            get_uuid(n, md, buf) == NVML_SUCCESS && streq(buf, uuid)) {
                                *ret = md;
                                *ret_mig = true;
                                return 0;
                        }
                }
        }
        error_set(err, DS01_ENOTFOUND,
                  "no GPU or MIG device %s on this machine (removed, or MIG reconfigured?)", uuid);
        return -ENOENT;
}

static int utilization_of(struct nvml *n, nvml_device_t d, bool is_mig, const char *uuid,
                          unsigned *ret_gpu_pct, unsigned *ret_mem_pct, struct error **err)
{
        if (is_mig) {
                error_set(err, DS01_ERR,
                          "%s: per-instance utilisation is not available for MIG devices", uuid);
                return -ENOTSUP;
        }
        if (!n->utilization) {
                error_set(err, DS01_ERR, "%s: this driver has no nvmlDeviceGetUtilizationRates",
                          uuid);
                return -ENOTSUP;
        }
        struct nvml_utilization u;
        nvml_return_t r = n->utilization(d, &u);
        if (r == NVML_ERROR_NOT_SUPPORTED) {
                error_set(err, DS01_ERR, "%s: utilisation is not available for this GPU", uuid);
                return -ENOTSUP;
        }
        if (r != NVML_SUCCESS)
                return nvml_fail(n, err, r, "nvmlDeviceGetUtilizationRates", uuid);
        *ret_gpu_pct = u.gpu > 100 ? 100 : u.gpu;
        *ret_mem_pct = u.memory > 100 ? 100 : u.memory;
        return 0;
}

static int memory_of(struct nvml *n, nvml_device_t d, const char *uuid, uint64_t *ret_used,
                     uint64_t *ret_total, struct error **err)
{
        struct nvml_memory mem;
        nvml_return_t r = n->memory_info(d, &mem);
        if (r != NVML_SUCCESS)
                return nvml_fail(n, err, r, "nvmlDeviceGetMemoryInfo", uuid);
        *ret_used = mem.used;
        *ret_total = mem.total;
        return 0;
}

int nvml_utilization(struct nvml *n, const char *uuid, unsigned *ret_gpu_pct, unsigned *ret_mem_pct,
                     struct error **err)
{
        nvml_device_t d;
        bool is_mig;
        int k = find_device(n, uuid, &d, &is_mig, err);
        if (k < 0)
                return k;
        return utilization_of(n, d, is_mig, uuid, ret_gpu_pct, ret_mem_pct, err);
}

int nvml_memory(struct nvml *n, const char *uuid, uint64_t *ret_used, uint64_t *ret_total,
                struct error **err)
{
        nvml_device_t d;
        bool is_mig;
        int k = find_device(n, uuid, &d, &is_mig, err);
        if (k < 0)
                return k;
        return memory_of(n, d, uuid, ret_used, ret_total, err);
}

int nvml_sample(struct nvml *n, const char *uuid, struct nvml_sample *ret, struct error **err)
{
        *ret = (struct nvml_sample){.util_pct = -1, .mem_used = -1, .mem_total = -1};
        nvml_device_t d;
        bool is_mig;
        int k = find_device(n, uuid, &d, &is_mig, err);
        if (k < 0)
                return k;
        unsigned gpu, mem;
        if (utilization_of(n, d, is_mig, uuid, &gpu, &mem, NULL) == 0)
                ret->util_pct = gpu;
        uint64_t used, total;
        if (memory_of(n, d, uuid, &used, &total, NULL) == 0) {
                ret->mem_used = (int64_t)used;
                ret->mem_total = (int64_t)total;
        }
        return 0;
}

/* Bytes per entry that nvmlDeviceGetComputeRunningProcesses_v3 wrote. R535 (CUDA 12.2) drivers
 * write a 32-byte nvmlProcessInfo_t (usedGpuCcProtectedMemory appended) through the same symbol
 * that every other driver fills with the 24-byte v2 layout. The buffer was filled with 0xff and
 * sized for 32-byte entries: with the 24-byte layout the last 8 bytes of the 32-byte area stay
 * untouched; with 32 bytes they hold the last entry's protected-memory count, which is never
 * all-ones on Linux. */
#define PROCESS_INFO_MAX_STRIDE 32

static size_t process_stride(const unsigned char *buf, unsigned got)
{
        if (got == 0)
                return sizeof(struct nvml_process_info);
        const unsigned char *tail = buf + (size_t)got * PROCESS_INFO_MAX_STRIDE - 8;
        for (size_t i = 0; i < 8; i++)
                if (tail[i] != 0xff)
                        return PROCESS_INFO_MAX_STRIDE;
        return sizeof(struct nvml_process_info);
}

#define MAX_PROCESSES 4096

int nvml_processes(struct nvml *n, const char *uuid, pid_t **ret, size_t *ret_n, struct error **err)
{
        nvml_device_t d;
        bool is_mig;
        int k = find_device(n, uuid, &d, &is_mig, err);
        if (k < 0)
                return k;
        if (!n->processes) {
                error_set(err, DS01_ERR, "%s: this driver cannot list compute processes", uuid);
                return -ENOTSUP;
        }

        unsigned want = 0;
        nvml_return_t r = n->processes(d, &want, NULL);
        for (int attempt = 0; r == NVML_ERROR_INSUFFICIENT_SIZE && attempt < 5; attempt++) {
                if (want > MAX_PROCESSES) {
                        error_set(err, DS01_ERR, "%s: implausible process count %u", uuid, want);
                        return -EIO;
                }
                unsigned got = want + 8; /* room for processes started since */
                size_t size = (size_t)got * PROCESS_INFO_MAX_STRIDE;
                _cleanup_free_ unsigned char *buf = xmalloc(size);
                memset(buf, 0xff, size);
                r = n->processes(d, &got, buf);
                if (r == NVML_ERROR_INSUFFICIENT_SIZE) {
                        want = got;
                        continue;
                }
                if (r != NVML_SUCCESS)
                        break;
                if (got > want + 8)
                        got = want + 8;
                size_t stride =
                    n->processes_v3 ? process_stride(buf, got) : sizeof(struct nvml_process_info);
                pid_t *pids = xcalloc(got + 1, sizeof(*pids));
                size_t n_pids = 0;
                for (unsigned i = 0; i < got; i++) {
                        struct nvml_process_info info;
                        memcpy(&info, buf + i * stride, sizeof(info));
                        if (info.pid > 0 && info.pid <= INT32_MAX)
                                pids[n_pids++] = (pid_t)info.pid;
                }
                *ret = pids;
                *ret_n = n_pids;
                return 0;
        }
        if (r == NVML_SUCCESS) { /* none running */
                *ret = xcalloc(1, sizeof(pid_t));
                *ret_n = 0;
                return 0;
        }
        if (r == NVML_ERROR_NOT_SUPPORTED) {
                error_set(err, DS01_ERR, "%s: process listing is not supported for this device",
                          uuid);
                return -ENOTSUP;
        }
        return nvml_fail(n, err, r, "nvmlDeviceGetComputeRunningProcesses", uuid);
}
