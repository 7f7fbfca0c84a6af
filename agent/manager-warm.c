/* SPDX-License-Identifier: Apache-2.0 */
/* Readying the drivers for the next start off every start's path.
 *
 * A driver's warm() (the container driver: spawn the next pooled berth-shim)
 * costs an exec, about a millisecond of CPU on a small VM. Done as soon as a
 * run is up, it competed with that run's first milliseconds and with its exit
 * handling, and it held up berthd's event loop while posix_spawn waited for
 * the exec: about 0.5 ms of the start-to-exit median of /bin/true on 2
 * vCPUs (tests/bench/bench-start.sh's workload, the two orders in an A/B).
 * So the manager asks for it through one idle-priority timer: right after a
 * run ends (dispatched after the waiters' answers, which are normal-priority
 * event sources) or MANAGER_WARM_DELAY after a run came up, whichever is
 * first. */
#include "agent/manager.h"
#include "lib/log.h"

#define MANAGER_WARM_DELAY (10 * USEC_PER_MSEC)

static int on_warm(sd_event_source *s, uint64_t usec, void *userdata)
{
        Manager *m = userdata;

        if (m->container)
                container_driver_ops.warm(m->container);
        if (m->vm)
                vm_driver_ops.warm(m->vm);
        return 0;
}

/* Arms the warm-up `delay` from now, unless it is already due sooner. */
static void manager_warm_at(Manager *m, usec_t delay)
{
        usec_t when = now_usec(CLOCK_MONOTONIC) + delay, armed;
        int enabled = SD_EVENT_OFF, r;

        if (!m->warm_source) {
                r = sd_event_add_time(m->event, &m->warm_source, CLOCK_MONOTONIC, when, USEC_PER_MSEC, on_warm, m);
                if (r < 0) {
                        log_warning_errno(r, "Cannot schedule the drivers' warm-up: %m");
                        return;
                }
                (void)sd_event_source_set_priority(m->warm_source, SD_EVENT_PRIORITY_IDLE);
                (void)sd_event_source_set_description(m->warm_source, "manager-warm");
                return; /* a new time source starts out enabled, one-shot */
        }
        (void)sd_event_source_get_enabled(m->warm_source, &enabled);
        if (enabled != SD_EVENT_OFF && sd_event_source_get_time(m->warm_source, &armed) >= 0 && armed <= when)
                return;
        (void)sd_event_source_set_time(m->warm_source, when);
        (void)sd_event_source_set_enabled(m->warm_source, SD_EVENT_ONESHOT);
}

void manager_warm_after_start(Manager *m)
{
        manager_warm_at(m, MANAGER_WARM_DELAY);
}

void manager_warm_after_run(Manager *m)
{
        manager_warm_at(m, 0);
}

void manager_warm_free(Manager *m)
{
        m->warm_source = sd_event_source_disable_unref(m->warm_source);
}
