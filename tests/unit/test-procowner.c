/* test-procowner.c - whom a GPU process belongs to: the Docker container id in /proc/PID/cgroup
 * as each cgroup layout writes it, and what is not one; and procowner_read on this very process
 * (the host's PID namespace, our uid) and on a pid that does not exist. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "daemon/gpus/procowner.h"

#define ID "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void assert_id(const char *text, const char *want)
{
        char got[PROCOWNER_ID_LEN + 1] = "x";
        bool found = procowner_container_id(text, got);
        if (!want) {
                assert_false(found);
                assert_string_equal(got, "");
                return;
        }
        assert_true(found);
        assert_string_equal(got, want);
}

static void test_layouts(void **state)
{
        (void)state;
        /* cgroup v2, systemd driver */
        assert_id("0::/system.slice/docker-" ID ".scope\n", ID);
        /* cgroup v2, cgroupfs driver */
        assert_id("0::/docker/" ID "\n", ID);
        /* cgroup v1: the id on some hierarchy, the first line that has one wins */
        assert_id("12:pids:/\n11:memory:/docker/" ID "\n1:name=systemd:/docker/" ID "\n", ID);
        /* a process inside a container's own nested cgroup */
        assert_id("0::/system.slice/docker-" ID ".scope/init.scope\n", ID);
        /* no trailing newline */
        assert_id("0::/docker/" ID, ID);
}

static void test_not_ids(void **state)
{
        (void)state;
        assert_id("", NULL);
        assert_id("0::/\n", NULL);
        assert_id("0::/user.slice/user-1000.slice/session-3.scope\n", NULL);
        /* 63 and 65 hex digits, upper case: not Docker's ids */
        assert_id("0::/docker/"
                  "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n",
                  NULL);
        assert_id("0::/docker/" ID "0\n", NULL);
        assert_id("0::/docker/0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef\n",
                  NULL);
        /* the id in the controller field, not the path */
        assert_id("0:" ID ":/\n", NULL);
        /* a line without colons is no path */
        assert_id(ID "\n", NULL);
        /* another prefix */
        assert_id("0::/system.slice/libpod-" ID ".scope\n", NULL);
}

static void test_read_self(void **state)
{
        (void)state;
        struct procowner po;
        assert_int_equal(procowner_read(getpid(), &po), 0);
        assert_int_equal(po.uid, getuid());
        assert_true(po.comm[0] != '\0');
        assert_true(strchr(po.comm, '\n') == NULL);
}

static void test_read_gone(void **state)
{
        (void)state;
        struct procowner po;
        /* above pid_max (at most 2^22) */
        int r = procowner_read(1 << 23, &po);
        assert_true(r == -ENOENT || r == -ESRCH);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_layouts),
            cmocka_unit_test(test_not_ids),
            cmocka_unit_test(test_read_self),
            cmocka_unit_test(test_read_gone),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
