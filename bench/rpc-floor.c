/* bench-rpc-floor: the least a server on ds01d's socket type can do - the reference for
 * bench-rpc's latency figures on this machine at this moment.
 *
 *   bench-rpc-floor PATH [THREADS]
 *
 * Listens on PATH (SOCK_SEQPACKET, mode 0666) with THREADS (2) epoll loops, as ds01d's event
 * loops do, and answers every one-fragment message with the same constant container.list answer
 * (an empty list), without parsing, identifying the caller or looking anything up. What bench-rpc
 * measures against it is the cost of the clients, the kernel's socket calls and the scheduler
 * (including time the hypervisor takes away: see steal_pct) - whatever ds01d adds is the
 * difference. Runs until killed. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static int listen_fd;
static const char answer[] = "E{\"v\":1,\"ok\":true,\"result\":{\"containers\":[]}}";

static void *loop(void *arg)
{
        (void)arg;
        int ep = epoll_create1(EPOLL_CLOEXEC);
        struct epoll_event lev = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.fd = listen_fd};
        if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, listen_fd, &lev) < 0) {
                perror("bench-rpc-floor: epoll");
                exit(1);
        }
        for (;;) {
                struct epoll_event evs[16];
                int n = epoll_wait(ep, evs, 16, -1);
                for (int i = 0; i < n; i++) {
                        int fd = evs[i].data.fd;
                        if (fd == listen_fd) {
                                int c = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
                                struct epoll_event cev = {.events = EPOLLIN, .data.fd = c};
                                if (c >= 0 && epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev) < 0)
                                        close(c);
                                continue;
                        }
                        char buf[4096];
                        ssize_t k = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
                        if (k > 0 && send(fd, answer, sizeof(answer) - 1, MSG_NOSIGNAL) > 0)
                                continue;
                        if (k < 0 && errno == EAGAIN)
                                continue;
                        epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
                        close(fd);
                }
        }
        return NULL;
}

int main(int argc, char **argv)
{
        if (argc < 2 || argc > 3) {
                fprintf(stderr, "usage: bench-rpc-floor PATH [THREADS]\n");
                return 2;
        }
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        if (strlen(argv[1]) >= sizeof(sa.sun_path)) {
                fprintf(stderr, "bench-rpc-floor: path too long\n");
                return 2;
        }
        strcpy(sa.sun_path, argv[1]);
        unlink(argv[1]);
        listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
            chmod(argv[1], 0666) < 0 || listen(listen_fd, 128) < 0) {
                perror("bench-rpc-floor: listening");
                return 1;
        }
        int threads = argc > 2 ? atoi(argv[2]) : 2;
        for (int i = 1; i < threads; i++) {
                pthread_t t;
                if (pthread_create(&t, NULL, loop, NULL) != 0) {
                        fprintf(stderr, "bench-rpc-floor: cannot start a thread\n");
                        return 1;
                }
        }
        loop(NULL);
        return 0;
}
