/* SPDX-License-Identifier: Apache-2.0 */
/* Minimal TAP helpers for the cli unit tests. */
#pragma once

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_n, tap_failed;

#define CHECK(cond, ...)                                                                                    \
        do {                                                                                                \
                tap_n++;                                                                                    \
                if (cond)                                                                                   \
                        printf("ok %d - ", tap_n);                                                          \
                else {                                                                                      \
                        tap_failed++;                                                                       \
                        printf("not ok %d - %s:%d: ", tap_n, __FILE__, __LINE__);                           \
                }                                                                                           \
                printf(__VA_ARGS__);                                                                        \
                printf("\n");                                                                               \
        } while (0)

#define CHECK_STREQ(a, b, ...)                                                                              \
        do {                                                                                                \
                const char *_a = (a), *_b = (b);                                                            \
                bool _eq = _a && _b && strcmp(_a, _b) == 0;                                                 \
                CHECK(_eq, __VA_ARGS__);                                                                    \
                if (!_eq)                                                                                   \
                        printf("#   got:      \"%s\"\n#   expected: \"%s\"\n", _a ? _a : "(null)",          \
                               _b ? _b : "(null)");                                                         \
        } while (0)

static inline int tap_done(void)
{
        printf("1..%d\n# %d passed, %d failed\n", tap_n, tap_n - tap_failed, tap_failed);
        return tap_failed ? 1 : 0;
}
