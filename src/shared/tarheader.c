/* tarheader.c - one ustar header block (tarheader.h). */
#include "shared/tarheader.h"

#include <stdio.h>
#include <string.h>

static void octal(char *field, size_t width, uint64_t v)
{
        /* width - 1 digits and a NUL. */
        snprintf(field, width, "%0*llo", (int)width - 1, (unsigned long long)v);
}

void tar_header_format(unsigned char block[TAR_BLOCK], const struct tar_header *h)
{
        char *c = (char *)block;
        memset(block, 0, TAR_BLOCK);
        memcpy(c, h->name, strnlen(h->name, TAR_NAME_MAX));
        octal(c + 100, 8, h->mode & 07777);
        octal(c + 108, 8, h->uid & 07777777);
        octal(c + 116, 8, h->gid & 07777777);
        octal(c + 124, 12, h->size > TAR_OCTAL_MAX ? 0 : h->size);
        octal(c + 136, 12,
              h->mtime < 0               ? 0
              : h->mtime > TAR_OCTAL_MAX ? TAR_OCTAL_MAX
                                         : (uint64_t)h->mtime);
        c[156] = h->type;
        if (h->link)
                memcpy(c + 157, h->link, strnlen(h->link, TAR_NAME_MAX));
        memcpy(c + 257, "ustar", 6);
        memcpy(c + 263, "00", 2);
        memset(c + 148, ' ', 8); /* the checksum counts its own field as spaces */
        unsigned sum = 0;
        for (size_t i = 0; i < TAR_BLOCK; i++)
                sum += block[i];
        snprintf(c + 148, 8, "%06o", sum & 0777777); /* six digits, NUL, and a space */
        c[155] = ' ';
}
