/* cmd-queue.c - gpu-queue, and container-deploy --wait's side of the queue: what a waiting user
 * sees (the daemon's gpus/queue.h says how the queue is ordered and granted). */
#include "client.h"
#include "cmd.h"
#include "output.h"

#include "../shared/parse.h"
#include "../shared/strbuf.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

#define WAIT_POLL_S 2

/* "by 14:05 (in 2h 10m) at the latest" / "unknown (a runtime cap is unlimited)" / "now". */
static char *estimate_text(const json_t *est)
{
        if (!json_is_integer(est))
                return xstrdup("unknown (a GPU's runtime cap is unlimited)");
        int64_t t = json_integer_value(est), now = time(NULL);
        if (t <= now)
                return xstrdup("as soon as it is its turn");
        char d[32], hm[16];
        time_t tt = (time_t)t;
        struct tm tm;
        localtime_r(&tt, &tm);
        strftime(hm, sizeof(hm), "%H:%M", &tm);
        return xasprintf("by %s (in %s) at the latest", hm, format_duration(t - now, d));
}

void queue_print_joined(const char *project, const json_t *res)
{
        _cleanup_free_ char *est = estimate_text(json_object_get(res, "estimate"));
        printf("'%s' waits for GPUs: position %lld of %lld; it starts %s.\n", project,
               (long long)json_integer_value(json_object_get(res, "position")),
               (long long)json_integer_value(json_object_get(res, "waiting")), est);
        printf("  You are told when it starts (ds01 inbox, your terminals).\n"
               "  gpu-queue shows the queue; gpu-queue leave %s stops waiting.\n",
               project);
}

/* The request id's row in a queue.list answer, or NULL when it left the queue. */
static const json_t *find_request(const json_t *list, int64_t id)
{
        size_t i;
        const json_t *r;
        json_array_foreach (json_object_get(list, "requests"), i, r)
                if (json_integer_value(json_object_get(r, "id")) == id)
                        return r;
        return NULL;
}

int queue_wait(const struct cli_command *cmd, struct client *c, const char *project, int64_t id)
{
        bool tty = isatty(STDOUT_FILENO);
        _cleanup_free_ char *last = NULL;
        for (;;) {
                json_t *list = NULL;
                _cleanup_error_ struct error *err = NULL;
                if (client_call(c, "queue.list", NULL, &list, NULL, &err) < 0)
                        return output_error(cmd->name, err);
                const json_t *r = find_request(list, id);
                if (!r) {
                        json_decref(list);
                        break;
                }
                _cleanup_free_ char *est = estimate_text(json_object_get(r, "estimate"));
                _cleanup_free_ char *line =
                    xasprintf("waiting: position %lld of %lld, starts %s",
                              (long long)json_integer_value(json_object_get(r, "position")),
                              (long long)json_integer_value(json_object_get(list, "waiting")), est);
                json_decref(list);
                if (!streq_ptr(line, last)) {
                        printf(tty ? "\r\033[K%s" : "%s\n", line);
                        fflush(stdout);
                        free(last);
                        last = TAKE_PTR(line);
                }
                sleep(WAIT_POLL_S);
        }
        if (tty && last)
                printf("\n");
        printf("'%s' left the queue: opening it\n", project);
        fflush(stdout);
        return 0;
}

static void print_queue(const json_t *res)
{
        const json_t *rows = json_object_get(res, "requests");
        long long waiting = (long long)json_integer_value(json_object_get(res, "waiting"));
        if (json_array_size(rows) == 0) {
                printf("No request of yours waits (%lld in the queue).\n", waiting);
                return;
        }
        static const char *const h[] = {"POS",  "ID",     "USER",     "PROJECT",
                                        "GPUS", "WAITED", "PRIORITY", "STARTS"};
        _cleanup_table_ struct table *t = table_new(ARRAY_SIZE(h), h);
        size_t i;
        const json_t *r;
        json_array_foreach (rows, i, r) {
                char pos[16], id[24], gpus[16], waited[32], prio[32];
                snprintf(pos, sizeof(pos), "%lld",
                         (long long)json_integer_value(json_object_get(r, "position")));
                snprintf(id, sizeof(id), "%lld",
                         (long long)json_integer_value(json_object_get(r, "id")));
                snprintf(gpus, sizeof(gpus), "%lld",
                         (long long)json_integer_value(json_object_get(r, "gpus")));
                format_duration(json_integer_value(json_object_get(r, "waited_s")), waited);
                snprintf(prio, sizeof(prio), "%.0f",
                         json_number_value(json_object_get(r, "priority")));
                _cleanup_free_ char *est = estimate_text(json_object_get(r, "estimate"));
                table_add_row(t, (const char *const[]){pos, id, cli_jstr(r, "user", "?"),
                                                       cli_jstr(r, "project", "?"), gpus, waited,
                                                       prio, est});
        }
        table_print(t, stdout, false);
        printf("%lld request%s in the queue.\n", waiting, waiting == 1 ? "" : "s");
}

/* gpu-queue leave PROJECT | cancel ID | move ID POSITION */
static int queue_verb(const struct cli_command *cmd, const struct cli_args *a, bool json)
{
        const char *verb = a->pos[0];
        json_t *params = NULL;
        const char *method = "queue.leave";
        int64_t id = 0, pos = 0;
        if ((streq(verb, "leave") || streq(verb, "remove")) && a->n_pos == 2) {
                params = json_pack("{s:s}", "project", a->pos[1]);
        } else if (streq(verb, "cancel") && a->n_pos == 2) {
                if (parse_int64(a->pos[1], 1, INT64_C(1) << 53, &id) < 0)
                        return cli_usage_error(cmd,
                                               "cancel: give a request's ID (gpu-queue --all)");
                params = json_pack("{s:I}", "id", (json_int_t)id);
        } else if (streq(verb, "move") && a->n_pos == 3) {
                if (parse_int64(a->pos[1], 1, INT64_C(1) << 53, &id) < 0 ||
                    parse_int64(a->pos[2], 1, 1000000, &pos) < 0)
                        return cli_usage_error(cmd, "move: give a request's ID and a position "
                                                    "(1 = first)");
                method = "queue.move";
                params = json_pack("{s:I, s:I}", "id", (json_int_t)id, "position", (json_int_t)pos);
        } else {
                return cli_usage_error(cmd, "unknown use of gpu-queue: 'gpu-queue', 'gpu-queue "
                                            "leave PROJECT', or for administrators 'gpu-queue "
                                            "cancel ID' and 'gpu-queue move ID POSITION'");
        }
        json_t *res = NULL;
        int r = client_oneshot(cmd->name, method, params, &res, NULL);
        if (r != 0)
                return r;
        if (json)
                output_json(res);
        else if (streq(method, "queue.move"))
                printf("request %lld is at position %lld now\n", (long long)id,
                       (long long)json_integer_value(json_object_get(res, "position")));
        else
                printf("'%s' of %s left the queue\n", cli_jstr(res, "project", "?"),
                       cli_jstr(res, "user", "?"));
        json_decref(res);
        return 0;
}

int cmd_gpu_queue(const struct cli_command *cmd, int argc, char **argv)
{
        bool json = false, all = false;
        const struct cli_option opts[] = {
            {"json", 0, CLI_OPT_FLAG, &json, NULL},
            {"all", 'a', CLI_OPT_FLAG, &all, NULL},
            {NULL, 0, CLI_OPT_FLAG, NULL, NULL},
        };
        _cleanup_(cli_args_release) struct cli_args a = {0};
        int r = cli_parse_n(cmd, argc, argv, opts, &a, 0, 3);
        if (r != CLI_CONTINUE)
                return r;
        /* in a Slurm cluster the queue is Slurm's (cmd-slurm.c) */
        if ((r = slurm_queue(cmd, &a, json, all)) != CLI_CONTINUE)
                return r;
        if (a.n_pos > 0 && !streq(a.pos[0], "list"))
                return queue_verb(cmd, &a, json);
        json_t *res = NULL;
        r = client_oneshot(cmd->name, "queue.list", all ? json_pack("{s:b}", "all", 1) : NULL, &res,
                           NULL);
        if (r != 0)
                return r;
        if (json)
                output_json(res);
        else
                print_queue(res);
        json_decref(res);
        return 0;
}
