/* driver.c - runs a libFuzzer target over files, so the fuzz targets are built and replayed on
 * their corpus by every `make check` even without clang's libFuzzer. With clang:
 *   meson setup build-fuzz -Dfuzz=enabled -Dc_args=-fsanitize=fuzzer-no-link,address \
 *     -Dc_link_args=-fsanitize=address && ninja -C build-fuzz
 * builds real fuzzers instead (see fuzz/README.md). */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
        FILE *f = fopen(path, "rb");
        if (!f) {
                perror(path);
                return 1;
        }
        size_t cap = 1 << 16, n = 0;
        uint8_t *buf = malloc(cap);
        size_t k;
        while (buf && (k = fread(buf + n, 1, cap - n, f)) > 0) {
                n += k;
                if (n == cap)
                        buf = realloc(buf, cap *= 2);
        }
        fclose(f);
        if (!buf)
                return 1;
        LLVMFuzzerTestOneInput(buf, n);
        free(buf);
        return 0;
}

int main(int argc, char **argv)
{
        int runs = 0;
        for (int i = 1; i < argc; i++) {
                struct stat st;
                if (stat(argv[i], &st) < 0) {
                        perror(argv[i]);
                        return 1;
                }
                if (!S_ISDIR(st.st_mode)) {
                        if (run_file(argv[i]))
                                return 1;
                        runs++;
                        continue;
                }
                DIR *d = opendir(argv[i]);
                struct dirent *e;
                while (d && (e = readdir(d))) {
                        if (e->d_name[0] == '.')
                                continue;
                        char p[4096];
                        snprintf(p, sizeof(p), "%s/%s", argv[i], e->d_name);
                        if (run_file(p))
                                return 1;
                        runs++;
                }
                if (d)
                        closedir(d);
        }
        printf("%d inputs replayed\n", runs);
        return 0;
}
