/* SPDX-License-Identifier: Apache-2.0 */
/* drivers/container/shim-pool.c: the hand-over of a workload to a pooled
 * shim (a forked stand-in runs shim_pool_receive on fd 3), with and without
 * a start gate (drivers/start-gate.h: go, and cancel), the messages it
 * must refuse, an empty or dead pool, the command line rewrite, and with argv[1] (the built berth-shim)
 * a real pooled shim that exits and is reaped when the pool is drained. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "drivers/container/shim-pool.h"
#include "drivers/start-gate.h"
#include "lib/util.h"
#include "test-util.h"

enum { RECV_OK = 0, RECV_EOF = 10, RECV_BADMSG = 11, RECV_ERR = 12, RECV_LEAK = 13 };

/* Forks a stand-in for `berth-shim --pooled`: sock on fd 3 and nothing else
 * above stdio. On a hand-over it writes "out" to fd 1, "err" to fd 2 and the
 * directory to fd 3, each as received; with a gate, then what the gate says
 * ("go" or "cancel") to fd 1. */
static pid_t receiver(int sock)
{
        pid_t pid = fork();

        if (pid != 0)
                return pid;
        int s = fcntl(sock, F_DUPFD, 100);
        if (s < 0 || close_range(3, 99, 0) < 0 || dup2(s, 3) < 0 || close_range(4, ~0U, 0) < 0)
                _exit(99);
        char *dir = NULL;
        int gate = -EBADF;
        int r = shim_pool_receive(3, &dir, &gate);
        if (r == -EBADMSG)
                _exit(RECV_BADMSG);
        if (r < 0)
                _exit(RECV_ERR);
        if (!dir)
                _exit(RECV_EOF);
        if (fcntl(4, F_GETFD) >= 0) /* the received originals must be closed */
                _exit(RECV_LEAK);
        if (write(1, "out", 3) != 3 || write(2, "err", 3) != 3 || write(3, dir, strlen(dir)) < 0)
                _exit(RECV_ERR);
        if (gate >= 0) {
                if ((fcntl(gate, F_GETFD) & FD_CLOEXEC) == 0)
                        _exit(RECV_LEAK);
                const char *said = start_gate_wait(&gate) == 0 ? " go" : " cancel";
                if (gate >= 0 || write(1, said, strlen(said)) < 0)
                        _exit(RECV_ERR);
        }
        _exit(RECV_OK);
}

static int exit_code(pid_t pid)
{
        int st = 0;

        if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
                return -1;
        return WEXITSTATUS(st);
}

static void pipe_cloexec(int p[2])
{
        if (pipe2(p, O_CLOEXEC) < 0)
                abort();
}

static void read_all(int fd, char *buf, size_t size)
{
        size_t n = 0;
        ssize_t k;

        while (n + 1 < size && (k = read(fd, buf + n, size - 1 - n)) > 0)
                n += (size_t)k;
        buf[n] = 0;
}

/* Sends path with nfds copies of a /dev/null fd, not through shim_pool_take. */
static void send_raw(int sock, const char *path, int nfds)
{
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(8 * sizeof(int))];
        } u = {};
        int fd = open("/dev/null", O_RDWR | O_CLOEXEC), fds[8];
        struct iovec iov = { .iov_base = (void *)path, .iov_len = strlen(path) };
        struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };

        for (int i = 0; i < nfds; i++)
                fds[i] = fd;
        if (nfds > 0) {
                m.msg_control = u.buf;
                m.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
                struct cmsghdr *c = CMSG_FIRSTHDR(&m);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
                memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
        }
        CHECK(sendmsg(sock, &m, MSG_NOSIGNAL) == (ssize_t)strlen(path));
        close(fd);
}

static int refused(const char *path, int nfds)
{
        int sv[2];

        CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
        pid_t pid = receiver(sv[1]);
        close(sv[1]);
        send_raw(sv[0], path, nfds);
        close(sv[0]);
        return exit_code(pid) == RECV_BADMSG;
}

/* gate: 0 none, 1 go, 2 cancel */
static void hand_over(int gate)
{
        int sv[2], out[2], errp[2], note[2], g[2] = { -EBADF, -EBADF };
        char buf[256];
        pid_t got = 0;

        CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
        pid_t pid = receiver(sv[1]);
        close(sv[1]);
        ShimPool p = { .sock = sv[0], .pid = pid };
        pipe_cloexec(out);
        pipe_cloexec(errp);
        pipe_cloexec(note);
        if (gate)
                pipe_cloexec(g);
        CHECK(shim_pool_take(&p, "/var/lib/berth/workloads/w1", out[1], errp[1], note[1], g[0], &got) == 0);
        CHECK(got == pid);
        CHECK(p.sock < 0 && p.pid == 0); /* used up */
        close(out[1]);
        close(errp[1]);
        close(note[1]);
        if (gate) {
                close(g[0]);
                if (gate == 1)
                        CHECK_RC(start_gate_go(&g[1]));
                else
                        CHECK_RC(start_gate_cancel(&g[1], -EBADF, 1000));
                CHECK(g[1] < 0);
        }
        CHECK(exit_code(pid) == RECV_OK);
        read_all(out[0], buf, sizeof(buf));
        CHECK(streq(buf, gate == 0 ? "out" : gate == 1 ? "out go" : "out cancel"));
        read_all(errp[0], buf, sizeof(buf));
        CHECK(streq(buf, "err"));
        read_all(note[0], buf, sizeof(buf));
        CHECK(streq(buf, "/var/lib/berth/workloads/w1"));
        close(out[0]);
        close(errp[0]);
        close(note[0]);
}

static void test_hand_over(void)
{
        hand_over(0);
        hand_over(1);
        hand_over(2);
}

/* start_gate_cancel waits until the report pipe's writers are gone, and no
 * longer than it is told. */
static void test_gate_cancel_waits(void)
{
        int g[2], note[2];

        pipe_cloexec(g);
        pipe_cloexec(note);
        CHECK(fcntl(note[0], F_SETFL, O_NONBLOCK) == 0);
        pid_t pid = fork();
        if (pid == 0) { /* a shim: on end-of-file, 50 ms of clean-up, then gone */
                close(g[1]);
                close(note[0]);
                int r = start_gate_wait(&g[0]);
                usleep(50000);
                _exit(r == -ECANCELED ? 0 : 1);
        }
        close(g[0]);
        close(note[1]);
        usec_t t0 = now_usec(CLOCK_MONOTONIC);
        CHECK_RC(start_gate_cancel(&g[1], note[0], 5000));
        CHECK(now_usec(CLOCK_MONOTONIC) - t0 >= 40 * USEC_PER_MSEC);
        CHECK(exit_code(pid) == 0);
        close(note[0]);

        /* a writer that stays: -ETIMEDOUT after the bound */
        pipe_cloexec(g);
        pipe_cloexec(note);
        CHECK(fcntl(note[0], F_SETFL, O_NONBLOCK) == 0);
        CHECK(start_gate_cancel(&g[1], note[0], 30) == -ETIMEDOUT);
        close(g[0]);
        close(note[0]);
        close(note[1]);
}

static void test_refused(void)
{
        CHECK(refused("relative/dir", 3));
        CHECK(refused("/dir", 2));
        CHECK(refused("/dir", 5));
        CHECK(refused("/dir", 0));
}

static void test_empty_and_dead(void)
{
        ShimPool p = SHIM_POOL_INIT;
        int sv[2];
        pid_t got = 0;

        CHECK(shim_pool_take(&p, "/dir", 0, 2, 1, -EBADF, &got) == -EAGAIN);

        /* the pooled shim died: the start falls back, the pool is empty */
        CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
        pid_t pid = fork();
        if (pid == 0)
                _exit(0);
        close(sv[1]);
        CHECK(exit_code(pid) == 0);
        p = (ShimPool){ .sock = sv[0], .pid = pid };
        CHECK(shim_pool_take(&p, "/dir", 0, 2, 1, -EBADF, &got) == -EAGAIN);
        CHECK(p.sock < 0 && got == 0);
}

static void test_drain(void)
{
        int sv[2];

        /* end-of-file: the stand-in exits without a workload, reaped by drain */
        CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
        pid_t pid = receiver(sv[1]);
        close(sv[1]);
        ShimPool p = { .sock = sv[0], .pid = pid };
        shim_pool_drain(&p);
        CHECK(p.sock < 0);
        CHECK(kill(pid, 0) < 0 && errno == ESRCH);
}

/* argv as exec lays it out: the strings back to back */
static void test_cmdline(void)
{
        char area[] = "/usr/libexec/berth/berth-shim\0--pooled\0            ";
        char *argv[] = { area, area + 30, area + 39, NULL };
        char want[sizeof(area)] = "/usr/libexec/berth/berth-shim\0/r/workloads/w1";

        shim_pool_set_cmdline(3, argv, "/r/workloads/w1");
        CHECK(memcmp(area, want, sizeof(area)) == 0); /* zeros to the end */
        CHECK(streq(argv[1], "/r/workloads/w1"));

        char area2[] = "shim\0--pooled\0  ";
        char *argv2[] = { area2, area2 + 5, area2 + 14, NULL };
        shim_pool_set_cmdline(3, argv2, "/a/longer/directory/than/the/room");
        CHECK(streq(argv2[1], "--pooled")); /* no room: unchanged */
        shim_pool_set_cmdline(2, argv2, "/d");
        CHECK(streq(argv2[1], "--pooled")); /* no pad: unchanged */
}

static void test_real_shim(const char *shim)
{
        ShimPool p = SHIM_POOL_INIT;
        char exe[64], buf[4096];

        CHECK_RC(shim_pool_fill(&p, shim, 40));
        pid_t pid = p.pid;
        CHECK(pid > 0 && p.sock >= 0);
        CHECK_RC(shim_pool_fill(&p, shim, 40)); /* one at most */
        CHECK(p.pid == pid);
        /* vfork returns once the exec has begun; the new argv may show a moment later */
        snprintf(exe, sizeof(exe), "/proc/%d/cmdline", (int)pid);
        ssize_t n = 0;
        for (int i = 0; i < 200 && n <= 0; i++) {
                int fd = open(exe, O_RDONLY | O_CLOEXEC);
                n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
                if (fd >= 0)
                        close(fd);
                if (n <= 0)
                        usleep(5000);
        }
        CHECK(n > 0 && memmem(buf, (size_t)n, SHIM_POOLED_ARG, strlen(SHIM_POOLED_ARG)));
        shim_pool_drain(&p);
        CHECK(p.sock < 0);
        CHECK(kill(pid, 0) < 0 && errno == ESRCH);
}

int main(int argc, char *argv[])
{
        signal(SIGPIPE, SIG_IGN);
        test_hand_over();
        test_gate_cancel_waits();
        test_refused();
        test_empty_and_dead();
        test_drain();
        test_cmdline();
        if (argc > 1)
                test_real_shim(argv[1]);
        return test_result("test-shim-pool");
}
