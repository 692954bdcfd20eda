/* images-slots.c - what image builds in flight hold: a slot per user, the spooled contexts, the
 * build cgroups. */
#include "daemon/images/images-internal.h"

#include "daemon/containers/usercgroup.h"
#include "shared/log.h"
#include "daemon/docker/dockerjson.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#define SPOOL_TIMEOUT_S 600
#define SPOOL_IDLE_S    30

/* Builds in flight per uid, and the bytes of context spooled by all of them: a user builds
 * images.max_builds_per_user at a time, and spooled contexts stay under images.max_spool_mb
 * together (in images.spool_dir, by default the state directory, beside the ledger). */
static pthread_mutex_t builds_lock = PTHREAD_MUTEX_INITIALIZER;
static struct build_slot {
        uid_t uid;
        int n;
} builds[64];
static int64_t spooled_total;

int images_build_slot_take(const struct caller *c, int64_t max, struct error **err)
{
        pthread_mutex_lock(&builds_lock);
        struct build_slot *s = NULL, *free_s = NULL;
        for (size_t i = 0; i < sizeof(builds) / sizeof(builds[0]); i++) {
                if (builds[i].n > 0 && builds[i].uid == c->uid)
                        s = &builds[i];
                else if (builds[i].n == 0 && !free_s)
                        free_s = &builds[i];
        }
        int r = 0;
        if (s && s->n >= max)
                r = error_set(err, DS01_ERESOURCE,
                              "you have %d image build(s) running already "
                              "(images.max_builds_per_user: %lld) - wait for it to finish, or "
                              "cancel it with Ctrl-C",
                              s->n, (long long)max);
        else if (!s && !free_s)
                r = error_set(err, DS01_ERESOURCE,
                              "too many image builds are running on this server - try again in "
                              "a few minutes");
        else {
                if (!s) {
                        s = free_s;
                        s->uid = c->uid;
                }
                s->n++;
        }
        pthread_mutex_unlock(&builds_lock);
        return r;
}

int images_builds_running(unsigned uid)
{
        int n = 0;
        pthread_mutex_lock(&builds_lock);
        for (size_t i = 0; i < sizeof(builds) / sizeof(builds[0]); i++)
                if (builds[i].n > 0 && builds[i].uid == uid)
                        n = builds[i].n;
        pthread_mutex_unlock(&builds_lock);
        return n;
}

static void build_cgroup_remove(uid_t uid);

void images_build_slot_give(const struct caller *c, bool cgroup)
{
        pthread_mutex_lock(&builds_lock);
        for (size_t i = 0; i < sizeof(builds) / sizeof(builds[0]); i++)
                if (builds[i].n > 0 && builds[i].uid == c->uid) {
                        if (--builds[i].n == 0 && cgroup)
                                build_cgroup_remove(c->uid);
                        break;
                }
        pthread_mutex_unlock(&builds_lock);
}

bool images_spool_account(int64_t k, int64_t max)
{
        pthread_mutex_lock(&builds_lock);
        bool ok = k <= 0 || spooled_total + k <= max;
        if (ok)
                spooled_total += k;
        pthread_mutex_unlock(&builds_lock);
        return ok;
}

/* Free space a spool leaves to others on its file system (the ledger's, by default): counted
 * as unprivileged writers see it, so root's writes never eat the blocks reserved for root. */
#define SPOOL_RESERVE (512LL << 20)

static bool spool_room(int fd, int64_t more)
{
        struct statvfs sv;
        if (fstatvfs(fd, &sv) < 0)
                return true;
        return (int64_t)sv.f_bavail * (int64_t)sv.f_frsize >= more + SPOOL_RESERVE;
}

static int spool_fail(struct error **err, const char *why)
{
        return error_set(err, DS01_EUSAGE, "the build context was not received: %s", why);
}

int images_spool_context(const char *dir, int in, int client_fd, const struct spool_limits *lim,
                         int *ret_fd, int64_t *ret_len, int64_t *ret_accounted, struct error **err)
{
        int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (fd < 0)
                return error_set_errno(err, errno, "spooling the build context in %s", dir);
        char *buf = xmalloc(64 * 1024);
        int64_t len = 0, t_end = mono_ms() + SPOOL_TIMEOUT_S * 1000, t_idle = 0;
        int r = 0;
        for (;;) {
                int64_t now = mono_ms();
                if (t_idle == 0)
                        t_idle = now + SPOOL_IDLE_S * 1000;
                if (now >= t_end || now >= t_idle) {
                        r = spool_fail(err, now >= t_end ? "it took longer than the time allowed"
                                                         : "nothing arrived for too long");
                        break;
                }
                int64_t left = (t_end < t_idle ? t_end : t_idle) - now;
                struct pollfd pfd[2] = {{in, POLLIN, 0}, {client_fd, POLLIN | POLLRDHUP, 0}};
                int pr = poll(pfd, client_fd >= 0 ? 2 : 1, left > 1000 ? 1000 : (int)left);
                if (pr < 0 && errno != EINTR) {
                        r = error_set_errno(err, errno, "reading the build context");
                        break;
                }
                if (client_fd >= 0 && pr > 0 &&
                    (pfd[1].revents & (POLLIN | POLLHUP | POLLRDHUP | POLLERR))) {
                        r = spool_fail(err, "the client went away");
                        break;
                }
                if (pr <= 0 || !(pfd[0].revents & (POLLIN | POLLHUP | POLLERR)))
                        continue;
                ssize_t k = read(in, buf, 64 * 1024);
                if (k < 0 && (errno == EINTR || errno == EAGAIN))
                        continue;
                if (k < 0) {
                        r = error_set_errno(err, errno, "reading the build context");
                        break;
                }
                if (k == 0)
                        break;
                t_idle = 0;
                len += k;
                if (len > lim->max) {
                        r = error_set(err, DS01_EUSAGE,
                                      "the build context is larger than %lld MB "
                                      "(images.max_context_mb) - list what the image does not "
                                      "need (data, checkpoints) in .dockerignore",
                                      (long long)(lim->max >> 20));
                        break;
                }
                if (!images_spool_account(k, lim->max_total)) {
                        r = error_set(err, DS01_ERESOURCE,
                                      "the build contexts being received take all the room "
                                      "this server gives them (images.max_spool_mb) - try again "
                                      "in a few minutes");
                        break;
                }
                *ret_accounted += k;
                if (((len - k) >> 24) != (len >> 24) && !spool_room(fd, 16LL << 20)) {
                        r = error_set(err, DS01_ERESOURCE,
                                      "the disk that holds ds01's state is nearly full, so the "
                                      "build context was not kept - tell an administrator");
                        break;
                }
                if (write_all(fd, buf, (size_t)k) < 0) {
                        r = error_set_errno(err, errno, "spooling the build context");
                        break;
                }
        }
        free(buf);
        if (r == 0 && len == 0)
                r = error_set(err, DS01_EUSAGE, "the build context is empty");
        if (r < 0 || lseek(fd, 0, SEEK_SET) < 0) {
                close(fd);
                return r < 0 ? -1 : error_set_errno(err, errno, "rewinding the build context");
        }
        *ret_fd = fd;
        *ret_len = len;
        return 0;
}

/* ---- build cgroups ---------------------------------------------------------------------- */

/* "<instance>-builds": each daemon sweeps only its own (tests run several instances side by
 * side, and one's sweep removed another's empty cgroup before the build's first RUN step, which
 * Docker then made again without pids.max). Set under builds_lock; the instance never changes
 * without a restart. */
static char builds_top[96] = "ds01-builds";

/* A cancelled build's containers may outlive it (Docker removes them after the connection
 * closes), and so its cgroup: the cgroups of users with no build in flight go now. Called with
 * builds_lock held. */
static void build_cgroup_sweep(const char *top)
{
        DIR *dir = opendir(top);
        struct dirent *e;
        while (dir && (e = readdir(dir))) {
                unsigned uid;
                char end;
                if (sscanf(e->d_name, "u%u%c", &uid, &end) != 1)
                        continue;
                bool busy = false;
                for (size_t i = 0; i < sizeof(builds) / sizeof(builds[0]); i++)
                        busy |= builds[i].n > 0 && builds[i].uid == uid;
                if (!busy)
                        build_cgroup_remove(uid);
        }
        if (dir)
                closedir(dir);
}

char *images_build_cgroup(struct ds01d *d, uid_t uid, const struct limit_set *ls)
{
        if (ls->pids_limit <= 0)
                return NULL;
        json_t *info = NULL;
        long st = 0;
        if (docker_request(d->docker, "GET", "/info", NULL, &st, &info, NULL) < 0 || st != 200 ||
            !streq_ptr(jstr(info, "CgroupDriver"), "cgroupfs")) {
                log_warning("image builds get no pids limit: Docker's cgroup driver is not "
                            "cgroupfs");
                json_decref(info);
                return NULL;
        }
        json_decref(info);
        _cleanup_free_ char *max = xasprintf("%lld", (long long)ls->pids_limit);
        bool v2 = access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0;
        const char *root = v2 ? "/sys/fs/cgroup" : "/sys/fs/cgroup/pids";
        if (v2)
                usercgroup_write("/sys/fs/cgroup/cgroup.subtree_control", "+pids");
        pthread_mutex_lock(&builds_lock); /* against images_build_slot_give's removal */
        snprintf(builds_top, sizeof(builds_top), "%s-builds", d->cfg->instance);
        _cleanup_free_ char *top = xasprintf("%s/%s", root, builds_top);
        _cleanup_free_ char *mine = xasprintf("%s/u%u", top, (unsigned)uid);
        build_cgroup_sweep(top);
        (void)mkdir(top, 0755);
        if (v2) {
                _cleanup_free_ char *sc = xasprintf("%s/cgroup.subtree_control", top);
                usercgroup_write(sc, "+pids");
        }
        (void)mkdir(mine, 0755);
        _cleanup_free_ char *pm = xasprintf("%s/pids.max", mine);
        bool ok = usercgroup_write(pm, max);
        pthread_mutex_unlock(&builds_lock);
        if (!ok) {
                log_warning("image builds get no pids limit: cannot write %s: %m", pm);
                return NULL;
        }
        return xasprintf("/%s/u%u", builds_top, (unsigned)uid);
}

/* Removes the user's build cgroup once their builds are done (a busy one stays: rmdir fails),
 * in every v1 hierarchy Docker made it in. */
static void build_cgroup_remove(uid_t uid)
{
        DIR *dir = opendir("/sys/fs/cgroup");
        struct dirent *e;
        while (dir && (e = readdir(dir))) {
                if (e->d_name[0] == '.')
                        continue;
                _cleanup_free_ char *p =
                    xasprintf("/sys/fs/cgroup/%s/%s/u%u", e->d_name, builds_top, (unsigned)uid);
                (void)rmdir(p);
        }
        if (dir)
                closedir(dir);
        _cleanup_free_ char *v2 = xasprintf("/sys/fs/cgroup/%s/u%u", builds_top, (unsigned)uid);
        (void)rmdir(v2);
}
