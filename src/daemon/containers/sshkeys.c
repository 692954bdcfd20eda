/* sshkeys.c - ~/.ssh and ~/.gitconfig in a user's container (see sshkeys.h). */
#include "daemon/containers/sshkeys.h"

#include "daemon/containers/pins.h"
#include "daemon/containers/userpath.h"

#include "shared/log.h"
#include "shared/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#define PINS_KIND "ssh"

static const char *const entry_name[] = {[SSHKEYS_DIR] = "ssh", [SSHKEYS_GITCONFIG] = "gitconfig"};

int sshkeys_open(uid_t uid, gid_t gid, struct sshkeys *k, struct error **err)
{
        *k = (struct sshkeys)SSHKEYS_INIT;
        _cleanup_free_ char *home = userpath_home(uid, err);
        if (!home)
                return -1;
        _cleanup_close_ int home_fd = userpath_open_dir(home, uid, err);
        if (home_fd < 0)
                return error_wrap(err, "--ssh");
        _cleanup_free_ char *shown = xasprintf("%s/.ssh", home);
        _cleanup_close_ int ssh = userpath_step(home_fd, ".ssh", true);
        if (ssh == -ENOENT)
                return error_set(err, DS01_EUSAGE,
                                 "--ssh mounts your ~/.ssh, and %s does not exist - make a key "
                                 "with ssh-keygen (or deploy without --ssh)",
                                 shown);
        if (ssh < 0) {
                userpath_step_error(ssh, shown, err);
                return error_wrap(err, "--ssh");
        }
        if (userpath_check_dir(ssh, shown, USERPATH_USERS, uid, err) < 0)
                return error_wrap(err, "--ssh");
        _cleanup_close_ int git =
            userpath_open_file(home_fd, ".gitconfig", O_RDONLY, uid, gid, err);
        if (git < 0 && git != -ENOENT) /* absent: the container gets an empty ~/.gitconfig */
                return error_wrap(err, "--ssh (~/.gitconfig)");
        k->ssh_fd = TAKE_FD(ssh);
        k->gitconfig_fd = git < 0 ? -1 : TAKE_FD(git);
        return 0;
}

void sshkeys_close(struct sshkeys *k)
{
        if (k->ssh_fd >= 0)
                close(k->ssh_fd);
        if (k->gitconfig_fd >= 0)
                close(k->gitconfig_fd);
        *k = (struct sshkeys)SSHKEYS_INIT;
}

char *sshkeys_pin_path(const char *state_dir, const char *container)
{
        return xasprintf("%s/" PINS_KIND "/%s", state_dir, container);
}

char *sshkeys_pin_source(const char *pin, enum sshkeys_entry e)
{
        return xasprintf("%s/%s", pin, entry_name[e]);
}

int sshkeys_pin_prepare(const char *state_dir, const char *container, struct error **err)
{
        _cleanup_free_ char *dir = pins_dir(state_dir, PINS_KIND, err);
        if (!dir)
                return -1;
        _cleanup_free_ char *pin = sshkeys_pin_path(state_dir, container);
        _cleanup_free_ char *ssh = sshkeys_pin_source(pin, SSHKEYS_DIR);
        _cleanup_free_ char *git = sshkeys_pin_source(pin, SSHKEYS_GITCONFIG);
        if ((mkdir(pin, 0700) < 0 && errno != EEXIST) || (mkdir(ssh, 0700) < 0 && errno != EEXIST))
                return error_set_errno(err, errno, "creating %s", ssh);
        /* empty and readable: git fails on a ~/.gitconfig it cannot read, not on an empty one */
        int fd = open(git, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0)
                return error_set_errno(err, errno, "creating %s", git);
        close(fd);
        return 0;
}

int sshkeys_pin(const char *state_dir, const char *container, const struct sshkeys *k,
                struct error **err)
{
        if (sshkeys_pin_prepare(state_dir, container, err) < 0)
                return -1;
        _cleanup_free_ char *pin = sshkeys_pin_path(state_dir, container);
        _cleanup_free_ char *ssh = sshkeys_pin_source(pin, SSHKEYS_DIR);
        if (pins_bind(ssh, k->ssh_fd, "~/.ssh", err) < 0)
                return -1;
        if (k->gitconfig_fd < 0)
                return 0;
        _cleanup_free_ char *git = sshkeys_pin_source(pin, SSHKEYS_GITCONFIG);
        if (pins_bind(git, k->gitconfig_fd, "~/.gitconfig", err) < 0) {
                pins_unbind(ssh);
                return -1;
        }
        return 0;
}

void sshkeys_unpin(const char *state_dir, const char *container)
{
        _cleanup_free_ char *pin = sshkeys_pin_path(state_dir, container);
        for (size_t i = 0; i < ARRAY_SIZE(entry_name); i++) {
                _cleanup_free_ char *p = sshkeys_pin_source(pin, i);
                pins_unbind(p);
        }
}

void sshkeys_pin_remove(const char *state_dir, const char *container)
{
        sshkeys_unpin(state_dir, container);
        _cleanup_free_ char *pin = sshkeys_pin_path(state_dir, container);
        _cleanup_free_ char *ssh = sshkeys_pin_source(pin, SSHKEYS_DIR);
        _cleanup_free_ char *git = sshkeys_pin_source(pin, SSHKEYS_GITCONFIG);
        /* rmdir and unlink, never a recursive removal: were one still bound, the user's files
         * are below it, and both fail on a mount point */
        if ((rmdir(ssh) < 0 && errno != ENOENT) || (unlink(git) < 0 && errno != ENOENT) ||
            (rmdir(pin) < 0 && errno != ENOENT))
                log_warning("removing %s: %m", pin);
}

void sshkeys_pins_sweep(const char *state_dir, bool (*exists)(const char *container, void *ctx),
                        void *ctx)
{
        pins_sweep(state_dir, PINS_KIND, sshkeys_unpin, sshkeys_pin_remove, exists, ctx);
}
