/* test-buildcheck.c - the build context as Docker reads it: the one Dockerfile of a tar, the
 * images a Dockerfile reads, the labels it may not set (issue 11, items 4 and 7). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "daemon/images/buildcheck.h"
#include "shared/strbuf.h"

/* ---- tar ---------------------------------------------------------------------------------- */

static void header(struct strbuf *t, const char *name, char type, size_t size, const char *link)
{
        char h[512] = {0};
        snprintf(h, 100, "%s", name);
        snprintf(h + 100, 8, "%07o", 0644);
        snprintf(h + 108, 8, "%07o", 0);
        snprintf(h + 116, 8, "%07o", 0);
        snprintf(h + 124, 12, "%011o", (unsigned)(size & 077777777777));
        snprintf(h + 136, 12, "%011o", 0);
        h[156] = type;
        if (link)
                snprintf(h + 157, 100, "%s", link);
        memcpy(h + 257,
               "ustar\0"
               "00",
               8);
        memset(h + 148, ' ', 8);
        unsigned sum = 0;
        for (size_t i = 0; i < 512; i++)
                sum += (unsigned char)h[i];
        snprintf(h + 148, 8, "%06o", sum);
        h[155] = ' ';
        strbuf_add(t, h, 512);
}

static void data(struct strbuf *t, const char *d, size_t n)
{
        strbuf_add(t, d, n);
        static const char zero[512];
        if (n % 512)
                strbuf_add(t, zero, 512 - n % 512);
}

static void file(struct strbuf *t, const char *name, const char *text)
{
        header(t, name, '0', strlen(text), NULL);
        data(t, text, strlen(text));
}

static void end(struct strbuf *t)
{
        static const char zero[1024];
        strbuf_add(t, zero, sizeof(zero));
}

static char *ctx_ok(struct strbuf *t)
{
        char *df = NULL;
        struct error *e = NULL;
        int r = buildcheck_context(t->buf, t->len, &df, &e);
        if (r < 0)
                print_error("refused: %s\n", e->message);
        assert_int_equal(r, 0);
        error_free(e);
        strbuf_release(t);
        return df;
}

static void ctx_refused(struct strbuf *t, const char *why)
{
        char *df = NULL;
        struct error *e = NULL;
        assert_int_equal(buildcheck_context(t->buf, t->len, &df, &e), -1);
        assert_null(df);
        assert_non_null(e);
        if (!strstr(e->message, why))
                print_error("message '%s' lacks '%s'\n", e->message, why);
        assert_non_null(strstr(e->message, why));
        error_free(e);
        strbuf_release(t);
}

static void test_context_one(void **state)
{
        (void)state;
        struct strbuf t = STRBUF_INIT;
        header(&t, "src/", '5', 0, NULL);
        file(&t, "src/a.py", "print(1)\n");
        file(&t, "./Dockerfile", "FROM base\n");
        end(&t);
        char *df = ctx_ok(&t);
        assert_string_equal(df, "FROM base\n");
        free(df);
}

static void test_context_two_dockerfiles(void **state)
{
        (void)state;
        const char *names[][2] = {
            {"Dockerfile", "Dockerfile"},    {"Dockerfile", "./Dockerfile"},
            {"Dockerfile", ".//Dockerfile"}, {"./Dockerfile", "x/../Dockerfile"},
            {"Dockerfile", "/Dockerfile"},   {"Dockerfile", "../Dockerfile"}};
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
                struct strbuf t = STRBUF_INIT;
                file(&t, names[i][0], "FROM base\n");
                file(&t, names[i][1], "FROM ds01-1005/secret\n");
                end(&t);
                ctx_refused(&t, "more than one Dockerfile");
        }
        /* A PAX path names the entry whatever its header says. */
        struct strbuf t = STRBUF_INIT;
        file(&t, "Dockerfile", "FROM base\n");
        const char pax[] = "19 path=Dockerfile\n";
        header(&t, "././@PaxHeader", 'x', strlen(pax), NULL);
        data(&t, pax, strlen(pax));
        file(&t, "innocent", "FROM ds01-1005/secret\n");
        end(&t);
        ctx_refused(&t, "more than one Dockerfile");
}

static void test_context_links(void **state)
{
        (void)state;
        struct strbuf t = STRBUF_INIT;
        header(&t, "Dockerfile", '2', 0, "other");
        file(&t, "other", "FROM base\n");
        end(&t);
        ctx_refused(&t, "not a regular file");

        strbuf_init(&t);
        file(&t, "Dockerfile", "FROM base\n");
        header(&t, "d", '2', 0, ".");
        file(&t, "d/Dockerfile", "FROM ds01-1005/secret\n");
        end(&t);
        ctx_refused(&t, "through a symlink");

        strbuf_init(&t);
        file(&t, "Dockerfile", "FROM base\n");
        header(&t, "h", '1', 0, "./Dockerfile");
        end(&t);
        ctx_refused(&t, "hard-links");
}

static void test_context_malformed(void **state)
{
        (void)state;
        struct strbuf t = STRBUF_INIT;
        file(&t, "Dockerfile", "FROM base\n");
        end(&t);
        t.buf[148] ^= 1; /* checksum */
        ctx_refused(&t, "not ustar");

        strbuf_init(&t);
        strbuf_add(&t, "\x1f\x8b\x08", 3);
        ctx_refused(&t, "compressed");

        strbuf_init(&t);
        header(&t, "longname", 'L', 9, NULL);
        data(&t, "Dockerfile", 10);
        file(&t, "x", "FROM ds01-1005/secret\n");
        end(&t);
        ctx_refused(&t, "GNU");

        /* A directory's size field carries no data (Go): what follows is a header. */
        strbuf_init(&t);
        header(&t, "dir/", '5', 512, NULL);
        file(&t, "Dockerfile", "FROM base\n");
        file(&t, "Dockerfile", "FROM ds01-1005/secret\n");
        end(&t);
        ctx_refused(&t, "more than one Dockerfile");

        strbuf_init(&t);
        file(&t, "a", "x");
        end(&t);
        ctx_refused(&t, "no Dockerfile");
}

/* ---- Dockerfile --------------------------------------------------------------------------- */

static char **refs_ok(const char *df)
{
        char **refs = NULL;
        struct error *e = NULL;
        int r = buildcheck_dockerfile(df, &refs, &e);
        if (r < 0)
                print_error("refused '%s': %s\n", df, e->message);
        assert_int_equal(r, 0);
        return refs;
}

static bool has(char **refs, const char *s)
{
        for (size_t i = 0; refs[i]; i++)
                if (strcmp(refs[i], s) == 0)
                        return true;
        return false;
}

static void assert_reads(const char *df, const char *image)
{
        char **refs = refs_ok(df);
        if (!has(refs, image))
                print_error("'%s' does not read '%s'\n", df, image);
        assert_true(has(refs, image));
        buildcheck_refs_free(refs);
}

static void df_refused(const char *df, const char *why)
{
        char **refs = NULL;
        struct error *e = NULL;
        assert_int_equal(buildcheck_dockerfile(df, &refs, &e), -1);
        assert_null(refs);
        if (!strstr(e->message, why))
                print_error("message '%s' lacks '%s'\n", e->message, why);
        assert_non_null(strstr(e->message, why));
        error_free(e);
}

static void test_dockerfile_bases(void **state)
{
        (void)state;
        const char *s = "ds01-1005/secret:latest";
        assert_reads("FROM ds01-1005/secret:latest\n", s);
        assert_reads("FROM \"ds01-1005/secret:latest\"\n", s);
        assert_reads("from 'ds01-1005/secret:latest' AS x\n", s);
        assert_reads("FROM \\\nds01-1005/secret:latest\n", s);
        assert_reads("FROM ds01-1005/\\\n# a comment\n\nsecret:latest\n", s);
        assert_reads("FROM ds01-1005/secr\\et:latest\n", s);
        assert_reads("# escape=`\nFROM `\nds01-1005/secret:latest\n", s);
        assert_reads("#escape=`\nFROM ds01-1005/secret:latest `\n\n", s);
        assert_reads("FROM --platform=linux/amd64 ds01-1005/secret:latest\r\n", s);
        assert_reads("\xef\xbb\xbf  \xc2\xa0"
                     "FROM ds01-1005/secret:latest\n",
                     s);
        assert_reads("FROM base AS b\nCOPY --from=ds01-1005/secret:latest /s /s\n", s);
        assert_reads("FROM base\nCOPY --chown=1:1 --from=\"ds01-1005/secret:latest\" /s /s\n", s);
        assert_reads("FROM base\nRUN --mount=type=bind,from=ds01-1005/secret:latest,target=/m "
                     "cat /m/s\n",
                     s);
        assert_reads("FROM 1\n", "1");
        /* Stage indexes are no images. */
        char **refs = refs_ok("FROM base AS a\nFROM base\nCOPY --from=0 /x /x\n");
        assert_false(has(refs, "0"));
        buildcheck_refs_free(refs);
}

static void test_dockerfile_refused(void **state)
{
        (void)state;
        df_refused("ARG B=ds01-1005/secret\nFROM $B\n", "build argument");
        df_refused("FROM ${B:-ds01-1005/secret}\n", "build argument");
        df_refused("FROM \"ds01-1005/secret\n", "unfinished quote");
        df_refused("FROM base\nCOPY --from=$X /a /b\n", "build argument");
        df_refused("FROM ba*se\n", "not an image name");
        df_refused("FROM base\nONBUILD COPY --from=other /a /b\n", "ONBUILD");
        df_refused("FROM base\nonbuild FROM x\n", "ONBUILD");
        df_refused("FROM base\nONBU\xc4\xb0LD COPY --from=other /a /b\n", "ONBUILD");
}

static void test_dockerfile_labels(void **state)
{
        (void)state;
        buildcheck_refs_free(
            refs_ok("FROM base\nLABEL a=b c=\"ds01.x\" description=\"uses ds01.yaml\"\n"));
        df_refused("FROM base\nLABEL ds01.managed=true\n", "ds01.managed");
        df_refused("FROM base\nLABEL a=1 \\\n  ds01.uid=1005\n", "ds01.uid");
        df_refused("FROM base\nLABEL \"ds01.managed\"=true\n", "ds01.managed");
        df_refused("FROM base\nLABEL DS01.Managed=true\n", "DS01.Managed");
        df_refused("FROM base\nLABEL ds01\\.managed=true\n", "ds01");
        df_refused("FROM base\nLABEL ds01.managed true\n", "ds01.managed");
        df_refused("FROM base\nLABEL $K=true\n", "variables");
        df_refused("FROM base\nONBUILD LABEL ds01.managed=true\n", "ds01.managed");
        df_refused("FROM base\nLABEL d's01'.managed=true\n", "ds01");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_context_one),
            cmocka_unit_test(test_context_two_dockerfiles),
            cmocka_unit_test(test_context_links),
            cmocka_unit_test(test_context_malformed),
            cmocka_unit_test(test_dockerfile_bases),
            cmocka_unit_test(test_dockerfile_refused),
            cmocka_unit_test(test_dockerfile_labels),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
