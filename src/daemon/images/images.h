/* images.h - per-user project images ds01-<uid>/<project>:latest (issue #5): the Dockerfile
 * template, builds through the daemon under the user's group limits with progress streamed back,
 * and listing and deleting one's own images. Nobody but the owner (or an admin) lists, uses or
 * deletes a ds01-<uid>/ image. */
#pragma once

#include "daemon/ds01d.h"
#include "daemon/requests/caller.h"

/* Whether uid may use image `img` (an inspect result): not when its ds01.user_id label or one
 * of its tags ds01-<uid>/ names another user, nor when it has no tag, no pulled digest and not
 * uid's label (a build's intermediate layer, reached by an id prefix: nobody can say whose files
 * it holds). Whatever name reached it (tag, id, prefix, digest, docker.io/ prefix), the image
 * itself says whose it is. */
bool images_usable_by(const json_t *img, unsigned uid);

/* Sends one progress message to the client; non-zero when the client is gone. */
typedef int (*images_progress_fn)(void *ctx, json_t *progress /* stolen */);

/* Where the caller's project lives (workspace_root decides; the containers mount the same
 * directory), and the server's frameworks: what the CLI, which writes the Dockerfile as the user,
 * must not guess. With create, the directory is made as a deploy makes it (workspace.h). A
 * framework given that the server lacks is a usage error naming those it has. */
int images_project(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                   struct error **err);
int images_template(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                    struct error **err);
/* context_fd: the tar stream of the build context (from the CLI, written as the user), spooled
 * under images.max_context_mb and images.max_spool_mb, within 10 min and 30 s without data, until
 * the client hangs up; then checked (buildcheck.h: one Dockerfile, no other user's image, no
 * ds01.* label). A user runs images.max_builds_per_user builds at once; each gets the group's
 * memory, CPU and (cgroupfs driver) pids limits. A build is refused (DS01_ERESOURCE) while the
 * user's images take images.max_images_mb_per_user or more.
 * client_fd: the caller's connection; its closing cancels the build. d is the request's view
 * (generation.h): the build keeps the configuration it started with. */
int images_build(struct ds01d *d, const struct caller *c, json_t *params, int context_fd,
                 int client_fd, images_progress_fn progress, void *progress_ctx,
                 json_t **ret_result, struct error **err);
/* The image builds uid has in flight now (check-limits' usage). Takes only the builds' own lock. */
int images_builds_running(unsigned uid);
/* images.list gives the caller's total ("disk": used and max bytes) beside the images. */
int images_list(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                struct error **err);
int images_delete(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                  struct error **err);
