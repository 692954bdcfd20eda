/* dockerfile.h - the marked package blocks of a project's Dockerfile, the contract between the
 * daemon, whose template writes them (daemon/images/images.c), and image-update in the CLI,
 * which finds them by their marker lines and rewrites the one RUN line between. A marker line
 * starts with its marker; what follows it on the line is a comment for the user. */
#pragma once

#define DOCKERFILE_SYS_BEGIN "# >>> ds01 system packages"
#define DOCKERFILE_SYS_END   "# <<< ds01 system packages"
#define DOCKERFILE_PY_BEGIN  "# >>> ds01 python packages"
#define DOCKERFILE_PY_END    "# <<< ds01 python packages"

/* The RUN line of each block: the fixed text, the packages (shell words), then the tail. */
#define DOCKERFILE_APT_RUN  "RUN apt-get update && apt-get install -y --no-install-recommends"
#define DOCKERFILE_APT_TAIL "&& rm -rf /var/lib/apt/lists/*"
#define DOCKERFILE_PIP_RUN  "RUN pip install --no-cache-dir"
