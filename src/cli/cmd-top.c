/* cmd-top.c - container-top: what is still running in a container (training that outlived the
 * shell that started it, a notebook server), with its CPU and how long it has run. */
#include "client.h"
#include "cmd.h"
#include "output.h"

#include <stdio.h>

int cmd_top(const struct cli_command *cmd, int argc, char **argv)
{
        bool json = false;
        const struct cli_option opts[] = {
            {"json", 0, CLI_OPT_FLAG, &json, NULL},
            {NULL, 0, CLI_OPT_FLAG, NULL, NULL},
        };
        _cleanup_(cli_args_release) struct cli_args a = {0};
        int r = cli_parse(cmd, argc, argv, opts, &a);
        if (r == CLI_CONTINUE)
                r = cli_want_positional(cmd, &a, 1, 1);
        if (r == CLI_CONTINUE)
                r = cli_check_name(cmd, a.pos[0]);
        if (r != CLI_CONTINUE)
                return r;
        json_t *res = NULL;
        r = client_oneshot(cmd->name, "container.top", json_pack("{s:s}", "name", a.pos[0]), &res,
                           NULL);
        if (r != 0)
                return r;
        if (json) {
                output_json(res);
                json_decref(res);
                return 0;
        }
        static const char *const headers[] = {"PID", "CPU%", "CPU-TIME", "RUNNING", "COMMAND"};
        _cleanup_table_ struct table *t = table_new(ARRAY_SIZE(headers), headers);
        size_t i;
        json_t *p;
        json_array_foreach (json_object_get(res, "processes"), i, p) {
                char pid[24], pct[24], cpu[32], run[32];
                snprintf(pid, sizeof(pid), "%lld",
                         (long long)json_integer_value(json_object_get(p, "pid")));
                snprintf(pct, sizeof(pct), "%.1f",
                         json_real_value(json_object_get(p, "cpu_percent")));
                format_duration(json_integer_value(json_object_get(p, "cpu_s")), cpu);
                format_duration(json_integer_value(json_object_get(p, "elapsed_s")), run);
                const char *cells[] = {pid, pct, cpu, run, cli_jstr(p, "command", "?")};
                table_add_row(t, cells);
        }
        table_print(t, stdout, output_colour());
        printf("(CPU%% is the average since each process started. Processes started with nohup, "
               "setsid or in tmux keep running after you leave; container-retire stops them.)\n");
        json_decref(res);
        return 0;
}
