/* volumes.h - an image's VOLUMEs and what they mean for the user's files: one inside
 * /workspace is refused (Docker would hide the user's files under an empty volume deleted with
 * the container); others are anonymous volumes that go with the container, and the user is
 * told so at deploy and at retire. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "shared/error.h"

/* The VOLUMEs of image `img` (Docker's inspect; `image` its name for messages) outside
 * /workspace, cleaned as Docker cleans paths, in *ret_volumes (always set); -1 with *err for one
 * inside /workspace. */
int volumes_of_image(const json_t *img, const char *image, json_t **ret_volumes,
                     struct error **err);
/* The notice for a container with such volumes (at deploy, or `retired`), or NULL. */
json_t *volumes_notice(const json_t *volumes, bool retired);
/* The anonymous volumes a container has (its Mounts of Type volume), as paths. */
json_t *volumes_of_container(const json_t *inspect);
