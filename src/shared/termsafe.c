/* termsafe.c - untrusted text made safe to show on a terminal (see termsafe.h). */
#include "termsafe.h"

static void caret(struct strbuf *out, const char *prefix, unsigned char c)
{
        strbuf_adds(out, prefix);
        strbuf_addc(out, c == 0x7f ? '?' : (char)(c + '@'));
}

void term_filter(struct term_filter *f, const char *in, size_t n, struct strbuf *out)
{
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)in[i];
                if (f->held == '\r') {
                        f->held = 0;
                        if (c == '\n') { /* a CRLF line end is a line end */
                                strbuf_addc(out, '\n');
                                continue;
                        }
                        strbuf_adds(out, "^M");
                } else if (f->held == 0xc2) {
                        f->held = 0;
                        if (c >= 0x80 && c <= 0x9f) { /* U+0080..U+009F: C1 controls (CSI...) */
                                caret(out, "M-^", c - 0x80);
                                continue;
                        }
                        strbuf_addc(out, (char)0xc2);
                        f->cont = 1;
                }
                if (f->cont > 0 && c >= 0x80 && c <= 0xbf) {
                        f->cont--;
                        strbuf_addc(out, (char)c);
                        continue;
                }
                f->cont = 0;
                if (c == '\n' || c == '\t')
                        strbuf_addc(out, (char)c);
                else if (c == '\r' || c == 0xc2)
                        f->held = c;
                else if (c < 0x20 || c == 0x7f)
                        caret(out, "^", c);
                else if (c >= 0x80 && c <= 0x9f) /* a C1 control to an 8-bit terminal */
                        caret(out, "M-^", c - 0x80);
                else {
                        f->cont = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc0 ? 1 : 0;
                        strbuf_addc(out, (char)c);
                }
        }
}

void term_filter_end(struct term_filter *f, struct strbuf *out)
{
        if (f->held == '\r')
                strbuf_adds(out, "^M");
        else if (f->held)
                strbuf_addc(out, (char)f->held);
        f->held = 0;
        f->cont = 0;
}

char *term_safe(const char *s)
{
        struct term_filter f = TERM_FILTER_INIT;
        struct strbuf sb = STRBUF_INIT;
        term_filter(&f, s, strlen(s), &sb);
        term_filter_end(&f, &sb);
        return strbuf_detach(&sb);
}
