/* SPDX-License-Identifier: Apache-2.0 */
/* berth-shim: the per-workload supervisor. Usage: berth-shim <workload-dir>
 * with the start-report pipe on fd 3 (docs/CONTAINER.md), or berth-shim
 * --pooled, started ahead, which gets both from berthd over fd 3 when a
 * workload starts (drivers/container/shim-pool.h).
 *
 * It reads config.json, clones the workload init into new namespaces, puts it
 * into its cgroups, writes state.json and the start report, then pumps the
 * init's stdout/stderr into the log until the init is gone, and records the
 * exit in exit.json before exiting. It lives in its own session and outlives
 * berthd. */
#include <fcntl.h>
#include <jansson.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "drivers/container/cgroup.h"
#include "drivers/container/container-files.h"
#include "drivers/container/shim-pool.h"
#include "drivers/start-gate.h"
#include "drivers/net/net.h"
#include "drivers/shim/shim-init.h"
#include "drivers/shim/shim-reserve.h"
#include "drivers/shim/shim-vm.h"
#include "lib/log.h"
#include "lib/logfile.h"

static void log_writer_freep(LogWriter **w)
{
        log_writer_free(*w);
}

void notify(int *fd, bool ok, int error, pid_t pid, const char *message)
{
        json_t *j;
        char *s;

        if (*fd < 0)
                return;
        if (ok)
                j = json_pack("{s:b, s:i}", "ok", 1, "pid", (int)pid);
        else
                j = json_pack("{s:b, s:i, s:s}", "ok", 0, "errno", error, "message", message);
        s = j ? json_dumps(j, JSON_COMPACT) : NULL;
        if (s) {
                /* One write of less than PIPE_BUF: the reader sees all or nothing. */
                size_t l = strlen(s);
                char *line = malloc(l + 2);
                if (line) {
                        memcpy(line, s, l);
                        line[l] = '\n';
                        (void)write_all(*fd, line, l + 1);
                        free(line);
                }
        }
        free(s);
        json_decref(j);
        *fd = safe_close(*fd);
}

/* Records a failed start: exit.json, a line in the log, the report. */
int fail_start(int dirfd, LogWriter *w, int *notify_fd, int exit_code, int error, const char *fmt, ...)
{
        DriverExit e = { .exit_code = exit_code, .finished_at = now_usec(CLOCK_REALTIME) };
        va_list ap;
        int r;

        va_start(ap, fmt);
        vsnprintf(e.message, sizeof(e.message), fmt, ap);
        va_end(ap);
        snprintf(e.reason, sizeof(e.reason), "StartFailed");
        if (w) {
                (void)log_writer_write(w, LOG_STREAM_STDERR, e.message, strlen(e.message));
                (void)log_writer_write(w, LOG_STREAM_STDERR, "\n", 1);
                (void)log_writer_flush(w);
        }
        r = driver_exit_write(dirfd, &e, true);
        if (r < 0)
                log_error_errno(r, "Cannot write exit.json: %m");
        notify(notify_fd, false, error, 0, e.message);
        return exit_code;
}

/* cgroup_fd >= 0: the child starts in that cgroup (CLONE_INTO_CGROUP). */
static pid_t clone_init(unsigned long flags, int cgroup_fd, int *ret_pidfd)
{
        struct clone_args args = {
                .flags = flags | CLONE_PIDFD | (cgroup_fd >= 0 ? CLONE_INTO_CGROUP : 0),
                .pidfd = (uint64_t)(uintptr_t)ret_pidfd,
                .exit_signal = SIGCHLD,
                .cgroup = cgroup_fd >= 0 ? (uint64_t)cgroup_fd : 0,
        };
        return (pid_t)syscall(SYS_clone3, &args, sizeof(args));
}

/* True while the berthd that started this run holds the read end of its
 * start-report pipe (on a pipe's write end, poll reports POLLERR once no
 * reader is left). That berthd records the exit with an fsync of its own
 * before anyone hears of it, so exit.json can do without: one device flush
 * on the exit path instead of three (agent/manager.c). */
static bool berthd_watching(int fd)
{
        struct pollfd p = { .fd = fd, .events = POLLOUT };

        if (fd < 0)
                return false;
        return poll(&p, 1, 0) >= 0 && !(p.revents & (POLLERR | POLLHUP | POLLNVAL));
}

/* Ends an init that has not been released to exec, and reaps it. */
static void kill_init(int pidfd, pid_t pid)
{
        (void)syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
        (void)waitpid(pid, NULL, 0);
}

static int open_proc_ns(pid_t pid, const char *ns)
{
        char p[64];

        snprintf(p, sizeof(p), "/proc/%d/ns/%s", (int)pid, ns);
        return open(p, O_RDONLY | O_CLOEXEC);
}

static uint64_t oom_count(const CgroupOps *cg, const ShimConfig *c)
{
        uint64_t n;

        if (!cg || cg->oom_kills(c->cgroup_root, c->cgroup_parent, c->name, &n) < 0)
                return 0;
        return n;
}

typedef struct Pump {
        int fd;
        LogStream stream;
} Pump;

static void pump_read(Pump *p, LogWriter *w)
{
        char buf[65536];
        ssize_t n;

        n = read(p->fd, buf, sizeof(buf));
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
                return;
        if (n <= 0) {
                p->fd = safe_close(p->fd);
                return;
        }
        (void)log_writer_write(w, p->stream, buf, (size_t)n);
}

int main(int argc, char *argv[])
{
        _cleanup_(shim_config_freep) ShimConfig *c = NULL;
        _cleanup_(log_writer_freep) LogWriter *w = NULL;
        _cleanup_(json_decrefp) json_t *config = NULL;
        _cleanup_free_ char *pooled_dir = NULL;
        _cleanup_close_ int dirfd = -EBADF, null_fd = -EBADF, pidfd = -EBADF, sfd = -EBADF, cgfd = -EBADF,
                            netns = -EBADF, bpf_ahead = -EBADF, watch_fd = -EBADF, gate = -EBADF,
                            mntns = -EBADF;
        int notify_fd = SHIM_NOTIFY_FD;
        int out[2], errp[2], sync[2], ep[2], usp[2] = { -EBADF, -EBADF }, bpf[2] = { -EBADF, -EBADF };
        const CgroupOps *cg = NULL;
        uint64_t oom_before;
        unsigned long flags;
        sigset_t mask;
        ShimState st = {};
        ShimSecurity sec;
        InitError ie;
        bool is_vm;
        ssize_t n;
        pid_t pid;
        int r;

        log_set_ident("berth-shim");
        if (argc < 2 || argc > 3 || (argc == 3 && !streq(argv[1], SHIM_POOLED_ARG))) {
                fprintf(stderr, "usage: berth-shim WORKLOAD-DIR (start report on fd 3)\n"
                                "       berth-shim " SHIM_POOLED_ARG " [PAD] (the workload comes over fd 3)\n");
                return 2;
        }
        /* Spawned for a gated start: the gate is on fd 4 (start-gate.h). */
        if (!streq(argv[1], SHIM_POOLED_ARG) && fcntl(SHIM_GATE_FD, F_SETFD, FD_CLOEXEC) >= 0)
                gate = SHIM_GATE_FD;
        if (streq(argv[1], SHIM_POOLED_ARG)) {
                /* While it waits: the network namespace of the run to come
                 * (used unless the run wants the host's, or a user namespace
                 * that must own its netns). */
                netns = shim_netns_make();
                if (netns == -ENOTRECOVERABLE) {
                        log_error("Cannot return to the shim's own network namespace");
                        return 1;
                }
                bpf_ahead = shim_seccomp_precompile(); /* failing that, compiled at the start */
                r = shim_pool_receive(SHIM_NOTIFY_FD, &pooled_dir, &gate);
                if (r < 0 || !pooled_dir) {
                        if (r < 0)
                                log_error_errno(r, "Bad hand-over from berthd: %m");
                        return r < 0 ? 1 : 0;
                }
                shim_pool_set_cmdline(argc, argv, pooled_dir);
                argv[1] = pooled_dir;
                argv[2] = NULL; /* as if spawned with the directory */
        }
        dirfd = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dirfd < 0) {
                r = -errno;
                notify(&notify_fd, false, -r, 0, "cannot open the workload directory");
                return 1;
        }
        is_vm = faccessat(dirfd, SHIM_VM_CONFIG_FILE, F_OK, 0) >= 0;
        if (is_vm) {
                /* A microVM's start waits for berthd's word before anything. */
                if (start_gate_wait(&gate) < 0)
                        return 0;
                (void)shim_vm_libvirt_reexec(argv); /* a libvirt VM: berth-shim-libvirt from here */
        }
        if (fcntl(notify_fd, F_GETFD) < 0)
                notify_fd = -EBADF;
        else
                (void)fcntl(notify_fd, F_SETFD, FD_CLOEXEC);
        signal(SIGHUP, SIG_IGN);
        signal(SIGPIPE, SIG_IGN);
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigprocmask(SIG_BLOCK, &mask, NULL);

        r = shim_config_read(dirfd, &c, &config);
        if (r < 0)
                return fail_start(dirfd, NULL, &notify_fd, 126, -r, "read config.json: %s", strerror(-r));
        c->workload_dir = argv[1]; /* the init bind-mounts hosts and resolv.conf from here */
        r = log_writer_open(dirfd, c->log_max_bytes, &w);
        if (r < 0)
                return fail_start(dirfd, NULL, &notify_fd, 126, -r, "open log: %s", strerror(-r));
        r = shim_security_from_config(config, &sec);
        if (r < 0)
                return fail_start(dirfd, w, &notify_fd, 126, -r, "security policy in config.json: %s", strerror(-r));
        r = cgroup_detect(c->cgroup_root, &cg);
        if (r < 0)
                return fail_start(dirfd, w, &notify_fd, 126, -r, "no cgroup hierarchy at %s: %s", c->cgroup_root,
                                  strerror(-r));
        oom_before = oom_count(cg, c);
        if (is_vm) {
                netns = safe_close(netns);
                bpf_ahead = safe_close(bpf_ahead);
                return shim_vm_run(dirfd, c, w, cg, &notify_fd); /* isolation: vm (shim-vm.c) */
        }

        /* The default capabilities' filter was compiled ahead (pooled).
         * Otherwise, who compiles it while the other works: the shim while
         * the init mounts its rootfs, or in bridge mode the init while the
         * shim builds the network (the longer of the two). */
        if (sec.seccomp && bpf_ahead >= 0 && sec.caps == shim_default_caps())
                sec.seccomp_fd = bpf_ahead;
        bool shim_compiles = sec.seccomp && sec.seccomp_fd < 0 && !c->bridge_network;
        null_fd = open("/dev/null", O_RDWR | O_CLOEXEC | O_NOCTTY);
        if (null_fd < 0)
                return fail_start(dirfd, w, &notify_fd, 126, errno, "open /dev/null: %m");
        if (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0 || pipe2(sync, O_CLOEXEC) < 0 ||
            pipe2(ep, O_CLOEXEC) < 0 || (shim_compiles && pipe2(bpf, O_CLOEXEC) < 0))
                return fail_start(dirfd, w, &notify_fd, 126, errno, "pipe: %m");
        if (shim_compiles)
                sec.seccomp_fd = bpf[0];

        flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC;
        if (c->host_network || sec.user_namespace)
                netns = safe_close(netns); /* a netns of the user namespace's own, or none */
        if (!c->host_network && netns < 0)
                flags |= CLONE_NEWNET;
        if (sec.user_namespace) {
                /* The init's rootfs (an idmapped tree) travels on this pair. */
                if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, usp) < 0)
                        return fail_start(dirfd, w, &notify_fd, 126, errno, "socketpair: %m");
                sec.userns_sock = usp[1];
                flags |= CLONE_NEWUSER;
        }
        /* The init is born in its cgroup where it can be (cgroup2); else it
         * joins it itself, first thing (cgroup.h: attach with pid 0). */
        cgfd = cg->clone_fd(c->cgroup_root, c->cgroup_parent, c->name);
        pid = clone_init(flags, cgfd, &pidfd);
        if (pid < 0 && cgfd >= 0) {
                cgfd = safe_close(cgfd); /* a kernel without CLONE_INTO_CGROUP (< 5.7) */
                pid = clone_init(flags, -EBADF, &pidfd);
        }
        if (pid < 0)
                return fail_start(dirfd, w, &notify_fd, 126, errno, "clone: %m");
        if (pid == 0) {
                sigset_t none;

                sigemptyset(&none);
                sigprocmask(SIG_SETMASK, &none, NULL);
                signal(SIGHUP, SIG_DFL);
                signal(SIGPIPE, SIG_DFL);
                if (dup2(null_fd, 0) < 0 || dup2(out[1], 1) < 0 || dup2(errp[1], 2) < 0)
                        _exit(126);
                safe_close(bpf[1]); /* the filter is read to its end */
                shim_init_run(c, &sec, cgfd >= 0 ? NULL : cg, netns, sync[0], ep[1]);
        }
        /* Held until berthd has heard of the exit: then the namespace's
         * teardown (~0.1 ms: every mount of the container) is not part of
         * the init's exit, which we wait for, but of ours. */
        mntns = open_proc_ns(pid, "mnt");
        safe_close(out[1]);
        safe_close(errp[1]);
        safe_close(sync[0]);
        safe_close(ep[1]);
        safe_close(bpf[0]);
        bpf_ahead = safe_close(bpf_ahead); /* the init reads its own copy */
        if (sec.user_namespace) {
                safe_close(usp[1]);
                sec.userns_sock = usp[0];
                r = shim_userns_parent(&sec, pid, c->rootfs);
                safe_close(usp[0]);
                if (r < 0) {
                        kill_init(pidfd, pid);
                        return fail_start(dirfd, w, &notify_fd, 126, -r, "user namespace: %s", strerror(-r));
                }
        }

        cgfd = safe_close(cgfd);
        /* Bridge mode: the init waits on the sync pipe inside its new netns,
         * so its eth0 is made and configured before anything of the
         * workload runs (docs/NETWORK.md). */
        if (c->bridge_network) {
                NetAttach na;

                if (netns < 0)
                        netns = open_proc_ns(pid, "net");
                r = netns < 0 ? -errno : net_attach_read(dirfd, &na);
                if (r >= 0)
                        r = net_attach(&na, netns);
                if (r < 0) {
                        kill_init(pidfd, pid);
                        return fail_start(dirfd, w, &notify_fd, 126, -r, "bridge network: %s", strerror(-r));
                }
        }
        netns = safe_close(netns); /* the init holds it now; it goes with the init */
        if (shim_compiles) {
                r = shim_seccomp_export(&sec, bpf[1]);
                safe_close(bpf[1]);
                if (r < 0) {
                        kill_init(pidfd, pid);
                        return fail_start(dirfd, w, &notify_fd, 126, -r, "seccomp filter: %s", strerror(-r));
                }
        }
        /* Everything is set up; nothing of the workload has run. A gated
         * start goes on only once berthd's record of it is durable. */
        r = start_gate_wait(&gate);
        if (r < 0) {
                kill_init(pidfd, pid);
                log_info("berthd cancelled the start: the workload was not recorded");
                return 0;
        }
        /* Release the child and learn whether its exec worked: the error
         * pipe closes on a successful exec, or carries what failed. */
        (void)write_all(sync[1], "1", 1);
        safe_close(sync[1]);
        do
                n = read(ep[0], &ie, sizeof(ie));
        while (n < 0 && errno == EINTR);
        safe_close(ep[0]);
        if (n != 0) {
                int code = 126;

                if (n != (ssize_t)sizeof(ie))
                        ie = (InitError){ .stage = INIT_STAGE_EXEC, .error = EIO };
                (void)waitpid(pid, NULL, 0);
                /* drain what the child printed before failing */
                Pump pumps[2] = { { out[0], LOG_STREAM_STDOUT }, { errp[0], LOG_STREAM_STDERR } };
                for (size_t i = 0; i < 2; i++)
                        while (pumps[i].fd >= 0)
                                pump_read(&pumps[i], w);
                if (ie.stage == INIT_STAGE_EXEC && ie.error == ENOENT)
                        code = 127;
                if (ie.stage == INIT_STAGE_EXEC)
                        return fail_start(dirfd, w, &notify_fd, code, ie.error, "exec %s: %s", c->argv[0],
                                          strerror(ie.error));
                return fail_start(dirfd, w, &notify_fd, code, ie.error, "%s: %s",
                                  init_stage_to_string((InitStage)ie.stage), strerror(ie.error));
        }

        st.shim_pid = getpid();
        st.pid = pid;
        st.started_at = now_usec(CLOCK_REALTIME);
        (void)proc_start_time(st.shim_pid, &st.shim_start_time);
        (void)proc_start_time(pid, &st.pid_start_time);
        (void)read_boot_id(st.boot_id);
        r = shim_state_write(dirfd, &st);
        if (r < 0) {
                /* Without state.json nobody could adopt the run: stop it. */
                kill_init(pidfd, pid);
                return fail_start(dirfd, w, &notify_fd, 126, -r, "write state.json: %s", strerror(-r));
        }
        if (notify_fd >= 0) /* berthd_watching() looks at it at the end */
                watch_fd = fcntl(notify_fd, F_DUPFD_CLOEXEC, 3);
        notify(&notify_fd, true, 0, pid, NULL);
        shim_exit_reserve(dirfd); /* exit.json can be written on a full disk */

        sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        Pump pumps[2] = { { out[0], LOG_STREAM_STDOUT }, { errp[0], LOG_STREAM_STDERR } };
        bool exited = false;
        siginfo_t si = {};
        usec_t drain_deadline = USEC_INFINITY;

        for (;;) {
                struct pollfd pfd[4] = {
                        { .fd = pumps[0].fd, .events = POLLIN },
                        { .fd = pumps[1].fd, .events = POLLIN },
                        { .fd = exited ? -1 : pidfd, .events = POLLIN },
                        { .fd = sfd, .events = POLLIN },
                };
                int timeout = -1;

                if (exited && pumps[0].fd < 0 && pumps[1].fd < 0)
                        break;
                if (exited) {
                        usec_t now = now_usec(CLOCK_MONOTONIC);
                        /* Every process of the pid namespace dies with its
                         * init, so the pipes close soon; do not hang if a
                         * stray holder keeps them open. */
                        if (now >= drain_deadline)
                                break;
                        timeout = (int)((drain_deadline - now) / USEC_PER_MSEC) + 1;
                }
                if (poll(pfd, ELEMENTSOF(pfd), timeout) < 0) {
                        if (errno == EINTR)
                                continue;
                        log_error_errno(errno, "poll: %m");
                        break;
                }
                for (size_t i = 0; i < 2; i++)
                        if (pfd[i].revents)
                                pump_read(&pumps[i], w);
                if (pfd[3].revents & POLLIN) {
                        struct signalfd_siginfo ssi;
                        while (read(sfd, &ssi, sizeof(ssi)) == (ssize_t)sizeof(ssi))
                                (void)syscall(SYS_pidfd_send_signal, pidfd, (int)ssi.ssi_signo, NULL, 0);
                }
                if (!exited && (pfd[2].revents & POLLIN)) {
                        if (waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED) >= 0) {
                                exited = true;
                                drain_deadline = now_usec(CLOCK_MONOTONIC) + 2 * USEC_PER_SEC;
                        }
                }
        }
        for (size_t i = 0; i < 2; i++)
                safe_close(pumps[i].fd);
        (void)log_writer_flush(w);

        DriverExit e = { .finished_at = now_usec(CLOCK_REALTIME) };
        char reserve[SHIM_EXIT_RESERVE_NAME_MAX];
        if (si.si_code == CLD_EXITED) {
                e.exit_code = si.si_status & 0xff;
                snprintf(e.reason, sizeof(e.reason), "%s", e.exit_code == 0 ? "Completed" : "Error");
        } else {
                e.term_signal = si.si_status;
                e.exit_code = 128 + si.si_status;
                snprintf(e.reason, sizeof(e.reason), "Signaled");
                snprintf(e.message, sizeof(e.message), "killed by signal %s", strsignal(si.si_status));
        }
        if (oom_count(cg, c) > oom_before) {
                e.oom_killed = true;
                snprintf(e.reason, sizeof(e.reason), "OOMKilled");
                snprintf(e.message, sizeof(e.message), "the kernel's OOM killer ran in the workload's cgroup");
        }
        r = shim_exit_write(dirfd, &e, !berthd_watching(watch_fd));
        if (r < 0) {
                log_error_errno(r, "Cannot write exit.json: %m");
                return 1;
        }
        (void)shim_exit_reserve_detach(dirfd, reserve);
        /* berthd records the exit from here on; our own exit, the reserve's
         * deletion and mntns's teardown run beside its commit. */
        if (watch_fd >= 0)
                (void)write_all(watch_fd, SHIM_EXIT_LINE, strlen(SHIM_EXIT_LINE));
        shim_exit_reserve_release(dirfd, reserve);
        return 0;
}
