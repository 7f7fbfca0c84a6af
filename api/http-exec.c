/* SPDX-License-Identifier: Apache-2.0 */
/* POST /v1/workloads/{name}/exec: an HTTP/1.1 Upgrade ("Upgrade:
 * berth-exec", answered with 101 Switching Protocols), after which the
 * connection carries frames both ways (docs/API.md "exec"):
 *
 *   1 byte type | 4 bytes length (big endian) | payload
 *
 *   0 stdin   client -> server; length 0 = end of input
 *   1 stdout  server -> client
 *   2 stderr  server -> client (never with a tty)
 *   3 exit    server -> client; 4-byte big-endian exit code, then close
 *   4 resize  client -> server; 2 x 16-bit big endian: rows, columns
 *
 * Everything is non-blocking on the daemon's one event loop: output is
 * buffered up to HTTP_STREAM_HIGH_WATER, above which the command's output is
 * no longer read (back pressure), and stdin is buffered up to the same cap,
 * above which the socket is no longer read. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <termios.h>

#include "api/http-internal.h"
#include "lib/log.h"

#define FRAME_HDR 5
#define FRAME_MAX (1024 * 1024)

enum { FRAME_STDIN, FRAME_STDOUT, FRAME_STDERR, FRAME_EXIT, FRAME_RESIZE };

typedef struct Buf {
        char *data;
        size_t len, pos, cap;
} Buf;

struct HttpExec {
        ApiHttp *http;
        HttpExec *next;
        char *name;
        bool tty;
        ApiExecIo io;
        int sock;
        struct MHD_UpgradeResponseHandle *urh;
        sd_event_source *sock_src, *out_src, *err_src, *in_src, *status_src;
        Buf to_client;   /* frames for the client */
        Buf from_client; /* unparsed bytes from the client */
        Buf to_stdin;    /* bytes for the command */
        bool stdin_eof;  /* client sent end of input */
        bool have_exit;
        int exit_code;
        bool closing;
};

static int buf_append(Buf *b, const void *p, size_t n)
{
        if (b->pos > 0 && b->pos == b->len)
                b->pos = b->len = 0;
        if (b->len + n > b->cap) {
                size_t cap = b->cap * 2 > b->len + n ? b->cap * 2 : b->len + n;
                char *d = realloc(b->data, cap);
                if (!d)
                        return -ENOMEM;
                b->data = d;
                b->cap = cap;
        }
        memcpy(b->data + b->len, p, n);
        b->len += n;
        return 0;
}

static size_t buf_pending(const Buf *b)
{
        return b->len - b->pos;
}

static void exec_update_events(HttpExec *x);

static void exec_free(HttpExec *x)
{
        HttpExec **p;

        for (p = &x->http->execs; *p; p = &(*p)->next)
                if (*p == x) {
                        *p = x->next;
                        break;
                }
        x->sock_src = sd_event_source_disable_unref(x->sock_src);
        x->out_src = sd_event_source_disable_unref(x->out_src);
        x->err_src = sd_event_source_disable_unref(x->err_src);
        x->in_src = sd_event_source_disable_unref(x->in_src);
        x->status_src = sd_event_source_disable_unref(x->status_src);
        if (x->io.pidfd >= 0 && !x->have_exit)
                (void)syscall(SYS_pidfd_send_signal, x->io.pidfd, SIGKILL, NULL, 0);
        safe_close(x->io.stdin_fd);
        safe_close(x->io.stdout_fd);
        safe_close(x->io.stderr_fd);
        safe_close(x->io.pidfd);
        safe_close(x->io.status_fd);
        if (x->urh) {
                (void)MHD_upgrade_action(x->urh, MHD_UPGRADE_ACTION_CLOSE);
                if (x->http->daemon)
                        (void)MHD_run(x->http->daemon);
        }
        free(x->to_client.data);
        free(x->from_client.data);
        free(x->to_stdin.data);
        free(x->name);
        free(x);
}

void http_exec_close_all(ApiHttp *h)
{
        while (h->execs)
                exec_free(h->execs);
}

static int send_frame(HttpExec *x, uint8_t type, const void *p, size_t n)
{
        uint8_t hdr[FRAME_HDR] = { type, (uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n };
        int r;

        r = buf_append(&x->to_client, hdr, sizeof(hdr));
        if (r >= 0 && n > 0)
                r = buf_append(&x->to_client, p, n);
        return r;
}

/* Finished once the exit code is known and all output was read. */
static void exec_maybe_finish(HttpExec *x)
{
        uint32_t be;

        if (x->closing || !x->have_exit || x->io.stdout_fd >= 0 || x->io.stderr_fd >= 0)
                return;
        be = htonl((uint32_t)x->exit_code);
        if (send_frame(x, FRAME_EXIT, &be, sizeof(be)) < 0) {
                exec_free(x);
                return;
        }
        x->closing = true;
        exec_update_events(x);
}

static void out_closed(HttpExec *x, int *fd, sd_event_source **src)
{
        *src = sd_event_source_disable_unref(*src);
        *fd = safe_close(*fd);
        exec_maybe_finish(x);
}

static int on_output(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        HttpExec *x = userdata;
        bool is_err = s == x->err_src;
        char b[HTTP_STREAM_BLOCK];
        ssize_t n;

        n = read(fd, b, sizeof(b));
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return 0;
        if (n <= 0) { /* EOF, or EIO on a pty master once the replica is gone */
                if (is_err)
                        out_closed(x, &x->io.stderr_fd, &x->err_src);
                else
                        out_closed(x, &x->io.stdout_fd, &x->out_src);
                return 0;
        }
        if (send_frame(x, is_err ? FRAME_STDERR : FRAME_STDOUT, b, (size_t)n) < 0) {
                exec_free(x);
                return 0;
        }
        exec_update_events(x);
        return 0;
}

static int on_status(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        HttpExec *x = userdata;
        int code = -1;
        ssize_t n;

        n = read(fd, &code, sizeof(code));
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return 0;
        x->status_src = sd_event_source_disable_unref(x->status_src);
        x->have_exit = true;
        x->exit_code = n == (ssize_t)sizeof(code) ? code : 126;
        /* With a pty the master never sees EOF while someone holds the
         * replica (e.g. a background child): stop reading it now. */
        if (x->tty && x->io.stdout_fd >= 0) {
                char b[HTTP_STREAM_BLOCK];
                ssize_t m;
                while ((m = read(x->io.stdout_fd, b, sizeof(b))) > 0)
                        (void)send_frame(x, FRAME_STDOUT, b, (size_t)m);
                out_closed(x, &x->io.stdout_fd, &x->out_src);
                return 0;
        }
        exec_maybe_finish(x);
        return 0;
}

static int on_stdin_writable(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        HttpExec *x = userdata;
        ssize_t n;

        if (buf_pending(&x->to_stdin) > 0) {
                n = write(fd, x->to_stdin.data + x->to_stdin.pos, buf_pending(&x->to_stdin));
                if (n < 0 && errno != EAGAIN && errno != EINTR) {
                        /* The command closed its input: drop what is left. */
                        x->to_stdin.pos = x->to_stdin.len;
                        x->stdin_eof = true;
                } else if (n > 0)
                        x->to_stdin.pos += (size_t)n;
        }
        exec_update_events(x);
        return 0;
}

static int handle_frame(HttpExec *x, uint8_t type, const char *p, size_t n)
{
        switch (type) {
        case FRAME_STDIN:
                if (n == 0) {
                        x->stdin_eof = true;
                        return 0;
                }
                return buf_append(&x->to_stdin, p, n);
        case FRAME_RESIZE:
                if (n == 4 && x->tty) {
                        struct winsize ws = { .ws_row = (unsigned short)(((uint8_t)p[0] << 8) | (uint8_t)p[1]),
                                              .ws_col = (unsigned short)(((uint8_t)p[2] << 8) | (uint8_t)p[3]) };
                        (void)ioctl(x->io.stdout_fd, TIOCSWINSZ, &ws);
                }
                return 0;
        default:
                return -EBADMSG;
        }
}

static int parse_frames(HttpExec *x)
{
        Buf *b = &x->from_client;

        while (buf_pending(b) >= FRAME_HDR) {
                const uint8_t *h = (const uint8_t *)b->data + b->pos;
                size_t n = ((size_t)h[1] << 24) | ((size_t)h[2] << 16) | ((size_t)h[3] << 8) | h[4];
                int r;

                if (n > FRAME_MAX)
                        return -EMSGSIZE;
                if (buf_pending(b) < FRAME_HDR + n)
                        break;
                r = handle_frame(x, h[0], b->data + b->pos + FRAME_HDR, n);
                if (r < 0)
                        return r;
                b->pos += FRAME_HDR + n;
        }
        if (b->pos == b->len)
                b->pos = b->len = 0;
        return 0;
}

static int on_socket(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        HttpExec *x = userdata;
        ssize_t n;

        if (revents & EPOLLOUT && buf_pending(&x->to_client) > 0) {
                n = send(fd, x->to_client.data + x->to_client.pos, buf_pending(&x->to_client), MSG_NOSIGNAL);
                if (n < 0 && errno != EAGAIN && errno != EINTR) {
                        exec_free(x);
                        return 0;
                }
                if (n > 0)
                        x->to_client.pos += (size_t)n;
                if (x->closing && buf_pending(&x->to_client) == 0) {
                        exec_free(x);
                        return 0;
                }
        }
        if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                char b[HTTP_STREAM_BLOCK];

                n = recv(fd, b, sizeof(b), 0);
                if (n < 0 && (errno == EAGAIN || errno == EINTR))
                        n = -1;
                else if (n <= 0) {
                        /* The client went away: the command goes too. */
                        exec_free(x);
                        return 0;
                }
                if (n > 0 && (buf_append(&x->from_client, b, (size_t)n) < 0 || parse_frames(x) < 0)) {
                        exec_free(x);
                        return 0;
                }
        }
        exec_update_events(x);
        return 0;
}

static void exec_update_events(HttpExec *x)
{
        bool out_full = buf_pending(&x->to_client) > HTTP_STREAM_HIGH_WATER;
        bool in_full = buf_pending(&x->to_stdin) > HTTP_STREAM_HIGH_WATER;
        int stdin_fd = x->tty ? x->io.stdout_fd : x->io.stdin_fd;
        uint32_t ev = 0;

        if (!x->closing && !in_full)
                ev |= EPOLLIN;
        if (buf_pending(&x->to_client) > 0)
                ev |= EPOLLOUT;
        if (x->sock_src) {
                (void)sd_event_source_set_io_events(x->sock_src, ev);
                (void)sd_event_source_set_enabled(x->sock_src, ev ? SD_EVENT_ON : SD_EVENT_OFF);
        }
        if (x->out_src)
                (void)sd_event_source_set_enabled(x->out_src, out_full ? SD_EVENT_OFF : SD_EVENT_ON);
        if (x->err_src)
                (void)sd_event_source_set_enabled(x->err_src, out_full ? SD_EVENT_OFF : SD_EVENT_ON);

        if (buf_pending(&x->to_stdin) == 0 && x->stdin_eof && !x->tty && x->io.stdin_fd >= 0) {
                x->in_src = sd_event_source_disable_unref(x->in_src);
                x->io.stdin_fd = safe_close(x->io.stdin_fd);
                return;
        }
        if (buf_pending(&x->to_stdin) == 0 && x->stdin_eof && x->tty && !x->closing) {
                /* A terminal has no EOF of its own: send ^D once. */
                x->stdin_eof = false;
                (void)buf_append(&x->to_stdin, "\x04", 1);
        }
        if (stdin_fd < 0)
                return;
        if (!x->in_src && buf_pending(&x->to_stdin) > 0) {
                if (sd_event_add_io(x->http->event, &x->in_src, stdin_fd, EPOLLOUT, on_stdin_writable, x) < 0)
                        return;
        }
        if (x->in_src)
                (void)sd_event_source_set_enabled(x->in_src,
                                                  buf_pending(&x->to_stdin) > 0 ? SD_EVENT_ON : SD_EVENT_OFF);
}

static void on_upgrade(void *cls, struct MHD_Connection *connection, void *con_cls, const char *extra_in,
                       size_t extra_in_size, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
        HttpExec *x = cls;
        int r;

        x->sock = sock;
        x->urh = urh;
        (void)fcntl(sock, F_SETFL, fcntl(sock, F_GETFL) | O_NONBLOCK);
        if (extra_in_size > 0 && (buf_append(&x->from_client, extra_in, extra_in_size) < 0 || parse_frames(x) < 0)) {
                exec_free(x);
                return;
        }
        r = sd_event_add_io(x->http->event, &x->sock_src, sock, EPOLLIN, on_socket, x);
        if (r >= 0)
                r = sd_event_add_io(x->http->event, &x->out_src, x->io.stdout_fd, EPOLLIN, on_output, x);
        if (r >= 0 && x->io.stderr_fd >= 0)
                r = sd_event_add_io(x->http->event, &x->err_src, x->io.stderr_fd, EPOLLIN, on_output, x);
        if (r >= 0)
                r = sd_event_add_io(x->http->event, &x->status_src, x->io.status_fd, EPOLLIN, on_status, x);
        if (r < 0) {
                wlog_warning_errno(x->name, r, "exec: cannot watch the session: %m");
                exec_free(x);
                return;
        }
        wlog_debug(x->name, "exec session started%s", x->tty ? " (tty)" : "");
        exec_update_events(x);
}

enum MHD_Result http_exec_start(HttpRequest *req, const char *name)
{
        _cleanup_strv_free_ char **argv = NULL;
        struct MHD_Response *resp;
        BerthError err = {};
        const char *up;
        HttpExec *x;
        bool tty = false;
        int r;

        up = MHD_lookup_connection_value(req->connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_UPGRADE);
        if (!up || strcasecmp(up, "berth-exec") != 0)
                return http_queue_error_errno(req, -EINVAL, NULL,
                                              "exec needs \"Connection: Upgrade\" and \"Upgrade: berth-exec\"") < 0
                               ? MHD_NO
                               : MHD_YES;
        r = api_core_exec_parse(req->body, req->body_len, &argv, &tty, &err);
        if (r < 0)
                return http_queue_error(req, &err) < 0 ? MHD_NO : MHD_YES;
        x = calloc(1, sizeof(*x));
        if (!x || !(x->name = strdup(name))) {
                free(x);
                return http_queue_error_errno(req, -ENOMEM, NULL, "out of memory") < 0 ? MHD_NO : MHD_YES;
        }
        x->http = req->http;
        x->tty = tty;
        x->sock = -EBADF;
        r = api_core_exec(&req->http->core, name, argv, tty, &x->io, &err);
        if (r < 0) {
                free(x->name);
                free(x);
                return http_queue_error(req, &err) < 0 ? MHD_NO : MHD_YES;
        }
        x->next = req->http->execs;
        req->http->execs = x;
        resp = MHD_create_response_for_upgrade(on_upgrade, x);
        if (!resp) {
                exec_free(x);
                return MHD_NO;
        }
        (void)MHD_add_response_header(resp, MHD_HTTP_HEADER_UPGRADE, "berth-exec");
        (void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "Upgrade");
        r = MHD_queue_response(req->connection, MHD_HTTP_SWITCHING_PROTOCOLS, resp);
        MHD_destroy_response(resp);
        req->responded = r == MHD_YES;
        wlog_info(name, "exec %s%s", argv[0], tty ? " (tty)" : "");
        return r == MHD_YES ? MHD_YES : MHD_NO;
}
