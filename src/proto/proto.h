/* proto.h - the CLI <-> ds01d protocol (version PROTO_VERSION).
 *
 * Transport: a SOCK_SEQPACKET unix socket. The daemon identifies the caller by SO_PEERCRED and
 * SO_PEERGROUPS; nothing in a message is trusted for identity.
 *
 * Framing: every datagram starts with one byte: 'M' (more fragments follow) or 'E' (last
 * fragment), then up to PROTO_FRAGMENT bytes of UTF-8 JSON text. A message is the concatenation
 * of its fragments. Requests must fit one datagram (PROTO_MAX_REQUEST); responses may be split
 * (bounded by PROTO_MAX_RESPONSE). A file descriptor may travel with the last fragment of a
 * response (SCM_RIGHTS): that is how an interactive exec or a log stream is handed to the CLI,
 * so the user never gets the Docker socket itself.
 *
 * Request:  {"v":1, "method":"container.deploy", "params":{...}}
 * Response: {"v":1, "ok":true,  "result":{...}, "notices":["..."]}
 *           {"v":1, "ok":false, "error":{"code":N, "message":"..."}}
 * where N is an exit code (enum ds01_code, error.h).
 *
 * Methods (params -> result). NAME is a project ("my-project") or, for admins, a full container
 * name ("my-project._.alice"). A name that is not the caller's answers "not found".
 *   daemon.ping        {} -> {version, instance, api (= PROTO_VERSION), docker_api,
 *                      gpu_backend, user, admin}
 *   container.deploy   {project, image?, gpus? (int 0..64, default 1), mig? (profile), cpu_only?,
 *                      cmd? ([str]), start? (bool, default true), slurm_job? (str: a Slurm
 *                      job id; cluster mode only, instead of gpus/mig/cpu_only/wait: the job's
 *                      GPUs on this node, cluster/slurmdeploy.h)}
 *                      -> {container, project, existed (bool), state, image, workspace,
 *                          gpus: [{uuid, name, index, weight, profile?}], slurm_job?}
 *                      (existed: true when the project already had a container; gpus are then
 *                      plain uuid strings from its labels; a cmd that cannot start fails the
 *                      deploy with code 127 (not found) or 126 (not runnable), as shells exit)
 *   container.start    {name} -> {container, state, started (false if it was running)}
 *   container.stop     {name, timeout_s? (default: the owner's sigterm_grace_s)}
 *                      -> {container, state, sigterm_grace_s, gpus (bool: it holds some),
 *                          gpu_hold_after_stop_h, container_hold_after_stop_h}
 *   container.remove   {name, force?} -> {container, released: [uuid]}
 *   container.retire   {name} -> {container, released: [uuid], workspace, stopped (bool: it
 *                          was running), sigterm_grace_s}
 *                      (every stop: SIGTERM to every process, the grace, then SIGKILL)
 *   container.rename   {name, to (PROJECT or PROJECT._.<own user part>)}
 *                      -> {container (the new name), from, project} (the Docker endpoint's
 *                      docker rename; refusals: 2 invalid, 3 in use / ports / sessions)
 *   container.list     {all? (bool; admins: everyone's)}
 *                      -> {containers: [{name, project, user, uid, state, status, image,
 *                          gpus: [{uuid, lease, weight, since, name, index, profile?}],
 *                          created_at, started_at, finished_at (unix seconds; 0 = never),
 *                          exit_code, workspace, and for running ones: idle_s, idle_timeout_s,
 *                          idle_left_s, runtime_s, runtime_limit_s, runtime_left_s, keepalive?
 *                          {until, source}, signals {cpu_pct, net_bytes, gpu_pct, session}}]}
 *   container.exec     {name, tty (bool), cmd? ([str]), rows?, cols?, start? (bool), term?}
 *                      -> {exec_id, container, tty} + fd (the raw exec stream)
 *   container.resize   {exec_id, rows, cols} -> {}
 *   container.exec_status {exec_id} -> {running (bool), exit_code}
 *   container.logs     {name, follow? (bool), tail? (int, -1 = all)} -> {tty (bool)} + fd
 *   container.keepalive {name, seconds | off (bool)} -> {container, until, max_s}
 *   inbox.list         {limit?} -> {messages: [{id, container, event, message, time}]}
 *   gpu.list (admin)   {} -> {backend, slots: [...], orphaned_leases: [...]}
 *   gpu.rescan (admin) {} -> {changed, added, removed, orphaned_leases, allocatable}
 *   gpu.drain (admin)  {uuid, reason?, undrain?} -> {uuid, drained, changed}
 *   container.stats    {name?, all? (admin)} -> {containers: [container-list rows + stats:
 *                      {sampled_at_ms, cpu_pct, mem_used_bytes, mem_limit_bytes, pids,
 *                      net_rx_bps, net_tx_bps, gpus: [{uuid, util_pct, mem_used_bytes,
 *                      mem_total_bytes}]} (null where unknown)], sample_interval_s}; the
 *                      caller's own, from the monitor's last samples (no Docker call)
 *   admin.status (admin) {} -> gpu.list's answer with util_pct, mem_used_bytes, idle_s per
 *                      leased slot, totals {slots, leased, free, drained, held, gpus_idle,
 *                      gpu_equivalents, gpu_equivalents_leased, containers_running,
 *                      containers_stopped, users}, warnings [{kind, message, ...}], monitor
 *   admin.users (admin) {user?} -> {users: [limits.get's answer per user + running,
 *                      docker_containers, this_month {gpu_hours_*, containers,
 *                      enforcement_stops}]}; an unknown user: DS01_ENOTFOUND
 *   admin.health (admin) {} -> {ok, checks: [{name, ok, detail}]} (docker, docker_events, nvml,
 *                      ledger, config, disk_state, disk_log, monitor)
 *   admin.reload (admin) {} -> {config, limits_file}; a bad file: DS01_ERR naming file:line
 *   image.template     {project, framework?, packages? ([str]), system? ([str]), requirements?
 *                      (path relative to the project directory)} -> {dockerfile (text), base,
 *                      framework}
 *   image.project      {project, create? (bool), framework?} -> {project, dir (the project's
 *                      directory: ~/workspace/<project> or workspace_root/<user>/<project>,
 *                      what a container of the project mounts), created (bool: this call made
 *                      it), frameworks: [name] ("minimal" first)}; create makes the directory
 *                      as a deploy does; a framework the server lacks: DS01_EUSAGE
 *   image.build        {project, nocache? (bool)} + fd: the build context as a tar stream (the
 *                      CLI writes it into a pipe as the user, .dockerignore honoured); answers
 *                      with progress messages {"v":1, "progress":{...}} (each one of Docker's
 *                      build messages: {"stream": "..."}, {"status": ...}, {"aux": ...},
 *                      plus ds01's {"step": N, "steps": M, "text": "RUN ..."} when a step
 *                      starts), then the final {image, id, steps, seconds}. Closing the
 *                      connection cancels the build (also while the context is sent). One
 *                      build per user at a time (images.max_builds_per_user), and none while
 *                      the user's images take images.max_images_mb_per_user: DS01_ERESOURCE.
 *   image.list         {all? (admins)} -> {images: [{image, project, uid, id, size, created,
 *                      containers: [name]}], disk: {used, max (bytes; null = no limit): the
 *                      caller's images against images.max_images_mb_per_user}}
 *   image.delete       {project (or full ds01-<uid>/<p>:latest for admins), force?} -> {image,
 *                      deleted}
 *   events.query       {user?, type? (exact, or a family "gpu."), container?, since?, until?
 *                      (ISO time or "2h" ago), limit? (1..5000, default 200), after? (a cursor)}
 *                      -> {events: [...] (oldest first), cursor, more?, skipped?}
 *                      (the caller's own; administrators anyone's). Without `after`: the newest
 *                      `limit` matches across events.jsonl and its rotated files. `cursor`
 *                      (opaque: inode, offset, and a tag of the bytes before the offset) is
 *                      where the log ended for this answer; with `after: cursor` the answer
 *                      holds the matches written since, oldest first, at most min(limit, 1000)
 *                      and 8 MiB of log read per call, continuing across rotations (the file
 *                      is found by inode and tag, whatever its name now). more: a bound
 *                      stopped it (ask again at once); skipped: the cursor's file was rotated
 *                      away and the answer starts at the oldest file kept. This is how
 *                      `ds01 events --follow` polls (short calls, no connection held).
 *   usage.report       {month? ("YYYY-MM", default the current UTC month), user? (login)}
 *                      -> {month, users: [{user, uid, gpu_hours_allocated, gpu_hours_active,
 *                          gpu_hours_idle_held, containers, enforcement_stops}],
 *                          totals: {gpu_hours_allocated, gpu_hours_active, gpu_hours_idle_held,
 *                          containers, enforcement_stops}}
 *                      GPU-hours are GPU-equivalent hours (a MIG instance counts slices/7) by
 *                      UTC day; the caller's own row (zeros when nothing was recorded);
 *                      administrators: anyone's, and without user everyone with usage that
 *                      month. Another user's as a non-administrator: DS01_EPERM; a bad month:
 *                      DS01_EUSAGE; an unknown user: DS01_ENOTFOUND.
 *   Every answer may carry "notices": inbox messages not shown yet (then marked shown).
 *   limits.get         {} -> {user, uid, group, overridden (bool),
 *                      limits: {max_gpu_equivalents, max_gpu_slots_per_container,
 *                          allow_full_gpu, max_cpus, memory, memory_swap, shm_size (bytes),
 *                          pids_limit, max_containers_per_user, max_runtime_h, idle_timeout_h,
 *                          gpu_hold_after_stop_h, container_hold_after_stop_h (null =
 *                          unlimited), max_builds_per_user, policies: {...}},
 *                      usage: {gpu_equivalents, gpu_slots, containers,
 *                          gpus: [{container, uuid, weight}], builds (image builds running;
 *                          each under memory and max_cpus)}}
 *   cluster.info       {} -> {enabled: false} on a single server, else {enabled: true, backend,
 *                      name, node, slurm_bin, slurm_conf (null: Slurm's default), group,
 *                      accounts (bool), account?, qos?, time_limit_min (null: none),
 *                      sigterm_grace_s, signal_before_end_s, max_gpu_equivalents,
 *                      max_runtime_h, admin} (the node's Slurm for routing, and the caller's
 *                      sbatch options for a deploy in cluster mode; cluster/clusterinfo.h)
 */
#pragma once

#include "../shared/error.h"

#include <jansson.h>

#define PROTO_VERSION        1
#define PROTO_MAX_REQUEST    (64 * 1024)
#define PROTO_FRAGMENT       (60 * 1024)
#define PROTO_MAX_RESPONSE   (16 * 1024 * 1024)
#define PROTO_DEFAULT_SOCKET "/run/ds01/ds01.sock"

/* Sends one message (fragmented as needed); pass_fd >= 0 travels with the last fragment. */
int proto_send(int sock, const char *data, size_t len, int pass_fd, struct error **err);
/* Sends a one-fragment message without waiting (MSG_DONTWAIT): 0 sent, 1 not now (the socket's
 * buffer is full, or len needs more than one fragment: send it with proto_send), -1 the
 * connection is broken. */
int proto_try_send(int sock, const char *data, size_t len);
/* Sends a JSON value as one message. */
int proto_send_json(int sock, const json_t *msg, int pass_fd, struct error **err);
/* Receives one message of at most max bytes. *ret_fd is a received descriptor (close-on-exec) or
 * -1. Returns 0, or -1 with err set; a clean EOF before any fragment returns 1. */
int proto_recv(int sock, size_t max, char **ret_data, size_t *ret_len, int *ret_fd,
               struct error **err);
/* Receives and parses one JSON object message. Same returns as proto_recv. */
int proto_recv_json(int sock, size_t max, json_t **ret_msg, int *ret_fd, struct error **err);

/* Client side: connect to path ($DS01_SOCKET or PROTO_DEFAULT_SOCKET when NULL). */
int proto_connect(const char *path, struct error **err);
/* One round trip. On {"ok":false} sets err from the error object and returns -1. On success
 * *ret_result is the result object (a new reference), *ret_fd a passed fd or -1, and notices
 * (if any, a new reference or NULL) in *ret_notices when that pointer is non-NULL. */
/* A call whose answer streams: pass_fd (>= 0) travels with the request; every {"progress":X}
 * message before the final answer is handed to on_progress (X borrowed). A non-zero return from
 * on_progress stops reading and returns -1 with err unset (the caller cancels by closing sock). */
typedef int (*proto_progress_fn)(void *userdata, const json_t *progress);
int proto_call_stream(int sock, const char *method, json_t *params /* stolen */, int pass_fd,
                      proto_progress_fn on_progress, void *userdata, json_t **ret_result,
                      json_t **ret_notices, struct error **err);

int proto_call(int sock, const char *method, json_t *params /* stolen, may be NULL */,
               json_t **ret_result, int *ret_fd, json_t **ret_notices, struct error **err);
