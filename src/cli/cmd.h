/* cmd.h - the CLI's command table and the shared option parser.
 *
 * Every user command is one row {name, run, usage, summary, help}; argv[0] (or the first
 * arguments of `ds01`) selects the row, like git-<cmd>. Each run() parses its own arguments with
 * cli_parse() from a small table of options, so every command accepts the same forms:
 * "--opt V", "--opt=V", "-o V", flags, "-h"/"--help", and "--" before a command line.
 *
 * A row may carry its command's option table (`options`): then that one table is what the
 * command parses (cli_parse_args()) and what its usage line and the options part of its help
 * are made from, so an option is defined once. */
#pragma once

#include "../shared/error.h"

#include <jansson.h>
#include <stdio.h>

struct cli_option;

struct cli_command {
        const char *name; /* "container-deploy" */
        int (*run)(const struct cli_command *cmd, int argc, char **argv);
        /* synopsis after the name: "NAME [--gpus N]"; with options, only what precedes them */
        const char *usage;
        const char *summary; /* one line for `ds01 -h` */
        /* printed by -h: options and an example; with options, what the command does */
        const char *help;
        const struct cli_option *options; /* NULL: usage and help say it all */
        const char *examples;             /* with options: printed after them */
};

enum cli_opt_type {
        CLI_OPT_FLAG,  /* target is bool * */
        CLI_OPT_VALUE, /* target is const char ** (points into argv) */
        CLI_OPT_REST,  /* not an option: what the words after "--" are, for the help */
        CLI_OPT_LIST,  /* target is struct cli_list *: each use adds a value */
};

/* The values of a repeatable option, in order (pointers into argv). */
#define CLI_LIST_MAX 16
struct cli_list {
        const char *v[CLI_LIST_MAX];
        size_t n;
        bool over; /* given more than CLI_LIST_MAX times */
};

struct cli_option {
        const char *name; /* long name without "--" */
        char short_name;  /* 0: none */
        enum cli_opt_type type;
        void *target;
        int *seen; /* optional: incremented each time the option is given */
        /* A row of a command's own table (struct cli_command.options) has no target: it names
         * its field in the struct the command parses into, and says how it reads in the help. */
        size_t offset;
        const char *arg;  /* the value's placeholder: "N" */
        const char *help; /* one line; NULL: an alias, listed with the option of its field */
        int group;        /* > 0: alternatives, shown together as [--a | --b] */
};

struct cli_args {
        char **pos; /* positional arguments, in order (pointers into argv) */
        size_t n_pos;
        char **rest; /* the words after "--"; NULL when there was no "--" */
        size_t n_rest;
};

/* cli_parse() and friends return CLI_CONTINUE to go on, anything else is the exit code. */
#define CLI_CONTINUE   (-1)
#define CLI_EXIT_USAGE 2

/* Parses argv[1..] (argv[0] is the command name). opts ends with a {NULL} row. Prints the help
 * and returns 0 for -h/--help; prints "NAME: problem" and returns 2 for a usage error. */
int cli_parse(const struct cli_command *cmd, int argc, char **argv, const struct cli_option *opts,
              struct cli_args *ret);
/* The same with the command's own table (cmd->options), filling the struct at args. */
int cli_parse_args(const struct cli_command *cmd, int argc, char **argv, void *args,
                   struct cli_args *ret);
void cli_args_release(struct cli_args *a);
/* Requires exactly min..max positional arguments ("NAME"); prints and returns 2 otherwise. */
int cli_want_positional(const struct cli_command *cmd, const struct cli_args *a, size_t min,
                        size_t max);
/* Prints "NAME: message" and a hint to stderr; returns 2. */
int cli_usage_error(const struct cli_command *cmd, const char *fmt, ...) _printf_(2, 3);
void cli_print_help(const struct cli_command *cmd, FILE *f);
/* cli_parse, then cli_want_positional(min, max). */
int cli_parse_n(const struct cli_command *cmd, int argc, char **argv, const struct cli_option *opts,
                struct cli_args *ret, size_t min, size_t max);
/* A container NAME as users type it: a project or "proj._.user". Non-empty, < 256 bytes, no
 * '/'. Returns CLI_CONTINUE or 2 (after printing). */
int cli_check_name(const struct cli_command *cmd, const char *name);
/* cli_parse for a command about one container: exactly one positional NAME, checked. */
int cli_parse_name(const struct cli_command *cmd, int argc, char **argv,
                   const struct cli_option *opts, struct cli_args *ret);

/* A command that only shows something (no arguments; takes_user: [USER] / --user U; --json):
 * calls method, then prints the result as JSON or with print; the exit code is exit_of's (0
 * without one), or the call's failure (client.c). */
int cli_show(const struct cli_command *cmd, int argc, char **argv, const char *method,
             bool takes_user, void (*print)(const json_t *), int (*exit_of)(const json_t *));

/* The command table (main.c). */
const struct cli_command *cli_find(const char *name);

/* Small accessors for result objects; absent or mistyped members give the default. */
static inline const char *cli_jstr(const json_t *o, const char *key, const char *def)
{
        const char *s = json_string_value(json_object_get(o, key));
        return s ? s : def;
}
static inline bool cli_jbool(const json_t *o, const char *key)
{
        return json_is_true(json_object_get(o, key));
}
/* A time member: unix seconds (integer) or an ISO 8601 string. 0 when absent or unset. */
int64_t cli_jtime(const json_t *o, const char *key);

/* Commands (cmd-*.c). */
int cmd_version(const struct cli_command *cmd, int argc, char **argv);
int cmd_deploy(const struct cli_command *cmd, int argc, char **argv);
extern const struct cli_option cmd_deploy_options[];
/* container-deploy's options (cmd_deploy_options) and arguments, parsed and checked: the same
 * for a deploy here, one submitted to Slurm and the job step's (cmd-slurm.c). */
struct deploy_args {
        const char *image, *gpus, *mig;
        struct cli_list ports, data;
        const char *max_wait, *slurm_job;
        bool cpu_only, open, background, json, ssh, no_ssh, wait;
};
struct deploy_req {
        struct deploy_args o;
        struct cli_args a;
        const char *project;
        int64_t n_gpus;   /* 0: CPU only */
        int64_t max_wait; /* seconds; 0: none */
};
static inline void deploy_req_release(struct deploy_req *q)
{
        cli_args_release(&q->a);
}
/* Returns CLI_CONTINUE, or the exit code after printing a usage error. */
int deploy_parse(const struct cli_command *cmd, int argc, char **argv, struct deploy_req *q);
/* container.deploy's params for q (a new reference). */
json_t *deploy_params(const struct deploy_req *q);
/* What a deploy prints: the container, its GPUs, image, workspace and how to use it. */
void print_deployed(const char *project, const json_t *res, char *const *cmd_argv, size_t n_cmd);
/* cmd-slurm.c: container-deploy in cluster mode (ds01d says so): submits the deploy as a Slurm
 * job and waits for its container (or, with --wait, leaves it pending). CLI_CONTINUE when this
 * node is not in a cluster (deploy here), else the exit code. */
int slurm_deploy(const struct cli_command *cmd, const struct deploy_req *q);
/* `ds01 slurm-job PROJECT [deploy options]`: the job step (hidden; the job script runs it). */
int cmd_slurm_job(const struct cli_command *cmd, int argc, char **argv);
/* gpu-queue in cluster mode: Slurm's pending ds01 jobs, and leave. CLI_CONTINUE when this node
 * is not in a cluster. */
int slurm_queue(const struct cli_command *cmd, const struct cli_args *a, bool json, bool all);
int cmd_retire(const struct cli_command *cmd, int argc, char **argv);
int cmd_start(const struct cli_command *cmd, int argc, char **argv);
int cmd_stop(const struct cli_command *cmd, int argc, char **argv);
int cmd_remove(const struct cli_command *cmd, int argc, char **argv);
int cmd_list(const struct cli_command *cmd, int argc, char **argv);
int cmd_logs(const struct cli_command *cmd, int argc, char **argv);
int cmd_run(const struct cli_command *cmd, int argc, char **argv);
int cmd_attach(const struct cli_command *cmd, int argc, char **argv);
int cmd_check_limits(const struct cli_command *cmd, int argc, char **argv);
int cmd_port(const struct cli_command *cmd, int argc, char **argv);
int cmd_jupyter(const struct cli_command *cmd, int argc, char **argv);
int cmd_top(const struct cli_command *cmd, int argc, char **argv);
/* The lines that tell a user how to reach a published port from their laptop. */
void print_port_lines(const json_t *ports);
/* Those of one port (an element of container.port's "ports"); path (NULL: none) is appended to
 * the URL to open. */
void print_port_access(const json_t *port, const char *path);
int cmd_keepalive(const struct cli_command *cmd, int argc, char **argv);
int cmd_inbox(const struct cli_command *cmd, int argc, char **argv);
int cmd_events(const struct cli_command *cmd, int argc, char **argv);
int cmd_report(const struct cli_command *cmd, int argc, char **argv);
int cmd_stats(const struct cli_command *cmd, int argc, char **argv);
int cmd_status(const struct cli_command *cmd, int argc, char **argv);
int cmd_users(const struct cli_command *cmd, int argc, char **argv);
int cmd_health(const struct cli_command *cmd, int argc, char **argv);
int cmd_reload(const struct cli_command *cmd, int argc, char **argv);
int cmd_slurm_sync(const struct cli_command *cmd, int argc, char **argv);
int cmd_storage_setup(const struct cli_command *cmd, int argc, char **argv);
/* "12.5 MiB of 20.0 MiB (62 %)" from a check-limits "storage" object (cmd-limits.c). */
char *cli_storage_text(const json_t *storage);
int cmd_gpus(const struct cli_command *cmd, int argc, char **argv);
int cmd_gpu_drain(const struct cli_command *cmd, int argc, char **argv);
int cmd_board(const struct cli_command *cmd, int argc, char **argv);
int cmd_gpu_queue(const struct cli_command *cmd, int argc, char **argv);
int cmd_reservation_create(const struct cli_command *cmd, int argc, char **argv);
int cmd_reservation_list(const struct cli_command *cmd, int argc, char **argv);
int cmd_reservation_delete(const struct cli_command *cmd, int argc, char **argv);
int cmd_image_create(const struct cli_command *cmd, int argc, char **argv);
int cmd_image_update(const struct cli_command *cmd, int argc, char **argv);
int cmd_image_list(const struct cli_command *cmd, int argc, char **argv);
int cmd_image_delete(const struct cli_command *cmd, int argc, char **argv);

struct client;
/* cmd-queue.c: what container-deploy --wait prints when its request joined the queue, and the
 * wait of --open --wait (position and estimate, redrawn, until the request left the queue). */
void queue_print_joined(const char *project, const json_t *res);
int queue_wait(const struct cli_command *cmd, struct client *c, const char *project, int64_t id);
/* cmd-session.c: the session of container-run/attach on connection c (container.exec, then the
 * stream pump, then container.exec_status). cmd_argv is NULL for a login shell. With tty_ok, a
 * terminal on stdin and stdout gets a TTY session; without, the command's output is streamed
 * as it is. Returns the exit code: the command's own, or an error's. */
int session_run(const struct cli_command *cmd, struct client *c, const char *name,
                char *const *cmd_argv, size_t n_cmd, bool start, bool tty_ok);
/* Copies a log or exec stream from fd to stdout until EOF; with demux, Docker's multiplexed
 * frames go to stdout (stream 1) or stderr (stream 2). Unless raw, what goes to a terminal
 * passes term_filter (a container's escape sequences are shown, not obeyed); a pipe gets the
 * bytes as they are. A reader that went away (EPIPE) ends it quietly. */
int session_copy_stream(int fd, bool demux, bool raw, struct error **err);
