/* SPDX-License-Identifier: Apache-2.0 */
/* exec sessions inside a berth microVM (docs/VM.md "exec"). The host
 * (berth-shim) starts a session with VM_FRAME_EXEC_START; the command runs
 * in the VM's root with the given argv, env and working directory, on pipes
 * or on a pty; its stdin arrives as EXEC_STDIN frames and its output leaves
 * as EXEC_STDOUT/EXEC_STDERR frames, each direction flow-controlled by
 * VM_EXEC_WINDOW bytes of unacknowledged data (EXEC_ACK); EXEC_EXIT ends the
 * session. At most VM_EXEC_SESSIONS_MAX sessions run at once. Everything is
 * driven from the init's single poll loop (berth-init.c). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "drivers/vm/guest/init.h"

extern char **environ;

#define DRAIN_MS 2000 /* output still read after the command exited */

typedef struct Session {
        bool used;
        bool tty;
        bool exited;
        bool in_eof;
        uint32_t id;
        pid_t pid;
        int in_w, out_r, err_r, master;
        char *inbuf;
        size_t in_len;
        uint32_t out_unacked;
        int status;
        long long drain_until;
} Session;

static Session sessions[VM_EXEC_SESSIONS_MAX];
/* SIGCHLD -> a byte in this pipe, so that the poll loop wakes when a
 * session's command exits instead of at its next 100 ms tick. */
static int sigchld_pipe[2] = {-1, -1};
static struct {
        Session *s;
        int which; /* 0 stdin, 1 stdout, 2 stderr */
} pmap[INIT_EXEC_POLL_MAX];

static long long mono_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void send_id(uint32_t type, uint32_t id, const void *data, size_t len)
{
        char buf[4 + VM_EXEC_CHUNK];

        if (len > VM_EXEC_CHUNK)
                len = VM_EXEC_CHUNK;
        memcpy(buf, &id, 4);
        if (len)
                memcpy(buf + 4, data, len);
        send_frame(type, buf, 4 + len);
}

static void send_ack(uint32_t id, uint32_t n)
{
        send_id(VM_FRAME_EXEC_ACK, id, &n, sizeof(n));
}

static void send_exit(uint32_t id, int32_t code, int32_t sig)
{
        int32_t v[2] = {code, sig};
        send_id(VM_FRAME_EXEC_EXIT, id, v, sizeof(v));
}

/* A session that never ran: the reason on its stderr, then EXIT. */
static void refuse(uint32_t id, int32_t code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void refuse(uint32_t id, int32_t code, const char *fmt, ...)
{
        char msg[512];
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(msg, sizeof(msg) - 1, fmt, ap);
        va_end(ap);
        if (n < 0)
                n = 0;
        if (n > (int)sizeof(msg) - 2)
                n = (int)sizeof(msg) - 2;
        msg[n++] = '\n';
        send_id(VM_FRAME_EXEC_STDERR, id, msg, (size_t)n);
        send_exit(id, code, 0);
}

static Session *find(uint32_t id)
{
        for (size_t i = 0; i < VM_EXEC_SESSIONS_MAX; i++)
                if (sessions[i].used && sessions[i].id == id)
                        return &sessions[i];
        return NULL;
}

static int xclose(int fd)
{
        if (fd >= 0)
                close(fd);
        return -1;
}

static void session_free(Session *s)
{
        s->in_w = xclose(s->in_w);
        s->out_r = xclose(s->out_r);
        s->err_r = xclose(s->err_r);
        s->master = xclose(s->master);
        free(s->inbuf);
        *s = (Session){.in_w = -1, .out_r = -1, .err_r = -1, .master = -1};
}

static int open_pty(int *ret_master, char *name, size_t size)
{
        int m, n = 0, unlock = 0;

        if (access("/dev/pts/ptmx", F_OK) < 0) {
                (void)mkdir("/dev/pts", 0755);
                if (mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
                          "newinstance,ptmxmode=0666,mode=0620") < 0)
                        return -errno;
        }
        m = open("/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (m < 0)
                return -errno;
        if (ioctl(m, TIOCSPTLCK, &unlock) < 0 || ioctl(m, TIOCGPTN, &n) < 0) {
                int r = -errno;
                close(m);
                return r;
        }
        snprintf(name, size, "/dev/pts/%d", n);
        *ret_master = m;
        return 0;
}

static __attribute__((noreturn)) void child(Session *s, const char *pts, char **argv, char **envp,
                                            const char *cwd, int in_r, int out_w, int err_w, int ep_w,
                                            struct winsize *ws)
{
        sigset_t none;
        int e[2];

        (void)setsid();
        if (s->tty) {
                int t = open(pts, O_RDWR);
                if (t < 0 || ioctl(t, TIOCSCTTY, 0) < 0) {
                        e[0] = 4, e[1] = errno;
                        (void)!write(ep_w, e, sizeof(e));
                        _exit(126);
                }
                if (ws->ws_row && ws->ws_col)
                        (void)ioctl(t, TIOCSWINSZ, ws);
                in_r = out_w = err_w = t;
        }
        if (dup2(in_r, 0) < 0 || dup2(out_w, 1) < 0 || dup2(err_w, 2) < 0)
                _exit(126);
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        for (int sig = 1; sig < NSIG; sig++)
                if (sig != SIGKILL && sig != SIGSTOP)
                        (void)signal(sig, SIG_DFL);
        if (chdir(cwd) < 0) {
                e[0] = 1, e[1] = errno;
                (void)!write(ep_w, e, sizeof(e));
                _exit(126);
        }
        /* exactly 0, 1, 2 in the command (the init's console fd has no CLOEXEC) */
        (void)close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
        environ = envp;
        execvp(argv[0], argv);
        e[0] = 3, e[1] = errno;
        (void)!write(ep_w, e, sizeof(e));
        _exit(errno == ENOENT ? 127 : 126);
}

static void on_sigchld(int sig)
{
        int e = errno;

        (void)sig;
        (void)!write(sigchld_pipe[1], "c", 1);
        errno = e;
}

static void sigchld_setup(void)
{
        struct sigaction sa = {.sa_handler = on_sigchld, .sa_flags = SA_RESTART | SA_NOCLDSTOP};

        if (sigchld_pipe[0] >= 0 || pipe2(sigchld_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
                return;
        sigemptyset(&sa.sa_mask);
        (void)sigaction(SIGCHLD, &sa, NULL);
}

static void start(const char *p, uint32_t len)
{
        static const char default_path[] =
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
        char *argv[VM_EXEC_ARGS_MAX + 1], *envp[VM_EXEC_ARGS_MAX + 2], *kv, pts[64] = "";
        const char *cwd = "/";
        size_t n_argv = 0, n_env = 0;
        struct winsize ws = {};
        bool has_path = false;
        int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1}, ep[2], e[2], r;
        Session *s = NULL;
        uint32_t id;
        ssize_t n;

        if (len < 4)
                return;
        memcpy(&id, p, 4);
        sigchld_setup();
        if (find(id)) {
                klog("exec: session %u already exists", id);
                return;
        }
        for (size_t i = 0; i < VM_EXEC_SESSIONS_MAX && !s; i++)
                if (!sessions[i].used)
                        s = &sessions[i];
        if (!s) {
                refuse(id, 126, "exec: too many sessions (at most %u)", VM_EXEC_SESSIONS_MAX);
                return;
        }
        kv = malloc(len - 4 + 1);
        if (!kv) {
                refuse(id, 126, "exec: out of memory");
                return;
        }
        memcpy(kv, p + 4, len - 4);
        kv[len - 4] = 0;
        *s = (Session){.used = true, .id = id, .in_w = -1, .out_r = -1, .err_r = -1, .master = -1};
        for (uint32_t i = 0; i < len - 4;) {
                char *k = kv + i, *v;
                i += (uint32_t)strlen(k) + 1;
                if (i >= len - 4)
                        break;
                v = kv + i;
                i += (uint32_t)strlen(v) + 1;
                if (strcmp(k, "arg") == 0) {
                        if (n_argv >= VM_EXEC_ARGS_MAX)
                                goto too_many;
                        argv[n_argv++] = v;
                } else if (strcmp(k, "env") == 0) {
                        if (n_env >= VM_EXEC_ARGS_MAX)
                                goto too_many;
                        if (strchr(v, '=') == NULL || v[0] == '=')
                                continue;
                        has_path = has_path || strncmp(v, "PATH=", 5) == 0;
                        envp[n_env++] = v;
                } else if (strcmp(k, "cwd") == 0)
                        cwd = v;
                else if (strcmp(k, "tty") == 0)
                        s->tty = strcmp(v, "1") == 0;
                else if (strcmp(k, "rows") == 0)
                        ws.ws_row = (unsigned short)strtoul(v, NULL, 10);
                else if (strcmp(k, "cols") == 0)
                        ws.ws_col = (unsigned short)strtoul(v, NULL, 10);
        }
        if (n_argv == 0) {
                session_free(s);
                free(kv);
                refuse(id, 126, "exec: no command");
                return;
        }
        argv[n_argv] = NULL;
        if (!has_path)
                envp[n_env++] = (char *)default_path;
        envp[n_env] = NULL;

        if (s->tty) {
                r = open_pty(&s->master, pts, sizeof(pts));
                if (r < 0) {
                        session_free(s);
                        free(kv);
                        refuse(id, 126, "exec: cannot allocate a pty: %s", strerror(-r));
                        return;
                }
        } else if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) {
                r = errno;
                goto pipe_fail;
        }
        if (pipe2(ep, O_CLOEXEC) < 0) {
                r = errno;
                goto pipe_fail;
        }
        s->pid = fork();
        if (s->pid == 0)
                child(s, pts, argv, envp, cwd, in[0], out[1], err[1], ep[1], &ws);
        r = errno;
        in[0] = xclose(in[0]);
        out[1] = xclose(out[1]);
        err[1] = xclose(err[1]);
        close(ep[1]);
        if (s->pid < 0) {
                close(ep[0]);
                goto pipe_fail;
        }
        do
                n = read(ep[0], e, sizeof(e));
        while (n < 0 && errno == EINTR);
        close(ep[0]);
        if (n == (ssize_t)sizeof(e)) {
                static const char *const what[] = {"", "chdir", "", "exec", "tty"};
                (void)waitpid(s->pid, NULL, 0);
                in[1] = xclose(in[1]);
                out[0] = xclose(out[0]);
                err[0] = xclose(err[0]);
                session_free(s);
                refuse(id, e[0] == 3 && e[1] == ENOENT ? 127 : 126, "%s %s: %s",
                       what[e[0] >= 0 && e[0] <= 4 ? e[0] : 0], e[0] == 1 ? cwd : argv[0], strerror(e[1]));
                free(kv);
                return;
        }
        free(kv);
        if (s->tty) {
                s->in_w = dup(s->master);
                s->out_r = s->master;
                s->master = -1;
                if (s->in_w >= 0)
                        (void)fcntl(s->in_w, F_SETFD, FD_CLOEXEC);
        } else {
                s->in_w = in[1];
                s->out_r = out[0];
                s->err_r = err[0];
        }
        for (int *fd = &s->in_w; fd <= &s->err_r; fd++)
                if (*fd >= 0)
                        (void)fcntl(*fd, F_SETFL, O_NONBLOCK);
        return;

too_many:
        session_free(s);
        free(kv);
        refuse(id, 126, "exec: more than %u arguments or environment entries", VM_EXEC_ARGS_MAX);
        return;
pipe_fail:
        for (int i = 0; i < 2; i++) {
                xclose(in[i]);
                xclose(out[i]);
                xclose(err[i]);
        }
        session_free(s);
        free(kv);
        refuse(id, 126, "exec: %s", strerror(r));
}

void init_exec_on_frame(uint32_t type, const char *p, uint32_t len)
{
        uint32_t id;
        Session *s;

        if (type == VM_FRAME_EXEC_START) {
                start(p, len);
                return;
        }
        if (len < 4)
                return;
        memcpy(&id, p, 4);
        s = find(id);
        p += 4;
        len -= 4;
        switch (type) {
        case VM_FRAME_EXEC_STDIN:
                if (!s || s->in_w < 0 || s->in_eof) {
                        if (len)
                                send_ack(id, len); /* nobody reads it: do not stall the host */
                        break;
                }
                if (len == 0) {
                        s->in_eof = true;
                        break;
                }
                if (s->in_len + len > VM_EXEC_WINDOW + VM_FRAME_MAX) {
                        klog("exec: session %u overran its stdin window", id);
                        send_ack(id, len);
                        break;
                }
                {
                        char *nb = realloc(s->inbuf, s->in_len + len);
                        if (!nb) {
                                send_ack(id, len);
                                break;
                        }
                        s->inbuf = nb;
                        memcpy(s->inbuf + s->in_len, p, len);
                        s->in_len += len;
                }
                break;
        case VM_FRAME_EXEC_SIGNAL:
                if (s && s->pid > 0 && len >= 4) {
                        int32_t sig;
                        memcpy(&sig, p, 4);
                        if (sig > 0 && sig < NSIG && kill(-s->pid, sig) < 0)
                                (void)kill(s->pid, sig);
                }
                break;
        case VM_FRAME_EXEC_ACK:
                if (s && len >= 4) {
                        uint32_t n;
                        memcpy(&n, p, 4);
                        s->out_unacked = n >= s->out_unacked ? 0 : s->out_unacked - n;
                }
                break;
        case VM_FRAME_EXEC_RESIZE:
                if (s && s->tty && s->out_r >= 0 && len >= 4) {
                        uint16_t rc[2];
                        memcpy(rc, p, 4);
                        struct winsize ws = {.ws_row = rc[0], .ws_col = rc[1]};
                        (void)ioctl(s->out_r, TIOCSWINSZ, &ws);
                }
                break;
        default:
                break;
        }
}

bool init_exec_reaped(pid_t pid, int status)
{
        for (size_t i = 0; i < VM_EXEC_SESSIONS_MAX; i++) {
                Session *s = &sessions[i];
                if (s->used && s->pid == pid) {
                        s->exited = true;
                        s->status = status;
                        s->pid = 0;
                        s->drain_until = mono_ms() + DRAIN_MS;
                        return true;
                }
        }
        return false;
}

size_t init_exec_pollfds(struct pollfd *p, size_t max)
{
        size_t n = 0;

        if (sigchld_pipe[0] >= 0 && max > 0) {
                p[n] = (struct pollfd){.fd = sigchld_pipe[0], .events = POLLIN};
                pmap[n].s = NULL, pmap[n++].which = 3;
        }

        for (size_t i = 0; i < VM_EXEC_SESSIONS_MAX; i++) {
                Session *s = &sessions[i];
                if (!s->used)
                        continue;
                if (s->in_w >= 0 && s->in_len > 0 && n < max) {
                        p[n] = (struct pollfd){.fd = s->in_w, .events = POLLOUT};
                        pmap[n].s = s, pmap[n++].which = 0;
                }
                if (s->out_unacked >= VM_EXEC_WINDOW)
                        continue; /* the host has not caught up */
                if (s->out_r >= 0 && n < max) {
                        p[n] = (struct pollfd){.fd = s->out_r, .events = POLLIN};
                        pmap[n].s = s, pmap[n++].which = 1;
                }
                if (s->err_r >= 0 && n < max) {
                        p[n] = (struct pollfd){.fd = s->err_r, .events = POLLIN};
                        pmap[n].s = s, pmap[n++].which = 2;
                }
        }
        return n;
}

static void pump(Session *s, int which)
{
        char buf[VM_EXEC_CHUNK];
        ssize_t n;

        if (which == 0) {
                n = write(s->in_w, s->inbuf, s->in_len);
                if (n > 0) {
                        memmove(s->inbuf, s->inbuf + n, s->in_len - (size_t)n);
                        s->in_len -= (size_t)n;
                        send_ack(s->id, (uint32_t)n);
                } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
                        /* the command closed its stdin: drop what is left */
                        send_ack(s->id, (uint32_t)s->in_len);
                        s->in_len = 0;
                        s->in_w = xclose(s->in_w);
                }
                return;
        }
        int *fd = which == 1 ? &s->out_r : &s->err_r;
        size_t room = VM_EXEC_WINDOW - s->out_unacked;
        n = read(*fd, buf, room < sizeof(buf) ? room : sizeof(buf));
        if (n > 0) {
                send_id(which == 1 ? VM_FRAME_EXEC_STDOUT : VM_FRAME_EXEC_STDERR, s->id, buf, (size_t)n);
                s->out_unacked += (uint32_t)n;
        } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                *fd = xclose(*fd); /* EOF; EIO on a pty whose replica is gone */
        }
}

void init_exec_dispatch(const struct pollfd *p, size_t n)
{
        long long now = mono_ms();

        for (size_t i = 0; i < n; i++) {
                if (!p[i].revents)
                        continue;
                if (!pmap[i].s) {
                        char b[64];
                        while (read(sigchld_pipe[0], b, sizeof(b)) > 0)
                                ;
                } else if (pmap[i].s->used)
                        pump(pmap[i].s, pmap[i].which);
        }
        for (size_t i = 0; i < VM_EXEC_SESSIONS_MAX; i++) {
                Session *s = &sessions[i];
                int st;
                if (!s->used)
                        continue;
                /* Reaped here by pid (the main loop's waitpid(-1) may get it
                 * first and calls init_exec_reaped()). */
                if (s->pid > 0 && waitpid(s->pid, &st, WNOHANG) == s->pid)
                        (void)init_exec_reaped(s->pid, st);
                if (s->in_eof && s->in_len == 0 && s->in_w >= 0 && !s->tty)
                        s->in_w = xclose(s->in_w); /* EOF reaches the command */
                if (s->exited && ((s->out_r < 0 && s->err_r < 0) || now > s->drain_until)) {
                        int st = s->status;
                        uint32_t id = s->id;
                        session_free(s);
                        if (WIFEXITED(st))
                                send_exit(id, WEXITSTATUS(st), 0);
                        else
                                send_exit(id, 128 + WTERMSIG(st), WTERMSIG(st));
                }
        }
}
