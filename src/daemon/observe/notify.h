/* notify.h - warnings and stops reach the user where they are:
 *  - every terminal the user has open on the host (utmp USER_PROCESS entries; only a tty device
 *    owned by that user is written, non-blocking, so a stuck terminal cannot stall the daemon);
 *  - a line appended to <workspace>/.ds01-alerts (visible as /workspace/.ds01-alerts), created
 *    0600 and owned by the user; a symlink, a file owned by someone else or with more than one
 *    link is never written;
 *  - the webhook notify.webhook_url, if set: a JSON POST (Slack/Teams/Matrix bridges take
 *    {"text": ...}) sent by a background thread from a bounded queue, so the caller (the sampling
 *    loop) never waits for the network.
 * The inbox in the ledger is the caller's job (ledger/store-inbox.c). Nothing here fails the
 * caller: problems are logged once per cause. */
#pragma once

#include "shared/error.h"

#include <jansson.h>
#include <sys/types.h>

struct notify;

struct notify_msg {
        uid_t uid;
        gid_t gid;
        const char *login;     /* the user's login name */
        const char *container; /* "proj._.alice" */
        const char *project;
        const char *workspace; /* host path of the project's workspace, or NULL */
        const char *event;     /* "idle_warning", "idle_stop", "runtime_warning", ... */
        const char *text;      /* one human sentence or two: what, when, why, how to prevent */
        const json_t *details; /* optional, sent with the webhook */
};

/* webhook_url NULL or "": no webhook. */
struct notify *notify_new(const char *webhook_url, struct error **err);
/* Sends what is queued (waits at most a few seconds), then stops the thread. */
struct notify *notify_free(struct notify *n);
/* Terminals and the alerts file now; the webhook from the queue. */
void notify_send(struct notify *n, const struct notify_msg *m);
