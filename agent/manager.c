/* SPDX-License-Identifier: Apache-2.0 */
/* The manager's core: workload records and the verbs on them (create,
 * start, stop, kill, remove), the daemon's start (re-adoption) and shutdown.
 * One run's events (start report, exit, stop grace timer, restart backoff)
 * are in manager-run.c, the API entry points in manager-api.c, node and
 * metrics in manager-node.c. */
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>

#include "agent/manager.h"
#include "agent/manager-harden.h"
#include "agent/recover.h"
#include "drivers/net/net.h"
#include "drivers/start-gate.h"
#include "lib/crashpoint.h"
#include "lib/log.h"

/* How long a create whose commit failed waits for the shim it set up to be
 * gone (drivers/start-gate.h); the shim only kills an init that never ran. */
#define MANAGER_GATE_CANCEL_MSEC 5000

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
        w->report_source = sd_event_source_disable_unref(w->report_source);
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
                wlog_error_errno(mworkload_name(w), r, "cannot persist the workload state: %m");
        return r;
}

static int persist_emit(MWorkload *w, const char *type, const char *message, bool lazy)
{
        Manager *m = w->manager;
        int r;

        r = lazy ? state_begin_lazy(m->state) : state_begin(m->state);
        if (r < 0)
                return log_error_errno(r, "cannot begin a state transaction: %m");
        r = manager_persist(w);
        if (r >= 0)
                r = manager_emit(m, type, mworkload_name(w), message);
        if (r >= 0)
                r = state_commit(m->state);
        if (r < 0)
                state_rollback(m->state);
        return r;
}

int manager_persist_emit(MWorkload *w, const char *type, const char *message)
{
        return persist_emit(w, type, message, false);
}

int manager_persist_emit_lazy(MWorkload *w, const char *type, const char *message)
{
        int r = persist_emit(w, type, message, true);

        if (state_unsynced(w->manager->state))
                manager_sync_arm(w->manager);
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

        /* The record and its "created" event are durable before anything of
         * the workload runs and before the answer. desired_state "stopped"
         * with state "created" is a workload created without a start: a
         * restart keeps it created; "running" is a start to carry out. */
        StateWorkload sw = {
                .name = spec->name,
                .spec_json = w->spec_json,
                .desired_running = start,
                .status = w->pub.status,
        };
        int gate = -EBADF;
        r = state_begin(m->state);
        if (r >= 0)
                r = state_workload_insert(m->state, &sw);
        if (r >= 0)
                r = manager_emit(m, "created", spec->name, NULL);
        if (r >= 0)
                r = manager_add(m, w);
        /* The shim sets the run up while the commit makes the record
         * durable: gated, nothing of the workload runs before the commit has
         * returned (drivers/start-gate.h). */
        if (r >= 0 && start)
                (void)workload_start_run(w, &gate, NULL);
        if (r >= 0)
                r = FAULT_POINT("create.commit") ?: state_commit(m->state);
        CRASH_POINT("create.after-insert");
        if (r < 0) {
                if (gate >= 0 && start_gate_cancel(&gate, w->notify_fd, MANAGER_GATE_CANCEL_MSEC) < 0)
                        wlog_warning(spec->name, "the cancelled start's shim did not end within %d ms",
                                     MANAGER_GATE_CANCEL_MSEC);
                state_rollback(m->state);
                manager_drop(m, w);
                manager_sched_release(w); /* the booking goes back */
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
                (void)start_gate_go(&gate); /* a shim that failed already has said so */
        else
                wlog_info(spec->name, "created, not started");
        *ret = w;
        return 0;
}

int manager_workload_start(MWorkload *w, BerthError *err)
{
        if (w->removing)
                return berth_error_set(err, -EBUSY, "", "workload \"%s\" is being removed", mworkload_name(w));
        if (manager_workload_is_active(w))
                return berth_error_set(err, -EBUSY, "", "workload \"%s\" is already running", mworkload_name(w));
        bool was = w->desired_running;
        int r;

        w->restart_timer = sd_event_source_disable_unref(w->restart_timer);
        w->desired_running = true;
        w->backoff_step = 0;
        r = workload_start_run(w, NULL, err);
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
                manager_emit(w->manager, "stopping", mworkload_name(w), NULL);
                return 0;
        }
        if (!w->pidfd_source) {
                if (was)
                        manager_persist(w);
                return 0; /* nothing runs: a no-op */
        }
        manager_persist(w);
        CRASH_POINT("stop.after-persist");
        manager_emit(w->manager, "stopping", mworkload_name(w), NULL);
        r = workload_terminate(w, timeout);
        CRASH_POINT("stop.after-signal");
        return r;
}

int manager_workload_kill(MWorkload *w, int signo, BerthError *err)
{
        char msg[32];
        int r;

        if (!w->pidfd_source)
                return berth_error_set(err, -EBUSY, "", "workload \"%s\" is not running", mworkload_name(w));
        if (signo != SIGCONT && signo != SIGSTOP)
                manager_workload_thaw_before_signal(w);
        r = mworkload_ops(w)->kill(w->driver, mworkload_name(w), &w->run, signo);
        if (r < 0)
                return berth_error_set(err, r, "", "sending signal %d failed: %s", signo, strerror(-r));
        snprintf(msg, sizeof(msg), "SIG%s", strempty(sigabbrev_np(signo)));
        manager_emit(w->manager, "killed", mworkload_name(w), msg);
        return 0;
}

int manager_workload_remove(MWorkload *w, bool force, ApiRemoveCallback done, void *userdata, BerthError *err)
{
        RemoveRequest *req;

        if (manager_workload_is_active(w) && !force && !w->removing)
                return berth_error_set(err, -EBUSY, "", "workload \"%s\" is running; stop it or use force",
                                       mworkload_name(w));
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
                int r = mworkload_ops(w)->kill(w->driver, mworkload_name(w), &w->run, SIGKILL);
                if (r < 0 && r != -ESRCH)
                        wlog_warning_errno(mworkload_name(w), r, "SIGKILL failed: %m");
                manager_emit(w->manager, "killed", mworkload_name(w), "SIGKILL");
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
        r = mworkload_ops(w)->remove(w->driver, mworkload_name(w));
        if (r >= 0 && w->spec->image)
                manager_image_workload_release(m, mworkload_name(w));
        CRASH_POINT("delete.after-driver-remove");
        if (r >= 0) {
                r = state_workload_delete(m->state, mworkload_name(w));
                if (r == -ENOENT)
                        r = 0;
                CRASH_POINT("delete.after-db-delete");
        }
        if (r >= 0)
                manager_sched_release(w); /* a created workload held its booking */
        reqs = TAKE_PTR(w->remove_requests);
        w->removing = false;
        if (r < 0)
                wlog_error_errno(mworkload_name(w), r, "removal failed: %m");
        else {
                /* The removal completes later: name who asked for it (the first request). */
                const char *saved = m->caller;
                RemoveRequest *first = reqs;
                while (first && first->next)
                        first = first->next;
                if (!m->caller && first)
                        m->caller = first->caller;
                manager_emit(m, "removed", mworkload_name(w), NULL);
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

void manager_remove_schedule(Manager *m)
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
        manager_sync_free(m);
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
        const DriverOps *ops = mworkload_ops(w);
        DriverRun run = { .shim_pidfd = -EBADF };
        DriverAdoptResult res = _DRIVER_ADOPT_RESULT_INVALID;
        DriverExit ex = {};
        int r;

        r = ops->adopt(w->driver, mworkload_name(w), &run, &res);
        if (r < 0) {
                wlog_error_errno(mworkload_name(w), r, "re-adoption failed: %m");
                res = DRIVER_ADOPT_UNKNOWN;
        }
        switch (res) {
        case DRIVER_ADOPT_RUNNING:
                w->run = run;
                /* Paused stays paused. The record wins over a freeze or thaw
                 * that a crash cut short: both are idempotent. */
                if (recorded == WORKLOAD_PAUSED && ops->pause && ops->pause(w->driver, mworkload_name(w), NULL) >= 0)
                        w->pub.status.state = WORKLOAD_PAUSED;
                else {
                        if (ops->resume)
                                (void)ops->resume(w->driver, mworkload_name(w), NULL);
                        w->pub.status.state = WORKLOAD_RUNNING;
                }
                w->pub.status.pid = run.pid;
                w->pub.status.vm_accelerator = run.vm_accelerator;
                w->pub.status.vm_backend = run.vm_backend;
                if (run.started_at)
                        w->pub.status.started_at = run.started_at;
                manager_persist(w);
                if (workload_watch_run(w) >= 0) {
                        manager_emit(m, "adopted", mworkload_name(w), NULL);
                        /* A stop that berthd did not see through: finish it. */
                        if (!w->desired_running && !w->removing) {
                                wlog_notice(mworkload_name(w), "resuming the stop that was in progress");
                                (void)workload_terminate(w, m->config->stop_timeout);
                        }
                }
                return;
        case DRIVER_ADOPT_EXITED:
                if (ops->read_exit(w->driver, mworkload_name(w), &ex) >= 0) {
                        workload_record_exit(w, &ex);
                        workload_persist_exit(w);
                        workload_maybe_restart(w, ex.finished_at - w->pub.status.started_at);
                        return;
                }
                break;
        case DRIVER_ADOPT_NEVER_STARTED:
                if (recorded == WORKLOAD_CREATED) {
                        if (w->desired_running)
                                (void)workload_start_run(w, NULL, NULL);
                        return;
                }
                break;
        default:
                break;
        }
        workload_record_lost(w, "the run could not be found after a berthd restart");
        manager_persist(w);
        manager_emit(m, "lost", mworkload_name(w), "the run could not be found after a berthd restart");
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
                        manager_emit(m, "lost", mworkload_name(w), "no driver for this isolation");
                        continue;
                }
                workload_adopt(m, w, recorded);
        }
        /* Removals that a crash interrupted: kill what still runs, then remove. */
        for (size_t i = 0; i < m->n_workloads; i++) {
                MWorkload *w = m->workloads[i];

                if (!w->removing)
                        continue;
                wlog_notice(mworkload_name(w), "finishing the removal that was in progress");
                if (w->pidfd_source)
                        (void)mworkload_ops(w)->kill(w->driver, mworkload_name(w), &w->run, SIGKILL);
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
