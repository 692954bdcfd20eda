/* test-log.c - the daemon log (src/shared/log.c): what a message holds never starts a line of
 * its own, and an over-long message is cut. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "shared/log.h"

/* What log_msg writes for one message, read back through a pipe put on stderr. */
static char *logged(void (*emit)(void))
{
        int p[2];
        assert_int_equal(pipe(p), 0);
        int saved = dup(STDERR_FILENO);
        dup2(p[1], STDERR_FILENO);
        close(p[1]);
        emit();
        dup2(saved, STDERR_FILENO);
        close(saved);
        static char buf[65536];
        ssize_t n = read(p[0], buf, sizeof(buf) - 1);
        close(p[0]);
        assert_true(n > 0);
        buf[n] = '\0';
        return buf;
}

static void emit_forged(void)
{
        log_notice("auth.denied: tried to stop '%s'", "y._.x\n<3>FORGED\r\033]0;t\a\x7f");
}

static void test_control_characters_escaped(void **state)
{
        (void)state;
        const char *line = logged(emit_forged);
        assert_string_equal(line, "<5>auth.denied: tried to stop "
                                  "'y._.x\\x0a<3>FORGED\\x0d\\x1b]0;t\\x07\\x7f'\n");
}

static void emit_long(void)
{
        char *big = xmalloc(100000);
        memset(big, 'a', 99999);
        big[99999] = '\0';
        log_info("%s", big);
        free(big);
}

static void test_long_message_cut(void **state)
{
        (void)state;
        const char *line = logged(emit_long);
        size_t n = strlen(line);
        assert_true(n <= 8193);
        assert_int_equal(line[n - 1], '\n');
        assert_string_equal(line + n - 4, "...\n");
        assert_ptr_equal(strchr(line, '\n'), line + n - 1); /* one line */
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_control_characters_escaped),
            cmocka_unit_test(test_long_message_cut),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
