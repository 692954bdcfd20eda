/* ports.c - container-port and deploy --port (see ports.h). */
#include "daemon/ports/ports.h"

#include "daemon/containers/managed.h"
#include "daemon/containers/oplock.h"
#include "daemon/containers/verbs.h"
#include "daemon/docker/dockerjson.h"
#include "daemon/ports/relay.h"
#include "daemon/requests/access.h"
#include "shared/log.h"

int ports_parse_request(const json_t *ports, int ret[NAMES_PORTS_MAX], size_t *ret_n,
                        struct error **err)
{
        *ret_n = 0;
        size_t i;
        json_t *p;
        if (json_array_size(ports) > NAMES_PORTS_MAX)
                return error_set(err, DS01_EUSAGE,
                                 "%zu ports asked for: a container may publish "
                                 "at most %d",
                                 json_array_size(ports), NAMES_PORTS_MAX);
        json_array_foreach (ports, i, p) {
                int port;
                if (names_parse_port(json_string_value(p), &port, err) < 0)
                        return -1;
                for (size_t k = 0; k < *ret_n; k++)
                        if (ret[k] == port)
                                return error_set(err, DS01_EUSAGE, "port %d is given twice", port);
                ret[(*ret_n)++] = port;
        }
        return 0;
}

json_t *ports_json(struct ds01d *d, const char *container, const int *ports, const int *tcp,
                   size_t n)
{
        _cleanup_free_ char *project = NULL, *user_part = NULL;
        json_t *a = json_array();
        if (names_split_container(container, &project, &user_part) < 0)
                return a;
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *sock =
                    relay_socket_path(d->relay, user_part, project, ports[i]);
                json_t *p = json_pack("{s:i, s:s}", "port", ports[i], "socket", sock);
                if (tcp && tcp[i] > 0)
                        json_object_set_new(p, "tcp", json_integer(tcp[i]));
                json_array_append_new(a, p);
        }
        return a;
}

/* Records and serves one port (with tcp, on a loopback TCP port too); on failure neither. The
 * ledger's row comes first: it is what says a port is published already. */
static int publish_one(struct ds01d *d, const char *container, uid_t uid, int port, bool tcp,
                       struct error **err)
{
        _cleanup_free_ char *project = NULL, *user_part = NULL;
        if (names_split_container(container, &project, &user_part) < 0)
                return error_set(err, DS01_ERR, "'%s' is not a container name", container);
        if (store_port_add(d->store, container, port, err) < 0)
                return -1;
        int tcp_port = 0;
        if (relay_listen(d->relay, container, project, user_part, uid, port, err) < 0 ||
            (tcp && (relay_listen_tcp(d->relay, container, uid, port, (int)d->cfg->ports_tcp_from,
                                      (int)d->cfg->ports_tcp_to, &tcp_port, err) < 0 ||
                     store_port_set_tcp(d->store, container, port, tcp_port, err) < 0))) {
                relay_close(d->relay, container, port);
                struct error *e2 = NULL;
                if (store_port_remove(d->store, container, port, &e2) < 0)
                        log_error("rolling back port %d of %s: %s", port, container, e2->message);
                error_free(e2);
                return -1;
        }
        return 0;
}

static void unpublish_one(struct ds01d *d, const char *container, int port)
{
        relay_close(d->relay, container, port);
        struct error *err = NULL;
        if (store_port_remove(d->store, container, port, &err) < 0 && err->code != DS01_ENOTFOUND)
                log_error("unpublishing port %d of %s: %s", port, container, err->message);
        error_free(err);
}

int ports_publish(struct ds01d *d, const char *container, uid_t uid, const int *ports, size_t n,
                  struct error **err)
{
        for (size_t i = 0; i < n; i++) {
                if (publish_one(d, container, uid, ports[i], false, err) < 0) {
                        while (i-- > 0)
                                unpublish_one(d, container, ports[i]);
                        return -1;
                }
        }
        return 0;
}

/* The container's ports as the ledger has them now. */
static int result(struct ds01d *d, const char *container, json_t **ret, struct error **err)
{
        struct store_container rec;
        if (store_get(d->store, container, &rec, err) < 0)
                return -1;
        *ret = json_pack("{s:s, s:s, s:o}", "container", container, "project", rec.project, "ports",
                         ports_json(d, container, rec.ports, rec.tcp_ports, rec.n_ports));
        store_container_release(&rec);
        return 0;
}

/* add or remove, with the container's operation slot held. */
static int change(struct ds01d *d, const struct caller *c, const char *name, bool add, int port,
                  bool tcp, const json_t *inspect, struct error **err)
{
        struct store_container rec;
        if (!managed_record(d, inspect, &rec))
                return access_not_found(name, err);
        uid_t owner = (uid_t)rec.uid;
        store_container_release(&rec);
        if (add && publish_one(d, name, owner, port, tcp, err) < 0)
                return -1;
        if (!add) {
                if (store_port_remove(d->store, name, port, err) < 0)
                        return -1;
                relay_close(d->relay, name, port);
        }
        events_log(d->events, add ? "container.port.add" : "container.port.remove", c->login,
                   json_pack("{s:s, s:i}", "container", name, "port", port));
        return 0;
}

int ports_handle(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                 struct error **err)
{
        const char *action = jstr(params, "action");
        bool add = streq(action, "add"), remove = streq(action, "remove");
        if (!add && !remove && !streq(action, "list"))
                return error_set(err, DS01_EUSAGE,
                                 "unknown action '%.20s': give add, remove or list", action);
        const char *port_s = jstr(params, "port");
        int port = 0;
        if ((add || remove) && !port_s)
                return error_set(err, DS01_EUSAGE, "give the port, e.g. container-port %s %s 8888",
                                 jstr(params, "name"), action);
        if (port_s && names_parse_port(port_s, &port, err) < 0)
                return -1;

        _cleanup_free_ char *name = NULL;
        json_t *inspect = NULL;
        int r = -1;
        if (!add && !remove) { /* a read: no need to wait for an operation in progress */
                if (access_container(d, c, jstr(params, "name"), "port", &name, &inspect, err) < 0)
                        return -1;
                if (!inspect)
                        r = access_not_found(jstr(params, "name"), err);
                else
                        r = 0;
        } else {
                if (verbs_acquire(d, c, jstr(params, "name"), "port", true, &name, &inspect, err) <
                    0)
                        return -1;
                r = change(d, c, name, add, port, json_is_true(json_object_get(params, "tcp")),
                           inspect, err);
                oplock_release(d->ops, name);
        }
        if (r == 0)
                r = result(d, name, ret_result, err);
        json_decref(inspect);
        return r;
}

void ports_restore(struct ds01d *d)
{
        struct store_container *rows = NULL;
        size_t n = 0;
        struct error *err = NULL;
        if (store_list(d->store, -1, &rows, &n, &err) < 0) {
                log_error("serving published ports: %s", err->message);
                error_free(err);
                return;
        }
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *project = NULL, *user_part = NULL;
                if (!rows[i].docker_id ||
                    names_split_container(rows[i].name, &project, &user_part) < 0)
                        continue;
                for (size_t k = 0; k < rows[i].n_ports; k++) {
                        int tcp = rows[i].tcp_ports[k];
                        if (relay_listen(d->relay, rows[i].name, project, user_part,
                                         (uid_t)rows[i].uid, rows[i].ports[k], &err) < 0 ||
                            (tcp > 0 &&
                             relay_listen_tcp(d->relay, rows[i].name, (uid_t)rows[i].uid,
                                              rows[i].ports[k], tcp, tcp, &tcp, &err) < 0)) {
                                log_error("serving port %d of %s: %s", rows[i].ports[k],
                                          rows[i].name, err->message);
                                err = error_free(err);
                        }
                }
        }
        store_containers_free(rows, n);
}
