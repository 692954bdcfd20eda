/* output.h - how the CLI talks to people and scripts: error lines, notices, JSON documents and
 * aligned tables, with colour only for a terminal that wants it. */
#pragma once

#include "../shared/error.h"
#include "../shared/termsafe.h"

#include <jansson.h>
#include <stdio.h>

#define OUTPUT_GREEN  "\033[32m"
#define OUTPUT_YELLOW "\033[33m"
#define OUTPUT_RED    "\033[31m"
#define OUTPUT_BOLD   "\033[1m"
#define OUTPUT_RESET  "\033[0m"

/* stdout is a terminal and NO_COLOR is unset or empty. */
bool output_colour(void);
/* One JSON document on stdout: indented for a terminal, compact otherwise; then a newline. */
void output_json(const json_t *v);
/* Prints "cmd: message" to stderr; returns the exit code (1..5) to use. */
int output_error(const char *cmd, const struct error *e);
/* Prints each string of a notices array to stderr as "note: ...". NULL is fine. */
void output_notices(const json_t *notices);
/* "GPU-1a2b3c4d" from a long uuid, for tables; the slot name when one is given. */
const char *output_short_gpu(const json_t *gpu, char buf[static 32]);
/* A container's published ports for a table cell, "8888,6006" or "-" (a new string). */
char *output_ports_cell(const json_t *ports);

struct table;
/* headers: n_cols titles, or NULL for a table without a header row. */
struct table *table_new(size_t n_cols, const char *const *headers);
struct table *table_free(struct table *t);
/* Appends a row of n_cols cells (copied). */
void table_add_row(struct table *t, const char *const *cells);
/* Colours one cell of the last row (an OUTPUT_* escape, used only when colour is on). */
void table_set_colour(struct table *t, size_t col, const char *colour);
/* Prints the table with columns padded to their widest cell, two spaces apart. */
void table_print(const struct table *t, FILE *f, bool colour);
static inline void table_freep(struct table **t)
{
        table_free(*t);
}
#define _cleanup_table_ _cleanup_(table_freep)

/* Informational lines go to stdout, or to stderr when stdout carries JSON. */
_printf_(2, 3) void output_info(bool json, const char *fmt, ...);
