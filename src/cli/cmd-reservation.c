/* cmd-reservation.c - `ds01 reservation create|list|delete`: administrators' reservations of GPU
 * slots for a window (the daemon's gpus/reservations.h says what they do). */
#include "client.h"
#include "cmd.h"
#include "output.h"

#include "../shared/parse.h"
#include "../shared/strbuf.h"
#include "../shared/timestamp.h"

#include <stdio.h>
#include <time.h>

/* "now", "+DUR" (after base), or an ISO-8601 time ("2026-12-10T09:00", UTC without an offset).
 * CLI_CONTINUE, or 2 after saying what is wrong. */
static int parse_when(const struct cli_command *cmd, const char *opt, const char *s, int64_t base,
                      int64_t *ret)
{
        int64_t d;
        if (streq(s, "now")) {
                *ret = time(NULL);
                return CLI_CONTINUE;
        }
        if (s[0] == '+' && parse_duration(s + 1, &d) == 0) {
                *ret = base + d;
                return CLI_CONTINUE;
        }
        if (timestamp_parse(s, ret) == 0)
                return CLI_CONTINUE;
        return cli_usage_error(cmd,
                               "%s '%s': give a time (2026-12-10T09:00, UTC unless it says "
                               "+01:00), 'now' or +DURATION (+2h)",
                               opt, s);
}

int cmd_reservation_create(const struct cli_command *cmd, int argc, char **argv)
{
        const char *gpus = NULL, *slots = NULL, *start = NULL, *end = NULL, *users = NULL,
                   *group = NULL;
        bool json = false;
        const struct cli_option opts[] = {
            {"gpus", 0, CLI_OPT_VALUE, &gpus, NULL},   {"slots", 0, CLI_OPT_VALUE, &slots, NULL},
            {"start", 0, CLI_OPT_VALUE, &start, NULL}, {"end", 0, CLI_OPT_VALUE, &end, NULL},
            {"users", 0, CLI_OPT_VALUE, &users, NULL}, {"group", 0, CLI_OPT_VALUE, &group, NULL},
            {"json", 0, CLI_OPT_FLAG, &json, NULL},    {NULL, 0, CLI_OPT_FLAG, NULL, NULL},
        };
        _cleanup_(cli_args_release) struct cli_args a = {0};
        int r = cli_parse_n(cmd, argc, argv, opts, &a, 1, 1);
        if (r != CLI_CONTINUE)
                return r;
        if (!gpus == !slots)
                return cli_usage_error(cmd, "give --gpus N or --slots UUID,... (one of them)");
        if (!start || !end)
                return cli_usage_error(cmd, "give the window: --start TIME --end TIME");
        if (!users && !group)
                return cli_usage_error(cmd, "give the members: --users LOGIN,... or --group G");
        int64_t t0, t1, n = 0;
        if ((r = parse_when(cmd, "--start", start, time(NULL), &t0)) != CLI_CONTINUE ||
            (r = parse_when(cmd, "--end", end, t0, &t1)) != CLI_CONTINUE)
                return r;
        if (gpus && parse_int64(gpus, 1, 64, &n) < 0)
                return cli_usage_error(cmd, "--gpus '%s': a number of whole GPUs, 1 to 64", gpus);
        json_t *params = json_pack("{s:s, s:I, s:I}", "name", a.pos[0], "start", (json_int_t)t0,
                                   "end", (json_int_t)t1);
        if (gpus)
                json_object_set_new(params, "gpus", json_integer(n));
        if (slots)
                json_object_set_new(params, "slots", json_string(slots));
        if (users)
                json_object_set_new(params, "users", json_string(users));
        if (group)
                json_object_set_new(params, "group", json_string(group));
        json_t *res = NULL;
        if ((r = client_oneshot(cmd->name, "reservation.create", params, &res, NULL)) != 0)
                return r;
        if (json) {
                output_json(res);
        } else {
                char b0[32], b1[32];
                printf("reservation %s: %zu slot(s) from %s to %s\n", a.pos[0],
                       json_array_size(json_object_get(res, "slots")), format_iso8601(t0, b0),
                       format_iso8601(t1, b1));
                size_t i;
                json_t *s;
                json_array_foreach (json_object_get(res, "slots"), i, s)
                        printf("  %s\n", json_string_value(s));
        }
        json_decref(res);
        return 0;
}

/* "alice,bob", "group student", or both. */
static char *members_text(const json_t *r)
{
        const char *users = cli_jstr(r, "users", NULL), *group = cli_jstr(r, "group", NULL);
        if (!users && !group)
                return xstrdup(cli_jbool(r, "member") ? "you" : "-");
        struct strbuf sb = STRBUF_INIT;
        strbuf_adds(&sb, users && *users ? users : "");
        if (group && *group)
                strbuf_addf(&sb, "%sgroup %s", users && *users ? ", " : "", group);
        return strbuf_detach(&sb);
}

/* Each slot, and who holds it now. */
static char *slots_text(const json_t *slots)
{
        struct strbuf sb = STRBUF_INIT;
        strbuf_adds(&sb, "");
        size_t i;
        json_t *s;
        json_array_foreach (slots, i, s) {
                strbuf_addf(&sb, "%s%s", i ? ", " : "", cli_jstr(s, "uuid", "?"));
                const char *c = cli_jstr(s, "container", NULL);
                if (c && *c)
                        strbuf_addf(&sb, " (%s)", c);
                else if (c)
                        strbuf_adds(&sb, " (leased)");
                if (cli_jbool(s, "released"))
                        strbuf_adds(&sb, " [released: unused]");
        }
        return strbuf_detach(&sb);
}

static void print_list(const json_t *res)
{
        const json_t *list = json_object_get(res, "reservations");
        if (json_array_size(list) == 0) {
                printf("No reservations.\n");
                return;
        }
        static const char *const h[] = {"NAME", "STATE", "START", "END", "MEMBERS", "SLOTS"};
        _cleanup_table_ struct table *t = table_new(6, h);
        size_t i;
        json_t *o;
        json_array_foreach (list, i, o) {
                _cleanup_free_ char *m = members_text(o);
                _cleanup_free_ char *sl = slots_text(json_object_get(o, "slots"));
                table_add_row(t, (const char *const[]){
                                     cli_jstr(o, "name", "?"), cli_jstr(o, "state", "?"),
                                     cli_jstr(o, "start", "?"), cli_jstr(o, "end", "?"), m, sl});
        }
        table_print(t, stdout, false);
}

int cmd_reservation_list(const struct cli_command *cmd, int argc, char **argv)
{
        return cli_show(cmd, argc, argv, "reservation.list", false, print_list, NULL);
}

int cmd_reservation_delete(const struct cli_command *cmd, int argc, char **argv)
{
        const struct cli_option opts[] = {{NULL, 0, CLI_OPT_FLAG, NULL, NULL}};
        _cleanup_(cli_args_release) struct cli_args a = {0};
        int r = cli_parse_n(cmd, argc, argv, opts, &a, 1, 1);
        if (r != CLI_CONTINUE)
                return r;
        json_t *res = NULL;
        if ((r = client_oneshot(cmd->name, "reservation.delete",
                                json_pack("{s:s}", "name", a.pos[0]), &res, NULL)) != 0)
                return r;
        printf("reservation %s deleted: its slots are everyone's again\n", a.pos[0]);
        json_decref(res);
        return 0;
}
