/* storage.h - how much each user keeps in their workspaces, against their group's
 * storage_workspace (DS01's resource-limits.yaml), measured without slowing the server.
 *
 * One thread, at nice 19 and the idle I/O class, measures every known user's workspace directory
 * (workspace_root "home": ~/workspace; a directory: DIR/<login>) every storage_scan_interval_s:
 * from the kernel's project quota where `ds01 storage setup` labelled it (quota.h), else by an
 * incremental walk (walk.h) a bounded number of entries per step with a pause between steps.
 * Known users: those with a directory under a workspace_root directory, those the limits groups
 * list, and everyone with a container in the ledger.
 *
 * After each user's measurement the owner is warned (inbox, terminals, webhook: enforce_notify)
 * when their usage crosses 90 % and again at 100 % of their limit, once per crossing (falling
 * below a level re-arms it; the levels warned live in memory, so a restart may warn once more).
 * A deploy while at or over the limit is refused (storage_check_deploy). Readers (check-limits,
 * ds01 users, metrics, the board) read the last measurement and never wait for a walk.
 *
 * Locking: `lock` guards the table of measurements and the pass counter; a leaf, never held
 * across I/O. */
#pragma once

#include "daemon/config/limits.h"
#include "daemon/ds01d.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct storage;

/* A user's last measurement. */
struct storage_usage {
        uid_t uid;
        char *login;
        char *path;          /* the directory measured (to show) */
        int64_t bytes;       /* -1: not measured (yet, or it could not be read) */
        int64_t measured_at; /* unix seconds */
        bool by_quota;       /* the kernel's project quota counted it */
        bool partial;        /* the walk left something out (too deep, unreadable) */
};
void storage_usage_release(struct storage_usage *u);

/* Sets root->storage: call before any thread that copies the root (ds01d_pin) runs. */
struct storage *storage_new(struct ds01d *root);
/* Starts the thread, which pins views of the root: call once nothing writes the root any more. */
int storage_start(struct storage *s, struct error **err);
/* Stops the thread and waits for it; readers may go on (storage_free frees). */
void storage_halt(struct storage *s);
struct storage *storage_free(struct storage *s);
/* Measures again now (after `ds01 storage setup` or a limit change). */
void storage_kick(struct storage *s);

/* uid's last measurement: true with *ret filled (release it), false when there is none. */
bool storage_get(struct storage *s, uid_t uid, struct storage_usage *ret);
/* Every user's last measurement, sorted by login (free with storage_usages_free). */
size_t storage_list(struct storage *s, struct storage_usage **ret);
void storage_usages_free(struct storage_usage *v, size_t n);
/* Completed measuring passes since start (tests wait for the next one). */
uint64_t storage_passes(struct storage *s);

/* The decisions (pure). The level usage is at: 0, 90 or 100 (percent of limit; limit < 0 is
 * unlimited: 0). */
int storage_level(int64_t bytes, int64_t limit);
/* Given the level last warned about and the level now: the level to warn about now (0: none),
 * and the new last-warned level in *ret_warned (a fall re-arms). */
int storage_warning_due(int warned, int level, int *ret_warned);

/* check-limits' "storage" object for uid with limits ls. */
json_t *storage_json(struct ds01d *d, uid_t uid, const struct limit_set *ls);
/* A deploy's check: -1 with err (DS01_ERESOURCE: the usage, the limit and the way out) while
 * uid's last measurement is at or over ls->storage_workspace. */
int storage_check_deploy(struct ds01d *d, uid_t uid, const struct limit_set *ls,
                         struct error **err);

/* "12.5 MiB": bytes as people read them (buf of 32). */
const char *storage_size_text(int64_t bytes, char buf[static 32]);

struct strv;
/* Who has workspaces (appended to ret): workspace_root's entries when it is a directory, the
 * limits groups' members, the ledger's users. */
void storage_known_logins(struct ds01d *v, struct strv *ret);

/* The workspace directory of login (what is measured): a new string, or NULL (no such user). */
char *storage_user_dir(const char *workspace_root, const char *login, uid_t *ret_uid,
                       gid_t *ret_gid);
