/* board.c - the board everyone may read, as JSON and as a web page (see board.h). */
#include "daemon/observe/board.h"

#include "daemon/gpus/gpu.h"
#include "daemon/gpus/outside.h"
#include "daemon/gpus/reservations.h"
#include "daemon/ledger/store.h"
#include "daemon/observe/snapshot.h"
#include "daemon/rules/monitor.h"
#include "daemon/rules/rules.h"
#include "daemon/storage/storage.h"
#include "shared/strbuf.h"
#include "shared/strv.h"
#include "shared/util.h"

#include <unistd.h>

/* What the board reads, once per request. */
struct facts {
        struct ds01d *d;
        const struct caller *c;
        bool names; /* other users' names may be shown */
        int64_t now;
        const struct snapshot *snap;
        struct store_drain *drains;
        size_t n_drains;
        struct store_resv *resv;
        size_t n_resv;
        char **busy;     /* slots in use outside ds01 (outside.h): leased to nobody */
        int64_t waiting; /* deploys in the GPU queue */
};

/* ---- one slot ---- */

static const struct snap_container *holder(const struct facts *f, const char *uuid,
                                           const struct snap_lease **ret)
{
        for (size_t i = 0; i < f->snap->n; i++)
                for (size_t k = 0; k < f->snap->containers[i].n_leases; k++)
                        if (streq(f->snap->containers[i].leases[k].slot_uuid, uuid)) {
                                *ret = &f->snap->containers[i].leases[k];
                                return &f->snap->containers[i];
                        }
        return NULL;
}

static bool drained(const struct facts *f, const struct gpu_slot *s)
{
        for (size_t i = 0; i < f->n_drains; i++)
                if (streq(f->drains[i].slot_uuid, s->uuid) ||
                    streq_ptr(f->drains[i].slot_uuid, s->parent_uuid))
                        return true;
        return false;
}

static bool busy_outside(const struct facts *f, const struct gpu_slot *s)
{
        for (size_t i = 0; f->busy && f->busy[i]; i++)
                if (streq(f->busy[i], s->uuid))
                        return true;
        return false;
}

/* The reservation whose window keeps s from everyone else now, or NULL. */
static const struct store_resv *reserved_by(const struct facts *f, const struct gpu_slot *s)
{
        for (size_t i = 0; i < f->n_resv; i++)
                for (size_t k = 0; k < f->resv[i].n_slots; k++)
                        if (streq(f->resv[i].slots[k], s->uuid) &&
                            resv_holds_now(f->d, &f->resv[i], k, f->now))
                                return &f->resv[i];
        return NULL;
}

/* When a leased slot frees at the latest (unix s; 0: not known, no cap or hold): a stopped
 * container's GPU hold runs out, a running one reaches its runtime cap. */
static int64_t frees_by(const struct facts *f, const struct snap_container *sc,
                        const struct snap_lease *l)
{
        if (streq_ptr(l->state, "held")) {
                struct caller owner;
                if (caller_for((uid_t)sc->uid, &owner) < 0)
                        return 0;
                struct limit_set ls;
                caller_limits(f->d, &owner, &ls);
                int64_t hold = rules_gpu_hold_s(&ls, sc->manual_stop_at > 0, f->waiting > 0);
                limit_set_release(&ls);
                caller_release(&owner);
                return hold < 0 ? 0 : l->since + hold;
        }
        if (!streq_ptr(sc->state, "running"))
                return 0;
        json_t *row = json_object();
        monitor_describe(f->d->monitor, sc->id, row);
        json_t *left = json_object_get(row, "runtime_left_s");
        int64_t t = json_is_integer(left) ? f->now + json_integer_value(left) : 0;
        json_decref(row);
        return t;
}

static json_t *slot_json(const struct facts *f, const struct gpu_slot *s, const char **ret_state,
                         int64_t *ret_frees)
{
        json_t *o =
            json_pack("{s:s, s:s, s:i}", "uuid", s->uuid, "name", s->name, "gpu", s->gpu_index);
        const struct snap_lease *l = NULL;
        const struct snap_container *sc = holder(f, s->uuid, &l);
        const struct store_resv *r = sc ? NULL : reserved_by(f, s);
        *ret_frees = 0;
        if (sc) {
                *ret_state = "leased";
                *ret_frees = frees_by(f, sc, l);
                bool own = f->c && (uid_t)sc->uid == f->c->uid;
                if (f->names || own)
                        json_object_update_new(
                            o, json_pack("{s:s, s:s}", "user", sc->user, "container", sc->name));
                if (*ret_frees)
                        json_object_set_new(o, "frees_by", json_integer(*ret_frees));
        } else if (drained(f, s)) {
                *ret_state = "drained";
        } else if (busy_outside(f, s)) {
                *ret_state = "outside"; /* whose process: `ds01 status`, for administrators */
        } else if (r) {
                *ret_state = "reserved";
                json_object_set_new(o, "reservation", json_string(r->name));
        } else {
                *ret_state = "free";
        }
        json_object_set_new(o, "state", json_string(*ret_state));
        if (s->profile)
                json_object_set_new(o, "profile", json_string(s->profile));
        return o;
}

/* ---- the whole board ---- */

/* Adds one slot to its model's row in groups (by name). */
static void count(json_t *groups, const struct gpu_slot *s, const char *state, int64_t frees)
{
        json_t *g = json_object_get(groups, s->name);
        if (!g) {
                g = json_pack("{s:s, s:o, s:i, s:i, s:i, s:i, s:i, s:i}", "model", s->name,
                              "profile", s->profile ? json_string(s->profile) : json_null(),
                              "total", 0, "free", 0, "leased", 0, "reserved", 0, "drained", 0,
                              "outside", 0);
                json_object_set_new(groups, s->name, g);
        }
        json_object_set_new(g, "total",
                            json_integer(json_integer_value(json_object_get(g, "total")) + 1));
        json_object_set_new(g, state,
                            json_integer(json_integer_value(json_object_get(g, state)) + 1));
        json_int_t best = json_integer_value(json_object_get(g, "next_free_by"));
        if (frees && (!best || frees < best))
                json_object_set_new(g, "next_free_by", json_integer(frees));
}

static json_t *mine_json(const struct facts *f)
{
        json_t *a = json_array();
        for (size_t i = 0; i < f->snap->n; i++) {
                const struct snap_container *sc = &f->snap->containers[i];
                if ((uid_t)sc->uid != f->c->uid || !sc->row)
                        continue;
                json_t *row = json_deep_copy(sc->row);
                if (streq_ptr(sc->state, "running"))
                        monitor_describe(f->d->monitor, sc->id, row);
                json_array_append_new(a, row);
        }
        return a;
}

static json_t *demand_json(const struct facts *f, size_t slots, size_t leased)
{
        struct limit_set ls;
        if (f->c)
                caller_limits(f->d, f->c, &ls);
        else
                limits_resolve(f->d->limits, "", NULL, 0, &ls); /* the default group's */
        struct rules_demand dm = {.slots = slots, .leased = leased, .waiting = (size_t)f->waiting};
        json_t *o = json_pack("{s:I, s:I, s:I, s:b}", "slots", (json_int_t)slots, "leased",
                              (json_int_t)leased, "waiting", (json_int_t)dm.waiting, "high_demand",
                              rules_high_demand(&ls.policies, &dm));
        limit_set_release(&ls);
        return o;
}

static void facts_release(struct facts *f)
{
        if (f->snap)
                snapshot_put(f->d->snap, f->snap);
        store_drains_free(f->drains, f->n_drains);
        store_resv_free(f->resv, f->n_resv);
        strv_free(f->busy);
}

json_t *board_json(struct ds01d *d, const struct caller *c, struct error **err)
{
        struct facts f = {
            .d = d, .c = c, .names = d->cfg->board_show_users || (c && c->admin), .now = now_s()};
        _cleanup_free_ char *why = NULL;
        f.busy = outside_busy(d->outside, &why);
        f.waiting = store_queue_count(d->store);
        f.snap = snapshot_get(d, err);
        if (!f.snap || store_drains(d->store, &f.drains, &f.n_drains, err) < 0 ||
            store_resv_list(d->store, f.now, &f.resv, &f.n_resv, err) < 0) {
                facts_release(&f);
                return NULL;
        }
        const struct gpu_slot *slots;
        size_t n = gpu_inventory_slots(d->inv, &slots), n_alloc = 0, n_leased = 0;
        json_t *groups = json_object(), *list = json_array(), *next = json_null();
        int64_t next_t = 0;
        for (size_t i = 0; i < n; i++) {
                if (!slots[i].allocatable)
                        continue;
                const char *state;
                int64_t frees;
                json_array_append_new(list, slot_json(&f, &slots[i], &state, &frees));
                count(groups, &slots[i], state, frees);
                n_alloc++;
                n_leased += streq(state, "leased");
                if (frees && (!next_t || frees < next_t)) {
                        next_t = frees;
                        json_decref(next);
                        next = json_pack("{s:I, s:s, s:s}", "at", (json_int_t)frees, "uuid",
                                         slots[i].uuid, "name", slots[i].name);
                }
        }
        json_t *models = json_array();
        const char *key;
        json_t *g;
        json_object_foreach (groups, key, g)
                json_array_append(models, g);
        json_decref(groups);
        char host[256] = "";
        gethostname(host, sizeof(host) - 1);
        json_t *b = json_pack("{s:s, s:I, s:o, s:o, s:o, s:o, s:o}", "host", host, "time",
                              (json_int_t)f.now, "models", models, "slots", list, "demand",
                              demand_json(&f, n_alloc, n_leased), "next_free", next, "reservations",
                              resv_json(d, c, f.names, f.now));
        if (c) {
                json_object_set_new(b, "mine", mine_json(&f));
                struct limit_set ls;
                caller_limits(d, c, &ls);
                json_object_set_new(b, "my_storage", storage_json(d, c->uid, &ls));
                limit_set_release(&ls);
        }
        facts_release(&f);
        return b;
}

/* ---- the web page ---- */

static void cell(struct strbuf *sb, const char *tag, const char *text)
{
        strbuf_addf(sb, "<%s>", tag);
        strbuf_add_html(sb, text);
        strbuf_addf(sb, "</%s>", tag);
}

static const char *const STATES[] = {"free", "leased", "reserved", "drained", "outside"};
static const char *const COLOURS[] = {"#2e9e44", "#8a8f98", "#3b6fd6", "#d98a1c", "#b0413e"};

/* One bar per model: a rectangle per state, as wide as its share of the model's slots. */
static void bars_svg(struct strbuf *sb, const json_t *models)
{
        size_t n = json_array_size(models);
        strbuf_addf(sb,
                    "<svg id=\"bars\" xmlns=\"http://www.w3.org/2000/svg\" width=\"640\" "
                    "height=\"%zu\" role=\"img\" aria-label=\"GPU slots by state\">",
                    n * 34 + 24);
        size_t i;
        const json_t *m;
        json_array_foreach (models, i, m) {
                double total = (double)json_integer_value(json_object_get(m, "total")), x = 200;
                strbuf_addf(sb, "<text x=\"0\" y=\"%zu\" font-size=\"12\">", i * 34 + 18);
                strbuf_add_html(sb, json_string_value(json_object_get(m, "model")));
                strbuf_adds(sb, "</text>");
                for (size_t k = 0; k < ARRAY_SIZE(STATES); k++) {
                        double v = (double)json_integer_value(json_object_get(m, STATES[k]));
                        double w = total > 0 ? 420 * v / total : 0;
                        if (w <= 0)
                                continue;
                        strbuf_addf(sb,
                                    "<rect class=\"%s\" x=\"%.1f\" y=\"%zu\" width=\"%.1f\" "
                                    "height=\"24\" fill=\"%s\"><title>%s: %.0f</title></rect>",
                                    STATES[k], x, i * 34 + 2, w, COLOURS[k], STATES[k], v);
                        x += w;
                }
        }
        strbuf_addf(sb, "<g font-size=\"11\" transform=\"translate(200,%zu)\">", n * 34 + 8);
        for (size_t k = 0; k < ARRAY_SIZE(STATES); k++)
                strbuf_addf(sb,
                            "<rect x=\"%zu\" y=\"0\" width=\"10\" height=\"10\" fill=\"%s\"/>"
                            "<text x=\"%zu\" y=\"10\">%s</text>",
                            k * 84, COLOURS[k], k * 84 + 14, STATES[k]);
        strbuf_adds(sb, "</g></svg>\n");
}

static void models_table(struct strbuf *sb, const json_t *models)
{
        strbuf_adds(sb, "<table id=\"models\"><tr><th>GPU</th><th>free</th><th>leased</th>"
                        "<th>reserved</th><th>drained</th><th>outside "
                        "ds01</th><th>total</th><th>next frees by</th>"
                        "</tr>\n");
        size_t i;
        const json_t *m;
        json_array_foreach (models, i, m) {
                strbuf_adds(sb, "<tr class=\"model\" data-model=\"");
                strbuf_add_html(sb, json_string_value(json_object_get(m, "model")));
                strbuf_addf(sb, "\" data-free=\"%lld\" data-total=\"%lld\">",
                            (long long)json_integer_value(json_object_get(m, "free")),
                            (long long)json_integer_value(json_object_get(m, "total")));
                cell(sb, "td", json_string_value(json_object_get(m, "model")));
                for (size_t k = 0; k < ARRAY_SIZE(STATES); k++)
                        strbuf_addf(sb, "<td class=\"%s\">%lld</td>", STATES[k],
                                    (long long)json_integer_value(json_object_get(m, STATES[k])));
                strbuf_addf(sb, "<td>%lld</td>",
                            (long long)json_integer_value(json_object_get(m, "total")));
                json_t *t = json_object_get(m, "next_free_by");
                char ts[32];
                cell(sb, "td",
                     json_is_integer(t) ? format_iso8601(json_integer_value(t), ts) : "-");
                strbuf_adds(sb, "</tr>\n");
        }
        strbuf_adds(sb, "</table>\n");
}

/* Each slot, who holds it where names may be shown, and when it frees at the latest. */
static void slots_table(struct strbuf *sb, const json_t *slots)
{
        strbuf_adds(sb, "<table id=\"slots\"><tr><th>slot</th><th>GPU</th><th>state</th>"
                        "<th>held by</th><th>frees by</th></tr>\n");
        size_t i;
        const json_t *s;
        char ts[32];
        json_array_foreach (slots, i, s) {
                const char *state = json_string_value(json_object_get(s, "state"));
                strbuf_adds(sb, "<tr class=\"slot\" data-state=\"");
                strbuf_add_html(sb, state);
                strbuf_adds(sb, "\">");
                cell(sb, "td", json_string_value(json_object_get(s, "uuid")));
                cell(sb, "td", json_string_value(json_object_get(s, "name")));
                cell(sb, "td", state);
                const char *who = json_string_value(json_object_get(s, "container"));
                const char *resv = json_string_value(json_object_get(s, "reservation"));
                cell(sb, "td", who ? who : resv ? resv : "-");
                json_t *t = json_object_get(s, "frees_by");
                cell(sb, "td",
                     json_is_integer(t) ? format_iso8601(json_integer_value(t), ts) : "-");
                strbuf_adds(sb, "</tr>\n");
        }
        strbuf_adds(sb, "</table>\n");
}

static void reservations_table(struct strbuf *sb, const json_t *list)
{
        if (json_array_size(list) == 0) {
                strbuf_adds(sb, "<p id=\"reservations\">No reservations.</p>\n");
                return;
        }
        strbuf_adds(sb, "<table id=\"reservations\"><tr><th>reservation</th><th>state</th>"
                        "<th>from</th><th>to</th><th>slots</th></tr>\n");
        size_t i;
        const json_t *r;
        json_array_foreach (list, i, r) {
                strbuf_adds(sb, "<tr class=\"reservation\">");
                cell(sb, "td", json_string_value(json_object_get(r, "name")));
                cell(sb, "td", json_string_value(json_object_get(r, "state")));
                cell(sb, "td", json_string_value(json_object_get(r, "start")));
                cell(sb, "td", json_string_value(json_object_get(r, "end")));
                strbuf_addf(sb, "<td>%zu</td></tr>\n",
                            json_array_size(json_object_get(r, "slots")));
        }
        strbuf_adds(sb, "</table>\n");
}

char *board_html(const json_t *b, int refresh_s)
{
        struct strbuf sb = STRBUF_INIT;
        const json_t *dm = json_object_get(b, "demand");
        char ts[32];
        strbuf_addf(&sb,
                    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                    "<meta http-equiv=\"refresh\" content=\"%d\"><title>GPUs on ",
                    refresh_s);
        strbuf_add_html(&sb, json_string_value(json_object_get(b, "host")));
        strbuf_adds(&sb, "</title><style>body{font-family:sans-serif;margin:2em}"
                         "table{border-collapse:collapse;margin:1em 0}"
                         "td,th{border:1px solid #ccc;padding:4px 10px;text-align:left}"
                         "</style></head><body>\n<h1>GPUs on ");
        strbuf_add_html(&sb, json_string_value(json_object_get(b, "host")));
        strbuf_addf(&sb, "</h1>\n<p id=\"as-of\">As of %s (this page reloads every %d s).</p>\n",
                    format_iso8601(json_integer_value(json_object_get(b, "time")), ts), refresh_s);
        strbuf_addf(&sb,
                    "<p id=\"demand\" data-leased=\"%lld\" data-slots=\"%lld\" "
                    "data-waiting=\"%lld\">%lld of %lld GPU slots leased, %lld waiting%s.</p>\n",
                    (long long)json_integer_value(json_object_get(dm, "leased")),
                    (long long)json_integer_value(json_object_get(dm, "slots")),
                    (long long)json_integer_value(json_object_get(dm, "waiting")),
                    (long long)json_integer_value(json_object_get(dm, "leased")),
                    (long long)json_integer_value(json_object_get(dm, "slots")),
                    (long long)json_integer_value(json_object_get(dm, "waiting")),
                    json_is_true(json_object_get(dm, "high_demand"))
                        ? " - high demand: idle timeouts are shorter"
                        : "");
        const json_t *models = json_object_get(b, "models");
        bars_svg(&sb, models);
        models_table(&sb, models);
        const json_t *next = json_object_get(b, "next_free");
        strbuf_adds(&sb, "<p id=\"next-free\">");
        if (json_is_object(next)) {
                strbuf_addf(&sb, "The next leased slot frees by %s at the latest (",
                            format_iso8601(json_integer_value(json_object_get(next, "at")), ts));
                strbuf_add_html(&sb, json_string_value(json_object_get(next, "name")));
                strbuf_adds(&sb, ").");
        } else {
                strbuf_adds(&sb, "No leased slot has a known end.");
        }
        strbuf_adds(&sb, "</p>\n<h2>Slots</h2>\n");
        slots_table(&sb, json_object_get(b, "slots"));
        strbuf_adds(&sb, "<h2>Reservations</h2>\n");
        reservations_table(&sb, json_object_get(b, "reservations"));
        strbuf_adds(&sb, "<p>Deploy with <code>container-deploy NAME</code>; see yours with "
                         "<code>ds01 board</code>.</p>\n</body></html>\n");
        return strbuf_detach(&sb);
}
