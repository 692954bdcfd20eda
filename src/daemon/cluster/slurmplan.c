/* slurmplan.c - the Slurm side of the limits file, and the steps to reach it (see slurmplan.h). */
#include "daemon/cluster/slurmplan.h"

#include "shared/parse.h"
#include "shared/strbuf.h"
#include "shared/strv.h"

#include <ctype.h>
#include <math.h>
#include <string.h>

/* --- names ----------------------------------------------------------------------------------- */

bool slurmplan_name_valid(const char *s)
{
        size_t n = strlen(s);
        if (n < 1 || n > SLURMPLAN_NAME_MAX)
                return false;
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)s[i];
                bool ok = islower(c) || isdigit(c) || c == '_' || (i > 0 && (c == '-' || c == '.'));
                if (!ok || !isascii(c))
                        return false;
        }
        return true;
}

char *slurmplan_object_name(const char *prefix, const char *group)
{
        char *s = xasprintf("%s%s", prefix, group);
        for (char *p = s; *p; p++) {
                *p = (char)tolower((unsigned char)*p);
                if (*p == '-' || *p == '.')
                        *p = '_';
        }
        /* account and QOS names: no '-' or '.' at all, so that they read as one word */
        if (!slurmplan_name_valid(s)) {
                free(s);
                return NULL;
        }
        return s;
}

/* --- the state ------------------------------------------------------------------------------- */

void slurm_state_release(struct slurm_state *s)
{
        for (size_t i = 0; i < s->n_qos; i++) {
                free(s->qos[i].name);
                free(s->qos[i].descr);
        }
        for (size_t i = 0; i < s->n_accounts; i++) {
                free(s->accounts[i].name);
                free(s->accounts[i].descr);
                free(s->accounts[i].qos);
                free(s->accounts[i].default_qos);
        }
        for (size_t i = 0; i < s->n_assocs; i++) {
                free(s->assocs[i].user);
                free(s->assocs[i].account);
        }
        for (size_t i = 0; i < s->n_defaults; i++) {
                free(s->defaults[i].user);
                free(s->defaults[i].account);
        }
        free(s->qos);
        free(s->accounts);
        free(s->assocs);
        free(s->defaults);
        *s = (struct slurm_state){0};
}

void slurm_plan_release(struct slurm_plan *p)
{
        for (size_t i = 0; i < p->n; i++) {
                free(p->steps[i].what);
                strv_free(p->steps[i].args);
        }
        free(p->steps);
        *p = (struct slurm_plan){0};
}

static struct slurm_qos *qos_find(const struct slurm_state *s, const char *name)
{
        for (size_t i = 0; i < s->n_qos; i++)
                if (streq(s->qos[i].name, name))
                        return &s->qos[i];
        return NULL;
}

static struct slurm_account *account_find(const struct slurm_state *s, const char *name)
{
        for (size_t i = 0; i < s->n_accounts; i++)
                if (streq(s->accounts[i].name, name))
                        return &s->accounts[i];
        return NULL;
}

static bool assoc_has(const struct slurm_assoc *a, size_t n, const char *user, const char *account)
{
        for (size_t i = 0; i < n; i++)
                if (streq(a[i].user, user) && (!account || streq(a[i].account, account)))
                        return true;
        return false;
}

static const char *default_of(const struct slurm_state *s, const char *user)
{
        for (size_t i = 0; i < s->n_defaults; i++)
                if (streq(s->defaults[i].user, user))
                        return s->defaults[i].account;
        return NULL;
}

static void push_assoc(struct slurm_assoc **v, size_t *n, const char *user, const char *account)
{
        *v = xrealloc(*v, (*n + 1) * sizeof(**v));
        (*v)[(*n)++] = (struct slurm_assoc){xstrdup(user), xstrdup(account)};
}

void slurmplan_want_group(struct slurm_state *want, const char *name, const char *group,
                          double max_gpu_equivalents, double max_runtime_h, int64_t priority)
{
        _cleanup_free_ char *descr = xasprintf(SLURMPLAN_DESCR "%s", group);
        want->qos = xrealloc(want->qos, (want->n_qos + 1) * sizeof(*want->qos));
        want->qos[want->n_qos++] = (struct slurm_qos){
            .name = xstrdup(name),
            .descr = xstrdup(descr),
            /* Slurm counts devices: 1.5 GPU-equivalents may be a GPU and a MIG slice */
            .max_gpus = max_gpu_equivalents < 0 ? -1 : (int64_t)ceil(max_gpu_equivalents),
            .max_wall_min = max_runtime_h < 0 ? -1 : (int64_t)fmax(1, llround(max_runtime_h * 60)),
        };
        want->accounts = xrealloc(want->accounts, (want->n_accounts + 1) * sizeof(*want->accounts));
        want->accounts[want->n_accounts++] = (struct slurm_account){
            .name = xstrdup(name),
            .descr = xstrdup(descr),
            .on_cluster = true,
            .fairshare = priority < 1 ? 1 : priority, /* Slurm's shares start at 1 */
            .qos = xstrdup(name),
            .default_qos = xstrdup(name),
        };
}

void slurmplan_want_user(struct slurm_state *want, const char *user, const char *account)
{
        push_assoc(&want->assocs, &want->n_assocs, user, account);
}

/* --- sacctmgr's output ----------------------------------------------------------------------- */

/* The '|'-separated fields of each non-empty line, exactly nf of them; calls fn per line. */
static int each_line(const char *text, size_t nf, const char *what,
                     int (*fn)(struct slurm_state *, char **f, struct error **),
                     struct slurm_state *s, struct error **err)
{
        _cleanup_free_ char *copy = xstrdup(text ? text : "");
        char *save = NULL;
        for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *f[8] = {0};
                size_t n = 0;
                for (char *p = line; n < ARRAY_SIZE(f);) {
                        f[n++] = p;
                        p = strchr(p, '|');
                        if (!p)
                                break;
                        *p++ = '\0';
                }
                if (n != nf)
                        return error_set(err, DS01_ERR,
                                         "sacctmgr's %s: a line with %zu fields where %zu were "
                                         "asked for: '%.200s'",
                                         what, n, nf, line);
                if (fn(s, f, err) < 0)
                        return -1;
        }
        return 0;
}

int64_t slurmplan_parse_wall(const char *s)
{
        if (!*s)
                return -1;
        int64_t d = 0, part[3];
        const char *dash = strchr(s, '-');
        if (dash) {
                _cleanup_free_ char *ds = strndup(s, (size_t)(dash - s));
                if (parse_int64(ds, 0, 100000, &d) < 0)
                        return -2;
                s = dash + 1;
        }
        size_t n = 0;
        _cleanup_free_ char *copy = xstrdup(s);
        char *save = NULL;
        for (char *t = strtok_r(copy, ":", &save); t; t = strtok_r(NULL, ":", &save)) {
                if (n == 3 || parse_int64(t, 0, 100000, &part[n]) < 0)
                        return -2;
                n++;
        }
        if (n == 3) /* HH:MM:SS */
                return d * 1440 + part[0] * 60 + part[1] + (part[2] > 0);
        if (n == 2 && !dash) /* MM:SS */
                return part[0] + (part[1] > 0);
        if (n == 1 && !dash) /* minutes */
                return part[0];
        return -2;
}

/* gres/gpu=N out of a TRES list ("cpu=4,gres/gpu=2"); -1 when absent. */
static int64_t tres_gpus(const char *s)
{
        const char *p = strstr(s, "gres/gpu=");
        int64_t v;
        if (!p || (p != s && p[-1] != ','))
                return -1;
        _cleanup_free_ char *num = xstrdup(p + strlen("gres/gpu="));
        num[strcspn(num, ",")] = '\0';
        return parse_int64(num, 0, INT64_C(1) << 40, &v) == 0 ? v : -1;
}

static int qos_line(struct slurm_state *s, char **f, struct error **err)
{
        int64_t wall = slurmplan_parse_wall(f[3]);
        if (wall == -2)
                return error_set(err, DS01_ERR, "sacctmgr: QOS %s has MaxWall '%.64s', not a time",
                                 f[0], f[3]);
        s->qos = xrealloc(s->qos, (s->n_qos + 1) * sizeof(*s->qos));
        s->qos[s->n_qos++] =
            (struct slurm_qos){xstrdup(f[0]), xstrdup(f[1]), tres_gpus(f[2]), wall};
        return 0;
}

int slurmplan_parse_qos(struct slurm_state *have, const char *text, struct error **err)
{
        return each_line(text, 4, "QOS list", qos_line, have, err);
}

static int account_line(struct slurm_state *s, char **f, struct error **err)
{
        (void)err;
        s->accounts = xrealloc(s->accounts, (s->n_accounts + 1) * sizeof(*s->accounts));
        s->accounts[s->n_accounts++] = (struct slurm_account){
            .name = xstrdup(f[0]),
            .descr = xstrdup(f[1]),
            .fairshare = -1,
            .qos = xstrdup(""),
            .default_qos = xstrdup(""),
        };
        return 0;
}

int slurmplan_parse_accounts(struct slurm_state *have, const char *text, struct error **err)
{
        return each_line(text, 2, "account list", account_line, have, err);
}

/* An account's own association (no user) gives its settings; a user's is an association. */
static int assoc_line(struct slurm_state *s, char **f, struct error **err)
{
        (void)err;
        if (*f[1]) {
                push_assoc(&s->assocs, &s->n_assocs, f[1], f[0]);
                return 0;
        }
        struct slurm_account *a = account_find(s, f[0]);
        if (!a)
                return 0; /* listed by the association only (removed meanwhile): not ours to judge
                           */
        int64_t fs;
        if (parse_int64(f[2], 0, INT64_MAX, &fs) < 0)
                fs = -1; /* "parent" or Slurm's own spelling: differs from any share ds01 sets */
        a->on_cluster = true;
        a->fairshare = fs;
        free(a->qos);
        a->qos = xstrdup(f[3]);
        free(a->default_qos);
        a->default_qos = xstrdup(f[4]);
        return 0;
}

int slurmplan_parse_assocs(struct slurm_state *have, const char *text, struct error **err)
{
        return each_line(text, 5, "association list", assoc_line, have, err);
}

static int default_line(struct slurm_state *s, char **f, struct error **err)
{
        (void)err;
        push_assoc(&s->defaults, &s->n_defaults, f[0], f[1]);
        return 0;
}

int slurmplan_parse_defaults(struct slurm_state *have, const char *text, struct error **err)
{
        return each_line(text, 2, "user list", default_line, have, err);
}

/* --- the steps ------------------------------------------------------------------------------- */

static bool owned(const char *name, const char *descr, const char *prefix)
{
        return startswith(name, prefix) && startswith(descr, SLURMPLAN_DESCR);
}

/* Takes what and the arguments. */
static void add_step(struct slurm_plan *p, enum slurm_op op, char *what, struct strv *args)
{
        p->steps = xrealloc(p->steps, (p->n + 1) * sizeof(*p->steps));
        p->steps[p->n++] = (struct slurm_step){op, what, strv_take(args)};
}

/* "KEY=VALUE" with a number ("MaxWall=1440"). */
static void push_f(struct strv *sv, const char *key, int64_t v)
{
        _cleanup_free_ char *s = xasprintf("%s%lld", key, (long long)v);
        strv_push(sv, s);
}

static char *limit_text(int64_t v, const char *unit)
{
        return v < 0 ? xstrdup("none") : xasprintf("%lld%s", (long long)v, unit);
}

/* A job over a QOS's own limits (more GPUs than the group may have, a longer time) is refused
 * when it is submitted, as ds01 refuses such a deploy, rather than pending for ever. Not read
 * back from Slurm: a flag removed by hand is put back by the next change of the QOS only. */
#define QOS_FLAGS "Flags=DenyOnLimit"

static void qos_steps(const struct slurm_qos *w, const struct slurm_qos *h, struct slurm_plan *p)
{
        _cleanup_strv_ struct strv a = {0};
        _cleanup_free_ char *g = limit_text(w->max_gpus, ""),
                            *m = limit_text(w->max_wall_min, " min");
        _cleanup_free_ char *descr = xasprintf("Description=%s", w->descr);
        if (!h) {
                strv_push(&a, "add");
                strv_push(&a, "qos");
                strv_push(&a, w->name);
                strv_push(&a, descr);
                if (w->max_gpus >= 0)
                        push_f(&a, "MaxTRESPerUser=gres/gpu=", w->max_gpus);
                if (w->max_wall_min >= 0)
                        push_f(&a, "MaxWall=", w->max_wall_min);
                strv_push(&a, QOS_FLAGS);
                add_step(p, SLURM_ADD,
                         xasprintf("qos %s: gres/gpu per user %s, MaxWall %s", w->name, g, m), &a);
                return;
        }
        if (h->max_gpus == w->max_gpus && h->max_wall_min == w->max_wall_min &&
            streq(h->descr, w->descr))
                return;
        _cleanup_free_ char *hg = limit_text(h->max_gpus, ""),
                            *hm = limit_text(h->max_wall_min, " min");
        strv_push(&a, "modify");
        strv_push(&a, "qos");
        strv_push(&a, "where");
        _cleanup_free_ char *where = xasprintf("name=%s", w->name);
        strv_push(&a, where);
        strv_push(&a, "set");
        strv_push(&a, descr);
        push_f(&a, "MaxTRESPerUser=gres/gpu=", w->max_gpus); /* -1 clears it */
        push_f(&a, "MaxWall=", w->max_wall_min);
        strv_push(&a, QOS_FLAGS);
        add_step(p, SLURM_CHANGE,
                 xasprintf("qos %s: gres/gpu per user %s -> %s, MaxWall %s -> %s", w->name, hg, g,
                           hm, m),
                 &a);
}

static void account_steps(const struct slurm_account *w, const struct slurm_account *h,
                          const char *cluster, struct slurm_plan *p)
{
        _cleanup_strv_ struct strv a = {0};
        _cleanup_free_ char *c = xasprintf("cluster=%s", cluster);
        _cleanup_free_ char *q = xasprintf("QOS=%s", w->qos),
                            *dq = xasprintf("DefaultQOS=%s", w->default_qos);
        if (!h || !h->on_cluster) { /* a known account with no association here: added too */
                _cleanup_free_ char *descr = xasprintf("Description=%s", w->descr);
                strv_push(&a, "add");
                strv_push(&a, "account");
                strv_push(&a, w->name);
                strv_push(&a, c);
                strv_push(&a, descr);
                strv_push(&a, "Organization=ds01");
                push_f(&a, "Fairshare=", w->fairshare);
                strv_push(&a, q);
                strv_push(&a, dq);
                add_step(p, SLURM_ADD,
                         xasprintf("account %s on %s: Fairshare %lld, QOS %s", w->name, cluster,
                                   (long long)w->fairshare, w->qos),
                         &a);
                return;
        }
        if (h->fairshare == w->fairshare && streq(h->qos, w->qos) &&
            streq(h->default_qos, w->default_qos))
                return;
        _cleanup_free_ char *where = xasprintf("name=%s", w->name);
        strv_push(&a, "modify");
        strv_push(&a, "account");
        strv_push(&a, "where");
        strv_push(&a, where);
        strv_push(&a, c);
        strv_push(&a, "set");
        push_f(&a, "Fairshare=", w->fairshare);
        strv_push(&a, q);
        strv_push(&a, dq);
        add_step(p, SLURM_CHANGE,
                 xasprintf("account %s on %s: Fairshare %lld -> %lld, QOS '%s' -> '%s'", w->name,
                           cluster, (long long)h->fairshare, (long long)w->fairshare, h->qos,
                           w->qos),
                 &a);
}

static void user_step(const char *verb, enum slurm_op op, const char *user, const char *account,
                      const char *cluster, struct slurm_plan *p)
{
        _cleanup_strv_ struct strv a = {0};
        _cleanup_free_ char *n = xasprintf("name=%s", user), *ac = xasprintf("account=%s", account),
                            *c = xasprintf("cluster=%s", cluster);
        strv_push(&a, verb);
        strv_push(&a, "user");
        if (op == SLURM_REMOVE)
                strv_push(&a, "where");
        strv_push(&a, n);
        strv_push(&a, ac);
        strv_push(&a, c);
        add_step(p, op, xasprintf("user %s in account %s on %s", user, account, cluster), &a);
}

static void default_step(const char *user, const char *from, const char *to, const char *cluster,
                         struct slurm_plan *p)
{
        _cleanup_strv_ struct strv a = {0};
        _cleanup_free_ char *n = xasprintf("name=%s", user), *c = xasprintf("cluster=%s", cluster),
                            *d = xasprintf("DefaultAccount=%s", to);
        strv_push(&a, "modify");
        strv_push(&a, "user");
        strv_push(&a, "where");
        strv_push(&a, n);
        strv_push(&a, c);
        strv_push(&a, "set");
        strv_push(&a, d);
        add_step(p, SLURM_CHANGE, xasprintf("user %s: default account %s -> %s", user, from, to),
                 &a);
}

static void remove_step(const char *kind, const char *name, const char *cluster,
                        struct slurm_plan *p)
{
        _cleanup_strv_ struct strv a = {0};
        _cleanup_free_ char *n = xasprintf("name=%s", name),
                            *c = cluster ? xasprintf("cluster=%s", cluster) : NULL;
        strv_push(&a, "remove");
        strv_push(&a, kind);
        strv_push(&a, "where");
        strv_push(&a, n);
        if (c)
                strv_push(&a, c);
        add_step(p, SLURM_REMOVE,
                 cluster ? xasprintf("%s %s on %s", kind, name, cluster)
                         : xasprintf("%s %s", kind, name),
                 &a);
}

static int not_ours(const char *kind, const char *name, const char *descr, struct error **err)
{
        return error_set(err, DS01_EUSAGE,
                         "Slurm already has %s '%s' that ds01 did not make (its description is "
                         "'%s', not '" SLURMPLAN_DESCR "...'): rename or remove it, or give "
                         "cluster.account_prefix another value in ds01.yaml",
                         kind, name, descr);
}

/* What ds01 adds and changes, in the order each needs the one before. */
static int add_and_change(const struct slurm_state *want, const struct slurm_state *have,
                          const char *cluster, const char *prefix, struct slurm_plan *p,
                          struct error **err)
{
        for (size_t i = 0; i < want->n_qos; i++) {
                const struct slurm_qos *h = qos_find(have, want->qos[i].name);
                if (h && !owned(h->name, h->descr, prefix))
                        return not_ours("a QOS", h->name, h->descr, err);
                qos_steps(&want->qos[i], h, p);
        }
        for (size_t i = 0; i < want->n_accounts; i++) {
                const struct slurm_account *h = account_find(have, want->accounts[i].name);
                if (h && !owned(h->name, h->descr, prefix))
                        return not_ours("an account", h->name, h->descr, err);
                account_steps(&want->accounts[i], h, cluster, p);
        }
        for (size_t i = 0; i < want->n_assocs; i++) {
                const struct slurm_assoc *w = &want->assocs[i];
                if (!assoc_has(have->assocs, have->n_assocs, w->user, w->account))
                        user_step("add", SLURM_ADD, w->user, w->account, cluster, p);
                /* a user who changed groups: their default leaves the old ds01 account first
                 * (Slurm does not remove a user's default association) */
                const char *def = default_of(have, w->user);
                const struct slurm_account *da = def ? account_find(have, def) : NULL;
                if (da && !streq(def, w->account) && owned(da->name, da->descr, prefix))
                        default_step(w->user, def, w->account, cluster, p);
        }
        return 0;
}

int slurmplan_diff(const struct slurm_state *want, const struct slurm_state *have,
                   const char *cluster, const char *prefix, struct slurm_plan *ret,
                   struct error **err)
{
        struct slurm_plan p = {0};
        if (add_and_change(want, have, cluster, prefix, &p, err) < 0) {
                slurm_plan_release(&p);
                return -1;
        }
        for (size_t i = 0; i < have->n_assocs; i++) {
                const struct slurm_assoc *h = &have->assocs[i];
                const struct slurm_account *a = account_find(have, h->account);
                if (a && owned(a->name, a->descr, prefix) &&
                    !assoc_has(want->assocs, want->n_assocs, h->user, h->account))
                        user_step("remove", SLURM_REMOVE, h->user, h->account, cluster, &p);
        }
        for (size_t i = 0; i < have->n_accounts; i++) {
                const struct slurm_account *h = &have->accounts[i];
                if (h->on_cluster && owned(h->name, h->descr, prefix) &&
                    !account_find(want, h->name))
                        remove_step("account", h->name, cluster, &p);
        }
        for (size_t i = 0; i < have->n_qos; i++) {
                const struct slurm_qos *h = &have->qos[i];
                if (owned(h->name, h->descr, prefix) && !qos_find(want, h->name))
                        remove_step("qos", h->name, NULL, &p);
        }
        *ret = p;
        return 0;
}
