/* SPDX-License-Identifier: Apache-2.0 */
/* The container driver: prepares the workload directory and cgroups, spawns
 * berth-shim detached, and reads back what the shim recorded. The container
 * itself (namespaces, mounts, exec) is set up by the shim; see
 * drivers/shim/ and docs/CONTAINER.md. */
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "drivers/container/cgroup.h"
#include "drivers/container/container-exec.h"
#include "drivers/container/container-files.h"
#include "drivers/container/shim-pool.h"
#include "drivers/driver.h"
#include "drivers/net/net.h"
#include "lib/crashpoint.h"
#include "lib/log.h"

struct Driver {
        char *root_dir;
        char *run_dir;
        char *cgroup_root;
        char *cgroup_parent;
        char *shim_path;
        uint64_t log_max_bytes;
        int workloads_fd;
        const CgroupOps *cg;
        int cg_error; /* why no backend was found */
        Net *net;     /* borrowed from the agent; NULL: no bridge mode */
        ShimPool pool;
        bool started; /* a start was asked for: warm() keeps a pooled shim from then on */
};

static Driver *container_free(Driver *d)
{
        if (!d)
                return NULL;
        if (d->cg && d->cgroup_root && d->cgroup_parent)
                d->cg->remove_parent(d->cgroup_root, d->cgroup_parent);
        free(d->root_dir);
        free(d->run_dir);
        free(d->cgroup_root);
        free(d->cgroup_parent);
        free(d->shim_path);
        safe_close(d->workloads_fd);
        shim_pool_drain(&d->pool);
        free(d);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(Driver *, container_free);

static int container_new(const DriverConfig *config, Driver **ret)
{
        _cleanup_(container_freep) Driver *d = NULL;
        _cleanup_free_ char *wdir = NULL;
        int r;

        if (!config || !config->root_dir || !config->shim_path || config->shim_path[0] != '/')
                return -EINVAL;
        d = calloc(1, sizeof(*d));
        if (!d)
                return -ENOMEM;
        d->workloads_fd = -EBADF;
        d->pool = SHIM_POOL_INIT;
        d->root_dir = strdup(config->root_dir);
        d->run_dir = strdup_or_null(config->run_dir);
        d->cgroup_root = strdup(config->cgroup_root ? config->cgroup_root : "/sys/fs/cgroup");
        d->cgroup_parent = strdup(config->cgroup_parent ? config->cgroup_parent : "berth");
        d->shim_path = strdup(config->shim_path);
        d->log_max_bytes = config->log_max_bytes;
        d->net = config->net;
        if (!d->root_dir || !d->cgroup_root || !d->cgroup_parent || !d->shim_path ||
            (config->run_dir && !d->run_dir))
                return -ENOMEM;

        if (asprintf(&wdir, "%s/workloads", d->root_dir) < 0)
                return -ENOMEM;
        r = mkdir_p(wdir, 0700);
        if (r < 0)
                return r;
        d->workloads_fd = open(wdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (d->workloads_fd < 0)
                return -errno;

        r = cgroup_detect(d->cgroup_root, &d->cg);
        if (r < 0) {
                d->cg_error = r;
                log_debug_errno(r, "No usable cgroup hierarchy at %s", d->cgroup_root);
        } else
                log_debug("cgroup backend %s at %s", d->cg->name, d->cgroup_root);
        *ret = TAKE_PTR(d);
        return 0;
}

static int open_workload_dir(Driver *d, const char *name, bool create, int *ret)
{
        int fd;

        if (!spec_name_is_valid(name))
                return -EINVAL;
        if (create && mkdirat(d->workloads_fd, name, 0700) < 0 && errno != EEXIST)
                return -errno;
        fd = openat(d->workloads_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        *ret = fd;
        return 0;
}

/* Bridge mode: the address (allocated once, kept until remove), the
 * published ports, net.json for the shim, hosts and resolv.conf. */
static int container_net_prepare(Driver *d, const Spec *spec, int dfd, BerthError *err)
{
        NetAttach na;
        int r;

        if (spec->network != NETWORK_BRIDGE)
                return 0;
        if (!d->net)
                return berth_error_set(err, -EOPNOTSUPP, "spec.network.mode",
                                       "bridge networking is not available on this host (see berthd's log)");
        r = net_workload_prepare(d->net, spec->name, spec->ports, spec->n_ports, &na, err);
        if (r < 0)
                return r;
        r = net_attach_write(dfd, &na);
        if (r >= 0)
                r = net_write_files(dfd, spec->name, na.addr);
        if (r < 0)
                return berth_error_set(err, r, "", "cannot write the network files: %s", strerror(-r));
        return 0;
}

static int container_prepare(Driver *d, const Spec *spec, BerthError *err)
{
        _cleanup_close_ int dfd = -EBADF;
        CgroupLimits lim;
        int r;

        r = open_workload_dir(d, spec->name, true, &dfd);
        if (r < 0)
                return berth_error_set(err, r, "", "cannot create the workload directory: %s", strerror(-r));
        CRASH_POINT("create.after-workload-dir");
        if (!d->cg)
                return berth_error_set(err, d->cg_error ? d->cg_error : -EOPNOTSUPP, "",
                                       "no usable cgroup hierarchy at %s", d->cgroup_root);
        lim = (CgroupLimits){ .memory_bytes = spec->memory_bytes, .cpu_millis = spec->cpu_millis, .pids = spec->pids,
                              .cpu_weight = spec->cpu_weight, .memory_high_bytes = spec->memory_high_bytes,
                              .swap_bytes = spec->swap_bytes, .io_weight = spec->io_weight };
        r = d->cg->create(d->cgroup_root, d->cgroup_parent, spec->name, &lim);
        if (r < 0)
                return berth_error_set(err, r, "", "cannot set up the %s cgroup: %s", d->cg->name, strerror(-r));
        return container_net_prepare(d, spec, dfd, err);
}

static int container_start(Driver *d, const Spec *spec, int *ret_notify_fd, int *ret_gate_fd, BerthError *err)
{
        _cleanup_close_ int dfd = -EBADF, null_fd = -EBADF, err_fd = -EBADF, gate_r = -EBADF, gate_w = -EBADF;
        _cleanup_free_ char *dir = NULL;
        DriverConfig dc;
        bool pooled;
        int p[2], r;
        pid_t pid;

        r = open_workload_dir(d, spec->name, true, &dfd);
        if (r < 0)
                return berth_error_set(err, r, "", "cannot open the workload directory: %s", strerror(-r));
        dc = (DriverConfig){ .cgroup_root = d->cgroup_root, .cgroup_parent = d->cgroup_parent,
                             .log_max_bytes = d->log_max_bytes };
        r = shim_config_write(dfd, spec, &dc);
        if (r < 0)
                return berth_error_set(err, r, "", "cannot write config.json: %s", strerror(-r));
        CRASH_POINT("start.after-config");
        /* Leftovers of a previous run would confuse start_finish/adopt. */
        (void)unlinkat(dfd, SHIM_STATE_FILE, 0);
        (void)unlinkat(dfd, SHIM_EXIT_FILE, 0);

        r = driver_workload_dir(d->root_dir, spec->name, &dir);
        if (r < 0)
                return berth_error_set(err, r, "", "bad workload name");
        null_fd = open("/dev/null", O_RDWR | O_CLOEXEC | O_NOCTTY);
        if (null_fd < 0)
                return berth_error_set(err, -errno, "", "cannot open /dev/null: %m");
        /* The shim's own diagnostics (not the workload's output). */
        err_fd = openat(dfd, "shim.log", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
        if (err_fd < 0)
                return berth_error_set(err, -errno, "", "cannot open shim.log: %m");
        if (ret_gate_fd) {
                int g[2];

                if (pipe2(g, O_CLOEXEC) < 0)
                        return berth_error_set(err, -errno, "", "pipe: %m");
                gate_r = g[0];
                gate_w = g[1];
        }
        if (pipe2(p, O_CLOEXEC) < 0)
                return berth_error_set(err, -errno, "", "pipe: %m");
        if (fcntl(p[0], F_SETFL, O_NONBLOCK) < 0) {
                r = -errno;
                safe_close(p[0]);
                safe_close(p[1]);
                return berth_error_set(err, r, "", "fcntl: %s", strerror(-r));
        }

        d->started = true;
        r = shim_pool_take(&d->pool, dir, null_fd, err_fd, p[1], gate_r, &pid);
        pooled = r >= 0;
        if (r == -EAGAIN)
                r = shim_spawn(d->shim_path, dir, NULL, p[1], gate_r, null_fd, err_fd, &pid);
        safe_close(p[1]);
        if (r < 0) {
                safe_close(p[0]);
                return berth_error_set(err, r, "", "cannot run %s: %s", d->shim_path, strerror(-r));
        }
        wlog_debug(spec->name, "spawned berth-shim as pid %d%s", (int)pid, pooled ? " (from the pool)" : "");
        *ret_notify_fd = p[0];
        if (ret_gate_fd)
                *ret_gate_fd = TAKE_FD(gate_w);
        return 0;
}

/* Opens a pidfd on pid and checks that it is still the process that started
 * at start_time (pid reuse). */
static int pidfd_open_checked(pid_t pid, uint64_t start_time, int *ret)
{
        _cleanup_close_ int fd = -EBADF;
        uint64_t st;
        int r;

        if (pid <= 0)
                return -ESRCH;
        fd = pidfd_open(pid, 0);
        if (fd < 0)
                return -errno;
        r = proc_start_time(pid, &st);
        if (r < 0)
                return r;
        if (st != start_time)
                return -ESRCH;
        *ret = TAKE_FD(fd);
        return 0;
}

static int run_from_state(const ShimState *s, DriverRun *ret)
{
        *ret = (DriverRun){
                .shim_pid = s->shim_pid,
                .shim_start_time = s->shim_start_time,
                .pid = s->pid,
                .pid_start_time = s->pid_start_time,
                .started_at = s->started_at,
                .shim_pidfd = -EBADF,
        };
        return 0;
}

static int container_start_finish(Driver *d, const Spec *spec, int notify_fd, DriverRun *ret, BerthError *err)
{
        _cleanup_close_ int dfd = -EBADF;
        char buf[2048];
        ssize_t n;
        ShimState s;
        int r;

        r = open_workload_dir(d, spec->name, false, &dfd);
        if (r < 0)
                return berth_error_set(err, r, "", "cannot open the workload directory: %s", strerror(-r));
        do
                n = read(notify_fd, buf, sizeof(buf) - 1);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno; /* -EAGAIN: not yet */
        buf[n] = 0;
        char *eol = n > 0 ? strchr(buf, '\n') : NULL;
        if (n > 0 && !eol)
                return berth_error_set(err, -EBADMSG, "", "truncated start report from berth-shim");
        if (eol)
                *eol = 0; /* a run that ended at once may have said so behind it (SHIM_EXIT_LINE) */
        if (n == 0) {
                DriverExit e;
                if (driver_exit_read(dfd, &e) >= 0)
                        return berth_error_set(err, -EIO, "", "%s", e.message);
                return berth_error_set(err, -EIO, "", "berth-shim exited without a start report (see shim.log)");
        }

        json_t *j = json_loads(buf, 0, NULL);
        if (!j)
                return berth_error_set(err, -EBADMSG, "", "unreadable start report from berth-shim");
        if (!json_is_true(json_object_get(j, "ok"))) {
                int e = (int)json_integer_value(json_object_get(j, "errno"));
                char msg[512];
                snprintf(msg, sizeof(msg), "%s", strempty(json_string_value(json_object_get(j, "message"))));
                json_decref(j);
                if (e <= 0)
                        e = EIO;
                wlog_debug(spec->name, "start failed: %s", msg);
                return berth_error_set(err, -e, "", "%s", msg);
        }
        json_decref(j);

        r = shim_state_read(dfd, &s);
        if (r < 0)
                return berth_error_set(err, r, "", "cannot read state.json: %s", strerror(-r));
        run_from_state(&s, ret);
        r = pidfd_open_checked(s.shim_pid, s.shim_start_time, &ret->shim_pidfd);
        if (r == -ESRCH) {
                /* The run may already be over: the shim exits right after
                 * exit.json. A pidfd on a dead process is not possible, so
                 * report the run with no pidfd; read_exit() has the result. */
                if (faccessat(dfd, SHIM_EXIT_FILE, F_OK, 0) >= 0)
                        return 0;
        }
        if (r < 0)
                return berth_error_set(err, r, "", "cannot watch berth-shim: %s", strerror(-r));
        return 0;
}

static int container_adopt(Driver *d, const char *name, DriverRun *ret, DriverAdoptResult *ret_result)
{
        _cleanup_close_ int dfd = -EBADF;
        char boot[BOOT_ID_MAX];
        ShimState s;
        int r;

        r = open_workload_dir(d, name, false, &dfd);
        if (r == -ENOENT) {
                *ret_result = DRIVER_ADOPT_NEVER_STARTED;
                return 0;
        }
        if (r < 0)
                return r;
        r = shim_state_read(dfd, &s);
        if (r == -ENOENT) {
                *ret_result = faccessat(dfd, SHIM_EXIT_FILE, F_OK, 0) >= 0 ? DRIVER_ADOPT_EXITED
                                                                          : DRIVER_ADOPT_NEVER_STARTED;
                return 0;
        }
        if (r < 0)
                return r;
        run_from_state(&s, ret);
        if (faccessat(dfd, SHIM_EXIT_FILE, F_OK, 0) >= 0) {
                *ret_result = DRIVER_ADOPT_EXITED;
                return 0;
        }
        r = read_boot_id(boot);
        if (r < 0)
                return r;
        if (streq(boot, s.boot_id) && pidfd_open_checked(s.shim_pid, s.shim_start_time, &ret->shim_pidfd) >= 0) {
                *ret_result = DRIVER_ADOPT_RUNNING;
                return 0;
        }
        /* The shim may have written exit.json and exited after our first look. */
        *ret_result = faccessat(dfd, SHIM_EXIT_FILE, F_OK, 0) >= 0 ? DRIVER_ADOPT_EXITED : DRIVER_ADOPT_UNKNOWN;
        return 0;
}

static int container_kill(Driver *d, const char *name, const DriverRun *run, int signo)
{
        _cleanup_close_ int fd = -EBADF;
        int r;

        if (!run)
                return -EINVAL;
        r = pidfd_open_checked(run->pid, run->pid_start_time, &fd);
        if (r < 0)
                return r;
        if (pidfd_send_signal(fd, signo, NULL, 0) < 0)
                return -errno;
        wlog_debug(name, "sent signal %d to pid %d", signo, (int)run->pid);
        return 0;
}

static int container_read_exit(Driver *d, const char *name, DriverExit *ret)
{
        _cleanup_close_ int dfd = -EBADF;
        int r;

        r = open_workload_dir(d, name, false, &dfd);
        if (r < 0)
                return r;
        return driver_exit_read(dfd, ret);
}

static int container_stats(Driver *d, const char *name, DriverStats *ret)
{
        if (!spec_name_is_valid(name))
                return -EINVAL;
        if (!d->cg)
                return d->cg_error ? d->cg_error : -EOPNOTSUPP;
        return d->cg->stats(d->cgroup_root, d->cgroup_parent, name, ret);
}

static int container_reset(Driver *d, const char *name)
{
        _cleanup_close_ int dfd = -EBADF;
        static const char *const files[] = { SHIM_STATE_FILE, SHIM_EXIT_FILE, SHIM_CONFIG_FILE };
        int r;

        r = open_workload_dir(d, name, false, &dfd);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        for (size_t i = 0; i < ELEMENTSOF(files); i++)
                if (unlinkat(dfd, files[i], 0) < 0 && errno != ENOENT)
                        return -errno;
        return 0;
}

/* The next start's shim, spawned now rather than on that start's path
 * (shim-pool.h). Nothing before the first start: a host that never runs a
 * container keeps no idle shim. */
static void container_warm(Driver *d)
{
        int r;

        if (!d->started)
                return;
        r = shim_pool_fill(&d->pool, d->shim_path, driver_workload_dir_max(d->root_dir));
        if (r < 0)
                log_warning_errno(r, "Cannot start a pooled berth-shim: %m");
}

static int container_remove(Driver *d, const char *name)
{
        int r = 0, q;

        if (!spec_name_is_valid(name))
                return -EINVAL;
        if (d->net) {
                q = net_workload_release(d->net, name);
                if (q < 0)
                        wlog_debug(name, "releasing the address failed: %s", strerror(-q));
        }
        if (d->cg) {
                r = d->cg->remove(d->cgroup_root, d->cgroup_parent, name);
                if (r < 0)
                        wlog_debug(name, "cgroup removal failed: %s", strerror(-r));
        }
        q = rm_rf_at(d->workloads_fd, name);
        if (q < 0 && r == 0)
                r = q;
        return r;
}

static int limits_from_spec(const Spec *spec, CgroupLimits *ret)
{
        *ret = (CgroupLimits){ .memory_bytes = spec->memory_bytes, .cpu_millis = spec->cpu_millis,
                               .pids = spec->pids, .cpu_weight = spec->cpu_weight,
                               .memory_high_bytes = spec->memory_high_bytes, .swap_bytes = spec->swap_bytes,
                               .io_weight = spec->io_weight };
        return 0;
}

static int container_update(Driver *d, const Spec *spec, BerthError *err)
{
        CgroupLimits lim;
        int r;

        if (!d->cg)
                return berth_error_set(err, d->cg_error ? d->cg_error : -EOPNOTSUPP, "",
                                       "no usable cgroup hierarchy at %s", d->cgroup_root);
        limits_from_spec(spec, &lim);
        r = d->cg->create(d->cgroup_root, d->cgroup_parent, spec->name, &lim);
        if (r == -EBUSY)
                return berth_error_set(err, r, "spec.resources.memory",
                                       "the workload uses more memory than the new limit");
        if (r < 0)
                return berth_error_set(err, r, "", "cannot update the %s cgroup: %s", d->cg->name, strerror(-r));
        wlog_debug(spec->name, "cgroup limits updated");
        return 0;
}

static int container_freeze(Driver *d, const char *name, bool frozen, BerthError *err)
{
        int r;

        if (!spec_name_is_valid(name))
                return berth_error_set(err, -EINVAL, "", "bad workload name");
        if (!d->cg)
                return berth_error_set(err, d->cg_error ? d->cg_error : -EOPNOTSUPP, "",
                                       "no usable cgroup hierarchy at %s", d->cgroup_root);
        r = d->cg->freeze(d->cgroup_root, d->cgroup_parent, name, frozen);
        if (r < 0)
                return berth_error_set(err, r, "", "cannot %s the workload: %s", frozen ? "freeze" : "thaw",
                                       strerror(-r));
        return 0;
}

static int container_pause(Driver *d, const char *name, BerthError *err)
{
        return container_freeze(d, name, true, err);
}

static int container_resume(Driver *d, const char *name, BerthError *err)
{
        return container_freeze(d, name, false, err);
}

static int container_exec(Driver *d, const char *name, const DriverRun *run, char **argv, int stdin_fd,
                          int stdout_fd, int stderr_fd, int tty_fd, int *ret_pidfd, int *ret_status_fd,
                          BerthError *err)
{
        _cleanup_free_ char *cg = NULL;
        int r;

        if (!d->cg)
                return berth_error_set(err, -EOPNOTSUPP, "", "no usable cgroup hierarchy");
        r = container_exec_spawn(d->cgroup_root, d->cgroup_parent, d->cg, d->workloads_fd, name, run, argv,
                                 stdin_fd, stdout_fd, stderr_fd, tty_fd, ret_pidfd, ret_status_fd);
        if (r < 0)
                return berth_error_set(err, r, "", "exec in \"%s\" failed: %s", name, strerror(-r));
        return 0;
}

const DriverOps container_driver_ops = {
        .name = "container",
        .isolation = ISOLATION_CONTAINER,
        .new = container_new,
        .free = container_free,
        .prepare = container_prepare,
        .start = container_start,
        .start_finish = container_start_finish,
        .warm = container_warm,
        .adopt = container_adopt,
        .kill = container_kill,
        .read_exit = container_read_exit,
        .stats = container_stats,
        .reset = container_reset,
        .remove = container_remove,
        .update = container_update,
        .pause = container_pause,
        .resume = container_resume,
        .exec = container_exec,
};
