/* SPDX-License-Identifier: Apache-2.0 */
/* Records that acknowledge nothing, committed without their own fsync.
 *
 * Every commit of berthd's state is fsync'd before anyone hears of it
 * (agent/state.h). One record is heard of by no one when it is made: the
 * run's "running" state and its "started" event, written when the shim
 * reports the exec. The create or start before it was already durable, and
 * after a power loss the run is gone whether or not "running" was recorded
 * (recovery finds no shim either way). That commit cost every run a second
 * fsync, which held the event loop (every other request and exit waited
 * behind it), and a run that exits while it is under way waits for two
 * device flushes in a row before its waiters are answered.
 *
 * So it is committed lazily (state_begin_lazy()): written to the WAL, not
 * synced. The next fsync'd commit (the exit, a stop, any API write) makes it
 * durable with its own, or else this timer does, MANAGER_SYNC_DELAY later.
 * Until then nothing is dispatched to watchers (manager-api.c): an events
 * stream never shows an event that a power loss could take back. */
#include "agent/manager.h"
#include "lib/log.h"

/* The group-commit window: a short run's exit, or a stop, within it shares
 * its fsync; past it, "started" reaches event streams this much later. */
#define MANAGER_SYNC_DELAY (5 * USEC_PER_MSEC)

static int on_sync(sd_event_source *s, uint64_t usec, void *userdata)
{
        Manager *m = userdata;

        manager_sync(m);
        return 0;
}

void manager_sync(Manager *m)
{
        int r;

        if (m->sync_source)
                (void)sd_event_source_set_enabled(m->sync_source, SD_EVENT_OFF);
        r = state_sync(m->state);
        if (r < 0)
                log_error_errno(r, "cannot make the state durable (fsync of the write-ahead log): %m");
        manager_dispatch_schedule(m);
}

void manager_sync_arm(Manager *m)
{
        usec_t when = now_usec(CLOCK_MONOTONIC) + MANAGER_SYNC_DELAY;
        int enabled = SD_EVENT_OFF, r;

        if (!m->sync_source) {
                r = sd_event_add_time(m->event, &m->sync_source, CLOCK_MONOTONIC, when, USEC_PER_MSEC, on_sync, m);
                if (r < 0) {
                        log_warning_errno(r, "cannot schedule the state's sync: %m");
                        manager_sync(m);
                        return;
                }
                (void)sd_event_source_set_description(m->sync_source, "manager-sync");
                return; /* a new time source starts out enabled, one-shot */
        }
        (void)sd_event_source_get_enabled(m->sync_source, &enabled);
        if (enabled != SD_EVENT_OFF)
                return; /* the first lazy commit's deadline holds */
        (void)sd_event_source_set_time(m->sync_source, when);
        (void)sd_event_source_set_enabled(m->sync_source, SD_EVENT_ONESHOT);
}

void manager_sync_free(Manager *m)
{
        int r;

        m->sync_source = sd_event_source_disable_unref(m->sync_source);
        r = m->state ? state_sync(m->state) : 0;
        if (r < 0)
                log_error_errno(r, "cannot make the state durable (fsync of the write-ahead log): %m");
}
