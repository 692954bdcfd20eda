/* outside.c - GPUs busy outside ds01: the scan, the uses it publishes, their log and warnings
 * (see outside.h). */
#include "daemon/gpus/outside.h"

#include "daemon/docker/dockerjson.h"
#include "daemon/gpus/nvml.h"
#include "daemon/gpus/procowner.h"
#include "daemon/gpus/queuekick.h"
#include "daemon/observe/notify.h"
#include "daemon/requests/caller.h"
#include "shared/log.h"
#include "shared/strbuf.h"
#include "shared/strv.h"

#include <pthread.h>

struct name_entry {
        char *id, *name;
        bool seen;
};

struct outside {
        pthread_mutex_t lock; /* uses, n_uses */
        struct outside_use *uses;
        size_t n_uses;
        /* names of containers ds01 does not manage, by Docker id (the scan's own; entries not
         * seen in a scan are dropped, so it stays as small as what runs on the GPUs) */
        struct name_entry *names;
        size_t n_names;
};

struct outside *outside_new(void)
{
        struct outside *o = xcalloc(1, sizeof(*o));
        pthread_mutex_init(&o->lock, NULL);
        return o;
}

static void use_release(struct outside_use *u)
{
        free(u->slot_uuid);
        free(u->profile);
        free(u->user);
        free(u->command);
        free(u->container);
}

void outside_uses_free(struct outside_use *v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                use_release(&v[i]);
        free(v);
}

struct outside *outside_free(struct outside *o)
{
        if (!o)
                return NULL;
        outside_uses_free(o->uses, o->n_uses);
        for (size_t i = 0; i < o->n_names; i++) {
                free(o->names[i].id);
                free(o->names[i].name);
        }
        free(o->names);
        pthread_mutex_destroy(&o->lock);
        free(o);
        return NULL;
}

static struct outside_use use_copy(const struct outside_use *u)
{
        struct outside_use c = *u;
        c.slot_uuid = xstrdup(u->slot_uuid);
        c.profile = u->profile ? xstrdup(u->profile) : NULL;
        c.user = xstrdup(u->user);
        c.command = xstrdup(u->command);
        c.container = u->container ? xstrdup(u->container) : NULL;
        return c;
}

size_t outside_uses(struct outside *o, struct outside_use **ret)
{
        *ret = NULL;
        if (!o)
                return 0;
        pthread_mutex_lock(&o->lock);
        size_t n = o->n_uses;
        struct outside_use *v = xcalloc(n + 1, sizeof(*v));
        for (size_t i = 0; i < n; i++)
                v[i] = use_copy(&o->uses[i]);
        pthread_mutex_unlock(&o->lock);
        *ret = v;
        return n;
}

/* ---- for people ---- */

static char *where_text(const struct outside_use *u)
{
        if (streq(u->where, "host"))
                return xasprintf("host process '%s'", u->command);
        if (streq(u->where, "managed"))
                return xasprintf("in ds01 container '%s', which does not lease it",
                                 u->container ? u->container : "?");
        if (u->container)
                return xasprintf("in container '%s', not managed by ds01", u->container);
        return xasprintf("'%s' in a container not managed by ds01", u->command);
}

static char *slot_text(const struct outside_use *u)
{
        return u->profile ? xasprintf("GPU %d (MIG %s)", u->gpu_index, u->profile)
                          : xasprintf("GPU %d", u->gpu_index);
}

char *outside_use_text(const struct outside_use *u)
{
        _cleanup_free_ char *slot = slot_text(u), *where = where_text(u);
        return xasprintf("%s is used by %s (pid %d, %s)", slot, u->user, (int)u->pid, where);
}

char **outside_busy(struct outside *o, char **ret_why)
{
        *ret_why = NULL;
        struct strv busy = {0};
        if (!o)
                return strv_take(&busy);
        pthread_mutex_lock(&o->lock);
        for (size_t i = 0; i < o->n_uses; i++)
                if (!strv_contains(&busy, o->uses[i].slot_uuid))
                        strv_push(&busy, o->uses[i].slot_uuid);
        if (o->n_uses) {
                _cleanup_free_ char *first = outside_use_text(&o->uses[0]);
                *ret_why = o->n_uses > 1 ? xasprintf("%s, and %zu more process%s", first,
                                                     o->n_uses - 1, o->n_uses > 2 ? "es" : "")
                                         : xstrdup(first);
        }
        pthread_mutex_unlock(&o->lock);
        return strv_take(&busy);
}

static json_t *use_json(const struct outside_use *u)
{
        json_t *j = json_pack("{s:s, s:i, s:i, s:s, s:I, s:s, s:s, s:I, s:b}", "slot", u->slot_uuid,
                              "gpu", u->gpu_index, "pid", (int)u->pid, "user", u->user, "uid",
                              (json_int_t)u->uid, "command", u->command, "where", u->where, "since",
                              (json_int_t)u->since, "exempt", u->exempt);
        if (u->profile)
                json_object_set_new(j, "profile", json_string(u->profile));
        if (u->container)
                json_object_set_new(j, "container", json_string(u->container));
        _cleanup_free_ char *text = outside_use_text(u);
        json_object_set_new(j, "text", json_string(text));
        return j;
}

json_t *outside_json(struct outside *o)
{
        json_t *a = json_array();
        struct outside_use *v;
        size_t n = outside_uses(o, &v);
        for (size_t i = 0; i < n; i++)
                json_array_append_new(a, use_json(&v[i]));
        outside_uses_free(v, n);
        return a;
}

/* ---- the scan ---- */

/* The name of a container ds01 does not manage: one inspect per new container (an observation;
 * nothing is ever asked of it). NULL when Docker does not know the id. */
static const char *container_name(struct ds01d *d, struct outside *o, const char *id)
{
        for (size_t i = 0; i < o->n_names; i++)
                if (streq(o->names[i].id, id)) {
                        o->names[i].seen = true;
                        return o->names[i].name;
                }
        json_t *j = docker_container_inspect(d->docker, id, NULL);
        const char *nm = j ? jstr(j, "Name") : NULL;
        if (nm && *nm == '/')
                nm++;
        o->names = xrealloc(o->names, (o->n_names + 1) * sizeof(*o->names));
        o->names[o->n_names] = (struct name_entry){xstrdup(id), nm ? xstrdup(nm) : NULL, true};
        json_decref(j);
        return o->names[o->n_names++].name;
}

static void names_sweep(struct outside *o)
{
        for (size_t i = 0; i < o->n_names;) {
                if (!o->names[i].seen) {
                        free(o->names[i].id);
                        free(o->names[i].name);
                        o->names[i] = o->names[--o->n_names];
                        continue;
                }
                o->names[i++].seen = false;
        }
}

static const struct outside_managed *managed_find(const struct outside_managed *v, size_t n,
                                                  const char *id)
{
        for (size_t i = 0; i < n; i++)
                if (v[i].id && streq(v[i].id, id))
                        return &v[i];
        return NULL;
}

/* A process whose cgroup named no managed container but that has a PID namespace of its own:
 * the managed container whose main process shares it, or NULL. */
static const struct outside_managed *managed_by_pidns(const struct outside_managed *v, size_t n,
                                                      const struct procowner *po)
{
        if (!po->own_pidns || !po->pidns[0])
                return NULL;
        for (size_t i = 0; i < n; i++) {
                char ns[sizeof(po->pidns)];
                if (v[i].pid > 0 && procowner_pidns(v[i].pid, ns, sizeof(ns)) == 0 &&
                    streq(ns, po->pidns))
                        return &v[i];
        }
        return NULL;
}

static bool leases_slot(const struct outside_managed *mc, const char *uuid)
{
        for (size_t i = 0; mc->slots && mc->slots[i]; i++)
                if (streq(mc->slots[i], uuid))
                        return true;
        return false;
}

/* The same use the last scan published (same slot, pid and owner), or NULL. */
static const struct outside_use *previous(const struct outside_use *v, size_t n, const char *slot,
                                          pid_t pid, uid_t uid)
{
        for (size_t i = 0; i < n; i++)
                if (v[i].pid == pid && v[i].uid == uid && streq(v[i].slot_uuid, slot))
                        return &v[i];
        return NULL;
}

struct scan {
        struct ds01d *d;
        const struct outside_managed *managed;
        size_t n_managed;
        const struct outside_use *old; /* the last scan's (the scan thread's own copy) */
        size_t n_old;
        struct outside_use *uses; /* this scan's */
        size_t n_uses;
};

static void add_use(struct scan *sc, const struct outside_use *u)
{
        sc->uses = xrealloc(sc->uses, (sc->n_uses + 1) * sizeof(*sc->uses));
        sc->uses[sc->n_uses++] = *u;
}

/* Process pid on slot s: an outside use, or nothing (a managed container's on its own lease, or
 * a process already gone). */
static void attribute(struct scan *sc, const struct gpu_slot *s, pid_t pid)
{
        struct procowner po;
        if (procowner_read(pid, &po) < 0)
                return; /* ended since NVML listed it: the next scan will not list it */
        struct outside_use u = {.pid = pid, .uid = po.uid, .gpu_index = s->gpu_index};
        const struct outside_managed *mc =
            po.container_id[0] ? managed_find(sc->managed, sc->n_managed, po.container_id) : NULL;
        if (!mc && !po.container_id[0])
                mc = managed_by_pidns(sc->managed, sc->n_managed, &po);
        if (mc && leases_slot(mc, s->uuid))
                return; /* the normal case: a managed container on its own GPU */
        const struct outside_use *prev = previous(sc->old, sc->n_old, s->uuid, pid, po.uid);
        if (prev) {
                add_use(sc, &(struct outside_use){0});
                sc->uses[sc->n_uses - 1] = use_copy(prev);
                return;
        }
        if (mc) {
                u.where = "managed";
                u.container = xstrdup(mc->name);
        } else if (po.container_id[0] || po.own_pidns) {
                u.where = "container";
                const char *nm = po.container_id[0]
                                     ? container_name(sc->d, sc->d->outside, po.container_id)
                                     : NULL;
                u.container = nm ? xstrdup(nm) : NULL;
        } else
                u.where = "host";
        struct caller owner;
        if (caller_for(po.uid, &owner) == 0) {
                u.user = xstrdup(owner.login);
                caller_release(&owner);
        } else
                u.user = xasprintf("uid %u", (unsigned)po.uid);
        u.slot_uuid = xstrdup(s->uuid);
        u.profile = s->profile ? xstrdup(s->profile) : NULL;
        u.command = xstrdup(po.comm);
        u.since = now_s();
        u.exempt = limits_bare_metal_exempt(sc->d->limits, u.user);
        add_use(sc, &u);
}

/* The last scan's uses of slot s, kept as they were (NVML could not list its processes this
 * time: unknown is not free). */
static void keep_previous(struct scan *sc, const struct gpu_slot *s)
{
        for (size_t i = 0; i < sc->n_old; i++)
                if (streq(sc->old[i].slot_uuid, s->uuid)) {
                        add_use(sc, &(struct outside_use){0});
                        sc->uses[sc->n_uses - 1] = use_copy(&sc->old[i]);
                }
}

static void scan_slot(struct scan *sc, const struct gpu_slot *s)
{
        pid_t *pids = NULL;
        size_t n = 0;
        struct error *err = NULL;
        if (nvml_processes(sc->d->nvml, s->uuid, &pids, &n, &err) < 0) {
                log_debug("GPU processes of %s: %s", s->uuid, err->message);
                error_free(err);
                keep_previous(sc, s);
                return;
        }
        for (size_t i = 0; i < n; i++)
                attribute(sc, s, pids[i]);
        free(pids);
}

static json_t *event_details(const struct outside_use *u)
{
        json_t *j = json_pack("{s:i, s:s, s:i, s:s, s:s, s:b}", "gpu", u->gpu_index, "slot",
                              u->slot_uuid, "pid", (int)u->pid, "command", u->command, "where",
                              u->where, "exempt", u->exempt);
        json_object_set_new(j, "uid", json_integer((json_int_t)u->uid));
        if (u->profile)
                json_object_set_new(j, "profile", json_string(u->profile));
        if (u->container)
                json_object_set_new(j, "container", json_string(u->container));
        return j;
}

/* The owner of a new use hears of it once: inbox, terminals, webhook. */
static void warn_owner(struct ds01d *d, const struct outside_use *u)
{
        struct caller owner;
        if (u->exempt || u->uid == 0 || caller_for(u->uid, &owner) < 0)
                return;
        _cleanup_free_ char *slot = slot_text(u), *where = where_text(u);
        _cleanup_free_ char *text = xasprintf(
            "Your process %d (%s) uses %s outside ds01. ds01 leases that GPU to nobody while it "
            "runs, and will not stop it; please run GPU work in a ds01 container "
            "(container-deploy) instead.",
            (int)u->pid, where, slot);
        const char *place = u->container ? u->container : "host";
        struct error *err = NULL;
        if (store_inbox_add(d->store, owner.uid, place, "bare_metal_warning", text, &err) < 0) {
                log_error("inbox of %s: %s", owner.login, err->message);
                error_free(err);
        }
        json_t *details = event_details(u);
        struct notify_msg m = {
            .uid = owner.uid,
            .gid = owner.gid,
            .login = owner.login,
            .container = place,
            .event = "bare_metal_warning",
            .text = text,
            .details = details,
        };
        notify_send(d->notify, &m);
        events_log(d->events, "bare_metal.warning", owner.login, json_incref(details));
        json_decref(details);
        caller_release(&owner);
}

static void log_start(struct ds01d *d, const struct outside_use *u)
{
        _cleanup_free_ char *text = outside_use_text(u);
        log_notice("%s: in use outside ds01, leased to nobody while it lasts%s", text,
                   u->exempt ? " (bare_metal_access exempt)" : "");
        events_log(d->events, "gpu.unmanaged_use", u->user, event_details(u));
        warn_owner(d, u);
}

static void log_end(struct ds01d *d, const struct outside_use *u)
{
        _cleanup_free_ char *text = outside_use_text(u);
        int64_t dur = now_s() - u->since;
        log_notice("%s: ended after %llds; the GPU is leasable again when nothing else uses it",
                   text, (long long)dur);
        json_t *det = event_details(u);
        json_object_set_new(det, "duration_s", json_integer((json_int_t)(dur > 0 ? dur : 0)));
        events_log(d->events, "gpu.unmanaged_end", u->user, det);
}

void outside_scan(struct ds01d *d, const struct outside_managed *managed, size_t n_managed)
{
        struct outside *o = d->outside;
        if (!o || !d->nvml)
                return;
        struct outside_use *old;
        size_t n_old = outside_uses(o, &old);
        struct scan sc = {
            .d = d, .managed = managed, .n_managed = n_managed, .old = old, .n_old = n_old};
        const struct gpu_slot *slots;
        size_t n = gpu_inventory_slots(d->inv, &slots);
        for (size_t i = 0; i < n; i++)
                if (slots[i].allocatable)
                        scan_slot(&sc, &slots[i]);
        names_sweep(o);

        pthread_mutex_lock(&o->lock);
        struct outside_use *gone = o->uses;
        size_t n_gone = o->n_uses;
        o->uses = sc.uses;
        o->n_uses = sc.n_uses;
        pthread_mutex_unlock(&o->lock);

        /* after publishing: placement already skips the new ones while we log */
        for (size_t i = 0; i < sc.n_uses; i++) {
                const struct outside_use *u = &sc.uses[i];
                if (!previous(old, n_old, u->slot_uuid, u->pid, u->uid))
                        log_start(d, u);
        }
        bool ended = false;
        for (size_t i = 0; i < n_old; i++)
                if (!previous(sc.uses, sc.n_uses, old[i].slot_uuid, old[i].pid, old[i].uid)) {
                        log_end(d, &old[i]);
                        ended = true;
                }
        if (ended)
                queuekick_ring(d->kick); /* a waiting deploy may fit on that GPU now */
        outside_uses_free(old, n_old);
        outside_uses_free(gone, n_gone);
}
