/* SPDX-License-Identifier: Apache-2.0 */
/* The start gate (start-gate.h). */
#include <poll.h>
#include <time.h>

#include "drivers/start-gate.h"
#include "lib/util.h"

#define GATE_GO 'g'

int start_gate_go(int *gate)
{
        int r;

        if (*gate < 0)
                return 0;
        r = write_all(*gate, &(char){ GATE_GO }, 1);
        *gate = safe_close(*gate);
        return r;
}

int start_gate_cancel(int *gate, int notify_fd, int timeout_msec)
{
        usec_t deadline = now_usec(CLOCK_MONOTONIC) + (usec_t)timeout_msec * USEC_PER_MSEC;
        char buf[512];

        *gate = safe_close(*gate);
        if (notify_fd < 0)
                return 0;
        /* A cancelled shim writes no report: the pipe only hangs up. */
        for (;;) {
                usec_t now = now_usec(CLOCK_MONOTONIC);
                struct pollfd p = { .fd = notify_fd, .events = POLLIN };
                ssize_t n;

                if (now >= deadline)
                        return -ETIMEDOUT;
                if (poll(&p, 1, (int)((deadline - now) / USEC_PER_MSEC) + 1) < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                n = read(notify_fd, buf, sizeof(buf));
                if (n == 0)
                        return 0;
                if (n < 0 && errno != EAGAIN && errno != EINTR)
                        return -errno;
        }
}

int start_gate_wait(int *gate)
{
        ssize_t n;
        char b = 0;

        if (*gate < 0)
                return 0;
        do
                n = read(*gate, &b, 1);
        while (n < 0 && errno == EINTR);
        *gate = safe_close(*gate);
        return n == 1 && b == GATE_GO ? 0 : -ECANCELED;
}
