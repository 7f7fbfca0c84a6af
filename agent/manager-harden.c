/* SPDX-License-Identifier: Apache-2.0 */
/* Backend ops of issue 3 part B: live resource updates (PATCH), pause and
 * resume through the cgroup freezer. Health checks are in manager-health.c. */
#include <fcntl.h>
#include <stdlib.h>

#include "agent/manager-harden.h"
#include "lib/log.h"

static const DriverOps *ops_of(const MWorkload *w)
{
        return w->spec && w->spec->isolation == ISOLATION_VM ? &vm_driver_ops : &container_driver_ops;
}

static int not_found(BerthError *err, const char *name)
{
        return berth_error_set(err, -ENOENT, "", "workload \"%s\" not found", strempty(name));
}

static bool is_live(const MWorkload *w)
{
        return w->pidfd_source && (w->pub.status.state == WORKLOAD_RUNNING || w->pub.status.state == WORKLOAD_PAUSED);
}

int manager_backend_update(void *backend, const char *name, Spec *spec, const Workload **ret, BerthError *err)
{
        MWorkload *w = manager_find(backend, name);
        _cleanup_free_ char *json = NULL;
        const DriverOps *ops;
        json_t *doc;
        int r;

        if (!w)
                return not_found(err, name);
        if (!streq(spec->name, name))
                return berth_error_set(err, -EINVAL, "metadata.name", "cannot rename a workload");
        if (w->removing)
                return berth_error_set(err, -EBUSY, "", "workload \"%s\" is being removed", name);
        r = manager_sched_resize(w, spec, err); /* the same admission as a start */
        if (r < 0)
                return r;
        ops = ops_of(w);
        if (is_live(w) || w->notify_fd >= 0) {
                if (!ops->update)
                        return berth_error_set(err, -EOPNOTSUPP, "", "the %s driver cannot update a running workload",
                                               ops->name);
                r = ops->update(w->driver, spec, err);
                if (r < 0)
                        return r;
        }
        doc = spec_to_json(spec);
        json = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        json_decref(doc);
        if (!json)
                return berth_error_set(err, -ENOMEM, "", "out of memory");
        /* The live limits and the record must agree: swap both, persist. */
        free(w->spec_json);
        w->spec_json = TAKE_PTR(json);
        spec_free(w->spec);
        w->spec = spec;
        w->pub.spec = spec;
        (void)manager_persist(w);
        manager_emit(w->manager, "updated", name, is_live(w) ? "resources applied live" : "resources stored");
        wlog_info(name, "resources updated");
        *ret = &w->pub;
        return 0;
}

static int set_frozen(MWorkload *w, bool frozen, BerthError *err)
{
        const DriverOps *ops = ops_of(w);
        int r;

        if (!(frozen ? ops->pause : ops->resume))
                return berth_error_set(err, -EOPNOTSUPP, "", "the %s driver cannot pause", ops->name);
        r = frozen ? ops->pause(w->driver, wname_of(w), err) : ops->resume(w->driver, wname_of(w), err);
        if (r < 0)
                return r;
        w->pub.status.state = frozen ? WORKLOAD_PAUSED : WORKLOAD_RUNNING;
        (void)manager_persist(w);
        manager_emit(w->manager, frozen ? "paused" : "resumed", wname_of(w), NULL);
        wlog_info(wname_of(w), "%s", frozen ? "paused" : "resumed");
        return 0;
}

int manager_backend_pause(void *backend, const char *name, const Workload **ret, BerthError *err)
{
        MWorkload *w = manager_find(backend, name);
        int r;

        if (!w)
                return not_found(err, name);
        if (!w->pidfd_source || w->pub.status.state != WORKLOAD_RUNNING)
                return berth_error_set(err, -EBUSY, "", "workload \"%s\" is %s, not running", name,
                                       workload_state_to_string(w->pub.status.state));
        r = set_frozen(w, true, err);
        if (r < 0)
                return r;
        *ret = &w->pub;
        return 0;
}

int manager_backend_resume(void *backend, const char *name, const Workload **ret, BerthError *err)
{
        MWorkload *w = manager_find(backend, name);
        int r;

        if (!w)
                return not_found(err, name);
        if (!w->pidfd_source || w->pub.status.state != WORKLOAD_PAUSED)
                return berth_error_set(err, -EBUSY, "", "workload \"%s\" is %s, not paused", name,
                                       workload_state_to_string(w->pub.status.state));
        r = set_frozen(w, false, err);
        if (r < 0)
                return r;
        *ret = &w->pub;
        return 0;
}

void manager_workload_thaw_before_signal(MWorkload *w)
{
        BerthError err = {};

        /* A frozen process cannot act on a signal (on v1 not even SIGKILL):
         * stopping, killing or removing a paused workload resumes it first. */
        if (w->pidfd_source && w->pub.status.state == WORKLOAD_PAUSED)
                (void)set_frozen(w, false, &err);
}

int manager_backend_exec(void *backend, const char *name, char **argv, bool tty, ApiExecIo *ret, BerthError *err)
{
        MWorkload *w = manager_find(backend, name);
        _cleanup_close_ int in_r = -EBADF, in_w = -EBADF, out_r = -EBADF, out_w = -EBADF, err_r = -EBADF,
                            err_w = -EBADF, master = -EBADF, replica = -EBADF;
        const DriverOps *ops;
        ApiExecIo io = { .stdin_fd = -EBADF, .stdout_fd = -EBADF, .stderr_fd = -EBADF, .pidfd = -EBADF,
                         .status_fd = -EBADF };
        int p[2], r;

        if (!w)
                return not_found(err, name);
        if (!w->pidfd_source || w->pub.status.state != WORKLOAD_RUNNING)
                return berth_error_set(err, -EBUSY, "", "workload \"%s\" is %s, not running", name,
                                       workload_state_to_string(w->pub.status.state));
        ops = ops_of(w);
        if (!ops->exec)
                return berth_error_set(err, -EOPNOTSUPP, "", "the %s driver has no exec", ops->name);
        if (tty) {
                master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
                if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0)
                        return berth_error_set(err, -errno, "", "cannot allocate a pty: %m");
                char *pts = ptsname(master);
                replica = pts ? open(pts, O_RDWR | O_NOCTTY | O_CLOEXEC) : -1;
                if (replica < 0)
                        return berth_error_set(err, -errno, "", "cannot open the pty replica: %m");
        } else {
                if (pipe2(p, O_CLOEXEC) < 0)
                        return berth_error_set(err, -errno, "", "pipe: %m");
                in_r = p[0], in_w = p[1];
                if (pipe2(p, O_CLOEXEC) < 0)
                        return berth_error_set(err, -errno, "", "pipe: %m");
                out_r = p[0], out_w = p[1];
                if (pipe2(p, O_CLOEXEC) < 0)
                        return berth_error_set(err, -errno, "", "pipe: %m");
                err_r = p[0], err_w = p[1];
        }
        r = ops->exec(w->driver, name, &w->run, argv, in_r, out_w, err_w, replica, &io.pidfd, &io.status_fd, err);
        if (r < 0)
                return r;
        if (tty) {
                io.stdout_fd = TAKE_FD(master);
        } else {
                io.stdin_fd = TAKE_FD(in_w);
                io.stdout_fd = TAKE_FD(out_r);
                io.stderr_fd = TAKE_FD(err_r);
        }
        for (int *fd = &io.stdin_fd; fd <= &io.status_fd; fd++)
                if (*fd >= 0)
                        (void)fcntl(*fd, F_SETFL, fcntl(*fd, F_GETFL) | O_NONBLOCK);
        manager_emit(w->manager, "exec", name, argv[0]);
        *ret = io;
        return 0;
}
