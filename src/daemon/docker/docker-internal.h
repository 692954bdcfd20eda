/* docker-internal.h - what docker.c (requests through libcurl) and docker-streams.c (raw
 * streams on a socket of their own) share: the client's state, set once by docker_new. */
#pragma once

#include <stddef.h>

struct docker {
        char *socket_path;
        char *api_version;    /* "1.41" */
        char *server_version; /* "20.10.24" */
        char *prefix;         /* "/v1.41" */
        char *root_dir;       /* "/var/lib/docker" (DockerRootDir) */
};

/* Percent-encodes s for a path segment or a query value. */
char *url_escape(const char *s);
