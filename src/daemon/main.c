/* ds01d - the ds01 daemon: owns the Docker socket, the GPU ledger and the audit log, and serves
 * the CLI on a unix socket. Runs in the foreground, logging to stderr. */
#include "shared/log.h"
#include "shared/strbuf.h"
#include "daemon/storage/storage.h"
#include "daemon/config/generation.h"
#include "daemon/config/reload.h"
#include "daemon/observe/rows.h"
#include "daemon/observe/status.h"
#include "daemon/observe/audit.h"
#include "daemon/ds01d.h"
#include "daemon/requests/caller.h"
#include "daemon/containers/oplock.h"
#include "daemon/containers/reconcile.h"
#include "daemon/containers/usercgroup.h"
#include "daemon/gpus/queue.h"
#include "daemon/gpus/queuekick.h"
#include "daemon/containers/execs.h"
#include "daemon/observe/metrics.h"
#include "daemon/dockerapi/endpoint.h"
#include "daemon/containers/network.h"
#include "daemon/gpus/nvml.h"
#include "daemon/requests/rpc.h"
#include "daemon/observe/snapshot.h"
#include "daemon/rules/monitor.h"
#include "daemon/observe/notify.h"
#include "daemon/docker/watch.h"
#include "daemon/observe/usage.h"
#include "daemon/gpus/outside.h"
#include "daemon/ports/ports.h"
#include "daemon/ports/relay.h"
#include "daemon/cluster/slurmend.h"
#include "daemon/cluster/slurmlife.h"

#include <curl/curl.h>
#include <dlfcn.h>
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <grp.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/signalfd.h>
#include <sys/stat.h>

#define DEFAULT_CONFIG "/etc/ds01/ds01.yaml"

static void usage(FILE *f)
{
        fprintf(f,
                "Usage: ds01d [--config FILE] [--debug]\n"
                "\n"
                "The ds01 daemon. Runs in the foreground and logs to stderr.\n"
                "Without --config it reads " DEFAULT_CONFIG " if present, else it runs on\n"
                "embedded defaults (4 simulated A100 GPUs, DS01's default limits).\n"
                "\n"
                "  -c, --config FILE   settings file (ds01.yaml)\n"
                "  -d, --debug         log every request\n"
                "  -V, --version       print the version\n"
                "  -h, --help          this text\n"
                "Signals: SIGTERM/SIGINT stop cleanly; SIGHUP reloads the settings and limits.\n");
}

/* A program of ds01's that ds01d runs (ds01-init, ds01-cp): configured (may be NULL), else
 * beside ds01d, else ../libexec/ds01/ beside it. key names the setting in the error. */
static char *find_helper(const char *configured, const char *name, const char *key,
                         struct error **err)
{
        if (configured) {
                if (access(configured, X_OK) < 0) {
                        error_set_errno(err, errno, "%s %s", key, configured);
                        return NULL;
                }
                return xstrdup(configured);
        }
        char self[4096];
        ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (n <= 0) {
                error_set_errno(err, errno, "reading /proc/self/exe");
                return NULL;
        }
        self[n] = '\0';
        const char *dir = dirname(self);
        for (int i = 0; i < 2; i++) {
                char *p = i == 0 ? xasprintf("%s/%s", dir, name)
                                 : xasprintf("%s/../libexec/ds01/%s", dir, name);
                char *real = realpath(p, NULL);
                free(p);
                if (real && access(real, X_OK) == 0)
                        return real;
                free(real);
        }
        error_set(err, DS01_ERR,
                  "cannot find %s beside %s or in ../libexec/ds01/ - reinstall ds01 (make "
                  "install)%s%s%s",
                  name, dir, key ? " or set " : "", key ? key : "", key ? " in ds01.yaml" : "");
        return NULL;
}

/* libcurl's global init also initialises libssh2 (for scp:// and sftp://, which ds01 never
 * uses), and libssh2 built on OpenSSL then loads every OpenSSL engine and algorithm: ~1.5 MiB
 * more resident for nothing (bench/rpc.sh). libssh2 counts its inits: initialised here first,
 * without its crypto, curl's call only counts. A curl without libssh2 has no such symbol. */
static void libssh2_without_crypto(void)
{
        void *sym = dlsym(RTLD_DEFAULT, "libssh2_init");
        int (*init)(int);
        if (!sym)
                return;
        memcpy(&init, &sym, sizeof(init));
        if (init(1 /* LIBSSH2_INIT_NO_CRYPTO */) != 0)
                log_debug("libssh2_init failed (curl initialises it again)");
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
            {"config", required_argument, NULL, 'c'},
            {"debug", no_argument, NULL, 'd'},
            {"version", no_argument, NULL, 'V'},
            {"help", no_argument, NULL, 'h'},
            {0},
        };
        const char *config_path = NULL;
        int o;
        while ((o = getopt_long(argc, argv, "c:dVh", opts, NULL)) != -1) {
                switch (o) {
                case 'c':
                        config_path = optarg;
                        break;
                case 'd':
                        log_set_max_level(LOG_DEBUG_);
                        break;
                case 'V':
                        printf("ds01d %s\n", DS01_VERSION);
                        return 0;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "ds01d: unexpected argument '%s'\n", argv[optind]);
                usage(stderr);
                return 2;
        }
        if (!config_path && access(DEFAULT_CONFIG, F_OK) == 0)
                config_path = DEFAULT_CONFIG;
        if (geteuid() != 0)
                log_warning("ds01d is not running as root: creating workspaces for other users, "
                            "pinning them for Docker and reading their credentials will fail");

        /* Signals are handled by the main loop only (signalfd); every thread inherits the mask. */
        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        signal(SIGPIPE, SIG_IGN);
        libssh2_without_crypto();
        curl_global_init(CURL_GLOBAL_ALL);
        /* Connection threads come and go: with one malloc arena per thread, freed memory stays
         * spread over many arenas and the resident size grows with the peak concurrency. */
        mallopt(M_ARENA_MAX, 2);
        mallopt(
            M_MXFAST,
            0); /* no fastbins: tcache serves small blocks, and there is nothing to consolidate */

        struct error *err = NULL;
        struct ds01d d, v; /* the root, and start-up's view */
        struct metrics *metrics = NULL;
        struct dapi *dapi = NULL;
        memset(&d, 0, sizeof(d));
        memset(&v, 0, sizeof(v));
        d.root = &d;
        d.metrics = &metrics;
        d.ops = oplocks_new();
        d.execs = execs_new();
        d.kick = queuekick_new();
        d.slurmend = slurmend_new();
        d.snap = snapshot_cache_new();
        struct rpc_server *srv = NULL;
        struct watch *watch = NULL;
        struct monitor *monitor = NULL;
        struct queue *queue = NULL;
        int sfd = -1, rc = 1;

        d.config_path = config_path ? xstrdup(config_path) : NULL;
        d.cfg = config_load(config_path, &err);
        if (!d.cfg)
                goto fail;
        log_set_rotation(d.cfg->log_max_kb * 1024, (int)d.cfg->log_keep);
        log_info("ds01d %s starting: config %s, instance '%s'", DS01_VERSION, d.cfg->source,
                 d.cfg->instance);
        d.limits = reload_load_limits(d.cfg, &err);
        if (!d.limits)
                goto fail;
        d.admin_gid = reload_lookup_gid(d.cfg->admin_group);
        {
                _cleanup_free_ char *note = NULL;
                if (gpu_backend_open(d.cfg, &d.nvml, &note, &err) < 0)
                        goto fail;
                if (note)
                        log_notice("%s", note);
        }
        d.inv = gpu_inventory_scan(d.cfg, d.nvml, &err);
        if (!d.inv)
                goto fail;
        {
                const struct gpu_slot *slots;
                size_t n = gpu_inventory_slots(d.inv, &slots), alloc = 0;
                for (size_t i = 0; i < n; i++)
                        alloc += slots[i].allocatable;
                log_info("GPUs: %s backend%s%s, %zu allocatable slot(s)",
                         gpu_inventory_backend(d.inv), d.nvml ? ", driver " : "",
                         d.nvml ? nvml_driver_version(d.nvml) : "", alloc);
        }
        d.init_path = find_helper(d.cfg->init_path, "ds01-init", "init_path", &err);
        if (!d.init_path)
                goto fail;
        d.cp_path = find_helper(NULL, "ds01-cp", NULL, &err);
        if (!d.cp_path) { /* only docker cp needs it */
                log_warning("docker cp through the Docker endpoint is off: %s", err->message);
                error_free(TAKE_PTR(err));
        }
        d.events =
            events_open(d.cfg->log_dir, d.cfg->events_max_kb * 1024, (int)d.cfg->events_keep, &err);
        if (!d.events)
                goto fail;
        events_count_since(d.events, now_s() - 86400);
        d.audit = audit_new(d.events, d.cfg->audit_window_s, d.cfg->audit_names_per_uid);
        d.store = store_open(d.cfg->state_dir, &err);
        if (!d.store)
                goto fail;
        d.usage = usage_new();
        d.outside = outside_new();
        d.docker = docker_new(d.cfg->docker_socket, &err);
        if (!d.docker) {
                error_wrap(&err, "connecting to Docker at %s (is dockerd running?)",
                           d.cfg->docker_socket);
                goto fail;
        }
        log_info("docker %s, API %s", docker_server_version(d.docker),
                 docker_api_version(d.docker));
        d.net = network_new(d.docker);
        d.relay = relay_new(d.docker, d.audit, d.cfg->ports_dir);
        if (d.cfg->network_require_isolation &&
            (network_check_isolation(&err) < 0 || network_firewall_start(d.net, d.cfg, &err) < 0))
                goto fail;
        network_adopt(d.net, d.cfg, d.store); /* containers made before per-user networks */
        network_sweep(d.net, d.cfg, true);    /* what a crash or a killed build left */
        d.notify = notify_new(d.cfg->webhook_url, &err);
        if (!d.notify)
                goto fail;
        /* From here on threads run: config, limits and inventory are read through views of
         * their generation (generation.h), never through the root. */
        d.gens = generations_new(d.cfg, d.limits, d.inv, d.admin_gid);
        d.cfg = NULL;
        d.limits = NULL;
        d.inv = NULL;
        d.admin_gid = (gid_t)-1;
        ds01d_pin(&d, &v);
        int64_t reconciled_at = now_s();
        if (reconcile_ledger(&v, true, &err) < 0)
                goto fail;
        ports_restore(&v);
        usercgroup_refresh(&v); /* the limits file may have changed while ds01d was down */
        storage_new(&d);        /* d.storage, before the monitor's thread copies d */
        slurmlife_new(&d);      /* d.slurmlife, likewise (its thread starts below) */
        monitor = monitor_start(&d, &err); /* sets d.monitor before its thread runs */
        if (!monitor)
                goto fail;
        queue = queue_start(&d, &err); /* rung through d.kick */
        if (!queue)
                goto fail;
        watch = watch_start(&d, reconciled_at, &err);
        if (!watch)
                goto fail;
        /* its first pass at once: containers of Slurm jobs that ended while ds01d was down */
        if (slurmlife_start(d.slurmlife, &err) < 0)
                goto fail;
        if (metrics_start(&d, &metrics, &err) < 0)
                goto fail;
        srv = rpc_server_new(&d, &err); /* first: it refuses to run beside another ds01d */
        if (!srv)
                goto fail;
        if (dapi_start(&d, &dapi, &err) < 0)
                goto fail;
        if (storage_start(d.storage, &err) < 0) /* last: its thread copies d */
                goto fail;
        sfd = signalfd(-1, &mask, SFD_CLOEXEC);
        if (sfd < 0) {
                error_set_errno(&err, errno, "signalfd");
                goto fail;
        }
        json_t *startup = json_pack("{s:s, s:s, s:s}", "version", DS01_VERSION, "instance",
                                    v.cfg->instance, "gpu_backend", gpu_inventory_backend(v.inv));
        events_log(d.events, "system.startup", NULL, startup);
        log_notice("ready: listening on %s", v.cfg->socket);
        ds01d_unpin(&v);
        if (rpc_server_start(srv, &err) < 0)
                goto fail;

        /* The connection threads serve the socket; this thread waits for signals. */
        for (;;) {
                struct pollfd pfd[1] = {{sfd, POLLIN, 0}};
                if (poll(pfd, 1, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        error_set_errno(&err, errno, "poll");
                        goto fail;
                }
                if (pfd[0].revents & POLLIN) {
                        struct signalfd_siginfo si;
                        if (read(sfd, &si, sizeof(si)) != sizeof(si))
                                continue;
                        if (si.ssi_signo == SIGHUP) {
                                struct error *rerr = NULL;
                                if (reload_config(&d, &rerr) < 0) {
                                        log_error("reload failed, keeping the running "
                                                  "configuration: %s",
                                                  rerr->message);
                                        error_free(rerr);
                                }
                                continue;
                        }
                        log_notice("signal %d: stopping", (int)si.ssi_signo);
                        break;
                }
        }
        rc = 0;
        goto out;
fail:
        log_error("ds01d: %s", err ? err->message : "start-up failed");
        error_free(err);
out:;
        /* First: a stopping daemon starts no idle or runtime stop (one in flight finishes). */
        monitor_halt(monitor);
        queue_halt(queue);           /* nor a grant */
        slurmlife_halt(d.slurmlife); /* nor a retire for a Slurm job (one in flight finishes) */
        storage_halt(d.storage);     /* a walk in progress stops at its next step */
        size_t busy = srv ? rpc_server_stop(srv, 5000) : 0;
        ds01d_unpin(&v); /* start-up's view, when start-up failed */
        /* After the connection threads: a `ds01 reload` may still move the metrics server. */
        reload_stop();
        metrics = metrics_stop(metrics);
        dapi = dapi_stop(dapi); /* its threads run requests: before the state they use goes */
        watch = watch_stop(watch);
        /* Connection threads that outlived the grace period still use the state (the monitor's
         * too, through container-list): leave all of it to the kernel then. */
        if (busy == 0) {
                queue = queue_stop(queue); /* joins its thread (a grant under way ends first) */
                d.kick = queuekick_free(d.kick);
                monitor = monitor_stop(monitor); /* joins its thread */
                d.monitor = NULL;
                d.slurmlife = slurmlife_stop(d.slurmlife); /* waits for its stops in flight */
                d.slurmend = slurmend_free(d.slurmend);
        }
        if (sfd >= 0)
                close(sfd);
        if (d.events)
                events_log(d.events, "system.shutdown", NULL, NULL);
        if (busy == 0) {
                d.relay = relay_free(d.relay); /* before Docker: its threads inspect */
                d.net = network_free(d.net);
                d.docker = docker_free(d.docker);
                d.store = store_free(d.store);
                d.usage = usage_free(d.usage);
                d.outside = outside_free(d.outside);
                d.storage = storage_free(d.storage);
                d.audit = audit_free(d.audit);
                d.events = events_free(d.events);
                d.notify = notify_free(d.notify);
                d.inv = gpu_inventory_free(d.inv); /* set only when start-up failed early */
                d.limits = limits_free(d.limits);
                d.cfg = config_free(d.cfg);
                d.gens = generations_free(d.gens);
                d.nvml = nvml_close(d.nvml);
                d.snap = snapshot_cache_free(d.snap);
                free(d.config_path);
                free(d.init_path);
                free(d.cp_path);
                d.ops = oplocks_free(d.ops);
                d.execs = execs_free(d.execs);
                curl_global_cleanup();
        }
        return rc;
}
