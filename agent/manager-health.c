/* SPDX-License-Identifier: Apache-2.0 */
/* Health checks (spec.healthCheck). One manager-wide timer ticks every
 * HEALTH_TICK and starts the probes that are due, so nothing here blocks:
 *
 *  - exec: the driver's exec op runs the command inside the workload (all
 *    its namespaces, its cgroup, its security policy); the helper reports
 *    the exit code on a pipe, watched by an io source. 0 = success.
 *  - tcp: a non-blocking connect to 127.0.0.1:PORT inside the workload's
 *    network namespace (the socket is created there through a brief setns
 *    of berthd's one thread, then lives on in that namespace); writable
 *    with SO_ERROR 0 = success.
 *
 * A probe that outlives its timeout is cancelled (SIGKILL / close) and
 * counts as a failure. `retries` consecutive failures turn the workload
 * unhealthy; one success turns it healthy. Until the first verdict the
 * workload is "starting". Probes only run while the workload is running
 * (not paused); every change of status.health is an event. */
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include "agent/manager-harden.h"
#include "lib/log.h"

#define HEALTH_TICK (100 * USEC_PER_MSEC)

typedef struct MHealth {
        usec_t next_due;       /* CLOCK_MONOTONIC */
        usec_t deadline;       /* of the probe in flight; 0 = none */
        int pidfd;             /* exec probe helper */
        int fd;                /* exec: status pipe; tcp: socket */
        sd_event_source *src;
        unsigned failures;
        pid_t run_pid;         /* the run the state belongs to */
} MHealth;

static void probe_cancel(MHealth *h)
{
        h->src = sd_event_source_disable_unref(h->src);
        if (h->pidfd >= 0)
                (void)syscall(SYS_pidfd_send_signal, h->pidfd, SIGKILL, NULL, 0);
        h->pidfd = safe_close(h->pidfd);
        h->fd = safe_close(h->fd);
        h->deadline = 0;
}

void manager_health_free(MWorkload *w)
{
        if (!w->health)
                return;
        probe_cancel(w->health);
        free(w->health);
        w->health = NULL;
}

static void set_health(MWorkload *w, const char *health, const char *why)
{
        if (w->pub.status.health && health && streq(w->pub.status.health, health))
                return;
        w->pub.status.health = health;
        if (health) {
                char msg[160];

                snprintf(msg, sizeof(msg), "%s%s%s", health, why ? ": " : "", strempty(why));
                manager_emit(w->manager, "health-status", wname_of(w), msg);
                wlog_info(wname_of(w), "health: %s", msg);
        }
}

static void probe_done(MWorkload *w, bool ok, const char *why)
{
        MHealth *h = w->health;
        const SpecHealthCheck *hc = &w->spec->health;

        probe_cancel(h);
        h->next_due = now_usec(CLOCK_MONOTONIC) + hc->interval;
        if (ok) {
                h->failures = 0;
                set_health(w, "healthy", NULL);
                return;
        }
        h->failures++;
        wlog_debug(wname_of(w), "health probe failed (%u/%u): %s", h->failures, hc->retries, why);
        if (h->failures >= hc->retries)
                set_health(w, "unhealthy", why);
}

static int on_exec_status(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        MWorkload *w = userdata;
        char why[64];
        int code = -1;
        ssize_t n;

        n = read(fd, &code, sizeof(code));
        if (n < 0 && errno == EAGAIN)
                return 0;
        if (n != (ssize_t)sizeof(code)) {
                probe_done(w, false, "the probe could not run");
                return 0;
        }
        snprintf(why, sizeof(why), "probe exited with %d", code);
        probe_done(w, code == 0, why);
        return 0;
}

static int probe_exec(MWorkload *w, const DriverOps *ops)
{
        MHealth *h = w->health;
        _cleanup_close_ int null_fd = -EBADF;
        BerthError err = {};
        int r;

        if (!ops->exec)
                return -EOPNOTSUPP;
        null_fd = open("/dev/null", O_RDWR | O_CLOEXEC | O_NOCTTY);
        if (null_fd < 0)
                return -errno;
        r = ops->exec(w->driver, wname_of(w), &w->run, w->spec->health.exec, null_fd, null_fd, null_fd, -EBADF,
                      &h->pidfd, &h->fd, &err);
        if (r < 0)
                return r;
        return sd_event_add_io(w->manager->event, &h->src, h->fd, EPOLLIN, on_exec_status, w);
}

static int on_tcp_ready(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        MWorkload *w = userdata;
        int e = 0;
        socklen_t l = sizeof(e);

        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &l) < 0)
                e = errno;
        probe_done(w, e == 0, e ? strerror(e) : NULL);
        return 0;
}

/* A socket in the network namespace of pid. */
static int socket_in_netns(pid_t pid, int *ret)
{
        _cleanup_close_ int self = -EBADF, target = -EBADF;
        char p[64];
        int s, r = 0;

        snprintf(p, sizeof(p), "/proc/%d/ns/net", (int)pid);
        target = open(p, O_RDONLY | O_CLOEXEC);
        if (target < 0)
                return -errno;
        self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
        if (self < 0)
                return -errno;
        if (setns(target, CLONE_NEWNET) < 0)
                return -errno;
        s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (s < 0)
                r = -errno;
        if (setns(self, CLONE_NEWNET) < 0) {
                /* Cannot happen short of a kernel bug; staying in the
                 * workload's namespace would be worse than dying. */
                log_error_errno(errno, "cannot return to berthd's network namespace: %m");
                abort();
        }
        if (r < 0)
                return r;
        *ret = s;
        return 0;
}

static int probe_tcp(MWorkload *w)
{
        MHealth *h = w->health;
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(w->spec->health.tcp_port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        int r;

        r = socket_in_netns(w->run.pid, &h->fd);
        if (r < 0)
                return r;
        if (connect(h->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS)
                return -errno;
        return sd_event_add_io(w->manager->event, &h->src, h->fd, EPOLLOUT, on_tcp_ready, w);
}

static void health_tick_one(MWorkload *w, usec_t now)
{
        const SpecHealthCheck *hc = &w->spec->health;
        MHealth *h = w->health;
        const DriverOps *ops = w->spec->isolation == ISOLATION_VM ? &vm_driver_ops : &container_driver_ops;
        bool live = w->pidfd_source && w->pub.status.state == WORKLOAD_RUNNING && w->run.pid > 0;
        int r;

        if (hc->kind == HEALTH_CHECK_NONE)
                return;
        if (!live) {
                if (h)
                        probe_cancel(h);
                /* Paused keeps its last verdict; anything else has none. */
                if (w->pub.status.state != WORKLOAD_PAUSED) {
                        w->pub.status.health = NULL;
                        if (h)
                                h->run_pid = 0;
                }
                return;
        }
        if (!h) {
                h = w->health = calloc(1, sizeof(MHealth));
                if (!h)
                        return;
                h->pidfd = h->fd = -EBADF;
        }
        if (h->run_pid != w->run.pid) {
                /* A new run: start over. */
                probe_cancel(h);
                h->run_pid = w->run.pid;
                h->failures = 0;
                h->next_due = now + hc->interval;
                w->pub.status.health = "starting";
                return;
        }
        if (h->deadline) {
                if (now >= h->deadline)
                        probe_done(w, false, "probe timed out");
                return;
        }
        if (now < h->next_due)
                return;
        h->deadline = now + hc->timeout;
        r = hc->kind == HEALTH_CHECK_EXEC ? probe_exec(w, ops) : probe_tcp(w);
        if (r < 0) {
                char why[96];

                snprintf(why, sizeof(why), "cannot run the probe: %s", strerror(-r));
                probe_done(w, false, why);
        }
}

static bool any_health_check(const Manager *m)
{
        for (size_t i = 0; i < m->n_workloads; i++)
                if (m->workloads[i]->spec->health.kind != HEALTH_CHECK_NONE)
                        return true;
        return false;
}

/* The tick runs only while some workload has a spec.healthCheck: a node
 * without any does not wake up ten times a second. manager_health_kick()
 * turns it back on when such a workload is added. */
static int on_health_tick(sd_event_source *s, uint64_t usec, void *userdata)
{
        Manager *m = userdata;
        usec_t now = now_usec(CLOCK_MONOTONIC);

        for (size_t i = 0; i < m->n_workloads; i++)
                health_tick_one(m->workloads[i], now);
        if (!any_health_check(m))
                return sd_event_source_set_enabled(s, SD_EVENT_OFF);
        (void)sd_event_source_set_time_relative(s, HEALTH_TICK);
        (void)sd_event_source_set_enabled(s, SD_EVENT_ON);
        return 0;
}

void manager_health_kick(Manager *m)
{
        int on = SD_EVENT_OFF;

        if (!m->health_timer || sd_event_source_get_enabled(m->health_timer, &on) < 0 || on != SD_EVENT_OFF)
                return;
        (void)sd_event_source_set_time_relative(m->health_timer, HEALTH_TICK);
        (void)sd_event_source_set_enabled(m->health_timer, SD_EVENT_ON);
}

int manager_health_start(Manager *m)
{
        int r;

        if (m->health_timer)
                return 0;
        r = sd_event_add_time_relative(m->event, &m->health_timer, CLOCK_MONOTONIC, HEALTH_TICK, 10 * USEC_PER_MSEC,
                                       on_health_tick, m);
        if (r >= 0 && !any_health_check(m))
                r = sd_event_source_set_enabled(m->health_timer, SD_EVENT_OFF);
        return r;
}
