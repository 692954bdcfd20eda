/* termsafe.h - text from others (a container's output, names and messages that carry what
 * users chose) for a terminal: shown, never obeyed. Control characters other than newline and
 * tab become caret notation ("^[" for ESC, "M-^[" for the C1 CSI, "^M" for a CR that does not
 * end a line), so no escape sequence reaches the terminal; valid UTF-8 passes unchanged. A
 * stream keeps its state in a struct term_filter across chunks; term_filter_end flushes what
 * it held back. */
#pragma once

#include "strbuf.h"

struct term_filter {
        unsigned char held; /* '\r' or 0xc2 waiting for the next byte, or 0 */
        int cont;           /* continuation bytes of a UTF-8 character still to come */
};
#define TERM_FILTER_INIT                                                                           \
        {                                                                                          \
                0, 0                                                                               \
        }
void term_filter(struct term_filter *f, const char *in, size_t n, struct strbuf *out);
void term_filter_end(struct term_filter *f, struct strbuf *out);
/* term_filter of one string: a new string. */
char *term_safe(const char *s);
