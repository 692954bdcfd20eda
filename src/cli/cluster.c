/* cluster.c - routing container commands to the node of their Slurm job (see cluster.h). */
#include "cluster.h"

#include "client.h"
#include "output.h"

#include "../shared/spawn.h"
#include "../shared/strbuf.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

/* Set in the environment of the command srun runs on the job's node: there the container is
 * local (or missing), and the command must not go round again. */
#define HOP_ENV          "DS01_CLUSTER_HOP"
#define LOGIN_ENV        "DS01_CLUSTER_SLURM_CONF"
#define JOB_PREFIX       "ds01:"
#define SQUEUE_TIMEOUT   20000
#define REMOTE_TIMEOUT   60000
#define MAX_OUTPUT_BYTES (16u << 20)

struct cluster {
        bool enabled;
        bool local;       /* a ds01d answers on this host */
        char *node;       /* this host's NodeName; NULL on a login node */
        char *slurm_conf; /* SLURM_CONF for Slurm's commands; NULL: the user's own */
        char *slurm_bin;  /* the directory of srun and squeue; NULL: PATH */
};

struct job {
        long long id;
        char *node; /* the first node of the job (its batch host) */
};

static void cluster_release(struct cluster *cl)
{
        free(cl->node);
        free(cl->slurm_conf);
        free(cl->slurm_bin);
}

static char *jdup(const json_t *o, const char *key)
{
        const char *s = json_string_value(json_object_get(o, key));
        return s && *s ? xstrdup(s) : NULL;
}

/* What the local ds01d says; else the login node's environment; else not in a cluster. */
static void cluster_get(struct cluster *cl)
{
        *cl = (struct cluster){0};
        if (getenv(HOP_ENV))
                return;
        _cleanup_client_ struct client c = CLIENT_INIT;
        _cleanup_error_ struct error *err = NULL;
        if (client_open(&c, &err) == 0) {
                cl->local = true;
                json_t *res = NULL;
                /* an older ds01d without cluster.info is a single server */
                if (client_call(&c, "cluster.info", NULL, &res, NULL, &err) < 0)
                        return;
                cl->enabled = cli_jbool(res, "enabled");
                cl->node = jdup(res, "node");
                cl->slurm_conf = jdup(res, "slurm_conf");
                cl->slurm_bin = jdup(res, "slurm_bin");
                json_decref(res);
                return;
        }
        const char *conf = NULL;
        if (cluster_login(&conf)) {
                cl->enabled = true;
                cl->slurm_conf = conf ? xstrdup(conf) : NULL;
        }
}

bool cluster_login(const char **ret_conf)
{
        const char *conf = getenv(LOGIN_ENV);
        *ret_conf = conf && *conf ? conf : NULL;
        return conf && !getenv(HOP_ENV);
}

char *cluster_slurm_prog(const char *slurm_bin, const char *prog)
{
        if (slurm_bin && *slurm_bin)
                return xasprintf("%s/%s", slurm_bin, prog);
        const char *path = getenv("PATH");
        _cleanup_free_ char *copy = xstrdup(path && *path ? path : "/usr/bin:/bin");
        char *save = NULL;
        for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
                char *p = xasprintf("%s/%s", dir, prog);
                if (access(p, X_OK) == 0)
                        return p;
                free(p);
        }
        return xstrdup(prog);
}

static char *slurm_prog(const struct cluster *cl, const char *prog)
{
        return cluster_slurm_prog(cl->slurm_bin, prog);
}

char **cluster_slurm_env(const char *slurm_conf, bool routed, bool hop)
{
        extern char **environ;
        size_t n = 0;
        while (environ[n])
                n++;
        char **env = xcalloc(n + 3, sizeof(*env));
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
                if ((routed && startswith(environ[i], "DS01_SOCKET=")) ||
                    startswith(environ[i], HOP_ENV "=") ||
                    (slurm_conf && startswith(environ[i], "SLURM_CONF=")))
                        continue;
                env[k++] = xstrdup(environ[i]);
        }
        if (slurm_conf)
                env[k++] = xasprintf("SLURM_CONF=%s", slurm_conf);
        if (hop)
                env[k++] = xstrdup(HOP_ENV "=1");
        return env;
}

/* The routing's environment for srun and squeue (see cluster_slurm_env). */
static char **slurm_env(const struct cluster *cl, bool hop)
{
        return cluster_slurm_env(cl->slurm_conf, true, hop);
}

void cluster_env_free(char **env)
{
        for (size_t i = 0; env && env[i]; i++)
                free(env[i]);
        free(env);
}

static void jobs_free(struct job *jobs, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(jobs[i].node);
        free(jobs);
}

/* The first host of a Slurm host list: "n[1-3],m" -> "n1". */
static char *first_host(const char *list)
{
        size_t n = strcspn(list, "[,");
        if (list[n] != '[')
                return xstrndup(list, n);
        const char *r = list + n + 1;
        return xasprintf("%.*s%.*s", (int)n, list, (int)strcspn(r, "-,]"), r);
}

/* The caller's RUNNING ds01 jobs (all, or project's), from `squeue --me`: Slurm shows a user
 * only their own here. Lines are "ID|NODELIST|NAME"; the name, which the user chose, comes
 * last so a '|' in it cannot shift the other fields. */
static int running_jobs(const struct cluster *cl, const char *project, struct job **ret,
                        size_t *ret_n, struct error **err)
{
        _cleanup_free_ char *squeue = slurm_prog(cl, "squeue");
        const char *argv[] = {squeue, "--me", "-h", "-t", "RUNNING", "-o", "%i|%N|%j", NULL};
        char **env = slurm_env(cl, false);
        _cleanup_free_ char *out = NULL, *errtext = NULL;
        int st = spawn_capture(squeue, argv, (const char *const *)env, SQUEUE_TIMEOUT,
                               MAX_OUTPUT_BYTES, &out, &errtext);
        cluster_env_free(env);
        if (st != 0) {
                if (st == -1)
                        return error_set_errno(err, errno, "cannot run %s", squeue);
                char *nl = errtext ? strchr(errtext, '\n') : NULL;
                if (nl)
                        *nl = '\0';
                return error_set(err, DS01_ERR, "cannot ask Slurm for your jobs (squeue%s%s)",
                                 errtext && *errtext ? ": " : "", errtext ? errtext : "");
        }
        struct job *jobs = NULL;
        size_t n = 0;
        char *save = NULL;
        for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *node = strchr(line, '|');
                char *name = node ? strchr(node + 1, '|') : NULL;
                if (!name)
                        continue;
                *node++ = '\0';
                *name++ = '\0';
                char *end;
                long long id = strtoll(line, &end, 10);
                if (*end || id <= 0 || !startswith(name, JOB_PREFIX) || !*node)
                        continue;
                if (project && !streq(name + strlen(JOB_PREFIX), project))
                        continue;
                jobs = xrealloc(jobs, (n + 1) * sizeof(*jobs));
                jobs[n++] = (struct job){id, first_host(node)};
        }
        *ret = jobs;
        *ret_n = n;
        return 0;
}

/* The argv of `srun --overlap --jobid ID [--pty] <this CLI> COMMAND ARGS...`. */
static char **srun_argv(const struct cluster *cl, long long job, bool pty,
                        const struct cli_command *cmd, int argc, char **argv)
{
        char **v = xcalloc((size_t)argc + 12, sizeof(*v));
        size_t k = 0;
        v[k++] = slurm_prog(cl, "srun");
        v[k++] = xstrdup("--overlap");
        v[k++] = xasprintf("--jobid=%lld", job);
        v[k++] = xstrdup("--nodes=1");
        v[k++] = xstrdup("--ntasks=1");
        v[k++] = xstrdup("--quiet");
        if (pty)
                v[k++] = xstrdup("--pty");
        /* the same binary: every node has the CLI at the same path */
        char self[4096];
        ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
        v[k++] = len > 0 ? xstrndup(self, (size_t)len) : xstrdup("ds01");
        v[k++] = xstrdup(cmd->name);
        for (int i = 1; i < argc; i++)
                v[k++] = xstrdup(argv[i]);
        return v;
}

/* The project a NAME means: "proj" or "proj._.user". */
static char *project_of(const char *name)
{
        const char *sep = strstr(name, "._.");
        return sep ? xstrndup(name, (size_t)(sep - name)) : xstrdup(name);
}

/* Whether this node's ds01d has the caller's container NAME (project or full name). */
static bool local_has(const char *name)
{
        _cleanup_client_ struct client c = CLIENT_INIT;
        _cleanup_error_ struct error *err = NULL;
        json_t *res = NULL;
        if (client_open(&c, &err) < 0 ||
            client_call(&c, "container.list", json_pack("{s:b}", "all", false), &res, NULL, &err) <
                0)
                return false;
        bool found = false;
        size_t i;
        json_t *row;
        json_array_foreach (json_object_get(res, "containers"), i, row)
                if (streq(cli_jstr(row, "name", ""), name) ||
                    streq(cli_jstr(row, "project", ""), name))
                        found = true;
        json_decref(res);
        return found;
}

int cluster_route(const struct cli_command *cmd, const char *name, int argc, char **argv, bool pty)
{
        _cleanup_(cluster_release) struct cluster cl;
        cluster_get(&cl);
        /* a container here is answered here, even while Slurm does not answer */
        if (!cl.enabled || (cl.local && local_has(name)))
                return CLI_CONTINUE;
        _cleanup_free_ char *project = project_of(name);
        _cleanup_error_ struct error *err = NULL;
        struct job *jobs = NULL;
        size_t n = 0;
        if (running_jobs(&cl, project, &jobs, &n, &err) < 0) {
                if (!cl.local)
                        return output_error(cmd->name, err);
                /* this node's answer says it is not here; the note says why no other was asked */
                fprintf(stderr, "note: only this node was asked: %s\n", err->message);
                return CLI_CONTINUE;
        }
        const struct job *there = NULL;
        for (size_t i = 0; i < n && !there; i++)
                if (!cl.node || !streq(jobs[i].node, cl.node))
                        there = &jobs[i];
        if (!there) {
                jobs_free(jobs, n);
                if (cl.local)
                        return CLI_CONTINUE;
                error_set(&err, DS01_ENOTFOUND,
                          "no container '%s' in the cluster: no running job of yours is named "
                          "'" JOB_PREFIX "%s' (squeue --me)",
                          name, project);
                return output_error(cmd->name, err);
        }
        char **v = srun_argv(&cl, there->id, pty && isatty(STDIN_FILENO), cmd, argc, argv);
        char **env = slurm_env(&cl, true);
        jobs_free(jobs, n);
        fflush(stdout);
        execve(v[0], v, env);
        int e = errno;
        fprintf(stderr, "%s: cannot run %s to reach the container's node: %s\n", cmd->name, v[0],
                strerror(e));
        cluster_env_free(env);
        cluster_env_free(v);
        return 1;
}

/* `container-list --json` on the node of job: its containers, each marked with node. */
static int remote_list(const struct cluster *cl, const struct job *job, bool all, json_t *into,
                       struct error **err)
{
        char *args[] = {(char *)"container-list", (char *)"--json", (char *)"--all", NULL};
        static const struct cli_command list = {.name = "container-list"};
        char **v = srun_argv(cl, job->id, false, &list, all ? 3 : 2, args);
        char **env = slurm_env(cl, true);
        _cleanup_free_ char *out = NULL, *errtext = NULL;
        int st = spawn_capture(v[0], (const char *const *)v, (const char *const *)env,
                               REMOTE_TIMEOUT, MAX_OUTPUT_BYTES, &out, &errtext);
        cluster_env_free(env);
        cluster_env_free(v);
        if (st != 0) {
                char *nl = errtext ? strchr(errtext, '\n') : NULL;
                if (nl)
                        *nl = '\0';
                return error_set(err, DS01_ERR, "%s", errtext && *errtext ? errtext : "no answer");
        }
        json_t *res = json_loads(out, 0, NULL);
        json_t *rows = json_object_get(res, "containers");
        if (!json_is_array(rows)) {
                json_decref(res);
                return error_set(err, DS01_ERR, "its answer is not a container list");
        }
        size_t i;
        json_t *row;
        json_array_foreach (rows, i, row) {
                json_object_set_new(row, "node", json_string(job->node));
                json_array_append(into, row);
        }
        json_decref(res);
        return 0;
}

int cluster_list(const struct cli_command *cmd, bool all, json_t **ret_list)
{
        *ret_list = NULL;
        _cleanup_(cluster_release) struct cluster cl;
        cluster_get(&cl);
        if (!cl.enabled)
                return 0;
        json_t *list = json_array();
        if (cl.local) {
                json_t *res = NULL;
                int r = client_oneshot(cmd->name, "container.list", json_pack("{s:b}", "all", all),
                                       &res, NULL);
                if (r != 0) {
                        json_decref(list);
                        return r;
                }
                size_t i;
                json_t *row;
                json_array_foreach (json_object_get(res, "containers"), i, row) {
                        json_object_set_new(row, "node",
                                            cl.node ? json_string(cl.node) : json_null());
                        json_array_append(list, row);
                }
                json_decref(res);
        }
        _cleanup_error_ struct error *err = NULL;
        struct job *jobs = NULL;
        size_t n = 0;
        if (running_jobs(&cl, NULL, &jobs, &n, &err) < 0) {
                fprintf(stderr, "%s: only this node's containers: %s\n", cmd->name, err->message);
                n = 0;
        }
        /* one step per node: any of the user's jobs there reaches that node's ds01d */
        for (size_t i = 0; i < n; i++) {
                bool seen = cl.node && streq(jobs[i].node, cl.node);
                for (size_t j = 0; j < i && !seen; j++)
                        seen = streq(jobs[j].node, jobs[i].node);
                if (seen)
                        continue;
                _cleanup_error_ struct error *rerr = NULL;
                if (remote_list(&cl, &jobs[i], all, list, &rerr) < 0)
                        fprintf(stderr, "%s: node %s does not answer (job %lld): %s\n", cmd->name,
                                jobs[i].node, jobs[i].id, rerr->message);
        }
        jobs_free(jobs, n);
        *ret_list = list;
        return 0;
}
