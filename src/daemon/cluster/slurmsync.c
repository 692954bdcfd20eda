/* slurmsync.c - running sacctmgr for `ds01 slurm-sync` and `ds01 health` (see slurmsync.h). */
#include "daemon/cluster/slurmsync.h"

#include "daemon/cluster/slurmcmd.h"
#include "daemon/cluster/slurmplan.h"
#include "daemon/config/config.h"
#include "daemon/config/limits.h"
#include "shared/log.h"
#include "shared/strbuf.h"
#include "shared/strv.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

#define SACCTMGR_TIMEOUT_MS (60 * 1000) /* it retries an unreachable slurmdbd for a while */
#define SACCTMGR_MAX_OUTPUT (8u << 20)

static pthread_mutex_t sync_lock = PTHREAD_MUTEX_INITIALIZER;
static bool sync_running;

/* --- sacctmgr ----------------------------------------------------------------------------------
 */

/* sacctmgr FLAG args...: its stdout in *ret_out; an error with its stderr when it fails. */
static int sacctmgr(const struct config_cluster *cl, const char *flag, char *const *args,
                    char **ret_out, struct error **err)
{
        size_t n = 0;
        while (args[n])
                n++;
        _cleanup_free_ const char **argv = xcalloc(n + 2, sizeof(*argv));
        argv[0] = flag;
        for (size_t i = 0; i < n; i++)
                argv[i + 1] = args[i];
        _cleanup_free_ char *out = NULL, *errout = NULL;
        int r = slurmcmd_run(cl, "sacctmgr", argv, SACCTMGR_TIMEOUT_MS, NULL, SACCTMGR_MAX_OUTPUT,
                             &out, &errout, err);
        if (r == -1)
                return -1;
        if (r != 0) {
                char *e = errout && *errout ? errout : out ? out : "";
                for (char *p = e; *p; p++) /* one line: its message goes into ds01's */
                        if (*p == '\n')
                                *p = p[1] ? ' ' : '\0';
                if (r == -2)
                        return error_set(err, DS01_ERR,
                                         "sacctmgr was stopped after %d s: slurmdbd does not "
                                         "answer (%.400s)",
                                         SACCTMGR_TIMEOUT_MS / 1000, e);
                return error_set(err, DS01_ERR, "sacctmgr exited with %d: %.400s", r, e);
        }
        if (ret_out)
                *ret_out = TAKE_PTR(out);
        return 0;
}

static int show(const struct config_cluster *cl, const char *const *args, char **ret_out,
                struct error **err)
{
        return sacctmgr(cl, "-nP", (char *const *)args, ret_out, err);
}

/* What sacctmgr says there is, on cl's cluster. */
static int read_have(const struct config_cluster *cl, struct slurm_state *have, struct error **err)
{
        _cleanup_free_ char *where = xasprintf("cluster=%s", cl->name);
        const char *qos[] = {"show", "qos", "format=Name,Description,MaxTRESPU,MaxWall", NULL};
        const char *acc[] = {"show", "account", "format=Account,Description", NULL};
        const char *assoc[] = {
            "show", "assoc", "where", where, "format=Account,User,Fairshare,QOS,DefaultQOS", NULL};
        const char *users[] = {"show", "user", "format=User,DefaultAccount", NULL};
        _cleanup_free_ char *q = NULL, *a = NULL, *s = NULL, *u = NULL;
        if (show(cl, qos, &q, err) < 0 || show(cl, acc, &a, err) < 0 ||
            show(cl, assoc, &s, err) < 0 || show(cl, users, &u, err) < 0)
                return -1;
        /* the accounts before their associations: those carry the accounts' settings */
        if (slurmplan_parse_qos(have, q, err) < 0 || slurmplan_parse_accounts(have, a, err) < 0 ||
            slurmplan_parse_assocs(have, s, err) < 0 || slurmplan_parse_defaults(have, u, err) < 0)
                return -1;
        return 0;
}

/* --- what the limits file asks for ------------------------------------------------------------ */

static int want_groups(const struct config_cluster *cl, const struct limits *l,
                       struct slurm_state *want, struct error **err)
{
        const char *const *groups = limits_groups(l);
        for (size_t i = 0; groups[i]; i++) {
                _cleanup_free_ char *name = slurmplan_object_name(cl->account_prefix, groups[i]);
                if (!name)
                        return error_set(err, DS01_EUSAGE,
                                         "limits group '%s' cannot be a Slurm account: '%s%s' must "
                                         "be at most %d of a-z, 0-9 and '_' - rename the group",
                                         groups[i], cl->account_prefix, groups[i],
                                         SLURMPLAN_NAME_MAX);
                for (size_t k = 0; k < want->n_accounts; k++)
                        if (streq(want->accounts[k].name, name))
                                return error_set(err, DS01_EUSAGE,
                                                 "limits groups '%s' and '%s' would both be Slurm "
                                                 "account '%s' - rename one",
                                                 want->accounts[k].descr + strlen(SLURMPLAN_DESCR),
                                                 groups[i], name);
                struct limit_set ls;
                limits_group_values(l, groups[i], &ls);
                slurmplan_want_group(want, name, groups[i], ls.max_gpu_equivalents,
                                     ls.max_runtime_h, ls.priority);
        }
        return 0;
}

/* The users the files name (members files, inline members, group-overrides.txt), each in the
 * group limits_resolve gives them; archived users are left out. */
static int want_users(const struct config_cluster *cl, const struct limits *l,
                      struct slurm_state *want, struct error **err)
{
        _cleanup_strv_ struct strv users = {0};
        const char *const *groups = limits_groups(l);
        for (size_t i = 0; groups[i]; i++) {
                const char *const *m;
                size_t n = limits_group_members(l, groups[i], &m);
                for (size_t k = 0; k < n; k++)
                        if (!strv_contains(&users, m[k]))
                                strv_push(&users, m[k]);
        }
        _cleanup_free_ const char **fu = NULL, **fg = NULL;
        size_t nf = limits_forced_users(l, &fu, &fg);
        for (size_t k = 0; k < nf; k++)
                if (!strv_contains(&users, fu[k]))
                        strv_push(&users, fu[k]);
        for (size_t i = 0; i < users.n; i++) {
                const char *u = users.v[i];
                if (limits_archived(l, u))
                        continue;
                struct limit_set ls;
                limits_resolve(l, u, NULL, 0, &ls);
                _cleanup_free_ char *acc = slurmplan_object_name(cl->account_prefix, ls.group);
                limit_set_release(&ls);
                if (!slurmplan_name_valid(u))
                        return error_set(err, DS01_EUSAGE,
                                         "user '%s' of the limits files is not a name Slurm takes "
                                         "(lower-case a-z, 0-9, '_', then also '.' and '-'): "
                                         "fix the login there",
                                         u);
                if (acc)
                        slurmplan_want_user(want, u, acc);
        }
        return 0;
}

/* The plan for v's generation: from Slurm as it is to the limits file. */
static int plan(struct ds01d *v, struct slurm_plan *ret, struct error **err)
{
        const struct config_cluster *cl = v->cfg->cluster;
        struct slurm_state want = {0}, have = {0};
        int r = want_groups(cl, v->limits, &want, err);
        if (r == 0)
                r = want_users(cl, v->limits, &want, err);
        if (r == 0)
                r = read_have(cl, &have, err);
        if (r == 0)
                r = slurmplan_diff(&want, &have, cl->name, cl->account_prefix, ret, err);
        slurm_state_release(&want);
        slurm_state_release(&have);
        return r;
}

/* --- applying -------------------------------------------------------------------------------- */

static const char *op_name(enum slurm_op op)
{
        switch (op) {
        case SLURM_ADD:
                return "add";
        case SLURM_CHANGE:
                return "change";
        case SLURM_REMOVE:
                return "remove";
        }
        return "?";
}

/* Runs the steps in order; stops at the first that fails, naming it and those before it. */
static int apply(const struct config_cluster *cl, const struct slurm_plan *p, struct error **err)
{
        for (size_t i = 0; i < p->n; i++) {
                struct error *e = NULL;
                if (sacctmgr(cl, "-i", p->steps[i].args, NULL, &e) == 0)
                        continue;
                _cleanup_(strbuf_release) struct strbuf done = STRBUF_INIT;
                for (size_t k = 0; k < i; k++)
                        strbuf_addf(&done, "%s%s %s", k ? "; " : "", op_name(p->steps[k].op),
                                    p->steps[k].what);
                error_set(err, DS01_ERR,
                          "step %zu of %zu failed (%s %s): %s; applied before it: %s - fix the "
                          "cause and run 'ds01 slurm-sync --apply' again (every step is safe to "
                          "repeat)",
                          i + 1, p->n, op_name(p->steps[i].op), p->steps[i].what, e->message,
                          i ? strbuf_str(&done) : "nothing");
                error_free(e);
                return -1;
        }
        return 0;
}

static bool begin(void)
{
        pthread_mutex_lock(&sync_lock);
        bool ok = !sync_running;
        sync_running = true;
        pthread_mutex_unlock(&sync_lock);
        return ok;
}

static void end(void)
{
        pthread_mutex_lock(&sync_lock);
        sync_running = false;
        pthread_mutex_unlock(&sync_lock);
}

static json_t *changes_json(const struct slurm_plan *p)
{
        json_t *a = json_array();
        for (size_t i = 0; i < p->n; i++)
                json_array_append_new(a, json_pack("{s:s, s:s}", "op", op_name(p->steps[i].op),
                                                   "what", p->steps[i].what));
        return a;
}

int slurmsync_handle(struct ds01d *v, const struct caller *c, json_t *params, json_t **ret_result,
                     struct error **err)
{
        const struct config_cluster *cl = v->cfg->cluster;
        if (!cl)
                return error_set(err, DS01_EUSAGE,
                                 "%s has no 'cluster:' key: slurm-sync is for ds01 hosts in a "
                                 "Slurm cluster (cluster: {backend: slurm, name: CLUSTER})",
                                 v->cfg->source);
        bool do_apply = json_is_true(json_object_get(params, "apply"));
        if (!begin())
                return error_set(err, DS01_ERESOURCE,
                                 "another slurm-sync is running; try again when it has finished");
        struct slurm_plan p = {0};
        int r = plan(v, &p, err);
        if (r == 0 && do_apply && p.n > 0) {
                r = apply(cl, &p, err);
                if (r == 0)
                        log_notice("slurm-sync by %s: %zu change(s) applied on cluster %s",
                                   c->login, p.n, cl->name);
                else
                        log_warning("slurm-sync by %s: %s", c->login, (*err)->message);
        }
        end();
        if (r == 0)
                *ret_result = json_pack("{s:s, s:o, s:b}", "cluster", cl->name, "changes",
                                        changes_json(&p), "applied", do_apply);
        slurm_plan_release(&p);
        return r;
}

int slurmsync_drift(struct ds01d *v, size_t *ret_n, char **ret_first, struct error **err)
{
        struct slurm_plan p = {0};
        if (plan(v, &p, err) < 0)
                return -1;
        *ret_n = p.n;
        *ret_first = p.n ? xasprintf("%s %s", op_name(p.steps[0].op), p.steps[0].what) : NULL;
        slurm_plan_release(&p);
        return 0;
}
