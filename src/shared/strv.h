/* strv.h - NULL-terminated string vectors (char **), as the ledger returns them. */
#pragma once

#include <jansson.h>
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
