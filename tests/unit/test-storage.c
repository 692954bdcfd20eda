/* test-storage.c - the storage decisions (the 90 % and 100 % levels, one warning per crossing)
 * and the incremental walk: space by blocks, hard links once, symlinks and what they point to not
 * counted, a bounded number of entries per step, deep trees. */
#include "daemon/storage/storage.h"
#include "daemon/storage/walk.h"

#include "shared/strbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

static void test_levels(void **state)
{
        (void)state;
        assert_int_equal(storage_level(100, -1), 0);
        assert_int_equal(storage_level(-1, 100), 0);
        assert_int_equal(storage_level(89, 100), 0);
        assert_int_equal(storage_level(90, 100), 90);
        assert_int_equal(storage_level(99, 100), 90);
        assert_int_equal(storage_level(100, 100), 100);
        assert_int_equal(storage_level(500, 100), 100);
        assert_int_equal(storage_level(0, 0), 100); /* a limit of 0: nothing may be kept */
}

static void test_one_warning_per_crossing(void **state)
{
        (void)state;
        int warned = 0;
        assert_int_equal(storage_warning_due(warned, 90, &warned), 90);
        assert_int_equal(storage_warning_due(warned, 90, &warned), 0); /* still there: quiet */
        assert_int_equal(storage_warning_due(warned, 100, &warned), 100);
        assert_int_equal(storage_warning_due(warned, 100, &warned), 0);
        assert_int_equal(storage_warning_due(warned, 90, &warned), 0);    /* back to 90: quiet */
        assert_int_equal(storage_warning_due(warned, 100, &warned), 100); /* a new crossing */
        assert_int_equal(storage_warning_due(warned, 0, &warned), 0);     /* re-armed */
        assert_int_equal(storage_warning_due(warned, 100, &warned), 100);
}

static void test_size_text(void **state)
{
        (void)state;
        char b[32];
        assert_string_equal(storage_size_text(0, b), "0 B");
        assert_string_equal(storage_size_text(1536, b), "1.5 KiB");
        assert_string_equal(storage_size_text(10LL << 20, b), "10.0 MiB");
}

static char *top;

static int setup(void **state)
{
        (void)state;
        char tmpl[] = "/tmp/ds01-storage-XXXXXX";
        assert_non_null(mkdtemp(tmpl));
        top = xstrdup(tmpl);
        return 0;
}

static int teardown(void **state)
{
        (void)state;
        _cleanup_free_ char *cmd = xasprintf("rm -rf '%s'", top);
        assert_int_equal(system(cmd), 0);
        free(top);
        top = NULL;
        return 0;
}

static void write_file(const char *path, size_t bytes)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        char buf[4096];
        memset(buf, 'x', sizeof(buf));
        for (size_t done = 0; done < bytes; done += sizeof(buf))
                assert_int_equal(write(fd, buf, sizeof(buf)), (ssize_t)sizeof(buf));
        assert_int_equal(fsync(fd), 0);
        close(fd);
}

static uint64_t blocks_of(const char *path)
{
        struct stat st;
        assert_int_equal(lstat(path, &st), 0);
        return (uint64_t)st.st_blocks * 512;
}

/* Walks dir with steps of `step` entries; returns the bytes, *ret_steps the steps it took. */
static uint64_t walk(const char *dir, size_t step, size_t *ret_steps)
{
        int e = 0;
        struct storage_walk *w = storage_walk_new(open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC), &e);
        assert_non_null(w);
        size_t steps = 1;
        while (storage_walk_step(w, step) == 0)
                steps++;
        uint64_t b = storage_walk_bytes(w);
        assert_false(storage_walk_truncated(w));
        storage_walk_free(w);
        if (ret_steps)
                *ret_steps = steps;
        return b;
}

static void test_walk_counts_blocks_once(void **state)
{
        (void)state;
        _cleanup_free_ char *ws = xasprintf("%s/ws", top), *sub = xasprintf("%s/ws/sub", top),
                            *a = xasprintf("%s/ws/a", top), *b = xasprintf("%s/ws/sub/b", top),
                            *hl = xasprintf("%s/ws/sub/a-link", top),
                            *big = xasprintf("%s/big", top), *sl = xasprintf("%s/ws/big", top);
        assert_int_equal(mkdir(ws, 0700), 0);
        assert_int_equal(mkdir(sub, 0700), 0);
        write_file(a, 1 << 20);
        write_file(b, 256 << 10);
        assert_int_equal(link(a, hl), 0);
        write_file(big, 4 << 20); /* outside, reached only through the symlink */
        assert_int_equal(symlink(big, sl), 0);
        uint64_t want = blocks_of(ws) + blocks_of(sub) + blocks_of(a) + blocks_of(b) +
                        blocks_of(sl); /* the link itself, not what it names */
        size_t steps;
        assert_int_equal(walk(ws, 1000, &steps), want);
        assert_int_equal(steps, 1);
        assert_true(want >= (1 << 20) + (256 << 10));
        assert_true(want < (2 << 20)); /* neither the hard link twice nor the 4 MiB file */
        /* one entry per step: the same total, in more steps */
        assert_int_equal(walk(ws, 1, &steps), want);
        assert_true(steps >= 5);
}

/* A directory swapped for a symlink to something big while the walk is inside it: the walk goes
 * on through the fd it holds, never through the name, so the big target is never counted. */
static void test_walk_swap_mid_walk(void **state)
{
        (void)state;
        _cleanup_free_ char *ws = xasprintf("%s/ws", top), *sub = xasprintf("%s/ws/sub", top),
                            *f = xasprintf("%s/ws/sub/f", top), *moved = xasprintf("%s/moved", top),
                            *big = xasprintf("%s/bigdir", top),
                            *bigf = xasprintf("%s/bigdir/f", top);
        assert_int_equal(mkdir(ws, 0700), 0);
        assert_int_equal(mkdir(sub, 0700), 0);
        write_file(f, 64 << 10);
        assert_int_equal(mkdir(big, 0700), 0);
        write_file(bigf, 4 << 20);
        int e = 0;
        struct storage_walk *w = storage_walk_new(open(ws, O_PATH | O_DIRECTORY | O_CLOEXEC), &e);
        assert_non_null(w);
        assert_int_equal(storage_walk_step(w, 1), 0); /* "sub" seen and entered */
        assert_int_equal(rename(sub, moved), 0);
        assert_int_equal(symlink(big, sub), 0);
        while (storage_walk_step(w, 1) == 0)
                ;
        assert_true(storage_walk_bytes(w) < (1 << 20));
        storage_walk_free(w);
}

static void test_walk_deep_tree(void **state)
{
        (void)state;
        struct strbuf p = STRBUF_INIT;
        strbuf_adds(&p, top);
        for (int i = 0; i < 40; i++) {
                strbuf_adds(&p, "/d");
                assert_int_equal(mkdir(strbuf_str(&p), 0700), 0);
        }
        strbuf_adds(&p, "/f");
        write_file(strbuf_str(&p), 64 << 10);
        assert_true(walk(top, 7, NULL) >= 64 << 10);
        strbuf_release(&p);
}

static void test_walk_not_a_directory(void **state)
{
        (void)state;
        _cleanup_free_ char *f = xasprintf("%s/f", top);
        write_file(f, 4096);
        int e = 0;
        assert_null(storage_walk_new(open(f, O_PATH | O_CLOEXEC), &e));
        assert_int_equal(e, ENOTDIR);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_levels),
            cmocka_unit_test(test_one_warning_per_crossing),
            cmocka_unit_test(test_size_text),
            cmocka_unit_test_setup_teardown(test_walk_counts_blocks_once, setup, teardown),
            cmocka_unit_test_setup_teardown(test_walk_swap_mid_walk, setup, teardown),
            cmocka_unit_test_setup_teardown(test_walk_deep_tree, setup, teardown),
            cmocka_unit_test_setup_teardown(test_walk_not_a_directory, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
