/* cmd-container.c - the container verbs that are one request and one answer: deploy, retire,
 * start, stop, remove, list, logs; and `ds01 version`. */
#include "client.h"
#include "cluster.h"
#include "cmd.h"
#include "output.h"

#include "../proto/proto.h"
#include "../shared/names.h"
#include "../shared/parse.h"
#include "../shared/strbuf.h"

#include <stdio.h>

#define MAX_GPUS      64
#define STRINGIFY_(x) #x
#define STRINGIFY(x)  STRINGIFY_(x)

/* "GPU-a, GPU-b" from an array of uuids or of {uuid, ...} objects. */
static char *join_gpus(const json_t *gpus)
{
        struct strbuf sb = STRBUF_INIT;
        size_t i;
        json_t *g;
        json_array_foreach (gpus, i, g) {
                const char *uuid =
                    json_is_object(g) ? cli_jstr(g, "uuid", "?") : json_string_value(g);
                if (i > 0)
                        strbuf_adds(&sb, ", ");
                strbuf_adds(&sb, uuid ? uuid : "?");
        }
        return strbuf_detach(&sb);
}

static char *join_words(char *const *words, size_t n)
{
        struct strbuf sb = STRBUF_INIT;
        for (size_t i = 0; i < n; i++) {
                if (i > 0)
                        strbuf_addc(&sb, ' ');
                strbuf_adds(&sb, words[i]);
        }
        return strbuf_detach(&sb);
}

int cmd_version(const struct cli_command *cmd, int argc, char **argv)
{
        bool json = false;
        const struct cli_option opts[] = {
            {"json", 0, CLI_OPT_FLAG, &json, NULL},
            {NULL, 0, CLI_OPT_FLAG, NULL, NULL},
        };
        _cleanup_(cli_args_release) struct cli_args a = {0};
        int r = cli_parse_n(cmd, argc, argv, opts, &a, 0, 0);
        if (r != CLI_CONTINUE)
                return r;

        if (!json) {
                printf("ds01 %s (protocol %d)\n", DS01_VERSION, PROTO_VERSION);
                fflush(stdout);
        }
        json_t *res = NULL;
        r = client_oneshot(cmd->name, "daemon.ping", NULL, &res, NULL);
        if (r != 0)
                return r;
        if (json) {
                json_t *doc = json_pack("{s:{s:s, s:i}, s:O}", "cli", "version", DS01_VERSION,
                                        "api", PROTO_VERSION, "daemon", res);
                output_json(doc);
                json_decref(doc);
        } else {
                json_t *api = json_object_get(res, "api");
                printf("ds01d %s (instance %s, protocol %lld)\n", cli_jstr(res, "version", "?"),
                       cli_jstr(res, "instance", "?"), (long long)json_integer_value(api));
        }
        json_decref(res);
        return 0;
}

void print_deployed(const char *project, const json_t *res, char *const *cmd_argv, size_t n_cmd)
{
        const json_t *gpus = json_object_get(res, "gpus");
        size_t n = json_array_size(gpus);
        _cleanup_free_ char *list = join_gpus(gpus);
        printf("Deployed '%s' (container %s) ", project, cli_jstr(res, "container", project));
        if (n == 0)
                printf("without a GPU (CPU only)\n");
        else
                printf("with %zu GPU%s: %s\n", n, n == 1 ? "" : "s", list);
        printf("  image:     %s\n", cli_jstr(res, "image", "?"));
        const char *ws = cli_jstr(res, "workspace", NULL);
        if (ws)
                printf("  workspace: %s -> /workspace\n", ws);
        if (n_cmd > 0) {
                _cleanup_free_ char *line = join_words(cmd_argv, n_cmd);
                printf("  command:   %s\n", line);
                printf("  output:    container-logs %s --follow\n", project);
        }
        const json_t *data = json_object_get(res, "data");
        for (size_t i = 0; i < json_array_size(data); i++)
                printf("  data:      %s (read-only)\n", json_string_value(json_array_get(data, i)));
        if (cli_jbool(res, "ssh"))
                printf("  ssh:       ~/.ssh and ~/.gitconfig (read-only) in %s\n",
                       cli_jstr(res, "home", "your home"));
        print_port_lines(json_object_get(res, "ports"));
        printf("  shell:     container-run %s\n", project);
        printf("  when done: container-retire %s\n", project);
}

/* container-deploy's options: what it parses, its usage line and its help (cmd.h). */

#define DEPLOY_FIELD(f) .offset = offsetof(struct deploy_args, f)
const struct cli_option cmd_deploy_options[] = {
    {"image", 0, CLI_OPT_VALUE, DEPLOY_FIELD(image), .arg = "IMG",
     .help = "a local image (default: your project image, else the site's)"},
    {"gpus", 0, CLI_OPT_VALUE, DEPLOY_FIELD(gpus), .arg = "N", .group = 1,
     .help = "number of GPUs, 0.." STRINGIFY(MAX_GPUS) " (default 1)"},
    {"gpu", 0, CLI_OPT_VALUE, DEPLOY_FIELD(gpus), .arg = "N"},
    {"num-gpus", 0, CLI_OPT_VALUE, DEPLOY_FIELD(gpus), .arg = "N"},
    {"mig", 0, CLI_OPT_VALUE, DEPLOY_FIELD(mig), .arg = "PROFILE", .group = 1,
     .help = "a MIG instance of PROFILE (e.g. 3g.20gb) or the next larger one"},
    {"cpu-only", 0, CLI_OPT_FLAG, DEPLOY_FIELD(cpu_only), .group = 1,
     .help = "no GPU (same as --gpus 0)"},
    {"no-gpu", 0, CLI_OPT_FLAG, DEPLOY_FIELD(cpu_only)},
    {"slurm-job", 0, CLI_OPT_VALUE, DEPLOY_FIELD(slurm_job), .arg = "JOB", .group = 1,
     .help = "in a cluster, from a job's script: the GPUs Slurm gave job JOB on this node"},
    {"open", 0, CLI_OPT_FLAG, DEPLOY_FIELD(open), .group = 2,
     .help = "open a shell in it right away (like container-run)"},
    {"background", 0, CLI_OPT_FLAG, DEPLOY_FIELD(background), .group = 2,
     .help = "leave it running in the background (default)"},
    {"port", 'p', CLI_OPT_LIST, DEPLOY_FIELD(ports), .arg = "PORT",
     .help = "publish PORT (Jupyter, TensorBoard) to you alone; repeat for more"},
    {"data", 0, CLI_OPT_LIST, DEPLOY_FIELD(data), .arg = "NAME",
     .help = "mount the site's dataset NAME read-only at /data/NAME; repeat for more"},
    {"ssh", 0, CLI_OPT_FLAG, DEPLOY_FIELD(ssh), .group = 3,
     .help = "mount your ~/.ssh and ~/.gitconfig read-only (git over SSH inside)"},
    {"no-ssh", 0, CLI_OPT_FLAG, DEPLOY_FIELD(no_ssh), .group = 3,
     .help = "do not, where the site mounts them by default"},
    {"wait", 0, CLI_OPT_FLAG, DEPLOY_FIELD(wait),
     .help = "when the GPUs are all taken, wait in the queue (gpu-queue) instead"},
    {"max-wait", 0, CLI_OPT_VALUE, DEPLOY_FIELD(max_wait), .arg = "DUR",
     .help = "with --wait: give up after DUR (e.g. 2h; default: wait until granted)"},
    {"json", 0, CLI_OPT_FLAG, DEPLOY_FIELD(json), .help = "print the result as JSON"},
    {"--", 0, CLI_OPT_REST, .arg = "CMD...",
     .help = "run CMD as the main process (a batch run) instead of a shell"},
    {NULL, 0, CLI_OPT_FLAG, NULL, NULL},
};
#undef DEPLOY_FIELD

int deploy_parse(const struct cli_command *cmd, int argc, char **argv, struct deploy_req *q)
{
        struct deploy_args *op = &q->o;
        int r = cli_parse_args(cmd, argc, argv, op, &q->a);
        if (r != CLI_CONTINUE)
                return r;
        const struct deploy_args o = *op;
        const char *image = o.image, *gpus_arg = o.gpus, *mig = o.mig;
        bool cpu_only = o.cpu_only, open = o.open, background = o.background, json = o.json;
        if ((r = cli_want_positional(cmd, &q->a, 1, 1)) != CLI_CONTINUE)
                return r;
        const char *project = q->project = q->a.pos[0];
        const struct cli_args a = q->a;

        _cleanup_error_ struct error *err = NULL;
        if (names_check_project(project, &err) < 0)
                return cli_usage_error(cmd, "%s", err->message);
        if (image && !*image)
                return cli_usage_error(cmd, "--image needs an image name");
        if (open && background)
                return cli_usage_error(cmd, "--open and --background do not go together");
        if (open && json)
                return cli_usage_error(cmd, "--json and --open do not go together");
        if (gpus_arg && cpu_only)
                return cli_usage_error(cmd, "--gpus and --cpu-only do not go together");
        if (mig && cpu_only)
                return cli_usage_error(cmd, "--mig and --cpu-only do not go together");
        if (o.ssh && o.no_ssh)
                return cli_usage_error(cmd, "--ssh and --no-ssh do not go together");
        if (mig && (!*mig || strlen(mig) > 32))
                return cli_usage_error(cmd, "--mig needs a MIG profile such as 3g.20gb");
        if (a.rest && a.n_rest == 0)
                return cli_usage_error(cmd, "no command after '--'");
        if (o.max_wait && !o.wait)
                return cli_usage_error(cmd, "--max-wait goes with --wait");
        if (o.max_wait && (parse_duration(o.max_wait, &q->max_wait) < 0 || q->max_wait <= 0))
                return cli_usage_error(cmd,
                                       "--max-wait needs a duration such as 30m or 2h, not "
                                       "'%s'",
                                       o.max_wait);
        q->n_gpus = 1;
        if (gpus_arg && parse_int64(gpus_arg, 0, MAX_GPUS, &q->n_gpus) < 0)
                return cli_usage_error(cmd, "the number of GPUs must be 0..%d, not '%s'", MAX_GPUS,
                                       gpus_arg);
        if (mig && gpus_arg && q->n_gpus == 0)
                return cli_usage_error(cmd,
                                       "--gpus 0 asks for no GPU and --mig %s for a MIG "
                                       "instance: drop one of them",
                                       mig);
        if (cpu_only)
                q->n_gpus = 0;
        if (o.data.over)
                return cli_usage_error(cmd, "--data is given more than %d times", CLI_LIST_MAX);
        if (o.ports.over || o.ports.n > NAMES_PORTS_MAX)
                return cli_usage_error(cmd, "a container may publish at most %d ports",
                                       NAMES_PORTS_MAX);
        for (size_t i = 0; i < o.ports.n; i++) {
                int port;
                if (names_parse_port(o.ports.v[i], &port, &err) < 0)
                        return cli_usage_error(cmd, "--port: %s", err->message);
        }

        if (o.slurm_job && (o.wait || gpus_arg || mig || cpu_only))
                return cli_usage_error(cmd, "--slurm-job takes the job's GPUs: give no --gpus, "
                                            "--mig, --cpu-only or --wait with it");
        return CLI_CONTINUE;
}

json_t *deploy_params(const struct deploy_req *q)
{
        const struct deploy_args *o = &q->o;
        json_t *params =
            o->slurm_job ? json_pack("{s:s, s:s}", "project", q->project, "slurm_job", o->slurm_job)
                         : json_pack("{s:s, s:I, s:b}", "project", q->project, "gpus",
                                     (json_int_t)q->n_gpus, "cpu_only", q->n_gpus == 0);
        if (o->image)
                json_object_set_new(params, "image", json_string(o->image));
        if (o->mig)
                json_object_set_new(params, "mig", json_string(o->mig));
        if (o->ssh || o->no_ssh)
                json_object_set_new(params, "ssh", json_boolean(o->ssh));
        if (o->data.n > 0) {
                json_t *data = json_array();
                for (size_t i = 0; i < o->data.n; i++)
                        json_array_append_new(data, json_string(o->data.v[i]));
                json_object_set_new(params, "data", data);
        }
        if (o->ports.n > 0) {
                json_t *ports = json_array();
                for (size_t i = 0; i < o->ports.n; i++)
                        json_array_append_new(ports, json_string(o->ports.v[i]));
                json_object_set_new(params, "ports", ports);
        }
        if (o->wait)
                json_object_set_new(params, "wait", json_true());
        if (q->max_wait > 0)
                json_object_set_new(params, "max_wait_s", json_integer(q->max_wait));
        if (q->a.rest) {
                json_t *words = json_array();
                for (size_t i = 0; i < q->a.n_rest; i++)
                        json_array_append_new(words, json_string(q->a.rest[i]));
                json_object_set_new(params, "cmd", words);
        }
        return params;
}

int cmd_deploy(const struct cli_command *cmd, int argc, char **argv)
{
        _cleanup_(deploy_req_release) struct deploy_req q = {0};
        int r = deploy_parse(cmd, argc, argv, &q);
        if (r != CLI_CONTINUE)
                return r;
        const char *project = q.project;
        const struct cli_args a = q.a;
        bool open = q.o.open, json = q.o.json;
        /* a request for GPUs in a cluster is a Slurm job (cmd-slurm.c) */
        if (!q.o.slurm_job && q.n_gpus > 0 && (r = slurm_deploy(cmd, &q)) != CLI_CONTINUE)
                return r;
        json_t *params = deploy_params(&q);
        _cleanup_error_ struct error *err = NULL;

        _cleanup_client_ struct client c = CLIENT_INIT;
        if (client_open(&c, &err) < 0) {
                json_decref(params);
                return output_error(cmd->name, err);
        }
        json_t *res = NULL;
        if (client_call(&c, "container.deploy", params, &res, NULL, &err) < 0)
                return output_error(cmd->name, err);

        bool queued = cli_jbool(res, "queued");
        int64_t qid = json_integer_value(json_object_get(res, "id"));
        if (json)
                output_json(res);
        else if (queued)
                queue_print_joined(project, res);
        else if (cli_jbool(res, "existed")) {
                if (!open)
                        printf("'%s' already has a container (%s); open a shell with: "
                               "container-run %s\n",
                               project, cli_jstr(res, "state", "unknown state"), project);
        } else
                print_deployed(project, res, a.rest, a.n_rest);
        json_decref(res);
        fflush(stdout);
        if (!open)
                return 0;
        if (queued && (r = queue_wait(cmd, &c, project, qid)) != 0)
                return r;
        return session_run(cmd, &c, project, NULL, 0, true, true);
}

/* The verbs that take just NAME (and maybe an option of their own) and answer one line:
 * parse, then call with {name, ...}; --json prints the result instead of the line. */
struct verb {
        struct cli_args args;
        const char *name;
        bool json;
};

static void verb_release(struct verb *v)
{
        cli_args_release(&v->args);
}

static int verb_parse(const struct cli_command *cmd, int argc, char **argv,
                      const struct cli_option *extra, struct verb *v)
{
        struct cli_option opts[8];
        size_t n = 0;
        for (; extra && extra[n].name && n < ARRAY_SIZE(opts) - 2; n++)
                opts[n] = extra[n];
        opts[n++] = (struct cli_option){"json", 0, CLI_OPT_FLAG, &v->json, NULL};
        opts[n] = (struct cli_option){NULL, 0, CLI_OPT_FLAG, NULL, NULL};

        int r = cli_parse_n(cmd, argc, argv, opts, &v->args, 1, 1);
        if (r == CLI_CONTINUE)
                r = cli_check_name(cmd, v->args.pos[0]);
        if (r == CLI_CONTINUE && v->args.rest)
                r = cli_usage_error(cmd, "a command after '--' is for container-run");
        if (r == CLI_CONTINUE)
                v->name = v->args.pos[0];
        /* a container on another node of the cluster: the same command there */
        if (r == CLI_CONTINUE)
                r = cluster_route(cmd, v->name, argc, argv, false);
        return r;
}

/* Returns CLI_CONTINUE with *ret_result to print, or the exit code (0 once --json printed). */
static int verb_call(const struct cli_command *cmd, const struct verb *v, const char *method,
                     json_t *params, json_t **ret_result)
{
        json_object_set_new(params, "name", json_string(v->name));
        json_t *res = NULL;
        int r = client_oneshot(cmd->name, method, params, &res, NULL);
        if (r != 0)
                return r;
        if (v->json) {
                output_json(res);
                json_decref(res);
                return 0;
        }
        *ret_result = res;
        return CLI_CONTINUE;
}

int cmd_retire(const struct cli_command *cmd, int argc, char **argv)
{
        _cleanup_(verb_release) struct verb v = {0};
        json_t *res = NULL;
        int r = verb_parse(cmd, argc, argv, NULL, &v);
        if (r == CLI_CONTINUE)
                r = verb_call(cmd, &v, "container.retire", json_object(), &res);
        if (r != CLI_CONTINUE)
                return r;
        const json_t *rel = json_object_get(res, "released");
        size_t n = json_array_size(rel);
        _cleanup_free_ char *list = join_gpus(rel);
        printf("Retired '%s': ", v.name);
        if (cli_jbool(res, "stopped"))
                printf("its processes got SIGTERM and up to %lld s to exit, ",
                       (long long)json_integer_value(json_object_get(res, "sigterm_grace_s")));
        printf("container %s removed, ", cli_jstr(res, "container", v.name));
        if (n == 0)
                printf("no GPU was held");
        else
                printf("GPU%s released (%s)", n == 1 ? "" : "s", list);
        const char *ws = cli_jstr(res, "workspace", NULL);
        if (ws)
                printf(", workspace kept at %s", ws);
        printf("\n");
        json_decref(res);
        return 0;
}

int cmd_start(const struct cli_command *cmd, int argc, char **argv)
{
        _cleanup_(verb_release) struct verb v = {0};
        json_t *res = NULL;
        int r = verb_parse(cmd, argc, argv, NULL, &v);
        if (r == CLI_CONTINUE)
                r = verb_call(cmd, &v, "container.start", json_object(), &res);
        if (r != CLI_CONTINUE)
                return r;
        const char *container = cli_jstr(res, "container", v.name);
        if (json_is_false(json_object_get(res, "started")))
                printf("'%s' is already running (container %s)\n", v.name, container);
        else
                printf("Started '%s' (container %s); open a shell with: container-run %s\n", v.name,
                       container, v.name);
        json_decref(res);
        return 0;
}

int cmd_stop(const struct cli_command *cmd, int argc, char **argv)
{
        const char *timeout = NULL;
        const struct cli_option extra[] = {
            {"timeout", 't', CLI_OPT_VALUE, &timeout, NULL},
            {NULL, 0, CLI_OPT_FLAG, NULL, NULL},
        };
        _cleanup_(verb_release) struct verb v = {0};
        int r = verb_parse(cmd, argc, argv, extra, &v);
        if (r != CLI_CONTINUE)
                return r;
        int64_t secs = -1;
        if (timeout && (parse_duration(timeout, &secs) < 0 || secs > 3600))
                return cli_usage_error(cmd,
                                       "--timeout wants seconds (0..3600, or e.g. 2m), not "
                                       "'%s'",
                                       timeout);
        json_t *params = json_object();
        if (timeout)
                json_object_set_new(params, "timeout_s", json_integer(secs));
        json_t *res = NULL;
        if ((r = verb_call(cmd, &v, "container.stop", params, &res)) != CLI_CONTINUE)
                return r;
        printf("Stopped '%s' (container %s): its processes got SIGTERM and up to %lld s to "
               "exit.\n",
               v.name, cli_jstr(res, "container", v.name),
               (long long)json_integer_value(json_object_get(res, "sigterm_grace_s")));
        char b[32];
        json_int_t job = json_integer_value(json_object_get(res, "slurm_job"));
        if (job > 0) { /* its life was its Slurm job's (docs/cluster-design.md) */
                printf("It belonged to Slurm job %lld, which ends with it; its GPUs were "
                       "released. A new job deploys it again; your files in /workspace are "
                       "kept.\n",
                       (long long)job);
                json_decref(res);
                return 0;
        }
        double ch = json_number_value(json_object_get(res, "container_hold_after_stop_h"));
        printf("Resume it with container-start %s", v.name);
        if (ch >= 0)
                printf("; a stopped container is removed after %s (container_hold_after_stop_h), "
                       "its workspace stays",
                       format_duration((int64_t)(ch * 3600 + 0.5), b));
        printf(".\n");
        double gh = json_number_value(json_object_get(res, "gpu_hold_after_stop_h"));
        if (cli_jbool(res, "gpus") && gh != 0) {
                if (gh > 0)
                        printf("Its GPUs stay reserved for %s (gpu_hold_after_stop_h); ",
                               format_duration((int64_t)(gh * 3600 + 0.5), b));
                else
                        printf("Its GPUs stay reserved while it is stopped; ");
                printf("container-retire %s frees them now.\n", v.name);
        }
        json_decref(res);
        return 0;
}

int cmd_remove(const struct cli_command *cmd, int argc, char **argv)
{
        bool force = false;
        const struct cli_option extra[] = {
            {"force", 'f', CLI_OPT_FLAG, &force, NULL},
            {NULL, 0, CLI_OPT_FLAG, NULL, NULL},
        };
        _cleanup_(verb_release) struct verb v = {0};
        json_t *res = NULL;
        int r = verb_parse(cmd, argc, argv, extra, &v);
        if (r == CLI_CONTINUE)
                r = verb_call(cmd, &v, "container.remove", json_pack("{s:b}", "force", force),
                              &res);
        if (r != CLI_CONTINUE)
                return r;
        const json_t *rel = json_object_get(res, "released");
        size_t n = json_array_size(rel);
        _cleanup_free_ char *list = join_gpus(rel);
        printf("Removed container %s", cli_jstr(res, "container", v.name));
        if (n > 0)
                printf(", GPU%s released (%s)", n == 1 ? "" : "s", list);
        printf("; the workspace is untouched\n");
        json_decref(res);
        return 0;
}

static const char *state_colour(const char *state)
{
        if (streq(state, "running"))
                return OUTPUT_GREEN;
        if (streq(state, "dead") || streq(state, "removing"))
                return OUTPUT_RED;
        return OUTPUT_YELLOW;
}

/* "2: 0, 1:0" (count, then slot names or short uuids), or "-". */
static char *gpus_cell(const json_t *gpus)
{
        size_t n = json_array_size(gpus);
        if (n == 0)
                return xstrdup("-");
        struct strbuf sb = STRBUF_INIT;
        strbuf_addf(&sb, "%zu:", n);
        size_t i;
        json_t *g;
        json_array_foreach (gpus, i, g) {
                char buf[32];
                strbuf_addf(&sb, "%s%s", i ? "," : " ", output_short_gpu(g, buf));
        }
        return strbuf_detach(&sb);
}

int cmd_list(const struct cli_command *cmd, int argc, char **argv)
{
        bool all = false, json = false;
        const struct cli_option opts[] = {
            {"all", 'a', CLI_OPT_FLAG, &all, NULL},
            {"json", 0, CLI_OPT_FLAG, &json, NULL},
            {NULL, 0, CLI_OPT_FLAG, NULL, NULL},
        };
        _cleanup_(cli_args_release) struct cli_args a = {0};
        int r = cli_parse_n(cmd, argc, argv, opts, &a, 0, 0);
        if (r != CLI_CONTINUE)
                return r;

        /* in a cluster: every node's, each with its node */
        json_t *res = NULL, *cluster = NULL;
        if ((r = cluster_list(cmd, all, &cluster)) != 0)
                return r;
        if (cluster)
                res = json_pack("{s:o}", "containers", cluster);
        else if ((r = client_oneshot(cmd->name, "container.list", json_pack("{s:b}", "all", all),
                                     &res, NULL)) != 0)
                return r;
        if (json) {
                output_json(res);
                json_decref(res);
                return 0;
        }
        const json_t *list = json_object_get(res, "containers");
        if (json_array_size(list) == 0) {
                printf("No containers. Deploy one with: container-deploy NAME\n");
                json_decref(res);
                return 0;
        }
        static const char *const headers[] = {"NAME",         "STATE",  "GPUS", "PORTS",
                                              "IMAGE",        "UPTIME", "IDLE", "IDLE-STOP",
                                              "RUNTIME-LEFT", "NODE"};
        /* the NODE column only in a cluster */
        _cleanup_table_ struct table *t =
            table_new(ARRAY_SIZE(headers) - (cluster ? 0 : 1), headers);
        int64_t now = now_s();
        size_t i;
        json_t *c;
        json_array_foreach (list, i, c) {
                const char *name = all ? cli_jstr(c, "name", "?")
                                       : cli_jstr(c, "project", cli_jstr(c, "name", "?"));
                const char *state = cli_jstr(c, "state", "?");
                /* how an exited container ended: "exited (127)" */
                _cleanup_free_ char *state_cell =
                    streq(state, "exited") && json_is_integer(json_object_get(c, "exit_code"))
                        ? xasprintf("exited (%lld)",
                                    (long long)json_integer_value(json_object_get(c, "exit_code")))
                        : xstrdup(state);
                _cleanup_free_ char *gpus = gpus_cell(json_object_get(c, "gpus"));
                char up[32] = "-", age[48] = "-";
                int64_t started = cli_jtime(c, "started_at"), created = cli_jtime(c, "created_at");
                if (streq(state, "running") && started > 0)
                        format_duration(now - started, up);
                if (created > 0) {
                        char d[32];
                        snprintf(age, sizeof(age), "%s ago", format_duration(now - created, d));
                }
                (void)age;
                /* The idle and runtime clocks (from the daemon's last sample). */
                char idle[32] = "-", idle_left[48] = "-", run_left[32] = "-";
                json_t *ka = json_object_get(c, "keepalive");
                if (json_is_integer(json_object_get(c, "idle_s")))
                        format_duration(json_integer_value(json_object_get(c, "idle_s")), idle);
                if (ka && streq(state, "running")) {
                        char d[32];
                        snprintf(idle_left, sizeof(idle_left), "kept (%s)",
                                 format_duration(
                                     json_integer_value(json_object_get(ka, "until")) - now, d));
                } else if (json_is_integer(json_object_get(c, "idle_left_s"))) {
                        char d[32];
                        snprintf(idle_left, sizeof(idle_left), "in %s",
                                 format_duration(
                                     json_integer_value(json_object_get(c, "idle_left_s")), d));
                } else if (streq(state, "running") &&
                           json_is_null(json_object_get(c, "idle_timeout_s")))
                        snprintf(idle_left, sizeof(idle_left), "never");
                if (json_is_integer(json_object_get(c, "runtime_left_s")))
                        format_duration(json_integer_value(json_object_get(c, "runtime_left_s")),
                                        run_left);
                else if (streq(state, "running") &&
                         json_is_null(json_object_get(c, "runtime_limit_s")))
                        snprintf(run_left, sizeof(run_left), "unlimited");
                _cleanup_free_ char *ports = output_ports_cell(json_object_get(c, "ports"));
                const char *cells[] = {
                    name, state_cell, gpus,      ports,    cli_jstr(c, "image", "-"),
                    up,   idle,       idle_left, run_left, cli_jstr(c, "node", "-")};
                table_add_row(t, cells);
                table_set_colour(t, 1, state_colour(state));
        }
        table_print(t, stdout, output_colour());
        json_decref(res);
        return 0;
}

int cmd_logs(const struct cli_command *cmd, int argc, char **argv)
{
        bool follow = false, raw = false;
        const char *tail = NULL;
        const struct cli_option opts[] = {
            {"follow", 'f', CLI_OPT_FLAG, &follow, NULL},
            {"tail", 'n', CLI_OPT_VALUE, &tail, NULL},
            {"raw", 0, CLI_OPT_FLAG, &raw, NULL},
            {NULL, 0, CLI_OPT_FLAG, NULL, NULL},
        };
        _cleanup_(cli_args_release) struct cli_args a = {0};
        int r = cli_parse_name(cmd, argc, argv, opts, &a);
        if (r == CLI_CONTINUE)
                r = cluster_route(cmd, a.pos[0], argc, argv, false);
        if (r != CLI_CONTINUE)
                return r;
        int64_t n_tail = -1;
        if (tail && !streq(tail, "all") && parse_int64(tail, 0, 10000000, &n_tail) < 0)
                return cli_usage_error(cmd, "--tail wants a number of lines or 'all', not '%s'",
                                       tail);

        json_t *res = NULL;
        int fd = -1;
        r = client_oneshot(cmd->name, "container.logs",
                           json_pack("{s:s, s:b, s:I}", "name", a.pos[0], "follow", follow, "tail",
                                     (json_int_t)n_tail),
                           &res, &fd);
        if (r != 0)
                return r;
        bool tty = cli_jbool(res, "tty");
        json_decref(res);
        if (fd < 0) {
                fprintf(stderr, "%s: the daemon sent no log stream\n", cmd->name);
                return 1;
        }
        _cleanup_error_ struct error *err = NULL;
        r = session_copy_stream(fd, !tty, raw, &err);
        close(fd);
        if (r < 0)
                return output_error(cmd->name, err);
        return 0;
}

/* container-top: what is still running in a container (training that outlived the shell that
 * started it, a notebook server), with its CPU and how long it has run. */
int cmd_top(const struct cli_command *cmd, int argc, char **argv)
{
        _cleanup_(verb_release) struct verb v = {0};
        int r = verb_parse(cmd, argc, argv, NULL, &v);
        json_t *res = NULL;
        if (r == CLI_CONTINUE)
                r = verb_call(cmd, &v, "container.top", json_object(), &res);
        if (r != CLI_CONTINUE)
                return r;
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
