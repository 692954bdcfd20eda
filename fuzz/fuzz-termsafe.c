/* fuzz-termsafe.c - term_filter over any bytes, fed in pieces of every size: the same output
 * whatever the pieces, and no byte a terminal would obey in it (C0 but \n and \t, DEL, C1 raw
 * or UTF-8 encoded). */
#include "../src/shared/termsafe.h"

#include <stdint.h>
#include <stdio.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void filter(const uint8_t *data, size_t size, size_t step, struct strbuf *out)
{
        struct term_filter f = TERM_FILTER_INIT;
        for (size_t off = 0; off < size; off += step)
                term_filter(&f, (const char *)data + off, size - off < step ? size - off : step,
                            out);
        term_filter_end(&f, out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size == 0)
                return 0;
        size_t step = data[0] % 17 + 1;
        struct strbuf whole = STRBUF_INIT, pieces = STRBUF_INIT;
        filter(data + 1, size - 1, size, &whole);
        filter(data + 1, size - 1, step, &pieces);
        if (whole.len != pieces.len || (whole.len && memcmp(whole.buf, pieces.buf, whole.len)))
                abort();
        int cont = 0; /* continuation bytes still allowed */
        for (size_t i = 0; i < whole.len; i++) {
                unsigned char c = (unsigned char)whole.buf[i];
                if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f)
                        abort();
                if (c == 0xc2 && i + 1 < whole.len && (unsigned char)whole.buf[i + 1] >= 0x80 &&
                    (unsigned char)whole.buf[i + 1] <= 0x9f)
                        abort();
                if (c >= 0x80 && c <= 0x9f && cont == 0)
                        abort(); /* a C1 byte that is not inside a UTF-8 character */
                cont = c >= 0x80 && c <= 0xbf ? (cont > 0 ? cont - 1 : 0)
                       : c >= 0xf0            ? 3
                       : c >= 0xe0            ? 2
                       : c >= 0xc0            ? 1
                                              : 0;
        }
        strbuf_release(&whole);
        strbuf_release(&pieces);
        return 0;
}
