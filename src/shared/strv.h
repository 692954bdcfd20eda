/* strv.h - NULL-terminated string vectors (char **), as the ledger returns them. */
#pragma once

#include "shared/util.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* v as a JSON array of strings (a new reference; [] for NULL). */
json_t *strv_to_json(char **v);
/* v joined with sep (a new string; "" for NULL). */
char *strv_join(char **v, const char *sep);
/* "a,b,c" -> {"a", "b", "c", NULL} in *ret (NULL for an empty or NULL s), its length in *ret_n.
 * Free with store_strv_free or each element and the vector. */
void strv_split_csv(const char *s, char ***ret, size_t *ret_n);
/* Frees each element and v (NULL: nothing). */
void strv_free(char **v);

/* A growable NULL-terminated string vector. */
struct strv {
        char **v;
        size_t n;
        size_t cap;
};

/* Appends a copy of s. */
void strv_push(struct strv *sv, const char *s);
bool strv_contains(const struct strv *sv, const char *s);
/* Hands out the vector (never NULL: an empty one is just {NULL}) and empties sv. */
char **strv_take(struct strv *sv);
void strv_release(struct strv *sv);
#define _cleanup_strv_ _cleanup_(strv_release)
