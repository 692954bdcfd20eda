/* image-build.h - building a project's image ds01-<uid>/<project>:latest from its directory:
 * the one build image-create and image-update share. Ctrl-C hangs up, which makes ds01d cancel
 * the build. */
#pragma once

#include "client.h"
#include "cmd.h"

#include <stdbool.h>

/* Builds ds01-<uid>/project:latest from dir on connection c (opened here when closed). Returns
 * the exit code. */
int image_build(const struct cli_command *cmd, struct client *c, const char *project,
                const char *dir, bool nocache, bool json);
