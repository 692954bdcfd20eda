/* cmd-slurm.c - cluster mode on the user's side (docs/cluster-design.md): container-deploy as a
 * Slurm job, the job's step (`ds01 slurm-job`), and gpu-queue as Slurm's pending ds01 jobs.
 *
 * Slurm authenticates whoever submits with munge, so the user's own process runs sbatch, squeue
 * and scancel (argv only, the user's environment with SLURM_CONF from ds01.yaml's cluster key);
 * Slurm checks the owner of every job. Whether this node is in a cluster, and the caller's
 * account, QOS and time limit, come from the node's ds01d (cluster.info): nothing here
 * is computed from the limits.
 *
 * A deploy's job is named ds01:PROJECT and runs `ds01 slurm-job PROJECT [options]`, which asks
 * the node's ds01d for the container of its job (container.deploy {slurm_job}), writes one line
 * with the answer (or the failure) to the job's output file, and on SIGTERM (scancel, the time
 * limit, a drain) stops the container with its grace. The submitting CLI reads that line from
 * the output file, which it put in ~/.ds01/slurm (the user's alone). */
#include "client.h"
#include "cluster.h"
#include "cmd.h"
#include "output.h"

#include "../proto/proto.h"
#include "../shared/parse.h"
#include "../shared/spawn.h"
#include "../shared/strbuf.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define JOB_PREFIX       "ds01:"
#define OUTPUT_KEEP_DAYS 30 /* a job's output in ~/.ds01/slurm is removed after */
#define MARK_DEPLOYED    "ds01-slurm-job: deployed "
#define MARK_FAILED      "ds01-slurm-job: failed "
#define SLURM_CMD_MS     (30 * 1000)
#define SLURM_MAX_OUT    (16u << 20)
#define POLL_MS          300
/* Without --wait: how long a job may stay PENDING before it counts as "no GPU free" (sbatch
 * has no --immediate; slurmctld tries to start a job as it is submitted, unless
 * SchedulerParameters=defer, when the next scheduling pass does) */
#define START_WINDOW_MS (6 * 1000)

static void sleep_ms(long ms)
{
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
}

/* This node's answer to cluster.info when it is in a cluster; NULL otherwise, with
 * *ret_no_daemon when no ds01d answers here. */
static json_t *node_info(bool *ret_no_daemon)
{
        _cleanup_client_ struct client c = CLIENT_INIT;
        _cleanup_error_ struct error *err = NULL;
        json_t *res = NULL;
        *ret_no_daemon = client_open(&c, &err) < 0;
        if (*ret_no_daemon || client_call(&c, "cluster.info", NULL, &res, NULL, &err) < 0)
                return NULL;
        if (!cli_jbool(res, "enabled")) {
                json_decref(res);
                return NULL;
        }
        return res;
}

/* The cluster as the CLI knows it: this node's answer to cluster.info when it is in a cluster.
 * On a login node (no ds01d answers, DS01_CLUSTER_SLURM_CONF set: cluster.h) only what the
 * environment says, {enabled, login, slurm_conf}: no account, QOS, time limit or signal margin,
 * which the job's step gets from its node's ds01d (step_time_limit). NULL otherwise (also when
 * the daemon cannot be asked: the ordinary path then says why). */
static json_t *cluster_info(void)
{
        bool no_daemon = false;
        json_t *res = node_info(&no_daemon);
        const char *conf = NULL;
        if (res || !no_daemon || !cluster_login(&conf))
                return res;
        return json_pack("{s:b, s:b, s:s?}", "enabled", true, "login", true, "slurm_conf", conf);
}

/* Runs Slurm's `tool` as the user: exit status with stdout and stderr (one line each, at most
 * what fits a message), -1 when it cannot run. */
static int slurm_run(const json_t *info, const char *tool, const char *const *args, char **ret_out,
                     char **ret_err)
{
        _cleanup_free_ char *path = cluster_slurm_prog(cli_jstr(info, "slurm_bin", NULL), tool);
        char **envp = cluster_slurm_env(cli_jstr(info, "slurm_conf", NULL), false, false);
        size_t na = 0;
        while (args[na])
                na++;
        _cleanup_free_ const char **argv = xcalloc(na + 2, sizeof(*argv));
        argv[0] = path;
        for (size_t i = 0; i < na; i++)
                argv[i + 1] = args[i];
        char *out = NULL, *errout = NULL;
        int r = spawn_capture(path, argv, (const char *const *)envp, SLURM_CMD_MS, SLURM_MAX_OUT,
                              &out, &errout);
        cluster_env_free(envp);
        if (r == -1) {
                *ret_out = xstrdup("");
                *ret_err = xasprintf("cannot run %s: %s", path, strerror(errno));
                return -1;
        }
        for (char *p = errout; p && *p; p++) /* one line, for a message */
                if (*p == '\n')
                        *p = p[1] ? ' ' : '\0';
        *ret_out = out ? out : xstrdup("");
        *ret_err = errout ? errout : xstrdup("");
        return r == -2 ? -1 : r;
}

/* "sbatch: error: Batch job submission failed: X" -> "X" */
static const char *slurm_reason(const char *errout)
{
        const char *p = strstr(errout, "failed: ");
        if (p)
                return p + 8;
        p = strstr(errout, "error: ");
        return p ? p + 7 : errout;
}

/* --- the job's state, as the user sees it in squeue ---------------------------------------------
 */

struct job_now {
        char state[32];   /* "" when Slurm no longer lists the job */
        char reason[128]; /* PENDING's reason */
        char node[128];
};

static int job_now(const json_t *info, const char *id, struct job_now *j)
{
        const char *args[] = {"-h", "-j", id, "-o", "%T|%r|%N", NULL};
        _cleanup_free_ char *out = NULL, *errout = NULL;
        int r = slurm_run(info, "squeue", args, &out, &errout);
        memset(j, 0, sizeof(*j));
        if (r != 0) /* "Invalid job id specified": it ended and left slurmctld */
                return strstr(errout, "Invalid job id") ? 0 : -1;
        char *save = NULL, *line = strtok_r(out, "\n", &save);
        if (!line)
                return 0;
        char *f[3] = {line, NULL, NULL};
        for (int i = 1; i < 3 && f[i - 1]; i++) {
                char *bar = strchr(f[i - 1], '|');
                if (bar)
                        *bar = '\0';
                f[i] = bar ? bar + 1 : NULL;
        }
        snprintf(j->state, sizeof(j->state), "%s", f[0]);
        snprintf(j->reason, sizeof(j->reason), "%s", f[1] ? f[1] : "");
        snprintf(j->node, sizeof(j->node), "%s", f[2] ? f[2] : "");
        return 0;
}

static bool job_running(const struct job_now *j)
{
        return streq(j->state, "RUNNING") || streq(j->state, "CONFIGURING");
}

static void job_cancel(const json_t *info, const char *id)
{
        const char *args[] = {id, NULL};
        _cleanup_free_ char *out = NULL, *errout = NULL;
        slurm_run(info, "scancel", args, &out, &errout);
}

/* --- the output file ----------------------------------------------------------------------------
 */

/* Removes the job outputs (NAME-ID.out) in dir older than OUTPUT_KEEP_DAYS: every deploy adds
 * one. Runs as the user, in their own directory; not a plain file is left alone. */
static void prune_outputs(const char *dir)
{
        DIR *dp = opendir(dir);
        if (!dp)
                return;
        time_t cut = time(NULL) - (time_t)OUTPUT_KEEP_DAYS * 86400;
        for (struct dirent *e; (e = readdir(dp));) {
                size_t n = strlen(e->d_name);
                struct stat st;
                if (n < 5 || strcmp(e->d_name + n - 4, ".out") != 0 ||
                    fstatat(dirfd(dp), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
                    !S_ISREG(st.st_mode) || st.st_mtime >= cut)
                        continue;
                (void)unlinkat(dirfd(dp), e->d_name, 0);
        }
        closedir(dp);
}

/* ~/.ds01/slurm, made a 0700 directory of the caller's, its old outputs pruned; NULL with a
 * message printed. */
static char *output_dir(const char *cmd)
{
        struct passwd *pw = getpwuid(getuid());
        if (!pw || !pw->pw_dir || pw->pw_dir[0] != '/') {
                fprintf(stderr, "%s: you have no home directory for the job's output\n", cmd);
                return NULL;
        }
        _cleanup_free_ char *top = xasprintf("%s/.ds01", pw->pw_dir);
        char *dir = xasprintf("%s/slurm", top);
        const char *paths[] = {top, dir};
        for (size_t i = 0; i < 2; i++) {
                struct stat st;
                if (mkdir(paths[i], 0700) < 0 && errno != EEXIST)
                        goto fail;
                if (lstat(paths[i], &st) < 0)
                        goto fail;
                if (!S_ISDIR(st.st_mode) || st.st_uid != getuid()) {
                        errno = EPERM;
                        goto fail;
                }
                if ((st.st_mode & 077) && chmod(paths[i], 0700) < 0)
                        goto fail;
                continue;
        fail:
                fprintf(stderr,
                        "%s: cannot use %s for the job's output: %s - make it a directory of "
                        "yours\n",
                        cmd, paths[i], strerror(errno));
                free(dir);
                return NULL;
        }
        prune_outputs(dir);
        return dir;
}

static char *read_small_file(const char *path)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return NULL;
        struct strbuf sb = STRBUF_INIT;
        char buf[4096];
        ssize_t n;
        while (sb.len < (1u << 20) && (n = read(fd, buf, sizeof(buf))) > 0)
                strbuf_add(&sb, buf, (size_t)n);
        close(fd);
        return strbuf_detach(&sb);
}

/* The step's line in the output file: 1 deployed (*ret_res), 0 failed (*ret_code), -1 none
 * yet. */
static int step_result(const char *path, json_t **ret_res, int *ret_code)
{
        _cleanup_free_ char *text = read_small_file(path);
        if (!text)
                return -1;
        const char *p = strstr(text, MARK_DEPLOYED);
        if (p) {
                p += strlen(MARK_DEPLOYED);
                json_t *res = json_loadb(p, strcspn(p, "\n"), 0, NULL);
                if (res) {
                        *ret_res = res;
                        return 1;
                }
                return -1; /* not all written yet */
        }
        p = strstr(text, MARK_FAILED);
        if (p && strchr(p, '\n')) {
                *ret_code = atoi(p + strlen(MARK_FAILED));
                return 0;
        }
        return -1;
}

/* The job's output without the step's own lines, to stderr. */
static void print_job_errors(const char *path)
{
        _cleanup_free_ char *text = read_small_file(path);
        char *save = NULL;
        for (char *l = text ? strtok_r(text, "\n", &save) : NULL; l;
             l = strtok_r(NULL, "\n", &save))
                if (strncmp(l, "ds01-slurm-job: ", 16) != 0) {
                        _cleanup_free_ char *safe = term_safe(l);
                        fprintf(stderr, "%s\n", safe);
                }
}

/* --- submitting ---------------------------------------------------------------------------------
 */

/* 'word' for sh, whatever word holds */
static void add_quoted(struct strbuf *sb, const char *word)
{
        strbuf_adds(sb, " '");
        for (const char *p = word; *p; p++)
                if (*p == '\'')
                        strbuf_adds(sb, "'\\''");
                else
                        strbuf_addc(sb, *p);
        strbuf_addc(sb, '\'');
}

/* The job's script: exec this very ds01 as `slurm-job PROJECT` with the options that shape the
 * container (the GPUs are the job's). */
static char *job_script(const struct deploy_req *q)
{
        char exe[4096];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        if (n <= 0)
                snprintf(exe, sizeof(exe), "ds01");
        else
                exe[n] = '\0';
        struct strbuf sb = STRBUF_INIT;
        strbuf_adds(&sb, "exec");
        add_quoted(&sb, exe);
        add_quoted(&sb, "slurm-job");
        add_quoted(&sb, q->project);
        if (q->o.image) {
                add_quoted(&sb, "--image");
                add_quoted(&sb, q->o.image);
        }
        if (q->o.ssh || q->o.no_ssh)
                add_quoted(&sb, q->o.ssh ? "--ssh" : "--no-ssh");
        for (size_t i = 0; i < q->o.data.n; i++) {
                add_quoted(&sb, "--data");
                add_quoted(&sb, q->o.data.v[i]);
        }
        for (size_t i = 0; i < q->o.ports.n; i++) {
                add_quoted(&sb, "--port");
                add_quoted(&sb, q->o.ports.v[i]);
        }
        if (q->a.rest) {
                add_quoted(&sb, "--");
                for (size_t i = 0; i < q->a.n_rest; i++)
                        add_quoted(&sb, q->a.rest[i]);
        }
        return strbuf_detach(&sb);
}

/* What q asks Slurm for, for messages: "1 GPU", "2 GPUs", "1 MIG instance 3g.20gb". */
static char *asked(const struct deploy_req *q)
{
        if (q->o.mig)
                return xasprintf("%lld MIG instance%s %s", (long long)q->n_gpus,
                                 q->n_gpus == 1 ? "" : "s", q->o.mig);
        return xasprintf("%lld GPU%s", (long long)q->n_gpus, q->n_gpus == 1 ? "" : "s");
}

/* sbatch refused the job: exit 3 for what the cluster or the user's limits cannot give. */
static int submit_refused(const char *cmd, const struct deploy_req *q, const json_t *info,
                          const char *errout)
{
        const char *why = slurm_reason(errout);
        _cleanup_free_ char *what = asked(q);
        bool limits =
            strstr(errout, "QOS") || strstr(errout, "accounting") || strstr(errout, "time limit");
        if (limits && !json_object_get(info, "group")) { /* a login node knows no limits */
                fprintf(stderr,
                        "%s: Slurm refused the job: %s - your ds01 limits (your group's Slurm "
                        "QOS) do not allow %s; ask for fewer (check-limits on a GPU node "
                        "shows them)\n",
                        cmd, why, what);
                return DS01_ERESOURCE;
        }
        if (limits) {
                char gpus[32] = "unlimited", hours[32] = "unlimited";
                const json_t *g = json_object_get(info, "max_gpu_equivalents");
                const json_t *h = json_object_get(info, "max_runtime_h");
                if (json_is_number(g))
                        snprintf(gpus, sizeof(gpus), "%g", json_number_value(g));
                if (json_is_number(h))
                        snprintf(hours, sizeof(hours), "%g h", json_number_value(h));
                fprintf(stderr,
                        "%s: Slurm refused the job: %s - your ds01 limits (group %s: "
                        "max_gpu_equivalents %s, max_runtime_h %s%s%s) do not allow %s; ask "
                        "for fewer (check-limits)\n",
                        cmd, why, cli_jstr(info, "group", "?"), gpus, hours,
                        json_object_get(info, "qos") ? ", Slurm QOS " : "",
                        cli_jstr(info, "qos", ""), what);
                return DS01_ERESOURCE;
        }
        if (strstr(errout, "node configuration is not available") ||
            strstr(errout, "Requested node config") || strstr(errout, "Invalid generic resource")) {
                fprintf(stderr,
                        "%s: Slurm refused the job: %s - no node of the cluster has %s you may "
                        "use; ask for %s (sinfo -o '%%N %%G' lists each node's GPUs and MIG "
                        "types)\n",
                        cmd, why, what, q->o.mig ? "a profile a node has" : "fewer");
                return DS01_ERESOURCE;
        }
        _cleanup_free_ char *safe = term_safe(errout);
        fprintf(stderr, "%s: sbatch failed: %s\n", cmd, safe);
        return DS01_ERR;
}

/* sbatch for q; the job's id in *ret_id (a new string), its output file in *ret_out. What info
 * does not know (a login node's: account, QOS, time limit, signal) is left out: Slurm applies
 * the user's default account and its QOS (slurm-sync sets both), and the job's step lowers the
 * time limit to the runtime cap and stops the container before the end (cmd_slurm_job). */
static int submit(const char *cmd, const struct deploy_req *q, const json_t *info, char **ret_id,
                  char **ret_out)
{
        _cleanup_free_ char *dir = output_dir(cmd);
        if (!dir)
                return DS01_ERR;
        _cleanup_free_ char *name = xasprintf("--job-name=" JOB_PREFIX "%s", q->project);
        /* a MIG instance is a gres type (gres.conf's Type=PROFILE) */
        _cleanup_free_ char *gres = xasprintf("--gres=gpu:%s%s%lld", q->o.mig ? q->o.mig : "",
                                              q->o.mig ? ":" : "", (long long)q->n_gpus);
        _cleanup_free_ char *output = xasprintf("--output=%s/%s-%%j.out", dir, q->project);
        _cleanup_free_ char *script = job_script(q);
        _cleanup_free_ char *wrap = xasprintf("--wrap=%s", script);
        _cleanup_free_ char *account = NULL, *qos = NULL, *time = NULL, *deadline = NULL,
                            *sig = NULL;
        const char *args[16];
        size_t n = 0;
        args[n++] = "--parsable";
        args[n++] = name;
        args[n++] = gres;
        args[n++] = output;
        args[n++] = "--chdir=/";
        const json_t *before = json_object_get(info, "signal_before_end_s");
        if (json_is_integer(before)) {
                sig = xasprintf("--signal=B:TERM@%lld", (long long)json_integer_value(before));
                args[n++] = sig;
        }
        if (json_object_get(info, "account")) {
                account = xasprintf("--account=%s", cli_jstr(info, "account", ""));
                qos = xasprintf("--qos=%s", cli_jstr(info, "qos", ""));
                args[n++] = account;
                args[n++] = qos;
        }
        const json_t *limit = json_object_get(info, "time_limit_min");
        if (json_is_integer(limit)) {
                time = xasprintf("--time=%lld", (long long)json_integer_value(limit));
                args[n++] = time;
        }
        if (q->max_wait > 0) {
                /* Slurm removes the job when it can no longer end by the deadline (start >
                 * deadline - time limit): so the deadline is the latest start plus the time
                 * limit */
                if (!json_is_integer(limit) && cli_jbool(info, "login")) {
                        fprintf(stderr,
                                "%s: --max-wait needs your runtime cap (Slurm's --deadline counts "
                                "from the job's end), which only a GPU node's ds01d knows - run "
                                "this deploy on a GPU node, or use --wait alone and gpu-queue "
                                "leave %s to give up\n",
                                cmd, q->project);
                        return CLI_EXIT_USAGE;
                }
                if (!json_is_integer(limit)) {
                        fprintf(stderr,
                                "%s: --max-wait needs a runtime cap (Slurm's --deadline counts "
                                "from the job's end) and yours is unlimited - use --wait "
                                "alone and gpu-queue leave %s to give up\n",
                                cmd, q->project);
                        return CLI_EXIT_USAGE;
                }
                deadline = xasprintf("--deadline=now+%lld",
                                     (long long)(q->max_wait + json_integer_value(limit) * 60));
                args[n++] = deadline;
        }
        args[n++] = wrap;
        args[n] = NULL;
        _cleanup_free_ char *out = NULL, *errout = NULL;
        int r = slurm_run(info, "sbatch", args, &out, &errout);
        if (r != 0)
                return r < 0 ? (fprintf(stderr, "%s: %s\n", cmd, errout), DS01_ERR)
                             : submit_refused(cmd, q, info, errout);
        out[strcspn(out, ";\n")] = '\0';
        if (!*out || strspn(out, "0123456789") != strlen(out)) {
                fprintf(stderr, "%s: sbatch gave no job id\n", cmd);
                return DS01_ERR;
        }
        *ret_out = xasprintf("%s/%s-%s.out", dir, q->project, out);
        *ret_id = TAKE_PTR(out);
        return 0;
}

/* Waits for the step's answer in path while job id runs; prints like a single server's
 * deploy. */
static int wait_for_container(const struct cli_command *command, const struct deploy_req *q,
                              const json_t *info, const char *id, const char *path)
{
        const char *cmd = command->name;
        for (;;) {
                json_t *res = NULL;
                int code = 1;
                int s = step_result(path, &res, &code);
                struct job_now j;
                if (s < 0 && job_now(info, id, &j) == 0 && !job_running(&j) &&
                    !streq(j.state, "PENDING")) {
                        s = step_result(path, &res, &code); /* it may have written at its end */
                        if (s < 0) {
                                print_job_errors(path);
                                fprintf(stderr,
                                        "%s: Slurm job %s ended (%s) before its container was "
                                        "deployed; its output is %s\n",
                                        cmd, id, *j.state ? j.state : "gone", path);
                                return DS01_ERR;
                        }
                }
                if (s == 0) {
                        print_job_errors(path);
                        fprintf(stderr,
                                "%s: the deploy in Slurm job %s failed (exit %d); the job "
                                "has ended\n",
                                cmd, id, code);
                        return code > 0 && code < 128 ? code : DS01_ERR;
                }
                if (s == 1) {
                        job_now(info, id, &j);
                        json_object_set_new(res, "slurm_job", json_string(id));
                        json_object_set_new(res, "node", json_string(*j.node ? j.node : "?"));
                        if (q->o.json)
                                output_json(res);
                        else {
                                print_deployed(q->project, res, q->a.rest, q->a.n_rest);
                                printf("  slurm job: %s on node %s (scancel %s ends it, with "
                                       "the container)\n",
                                       id, cli_jstr(res, "node", "?"), id);
                        }
                        json_decref(res);
                        fflush(stdout);
                        if (!q->o.open)
                                return 0;
                        /* the job's node may be another (or this is a login node): the shell
                         * goes there through srun, as container-run's does */
                        static const struct cli_command run = {.name = "container-run"};
                        char *run_argv[] = {(char *)"container-run", (char *)q->project, NULL};
                        int routed = cluster_route(&run, q->project, 2, run_argv, true);
                        if (routed != CLI_CONTINUE)
                                return routed;
                        _cleanup_client_ struct client c = CLIENT_INIT;
                        _cleanup_error_ struct error *err = NULL;
                        if (client_open(&c, &err) < 0)
                                return output_error(cmd, err);
                        return session_run(command, &c, q->project, NULL, 0, true, true);
                }
                sleep_ms(POLL_MS);
        }
}

/* The place of job id in Slurm's queue of pending ds01 jobs (0: not there), and how many. */
struct queue_row {
        char *id, *user, *project, *gres, *reason;
        int64_t priority;
};
static size_t slurm_pending(const json_t *info, struct queue_row **ret, struct error **err);
static void rows_release(struct queue_row *rows, size_t n);

int slurm_deploy(const struct cli_command *cmd, const struct deploy_req *q)
{
        _cleanup_(json_decrefp) json_t *info = cluster_info();
        if (!info)
                return CLI_CONTINUE;
        if (q->o.mig && !strchr(q->o.mig, '.'))
                return cli_usage_error(cmd,
                                       "in a Slurm cluster --mig takes the whole profile as the "
                                       "nodes' gres.conf types it, such as 3g.20gb, not '%s' "
                                       "(sinfo -o '%%N %%G' lists them)",
                                       q->o.mig);
        _cleanup_free_ char *id = NULL, *path = NULL;
        int r = submit(cmd->name, q, info, &id, &path);
        if (r != 0)
                return r;
        /* slurmctld tries to start a job as it is submitted: RUNNING, or PENDING with a reason
         * (None until the scheduler looked at it) */
        struct job_now j = {0};
        int64_t t0 = now_ms();
        for (;;) {
                if (job_now(info, id, &j) < 0)
                        memset(&j, 0, sizeof(j));
                if (!streq(j.state, "PENDING"))
                        break;
                if (!streq(j.reason, "None")) /* the scheduler looked at it: it waits */
                        break;
                if (now_ms() - t0 > START_WINDOW_MS)
                        break;
                sleep_ms(POLL_MS);
        }
        if (streq(j.state, "PENDING") && !q->o.wait) {
                _cleanup_free_ char *what = asked(q);
                job_cancel(info, id);
                unlink(path);
                fprintf(stderr,
                        "%s: no GPU free: Slurm cannot start a job with %s now (%s) - add "
                        "--wait to wait in the queue for it, or deploy with --cpu-only\n",
                        cmd->name, what, j.reason);
                return DS01_ERESOURCE;
        }
        if (streq(j.state, "PENDING")) {
                struct queue_row *rows = NULL;
                _cleanup_error_ struct error *err = NULL;
                size_t n = slurm_pending(info, &rows, &err), place = 0;
                for (size_t i = 0; i < n; i++)
                        if (streq(rows[i].id, id))
                                place = i + 1;
                rows_release(rows, n);
                if (q->o.json) {
                        json_t *doc =
                            json_pack("{s:s, s:b, s:s, s:s, s:I, s:I}", "project", q->project,
                                      "queued", 1, "slurm_job", id, "reason", j.reason, "position",
                                      (json_int_t)place, "waiting", (json_int_t)n);
                        output_json(doc);
                        json_decref(doc);
                } else {
                        printf("'%s' waits for GPUs: Slurm job %s, position %zu of %zu (%s).\n",
                               q->project, id, place, n, j.reason);
                        printf("  It is deployed when Slurm starts the job; container-list "
                               "shows it then.\n"
                               "  gpu-queue shows the queue; gpu-queue leave %s stops "
                               "waiting.\n",
                               q->project);
                }
                fflush(stdout);
                if (!q->o.open)
                        return 0;
                while (job_now(info, id, &j) == 0 && streq(j.state, "PENDING"))
                        sleep(2);
        }
        return wait_for_container(cmd, q, info, id, path);
}

/* --- the job step -------------------------------------------------------------------------------
 */

/* At most this long between two looks at the job's end (an administrator may move it) */
#define STEP_RECHECK_MS (10 * 60 * 1000)

/* Slurm's times ("UNLIMITED", "[DAYS-]HOURS:MIN:SEC", "MIN:SEC", "DAYS-HOURS") in seconds; -1
 * for none or not a time. */
static int64_t slurm_secs(const char *s)
{
        s += strspn(s, " ");
        int64_t days = 0, f[3] = {0}, secs = 0;
        const char *dash = strchr(s, '-');
        if (dash) {
                if (!isdigit((unsigned char)*s))
                        return -1;
                days = atoll(s);
                s = dash + 1;
        }
        int n = 0;
        char *end = (char *)s;
        while (n < 3 && isdigit((unsigned char)*s)) {
                f[n++] = strtoll(s, &end, 10);
                if (*end != ':')
                        break;
                s = end + 1;
        }
        if (n == 0 || (*end && !isspace((unsigned char)*end)))
                return -1;
        for (int i = 0; i < n; i++)
                secs = secs * 60 + f[i];
        for (int i = n; dash && i < 3; i++) /* DAYS-HOURS[:MIN] */
                secs *= 60;
        return days * 86400 + secs;
}

/* The job's time limit as the runtime cap in the step's node's cluster.info: a job submitted
 * where that cap is unknown (a login node, or by hand) runs until Slurm's default limit, so the
 * step lowers it (a user may lower, never raise, their job's limit). Lines for the output
 * file. */
static void step_time_limit(const json_t *info, const char *job)
{
        const json_t *cap = json_object_get(info, "time_limit_min");
        if (!json_is_integer(cap))
                return;
        long long min = (long long)json_integer_value(cap);
        const char *look[] = {"-h", "-j", job, "-o", "%l", NULL};
        _cleanup_free_ char *out = NULL, *errout = NULL;
        int r = slurm_run(info, "squeue", look, &out, &errout);
        if (r == 0) {
                int64_t limit = slurm_secs(out);
                if (limit >= 0 && limit <= min * 60)
                        return;
                _cleanup_free_ char *id = xasprintf("JobId=%s", job);
                _cleanup_free_ char *tl = xasprintf("TimeLimit=%lld", min);
                const char *update[] = {"update", id, tl, NULL};
                free(out);
                free(errout);
                r = slurm_run(info, "scontrol", update, &out, &errout);
        }
        if (r == 0)
                printf("ds01-slurm-job: time limit set to the runtime cap, %lld min\n", min);
        else
                printf("ds01-slurm-job: cannot set the time limit to the runtime cap (%lld min): "
                       "%s - this step stops the container at the cap itself\n",
                       min, errout);
        fflush(stdout);
}

/* Milliseconds until the step must stop the container so that it has its grace
 * (signal_before_end_s) before the job's end: the end Slurm has now, or the runtime cap from
 * cap_end_ms when that is sooner (the time limit could not be lowered); -1 when the job has no
 * end. The step's own clock, so that a job submitted without --signal (a login node's) still
 * gives the container its grace; with --signal, whichever comes first. */
static int64_t step_wake_ms(const json_t *info, const char *job, int64_t cap_end_ms)
{
        const char *args[] = {"-h", "-j", job, "-o", "%L", NULL};
        _cleanup_free_ char *out = NULL, *errout = NULL;
        int64_t now = now_ms(), end = cap_end_ms;
        bool known = true;
        if (slurm_run(info, "squeue", args, &out, &errout) == 0) {
                int64_t left = slurm_secs(out);
                if (left >= 0 && (end < 0 || now + left * 1000 < end))
                        end = now + left * 1000;
        } else
                known = false; /* no news: look again soon */
        if (end < 0)
                return known ? -1 : STEP_RECHECK_MS;
        int64_t before = json_integer_value(json_object_get(info, "signal_before_end_s"));
        int64_t wake = end - before * 1000 - now;
        if (!known && wake > STEP_RECHECK_MS)
                return STEP_RECHECK_MS;
        return wake < 0 ? 0 : wake;
}

/* Waits for a signal in set, or for the moment to stop before the job's end (0). */
static int step_wait(const sigset_t *set, const json_t *info, const char *job, int64_t cap_end_ms)
{
        for (;;) {
                int64_t ms = info ? step_wake_ms(info, job, cap_end_ms) : -1;
                if (ms == 0)
                        return 0;
                if (ms < 0) {
                        int sig = 0;
                        if (sigwait(set, &sig) == 0)
                                return sig;
                        continue;
                }
                if (ms > STEP_RECHECK_MS)
                        ms = STEP_RECHECK_MS;
                struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
                int sig = sigtimedwait(set, NULL, &ts);
                if (sig > 0)
                        return sig;
                /* the timeout (EAGAIN) or EINTR: look at the job's end again */
        }
}

int cmd_slurm_job(const struct cli_command *cmd, int argc, char **argv)
{
        /* blocked from the start: a TERM during the deploy is taken after it */
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGHUP);
        sigprocmask(SIG_BLOCK, &set, NULL);

        _cleanup_(deploy_req_release) struct deploy_req q = {0};
        int r = deploy_parse(cmd, argc, argv, &q);
        if (r != CLI_CONTINUE)
                return r;
        const char *job = getenv("SLURM_JOB_ID");
        if (!job || !*job)
                return cli_usage_error(cmd, "is the step of container-deploy's Slurm job and "
                                            "needs SLURM_JOB_ID - run container-deploy instead");
        if (q.o.gpus || q.o.mig || q.o.cpu_only || q.o.wait || q.o.slurm_job)
                return cli_usage_error(cmd, "takes its job's GPUs: no --gpus, --mig, "
                                            "--cpu-only, --wait or --slurm-job");
        q.o.slurm_job = job;
        /* before the deploy, so that the job's limit is right once its container is */
        bool no_daemon = false; /* then the deploy below says why */
        _cleanup_(json_decrefp) json_t *info = node_info(&no_daemon);
        const json_t *cap = info ? json_object_get(info, "time_limit_min") : NULL;
        int64_t cap_end_ms = json_is_integer(cap) ? now_ms() + json_integer_value(cap) * 60000 : -1;
        if (info)
                step_time_limit(info, job);
        json_t *params = deploy_params(&q);
        _cleanup_error_ struct error *err = NULL;
        json_t *res = NULL;
        {
                _cleanup_client_ struct client c = CLIENT_INIT;
                if (client_open(&c, &err) < 0)
                        json_decref(params);
                if (err || client_call(&c, "container.deploy", params, &res, NULL, &err) < 0) {
                        int code = output_error("container-deploy", err);
                        fflush(stderr);
                        printf(MARK_FAILED "%d\n", code);
                        return code;
                }
        }
        _cleanup_free_ char *text = json_dumps(res, JSON_COMPACT);
        json_decref(res);
        printf(MARK_DEPLOYED "%s\n", text ? text : "{}");
        fflush(stdout);

        int sig = step_wait(&set, info, job, cap_end_ms);
        printf("ds01-slurm-job: %s: stopping '%s' with its grace\n",
               sig ? strsignal(sig) : "the job's time limit is near", q.project);
        fflush(stdout);
        /* the container may be stopped or gone already (ds01d ends the job when it stops
         * first): that is the end wanted, quietly */
        _cleanup_client_ struct client c = CLIENT_INIT;
        json_t *stopped = NULL;
        if (client_open(&c, &err) < 0 ||
            client_call(&c, "container.stop", json_pack("{s:s}", "name", q.project), &stopped, NULL,
                        &err) < 0) {
                if (err->code != DS01_ENOTFOUND)
                        output_error("container-stop", err);
                return 0;
        }
        json_decref(stopped);
        printf("ds01-slurm-job: '%s' stopped\n", q.project);
        return 0;
}

/* --- gpu-queue ----------------------------------------------------------------------------------
 */

static void rows_release(struct queue_row *rows, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                free(rows[i].id);
                free(rows[i].user);
                free(rows[i].project);
                free(rows[i].gres);
                free(rows[i].reason);
        }
        free(rows);
}

static int row_cmp(const void *a, const void *b)
{
        const struct queue_row *x = a, *y = b;
        if (x->priority != y->priority)
                return x->priority > y->priority ? -1 : 1;
        long long ix = atoll(x->id), iy = atoll(y->id);
        return ix < iy ? -1 : ix > iy;
}

/* sprio's priorities (priority/multifactor) by job id, into rows; false without sprio's
 * answer (priority/basic): squeue's stays. */
static void sprio_priorities(const json_t *info, struct queue_row *rows, size_t n)
{
        const char *args[] = {"-h", "-o", "%i|%Y", NULL};
        _cleanup_free_ char *out = NULL, *errout = NULL;
        if (slurm_run(info, "sprio", args, &out, &errout) != 0)
                return;
        char *save = NULL;
        for (char *l = strtok_r(out, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
                char *bar = strchr(l, '|');
                if (!bar)
                        continue;
                *bar = '\0';
                char *id = l + strspn(l, " ");
                for (size_t i = 0; i < n; i++)
                        if (streq(rows[i].id, id))
                                rows[i].priority = atoll(bar + 1);
        }
}

/* Slurm's pending jobs named ds01:*, highest priority first. The job name is the user's text:
 * it is the last field, so a '|' in it cannot move the others. */
static size_t slurm_pending(const json_t *info, struct queue_row **ret, struct error **err)
{
        const char *args[] = {"-h", "-t", "PD", "-o", "%i|%u|%Q|%b|%r|%j", NULL};
        _cleanup_free_ char *out = NULL, *errout = NULL;
        *ret = NULL;
        if (slurm_run(info, "squeue", args, &out, &errout) != 0) {
                error_set(err, DS01_ERR, "cannot ask Slurm for its queue: squeue: %s", errout);
                return 0;
        }
        struct queue_row *rows = NULL;
        size_t n = 0;
        char *save = NULL;
        for (char *l = strtok_r(out, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
                char *f[6] = {l};
                size_t k = 1;
                for (; k < 6; k++) {
                        char *bar = strchr(f[k - 1], '|');
                        if (!bar)
                                break;
                        *bar = '\0';
                        f[k] = bar + 1;
                }
                if (k < 6 || strncmp(f[5], JOB_PREFIX, strlen(JOB_PREFIX)) != 0)
                        continue;
                rows = xrealloc(rows, (n + 1) * sizeof(*rows));
                rows[n++] = (struct queue_row){
                    xstrdup(f[0]), xstrdup(f[1]), xstrdup(f[5] + strlen(JOB_PREFIX)),
                    xstrdup(f[3]), xstrdup(f[4]), atoll(f[2])};
        }
        sprio_priorities(info, rows, n);
        if (n > 1)
                qsort(rows, n, sizeof(*rows), row_cmp);
        *ret = rows;
        return n;
}

/* "gres:gpu:2" / "gres/gpu:2" / "gpu:2" -> "2" */
static const char *gres_count(const char *gres)
{
        const char *p = strrchr(gres, ':');
        return p && p[1] ? p + 1 : gres;
}

static int queue_leave(const struct cli_command *cmd, const json_t *info, const char *project,
                       bool json)
{
        struct passwd *pw = getpwuid(getuid());
        struct queue_row *rows = NULL;
        _cleanup_error_ struct error *err = NULL;
        size_t n = slurm_pending(info, &rows, &err);
        if (err)
                return output_error(cmd->name, err);
        const char *id = NULL;
        for (size_t i = 0; i < n && !id; i++)
                if (pw && streq(rows[i].user, pw->pw_name) && streq(rows[i].project, project))
                        id = rows[i].id;
        int r = 0;
        if (!id) {
                fprintf(stderr, "%s: no job of yours waits for '%s' (gpu-queue shows yours)\n",
                        cmd->name, project);
                r = DS01_ENOTFOUND;
        } else {
                const char *args[] = {id, NULL};
                _cleanup_free_ char *out = NULL, *errout = NULL;
                if (slurm_run(info, "scancel", args, &out, &errout) != 0) {
                        _cleanup_free_ char *safe = term_safe(errout);
                        fprintf(stderr, "%s: scancel %s failed: %s\n", cmd->name, id, safe);
                        r = DS01_ERR;
                } else if (json) {
                        json_t *doc = json_pack("{s:s, s:s, s:s}", "project", project, "user",
                                                pw->pw_name, "slurm_job", id);
                        output_json(doc);
                        json_decref(doc);
                } else
                        printf("'%s' of %s left the queue (Slurm job %s cancelled)\n", project,
                               pw->pw_name, id);
        }
        rows_release(rows, n);
        return r;
}

int slurm_queue(const struct cli_command *cmd, const struct cli_args *a, bool json, bool all)
{
        _cleanup_(json_decrefp) json_t *info = cluster_info();
        if (!info)
                return CLI_CONTINUE;
        if (a->n_pos > 0 && !streq(a->pos[0], "list")) {
                if ((streq(a->pos[0], "leave") || streq(a->pos[0], "remove")) && a->n_pos == 2)
                        return queue_leave(cmd, info, a->pos[1], json);
                return cli_usage_error(cmd, "in a Slurm cluster: 'gpu-queue' or 'gpu-queue leave "
                                            "PROJECT' (administrators use scancel and scontrol "
                                            "for others' jobs)");
        }
        struct passwd *pw = getpwuid(getuid());
        const char *me = pw ? pw->pw_name : "";
        bool admin = cli_jbool(info, "admin");
        struct queue_row *rows = NULL;
        _cleanup_error_ struct error *err = NULL;
        size_t n = slurm_pending(info, &rows, &err);
        if (err)
                return output_error(cmd->name, err);
        json_t *list = json_array();
        static const char *const h[] = {"POS",  "JOB",    "USER",    "PROJECT",
                                        "GPUS", "REASON", "PRIORITY"};
        _cleanup_table_ struct table *t = table_new(ARRAY_SIZE(h), h);
        size_t shown = 0;
        for (size_t i = 0; i < n; i++) {
                /* a user sees their own; an administrator everyone's with --all */
                if (!streq(rows[i].user, me) && !(admin && all))
                        continue;
                char pos[32], prio[32];
                snprintf(pos, sizeof(pos), "%zu", i + 1);
                snprintf(prio, sizeof(prio), "%lld", (long long)rows[i].priority);
                const char *gpus = gres_count(rows[i].gres);
                _cleanup_free_ char *project = term_safe(rows[i].project);
                table_add_row(t, (const char *const[]){pos, rows[i].id, rows[i].user, project, gpus,
                                                       rows[i].reason, prio});
                json_array_append_new(list,
                                      json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:I}", "position",
                                                (json_int_t)(i + 1), "slurm_job", rows[i].id,
                                                "user", rows[i].user, "project", rows[i].project,
                                                "gpus", gpus, "reason", rows[i].reason, "priority",
                                                (json_int_t)rows[i].priority));
                shown++;
        }
        if (json) {
                json_t *doc = json_pack("{s:b, s:I, s:o}", "slurm", 1, "waiting", (json_int_t)n,
                                        "requests", list);
                output_json(doc);
                json_decref(doc);
        } else {
                json_decref(list);
                if (shown == 0)
                        printf("No job of yours waits in Slurm's queue (%zu ds01 job%s wait).\n", n,
                               n == 1 ? "" : "s");
                else {
                        table_print(t, stdout, false);
                        printf("%zu ds01 job%s wait in Slurm's queue.\n", n, n == 1 ? "" : "s");
                }
        }
        rows_release(rows, n);
        return 0;
}
