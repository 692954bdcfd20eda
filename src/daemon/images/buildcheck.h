/* buildcheck.h - a build context read as Docker's classic builder reads it, so that ds01 can
 * refuse a build before Docker sees it (issue 11, items 4 and 7): the one Dockerfile of the
 * context tar, the images that Dockerfile reads, and the ds01.* labels it may not set.
 * Pure functions over memory; no locking. */
#pragma once

#include "shared/error.h"

#include <stddef.h>

/* The one Dockerfile of the ustar/PAX context [buf, buf + len) (*ret_dockerfile, NUL-ended).
 * Refused (DS01_EUSAGE), since Docker could build another file than the one checked: no
 * Dockerfile or more than one entry that names it (./Dockerfile, .//Dockerfile, a PAX path...),
 * a Dockerfile that is not a regular file, an entry written through a symlink of the archive,
 * GNU or global PAX headers, bad checksums, a compressed or truncated archive. */
int buildcheck_context(const char *buf, size_t len, char **ret_dockerfile, struct error **err);

/* The images Dockerfile text df reads: FROM, COPY --from, RUN --mount=...,from= (stage indexes
 * left out). *ret_refs: a NULL-ended array of names, each as written and unquoted, to be checked
 * one by one (names of earlier stages included: an image check of a stage name is harmless).
 * Refused (DS01_EUSAGE): a base given through a build argument ($), a name that is no image
 * reference, LABEL keys starting with "ds01." (ds01's own), ONBUILD triggers that read images. */
int buildcheck_dockerfile(const char *df, char ***ret_refs, struct error **err);

/* Frees what buildcheck_dockerfile returned (NULL is fine). */
void buildcheck_refs_free(char **refs);
