/* SPDX-License-Identifier: Apache-2.0 */
/* Minimal TAP output for lib/ unit tests: every check prints "ok N - ..." or
 * "not ok N - ..."; tap_finish() prints the plan and the summary line and
 * returns the exit code (1 if anything failed). */
#pragma once

#include <stdarg.h>
#include <stdio.h>

static unsigned tap_n, tap_failed;

__attribute__((format(printf, 2, 3), unused)) static bool tap_ok(bool ok, const char *fmt, ...)
{
        va_list ap;

        tap_n++;
        if (!ok)
                tap_failed++;
        printf("%sok %u - ", ok ? "" : "not ", tap_n);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        printf("\n");
        fflush(stdout);
        return ok;
}

__attribute__((format(printf, 1, 2), unused)) static void tap_diag(const char *fmt, ...)
{
        va_list ap;

        printf("# ");
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        printf("\n");
}

__attribute__((unused)) static int tap_finish(void)
{
        printf("1..%u\n", tap_n);
        printf("# %u passed, %u failed\n", tap_n - tap_failed, tap_failed);
        return tap_failed ? 1 : 0;
}
