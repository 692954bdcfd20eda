/* board.h - the board everyone may read: `ds01 board` (DS01's `dashboard`) and the same as a
 * web page, /board on the metrics listener. What a user deciding when to deploy needs: the GPU
 * slots by model and MIG profile (free, leased, reserved, drained), the demand (slots leased,
 * requests waiting, high demand), when the next leased slot frees at the latest (a running
 * container's runtime cap, a stopped one's GPU hold), the reservations not yet ended, and the
 * caller's own containers. Who holds a slot or is in a reservation is named only where
 * board_show_users (ds01.yaml) is true, or to administrators; each user always sees their own.
 *
 * Reads the snapshot, the ledger and the monitor's last tick; no state, no locks of its own. */
#pragma once

#include "daemon/ds01d.h"
#include "daemon/requests/caller.h"

#include <jansson.h>

/* The board for c (NULL: anonymous, the web page: no "mine"). NULL with *err when the
 * containers cannot be listed. */
json_t *board_json(struct ds01d *d, const struct caller *c, struct error **err);
/* The board as one HTML page (new string): plain HTML and inline SVG, no scripts or external
 * assets, reloading itself every refresh_s seconds. */
char *board_html(const json_t *board, int refresh_s);
