/* test-strbuf.c - the JSON writers that container.list builds its answer with: whatever a string
 * holds, jansson must read back exactly that string; integers at their limits. And xgrow, the
 * growing arrays the ledger reads rows into. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>

#include "shared/strbuf.h"

/* s written as a JSON string and read back by jansson */
static char *round_trip(const char *s)
{
        struct strbuf sb = STRBUF_INIT;
        strbuf_adds(&sb, "[");
        strbuf_add_json_string(&sb, s);
        strbuf_adds(&sb, "]");
        json_error_t je;
        json_t *v = json_loads(strbuf_str(&sb), 0, &je);
        if (!v)
                print_error("jansson refused %s: %s\n", strbuf_str(&sb), je.text);
        assert_non_null(v);
        char *back = xstrdup(json_string_value(json_array_get(v, 0)));
        json_decref(v);
        strbuf_release(&sb);
        return back;
}

static void test_json_string(void **state)
{
        (void)state;
        static const char *cases[] = {
            "",
            "Up 5 minutes",
            "Exited (137) 2 hours ago",
            "quote \" and backslash \\ and slash /",
            "tab\tnewline\nreturn\rbell\a escape\x1b nul-less \x01\x1f",
            "utf-8: caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x9a\x80",
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char *back = round_trip(cases[i]);
                assert_string_equal(back, cases[i]);
                free(back);
        }
}

static void test_json_string_escapes(void **state)
{
        (void)state;
        struct strbuf sb = STRBUF_INIT;
        strbuf_add_json_string(&sb, "a\"b\\c\n\x01");
        assert_string_equal(strbuf_str(&sb), "\"a\\\"b\\\\c\\n\\u0001\"");
        strbuf_release(&sb);
}

static void test_i64(void **state)
{
        (void)state;
        static const int64_t cases[] = {0, 7, -7, 10, 1700000000, INT64_MAX, INT64_MIN};
        static const char *want[] = {
            "0", "7", "-7", "10", "1700000000", "9223372036854775807", "-9223372036854775808"};
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct strbuf sb = STRBUF_INIT;
                strbuf_addc(&sb, 'x');
                strbuf_add_i64(&sb, cases[i]);
                assert_string_equal(strbuf_str(&sb) + 1, want[i]);
                strbuf_release(&sb);
        }
}

static void test_html(void **state)
{
        (void)state;
        struct strbuf sb = STRBUF_INIT;
        strbuf_adds(&sb, "");
        strbuf_add_html(&sb, "<a href=\"x\">Tom & 'Jerry'</a>");
        assert_string_equal(strbuf_str(&sb),
                            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;");
        strbuf_release(&sb);
}

/* RFC 4648's test vectors, and bytes that are not text. */
static void test_base64(void **state)
{
        (void)state;
        static const char *in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
        static const char *want[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                                     "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
        for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
                struct strbuf sb = STRBUF_INIT;
                strbuf_adds(&sb, "");
                strbuf_add_base64(&sb, in[i], strlen(in[i]));
                assert_string_equal(strbuf_str(&sb), want[i]);
                strbuf_release(&sb);
        }
        struct strbuf sb = STRBUF_INIT;
        strbuf_add_base64(&sb, "\xff\xfe\x00", 3);
        assert_string_equal(strbuf_str(&sb), "//4A");
        strbuf_release(&sb);
}

/* 1000 elements pushed one by one keep their values; the allocation doubles (8, 16, ...). */
static void test_xgrow(void **state)
{
        (void)state;
        int64_t *v = NULL;
        size_t n = 0, cap = 0;
        for (int64_t i = 0; i < 1000; i++) {
                v = xgrow(v, n, &cap, sizeof(*v));
                assert_true(cap > n);
                v[n++] = i * i;
        }
        assert_int_equal(cap, 1024);
        for (size_t i = 0; i < n; i++)
                assert_int_equal(v[i], (int64_t)(i * i));
        assert_ptr_equal(xgrow(v, 10, &cap, sizeof(*v)), v); /* room left: unchanged */
        assert_int_equal(cap, 1024);
        free(v);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_json_string), cmocka_unit_test(test_json_string_escapes),
            cmocka_unit_test(test_i64),         cmocka_unit_test(test_base64),
            cmocka_unit_test(test_html),        cmocka_unit_test(test_xgrow),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
