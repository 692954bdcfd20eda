#include "strbuf.h"

#include <ctype.h>
#include <stdio.h>

void strbuf_init(struct strbuf *sb)
{
        sb->buf = NULL;
        sb->len = sb->cap = 0;
}

void strbuf_release(struct strbuf *sb)
{
        free(sb->buf);
        strbuf_init(sb);
}

static void grow(struct strbuf *sb, size_t extra)
{
        if (sb->len + extra + 1 <= sb->cap)
                return;
        size_t cap = sb->cap ? sb->cap : 64;
        while (cap < sb->len + extra + 1)
                cap *= 2;
        sb->buf = xrealloc(sb->buf, cap);
        sb->cap = cap;
}

void strbuf_add(struct strbuf *sb, const void *data, size_t n)
{
        grow(sb, n);
        memcpy(sb->buf + sb->len, data, n);
        sb->len += n;
        sb->buf[sb->len] = '\0';
}

void strbuf_adds(struct strbuf *sb, const char *s)
{
        strbuf_add(sb, s, strlen(s));
}

void strbuf_addc(struct strbuf *sb, char c)
{
        strbuf_add(sb, &c, 1);
}

void strbuf_add_i64(struct strbuf *sb, int64_t v)
{
        char tmp[24], *e = tmp + sizeof(tmp), *p = e;
        uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
        do
                *--p = (char)('0' + u % 10);
        while ((u /= 10) != 0);
        if (v < 0)
                *--p = '-';
        strbuf_add(sb, p, (size_t)(e - p));
}

void strbuf_add_html(struct strbuf *sb, const char *s)
{
        for (; s && *s; s++) {
                switch (*s) {
                case '&':
                        strbuf_adds(sb, "&amp;");
                        break;
                case '<':
                        strbuf_adds(sb, "&lt;");
                        break;
                case '>':
                        strbuf_adds(sb, "&gt;");
                        break;
                case '"':
                        strbuf_adds(sb, "&quot;");
                        break;
                case '\'':
                        strbuf_adds(sb, "&#39;");
                        break;
                default:
                        strbuf_addc(sb, *s);
                }
        }
}

void strbuf_add_base64(struct strbuf *sb, const void *data, size_t n)
{
        static const char abc[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        const unsigned char *p = data;
        for (size_t i = 0; i < n; i += 3) {
                uint32_t v = (uint32_t)p[i] << 16;
                if (i + 1 < n)
                        v |= (uint32_t)p[i + 1] << 8;
                if (i + 2 < n)
                        v |= p[i + 2];
                strbuf_addc(sb, abc[(v >> 18) & 63]);
                strbuf_addc(sb, abc[(v >> 12) & 63]);
                strbuf_addc(sb, i + 1 < n ? abc[(v >> 6) & 63] : '=');
                strbuf_addc(sb, i + 2 < n ? abc[v & 63] : '=');
        }
}

void strbuf_add_shell_word(struct strbuf *sb, const char *s)
{
        bool plain = *s != '\0';
        for (const char *p = s; *p && plain; p++)
                plain = isalnum((unsigned char)*p) || strchr("._+=,@:/-%", *p);
        if (plain) {
                strbuf_adds(sb, s);
                return;
        }
        strbuf_addc(sb, '\'');
        for (const char *p = s; *p; p++) {
                if (*p == '\'')
                        strbuf_adds(sb, "'\\''");
                else
                        strbuf_addc(sb, *p);
        }
        strbuf_addc(sb, '\'');
}

void strbuf_add_json_string(struct strbuf *sb, const char *s)
{
        static const char hex[] = "0123456789abcdef";
        strbuf_addc(sb, '"');
        const char *run = s;
        for (; *s; s++) {
                unsigned char c = (unsigned char)*s;
                if (c >= 0x20 && c != '"' && c != '\\')
                        continue;
                strbuf_add(sb, run, (size_t)(s - run));
                run = s + 1;
                char esc[6] = {'\\', (char)c, 0, 0, 0, 0};
                size_t n = 2;
                switch (c) {
                case '"':
                case '\\':
                        break;
                case '\n':
                        esc[1] = 'n';
                        break;
                case '\t':
                        esc[1] = 't';
                        break;
                case '\r':
                        esc[1] = 'r';
                        break;
                default:
                        esc[1] = 'u';
                        esc[2] = esc[3] = '0';
                        esc[4] = hex[c >> 4];
                        esc[5] = hex[c & 15];
                        n = 6;
                }
                strbuf_add(sb, esc, n);
        }
        strbuf_add(sb, run, (size_t)(s - run));
        strbuf_addc(sb, '"');
}

void strbuf_addf(struct strbuf *sb, const char *fmt, ...)
{
        va_list ap, ap2;
        va_start(ap, fmt);
        va_copy(ap2, ap);
        int n = vsnprintf(NULL, 0, fmt, ap);
        va_end(ap);
        if (n > 0) {
                grow(sb, (size_t)n);
                vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap2);
                sb->len += (size_t)n;
        }
        va_end(ap2);
}

void strbuf_reset(struct strbuf *sb)
{
        sb->len = 0;
        if (sb->buf)
                sb->buf[0] = '\0';
}

const char *strbuf_str(const struct strbuf *sb)
{
        return sb->buf ? sb->buf : "";
}

char *strbuf_detach(struct strbuf *sb)
{
        char *s = sb->buf ? sb->buf : xstrdup("");
        strbuf_init(sb);
        return s;
}
