/* storage.c - each user's workspace usage, measured at low priority; warnings and the deploy
 * check (see storage.h). */
#include "daemon/storage/storage.h"

#include "daemon/config/generation.h"
#include "daemon/containers/userpath.h"
#include "daemon/ledger/store.h"
#include "daemon/observe/events.h"
#include "daemon/requests/caller.h"
#include "daemon/rules/enforce.h"
#include "daemon/storage/quota.h"
#include "daemon/storage/walk.h"
#include "shared/log.h"
#include "shared/strv.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <pwd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Entries a walk looks at between two pauses, and the pause: a million files cost about 4 s of
 * pauses, and the disk sees one short burst of metadata reads at a time. */
#define STEP_ENTRIES  512
#define STEP_PAUSE_NS (2 * 1000 * 1000)

struct entry {
        struct storage_usage u;
        int warned; /* the level last warned about: 0, 90, 100 */
};

struct storage {
        struct ds01d *root;
        pthread_t thread;
        bool running;
        atomic_bool stop;
        pthread_mutex_t lock;
        pthread_cond_t cond; /* the thread's wait between passes (kick, stop) */
        bool kicked;
        struct entry *v;
        size_t n;
        uint64_t passes;
};

void storage_usage_release(struct storage_usage *u)
{
        free(u->login);
        free(u->path);
        *u = (struct storage_usage){0};
}

static void usage_copy(const struct storage_usage *from, struct storage_usage *to)
{
        *to = *from;
        to->login = xstrdup(from->login);
        to->path = xstrdup(from->path);
}

/* ---- the decisions ---- */

int storage_level(int64_t bytes, int64_t limit)
{
        if (limit < 0 || bytes < 0)
                return 0;
        if (bytes >= limit)
                return 100;
        /* bytes * 10 >= limit * 9 without overflow for sizes below 2^59 */
        return (double)bytes >= 0.9 * (double)limit ? 90 : 0;
}

int storage_warning_due(int warned, int level, int *ret_warned)
{
        *ret_warned = level;
        return level > warned ? level : 0;
}

const char *storage_size_text(int64_t bytes, char buf[static 32])
{
        static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
        double x = (double)bytes;
        size_t u = 0;
        while (x >= 1024 && u + 1 < ARRAY_SIZE(units)) {
                x /= 1024;
                u++;
        }
        snprintf(buf, 32, u ? "%.1f %s" : "%.0f %s", x, units[u]);
        return buf;
}

char *storage_user_dir(const char *workspace_root, const char *login, uid_t *ret_uid,
                       gid_t *ret_gid)
{
        struct passwd pw, *res = NULL;
        char buf[4096];
        if (getpwnam_r(login, &pw, buf, sizeof(buf), &res) != 0 || !res)
                return NULL;
        *ret_uid = res->pw_uid;
        *ret_gid = res->pw_gid;
        if (streq(workspace_root, "home"))
                return res->pw_dir[0] == '/' ? xasprintf("%s/workspace", res->pw_dir) : NULL;
        return xasprintf("%s/%s", workspace_root, login);
}

/* ---- the table ---- */

static struct entry *find(struct storage *s, uid_t uid)
{
        for (size_t i = 0; i < s->n; i++)
                if (s->v[i].u.uid == uid)
                        return &s->v[i];
        return NULL;
}

bool storage_get(struct storage *s, uid_t uid, struct storage_usage *ret)
{
        if (!s)
                return false;
        pthread_mutex_lock(&s->lock);
        struct entry *e = find(s, uid);
        if (e)
                usage_copy(&e->u, ret);
        pthread_mutex_unlock(&s->lock);
        return e != NULL;
}

static int cmp_usage(const void *a, const void *b)
{
        return strcmp(((const struct storage_usage *)a)->login,
                      ((const struct storage_usage *)b)->login);
}

size_t storage_list(struct storage *s, struct storage_usage **ret)
{
        *ret = NULL;
        if (!s)
                return 0;
        pthread_mutex_lock(&s->lock);
        size_t n = s->n;
        struct storage_usage *v = xcalloc(n + 1, sizeof(*v));
        for (size_t i = 0; i < n; i++)
                usage_copy(&s->v[i].u, &v[i]);
        pthread_mutex_unlock(&s->lock);
        qsort(v, n, sizeof(*v), cmp_usage);
        *ret = v;
        return n;
}

void storage_usages_free(struct storage_usage *v, size_t n)
{
        for (size_t i = 0; v && i < n; i++)
                storage_usage_release(&v[i]);
        free(v);
}

uint64_t storage_passes(struct storage *s)
{
        if (!s)
                return 0;
        pthread_mutex_lock(&s->lock);
        uint64_t p = s->passes;
        pthread_mutex_unlock(&s->lock);
        return p;
}

/* Records a measurement (taking u's strings); returns the level last warned about for the user
 * and sets it to the one the caller will act on. */
static int record(struct storage *s, struct storage_usage *u, int level)
{
        pthread_mutex_lock(&s->lock);
        struct entry *e = find(s, u->uid);
        if (!e) {
                s->v = xrealloc(s->v, (s->n + 1) * sizeof(*s->v));
                e = &s->v[s->n++];
                *e = (struct entry){0};
        } else {
                storage_usage_release(&e->u);
        }
        e->u = *u;
        *u = (struct storage_usage){0};
        int warn = storage_warning_due(e->warned, level, &e->warned);
        pthread_mutex_unlock(&s->lock);
        return warn;
}

/* ---- measuring ---- */

static void pause_step(void)
{
        struct timespec ts = {0, STEP_PAUSE_NS};
        nanosleep(&ts, NULL);
}

/* The bytes below the directory fd: the kernel's count where a project quota labels it, else a
 * walk. -1 when stopped or unreadable. */
static int64_t measure_fd(struct storage *s, int fd, uid_t uid, struct storage_usage *u)
{
        int64_t bytes;
        if (quota_usage(fd, (uint32_t)uid, &bytes) == 0) {
                u->by_quota = true;
                return bytes;
        }
        int e = 0;
        struct storage_walk *w = storage_walk_new(fcntl(fd, F_DUPFD_CLOEXEC, 3), &e);
        if (!w)
                return -1;
        while (storage_walk_step(w, STEP_ENTRIES) == 0) {
                if (atomic_load(&s->stop)) {
                        storage_walk_free(w);
                        return -1;
                }
                pause_step();
        }
        u->partial = storage_walk_truncated(w);
        bytes = (int64_t)storage_walk_bytes(w);
        storage_walk_free(w);
        return bytes;
}

/* Measures login's workspace directory; false when login has no account. */
static bool measure(struct storage *s, const char *workspace_root, const char *login,
                    struct storage_usage *u)
{
        gid_t gid;
        *u = (struct storage_usage){.bytes = -1, .login = xstrdup(login)};
        u->path = storage_user_dir(workspace_root, login, &u->uid, &gid);
        if (!u->path) {
                storage_usage_release(u);
                return false;
        }
        u->measured_at = now_s();
        struct stat st;
        if (lstat(u->path, &st) < 0 && errno == ENOENT) {
                u->bytes = 0; /* nothing kept yet */
                return true;
        }
        struct error *err = NULL;
        int fd = userpath_open_dir(u->path, u->uid, &err);
        if (fd < 0) {
                log_warning("storage of %s not measured: %s", login, err->message);
                error_free(err);
                return true;
        }
        u->bytes = measure_fd(s, fd, u->uid, u);
        close(fd);
        return true;
}

/* Who has workspaces: DIR's entries (workspace_root a directory), the groups' members, the
 * ledger's users. */
void storage_known_logins(struct ds01d *v, struct strv *ret)
{
        if (!streq(v->cfg->workspace_root, "home")) {
                DIR *dir = opendir(v->cfg->workspace_root);
                struct dirent *de;
                while (dir && (de = readdir(dir)))
                        if (de->d_name[0] != '.' && !strv_contains(ret, de->d_name))
                                strv_push(ret, de->d_name);
                if (dir)
                        closedir(dir);
        }
        const char *const *groups = limits_groups(v->limits);
        for (size_t g = 0; groups && groups[g]; g++) {
                const char *const *m = NULL;
                size_t n = limits_group_members(v->limits, groups[g], &m);
                for (size_t k = 0; k < n; k++)
                        if (!strv_contains(ret, m[k]))
                                strv_push(ret, m[k]);
        }
        struct store_container *rows = NULL;
        size_t n = 0;
        if (store_list(v->store, -1, &rows, &n, NULL) == 0)
                for (size_t i = 0; i < n; i++)
                        if (rows[i].user && !strv_contains(ret, rows[i].user))
                                strv_push(ret, rows[i].user);
        store_containers_free(rows, n);
}

/* Tells the owner that their usage reached `level` percent of their limit. */
static void warn_owner(struct ds01d *v, const struct storage_usage *u, int64_t limit, int level)
{
        struct caller owner;
        if (caller_for(u->uid, &owner) < 0)
                return;
        char used[32], max[32];
        storage_size_text(u->bytes, used);
        storage_size_text(limit, max);
        _cleanup_free_ char *text =
            level >= 100
                ? xasprintf("storage quota reached: your workspaces (%s) use %s of your %s - new "
                            "containers are refused until you delete files in %s, or ask an "
                            "administrator for more",
                            u->path, used, max, u->path)
                : xasprintf("storage quota nearly reached: your workspaces (%s) use %s of your "
                            "%s (%d %%) - delete files you no longer need; at 100 %% new "
                            "containers are refused",
                            u->path, used, max, level);
        json_t *details = json_pack("{s:I, s:I, s:i}", "bytes", (json_int_t)u->bytes, "limit",
                                    (json_int_t)limit, "percent", level);
        enforce_notify(v, &owner, "-", NULL, NULL,
                       level >= 100 ? "storage_full" : "storage_warning", text, details);
        events_log(v->events, "storage.warning", owner.login, details);
        caller_release(&owner);
}

/* One pass over every known user. */
static void pass(struct storage *s)
{
        struct ds01d v;
        ds01d_pin(s->root, &v);
        _cleanup_strv_ struct strv logins = {0};
        storage_known_logins(&v, &logins);
        for (size_t i = 0; i < logins.n && !atomic_load(&s->stop); i++) {
                struct storage_usage u;
                if (!measure(s, v.cfg->workspace_root, logins.v[i], &u))
                        continue;
                struct caller who;
                int64_t limit = -1;
                if (caller_for(u.uid, &who) == 0) {
                        struct limit_set ls;
                        caller_limits(&v, &who, &ls);
                        limit = ls.storage_workspace;
                        limit_set_release(&ls);
                        caller_release(&who);
                }
                struct storage_usage shown;
                usage_copy(&u, &shown);
                int warn = record(s, &u, storage_level(shown.bytes, limit));
                if (warn)
                        warn_owner(&v, &shown, limit, warn);
                storage_usage_release(&shown);
        }
        ds01d_unpin(&v);
}

/* The thread never competes with users for the CPU or the disk. */
static void lower_priority(void)
{
        pthread_setname_np(pthread_self(), "ds01d-storage"); /* what top and ps -L show */
        if (setpriority(PRIO_PROCESS, (id_t)gettid(), 19) < 0)
                log_warning("storage scan: nice 19: %m");
        /* ioprio_set(IOPRIO_WHO_PROCESS, this thread, IOPRIO_CLASS_IDLE) */
        if (syscall(SYS_ioprio_set, 1, 0, 3 << 13) < 0)
                log_warning("storage scan: idle I/O priority: %m");
}

static void *thread_main(void *arg)
{
        struct storage *s = arg;
        lower_priority();
        while (!atomic_load(&s->stop)) {
                pass(s);
                struct ds01d v;
                ds01d_pin(s->root, &v);
                int64_t interval = v.cfg->storage_scan_interval_s;
                ds01d_unpin(&v);
                struct timespec ts;
                clock_gettime(CLOCK_MONOTONIC, &ts);
                ts.tv_sec += interval;
                pthread_mutex_lock(&s->lock);
                s->passes++;
                while (!s->kicked && !atomic_load(&s->stop))
                        if (pthread_cond_timedwait(&s->cond, &s->lock, &ts) == ETIMEDOUT)
                                break;
                s->kicked = false;
                pthread_mutex_unlock(&s->lock);
        }
        return NULL;
}

struct storage *storage_new(struct ds01d *root)
{
        struct storage *s = xcalloc(1, sizeof(*s));
        s->root = root;
        pthread_mutex_init(&s->lock, NULL);
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&s->cond, &ca);
        pthread_condattr_destroy(&ca);
        root->storage = s;
        return s;
}

int storage_start(struct storage *s, struct error **err)
{
        int r = pthread_create(&s->thread, NULL, thread_main, s);
        if (r != 0)
                return error_set_errno(err, r, "starting the storage scan");
        s->running = true;
        return 0;
}

void storage_kick(struct storage *s)
{
        if (!s)
                return;
        pthread_mutex_lock(&s->lock);
        s->kicked = true;
        pthread_cond_signal(&s->cond);
        pthread_mutex_unlock(&s->lock);
}

void storage_halt(struct storage *s)
{
        if (!s || !s->running)
                return;
        atomic_store(&s->stop, true);
        storage_kick(s);
        pthread_join(s->thread, NULL);
        s->running = false;
}

struct storage *storage_free(struct storage *s)
{
        if (!s)
                return NULL;
        storage_halt(s);
        for (size_t i = 0; i < s->n; i++)
                storage_usage_release(&s->v[i].u);
        free(s->v);
        pthread_cond_destroy(&s->cond);
        pthread_mutex_destroy(&s->lock);
        free(s);
        return NULL;
}

/* ---- readers ---- */

json_t *storage_json(struct ds01d *d, uid_t uid, const struct limit_set *ls)
{
        struct storage_usage u;
        json_t *limit =
            ls->storage_workspace < 0 ? json_null() : json_integer(ls->storage_workspace);
        json_t *o = json_pack("{s:o, s:I}", "limit_bytes", limit, "scan_passes",
                              (json_int_t)storage_passes(d->storage));
        if (!storage_get(d->storage, uid, &u)) {
                json_object_set_new(o, "used_bytes", json_null());
                return o;
        }
        json_object_set_new(o, "used_bytes", u.bytes < 0 ? json_null() : json_integer(u.bytes));
        json_object_set_new(o, "path", json_string(u.path));
        json_object_set_new(o, "measured_at", json_integer(u.measured_at));
        json_object_set_new(o, "method", json_string(u.by_quota ? "project quota" : "scan"));
        json_object_set_new(o, "partial", json_boolean(u.partial));
        json_object_set_new(o, "percent",
                            ls->storage_workspace > 0 && u.bytes >= 0
                                ? json_integer(u.bytes * 100 / ls->storage_workspace)
                                : json_null());
        storage_usage_release(&u);
        return o;
}

int storage_check_deploy(struct ds01d *d, uid_t uid, const struct limit_set *ls, struct error **err)
{
        struct storage_usage u;
        if (ls->storage_workspace < 0 || !storage_get(d->storage, uid, &u))
                return 0;
        int r = 0;
        if (storage_level(u.bytes, ls->storage_workspace) >= 100) {
                char used[32], max[32];
                r = error_set(err, DS01_ERESOURCE,
                              "storage quota reached: your workspaces (%s) use %s of %s - delete "
                              "files in %s, or ask an administrator for more (usage is measured "
                              "again every %lld s)",
                              u.path, storage_size_text(u.bytes, used),
                              storage_size_text(ls->storage_workspace, max), u.path,
                              (long long)d->cfg->storage_scan_interval_s);
        }
        storage_usage_release(&u);
        return r;
}
