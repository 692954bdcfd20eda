/* test-userpath.c - opens in user-controlled places: symlinks, /proc magic links, FIFOs, device
 * nodes, hard links, files of others and mount crossings are refused; files are created only
 * exclusively. Runs as root (it hands directories to a made-up uid); skipped otherwise. */
#include "daemon/containers/userpath.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define FAKE_UID 4242
#define FAKE_GID 4343

static char *top; /* /tmp/ds01-userpath-XXXXXX, root's; top/home is the user's */
static char *home;

static int setup(void **state)
{
        (void)state;
        char tmpl[] = "/tmp/ds01-userpath-XXXXXX";
        assert_non_null(mkdtemp(tmpl));
        top = xstrdup(tmpl);
        home = xasprintf("%s/home", top);
        assert_int_equal(mkdir(home, 0700), 0);
        assert_int_equal(chown(home, FAKE_UID, FAKE_GID), 0);
        return 0;
}

static int teardown(void **state)
{
        (void)state;
        _cleanup_free_ char *cmd = xasprintf("rm -rf '%s'", top);
        assert_int_equal(system(cmd), 0);
        free(top);
        free(home);
        return 0;
}

static char *at(const char *name)
{
        return xasprintf("%s/%s", home, name);
}

static void user_file(const char *name, mode_t mode)
{
        _cleanup_free_ char *p = at(name);
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "x", 1), 1);
        close(fd);
        assert_int_equal(chown(p, FAKE_UID, FAKE_GID), 0);
}

static int home_fd(void)
{
        struct error *err = NULL;
        int fd = userpath_open_dir(home, FAKE_UID, &err);
        assert_null(err);
        assert_true(fd >= 0);
        return fd;
}

/* Opening name in home must be refused, leave the root file as it was and be quick. */
static void refused(const char *name, int flags)
{
        _cleanup_close_ int dfd = home_fd();
        struct error *err = NULL;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        int fd = userpath_open_file(dfd, name, flags, FAKE_UID, FAKE_GID, &err);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        assert_int_equal(fd, -1);
        assert_non_null(err);
        assert_int_equal(err->code, DS01_EPERM);
        assert_true(t1.tv_sec - t0.tv_sec < 2);
        error_free(err);
}

static void test_regular_file_opened(void **state)
{
        (void)state;
        user_file("plain", 0600);
        _cleanup_close_ int dfd = home_fd();
        struct error *err = NULL;
        _cleanup_close_ int fd =
            userpath_open_file(dfd, "plain", O_WRONLY | O_APPEND, FAKE_UID, FAKE_GID, &err);
        assert_null(err);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "y", 1), 1);
        assert_int_equal(userpath_open_file(dfd, "missing", O_RDONLY, FAKE_UID, 0, &err), -ENOENT);
        assert_null(err);
}

static void test_created_exclusively(void **state)
{
        (void)state;
        _cleanup_close_ int dfd = home_fd();
        struct error *err = NULL;
        _cleanup_close_ int fd =
            userpath_open_file(dfd, "new", O_WRONLY | O_APPEND | O_CREAT, FAKE_UID, FAKE_GID, &err);
        assert_null(err);
        struct stat st;
        assert_int_equal(fstat(fd, &st), 0);
        assert_int_equal(st.st_uid, FAKE_UID);
        assert_int_equal(st.st_gid, FAKE_GID);
        assert_int_equal(st.st_mode & 07777, 0600);
}

static void test_root_file_not_taken(void **state)
{
        (void)state;
        /* An empty root-owned file in the user's directory is never chowned to the user. */
        _cleanup_free_ char *p = at("rootfile");
        close(open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
        refused("rootfile", O_WRONLY | O_APPEND | O_CREAT);
        struct stat st;
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal(st.st_uid, 0);
}

static void test_symlinks_refused(void **state)
{
        (void)state;
        _cleanup_free_ char *secret = xasprintf("%s/secret", top);
        close(open(secret, O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
        _cleanup_free_ char *l = at("link");
        assert_int_equal(symlink(secret, l), 0);
        refused("link", O_WRONLY | O_APPEND | O_CREAT);
        /* a magic link: /proc/self/fd/N of an open root file */
        int rfd = open(secret, O_RDONLY | O_CLOEXEC);
        _cleanup_free_ char *magic = xasprintf("/proc/%d/fd/%d", getpid(), rfd);
        _cleanup_free_ char *ml = at("magic");
        assert_int_equal(symlink(magic, ml), 0);
        refused("magic", O_WRONLY | O_APPEND | O_CREAT);
        close(rfd);
        struct stat st;
        assert_int_equal(stat(secret, &st), 0);
        assert_int_equal(st.st_uid, 0);
        assert_int_equal(st.st_size, 0);

        /* directories: a symlinked component, and a path through /proc/PID/root */
        _cleanup_free_ char *ld = at("dirlink");
        assert_int_equal(symlink(top, ld), 0);
        struct error *err = NULL;
        assert_int_equal(userpath_open_dir(ld, FAKE_UID, &err), -1);
        assert_int_equal(err->code, DS01_EPERM);
        err = error_free(err);
        _cleanup_free_ char *via_proc = xasprintf("/proc/%d/root%s", getpid(), home);
        assert_int_equal(userpath_open_dir(via_proc, FAKE_UID, &err), -1);
        assert_non_null(err);
        error_free(err);
}

static void test_special_files_refused(void **state)
{
        (void)state;
        _cleanup_free_ char *fifo = at("fifo");
        assert_int_equal(mkfifo(fifo, 0600), 0);
        assert_int_equal(chown(fifo, FAKE_UID, FAKE_GID), 0);
        refused("fifo", O_RDONLY); /* would block without a writer if it were opened */
        refused("fifo", O_WRONLY | O_APPEND | O_CREAT);
        _cleanup_free_ char *dev = at("dev");
        if (mknod(dev, S_IFCHR | 0600, makedev(1, 3)) == 0) {
                assert_int_equal(chown(dev, FAKE_UID, FAKE_GID), 0);
                refused("dev", O_WRONLY | O_APPEND | O_CREAT);
        }
        _cleanup_free_ char *d = at("adir");
        assert_int_equal(mkdir(d, 0700), 0);
        assert_int_equal(chown(d, FAKE_UID, FAKE_GID), 0);
        refused("adir", O_RDONLY);
}

static void test_hard_link_refused(void **state)
{
        (void)state;
        user_file("one", 0600);
        _cleanup_free_ char *one = at("one"), *two = at("two");
        assert_int_equal(link(one, two), 0);
        refused("two", O_WRONLY | O_APPEND);
}

static void test_foreign_dirs_refused(void **state)
{
        (void)state;
        struct error *err = NULL;
        /* the user's part must be theirs all the way down */
        _cleanup_free_ char *d = at("rootdir");
        assert_int_equal(mkdir(d, 0755), 0);
        assert_int_equal(userpath_open_dir(d, FAKE_UID, &err), -1);
        assert_int_equal(err->code, DS01_EPERM);
        err = error_free(err);
        /* another uid's directory */
        assert_int_equal(userpath_open_dir(home, FAKE_UID + 1, &err), -1);
        assert_non_null(err);
        error_free(err);
}

static void test_mkdir_as_user(void **state)
{
        (void)state;
        _cleanup_close_ int dfd = home_fd();
        assert_int_equal(userpath_mkdir_as(dfd, "made", 0700, FAKE_UID, FAKE_GID), 0);
        _cleanup_free_ char *p = at("made");
        struct stat st;
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal(st.st_uid, FAKE_UID);
        assert_int_equal(st.st_gid, FAKE_GID);
        /* the user's own permissions decide: not in a root-only directory */
        _cleanup_free_ char *rd = at("rootonly");
        assert_int_equal(mkdir(rd, 0700), 0);
        _cleanup_close_ int rfd = open(rd, O_PATH | O_DIRECTORY | O_CLOEXEC);
        assert_int_equal(userpath_mkdir_as(rfd, "x", 0700, FAKE_UID, FAKE_GID), -EACCES);
        /* and this thread is root again */
        assert_int_equal(mkdirat(rfd, "y", 0700), 0);
}

static void test_mount_crossing_refused(void **state)
{
        (void)state;
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
                print_message("no private mount namespace here (%m): crossing not tested\n");
                return;
        }
        _cleanup_free_ char *mnt = at("mnt"), *sub = xasprintf("%s/mnt/sub", home);
        assert_int_equal(mkdir(mnt, 0700), 0);
        assert_int_equal(chown(mnt, FAKE_UID, FAKE_GID), 0);
        assert_int_equal(mount(top, mnt, NULL, MS_BIND, NULL), 0);
        assert_int_equal(mkdir(sub, 0700), 0);
        assert_int_equal(chown(sub, FAKE_UID, FAKE_GID), 0);
        struct error *err = NULL;
        assert_int_equal(userpath_open_dir(sub, FAKE_UID, &err), -1);
        assert_non_null(err);
        assert_int_equal(err->code, DS01_EPERM);
        error_free(err);
        /* a file bind-mounted over a name in the user's directory */
        user_file("over", 0600);
        _cleanup_free_ char *over = at("over"), *secret = xasprintf("%s/secret2", top);
        close(open(secret, O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
        assert_int_equal(chown(secret, FAKE_UID, FAKE_GID), 0);
        assert_int_equal(mount(secret, over, NULL, MS_BIND, NULL), 0);
        refused("over", O_WRONLY | O_APPEND);
        umount2(over, MNT_DETACH);
        umount2(mnt, MNT_DETACH);
}

int main(void)
{
        if (geteuid() != 0) {
                fprintf(stderr, "test-userpath needs root (it hands files to a made-up uid)\n");
                return 77;
        }
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_regular_file_opened, setup, teardown),
            cmocka_unit_test_setup_teardown(test_created_exclusively, setup, teardown),
            cmocka_unit_test_setup_teardown(test_root_file_not_taken, setup, teardown),
            cmocka_unit_test_setup_teardown(test_symlinks_refused, setup, teardown),
            cmocka_unit_test_setup_teardown(test_special_files_refused, setup, teardown),
            cmocka_unit_test_setup_teardown(test_hard_link_refused, setup, teardown),
            cmocka_unit_test_setup_teardown(test_foreign_dirs_refused, setup, teardown),
            cmocka_unit_test_setup_teardown(test_mkdir_as_user, setup, teardown),
            cmocka_unit_test_setup_teardown(test_mount_crossing_refused, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
