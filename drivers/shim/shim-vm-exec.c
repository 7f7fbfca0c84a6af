/* SPDX-License-Identifier: Apache-2.0 */
/* berth-shim's exec socket for a microVM (see shim-vm-exec.h). One
 * connection is one session: the shim gives it an id, forwards its START,
 * stdin, signals and resizes to the guest with that id, and sends the
 * guest's output and exit back. Flow control: the shim reads a client's
 * stdin only while less than VM_EXEC_WINDOW bytes of it await the guest's
 * ACK, and acks the guest's output once it is written to the client; the
 * guest does the same the other way. Buffers are therefore bounded by the
 * window per session, whatever a client or command does. */
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>

#include "drivers/shim/shim-vm-exec.h"
#include "drivers/vm/vm-exec.h"
#include "lib/log.h"
#include "lib/util.h"

#define RBUF_SIZE (sizeof(VmFrameHeader) + VM_FRAME_MAX)
/* all sessions' stdin windows, their frame overhead, and room for control frames */
#define CHAN_SNDBUF ((int)(2 * VM_EXEC_SESSIONS_MAX * VM_EXEC_WINDOW + (4 << 20)))

typedef struct XSession {
        int fd; /* the client; -1 = free slot */
        uint32_t id;
        bool have_start; /* START read from the client */
        bool started;    /* START sent to the guest */
        bool exited;     /* EXIT from the guest queued for the client */
        char *start;     /* id + key/value pairs, until the guest is ready */
        size_t start_len;
        char *rbuf; /* frames from the client */
        size_t rlen;
        char *wbuf; /* frames to the client */
        size_t wlen, wcap;
        uint32_t out_unacked; /* guest output bytes queued, not yet acked */
        uint32_t in_flight;   /* stdin bytes sent to the guest, not yet acked */
} XSession;

struct ShimVmExec {
        int dirfd;
        int listen_fd;
        const int *chan;
        bool guest_ready;
        uint32_t next_id;
        XSession s[VM_EXEC_SESSIONS_MAX];
        XSession *pmap[SHIM_VM_EXEC_POLL_MAX]; /* NULL: the listener */
};

/* One write per frame (one skb: the send buffer below is counted in them). */
static void chan_send_id(ShimVmExec *x, uint32_t type, uint32_t id, const void *p, size_t n)
{
        static char buf[sizeof(VmFrameHeader) + VM_FRAME_MAX];
        VmFrameHeader h = {type, (uint32_t)(4 + n)};

        if (*x->chan < 0 || n > VM_FRAME_MAX - 4)
                return;
        memcpy(buf, &h, sizeof(h));
        memcpy(buf + sizeof(h), &id, 4);
        if (n)
                memcpy(buf + sizeof(h) + 4, p, n);
        if (write_all(*x->chan, buf, sizeof(h) + 4 + n) < 0)
                log_debug("exec: writing to the guest channel failed: %m");
}

static void ack_guest(ShimVmExec *x, uint32_t id, uint32_t n)
{
        chan_send_id(x, VM_FRAME_EXEC_ACK, id, &n, sizeof(n));
}

static void session_close(ShimVmExec *x, XSession *s)
{
        if (s->started && !s->exited) {
                int32_t sig = SIGKILL;
                /* the client went away: nobody waits for the command */
                chan_send_id(x, VM_FRAME_EXEC_SIGNAL, s->id, &sig, sizeof(sig));
                log_info("exec session %u: client gone, killing it in the guest", s->id);
        }
        safe_close(s->fd);
        free(s->start);
        free(s->rbuf);
        free(s->wbuf);
        *s = (XSession){.fd = -1};
}

static int queue(XSession *s, uint32_t type, const void *p, size_t n)
{
        VmFrameHeader h = {type, (uint32_t)n};

        if (s->wlen + sizeof(h) + n > s->wcap) {
                size_t cap = (s->wlen + sizeof(h) + n) * 2;
                char *nb = realloc(s->wbuf, cap);
                if (!nb)
                        return -ENOMEM;
                s->wbuf = nb;
                s->wcap = cap;
        }
        memcpy(s->wbuf + s->wlen, &h, sizeof(h));
        if (n)
                memcpy(s->wbuf + s->wlen + sizeof(h), p, n);
        s->wlen += sizeof(h) + n;
        return 0;
}

/* false when the session is gone */
static bool flush(ShimVmExec *x, XSession *s)
{
        while (s->wlen > 0) {
                ssize_t n = send(s->fd, s->wbuf, s->wlen, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (n < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                return true;
                        session_close(x, s);
                        return false;
                }
                memmove(s->wbuf, s->wbuf + n, s->wlen - (size_t)n);
                s->wlen -= (size_t)n;
        }
        if (s->out_unacked) {
                ack_guest(x, s->id, s->out_unacked);
                s->out_unacked = 0;
        }
        if (s->exited) {
                session_close(x, s);
                return false;
        }
        return true;
}

static void refuse(ShimVmExec *x, XSession *s, const char *why)
{
        int32_t ex[2] = {126, 0};
        char msg[256];
        int n = snprintf(msg, sizeof(msg), "exec: %s\n", why);

        (void)queue(s, VM_FRAME_EXEC_STDERR, msg, (size_t)n);
        (void)queue(s, VM_FRAME_EXEC_EXIT, ex, sizeof(ex));
        s->exited = true;
        (void)flush(x, s);
}

static void send_start(ShimVmExec *x, XSession *s)
{
        chan_send_id(x, VM_FRAME_EXEC_START, s->id, s->start, s->start_len);
        s->started = true;
        free(s->start);
        s->start = NULL;
        log_info("exec session %u started", s->id);
}

/* Frames from the client, as far as the guest may take them. */
static void process(ShimVmExec *x, XSession *s)
{
        size_t off = 0;

        while (s->rlen - off >= sizeof(VmFrameHeader)) {
                VmFrameHeader h;
                const char *p = s->rbuf + off + sizeof(h);

                if (s->have_start && !s->started)
                        break; /* the guest is not ready yet */
                memcpy(&h, s->rbuf + off, sizeof(h));
                if (h.len > VM_FRAME_MAX) {
                        refuse(x, s, "frame too large");
                        return;
                }
                if (s->rlen - off < sizeof(h) + h.len)
                        break;
                if (!s->have_start && h.type != VM_FRAME_EXEC_START) {
                        refuse(x, s, "the first frame must be EXEC_START");
                        return;
                }
                if (h.type == VM_FRAME_EXEC_STDIN && s->in_flight >= VM_EXEC_WINDOW)
                        break; /* wait for the guest's ACK */
                off += sizeof(h) + h.len;
                switch (h.type) {
                case VM_FRAME_EXEC_START:
                        if (s->have_start) {
                                refuse(x, s, "EXEC_START sent twice");
                                return;
                        }
                        if (h.len == 0 || h.len > VM_FRAME_MAX - 4) {
                                refuse(x, s, "EXEC_START is empty or larger than 64 KiB");
                                return;
                        }
                        s->start = malloc(h.len);
                        if (s->start)
                                memcpy(s->start, p, h.len);
                        if (!s->start) {
                                refuse(x, s, "out of memory");
                                return;
                        }
                        s->start_len = h.len;
                        s->have_start = true;
                        if (x->guest_ready)
                                send_start(x, s);
                        break;
                case VM_FRAME_EXEC_STDIN:
                        if (h.len == 0) {
                                chan_send_id(x, VM_FRAME_EXEC_STDIN, s->id, NULL, 0);
                                break;
                        }
                        for (uint32_t o = 0; o < h.len; o += VM_EXEC_CHUNK) {
                                uint32_t k = h.len - o < VM_EXEC_CHUNK ? h.len - o : VM_EXEC_CHUNK;
                                chan_send_id(x, VM_FRAME_EXEC_STDIN, s->id, p + o, k);
                        }
                        s->in_flight += h.len;
                        break;
                case VM_FRAME_EXEC_SIGNAL:
                case VM_FRAME_EXEC_RESIZE:
                        if (h.len == 4)
                                chan_send_id(x, h.type, s->id, p, 4);
                        break;
                default:
                        break;
                }
        }
        memmove(s->rbuf, s->rbuf + off, s->rlen - off);
        s->rlen -= off;
}

static void client_read(ShimVmExec *x, XSession *s)
{
        ssize_t n;

        if (!s->rbuf && !(s->rbuf = malloc(RBUF_SIZE))) {
                session_close(x, s);
                return;
        }
        if (s->rlen == RBUF_SIZE)
                return; /* a whole frame waits for the guest (window) */
        n = recv(s->fd, s->rbuf + s->rlen, RBUF_SIZE - s->rlen, MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return;
        if (n <= 0) {
                session_close(x, s);
                return;
        }
        s->rlen += (size_t)n;
        process(x, s);
}

static void accept_one(ShimVmExec *x)
{
        XSession *s = NULL;
        int fd = accept4(x->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

        if (fd < 0)
                return;
        for (size_t i = 0; i < VM_EXEC_SESSIONS_MAX && !s; i++)
                if (x->s[i].fd < 0)
                        s = &x->s[i];
        if (!s) {
                XSession tmp = {.fd = fd};
                char why[64];
                snprintf(why, sizeof(why), "too many sessions (at most %u)", VM_EXEC_SESSIONS_MAX);
                refuse(x, &tmp, why); /* closes it */
                if (tmp.fd >= 0)
                        session_close(x, &tmp);
                return;
        }
        *s = (XSession){.fd = fd, .id = ++x->next_id};
}

int shim_vm_exec_new(int dirfd, const int *chan, ShimVmExec **ret)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        ShimVmExec *x;
        mode_t old;
        int r;

        x = calloc(1, sizeof(*x));
        if (!x)
                return -ENOMEM;
        x->dirfd = dirfd;
        x->chan = chan;
        /* Ids differ across shims: a guest restored from a snapshot may
         * still hold sessions of the shim that took it. */
        x->next_id = (uint32_t)(now_usec(CLOCK_REALTIME) / 1000) << 8;
        /* The shim writes the channel blocking and the guest init blocks on
         * writes too: were both to wait for the other, neither would read.
         * What the host sends is bounded (VM_EXEC_WINDOW of stdin per
         * session, small control frames), so a send buffer that holds all
         * of it means the shim never blocks and always reads on. */
        if (*chan >= 0) {
                int sz = CHAN_SNDBUF;
                if (setsockopt(*chan, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)) < 0)
                        (void)setsockopt(*chan, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
        }
        for (size_t i = 0; i < VM_EXEC_SESSIONS_MAX; i++)
                x->s[i].fd = -1;
        x->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (x->listen_fd < 0) {
                r = -errno;
                free(x);
                return r;
        }
        /* A path below the (0700) workload directory, reached through
         * /proc/self/fd so that its length never matters. Never abstract. */
        snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/%s", dirfd, VM_EXEC_SOCKET);
        (void)unlinkat(dirfd, VM_EXEC_SOCKET, 0);
        old = umask(0177);
        r = bind(x->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ? -errno : 0;
        umask(old);
        if (r >= 0 && fchmodat(dirfd, VM_EXEC_SOCKET, 0600, 0) < 0)
                r = -errno;
        if (r >= 0 && listen(x->listen_fd, 16) < 0)
                r = -errno;
        if (r < 0) {
                safe_close(x->listen_fd);
                (void)unlinkat(dirfd, VM_EXEC_SOCKET, 0);
                free(x);
                return r;
        }
        *ret = x;
        return 0;
}

ShimVmExec *shim_vm_exec_free(ShimVmExec *x)
{
        if (!x)
                return NULL;
        for (size_t i = 0; i < VM_EXEC_SESSIONS_MAX; i++)
                if (x->s[i].fd >= 0) {
                        x->s[i].exited = true; /* the guest is gone: nothing to kill */
                        session_close(x, &x->s[i]);
                }
        safe_close(x->listen_fd);
        (void)unlinkat(x->dirfd, VM_EXEC_SOCKET, 0);
        free(x);
        return NULL;
}

void shim_vm_exec_guest_ready(ShimVmExec *x)
{
        if (!x || x->guest_ready)
                return;
        x->guest_ready = true;
        for (size_t i = 0; i < VM_EXEC_SESSIONS_MAX; i++) {
                XSession *s = &x->s[i];
                if (s->fd >= 0 && s->have_start && !s->started) {
                        send_start(x, s);
                        process(x, s);
                }
        }
}

size_t shim_vm_exec_pollfds(ShimVmExec *x, struct pollfd *p, size_t max)
{
        size_t n = 0;

        if (!x || max == 0)
                return 0;
        p[n] = (struct pollfd){.fd = x->listen_fd, .events = POLLIN};
        x->pmap[n++] = NULL;
        for (size_t i = 0; i < VM_EXEC_SESSIONS_MAX && n < max && n < SHIM_VM_EXEC_POLL_MAX; i++) {
                XSession *s = &x->s[i];
                short ev = 0;
                if (s->fd < 0)
                        continue;
                /* Read more only when the last batch was taken (window). */
                if (!s->exited && (!s->have_start || (s->started && s->in_flight < VM_EXEC_WINDOW)))
                        ev |= POLLIN;
                if (s->wlen)
                        ev |= POLLOUT;
                p[n] = (struct pollfd){.fd = s->fd, .events = ev};
                x->pmap[n++] = s;
        }
        return n;
}

void shim_vm_exec_dispatch(ShimVmExec *x, const struct pollfd *p, size_t n)
{
        if (!x)
                return;
        for (size_t i = 0; i < n; i++) {
                XSession *s = x->pmap[i];
                if (!p[i].revents)
                        continue;
                if (!s) {
                        accept_one(x);
                        continue;
                }
                if (s->fd != p[i].fd)
                        continue; /* closed and reused meanwhile */
                if ((p[i].revents & POLLOUT) && !flush(x, s))
                        continue;
                if (p[i].revents & POLLIN)
                        client_read(x, s);
                else if (p[i].revents & (POLLHUP | POLLERR))
                        session_close(x, s);
        }
}

void shim_vm_exec_on_frame(ShimVmExec *x, uint32_t type, const char *p, uint32_t len)
{
        XSession *s = NULL;
        uint32_t id;

        if (!x || len < 4)
                return;
        memcpy(&id, p, 4);
        for (size_t i = 0; i < VM_EXEC_SESSIONS_MAX && !s; i++)
                if (x->s[i].fd >= 0 && x->s[i].started && x->s[i].id == id)
                        s = &x->s[i];
        p += 4;
        len -= 4;
        switch (type) {
        case VM_FRAME_EXEC_STDOUT:
        case VM_FRAME_EXEC_STDERR:
                if (!s || s->exited || queue(s, type, p, len) < 0) {
                        ack_guest(x, id, len); /* nobody to deliver to: do not stall the guest */
                        break;
                }
                s->out_unacked += len;
                (void)flush(x, s);
                break;
        case VM_FRAME_EXEC_EXIT:
                if (!s)
                        break;
                if (len >= 8) {
                        int32_t code;
                        memcpy(&code, p, 4);
                        log_info("exec session %u exited with %d", id, code);
                }
                (void)queue(s, VM_FRAME_EXEC_EXIT, p, len);
                s->exited = true;
                (void)flush(x, s);
                break;
        case VM_FRAME_EXEC_ACK:
                if (s && len >= 4) {
                        uint32_t k;
                        memcpy(&k, p, 4);
                        s->in_flight = k >= s->in_flight ? 0 : s->in_flight - k;
                        process(x, s);
                }
                break;
        default:
                break;
        }
}
