#include "daemon/rules/sampler.h"

#include "shared/strbuf.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

void sampler_cgroup_release(struct sampler_cgroup *cg)
{
        free(cg->path);
        free(cg->mem_dir);
        free(cg->pids_dir);
        cg->path = cg->mem_dir = cg->pids_dir = NULL;
}

/* The mount point of the v1 hierarchy with controller `ctl` (or of cgroup2 when ctl is NULL),
 * and the root of that mount, from /proc/self/mountinfo. */
static int find_mount(const char *ctl, char **ret_point, char **ret_root)
{
        FILE *f = fopen("/proc/self/mountinfo", "re");
        if (!f)
                return -errno;
        char *line = NULL;
        size_t cap = 0;
        int r = -ENOENT;
        while (getline(&line, &cap, f) > 0) {
                /* id parent maj:min root point opts [optional...] - fstype source superopts */
                char root[4096], point[4096];
                if (sscanf(line, "%*s %*s %*s %4095s %4095s", root, point) != 2)
                        continue;
                const char *dash = strstr(line, " - ");
                if (!dash)
                        continue;
                char fstype[64], source[256], opts[1024] = "";
                if (sscanf(dash + 3, "%63s %255s %1023s", fstype, source, opts) < 2)
                        continue;
                bool hit = false;
                if (!ctl)
                        hit = streq(fstype, "cgroup2");
                else if (streq(fstype, "cgroup")) {
                        /* superopts: rw,cpu,cpuacct */
                        _cleanup_free_ char *o = xstrdup(opts);
                        char *save = NULL;
                        for (char *t = strtok_r(o, ",", &save); t && !hit;
                             t = strtok_r(NULL, ",", &save))
                                hit = streq(t, ctl);
                }
                if (hit) {
                        *ret_point = xstrdup(point);
                        *ret_root = xstrdup(root);
                        r = 0;
                        break;
                }
        }
        free(line);
        fclose(f);
        return r;
}

/* point + (path relative to the mount's root) + "/" + file */
static char *join(const char *point, const char *root, const char *path, const char *file)
{
        size_t rl = strlen(root);
        if (!streq(root, "/") && strncmp(path, root, rl) == 0)
                path += rl;
        return xasprintf("%s%s%s/%s", point, path[0] == '/' ? "" : "/",
                         streq(path, "/") ? "" : path, file);
}

static int cgroup_at(const char *v1, const char *v1_mem, const char *v1_pids, const char *v2,
                     struct sampler_cgroup *ret, struct error **err);

int sampler_cgroup_find(pid_t pid, struct sampler_cgroup *ret, struct error **err)
{
        _cleanup_free_ char *fn = xasprintf("/proc/%d/cgroup", (int)pid);
        FILE *f = fopen(fn, "re");
        if (!f)
                return error_set_errno(err, errno, "reading %s", fn);
        char *line = NULL;
        size_t cap = 0;
        _cleanup_free_ char *v1 = NULL, *v2 = NULL, *v1_mem = NULL, *v1_pids = NULL;
        while (getline(&line, &cap, f) > 0) {
                line[strcspn(line, "\n")] = '\0';
                /* "2:cpuacct:/docker/<id>", "1:cpu,cpuacct:/...", "0::/system.slice/..." */
                char *c1 = strchr(line, ':');
                char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
                if (!c2)
                        continue;
                *c2 = '\0';
                const char *ctls = c1 + 1, *path = c2 + 1;
                if (!*ctls) {
                        free(v2);
                        v2 = xstrdup(path);
                        continue;
                }
                _cleanup_free_ char *o = xstrdup(ctls);
                char *save = NULL;
                for (char *t = strtok_r(o, ",", &save); t; t = strtok_r(NULL, ",", &save))
                        if (streq(t, "cpuacct")) {
                                free(v1);
                                v1 = xstrdup(path);
                        } else if (streq(t, "memory")) {
                                free(v1_mem);
                                v1_mem = xstrdup(path);
                        } else if (streq(t, "pids")) {
                                free(v1_pids);
                                v1_pids = xstrdup(path);
                        }
        }
        free(line);
        fclose(f);
        return cgroup_at(v1, v1_mem, v1_pids, v2, ret, err);
}

int sampler_cgroup_at(const char *rel, struct sampler_cgroup *ret)
{
        return cgroup_at(rel, rel, rel, rel, ret, NULL);
}

char *sampler_cgroup_dir(const char *ctl, const char *rel)
{
        _cleanup_free_ char *point = NULL, *root = NULL;
        if (find_mount(ctl, &point, &root) < 0)
                return NULL;
        return join(point, root, rel, "");
}

/* The counters of the cgroup at these paths (v1 per controller, or v2), as the kernel names
 * them in /proc/<pid>/cgroup. */
static int cgroup_at(const char *v1, const char *v1_mem, const char *v1_pids, const char *v2,
                     struct sampler_cgroup *ret, struct error **err)
{
        /* v1 cpuacct when the host has it (hybrid hosts put containers only there); else v2. */
        _cleanup_free_ char *point = NULL, *root = NULL;
        memset(ret, 0, sizeof(*ret));
        if (v1 && find_mount("cpuacct", &point, &root) == 0) {
                ret->path = join(point, root, v1, "cpuacct.usage");
                ret->v2 = false;
                _cleanup_free_ char *mp = NULL, *mr = NULL, *pp = NULL, *pr = NULL;
                if (v1_mem && find_mount("memory", &mp, &mr) == 0)
                        ret->mem_dir = join(mp, mr, v1_mem, "");
                if (v1_pids && find_mount("pids", &pp, &pr) == 0)
                        ret->pids_dir = join(pp, pr, v1_pids, "");
        } else if (v2 && find_mount(NULL, &point, &root) == 0) {
                ret->path = join(point, root, v2, "cpu.stat");
                ret->v2 = true;
                ret->mem_dir = join(point, root, v2, "");
                ret->pids_dir = join(point, root, v2, "");
        } else
                return error_set(err, DS01_ERR, "no cpuacct or cgroup2 hierarchy for %s",
                                 v1   ? v1
                                 : v2 ? v2
                                      : "a process in no cgroup");
        if (access(ret->path, R_OK) < 0) {
                int e = errno;
                error_set_errno(err, e, "CPU counter %s", ret->path);
                sampler_cgroup_release(ret);
                return -1;
        }
        return 0;
}

int sampler_cpu_ns(const struct sampler_cgroup *cg, uint64_t *ret, struct error **err)
{
        FILE *f = fopen(cg->path, "re");
        if (!f)
                return error_set_errno(err, errno, "reading %s", cg->path);
        int r = -1;
        if (!cg->v2) {
                unsigned long long ns;
                if (fscanf(f, "%llu", &ns) == 1) {
                        *ret = ns;
                        r = 0;
                }
        } else {
                char key[64];
                unsigned long long v;
                while (fscanf(f, "%63s %llu", key, &v) == 2)
                        if (streq(key, "usage_usec")) {
                                *ret = (uint64_t)v * 1000;
                                r = 0;
                                break;
                        }
        }
        fclose(f);
        if (r < 0)
                error_set(err, DS01_ERR, "unexpected contents in %s", cg->path);
        return r;
}

int sampler_net_rx_tx(pid_t pid, uint64_t *ret_rx, uint64_t *ret_tx, struct error **err)
{
        _cleanup_free_ char *fn = xasprintf("/proc/%d/net/dev", (int)pid);
        FILE *f = fopen(fn, "re");
        if (!f)
                return error_set_errno(err, errno, "reading %s", fn);
        char *line = NULL;
        size_t cap = 0;
        uint64_t trx = 0, ttx = 0;
        while (getline(&line, &cap, f) > 0) {
                char *colon = strchr(line, ':');
                if (!colon)
                        continue;
                *colon = '\0';
                if (streq(line + strspn(line, " "), "lo"))
                        continue;
                unsigned long long rx, tx;
                if (sscanf(colon + 1, "%llu %*u %*u %*u %*u %*u %*u %*u %llu", &rx, &tx) == 2) {
                        trx += rx;
                        ttx += tx;
                }
        }
        free(line);
        fclose(f);
        *ret_rx = trx;
        *ret_tx = ttx;
        return 0;
}

/* The first number in DIR/FILE; "max" reads as 0. -1 if unreadable. */
static int read_u64(const char *dir, const char *file, uint64_t *ret)
{
        _cleanup_free_ char *fn = xasprintf("%s%s", dir, file);
        FILE *f = fopen(fn, "re");
        if (!f)
                return -1;
        char buf[64] = "";
        int r = fgets(buf, sizeof(buf), f) ? 0 : -1;
        fclose(f);
        if (r < 0)
                return -1;
        if (startswith(buf, "max")) {
                *ret = 0;
                return 0;
        }
        char *end;
        errno = 0;
        unsigned long long v = strtoull(buf, &end, 10);
        if (errno || end == buf)
                return -1;
        *ret = v;
        return 0;
}

/* The value of `key` in a "key value" file (memory.stat); -1 if absent. */
static int read_stat(const char *dir, const char *file, const char *key, uint64_t *ret)
{
        _cleanup_free_ char *fn = xasprintf("%s%s", dir, file);
        FILE *f = fopen(fn, "re");
        if (!f)
                return -1;
        char k[64];
        unsigned long long v;
        int r = -1;
        while (fscanf(f, "%63s %llu", k, &v) == 2)
                if (streq(k, key)) {
                        *ret = v;
                        r = 0;
                        break;
                }
        fclose(f);
        return r;
}

int sampler_memory(const struct sampler_cgroup *cg, uint64_t *ret_used, uint64_t *ret_limit)
{
        if (!cg->mem_dir)
                return -1;
        uint64_t usage, limit = 0, inactive = 0;
        if (read_u64(cg->mem_dir, cg->v2 ? "memory.current" : "memory.usage_in_bytes", &usage) < 0)
                return -1;
        (void)read_u64(cg->mem_dir, cg->v2 ? "memory.max" : "memory.limit_in_bytes", &limit);
        /* v1 reports "no limit" as a page-rounded LONG_MAX */
        if (limit >= (UINT64_C(1) << 62))
                limit = 0;
        (void)read_stat(cg->mem_dir, "memory.stat",
                        cg->v2 ? "inactive_file" : "total_inactive_file", &inactive);
        *ret_used = inactive < usage ? usage - inactive : usage;
        *ret_limit = limit;
        return 0;
}

int sampler_pids(const struct sampler_cgroup *cg, uint64_t *ret)
{
        if (!cg->pids_dir)
                return -1;
        return read_u64(cg->pids_dir, "pids.current", ret);
}

int sampler_net_bytes(pid_t pid, uint64_t *ret, struct error **err)
{
        uint64_t rx, tx;
        if (sampler_net_rx_tx(pid, &rx, &tx, err) < 0)
                return -1;
        *ret = rx + tx;
        return 0;
}
