/* SPDX-License-Identifier: Apache-2.0 */
/* berth.v1.Exec/Exec: a bidirectional call over the same API core
 * operation as POST /v1/workloads/{name}/exec (api_core_exec_parse +
 * api_core_exec: one validator, one driver path). The first ExecInput names
 * the workload and the command; stdin bytes, end of input and terminal
 * resizes follow in any message. The command's stdout/stderr go back as
 * ExecOutput messages; the last one carries the exit code.
 *
 * Everything is non-blocking on the daemon's event loop: output is buffered
 * in the stream up to GRPC_STREAM_HIGH_WATER, above which the command's
 * output is no longer read until HTTP/2 flow control drained it (the data
 * provider calls grpc_exec_fill); stdin is buffered up to GRPC_EXEC_STDIN_MAX,
 * beyond which the call ends RESOURCE_EXHAUSTED (the connection is shared
 * by other calls, so it is not throttled for one slow reader). */
#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <termios.h>

#include "api/grpc-internal.h"
#include "lib/log.h"

#define GRPC_EXEC_STDIN_MAX (4 * 1024 * 1024)
#define GRPC_EXEC_READ 16384

struct GrpcExec {
        GrpcStream *stream;
        char *name;
        bool started, tty;
        ApiExecIo io;
        sd_event_source *out_src, *err_src, *in_src, *status_src;
        uint8_t *in; /* undecoded request bytes */
        size_t in_len, in_cap;
        uint8_t *stdin_buf; /* bytes for the command */
        size_t stdin_len, stdin_pos, stdin_cap;
        bool stdin_eof;
        bool have_exit;
        int exit_code;
};

static void exec_update(GrpcExec *x);

static void exec_free(GrpcExec *x)
{
        if (!x)
                return;
        x->out_src = sd_event_source_disable_unref(x->out_src);
        x->err_src = sd_event_source_disable_unref(x->err_src);
        x->in_src = sd_event_source_disable_unref(x->in_src);
        x->status_src = sd_event_source_disable_unref(x->status_src);
        /* A call that ends before the command does (cancel, deadline, error) kills it. */
        if (x->started && x->io.pidfd >= 0 && !x->have_exit)
                (void)syscall(SYS_pidfd_send_signal, x->io.pidfd, SIGKILL, NULL, 0);
        safe_close(x->io.stdin_fd);
        safe_close(x->io.stdout_fd);
        safe_close(x->io.stderr_fd);
        safe_close(x->io.pidfd);
        safe_close(x->io.status_fd);
        free(x->in);
        free(x->stdin_buf);
        free(x->name);
        free(x);
}

void grpc_exec_release(GrpcStream *s)
{
        GrpcExec *x = TAKE_PTR(s->exec);

        exec_free(x);
}

static GrpcExec *exec_get(GrpcStream *s)
{
        if (!s->exec) {
                s->exec = calloc(1, sizeof(GrpcExec));
                if (!s->exec)
                        return NULL;
                s->exec->stream = s;
                s->exec->io = (ApiExecIo){.stdin_fd = -EBADF,
                                          .stdout_fd = -EBADF,
                                          .stderr_fd = -EBADF,
                                          .pidfd = -EBADF,
                                          .status_fd = -EBADF};
                s->kind = GRPC_STREAM_EXEC;
        }
        return s->exec;
}

static void exec_fail(GrpcExec *x, GrpcStatus st, const char *msg)
{
        GrpcStream *s = x->stream;

        grpc_stream_finish(s, st, "%s", msg);
        grpc_exec_release(s); /* frees x */
}

static int send_output(GrpcExec *x, int stream, const uint8_t *p, size_t n)
{
        Berth__V1__ExecOutput m = BERTH__V1__EXEC_OUTPUT__INIT;

        m.stream = stream;
        m.data.data = (uint8_t *)p;
        m.data.len = n;
        return grpc_stream_send(x->stream, &m.base);
}

/* Finished once the exit code is known and all output was read. */
static void exec_maybe_finish(GrpcExec *x)
{
        Berth__V1__ExecOutput m = BERTH__V1__EXEC_OUTPUT__INIT;
        GrpcStream *s = x->stream;

        if (!x->have_exit || x->io.stdout_fd >= 0 || x->io.stderr_fd >= 0)
                return;
        m.exited = true;
        m.exit_code = x->exit_code;
        if (grpc_stream_send(s, &m.base) < 0)
                return exec_fail(x, GRPC_INTERNAL, "cannot send the exit code");
        wlog_debug(x->name, "exec over gRPC ended with %d", x->exit_code);
        grpc_stream_finish(s, GRPC_OK, NULL);
        grpc_exec_release(s);
}

static void out_closed(GrpcExec *x, int *fd, sd_event_source **src)
{
        *src = sd_event_source_disable_unref(*src);
        *fd = safe_close(*fd);
        exec_maybe_finish(x);
}

static int on_output(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
        GrpcExec *x = userdata;
        bool is_err = src == x->err_src;
        uint8_t b[GRPC_EXEC_READ];
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
        if (send_output(x, is_err ? 2 : 1, b, (size_t)n) < 0) {
                exec_fail(x, GRPC_RESOURCE_EXHAUSTED, "cannot buffer the command's output");
                return 0;
        }
        exec_update(x);
        return 0;
}

static int on_status(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
        GrpcExec *x = userdata;
        int code = -1;
        ssize_t n;

        n = read(fd, &code, sizeof(code));
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return 0;
        x->status_src = sd_event_source_disable_unref(x->status_src);
        x->have_exit = true;
        x->exit_code = n == (ssize_t)sizeof(code) ? code : 126;
        /* With a pty the master never sees EOF while someone holds the
         * replica (e.g. a background child): drain it and stop reading now. */
        if (x->tty && x->io.stdout_fd >= 0) {
                uint8_t b[GRPC_EXEC_READ];
                ssize_t m;
                while ((m = read(x->io.stdout_fd, b, sizeof(b))) > 0)
                        (void)send_output(x, 1, b, (size_t)m);
                out_closed(x, &x->io.stdout_fd, &x->out_src);
                return 0;
        }
        exec_maybe_finish(x);
        return 0;
}

static int on_stdin_writable(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
        GrpcExec *x = userdata;
        ssize_t n;

        if (x->stdin_pos < x->stdin_len) {
                n = write(fd, x->stdin_buf + x->stdin_pos, x->stdin_len - x->stdin_pos);
                if (n < 0 && errno != EAGAIN && errno != EINTR) {
                        /* The command closed its input: drop what is left. */
                        x->stdin_pos = x->stdin_len;
                        x->stdin_eof = true;
                } else if (n > 0)
                        x->stdin_pos += (size_t)n;
        }
        exec_update(x);
        return 0;
}

static int stdin_append(GrpcExec *x, const uint8_t *p, size_t n)
{
        if (n == 0)
                return 0;
        if (x->stdin_pos > 0 && x->stdin_pos == x->stdin_len)
                x->stdin_pos = x->stdin_len = 0;
        if (x->stdin_len - x->stdin_pos + n > GRPC_EXEC_STDIN_MAX)
                return -ENOBUFS;
        if (x->stdin_len + n > x->stdin_cap) {
                size_t cap = MAX(x->stdin_cap * 2, x->stdin_len + n);
                uint8_t *d = realloc(x->stdin_buf, cap);
                if (!d)
                        return -ENOMEM;
                x->stdin_buf = d;
                x->stdin_cap = cap;
        }
        memcpy(x->stdin_buf + x->stdin_len, p, n);
        x->stdin_len += n;
        return 0;
}

static void exec_update(GrpcExec *x)
{
        GrpcStream *s = x->stream;
        bool out_full = s->out_len - s->out_pos > GRPC_STREAM_HIGH_WATER;
        int in_fd = x->tty ? x->io.stdout_fd : x->io.stdin_fd;
        bool pending = x->stdin_pos < x->stdin_len;

        if (!x->started)
                return;
        if (x->out_src)
                (void)sd_event_source_set_enabled(x->out_src, out_full ? SD_EVENT_OFF : SD_EVENT_ON);
        if (x->err_src)
                (void)sd_event_source_set_enabled(x->err_src, out_full ? SD_EVENT_OFF : SD_EVENT_ON);
        if (!pending && x->stdin_eof && !x->tty && x->io.stdin_fd >= 0) {
                x->in_src = sd_event_source_disable_unref(x->in_src);
                x->io.stdin_fd = safe_close(x->io.stdin_fd);
                return;
        }
        if (!pending && x->stdin_eof && x->tty && !x->have_exit) {
                /* A terminal has no EOF of its own: send ^D once. */
                x->stdin_eof = false;
                (void)stdin_append(x, (const uint8_t *)"\x04", 1);
                pending = true;
        }
        if (in_fd < 0)
                return;
        if (!x->in_src && pending &&
            sd_event_add_io(s->conn->server->event, &x->in_src, in_fd, EPOLLOUT, on_stdin_writable, x) < 0)
                return;
        if (x->in_src)
                (void)sd_event_source_set_enabled(x->in_src, pending ? SD_EVENT_ON : SD_EVENT_OFF);
}

void grpc_exec_fill(GrpcStream *s)
{
        if (s->exec)
                exec_update(s->exec);
}

/* The first message: validate through the core exactly like the HTTP body, then start. */
static void exec_start(GrpcExec *x, const Berth__V1__ExecInput *m)
{
        GrpcStream *s = x->stream;
        ApiCore *c = &s->conn->server->core;
        _cleanup_strv_free_ char **argv = NULL;
        _cleanup_free_ char *body = NULL;
        sd_event *e = s->conn->server->event;
        BerthError err = {};
        json_t *doc, *cmd;
        char buf[1100];
        bool tty = false;
        int r;

        cmd = json_array();
        for (size_t i = 0; cmd && i < m->n_command; i++)
                if (json_array_append_new(cmd, json_string(m->command[i])) < 0) {
                        json_decref(cmd);
                        cmd = NULL;
                }
        doc = cmd ? json_pack("{s:o, s:b}", "command", cmd, "tty", m->tty) : NULL;
        body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        json_decref(doc);
        if (!body)
                return exec_fail(x, GRPC_RESOURCE_EXHAUSTED, "out of memory");
        r = api_core_exec_parse(body, strlen(body), &argv, &tty, &err);
        if (r >= 0) {
                x->name = strdup(m->name);
                if (!x->name)
                        return exec_fail(x, GRPC_RESOURCE_EXHAUSTED, "out of memory");
                /* The exec event names the caller like every other write. */
                api_core_caller_begin(c, &s->conn->caller);
                r = api_core_exec(c, m->name, argv, tty, &x->io, &err);
                api_core_caller_end(c);
        }
        if (r < 0)
                return exec_fail(x, grpc_status_from_error(err.error),
                                 berth_error_format(&err, buf, sizeof(buf)));
        x->started = true;
        x->tty = tty;
        r = sd_event_add_io(e, &x->out_src, x->io.stdout_fd, EPOLLIN, on_output, x);
        if (r >= 0 && x->io.stderr_fd >= 0)
                r = sd_event_add_io(e, &x->err_src, x->io.stderr_fd, EPOLLIN, on_output, x);
        if (r >= 0)
                r = sd_event_add_io(e, &x->status_src, x->io.status_fd, EPOLLIN, on_status, x);
        if (r < 0)
                return exec_fail(x, GRPC_INTERNAL, "cannot watch the exec session");
        wlog_info(x->name, "exec %s%s through gRPC by %s", argv[0], tty ? " (tty)" : "", s->conn->caller.id);
        /* Headers now: the client learns the command runs before any output. */
        if (grpc_stream_begin(s) < 0)
                return exec_fail(x, GRPC_INTERNAL, "cannot start the stream");
        grpc_stream_wake(s);
}

void grpc_exec_message(GrpcStream *s, const ProtobufCMessage *req)
{
        const Berth__V1__ExecInput *m = (const void *)req;
        GrpcExec *x = exec_get(s);

        if (!x)
                return grpc_stream_finish(s, GRPC_RESOURCE_EXHAUSTED, "out of memory");
        if (!x->started) {
                exec_start(x, m);
                if (!s->exec)
                        return; /* failed and answered */
        } else if (m->name[0] || m->n_command > 0 || m->tty)
                return exec_fail(x, GRPC_INVALID_ARGUMENT,
                                 "name, command and tty belong in the first message only");
        if (stdin_append(x, m->stdin.data, m->stdin.len) < 0)
                return exec_fail(x, GRPC_RESOURCE_EXHAUSTED,
                                 "stdin: more than 4 MiB buffered that the command does not read");
        if (m->stdin_eof)
                x->stdin_eof = true;
        if (m->resize_rows > 0 && m->resize_cols > 0 && x->tty) {
                struct winsize ws = {.ws_row = (unsigned short)MIN(m->resize_rows, 0xffffu),
                                     .ws_col = (unsigned short)MIN(m->resize_cols, 0xffffu)};
                (void)ioctl(x->io.stdout_fd, TIOCSWINSZ, &ws);
        }
        exec_update(x);
}

void grpc_exec_input_end(GrpcStream *s)
{
        GrpcExec *x = s->exec;

        if (s->finished)
                return;
        if (!x || !x->started) {
                grpc_stream_finish(s, GRPC_INVALID_ARGUMENT,
                                   "the first message must name the workload and the command");
                grpc_exec_release(s);
                return;
        }
        if (x->in_len > 0)
                return exec_fail(x, GRPC_INVALID_ARGUMENT, "the request ended inside a message");
        x->stdin_eof = true;
        exec_update(x);
}

/* Decodes every whole message of a client-streaming request and runs the handler on it. */
void grpc_stream_input(GrpcStream *s, const uint8_t *data, size_t len)
{
        size_t max = s->conn->server->config.max_message;
        GrpcExec *x = exec_get(s);

        if (!x)
                return grpc_stream_finish(s, GRPC_RESOURCE_EXHAUSTED, "out of memory");
        if (x->in_len + len > x->in_cap) {
                size_t cap = MAX(x->in_cap * 2, x->in_len + len);
                uint8_t *p = realloc(x->in, cap); /* one partial message (<= max + 5) plus a chunk */
                if (!p)
                        return exec_fail(x, GRPC_RESOURCE_EXHAUSTED, "out of memory");
                x->in = p;
                x->in_cap = cap;
        }
        memcpy(x->in + x->in_len, data, len);
        x->in_len += len;
        while (s->exec && !s->finished && x->in_len >= 5) {
                uint32_t n =
                    (uint32_t)x->in[1] << 24 | (uint32_t)x->in[2] << 16 | (uint32_t)x->in[3] << 8 | x->in[4];
                ProtobufCMessage *msg;

                if (x->in[0] == 1)
                        return exec_fail(x, GRPC_UNIMPLEMENTED, "compressed messages are not supported");
                if (x->in[0] > 1)
                        return exec_fail(x, GRPC_INVALID_ARGUMENT, "malformed message frame");
                if (n > max)
                        return exec_fail(x, GRPC_RESOURCE_EXHAUSTED,
                                         "request message exceeds the size limit");
                if (x->in_len < 5 + (size_t)n)
                        break;
                msg = grpc_message_decode(s->method->input, x->in + 5, n);
                if (!msg)
                        return exec_fail(x, GRPC_INVALID_ARGUMENT, "malformed berth.v1.ExecInput message");
                memmove(x->in, x->in + 5 + n, x->in_len - 5 - n);
                x->in_len -= 5 + n;
                s->method->handler(s, msg);
                protobuf_c_message_free_unpacked(msg, NULL);
                x = s->exec; /* the handler may have ended the call */
                if (!x)
                        break;
        }
}
