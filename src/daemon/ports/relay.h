/* relay.h - published service ports: the sockets through which users reach the services in their
 * containers (Jupyter, TensorBoard), and the bytes relayed to them.
 *
 * Owns one listening Unix socket per published (container, port), at
 * <ports_dir>/<user part>/<project>.<port>, and every connection accepted on one. The daemon makes
 * every directory on that path and owns it: <ports_dir> 0755, <ports_dir>/<user> 0711 (nobody else
 * may list a user's projects). A socket is chowned to its owner with mode 0600, so the kernel
 * refuses connect(2) to everyone else; the acceptor checks SO_PEERCRED all the same, refuses and
 * audits a stranger (root may connect). No path a user controls is ever followed.
 *
 * Each accepted connection gets a thread: it looks the container's address up on its network at
 * that moment (a Docker inspect: the address a restart gave it), connects to the port there and
 * relays bytes both ways with splice(2) until both sides have closed. Nothing is published on the
 * host's interfaces.
 *
 * Threads: one acceptor per listening socket (blocked in accept), one per connection.
 * Locking: relay.lock guards the listener table, each listener's connections and the thread
 * counts; a leaf, never held across Docker, connect or a splice. */
#pragma once

#include "daemon/docker/docker.h"
#include "daemon/observe/audit.h"
#include "shared/error.h"

#include <stdbool.h>
#include <sys/types.h>

struct relay;

/* dir is ports_dir; nothing is made there until the first relay_listen. */
struct relay *relay_new(struct docker *docker, struct audit *audit, const char *dir);
/* Closes every listener and connection, waits for their threads and removes the sockets.
 * Accepts NULL. */
struct relay *relay_free(struct relay *r);

/* Where the socket of (user_part, project, port) is: a path to print, never to open. */
char *relay_socket_path(const struct relay *r, const char *user_part, const char *project,
                        int port);
/* Starts serving container's port (container: "<project>._.<user_part>", owned by uid) at
 * relay_socket_path, a socket only uid (and root) may open. Serving it already: 0. The
 * directories on the way are made (root's) when missing. */
int relay_listen(struct relay *r, const char *container, const char *project, const char *user_part,
                 uid_t uid, int port, struct error **err);
/* Also serves container's port on 127.0.0.1:*tcp_port, for editors that forward only TCP: the
 * kernel's socket table says whose each connection is, and only uid's (and root's) are relayed.
 * *tcp_port 0: the first free port of from..to, written back. Serving it already: 0. */
int relay_listen_tcp(struct relay *r, const char *container, uid_t uid, int port, int from, int to,
                     int *tcp_port, struct error **err);
/* Stops serving container's port (0: all its ports), on its socket and on loopback TCP: removes the
 * socket and ends the connections through it. */
void relay_close(struct relay *r, const char *container, int port);
/* Moves bytes both ways between two connected, non-blocking sockets with splice(2), passing each
 * side's half-close on, until both directions are done or one breaks. Closes neither. Also the
 * Docker API endpoint's relay of hijacked streams (dockerapi/forward.c). */
void relay_bytes(int client, int upstream);
