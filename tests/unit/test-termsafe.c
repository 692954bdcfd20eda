/* test-termsafe.c - term_filter: no control character a terminal would obey gets through, in
 * one piece or split across chunks at any byte; text, tabs, newlines and UTF-8 pass unchanged. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "shared/termsafe.h"

static const struct {
        const char *in, *out;
} cases[] = {
    {"plain text\n", "plain text\n"},
    {"tab\there", "tab\there"},
    {"\x1b]0;title\a\x1b[2J", "^[]0;title^G^[[2J"},
    {"crlf\r\nline", "crlf\nline"},
    {"over\rwrite", "over^Mwrite"},
    {"end\r", "end^M"},
    {"del\x7f nul-less \x01\x1f", "del^? nul-less ^A^_"},
    {"csi \xc2\x9b"
     "2J",
     "csi M-^[2J"}, /* U+009B in UTF-8 */
    {"8-bit \x9b"
     "2J",
     "8-bit M-^[2J"},                                      /* a raw C1 byte */
    {"caf\xc3\xa9 \xc2\xa0 \xe2\x9c\x93 \xf0\x9f\x9a\x80", /* UTF-8, NBSP included */
     "caf\xc3\xa9 \xc2\xa0 \xe2\x9c\x93 \xf0\x9f\x9a\x80"},
    {"lone \xc2", "lone \xc2"},
};

/* in, fed in chunks of `step` bytes */
static char *filter(const char *in, size_t step)
{
        struct term_filter f = TERM_FILTER_INIT;
        struct strbuf sb = STRBUF_INIT;
        size_t n = strlen(in);
        for (size_t i = 0; i < n; i += step)
                term_filter(&f, in + i, n - i < step ? n - i : step, &sb);
        term_filter_end(&f, &sb);
        return strbuf_detach(&sb);
}

static void test_cases(void **state)
{
        (void)state;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
                for (size_t step = 1; step <= strlen(cases[i].in) + 1; step++) {
                        char *got = filter(cases[i].in, step);
                        if (strcmp(got, cases[i].out) != 0)
                                print_error("case %zu, chunks of %zu: got '%s'\n", i, step, got);
                        assert_string_equal(got, cases[i].out);
                        free(got);
                }
}

/* Every byte value after every byte value: nothing below 0x20 (but \n, \t), no DEL and no C1
 * (raw, or as UTF-8) comes out. */
static void test_no_controls(void **state)
{
        (void)state;
        for (int a = 1; a < 256; a++)
                for (int b = 1; b < 256; b++) {
                        char in[3] = {(char)a, (char)b, 0};
                        char *out = term_safe(in);
                        for (const unsigned char *p = (const unsigned char *)out; *p; p++) {
                                assert_true(*p >= 0x20 || *p == '\n' || *p == '\t');
                                assert_true(*p != 0x7f);
                                if (*p == 0xc2)
                                        assert_false(p[1] >= 0x80 && p[1] <= 0x9f);
                                if (*p >= 0x80 && *p <= 0x9f)
                                        assert_true(p > (const unsigned char *)out &&
                                                    p[-1] >= 0xc0);
                        }
                        free(out);
                }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_cases),
            cmocka_unit_test(test_no_controls),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
