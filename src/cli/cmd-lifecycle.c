/* cmd-lifecycle.c - container-keepalive and ds01 inbox: the user's side of idle and runtime
 * enforcement. */
#include "client.h"
#include "cmd.h"
#include "output.h"

#include "../shared/parse.h"

#include <stdio.h>
#include <time.h>

int cmd_keepalive(const struct cli_command *cmd, int argc, char **argv)
{
        bool json = false;
        const struct cli_option opts[] = {
            {"json", 0, CLI_OPT_FLAG, &json, NULL},
            {NULL, 0, CLI_OPT_FLAG, NULL, NULL},
        };
        _cleanup_(cli_args_release) struct cli_args a = {0};
        int r = cli_parse(cmd, argc, argv, opts, &a);
        if (r != CLI_CONTINUE)
                return r;
        if ((r = cli_want_positional(cmd, &a, 2, 2)) != CLI_CONTINUE)
                return r;
        if ((r = cli_check_name(cmd, a.pos[0])) != CLI_CONTINUE)
                return r;
        bool off = streq(a.pos[1], "off");
        int64_t secs = 0;
        if (!off && (parse_duration(a.pos[1], &secs) < 0 || secs <= 0))
                return cli_usage_error(cmd,
                                       "'%s' is not a duration: give one such as 90m, 2h or 1h30m, "
                                       "or 'off'",
                                       a.pos[1]);
        json_t *params = json_pack("{s:s}", "name", a.pos[0]);
        if (off)
                json_object_set_new(params, "off", json_true());
        else
                json_object_set_new(params, "seconds", json_integer(secs));
        json_t *res = NULL;
        r = client_oneshot(cmd->name, "container.keepalive", params, &res, NULL);
        if (r != 0)
                return r;
        if (json) {
                output_json(res);
        } else if (off) {
                printf("'%s': keep-alive off; the idle timeout applies again\n", a.pos[0]);
        } else {
                char when[64], d[32];
                time_t t = (time_t)json_integer_value(json_object_get(res, "until"));
                struct tm tm;
                localtime_r(&t, &tm);
                strftime(when, sizeof(when), "%Y-%m-%d %H:%M %Z", &tm);
                printf("'%s' will not be stopped for being idle until %s (%s); the runtime "
                       "limit still applies. Cancel with: container-keepalive %s off\n",
                       a.pos[0], when, format_duration(secs, d), a.pos[0]);
        }
        json_decref(res);
        return 0;
}

int cmd_inbox(const struct cli_command *cmd, int argc, char **argv)
{
        bool json = false;
        const char *limit = NULL;
        const struct cli_option opts[] = {
            {"json", 0, CLI_OPT_FLAG, &json, NULL},
            {"limit", 'n', CLI_OPT_VALUE, &limit, NULL},
            {NULL, 0, CLI_OPT_FLAG, NULL, NULL},
        };
        _cleanup_(cli_args_release) struct cli_args a = {0};
        int r = cli_parse(cmd, argc, argv, opts, &a);
        if (r != CLI_CONTINUE)
                return r;
        if ((r = cli_want_positional(cmd, &a, 0, 0)) != CLI_CONTINUE)
                return r;
        int64_t n = 50;
        if (limit && parse_int64(limit, 1, 200, &n) < 0)
                return cli_usage_error(cmd, "--limit must be 1..200, not '%s'", limit);
        json_t *res = NULL;
        r = client_oneshot(cmd->name, "inbox.list", json_pack("{s:I}", "limit", (json_int_t)n),
                           &res, NULL);
        if (r != 0)
                return r;
        json_t *msgs = json_object_get(res, "messages");
        if (json)
                output_json(res);
        else if (json_array_size(msgs) == 0)
                printf("No messages.\n");
        else {
                /* Oldest first reads like a log. */
                for (size_t i = json_array_size(msgs); i > 0; i--) {
                        json_t *m = json_array_get(msgs, i - 1);
                        printf("%s  %s\n", cli_jstr(m, "time", "?"), cli_jstr(m, "message", ""));
                }
        }
        json_decref(res);
        return 0;
}

int cmd_events(const struct cli_command *cmd, int argc, char **argv)
{
        bool json = false;
        const char *user = NULL, *type = NULL, *container = NULL, *since = NULL, *until = NULL,
                   *limit = NULL;
        const struct cli_option opts[] = {
            {"json", 0, CLI_OPT_FLAG, &json, NULL},
            {"user", 'u', CLI_OPT_VALUE, &user, NULL},
            {"type", 't', CLI_OPT_VALUE, &type, NULL},
            {"container", 'c', CLI_OPT_VALUE, &container, NULL},
            {"since", 0, CLI_OPT_VALUE, &since, NULL},
            {"until", 0, CLI_OPT_VALUE, &until, NULL},
            {"limit", 'n', CLI_OPT_VALUE, &limit, NULL},
            {NULL, 0, CLI_OPT_FLAG, NULL, NULL},
        };
        _cleanup_(cli_args_release) struct cli_args a = {0};
        int r = cli_parse(cmd, argc, argv, opts, &a);
        if (r != CLI_CONTINUE)
                return r;
        if ((r = cli_want_positional(cmd, &a, 0, 0)) != CLI_CONTINUE)
                return r;
        int64_t n = 200;
        if (limit && parse_int64(limit, 1, 5000, &n) < 0)
                return cli_usage_error(cmd, "--limit must be 1..5000, not '%s'", limit);
        json_t *params = json_pack("{s:I}", "limit", (json_int_t)n);
        const char *keys[] = {"user", "type", "container", "since", "until"};
        const char *vals[] = {user, type, container, since, until};
        for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
                if (vals[i])
                        json_object_set_new(params, keys[i], json_string(vals[i]));
        json_t *res = NULL;
        r = client_oneshot(cmd->name, "events.query", params, &res, NULL);
        if (r != 0)
                return r;
        json_t *evs = json_object_get(res, "events");
        if (json) {
                output_json(res);
        } else if (json_array_size(evs) == 0) {
                printf("No events.\n");
        } else {
                size_t i;
                json_t *e;
                json_array_foreach (evs, i, e) {
                        json_t *det = json_object_get(e, "details");
                        _cleanup_free_ char *d = det ? json_dumps(det, JSON_COMPACT) : NULL;
                        printf("%s  %-26s %-12s %s\n", cli_jstr(e, "timestamp", "?"),
                               cli_jstr(e, "event_type", "?"), cli_jstr(e, "user", "-"),
                               d ? d : "");
                }
        }
        json_decref(res);
        return 0;
}
