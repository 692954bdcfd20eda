/* rows.c - a container as a row, for container-list and container-stats (see rows.h). */
#include "daemon/observe/rows.h"

#include "daemon/docker/dockerjson.h"
#include "daemon/observe/snapshot.h"
#include "daemon/requests/access.h"
#include "daemon/rules/monitor.h"
#include "shared/names.h"
#include "shared/strbuf.h"

json_t *rows_stats_row(const struct snap_container *sc, struct monitor *m, int64_t now)
{
        _cleanup_free_ char *status = snapshot_status_text(sc, now);
        json_t *row = json_deep_copy(sc->row); /* never share jansson values across threads */
        json_object_set_new(row, "status", json_string(status));
        if (streq(sc->state, "running")) {
                monitor_describe(m, sc->id, row);
                monitor_stats(m, sc->id, row);
        }
        return row;
}

int rows_stats(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
               struct error **err)
{
        const char *name = jstr(params, "name");
        bool all = json_is_true(json_object_get(params, "all")) && c->admin;
        _cleanup_free_ char *want = NULL;
        if (name) {
                _cleanup_free_ char *project = NULL, *user_part = NULL;
                if (names_split_container(name, &project, &user_part) == 0) {
                        if (names_check_project(project, err) < 0 ||
                            names_check_user_part(user_part, err) < 0)
                                return -1;
                        want = xstrdup(name);
                } else {
                        if (names_check_project(name, err) < 0)
                                return -1;
                        want = names_container(name, c->user_part);
                }
        }
        const struct snapshot *snap = snapshot_get(d, err);
        if (!snap)
                return -1;
        int64_t now = now_s();
        json_t *out = json_array();
        bool found = false, denied = false;
        for (size_t i = 0; i < snap->n; i++) {
                const struct snap_container *sc = &snap->containers[i];
                bool mine = sc->uid == (int64_t)c->uid;
                if (want) {
                        if (!streq(sc->name, want))
                                continue;
                        if (!mine && !c->admin) {
                                denied = true;
                                continue;
                        }
                        found = true;
                } else if (!mine && !all)
                        continue;
                json_array_append_new(out, rows_stats_row(sc, d->monitor, now));
        }
        snapshot_put(d->snap, snap);
        if (want && !found) {
                json_decref(out);
                if (denied)
                        access_denied(d, c, "see the stats of", name);
                return access_not_found(name, err);
        }
        json_t *res = json_pack("{s:o, s:i}", "containers", out, "sample_interval_s",
                                (int)d->cfg->sample_interval_s);
        *ret_result = res;
        return 0;
}

void rows_render_list(const struct snapshot *snap, struct monitor *m, int64_t uid, int64_t now,
                      struct strbuf *sb)
{
        /* Written as text: each row was serialised when the snapshot was built, and only its
         * changing members (status, keepalive, the monitor's clocks) are added here. */
        strbuf_adds(sb, "{\"containers\":[");
        bool first = true;
        for (size_t i = 0; i < snap->n; i++) {
                const struct snap_container *sc = &snap->containers[i];
                if (uid >= 0 && sc->uid != uid)
                        continue;
                if (!first)
                        strbuf_addc(sb, ',');
                first = false;
                strbuf_add(sb, sc->row_text, sc->row_len);
                _cleanup_free_ char *status = snapshot_status_text(sc, now);
                strbuf_adds(sb, sc->row_len > 1 ? ",\"status\":" : "\"status\":");
                strbuf_add_json_string(sb, status);
                /* idle and runtime clocks as the monitor saw them at its last tick; its
                 * keepalive (file or command) wins over the ledger's */
                bool keepalive =
                    streq(sc->state, "running") && monitor_describe_text(m, sc->id, sb);
                if (!keepalive && sc->keepalive_until > now)
                        monitor_keepalive_text(sb, sc->keepalive_until, "command");
                strbuf_addc(sb, '}');
        }
        strbuf_adds(sb, "]}");
}

int rows_list(struct ds01d *d, const struct caller *c, json_t *params, char **ret_text,
              size_t *ret_len, struct error **err)
{
        bool all = json_is_true(json_object_get(params, "all")) && c->admin;
        const struct snapshot *snap = snapshot_get(d, err);
        if (!snap)
                return -1;
        struct strbuf sb = STRBUF_INIT;
        rows_render_list(snap, d->monitor, all ? -1 : (int64_t)c->uid, now_s(), &sb);
        snapshot_put(d->snap, snap);
        *ret_len = sb.len;
        *ret_text = strbuf_detach(&sb);
        return 0;
}
