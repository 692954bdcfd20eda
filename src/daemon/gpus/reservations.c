/* reservations.c - administrators' reservations of GPU slots for a window (see reservations.h). */
#include "daemon/gpus/reservations.h"
#include "daemon/gpus/queuekick.h"

#include "daemon/gpus/gpu.h"
#include "daemon/observe/events.h"
#include "shared/log.h"
#include "shared/names.h"
#include "shared/strbuf.h"
#include "shared/strv.h"
#include "shared/util.h"

#include <math.h>
#include <pwd.h>
#include <string.h>

#define MAX_WINDOW_S (366 * 86400) /* a reservation is for an event, not for good */

/* ---- the rule ---- */

bool resv_is_member(const struct store_resv *r, const char *login, const char *group)
{
        if (group && *r->group && streq(r->group, group))
                return true;
        size_t n = strlen(login);
        for (const char *p = r->users; *p;) {
                const char *comma = strchr(p, ',');
                size_t k = comma ? (size_t)(comma - p) : strlen(p);
                if (k == n && strncmp(p, login, n) == 0)
                        return true;
                p += k + (comma ? 1 : 0);
        }
        return false;
}

bool resv_withholds(const struct store_resv *r, size_t i, double max_runtime_h, int64_t now,
                    int64_t release_s)
{
        if (now >= r->end_s)
                return false;
        if (now >= r->start_s) /* in the window: unless no member took it in time */
                return r->used[i] || now < r->start_s + release_s;
        /* before it: only a container sure to end before the window may have it */
        return max_runtime_h < 0 || (double)now + max_runtime_h * 3600 > (double)r->start_s;
}

static char *window_text(const struct store_resv *r)
{
        char a[32], b[32];
        return xasprintf("'%s' from %s to %s", r->name, format_iso8601(r->start_s, a),
                         format_iso8601(r->end_s, b));
}

/* How far into a window a slot no member leased is released (reservation_unused_release_m). */
static int64_t release_s(const struct ds01d *d)
{
        return d->cfg->reservation_unused_release_m * 60;
}

bool resv_holds_now(const struct ds01d *d, const struct store_resv *r, size_t i, int64_t now)
{
        return now >= r->start_s && resv_withholds(r, i, -1, now, release_s(d));
}

int resv_check(struct ds01d *d, const char *login, const struct limit_set *ls,
               struct resv_check *ret, struct error **err)
{
        int64_t now = now_s();
        *ret = (struct resv_check){.login = login, .group = ls->group};
        if (store_resv_list(d->store, now, &ret->v, &ret->n, err) < 0)
                return -1;
        double cap =
            limits_exemption(d->limits, login, LIMITS_RUNTIME, now) ? -1 : ls->max_runtime_h;
        struct strv out = {0};
        for (size_t i = 0; i < ret->n; i++) {
                const struct store_resv *r = &ret->v[i];
                if (resv_is_member(r, login, ls->group))
                        continue;
                for (size_t k = 0; k < r->n_slots; k++)
                        if (resv_withholds(r, k, cap, now, release_s(d))) {
                                strv_push(&out, r->slots[k]);
                                if (!ret->why)
                                        ret->why = window_text(r);
                        }
        }
        ret->withheld = strv_take(&out);
        return 0;
}

void resv_note_lease(struct ds01d *d, const struct resv_check *rc, char *const *uuids)
{
        struct error *err = NULL;
        for (size_t i = 0; uuids && i < rc->n; i++) {
                const struct store_resv *r = &rc->v[i];
                if (!resv_is_member(r, rc->login, rc->group))
                        continue;
                for (size_t k = 0; k < r->n_slots; k++)
                        for (size_t u = 0; uuids[u]; u++)
                                if (!r->used[k] && streq(uuids[u], r->slots[k]) &&
                                    store_resv_mark_used(d->store, r->name, r->slots[k], &err) <
                                        0) {
                                        log_warning("reservation %s: %s", r->name, err->message);
                                        err = error_free(err);
                                }
        }
}

void resv_check_release(struct resv_check *rc)
{
        strv_free(rc->withheld);
        free(rc->why);
        store_resv_free(rc->v, rc->n);
        *rc = (struct resv_check){0};
}

/* ---- create ---- */

static int check_name(const char *name, struct error **err)
{
        size_t n = strlen(name);
        bool ok = n >= 1 && n <= 64 &&
                  strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789._-") == n && name[0] != '.' &&
                  name[0] != '-';
        return ok ? 0
                  : error_set(err, DS01_EUSAGE,
                              "bad reservation name '%s': 1 to 64 of a-z, 0-9, '.', '_' and '-', "
                              "starting with a letter or digit",
                              name);
}

/* users: logins, each with an account; group: a limits group. */
static int check_members(struct ds01d *d, const char *users, const char *group, struct error **err)
{
        if (!*users && !*group)
                return error_set(err, DS01_EUSAGE,
                                 "a reservation needs members: --users LOGIN,... or --group GROUP");
        char **v = NULL;
        size_t n = 0;
        strv_split_csv(users, &v, &n);
        int r = 0;
        for (size_t i = 0; i < n && r == 0; i++)
                if (!getpwnam(v[i]))
                        r = error_set(err, DS01_EUSAGE, "--users: no user '%s' on this server",
                                      v[i]);
        strv_free(v);
        if (r < 0 || !*group)
                return r;
        for (const char *const *g = limits_groups(d->limits); *g; g++)
                if (streq(*g, group))
                        return 0;
        return error_set(err, DS01_EUSAGE,
                         "--group: no limits group '%s' (the groups of the limits file are "
                         "meant; ds01 users lists them)",
                         group);
}

/* Whether uuid is reserved by one of v in a window overlapping [start, end). */
static bool overlaps(const struct store_resv *v, size_t n, const char *uuid, int64_t start,
                     int64_t end)
{
        for (size_t i = 0; i < n; i++)
                for (size_t k = 0; k < v[i].n_slots; k++)
                        if (streq(v[i].slots[k], uuid) && v[i].start_s < end && start < v[i].end_s)
                                return true;
        return false;
}

/* --gpus N: the first N whole GPUs no other reservation holds in the window. */
static int pick_gpus(struct ds01d *d, int64_t want, int64_t start, int64_t end, struct strv *ret,
                     struct error **err)
{
        struct store_resv *v = NULL;
        size_t n = 0;
        if (store_resv_list(d->store, now_s(), &v, &n, err) < 0)
                return -1;
        const struct gpu_slot *slots;
        size_t n_slots = gpu_inventory_slots(d->inv, &slots), whole = 0;
        for (size_t i = 0; i < n_slots && (int64_t)ret->n < want; i++) {
                if (!slots[i].allocatable || slots[i].profile)
                        continue;
                whole++;
                if (!overlaps(v, n, slots[i].uuid, start, end))
                        strv_push(ret, slots[i].uuid);
        }
        store_resv_free(v, n);
        if ((int64_t)ret->n < want)
                return error_set(err, DS01_EUSAGE,
                                 "--gpus %lld: only %zu whole GPUs are free of other reservations "
                                 "in that window (this server has %zu) - ask for fewer, or name "
                                 "slots with --slots",
                                 (long long)want, ret->n, whole);
        return 0;
}

/* --slots UUID,...: each an allocatable slot of this server, once. */
static int check_slots(struct ds01d *d, const char *csv, struct strv *ret, struct error **err)
{
        char **v = NULL;
        size_t n = 0;
        strv_split_csv(csv, &v, &n);
        int r = n ? 0 : error_set(err, DS01_EUSAGE, "--slots: name at least one slot UUID");
        for (size_t i = 0; i < n && r == 0; i++) {
                const struct gpu_slot *s = gpu_inventory_find(d->inv, v[i]);
                if (!s || !s->allocatable)
                        r = error_set(err, DS01_EUSAGE,
                                      "--slots: '%s' is not a GPU slot of this server (ds01 gpus "
                                      "lists them)",
                                      v[i]);
                else if (strv_contains(ret, v[i]))
                        r = error_set(err, DS01_EUSAGE, "--slots: '%s' is named twice", v[i]);
                else
                        strv_push(ret, v[i]);
        }
        strv_free(v);
        return r;
}

static int check_window(int64_t start, int64_t end, int64_t now, struct error **err)
{
        if (end <= start)
                return error_set(err, DS01_EUSAGE, "the reservation must end after it starts");
        if (end <= now)
                return error_set(err, DS01_EUSAGE, "the reservation's window has already ended");
        if (end - start > MAX_WINDOW_S)
                return error_set(err, DS01_EUSAGE,
                                 "a reservation may last a year at most: drain a GPU (ds01 gpu "
                                 "drain) to keep it from everyone");
        return 0;
}

int resv_create(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                struct error **err)
{
        const char *name = json_string_value(json_object_get(params, "name"));
        const char *slots = json_string_value(json_object_get(params, "slots"));
        const char *users = json_string_value(json_object_get(params, "users"));
        const char *group = json_string_value(json_object_get(params, "group"));
        json_t *jgpus = json_object_get(params, "gpus");
        int64_t start = json_integer_value(json_object_get(params, "start"));
        int64_t end = json_integer_value(json_object_get(params, "end"));
        users = users ? users : "";
        group = group ? group : "";
        if (check_name(name, err) < 0 || check_window(start, end, now_s(), err) < 0 ||
            check_members(d, users, group, err) < 0)
                return -1;
        if (!jgpus == !slots)
                return error_set(err, DS01_EUSAGE,
                                 "say which slots: --gpus N (whole GPUs) or --slots UUID,...");
        _cleanup_strv_ struct strv picked = {0};
        if (jgpus ? pick_gpus(d, json_integer_value(jgpus), start, end, &picked, err)
                  : check_slots(d, slots, &picked, err))
                return -1;
        struct store_resv r = {
            .name = (char *)name,
            .start_s = start,
            .end_s = end,
            .users = (char *)users,
            .group = (char *)group,
            .created_by = c->login,
            .created_at = now_s(),
            .slots = picked.v,
            .n_slots = picked.n,
        };
        if (store_resv_add(d->store, &r, err) < 0)
                return -1;
        json_t *list = json_array();
        for (size_t i = 0; i < picked.n; i++)
                json_array_append_new(list, json_string(picked.v[i]));
        char a[32], b[32];
        json_t *ev = json_pack("{s:s, s:O, s:s, s:s, s:s, s:s}", "name", name, "slots", list,
                               "start", format_iso8601(start, a), "end", format_iso8601(end, b),
                               "users", users, "group", group);
        events_log(d->events, "reservation.create", c->login, ev);
        log_notice("%s created reservation %s: %zu slot(s) from %s to %s", c->login, name, picked.n,
                   a, b);
        *ret_result = json_pack("{s:s, s:o, s:I, s:I}", "name", name, "slots", list, "start",
                                (json_int_t)start, "end", (json_int_t)end);
        return 0;
}

/* ---- list, delete ---- */

/* Who holds each of r's slots now: [{uuid, name, container?, user?}]. */
static json_t *slots_json(struct ds01d *d, const struct store_resv *r,
                          const struct store_container *rows, size_t n_rows, bool admin,
                          int64_t now)
{
        json_t *a = json_array();
        for (size_t k = 0; k < r->n_slots; k++) {
                const struct gpu_slot *s = gpu_inventory_find(d->inv, r->slots[k]);
                json_t *o =
                    json_pack("{s:s, s:s, s:b, s:b}", "uuid", r->slots[k], "name",
                              s ? s->name : "(no longer on this server)", "used", r->used[k],
                              "released", now >= r->start_s && !resv_holds_now(d, r, k, now));
                for (size_t c = 0; c < n_rows; c++)
                        for (size_t l = 0; l < rows[c].n_leases; l++)
                                if (streq(rows[c].leases[l].slot_uuid, r->slots[k])) {
                                        json_object_set_new(o, "container",
                                                            json_string(admin ? rows[c].name : ""));
                                        if (admin)
                                                json_object_set_new(o, "user",
                                                                    json_string(rows[c].user));
                                }
                json_array_append_new(a, o);
        }
        return a;
}

/* The reservations not yet ended, as c sees them (NULL: anonymous); members and holders named
 * where names is true. */
static json_t *list_json(struct ds01d *d, const struct caller *c, bool names, int64_t now,
                         struct error **err)
{
        struct store_resv *v = NULL;
        size_t n = 0;
        struct store_container *rows = NULL;
        size_t n_rows = 0;
        if (store_resv_list(d->store, now, &v, &n, err) < 0)
                return NULL;
        if (store_list(d->store, -1, &rows, &n_rows, err) < 0) {
                store_resv_free(v, n);
                return NULL;
        }
        bool admin = names;
        struct limit_set ls = {0};
        if (c)
                caller_limits(d, c, &ls);
        json_t *a = json_array();
        char t1[32], t2[32];
        for (size_t i = 0; i < n; i++) {
                json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:o}", "name", v[i].name, "start",
                                      format_iso8601(v[i].start_s, t1), "end",
                                      format_iso8601(v[i].end_s, t2), "state",
                                      now >= v[i].start_s ? "active" : "upcoming", "slots",
                                      slots_json(d, &v[i], rows, n_rows, admin, now));
                if (admin)
                        json_object_update_new(o, json_pack("{s:s, s:s, s:s}", "users", v[i].users,
                                                            "group", v[i].group, "created_by",
                                                            v[i].created_by));
                if (c)
                        json_object_set_new(
                            o, "member", json_boolean(resv_is_member(&v[i], c->login, ls.group)));
                json_array_append_new(a, o);
        }
        limit_set_release(&ls);
        store_containers_free(rows, n_rows);
        store_resv_free(v, n);
        return a;
}

json_t *resv_json(struct ds01d *d, const struct caller *c, bool names, int64_t now)
{
        struct error *err = NULL;
        json_t *a = list_json(d, c, names, now, &err);
        if (!a) {
                log_warning("reading the reservations: %s", err->message);
                error_free(err);
                a = json_array();
        }
        return a;
}

int resv_list(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
              struct error **err)
{
        (void)params;
        json_t *a = list_json(d, c, c->admin, now_s(), err);
        if (!a)
                return -1;
        *ret_result = json_pack("{s:o}", "reservations", a);
        return 0;
}

int resv_delete(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                struct error **err)
{
        const char *name = json_string_value(json_object_get(params, "name"));
        int r = store_resv_delete(d->store, name, err);
        if (r < 0)
                return -1;
        if (r == 0)
                return error_set(err, DS01_ENOTFOUND,
                                 "no reservation '%s' (ds01 reservation list shows them)", name);
        events_log(d->events, "reservation.delete", c->login, json_pack("{s:s}", "name", name));
        queuekick_ring(d->kick); /* its slots are everyone's again */
        log_notice("%s deleted reservation %s", c->login, name);
        *ret_result = json_pack("{s:s}", "name", name);
        return 0;
}
