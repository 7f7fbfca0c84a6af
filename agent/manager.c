/* SPDX-License-Identifier: Apache-2.0 */
/* The manager's core: workload records, their lifecycle and the driver
 * events (start report, shim exit, stop grace timer, restart backoff).
 * The API entry points are in manager-api.c, node and metrics in
 * manager-node.c. */
#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/stat.h>

#include "agent/manager.h"
#include "agent/manager-harden.h"
#include "agent/recover.h"
#include "drivers/net/net.h"
#include "lib/crashpoint.h"
#include "lib/log.h"

static int workload_start_run(MWorkload *w, BerthError *err);
static void workload_maybe_restart(MWorkload *w, usec_t ran_for);
static void manager_remove_schedule(Manager *m);

static const DriverOps *driver_ops_of(const MWorkload *w)
{
        return w->spec && w->spec->isolation == ISOLATION_VM ? &vm_driver_ops : &container_driver_ops;
}

static int compare_name(const void *a, const void *b)
{
        const MWorkload *const *x = a, *const *y = b;
        return strcmp((*x)->spec->name, (*y)->spec->name);
}

MWorkload *manager_find(Manager *m, const char *name)
{
        size_t lo = 0, hi = m->n_workloads;

        if (!name)
                return NULL;
        while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                int c = strcmp(name, m->workloads[mid]->spec->name);
                if (c == 0)
                        return m->workloads[mid];
                if (c < 0)
                        hi = mid;
                else
                        lo = mid + 1;
        }
        return NULL;
}

static int manager_add(Manager *m, MWorkload *w)
{
        MWorkload **n = realloc(m->workloads, (m->n_workloads + 1) * sizeof(*n));

        if (!n)
                return -ENOMEM;
        m->workloads = n;
        m->workloads[m->n_workloads++] = w;
        qsort(m->workloads, m->n_workloads, sizeof(*m->workloads), compare_name);
        if (w->spec->health.kind != HEALTH_CHECK_NONE)
                manager_health_kick(m);
        return 0;
}

static void manager_drop(Manager *m, MWorkload *w)
{
        for (size_t i = 0; i < m->n_workloads; i++)
                if (m->workloads[i] == w) {
                        memmove(m->workloads + i, m->workloads + i + 1,
                                (m->n_workloads - i - 1) * sizeof(*m->workloads));
                        m->n_workloads--;
                        return;
                }
}

static MWorkload *mworkload_new(Manager *m)
{
        MWorkload *w = calloc(1, sizeof(*w));

        if (!w)
                return NULL;
        w->manager = m;
        w->notify_fd = -EBADF;
        w->report_fd = -EBADF;
        w->run.shim_pidfd = -EBADF;
        return w;
}

static void workload_detach(MWorkload *w)
{
        w->notify_source = sd_event_source_disable_unref(w->notify_source);
        w->pidfd_source = sd_event_source_disable_unref(w->pidfd_source);
        w->kill_timer = sd_event_source_disable_unref(w->kill_timer);
        w->restart_timer = sd_event_source_disable_unref(w->restart_timer);
        w->notify_fd = safe_close(w->notify_fd);
        w->report_fd = safe_close(w->report_fd);
        w->run.shim_pidfd = safe_close(w->run.shim_pidfd);
}

static MWorkload *mworkload_free(MWorkload *w)
{
        if (!w)
                return NULL;
        workload_detach(w);
        while (w->remove_requests) {
                RemoveRequest *r = w->remove_requests;
                w->remove_requests = r->next;
                free(r->caller);
                free(r);
        }
        manager_health_free(w);
        spec_free(w->spec);
        free(w->spec_json);
        workload_status_done(&w->pub.status);
        free(w);
        return NULL;
}

bool manager_workload_is_active(const MWorkload *w)
{
        return w->notify_fd >= 0 || w->pidfd_source;
}

bool manager_workload_is_created(const MWorkload *w)
{
        return w->pub.status.state == WORKLOAD_CREATED && !w->desired_running && !w->removing &&
               !manager_workload_is_active(w);
}

static const char *wname(const MWorkload *w)
{
        return w->spec->name;
}

static int set_text(char **p, const char *v)
{
        char *n = v && *v ? strdup(v) : NULL;

        if (v && *v && !n)
                return -ENOMEM;
        free(*p);
        *p = n;
        return 0;
}

int manager_persist(MWorkload *w)
{
        StateWorkload sw = {
                .name = w->spec->name,
                .spec_json = w->spec_json,
                .desired_running = w->desired_running,
                .status = w->pub.status,
                .shim_pid = w->run.shim_pid,
                .shim_start_time = w->run.shim_start_time,
                .pid_start_time = w->run.pid_start_time,
        };
        int r;

        /* A removal in progress is durable: a restart finishes it (docs/OPERATIONS.md). */
        if (w->removing)
                sw.status.reason = (char *)MANAGER_REASON_REMOVING;
        r = state_workload_update(w->manager->state, &sw);

        if (r < 0)
                wlog_error_errno(wname(w), r, "cannot persist the workload state: %m");
        return r;
}

int manager_persist_emit(MWorkload *w, const char *type, const char *message)
{
        Manager *m = w->manager;
        int r;

        r = state_begin(m->state);
        if (r < 0)
                return log_error_errno(r, "cannot begin a state transaction: %m");
        r = manager_persist(w);
        if (r >= 0)
                r = manager_emit(m, type, wname(w), message);
        if (r >= 0)
                r = state_commit(m->state);
        if (r < 0)
                state_rollback(m->state);
        return r;
}

int manager_emit(Manager *m, const char *type, const char *workload, const char *message)
{
        uint64_t id;
        int r;

        r = state_event_append_caller(m->state, now_usec(CLOCK_REALTIME), type, workload, message, m->caller, &id);
        if (r < 0)
                return log_error_errno(r, "cannot record event %s: %m", type);
        wlog_event(workload, type, "event %s%s%s%s%s", type, message ? ": " : "", strempty(message),
                   m->caller ? " by " : "", strempty(m->caller));
        for (ApiWatch *x = m->watches; x; x = x->next)
                if (x->is_events && !x->finished && !x->cancelled)
                        x->pending = true;
        manager_dispatch_schedule(m);
        return 0;
}

/* status.network.ip: the bridge address, stable from create to remove. */
static void workload_net_refresh(MWorkload *w)
{
        uint32_t a;

        w->pub.status.network_ip[0] = 0;
        if (w->manager->net && w->spec && w->spec->network == NETWORK_BRIDGE &&
            net_workload_address(w->manager->net, wname(w), &a) >= 0)
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
        w->kill_timer = sd_event_source_disable_unref(w->kill_timer);
        w->report_fd = safe_close(w->report_fd);
        w->run.shim_pidfd = safe_close(w->run.shim_pidfd);
        w->run = (DriverRun){ .shim_pidfd = -EBADF };
}

static void workload_record_exit(MWorkload *w, const DriverExit *ex)
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

static void workload_record_lost(MWorkload *w, const char *message)
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
static void workload_persist_exit(MWorkload *w)
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

static int on_shim_exit(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        MWorkload *w = userdata;
        const DriverOps *ops = driver_ops_of(w);
        usec_t started = w->pub.status.started_at;
        DriverExit ex = {};
        int r;

        r = ops->read_exit(w->driver, wname(w), &ex);
        if (r >= 0) {
                workload_record_exit(w, &ex);
                workload_persist_exit(w);
        } else {
                wlog_warning_errno(wname(w), r, "the shim exited without an exit record: %m");
                workload_record_lost(w, "the supervisor exited without an exit record");
                manager_persist_emit(w, "lost", "the supervisor exited without an exit record");
        }
        workload_run_ended(w, now_usec(CLOCK_REALTIME) - started);
        return 0;
}

static int on_shim_gone(sd_event_source *s, void *userdata)
{
        MWorkload *w = userdata;

        w->pidfd_source = sd_event_source_disable_unref(w->pidfd_source);
        return on_shim_exit(NULL, -EBADF, 0, userdata);
}

static int workload_watch_run(MWorkload *w)
{
        int r;

        if (w->run.shim_pidfd < 0) {
                /* The run already ended and its shim was reaped before we could
                 * open a pidfd: exit.json holds the result. Process it from
                 * the loop, as if the pidfd had fired. */
                r = sd_event_add_defer(w->manager->event, &w->pidfd_source, on_shim_gone, w);
                if (r < 0)
                        return wlog_error_errno(wname(w), r, "cannot schedule the exit record: %m");
                return 0;
        }
        r = sd_event_add_io(w->manager->event, &w->pidfd_source, w->run.shim_pidfd, EPOLLIN, on_shim_exit, w);
        if (r < 0)
                return wlog_error_errno(wname(w), r, "cannot watch the shim pidfd: %m");
        (void)sd_event_source_set_description(w->pidfd_source, "shim-pidfd");
        return 0;
}

static int on_kill_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        MWorkload *w = userdata;
        int r;

        w->kill_timer = sd_event_source_disable_unref(w->kill_timer);
        if (!w->pidfd_source)
                return 0;
        wlog_notice(wname(w), "stop grace period over, sending SIGKILL");
        r = driver_ops_of(w)->kill(w->driver, wname(w), &w->run, SIGKILL);
        if (r < 0 && r != -ESRCH)
                wlog_error_errno(wname(w), r, "SIGKILL failed: %m");
        manager_emit(w->manager, "killed", wname(w), "SIGKILL");
        return 0;
}

/* SIGTERM now, SIGKILL after timeout. The workload must be running. */
static int workload_terminate(MWorkload *w, usec_t timeout)
{
        const DriverOps *ops = driver_ops_of(w);
        usec_t deadline = now_usec(CLOCK_MONOTONIC) + timeout;
        int r;

        if (timeout == 0)
                return on_kill_timer(NULL, 0, w);
        r = ops->kill(w->driver, wname(w), &w->run, SIGTERM);
        if (r < 0 && r != -ESRCH)
                return wlog_error_errno(wname(w), r, "SIGTERM failed: %m");
        if (w->kill_timer) {
                uint64_t cur = 0;
                (void)sd_event_source_get_time(w->kill_timer, &cur);
                if (cur <= deadline)
                        return 0;
                w->kill_timer = sd_event_source_disable_unref(w->kill_timer);
        }
        r = sd_event_add_time(w->manager->event, &w->kill_timer, CLOCK_MONOTONIC, deadline, 0, on_kill_timer, w);
        if (r < 0)
                return wlog_error_errno(wname(w), r, "cannot arm the stop timer: %m");
        return 0;
}

static void workload_start_failed(MWorkload *w, const BerthError *err)
{
        const DriverOps *ops = driver_ops_of(w);
        DriverExit ex = {};
        char buf[1100];

        /* Prefer what the shim recorded (e.g. 127 for a missing command). */
        if (ops->read_exit(w->driver, wname(w), &ex) < 0) {
                ex = (DriverExit){ .exit_code = 127, .finished_at = now_usec(CLOCK_REALTIME) };
                snprintf(ex.reason, sizeof(ex.reason), "StartFailed");
                snprintf(ex.message, sizeof(ex.message), "%s", berth_error_format(err, buf, sizeof(buf)));
        }
        workload_record_exit(w, &ex);
        manager_persist(w);
        manager_emit(w->manager, "start-failed", wname(w), w->pub.status.message);
        workload_run_ended(w, 0);
}

static int on_notify(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        MWorkload *w = userdata;
        const DriverOps *ops = driver_ops_of(w);
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
        manager_persist_emit(w, "started", NULL);
        CRASH_POINT("start.after-running");
        manager_sched_running(w);
        manager_warm_after_start(w->manager);
        if (workload_watch_run(w) < 0)
                return 0;

        if (w->removing) {
                (void)ops->kill(w->driver, wname(w), &w->run, SIGKILL);
                manager_emit(w->manager, "killed", wname(w), "SIGKILL");
        } else if (w->stop_pending) {
                w->stop_pending = false;
                (void)workload_terminate(w, w->stop_timeout);
        }
        return 0;
}

static int workload_start_run(MWorkload *w, BerthError *err)
{
        const DriverOps *ops = driver_ops_of(w);
        WorkloadStatus *st = &w->pub.status;
        _cleanup_close_ int fd = -EBADF;
        BerthError lerr = {};
        int r;

        if (!err)
                err = &lerr;
        /* Admission (manager-sched.c): nothing changes when it is refused. */
        r = manager_sched_admit(w, err);
        if (r < 0)
                return r;
        /* A previous run leaves state.json/exit.json behind; the log stays. */
        if (st->started_at != 0 || st->state == WORKLOAD_EXITED || st->state == WORKLOAD_UNKNOWN) {
                r = ops->reset(w->driver, wname(w));
                if (r < 0)
                        wlog_warning_errno(wname(w), r, "resetting the previous run failed: %m");
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
                r = ops->start(w->driver, w->spec, &fd, err);
        }
        CRASH_POINT("start.after-spawn");
        if (r < 0) {
                if (!err->error)
                        berth_error_set(err, r, "", "start failed: %s", strerror(-r));
                wlog_error_errno(wname(w), r, "start failed: %s", err->message);
                workload_start_failed(w, err);
                return 0;
        }
        r = sd_event_add_io(w->manager->event, &w->notify_source, fd, EPOLLIN | EPOLLHUP, on_notify, w);
        if (r < 0) {
                /* The shim runs but we cannot hear from it: treat the run as lost. */
                wlog_error_errno(wname(w), r, "cannot watch the start report: %m");
                workload_record_lost(w, "cannot watch the start report");
                manager_persist(w);
                manager_emit(w->manager, "lost", wname(w), "cannot watch the start report");
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
        (void)workload_start_run(w, NULL);
        return 0;
}

static void workload_maybe_restart(MWorkload *w, usec_t ran_for)
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
                wlog_error_errno(wname(w), r, "cannot arm the restart timer: %m");
                return;
        }
        snprintf(msg, sizeof(msg), "in %.3gs", (double)delay / USEC_PER_SEC);
        manager_emit(w->manager, "restarting", wname(w), msg);
}

/* ENOSPC/EDQUOT: say plainly that berth's disk is full (docs/OPERATIONS.md). */
static void manager_error_disk_full(BerthError *err, int r)
{
        char m[sizeof(err->message)];

        if (!err || (r != -ENOSPC && r != -EDQUOT))
                return;
        snprintf(m, sizeof(m), "%s", err->message);
        berth_error_set(err, r, err->field, "the disk is full (%s)", m);
}

int manager_workload_create(Manager *m, Spec *spec, MWorkload **ret, BerthError *err)
{
        return manager_workload_create2(m, spec, true, ret, err);
}

int manager_workload_create2(Manager *m, Spec *spec, bool start, MWorkload **ret, BerthError *err)
{
        const DriverOps *ops = spec->isolation == ISOLATION_VM ? &vm_driver_ops : &container_driver_ops;
        Driver *drv = spec->isolation == ISOLATION_VM ? m->vm : m->container;
        _cleanup_free_ char *json = NULL;
        MWorkload *w;
        struct stat st;
        json_t *doc;
        int r;

        if (manager_find(m, spec->name))
                return berth_error_set(err, -EEXIST, "metadata.name", "workload \"%s\" already exists",
                                       spec->name);
        if (!drv)
                return berth_error_set(err, -EOPNOTSUPP, "spec.isolation", "the vm driver could not be set up on this host");
        r = manager_sched_check(m, spec, err); /* refused before anything is recorded */
        if (r < 0)
                return r;
        if (spec->network_default) {
                /* Bridge when the daemon has a bridge; the stored spec names the mode. */
                spec->network = m->net ? NETWORK_BRIDGE : NETWORK_NONE; /* containers and VMs alike */
                spec->network_default = false;
        }
        if (spec->image) {
                /* image defaults and an overlay snapshot as the rootfs (manager-images.c) */
                r = manager_image_workload_prepare(m, spec, err);
                if (r < 0)
                        return r;
        }
        if (stat(spec->rootfs, &st) < 0)
                return berth_error_set(err, -EINVAL, "spec.rootfs", "\"%s\": %s", spec->rootfs, strerror(errno));
        if (!S_ISDIR(st.st_mode))
                return berth_error_set(err, -EINVAL, "spec.rootfs", "\"%s\" is not a directory", spec->rootfs);

        doc = spec_to_json(spec);
        if (!doc)
                return berth_error_set(err, -ENOMEM, "", "out of memory");
        json = json_dumps(doc, JSON_COMPACT);
        json_decref(doc);
        if (!json)
                return berth_error_set(err, -ENOMEM, "", "out of memory");

        r = ops->prepare(drv, spec, err);
        if (r < 0) {
                /* Nothing half-made stays: no record exists, so the name's
                 * directory, cgroup and address are this attempt's own. */
                (void)ops->remove(drv, spec->name);
                if (spec->image)
                        manager_image_workload_release(m, spec->name);
                if (err && !err->error)
                        berth_error_set(err, r, "", "preparing the workload failed: %s", strerror(-r));
                manager_error_disk_full(err, r);
                return wlog_error_errno(spec->name, r, "prepare failed: %m");
        }
        CRASH_POINT("create.after-prepare");

        w = mworkload_new(m);
        if (!w)
                return berth_error_set(err, -ENOMEM, "", "out of memory");
        w->spec = spec;
        w->spec_json = TAKE_PTR(json);
        w->pub.spec = spec;
        w->driver = drv;
        w->desired_running = start;
        w->prepared = true;
        w->pub.status.state = WORKLOAD_CREATED;
        w->pub.status.created_at = now_usec(CLOCK_REALTIME);
        workload_net_refresh(w);
        if (!start) {
                /* Create-only: booked now, like a pod that is scheduled but
                 * not started; the booking is held until the run that start
                 * makes ends, or until removal (docs/SCHEDULER.md). */
                r = manager_sched_admit(w, err);
                if (r < 0) {
                        (void)ops->remove(drv, spec->name);
                        if (spec->image)
                                manager_image_workload_release(m, spec->name);
                        w->spec = NULL; /* the caller keeps the spec on failure */
                        mworkload_free(w);
                        return r;
                }
        }

        /* The record and its "created" event are durable before anything runs
         * (and, create-only, before the answer). desired_state "stopped" with
         * state "created" is a workload created without a start: a restart
         * keeps it created; "running" is a start to carry out. */
        StateWorkload sw = {
                .name = spec->name,
                .spec_json = w->spec_json,
                .desired_running = start,
                .status = w->pub.status,
        };
        r = state_begin(m->state);
        if (r >= 0)
                r = state_workload_insert(m->state, &sw);
        if (r >= 0)
                r = manager_emit(m, "created", spec->name, NULL);
        if (r >= 0)
                r = state_commit(m->state);
        CRASH_POINT("create.after-insert");
        if (r >= 0)
                r = manager_add(m, w);
        if (r < 0) {
                state_rollback(m->state);
                manager_sched_release(w); /* create-only: the booking goes back */
                (void)ops->remove(drv, spec->name);
                if (spec->image)
                        manager_image_workload_release(m, spec->name);
                w->spec = NULL; /* the caller keeps the spec on failure */
                mworkload_free(w);
                wlog_error_errno(spec->name, r, "cannot record the workload: %m");
                berth_error_set(err, r == -EEXIST ? -EEXIST : r, "", "cannot record the workload: %s",
                                strerror(-r));
                manager_error_disk_full(err, r);
                return r == -EEXIST ? -EEXIST : r;
        }

        if (start)
                (void)workload_start_run(w, NULL);
        else
                wlog_info(spec->name, "created, not started");
        *ret = w;
        return 0;
}

int manager_workload_start(MWorkload *w, BerthError *err)
{
        if (w->removing)
                return berth_error_set(err, -EBUSY, "", "workload \"%s\" is being removed", wname(w));
        if (manager_workload_is_active(w))
                return berth_error_set(err, -EBUSY, "", "workload \"%s\" is already running", wname(w));
        bool was = w->desired_running;
        int r;

        w->restart_timer = sd_event_source_disable_unref(w->restart_timer);
        w->desired_running = true;
        w->backoff_step = 0;
        r = workload_start_run(w, err);
        if (r < 0)
                w->desired_running = was; /* refused by admission: nothing changed (a created one stays so) */
        return r;
}

int manager_workload_stop(MWorkload *w, usec_t timeout, BerthError *err)
{
        bool was = w->desired_running;
        int r;

        w->desired_running = false;
        w->restart_timer = sd_event_source_disable_unref(w->restart_timer);
        if (w->notify_fd >= 0) {
                w->stop_pending = true;
                w->stop_timeout = timeout;
                manager_persist(w);
                manager_emit(w->manager, "stopping", wname(w), NULL);
                return 0;
        }
        if (!w->pidfd_source) {
                if (was)
                        manager_persist(w);
                return 0; /* nothing runs: a no-op */
        }
        manager_persist(w);
        CRASH_POINT("stop.after-persist");
        manager_emit(w->manager, "stopping", wname(w), NULL);
        r = workload_terminate(w, timeout);
        CRASH_POINT("stop.after-signal");
        return r;
}

int manager_workload_kill(MWorkload *w, int signo, BerthError *err)
{
        char msg[32];
        int r;

        if (!w->pidfd_source)
                return berth_error_set(err, -EBUSY, "", "workload \"%s\" is not running", wname(w));
        if (signo != SIGCONT && signo != SIGSTOP)
                manager_workload_thaw_before_signal(w);
        r = driver_ops_of(w)->kill(w->driver, wname(w), &w->run, signo);
        if (r < 0)
                return berth_error_set(err, r, "", "sending signal %d failed: %s", signo, strerror(-r));
        snprintf(msg, sizeof(msg), "SIG%s", strempty(sigabbrev_np(signo)));
        manager_emit(w->manager, "killed", wname(w), msg);
        return 0;
}

int manager_workload_remove(MWorkload *w, bool force, ApiRemoveCallback done, void *userdata, BerthError *err)
{
        RemoveRequest *req;

        if (manager_workload_is_active(w) && !force && !w->removing)
                return berth_error_set(err, -EBUSY, "", "workload \"%s\" is running; stop it or use force",
                                       wname(w));
        req = calloc(1, sizeof(*req));
        if (!req)
                return berth_error_set(err, -ENOMEM, "", "out of memory");
        req->done = done;
        req->userdata = userdata;
        if (w->manager->caller && !(req->caller = strdup(w->manager->caller))) {
                free(req);
                return berth_error_set(err, -ENOMEM, "", "out of memory");
        }
        req->next = w->remove_requests;
        w->remove_requests = req;
        if (w->removing)
                return 0;
        w->removing = true;
        w->desired_running = false;
        w->restart_timer = sd_event_source_disable_unref(w->restart_timer);
        (void)manager_persist(w);
        CRASH_POINT("delete.after-persist");
        if (w->pidfd_source) {
                int r = driver_ops_of(w)->kill(w->driver, wname(w), &w->run, SIGKILL);
                if (r < 0 && r != -ESRCH)
                        wlog_warning_errno(wname(w), r, "SIGKILL failed: %m");
                manager_emit(w->manager, "killed", wname(w), "SIGKILL");
                CRASH_POINT("delete.after-kill");
        }
        /* A pending start is killed in on_notify; an exit schedules the removal. */
        if (!manager_workload_is_active(w))
                manager_remove_schedule(w->manager);
        return 0;
}

static void workload_finish_removal(Manager *m, MWorkload *w)
{
        RemoveRequest *reqs;
        int r;

        (void)manager_persist(w);
        CRASH_POINT("delete.before-driver-remove");
        r = driver_ops_of(w)->remove(w->driver, wname(w));
        if (r >= 0 && w->spec->image)
                manager_image_workload_release(m, wname(w));
        CRASH_POINT("delete.after-driver-remove");
        if (r >= 0) {
                r = state_workload_delete(m->state, wname(w));
                if (r == -ENOENT)
                        r = 0;
                CRASH_POINT("delete.after-db-delete");
        }
        if (r >= 0)
                manager_sched_release(w); /* a created workload held its booking */
        reqs = TAKE_PTR(w->remove_requests);
        w->removing = false;
        if (r < 0)
                wlog_error_errno(wname(w), r, "removal failed: %m");
        else {
                /* The removal completes later: name who asked for it (the first request). */
                const char *saved = m->caller;
                RemoveRequest *first = reqs;
                while (first && first->next)
                        first = first->next;
                if (!m->caller && first)
                        m->caller = first->caller;
                manager_emit(m, "removed", wname(w), NULL);
                m->caller = saved;
                manager_watches_workload_removed(m, w);
                manager_drop(m, w);
                mworkload_free(w);
        }
        while (reqs) {
                RemoveRequest *q = reqs;
                reqs = q->next;
                if (q->done)
                        q->done(q->userdata, r < 0 ? r : 0);
                free(q->caller);
                free(q);
        }
}

static int on_remove_defer(sd_event_source *s, void *userdata)
{
        Manager *m = userdata;

        for (;;) {
                MWorkload *w = NULL;

                for (size_t i = 0; i < m->n_workloads; i++)
                        if (m->workloads[i]->removing && !manager_workload_is_active(m->workloads[i])) {
                                w = m->workloads[i];
                                break;
                        }
                if (!w)
                        return 0;
                workload_finish_removal(m, w);
        }
}

static void manager_remove_schedule(Manager *m)
{
        (void)sd_event_source_set_enabled(m->remove_source, SD_EVENT_ONESHOT);
}

/* The bridge, IPAM and the nft table (docs/NETWORK.md). A bad network.*
 * setting is a configuration error; anything else (no nf_tables, no
 * permission) only means that bridge mode is unavailable and that new
 * workloads default to network none. */
static int manager_net_new(Manager *m)
{
        _cleanup_free_ char *dir = NULL;
        BerthError nerr = {};
        int r;

        if (asprintf(&dir, "%s/net", m->config->root) < 0)
                return -ENOMEM;
        NetConfig nc = { .bridge = m->config->net_bridge, .cidr = m->config->net_cidr, .state_dir = dir };
        r = net_new(&nc, &m->net, &nerr);
        if (r >= 0) {
                log_info("bridge networking on %s", net_bridge_name(m->net));
                return 0;
        }
        if (nerr.field[0])
                return log_error_errno(r, "%s: %s", nerr.field, nerr.message);
        log_warning_errno(r, "bridge networking unavailable, new workloads default to network none: %s",
                          nerr.message[0] ? nerr.message : strerror(-r));
        return 0;
}

int manager_new(sd_event *event, const Config *config, State *state, const char *shim_path, Manager **ret)
{
        _cleanup_(manager_freep) Manager *m = NULL;
        int r;

        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        m->event = sd_event_ref(event);
        m->config = config;
        m->state = state;
        m->started_at = now_usec(CLOCK_REALTIME);
        m->shim_path = strdup(shim_path);
        if (!m->shim_path)
                return -ENOMEM;

        r = manager_net_new(m);
        if (r < 0)
                return r;
        DriverConfig dc = {
                .root_dir = config->root,
                .run_dir = config->run_dir,
                .cgroup_root = config->cgroup_root,
                .cgroup_parent = config->cgroup_parent,
                .shim_path = m->shim_path,
                .log_max_bytes = config->log_max_bytes,
                .net = m->net,
        };
        r = container_driver_ops.new(&dc, &m->container);
        if (r < 0)
                return log_error_errno(r, "cannot set up the container driver: %m");
        dc.vm_guest_dir = config->vm_guest_dir;
        dc.vm_accelerator = config->vm_accelerator;
        dc.vm_user = config->vm_user;
        dc.vm_backend = config->vm_backend;
        dc.vm_libvirt_uri = config->vm_libvirt_uri;
        r = vm_driver_ops.new(&dc, &m->vm);
        if (r < 0)
                log_warning_errno(r, "cannot set up the vm driver, isolation vm is unavailable: %m");
        r = manager_sched_new(m);
        if (r < 0)
                return r;

        r = sd_event_add_defer(event, &m->dispatch_source, manager_dispatch_handler, m);
        if (r < 0)
                return r;
        (void)sd_event_source_set_enabled(m->dispatch_source, SD_EVENT_OFF);
        r = sd_event_add_defer(event, &m->remove_source, on_remove_defer, m);
        if (r < 0)
                return r;
        (void)sd_event_source_set_enabled(m->remove_source, SD_EVENT_OFF);
        *ret = TAKE_PTR(m);
        return 0;
}

Manager *manager_free(Manager *m)
{
        if (!m)
                return NULL;
        manager_watches_free_all(m);
        for (size_t i = 0; i < m->n_workloads; i++)
                mworkload_free(m->workloads[i]); /* closes pidfds only: runs keep going */
        free(m->workloads);
        sd_event_source_disable_unref(m->dispatch_source);
        sd_event_source_disable_unref(m->remove_source);
        sd_event_source_disable_unref(m->health_timer);
        manager_warm_free(m);
        manager_sched_free(m);
        if (m->container)
                container_driver_ops.free(m->container);
        if (m->vm)
                vm_driver_ops.free(m->vm);
        net_free(m->net);
        manager_vm_snapshot_free(m);
        manager_images_free(m);
        free(m->shim_path);
        sd_event_unref(m->event);
        free(m);
        return NULL;
}

static void workload_adopt(Manager *m, MWorkload *w, WorkloadState recorded)
{
        const DriverOps *ops = driver_ops_of(w);
        DriverRun run = { .shim_pidfd = -EBADF };
        DriverAdoptResult res = _DRIVER_ADOPT_RESULT_INVALID;
        DriverExit ex = {};
        int r;

        r = ops->adopt(w->driver, wname(w), &run, &res);
        if (r < 0) {
                wlog_error_errno(wname(w), r, "re-adoption failed: %m");
                res = DRIVER_ADOPT_UNKNOWN;
        }
        switch (res) {
        case DRIVER_ADOPT_RUNNING:
                w->run = run;
                /* Paused stays paused. The record wins over a freeze or thaw
                 * that a crash cut short: both are idempotent. */
                if (recorded == WORKLOAD_PAUSED && ops->pause && ops->pause(w->driver, wname(w), NULL) >= 0)
                        w->pub.status.state = WORKLOAD_PAUSED;
                else {
                        if (ops->resume)
                                (void)ops->resume(w->driver, wname(w), NULL);
                        w->pub.status.state = WORKLOAD_RUNNING;
                }
                w->pub.status.pid = run.pid;
                w->pub.status.vm_accelerator = run.vm_accelerator;
                w->pub.status.vm_backend = run.vm_backend;
                if (run.started_at)
                        w->pub.status.started_at = run.started_at;
                manager_persist(w);
                if (workload_watch_run(w) >= 0) {
                        manager_emit(m, "adopted", wname(w), NULL);
                        /* A stop that berthd did not see through: finish it. */
                        if (!w->desired_running && !w->removing) {
                                wlog_notice(wname(w), "resuming the stop that was in progress");
                                (void)workload_terminate(w, m->config->stop_timeout);
                        }
                }
                return;
        case DRIVER_ADOPT_EXITED:
                if (ops->read_exit(w->driver, wname(w), &ex) >= 0) {
                        workload_record_exit(w, &ex);
                        workload_persist_exit(w);
                        workload_maybe_restart(w, ex.finished_at - w->pub.status.started_at);
                        return;
                }
                break;
        case DRIVER_ADOPT_NEVER_STARTED:
                if (recorded == WORKLOAD_CREATED) {
                        if (w->desired_running)
                                (void)workload_start_run(w, NULL);
                        return;
                }
                break;
        default:
                break;
        }
        workload_record_lost(w, "the run could not be found after a berthd restart");
        manager_persist(w);
        manager_emit(m, "lost", wname(w), "the run could not be found after a berthd restart");
}

int manager_start(Manager *m)
{
        StateWorkload *rows = NULL;
        size_t n = 0;
        int r;

        r = state_workload_load_all(m->state, &rows, &n);
        if (r < 0)
                return log_error_errno(r, "cannot load the workloads: %m");
        for (size_t i = 0; i < n; i++) {
                StateWorkload *row = &rows[i];
                _cleanup_(spec_freep) Spec *spec = NULL;
                BerthError err = {};
                char buf[1100];
                MWorkload *w;

                r = spec_parse_json(row->spec_json, strlen(row->spec_json), &spec, &err);
                if (r < 0) {
                        log_error_errno(r, "stored spec of workload %s is invalid, skipping it: %s", row->name,
                                        berth_error_format(&err, buf, sizeof(buf)));
                        continue;
                }
                if (spec->image)
                        (void)manager_image_workload_mount(m, spec); /* logged; the start then fails visibly */
                w = mworkload_new(m);
                if (!w) {
                        r = -ENOMEM;
                        break;
                }
                w->spec = TAKE_PTR(spec);
                w->pub.spec = w->spec;
                w->spec_json = TAKE_PTR(row->spec_json);
                w->pub.status = row->status;
                row->status.reason = row->status.message = NULL;
                w->desired_running = row->desired_running;
                if (w->pub.status.reason && streq(w->pub.status.reason, MANAGER_REASON_REMOVING)) {
                        w->removing = true; /* finished below, after re-adoption */
                        w->desired_running = false;
                }
                w->run.shim_pid = row->shim_pid;
                w->run.shim_start_time = row->shim_start_time;
                w->run.pid = row->status.pid;
                w->run.pid_start_time = row->pid_start_time;
                w->run.started_at = row->status.started_at;
                w->driver = w->spec->isolation == ISOLATION_VM ? m->vm : m->container;
                workload_net_refresh(w);
                r = manager_add(m, w);
                if (r < 0) {
                        mworkload_free(w);
                        break;
                }
        }
        state_workload_array_free(rows, n);
        if (r < 0)
                return log_error_errno(r, "cannot load the workloads: %m");

        for (size_t i = 0; i < m->n_workloads; i++) {
                MWorkload *w = m->workloads[i];
                WorkloadState recorded = w->pub.status.state;

                if (recorded == WORKLOAD_EXITED || recorded == WORKLOAD_UNKNOWN) {
                        /* A restart that was pending when berthd stopped is not lost. */
                        workload_maybe_restart(w, 0);
                        continue;
                }
                if (recorded != WORKLOAD_CREATED && recorded != WORKLOAD_RUNNING && recorded != WORKLOAD_PAUSED)
                        continue;
                if (!w->driver) {
                        workload_record_lost(w, "no driver for this isolation");
                        manager_persist(w);
                        manager_emit(m, "lost", wname(w), "no driver for this isolation");
                        continue;
                }
                workload_adopt(m, w, recorded);
        }
        /* Removals that a crash interrupted: kill what still runs, then remove. */
        for (size_t i = 0; i < m->n_workloads; i++) {
                MWorkload *w = m->workloads[i];

                if (!w->removing)
                        continue;
                wlog_notice(wname(w), "finishing the removal that was in progress");
                if (w->pidfd_source)
                        (void)driver_ops_of(w)->kill(w->driver, wname(w), &w->run, SIGKILL);
                manager_remove_schedule(m);
        }
        /* Resources of creates and removals that a crash cut short, with no record. */
        (void)manager_orphans_remove(m);
        manager_images_recover(m); /* the same for the image store (manager-images.c) */
        manager_vm_snapshot_recover(m); /* and for VM snapshots (manager-vm-snapshot.c) */
        /* The ledger from what is recorded and found running (manager-sched.c). */
        (void)manager_sched_rebuild(m);
        manager_emit(m, "daemon-started", NULL, NULL);
        r = manager_health_start(m);
        if (r < 0)
                log_warning_errno(r, "health checks are disabled: %m");
        m->ready = true;
        log_info("ready: %zu workload(s) loaded", m->n_workloads);
        return 0;
}

void manager_shutdown(Manager *m)
{
        m->ready = false;
        manager_emit(m, "daemon-stopping", NULL, NULL);
        /* Workloads keep running: only our watches go. */
        for (size_t i = 0; i < m->n_workloads; i++)
                workload_detach(m->workloads[i]);
}
