/* SPDX-License-Identifier: Apache-2.0 */
/* Aligned text tables for human output (ls). Pure: renders into a buffer.
 * Columns are separated by three spaces; the last column is not padded. */
#pragma once

#include "lib/util.h"

typedef struct Table Table;

int table_new(const char *const *headers, size_t n_columns, Table **ret);
/* Copies n_columns cells; NULL cells render as "-". */
int table_add_row(Table *t, const char *const *cells);
size_t table_rows(const Table *t);
int table_render(const Table *t, char **ret, size_t *ret_len);
Table *table_free(Table *t);
DEFINE_TRIVIAL_CLEANUP_FUNC(Table *, table_free);
