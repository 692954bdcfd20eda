/* strbuf.h - a growable string buffer for anything whose size a user controls. */
#pragma once

#include "util.h"

struct strbuf {
        char *buf; /* always NUL-terminated once anything was added */
        size_t len;
        size_t cap;
};

#define STRBUF_INIT                                                                                \
        {                                                                                          \
                NULL, 0, 0                                                                         \
        }

void strbuf_init(struct strbuf *sb);
void strbuf_release(struct strbuf *sb);
void strbuf_add(struct strbuf *sb, const void *data, size_t n);
void strbuf_adds(struct strbuf *sb, const char *s);
void strbuf_addc(struct strbuf *sb, char c);
/* A decimal integer. */
void strbuf_add_i64(struct strbuf *sb, int64_t v);
/* s as a JSON string, quoted and escaped (UTF-8 passes through). */
void strbuf_add_json_string(struct strbuf *sb, const char *s);
/* s as one shell word: as it is when the shell reads it literally, else in single quotes
 * (a ' inside is written '\''). For package specs in RUN lines ("scipy<2"). */
void strbuf_add_shell_word(struct strbuf *sb, const char *s);
/* s with & < > " ' as HTML character references (text and attribute values of a page). */
void strbuf_add_html(struct strbuf *sb, const char *s);
/* n bytes in standard base64, padded (Docker's X-Docker-Container-Path-Stat header). */
void strbuf_add_base64(struct strbuf *sb, const void *data, size_t n);
void strbuf_addf(struct strbuf *sb, const char *fmt, ...) _printf_(2, 3);
void strbuf_reset(struct strbuf *sb);
/* The string (never NULL); ownership stays with sb. */
const char *strbuf_str(const struct strbuf *sb);
/* Hands the buffer to the caller (never NULL) and resets sb. */
char *strbuf_detach(struct strbuf *sb);
