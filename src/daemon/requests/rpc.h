/* rpc.h - the CLI's socket: SOCK_SEQPACKET, callers identified by SO_PEERCRED/SO_PEERGROUPS.
 *
 * Served by a fixed set of event loops (one per CPU, at least 2): a loop answers a quick request
 * (M_QUICK: from memory, such as container-list while the snapshot is fresh) itself and hands any
 * other connection to a thread of its own, which serves it until it closes - a connection may
 * stay open for the length of an interactive session (resize, exit status), so a fixed pool for
 * those would let a few idle shells starve everyone. Connections are bounded in total
 * (RPC_MAX_CONNECTIONS, the last few for root only) and per uid (max_requests_per_uid); a
 * connection that sends no request within 5 s is closed, and each uid's requests are rate
 * limited (requests_per_s_per_uid). Callers must have an account (or be in service_uids) and be
 * in ds01d's user namespace. Every request
 * passes through the method table (methods.h): method lookup, parameter validation and
 * authorisation (access.h) happen there, once, before any handler runs. */
#pragma once

#include "daemon/ds01d.h"
#include "daemon/requests/caller.h"

#define RPC_MAX_CONNECTIONS 1024

struct rpc_server;

/* Binds cfg->socket (mode 0666; authorisation is by peer credentials), creating its directory. */
struct rpc_server *rpc_server_new(struct ds01d *d, struct error **err);
/* Starts serving: the event loops accept from now on. */
int rpc_server_start(struct rpc_server *s, struct error **err);
/* Stops accepting, wakes every connection and waits (up to timeout_ms) for their threads. Returns
 * how many are still busy; when 0, s is freed, else it stays allocated (the threads use it) and
 * the daemon's state must not be freed either. */
size_t rpc_server_stop(struct rpc_server *s, int timeout_ms);
