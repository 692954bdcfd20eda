#include "daemon/containers/workspace.h"

#include "daemon/containers/pins.h"
#include "daemon/containers/userpath.h"

#include "shared/log.h"
#include "shared/strbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <sys/stat.h>

/* Creates the missing component comp in dirfd: as the user where the parent is theirs (no chown,
 * and their permissions decide), else (a root-owned parent no one else can write) as root, then
 * given to the user through the fd of what was just made. */
static int create_component(int dirfd, const char *comp, bool parent_is_users, uid_t uid, gid_t gid)
{
        if (parent_is_users) {
                int r = userpath_mkdir_as(dirfd, comp, 0700, uid, gid);
                return r == -EEXIST ? 0 : r;
        }
        if (mkdirat(dirfd, comp, 0700) < 0)
                return errno == EEXIST ? 0 : -errno;
        _cleanup_close_ int fd = userpath_step(dirfd, comp, false);
        if (fd < 0)
                return fd;
        if (fchownat(fd, "", uid, gid, AT_EMPTY_PATH) < 0)
                return -errno;
        return 0;
}

/* Walks `path` component by component from "/" (userpath_step: no symlinks, no magic links, no
 * mount crossings below the user's own directory). Components with index < user_from must be
 * root-owned; those from user_from on must be owned by uid. Missing components from create_from
 * on are created (0700, owned by uid:gid). Returns an O_PATH fd of the last one. */
static int walk(const char *path, size_t user_from, size_t create_from, uid_t uid, gid_t gid,
                bool create, struct error **err)
{
        _cleanup_close_ int dirfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (dirfd < 0)
                return error_set_errno(err, errno, "opening /");
        _cleanup_free_ char *copy = xstrdup(path);
        struct strbuf sofar = STRBUF_INIT;
        char *save = NULL;
        size_t idx = 0;
        int r = 0;
        for (char *comp = strtok_r(copy, "/", &save); comp;
             comp = strtok_r(NULL, "/", &save), idx++) {
                strbuf_addc(&sofar, '/');
                strbuf_adds(&sofar, comp);
                const char *here = strbuf_str(&sofar);
                if (streq(comp, ".") || streq(comp, "..")) {
                        r = error_set(err, DS01_EPERM, "workspace path %s contains '%s'", path,
                                      comp);
                        break;
                }
                bool below_user = user_from != (size_t)-1 && idx > user_from;
                int next = userpath_step(dirfd, comp, below_user);
                if (next == -ENOENT && create && idx >= create_from) {
                        int c = create_component(dirfd, comp, below_user, uid, gid);
                        if (c < 0) {
                                r = error_set_errno(err, c, "creating workspace %s", here);
                                break;
                        }
                        next = userpath_step(dirfd, comp, below_user);
                }
                if (next < 0) {
                        r = userpath_step_error(next, here, err);
                        break;
                }
                close(dirfd);
                dirfd = next;
                enum userpath_part part = idx < user_from    ? USERPATH_ROOTS
                                          : idx == user_from ? USERPATH_ANCHOR
                                                             : USERPATH_USERS;
                r = userpath_check_dir(dirfd, here, part, uid, err);
                if (r < 0)
                        break;
        }
        strbuf_release(&sofar);
        return r < 0 ? -1 : TAKE_FD(dirfd);
}

static size_t count_components(const char *p)
{
        size_t n = 0;
        for (const char *c = p; *c; c++)
                if (*c != '/' && (c == p || c[-1] == '/'))
                        n++;
        return n;
}

/* Where uid's project lives, and from which path component on the user owns (user_from) and
 * ds01 may create (create_from) what is missing. */
static char *locate(const char *workspace_root, const char *project, uid_t uid, size_t *user_from,
                    size_t *create_from, struct error **err)
{
        if (streq(workspace_root, "home")) {
                _cleanup_free_ char *home = userpath_home(uid, err);
                if (!home)
                        return NULL;
                *user_from = count_components(home) - 1; /* the home directory itself */
                *create_from = *user_from + 1;           /* ~/workspace */
                return xasprintf("%s/workspace/%s", home, project);
        }
        struct passwd pw, *res = NULL;
        char buf[4096];
        if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) != 0 || !res) {
                error_set(err, DS01_ERR, "uid %u has no passwd entry", (unsigned)uid);
                return NULL;
        }
        *user_from = count_components(workspace_root);
        *create_from = *user_from;
        return xasprintf("%s/%s/%s", workspace_root, pw.pw_name, project);
}

char *workspace_path(const char *workspace_root, const char *project, uid_t uid, struct error **err)
{
        size_t user_from, create_from;
        return locate(workspace_root, project, uid, &user_from, &create_from, err);
}

int workspace_prepare(const char *workspace_root, const char *project, uid_t uid, gid_t gid,
                      bool create, char **ret_path, int *ret_fd, struct error **err)
{
        size_t user_from, create_from;
        _cleanup_free_ char *path =
            locate(workspace_root, project, uid, &user_from, &create_from, err);
        if (!path)
                return -1;
        if (uid == 0)
                user_from = (size_t)-1; /* root's own workspace: everything root-owned */
        /* One at a time: between mkdirat and fchownat a directory under workspace_root is root's,
         * and a concurrent check of the same path (two first deploys of one user) must not see it
         * then. */
        static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
        pthread_mutex_lock(&lock);
        int fd = walk(path, user_from, create_from, uid, gid, create, err);
        pthread_mutex_unlock(&lock);
        if (fd < 0)
                return -1;
        if (ret_fd)
                *ret_fd = fd;
        else
                close(fd);
        *ret_path = TAKE_PTR(path);
        return 0;
}

/* ---- pins (pins.h) ---- */

#define PINS_KIND "workspaces"

static char *pin_path(const char *state_dir, const char *container)
{
        return xasprintf("%s/" PINS_KIND "/%s", state_dir, container);
}

char *workspace_pin_prepare(const char *state_dir, const char *container, struct error **err)
{
        _cleanup_free_ char *dir = pins_dir(state_dir, PINS_KIND, err);
        if (!dir)
                return NULL;
        char *pin = pin_path(state_dir, container);
        if (mkdir(pin, 0700) < 0 && errno != EEXIST) {
                error_set_errno(err, errno, "creating %s", pin);
                free(pin);
                return NULL;
        }
        return pin;
}

int workspace_pin(const char *state_dir, const char *container, int fd, struct error **err)
{
        _cleanup_free_ char *pin = workspace_pin_prepare(state_dir, container, err);
        if (!pin)
                return -1;
        return pins_bind(pin, fd, "the workspace", err);
}

void workspace_unpin(const char *state_dir, const char *container)
{
        _cleanup_free_ char *pin = pin_path(state_dir, container);
        pins_unbind(pin);
}

void workspace_pin_remove(const char *state_dir, const char *container)
{
        workspace_unpin(state_dir, container);
        _cleanup_free_ char *pin = pin_path(state_dir, container);
        /* rmdir, never a recursive removal: were it still a mount, the user's files are below. */
        if (rmdir(pin) < 0 && errno != ENOENT)
                log_warning("removing %s: %m", pin);
}

void workspace_pins_sweep(const char *state_dir, bool (*exists)(const char *container, void *ctx),
                          void *ctx)
{
        pins_sweep(state_dir, PINS_KIND, workspace_unpin, workspace_pin_remove, exists, ctx);
}
