/* options.c - one option parser for every command: "--opt V", "--opt=V", "-o V", "-oV",
 * flags, -h/--help, positional arguments anywhere, and "--" before a command line. */
#include "cmd.h"

#include "../shared/strbuf.h"

#include <stdarg.h>

/* "--gpus N", "--open", "-- CMD..." */
static void add_option(struct strbuf *sb, const struct cli_option *o)
{
        if (o->type == CLI_OPT_REST)
                strbuf_adds(sb, "--");
        else
                strbuf_addf(sb, "--%s", o->name);
        if (o->arg)
                strbuf_addf(sb, " %s", o->arg);
}

/* The synopsis after the command's name: usage, then each listed option of its table, the
 * alternatives of one group in one bracket. */
static char *usage_line(const struct cli_command *cmd)
{
        struct strbuf sb = STRBUF_INIT;
        strbuf_adds(&sb, cmd->usage);
        for (const struct cli_option *o = cmd->options; o && o->name; o++) {
                if (!o->help)
                        continue;
                bool first = true;
                for (const struct cli_option *p = cmd->options; o->group && p < o && first; p++)
                        first = !(p->help && p->group == o->group);
                if (!first)
                        continue;
                strbuf_adds(&sb, " [");
                add_option(&sb, o);
                for (const struct cli_option *p = o + 1; o->group && p->name; p++)
                        if (p->help && p->group == o->group) {
                                strbuf_adds(&sb, " | ");
                                add_option(&sb, p);
                        }
                strbuf_adds(&sb, o->type == CLI_OPT_LIST ? "]..." : "]");
        }
        return strbuf_detach(&sb);
}

/* "  --gpus N           number of GPUs ...; also --gpu N, --num-gpus N": one line per listed
 * option, with the aliases of its field. */
static void print_options(const struct cli_option *opts, FILE *f)
{
        fprintf(f, "\nOptions:\n");
        for (const struct cli_option *o = opts; o->name; o++) {
                if (!o->help)
                        continue;
                _cleanup_(strbuf_release) struct strbuf left = STRBUF_INIT, text = STRBUF_INIT;
                add_option(&left, o);
                strbuf_adds(&text, o->help);
                const char *sep = "; also ";
                for (const struct cli_option *p = opts; p->name; p++)
                        if (!p->help && p->type == o->type && p->offset == o->offset) {
                                strbuf_adds(&text, sep);
                                add_option(&text, p);
                                sep = ", ";
                        }
                fprintf(f, "  %-18s %s\n", strbuf_str(&left), strbuf_str(&text));
        }
}

void cli_print_help(const struct cli_command *cmd, FILE *f)
{
        _cleanup_free_ char *usage = usage_line(cmd);
        fprintf(f, "Usage: %s %s\n\n%s.\n", cmd->name, usage, cmd->summary);
        if (cmd->help && *cmd->help)
                fprintf(f, "\n%s", cmd->help);
        if (cmd->options)
                print_options(cmd->options, f);
        if (cmd->examples)
                fprintf(f, "\nExamples:\n%s", cmd->examples);
}

int cli_usage_error(const struct cli_command *cmd, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        _cleanup_free_ char *m = xvasprintf(fmt, ap);
        va_end(ap);
        _cleanup_free_ char *usage = usage_line(cmd);
        fprintf(stderr, "%s: %s\nUsage: %s %s\nTry '%s --help' for more.\n", cmd->name, m,
                cmd->name, usage, cmd->name);
        return CLI_EXIT_USAGE;
}

static const struct cli_option *find_long(const struct cli_option *opts, const char *name,
                                          size_t len)
{
        for (const struct cli_option *o = opts; o && o->name; o++)
                if (o->type != CLI_OPT_REST && strlen(o->name) == len &&
                    strncmp(o->name, name, len) == 0)
                        return o;
        return NULL;
}

static const struct cli_option *find_short(const struct cli_option *opts, char c)
{
        for (const struct cli_option *o = opts; o && o->name; o++)
                if (o->type != CLI_OPT_REST && o->short_name && o->short_name == c)
                        return o;
        return NULL;
}

/* Sets the option's target: its own pointer, or its field in the struct at base. */
static void apply(const struct cli_option *o, void *base, const char *value)
{
        void *target = o->target ? o->target : (char *)base + o->offset;
        if (o->type == CLI_OPT_FLAG) {
                *(bool *)target = true;
        } else if (o->type == CLI_OPT_LIST) {
                struct cli_list *l = target;
                if (l->n < CLI_LIST_MAX)
                        l->v[l->n++] = value;
                else
                        l->over = true;
        } else {
                *(const char **)target = value;
        }
        if (o->seen)
                (*o->seen)++;
}

void cli_args_release(struct cli_args *a)
{
        free(a->pos);
        free(a->rest);
        memset(a, 0, sizeof(*a));
}

static int parse(const struct cli_command *cmd, int argc, char **argv,
                 const struct cli_option *opts, void *base, struct cli_args *ret)
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
                                apply(o, base, NULL);
                        } else if (eq) {
                                apply(o, base, eq + 1);
                        } else if (i + 1 < argc) {
                                apply(o, base, argv[++i]);
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
                                        apply(o, base, NULL);
                                        continue;
                                }
                                if (p[1]) {
                                        apply(o, base, p + 1);
                                } else if (i + 1 < argc) {
                                        apply(o, base, argv[++i]);
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

int cli_parse(const struct cli_command *cmd, int argc, char **argv, const struct cli_option *opts,
              struct cli_args *ret)
{
        return parse(cmd, argc, argv, opts, NULL, ret);
}

int cli_parse_args(const struct cli_command *cmd, int argc, char **argv, void *args,
                   struct cli_args *ret)
{
        return parse(cmd, argc, argv, cmd->options, args, ret);
}

int cli_want_positional(const struct cli_command *cmd, const struct cli_args *a, size_t min,
                        size_t max)
{
        if (a->n_pos < min)
                return cli_usage_error(cmd, "missing NAME");
        if (a->n_pos > max) {
                _cleanup_free_ char *usage = usage_line(cmd);
                return cli_usage_error(
                    cmd, "unexpected argument '%s'%s", a->pos[max],
                    !a->rest && strstr(usage, "-- CMD") ? " (put a command after '--')" : "");
        }
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

int cli_parse_n(const struct cli_command *cmd, int argc, char **argv, const struct cli_option *opts,
                struct cli_args *ret, size_t min, size_t max)
{
        int r = cli_parse(cmd, argc, argv, opts, ret);
        return r == CLI_CONTINUE ? cli_want_positional(cmd, ret, min, max) : r;
}

int cli_parse_name(const struct cli_command *cmd, int argc, char **argv,
                   const struct cli_option *opts, struct cli_args *ret)
{
        int r = cli_parse_n(cmd, argc, argv, opts, ret, 1, 1);
        if (r == CLI_CONTINUE)
                r = cli_check_name(cmd, ret->pos[0]);
        return r;
}
