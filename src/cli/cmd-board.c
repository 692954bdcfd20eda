/* cmd-board.c - `ds01 board` (DS01's `dashboard`): the GPUs as everyone may see them, and your
 * own containers (the daemon's observe/board.h says what is on it). */
#include "client.h"
#include "cmd.h"
#include "output.h"

#include "../shared/strbuf.h"

#include <stdio.h>

/* outside: in use by a process ds01 does not manage (leased to nobody while it lasts) */
static const char *const STATES[] = {"free", "leased", "reserved", "drained", "outside"};

static void print_models(const json_t *models)
{
        static const char *const h[] = {"GPU",     "FREE",    "LEASED", "RESERVED",
                                        "DRAINED", "OUTSIDE", "TOTAL",  "NEXT FREES BY"};
        _cleanup_table_ struct table *t = table_new(ARRAY_SIZE(h), h);
        size_t i;
        json_t *m;
        json_array_foreach (models, i, m) {
                char n[ARRAY_SIZE(STATES)][24], total[24], when[32] = "-";
                for (size_t k = 0; k < ARRAY_SIZE(STATES); k++)
                        snprintf(n[k], sizeof(n[k]), "%lld",
                                 (long long)json_integer_value(json_object_get(m, STATES[k])));
                snprintf(total, sizeof(total), "%lld",
                         (long long)json_integer_value(json_object_get(m, "total")));
                json_t *by = json_object_get(m, "next_free_by");
                if (json_is_integer(by))
                        format_iso8601(json_integer_value(by), when);
                table_add_row(t, (const char *const[]){cli_jstr(m, "model", "?"), n[0], n[1], n[2],
                                                       n[3], n[4], total, when});
                if (json_integer_value(json_object_get(m, "free")) > 0)
                        table_set_colour(t, 1, OUTPUT_GREEN);
        }
        table_print(t, stdout, output_colour());
}

static void print_mine(const json_t *mine)
{
        if (json_array_size(mine) == 0) {
                printf("\nYou have no containers.\n");
                return;
        }
        static const char *const h[] = {"YOUR CONTAINER", "STATE", "GPUS", "IDLE STOP IN",
                                        "RUNTIME LEFT"};
        _cleanup_table_ struct table *t = table_new(ARRAY_SIZE(h), h);
        size_t i;
        json_t *c;
        json_array_foreach (mine, i, c) {
                char gpus[24], idle[32] = "-", left[32] = "-";
                snprintf(gpus, sizeof(gpus), "%zu", json_array_size(json_object_get(c, "gpus")));
                json_t *il = json_object_get(c, "idle_left_s"),
                       *rl = json_object_get(c, "runtime_left_s");
                if (json_is_integer(il))
                        format_duration(json_integer_value(il), idle);
                if (json_is_integer(rl))
                        format_duration(json_integer_value(rl), left);
                table_add_row(
                    t, (const char *const[]){cli_jstr(c, "name", "?"),
                                             cli_jstr(c, "status", cli_jstr(c, "state", "?")), gpus,
                                             idle, left});
        }
        printf("\n");
        table_print(t, stdout, output_colour());
}

static void print_board(const json_t *b)
{
        char ts[32];
        printf("GPUs on %s, as of %s\n\n", cli_jstr(b, "host", "?"),
               format_iso8601(json_integer_value(json_object_get(b, "time")), ts));
        print_models(json_object_get(b, "models"));
        const json_t *dm = json_object_get(b, "demand");
        printf("\n%lld of %lld GPU slots leased, %lld waiting%s\n",
               (long long)json_integer_value(json_object_get(dm, "leased")),
               (long long)json_integer_value(json_object_get(dm, "slots")),
               (long long)json_integer_value(json_object_get(dm, "waiting")),
               cli_jbool(dm, "high_demand") ? " - high demand: idle timeouts are shorter "
                                              "(check-limits shows yours)"
                                            : "");
        const json_t *next = json_object_get(b, "next_free");
        if (json_is_object(next))
                printf("The next leased slot frees by %s at the latest (%s)\n",
                       format_iso8601(json_integer_value(json_object_get(next, "at")), ts),
                       cli_jstr(next, "name", "?"));
        const json_t *resv = json_object_get(b, "reservations");
        size_t i;
        json_t *r;
        json_array_foreach (resv, i, r)
                printf("Reservation %s (%s%s): %zu slot(s), %s to %s\n", cli_jstr(r, "name", "?"),
                       cli_jstr(r, "state", "?"), cli_jbool(r, "member") ? ", yours" : "",
                       json_array_size(json_object_get(r, "slots")), cli_jstr(r, "start", "?"),
                       cli_jstr(r, "end", "?"));
        json_t *q;
        json_array_foreach (json_object_get(json_object_get(b, "queue"), "mine"), i, q) {
                const json_t *est = json_object_get(q, "estimate");
                printf("Your deploy of %s waits: position %lld, starts %s%s\n",
                       cli_jstr(q, "project", "?"),
                       (long long)json_integer_value(json_object_get(q, "position")),
                       json_is_integer(est) ? "by " : "at an unknown time",
                       json_is_integer(est) ? format_iso8601(json_integer_value(est), ts) : "");
        }
        print_mine(json_object_get(b, "mine"));
        const json_t *st = json_object_get(b, "my_storage");
        if (st) {
                _cleanup_free_ char *text = cli_storage_text(st);
                printf("\nYour workspaces: %s\n", text);
        }
}

int cmd_board(const struct cli_command *cmd, int argc, char **argv)
{
        return cli_show(cmd, argc, argv, "board.get", false, print_board, NULL);
}
