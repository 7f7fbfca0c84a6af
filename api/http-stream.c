/* SPDX-License-Identifier: Apache-2.0 */
/* Streaming responses (logs, events): chunked responses from a content
 * reader. When the reader has nothing to send it suspends the connection;
 * new data (an inotify event on the workload directory, a backend event, the
 * workload's exit) resumes it. The request owns everything here; it is freed
 * by MHD's request-completed callback, which cancels the watches first. */
#include <sys/inotify.h>

#include "api/http-internal.h"
#include "lib/log.h"

#define HTTP_STREAM_BUFFER_MAX (8 * 1024 * 1024)

static void stream_wake(HttpRequest *req)
{
        if (req->suspended)
                http_request_resume(req);
}

static int out_append(HttpRequest *req, const char *data, size_t n)
{
        if (req->out_len + n + 1 > req->out_cap) {
                size_t cap = (req->out_len + n + 1) * 2;
                char *p = realloc(req->out, cap);
                if (!p)
                        return -ENOMEM;
                req->out = p;
                req->out_cap = cap;
        }
        memcpy(req->out + req->out_len, data, n);
        req->out_len += n;
        return 0;
}

static void logs_fill(HttpRequest *req)
{
        LogRecord rec;
        int r;

        while (req->out_len < HTTP_STREAM_BLOCK) {
                r = log_reader_next(req->reader, &rec);
                if (r < 0) {
                        log_debug_errno(r, "api: reading a log failed: %m");
                        req->stream_error = true;
                        return;
                }
                if (r == 0) {
                        /* drained: done unless following a live workload */
                        if (!req->log_follow || req->workload_exited)
                                req->stream_done = true;
                        return;
                }
                r = api_log_record_render(&rec, req->log_format, &req->midline, &req->out, &req->out_len,
                                          &req->out_cap);
                if (r < 0) {
                        req->stream_error = true;
                        return;
                }
        }
}

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
        HttpRequest *req = cls;
        size_t n;

        if (req->disconnected || req->stream_error)
                return MHD_CONTENT_READER_END_WITH_ERROR;
        if (req->out_pos >= req->out_len) {
                req->out_pos = req->out_len = 0;
                if (req->stream_kind == HTTP_STREAM_LOGS && !req->stream_done)
                        logs_fill(req);
                if (req->stream_error)
                        return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        if (req->out_pos < req->out_len) {
                n = req->out_len - req->out_pos;
                if (n > max)
                        n = max;
                memcpy(buf, req->out + req->out_pos, n);
                req->out_pos += n;
                return (ssize_t)n;
        }
        if (req->stream_done || req->http->closing)
                return MHD_CONTENT_READER_END_OF_STREAM;
        /* nothing now: park until data or the end arrives */
        http_request_suspend(req);
        return 0;
}

static enum MHD_Result stream_start(HttpRequest *req, HttpStreamKind kind, const char *content_type)
{
        struct MHD_Response *resp;
        enum MHD_Result q;

        req->stream_kind = kind;
        resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, HTTP_STREAM_BLOCK, stream_reader, req, NULL);
        if (!resp)
                return MHD_NO;
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
        q = MHD_queue_response(req->connection, MHD_HTTP_OK, resp);
        MHD_destroy_response(resp);
        req->responded = q == MHD_YES;
        return q;
}

/* ---- logs ---- */

static int on_log_dir_changed(sd_event_source *s, const struct inotify_event *ev, void *userdata)
{
        stream_wake(userdata);
        return 0;
}

static void on_log_workload_exited(void *userdata, const Workload *w, int error)
{
        HttpRequest *req = userdata;

        req->exit_watch = NULL; /* final callback */
        req->workload_exited = true;
        stream_wake(req);
}

enum MHD_Result http_stream_logs(HttpRequest *req, const char *name)
{
        ApiCore *c = &req->http->core;
        BerthError err = {};
        ApiLogRequest lr;
        int r;

#define ARG(k) MHD_lookup_connection_value(req->connection, MHD_GET_ARGUMENT_KIND, k)
        r = api_core_logs_parse(ARG("tail"), ARG("follow"), ARG("timestamps"), ARG("format"), &lr, &err);
#undef ARG
        if (r < 0)
                return http_queue_error(req, &err) < 0 ? MHD_NO : MHD_YES;
        r = api_core_logs_open(c, name, &lr, &req->log_dirfd, &req->reader, &err);
        if (r < 0)
                return http_queue_error(req, &err) < 0 ? MHD_NO : MHD_YES;
        req->log_format = lr.format;
        req->log_follow = lr.follow;

        if (lr.follow) {
                r = api_core_wait(c, name, on_log_workload_exited, req, &req->exit_watch, &err);
                if (r < 0)
                        return http_queue_error(req, &err) < 0 ? MHD_NO : MHD_YES;
                r = sd_event_add_inotify_fd(req->http->event, &req->inotify_source, req->log_dirfd,
                                            IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE, on_log_dir_changed,
                                            req);
                if (r < 0)
                        return http_queue_error_errno(req, r, NULL, "cannot watch the log: %s", strerror(-r)) < 0
                                       ? MHD_NO
                                       : MHD_YES;
        }
        return stream_start(req, HTTP_STREAM_LOGS, "text/plain; charset=utf-8");
}

/* ---- events ---- */

static void on_event(void *userdata, const BerthEvent *ev, int error)
{
        HttpRequest *req = userdata;
        _cleanup_free_ char *s = NULL;
        json_t *doc;

        if (!ev) {
                req->events_watch = NULL; /* final callback */
                req->stream_done = true;
                if (error < 0)
                        log_debug_errno(error, "api: event stream ended: %m");
                stream_wake(req);
                return;
        }
        if (req->stream_error)
                return;
        doc = api_event_to_json(ev);
        s = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        json_decref(doc);
        /* A client that does not read is cut off rather than buffered without bound. */
        if (!s || req->out_len > HTTP_STREAM_BUFFER_MAX || out_append(req, s, strlen(s)) < 0 ||
            out_append(req, "\n", 1) < 0)
                req->stream_error = true;
        stream_wake(req);
}

enum MHD_Result http_stream_events(HttpRequest *req)
{
        BerthError err = {};
        int r;

#define ARG(k) MHD_lookup_connection_value(req->connection, MHD_GET_ARGUMENT_KIND, k)
        r = api_core_events(&req->http->core, ARG("since"), ARG("workload"), ARG("follow"), on_event, req,
                            &req->events_watch, NULL, &err);
#undef ARG
        if (r < 0)
                return http_queue_error(req, &err) < 0 ? MHD_NO : MHD_YES;
        return stream_start(req, HTTP_STREAM_EVENTS, "application/x-ndjson");
}

void http_stream_release(HttpRequest *req)
{
        req->inotify_source = sd_event_source_disable_unref(req->inotify_source);
        req->reader = log_reader_free(req->reader);
        req->log_dirfd = safe_close(req->log_dirfd);
        free(req->out);
        req->out = NULL;
        req->out_len = req->out_cap = req->out_pos = 0;
}
