/* dockerjson.h - small readers for the Engine API's JSON, shared by the daemon's modules, and
 * the daemon's one way to serialise JSON. */
#pragma once

#include <jansson.h>
#include <stdint.h>

/* v as compact JSON text (a new string); aborts only when out of memory, as xmalloc does. */
char *json_text(const json_t *v);
/* The string member `key` of object o, or NULL. */
const char *jstr(const json_t *o, const char *key);
/* Docker's RFC 3339 times ("2026-11-28T16:36:27.123456789Z") in unix milliseconds; 0 for
 * Docker's zero time ("0001-01-01T00:00:00Z"), NULL or anything unparseable (timestamp.h). */
int64_t docker_time_ms(const char *s);
/* The label ds01 gives each container with the host path of its workspace (Docker's mount source
 * is the container's pin, workspace.h). */
#define DOCKER_WORKSPACE_LABEL "ds01.workspace"
/* The host path of the workspace of a container inspect (the label; for containers made before
 * it, the source mounted at /workspace), or NULL. */
const char *docker_inspect_workspace(const json_t *inspect);
