/* docker.h - a client for the Docker Engine API over its unix socket (libcurl).
 *
 * docker_new() negotiates the API version with the unversioned GET /version and prefixes every
 * later path with "/v<ApiVersion>". Use only fields that exist from API 1.41 on (Debian 12's
 * engine). Safe to use from many threads at once (a curl easy handle per call or per thread).
 * Errors: HTTP 404 -> DS01_ENOTFOUND, 409 -> DS01_ERR, others DS01_ERR; the message is Docker's
 * {"message": ...} text. Nothing here logs. */
#pragma once

#include "shared/error.h"

#include <jansson.h>
#include <sys/types.h>

struct docker;

struct docker *docker_new(const char *socket_path, struct error **err);
struct docker *docker_free(struct docker *d);
/* "1.41" */
const char *docker_api_version(const struct docker *d);
/* Server version string, "20.10.24" */
const char *docker_server_version(const struct docker *d);
/* Where Docker keeps its data (DockerRootDir), as it said when ds01d connected. */
const char *docker_root_dir(const struct docker *d);

/* A versioned request. path starts with '/', e.g. "/containers/json?all=1" (query already
 * encoded). body may be NULL. *ret_status is the HTTP status; *ret_json the parsed body or NULL if
 * empty/not JSON (optional). Returns 0 when the request completed (any status), -1 on a transport
 * failure. */
int docker_request(struct docker *d, const char *method, const char *path, const json_t *body,
                   long *ret_status, json_t **ret_json, struct error **err);

/* Convenience wrappers: 0 on 2xx (304 counts as success for start/stop), -1 with err otherwise. */
int docker_container_create(struct docker *d, const char *name, const json_t *spec, char **ret_id,
                            struct error **err);
int docker_container_start(struct docker *d, const char *id, struct error **err);
int docker_container_stop(struct docker *d, const char *id, int timeout_s, struct error **err);
int docker_container_remove(struct docker *d, const char *id, bool force, struct error **err);
/* Docker's rename of container id (a name or an id) to name. */
int docker_container_rename(struct docker *d, const char *id, const char *name, struct error **err);
json_t *docker_container_inspect(struct docker *d, const char *id, struct error **err);
/* PUT /containers/{id}/archive: creates directory dir (absolute) in a container's file system,
 * owned by uid:gid with mode, through a one-entry tar archive; Docker resolves the path inside
 * the container. For a container that is created but not yet started. */
int docker_container_mkdir(struct docker *d, const char *id, const char *dir, uid_t uid, gid_t gid,
                           mode_t mode, struct error **err);
/* GET /containers/json?all=..&filters={"label":[label_filter]} ; label_filter may be NULL. */
json_t *docker_container_list(struct docker *d, const char *label_filter, bool all,
                              struct error **err);
/* GET /containers/{id}/top?ps_args=..: {"Titles": [...], "Processes": [[...]]} (host pids). */
json_t *docker_container_top(struct docker *d, const char *id, const char *ps_args,
                             struct error **err);
json_t *docker_image_inspect(struct docker *d, const char *ref, struct error **err);

/* Networks: POST /networks/create (spec as the Engine API takes it; *ret_id its Id), GET
 * /networks/{name or id}, DELETE /networks/{name or id}, GET /networks?filters={"label":[..]}
 * (label_filter may be NULL). Docker answers 409 to a create whose name exists and 403 to one
 * whose subnet overlaps another network's: both DS01_ERR here. */
int docker_network_create(struct docker *d, const json_t *spec, char **ret_id, struct error **err);
json_t *docker_network_inspect(struct docker *d, const char *name, struct error **err);
int docker_network_remove(struct docker *d, const char *name, struct error **err);
json_t *docker_network_list(struct docker *d, const char *label_filter, struct error **err);
/* POST /networks/{name}/connect or /disconnect {"Container": id} (disconnect with Force). */
int docker_network_connect(struct docker *d, const char *name, const char *container, bool connect,
                           struct error **err);

int docker_exec_create(struct docker *d, const char *container_id, const json_t *spec,
                       char **ret_exec_id, struct error **err);
json_t *docker_exec_inspect(struct docker *d, const char *exec_id, struct error **err);
int docker_exec_resize(struct docker *d, const char *exec_id, int rows, int cols,
                       struct error **err);

/* Streams: a fresh connection to the Docker socket, request written, response headers read (byte
 * by byte, so nothing of the body is consumed), status checked. *ret_fd is then the raw stream,
 * close-on-exec.
 * exec start: POST /exec/{id}/start {"Detach":false,"Tty":tty} with "Connection: Upgrade" /
 * "Upgrade: tcp"; expects 101 (or 200). The fd is bidirectional: a TTY exec carries raw bytes,
 * a non-TTY exec carries multiplexed frames out (see stream.h) and raw stdin in; shutdown(SHUT_WR)
 * ends stdin.
 * logs: GET /containers/{id}/logs?stdout=1&stderr=1&follow=..&tail=.. as HTTP/1.0 so the body is
 * neither chunked nor kept alive: it ends at EOF. Frames are multiplexed unless the container has
 * a TTY. */
int docker_exec_start_stream(struct docker *d, const char *exec_id, bool tty, int *ret_fd,
                             struct error **err);
int docker_logs_stream(struct docker *d, const char *container_id, bool follow, int64_t tail,
                       int *ret_fd, struct error **err);

/* GET /events as HTTP/1.0 (ends at EOF): container destroy/die/start events of containers with
 * label_filter ("ds01.instance=x"; NULL for all), from unix time `since` (0: from now on). The fd
 * carries one JSON object per line. */
int docker_events_stream(struct docker *d, const char *label_filter, int64_t since, int *ret_fd,
                         struct error **err);

/* POST /build?<query> with the context (a tar of context_len bytes read from context_fd). *ret_fd
 * is Docker's answer: JSON messages ({"stream": ...}, {"aux": {"ID": ...}}, {"error": ...}) until
 * EOF. Closing it cancels the build. query is already encoded (docker_query_escape). */
int docker_build_stream(struct docker *d, const char *query, int context_fd, int64_t context_len,
                        int *ret_fd, struct error **err);
/* The Docker API endpoint's way through (dockerapi/): sends `request` (a whole HTTP/1.x request
 * head, the caller's responsibility) and body_len bytes of body on a fresh connection and reads
 * the response head. *ret_status its status (any), *ret_head the head (to free), *ret_fd the
 * connection at the first byte of the body (HTTP/1.0 requests: the body ends at EOF; an upgraded
 * connection: the raw stream both ways). -1 only when Docker cannot be reached or answers no
 * HTTP. */
int docker_forward(struct docker *d, const char *request, const void *body, size_t body_len,
                   int *ret_status, char **ret_head, int *ret_fd, struct error **err);
/* The value of header `name` in a response head (case-insensitive; a new string), or NULL. */
char *docker_head_header(const char *head, const char *name);
/* Percent-encodes a query value. */
char *docker_query_escape(const char *s);

/* Pure helpers, unit-tested. */
/* Docker's error text from a response body ({"message": "..."}), or "HTTP <status>". */
char *docker_error_message(long status, const char *body, size_t len);
/* Parses a GET /version body; *ret_api "1.41", *ret_server "20.10.24". */
int docker_parse_version(const char *body, size_t len, char **ret_api, char **ret_server,
                         struct error **err);
/* Parses an HTTP/1.x response head ("HTTP/1.1 101 UPGRADED\r\n...\r\n\r\n"): status code, or -1. */
int docker_parse_status_line(const char *head);
