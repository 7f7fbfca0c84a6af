/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/crashpoint.h"

#if BERTH_CRASH_POINTS
void crash_point_hit(const char *name)
{
        const char *at = getenv("BERTH_CRASH_AT");
        char line[160];
        int n;

        if (!at || strcmp(at, name) != 0)
                return;
        /* One write(2), no stdio buffers: the line must reach the log before we die. */
        n = snprintf(line, sizeof(line), "berth: crash point %s reached, aborting\n", name);
        if (n > 0)
                (void)!write(STDERR_FILENO, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
        /* SIGKILL, not abort(): no core dump, no atexit handlers, nothing
         * flushed or cleaned up, exactly like a power cut of this process. */
        (void)kill(getpid(), SIGKILL);
        abort();
}

int fault_point_hit(const char *name)
{
        const char *at = getenv("BERTH_FAULT_AT");
        char line[160];
        int n;

        if (!at || strcmp(at, name) != 0)
                return 0;
        n = snprintf(line, sizeof(line), "berth: fault point %s reached, failing with EIO\n", name);
        if (n > 0)
                (void)!write(STDERR_FILENO, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
        return -EIO;
}
#endif
