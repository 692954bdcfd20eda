/* docker.c - Docker Engine API client over the unix socket.
 *
 * Ordinary requests go through libcurl with a fresh easy handle per call, so any number of
 * threads may call in at once without sharing curl state. Streams (exec start, logs) bypass curl:
 * they need the raw socket after the response head, which curl does not hand out
 * (docker-streams.c). */
#include "daemon/docker/docker.h"
#include "daemon/docker/docker-internal.h"

#include "shared/strbuf.h"
#include "shared/tarheader.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

/* Bounds on what Docker may send us. */
#define RESPONSE_MAX      (64u << 20) /* a whole curl response body */
#define CONNECT_TIMEOUT_S 5L
#define REQUEST_TIMEOUT_S 120L
#define STOP_GRACE_S      30L /* added to a stop's own timeout */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result = CURLE_OK;

static void curl_init_once(void)
{
        curl_init_result = curl_global_init(CURL_GLOBAL_ALL);
}

/* Percent-encodes everything but RFC 3986 unreserved characters. */
char *url_escape(const char *s)
{
        static const char hex[] = "0123456789ABCDEF";
        struct strbuf sb = STRBUF_INIT;

        strbuf_adds(&sb, "");
        for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
                if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~') {
                        strbuf_addc(&sb, (char)*p);
                } else {
                        strbuf_addc(&sb, '%');
                        strbuf_addc(&sb, hex[*p >> 4]);
                        strbuf_addc(&sb, hex[*p & 15]);
                }
        }
        return strbuf_detach(&sb);
}

/* ---- pure helpers ---- */

char *docker_error_message(long status, const char *body, size_t len)
{
        if (body && len > 0) {
                json_t *j = json_loadb(body, len, 0, NULL);
                const char *m = j ? json_string_value(json_object_get(j, "message")) : NULL;
                if (m && *m) {
                        /* Docker's messages may end in a newline; strip it. */
                        size_t n = strlen(m);
                        while (n > 0 && (m[n - 1] == '\n' || m[n - 1] == '\r'))
                                n--;
                        char *r = xstrndup(m, n);
                        json_decref(j);
                        return r;
                }
                json_decref(j);
        }
        return xasprintf("HTTP %ld", status);
}

int docker_parse_version(const char *body, size_t len, char **ret_api, char **ret_server,
                         struct error **err)
{
        json_error_t jerr;
        json_t *j = body ? json_loadb(body, len, 0, &jerr) : NULL;
        const char *api = j ? json_string_value(json_object_get(j, "ApiVersion")) : NULL;
        const char *server = j ? json_string_value(json_object_get(j, "Version")) : NULL;

        if (!api || !*api || !server || !*server) {
                json_decref(j);
                return error_set(err, DS01_ERR,
                                 "unexpected answer from Docker's GET /version (no ApiVersion "
                                 "or Version)");
        }
        *ret_api = xstrdup(api);
        *ret_server = xstrdup(server);
        json_decref(j);
        return 0;
}

int docker_parse_status_line(const char *head)
{
        if (!head || strncmp(head, "HTTP/1.", 7) != 0)
                return -1;
        if (head[7] < '0' || head[7] > '9' || head[8] != ' ')
                return -1;
        const char *p = head + 9;
        for (int i = 0; i < 3; i++)
                if (p[i] < '0' || p[i] > '9')
                        return -1;
        if (p[3] != ' ' && p[3] != '\r' && p[3] != '\n' && p[3] != '\0')
                return -1;
        return (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
}

/* "1.41" -> major 1, minor 41; -1 if malformed. */
static int parse_api_version(const char *s, long *ret_major, long *ret_minor)
{
        char *end;
        errno = 0;
        long major = strtol(s, &end, 10);
        if (errno || end == s || *end != '.')
                return -1;
        const char *m = end + 1;
        long minor = strtol(m, &end, 10);
        if (errno || end == m || *end != '\0' || major < 0 || minor < 0)
                return -1;
        *ret_major = major;
        *ret_minor = minor;
        return 0;
}

/* ---- curl requests ---- */

struct body_sink {
        struct strbuf sb;
        bool overflow;
};

static size_t body_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
        struct body_sink *s = userdata;
        size_t n = size * nmemb;

        if (s->sb.len + n > RESPONSE_MAX) {
                s->overflow = true;
                return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
        }
        strbuf_add(&s->sb, ptr, n);
        return n;
}

/* A request's body: JSON, or bytes of another type (a tar archive). */
struct req_body {
        const json_t *json;
        const char *type; /* without json: the Content-Type of data */
        const void *data;
        size_t len;
};

/* Performs one request on a fresh handle. path is the full path ("/version" or "/v1.41/...").
 * On completion (any status) fills *ret_status and *ret_body (the raw body, possibly empty). */
static int request_raw(struct docker *d, const char *method, const char *path,
                       const struct req_body *body, long timeout_s, long *ret_status,
                       struct strbuf *ret_body, struct error **err)
{
        pthread_once(&curl_once, curl_init_once);
        if (curl_init_result != CURLE_OK)
                return error_set(err, DS01_ERR, "cannot initialise libcurl: %s",
                                 curl_easy_strerror(curl_init_result));

        _cleanup_free_ char *json =
            body && body->json ? json_dumps(body->json, JSON_COMPACT) : NULL;
        if (body && body->json && !json)
                return error_set(err, DS01_ERR, "cannot encode the request body for %s %s", method,
                                 path);
        const char *payload = json ? json : body ? body->data : NULL;
        size_t payload_len = json ? strlen(json) : body ? body->len : 0;
        _cleanup_free_ char *ctype =
            payload ? xasprintf("Content-Type: %s", json ? "application/json" : body->type) : NULL;

        CURL *c = curl_easy_init();
        if (!c)
                return error_set(err, DS01_ERR, "cannot create a libcurl handle");

        _cleanup_free_ char *url = xasprintf("http://docker%s", path);
        struct curl_slist *headers = NULL;
        /* curl would wait for "100 Continue" on larger bodies: pointless on a local socket. */
        headers = curl_slist_append(headers, "Expect:");
        if (ctype)
                headers = curl_slist_append(headers, ctype);

        struct body_sink sink = {.sb = STRBUF_INIT};
        char errbuf[CURL_ERROR_SIZE] = "";

        curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, d->socket_path);
        curl_easy_setopt(c, CURLOPT_URL, url);
        /* Never route a unix-socket request through an http_proxy from the environment. */
        curl_easy_setopt(c, CURLOPT_PROXY, "");
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout_s);
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_write);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);

        if (streq(method, "GET")) {
                curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
        } else {
                if (!streq(method, "POST"))
                        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
                if (payload) {
                        curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload);
                        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)payload_len);
                } else if (streq(method, "POST")) {
                        /* A bodyless POST: an empty string with size 0, never NULL (NULL makes
                         * curl send a chunked body that Docker rejects). */
                        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
                        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
                }
        }

        CURLcode rc = curl_easy_perform(c);
        long status = 0;
        if (rc == CURLE_OK)
                curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_cleanup(c);
        curl_slist_free_all(headers);

        if (rc != CURLE_OK) {
                strbuf_release(&sink.sb);
                if (sink.overflow)
                        return error_set(err, DS01_ERR, "Docker's answer to %s %s exceeds %u MiB",
                                         method, path, RESPONSE_MAX >> 20);
                if (rc == CURLE_COULDNT_CONNECT)
                        return error_set(err, DS01_ERR,
                                         "cannot connect to Docker at %s (is dockerd running?)",
                                         d->socket_path);
                return error_set(err, DS01_ERR, "Docker request %s %s failed: %s", method, path,
                                 *errbuf ? errbuf : curl_easy_strerror(rc));
        }

        *ret_status = status;
        strbuf_adds(&sink.sb, ""); /* NUL-terminated even when empty */
        *ret_body = sink.sb;
        return 0;
}

static json_t *parse_body(const struct strbuf *sb)
{
        if (sb->len == 0)
                return NULL;
        return json_loadb(sb->buf, sb->len, 0, NULL);
}

int docker_request(struct docker *d, const char *method, const char *path, const json_t *body,
                   long *ret_status, json_t **ret_json, struct error **err)
{
        if (!path || path[0] != '/')
                return error_set(err, DS01_ERR, "invalid Docker API path '%s'", path ? path : "");

        _cleanup_free_ char *full = xasprintf("%s%s", d->prefix, path);
        struct strbuf sb = STRBUF_INIT;
        long status;
        if (request_raw(d, method, full, &(struct req_body){.json = body}, REQUEST_TIMEOUT_S,
                        &status, &sb, err) < 0)
                return -1;
        if (ret_status)
                *ret_status = status;
        if (ret_json)
                *ret_json = parse_body(&sb);
        strbuf_release(&sb);
        return 0;
}

/* A versioned request that must succeed: the parsed body (or NULL for an empty one) in *ret_json.
 * Any status outside 2xx (and outside ok_extra, if non-zero) becomes an error. */
static int request_ok_body(struct docker *d, const char *method, const char *path,
                           const struct req_body *body, long timeout_s, long ok_extra,
                           json_t **ret_json, struct error **err)
{
        _cleanup_free_ char *full = xasprintf("%s%s", d->prefix, path);
        struct strbuf sb = STRBUF_INIT;
        long status;

        if (request_raw(d, method, full, body, timeout_s, &status, &sb, err) < 0)
                return -1;
        if ((status >= 200 && status < 300) || (ok_extra && status == ok_extra)) {
                if (ret_json)
                        *ret_json = parse_body(&sb);
                strbuf_release(&sb);
                return 0;
        }
        _cleanup_free_ char *msg = docker_error_message(status, sb.buf, sb.len);
        strbuf_release(&sb);
        return error_set(err, status == 404 ? DS01_ENOTFOUND : DS01_ERR, "%s", msg);
}

/* request_ok_body with a JSON body (or none). */
static int request_ok(struct docker *d, const char *method, const char *path, const json_t *body,
                      long timeout_s, long ok_extra, json_t **ret_json, struct error **err)
{
        return request_ok_body(d, method, path, &(struct req_body){.json = body}, timeout_s,
                               ok_extra, ret_json, err);
}

/* A versioned request whose 2xx answer must be a JSON object or array. */
static json_t *request_json(struct docker *d, const char *method, const char *path,
                            const json_t *body, struct error **err)
{
        json_t *j = NULL;
        if (request_ok(d, method, path, body, REQUEST_TIMEOUT_S, 0, &j, err) < 0)
                return NULL;
        if (!json_is_object(j) && !json_is_array(j)) {
                json_decref(j);
                error_set(err, DS01_ERR, "unexpected answer from Docker to %s %s", method, path);
                return NULL;
        }
        return j;
}

/* For create calls: the "Id" of the answer. */
static int request_id(struct docker *d, const char *path, const json_t *body, char **ret_id,
                      struct error **err)
{
        json_t *j = request_json(d, "POST", path, body, err);
        if (!j)
                return -1;
        const char *id = json_string_value(json_object_get(j, "Id"));
        if (!id || !*id) {
                json_decref(j);
                return error_set(err, DS01_ERR, "Docker's answer to POST %s has no Id", path);
        }
        *ret_id = xstrdup(id);
        json_decref(j);
        return 0;
}

/* ---- lifecycle ---- */

struct docker *docker_new(const char *socket_path, struct error **err)
{
        struct sockaddr_un sa;
        if (!socket_path || !*socket_path || strlen(socket_path) >= sizeof(sa.sun_path)) {
                error_set(err, DS01_ERR, "invalid Docker socket path '%s'",
                          socket_path ? socket_path : "");
                return NULL;
        }

        struct docker *d = xzalloc(sizeof(*d));
        d->socket_path = xstrdup(socket_path);

        struct strbuf sb = STRBUF_INIT;
        long status;
        if (request_raw(d, "GET", "/version", NULL, REQUEST_TIMEOUT_S, &status, &sb, err) < 0)
                return docker_free(d);
        if (status != 200) {
                _cleanup_free_ char *msg = docker_error_message(status, sb.buf, sb.len);
                strbuf_release(&sb);
                error_set(err, DS01_ERR, "Docker at %s answered GET /version with %ld: %s",
                          socket_path, status, msg);
                return docker_free(d);
        }
        int r = docker_parse_version(sb.buf, sb.len, &d->api_version, &d->server_version, err);
        strbuf_release(&sb);
        if (r < 0)
                return docker_free(d);

        long major, minor;
        if (parse_api_version(d->api_version, &major, &minor) < 0) {
                error_set(err, DS01_ERR, "Docker reports a malformed API version '%s'",
                          d->api_version);
                return docker_free(d);
        }
        if (major < 1 || (major == 1 && minor < 41)) {
                error_set(err, DS01_ERR,
                          "Docker %s speaks API %s; ds01 needs API 1.41 or newer (Docker 20.10+)",
                          d->server_version, d->api_version);
                return docker_free(d);
        }
        d->prefix = xasprintf("/v%s", d->api_version);
        long st = 0;
        json_t *info = NULL;
        const char *root =
            docker_request(d, "GET", "/info", NULL, &st, &info, NULL) == 0 && st == 200
                ? json_string_value(json_object_get(info, "DockerRootDir"))
                : NULL;
        d->root_dir = xstrdup(root && root[0] == '/' ? root : "/var/lib/docker");
        json_decref(info);
        return d;
}

struct docker *docker_free(struct docker *d)
{
        if (d) {
                free(d->socket_path);
                free(d->api_version);
                free(d->server_version);
                free(d->prefix);
                free(d->root_dir);
                free(d);
        }
        return NULL;
}

const char *docker_api_version(const struct docker *d)
{
        return d->api_version;
}

const char *docker_root_dir(const struct docker *d)
{
        return d->root_dir;
}

const char *docker_server_version(const struct docker *d)
{
        return d->server_version;
}

/* ---- containers ---- */

int docker_container_create(struct docker *d, const char *name, const json_t *spec, char **ret_id,
                            struct error **err)
{
        _cleanup_free_ char *path = NULL;
        if (name) {
                _cleanup_free_ char *n = url_escape(name);
                path = xasprintf("/containers/create?name=%s", n);
        } else {
                path = xstrdup("/containers/create");
        }
        return request_id(d, path, spec, ret_id, err);
}

int docker_container_start(struct docker *d, const char *id, struct error **err)
{
        _cleanup_free_ char *e = url_escape(id);
        _cleanup_free_ char *path = xasprintf("/containers/%s/start", e);
        return request_ok(d, "POST", path, NULL, REQUEST_TIMEOUT_S, 304, NULL, err);
}

int docker_container_stop(struct docker *d, const char *id, int timeout_s, struct error **err)
{
        if (timeout_s < 0)
                timeout_s = 0;
        _cleanup_free_ char *e = url_escape(id);
        _cleanup_free_ char *path = xasprintf("/containers/%s/stop?t=%d", e, timeout_s);
        return request_ok(d, "POST", path, NULL, (long)timeout_s + STOP_GRACE_S, 304, NULL, err);
}

int docker_container_remove(struct docker *d, const char *id, bool force, struct error **err)
{
        _cleanup_free_ char *e = url_escape(id);
        /* v=1: anonymous volumes (an image's VOLUME) go with the container; named ones stay. */
        _cleanup_free_ char *path = xasprintf("/containers/%s?v=1%s", e, force ? "&force=1" : "");
        return request_ok(d, "DELETE", path, NULL, REQUEST_TIMEOUT_S, 0, NULL, err);
}

int docker_container_rename(struct docker *d, const char *id, const char *name, struct error **err)
{
        _cleanup_free_ char *e = url_escape(id), *n = url_escape(name);
        _cleanup_free_ char *path = xasprintf("/containers/%s/rename?name=%s", e, n);
        return request_ok(d, "POST", path, NULL, REQUEST_TIMEOUT_S, 0, NULL, err);
}

json_t *docker_container_inspect(struct docker *d, const char *id, struct error **err)
{
        _cleanup_free_ char *e = url_escape(id);
        _cleanup_free_ char *path = xasprintf("/containers/%s/json", e);
        return request_json(d, "GET", path, NULL, err);
}

int docker_container_mkdir(struct docker *d, const char *id, const char *dir, uid_t uid, gid_t gid,
                           mode_t mode, struct error **err)
{
        /* a one-entry archive: the directory's header and the two zero blocks that end it */
        unsigned char tar[3 * TAR_BLOCK] = {0};
        _cleanup_free_ char *name = xasprintf("%s/", dir[0] == '/' ? dir + 1 : dir);
        if (strlen(name) > TAR_NAME_MAX)
                return error_set(err, DS01_ERR, "the directory name '%s' is too long", dir);
        tar_header_format(tar, &(struct tar_header){.name = name,
                                                    .type = '5',
                                                    .mode = mode,
                                                    .mtime = time(NULL),
                                                    .uid = uid,
                                                    .gid = gid});
        _cleanup_free_ char *e = url_escape(id);
        /* noOverwriteDirNonDir: a file of the image's by that name is an error, not replaced */
        _cleanup_free_ char *path =
            xasprintf("/containers/%s/archive?path=/&noOverwriteDirNonDir=1", e);
        struct req_body body = {.type = "application/x-tar", .data = tar, .len = sizeof(tar)};
        if (request_ok_body(d, "PUT", path, &body, REQUEST_TIMEOUT_S, 0, NULL, err) < 0)
                return error_wrap(err, "making %s in the container", dir);
        return 0;
}

json_t *docker_container_top(struct docker *d, const char *id, const char *ps_args,
                             struct error **err)
{
        _cleanup_free_ char *e = url_escape(id), *a = url_escape(ps_args);
        _cleanup_free_ char *path = xasprintf("/containers/%s/top?ps_args=%s", e, a);
        return request_json(d, "GET", path, NULL, err);
}

/* GET <path><sep>filters={"label":[label_filter]} (no filter when NULL): a JSON array. */
static json_t *list_by_label(struct docker *d, const char *path, char sep, const char *label_filter,
                             const char *what, struct error **err)
{
        struct strbuf full = STRBUF_INIT;
        strbuf_adds(&full, path);
        if (label_filter) {
                json_t *f = json_pack("{s:[s]}", "label", label_filter);
                char *s = f ? json_dumps(f, JSON_COMPACT) : NULL;
                json_decref(f);
                if (!s) {
                        strbuf_release(&full);
                        error_set(err, DS01_ERR, "cannot encode the label filter '%s'",
                                  label_filter);
                        return NULL;
                }
                _cleanup_free_ char *e = url_escape(s);
                free(s);
                strbuf_addf(&full, "%cfilters=%s", sep, e);
        }
        json_t *j = request_json(d, "GET", strbuf_str(&full), NULL, err);
        strbuf_release(&full);
        if (j && !json_is_array(j)) {
                json_decref(j);
                error_set(err, DS01_ERR, "unexpected answer from Docker to a %s list", what);
                return NULL;
        }
        return j;
}

json_t *docker_container_list(struct docker *d, const char *label_filter, bool all,
                              struct error **err)
{
        return list_by_label(d, all ? "/containers/json?all=1" : "/containers/json?all=0", '&',
                             label_filter, "container", err);
}

json_t *docker_image_inspect(struct docker *d, const char *ref, struct error **err)
{
        _cleanup_free_ char *e = url_escape(ref);
        _cleanup_free_ char *path = xasprintf("/images/%s/json", e);
        return request_json(d, "GET", path, NULL, err);
}

/* ---- networks ---- */

int docker_network_create(struct docker *d, const json_t *spec, char **ret_id, struct error **err)
{
        return request_id(d, "/networks/create", spec, ret_id, err);
}

json_t *docker_network_inspect(struct docker *d, const char *name, struct error **err)
{
        _cleanup_free_ char *e = url_escape(name);
        _cleanup_free_ char *path = xasprintf("/networks/%s", e);
        return request_json(d, "GET", path, NULL, err);
}

int docker_network_remove(struct docker *d, const char *name, struct error **err)
{
        _cleanup_free_ char *e = url_escape(name);
        _cleanup_free_ char *path = xasprintf("/networks/%s", e);
        return request_ok(d, "DELETE", path, NULL, REQUEST_TIMEOUT_S, 0, NULL, err);
}

json_t *docker_network_list(struct docker *d, const char *label_filter, struct error **err)
{
        return list_by_label(d, "/networks", '?', label_filter, "network", err);
}

int docker_network_connect(struct docker *d, const char *name, const char *container, bool connect,
                           struct error **err)
{
        _cleanup_free_ char *e = url_escape(name);
        _cleanup_free_ char *path =
            xasprintf("/networks/%s/%s", e, connect ? "connect" : "disconnect");
        json_t *body = connect ? json_pack("{s:s}", "Container", container)
                               : json_pack("{s:s, s:b}", "Container", container, "Force", 1);
        int r = request_ok(d, "POST", path, body, REQUEST_TIMEOUT_S, 0, NULL, err);
        json_decref(body);
        return r;
}

/* ---- exec ---- */

int docker_exec_create(struct docker *d, const char *container_id, const json_t *spec,
                       char **ret_exec_id, struct error **err)
{
        _cleanup_free_ char *e = url_escape(container_id);
        _cleanup_free_ char *path = xasprintf("/containers/%s/exec", e);
        return request_id(d, path, spec, ret_exec_id, err);
}

json_t *docker_exec_inspect(struct docker *d, const char *exec_id, struct error **err)
{
        _cleanup_free_ char *e = url_escape(exec_id);
        _cleanup_free_ char *path = xasprintf("/exec/%s/json", e);
        return request_json(d, "GET", path, NULL, err);
}

int docker_exec_resize(struct docker *d, const char *exec_id, int rows, int cols,
                       struct error **err)
{
        if (rows <= 0 || cols <= 0 || rows > 65535 || cols > 65535)
                return error_set(err, DS01_EUSAGE, "invalid terminal size %dx%d", cols, rows);
        _cleanup_free_ char *e = url_escape(exec_id);
        _cleanup_free_ char *path = xasprintf("/exec/%s/resize?h=%d&w=%d", e, rows, cols);
        return request_ok(d, "POST", path, NULL, REQUEST_TIMEOUT_S, 0, NULL, err);
}
