/* SPDX-License-Identifier: Apache-2.0 */
/* Tiny assertion helpers for the driver tests. */
#pragma once

#include <stdio.h>
#include <stdlib.h>

static int test_failures;

#define CHECK(cond)                                                                                          \
        do {                                                                                                 \
                if (!(cond)) {                                                                               \
                        fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);             \
                        test_failures++;                                                                     \
                }                                                                                            \
        } while (0)

#define CHECK_RC(expr)                                                                                       \
        ({                                                                                                   \
                int _r_ = (expr);                                                                            \
                if (_r_ < 0) {                                                                               \
                        fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #expr, strerror(-_r_)); \
                        test_failures++;                                                                     \
                }                                                                                            \
                _r_;                                                                                         \
        })

#define SKIP(...)                                                                                            \
        do {                                                                                                 \
                fprintf(stderr, "SKIP: " __VA_ARGS__);                                                       \
                fprintf(stderr, "\n");                                                                       \
                exit(77);                                                                                    \
        } while (0)

static inline int test_result(const char *name)
{
        if (test_failures) {
                fprintf(stderr, "%s: %d check(s) failed\n", name, test_failures);
                return 1;
        }
        fprintf(stderr, "%s: ok\n", name);
        return 0;
}
