/* fake-nvml.c - a libnvidia-ml.so.1 for tests: the NVML calls ds01d uses, answered from a JSON
 * description (FAKE_NVML_FILE, default /etc/fake-nvml.json; format in README.md).
 *
 * The file is read again whenever its inode, size or mtime changes (checked on nvmlInit and on
 * every device count or handle lookup), so a test rewrites it (write a temp file, mv over) while
 * the daemon runs and the next scan sees the new GPUs or MIG layout. A handle encodes
 * (GPU index, MIG index), never a pointer into parsed data, so handles stay valid across reloads
 * and one whose device has gone answers NVML_ERROR_NOT_FOUND. One mutex guards everything. */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- the real nvml.h's types and calls (same ABI) ---- */

typedef int nvmlReturn_t;
typedef struct nvmlDevice_st *nvmlDevice_t;
typedef unsigned int nvmlEnableState_t;
typedef unsigned int nvmlAffinityScope_t;

enum {
        NVML_SUCCESS = 0,
        NVML_ERROR_UNINITIALIZED = 1,
        NVML_ERROR_INVALID_ARGUMENT = 2,
        NVML_ERROR_NOT_SUPPORTED = 3,
        NVML_ERROR_NOT_FOUND = 6,
        NVML_ERROR_INSUFFICIENT_SIZE = 7,
        NVML_ERROR_DRIVER_NOT_LOADED = 9,
        NVML_ERROR_UNKNOWN = 999,
};

#define NVML_NVLINK_MAX_LINKS       18
#define NVML_AFFINITY_SCOPE_NODE    0
#define NVML_VALUE_NOT_AVAILABLE    (~0ULL)
#define NVML_INSTANCE_ID_NOT_IN_MIG 0xFFFFFFFFu

typedef struct nvmlMemory_st {
        unsigned long long total;
        unsigned long long free;
        unsigned long long used;
} nvmlMemory_t;

typedef struct nvmlUtilization_st {
        unsigned int gpu;
        unsigned int memory;
} nvmlUtilization_t;

typedef struct nvmlProcessInfo_st {
        unsigned int pid;
        unsigned long long usedGpuMemory;
        unsigned int gpuInstanceId;
        unsigned int computeInstanceId;
} nvmlProcessInfo_t;

typedef struct nvmlPciInfo_st {
        char busIdLegacy[16];
        unsigned int domain;
        unsigned int bus;
        unsigned int device;
        unsigned int pciDeviceId;
        unsigned int pciSubSystemId;
        char busId[32];
} nvmlPciInfo_t;

typedef struct nvmlDeviceAttributes_st {
        unsigned int multiprocessorCount;
        unsigned int sharedCopyEngineCount;
        unsigned int sharedDecoderCount;
        unsigned int sharedEncoderCount;
        unsigned int sharedJpegCount;
        unsigned int sharedOfaCount;
        unsigned int gpuInstanceSliceCount;
        unsigned int computeInstanceSliceCount;
        unsigned long long memorySizeMB;
} nvmlDeviceAttributes_t;

#define API __attribute__((visibility("default")))

API nvmlReturn_t nvmlInit_v2(void);
API nvmlReturn_t nvmlShutdown(void);
API const char *nvmlErrorString(nvmlReturn_t result);
API nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length);
API nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *deviceCount);
API nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device);
API nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length);
API nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length);
API nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *memory);
API nvmlReturn_t nvmlDeviceGetMinorNumber(nvmlDevice_t device, unsigned int *minorNumber);
API nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t device, nvmlPciInfo_t *pci);
API nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t device, unsigned int *currentMode,
                                      unsigned int *pendingMode);
API nvmlReturn_t nvmlDeviceGetMaxMigDeviceCount(nvmlDevice_t device, unsigned int *count);
API nvmlReturn_t nvmlDeviceGetMigDeviceHandleByIndex(nvmlDevice_t device, unsigned int index,
                                                     nvmlDevice_t *migDevice);
API nvmlReturn_t nvmlDeviceGetAttributes_v2(nvmlDevice_t device,
                                            nvmlDeviceAttributes_t *attributes);
API nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t device, nvmlUtilization_t *utilization);
API nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t device,
                                                         unsigned int *infoCount,
                                                         nvmlProcessInfo_t *infos);
API nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v2(nvmlDevice_t device,
                                                         unsigned int *infoCount,
                                                         nvmlProcessInfo_t *infos);
API nvmlReturn_t nvmlDeviceGetNumaNodeId(nvmlDevice_t device, unsigned int *node);
API nvmlReturn_t nvmlDeviceGetMemoryAffinity(nvmlDevice_t device, unsigned int nodeSetSize,
                                             unsigned long *nodeSet, nvmlAffinityScope_t scope);
API nvmlReturn_t nvmlDeviceGetNvLinkState(nvmlDevice_t device, unsigned int link,
                                          nvmlEnableState_t *isActive);
API nvmlReturn_t nvmlDeviceGetNvLinkRemotePciInfo_v2(nvmlDevice_t device, unsigned int link,
                                                     nvmlPciInfo_t *pci);

/* ---- state ---- */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int init_count;
static json_t *root; /* the last description that parsed */
static struct stat seen;
static bool have_seen;

static const char *description_path(void)
{
        const char *p = getenv("FAKE_NVML_FILE");
        return p && *p ? p : "/etc/fake-nvml.json";
}

/* Re-reads the description if the file changed. Keeps the old one when the new one does not
 * parse (writers replace the file atomically, so that means a broken test fixture). */
static void reload_locked(void)
{
        const char *path = description_path();
        struct stat st;
        if (stat(path, &st) < 0) {
                json_decref(root);
                root = NULL;
                have_seen = false;
                return;
        }
        if (have_seen && root && st.st_ino == seen.st_ino && st.st_dev == seen.st_dev &&
            st.st_size == seen.st_size && st.st_mtim.tv_sec == seen.st_mtim.tv_sec &&
            st.st_mtim.tv_nsec == seen.st_mtim.tv_nsec)
                return;
        json_error_t jerr;
        json_t *j = json_load_file(path, 0, &jerr);
        if (!j || !json_is_object(j)) {
                fprintf(stderr, "fake-nvml: %s:%d: %s\n", path, jerr.line,
                        j ? "not a JSON object" : jerr.text);
                json_decref(j);
                return;
        }
        json_decref(root);
        root = j;
        seen = st;
        have_seen = true;
}

static json_t *gpus_locked(void)
{
        json_t *g = root ? json_object_get(root, "gpus") : NULL;
        return json_is_array(g) ? g : NULL;
}

/* Handle = 'NVML' tag in the high 32 bits, GPU index in bits 8..23, MIG index + 1 in 0..7. */
#define HANDLE_TAG 0x4E564D4Cull

static nvmlDevice_t make_handle(unsigned gpu, unsigned mig_plus_one)
{
        uint64_t v = HANDLE_TAG << 32 | (uint64_t)gpu << 8 | mig_plus_one;
        return (nvmlDevice_t)(uintptr_t)v;
}

struct dev {
        json_t *gpu; /* the physical GPU */
        json_t *mig; /* the MIG device, or NULL */
        unsigned gpu_index;
        unsigned mig_index;
};

/* Decodes a handle against the current description; lock held. */
static nvmlReturn_t lookup_locked(nvmlDevice_t h, struct dev *ret)
{
        if (init_count == 0)
                return NVML_ERROR_UNINITIALIZED;
        uint64_t v = (uint64_t)(uintptr_t)h;
        if (v >> 32 != HANDLE_TAG || (v & 0xff000000u) != 0)
                return NVML_ERROR_INVALID_ARGUMENT;
        reload_locked();
        unsigned gi = (unsigned)(v >> 8) & 0xffff, mi = (unsigned)v & 0xff;
        json_t *g = json_array_get(gpus_locked(), gi);
        if (!json_is_object(g))
                return NVML_ERROR_NOT_FOUND;
        *ret = (struct dev){.gpu = g, .gpu_index = gi};
        if (mi == 0)
                return NVML_SUCCESS;
        if (!json_is_true(json_object_get(g, "mig_enabled")))
                return NVML_ERROR_NOT_FOUND;
        json_t *m = json_array_get(json_object_get(g, "mig_devices"), mi - 1);
        if (!json_is_object(m))
                return NVML_ERROR_NOT_FOUND;
        ret->mig = m;
        ret->mig_index = mi - 1;
        return NVML_SUCCESS;
}

static const char *str(json_t *o, const char *key, const char *dflt)
{
        const char *s = json_string_value(json_object_get(o, key));
        return s ? s : dflt;
}

static long long num(json_t *o, const char *key, long long dflt)
{
        json_t *v = json_object_get(o, key);
        return json_is_integer(v) ? json_integer_value(v) : dflt;
}

static nvmlReturn_t copy_string(char *buf, unsigned length, const char *s)
{
        if (!buf)
                return NVML_ERROR_INVALID_ARGUMENT;
        if (strlen(s) + 1 > length)
                return NVML_ERROR_INSUFFICIENT_SIZE;
        memcpy(buf, s, strlen(s) + 1);
        return NVML_SUCCESS;
}

static void fill_pci(nvmlPciInfo_t *pci, const char *bus_id)
{
        unsigned domain = 0, bus = 0, device = 0, function = 0;
        memset(pci, 0, sizeof(*pci));
        sscanf(bus_id, "%x:%x:%x.%x", &domain, &bus, &device, &function);
        snprintf(pci->busId, sizeof(pci->busId), "%08X:%02X:%02X.%X", domain, bus & 0xff,
                 device & 0x1f, function & 7);
        snprintf(pci->busIdLegacy, sizeof(pci->busIdLegacy), "%04X:%02X:%02X.%X", domain & 0xffff,
                 bus & 0xff, device & 0x1f, function & 7);
        pci->domain = domain;
        pci->bus = bus & 0xff;
        pci->device = device & 0x1f;
        pci->pciDeviceId = 0x20B010DE; /* A100-SXM4-40GB, NVIDIA */
        pci->pciSubSystemId = 0x134F10DE;
}

#define LOCKED(expr)                                                                               \
        ({                                                                                         \
                pthread_mutex_lock(&lock);                                                         \
                nvmlReturn_t _r = (expr);                                                          \
                pthread_mutex_unlock(&lock);                                                       \
                _r;                                                                                \
        })

/* ---- init ---- */

API nvmlReturn_t nvmlInit_v2(void)
{
        const char *fail = getenv("FAKE_NVML_FAIL_INIT");
        if (fail && strcmp(fail, "1") == 0)
                return NVML_ERROR_DRIVER_NOT_LOADED;
        pthread_mutex_lock(&lock);
        have_seen = false; /* FAKE_NVML_FILE may name another file now */
        reload_locked();
        nvmlReturn_t r = root ? NVML_SUCCESS : NVML_ERROR_DRIVER_NOT_LOADED;
        if (r == NVML_SUCCESS)
                init_count++;
        else
                fprintf(stderr, "fake-nvml: no usable description in %s\n", description_path());
        pthread_mutex_unlock(&lock);
        return r;
}

API nvmlReturn_t nvmlShutdown(void)
{
        pthread_mutex_lock(&lock);
        nvmlReturn_t r = NVML_ERROR_UNINITIALIZED;
        if (init_count > 0) {
                r = NVML_SUCCESS;
                if (--init_count == 0) {
                        json_decref(root);
                        root = NULL;
                        have_seen = false;
                }
        }
        pthread_mutex_unlock(&lock);
        return r;
}

API const char *nvmlErrorString(nvmlReturn_t result)
{
        switch (result) {
        case NVML_SUCCESS:
                return "Success";
        case NVML_ERROR_UNINITIALIZED:
                return "Uninitialized";
        case NVML_ERROR_INVALID_ARGUMENT:
                return "Invalid Argument";
        case NVML_ERROR_NOT_SUPPORTED:
                return "Not Supported";
        case NVML_ERROR_NOT_FOUND:
                return "Not Found";
        case NVML_ERROR_INSUFFICIENT_SIZE:
                return "Insufficient Size";
        case NVML_ERROR_DRIVER_NOT_LOADED:
                return "Driver Not Loaded";
        case NVML_ERROR_UNKNOWN:
                return "Unknown Error";
        default:
                return "Unknown Error";
        }
}

static nvmlReturn_t driver_version_locked(char *version, unsigned length)
{
        if (init_count == 0)
                return NVML_ERROR_UNINITIALIZED;
        reload_locked();
        return copy_string(version, length, str(root, "driver_version", "550.54.15"));
}

API nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length)
{
        return LOCKED(driver_version_locked(version, length));
}

/* ---- devices ---- */

static nvmlReturn_t count_locked(unsigned *count)
{
        if (init_count == 0)
                return NVML_ERROR_UNINITIALIZED;
        if (!count)
                return NVML_ERROR_INVALID_ARGUMENT;
        reload_locked();
        *count = (unsigned)json_array_size(gpus_locked());
        return NVML_SUCCESS;
}

API nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *deviceCount)
{
        return LOCKED(count_locked(deviceCount));
}

static nvmlReturn_t handle_locked(unsigned index, nvmlDevice_t *device)
{
        if (init_count == 0)
                return NVML_ERROR_UNINITIALIZED;
        if (!device)
                return NVML_ERROR_INVALID_ARGUMENT;
        reload_locked();
        if (index >= json_array_size(gpus_locked()))
                return NVML_ERROR_INVALID_ARGUMENT; /* as the real one does */
        *device = make_handle(index, 0);
        return NVML_SUCCESS;
}

API nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device)
{
        return LOCKED(handle_locked(index, device));
}

static nvmlReturn_t uuid_locked(nvmlDevice_t device, char *uuid, unsigned length)
{
        struct dev d;
        nvmlReturn_t r = lookup_locked(device, &d);
        if (r != NVML_SUCCESS)
                return r;
        return copy_string(uuid, length, str(d.mig ? d.mig : d.gpu, "uuid", ""));
}

API nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length)
{
        return LOCKED(uuid_locked(device, uuid, length));
}

static nvmlReturn_t name_locked(nvmlDevice_t device, char *name, unsigned length)
{
        struct dev d;
        nvmlReturn_t r = lookup_locked(device, &d);
        if (r != NVML_SUCCESS)
                return r;
        const char *gpu_name = str(d.gpu, "name", "NVIDIA A100-SXM4-40GB");
        if (!d.mig)
                return copy_string(name, length, gpu_name);
        char buf[256];
        snprintf(buf, sizeof(buf), "%s MIG %s", gpu_name, str(d.mig, "profile", "1g.5gb"));
        return copy_string(name, length, buf);
}

API nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length)
{
        return LOCKED(name_locked(device, name, length));
}

static unsigned long long used_mib(json_t *o)
{
        unsigned long long used = 0;
        size_t i;
        json_t *p;
        json_array_foreach (json_object_get(o, "processes"), i, p) {
                used += (unsigned long long)num(p, "used_memory_mib", 0);
        }
        return used;
}

static nvmlReturn_t memory_locked(nvmlDevice_t device, nvmlMemory_t *memory)
{
        struct dev d;
        nvmlReturn_t r = lookup_locked(device, &d);
        if (r != NVML_SUCCESS)
                return r;
        if (!memory)
                return NVML_ERROR_INVALID_ARGUMENT;
        json_t *o = d.mig ? d.mig : d.gpu;
        unsigned long long total = (unsigned long long)num(o, "memory_mib", 40960) << 20;
        unsigned long long used = used_mib(o) << 20;
        if (used > total)
                used = total;
        *memory = (nvmlMemory_t){.total = total, .used = used, .free = total - used};
        return NVML_SUCCESS;
}

API nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *memory)
{
        return LOCKED(memory_locked(device, memory));
}

static nvmlReturn_t minor_locked(nvmlDevice_t device, unsigned *minor)
{
        struct dev d;
        nvmlReturn_t r = lookup_locked(device, &d);
        if (r != NVML_SUCCESS)
                return r;
        if (!minor)
                return NVML_ERROR_INVALID_ARGUMENT;
        if (d.mig)
                return NVML_ERROR_NOT_SUPPORTED;
        *minor = (unsigned)num(d.gpu, "minor", d.gpu_index);
        return NVML_SUCCESS;
}

API nvmlReturn_t nvmlDeviceGetMinorNumber(nvmlDevice_t device, unsigned int *minorNumber)
{
        return LOCKED(minor_locked(device, minorNumber));
}

static nvmlReturn_t pci_locked(nvmlDevice_t device, nvmlPciInfo_t *pci)
{
        struct dev d;
        nvmlReturn_t r = lookup_locked(device, &d);
        if (r != NVML_SUCCESS)
                return r;
        if (!pci)
                return NVML_ERROR_INVALID_ARGUMENT;
        const char *bus_id = str(d.gpu, "pci_bus_id", NULL);
        char dflt[32];
        if (!bus_id) {
                snprintf(dflt, sizeof(dflt), "00000000:%02X:00.0", 0x10 + d.gpu_index);
                bus_id = dflt;
        }
        fill_pci(pci, bus_id);
        return NVML_SUCCESS;
}

API nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t device, nvmlPciInfo_t *pci)
{
        return LOCKED(pci_locked(device, pci));
}

static nvmlReturn_t mig_mode_locked(nvmlDevice_t device, unsigned *current, unsigned *pending)
{
        struct dev d;
        nvmlReturn_t r = lookup_locked(device, &d);
        if (r != NVML_SUCCESS)
                return r;
        if (!current || !pending)
                return NVML_ERROR_INVALID_ARGUMENT;
        if (d.mig)
                return NVML_ERROR_NOT_SUPPORTED;
        *current = *pending = json_is_true(json_object_get(d.gpu, "mig_enabled")) ? 1 : 0;
        return NVML_SUCCESS;
}

API nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t device, unsigned int *currentMode,
                                      unsigned int *pendingMode)
{
        return LOCKED(mig_mode_locked(device, currentMode, pendingMode));
}

static unsigned max_mig_locked(const struct dev *d)
{
        long long max = num(d->gpu, "max_mig_devices", 7);
        size_t n = json_array_size(json_object_get(d->gpu, "mig_devices"));
        if (max < 0)
                max = 0;
        return (unsigned)max > n ? (unsigned)max : (unsigned)n;
}

static nvmlReturn_t max_mig_count_locked(nvmlDevice_t device, unsigned *count)
{
        struct dev d;
        nvmlReturn_t r = lookup_locked(device, &d);
        if (r != NVML_SUCCESS)
                return r;
        if (!count)
                return NVML_ERROR_INVALID_ARGUMENT;
        if (d.mig)
                return NVML_ERROR_NOT_SUPPORTED;
        *count = max_mig_locked(&d);
        return NVML_SUCCESS;
}

API nvmlReturn_t nvmlDeviceGetMaxMigDeviceCount(nvmlDevice_t device, unsigned int *count)
{
        return LOCKED(max_mig_count_locked(device, count));
}

static nvmlReturn_t mig_handle_locked(nvmlDevice_t device, unsigned index, nvmlDevice_t *mig)
{
        struct dev d;
        nvmlReturn_t r = lookup_locked(device, &d);
        if (r != NVML_SUCCESS)
                return r;
        if (!mig || d.mig || index >= max_mig_locked(&d))
                return NVML_ERROR_INVALID_ARGUMENT;
        if (!json_is_true(json_object_get(d.gpu, "mig_enabled")))
                return NVML_ERROR_INVALID_ARGUMENT;
        if (index >= json_array_size(json_object_get(d.gpu, "mig_devices")))
                return NVML_ERROR_NOT_FOUND;
        *mig = make_handle(d.gpu_index, index + 1);
        return NVML_SUCCESS;
}

API nvmlReturn_t nvmlDeviceGetMigDeviceHandleByIndex(nvmlDevice_t device, unsigned int index,
                                                     nvmlDevice_t *migDevice)
{
        return LOCKED(mig_handle_locked(device, index, migDevice));
}

static nvmlReturn_t attributes_locked(nvmlDevice_t device, nvmlDeviceAttributes_t *a)
{
        struct dev d;
        nvmlReturn_t r = lookup_locked(device, &d);
        if (r != NVML_SUCCESS)
                return r;
        if (!a)
                return NVML_ERROR_INVALID_ARGUMENT;
        if (!d.mig)
                return NVML_ERROR_NOT_SUPPORTED; /* the real one answers for MIG devices */
        const char *profile = str(d.mig, "profile", "1g.5gb");
        long long slices =
            num(d.mig, "slices", profile[0] >= '1' && profile[0] <= '7' ? profile[0] - '0' : 1);
        memset(a, 0, sizeof(*a));
        a->gpuInstanceSliceCount = (unsigned)slices;
        a->computeInstanceSliceCount = (unsigned)slices;
        a->multiprocessorCount = (unsigned)slices * 14;
        a->sharedCopyEngineCount = (unsigned)slices;
        a->memorySizeMB = (unsigned long long)num(d.mig, "memory_mib", 4864);
        return NVML_SUCCESS;
}

API nvmlReturn_t nvmlDeviceGetAttributes_v2(nvmlDevice_t device, nvmlDeviceAttributes_t *attributes)
{
        return LOCKED(attributes_locked(device, attributes));
}

static nvmlReturn_t utilization_locked(nvmlDevice_t device, nvmlUtilization_t *u)
{
        struct dev d;
        nvmlReturn_t r = lookup_locked(device, &d);
        if (r != NVML_SUCCESS)
                return r;
        if (!u)
                return NVML_ERROR_INVALID_ARGUMENT;
        if (d.mig)
                return NVML_ERROR_NOT_SUPPORTED;
        json_t *o = json_object_get(d.gpu, "utilization");
        u->gpu = (unsigned)num(o, "gpu", 0);
        u->memory = (unsigned)num(o, "memory", 0);
        return NVML_SUCCESS;
}

API nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t device, nvmlUtilization_t *utilization)
{
        return LOCKED(utilization_locked(device, utilization));
}

/* Appends o's processes to infos (up to cap); returns how many there are in all. */
static unsigned add_processes(json_t *o, unsigned gi, unsigned ci, nvmlProcessInfo_t *infos,
                              unsigned n, unsigned cap)
{
        size_t i;
        json_t *p;
        json_array_foreach (json_object_get(o, "processes"), i, p) {
                if (n < cap && infos)
                        infos[n] = (nvmlProcessInfo_t){
                            .pid = (unsigned)num(p, "pid", 0),
                            .usedGpuMemory = (unsigned long long)num(p, "used_memory_mib", 0) << 20,
                            .gpuInstanceId = gi,
                            .computeInstanceId = ci,
                        };
                n++;
        }
        return n;
}

static nvmlReturn_t processes_locked(nvmlDevice_t device, unsigned *count, nvmlProcessInfo_t *infos)
{
        struct dev d;
        nvmlReturn_t r = lookup_locked(device, &d);
        if (r != NVML_SUCCESS)
                return r;
        if (!count || (*count > 0 && !infos))
                return NVML_ERROR_INVALID_ARGUMENT;
        unsigned cap = *count, n = 0;
        if (d.mig) {
                n = add_processes(d.mig, d.mig_index + 1, 0, infos, n, cap);
        } else {
                /* The parent of MIG devices lists its instances' processes too. */
                n = add_processes(d.gpu, NVML_INSTANCE_ID_NOT_IN_MIG, NVML_INSTANCE_ID_NOT_IN_MIG,
                                  infos, n, cap);
                if (json_is_true(json_object_get(d.gpu, "mig_enabled"))) {
                        size_t i;
                        json_t *m;
                        json_array_foreach (json_object_get(d.gpu, "mig_devices"), i, m) {
                                n = add_processes(m, (unsigned)i + 1, 0, infos, n, cap);
                        }
                }
        }
        *count = n;
        return n > cap ? NVML_ERROR_INSUFFICIENT_SIZE : NVML_SUCCESS;
}

/* R535 (CUDA 12.2) drivers' _v3 wrote 32-byte entries: the v2 layout plus
 * usedGpuCcProtectedMemory. FAKE_NVML_R535_PROCESS_INFO=1 does the same. */
struct process_info_r535 {
        nvmlProcessInfo_t v2;
        unsigned long long usedGpuCcProtectedMemory;
};

API nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t device,
                                                         unsigned int *infoCount,
                                                         nvmlProcessInfo_t *infos)
{
        const char *r535 = getenv("FAKE_NVML_R535_PROCESS_INFO");
        if (!r535 || strcmp(r535, "1") != 0 || !infoCount || *infoCount == 0 || !infos)
                return LOCKED(processes_locked(device, infoCount, infos));
        unsigned cap = *infoCount;
        nvmlProcessInfo_t *tmp = calloc(cap, sizeof(*tmp));
        if (!tmp)
                return NVML_ERROR_UNKNOWN;
        nvmlReturn_t r = LOCKED(processes_locked(device, infoCount, tmp));
        if (r == NVML_SUCCESS) {
                struct process_info_r535 *out = (void *)infos;
                for (unsigned i = 0; i < *infoCount; i++)
                        out[i] = (struct process_info_r535){.v2 = tmp[i]};
        }
        free(tmp);
        return r;
}

API nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v2(nvmlDevice_t device,
                                                         unsigned int *infoCount,
                                                         nvmlProcessInfo_t *infos)
{
        return LOCKED(processes_locked(device, infoCount, infos));
}

/* ---- topology ---- */

static nvmlReturn_t numa_locked(nvmlDevice_t device, long long *node)
{
        struct dev d;
        nvmlReturn_t r = lookup_locked(device, &d);
        if (r != NVML_SUCCESS)
                return r;
        if (!node)
                return NVML_ERROR_INVALID_ARGUMENT;
        *node = num(d.gpu, "numa_node", -1);
        return *node < 0 ? NVML_ERROR_NOT_SUPPORTED : NVML_SUCCESS;
}

API nvmlReturn_t nvmlDeviceGetNumaNodeId(nvmlDevice_t device, unsigned int *node)
{
        long long v = -1;
        nvmlReturn_t r = LOCKED(numa_locked(device, node ? &v : NULL));
        if (r == NVML_SUCCESS)
                *node = (unsigned)v;
        return r;
}

API nvmlReturn_t nvmlDeviceGetMemoryAffinity(nvmlDevice_t device, unsigned int nodeSetSize,
                                             unsigned long *nodeSet, nvmlAffinityScope_t scope)
{
        if (!nodeSet || nodeSetSize == 0 || scope != NVML_AFFINITY_SCOPE_NODE)
                return NVML_ERROR_INVALID_ARGUMENT;
        long long v = -1;
        nvmlReturn_t r = LOCKED(numa_locked(device, &v));
        if (r != NVML_SUCCESS)
                return r;
        size_t bits = 8 * sizeof(*nodeSet);
        if ((unsigned long long)v >= nodeSetSize * bits)
                return NVML_ERROR_INSUFFICIENT_SIZE;
        memset(nodeSet, 0, nodeSetSize * sizeof(*nodeSet));
        nodeSet[v / bits] = 1UL << (v % bits);
        return NVML_SUCCESS;
}

static nvmlReturn_t link_locked(nvmlDevice_t device, unsigned link, char *ret_peer, size_t size)
{
        struct dev d;
        nvmlReturn_t r = lookup_locked(device, &d);
        if (r != NVML_SUCCESS)
                return r;
        json_t *peers = json_object_get(d.gpu, "nvlink_peers");
        if (!json_is_array(peers) || json_array_size(peers) == 0)
                return NVML_ERROR_NOT_SUPPORTED;
        if (link >= NVML_NVLINK_MAX_LINKS)
                return NVML_ERROR_INVALID_ARGUMENT;
        const char *peer = json_string_value(json_array_get(peers, link));
        ret_peer[0] = '\0';
        if (peer)
                snprintf(ret_peer, size, "%s", peer);
        return NVML_SUCCESS;
}

API nvmlReturn_t nvmlDeviceGetNvLinkState(nvmlDevice_t device, unsigned int link,
                                          nvmlEnableState_t *isActive)
{
        if (!isActive)
                return NVML_ERROR_INVALID_ARGUMENT;
        char peer[64];
        nvmlReturn_t r = LOCKED(link_locked(device, link, peer, sizeof(peer)));
        if (r == NVML_SUCCESS)
                *isActive = peer[0] ? 1 : 0;
        return r;
}

API nvmlReturn_t nvmlDeviceGetNvLinkRemotePciInfo_v2(nvmlDevice_t device, unsigned int link,
                                                     nvmlPciInfo_t *pci)
{
        if (!pci)
                return NVML_ERROR_INVALID_ARGUMENT;
        char peer[64];
        nvmlReturn_t r = LOCKED(link_locked(device, link, peer, sizeof(peer)));
        if (r != NVML_SUCCESS)
                return r;
        if (!peer[0])
                return NVML_ERROR_NOT_SUPPORTED; /* link down */
        fill_pci(pci, peer);
        return NVML_SUCCESS;
}
