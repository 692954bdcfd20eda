/* relay.c - the two ends of bench/ports.sh's measurements of a published port. Linked statically,
 * so the same file runs inside a busybox container (copied into the workspace) and on the host.
 *
 *   bench-relay serve PORT            in the container: on each connection, a first byte 'Z'
 *                                      asks for a stream of zeros until the client closes, any
 *                                      other byte starts an echo of every byte
 *   bench-relay read TARGET BYTES     reads BYTES of zeros; prints MB/s
 *   bench-relay rtt TARGET N          N one-byte round trips; prints median and p99 in us
 *
 * TARGET is HOST:PORT (TCP, straight to the container) or a path (the published port's Unix
 * socket). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BUF (1 << 20)

static double now_s(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int dial(const char *target)
{
        int fd;
        if (target[0] == '/') {
                struct sockaddr_un sa = {.sun_family = AF_UNIX};
                snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", target);
                fd = socket(AF_UNIX, SOCK_STREAM, 0);
                if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                        return -1;
                return fd;
        }
        char host[64];
        snprintf(host, sizeof(host), "%s", target);
        char *colon = strrchr(host, ':');
        if (!colon)
                return -1;
        *colon = '\0';
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
        if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
                return -1;
        fd = socket(AF_INET, SOCK_STREAM, 0);
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                return -1;
        return fd;
}

static void serve_one(int fd)
{
        static char buf[BUF];
        char first;
        if (read(fd, &first, 1) != 1)
                return;
        if (first == 'Z') {
                memset(buf, 0, sizeof(buf));
                while (write(fd, buf, sizeof(buf)) > 0) {
                }
                return;
        }
        if (write(fd, &first, 1) != 1)
                return;
        ssize_t n;
        while ((n = read(fd, buf, sizeof(buf))) > 0)
                if (write(fd, buf, (size_t)n) != n)
                        return;
}

static int serve(int port)
{
        signal(SIGPIPE, SIG_IGN);
        signal(SIGCHLD, SIG_IGN); /* no zombies */
        int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
        setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s, 16) < 0) {
                perror("bind");
                return 1;
        }
        for (;;) {
                int fd = accept(s, NULL, NULL);
                if (fd < 0)
                        continue;
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                if (fork() == 0) {
                        serve_one(fd);
                        _exit(0);
                }
                close(fd);
        }
}

static int read_bytes(const char *target, long long total)
{
        int fd = dial(target);
        if (fd < 0 || write(fd, "Z", 1) != 1) {
                perror(target);
                return 1;
        }
        static char buf[BUF];
        long long got = 0;
        double t0 = now_s();
        while (got < total) {
                ssize_t n = read(fd, buf, sizeof(buf));
                if (n <= 0) {
                        fprintf(stderr, "read: the stream ended after %lld bytes\n", got);
                        return 1;
                }
                got += n;
        }
        double dt = now_s() - t0;
        printf("%.1f\n", (double)got / dt / 1e6);
        close(fd);
        return 0;
}

static int cmp(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return (x > y) - (x < y);
}

static int rtt(const char *target, int n)
{
        int fd = dial(target);
        char c = 'e';
        if (fd < 0 || write(fd, &c, 1) != 1 || read(fd, &c, 1) != 1) {
                perror(target);
                return 1;
        }
        double *v = calloc((size_t)n, sizeof(double));
        for (int i = 0; i < n; i++) {
                double t0 = now_s();
                if (write(fd, &c, 1) != 1 || read(fd, &c, 1) != 1)
                        return 1;
                v[i] = (now_s() - t0) * 1e6;
        }
        qsort(v, (size_t)n, sizeof(double), cmp);
        printf("%.1f %.1f\n", v[n / 2], v[(n * 99) / 100]);
        free(v);
        close(fd);
        return 0;
}

int main(int argc, char **argv)
{
        if (argc == 3 && strcmp(argv[1], "serve") == 0)
                return serve(atoi(argv[2]));
        if (argc == 4 && strcmp(argv[1], "read") == 0)
                return read_bytes(argv[2], atoll(argv[3]));
        if (argc == 4 && strcmp(argv[1], "rtt") == 0)
                return rtt(argv[2], atoi(argv[3]));
        fprintf(stderr, "usage: bench-relay serve PORT | read TARGET BYTES | rtt TARGET N\n");
        return 2;
}
