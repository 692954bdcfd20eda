/* usercgroup.c - each user's parent cgroup and its aggregate caps (see usercgroup.h). */
#include "daemon/containers/usercgroup.h"

#include "daemon/docker/docker.h"
#include "daemon/docker/dockerjson.h"
#include "daemon/requests/caller.h"
#include "daemon/rules/sampler.h"
#include "shared/log.h"
#include "shared/spawn.h"
#include "shared/strbuf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CFS_PERIOD_US 100000

enum driver { DRIVER_UNKNOWN, DRIVER_CGROUPFS, DRIVER_SYSTEMD };

static pthread_mutex_t probe_lock = PTHREAD_MUTEX_INITIALIZER;
static enum driver probed = DRIVER_UNKNOWN;

/* Docker's cgroup driver, asked once (it changes only with a dockerd restart and a new
 * daemon.json, and then ds01d's own restart is the documented step). */
static enum driver driver_of(struct ds01d *d)
{
        pthread_mutex_lock(&probe_lock);
        if (probed == DRIVER_UNKNOWN) {
                json_t *info = NULL;
                long st = 0;
                if (docker_request(d->docker, "GET", "/info", NULL, &st, &info, NULL) == 0 &&
                    st == 200)
                        probed = streq_ptr(jstr(info, "CgroupDriver"), "systemd") ? DRIVER_SYSTEMD
                                                                                  : DRIVER_CGROUPFS;
                json_decref(info);
        }
        enum driver r = probed;
        pthread_mutex_unlock(&probe_lock);
        return r;
}

bool usercgroup_write(const char *path, const char *value)
{
        int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return false;
        bool ok = write_all(fd, value, strlen(value)) == 0;
        int e = errno;
        close(fd);
        errno = e;
        return ok;
}

/* The user's cgroup as Docker's CgroupParent names it, and as a path below each hierarchy:
 * below a parent named for the instance ("ds01" by default), so that two ds01d on one host
 * (the test suite's) never write each other's caps. systemd reads '-' in a slice's name as
 * nesting: the instance's dashes become '_' there. */
static char *slice_base(const char *instance)
{
        char *b = xstrdup(instance);
        for (char *p = b; *p; p++)
                if (*p == '-')
                        *p = '_';
        return b;
}

static char *parent_name(enum driver drv, const char *instance, uid_t uid)
{
        if (drv != DRIVER_SYSTEMD)
                return xasprintf("/%s/u%u", instance, (unsigned)uid);
        _cleanup_free_ char *b = slice_base(instance);
        return xasprintf("%s-u%u.slice", b, (unsigned)uid);
}

static char *rel_path(enum driver drv, const char *instance, uid_t uid)
{
        if (drv != DRIVER_SYSTEMD)
                return xasprintf("/%s/u%u", instance, (unsigned)uid);
        _cleanup_free_ char *b = slice_base(instance);
        return xasprintf("/%s.slice/%s-u%u.slice", b, b, (unsigned)uid);
}

static bool is_v2(void)
{
        return access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0;
}

/* One cap written, or why not added to why. */
static void put(struct strbuf *why, const char *dir, const char *file, const char *value)
{
        _cleanup_free_ char *path = xasprintf("%s%s", dir, file);
        if (!usercgroup_write(path, value))
                strbuf_addf(why, "%s%s=%s: %s", why->len ? "; " : "", file, value, strerror(errno));
}

static char *num_or(int64_t v, const char *none)
{
        return v >= 0 ? xasprintf("%" PRId64, v) : xstrdup(none);
}

/* mkdir -p of the two levels (<instance>/u<uid>) below a hierarchy's root dir. */
static bool make_dirs(const char *ctl, const char *instance, uid_t uid, char **ret_dir)
{
        _cleanup_free_ char *top_rel = xasprintf("/%s", instance);
        _cleanup_free_ char *top = sampler_cgroup_dir(ctl, top_rel);
        if (!top)
                return false;
        _cleanup_free_ char *rel = xasprintf("/%s/u%u", instance, (unsigned)uid);
        _cleanup_free_ char *dir = sampler_cgroup_dir(ctl, rel);
        if ((mkdir(top, 0755) < 0 && errno != EEXIST) || (mkdir(dir, 0755) < 0 && errno != EEXIST))
                return false;
        *ret_dir = TAKE_PTR(dir);
        return true;
}

/* cgroupfs driver, v1: the caps in each controller's hierarchy. Docker adds the container's
 * cgroup below /ds01/u<uid> in every hierarchy; the ones without a cap need no directory of
 * ours, except cpuacct, where usercgroup_use reads the CPU time. */
static bool apply_v1(const char *instance, uid_t uid, const struct limit_aggregate *a,
                     struct strbuf *why)
{
        static const char *const ctls[] = {"cpu", "cpuacct", "memory", "pids"};
        char *dirs[4] = {NULL};
        bool ok = true;
        for (size_t i = 0; i < 4; i++)
                if (!make_dirs(ctls[i], instance, uid, &dirs[i])) {
                        strbuf_addf(why, "%scannot make /%s/u%u in the %s hierarchy: %s",
                                    why->len ? "; " : "", instance, (unsigned)uid, ctls[i],
                                    strerror(errno));
                        ok = false;
                }
        if (dirs[0]) {
                int64_t quota = a->cpu_quota > 0 ? (int64_t)(a->cpu_quota * CFS_PERIOD_US) : -1;
                _cleanup_free_ char *q = xasprintf("%" PRId64, quota);
                put(why, dirs[0], "cpu.cfs_period_us", "100000");
                put(why, dirs[0], "cpu.cfs_quota_us", q);
        }
        if (dirs[2]) {
                _cleanup_free_ char *max = num_or(a->memory_max, "-1");
                _cleanup_free_ char *high = num_or(a->memory_high, "-1");
                put(why, dirs[2], "memory.limit_in_bytes", max);
                put(why, dirs[2], "memory.soft_limit_in_bytes", high);
        }
        if (dirs[3]) {
                _cleanup_free_ char *tasks = num_or(a->tasks_max, "max");
                put(why, dirs[3], "pids.max", tasks);
        }
        for (size_t i = 0; i < 4; i++)
                free(dirs[i]);
        return ok;
}

/* cgroupfs driver, v2: one directory; its controllers enabled from the root down. */
static bool apply_v2(const char *instance, uid_t uid, const struct limit_aggregate *a,
                     struct strbuf *why)
{
        static const char *const enable[] = {"+cpu", "+memory", "+pids"};
        _cleanup_free_ char *dir = NULL;
        if (!make_dirs(NULL, instance, uid, &dir)) {
                strbuf_addf(why, "cannot make /%s/u%u: %s", instance, (unsigned)uid,
                            strerror(errno));
                return false;
        }
        _cleanup_free_ char *mid = xasprintf("/sys/fs/cgroup/%s/", instance);
        const char *levels[] = {"/sys/fs/cgroup/", mid, dir};
        for (size_t l = 0; l < 3; l++)
                for (size_t i = 0; i < 3; i++)
                        put(why, levels[l], "cgroup.subtree_control", enable[i]);
        _cleanup_free_ char *cpu =
            a->cpu_quota > 0 ? xasprintf("%" PRId64 " %d", (int64_t)(a->cpu_quota * CFS_PERIOD_US),
                                         CFS_PERIOD_US)
                             : xasprintf("max %d", CFS_PERIOD_US);
        _cleanup_free_ char *max = num_or(a->memory_max, "max");
        _cleanup_free_ char *high = num_or(a->memory_high, "max");
        _cleanup_free_ char *tasks = num_or(a->tasks_max, "max");
        put(why, dir, "cpu.max", cpu);
        put(why, dir, "memory.max", max);
        put(why, dir, "memory.high", high);
        put(why, dir, "pids.max", tasks);
        return true;
}

/* systemd driver: the slice's properties, through systemd (which owns the slice's files). */
static bool apply_systemd(const char *instance, uid_t uid, const struct limit_aggregate *a,
                          struct strbuf *why)
{
        static const char *const paths[] = {"/usr/bin/systemctl", "/bin/systemctl"};
        _cleanup_free_ char *slice = parent_name(DRIVER_SYSTEMD, instance, uid);
        _cleanup_free_ char *cpu = a->cpu_quota > 0
                                       ? xasprintf("CPUQuota=%.0f%%", a->cpu_quota * 100)
                                       : xstrdup("CPUQuota=");
        _cleanup_free_ char *max = num_or(a->memory_max, "infinity");
        _cleanup_free_ char *high = num_or(a->memory_high, "infinity");
        _cleanup_free_ char *tasks = num_or(a->tasks_max, "infinity");
        _cleanup_free_ char *mmax = xasprintf("MemoryMax=%s", max);
        _cleanup_free_ char *mhigh = xasprintf("MemoryHigh=%s", high);
        _cleanup_free_ char *tmax = xasprintf("TasksMax=%s", tasks);
        const char *start[] = {NULL, "start", slice, NULL};
        const char *set[] = {NULL, "set-property", "--runtime", slice, cpu,
                             mmax, mhigh,          tmax,        NULL};
        const char **steps[] = {start, set};
        for (size_t i = 0; i < 2; i++) {
                int r = spawn_wait(paths, ARRAY_SIZE(paths), steps[i]);
                if (r != 0) {
                        strbuf_addf(why, "systemctl %s %s %s", steps[i][1], slice,
                                    r < 0 ? "could not run" : "failed");
                        return false;
                }
        }
        return true;
}

/* Warns about a failure once per reason, not at every deploy. */
static void warn_once(const char *msg)
{
        static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
        static char *last;
        pthread_mutex_lock(&lock);
        if (!streq_ptr(last, msg)) {
                log_warning("user cgroup caps: %s", msg);
                free(last);
                last = xstrdup(msg);
        }
        pthread_mutex_unlock(&lock);
}

static bool apply(enum driver drv, const char *instance, uid_t uid, const struct limit_aggregate *a)
{
        struct strbuf why = STRBUF_INIT;
        bool ok = drv == DRIVER_SYSTEMD ? apply_systemd(instance, uid, a, &why)
                  : is_v2()             ? apply_v2(instance, uid, a, &why)
                                        : apply_v1(instance, uid, a, &why);
        if (why.len)
                warn_once(why.buf);
        strbuf_release(&why);
        return ok;
}

char *usercgroup_prepare(struct ds01d *d, uid_t uid, const struct limit_set *ls, bool make)
{
        if (!make && !limit_set_has_aggregate(ls))
                return NULL;
        enum driver drv = driver_of(d);
        if (drv == DRIVER_UNKNOWN) {
                warn_once("Docker did not say which cgroup driver it uses (GET /info)");
                return NULL;
        }
        if (!apply(drv, d->cfg->instance, uid, &ls->aggregate))
                return NULL;
        return parent_name(drv, d->cfg->instance, uid);
}

/* The uids that have a user cgroup, from the memory hierarchy (v1) or the v2 tree. */
static void refresh_dir(struct ds01d *d, enum driver drv, const char *top)
{
        DIR *dir = opendir(top);
        struct dirent *e;
        while (dir && (e = readdir(dir))) {
                unsigned uid;
                char end;
                bool mine =
                    drv == DRIVER_SYSTEMD
                        ? sscanf(e->d_name, "ds01-u%u.slic%c", &uid, &end) == 2 && end == 'e'
                        : sscanf(e->d_name, "u%u%c", &uid, &end) == 1;
                if (!mine)
                        continue;
                struct caller c;
                if (caller_for((uid_t)uid, &c) < 0)
                        continue; /* no account: nothing of theirs starts again */
                struct limit_set ls;
                caller_limits(d, &c, &ls);
                apply(drv, d->cfg->instance, c.uid, &ls.aggregate);
                limit_set_release(&ls);
                caller_release(&c);
        }
        if (dir)
                closedir(dir);
}

void usercgroup_refresh(struct ds01d *d)
{
        enum driver drv = driver_of(d);
        if (drv == DRIVER_UNKNOWN)
                return;
        _cleanup_free_ char *b = slice_base(d->cfg->instance);
        _cleanup_free_ char *rel =
            drv == DRIVER_SYSTEMD ? xasprintf("/%s.slice", b) : xasprintf("/%s", d->cfg->instance);
        _cleanup_free_ char *top = sampler_cgroup_dir(is_v2() ? NULL : "memory", rel);
        if (top)
                refresh_dir(d, drv, top);
}

bool usercgroup_use(struct ds01d *d, uid_t uid, struct usercgroup_use *ret)
{
        enum driver drv = driver_of(d);
        if (drv == DRIVER_UNKNOWN)
                return false;
        _cleanup_free_ char *rel = rel_path(drv, d->cfg->instance, uid);
        struct sampler_cgroup cg;
        if (sampler_cgroup_at(rel, &cg) < 0)
                return false;
        uint64_t mem = 0, limit = 0, tasks = 0, ns = 0;
        *ret = (struct usercgroup_use){.memory = -1, .tasks = -1, .cpu_s = -1};
        if (sampler_memory(&cg, &mem, &limit) == 0)
                ret->memory = (int64_t)mem;
        if (sampler_pids(&cg, &tasks) == 0)
                ret->tasks = (int64_t)tasks;
        if (sampler_cpu_ns(&cg, &ns, NULL) == 0)
                ret->cpu_s = (double)ns / 1e9;
        sampler_cgroup_release(&cg);
        return true;
}
