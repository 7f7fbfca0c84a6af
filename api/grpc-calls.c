/* SPDX-License-Identifier: Apache-2.0 */
/* One gRPC call on an HTTP/2 stream: the nghttp2 callbacks that build it from
 * HEADERS and DATA frames, its admission and dispatch to a method, the
 * length-prefixed message framing of its output, its deadline and its
 * trailers. The connections it runs on are grpc-server.c's. See docs/GRPC.md. */
#include <stdarg.h>

#include "api/grpc-internal.h"
#include "lib/log.h"

void grpc_stream_free(GrpcStream *s)
{
        GrpcConn *c;

        if (!s)
                return;
        c = s->conn;
        grpc_stream_release(s);
        if (s->watch)
                api_core_watch_cancel(&c->server->core, s->watch);
        if (s->remove_op)
                s->remove_op->stream = NULL; /* freed by its completion */
        sd_event_source_disable_unref(s->deadline_source);
        if (s->prev)
                s->prev->next = s->next;
        else
                c->streams = s->next;
        if (s->next)
                s->next->prev = s->prev;
        c->n_streams--;
        free(s->in);
        free(s->out);
        free(s->status_message);
        free(s);
}

static ssize_t stream_data_read(nghttp2_session *session, int32_t stream_id, uint8_t *buf, size_t length,
                                uint32_t *data_flags, nghttp2_data_source *source, void *user_data)
{
        GrpcStream *s = source->ptr;
        size_t n;

        if (s->out_pos >= s->out_len) {
                s->out_pos = s->out_len = 0;
                if (!s->finished && s->kind != GRPC_STREAM_UNARY)
                        grpc_stream_fill(s);
        }
        if (s->out_pos < s->out_len) {
                n = MIN(length, s->out_len - s->out_pos);
                memcpy(buf, s->out + s->out_pos, n);
                s->out_pos += n;
                return (ssize_t)n;
        }
        if (s->finished) {
                _cleanup_free_ char *msg = s->status_message ? grpc_message_encode(s->status_message) : NULL;
                char code[16];
                nghttp2_nv nv[2];
                size_t n_nv = 0;

                snprintf(code, sizeof(code), "%d", (int)s->status);
                nv[n_nv++] = (nghttp2_nv){ (uint8_t *)"grpc-status", (uint8_t *)code, STRLEN("grpc-status"),
                                           strlen(code), NGHTTP2_NV_FLAG_NONE };
                if (msg)
                        nv[n_nv++] = (nghttp2_nv){ (uint8_t *)"grpc-message", (uint8_t *)msg,
                                                   STRLEN("grpc-message"), strlen(msg), NGHTTP2_NV_FLAG_NONE };
                *data_flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
                if (nghttp2_submit_trailer(session, stream_id, nv, n_nv) != 0)
                        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
                s->trailers_submitted = true;
                return 0;
        }
        s->deferred = true;
        return NGHTTP2_ERR_DEFERRED;
}

#define NV(n, v) ((nghttp2_nv){ (uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), NGHTTP2_NV_FLAG_NONE })

int grpc_stream_begin(GrpcStream *s)
{
        nghttp2_data_provider prd = { .source.ptr = s, .read_callback = stream_data_read };
        nghttp2_nv nv[] = { NV(":status", "200"), NV("content-type", "application/grpc") };
        int r;

        if (s->response_submitted)
                return 0;
        r = nghttp2_submit_response(s->conn->session, s->id, nv, ELEMENTSOF(nv), &prd);
        if (r != 0)
                return -EIO;
        s->response_submitted = true;
        return 0;
}

void grpc_stream_wake(GrpcStream *s)
{
        if (s->deferred) {
                s->deferred = false;
                (void)nghttp2_session_resume_data(s->conn->session, s->id);
        }
        grpc_conn_schedule_flush(s->conn);
}

int grpc_stream_send(GrpcStream *s, const ProtobufCMessage *m)
{
        size_t size = protobuf_c_message_get_packed_size(m);
        size_t need;
        int r;

        if (s->finished)
                return -ESHUTDOWN;
        if (size > s->conn->server->config.max_message)
                return -EMSGSIZE;
        need = s->out_len + 5 + size;
        if (need > GRPC_OUT_MAX + s->conn->server->config.max_message)
                return -ENOBUFS; /* a client that does not read is cut off */
        if (need > s->out_cap) {
                size_t cap = MAX(need, s->out_cap * 2);
                uint8_t *p = realloc(s->out, cap);
                if (!p)
                        return -ENOMEM;
                s->out = p;
                s->out_cap = cap;
        }
        s->out[s->out_len] = 0; /* not compressed */
        s->out[s->out_len + 1] = (uint8_t)(size >> 24);
        s->out[s->out_len + 2] = (uint8_t)(size >> 16);
        s->out[s->out_len + 3] = (uint8_t)(size >> 8);
        s->out[s->out_len + 4] = (uint8_t)size;
        protobuf_c_message_pack(m, s->out + s->out_len + 5);
        s->out_len += 5 + size;
        r = grpc_stream_begin(s);
        if (r < 0)
                return r;
        grpc_stream_wake(s);
        return 0;
}

static void stream_finish_va(GrpcStream *s, GrpcStatus status, const char *fmt, va_list ap)
{
        char *msg = NULL;

        if (s->finished)
                return;
        s->finished = true;
        s->status = status;
        if (fmt && vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        s->status_message = msg;
        sd_event_source_set_enabled(s->deadline_source, SD_EVENT_OFF);
        if (!s->response_submitted) {
                /* Trailers-Only: one HEADERS frame with END_STREAM. */
                _cleanup_free_ char *enc = msg ? grpc_message_encode(msg) : NULL;
                char code[16];
                nghttp2_nv nv[4] = { NV(":status", "200"), NV("content-type", "application/grpc") };
                size_t n = 2;

                snprintf(code, sizeof(code), "%d", (int)status);
                nv[n++] = NV("grpc-status", code);
                if (enc)
                        nv[n++] = NV("grpc-message", enc);
                if (nghttp2_submit_response(s->conn->session, s->id, nv, n, NULL) == 0)
                        s->response_submitted = s->trailers_submitted = true;
        }
        grpc_stream_wake(s);
}

void grpc_stream_finish(GrpcStream *s, GrpcStatus status, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        stream_finish_va(s, status, fmt, ap);
        va_end(ap);
}

void grpc_stream_finish_error(GrpcStream *s, const BerthError *err)
{
        char buf[1100];

        grpc_stream_finish(s, grpc_status_from_error(err->error), "%s", berth_error_format(err, buf, sizeof(buf)));
}

static int on_deadline(sd_event_source *src, uint64_t usec, void *userdata)
{
        GrpcStream *s = userdata;

        if (s->finished)
                return 0;
        grpc_stream_release(s);
        if (s->watch) {
                api_core_watch_cancel(&s->conn->server->core, s->watch);
                s->watch = NULL;
        }
        /* Buffered messages are dropped: the deadline ends the call now. */
        s->out_len = s->out_pos = 0;
        grpc_stream_finish(s, GRPC_DEADLINE_EXCEEDED, "deadline exceeded");
        return 0;
}

/* The checks every call passes before its handler runs; false when the
 * call was answered (refused). */
static bool stream_admit(GrpcStream *s)
{
        ApiGrpc *g = s->conn->server;
        GrpcConn *c = s->conn;
        BerthError err = {};
        int r;

        if (s->dispatched)
                return false;
        s->dispatched = true;
        if (!s->is_post || !s->ct_ok)
                return grpc_stream_finish(s, GRPC_INVALID_ARGUMENT,
                                          "gRPC requires POST with content-type application/grpc"),
                       false;
        if (c->tls_rejected)
                return grpc_stream_finish(s, GRPC_UNAUTHENTICATED, "%s", c->tls_why), false;
        s->method = grpc_method_find(s->path);
        if (!s->method)
                return grpc_stream_finish(s, GRPC_UNIMPLEMENTED, "unknown method %s", s->path), false;
        r = api_caller_check(&c->caller, s->method->access, s->method->what, &err);
        if (r < 0)
                return grpc_stream_finish_error(s, &err), false;
        if (c->ssl && !api_rate_limiter_take(&g->rate, c->caller.id, now_usec(CLOCK_MONOTONIC)))
                return grpc_stream_finish(s, GRPC_RESOURCE_EXHAUSTED, "rate limit of %g requests/s exceeded",
                                          g->rate.rate),
                       false;
        if (!s->method->handler)
                return grpc_stream_finish(s, GRPC_UNIMPLEMENTED, "%s is not implemented on this node", s->path),
                       false;
        return true;
}

static void stream_dispatch(GrpcStream *s)
{
        ApiGrpc *g = s->conn->server;
        GrpcConn *c = s->conn;
        const uint8_t *payload;
        size_t payload_len;
        ProtobufCMessage *msg;
        int r;

        if (!stream_admit(s))
                return;
        if (s->in_too_large)
                return grpc_stream_finish(s, GRPC_RESOURCE_EXHAUSTED, "request message exceeds %zu bytes",
                                          g->config.max_message);
        r = grpc_frame_unpack(s->in, s->in_len, g->config.max_message, &payload, &payload_len);
        if (r == -EMSGSIZE)
                return grpc_stream_finish(s, GRPC_RESOURCE_EXHAUSTED, "request message exceeds %zu bytes",
                                          g->config.max_message);
        if (r == -EOPNOTSUPP)
                return grpc_stream_finish(s, GRPC_UNIMPLEMENTED, "compressed messages are not supported");
        if (r < 0)
                return grpc_stream_finish(s, GRPC_INVALID_ARGUMENT, "a unary call takes exactly one message");
        msg = grpc_message_decode(s->method->input, payload, payload_len);
        if (!msg)
                return grpc_stream_finish(s, GRPC_INVALID_ARGUMENT, "malformed %s message",
                                          s->method->input->name);
        /* Events recorded while the call is served name its caller. */
        api_core_caller_begin(&g->core, &c->caller);
        s->method->handler(s, msg);
        api_core_caller_end(&g->core);
        protobuf_c_message_free_unpacked(msg, NULL);
}

/* ---- nghttp2 callbacks ---- */

static int on_begin_headers(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
        GrpcConn *c = user_data;
        GrpcStream *s;

        if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
                return 0;
        if (c->server->closing || c->goaway_sent) {
                nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id, NGHTTP2_REFUSED_STREAM);
                return 0;
        }
        s = calloc(1, sizeof(*s));
        if (!s)
                return NGHTTP2_ERR_CALLBACK_FAILURE;
        s->conn = c;
        s->id = frame->hd.stream_id;
        s->log_dirfd = -EBADF;
        s->next = c->streams;
        if (c->streams)
                c->streams->prev = s;
        c->streams = s;
        c->n_streams++;
        nghttp2_session_set_stream_user_data(session, s->id, s);
        return 0;
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name, size_t namelen,
                     const uint8_t *value, size_t valuelen, uint8_t flags, void *user_data)
{
        GrpcStream *s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
        char v[GRPC_PATH_MAX];

        if (!s || frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
                return 0;
        if (valuelen >= sizeof(v))
                valuelen = sizeof(v) - 1; /* too long to be valid: fails matching below */
        memcpy(v, value, valuelen);
        v[valuelen] = 0;
#define IS(lit) (namelen == STRLEN(lit) && memcmp(name, lit, namelen) == 0)
        if (IS(":method"))
                s->is_post = streq(v, "POST");
        else if (IS(":path"))
                snprintf(s->path, sizeof(s->path), "%s", v);
        else if (IS("content-type"))
                s->ct_ok = strncmp(v, "application/grpc", STRLEN("application/grpc")) == 0 &&
                           (v[16] == 0 || v[16] == '+' || v[16] == ';');
        else if (IS("te"))
                s->te_ok = streq(v, "trailers");
        else if (IS("grpc-timeout")) {
                usec_t t;
                if (grpc_timeout_parse(v, &t) >= 0)
                        s->timeout = MAX(t, (usec_t)1);
        }
#undef IS
        return 0;
}

static int on_data_chunk(nghttp2_session *session, uint8_t flags, int32_t stream_id, const uint8_t *data,
                         size_t len, void *user_data)
{
        GrpcStream *s = nghttp2_session_get_stream_user_data(session, stream_id);
        size_t max;

        if (s && s->method && s->method->client_streaming && s->dispatched && !s->finished) {
                grpc_stream_input(s, data, len);
                return 0;
        }
        if (!s || s->in_too_large || s->dispatched)
                return 0;
        max = s->conn->server->config.max_message + 5;
        if (s->in_len + len > max) {
                /* Stop storing, keep reading (flow control) and answer once the request ends. */
                s->in_too_large = true;
                free(s->in);
                s->in = NULL;
                s->in_len = s->in_cap = 0;
                return 0;
        }
        if (s->in_len + len > s->in_cap) {
                size_t cap = MIN(MAX(s->in_len + len, s->in_cap * 2), max);
                uint8_t *p = realloc(s->in, cap);
                if (!p)
                        return NGHTTP2_ERR_CALLBACK_FAILURE;
                s->in = p;
                s->in_cap = cap;
        }
        memcpy(s->in + s->in_len, data, len);
        s->in_len += len;
        return 0;
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
        GrpcConn *c = user_data;
        GrpcStream *s;

        switch (frame->hd.type) {
        case NGHTTP2_HEADERS:
                s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
                if (!s)
                        return 0;
                if (frame->headers.cat == NGHTTP2_HCAT_REQUEST && s->timeout > 0 && !s->deadline_source) {
                        if (sd_event_add_time_relative(c->server->event, &s->deadline_source, CLOCK_MONOTONIC,
                                                       s->timeout, 1000, on_deadline, s) < 0)
                                return NGHTTP2_ERR_CALLBACK_FAILURE;
                }
                /* Unknown methods and refused callers get their answer at once,
                 * also for client-streaming calls that never half-close. A
                 * client-streaming call is admitted now; its messages are
                 * handled as they arrive. */
                if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
                        const GrpcMethod *gm = grpc_method_find(s->path);
                        if (c->tls_rejected || !gm || !gm->handler)
                                stream_dispatch(s);
                        else if (gm->client_streaming) {
                                if (stream_admit(s) && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
                                        grpc_exec_input_end(s);
                        } else if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)
                                stream_dispatch(s);
                } else if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)
                        stream_dispatch(s);
                break;
        case NGHTTP2_DATA:
                s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
                if (s && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
                        if (s->method && s->method->client_streaming && s->dispatched) {
                                if (!s->finished)
                                        grpc_exec_input_end(s);
                        } else
                                stream_dispatch(s);
                }
                break;
        case NGHTTP2_RST_STREAM: {
                /* Rapid-reset protection (CVE-2023-44487): a client that opens and
                 * cancels streams faster than GRPC_RST_STREAM_MAX/s is cut off. */
                usec_t now = now_usec(CLOCK_MONOTONIC);
                if (now - c->rst_window_start > USEC_PER_SEC) {
                        c->rst_window_start = now;
                        c->rst_count = 0;
                }
                if (++c->rst_count > GRPC_RST_STREAM_MAX && !c->goaway_sent) {
                        log_warning("grpc: %s sent over %d RST_STREAM/s, closing the connection", c->caller.id,
                                    GRPC_RST_STREAM_MAX);
                        nghttp2_submit_goaway(session, NGHTTP2_FLAG_NONE,
                                              nghttp2_session_get_last_proc_stream_id(session),
                                              NGHTTP2_ENHANCE_YOUR_CALM, NULL, 0);
                        c->goaway_sent = true;
                }
                break;
        }
        case NGHTTP2_PING:
                if (frame->hd.flags & NGHTTP2_FLAG_ACK)
                        c->ping_sent = 0;
                break;
        default:
                break;
        }
        return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code, void *user_data)
{
        GrpcStream *s = nghttp2_session_get_stream_user_data(session, stream_id);

        if (s) {
                nghttp2_session_set_stream_user_data(session, stream_id, NULL);
                grpc_stream_free(s);
        }
        return 0;
}

void grpc_session_callbacks_set(nghttp2_session_callbacks *cb)
{
        nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
        nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
        nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
        nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
}
