/* test-tarball.c - the build context stream: what .dockerignore keeps out, symlinks, long paths,
 * the size cap; archives are checked with the system's tar. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "cli/tarball.h"
#include "shared/strbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/wait.h>

static char *make_root(void)
{
        char tmpl[] = "/tmp/ds01-tarball-XXXXXX";
        assert_non_null(mkdtemp(tmpl));
        char *root = xasprintf("%s/proj", tmpl);
        assert_int_equal(mkdir(root, 0700), 0);
        return root;
}

static void remove_root(char *root)
{
        char *slash = strrchr(root, '/');
        *slash = '\0';
        _cleanup_free_ char *cmd = xasprintf("rm -rf '%s'", root);
        assert_int_equal(system(cmd), 0);
        free(root);
}

static void put(const char *root, const char *rel, const char *content)
{
        _cleanup_free_ char *path = xasprintf("%s/%s", root, rel);
        /* Parents first. */
        for (char *p = path + strlen(root) + 1; (p = strchr(p, '/')); p++) {
                *p = '\0';
                if (mkdir(path, 0755) < 0)
                        assert_int_equal(errno, EEXIST);
                *p = '/';
        }
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(content, f);
        fclose(f);
}

/* Writes the context of root to a temp file; returns its path (or NULL and *ret_err). */
static char *write_tar(const char *root, int64_t max, struct error **ret_err)
{
        char *path = xasprintf("%s/../ctx.tar", root);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        int64_t bytes = -1;
        int r = tarball_write(root, fd, max, &bytes, ret_err);
        close(fd);
        if (r < 0) {
                free(path);
                return NULL;
        }
        assert_true(bytes >= 0);
        return path;
}

/* `tar -tvf` of the archive (GNU tar's long listing, one line per entry). */
static char *list_tar(const char *tar, bool verbose)
{
        _cleanup_free_ char *cmd = xasprintf("tar -t%sf '%s' 2>&1", verbose ? "v" : "", tar);
        FILE *p = popen(cmd, "r");
        assert_non_null(p);
        struct strbuf sb = STRBUF_INIT;
        char buf[4096];
        size_t k;
        while ((k = fread(buf, 1, sizeof(buf), p)) > 0)
                strbuf_add(&sb, buf, k);
        int st = pclose(p);
        if (st != 0)
                fprintf(stderr, "tar failed: %s\n", strbuf_str(&sb));
        assert_int_equal(st, 0);
        return strbuf_detach(&sb);
}

static bool listed(const char *listing, const char *name)
{
        _cleanup_free_ char *line = xasprintf("%s\n", name);
        for (const char *p = listing; (p = strstr(p, line)); p++)
                if (p == listing || p[-1] == '\n')
                        return true;
        return false;
}

static char *listing_of(const char *root)
{
        _cleanup_error_ struct error *err = NULL;
        _cleanup_free_ char *tar = write_tar(root, TARBALL_DEFAULT_MAX_BYTES, &err);
        if (!tar)
                fail_msg("tarball_write: %s", err->message);
        return list_tar(tar, false);
}

static void test_plain_tree(void **state)
{
        (void)state;
        char *root = make_root();
        put(root, "Dockerfile", "FROM scratch\n");
        put(root, "src/main.py", "print(1)\n");
        put(root, "src/deep/er/x.txt", "x");
        _cleanup_free_ char *l = listing_of(root);
        assert_true(listed(l, "Dockerfile"));
        assert_true(listed(l, "src/"));
        assert_true(listed(l, "src/main.py"));
        assert_true(listed(l, "src/deep/er/x.txt"));
        /* Relative paths only. */
        assert_null(strstr(l, "/tmp"));
        assert_null(strstr(l, "proj/"));
        remove_root(root);
}

static void test_dockerignore_basic(void **state)
{
        (void)state;
        char *root = make_root();
        put(root, "Dockerfile", "FROM scratch\n");
        put(root, ".dockerignore",
            "# data stays home\n\n  data/  \n*.ckpt\n/logs\nsrc/*.pyc\n"
            "Dockerfile\n.dockerignore\n");
        put(root, "data/big.bin", "0123456789");
        put(root, "data/sub/more.bin", "0");
        put(root, "model.ckpt", "w");
        put(root, "src/model.ckpt", "w"); /* '*.ckpt' is anchored at the root */
        put(root, "logs/run.log", "l");
        put(root, "src/a.pyc", "c");
        put(root, "src/a.py", "p");
        put(root, "#notacomment", "n");
        _cleanup_free_ char *l = listing_of(root);
        assert_false(listed(l, "data/"));
        assert_false(listed(l, "data/big.bin"));
        assert_false(listed(l, "data/sub/more.bin"));
        assert_false(listed(l, "model.ckpt"));
        assert_true(listed(l, "src/model.ckpt"));
        assert_false(listed(l, "logs/run.log"));
        assert_false(listed(l, "src/a.pyc"));
        assert_true(listed(l, "src/a.py"));
        assert_true(listed(l, "#notacomment"));
        /* Always sent, as Docker does. */
        assert_true(listed(l, "Dockerfile"));
        assert_true(listed(l, ".dockerignore"));
        remove_root(root);
}

static void test_dockerignore_exceptions(void **state)
{
        (void)state;
        char *root = make_root();
        put(root, ".dockerignore",
            "data\n!data/keep.txt\n*.md\n!README.md\nREADME.md\n"
            "cache\n!cache/a\n");
        put(root, "data/keep.txt", "k");
        put(root, "data/drop.txt", "d");
        put(root, "data/sub/drop.txt", "d");
        put(root, "NOTES.md", "n");
        put(root, "README.md", "r"); /* the later line wins: excluded again */
        put(root, "cache/a/1", "1");
        put(root, "cache/b/1", "1");
        _cleanup_free_ char *l = listing_of(root);
        assert_true(listed(l, "data/keep.txt"));
        assert_false(listed(l, "data/drop.txt"));
        assert_false(listed(l, "data/sub/drop.txt"));
        assert_false(listed(l, "NOTES.md"));
        assert_false(listed(l, "README.md"));
        assert_true(listed(l, "cache/a/1"));
        assert_false(listed(l, "cache/b/1"));
        remove_root(root);
}

static void test_dockerignore_doublestar(void **state)
{
        (void)state;
        char *root = make_root();
        put(root, ".dockerignore", "**/__pycache__\n**/*.tmp\n!keep/**/*.tmp\nout/**\n");
        put(root, "__pycache__/a.pyc", "c");
        put(root, "pkg/__pycache__/b.pyc", "c");
        put(root, "pkg/deep/__pycache__/c.pyc", "c");
        put(root, "pkg/deep/mod.py", "m");
        put(root, "x.tmp", "t");
        put(root, "a/b/c/y.tmp", "t");
        put(root, "keep/z.tmp", "t");
        put(root, "keep/q/z.tmp", "t");
        put(root, "out/f", "o");
        _cleanup_free_ char *l = listing_of(root);
        assert_false(listed(l, "__pycache__/a.pyc"));
        assert_false(listed(l, "pkg/__pycache__/b.pyc"));
        assert_false(listed(l, "pkg/deep/__pycache__/c.pyc"));
        assert_true(listed(l, "pkg/deep/mod.py"));
        assert_false(listed(l, "x.tmp"));
        assert_false(listed(l, "a/b/c/y.tmp"));
        assert_true(listed(l, "keep/z.tmp"));
        assert_true(listed(l, "keep/q/z.tmp"));
        assert_false(listed(l, "out/f"));
        remove_root(root);
}

static void test_ignored_function(void **state)
{
        (void)state;
        assert_true(tarball_ignored("*.log\n", "a.log"));
        assert_false(tarball_ignored("*.log\n", "d/a.log"));
        assert_true(tarball_ignored("**/*.log\n", "d/e/a.log"));
        assert_true(tarball_ignored("**/*.log\n", "a.log"));
        assert_true(tarball_ignored("d\n", "d/e/f"));
        assert_true(tarball_ignored("d?\n", "dx/f"));
        assert_true(tarball_ignored("[a-c]*\n", "beta"));
        assert_false(tarball_ignored("[a-c]*\n", "delta"));
        assert_false(tarball_ignored("*\n!x\n", "x"));
        assert_true(tarball_ignored("!x\n*\n", "x"));
        assert_false(tarball_ignored("*\n", "Dockerfile"));
        assert_true(tarball_ignored("*\n", "sub/Dockerfile"));
        assert_true(tarball_ignored("./a/./b/\n", "a/b"));
        assert_false(tarball_ignored("# a\n", "# a"));
        assert_false(tarball_ignored("", "a"));
}

static void test_symlink_kept(void **state)
{
        (void)state;
        char *root = make_root();
        put(root, "real.txt", "r");
        _cleanup_free_ char *link = xasprintf("%s/link", root);
        _cleanup_free_ char *outside = xasprintf("%s/escape", root);
        assert_int_equal(symlink("real.txt", link), 0);
        assert_int_equal(symlink("/etc", outside), 0); /* never followed */
        _cleanup_error_ struct error *err = NULL;
        _cleanup_free_ char *tar = write_tar(root, TARBALL_DEFAULT_MAX_BYTES, &err);
        assert_non_null(tar);
        _cleanup_free_ char *l = list_tar(tar, true);
        assert_non_null(strstr(l, "link -> real.txt"));
        assert_non_null(strstr(l, "escape -> /etc"));
        assert_null(strstr(l, "escape/"));
        assert_non_null(strstr(l, "lrwxrwxrwx"));
        remove_root(root);
}

static void test_special_files_skipped(void **state)
{
        (void)state;
        char *root = make_root();
        put(root, "a", "a");
        _cleanup_free_ char *fifo = xasprintf("%s/pipe", root);
        assert_int_equal(mkfifo(fifo, 0600), 0);
        _cleanup_free_ char *l = listing_of(root);
        assert_true(listed(l, "a"));
        assert_false(listed(l, "pipe"));
        remove_root(root);
}

static void test_long_path(void **state)
{
        (void)state;
        char *root = make_root();
        struct strbuf rel = STRBUF_INIT;
        for (int i = 0; i < 6; i++)
                strbuf_adds(&rel, "a-rather-long-directory-name-for-testing-pax-headers/");
        strbuf_adds(&rel, "and-a-long-file-name-at-the-end-of-it-all.txt");
        assert_true(rel.len > 300);
        put(root, rel.buf, "deep content\n");
        _cleanup_free_ char *target = xstrdup(rel.buf);
        _cleanup_free_ char *link = xasprintf("%s/longlink", root);
        assert_int_equal(symlink(target, link), 0);

        _cleanup_error_ struct error *err = NULL;
        _cleanup_free_ char *tar = write_tar(root, TARBALL_DEFAULT_MAX_BYTES, &err);
        assert_non_null(tar);
        _cleanup_free_ char *l = list_tar(tar, false);
        assert_true(listed(l, rel.buf));
        _cleanup_free_ char *lv = list_tar(tar, true);
        _cleanup_free_ char *arrow = xasprintf("longlink -> %s", rel.buf);
        assert_non_null(strstr(lv, arrow));
        /* The content survives the round trip. */
        _cleanup_free_ char *cmd = xasprintf("tar -xOf '%s' '%s'", tar, rel.buf);
        FILE *p = popen(cmd, "r");
        char buf[64] = {0};
        assert_non_null(fgets(buf, sizeof(buf), p));
        assert_int_equal(pclose(p), 0);
        assert_string_equal(buf, "deep content\n");
        strbuf_release(&rel);
        remove_root(root);
}

static void test_content_and_mode(void **state)
{
        (void)state;
        char *root = make_root();
        put(root, "run.sh", "#!/bin/sh\necho hi\n");
        _cleanup_free_ char *path = xasprintf("%s/run.sh", root);
        assert_int_equal(chmod(path, 0750), 0);
        _cleanup_error_ struct error *err = NULL;
        _cleanup_free_ char *tar = write_tar(root, TARBALL_DEFAULT_MAX_BYTES, &err);
        assert_non_null(tar);
        _cleanup_free_ char *lv = list_tar(tar, true);
        assert_non_null(strstr(lv, "-rwxr-x--- 0/0"));
        _cleanup_free_ char *cmd = xasprintf("tar -xOf '%s' run.sh | cmp - '%s'", tar, path);
        assert_int_equal(system(cmd), 0);
        remove_root(root);
}

static void test_cap_exceeded(void **state)
{
        (void)state;
        char *root = make_root();
        put(root, "small", "12345");
        put(root, "data/big", "0123456789012345678901234567890123456789");
        _cleanup_error_ struct error *err = NULL;
        /* Measure only. */
        int64_t bytes = 0;
        assert_int_equal(tarball_write(root, -1, 1000, &bytes, &err), 0);
        assert_int_equal(bytes, 45);
        assert_int_equal(tarball_write(root, -1, 20, &bytes, &err), -1);
        assert_int_equal(err->code, DS01_EUSAGE);
        assert_non_null(strstr(err->message, "build context of proj is larger than 0 MB"));
        assert_non_null(strstr(err->message, ".dockerignore"));
        err = error_free(err);
        /* Streaming: the failure leaves an archive a reader rejects. */
        _cleanup_free_ char *tar = write_tar(root, 20, &err);
        assert_null(tar);
        assert_int_equal(err->code, DS01_EUSAGE);
        err = error_free(err);
        _cleanup_free_ char *cmd = xasprintf("tar -tf '%s/../ctx.tar' >/dev/null 2>&1", root);
        assert_int_not_equal(system(cmd), 0);
        /* Ignoring the big file brings it under the cap. */
        put(root, ".dockerignore", "data\n");
        assert_int_equal(tarball_write(root, -1, 20, &bytes, &err), 0);
        assert_int_equal(bytes, 5 + 5);
        remove_root(root);
}

static void test_epipe(void **state)
{
        (void)state;
        char *root = make_root();
        struct strbuf big = STRBUF_INIT;
        for (int i = 0; i < 200000; i++)
                strbuf_adds(&big, "0123456789");
        put(root, "big", big.buf);
        strbuf_release(&big);
        int p[2];
        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        close(p[0]);
        signal(SIGPIPE, SIG_IGN);
        _cleanup_error_ struct error *err = NULL;
        assert_int_equal(tarball_write(root, p[1], TARBALL_DEFAULT_MAX_BYTES, NULL, &err), -1);
        assert_non_null(strstr(err->message, "stopped reading"));
        close(p[1]);
        remove_root(root);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_plain_tree),
            cmocka_unit_test(test_dockerignore_basic),
            cmocka_unit_test(test_dockerignore_exceptions),
            cmocka_unit_test(test_dockerignore_doublestar),
            cmocka_unit_test(test_ignored_function),
            cmocka_unit_test(test_symlink_kept),
            cmocka_unit_test(test_special_files_skipped),
            cmocka_unit_test(test_long_path),
            cmocka_unit_test(test_content_and_mode),
            cmocka_unit_test(test_cap_exceeded),
            cmocka_unit_test(test_epipe),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
