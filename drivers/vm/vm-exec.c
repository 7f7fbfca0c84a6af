/* SPDX-License-Identifier: Apache-2.0 */
/* The VM driver's exec op: a helper child relays the caller's stdio fds to
 * berth-shim's exec socket (see vm-exec.h). */
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <termios.h>

#include "drivers/container/container-files.h"
#include "drivers/vm/vm-exec.h"
#include "drivers/vm/vm-frame.h"
#include "drivers/vm/vm-proto.h"

int vm_exec_connect(int dirfd)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int s;

        snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/%s", dirfd, VM_EXEC_SOCKET);
        s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (s < 0)
                return -errno;
        /* Non-blocking: a full backlog is an error, never a stall of berthd. */
        if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                int r = errno == EAGAIN ? -EBUSY : -errno;
                close(s);
                return r;
        }
        if (fcntl(s, F_SETFL, 0) < 0) {
                int r = -errno;
                close(s);
                return r;
        }
        return s;
}

/* Never SIGPIPE: a shim that refused the session may have closed already,
 * and its reason is still to be read. */
static int send_sock(int s, uint32_t type, const void *p, size_t n)
{
        VmFrameHeader h = {type, (uint32_t)n};
        int r = send_all(s, &h, sizeof(h));
        return r < 0 || n == 0 ? r : send_all(s, p, n);
}

static void keep_only(int *keep, size_t n)
{
        /* sort (a handful of fds), then close the gaps */
        for (size_t i = 1; i < n; i++)
                for (size_t j = i; j > 0 && keep[j - 1] > keep[j]; j--) {
                        int t = keep[j];
                        keep[j] = keep[j - 1];
                        keep[j - 1] = t;
                }
        unsigned lo = 0;
        for (size_t i = 0; i < n; i++) {
                if (keep[i] < 0)
                        continue;
                if ((unsigned)keep[i] > lo)
                        (void)close_range(lo, (unsigned)keep[i] - 1, 0);
                lo = (unsigned)keep[i] + 1;
        }
        (void)close_range(lo, ~0U, 0);
}

static void send_size(int sock, int tty)
{
        struct winsize ws;
        uint16_t rc[2];

        if (ioctl(tty, TIOCGWINSZ, &ws) < 0)
                return;
        rc[0] = ws.ws_row, rc[1] = ws.ws_col;
        (void)send_sock(sock, VM_FRAME_EXEC_RESIZE, rc, sizeof(rc));
}

static _noreturn_ void relay(int sock, int in, int out, int errfd, int tty, int status_fd, const VmKv *start)
{
        static char buf[sizeof(VmFrameHeader) + VM_FRAME_MAX];
        size_t len = 0;
        bool in_eof = false;
        int sfd = -1;
        sigset_t mask, none;

        sigemptyset(&none);
        for (int s = 1; s < NSIG; s++)
                if (s != SIGKILL && s != SIGSTOP)
                        (void)signal(s, SIG_DFL);
        if (tty >= 0) {
                struct termios t;

                in = out = errfd = tty;
                /* The guest's pty does the line discipline: this one is raw. */
                if (tcgetattr(tty, &t) >= 0) {
                        cfmakeraw(&t);
                        (void)tcsetattr(tty, TCSANOW, &t);
                }
                /* Controlling terminal, so that a resize reaches us as SIGWINCH. */
                if (setsid() >= 0 && ioctl(tty, TIOCSCTTY, 0) >= 0) {
                        sigemptyset(&mask);
                        sigaddset(&mask, SIGWINCH);
                        sigprocmask(SIG_BLOCK, &mask, NULL);
                        sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
                }
        } else
                sigprocmask(SIG_SETMASK, &none, NULL);
        if (send_sock(sock, VM_FRAME_EXEC_START, start->buf, start->len) < 0)
                in_eof = true; /* read what the shim said, then EOF */
        else if (tty >= 0)
                send_size(sock, tty);
        for (;;) {
                struct pollfd p[3] = {
                    {.fd = in_eof ? -1 : in, .events = POLLIN},
                    {.fd = sock, .events = POLLIN},
                    {.fd = sfd, .events = POLLIN},
                };

                if (poll(p, 3, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        _exit(126);
                }
                if (p[2].revents & POLLIN) {
                        struct signalfd_siginfo si;
                        while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
                                ;
                        send_size(sock, tty);
                }
                if (p[0].revents) {
                        char data[VM_EXEC_CHUNK];
                        ssize_t n = read(in, data, sizeof(data));
                        if (n < 0 && (errno == EINTR || errno == EAGAIN))
                                continue;
                        if (n <= 0) {
                                in_eof = true; /* EOF (or EIO of a pty): EOF for the command */
                                (void)send_sock(sock, VM_FRAME_EXEC_STDIN, NULL, 0);
                        } else if (send_sock(sock, VM_FRAME_EXEC_STDIN, data, (size_t)n) < 0)
                                in_eof = true; /* the session is ending: its EXIT or EOF follows */
                }
                if (!p[1].revents)
                        continue;
                ssize_t n = read(sock, buf + len, sizeof(buf) - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        _exit(126); /* no EXIT: the exec failed */
                len += (size_t)n;
                while (len >= sizeof(VmFrameHeader)) {
                        VmFrameHeader h;
                        memcpy(&h, buf, sizeof(h));
                        if (h.len > VM_FRAME_MAX)
                                _exit(126);
                        if (len < sizeof(h) + h.len)
                                break;
                        const char *d = buf + sizeof(h);
                        if (h.type == VM_FRAME_EXEC_STDOUT)
                                (void)write_all(out, d, h.len);
                        else if (h.type == VM_FRAME_EXEC_STDERR)
                                (void)write_all(errfd, d, h.len);
                        else if (h.type == VM_FRAME_EXEC_EXIT && h.len >= 4) {
                                int code;
                                int32_t c;
                                memcpy(&c, d, 4);
                                code = c & 0xff;
                                (void)!write(status_fd, &code, sizeof(code));
                                _exit(code);
                        }
                        memmove(buf, buf + sizeof(h) + h.len, len - sizeof(h) - h.len);
                        len -= sizeof(h) + h.len;
                }
        }
}

int vm_exec_spawn(int workloads_fd, const char *name, const DriverRun *run, char **argv, int stdin_fd,
                  int stdout_fd, int stderr_fd, int tty_fd, int *ret_pidfd, int *ret_status_fd,
                  BerthError *err)
{
        _cleanup_(shim_config_freep) ShimConfig *c = NULL;
        _cleanup_close_ int dfd = -EBADF, sock = -EBADF;
        VmKv kv = {.max = VM_FRAME_MAX};
        struct winsize ws = {};
        char num[16];
        int pidfd = -EBADF, sp[2], r = 0;
        pid_t pid;

        if (!run || !argv || !argv[0])
                return berth_error_set(err, -EINVAL, "", "exec needs a command");
        dfd = openat(workloads_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (dfd < 0)
                return berth_error_set(err, -errno, "", "cannot open the workload directory of \"%s\": %m",
                                       name);
        r = shim_config_read(dfd, &c, NULL);
        if (r < 0)
                return berth_error_set(err, r, "", "cannot read config.json of \"%s\": %s", name,
                                       strerror(-r));
        /* Like the workload's own command: its env and workingDir. */
        for (char **a = argv; r >= 0 && *a; a++)
                r = vm_kv_add(&kv, "arg", *a);
        for (char **e = c->env; r >= 0 && e && *e; e++)
                r = vm_kv_add(&kv, "env", *e);
        if (r >= 0)
                r = vm_kv_add(&kv, "cwd", c->working_dir ?: "/");
        if (r >= 0 && tty_fd >= 0) {
                r = vm_kv_add(&kv, "tty", "1");
                if (r >= 0 && ioctl(tty_fd, TIOCGWINSZ, &ws) >= 0 && ws.ws_row && ws.ws_col) {
                        snprintf(num, sizeof(num), "%u", ws.ws_row);
                        r = vm_kv_add(&kv, "rows", num);
                        snprintf(num, sizeof(num), "%u", ws.ws_col);
                        if (r >= 0)
                                r = vm_kv_add(&kv, "cols", num);
                }
        }
        if (r < 0) {
                vm_kv_done(&kv);
                return berth_error_set(err, r, "",
                                       r == -E2BIG
                                           ? "the command, environment and working directory exceed %u bytes"
                                           : "out of memory (%u)",
                                       VM_FRAME_MAX);
        }
        sock = vm_exec_connect(dfd);
        if (sock < 0) {
                vm_kv_done(&kv);
                r = sock;
                if (r == -ENOENT)
                        return berth_error_set(err, -EBUSY, "",
                                               "the VM \"%s\" is not running (no exec socket)", name);
                return berth_error_set(err, r == -ECONNREFUSED ? -EBUSY : r, "",
                                       "cannot reach berth-shim of the VM \"%s\" for exec: %s", name,
                                       strerror(-r));
        }
        if (pipe2(sp, O_CLOEXEC) < 0) {
                vm_kv_done(&kv);
                return berth_error_set(err, -errno, "", "pipe: %m");
        }
        struct clone_args args = {
            .flags = CLONE_PIDFD, .pidfd = (uint64_t)(uintptr_t)&pidfd, .exit_signal = SIGCHLD};
        pid = (pid_t)syscall(SYS_clone3, &args, sizeof(args));
        if (pid < 0) {
                r = -errno;
                safe_close(sp[0]);
                safe_close(sp[1]);
                vm_kv_done(&kv);
                return berth_error_set(err, r, "", "clone3: %s", strerror(-r));
        }
        if (pid == 0) {
                /* Only the stdio fds, the socket and the status pipe: the
                 * helper is a copy of berthd and holds all of its fds, among
                 * them the write end of the command's stdin. */
                int keep[] = {sock, stdin_fd, stdout_fd, stderr_fd, tty_fd, sp[1]};
                keep_only(keep, ELEMENTSOF(keep));
                relay(sock, stdin_fd, stdout_fd, stderr_fd, tty_fd, sp[1], &kv);
        }
        vm_kv_done(&kv);
        safe_close(sp[1]);
        (void)fcntl(sp[0], F_SETFL, O_NONBLOCK);
        *ret_pidfd = pidfd;
        *ret_status_fd = sp[0];
        return 0;
}
