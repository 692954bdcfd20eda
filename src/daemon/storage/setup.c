/* setup.c - ds01 storage setup: project quotas for every user's workspaces (see setup.h). */
#include "daemon/storage/setup.h"

#include "daemon/containers/userpath.h"
#include "daemon/storage/quota.h"
#include "daemon/storage/storage.h"
#include "shared/strv.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

struct target {
        char *login, *path;
        uid_t uid;
        int fd; /* O_PATH, from userpath_open_dir */
        int64_t limit;
};

static void targets_free(struct target *t, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                free(t[i].login);
                free(t[i].path);
                if (t[i].fd >= 0)
                        close(t[i].fd);
        }
        free(t);
}

/* The workspace root's own file system must qualify even before any user has a directory. */
static int probe_path(const char *path, struct error **err)
{
        _cleanup_close_ int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return error_set_errno(err, errno, "opening workspace_root %s", path);
        struct quota_fs fs;
        if (quota_fs_of(fd, path, &fs, err) < 0)
                return -1;
        int r = quota_probe(&fs, err);
        quota_fs_release(&fs);
        return r;
}

/* Every known user with a workspace directory, opened safely, with their limit. */
static struct target *collect(struct ds01d *d, size_t *ret_n, struct error **err)
{
        _cleanup_strv_ struct strv logins = {0};
        storage_known_logins(d, &logins);
        struct target *t = xcalloc(logins.n + 1, sizeof(*t));
        size_t n = 0;
        for (size_t i = 0; i < logins.n; i++) {
                gid_t gid;
                uid_t uid;
                _cleanup_free_ char *path =
                    storage_user_dir(d->cfg->workspace_root, logins.v[i], &uid, &gid);
                struct stat st;
                if (!path || lstat(path, &st) < 0)
                        continue; /* no account, or nothing kept yet: labelled at next setup */
                int fd = userpath_open_dir(path, uid, err);
                if (fd < 0) {
                        targets_free(t, n);
                        return NULL;
                }
                struct caller who;
                int64_t limit = -1;
                if (caller_for(uid, &who) == 0) {
                        struct limit_set ls;
                        caller_limits(d, &who, &ls);
                        limit = ls.storage_workspace;
                        limit_set_release(&ls);
                        caller_release(&who);
                }
                t[n++] = (struct target){xstrdup(logins.v[i]), TAKE_PTR(path), uid, fd, limit};
        }
        *ret_n = n;
        return t;
}

int storage_setup(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                  struct error **err)
{
        (void)c;
        (void)params;
        if (!streq(d->cfg->workspace_root, "home") && probe_path(d->cfg->workspace_root, err) < 0)
                return -1;
        size_t n = 0;
        struct target *t = collect(d, &n, err);
        if (!t)
                return -1;
        /* all file systems first: a refusal changes nothing */
        struct quota_fs *fs = xcalloc(n + 1, sizeof(*fs));
        int r = 0;
        for (size_t i = 0; i < n && r == 0; i++)
                if (quota_fs_of(t[i].fd, t[i].path, &fs[i], err) < 0 ||
                    quota_probe(&fs[i], err) < 0)
                        r = -1;
        json_t *users = json_array();
        for (size_t i = 0; i < n && r == 0; i++) {
                if (quota_assign_tree(t[i].fd, (uint32_t)t[i].uid, err) < 0 ||
                    quota_set_limit(&fs[i], (uint32_t)t[i].uid, t[i].limit, err) < 0) {
                        r = error_wrap(err, "setting up the quota of %s (%s)", t[i].login,
                                       t[i].path);
                        break;
                }
                json_array_append_new(
                    users, json_pack("{s:s, s:s, s:I, s:o}", "user", t[i].login, "path", t[i].path,
                                     "project", (json_int_t)t[i].uid, "limit_bytes",
                                     t[i].limit < 0 ? json_null() : json_integer(t[i].limit)));
        }
        for (size_t i = 0; i < n; i++)
                quota_fs_release(&fs[i]);
        free(fs);
        targets_free(t, n);
        if (r < 0) {
                json_decref(users);
                return -1;
        }
        storage_kick(d->storage);
        *ret_result = json_pack("{s:o}", "users", users);
        return 0;
}
