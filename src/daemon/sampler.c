#include "sampler.h"

#include "../shared/strbuf.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

void sampler_cgroup_release(struct sampler_cgroup *cg)
{
        free(cg->path);
        cg->path = NULL;
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

int sampler_cgroup_find(pid_t pid, struct sampler_cgroup *ret, struct error **err)
{
        _cleanup_free_ char *fn = xasprintf("/proc/%d/cgroup", (int)pid);
        FILE *f = fopen(fn, "re");
        if (!f)
                return error_set_errno(err, errno, "reading %s", fn);
        char *line = NULL;
        size_t cap = 0;
        _cleanup_free_ char *v1 = NULL, *v2 = NULL;
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
                        }
        }
        free(line);
        fclose(f);
        /* v1 cpuacct when the host has it (hybrid hosts put containers only there); else v2. */
        _cleanup_free_ char *point = NULL, *root = NULL;
        if (v1 && find_mount("cpuacct", &point, &root) == 0) {
                ret->path = join(point, root, v1, "cpuacct.usage");
                ret->v2 = false;
        } else if (v2 && find_mount(NULL, &point, &root) == 0) {
                ret->path = join(point, root, v2, "cpu.stat");
                ret->v2 = true;
        } else
                return error_set(err, DS01_ERR, "no cpuacct or cgroup2 hierarchy for pid %d",
                                 (int)pid);
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

int sampler_net_bytes(pid_t pid, uint64_t *ret, struct error **err)
{
        _cleanup_free_ char *fn = xasprintf("/proc/%d/net/dev", (int)pid);
        FILE *f = fopen(fn, "re");
        if (!f)
                return error_set_errno(err, errno, "reading %s", fn);
        char *line = NULL;
        size_t cap = 0;
        uint64_t total = 0;
        while (getline(&line, &cap, f) > 0) {
                char *colon = strchr(line, ':');
                if (!colon)
                        continue; /* the two header lines */
                *colon = '\0';
                const char *ifname = line + strspn(line, " ");
                if (streq(ifname, "lo"))
                        continue;
                unsigned long long rx, tx;
                /* rx: bytes packets errs drop fifo frame compressed multicast; then tx bytes */
                if (sscanf(colon + 1, "%llu %*u %*u %*u %*u %*u %*u %*u %llu", &rx, &tx) == 2)
                        total += rx + tx;
        }
        free(line);
        fclose(f);
        *ret = total;
        return 0;
}
