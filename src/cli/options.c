/* options.c - one option parser for every command: "--opt V", "--opt=V", "-o V", "-oV",
 * flags, -h/--help, positional arguments anywhere, and "--" before a command line. */
#include "cmd.h"

#include <stdarg.h>

void cli_print_help(const struct cli_command *cmd, FILE *f)
{
        fprintf(f, "Usage: %s %s\n\n%s.\n", cmd->name, cmd->usage, cmd->summary);
        if (cmd->help && *cmd->help)
                fprintf(f, "\n%s", cmd->help);
}

int cli_usage_error(const struct cli_command *cmd, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        _cleanup_free_ char *m = xvasprintf(fmt, ap);
        va_end(ap);
        fprintf(stderr, "%s: %s\nUsage: %s %s\nTry '%s --help' for more.\n", cmd->name, m,
                cmd->name, cmd->usage, cmd->name);
        return CLI_EXIT_USAGE;
}

static const struct cli_option *find_long(const struct cli_option *opts, const char *name,
                                          size_t len)
{
        for (const struct cli_option *o = opts; o && o->name; o++)
                if (strlen(o->name) == len && strncmp(o->name, name, len) == 0)
                        return o;
        return NULL;
}

static const struct cli_option *find_short(const struct cli_option *opts, char c)
{
        for (const struct cli_option *o = opts; o && o->name; o++)
                if (o->short_name && o->short_name == c)
                        return o;
        return NULL;
}

static void apply(const struct cli_option *o, const char *value)
{
        if (o->type == CLI_OPT_FLAG)
                *(bool *)o->target = true;
        else
                *(const char **)o->target = value;
        if (o->seen)
                (*o->seen)++;
}

void cli_args_release(struct cli_args *a)
{
        free(a->pos);
        free(a->rest);
        memset(a, 0, sizeof(*a));
}

int cli_parse(const struct cli_command *cmd, int argc, char **argv, const struct cli_option *opts,
              struct cli_args *ret)
{
        struct cli_args a = {.pos = xcalloc((size_t)argc + 1, sizeof(char *))};
        bool dashdash = false;
        int i;
        for (i = 1; i < argc; i++) {
                char *arg = argv[i];
                if (streq(arg, "--")) {
                        dashdash = true;
                        i++;
                        break;
                }
                if (streq(arg, "-h") || streq(arg, "--help")) {
                        cli_print_help(cmd, stdout);
                        cli_args_release(&a);
                        return 0;
                }
                if (startswith(arg, "--")) {
                        const char *name = arg + 2;
                        const char *eq = strchr(name, '=');
                        size_t len = eq ? (size_t)(eq - name) : strlen(name);
                        const struct cli_option *o = find_long(opts, name, len);
                        if (!o) {
                                cli_args_release(&a);
                                return cli_usage_error(cmd, "unknown option '--%.*s'", (int)len,
                                                       name);
                        }
                        if (o->type == CLI_OPT_FLAG) {
                                if (eq) {
                                        cli_args_release(&a);
                                        return cli_usage_error(cmd, "option '--%s' takes no value",
                                                               o->name);
                                }
                                apply(o, NULL);
                        } else if (eq) {
                                apply(o, eq + 1);
                        } else if (i + 1 < argc) {
                                apply(o, argv[++i]);
                        } else {
                                cli_args_release(&a);
                                return cli_usage_error(cmd, "option '--%s' needs a value", o->name);
                        }
                        continue;
                }
                if (arg[0] == '-' && arg[1] != '\0') {
                        /* Short options, possibly grouped ("-fa") or with the value glued on
                         * ("-n5"). */
                        for (const char *p = arg + 1; *p; p++) {
                                const struct cli_option *o = find_short(opts, *p);
                                if (!o) {
                                        cli_args_release(&a);
                                        return cli_usage_error(cmd, "unknown option '-%c'", *p);
                                }
                                if (o->type == CLI_OPT_FLAG) {
                                        apply(o, NULL);
                                        continue;
                                }
                                if (p[1]) {
                                        apply(o, p + 1);
                                } else if (i + 1 < argc) {
                                        apply(o, argv[++i]);
                                } else {
                                        cli_args_release(&a);
                                        return cli_usage_error(cmd, "option '-%c' needs a value",
                                                               *p);
                                }
                                break;
                        }
                        continue;
                }
                a.pos[a.n_pos++] = arg;
        }
        if (dashdash) {
                a.rest = xcalloc((size_t)(argc - i) + 1, sizeof(char *));
                for (; i < argc; i++)
                        a.rest[a.n_rest++] = argv[i];
        }
        *ret = a;
        return CLI_CONTINUE;
}

int cli_want_positional(const struct cli_command *cmd, const struct cli_args *a, size_t min,
                        size_t max)
{
        if (a->n_pos < min)
                return cli_usage_error(cmd, "missing NAME");
        if (a->n_pos > max)
                return cli_usage_error(
                    cmd, "unexpected argument '%s'%s", a->pos[max],
                    !a->rest && strstr(cmd->usage, "-- CMD") ? " (put a command after '--')" : "");
        return CLI_CONTINUE;
}

int cli_check_name(const struct cli_command *cmd, const char *name)
{
        if (!*name)
                return cli_usage_error(cmd, "the NAME is empty");
        if (strlen(name) >= 256)
                return cli_usage_error(cmd, "the NAME is too long (at most 255 bytes)");
        if (strchr(name, '/'))
                return cli_usage_error(cmd,
                                       "'%s' is not a container name: give a project name such "
                                       "as 'my-project'",
                                       name);
        return CLI_CONTINUE;
}
