/* usage.c - usage accounting and the usage.report method (see usage.h). */
#include "daemon/observe/usage.h"

#include "daemon/rules/rules.h"

#include "shared/log.h"
#include "shared/parse.h"

#include <errno.h>
#include <pthread.h>
#include <pwd.h>
#include <time.h>

#define MS_PER_DAY (86400LL * 1000)
/* A tick may take a while on a loaded machine (Docker answering slowly): the cap on dt is two
 * intervals plus this, so slow ticks are not lost, while a suspended machine or a stalled monitor
 * is charged at most that much. */
#define USAGE_SLACK_S 10

struct usage_obs {
        char *container;
        bool active;
};

struct usage {
        pthread_mutex_t lock; /* everything below */
        int64_t last_ms;      /* the previous accounting tick (unix ms); 0: none yet */
        struct usage_obs *obs;
        size_t n_obs;
};

struct usage *usage_new(void)
{
        struct usage *u = xzalloc(sizeof(*u));
        pthread_mutex_init(&u->lock, NULL);
        return u;
}

static void obs_clear(struct usage *u)
{
        for (size_t i = 0; i < u->n_obs; i++)
                free(u->obs[i].container);
        free(u->obs);
        u->obs = NULL;
        u->n_obs = 0;
}

struct usage *usage_free(struct usage *u)
{
        if (!u)
                return NULL;
        obs_clear(u);
        pthread_mutex_destroy(&u->lock);
        free(u);
        return NULL;
}

void usage_observe(struct usage *u, const char *container, double gpu_pct, double cpu_pct,
                   int64_t net_delta, bool session, const struct limit_policies *p)
{
        if (!u)
                return;
        struct rules_sample sample = {cpu_pct, net_delta, gpu_pct, session};
        bool active = rules_gpu_active(p, &sample);
        pthread_mutex_lock(&u->lock);
        for (size_t i = 0; i < u->n_obs; i++)
                if (streq(u->obs[i].container, container)) {
                        u->obs[i].active |= active;
                        pthread_mutex_unlock(&u->lock);
                        return;
                }
        u->obs = xrealloc(u->obs, (u->n_obs + 1) * sizeof(*u->obs));
        u->obs[u->n_obs++] = (struct usage_obs){xstrdup(container), active};
        pthread_mutex_unlock(&u->lock);
}

static void day_of(int64_t t, char day[static 11])
{
        time_t tt = (time_t)t;
        struct tm tm;
        gmtime_r(&tt, &tm);
        strftime(day, 11, "%Y-%m-%d", &tm);
}

/* floor division, for times before 1970 */
static int64_t floor_div(int64_t a, int64_t b)
{
        return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

size_t usage_split_days(int64_t from_ms, int64_t to_ms, struct usage_span *ret, size_t max)
{
        size_t n = 0;
        while (from_ms < to_ms && n < max) {
                int64_t day = floor_div(from_ms, MS_PER_DAY);
                int64_t end = (day + 1) * MS_PER_DAY;
                if (end > to_ms)
                        end = to_ms;
                day_of(day * 86400, ret[n].day);
                ret[n].seconds = (double)(end - from_ms) / 1000.0;
                n++;
                from_ms = end;
        }
        return n;
}

static bool observed_active(const struct usage *u, const char *container)
{
        for (size_t i = 0; i < u->n_obs; i++)
                if (streq(u->obs[i].container, container))
                        return u->obs[i].active;
        return false;
}

struct rows {
        struct store_usage *v;
        size_t n;
};

/* Adds weight x [from_ms, to_ms) to uid's (day) rows, split at midnights. */
static void add_span(struct rows *r, unsigned uid, const char *user, int64_t from_ms, int64_t to_ms,
                     double weight, bool active)
{
        struct usage_span spans[4];
        size_t n = usage_split_days(from_ms, to_ms, spans, ARRAY_SIZE(spans));
        for (size_t s = 0; s < n; s++) {
                size_t j;
                for (j = 0; j < r->n; j++)
                        if (r->v[j].uid == uid && streq(r->v[j].day, spans[s].day))
                                break;
                if (j == r->n) {
                        r->v = xrealloc(r->v, (r->n + 1) * sizeof(*r->v));
                        r->v[r->n] = (struct store_usage){.uid = uid, .user = xstrdup(user)};
                        memcpy(r->v[r->n].day, spans[s].day, sizeof(spans[s].day));
                        r->n++;
                }
                r->v[j].allocated_s += weight * spans[s].seconds;
                if (active)
                        r->v[j].active_s += weight * spans[s].seconds;
        }
}

/* The login in a container name "<project>._.<user>", else "u<uid>". */
static char *user_of(const char *container, unsigned uid)
{
        const char *sep = strstr(container, "._.");
        return sep && sep[3] ? xstrdup(sep + 3) : xasprintf("u%u", uid);
}

void usage_compute(struct usage *u, const struct store_container *rows, size_t n_rows,
                   const struct store_released *rel, size_t n_rel, int64_t now_ms,
                   int64_t interval_s, struct store_usage **ret, size_t *ret_n)
{
        struct rows r = {0};
        pthread_mutex_lock(&u->lock);
        int64_t last = u->last_ms;
        u->last_ms = now_ms;
        int64_t cap = (2 * (interval_s > 0 ? interval_s : 60) + USAGE_SLACK_S) * 1000;
        int64_t dt = last > 0 ? now_ms - last : 0;
        if (dt > cap)
                dt = cap; /* the monitor was away: charge one (generous) tick at most */
        int64_t from = now_ms - dt;
        for (size_t i = 0; dt > 0 && i < n_rows; i++) {
                const struct store_container *c = &rows[i];
                bool active = observed_active(u, c->name);
                for (size_t k = 0; k < c->n_leases; k++) {
                        const struct store_lease *l = &c->leases[k];
                        bool bound = streq(l->state, "bound");
                        if (!bound && !streq(l->state, "held"))
                                continue; /* reserved: being created, not yet the user's */
                        /* A lease newer than the previous tick counts from its start. */
                        int64_t start = l->leased_at * 1000 > from ? l->leased_at * 1000 : from;
                        add_span(&r, c->uid, c->user ? c->user : "", start, now_ms, l->weight,
                                 bound && active);
                }
        }
        /* Leases released since the previous tick count up to their release. */
        for (size_t i = 0; dt > 0 && i < n_rel; i++) {
                int64_t start = rel[i].leased_at * 1000 > from ? rel[i].leased_at * 1000 : from;
                int64_t end =
                    rel[i].released_at * 1000 < now_ms ? rel[i].released_at * 1000 : now_ms;
                if (end <= start)
                        continue;
                _cleanup_free_ char *user = user_of(rel[i].container, rel[i].uid);
                add_span(&r, rel[i].uid, user, start, end, rel[i].weight,
                         observed_active(u, rel[i].container));
        }
        obs_clear(u);
        pthread_mutex_unlock(&u->lock);
        *ret = r.v;
        *ret_n = r.n;
}

void usage_account(struct usage *u, struct store *s, int64_t interval_s)
{
        if (!u)
                return;
        struct store_container *rows = NULL;
        struct store_released *rel = NULL;
        size_t n_rows = 0, n_rel = 0;
        struct store_usage *v = NULL;
        size_t n = 0;
        struct error *err = NULL;
        pthread_mutex_lock(&u->lock);
        /* (The first tick counts nothing: no need to read any history.) */
        int64_t since = u->last_ms > 0 ? u->last_ms / 1000 : now_s();
        pthread_mutex_unlock(&u->lock);
        int64_t now = now_ms();
        if (store_usage_snapshot(s, since, &rows, &n_rows, &rel, &n_rel, &err) == 0) {
                usage_compute(u, rows, n_rows, rel, n_rel, now, interval_s, &v, &n);
                store_usage_add(s, v, n, &err);
        }
        if (err) {
                log_warning("usage accounting: %s", err->message);
                error_free(err);
        }
        store_usage_free(v, n);
        store_containers_free(rows, n_rows);
        store_released_free(rel, n_rel);
}

static void count(struct store *s, unsigned uid, const char *user, int64_t at, int64_t containers,
                  int64_t stops)
{
        struct store_usage r = {
            .uid = uid,
            .user = (char *)user,
            .containers = containers,
            .enforcement_stops = stops,
        };
        day_of(at, r.day);
        struct error *err = NULL;
        if (store_usage_add(s, &r, 1, &err) < 0) {
                log_warning("usage accounting for %s: %s", user, err->message);
                error_free(err);
        }
}

void usage_count_deploy(struct store *s, unsigned uid, const char *user, int64_t at)
{
        count(s, uid, user, at, 1, 0);
}

void usage_count_stop(struct store *s, unsigned uid, const char *user, int64_t at)
{
        count(s, uid, user, at, 0, 1);
}

/* ---- usage.report ---- */

bool usage_month_valid(const char *m)
{
        if (!m || strlen(m) != 7 || m[4] != '-')
                return false;
        for (int i = 0; i < 7; i++)
                if (i != 4 && (m[i] < '0' || m[i] > '9'))
                        return false;
        int month = (m[5] - '0') * 10 + (m[6] - '0');
        return month >= 1 && month <= 12 && strncmp(m, "1970", 4) >= 0;
}

static json_t *row_json(const char *user, unsigned uid, double alloc_s, double active_s,
                        int64_t containers, int64_t stops)
{
        double idle_s = alloc_s > active_s ? alloc_s - active_s : 0;
        json_t *o =
            json_pack("{s:f, s:f, s:f, s:I, s:I}", "gpu_hours_allocated", alloc_s / 3600,
                      "gpu_hours_active", active_s / 3600, "gpu_hours_idle_held", idle_s / 3600,
                      "containers", (json_int_t)containers, "enforcement_stops", (json_int_t)stops);
        if (user) {
                json_object_set_new(o, "user", json_string(user));
                json_object_set_new(o, "uid", json_integer(uid));
        }
        return o;
}

/* The uid of login `name` from passwd (or "u<uid>"); -1 when there is none. */
static int64_t lookup_uid(const char *name)
{
        struct passwd pw, *res = NULL;
        char buf[4096];
        if (getpwnam_r(name, &pw, buf, sizeof(buf), &res) == 0 && res)
                return (int64_t)res->pw_uid;
        int64_t uid;
        if (name[0] == 'u' && parse_int64(name + 1, 0, UINT32_MAX - 1, &uid) == 0)
                return uid;
        return -1;
}

int usage_report(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                 struct error **err)
{
        const char *month = json_string_value(json_object_get(params, "month"));
        const char *user = json_string_value(json_object_get(params, "user"));
        char current[16];
        if (month && !usage_month_valid(month))
                return error_set(err, DS01_EUSAGE,
                                 "--month '%.40s': give a month as YYYY-MM (e.g. 2026-11)", month);
        if (!month) {
                time_t t = (time_t)now_s();
                struct tm tm;
                gmtime_r(&t, &tm);
                strftime(current, sizeof(current), "%Y-%m", &tm);
                month = current;
        }
        /* A user sees their own usage; administrators anyone's. */
        if (user && !streq(user, c->login) && !c->admin)
                return error_set(err, DS01_EPERM,
                                 "only administrators see other users' usage - leave out --user "
                                 "to see yours");
        int64_t uid = -1;
        if (!c->admin || (user && streq(user, c->login)))
                uid = (int64_t)c->uid;
        else if (user && (uid = lookup_uid(user)) < 0) {
                /* An account removed since: its name in the ledger still finds it. */
                struct store_usage *all = NULL;
                size_t n_all = 0;
                if (store_usage_month(d->store, month, -1, &all, &n_all, err) < 0)
                        return -1;
                for (size_t i = 0; i < n_all && uid < 0; i++)
                        if (streq(all[i].user, user))
                                uid = all[i].uid;
                store_usage_free(all, n_all);
                if (uid < 0)
                        return error_set(err, DS01_ENOTFOUND,
                                         "no user '%.64s': not an account here, and no usage "
                                         "recorded for them in %s",
                                         user, month);
        }
        struct store_usage *v = NULL;
        size_t n = 0;
        if (store_usage_month(d->store, month, uid, &v, &n, err) < 0)
                return -1;
        json_t *users = json_array();
        double alloc = 0, active = 0;
        int64_t containers = 0, stops = 0;
        for (size_t i = 0; i < n; i++) {
                json_array_append_new(users,
                                      row_json(v[i].user, v[i].uid, v[i].allocated_s, v[i].active_s,
                                               v[i].containers, v[i].enforcement_stops));
                alloc += v[i].allocated_s;
                active += v[i].active_s;
                containers += v[i].containers;
                stops += v[i].enforcement_stops;
        }
        if (n == 0 && uid >= 0) {
                /* Asked for one user: a row of zeros rather than nothing. */
                const char *name = user ? user : c->login;
                json_array_append_new(users, row_json(name, (unsigned)uid, 0, 0, 0, 0));
        }
        store_usage_free(v, n);
        *ret_result = json_pack("{s:s, s:o, s:o}", "month", month, "users", users, "totals",
                                row_json(NULL, 0, alloc, active, containers, stops));
        return 0;
}
