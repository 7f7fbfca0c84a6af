/* SPDX-License-Identifier: Apache-2.0 */
/* Crash points of the store's steps (lib/crashpoint.h, docs/OPERATIONS.md).
 * The store's slow operations run in a worker process forked by berthd
 * (agent/manager-images.c), so a crash point here models a crash of the
 * daemon together with its worker: the worker SIGKILLs berthd (the pid
 * given to store_crash_setup()) and then itself. Names are "<op>.<step>"
 * ("import.blob-renamed"); BERTH_CRASH_AT="<op>.<step>#N" fires at the N-th
 * time that step is reached (a blob ingest is a step of every blob). */
#include <signal.h>
#include <stdlib.h>

#include "drivers/store/store-internal.h"
#include "lib/crashpoint.h"

static const char *crash_op = "store";
static pid_t crash_peer;
static unsigned crash_hits;

void store_crash_setup(const char *op, pid_t also_kill)
{
        crash_op = op ? op : "store";
        crash_peer = also_kill;
        crash_hits = 0;
}

#if BERTH_CRASH_POINTS
void store_crash_point(const char *step)
{
        const char *at = getenv("BERTH_CRASH_AT"), *hash;
        char name[96];
        unsigned long want = 1;
        size_t n;

        if (!at)
                return;
        snprintf(name, sizeof(name), "%s.%s", crash_op, step);
        hash = strchr(at, '#');
        n = hash ? (size_t)(hash - at) : strlen(at);
        if (strlen(name) != n || strncmp(at, name, n) != 0)
                return;
        if (hash) {
                char *end;
                want = strtoul(hash + 1, &end, 10);
                if (*end || want == 0)
                        return;
        }
        if (++crash_hits != want)
                return;
        if (crash_peer > 0)
                (void)kill(crash_peer, SIGKILL);
        crash_point_hit(at); /* logs the line and dies by SIGKILL */
}
#endif
