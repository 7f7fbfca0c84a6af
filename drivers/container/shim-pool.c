/* SPDX-License-Identifier: Apache-2.0 */
/* Starting berth-shim, and the pool of one shim started ahead (shim-pool.h). */
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "drivers/container/container-files.h"
#include "drivers/container/shim-pool.h"
#include "drivers/start-gate.h"
#include "lib/util.h"

extern char **environ;

#define POOL_FDS 3 /* stdin/stdout, stderr, start report; then the start gate, if any */

/* posix_spawn, not fork: glibc's vfork-style clone copies none of berthd's
 * page tables, which two forks of the daemon (the old double fork) did at
 * every start. berthd is the subreaper that reaps the shim. */
int shim_spawn(const char *shim, const char *arg, const char *arg2, int fd3, int gate_fd, int null_fd,
               int err_fd, pid_t *ret)
{
        char *argv[] = { (char *)shim, (char *)arg, (char *)arg2, NULL };
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t at;
        sigset_t none, dfl;
        int r;

        sigemptyset(&none);
        sigfillset(&dfl);
        sigdelset(&dfl, SIGKILL);
        sigdelset(&dfl, SIGSTOP);
        r = posix_spawn_file_actions_init(&fa);
        if (r != 0)
                return -r;
        r = posix_spawnattr_init(&at);
        if (r != 0) {
                posix_spawn_file_actions_destroy(&fa);
                return -r;
        }
        /* 0-2 first: their sources are berthd's fds >= 3, which dup2 onto 3
         * can then clobber no longer. */
        if ((r = posix_spawn_file_actions_adddup2(&fa, null_fd, 0)) == 0 &&
            (r = posix_spawn_file_actions_adddup2(&fa, null_fd, 1)) == 0 &&
            (r = posix_spawn_file_actions_adddup2(&fa, err_fd, 2)) == 0 &&
            (r = posix_spawn_file_actions_adddup2(&fa, fd3, SHIM_NOTIFY_FD)) == 0 &&
            (gate_fd < 0 || (r = posix_spawn_file_actions_adddup2(&fa, gate_fd, SHIM_GATE_FD)) == 0) &&
            (r = posix_spawn_file_actions_addclosefrom_np(&fa, gate_fd < 0 ? SHIM_NOTIFY_FD + 1
                                                                           : SHIM_GATE_FD + 1)) == 0 &&
            (r = posix_spawnattr_setsigmask(&at, &none)) == 0 &&
            (r = posix_spawnattr_setsigdefault(&at, &dfl)) == 0 &&
            (r = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK |
                                                       POSIX_SPAWN_SETSIGDEF)) == 0)
                r = posix_spawn(ret, shim, &fa, &at, argv, environ);
        posix_spawnattr_destroy(&at);
        posix_spawn_file_actions_destroy(&fa);
        return -r;
}

int shim_pool_fill(ShimPool *p, const char *shim, size_t dir_max)
{
        _cleanup_close_ int null_fd = -EBADF;
        _cleanup_free_ char *pad = NULL;
        int sv[2], r;
        pid_t pid;

        if (p->sock >= 0)
                return 0;
        /* Room for the directory in the shim's command line (see
         * shim_pool_set_cmdline): blanks, which ps shows as nothing. */
        pad = malloc(dir_max + 1);
        if (!pad)
                return -ENOMEM;
        memset(pad, ' ', dir_max);
        pad[dir_max] = 0;
        null_fd = open("/dev/null", O_RDWR | O_CLOEXEC | O_NOCTTY);
        if (null_fd < 0)
                return -errno;
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
                return -errno;
        /* Until it has a workload the shim has nothing to say: stderr too is
         * /dev/null, and shim.log replaces it at the hand-over. */
        r = shim_spawn(shim, SHIM_POOLED_ARG, pad, sv[1], -EBADF, null_fd, null_fd, &pid);
        safe_close(sv[1]);
        if (r < 0) {
                safe_close(sv[0]);
                return r;
        }
        p->sock = sv[0];
        p->pid = pid;
        return 0;
}

int shim_pool_take(ShimPool *p, const char *dir, int null_fd, int err_fd, int notify_w, int gate_r, pid_t *ret)
{
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE((POOL_FDS + 1) * sizeof(int))];
        } u = {};
        int fds[POOL_FDS + 1] = { null_fd, err_fd, notify_w, gate_r };
        size_t nfds = gate_r >= 0 ? POOL_FDS + 1 : POOL_FDS;
        struct iovec iov = { .iov_base = (void *)dir, .iov_len = strlen(dir) };
        struct msghdr m = { .msg_iov = &iov,
                            .msg_iovlen = 1,
                            .msg_control = u.buf,
                            .msg_controllen = CMSG_SPACE(nfds * sizeof(int)) };
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        ssize_t n;

        if (p->sock < 0)
                return -EAGAIN;
        if (iov.iov_len == 0 || iov.iov_len >= PATH_MAX)
                return -ENAMETOOLONG;
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
        memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
        do
                n = sendmsg(p->sock, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
        while (n < 0 && errno == EINTR);
        /* Whatever the outcome, this shim is used up: one that did not take
         * the message (it died: EPIPE) reads end-of-file now and is gone. */
        pid_t pid = p->pid;
        p->sock = safe_close(p->sock);
        p->pid = 0;
        if (n < 0)
                return -EAGAIN;
        if ((size_t)n != iov.iov_len)
                return -EIO; /* cannot happen on SOCK_SEQPACKET */
        *ret = pid;
        return 0;
}

void shim_pool_drain(ShimPool *p)
{
        _cleanup_close_ int pidfd = -EBADF;

        if (p->sock < 0)
                return;
        /* The pidfd first: once the socket is closed the shim exits, and
         * berthd's SIGCHLD handler may reap it before this looks. */
        pidfd = pidfd_open(p->pid, 0);
        p->sock = safe_close(p->sock);
        /* Reap it here rather than leave it to whoever inherits it: it exits
         * on end-of-file at once (bounded wait all the same). */
        if (pidfd >= 0 && poll(&(struct pollfd){ .fd = pidfd, .events = POLLIN }, 1, 1000) > 0)
                (void)waitid(P_PIDFD, (id_t)pidfd, &(siginfo_t){}, WEXITED | WNOHANG);
        p->pid = 0;
}

int shim_pool_receive(int sock, char **ret, int *ret_gate)
{
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE((POOL_FDS + 2) * sizeof(int))];
        } u;
        char path[PATH_MAX];
        struct iovec iov = { .iov_base = path, .iov_len = sizeof(path) };
        struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
        int fds[POOL_FDS + 1], nfds = 0, r = 0;
        ssize_t n;

        *ret = NULL;
        *ret_gate = -EBADF;
        do
                n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
                if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                        continue;
                size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                for (size_t i = 0; i < k; i++) {
                        int fd;
                        memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                        if (nfds < POOL_FDS + 1)
                                fds[nfds++] = fd;
                        else {
                                safe_close(fd);
                                r = -EBADMSG;
                        }
                }
        }
        if (n == 0 && nfds == 0)
                return 0; /* end-of-file: not needed */
        if (r == 0 && (nfds < POOL_FDS || (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || n == 0 ||
                       (size_t)n >= sizeof(path) || memchr(path, 0, (size_t)n) || path[0] != '/'))
                r = -EBADMSG;
        if (r == 0) {
                path[n] = 0;
                /* stdin/stdout, stderr, then the report pipe over the socket */
                if (dup2(fds[0], 0) < 0 || dup2(fds[0], 1) < 0 || dup2(fds[1], 2) < 0 ||
                    dup2(fds[2], SHIM_NOTIFY_FD) < 0)
                        r = -errno;
                else if (!(*ret = strdup(path)))
                        r = -ENOMEM;
        }
        /* The gate stays where it was received (O_CLOEXEC): fd 4 may be
         * taken by what the shim made while it waited. */
        if (r == 0 && nfds == POOL_FDS + 1)
                *ret_gate = fds[--nfds];
        for (int i = 0; i < nfds; i++)
                if (fds[i] > SHIM_NOTIFY_FD)
                        safe_close(fds[i]);
        return r;
}

void shim_pool_set_cmdline(int argc, char *argv[], const char *dir)
{
        char *area, *end;
        size_t n = strlen(dir);

        if (argc != 3)
                return; /* spawned without the pad */
        area = argv[1];
        end = argv[2] + strlen(argv[2]) + 1;
        /* exec lays the argument strings out one after the other */
        if (argv[2] != area + strlen(area) + 1 || n >= (size_t)(end - area))
                return;
        memcpy(area, dir, n);
        memset(area + n, 0, (size_t)(end - area) - n);
}
