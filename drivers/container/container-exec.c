/* SPDX-License-Identifier: Apache-2.0 */
/* exec into a running container (see container-exec.h). */
#include <fcntl.h>
#include <grp.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "drivers/container/container-exec.h"
#include "drivers/container/container-files.h"
#include "drivers/shim/shim-security.h"

extern char **environ;

static const struct {
        int flag;
        const char *name;
} ns_kinds[] = {
        { CLONE_NEWUSER, "user" }, { CLONE_NEWNS, "mnt" },  { CLONE_NEWPID, "pid" },   { CLONE_NEWUTS, "uts" },
        { CLONE_NEWIPC, "ipc" },   { CLONE_NEWNET, "net" }, { CLONE_NEWCGROUP, "cgroup" },
};

/* The namespaces of pid that differ from ours: setns to one's own user
 * namespace is an error, the others would be harmless but pointless. */
static int ns_flags_of(pid_t pid, int *ret)
{
        int flags = 0;

        for (size_t i = 0; i < ELEMENTSOF(ns_kinds); i++) {
                char a[64], b[64];
                struct stat sa, sb;

                snprintf(a, sizeof(a), "/proc/self/ns/%s", ns_kinds[i].name);
                snprintf(b, sizeof(b), "/proc/%d/ns/%s", (int)pid, ns_kinds[i].name);
                if (stat(a, &sa) < 0 || stat(b, &sb) < 0)
                        return -errno;
                if (sa.st_ino != sb.st_ino || sa.st_dev != sb.st_dev)
                        flags |= ns_kinds[i].flag;
        }
        *ret = flags;
        return 0;
}

static _noreturn_ void exec_child(const ShimSecurity *sec, char **argv, int in, int out, int errfd, int tty)
{
        static char *const default_env[] = {
                (char *)"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", NULL
        };

        if (setsid() < 0)
                _exit(126);
        if (tty >= 0) {
                if (ioctl(tty, TIOCSCTTY, 0) < 0)
                        _exit(126);
                in = out = errfd = tty;
        }
        if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(errfd, 2) < 0)
                _exit(126);
        if (chdir("/") < 0)
                _exit(126);
        (void)close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
        if (shim_security_apply(sec) < 0)
                _exit(126);
        environ = (char **)default_env;
        execvp(argv[0], argv);
        _exit(errno == ENOENT ? 127 : 126);
}

int container_exec_spawn(const char *cgroup_root, const char *cgroup_parent, const CgroupOps *cg, int workloads_fd,
                         const char *name, const DriverRun *run, char **argv, int stdin_fd, int stdout_fd,
                         int stderr_fd, int tty_fd, int *ret_pidfd, int *ret_status_fd)
{
        _cleanup_close_ int target = -EBADF, dfd = -EBADF;
        ShimSecurity sec;
        uint64_t st;
        int flags = 0, pidfd = -EBADF, sp[2], r;
        pid_t pid;

        if (!run || run->pid <= 0 || !argv || !argv[0])
                return -EINVAL;
        target = pidfd_open(run->pid, 0);
        if (target < 0)
                return -errno;
        r = proc_start_time(run->pid, &st);
        if (r < 0)
                return r;
        if (st != run->pid_start_time)
                return -ESRCH;
        r = ns_flags_of(run->pid, &flags);
        if (r < 0)
                return r;
        dfd = openat(workloads_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (dfd < 0)
                return -errno;
        r = shim_security_load(dfd, &sec);
        if (r < 0)
                return r;

        if (pipe2(sp, O_CLOEXEC) < 0)
                return -errno;
        struct clone_args args = { .flags = CLONE_PIDFD, .pidfd = (uint64_t)(uintptr_t)&pidfd,
                                   .exit_signal = SIGCHLD };
        pid = (pid_t)syscall(SYS_clone3, &args, sizeof(args));
        if (pid < 0) {
                r = -errno;
                safe_close(sp[0]);
                safe_close(sp[1]);
                return r;
        }
        if (pid == 0) {
                siginfo_t si = {};
                sigset_t none;
                pid_t c;

                sigemptyset(&none);
                sigprocmask(SIG_SETMASK, &none, NULL);
                for (int s = 1; s < NSIG; s++)
                        if (s != SIGKILL && s != SIGSTOP)
                                (void)signal(s, SIG_DFL);
                /* The cgroup first: after setns into the cgroup namespace
                 * the host path would no longer resolve. */
                if (cg->attach(cgroup_root, cgroup_parent, name, 0) < 0) /* single-threaded: cgroup.h */
                        _exit(126);
                if (setns(target, flags) < 0)
                        _exit(126);
                /* In the workload's user namespace, be its root. */
                if ((flags & CLONE_NEWUSER) &&
                    (setgroups(0, NULL) < 0 || setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0))
                        _exit(126);
                /* CLONE_NEWPID applies to children only. */
                c = fork();
                if (c < 0)
                        _exit(126);
                if (c == 0)
                        exec_child(&sec, argv, stdin_fd, stdout_fd, stderr_fd, tty_fd);
                /* Let the terminal/pipes belong to the command alone: the
                 * helper is a copy of berthd and holds every one of its
                 * fds, among them the write end of the command's stdin,
                 * which would keep the command from ever seeing EOF. */
                if (sp[1] > 0)
                        (void)close_range(0, (unsigned)sp[1] - 1, 0);
                (void)close_range((unsigned)sp[1] + 1, ~0U, 0);
                if (waitid(P_PID, (id_t)c, &si, WEXITED) < 0)
                        _exit(126);
                int code = si.si_code == CLD_EXITED ? si.si_status : 128 + si.si_status;
                (void)!write(sp[1], &code, sizeof(code));
                _exit(code);
        }
        safe_close(sp[1]);
        (void)fcntl(sp[0], F_SETFL, O_NONBLOCK);
        *ret_pidfd = pidfd;
        *ret_status_fd = sp[0];
        return 0;
}
