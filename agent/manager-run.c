/* SPDX-License-Identifier: Apache-2.0 */
/* One run of a workload: its start (admission, the driver's start, the start
 * report), its exit (the exit record, the waiters, the restart policy with its
 * backoff) and a stop's grace timer. manager.c holds the records and the
 * verbs that call these; docs/ARCHITECTURE.md "How a request flows". */
#include <signal.h>
#include <sys/epoll.h>

#include "agent/manager.h"
#include "drivers/net/net.h"
#include "lib/crashpoint.h"
#include "lib/log.h"

static int set_text(char **p, const char *v)
{
        char *n = v && *v ? strdup(v) : NULL;

        if (v && *v && !n)
                return -ENOMEM;
        free(*p);
        *p = n;
        return 0;
}

/* status.network.ip: the bridge address, stable from create to remove. */
void workload_net_refresh(MWorkload *w)
{
        uint32_t a;

        w->pub.status.network_ip[0] = 0;
        if (w->manager->net && w->spec && w->spec->network == NETWORK_BRIDGE &&
            net_workload_address(w->manager->net, mworkload_name(w), &a) >= 0)
                net_addr_format(a, w->pub.status.network_ip);
}

static void status_clear_run(WorkloadStatus *s)
{
        s->exit_code = 0;
        s->term_signal = 0;
        s->oom_killed = false;
        s->pid = 0;
        s->finished_at = 0;
        free(s->reason);
        free(s->message);
        s->reason = s->message = NULL;
}

static void workload_forget_run(MWorkload *w)
{
        manager_sched_release(w); /* the run is over: its booking goes back */
        w->pidfd_source = sd_event_source_disable_unref(w->pidfd_source);
        w->report_source = sd_event_source_disable_unref(w->report_source);
        w->kill_timer = sd_event_source_disable_unref(w->kill_timer);
        w->report_fd = safe_close(w->report_fd);
        w->run.shim_pidfd = safe_close(w->run.shim_pidfd);
        w->run = (DriverRun){ .shim_pidfd = -EBADF };
}

void workload_record_exit(MWorkload *w, const DriverExit *ex)
{
        WorkloadStatus *s = &w->pub.status;

        workload_forget_run(w);
        status_clear_run(s);
        s->state = WORKLOAD_EXITED;
        s->exit_code = ex->exit_code;
        s->term_signal = ex->term_signal;
        s->oom_killed = ex->oom_killed;
        s->finished_at = ex->finished_at ?: now_usec(CLOCK_REALTIME);
        (void)set_text(&s->reason, ex->reason[0] ? ex->reason : (ex->exit_code == 0 ? "Completed" : "Error"));
        (void)set_text(&s->message, ex->message);
}

void workload_record_lost(MWorkload *w, const char *message)
{
        WorkloadStatus *s = &w->pub.status;

        workload_forget_run(w);
        status_clear_run(s);
        s->state = WORKLOAD_UNKNOWN;
        (void)set_text(&s->reason, "Lost");
        (void)set_text(&s->message, message);
}

/* Records the run's end and its event in one transaction, fsync'd before the
 * waiters hear of it: the shim skipped the fsync of exit.json if berthd held
 * the run's report pipe (drivers/shim/berth-shim.c), so this commit may be the
 * only durable record of the exit. */
void workload_persist_exit(MWorkload *w)
{
        const WorkloadStatus *s = &w->pub.status;
        char msg[64];

        if (s->term_signal > 0)
                snprintf(msg, sizeof(msg), "exit code %d (SIG%s)", s->exit_code,
                         strempty(sigabbrev_np(s->term_signal)));
        else
                snprintf(msg, sizeof(msg), "exit code %d", s->exit_code);
        manager_persist_emit(w, s->oom_killed ? "oom-killed" : "exited", msg);
}

/* Called once the run ended (exit record, lost or start failure) and persisted. */
static void workload_run_ended(MWorkload *w, usec_t ran_for)
{
        manager_watches_workload_exited(w->manager, w);
        manager_warm_after_run(w->manager);
        if (w->removing)
                manager_remove_schedule(w->manager);
        else
                workload_maybe_restart(w, ran_for);
}

/* r: what read_exit() returned; ex: the exit record it read. */
static void workload_shim_exited(MWorkload *w, int r, const DriverExit *ex)
{
        usec_t started = w->pub.status.started_at;

        if (r >= 0) {
                workload_record_exit(w, ex);
                workload_persist_exit(w);
        } else {
                wlog_warning_errno(mworkload_name(w), r, "the shim exited without an exit record: %m");
                workload_record_lost(w, "the supervisor exited without an exit record");
                manager_persist_emit(w, "lost", "the supervisor exited without an exit record");
        }
        workload_run_ended(w, now_usec(CLOCK_REALTIME) - started);
}

static int on_shim_exit(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        MWorkload *w = userdata;
        DriverExit ex = {};
        int r;

        r = mworkload_ops(w)->read_exit(w->driver, mworkload_name(w), &ex);
        workload_shim_exited(w, r, &ex);
        return 0;
}

/* The report pipe after the start report: the container shim writes a line
 * once exit.json is in place and before it exits, so the exit is recorded
 * while the shim still tears down (its process, the init's mount namespace)
 * rather than after. The line only wakes us: exit.json is the record, and a
 * shim that says nothing (a microVM's, one from before this line existed, a
 * crashed one) is heard through its pidfd as before. */
static int on_shim_report(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        MWorkload *w = userdata;
        DriverExit ex = {};
        char buf[256];
        ssize_t n;
        int r;

        do
                n = read(fd, buf, sizeof(buf));
        while (n < 0 && errno == EINTR);
        if (n < 0 && errno == EAGAIN)
                return 0;
        if (n > 0) {
                r = mworkload_ops(w)->read_exit(w->driver, mworkload_name(w), &ex);
                if (r >= 0) {
                        wlog_debug(mworkload_name(w), "the shim reported the exit before its own");
                        workload_shim_exited(w, r, &ex);
                        return 0;
                }
        }
        /* end-of-file or an error, or a line without an exit record: the pidfd tells */
        if (n <= 0)
                w->report_source = sd_event_source_disable_unref(w->report_source);
        return 0;
}

static int on_shim_gone(sd_event_source *s, void *userdata)
{
        MWorkload *w = userdata;

        w->pidfd_source = sd_event_source_disable_unref(w->pidfd_source);
        return on_shim_exit(NULL, -EBADF, 0, userdata);
}

int workload_watch_run(MWorkload *w)
{
        int r;

        if (w->run.shim_pidfd < 0) {
                /* The run already ended and its shim was reaped before we could
                 * open a pidfd: exit.json holds the result. Process it from
                 * the loop, as if the pidfd had fired. */
                r = sd_event_add_defer(w->manager->event, &w->pidfd_source, on_shim_gone, w);
                if (r < 0)
                        return wlog_error_errno(mworkload_name(w), r, "cannot schedule the exit record: %m");
                return 0;
        }
        r = sd_event_add_io(w->manager->event, &w->pidfd_source, w->run.shim_pidfd, EPOLLIN, on_shim_exit, w);
        if (r < 0)
                return wlog_error_errno(mworkload_name(w), r, "cannot watch the shim pidfd: %m");
        (void)sd_event_source_set_description(w->pidfd_source, "shim-pidfd");
        /* Optional: without it the pidfd alone tells of the exit. Ahead of
         * the pidfd when both are ready: the line is the earlier word. */
        if (w->report_fd >= 0 &&
            sd_event_add_io(w->manager->event, &w->report_source, w->report_fd, EPOLLIN, on_shim_report, w) >= 0) {
                (void)sd_event_source_set_description(w->report_source, "shim-report");
                (void)sd_event_source_set_priority(w->report_source, SD_EVENT_PRIORITY_NORMAL - 1);
        }
        return 0;
}

static int on_kill_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        MWorkload *w = userdata;
        int r;

        w->kill_timer = sd_event_source_disable_unref(w->kill_timer);
        if (!w->pidfd_source)
                return 0;
        wlog_notice(mworkload_name(w), "stop grace period over, sending SIGKILL");
        r = mworkload_ops(w)->kill(w->driver, mworkload_name(w), &w->run, SIGKILL);
        if (r < 0 && r != -ESRCH)
                wlog_error_errno(mworkload_name(w), r, "SIGKILL failed: %m");
        manager_emit(w->manager, "killed", mworkload_name(w), "SIGKILL");
        return 0;
}

/* SIGTERM now, SIGKILL after timeout. The workload must be running. */
int workload_terminate(MWorkload *w, usec_t timeout)
{
        const DriverOps *ops = mworkload_ops(w);
        usec_t deadline = now_usec(CLOCK_MONOTONIC) + timeout;
        int r;

        if (timeout == 0)
                return on_kill_timer(NULL, 0, w);
        r = ops->kill(w->driver, mworkload_name(w), &w->run, SIGTERM);
        if (r < 0 && r != -ESRCH)
                return wlog_error_errno(mworkload_name(w), r, "SIGTERM failed: %m");
        if (w->kill_timer) {
                uint64_t cur = 0;
                (void)sd_event_source_get_time(w->kill_timer, &cur);
                if (cur <= deadline)
                        return 0;
                w->kill_timer = sd_event_source_disable_unref(w->kill_timer);
        }
        r = sd_event_add_time(w->manager->event, &w->kill_timer, CLOCK_MONOTONIC, deadline, 0, on_kill_timer, w);
        if (r < 0)
                return wlog_error_errno(mworkload_name(w), r, "cannot arm the stop timer: %m");
        return 0;
}

static void workload_start_failed(MWorkload *w, const BerthError *err)
{
        const DriverOps *ops = mworkload_ops(w);
        DriverExit ex = {};
        char buf[1100];

        /* Prefer what the shim recorded (e.g. 127 for a missing command). */
        if (ops->read_exit(w->driver, mworkload_name(w), &ex) < 0) {
                ex = (DriverExit){ .exit_code = 127, .finished_at = now_usec(CLOCK_REALTIME) };
                snprintf(ex.reason, sizeof(ex.reason), "StartFailed");
                snprintf(ex.message, sizeof(ex.message), "%s", berth_error_format(err, buf, sizeof(buf)));
        }
        workload_record_exit(w, &ex);
        manager_persist(w);
        manager_emit(w->manager, "start-failed", mworkload_name(w), w->pub.status.message);
        workload_run_ended(w, 0);
}

static int on_notify(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        MWorkload *w = userdata;
        const DriverOps *ops = mworkload_ops(w);
        WorkloadStatus *st = &w->pub.status;
        DriverRun run = { .shim_pidfd = -EBADF };
        BerthError err = {};
        int r;

        w->notify_source = sd_event_source_disable_unref(w->notify_source);
        r = ops->start_finish(w->driver, w->spec, w->notify_fd, &run, &err);
        if (r >= 0) { /* kept: the shim sees that berthd will make its exit durable */
                safe_close(w->report_fd);
                w->report_fd = TAKE_FD(w->notify_fd);
        }
        w->notify_fd = safe_close(w->notify_fd);
        if (r < 0) {
                if (!err.error)
                        berth_error_set(&err, r, "", "start failed: %s", strerror(-r));
                workload_start_failed(w, &err);
                return 0;
        }

        w->run = run;
        status_clear_run(st);
        st->state = WORKLOAD_RUNNING;
        st->pid = run.pid;
        st->vm_accelerator = run.vm_accelerator;
        st->vm_backend = run.vm_backend;
        st->started_at = run.started_at ?: now_usec(CLOCK_REALTIME);
        manager_persist_emit_lazy(w, "started", NULL); /* manager-sync.c */
        CRASH_POINT("start.after-running");
        manager_sched_running(w);
        manager_warm_after_start(w->manager);
        if (workload_watch_run(w) < 0)
                return 0;

        if (w->removing) {
                (void)ops->kill(w->driver, mworkload_name(w), &w->run, SIGKILL);
                manager_emit(w->manager, "killed", mworkload_name(w), "SIGKILL");
        } else if (w->stop_pending) {
                w->stop_pending = false;
                (void)workload_terminate(w, w->stop_timeout);
        }
        return 0;
}

int workload_start_run(MWorkload *w, int *ret_gate, BerthError *err)
{
        const DriverOps *ops = mworkload_ops(w);
        WorkloadStatus *st = &w->pub.status;
        _cleanup_close_ int fd = -EBADF;
        BerthError lerr = {};
        int r;

        if (ret_gate)
                *ret_gate = -EBADF;
        if (!err)
                err = &lerr;
        /* Admission (manager-sched.c): nothing changes when it is refused. */
        r = manager_sched_admit(w, err);
        if (r < 0)
                return r;
        /* A previous run leaves state.json/exit.json behind; the log stays. */
        if (st->started_at != 0 || st->state == WORKLOAD_EXITED || st->state == WORKLOAD_UNKNOWN) {
                r = ops->reset(w->driver, mworkload_name(w));
                if (r < 0)
                        wlog_warning_errno(mworkload_name(w), r, "resetting the previous run failed: %m");
        }
        w->stop_pending = false;
        status_clear_run(st);
        st->vm_accelerator = st->vm_backend = NULL; /* the new run's, once it runs */
        st->state = WORKLOAD_CREATED;
        manager_persist(w);
        CRASH_POINT("start.before-spawn");

        /* Right after create the cgroup, address and files are fresh: only
         * later starts prepare again (a restart, a start after stop). */
        r = w->prepared ? 0 : ops->prepare(w->driver, w->spec, err);
        w->prepared = false;
        if (r >= 0) {
                workload_net_refresh(w);
                r = ops->start(w->driver, w->spec, &fd, ret_gate, err);
        }
        CRASH_POINT("start.after-spawn");
        if (r < 0) {
                if (!err->error)
                        berth_error_set(err, r, "", "start failed: %s", strerror(-r));
                wlog_error_errno(mworkload_name(w), r, "start failed: %s", err->message);
                workload_start_failed(w, err);
                return 0;
        }
        r = sd_event_add_io(w->manager->event, &w->notify_source, fd, EPOLLIN | EPOLLHUP, on_notify, w);
        if (r < 0) {
                /* The shim runs but we cannot hear from it: treat the run as lost. */
                wlog_error_errno(mworkload_name(w), r, "cannot watch the start report: %m");
                workload_record_lost(w, "cannot watch the start report");
                manager_persist(w);
                manager_emit(w->manager, "lost", mworkload_name(w), "cannot watch the start report");
                return 0;
        }
        (void)sd_event_source_set_description(w->notify_source, "shim-notify");
        w->notify_fd = TAKE_FD(fd);
        return 0;
}

static int on_restart_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        MWorkload *w = userdata;

        w->restart_timer = sd_event_source_disable_unref(w->restart_timer);
        if (!w->desired_running || w->removing || manager_workload_is_active(w))
                return 0;
        w->pub.status.restart_count++;
        (void)workload_start_run(w, NULL, NULL);
        return 0;
}

void workload_maybe_restart(MWorkload *w, usec_t ran_for)
{
        const Config *c = w->manager->config;
        const WorkloadStatus *s = &w->pub.status;
        bool failed = s->state != WORKLOAD_EXITED || s->exit_code != 0;
        usec_t delay;
        char msg[64];
        int r;

        if (!w->desired_running)
                return;
        if (w->spec->restart_policy == RESTART_NEVER || (w->spec->restart_policy == RESTART_ON_FAILURE && !failed))
                return;
        /* A run that lasted longer than the longest backoff resets the backoff. */
        if (ran_for >= c->backoff_max)
                w->backoff_step = 0;
        delay = c->backoff_initial;
        for (unsigned i = 0; i < w->backoff_step && delay < c->backoff_max; i++)
                delay *= 2;
        if (delay > c->backoff_max)
                delay = c->backoff_max;
        if (w->backoff_step < 64)
                w->backoff_step++;

        w->restart_timer = sd_event_source_disable_unref(w->restart_timer);
        r = sd_event_add_time_relative(w->manager->event, &w->restart_timer, CLOCK_MONOTONIC, delay, 0,
                                       on_restart_timer, w);
        if (r < 0) {
                wlog_error_errno(mworkload_name(w), r, "cannot arm the restart timer: %m");
                return;
        }
        snprintf(msg, sizeof(msg), "in %.3gs", (double)delay / USEC_PER_SEC);
        manager_emit(w->manager, "restarting", mworkload_name(w), msg);
}
