/* cmd-report.c - ds01 report: GPU-hours allocated, active and idle-held per user for a month,
 * with containers deployed and enforcement stops (usage.report). */
#include "client.h"
#include "cmd.h"
#include "output.h"

#include <stdio.h>

static double jnum(const json_t *o, const char *key)
{
        return json_number_value(json_object_get(o, key));
}

static long long jint(const json_t *o, const char *key)
{
        return (long long)json_integer_value(json_object_get(o, key));
}

/* One CSV field: quoted when it holds a comma, a quote or a line break. */
static void csv_field(const char *s)
{
        if (!strpbrk(s, ",\"\r\n")) {
                fputs(s, stdout);
                return;
        }
        putchar('"');
        for (; *s; s++) {
                if (*s == '"')
                        putchar('"');
                putchar(*s);
        }
        putchar('"');
}

static void print_csv(const json_t *res)
{
        const char *month = cli_jstr(res, "month", "");
        printf("month,user,uid,gpu_hours_allocated,gpu_hours_active,gpu_hours_idle_held,"
               "containers,enforcement_stops\n");
        size_t i;
        json_t *u;
        json_array_foreach (json_object_get(res, "users"), i, u) {
                csv_field(month);
                putchar(',');
                csv_field(cli_jstr(u, "user", ""));
                printf(",%lld,%.4f,%.4f,%.4f,%lld,%lld\n", jint(u, "uid"),
                       jnum(u, "gpu_hours_allocated"), jnum(u, "gpu_hours_active"),
                       jnum(u, "gpu_hours_idle_held"), jint(u, "containers"),
                       jint(u, "enforcement_stops"));
        }
}

static void add_row(struct table *t, const char *user, const json_t *u)
{
        char h[3][32], c[32], s[32];
        const char *keys[] = {"gpu_hours_allocated", "gpu_hours_active", "gpu_hours_idle_held"};
        for (size_t k = 0; k < ARRAY_SIZE(keys); k++)
                snprintf(h[k], sizeof(h[k]), "%.2f", jnum(u, keys[k]));
        snprintf(c, sizeof(c), "%lld", jint(u, "containers"));
        snprintf(s, sizeof(s), "%lld", jint(u, "enforcement_stops"));
        const char *cells[] = {user, h[0], h[1], h[2], c, s};
        table_add_row(t, cells);
}

static void print_table(const json_t *res)
{
        const json_t *users = json_object_get(res, "users");
        printf("GPU usage in %s (UTC; GPU-hours are GPU-equivalents: a MIG slice counts its "
               "share)\n\n",
               cli_jstr(res, "month", "?"));
        if (json_array_size(users) == 0) {
                printf("No usage recorded.\n");
                return;
        }
        const char *headers[] = {"USER", "ALLOCATED", "ACTIVE", "IDLE-HELD", "CONTAINERS", "STOPS"};
        _cleanup_table_ struct table *t = table_new(ARRAY_SIZE(headers), headers);
        size_t i;
        json_t *u;
        json_array_foreach (users, i, u)
                add_row(t, cli_jstr(u, "user", "?"), u);
        if (json_array_size(users) > 1)
                add_row(t, "TOTAL", json_object_get(res, "totals"));
        table_print(t, stdout, output_colour());
        printf("\nALLOCATED: GPU-hours leased (running, or held after a stop); ACTIVE: of those, "
               "hours the GPU was busy;\nIDLE-HELD: allocated but idle; STOPS: idle or runtime "
               "enforcement stops.\n");
}

int cmd_report(const struct cli_command *cmd, int argc, char **argv)
{
        bool json = false, csv = false;
        const char *month = NULL, *user = NULL;
        const struct cli_option opts[] = {
            {"json", 0, CLI_OPT_FLAG, &json, NULL},      {"csv", 0, CLI_OPT_FLAG, &csv, NULL},
            {"month", 'm', CLI_OPT_VALUE, &month, NULL}, {"user", 'u', CLI_OPT_VALUE, &user, NULL},
            {NULL, 0, CLI_OPT_FLAG, NULL, NULL},
        };
        _cleanup_(cli_args_release) struct cli_args a = {0};
        int r = cli_parse_n(cmd, argc, argv, opts, &a, 0, 0);
        if (r != CLI_CONTINUE)
                return r;
        if (json && csv)
                return cli_usage_error(cmd, "--json and --csv contradict each other - give one");
        json_t *params = json_object();
        if (month)
                json_object_set_new(params, "month", json_string(month));
        if (user)
                json_object_set_new(params, "user", json_string(user));
        json_t *res = NULL;
        r = client_oneshot(cmd->name, "usage.report", params, &res, NULL);
        if (r != 0)
                return r;
        if (json)
                output_json(res);
        else if (csv)
                print_csv(res);
        else
                print_table(res);
        json_decref(res);
        return 0;
}
