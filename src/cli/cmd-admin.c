/* cmd-admin.c - what the machine is doing: `container-stats` for everyone, and for
 * administrators `ds01 status`, `ds01 users`, `ds01 health`, `ds01 reload`. */
#include "client.h"
#include "cluster.h"
#include "cmd.h"
#include "output.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

/* "1.2 GiB", "340 MiB", "-" for null */
static const char *bytes_text(const json_t *v, char buf[static 32])
{
        if (!json_is_number(v))
                return "-";
        double b = json_number_value(v);
        static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
        size_t u = 0;
        while (b >= 1024 && u + 1 < ARRAY_SIZE(units)) {
                b /= 1024;
                u++;
        }
        snprintf(buf, 32, u == 0 ? "%.0f %s" : "%.1f %s", b, units[u]);
        return buf;
}

static const char *rate_text(const json_t *v, char buf[static 32])
{
        if (!json_is_number(v))
                return "-";
        char b[32];
        snprintf(buf, 32, "%s/s", bytes_text(v, b));
        return buf;
}

static const char *pct_text(const json_t *v, char buf[static 32])
{
        if (!json_is_number(v))
                return "-";
        snprintf(buf, 32, "%.1f%%", json_number_value(v));
        return buf;
}

static const char *secs_text(const json_t *v, char buf[static 32])
{
        if (!json_is_integer(v))
                return "-";
        return format_duration(json_integer_value(v), buf);
}

/* ---- container-stats ------------------------------------------------------------------------ */

static void print_stats(const json_t *res, bool all)
{
        static const char *const headers[] = {
            "CONTAINER", "STATE", "CPU",  "MEMORY",    "GPU",          "GPU MEM", "NET IN",
            "NET OUT",   "PIDS",  "IDLE", "IDLE STOP", "RUNTIME LEFT", "PORTS"};
        _cleanup_table_ struct table *t = table_new(ARRAY_SIZE(headers), headers);
        size_t i;
        json_t *c;
        size_t n = 0;
        json_array_foreach (json_object_get(res, "containers"), i, c) {
                json_t *st = json_object_get(c, "stats");
                char cpu[32], mem[80], m1[32], m2[32], gpu[96] = "-", gmem[96] = "-", rx[32],
                                                       tx[32], pids[32] = "-", idle[32], istop[32],
                                                       rleft[32];
                snprintf(cpu, sizeof(cpu), "%s", pct_text(json_object_get(st, "cpu_pct"), m1));
                if (st) {
                        json_t *lim = json_object_get(st, "mem_limit_bytes");
                        snprintf(mem, sizeof(mem), "%s / %s",
                                 bytes_text(json_object_get(st, "mem_used_bytes"), m1),
                                 json_is_number(lim) ? bytes_text(lim, m2) : "no limit");
                } else
                        snprintf(mem, sizeof(mem), "-");
                /* one entry per leased slot: "93%" or "?" (MIG/simulated: unknown) */
                size_t k;
                json_t *g;
                size_t used = 0, gused = 0;
                json_array_foreach (json_object_get(st, "gpus"), k, g) {
                        json_t *u = json_object_get(g, "util_pct");
                        char one[48];
                        snprintf(one, sizeof(one), "%s%s", k ? " " : "",
                                 json_is_number(u) ? pct_text(u, m1) : "?");
                        if (used + strlen(one) < sizeof(gpu)) {
                                memcpy(gpu + used, one, strlen(one) + 1);
                                used += strlen(one);
                        }
                        char gm[64];
                        json_t *mu = json_object_get(g, "mem_used_bytes");
                        snprintf(gm, sizeof(gm), "%s%s", k ? " " : "",
                                 json_is_number(mu) ? bytes_text(mu, m2) : "?");
                        if (gused + strlen(gm) < sizeof(gmem)) {
                                memcpy(gmem + gused, gm, strlen(gm) + 1);
                                gused += strlen(gm);
                        }
                }
                if (!json_array_size(json_object_get(st, "gpus")) &&
                    json_array_size(json_object_get(c, "gpus")))
                        snprintf(gpu, sizeof(gpu), "%s", "held");
                if (json_is_integer(json_object_get(st, "pids")))
                        snprintf(pids, sizeof(pids), "%lld",
                                 (long long)json_integer_value(json_object_get(st, "pids")));
                secs_text(json_object_get(c, "idle_s"), idle);
                if (json_object_get(c, "keepalive"))
                        snprintf(istop, sizeof(istop), "kept alive");
                else
                        secs_text(json_object_get(c, "idle_left_s"), istop);
                secs_text(json_object_get(c, "runtime_left_s"), rleft);
                _cleanup_free_ char *ports = output_ports_cell(json_object_get(c, "ports"));
                const char *name = all ? cli_jstr(c, "name", "?")
                                       : cli_jstr(c, "project", cli_jstr(c, "name", "?"));
                const char *cells[] = {name,
                                       cli_jstr(c, "state", "?"),
                                       st ? cpu : "-",
                                       mem,
                                       gpu,
                                       gmem,
                                       rate_text(json_object_get(st, "net_rx_bps"), rx),
                                       rate_text(json_object_get(st, "net_tx_bps"), tx),
                                       pids,
                                       idle,
                                       istop,
                                       rleft,
                                       ports};
                table_add_row(t, cells);
                n++;
        }
        if (n == 0) {
                printf("no containers - container-deploy NAME creates one\n");
                return;
        }
        table_print(t, stdout, output_colour());
}

static volatile sig_atomic_t stop_watch;

static void on_signal(int sig)
{
        (void)sig;
        stop_watch = 1;
}

int cmd_stats(const struct cli_command *cmd, int argc, char **argv)
{
        bool json = false, watch = false, all = false;
        const char *interval_s = NULL;
        const struct cli_option opts[] = {
            {"json", 0, CLI_OPT_FLAG, &json, NULL},
            {"watch", 'w', CLI_OPT_FLAG, &watch, NULL},
            {"interval", 0, CLI_OPT_VALUE, &interval_s, NULL},
            {"all", 'a', CLI_OPT_FLAG, &all, NULL},
            {NULL, 0, CLI_OPT_FLAG, NULL, NULL},
        };
        _cleanup_(cli_args_release) struct cli_args a = {0};
        int r = cli_parse_n(cmd, argc, argv, opts, &a, 0, 1);
        if (r != CLI_CONTINUE)
                return r;
        if (a.n_pos && (r = cli_check_name(cmd, a.pos[0])) != CLI_CONTINUE)
                return r;
        if (a.n_pos && all)
                return cli_usage_error(cmd, "give a NAME or --all, not both");
        if (a.n_pos && (r = cluster_route(cmd, a.pos[0], argc, argv, false)) != CLI_CONTINUE)
                return r;
        double every = 0;
        if (interval_s) {
                char *end;
                errno = 0;
                every = strtod(interval_s, &end);
                if (errno || *end || !(every >= 0.2 && every <= 3600))
                        return cli_usage_error(
                            cmd, "--interval takes seconds, 0.2 to 3600 (got '%s')", interval_s);
                watch = true;
        }
        _cleanup_error_ struct error *err = NULL;
        _cleanup_client_ struct client c = CLIENT_INIT;
        if (client_open(&c, &err) < 0)
                return output_error(cmd->name, err);
        if (watch) {
                struct sigaction sa = {.sa_handler = on_signal};
                sigaction(SIGINT, &sa, NULL);
                sigaction(SIGTERM, &sa, NULL);
        }
        bool tty = isatty(STDOUT_FILENO);
        do {
                json_t *params = json_object();
                if (a.n_pos)
                        json_object_set_new(params, "name", json_string(a.pos[0]));
                if (all)
                        json_object_set_new(params, "all", json_true());
                json_t *res = NULL;
                if (client_call(&c, "container.stats", params, &res, NULL, &err) < 0)
                        return output_error(cmd->name, err);
                if (json && watch) {
                        char *s = json_dumps(res, JSON_COMPACT);
                        printf("%s\n", s ? s : "{}");
                        free(s);
                } else if (json)
                        output_json(res);
                else {
                        if (watch && tty)
                                printf("\033[H\033[2J");
                        print_stats(res, all);
                        if (watch) {
                                char ts[32];
                                printf("\n%s - every %s s; Ctrl-C stops\n",
                                       format_iso8601(now_s(), ts),
                                       interval_s ? interval_s : "the daemon's sample interval");
                        }
                }
                if (!every)
                        every =
                            (double)json_integer_value(json_object_get(res, "sample_interval_s"));
                if (every <= 0)
                        every = 2;
                json_decref(res);
                fflush(stdout);
                for (double waited = 0; watch && !stop_watch && waited < every; waited += 0.1) {
                        struct timespec ts = {0, 100 * 1000 * 1000};
                        nanosleep(&ts, NULL);
                }
        } while (watch && !stop_watch);
        return 0;
}

/* ---- ds01 status ------------------------------------------------------------------------------
 */

static void print_status(const json_t *res)
{
        static const char *const headers[] = {"SLOT",  "MODEL", "OWNER",   "CONTAINER",
                                              "LEASE", "UTIL",  "GPU MEM", "IDLE"};
        _cleanup_table_ struct table *t = table_new(ARRAY_SIZE(headers), headers);
        size_t i;
        json_t *s;
        json_array_foreach (json_object_get(res, "slots"), i, s) {
                if (!cli_jbool(s, "allocatable"))
                        continue;
                json_t *lease = json_object_get(s, "lease");
                char slot[48], util[32], mem[32], idle[32];
                const char *profile = cli_jstr(s, "profile", NULL);
                long long idx = (long long)json_integer_value(json_object_get(s, "index"));
                if (profile)
                        snprintf(slot, sizeof(slot), "%lld.%s", idx, profile);
                else
                        snprintf(slot, sizeof(slot), "%lld", idx);
                /* "outside": a process ds01 does not manage uses it (leased to nobody) */
                const char *state = lease                           ? cli_jstr(lease, "state", "?")
                                    : json_object_get(s, "drained") ? "drained"
                                    : json_object_get(s, "outside") ? "outside"
                                                                    : "free";
                const char *cells[] = {slot,
                                       cli_jstr(s, "name", "?"),
                                       lease ? cli_jstr(lease, "user", "?") : "-",
                                       lease ? cli_jstr(lease, "project", "?") : "-",
                                       state,
                                       lease ? pct_text(json_object_get(s, "util_pct"), util) : "-",
                                       bytes_text(json_object_get(s, "mem_used_bytes"), mem),
                                       secs_text(json_object_get(s, "idle_s"), idle)};
                table_add_row(t, cells);
                if (streq(state, "free"))
                        table_set_colour(t, 4, OUTPUT_GREEN);
        }
        table_print(t, stdout, output_colour());
        const json_t *tot = json_object_get(res, "totals");
        printf("\n%lld of %lld GPU slots leased (%.2f of %.2f GPU-equivalents), %lld free, "
               "%lld drained, %lld in use outside ds01, %lld held by stopped containers, %lld "
               "idle\n"
               "%lld containers running, %lld stopped, %lld users\n",
               (long long)json_integer_value(json_object_get(tot, "leased")),
               (long long)json_integer_value(json_object_get(tot, "slots")),
               json_number_value(json_object_get(tot, "gpu_equivalents_leased")),
               json_number_value(json_object_get(tot, "gpu_equivalents")),
               (long long)json_integer_value(json_object_get(tot, "free")),
               (long long)json_integer_value(json_object_get(tot, "drained")),
               (long long)json_integer_value(json_object_get(tot, "outside")),
               (long long)json_integer_value(json_object_get(tot, "held")),
               (long long)json_integer_value(json_object_get(tot, "gpus_idle")),
               (long long)json_integer_value(json_object_get(tot, "containers_running")),
               (long long)json_integer_value(json_object_get(tot, "containers_stopped")),
               (long long)json_integer_value(json_object_get(tot, "users")));
        json_t *rv;
        json_array_foreach (json_object_get(res, "reservations"), i, rv)
                printf("reservation %s (%s): %zu slot(s), %s to %s\n", cli_jstr(rv, "name", "?"),
                       cli_jstr(rv, "state", "?"), json_array_size(json_object_get(rv, "slots")),
                       cli_jstr(rv, "start", "?"), cli_jstr(rv, "end", "?"));
        json_t *w;
        bool colour = output_colour();
        json_array_foreach (json_object_get(res, "warnings"), i, w) {
                _cleanup_free_ char *text = term_safe(cli_jstr(w, "message", "?"));
                printf("%swarning:%s %s\n", colour ? OUTPUT_YELLOW : "", colour ? OUTPUT_RESET : "",
                       text);
        }
}

int cmd_status(const struct cli_command *cmd, int argc, char **argv)
{
        return cli_show(cmd, argc, argv, "admin.status", false, print_status, NULL);
}

/* ---- ds01 users -------------------------------------------------------------------------------
 */

/* "2.00", "3", "24h"; "unlimited" for null */
static const char *num_text(const json_t *v, int decimals, const char *unit, char buf[static 32])
{
        if (json_is_null(v) || !v)
                return "unlimited";
        snprintf(buf, 32, "%.*f%s", decimals, json_number_value(v), unit);
        return buf;
}

/* A memory cap in MiB ("128m"), or "unlimited". */
static const char *mem_cap(const json_t *v, char buf[static 32])
{
        if (!json_is_integer(v))
                return "unlimited";
        snprintf(buf, 32, "%.0fm", (double)json_integer_value(v) / (1 << 20));
        return buf;
}

static void print_users(const json_t *res)
{
        static const char *const headers[] = {
            "USER",         "GROUP",          "GPU-EQ USED",      "CONTAINERS",
            "RUNNING",      "MAX CONTAINERS", "BUILDS",           "MEMORY (ALL)",
            "IDLE TIMEOUT", "MAX RUNTIME",    "GPU-H THIS MONTH", "IDLE-HELD",
            "STORAGE"};
        _cleanup_table_ struct table *t = table_new(ARRAY_SIZE(headers), headers);
        size_t i;
        json_t *u;
        json_array_foreach (json_object_get(res, "users"), i, u) {
                const json_t *lim = json_object_get(u, "limits"),
                             *use = json_object_get(u, "usage");
                char eq[64], a[32], b[32], cont[32], run[32], maxc[32], idle[32], rt[32];
                snprintf(eq, sizeof(eq), "%.2f / %s",
                         json_number_value(json_object_get(use, "gpu_equivalents")),
                         num_text(json_object_get(lim, "max_gpu_equivalents"), 2, "", a));
                snprintf(cont, sizeof(cont), "%lld",
                         (long long)json_integer_value(json_object_get(use, "containers")));
                snprintf(run, sizeof(run), "%lld",
                         (long long)json_integer_value(json_object_get(u, "running")));
                snprintf(maxc, sizeof(maxc), "%s",
                         num_text(json_object_get(lim, "max_containers_per_user"), 0, "", b));
                char builds[64];
                snprintf(builds, sizeof(builds), "%lld / %s",
                         (long long)json_integer_value(json_object_get(use, "builds")),
                         num_text(json_object_get(lim, "max_builds_per_user"), 0, "", b));
                char mem[64] = "-";
                const json_t *agg = json_object_get(use, "aggregate");
                if (json_is_object(agg))
                        snprintf(mem, sizeof(mem), "%.0fm / %s",
                                 (double)json_integer_value(json_object_get(agg, "memory")) /
                                     (1 << 20),
                                 mem_cap(json_object_get(json_object_get(lim, "aggregate"),
                                                         "memory_max"),
                                         a));
                char hb[32];
                snprintf(idle, sizeof(idle), "%s",
                         lim ? num_text(json_object_get(lim, "idle_timeout_h"), 1, "h", hb) : "-");
                snprintf(rt, sizeof(rt), "%s",
                         lim ? num_text(json_object_get(lim, "max_runtime_h"), 1, "h", hb) : "-");
                const json_t *tm = json_object_get(u, "this_month");
                char gh[32] = "0.00", ih[32] = "0.00";
                if (tm) {
                        snprintf(gh, sizeof(gh), "%.2f",
                                 json_number_value(json_object_get(tm, "gpu_hours_allocated")));
                        snprintf(ih, sizeof(ih), "%.2f",
                                 json_number_value(json_object_get(tm, "gpu_hours_idle_held")));
                }
                _cleanup_free_ char *storage = cli_storage_text(json_object_get(u, "storage"));
                _cleanup_free_ char *who = xasprintf("%s%s", cli_jstr(u, "user", "?"),
                                                     cli_jbool(u, "archived") ? " (archived)" : "");
                const char *cells[] = {who,
                                       cli_jstr(u, "group", "?"),
                                       lim ? eq : "-",
                                       lim ? cont : "-",
                                       run,
                                       lim ? maxc : "-",
                                       lim ? builds : "-",
                                       mem,
                                       idle,
                                       rt,
                                       gh,
                                       ih,
                                       storage};
                table_add_row(t, cells);
        }
        table_print(t, stdout, output_colour());
}

int cmd_users(const struct cli_command *cmd, int argc, char **argv)
{
        return cli_show(cmd, argc, argv, "admin.users", true, print_users, NULL);
}

/* ---- ds01 health ------------------------------------------------------------------------------
 */

static void print_health(const json_t *res)
{
        bool colour = output_colour();
        size_t i;
        json_t *c;
        json_array_foreach (json_object_get(res, "checks"), i, c) {
                bool ok = cli_jbool(c, "ok");
                /* warn: a finding that is no failure of ds01 (a GPU in use outside it) */
                bool w = ok && cli_jbool(c, "warn");
                const char *col = !ok ? OUTPUT_RED : w ? OUTPUT_YELLOW : OUTPUT_GREEN;
                _cleanup_free_ char *detail = term_safe(cli_jstr(c, "detail", ""));
                printf("%s%-4s%s %-14s %s\n", colour ? col : "",
                       !ok ? "FAIL"
                       : w ? "warn"
                           : "ok",
                       colour ? OUTPUT_RESET : "", cli_jstr(c, "name", "?"), detail);
        }
}

static int health_exit(const json_t *res)
{
        return cli_jbool(res, "ok") ? 0 : 1;
}

int cmd_health(const struct cli_command *cmd, int argc, char **argv)
{
        return cli_show(cmd, argc, argv, "admin.health", false, print_health, health_exit);
}

/* ---- ds01 reload ------------------------------------------------------------------------------
 */

static void print_reload(const json_t *res)
{
        printf("reloaded %s and %s\n", cli_jstr(res, "config", "?"),
               cli_jstr(res, "limits_file", "?"));
}

int cmd_reload(const struct cli_command *cmd, int argc, char **argv)
{
        return cli_show(cmd, argc, argv, "admin.reload", false, print_reload, NULL);
}

/* ---- ds01 storage setup -----------------------------------------------------------------------
 */

static void print_storage_setup(const json_t *res)
{
        size_t i;
        json_t *u;
        json_array_foreach (json_object_get(res, "users"), i, u) {
                const json_t *lim = json_object_get(u, "limit_bytes");
                printf("%s: %s is project %lld, limit %s\n", cli_jstr(u, "user", "?"),
                       cli_jstr(u, "path", "?"),
                       (long long)json_integer_value(json_object_get(u, "project")),
                       json_is_integer(lim) ? "set" : "none (unlimited)");
        }
        printf("project quotas set up for %zu user(s)\n",
               json_array_size(json_object_get(res, "users")));
}

int cmd_storage_setup(const struct cli_command *cmd, int argc, char **argv)
{
        return cli_show(cmd, argc, argv, "storage.setup", false, print_storage_setup, NULL);
}

/* ---- ds01 slurm-sync --------------------------------------------------------------------------
 */

static void print_slurm_sync(const json_t *res)
{
        static const struct {
                const char *op, *mark;
        } marks[] = {{"add", "+"}, {"change", "~"}, {"remove", "-"}};
        size_t i, n = json_array_size(json_object_get(res, "changes"));
        json_t *c;
        bool applied = cli_jbool(res, "applied");
        json_array_foreach (json_object_get(res, "changes"), i, c) {
                const char *op = cli_jstr(c, "op", "?"), *mark = "?";
                for (size_t k = 0; k < ARRAY_SIZE(marks); k++)
                        if (streq(marks[k].op, op))
                                mark = marks[k].mark;
                _cleanup_free_ char *what = term_safe(cli_jstr(c, "what", ""));
                printf("%s %s\n", mark, what);
        }
        if (n == 0)
                printf("Slurm matches the limits file on cluster %s: nothing to do\n",
                       cli_jstr(res, "cluster", "?"));
        else if (applied)
                printf("applied %zu change(s) on cluster %s\n", n, cli_jstr(res, "cluster", "?"));
        else
                printf("%zu change(s) on cluster %s; nothing changed yet - run 'ds01 slurm-sync "
                       "--apply' to make them\n",
                       n, cli_jstr(res, "cluster", "?"));
}

int cmd_slurm_sync(const struct cli_command *cmd, int argc, char **argv)
{
        bool json = false, apply = false, check = false;
        const struct cli_option opts[] = {
            {"apply", 0, CLI_OPT_FLAG, &apply, NULL},
            {"check", 0, CLI_OPT_FLAG, &check, NULL},
            {"json", 0, CLI_OPT_FLAG, &json, NULL},
            {NULL, 0, CLI_OPT_FLAG, NULL, NULL},
        };
        _cleanup_(cli_args_release) struct cli_args a = {0};
        int r = cli_parse_n(cmd, argc, argv, opts, &a, 0, 0);
        if (r != CLI_CONTINUE)
                return r;
        if (apply && check)
                return cli_usage_error(cmd, "--check only looks; leave out --apply");
        json_t *res = NULL;
        r = client_oneshot(cmd->name, "slurm.sync", json_pack("{s:b}", "apply", apply), &res, NULL);
        if (r != 0)
                return r;
        if (json)
                output_json(res);
        else
                print_slurm_sync(res);
        /* --check: drift is exit 1, as `ds01 health` with a failed check */
        r = check && json_array_size(json_object_get(res, "changes")) > 0 ? 1 : 0;
        json_decref(res);
        return r;
}
