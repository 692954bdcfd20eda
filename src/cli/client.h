/* client.h - a connection to ds01d as the CLI uses it: connect, call methods (notices go to
 * stderr as they arrive), close. One connection may carry several calls, which an interactive
 * session needs: its exec, resize and exec_status calls must share one connection. */
#pragma once

#include "../shared/error.h"

#include <jansson.h>

struct client {
        int sock; /* -1 when closed */
};

#define CLIENT_INIT                                                                                \
        {                                                                                          \
                -1                                                                                 \
        }

/* Connects to $DS01_SOCKET or the default socket. */
int client_open(struct client *c, struct error **err);
/* One call; params is stolen (may be NULL). On success *ret_result is a new reference and, when
 * ret_fd is non-NULL, *ret_fd a passed descriptor or -1. */
int client_call(struct client *c, const char *method, json_t *params, json_t **ret_result,
                int *ret_fd, struct error **err);
void client_close(struct client *c);
static inline void client_closep(struct client *c)
{
        client_close(c);
}
#define _cleanup_client_ _cleanup_(client_closep)

/* Connect, call, close. On failure prints "cmd: message" to stderr and returns the exit code;
 * 0 on success. */
int client_oneshot(const char *cmd, const char *method, json_t *params, json_t **ret_result,
                   int *ret_fd);
