/* tarball.h - a project directory as a tar stream: the build context image-create sends to ds01d.
 *
 * POSIX ustar with PAX extended headers ('x') for paths, link targets and sizes that do not fit
 * a ustar header. Regular files, directories and symlinks (kept as symlinks, never followed);
 * sockets, devices and fifos are skipped. Owners are 0 with empty names; mode and mtime are
 * kept. Entries are in lexical order, paths relative to the root.
 *
 * .dockerignore at the root is honoured with Docker's rules: one pattern per line, '#' comments
 * and blank lines ignored, surrounding whitespace trimmed, patterns relative to the root (a
 * leading or trailing '/' is dropped), '*', '?', '[...]' within one path element, '**' for any
 * number of elements, '!' for exceptions (the last matching line wins), and a pattern that
 * matches a directory excludes everything below it unless an exception re-includes something
 * there. Dockerfile and .dockerignore at the root are always sent, as Docker does. */
#pragma once

#include "../shared/error.h"

/* The default cap on the sum of file sizes in a build context. */
#define TARBALL_DEFAULT_MAX_BYTES (1024LL * 1024 * 1024)

/* Writes the tar stream of root to fd. Fails with DS01_EUSAGE when the sum of the included
 * files' sizes exceeds max_bytes, with DS01_ERR on a file it cannot read or a failed write (EPIPE:
 * the reader went away). fd < 0 only walks the tree and checks the cap, which fails early and
 * cheaply before anything is sent. A failure after writing started ends the stream with a block
 * that is not a valid header, so the reader cannot mistake the stream for a complete archive.
 * *ret_bytes (may be NULL) is the sum of the included files' sizes. */
int tarball_write(const char *root, int fd, int64_t max_bytes, int64_t *ret_bytes,
                  struct error **err);

/* Whether a .dockerignore (its text) excludes the relative path; for tests and tools. */
bool tarball_ignored(const char *dockerignore, const char *path);
