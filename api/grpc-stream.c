/* SPDX-License-Identifier: Apache-2.0 */
/* Server-streaming methods: logs and events. Same model as the HTTP
 * adapter's http-stream.c: output is produced when the HTTP/2 layer asks for
 * more (grpc_stream_fill from the data provider); when nothing is ready the
 * stream parks and an inotify event, a backend event or the workload's exit
 * wakes it. */
#include <inttypes.h>
#include <sys/inotify.h>

#include "api/grpc-internal.h"
#include "lib/log.h"

#define GRPC_EVENTS_BUFFER_MAX (8 * 1024 * 1024)

static int on_log_dir_changed(sd_event_source *src, const struct inotify_event *ev, void *userdata)
{
        grpc_stream_wake(userdata);
        return 0;
}

static void on_log_workload_exited(void *userdata, const Workload *w, int error)
{
        GrpcStream *s = userdata;

        s->exit_watch = NULL; /* final callback */
        s->workload_exited = true;
        grpc_stream_wake(s);
}

static void logs_fill(GrpcStream *s)
{
        _cleanup_free_ char *buf = NULL;
        size_t len = 0, cap = 0;
        Berth__V1__LogChunk chunk = BERTH__V1__LOG_CHUNK__INIT;
        LogRecord rec;
        int r;

        while (len < GRPC_LOG_CHUNK) {
                r = log_reader_next(s->reader, &rec);
                if (r < 0) {
                        grpc_stream_finish(s, GRPC_INTERNAL, "reading the log failed: %s", strerror(-r));
                        return;
                }
                if (r == 0)
                        break;
                r = api_log_record_render(&rec, s->log_format, &s->midline, &buf, &len, &cap);
                if (r < 0) {
                        grpc_stream_finish(s, GRPC_RESOURCE_EXHAUSTED, "out of memory");
                        return;
                }
        }
        if (len > 0) {
                chunk.data.data = (uint8_t *)buf;
                chunk.data.len = len;
                r = grpc_stream_send(s, &chunk.base);
                if (r < 0) {
                        grpc_stream_finish(s, GRPC_INTERNAL, "cannot send: %s", strerror(-r));
                        return;
                }
                return; /* more on the next call */
        }
        /* drained: done unless following a live workload */
        if (!s->log_follow || s->workload_exited)
                grpc_stream_finish(s, GRPC_OK, NULL);
}

void grpc_stream_fill(GrpcStream *s)
{
        if (s->kind == GRPC_STREAM_LOGS && s->reader && !s->finished)
                logs_fill(s);
        else if (s->kind == GRPC_STREAM_EXEC)
                grpc_exec_fill(s);
}

void grpc_stream_logs(GrpcStream *s, const ProtobufCMessage *req)
{
        const Berth__V1__LogsRequest *m = (const void *)req;
        ApiCore *c = &s->conn->server->core;
        BerthError err = {};
        ApiLogRequest lr;
        char tail[32];
        const char *format;
        int r;

        snprintf(tail, sizeof(tail), "%" PRIu64, m->tail);
        switch (m->format) {
        case BERTH__V1__LOG_FORMAT__LOG_FORMAT_PLAIN:
                format = NULL;
                break;
        case BERTH__V1__LOG_FORMAT__LOG_FORMAT_TIMESTAMPS:
                format = NULL;
                break;
        case BERTH__V1__LOG_FORMAT__LOG_FORMAT_RAW:
                format = "raw";
                break;
        default:
                return grpc_stream_finish(s, GRPC_INVALID_ARGUMENT, "format: unknown log format %d", m->format);
        }
        r = api_core_logs_parse(m->has_tail ? tail : NULL, m->follow ? "1" : NULL,
                                m->format == BERTH__V1__LOG_FORMAT__LOG_FORMAT_TIMESTAMPS ? "1" : NULL, format, &lr,
                                &err);
        if (r < 0)
                return grpc_stream_finish_error(s, &err);
        r = api_core_logs_open(c, m->name, &lr, &s->log_dirfd, &s->reader, &err);
        if (r < 0)
                return grpc_stream_finish_error(s, &err);
        s->kind = GRPC_STREAM_LOGS;
        s->log_format = lr.format;
        s->log_follow = lr.follow;
        if (lr.follow) {
                r = api_core_wait(c, m->name, on_log_workload_exited, s, &s->exit_watch, &err);
                if (r < 0)
                        return grpc_stream_finish_error(s, &err);
                r = sd_event_add_inotify_fd(s->conn->server->event, &s->inotify_source, s->log_dirfd,
                                            IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE, on_log_dir_changed,
                                            s);
                if (r < 0)
                        return grpc_stream_finish(s, GRPC_INTERNAL, "cannot watch the log: %s", strerror(-r));
        }
        logs_fill(s);
        /* Nothing yet: send the headers so the client sees the call is up. */
        if (!s->finished && grpc_stream_begin(s) < 0)
                grpc_stream_finish(s, GRPC_INTERNAL, "cannot start the stream");
}

static void on_event(void *userdata, const BerthEvent *ev, int error)
{
        GrpcStream *s = userdata;
        Berth__V1__Event m;
        int r;

        if (!ev) {
                s->events_watch = NULL; /* final callback */
                if (error < 0)
                        grpc_stream_finish(s, grpc_status_from_error(error), "event stream ended: %s",
                                           strerror(-error));
                else
                        grpc_stream_finish(s, GRPC_OK, NULL);
                return;
        }
        if (s->finished)
                return;
        grpc_event_to_msg(ev, &m);
        r = s->out_len > GRPC_EVENTS_BUFFER_MAX ? -ENOBUFS : grpc_stream_send(s, &m.base);
        if (r < 0) {
                /* A client that does not read is cut off rather than buffered without bound. */
                grpc_stream_release(s);
                grpc_stream_finish(s, GRPC_RESOURCE_EXHAUSTED, "client too slow: %s", strerror(-r));
        }
}

void grpc_stream_events(GrpcStream *s, const ProtobufCMessage *req)
{
        const Berth__V1__EventsRequest *m = (const void *)req;
        BerthError err = {};
        char since[32];
        int r;

        snprintf(since, sizeof(since), "%" PRIu64, m->since);
        s->kind = GRPC_STREAM_EVENTS;
        r = api_core_events(&s->conn->server->core, since, m->workload[0] ? m->workload : NULL,
                            m->follow ? "1" : NULL, on_event, s, &s->events_watch, NULL, &err);
        if (r < 0)
                return grpc_stream_finish_error(s, &err);
        (void)grpc_stream_begin(s);
}

void grpc_stream_release(GrpcStream *s)
{
        ApiCore *c = &s->conn->server->core;

        if (s->exit_watch) {
                api_core_watch_cancel(c, s->exit_watch);
                s->exit_watch = NULL;
        }
        if (s->events_watch) {
                api_core_watch_cancel(c, s->events_watch);
                s->events_watch = NULL;
        }
        s->inotify_source = sd_event_source_disable_unref(s->inotify_source);
        s->reader = log_reader_free(s->reader);
        s->log_dirfd = safe_close(s->log_dirfd);
        grpc_exec_release(s);
        grpc_images_release(s);
}
