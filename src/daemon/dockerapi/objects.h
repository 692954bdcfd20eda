/* objects.h - what a Docker API client names, resolved for the caller: their own managed
 * containers (by Docker id or a unique prefix of it, by full name, or by project), exec sessions
 * in them, and the images they may use. The ledger, not any label, says whose a container is.
 * Anything of another user's is answered exactly as a missing one and audited (auth.denied),
 * as access.h does for ds01's own commands.
 *
 * Locking: none; each call reads the ledger and, where it must, Docker. */
#pragma once

#include "daemon/ds01d.h"
#include "daemon/requests/caller.h"

#include <jansson.h>
#include <stdbool.h>

/* A container of the caller's: its full name and Docker id. */
struct dapi_container {
        char *name;
        char *id;
};
void dapi_container_release(struct dapi_container *c);

/* Resolves ref (an id, a unique id prefix, a full name or a project) among the caller's managed
 * containers. DS01_ENOTFOUND ("No such container: REF", audited when it is someone else's) or
 * DS01_EUSAGE (an id prefix of several). */
int dapi_resolve_container(struct ds01d *v, const struct caller *c, const char *ref,
                           struct dapi_container *ret, struct error **err);
/* The container exec session `id` runs in, when it is one of the caller's: else
 * DS01_ENOTFOUND ("No such exec instance"), audited. */
int dapi_resolve_exec(struct ds01d *v, const struct caller *c, const char *id,
                      struct dapi_container *ret, struct error **err);
/* A create body's HostConfig.Links ("name:alias" or "name") with each name resolved among the
 * caller's containers: ["<full name>:<alias>"] (new), [] for none; NULL with *err (as
 * dapi_resolve_container's, or DS01_EUSAGE for a malformed link). */
json_t *dapi_resolve_links(struct ds01d *v, const struct caller *c, const json_t *links,
                           struct error **err);
/* Keeps in `list` (Docker's GET /containers/json answer) the caller's managed containers only. */
void dapi_filter_containers(struct ds01d *v, const struct caller *c, json_t *list);
/* Keeps in `list` (Docker's GET /images/json answer) the images the caller may use. */
void dapi_filter_images(const struct caller *c, json_t *list);
/* Whether image (Docker's inspect of it) is one the caller may use; else DS01_ENOTFOUND
 * ("No such image"), audited when it is another user's. */
int dapi_check_image(struct ds01d *v, const struct caller *c, const char *ref, const json_t *image,
                     struct error **err);
/* Docker's `filters` query value with ds01's instance label added to whatever the client asked
 * (both the {"k":["v"]} and the older {"k":{"v":true}} forms). NULL with *err (DS01_EUSAGE) when
 * `filters` is not a JSON object of those forms. Pure. */
char *dapi_filters_with_label(const char *filters, const char *label, struct error **err);
/* Checks and rewrites an exec create body (POST /containers/ID/exec) for the caller: the
 * command runs as them ("User" is theirs or empty; root and other users are refused, EPERM),
 * never privileged; another spelling of either key that Docker would read as it ("user",
 * "PRIVILEGED") is refused (EUSAGE). The new body, or NULL with *err. Pure. */
json_t *dapi_exec_body(const char *body, size_t len, const struct caller *c, struct error **err);
