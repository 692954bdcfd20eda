/* cmd-lifecycle.c - container-keepalive and ds01 inbox: the user's side of idle and runtime
 * enforcement. */
#include "client.h"
#include "cmd.h"
#include "output.h"

#include "../shared/parse.h"

#include <errno.h>
#include <signal.h>
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
        int r = cli_parse_n(cmd, argc, argv, opts, &a, 2, 2);
        if (r != CLI_CONTINUE)
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
        int r = cli_parse_n(cmd, argc, argv, opts, &a, 0, 0);
        if (r != CLI_CONTINUE)
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
                        _cleanup_free_ char *text = term_safe(cli_jstr(m, "message", ""));
                        printf("%s  %s\n", cli_jstr(m, "time", "?"), text);
                }
        }
        json_decref(res);
        return 0;
}

static void print_event(const json_t *e)
{
        json_t *det = json_object_get(e, "details");
        _cleanup_free_ char *d = det ? json_dumps(det, JSON_COMPACT) : NULL;
        printf("%s  %-26s %-12s %s\n", cli_jstr(e, "timestamp", "?"),
               cli_jstr(e, "event_type", "?"), cli_jstr(e, "user", "-"), d ? d : "");
}

/* Prints one answer's events: a table row each, or with --json one compact object per line. */
static void print_events(const json_t *evs, bool json)
{
        size_t i;
        json_t *e;
        json_array_foreach (evs, i, e) {
                if (json) {
                        _cleanup_free_ char *s = json_dumps(e, JSON_COMPACT);
                        if (s)
                                puts(s);
                } else
                        print_event(e);
        }
}

#define FOLLOW_POLL_MS 500

/* --follow: the history answer, then short events.query calls with the last answer's cursor
 * every FOLLOW_POLL_MS (no connection is held between them, so an idle follower costs the
 * daemon nothing). SIGINT and SIGTERM are blocked and taken in the pause between calls, so
 * Ctrl-C never cuts an event line in half, and ends the command with status 0. */
static int follow_events(const struct cli_command *cmd, json_t *params, bool json)
{
        sigset_t stop;
        sigemptyset(&stop);
        sigaddset(&stop, SIGINT);
        sigaddset(&stop, SIGTERM);
        sigprocmask(SIG_BLOCK, &stop, NULL);
        _cleanup_free_ char *cursor = NULL;
        bool more = false;
        for (;;) {
                json_t *p = json_deep_copy(params);
                if (cursor) {
                        json_object_set_new(p, "after", json_string(cursor));
                        json_object_set_new(p, "limit", json_integer(1000));
                }
                json_t *res = NULL;
                int r = client_oneshot(cmd->name, "events.query", p, &res, NULL);
                if (r != 0) {
                        json_decref(params);
                        return r;
                }
                if (json_is_true(json_object_get(res, "skipped")))
                        fprintf(stderr,
                                "%s: the log was rotated past the last event shown; some events "
                                "in between were deleted before they could be shown "
                                "(events_keep in ds01.yaml keeps more)\n",
                                cmd->name);
                print_events(json_object_get(res, "events"), json);
                free(cursor);
                cursor = xstrdup(cli_jstr(res, "cursor", "0:0"));
                more = json_is_true(json_object_get(res, "more"));
                json_decref(res);
                if (fflush(stdout) != 0) {
                        /* The reader went away (a closed pipe): nothing left to do. */
                        json_decref(params);
                        return errno == EPIPE ? 0 : 1;
                }
                struct timespec pause = {0, more ? 0 : FOLLOW_POLL_MS * 1000000L};
                if (sigtimedwait(&stop, NULL, &pause) > 0) {
                        json_decref(params);
                        return 0;
                }
        }
}

int cmd_events(const struct cli_command *cmd, int argc, char **argv)
{
        bool json = false, follow = false;
        const char *user = NULL, *type = NULL, *container = NULL, *since = NULL, *until = NULL,
                   *limit = NULL;
        const struct cli_option opts[] = {
            {"json", 0, CLI_OPT_FLAG, &json, NULL},
            {"follow", 'f', CLI_OPT_FLAG, &follow, NULL},
            {"user", 'u', CLI_OPT_VALUE, &user, NULL},
            {"type", 't', CLI_OPT_VALUE, &type, NULL},
            {"container", 'c', CLI_OPT_VALUE, &container, NULL},
            {"since", 0, CLI_OPT_VALUE, &since, NULL},
            {"until", 0, CLI_OPT_VALUE, &until, NULL},
            {"limit", 'n', CLI_OPT_VALUE, &limit, NULL},
            {NULL, 0, CLI_OPT_FLAG, NULL, NULL},
        };
        _cleanup_(cli_args_release) struct cli_args a = {0};
        int r = cli_parse_n(cmd, argc, argv, opts, &a, 0, 0);
        if (r != CLI_CONTINUE)
                return r;
        /* Following starts from a short tail, as tail -f does, unless a start time is given. */
        int64_t n = follow && !since ? 10 : 200;
        if (limit && parse_int64(limit, 1, 5000, &n) < 0)
                return cli_usage_error(cmd, "--limit must be 1..5000, not '%s'", limit);
        json_t *params = json_pack("{s:I}", "limit", (json_int_t)n);
        const char *keys[] = {"user", "type", "container", "since", "until"};
        const char *vals[] = {user, type, container, since, until};
        for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
                if (vals[i])
                        json_object_set_new(params, keys[i], json_string(vals[i]));
        if (follow)
                return follow_events(cmd, params, json);
        json_t *res = NULL;
        r = client_oneshot(cmd->name, "events.query", params, &res, NULL);
        if (r != 0)
                return r;
        json_t *evs = json_object_get(res, "events");
        if (json)
                output_json(res);
        else if (json_array_size(evs) == 0)
                printf("No events.\n");
        else
                print_events(evs, false);
        json_decref(res);
        return 0;
}
