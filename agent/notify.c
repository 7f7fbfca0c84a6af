/* SPDX-License-Identifier: Apache-2.0 */
/* See notify.h. Every message goes through sd_notify(), which reads
 * NOTIFY_SOCKET itself; the tests point it at a datagram socket of their own. */
#include <sys/socket.h>
#include <systemd/sd-daemon.h>

#include "agent/manager.h"
#include "agent/notify.h"
#include "lib/log.h"

#define NOTIFY_STATUS_INTERVAL (5 * USEC_PER_SEC)

struct Notify {
        sd_event *event;
        Manager *manager;
        sd_event_source *timer;
        usec_t interval;
        bool watchdog;
        bool ready;
        size_t last_count;
        size_t last_running;
};

static void count_workloads(const Manager *m, size_t *ret_total, size_t *ret_running)
{
        size_t running = 0;

        for (size_t i = 0; m && i < m->n_workloads; i++)
                if (manager_workload_is_active(m->workloads[i]))
                        running++;
        *ret_total = m ? m->n_workloads : 0;
        *ret_running = running;
}

static void notify_status(Notify *n, bool force)
{
        size_t total, running;

        count_workloads(n->manager, &total, &running);
        if (!force && total == n->last_count && running == n->last_running)
                return;
        n->last_count = total;
        n->last_running = running;
        (void)sd_notifyf(false, "STATUS=%zu workload(s), %zu running", total, running);
}

/* Runs from the event loop: if the loop is stuck, the pings stop and the
 * service manager restarts berthd (Restart=on-failure, WatchdogSec=). */
static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        Notify *n = userdata;

        if (n->watchdog)
                (void)sd_notify(false, "WATCHDOG=1");
        if (n->ready)
                notify_status(n, false);
        (void)sd_event_source_set_time(s, usec + n->interval);
        (void)sd_event_source_set_enabled(s, SD_EVENT_ON);
        return 0;
}

int notify_new(sd_event *event, Notify **ret)
{
        _cleanup_free_ Notify *n = NULL;
        uint64_t wd = 0;
        int r;

        n = calloc(1, sizeof(*n));
        if (!n)
                return -ENOMEM;
        n->interval = NOTIFY_STATUS_INTERVAL;
        r = sd_watchdog_enabled(false, &wd);
        if (r < 0)
                log_warning_errno(r, "ignoring the watchdog settings: %m");
        else if (r > 0 && wd > 0) {
                n->watchdog = true;
                if ((usec_t)wd / 2 < n->interval)
                        n->interval = (usec_t)wd / 2;
                if (n->interval < 1000)
                        n->interval = 1000;
                log_info("watchdog enabled: pinging every %.3gs", (double)n->interval / USEC_PER_SEC);
        }
        if (!getenv("NOTIFY_SOCKET") && !n->watchdog) {
                /* No service manager listens: no timer at all. */
                *ret = TAKE_PTR(n);
                return 0;
        }
        r = sd_event_add_time_relative(event, &n->timer, CLOCK_MONOTONIC, n->interval, 0, on_timer, n);
        if (r < 0)
                return log_error_errno(r, "cannot arm the watchdog timer: %m");
        (void)sd_event_source_set_description(n->timer, "notify-watchdog");
        (void)sd_event_source_set_enabled(n->timer, SD_EVENT_ON); /* periodic, not oneshot */
        n->event = sd_event_ref(event);
        *ret = TAKE_PTR(n);
        return 0;
}

Notify *notify_free(Notify *n)
{
        if (!n)
                return NULL;
        sd_event_source_disable_unref(n->timer);
        sd_event_unref(n->event);
        free(n);
        return NULL;
}

void notify_set_manager(Notify *n, Manager *m)
{
        n->manager = m;
}

void notify_ready(Notify *n)
{
        size_t total, running;

        n->ready = true;
        count_workloads(n->manager, &total, &running);
        n->last_count = total;
        n->last_running = running;
        (void)sd_notifyf(false, "READY=1\nSTATUS=%zu workload(s), %zu running", total, running);
}

void notify_reloading(Notify *n)
{
        n->ready = false;
        (void)sd_notifyf(false, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading the configuration",
                         (unsigned long long)now_usec(CLOCK_MONOTONIC));
}

void notify_stopping(Notify *n)
{
        n->ready = false;
        (void)sd_notify(false, "STOPPING=1\nSTATUS=stopping (workloads keep running)");
}

int notify_listen_fd(void)
{
        int n, fd = SD_LISTEN_FDS_START, r;

        n = sd_listen_fds(true);
        if (n < 0)
                return log_error_errno(n, "socket activation: bad LISTEN_FDS: %m");
        if (n == 0)
                return -EBADF;
        if (n != 1)
                return log_error_errno(-EINVAL, "socket activation: expected 1 socket, got %d", n);
        r = sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0);
        if (r < 0)
                return log_error_errno(r, "socket activation: fd %d: %m", fd);
        if (r == 0)
                return log_error_errno(-EINVAL, "socket activation: fd %d is not a listening unix stream socket",
                                       fd);
        log_info("socket activation: serving the API on the socket passed in as fd %d", fd);
        return fd;
}
