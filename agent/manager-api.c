/* SPDX-License-Identifier: Apache-2.0 */
/* ApiBackendOps on top of the manager, and the watches (wait, events).
 *
 * Callback rule (api/api.h): no callback runs inside the call that
 * registered it. Every watch callback is delivered from one defer source,
 * manager_dispatch_handler(); events are always read back from the state DB
 * by id, so replay and live streaming are the same code path and nothing is
 * lost or duplicated between them. */
#include <fcntl.h>
#include <signal.h>

#include "agent/manager.h"
#include "agent/manager-harden.h"
#include "lib/log.h"

#define EVENT_BATCH 256

static int not_found(BerthError *err, const char *name)
{
        return berth_error_set(err, -ENOENT, "", "workload \"%s\" not found", strempty(name));
}

void manager_dispatch_schedule(Manager *m)
{
        if (m->dispatch_source)
                (void)sd_event_source_set_enabled(m->dispatch_source, SD_EVENT_ONESHOT);
}

static ApiWatch *watch_free(ApiWatch *x)
{
        if (!x)
                return NULL;
        free(x->workload);
        spec_free(x->spec_snapshot);
        workload_status_done(&x->status_snapshot);
        free(x);
        return NULL;
}

static void watches_reap(Manager *m)
{
        ApiWatch **p = &m->watches;

        while (*p) {
                ApiWatch *x = *p;
                if (x->cancelled || x->finished) {
                        *p = x->next;
                        watch_free(x);
                } else
                        p = &x->next;
        }
}

void manager_watches_free_all(Manager *m)
{
        while (m->watches) {
                ApiWatch *x = m->watches;
                m->watches = x->next;
                watch_free(x);
        }
}

static void watch_dispatch_events(Manager *m, ApiWatch *x)
{
        for (;;) {
                StateEvent *evs = NULL;
                size_t n = 0;
                int r;

                r = state_event_list(m->state, x->last_id, x->workload, EVENT_BATCH, &evs, &n);
                if (r < 0) {
                        x->finished = true;
                        x->event_cb(x->userdata, NULL, r);
                        return;
                }
                for (size_t i = 0; i < n && !x->cancelled; i++) {
                        BerthEvent ev = {
                                .id = evs[i].id,
                                .time = evs[i].time,
                                .type = evs[i].type,
                                .workload = evs[i].workload,
                                .message = evs[i].message,
                                .caller = evs[i].caller,
                        };
                        x->last_id = evs[i].id;
                        x->event_cb(x->userdata, &ev, 0);
                }
                state_event_array_free(evs, n);
                if (x->cancelled || n < EVENT_BATCH)
                        break;
        }
        if (!x->follow && !x->cancelled) {
                x->finished = true;
                x->event_cb(x->userdata, NULL, 0);
        }
}

int manager_dispatch_handler(sd_event_source *s, void *userdata)
{
        Manager *m = userdata;

        /* Watchers hear only of what is durable: manager_sync() dispatches
         * again once the lazy commit is on disk (manager-sync.c). */
        if (state_unsynced(m->state))
                return 0;
        m->dispatching++;
        /* Watches added by a callback are put at the head and handled in the next pass. */
        for (ApiWatch *x = m->watches; x; x = x->next) {
                if (x->cancelled || x->finished)
                        continue;
                if (x->is_events) {
                        if (!x->pending)
                                continue;
                        x->pending = false;
                        watch_dispatch_events(m, x);
                } else if (x->fired) {
                        Workload w = { .spec = x->spec_snapshot, .status = x->status_snapshot };
                        x->finished = true;
                        x->wait_cb(x->userdata, &w, 0);
                } else if (x->removed) {
                        x->finished = true;
                        x->wait_cb(x->userdata, NULL, -ENOENT);
                }
        }
        m->dispatching--;
        if (m->dispatching == 0)
                watches_reap(m);
        return 0;
}

static int watch_fire(ApiWatch *x, MWorkload *w)
{
        WorkloadStatus *d = &x->status_snapshot;
        const WorkloadStatus *s = &w->pub.status;

        x->spec_snapshot = spec_dup(w->spec);
        *d = *s;
        d->reason = strdup_or_null(s->reason);
        d->message = strdup_or_null(s->message);
        if (!x->spec_snapshot || (s->reason && !d->reason) || (s->message && !d->message))
                return -ENOMEM;
        x->fired = true;
        x->target = NULL;
        return 0;
}

void manager_watches_workload_exited(Manager *m, MWorkload *w)
{
        for (ApiWatch *x = m->watches; x; x = x->next)
                if (!x->is_events && x->target == w && !x->fired && !x->finished && !x->cancelled) {
                        if (watch_fire(x, w) < 0) {
                                x->target = NULL;
                                x->removed = true; /* cannot snapshot: end the watch rather than hang */
                        }
                }
        manager_dispatch_schedule(m);
}

void manager_watches_workload_removed(Manager *m, MWorkload *w)
{
        for (ApiWatch *x = m->watches; x; x = x->next)
                if (!x->is_events && x->target == w) {
                        x->target = NULL;
                        x->removed = true;
                }
        manager_dispatch_schedule(m);
}

static int backend_create2(void *backend, Spec *spec, bool start, const Workload **ret, BerthError *err)
{
        Manager *m = backend;
        MWorkload *w;
        int r;

        if (!m->ready)
                return berth_error_set(err, -ESHUTDOWN, "", "berthd is not ready");
        r = manager_workload_create2(m, spec, start, &w, err);
        if (r < 0)
                return r;
        *ret = &w->pub;
        return 0;
}

static int backend_create(void *backend, Spec *spec, const Workload **ret, BerthError *err)
{
        return backend_create2(backend, spec, true, ret, err);
}

static int backend_get(void *backend, const char *name, const Workload **ret, BerthError *err)
{
        MWorkload *w = manager_find(backend, name);

        if (!w)
                return not_found(err, name);
        *ret = &w->pub;
        return 0;
}

static int backend_list(void *backend, const Workload ***ret, size_t *ret_n)
{
        Manager *m = backend;
        const Workload **a = calloc(m->n_workloads + 1, sizeof(*a));

        if (!a)
                return -ENOMEM;
        for (size_t i = 0; i < m->n_workloads; i++) /* already sorted by name */
                a[i] = &m->workloads[i]->pub;
        *ret = a;
        *ret_n = m->n_workloads;
        return 0;
}

static int backend_start(void *backend, const char *name, const Workload **ret, BerthError *err)
{
        MWorkload *w = manager_find(backend, name);
        int r;

        if (!w)
                return not_found(err, name);
        r = manager_workload_start(w, err);
        if (r < 0)
                return r;
        *ret = &w->pub;
        return 0;
}

static int backend_stop(void *backend, const char *name, usec_t timeout, const Workload **ret, BerthError *err)
{
        Manager *m = backend;
        MWorkload *w = manager_find(m, name);
        int r;

        if (!w)
                return not_found(err, name);
        if (timeout == USEC_INFINITY)
                timeout = m->config->stop_timeout;
        r = manager_workload_stop(w, timeout, err);
        if (r < 0)
                return r;
        *ret = &w->pub;
        return 0;
}

static int backend_kill(void *backend, const char *name, int signo, const Workload **ret, BerthError *err)
{
        MWorkload *w = manager_find(backend, name);
        int r;

        if (!w)
                return not_found(err, name);
        if (signo <= 0 || signo >= NSIG)
                return berth_error_set(err, -EINVAL, "signal", "%d is not a signal", signo);
        r = manager_workload_kill(w, signo, err);
        if (r < 0)
                return r;
        *ret = &w->pub;
        return 0;
}

static int backend_remove(void *backend, const char *name, bool force, ApiRemoveCallback done, void *userdata,
                          BerthError *err)
{
        MWorkload *w = manager_find(backend, name);

        if (!w)
                return not_found(err, name);
        return manager_workload_remove(w, force, done, userdata, err);
}

static int backend_wait(void *backend, const char *name, ApiWorkloadCallback done, void *userdata, ApiWatch **ret,
                        BerthError *err)
{
        Manager *m = backend;
        MWorkload *w = manager_find(m, name);
        ApiWatch *x;

        if (!w)
                return not_found(err, name);
        x = calloc(1, sizeof(*x));
        if (!x)
                return berth_error_set(err, -ENOMEM, "", "out of memory");
        x->manager = m;
        x->target = w;
        x->wait_cb = done;
        x->userdata = userdata;
        if ((w->pub.status.state == WORKLOAD_EXITED || w->pub.status.state == WORKLOAD_UNKNOWN) &&
            !manager_workload_is_active(w) && watch_fire(x, w) < 0) {
                watch_free(x);
                return berth_error_set(err, -ENOMEM, "", "out of memory");
        }
        x->next = m->watches;
        m->watches = x;
        if (x->fired)
                manager_dispatch_schedule(m);
        if (ret)
                *ret = x;
        return 0;
}

static int backend_events(void *backend, uint64_t after_id, const char *workload, bool follow, ApiEventCallback cb,
                          void *userdata, ApiWatch **ret, BerthError *err)
{
        Manager *m = backend;
        ApiWatch *x;

        x = calloc(1, sizeof(*x));
        if (!x)
                return berth_error_set(err, -ENOMEM, "", "out of memory");
        x->manager = m;
        x->is_events = true;
        x->last_id = after_id;
        x->follow = follow;
        x->pending = true;
        x->event_cb = cb;
        x->userdata = userdata;
        if (workload) {
                x->workload = strdup(workload);
                if (!x->workload) {
                        free(x);
                        return berth_error_set(err, -ENOMEM, "", "out of memory");
                }
        }
        x->next = m->watches;
        m->watches = x;
        manager_dispatch_schedule(m);
        if (ret)
                *ret = x;
        return 0;
}

static void backend_watch_cancel(void *backend, ApiWatch *x)
{
        Manager *m = backend;

        if (!x)
                return;
        x->cancelled = true;
        if (m->dispatching == 0)
                watches_reap(m);
}

static int backend_log_dir(void *backend, const char *name, int *ret_dirfd, BerthError *err)
{
        Manager *m = backend;
        _cleanup_free_ char *dir = NULL;
        int fd, r;

        if (!manager_find(m, name))
                return not_found(err, name);
        r = driver_workload_dir(m->config->root, name, &dir);
        if (r < 0)
                return berth_error_set(err, r, "", "no log directory for \"%s\"", name);
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return berth_error_set(err, -errno, "", "cannot open %s: %s", dir, strerror(errno));
        *ret_dirfd = fd;
        return 0;
}

static void backend_set_caller(void *backend, const char *caller)
{
        Manager *m = backend;

        m->caller = caller;
}

const ApiBackendOps manager_backend_ops = {
        .create = backend_create,
        .get = backend_get,
        .list = backend_list,
        .start = backend_start,
        .stop = backend_stop,
        .kill = backend_kill,
        .remove = backend_remove,
        .wait = backend_wait,
        .events = backend_events,
        .watch_cancel = backend_watch_cancel,
        .log_dir = backend_log_dir,
        .node = manager_backend_node,
        .metrics = manager_backend_metrics,
        .update = manager_backend_update,
        .admit_dry_run = manager_sched_dry_run,
        .pause = manager_backend_pause,
        .resume = manager_backend_resume,
        .exec = manager_backend_exec,
        .image_list = manager_backend_image_list,
        .image_inspect = manager_backend_image_inspect,
        .image_remove = manager_backend_image_remove,
        .system_df = manager_backend_system_df,
        .image_job = manager_backend_image_job,
        .image_job_cancel = manager_backend_image_job_cancel,
        .vm_snapshot_create = manager_backend_vm_snapshot_create,
        .vm_snapshot_list = manager_backend_vm_snapshot_list,
        .vm_snapshot_get = manager_backend_vm_snapshot_get,
        .vm_snapshot_remove = manager_backend_vm_snapshot_remove,
        .vm_snapshot_restore = manager_backend_vm_snapshot_restore,
        .set_caller = backend_set_caller,
        .create2 = backend_create2,
};
