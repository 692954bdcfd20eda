/* tarheader.h - one POSIX ustar header block: the format the CLI's build contexts (tarball.c)
 * and ds01d's archives for Docker (docker_container_mkdir) share. No state. */
#pragma once

#include <stdint.h>

#define TAR_BLOCK     512
#define TAR_NAME_MAX  100            /* name and link fields */
#define TAR_OCTAL_MAX 077777777777LL /* the largest number an 11-digit octal field holds */

struct tar_header {
        const char *name; /* at most TAR_NAME_MAX bytes are kept */
        char type;        /* '0' file, '5' directory, '2' symlink, 'x' PAX record */
        unsigned mode;
        uint64_t size; /* over TAR_OCTAL_MAX: 0 (a PAX record carries it) */
        int64_t mtime; /* clamped to 0..TAR_OCTAL_MAX */
        const char *link;
        unsigned uid, gid;
};

/* Fills block with h's header, checksum included. */
void tar_header_format(unsigned char block[TAR_BLOCK], const struct tar_header *h);
