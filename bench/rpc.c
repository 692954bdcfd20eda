/* bench-rpc: request rate and latency of ds01d's socket (one method) or of an HTTP endpoint
 * (GET /metrics), from many concurrent clients.
 *
 *   bench-rpc --socket PATH [--method M] [--params JSON] [--clients N] [--seconds S]
 *             [--uid-base U --uids K] [--persistent] [--rate R] [--trace FILE]
 *   bench-rpc --http HOST:PORT [--path /metrics] [--clients N] [--seconds S]
 *   bench-rpc --unix-http SOCKET --path /containers/json?... (the Docker API, the baseline)
 *
 * Socket mode: each client thread takes uid U + (i mod K) for itself alone (raw setresuid: the
 * kernel's credentials are per thread; glibc's wrapper would change every thread), so ds01d sees
 * K different users as it would from K people's CLIs. Without --persistent every request opens
 * its own connection, as the CLI does. HTTP mode: one connection per request (as Prometheus
 * without keep-alive would), answer read to the end, status 200 required.
 * The first second is a warm-up that is not recorded. Prints one JSON object: requests, errors,
 * seconds, rps, p50_ms, p90_ms, p99_ms, max_ms, bytes (of the last answer), and the machine's
 * busy_pct and steal_pct (/proc/stat) while recording. */
#include "../src/proto/proto.h"
#include "../src/shared/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

struct opts {
        const char *socket, *method, *params, *http, *unix_http, *path;
        int clients;
        double seconds;
        double rate; /* offered requests/s over all clients; 0 = as fast as answers come */
        long uid_base, uids;
        bool persistent;
        const char *trace; /* --trace FILE: "due_ms latency_ms" per request */
};

struct client {
        const struct opts *o;
        int index;
        double *lat; /* ms */
        double *at;  /* when each request was due (s, monotonic), for --trace */
        size_t n, cap;
        size_t errors;
        size_t bytes;
        char first_error[256];
};

static atomic_bool go, stop, recording;

static double mono(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void record(struct client *c, double at, double ms)
{
        if (c->n == c->cap) {
                c->cap = c->cap ? c->cap * 2 : 4096;
                c->lat = xrealloc(c->lat, c->cap * sizeof(*c->lat));
                c->at = xrealloc(c->at, c->cap * sizeof(*c->at));
        }
        c->at[c->n] = at;
        c->lat[c->n++] = ms;
}

static void fail(struct client *c, const char *what)
{
        if (!c->errors++)
                snprintf(c->first_error, sizeof(c->first_error), "%s", what);
}

static int one_call(struct client *c, int *sock)
{
        struct error *err = NULL;
        if (*sock < 0) {
                *sock = proto_connect(c->o->socket, &err);
                if (*sock < 0) {
                        fail(c, err->message);
                        error_free(err);
                        return -1;
                }
        }
        json_t *params = c->o->params ? json_loads(c->o->params, 0, NULL) : NULL;
        json_t *result = NULL;
        int r = proto_call(*sock, c->o->method, params, &result, NULL, NULL, &err);
        if (r < 0) {
                fail(c, err ? err->message : "call failed");
                error_free(err);
                close(*sock);
                *sock = -1;
                return -1;
        }
        if (!c->bytes) { /* the size of one answer, for the record (not per request) */
                char *s = json_dumps(result, JSON_COMPACT);
                c->bytes = s ? strlen(s) : 0;
                free(s);
        }
        json_decref(result);
        if (!c->o->persistent) {
                close(*sock);
                *sock = -1;
        }
        return 0;
}

static int http_connect(struct client *c)
{
        if (c->o->unix_http) {
                struct sockaddr_un sa = {.sun_family = AF_UNIX};
                snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", c->o->unix_http);
                int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                        fail(c, strerror(errno));
                        if (fd >= 0)
                                close(fd);
                        return -1;
                }
                return fd;
        }
        char host[64];
        const char *colon = strrchr(c->o->http, ':');
        if (!colon || (size_t)(colon - c->o->http) >= sizeof(host)) {
                fail(c, "--http needs HOST:PORT");
                return -1;
        }
        memcpy(host, c->o->http, (size_t)(colon - c->o->http));
        host[colon - c->o->http] = '\0';
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(atoi(colon + 1))};
        if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
                fail(c, "--http needs a numeric IPv4 address");
                return -1;
        }
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                fail(c, strerror(errno));
                if (fd >= 0)
                        close(fd);
                return -1;
        }
        return fd;
}

static int one_get(struct client *c)
{
        int fd = http_connect(c);
        if (fd < 0)
                return -1;
        char req[1024];
        int n = snprintf(req, sizeof(req),
                         "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", c->o->path,
                         c->o->http ? c->o->http : "docker");
        if (write(fd, req, (size_t)n) != n) {
                fail(c, "write failed");
                close(fd);
                return -1;
        }
        char buf[65536];
        size_t total = 0;
        bool ok = false;
        for (;;) {
                ssize_t k = read(fd, buf, sizeof(buf));
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        break;
                if (total == 0)
                        ok = k >= 12 && memcmp(buf + 9, "200", 3) == 0;
                total += (size_t)k;
        }
        close(fd);
        if (!ok) {
                fail(c, "answer was not HTTP 200");
                return -1;
        }
        c->bytes = total;
        return 0;
}

static void *client_thread(void *arg)
{
        struct client *c = arg;
        const struct opts *o = c->o;
        if (o->socket && o->uids > 0) {
                long uid = o->uid_base + c->index % o->uids;
                if (syscall(SYS_setgroups, 0, NULL) < 0 ||
                    syscall(SYS_setresgid, uid, uid, uid) < 0 ||
                    syscall(SYS_setresuid, uid, uid, uid) < 0) {
                        fail(c, "setresuid failed (run as root)");
                        return NULL;
                }
        }
        int sock = -1;
        while (!atomic_load(&go))
                usleep(100);
        /* With --rate each client sends on a fixed schedule (staggered between clients) and a
         * latency counts from the scheduled time: a late answer also delays the ones after it
         * (no coordinated omission). */
        double period = o->rate > 0 ? (double)o->clients / o->rate : 0;
        double next = mono() + period * ((double)c->index / (double)o->clients);
        while (!atomic_load(&stop)) {
                double t0 = mono();
                if (period > 0) {
                        if (next > t0) {
                                usleep((useconds_t)((next - t0) * 1e6));
                                if (atomic_load(&stop))
                                        break;
                        }
                        t0 = next;
                        next += period;
                }
                int r = o->http || o->unix_http ? one_get(c) : one_call(c, &sock);
                if (r == 0 && atomic_load(&recording))
                        record(c, t0, (mono() - t0) * 1000.0);
        }
        if (sock >= 0)
                close(sock);
        return NULL;
}

/* The machine's CPU time so far (/proc/stat, all CPUs, in ticks): busy, steal and total. Steal is
 * time the hypervisor gave to someone else while this VM had work to run. */
struct cpu_ticks {
        unsigned long long busy, steal, total;
};

static struct cpu_ticks cpu_ticks(void)
{
        struct cpu_ticks t = {0};
        unsigned long long v[10] = {0};
        FILE *f = fopen("/proc/stat", "r");
        if (f && fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
                        &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]) >= 8) {
                for (int i = 0; i < 8; i++)
                        t.total += v[i];
                t.steal = v[7];
                t.busy = t.total - v[3] - v[4] - v[7]; /* not idle, iowait or stolen */
        }
        if (f)
                fclose(f);
        return t;
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? -1 : x > y;
}

static void usage(void)
{
        fprintf(stderr,
                "usage: bench-rpc (--socket PATH [--method M] [--params JSON] [--uid-base U "
                "--uids K] [--persistent] | --http HOST:PORT [--path P]) [--clients N] "
                "[--seconds S] [--rate R]\n       (or --unix-http SOCKET --path P)\n");
        exit(2);
}

int main(int argc, char **argv)
{
        struct opts o = {.method = "container.list", .path = "/metrics", .clients = 64,
                         .seconds = 5};
        static const struct option lo[] = {
            {"socket", required_argument, NULL, 's'},  {"method", required_argument, NULL, 'm'},
            {"params", required_argument, NULL, 'p'},  {"http", required_argument, NULL, 'h'},
            {"path", required_argument, NULL, 'P'},    {"unix-http", required_argument, NULL, 'U'},    {"clients", required_argument, NULL, 'c'},
            {"seconds", required_argument, NULL, 't'}, {"uid-base", required_argument, NULL, 'u'},
            {"uids", required_argument, NULL, 'k'},    {"persistent", no_argument, NULL, 'K'},
            {"rate", required_argument, NULL, 'r'},    {"trace", required_argument, NULL, 'T'},
            {0}};
        int ch;
        while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
                switch (ch) {
                case 's': o.socket = optarg; break;
                case 'm': o.method = optarg; break;
                case 'p': o.params = optarg; break;
                case 'h': o.http = optarg; break;
                case 'U': o.unix_http = optarg; break;
                case 'P': o.path = optarg; break;
                case 'c': o.clients = atoi(optarg); break;
                case 't': o.seconds = atof(optarg); break;
                case 'u': o.uid_base = atol(optarg); break;
                case 'k': o.uids = atol(optarg); break;
                case 'K': o.persistent = true; break;
                case 'r': o.rate = atof(optarg); break;
                case 'T': o.trace = optarg; break;
                default: usage();
                }
        }
        if ((!!o.socket + !!o.http + !!o.unix_http) != 1 || o.clients < 1 || o.clients > 4096 || o.seconds <= 0)
                usage();
        if (o.params) {
                json_t *p = json_loads(o.params, 0, NULL);
                if (!json_is_object(p)) {
                        fprintf(stderr, "bench-rpc: --params must be a JSON object\n");
                        return 2;
                }
                json_decref(p);
        }
        struct client *cl = xcalloc((size_t)o.clients, sizeof(*cl));
        pthread_t *th = xcalloc((size_t)o.clients, sizeof(*th));
        for (int i = 0; i < o.clients; i++) {
                cl[i].o = &o;
                cl[i].index = i;
                pthread_attr_t attr;
                pthread_attr_init(&attr);
                pthread_attr_setstacksize(&attr, 256 * 1024);
                if (pthread_create(&th[i], &attr, client_thread, &cl[i]) != 0) {
                        fprintf(stderr, "bench-rpc: cannot start thread %d\n", i);
                        return 1;
                }
                pthread_attr_destroy(&attr);
        }
        usleep(200 * 1000);
        /* A warm-up second first (threads, caches, the daemon's connection threads), not
         * recorded. */
        atomic_store(&go, true);
        usleep(1000 * 1000);
        double t0 = mono();
        struct cpu_ticks c0 = cpu_ticks();
        atomic_store(&recording, true);
        usleep((useconds_t)(o.seconds * 1e6));
        atomic_store(&stop, true);
        for (int i = 0; i < o.clients; i++)
                pthread_join(th[i], NULL);
        double elapsed = mono() - t0;
        struct cpu_ticks c1 = cpu_ticks();
        double ticks = c1.total > c0.total ? (double)(c1.total - c0.total) : 1.0;
        double steal_pct = 100.0 * (double)(c1.steal - c0.steal) / ticks;
        double busy_pct = 100.0 * (double)(c1.busy - c0.busy) / ticks;
        if (o.trace) {
                /* every recorded request, in no particular order (sort -n to see when the
                 * slow ones were due) */
                FILE *f = fopen(o.trace, "w");
                if (!f) {
                        fprintf(stderr, "bench-rpc: %s: %s\n", o.trace, strerror(errno));
                        return 1;
                }
                for (int i = 0; i < o.clients; i++)
                        for (size_t j = 0; j < cl[i].n; j++)
                                fprintf(f, "%.3f %.3f\n", (cl[i].at[j] - t0) * 1000.0, cl[i].lat[j]);
                fclose(f);
        }
        size_t n = 0, errors = 0, bytes = 0;
        const char *first_error = NULL;
        for (int i = 0; i < o.clients; i++) {
                n += cl[i].n;
                errors += cl[i].errors;
                if (cl[i].bytes)
                        bytes = cl[i].bytes;
                if (cl[i].errors && !first_error)
                        first_error = cl[i].first_error;
        }
        double *all = xcalloc(n + 1, sizeof(*all));
        size_t k = 0;
        for (int i = 0; i < o.clients; i++) {
                memcpy(all + k, cl[i].lat, cl[i].n * sizeof(*all));
                k += cl[i].n;
        }
        qsort(all, n, sizeof(*all), cmp_double);
#define PCT(p) (n ? all[(size_t)((double)(n - 1) * (p))] : 0.0)
        json_t *out = json_pack("{s:f, s:I, s:I, s:f, s:f, s:f, s:f, s:f, s:f, s:I, s:i, s:s}",
                                "offered_rps", o.rate, "requests", (json_int_t)n, "errors", (json_int_t)errors,
                                "seconds", elapsed, "rps", (double)n / elapsed, "p50_ms",
                                PCT(0.50), "p90_ms", PCT(0.90), "p99_ms", PCT(0.99), "max_ms",
                                n ? all[n - 1] : 0.0, "bytes", (json_int_t)bytes, "clients",
                                o.clients, "target", o.socket ? o.method : o.path);
        /* the whole machine's CPU while recording: time stolen by the hypervisor makes every
         * latency here longer, whoever the server is */
        json_object_set_new(out, "steal_pct", json_real(steal_pct));
        json_object_set_new(out, "busy_pct", json_real(busy_pct));
        if (first_error)
                json_object_set_new(out, "first_error", json_string(first_error));
        char *s = json_dumps(out, JSON_COMPACT);
        printf("%s\n", s);
        free(s);
        json_decref(out);
        free(all);
        for (int i = 0; i < o.clients; i++)
                free(cl[i].lat);
        free(cl);
        free(th);
        return errors && !n ? 1 : 0;
}
