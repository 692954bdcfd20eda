/* main.c - the multi-call entry point: `container-deploy ARGS` (a symlink), `container deploy
 * ARGS`, `ds01 container deploy ARGS` and `ds01 container-deploy ARGS` all run the same row of
 * the command table. */
#include "cmd.h"

#include "../shared/dockerfile.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>

static const struct cli_command commands[] = {
    {"container-deploy", cmd_deploy, "NAME",
     "Create and start a container for a project, with GPUs",
     "Creates a container for project NAME with its workspace ~/workspace/NAME mounted at\n"
     "/workspace and N GPUs from the pool, and starts it.\n",
     .options = cmd_deploy_options,
     .examples = "  container-deploy my-project --gpus 2 --open\n"
                 "  container-deploy train-1 --image ds01/base:latest -- python3 train.py\n"},
    {"container-retire", cmd_retire, "NAME",
     "Stop and remove a container and release its GPUs; the workspace stays",
     "Example:\n  container-retire my-project\n"},
    {"container-run", cmd_run, "NAME [-- CMD...]",
     "Start a container if needed, then open a shell (or run CMD) in it",
     "Without a terminal on stdin, CMD runs non-interactively: its output is streamed and\n"
     "container-run exits with its exit code.\n\n"
     "Examples:\n  container-run my-project\n  container-run my-project -- python3 "
     "train.py\n"},
    {"container-attach", cmd_attach, "NAME [-- CMD...]",
     "Open a shell (or run CMD) in a running container",
     "Example:\n  container-attach my-project\n"},
    {"container-start", cmd_start, "NAME", "Start a stopped container",
     "Example:\n  container-start my-project\n"},
    {"container-stop", cmd_stop, "NAME [--timeout S]",
     "Stop a container (it keeps its GPUs for a while)",
     "Options:\n  --timeout S   seconds to wait before killing it (default: the daemon's)\n\n"
     "Example:\n  container-stop my-project --timeout 30\n"},
    {"container-remove", cmd_remove, "NAME [--force]", "Remove a container and free its GPUs",
     "Options:\n  -f, --force   remove it even when it is running\n\n"
     "Example:\n  container-remove my-project --force\n"},
    {"container-list", cmd_list, "[--all] [--json]", "List your containers",
     "Options:\n  -a, --all   every user's containers (administrators)\n"
     "  --json      print the result as JSON\n\n"
     "Example:\n  container-list\n"},
    {"container-logs", cmd_logs, "NAME [--follow] [--tail N] [--raw]", "Show a container's output",
     "Options:\n  -f, --follow   keep printing new output\n"
     "  --tail N       only the last N lines (default: all)\n"
     "  --raw          the bytes as they are, escape sequences included (a pipe always gets\n"
     "                 them so; to a terminal, control characters are shown as ^X)\n\n"
     "Example:\n  container-logs my-project --tail 100 -f\n"},
    {"container-stats", cmd_stats, "[NAME | --all] [--watch] [--interval S] [--json]",
     "CPU, memory, GPU use, network, pids and time left of your running containers",
     "From the daemon's last samples (every sample_interval_s): instant, even with many\n"
     "containers. GPU utilisation of MIG instances and simulated GPUs is '?' (unknown).\n\n"
     "Options:\n  -a, --all       every user's containers (administrators)\n"
     "  -w, --watch     redraw at every new sample until Ctrl-C\n"
     "  --interval S    redraw every S seconds (implies --watch)\n"
     "  --json          print the result as JSON (one object per line with --watch)\n\n"
     "Examples:\n  container-stats\n  container-stats my-project --watch\n"},
    {"container-top", cmd_top, "NAME [--json]",
     "The processes running in a container, with their CPU and how long they have run",
     "Shows whether training started in a shell that is gone (nohup, setsid, tmux) still runs,\n"
     "before you retire the container. PIDs are as the container sees them.\n\n"
     "Example:\n  container-top my-project\n"},
    {"container-port", cmd_port, "NAME [add PORT [--tcp] | remove PORT | list] [--json]",
     "Publish a service of a container (Jupyter, TensorBoard) to you alone",
     "ds01d serves each published port as a Unix socket only you (and root) can open, and\n"
     "relays it to the port in the container. The command prints the ssh line for your laptop.\n"
     "The service in the container must listen on 0.0.0.0 (not 127.0.0.1).\n"
     "--tcp also serves it on a loopback TCP port of the server, for editors that forward only\n"
     "TCP ports (VS Code Remote-SSH); only your connections are relayed there.\n"
     "Ports go with the container: retiring it removes them.\n\n"
     "Examples:\n  container-port my-project add 8888\n  container-port my-project list\n"
     "  container-port my-project remove 8888\n"},
    {"container-keepalive", cmd_keepalive, "NAME DURATION|off",
     "Keep a container from being stopped for being idle, for a while (bounded by policy)",
     "DURATION is like 90m, 2h or 1h30m, at most your group's keepalive_max_duration_h.\n"
     "Touching ~/workspace/NAME/.keep-alive keeps it for keepalive_max_duration_h from the touch\n"
     "(a time in the future counts as now). The runtime limit still applies.\n\n"
     "Examples:\n  container-keepalive my-project 4h\n  container-keepalive my-project off\n"},
    {"image-create", cmd_image_create,
     "PROJECT [--framework F] [--packages \"P...\"] [--system \"P...\"] [--requirements FILE] "
     "[--dockerfile PATH] [--no-build] [--no-cache] [--force] [--guided] [--json]",
     "Write a project's Dockerfile and build its image ds01-<uid>/PROJECT:latest",
     "Writes Dockerfile in the project's workspace (~/workspace/PROJECT, unless the site sets\n"
     "workspace_root: the directory the project's containers mount at /workspace) from ds01's\n"
     "template (or keeps yours) and builds it through ds01d, under your limits. Your own\n"
     "Dockerfile is never overwritten without --force. Files listed in the workspace's\n"
     ".dockerignore are not sent to the build.\n"
     "\n"
     "Options:\n"
     "  --framework F         the base image: minimal (default), or a framework this site\n"
     "                        set up (images.frameworks in ds01.yaml, e.g. pytorch); a name\n"
     "                        the site lacks is refused with the list it has\n"
     "  --packages \"P...\"     pip packages, separated by spaces\n"
     "  --system \"P...\"       apt packages, separated by spaces\n"
     "  -r, --requirements FILE  a pip requirements file (copied in if outside PROJECT)\n"
     "  --dockerfile PATH     use this Dockerfile (copied into the project's workspace)\n"
     "  --no-build            only write the Dockerfile\n"
     "  --no-cache            build every step again\n"
     "  -f, --force           regenerate (or replace) an existing Dockerfile\n"
     "  --guided              ask for the framework and packages\n"
     "  --json                print the build's progress and result as JSON lines\n"
     "\n"
     "The build context is limited to 1024 MB (DS01_MAX_CONTEXT_MB changes it). Ctrl-C\n"
     "cancels the build.\n"
     "\n"
     "Examples:\n"
     "  image-create my-project --framework pytorch --packages \"transformers wandb\"\n"
     "  image-create my-project --requirements requirements.txt\n"},
    {"image-update", cmd_image_update,
     "PROJECT [--add \"P...\"] [--add-system \"P...\"] [--rebuild] [--no-cache] [--json]",
     "Add packages to a project's Dockerfile and rebuild its image",
     "Edits the marked package blocks of the project's Dockerfile (the lines between\n"
     "'" DOCKERFILE_PY_BEGIN "' and '" DOCKERFILE_PY_END "', and the same for system\n"
     "packages), then rebuilds.\n\n"
     "Options:\n"
     "  --add \"P...\"          pip packages to add (a new pin replaces an old one)\n"
     "  --add-system \"P...\"   apt packages to add\n"
     "  --rebuild             rebuild even when nothing was added\n"
     "  --no-cache            rebuild every step\n"
     "  --json                print the build's progress and result as JSON lines\n\n"
     "Examples:\n  image-update my-project --add \"transformers datasets\"\n"
     "  image-update my-project --rebuild --no-cache\n"},
    {"image-list", cmd_image_list, "[--all] [--json]",
     "List your images: size, age, and the containers using them",
     "Options:\n  -a, --all   every user's ds01 images (administrators)\n"
     "  --json      print the result as JSON\n\nExample:\n  image-list\n"},
    {"image-delete", cmd_image_delete, "PROJECT [--force] [--json]",
     "Delete a project's image; its Dockerfile stays",
     "Refuses while a container uses the image, unless --force.\n\n"
     "Options:\n  -f, --force   delete it even when a container uses it\n"
     "  --json        print the result as JSON\n\n"
     "Example:\n  image-delete my-project\n"},
    {"events", cmd_events,
     "[--user U] [--type T] [--container C] [--since T] [--until T] [--limit N] [--follow] "
     "[--json]",
     "The audit log: your events (administrators: anyone's)",
     "Options:\n  --type T        an event type, or a family ending in '.' (gpu.)\n"
     "  --container C   a project or a full container name\n"
     "  --since/--until a time (2026-11-28, 2026-11-28T10:00:00Z) or how long ago (2h)\n"
     "  -n, --limit N   the newest N matches (1..5000; default 200, with --follow 10 unless\n"
     "                  --since is given)\n"
     "  -f, --follow    then keep printing new matching events as they are written, until\n"
     "                  Ctrl-C (exit 0); with --json one JSON object per line\n\n"
     "Examples:\n  ds01 events --since 1d\n  ds01 events --type maintenance. --json\n"
     "  ds01 events --follow --type gpu.\n"},
    {"report", cmd_report, "[--month YYYY-MM] [--user U] [--json | --csv]",
     "GPU-hours allocated, active and idle-held per user for a month (administrators: "
     "everyone's)",
     "A user sees their own usage; administrators see every user's, or one with --user.\n"
     "Hours are GPU-equivalents (a MIG instance counts slices/7), by UTC day. Active: the\n"
     "GPU's utilisation was at or above the idle threshold (where it cannot be measured -\n"
     "MIG, simulated GPUs - the container's CPU, network or session activity). Idle-held:\n"
     "allocated but not active, including GPUs held by stopped containers.\n\n"
     "Options:\n  -m, --month YYYY-MM   the month (default: the current one, UTC)\n"
     "  -u, --user U          one user (administrators; yourself otherwise)\n"
     "  --json                print the daemon's answer as JSON\n"
     "  --csv                 print CSV with a header line\n\n"
     "Examples:\n  ds01 report\n  ds01 report --month 2026-11 --csv\n"},
    {"jupyter", cmd_jupyter, "NAME [--port PORT]",
     "Start Jupyter in a container and print how to open it from your laptop",
     "Publishes PORT (default 8888) of the container to you alone (as container-port add),\n"
     "starts Jupyter Lab (or the classic Notebook) in the background inside with a new token,\n"
     "waits until it answers, and prints the ssh line for your laptop and the URL with the\n"
     "token. Jupyter must be installed in the container's image (image-create --packages\n"
     "jupyterlab). It keeps running when the command ends, until the container stops.\n\n"
     "Options:\n  -p, --port PORT   the port (default 8888)\n\n"
     "Example:\n  ds01 jupyter my-project\n"},
    {"inbox", cmd_inbox, "[--limit N] [--json]",
     "Warnings and stops ds01 sent you (each is also shown once with your next command)",
     "Example:\n  ds01 inbox\n"},
    {"board", cmd_board, "[--json]",
     "The GPUs now: free by model, demand, when the next frees, reservations, your containers",
     "Free, leased, reserved and drained slots by GPU model and MIG profile; how many are\n"
     "leased and how many requests wait; when the next leased slot frees at the latest (a\n"
     "running container's runtime cap, a stopped one's GPU hold); reservations; and your own\n"
     "containers with their idle and runtime deadlines. The same board, without names, is\n"
     "the web page /board next to /metrics. Alias: dashboard\n\n"
     "Example:\n  ds01 board\n"},
    {"gpu-queue", cmd_gpu_queue, "[--all] [--json] | leave PROJECT | cancel ID | move ID POS",
     "Deploys waiting for GPUs: yours with position and estimate; leave one",
     "container-deploy NAME --wait joins the queue when the GPUs are all taken. The queue is\n"
     "ordered by priority: fair share (who used fewer GPU-hours lately, against their group's\n"
     "priority) and time waited. A request starts no later than its estimate (the runtime caps\n"
     "of the GPUs it waits for), often sooner.\n\n"
     "Options and verbs:\n"
     "  -a, --all         everyone's requests (administrators)\n"
     "  leave PROJECT     stop waiting\n"
     "  cancel ID         cancel anyone's request (administrators)\n"
     "  move ID POS       put a request at position POS, 1 = first (administrators)\n"
     "  --json            print the result as JSON\n\n"
     "Examples:\n  gpu-queue\n  gpu-queue leave my-project\n"},
    {"check-limits", cmd_check_limits, "[--json]", "Show your limits and current usage",
     "Options:\n  --json   print the result as JSON\n\nExample:\n  check-limits\n"},
    {"gpus", cmd_gpus, "[--json] [--rescan]",
     "Every GPU slot: model, lease, owner, container, state, age (administrators)",
     "Options:\n  --rescan   scan the GPUs again first (after a MIG change)\n"
     "  --json     print the result as JSON\n\nExample:\n  ds01 gpus\n"},
    {"gpu-drain", cmd_gpu_drain, "UUID [--reason TEXT]",
     "Stop new leases on a GPU or MIG instance; running work is untouched (administrators)",
     "Options:\n  --reason TEXT   why (shown in 'ds01 gpus')\n\n"
     "Example:\n  ds01 gpu drain GPU-5a11d000-0000-4000-8000-000000000002 --reason 'MIG change'\n"},
    {"gpu-undrain", cmd_gpu_drain, "UUID", "Let a drained GPU be leased again (administrators)",
     "Example:\n  ds01 gpu undrain GPU-5a11d000-0000-4000-8000-000000000002\n"},
    {"reservation-create", cmd_reservation_create,
     "NAME --gpus N | --slots UUID,... --start T --end T --users U,... | --group G",
     "Reserve GPU slots for some users in a window (administrators)",
     "During the window only the members may lease the slots. Before it, nobody else's\n"
     "container is placed on them if its runtime cap could run into the window. A slot no\n"
     "member has leased reservation_unused_release_m (ds01.yaml) into the window is released\n"
     "to everyone. Nothing running is ever stopped for a reservation.\n\n"
     "Options:\n"
     "  --gpus N          N whole GPUs that no other reservation holds in the window\n"
     "  --slots UUID,...  these slots (GPUs or MIG instances; ds01 gpus lists them)\n"
     "  --start T         a time (2026-12-10T09:00, UTC unless it says +01:00), now, or +2h\n"
     "  --end T           a time, or +DURATION after the start\n"
     "  --users U,...     the logins who may use them\n"
     "  --group G         the users of this limits group may use them\n"
     "  --json            print the result as JSON\n\n"
     "Example:\n  ds01 reservation create exam --gpus 2 --start 2026-12-10T09:00 --end +8h "
     "--group student\n"},
    {"reservation-list", cmd_reservation_list, "[--json]",
     "The GPU reservations that have not ended, their slots and who holds them",
     "Administrators see the members; others see whether they are one.\n\n"
     "Example:\n  ds01 reservation list\n"},
    {"reservation-delete", cmd_reservation_delete, "NAME",
     "Delete a GPU reservation: its slots are everyone's again (administrators)",
     "Example:\n  ds01 reservation delete exam\n"},
    {"status", cmd_status, "[--json]",
     "Every GPU slot with its owner, container, utilisation and idle time; totals and "
     "warnings (administrators)",
     "Warnings name GPUs held idle, GPUs held for stopped containers, drained slots still\n"
     "leased, leases on slots that vanished, and a daemon that is not keeping up.\n\n"
     "Example:\n  ds01 status\n"},
    {"users", cmd_users, "[USER] [--json]",
     "Each user's group, limits and current usage (administrators)",
     "Users are those the groups list, and everyone with a container.\n\n"
     "Examples:\n  ds01 users\n  ds01 users alice --json\n"},
    {"health", cmd_health, "[--json]",
     "Check Docker, its event stream, NVML, the ledger against Docker, the config files, "
     "disk space and the monitor (administrators)",
     "Exits 1 when a check fails, so it can run from cron or a probe.\n\n"
     "Example:\n  ds01 health\n"},
    {"reload", cmd_reload, "[--json]",
     "Read ds01.yaml and the limits files again (administrators; same as SIGHUP)",
     "A file with an error is refused and the running configuration stays; the error says\n"
     "which file and line.\n\nExample:\n  ds01 reload\n"},
    {"storage-setup", cmd_storage_setup, "[--json]",
     "Hard storage limits through kernel project quotas on the workspaces (administrators)",
     "Labels every user's workspace directory with a project id (their uid) and gives the\n"
     "project their group's storage_workspace as a hard limit. Needs ext4 or XFS with project\n"
     "quotas on (mounted with prjquota) and a kernel with quota support; otherwise it changes\n"
     "nothing and says what is missing. Without it ds01 measures the workspaces by a scan,\n"
     "warns at 90 % and 100 % and refuses deploys over the limit.\n\n"
     "Example:\n  ds01 storage setup\n"},
    {"slurm-sync", cmd_slurm_sync, "[--apply | --check] [--json]",
     "Write Slurm's accounts, QOS and user associations from the limits file (administrators)",
     "For a ds01 host in a Slurm cluster (ds01.yaml: cluster: {backend: slurm, name: C}).\n"
     "For each limits group G: a QOS ds01_G (MaxTRESPerUser gres/gpu from max_gpu_equivalents,\n"
     "MaxWall from max_runtime_h), an account ds01_G (Fairshare from priority, that QOS) and\n"
     "its users as associations. Without --apply it shows what it would add, change and\n"
     "remove and changes nothing; only objects ds01 made (named ds01_..., described\n"
     "'ds01: group G') are ever changed or removed.\n\n"
     "Options:\n  --apply   make the changes (a failed step is named; run again to finish)\n"
     "  --check   exit 1 when Slurm differs from the limits file (for cron or a probe)\n"
     "  --json    print the daemon's answer as JSON\n\n"
     "Examples:\n  ds01 slurm-sync\n  ds01 slurm-sync --apply\n"},
    {"version", cmd_version, "", "Show the versions of ds01 and of the running daemon",
     "Exits 1 when the daemon cannot be reached.\n\nExample:\n  ds01 version\n"},
};

/* Other spellings users bring from DS01. */
static const struct {
        const char *alias;
        const char *name;
} aliases[] = {
    {"get-limits", "check-limits"},
    {"dashboard", "board"},
    {"ds01-version", "version"},
    {"ds01-gpu-queue", "gpu-queue"},
};

/* The step of container-deploy's Slurm job (cmd-slurm.c): run by the job's script, so not in
 * the list of commands. */
static const struct cli_command slurm_job_command = {
    "slurm-job",
    cmd_slurm_job,
    "PROJECT",
    "The step of a deploy's Slurm job (cluster mode)",
    "Run by the script of the Slurm job container-deploy submits in a cluster: deploys PROJECT\n"
    "on the job's GPUs, then stops it when Slurm ends the job (SIGTERM).\n",
    .options = cmd_deploy_options,
};

const struct cli_command *cli_find(const char *name)
{
        if (streq(name, slurm_job_command.name))
                return &slurm_job_command;
        for (size_t i = 0; i < ARRAY_SIZE(aliases); i++)
                if (streq(name, aliases[i].alias))
                        name = aliases[i].name;
        for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
                if (streq(name, commands[i].name))
                        return &commands[i];
        return NULL;
}

/* "container" + "deploy" -> the container-deploy row; NULL if there is none. */
static const struct cli_command *find_noun_verb(const char *noun, const char *verb)
{
        if (!verb || verb[0] == '-')
                return NULL;
        _cleanup_free_ char *name = xasprintf("%s-%s", noun, verb);
        return cli_find(name);
}

static bool is_noun(const char *word)
{
        size_t n = strlen(word);
        for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
                if (strncmp(commands[i].name, word, n) == 0 && commands[i].name[n] == '-')
                        return true;
        return streq(word, "get"); /* "get limits" */
}

static void list_commands(FILE *f, const char *noun)
{
        size_t n = noun ? strlen(noun) : 0;
        if (!noun)
                fprintf(f, "Usage: ds01 COMMAND [ARGS...]   (or the command's own name, e.g. "
                           "container-deploy)\n\n");
        fprintf(f, "Commands:\n");
        for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
                const struct cli_command *c = &commands[i];
                if (noun && !(strncmp(c->name, noun, n) == 0 && c->name[n] == '-'))
                        continue;
                fprintf(f, "  %-18s %s\n", c->name, c->summary);
        }
        fprintf(f,
                "\n'COMMAND --help' shows a command's options; 'container deploy' is the same as "
                "'container-deploy'.\n");
}

static int run_command(const struct cli_command *cmd, int argc, char **argv)
{
        /* The command sees its canonical name as argv[0], for messages. */
        argv[0] = (char *)cmd->name;
        return cmd->run(cmd, argc, argv);
}

/* `container VERB ARGS` or `check limits`: argv[0] is the noun. */
static int run_noun(const char *noun, int argc, char **argv)
{
        const char *verb = argc > 1 ? argv[1] : NULL;
        const struct cli_command *cmd = find_noun_verb(noun, verb);
        if (cmd)
                return run_command(cmd, argc - 1, argv + 1);
        if (verb && (streq(verb, "-h") || streq(verb, "--help") || streq(verb, "help"))) {
                list_commands(stdout, noun);
                return 0;
        }
        if (verb)
                fprintf(stderr, "%s: unknown command '%s %s'\n", noun, noun, verb);
        else
                fprintf(stderr, "%s: which one?\n", noun);
        list_commands(stderr, streq(noun, "get") ? "check" : noun);
        return CLI_EXIT_USAGE;
}

static int run_ds01(int argc, char **argv)
{
        if (argc < 2) {
                list_commands(stderr, NULL);
                return CLI_EXIT_USAGE;
        }
        const char *word = argv[1];
        if (streq(word, "-h") || streq(word, "--help")) {
                list_commands(stdout, NULL);
                return 0;
        }
        if (streq(word, "--version")) {
                printf("ds01 %s\n", DS01_VERSION);
                return 0;
        }
        if (streq(word, "help")) {
                const struct cli_command *cmd = NULL;
                if (argc > 3)
                        cmd = find_noun_verb(argv[2], argv[3]);
                if (!cmd && argc > 2)
                        cmd = cli_find(argv[2]);
                if (cmd)
                        cli_print_help(cmd, stdout);
                else
                        list_commands(stdout, NULL);
                return 0;
        }
        const struct cli_command *cmd = cli_find(word);
        if (cmd)
                return run_command(cmd, argc - 1, argv + 1);
        if (is_noun(word))
                return run_noun(streq(word, "get") ? "check" : word, argc - 1, argv + 1);
        fprintf(stderr, "ds01: unknown command '%s' (see 'ds01 -h')\n", word);
        return CLI_EXIT_USAGE;
}

int main(int argc, char **argv)
{
        /* A reader that goes away (`container-logs x | head`) must not kill us mid-session with
         * the terminal in raw mode; writes then fail with EPIPE instead. */
        signal(SIGPIPE, SIG_IGN);
        if (argc < 1 || !argv[0])
                return CLI_EXIT_USAGE;
        /* With fd 0, 1 or 2 closed, the daemon's socket would take its number and be read as
         * stdin or written as output. */
        for (int fd = 0; fd < 3; fd++)
                if (fcntl(fd, F_GETFD) < 0 &&
                    open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY) != fd)
                        return 1;

        _cleanup_free_ char *copy = xstrdup(argv[0]);
        const char *base = basename(copy);
        const struct cli_command *cmd = cli_find(base);
        int r;
        if (cmd)
                r = run_command(cmd, argc, argv);
        else if (is_noun(base))
                r = run_noun(streq(base, "get") ? "check" : base, argc, argv);
        else
                r = run_ds01(argc, argv);
        if (fflush(stdout) != 0 && errno != EPIPE && r == 0) {
                fprintf(stderr, "%s: writing the output failed\n", base);
                r = 1;
        }
        return r;
}
