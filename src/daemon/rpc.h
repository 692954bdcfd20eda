/* rpc.h - the CLI's socket: SOCK_SEQPACKET, callers identified by SO_PEERCRED/SO_PEERGROUPS.
 *
 * One thread per connection (threads accept for themselves and are reused), bounded in total
 * (RPC_MAX_CONNECTIONS) and per uid
 * (max_requests_per_uid): a connection may stay open for the length of an interactive session
 * (resize, exit status), so a fixed pool would let a few idle shells starve everyone. Every request
 * passes through the method table: protocol version, method lookup, admin check and parameter
 * validation happen there, once, before any handler runs. */
#pragma once

#include "lifecycle.h"

#define RPC_MAX_CONNECTIONS 256

struct rpc_server;

/* Binds cfg->socket (mode 0666; authorisation is by peer credentials), creating its directory. */
struct rpc_server *rpc_server_new(struct ds01d *d, struct error **err);
/* Starts serving: connection threads accept on their own from now on. */
int rpc_server_start(struct rpc_server *s, struct error **err);
/* Stops accepting, wakes every connection and waits (up to timeout_ms) for their threads. Returns
 * how many are still busy; when 0, s is freed, else it stays allocated (the threads use it) and
 * the daemon's state must not be freed either. */
size_t rpc_server_stop(struct rpc_server *s, int timeout_ms);

/* Exposed for the fuzz target and unit tests: validates params of `method` against the table.
 * Returns the handler index or -1 with err (DS01_EUSAGE). */
int rpc_validate(const char *method, json_t *params, bool admin, struct error **err);
