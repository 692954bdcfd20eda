/* cmd-limits.c - check-limits: the caller's effective limits and what of them is in use. */
#include "client.h"
#include "cmd.h"
#include "output.h"

#include "../shared/strbuf.h"

#include <math.h>
#include <stdio.h>

/* "2.0", "0.43", "1.5": GPU-equivalents as people read them. */
static void add_number(struct strbuf *sb, double v)
{
        if (fabs(v * 10 - round(v * 10)) < 1e-9)
                strbuf_addf(sb, "%.1f", v);
        else
                strbuf_addf(sb, "%.2f", v);
}

/* A limit's value: null or negative is unlimited. */
static char *limit_text(const char *key, const json_t *v)
{
        struct strbuf sb = STRBUF_INIT;
        bool hours = strlen(key) > 2 && streq(key + strlen(key) - 2, "_h");
        switch (json_typeof(v)) {
        case JSON_NULL:
                strbuf_adds(&sb, "unlimited");
                break;
        case JSON_INTEGER:
                if (json_integer_value(v) < 0)
                        strbuf_adds(&sb, "unlimited");
                else
                        strbuf_addf(&sb, "%lld%s", (long long)json_integer_value(v),
                                    hours ? " h" : "");
                break;
        case JSON_REAL:
                if (json_real_value(v) < 0) {
                        strbuf_adds(&sb, "unlimited");
                } else {
                        double x = json_real_value(v);
                        strbuf_addf(&sb, x == floor(x) && x < 1e9 ? "%.1f" : "%g", x);
                        if (hours) {
                                char d[32];
                                strbuf_addf(&sb, " h (%s)",
                                            format_duration(
                                                (int64_t)llround(json_real_value(v) * 3600), d));
                        }
                }
                break;
        case JSON_TRUE:
                strbuf_adds(&sb, "yes");
                break;
        case JSON_FALSE:
                strbuf_adds(&sb, "no");
                break;
        case JSON_STRING:
                strbuf_adds(&sb, json_string_value(v));
                break;
        case JSON_OBJECT:
        case JSON_ARRAY: {
                _cleanup_free_ char *s = json_dumps(v, JSON_COMPACT);
                strbuf_adds(&sb, s ? s : "?");
                break;
        }
        }
        return strbuf_detach(&sb);
}

/* "1.0 of 2.0" / "1 of 3" / "1 (no limit)". */
static char *usage_text(const json_t *used, const json_t *max)
{
        struct strbuf sb = STRBUF_INIT;
        add_number(&sb, json_number_value(used));
        if (json_is_integer(used) && (json_is_integer(max) || !max)) {
                strbuf_reset(&sb);
                strbuf_addf(&sb, "%lld", (long long)json_integer_value(used));
        }
        if (!json_is_number(max) || json_number_value(max) < 0) {
                strbuf_adds(&sb, " (unlimited)");
        } else {
                strbuf_adds(&sb, " of ");
                if (json_is_integer(max))
                        strbuf_addf(&sb, "%lld", (long long)json_integer_value(max));
                else
                        add_number(&sb, json_number_value(max));
        }
        return strbuf_detach(&sb);
}

/* Docker sizes in bytes as people write them: "32g", "512m". */
static bool is_size_key(const char *key)
{
        return streq(key, "memory") || streq(key, "memory_swap") || streq(key, "shm_size") ||
               startswith(key, "storage_") || startswith(key, "io_") || streq(key, "memory_max") ||
               streq(key, "memory_high");
}

static char *size_text(int64_t v)
{
        static const char units[] = "kmgt";
        int u = -1;
        while (u < 3 && v >= 1024 && v % 1024 == 0) {
                v /= 1024;
                u++;
        }
        return u < 0 ? xasprintf("%lld", (long long)v)
                     : xasprintf("%lld%c", (long long)v, units[u]);
}

/* One row per limit; nested objects (policies) become "policies.key" rows. */
static void add_limits(struct table *t, const char *prefix, const json_t *obj)
{
        const char *key;
        json_t *v;
        json_object_foreach ((json_t *)obj, key, v) {
                _cleanup_free_ char *name = prefix ? xasprintf("%s.%s", prefix, key) : xstrdup(key);
                if (json_is_object(v)) {
                        add_limits(t, name, v);
                        continue;
                }
                _cleanup_free_ char *text =
                    json_is_integer(v) && json_integer_value(v) >= 0 && is_size_key(key)
                        ? size_text(json_integer_value(v))
                        : limit_text(key, v);
                _cleanup_free_ char *label = xasprintf("  %s", name);
                table_add_row(t, (const char *const[]){label, text});
        }
}

/* "37.5m of 128m": memory in use against a cap (none: "(unlimited)"). */
static char *bytes_of(const json_t *used, const json_t *max)
{
        double mib = (double)json_integer_value(used) / (1 << 20);
        if (!json_is_integer(max))
                return xasprintf("%.1fm (unlimited)", mib);
        _cleanup_free_ char *cap = size_text(json_integer_value(max));
        return xasprintf("%.1fm of %s", mib, cap);
}

/* What all the caller's containers use together, against the group's aggregate caps. */
static void print_aggregate_use(const json_t *use, const json_t *caps)
{
        if (!json_is_object(use))
                return;
        _cleanup_free_ char *mem =
            bytes_of(json_object_get(use, "memory"), json_object_get(caps, "memory_max"));
        _cleanup_free_ char *tasks =
            usage_text(json_object_get(use, "tasks"), json_object_get(caps, "tasks_max"));
        printf("  %-17s %s\n", "memory (all)", mem);
        printf("  %-17s %s\n", "tasks (all)", tasks);
}

static void add_bytes(struct strbuf *sb, int64_t v)
{
        static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
        double x = (double)v;
        size_t u = 0;
        while (x >= 1024 && u + 1 < ARRAY_SIZE(units)) {
                x /= 1024;
                u++;
        }
        strbuf_addf(sb, u ? "%.1f %s" : "%.0f %s", x, units[u]);
}

char *cli_storage_text(const json_t *st)
{
        const json_t *used = json_object_get(st, "used_bytes"),
                     *max = json_object_get(st, "limit_bytes");
        if (!json_is_integer(used))
                return xstrdup(json_is_integer(max) ? "not measured yet" : "-");
        struct strbuf sb = STRBUF_INIT;
        add_bytes(&sb, json_integer_value(used));
        if (json_is_integer(max)) {
                strbuf_adds(&sb, " of ");
                add_bytes(&sb, json_integer_value(max));
                strbuf_addf(&sb, " (%lld %%)",
                            (long long)json_integer_value(json_object_get(st, "percent")));
        } else {
                strbuf_adds(&sb, " (unlimited)");
        }
        return strbuf_detach(&sb);
}

/* check-limits' storage line, and what to do when it is full. */
static void print_storage(const json_t *st)
{
        if (!st)
                return;
        _cleanup_free_ char *text = cli_storage_text(st);
        printf("  %-17s %s%s%s\n", "workspace storage", text,
               json_is_string(json_object_get(st, "path")) ? " in " : "", cli_jstr(st, "path", ""));
        if (json_integer_value(json_object_get(st, "percent")) >= 100)
                printf("  %-17s new containers are refused - delete files in %s, or ask an "
                       "administrator for more\n",
                       "", cli_jstr(st, "path", "your workspaces"));
}

/* While the GPUs are in high demand, the idle timeout in force is shorter than the limit. */
static void print_high_demand(const json_t *hd, const json_t *reduction)
{
        if (!json_is_true(json_object_get(hd, "active")))
                return;
        const json_t *now = json_object_get(hd, "idle_timeout_in_force_h");
        char b[32];
        printf("\nHigh demand: %lld of %lld GPU slots leased%s - idle timeouts are %.0f%% "
               "shorter",
               (long long)json_integer_value(json_object_get(hd, "leased_slots")),
               (long long)json_integer_value(json_object_get(hd, "slots")),
               json_integer_value(json_object_get(hd, "waiting")) > 0 ? ", requests waiting" : "",
               json_number_value(reduction) * 100);
        if (json_is_number(now))
                printf(": yours is %s now",
                       format_duration((int64_t)llround(json_number_value(now) * 3600), b));
        printf("\n");
}

int cmd_check_limits(const struct cli_command *cmd, int argc, char **argv)
{
        bool json = false;
        const struct cli_option opts[] = {
            {"json", 0, CLI_OPT_FLAG, &json, NULL},
            {NULL, 0, CLI_OPT_FLAG, NULL, NULL},
        };
        _cleanup_(cli_args_release) struct cli_args a = {0};
        int r = cli_parse_n(cmd, argc, argv, opts, &a, 0, 0);
        if (r != CLI_CONTINUE)
                return r;

        json_t *res = NULL;
        if ((r = client_oneshot(cmd->name, "limits.get", NULL, &res, NULL)) != 0)
                return r;
        if (json) {
                output_json(res);
                json_decref(res);
                return 0;
        }
        const json_t *limits = json_object_get(res, "limits");
        const json_t *usage = json_object_get(res, "usage");

        printf("User:  %s\nGroup: %s\n\nIn use\n", cli_jstr(res, "user", "?"),
               cli_jstr(res, "group", "?"));
        _cleanup_free_ char *gpu_eq = usage_text(json_object_get(usage, "gpu_equivalents"),
                                                 json_object_get(limits, "max_gpu_equivalents"));
        _cleanup_free_ char *containers =
            usage_text(json_object_get(usage, "containers"),
                       json_object_get(limits, "max_containers_per_user"));
        printf("  %-17s %s\n", "GPU-equivalents", gpu_eq);
        printf("  %-17s %s\n", "containers", containers);
        /* Builds run under the same memory and CPU limits as a container, each. */
        _cleanup_free_ char *builds = usage_text(json_object_get(usage, "builds"),
                                                 json_object_get(limits, "max_builds_per_user"));
        printf("  %-17s %s (each under the memory and max_cpus limits below)\n", "image builds",
               builds);
        print_aggregate_use(json_object_get(usage, "aggregate"),
                            json_object_get(limits, "aggregate"));
        print_storage(json_object_get(res, "storage"));
        const json_t *gpus = json_object_get(usage, "gpus");
        if (json_array_size(gpus) > 0) {
                struct strbuf sb = STRBUF_INIT;
                size_t i;
                json_t *g;
                json_array_foreach (gpus, i, g) {
                        const char *uuid =
                            json_is_object(g) ? cli_jstr(g, "uuid", "?") : json_string_value(g);
                        const char *owner =
                            json_is_object(g) ? cli_jstr(g, "container", NULL) : NULL;
                        strbuf_addf(&sb, "%s%s", i ? ", " : "", uuid ? uuid : "?");
                        if (owner)
                                strbuf_addf(&sb, " (%s)", owner);
                }
                printf("  %-17s %s\n", "GPUs", strbuf_str(&sb));
                strbuf_release(&sb);
        }

        const json_t *data = json_object_get(res, "datasets");
        if (json_array_size(data) > 0) {
                printf("\nDatasets (container-deploy NAME --data DATASET: read-only at "
                       "/data/DATASET)\n");
                size_t i;
                const json_t *ds;
                json_array_foreach (data, i, ds)
                        printf("  %-17s %s\n", cli_jstr(ds, "name", "?"),
                               cli_jstr(ds, "path", "?"));
        }

        print_high_demand(
            json_object_get(res, "high_demand"),
            json_object_get(json_object_get(limits, "policies"), "high_demand_idle_reduction"));

        if (json_object_size(limits) > 0) {
                printf("\nLimits\n");
                _cleanup_table_ struct table *t = table_new(2, NULL);
                add_limits(t, NULL, limits);
                table_print(t, stdout, false);
        }
        json_decref(res);
        return 0;
}
