#include "output.h"
#include "cmd.h"

#include "../shared/timestamp.h"

#include <time.h>

bool output_colour(void)
{
        const char *nc = getenv("NO_COLOR");
        if (nc && *nc)
                return false;
        return isatty(STDOUT_FILENO);
}

void output_json(const json_t *v)
{
        size_t flags = isatty(STDOUT_FILENO) ? JSON_INDENT(2) : JSON_COMPACT;
        json_dumpf(v, stdout, flags | JSON_ENCODE_ANY);
        fputc('\n', stdout);
        fflush(stdout);
}

int output_error(const char *cmd, const struct error *e)
{
        fflush(stdout);
        _cleanup_free_ char *msg = term_safe(e && e->message ? e->message : "unknown error");
        fprintf(stderr, "%s: %s\n", cmd, msg);
        return e && error_code_known(e->code) ? e->code : DS01_ERR;
}

void output_notices(const json_t *notices)
{
        size_t i;
        json_t *n;
        if (!json_is_array(notices))
                return;
        fflush(stdout);
        json_array_foreach (notices, i, n) {
                const char *s = json_string_value(n);
                _cleanup_free_ char *safe = s ? term_safe(s) : NULL;
                if (safe)
                        fprintf(stderr, "note: %s\n", safe);
        }
}

const char *output_short_gpu(const json_t *gpu, char buf[static 32])
{
        const char *uuid = json_string_value(gpu);
        if (json_is_object(gpu)) {
                json_t *slot = json_object_get(gpu, "slot");
                if (json_is_integer(slot)) {
                        snprintf(buf, 32, "%lld", (long long)json_integer_value(slot));
                        return buf;
                }
                if (json_string_value(slot) && *json_string_value(slot)) {
                        snprintf(buf, 32, "%s", json_string_value(slot));
                        return buf;
                }
                uuid = cli_jstr(gpu, "uuid", NULL);
        }
        snprintf(buf, 32, "%.12s", uuid ? uuid : "?");
        return buf;
}

int64_t cli_jtime(const json_t *o, const char *key)
{
        json_t *v = json_object_get(o, key);
        if (json_is_integer(v))
                return json_integer_value(v) > 0 ? json_integer_value(v) : 0;
        if (json_is_real(v))
                return json_real_value(v) > 0 ? (int64_t)json_real_value(v) : 0;
        /* Docker spells times "2026-11-28T15:46:43.123456789Z"; unset ones are year 0001. */
        return timestamp_ms_or_zero(json_string_value(v)) / 1000;
}

struct table {
        size_t n_cols;
        size_t n_rows; /* including the header row, if any */
        bool has_header;
        char **cells; /* n_rows * n_cols */
        const char **colours;
};

struct table *table_new(size_t n_cols, const char *const *headers)
{
        struct table *t = xzalloc(sizeof(*t));
        t->n_cols = n_cols;
        if (headers) {
                table_add_row(t, headers);
                t->has_header = true;
        }
        return t;
}

struct table *table_free(struct table *t)
{
        if (!t)
                return NULL;
        for (size_t i = 0; i < t->n_rows * t->n_cols; i++)
                free(t->cells[i]);
        free(t->cells);
        free(t->colours);
        free(t);
        return NULL;
}

void table_add_row(struct table *t, const char *const *cells)
{
        size_t n = (t->n_rows + 1) * t->n_cols;
        t->cells = xrealloc(t->cells, n * sizeof(char *));
        t->colours = xrealloc(t->colours, n * sizeof(char *));
        for (size_t c = 0; c < t->n_cols; c++) {
                t->cells[t->n_rows * t->n_cols + c] = term_safe(cells[c] ? cells[c] : "");
                t->colours[t->n_rows * t->n_cols + c] = NULL;
        }
        t->n_rows++;
}

void table_set_colour(struct table *t, size_t col, const char *colour)
{
        if (t->n_rows > (t->has_header ? 1u : 0u) && col < t->n_cols)
                t->colours[(t->n_rows - 1) * t->n_cols + col] = colour;
}

/* Display width of UTF-8 text: one column per code point (names and images are ASCII). */
static size_t text_width(const char *s)
{
        size_t w = 0;
        for (; *s; s++)
                if (((unsigned char)*s & 0xc0) != 0x80)
                        w++;
        return w;
}

void table_print(const struct table *t, FILE *f, bool colour)
{
        _cleanup_free_ size_t *width = xcalloc(t->n_cols, sizeof(size_t));
        for (size_t r = 0; r < t->n_rows; r++)
                for (size_t c = 0; c < t->n_cols; c++) {
                        size_t w = text_width(t->cells[r * t->n_cols + c]);
                        if (w > width[c])
                                width[c] = w;
                }
        for (size_t r = 0; r < t->n_rows; r++) {
                for (size_t c = 0; c < t->n_cols; c++) {
                        const char *s = t->cells[r * t->n_cols + c];
                        const char *col = colour ? t->colours[r * t->n_cols + c] : NULL;
                        if (r == 0 && t->has_header && colour)
                                col = OUTPUT_BOLD;
                        bool last = c + 1 == t->n_cols;
                        fprintf(f, "%s%s%s", col ? col : "", s, col ? OUTPUT_RESET : "");
                        if (!last)
                                fprintf(f, "%*s", (int)(width[c] - text_width(s) + 2), "");
                }
                fputc('\n', f);
        }
}

void output_info(bool json, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        vfprintf(json ? stderr : stdout, fmt, ap);
        va_end(ap);
}

char *output_ports_cell(const json_t *ports)
{
        struct strbuf sb = STRBUF_INIT;
        size_t i;
        const json_t *p;
        json_array_foreach (ports, i, p)
                strbuf_addf(&sb, "%s%lld", i ? "," : "", (long long)json_integer_value(p));
        if (sb.len == 0)
                strbuf_adds(&sb, "-");
        return strbuf_detach(&sb);
}
