/* spec.h - the Docker create body of a managed container: what it runs as, what it mounts, what
 * it may see (its GPUs only), its limits and labels. Everything a container is allowed is
 * decided here, in one function, from the owner's limits and the leased slots. */
#pragma once

#include "daemon/ds01d.h"
#include "daemon/requests/caller.h"

/* The /etc/passwd of the owner's containers (root, nobody, the owner with home /workspace),
 * written by root in the daemon's state directory and mounted read-only; NULL (logged) when it
 * cannot be written, and the container keeps the image's. */
char *spec_passwd_file(struct ds01d *d, const struct caller *c);
/* The whole create body. gpu_request is what the user asked for ("2", "mig:3g.20gb:1", "0"),
 * kept as a label so a re-lease after a hold can ask for the same; /workspace is mounted from
 * pin (workspace.h); workspace, the user's path, is a label to show; img is Docker's inspect of
 * the image (its ds01.* labels are blanked); cmd a batch command (NULL or [] for none). Call
 * with a view (generation.h): reads its cfg and inv. */
json_t *spec_create_body_of(struct ds01d *d, const struct caller *c, const struct limit_set *ls,
                            const char *project, const char *image, const json_t *img,
                            const char *workspace, const char *pin, char **uuids, const json_t *cmd,
                            const char *gpu_request);
