/* SPDX-License-Identifier: Apache-2.0 */
#include "cli/table.h"

struct Table {
        size_t n_columns;
        size_t n_rows; /* including the header row */
        char **cells;  /* n_rows * n_columns */
};

/* Display width: UTF-8 code points (names and values here are narrow). */
static size_t text_width(const char *s)
{
        size_t w = 0;

        for (; *s; s++)
                if (((unsigned char)*s & 0xC0) != 0x80)
                        w++;
        return w;
}

Table *table_free(Table *t)
{
        if (!t)
                return NULL;
        for (size_t i = 0; i < t->n_rows * t->n_columns; i++)
                free(t->cells[i]);
        free(t->cells);
        free(t);
        return NULL;
}

int table_add_row(Table *t, const char *const *cells)
{
        char **c = reallocarray(t->cells, (t->n_rows + 1) * t->n_columns, sizeof(char *));

        if (!c)
                return -ENOMEM;
        t->cells = c;
        for (size_t i = 0; i < t->n_columns; i++) {
                c[t->n_rows * t->n_columns + i] = strdup(cells[i] ? cells[i] : "-");
                if (!c[t->n_rows * t->n_columns + i]) {
                        for (size_t k = 0; k < i; k++)
                                free(c[t->n_rows * t->n_columns + k]);
                        return -ENOMEM;
                }
        }
        t->n_rows++;
        return 0;
}

int table_new(const char *const *headers, size_t n_columns, Table **ret)
{
        Table *t;
        int r;

        if (n_columns == 0)
                return -EINVAL;
        t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        t->n_columns = n_columns;
        r = table_add_row(t, headers);
        if (r < 0) {
                table_free(t);
                return r;
        }
        *ret = t;
        return 0;
}

size_t table_rows(const Table *t)
{
        return t->n_rows - 1;
}

int table_render(const Table *t, char **ret, size_t *ret_len)
{
        _cleanup_free_ size_t *width = calloc(t->n_columns, sizeof(size_t));
        char *buf = NULL;
        size_t len = 0, cap = 0;
        int r;

        if (!width)
                return -ENOMEM;
        for (size_t row = 0; row < t->n_rows; row++)
                for (size_t col = 0; col < t->n_columns; col++) {
                        size_t w = text_width(t->cells[row * t->n_columns + col]);
                        if (w > width[col])
                                width[col] = w;
                }
        r = buf_printf(&buf, &len, &cap, "%s", "");
        for (size_t row = 0; r >= 0 && row < t->n_rows; row++)
                for (size_t col = 0; r >= 0 && col < t->n_columns; col++) {
                        const char *cell = t->cells[row * t->n_columns + col];

                        if (col + 1 == t->n_columns)
                                r = buf_printf(&buf, &len, &cap, "%s\n", cell);
                        else
                                r = buf_printf(&buf, &len, &cap, "%s%*s", cell,
                                               (int)(width[col] - text_width(cell) + 3), "");
                }
        if (r < 0) {
                free(buf);
                return r;
        }
        *ret = buf;
        *ret_len = len;
        return 0;
}
