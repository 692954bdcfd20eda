/* methods.c - the RPC method table and dispatch (see methods.h). */
#include "daemon/requests/methods.h"

#include "daemon/storage/setup.h"
#include "daemon/cluster/slurmsubmit.h"
#include "daemon/cluster/slurmsync.h"
#include "daemon/config/reload.h"
#include "daemon/config/generation.h"
#include "daemon/containers/datasets.h"
#include "daemon/containers/deploy.h"
#include "daemon/containers/rename.h"
#include "daemon/containers/sessions.h"
#include "daemon/containers/verbs.h"
#include "daemon/gpus/gpuadmin.h"
#include "daemon/gpus/queue.h"
#include "daemon/gpus/reservations.h"
#include "daemon/observe/board.h"
#include "daemon/observe/counters.h"
#include "daemon/observe/processes.h"
#include "daemon/observe/queries.h"
#include "daemon/observe/rows.h"
#include "daemon/observe/snapshot.h"
#include "daemon/observe/status.h"
#include "daemon/observe/usage.h"
#include "daemon/ports/ports.h"
#include "daemon/requests/access.h"
#include "daemon/rules/keepalive.h"
#include "proto/proto.h"
#include "shared/log.h"

#include <unistd.h>

enum param_type { P_STRING, P_INT, P_BOOL, P_STRV, P_OBJECT };

struct param_spec {
        const char *name;
        enum param_type type;
        bool required;
        int64_t min, max; /* P_INT: value bounds; P_STRING: length bounds; P_STRV: item count */
};

typedef int (*handler_fn)(struct ds01d *d, const struct caller *c, json_t *params,
                          json_t **ret_result, struct error **err);
typedef int (*fd_handler_fn)(struct ds01d *d, const struct caller *c, json_t *params,
                             json_t **ret_result, int *ret_fd, struct error **err);
/* A method whose result is already JSON text (a read answered from serialised rows). */
typedef int (*text_handler_fn)(struct ds01d *d, const struct caller *c, json_t *params,
                               char **ret_text, size_t *ret_len, struct error **err);
/* A method that takes a descriptor with the request and streams progress before its answer. */
typedef int (*stream_handler_fn)(struct ds01d *d, const struct caller *c, json_t *params, int in_fd,
                                 int client_fd, images_progress_fn progress, void *progress_ctx,
                                 json_t **ret_result, struct error **err);

enum {
        M_ADMIN = 1 << 0,
        M_READ = 1 << 2, /* changes no container or lease: cached reads stay valid */
        /* answered from memory while the snapshot is fresh: never waits on Docker, so the
         * event-loop threads answer it themselves (see "connections" below) */
        M_QUICK = 1 << 3,
};

struct method {
        const char *name;
        handler_fn handler;
        fd_handler_fn fd_handler;
        unsigned flags;
        struct param_spec params[14];
        stream_handler_fn stream_handler;
        text_handler_fn text_handler;
        /* What the method acts on: access_authorise checks it before the handler runs. */
        enum access_target target;
};

#define NAME_PARAM                                                                                 \
        {                                                                                          \
                "name", P_STRING, true, 1, 255                                                     \
        }

static int handle_ping(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                       struct error **err);
static int handle_rescan(struct ds01d *d, const struct caller *c, json_t *params,
                         json_t **ret_result, struct error **err);

static const struct method methods[] = {
    {"daemon.ping", handle_ping, NULL, M_READ | M_QUICK, {{0}}},
    {"container.deploy",
     queue_deploy,
     NULL,
     0,
     {{"project", P_STRING, true, 0, 255},
      {"image", P_STRING, false, 1, 255},
      {"gpus", P_INT, false, 0, 64},
      {"mig", P_STRING, false, 1, 32},
      {"cpu_only", P_BOOL, false, 0, 0},
      {"cmd", P_STRV, false, 1, 256},
      {"start", P_BOOL, false, 0, 0},
      {"ports", P_STRV, false, 0, NAMES_PORTS_MAX},
      {"data", P_STRV, false, 0, DATASETS_MAX},
      {"ssh", P_BOOL, false, 0, 0},
      {"docker", P_OBJECT, false, 0, 0}, /* the Docker API endpoint's extras (extras.h) */
      {"wait", P_BOOL, false, 0, 0},
      {"max_wait_s", P_INT, false, 1, 366 * 86400},
      {"slurm_job", P_STRING, false, 1, 10}}, /* cluster mode: cluster/slurmdeploy.h */
     .target = TARGET_IMAGE},
    {"container.start", container_start, NULL, 0, {NAME_PARAM}, .target = TARGET_CONTAINER},
    {"container.stop",
     container_stop,
     NULL,
     0,
     {NAME_PARAM, {"timeout_s", P_INT, false, 0, 600}},
     .target = TARGET_CONTAINER},
    {"container.remove",
     container_remove,
     NULL,
     0,
     {NAME_PARAM, {"force", P_BOOL, false, 0, 0}},
     .target = TARGET_CONTAINER},
    {"container.retire", container_retire, NULL, 0, {NAME_PARAM}, .target = TARGET_CONTAINER},
    {"container.rename",
     container_rename,
     NULL,
     0,
     {NAME_PARAM, {"to", P_STRING, true, 1, 255}},
     .target = TARGET_CONTAINER},
    {"container.list",
     NULL,
     NULL,
     M_READ | M_QUICK,
     {{"all", P_BOOL, false, 0, 0}},
     .text_handler = rows_list},
    {"container.exec",
     NULL,
     sessions_exec,
     0,
     {NAME_PARAM,
      {"tty", P_BOOL, false, 0, 0},
      {"cmd", P_STRV, false, 1, 256},
      {"rows", P_INT, false, 0, 10000},
      {"cols", P_INT, false, 0, 10000},
      {"start", P_BOOL, false, 0, 0},
      {"term", P_STRING, false, 1, 64}},
     .target = TARGET_CONTAINER},
    {"container.resize",
     sessions_resize,
     NULL,
     M_READ,
     {{"exec_id", P_STRING, true, 1, 128},
      {"rows", P_INT, true, 1, 10000},
      {"cols", P_INT, true, 1, 10000}},
     .target = TARGET_EXEC},
    {"container.exec_status",
     sessions_exec_status,
     NULL,
     M_READ,
     {{"exec_id", P_STRING, true, 1, 128}},
     .target = TARGET_EXEC},
    {"container.logs",
     NULL,
     sessions_logs,
     M_READ,
     {NAME_PARAM, {"follow", P_BOOL, false, 0, 0}, {"tail", P_INT, false, -1, 1000000}},
     .target = TARGET_CONTAINER},
    {"limits.get", queries_limits, NULL, M_READ, {{0}}},
    {"cluster.submit_params", slurmsubmit_params, NULL, M_READ, {{0}}},
    {"container.keepalive",
     keepalive_set,
     NULL,
     0,
     {NAME_PARAM, {"seconds", P_INT, false, 0, 100LL * 86400}, {"off", P_BOOL, false, 0, 0}},
     .target = TARGET_CONTAINER},
    {"container.top", processes_top, NULL, M_READ, {NAME_PARAM}, .target = TARGET_CONTAINER},
    {"container.port",
     ports_handle,
     NULL,
     0,
     {NAME_PARAM,
      {"action", P_STRING, true, 1, 16},
      {"port", P_STRING, false, 1, 16},
      {"tcp", P_BOOL, false, 0, 0}},
     .target = TARGET_CONTAINER},
    {"inbox.list", queries_inbox, NULL, M_READ, {{"limit", P_INT, false, 1, 200}}},
    {"image.template",
     images_template,
     NULL,
     M_READ,
     {{"project", P_STRING, true, 0, 255},
      {"framework", P_STRING, false, 1, 64},
      {"packages", P_STRV, false, 0, 256},
      {"system", P_STRV, false, 0, 256},
      {"requirements", P_STRING, false, 1, 255}}},
    {"image.project",
     images_project,
     NULL,
     M_READ,
     {{"project", P_STRING, true, 1, 255},
      {"create", P_BOOL, false, 0, 0},
      {"framework", P_STRING, false, 1, 64}}},
    {"image.build",
     NULL,
     NULL,
     0,
     {{"project", P_STRING, true, 0, 255}, {"nocache", P_BOOL, false, 0, 0}},
     images_build},
    {"image.list", images_list, NULL, M_READ, {{"all", P_BOOL, false, 0, 0}}},
    {"events.query",
     queries_events,
     NULL,
     M_READ,
     {{"user", P_STRING, false, 1, 64},
      {"type", P_STRING, false, 1, 64},
      {"container", P_STRING, false, 1, 255},
      {"since", P_STRING, false, 1, 64},
      {"until", P_STRING, false, 1, 64},
      {"limit", P_INT, false, 1, 5000},
      {"after", P_STRING, false, 3, 128}},
     .target = TARGET_USER},
    {"image.delete",
     images_delete,
     NULL,
     0,
     {{"project", P_STRING, true, 1, 255}, {"force", P_BOOL, false, 0, 0}},
     .target = TARGET_IMAGE},
    {"usage.report",
     usage_report,
     NULL,
     M_READ,
     {{"month", P_STRING, false, 1, 64}, {"user", P_STRING, false, 1, 64}},
     .target = TARGET_USER},
    {"gpu.list", gpuadmin_list, NULL, M_ADMIN | M_READ, {{0}}},
    {"container.stats",
     rows_stats,
     NULL,
     M_READ,
     {{"name", P_STRING, false, 1, 255}, {"all", P_BOOL, false, 0, 0}},
     .target = TARGET_CONTAINER},
    {"admin.status", status_report, NULL, M_ADMIN | M_READ, {{0}}},
    {"admin.users",
     status_users,
     NULL,
     M_ADMIN | M_READ,
     {{"user", P_STRING, false, 1, 64}},
     .target = TARGET_USER},
    {"admin.health", status_health, NULL, M_ADMIN | M_READ, {{0}}},
    {"admin.reload", reload_request, NULL, M_ADMIN, {{0}}},
    {"storage.setup", storage_setup, NULL, M_ADMIN | M_READ, {{0}}},
    {"slurm.sync",
     slurmsync_handle,
     NULL,
     M_ADMIN | M_READ, /* Slurm's accounting only: no container or lease changes */
     {{"apply", P_BOOL, false, 0, 0}}},
    {"gpu.rescan", handle_rescan, NULL, M_ADMIN, {{0}}},
    {"gpu.drain",
     gpuadmin_drain,
     NULL,
     M_ADMIN,
     {{"uuid", P_STRING, true, 1, 128},
      {"reason", P_STRING, false, 0, 200},
      {"undrain", P_BOOL, false, 0, 0}}},
    {"reservation.create",
     resv_create,
     NULL,
     M_ADMIN | M_READ, /* no container or lease changes */
     {{"name", P_STRING, true, 1, 64},
      {"gpus", P_INT, false, 1, 64},
      {"slots", P_STRING, false, 1, 8192},
      {"start", P_INT, true, 0, INT64_C(1) << 40},
      {"end", P_INT, true, 0, INT64_C(1) << 40},
      {"users", P_STRING, false, 0, 8192},
      {"group", P_STRING, false, 0, 64}}},
    {"reservation.list", resv_list, NULL, M_READ, {{0}}},
    {"queue.list", queue_list, NULL, M_READ, {{"all", P_BOOL, false, 0, 0}}},
    {"queue.leave",
     queue_leave,
     NULL,
     M_READ, /* no container or lease changes */
     {{"project", P_STRING, false, 1, 255}, {"id", P_INT, false, 1, INT64_C(1) << 53}}},
    {"queue.move",
     queue_move,
     NULL,
     M_ADMIN | M_READ,
     {{"id", P_INT, true, 1, INT64_C(1) << 53}, {"position", P_INT, true, 1, 1000000}}},
    {"board.get", queue_board, NULL, M_READ, {{0}}},
    {"reservation.delete", resv_delete, NULL, M_ADMIN | M_READ, {{"name", P_STRING, true, 1, 64}}},
};

/* Bounded by the request size (PROTO_MAX_REQUEST) anyway; per item as long as that allows. */
#define STRV_MAX_ITEM  (48 * 1024)
#define STRV_MAX_TOTAL (56 * 1024)

static int check_param(const struct param_spec *p, json_t *v, struct error **err)
{
        switch (p->type) {
        case P_STRING: {
                if (!json_is_string(v))
                        return error_set(err, DS01_EUSAGE, "parameter '%s' must be a string",
                                         p->name);
                size_t n = json_string_length(v);
                if ((int64_t)n < p->min || (int64_t)n > p->max)
                        return error_set(err, DS01_EUSAGE,
                                         "parameter '%s' must be %lld to %lld characters long",
                                         p->name, (long long)p->min, (long long)p->max);
                if (strlen(json_string_value(v)) != n)
                        return error_set(err, DS01_EUSAGE, "parameter '%s' contains a NUL byte",
                                         p->name);
                return 0;
        }
        case P_INT: {
                if (!json_is_integer(v))
                        return error_set(err, DS01_EUSAGE, "parameter '%s' must be an integer",
                                         p->name);
                json_int_t x = json_integer_value(v);
                if (x < p->min || x > p->max)
                        return error_set(err, DS01_EUSAGE, "parameter '%s' must be %lld to %lld",
                                         p->name, (long long)p->min, (long long)p->max);
                return 0;
        }
        case P_BOOL:
                if (!json_is_boolean(v))
                        return error_set(err, DS01_EUSAGE, "parameter '%s' must be true or false",
                                         p->name);
                return 0;
        case P_OBJECT: /* its keys are checked by the handler's parser */
                if (!json_is_object(v))
                        return error_set(err, DS01_EUSAGE, "parameter '%s' must be an object",
                                         p->name);
                return 0;
        case P_STRV: {
                if (!json_is_array(v))
                        return error_set(err, DS01_EUSAGE, "parameter '%s' must be a list",
                                         p->name);
                size_t n = json_array_size(v), total = 0;
                if ((int64_t)n < p->min || (int64_t)n > p->max)
                        return error_set(err, DS01_EUSAGE,
                                         "parameter '%s' must have %lld to %lld items", p->name,
                                         (long long)p->min, (long long)p->max);
                size_t i;
                json_t *s;
                json_array_foreach (v, i, s) {
                        if (!json_is_string(s) ||
                            strlen(json_string_value(s)) != json_string_length(s) ||
                            json_string_length(s) > STRV_MAX_ITEM)
                                return error_set(err, DS01_EUSAGE,
                                                 "parameter '%s' item %zu must be a string of at "
                                                 "most %d bytes without NUL",
                                                 p->name, i, STRV_MAX_ITEM);
                        total += json_string_length(s);
                }
                if (total > STRV_MAX_TOTAL)
                        return error_set(err, DS01_EUSAGE, "parameter '%s' is too long", p->name);
                return 0;
        }
        }
        return error_set(err, DS01_EUSAGE, "parameter '%s' has an unknown type", p->name);
}

/* The index of a method in the table, or -1. */
static int find(const char *name)
{
        for (size_t i = 0; name && i < ARRAY_SIZE(methods); i++)
                if (streq(methods[i].name, name))
                        return (int)i;
        return -1;
}

int methods_validate(const char *method, json_t *params, struct error **err)
{
        int idx = find(method);
        const struct method *m = idx >= 0 ? &methods[idx] : NULL;
        if (!m)
                return error_set(err, DS01_EUSAGE,
                                 "unknown method '%.64s' - the CLI and daemon versions differ; "
                                 "use the ds01 that came with this ds01d",
                                 method);
        if (!json_is_object(params))
                return error_set(err, DS01_EUSAGE, "params must be an object");
        const char *key;
        json_t *v;
        json_object_foreach (params, key, v) {
                const struct param_spec *p = NULL;
                for (size_t i = 0; i < ARRAY_SIZE(m->params) && m->params[i].name; i++)
                        if (streq(m->params[i].name, key))
                                p = &m->params[i];
                if (!p)
                        return error_set(err, DS01_EUSAGE, "unknown parameter '%.64s' for %s", key,
                                         method);
                if (json_is_null(v) && !p->required)
                        continue;
                if (check_param(p, v, err) < 0)
                        return -1;
        }
        for (size_t i = 0; i < ARRAY_SIZE(m->params) && m->params[i].name; i++)
                if (m->params[i].required && !json_object_get(params, m->params[i].name))
                        return error_set(err, DS01_EUSAGE, "missing parameter '%s' for %s",
                                         m->params[i].name, method);
        return idx;
}

static int handle_ping(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                       struct error **err)
{
        (void)params;
        (void)err;
        *ret_result = json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:b}", "version", DS01_VERSION,
                                "instance", d->cfg->instance, "docker_api",
                                docker_api_version(d->docker), "api", PROTO_VERSION, "gpu_backend",
                                gpu_inventory_backend(d->inv), "user", c->login, "admin", c->admin);
        return 0;
}

static int handle_rescan(struct ds01d *d, const struct caller *c, json_t *params,
                         json_t **ret_result, struct error **err)
{
        (void)params;
        log_notice("GPU rescan requested by %s", c->login);
        return gpuadmin_rescan(d, ret_result, err);
}

int methods_find(const char *method, struct error **err)
{
        int idx = find(method);
        if (idx < 0)
                error_set(err, DS01_EUSAGE,
                          "unknown method '%.64s' - the CLI and daemon versions differ; use the "
                          "ds01 that came with this ds01d",
                          method ? method : "");
        return idx;
}

const char *methods_name(int idx)
{
        return methods[idx].name;
}

bool methods_quick(const char *method)
{
        int idx = find(method);
        return idx >= 0 && (methods[idx].flags & M_QUICK);
}

int methods_call(struct ds01d *d, const struct caller *c, int idx, json_t *params,
                 struct method_io *io, struct error **err)
{
        const struct method *m = &methods[idx];
        io->result = NULL;
        io->text = NULL;
        io->text_len = 0;
        io->out_fd = -1;
        if (methods_validate(m->name, params, err) < 0)
                return -1;
        /* The request's generation, taken once: no lock is held while the handler runs. */
        struct ds01d view;
        ds01d_pin(d, &view);
        struct access_rule rule = {m->name, m->flags & M_ADMIN, m->target};
        int r = access_authorise(&view, c, &rule, params, err);
        if (r == 0)
                r = m->handler ? m->handler(&view, c, params, &io->result, err)
                    : m->text_handler
                        ? m->text_handler(&view, c, params, &io->text, &io->text_len, err)
                    : m->fd_handler
                        ? m->fd_handler(&view, c, params, &io->result, &io->out_fd, err)
                        : m->stream_handler(&view, c, params, io->in_fd, io->client_fd,
                                            io->progress, io->progress_ctx, &io->result, err);
        ds01d_unpin(&view);
        /* Before the answer: the caller's next read must see what this did. */
        if (!(m->flags & M_READ))
                snapshot_invalidate(d->snap);
        if (r < 0 && !*err)
                error_set(err, DS01_ERR, "%s failed", m->name);
        return r;
}
