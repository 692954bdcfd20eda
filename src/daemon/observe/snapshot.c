#include "daemon/observe/snapshot.h"

#include "daemon/config/generation.h"

#include "shared/log.h"
#include "daemon/docker/dockerjson.h"

#include <math.h>
#include <stdatomic.h>

struct snapshot_cache {
        pthread_mutex_t build_lock; /* one rebuild at a time */
        pthread_mutex_t lock;       /* cur, dirty */
        struct snapshot *cur;
        atomic_uint_fast64_t docker_gen;
        atomic_bool stream_up;
        char **dirty; /* container ids Docker reported since the last build */
        size_t n_dirty;
        bool dirty_all;
};

struct snapshot_cache *snapshot_cache_new(void)
{
        struct snapshot_cache *c = xzalloc(sizeof(*c));
        pthread_mutex_init(&c->build_lock, NULL);
        pthread_mutex_init(&c->lock, NULL);
        atomic_init(&c->docker_gen, 1);
        atomic_init(&c->stream_up, false);
        return c;
}

static void snap_free(struct snapshot *s)
{
        if (!s)
                return;
        for (size_t i = 0; i < s->n; i++) {
                struct snap_container *sc = &s->containers[i];
                free(sc->id);
                free(sc->name);
                free(sc->project);
                free(sc->user);
                free(sc->state);
                free(sc->image);
                free(sc->interface);
                free(sc->workspace);
                for (size_t k = 0; k < sc->n_leases; k++) {
                        free(sc->leases[k].slot_uuid);
                        free(sc->leases[k].state);
                        free(sc->leases[k].gpu_uuid);
                        free(sc->leases[k].name);
                        free(sc->leases[k].profile);
                }
                free(sc->leases);
                json_decref(sc->row);
                free(sc->row_text);
        }
        free(s->containers);
        free(s);
}

static void dirty_clear(struct snapshot_cache *c)
{
        for (size_t i = 0; i < c->n_dirty; i++)
                free(c->dirty[i]);
        free(c->dirty);
        c->dirty = NULL;
        c->n_dirty = 0;
        c->dirty_all = false;
}

struct snapshot_cache *snapshot_cache_free(struct snapshot_cache *c)
{
        if (!c)
                return NULL;
        snap_free(c->cur);
        dirty_clear(c);
        pthread_mutex_destroy(&c->build_lock);
        pthread_mutex_destroy(&c->lock);
        free(c);
        return NULL;
}

void snapshot_docker_event(struct snapshot_cache *c, const char *id)
{
        pthread_mutex_lock(&c->lock);
        if (!id || c->n_dirty >= 4096)
                c->dirty_all = true;
        else {
                bool known = false;
                for (size_t i = 0; i < c->n_dirty && !known; i++)
                        known = streq(c->dirty[i], id);
                if (!known) {
                        c->dirty = xrealloc(c->dirty, (c->n_dirty + 1) * sizeof(*c->dirty));
                        c->dirty[c->n_dirty++] = xstrdup(id);
                }
        }
        atomic_fetch_add(&c->docker_gen, 1);
        pthread_mutex_unlock(&c->lock);
}

void snapshot_stream(struct snapshot_cache *c, bool up)
{
        atomic_store(&c->stream_up, up);
        if (!up)
                snapshot_docker_event(c, NULL);
}

bool snapshot_stream_up(struct snapshot_cache *c)
{
        return atomic_load(&c->stream_up);
}

void snapshot_invalidate(struct snapshot_cache *c)
{
        atomic_fetch_add(&c->docker_gen, 1);
}

void snapshot_put(struct snapshot_cache *c, const struct snapshot *s)
{
        if (!s)
                return;
        struct snapshot *m = (struct snapshot *)s;
        pthread_mutex_lock(&c->lock);
        bool last = --m->refs == 0;
        pthread_mutex_unlock(&c->lock);
        if (last)
                snap_free(m);
}

/* The current snapshot with a reference, or NULL. */
static struct snapshot *take_current(struct snapshot_cache *c)
{
        pthread_mutex_lock(&c->lock);
        struct snapshot *s = c->cur;
        if (s)
                s->refs++;
        pthread_mutex_unlock(&c->lock);
        return s;
}

const struct snapshot *snapshot_current(struct snapshot_cache *c)
{
        return take_current(c);
}

/* Nothing is known to have changed since s was built (it may be old). */
static bool current(const struct snapshot *s, struct ds01d *d)
{
        return s && atomic_load(&d->snap->stream_up) &&
               s->docker_gen == atomic_load(&d->snap->docker_gen) &&
               s->store_gen == store_generation(d->store) && s->config_gen == ds01d_generation(d);
}

static bool fresh(const struct snapshot *s, struct ds01d *d)
{
        return current(s, d) && now_ms() - s->built_ms < SNAPSHOT_MAX_AGE_MS;
}

static const struct snap_container *find_prev(const struct snapshot *prev, const char *id)
{
        for (size_t i = 0; prev && i < prev->n; i++)
                if (streq(prev->containers[i].id, id))
                        return &prev->containers[i];
        return NULL;
}

static bool is_dirty(char **dirty, size_t n, const char *id)
{
        for (size_t i = 0; i < n; i++)
                if (streq(dirty[i], id))
                        return true;
        return false;
}

static json_t *leases_row(const struct snap_container *sc)
{
        json_t *a = json_array();
        for (size_t i = 0; i < sc->n_leases; i++) {
                const struct snap_lease *l = &sc->leases[i];
                json_t *g = json_pack("{s:s, s:s, s:f, s:I}", "uuid", l->slot_uuid, "lease",
                                      l->state, "weight", l->weight, "since", (json_int_t)l->since);
                if (l->name) {
                        json_object_set_new(g, "name", json_string(l->name));
                        json_object_set_new(g, "index", json_integer(l->gpu_index));
                        if (l->profile)
                                json_object_set_new(g, "profile", json_string(l->profile));
                }
                json_array_append_new(a, g);
        }
        return a;
}

static json_t *base_row(const struct snap_container *sc)
{
        json_t *row =
            json_pack("{s:s, s:s, s:s, s:I, s:s, s:s, s:o, s:I, s:I, s:I, s:s, s:I}", "name",
                      sc->name, "project", sc->project, "user", sc->user, "uid",
                      (json_int_t)sc->uid, "state", sc->state, "image", sc->image, "gpus",
                      leases_row(sc), "created_at", (json_int_t)sc->created_at, "started_at",
                      (json_int_t)sc->started_at, "finished_at", (json_int_t)sc->finished_at,
                      "workspace", sc->workspace, "exit_code", (json_int_t)sc->exit_code);
        json_t *ports = json_array();
        for (size_t i = 0; i < sc->n_ports; i++)
                json_array_append_new(ports, json_integer(sc->ports[i]));
        json_object_set_new(row, "ports", ports);
        return row;
}

static void fill_leases(struct ds01d *d, struct snap_container *sc, const struct store_container *r)
{
        if (!r || r->n_leases == 0)
                return;
        sc->leases = xcalloc(r->n_leases, sizeof(*sc->leases));
        sc->n_leases = r->n_leases;
        for (size_t k = 0; k < r->n_leases; k++) {
                const struct store_lease *l = &r->leases[k];
                struct snap_lease *sl = &sc->leases[k];
                sl->slot_uuid = xstrdup(l->slot_uuid);
                sl->state = xstrdup(l->state);
                sl->weight = l->weight;
                sl->since = l->since;
                sl->gpu_index = -1;
                const struct gpu_slot *s = gpu_inventory_find(d->inv, l->slot_uuid);
                if (s) {
                        sl->gpu_uuid = xstrdup(s->parent_uuid ? s->parent_uuid : s->uuid);
                        sl->name = xstrdup(s->name);
                        sl->profile = s->profile ? xstrdup(s->profile) : NULL;
                        sl->gpu_index = s->gpu_index;
                }
        }
}

static struct snapshot *build(struct ds01d *d, const struct snapshot *prev, struct error **err)
{
        struct snapshot_cache *c = d->snap;
        /* Read the generations first: a change during the build makes the next read rebuild. */
        pthread_mutex_lock(&c->lock);
        uint64_t docker_gen = atomic_load(&c->docker_gen);
        char **dirty = c->dirty;
        size_t n_dirty = c->n_dirty;
        bool dirty_all = c->dirty_all;
        c->dirty = NULL;
        c->n_dirty = 0;
        c->dirty_all = false;
        pthread_mutex_unlock(&c->lock);
        uint64_t store_gen = store_generation(d->store);

        struct snapshot *s = NULL;
        struct store_container *rows = NULL;
        size_t n_rows = 0;
        _cleanup_free_ char *filter = xasprintf("ds01.instance=%s", d->cfg->instance);
        int64_t listed_ms = now_ms();
        json_t *list = docker_container_list(d->docker, filter, true, err);
        if (!list || store_list(d->store, -1, &rows, &n_rows, err) < 0)
                goto out;
        s = xzalloc(sizeof(*s));
        s->listed_ms = listed_ms;
        s->refs = 1;
        s->docker_gen = docker_gen;
        s->store_gen = store_gen;
        s->config_gen = ds01d_generation(d);
        s->containers = xcalloc(json_array_size(list) + 1, sizeof(*s->containers));
        size_t i;
        json_t *e;
        json_array_foreach (list, i, e) {
                const char *id = jstr(e, "Id"), *state = jstr(e, "State");
                const char *nm = json_string_value(json_array_get(json_object_get(e, "Names"), 0));
                if (!id || !nm)
                        continue;
                if (nm[0] == '/')
                        nm++;
                /* Only what the ledger records as created by this daemon; a container that merely
                 * carries its labels (a build step of an image with LABEL ds01.*, anything made
                 * behind ds01's back) is not managed. Owner and project come from the ledger. */
                const struct store_container *r = NULL;
                for (size_t k = 0; k < n_rows && !r; k++)
                        if (store_records(&rows[k], nm, id))
                                r = &rows[k];
                if (!r)
                        continue;
                struct snap_container *sc = &s->containers[s->n++];
                sc->id = xstrdup(id);
                sc->name = xstrdup(nm);
                sc->project = xstrdup(r->project);
                sc->user = xstrdup(r->user);
                sc->uid = r->uid;
                sc->state = xstrdup(state ? state : "unknown");
                sc->image = xstrdup(jstr(e, "Image") ? jstr(e, "Image") : "");
                const char *iface = jstr(json_object_get(e, "Labels"), "ds01.interface");
                sc->interface = xstrdup(iface ? iface : "orchestration");
                sc->created_at = json_integer_value(json_object_get(e, "Created"));
                /* Start/finish times, exit code and workspace need an inspect: reuse the last
                 * one unless the container is new, changed state, or Docker reported it. */
                const struct snap_container *p = find_prev(prev, id);
                if (p && streq(p->state, sc->state) && !dirty_all &&
                    !is_dirty(dirty, n_dirty, id)) {
                        sc->started_at = p->started_at;
                        sc->finished_at = p->finished_at;
                        sc->exit_code = p->exit_code;
                        sc->workspace = xstrdup(p->workspace);
                } else {
                        json_t *ins = docker_container_inspect(d->docker, id, NULL);
                        const json_t *st = json_object_get(ins, "State");
                        const char *ws = ins ? docker_inspect_workspace(ins) : NULL;
                        sc->started_at = docker_time_ms(jstr(st, "StartedAt")) / 1000;
                        sc->finished_at = docker_time_ms(jstr(st, "FinishedAt")) / 1000;
                        sc->exit_code = json_integer_value(json_object_get(st, "ExitCode"));
                        sc->workspace = xstrdup(ws ? ws : "");
                        if (jstr(st, "Status")) {
                                /* the inspect is newer than the list */
                                free(sc->state);
                                sc->state = xstrdup(jstr(st, "Status"));
                        }
                        json_decref(ins);
                }
                sc->keepalive_until = r->keepalive_until;
                sc->manual_stop_at = r->manual_stop_at;
                memcpy(sc->ports, r->ports, sizeof(sc->ports));
                sc->n_ports = r->n_ports;
                fill_leases(d, sc, r);
                sc->row = base_row(sc);
                sc->row_text = json_text(sc->row);
                sc->row_len = strlen(sc->row_text) - 1; /* without the '}' */
        }
        s->built_ms = now_ms();
out:
        if (!s) {
                /* what this build took is still to be looked at by the next one */
                pthread_mutex_lock(&c->lock);
                for (size_t k = 0; k < n_dirty; k++) {
                        c->dirty = xrealloc(c->dirty, (c->n_dirty + 1) * sizeof(*c->dirty));
                        c->dirty[c->n_dirty++] = dirty[k];
                }
                c->dirty_all |= dirty_all;
                pthread_mutex_unlock(&c->lock);
                free(dirty);
                dirty = NULL;
                n_dirty = 0;
        }
        for (size_t k = 0; k < n_dirty; k++)
                free(dirty[k]);
        free(dirty);
        store_containers_free(rows, n_rows);
        json_decref(list);
        return s;
}

void snapshot_refresh(struct ds01d *d)
{
        snapshot_put(d->snap, snapshot_get(d, NULL));
}

bool snapshot_ready(struct ds01d *d)
{
        struct snapshot *s = take_current(d->snap);
        bool ok = fresh(s, d);
        snapshot_put(d->snap, s);
        return ok;
}

const struct snapshot *snapshot_get(struct ds01d *d, struct error **err)
{
        struct snapshot_cache *c = d->snap;
        struct snapshot *s = take_current(c);
        if (fresh(s, d))
                return s;
        /* Only old, nothing known to have changed: one reader rebuilds, the others go on with
         * this one rather than queue behind a Docker call. */
        if (current(s, d)) {
                if (pthread_mutex_trylock(&c->build_lock) != 0)
                        return s;
        } else
                pthread_mutex_lock(&c->build_lock);
        /* Someone else may have rebuilt while this thread waited. */
        struct snapshot *again = take_current(c);
        if (again != s || !fresh(again, d)) {
                snapshot_put(c, s);
                s = again;
        } else {
                snapshot_put(c, again);
        }
        if (fresh(s, d)) {
                pthread_mutex_unlock(&c->build_lock);
                return s;
        }
        struct snapshot *n = build(d, s, err);
        snapshot_put(c, s);
        if (!n) {
                pthread_mutex_unlock(&c->build_lock);
                return NULL;
        }
        pthread_mutex_lock(&c->lock);
        struct snapshot *old = c->cur;
        c->cur = n;
        n->refs++; /* the cache's reference; the caller keeps the one build gave */
        bool last = old && --old->refs == 0;
        pthread_mutex_unlock(&c->lock);
        if (last)
                snap_free(old);
        pthread_mutex_unlock(&c->build_lock);
        return n;
}

/* Docker's units.HumanDuration. */
static void human_duration(int64_t secs, char buf[static 32])
{
        if (secs < 1)
                snprintf(buf, 32, "Less than a second");
        else if (secs == 1)
                snprintf(buf, 32, "1 second");
        else if (secs < 60)
                snprintf(buf, 32, "%lld seconds", (long long)secs);
        else if (secs / 60 == 1)
                snprintf(buf, 32, "About a minute");
        else if (secs / 60 < 60)
                snprintf(buf, 32, "%lld minutes", (long long)(secs / 60));
        else {
                long long hours = llround((double)secs / 3600.0);
                if (hours == 1)
                        snprintf(buf, 32, "About an hour");
                else if (hours < 48)
                        snprintf(buf, 32, "%lld hours", hours);
                else if (hours < 24 * 7 * 2)
                        snprintf(buf, 32, "%lld days", hours / 24);
                else if (hours < 24 * 30 * 2)
                        snprintf(buf, 32, "%lld weeks", hours / 24 / 7);
                else if (hours < 24 * 365 * 2)
                        snprintf(buf, 32, "%lld months", hours / 24 / 30);
                else
                        snprintf(buf, 32, "%lld years", (long long)(secs / 3600 / 24 / 365));
        }
}

char *snapshot_status_text(const struct snap_container *sc, int64_t now)
{
        char d[32];
        if (streq(sc->state, "running") || streq(sc->state, "paused")) {
                human_duration(now - sc->started_at, d);
                return xasprintf("Up %s%s", d, streq(sc->state, "paused") ? " (Paused)" : "");
        }
        if (streq(sc->state, "exited")) {
                human_duration(now - sc->finished_at, d);
                return xasprintf("Exited (%lld) %s ago", (long long)sc->exit_code, d);
        }
        if (streq(sc->state, "created"))
                return xstrdup("Created");
        if (streq(sc->state, "restarting"))
                return xstrdup("Restarting");
        if (streq(sc->state, "removing"))
                return xstrdup("Removal In Progress");
        if (streq(sc->state, "dead"))
                return xstrdup("Dead");
        return xstrdup(sc->state);
}
