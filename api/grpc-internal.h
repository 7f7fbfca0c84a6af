/* SPDX-License-Identifier: Apache-2.0 */
/* Shared between the gRPC adapter's files: the HTTP/2 server
 * (grpc-server.c), framing and conversions (grpc-codec.c), the unary methods
 * (grpc-service.c) and the server-streaming ones (grpc-stream.c). */
#pragma once

#include <nghttp2/nghttp2.h>
#include <sys/param.h>
#include <openssl/ssl.h>
#include <protobuf-c/protobuf-c.h>

#include "api/api-core.h"
#include "api/auth.h"
#include "berth.pb-c.h"
#include "health.pb-c.h"

/* gRPC status codes (grpc/doc/statuscodes.md). */
typedef enum GrpcStatus {
        GRPC_OK = 0,
        GRPC_CANCELLED = 1,
        GRPC_UNKNOWN = 2,
        GRPC_INVALID_ARGUMENT = 3,
        GRPC_DEADLINE_EXCEEDED = 4,
        GRPC_NOT_FOUND = 5,
        GRPC_ALREADY_EXISTS = 6,
        GRPC_PERMISSION_DENIED = 7,
        GRPC_RESOURCE_EXHAUSTED = 8,
        GRPC_FAILED_PRECONDITION = 9,
        GRPC_ABORTED = 10,
        GRPC_OUT_OF_RANGE = 11,
        GRPC_UNIMPLEMENTED = 12,
        GRPC_INTERNAL = 13,
        GRPC_UNAVAILABLE = 14,
        GRPC_DATA_LOSS = 15,
        GRPC_UNAUTHENTICATED = 16,
} GrpcStatus;

#define GRPC_PATH_MAX 256
#define GRPC_STREAM_HIGH_WATER (256 * 1024)
#define GRPC_OUT_MAX (8 * 1024 * 1024)
#define GRPC_LOG_CHUNK 16384

typedef struct GrpcConn GrpcConn;
typedef struct GrpcStream GrpcStream;
typedef struct GrpcMethod GrpcMethod;
typedef struct GrpcRemoveOp GrpcRemoveOp;

typedef struct GrpcListener {
        ApiGrpc *server;
        int fd;
        bool tls;
        char *unlink_path;
        sd_event_source *source;
} GrpcListener;

struct ApiGrpc {
        sd_event *event;
        ApiCore core;
        ApiGrpcConfig config; /* strings borrowed from the caller's config */
        GrpcListener unix_listener, tcp_listener;
        SSL_CTX *ssl_ctx; /* current context; live connections keep a reference to theirs */
        ApiRateLimiter rate;
        GrpcConn *conns;
        unsigned n_conns;
        bool closing;
};

struct GrpcConn {
        ApiGrpc *server;
        GrpcConn *prev, *next;
        int fd;
        SSL *ssl;
        bool handshaking;
        bool tls_rejected; /* certificate missing/invalid: every call answers UNAUTHENTICATED */
        char tls_why[160];
        ApiCaller caller;
        nghttp2_session *session;
        sd_event_source *io_source;
        sd_event_source *flush_source; /* deferred flush, so nothing sends from inside nghttp2 */
        sd_event_source *timer_source; /* header timeout, keepalive, idle */
        uint8_t *wbuf; /* bytes nghttp2 produced that the socket did not take yet */
        size_t wbuf_len, wbuf_pos;
        GrpcStream *streams;
        unsigned n_streams;
        usec_t last_activity;
        usec_t ping_sent; /* 0 = no keepalive ping outstanding */
        usec_t rst_window_start;
        unsigned rst_count;
        bool goaway_sent;
        bool dead;
};

typedef enum GrpcStreamKind {
        GRPC_STREAM_UNARY,
        GRPC_STREAM_LOGS,
        GRPC_STREAM_EVENTS,
        GRPC_STREAM_HEALTH,
        GRPC_STREAM_EXEC,      /* bidirectional: grpc-exec.c */
        GRPC_STREAM_IMAGE_JOB, /* server streaming progress: grpc-images.c */
} GrpcStreamKind;

typedef struct GrpcExec GrpcExec;

struct GrpcRemoveOp {
        GrpcStream *stream; /* NULL once the stream went away */
        char *name;
};

struct GrpcStream {
        GrpcConn *conn;
        GrpcStream *prev, *next;
        int32_t id;
        char path[GRPC_PATH_MAX];
        bool is_post, ct_ok, te_ok;
        usec_t timeout; /* 0 = none */
        sd_event_source *deadline_source;

        uint8_t *in;
        size_t in_len, in_cap;
        bool in_too_large;
        bool dispatched;

        const GrpcMethod *method;
        GrpcStreamKind kind;

        uint8_t *out;
        size_t out_len, out_pos, out_cap;
        bool response_submitted; /* HEADERS with a data provider went out */
        bool finished;           /* status decided */
        GrpcStatus status;
        char *status_message;
        bool trailers_submitted;
        bool deferred;

        /* async operations */
        ApiWatch *watch;
        GrpcRemoveOp *remove_op;
        /* logs */
        LogReader *reader;
        int log_dirfd;
        ApiLogFormat log_format;
        bool log_follow, midline, workload_exited;
        sd_event_source *inotify_source;
        ApiWatch *exit_watch;
        /* events */
        ApiWatch *events_watch;
        /* exec (grpc-exec.c) */
        GrpcExec *exec;
        /* image jobs (grpc-images.c) */
        ApiImageWatch *image_watch;
};

typedef void (*GrpcHandler)(GrpcStream *s, const ProtobufCMessage *req);

struct GrpcMethod {
        const char *path;
        const ProtobufCMessageDescriptor *input;
        GrpcHandler handler;
        ApiAccess access;
        const char *what; /* for PERMISSION_DENIED messages */
        /* Client streaming: the handler runs for every request message as it
         * arrives instead of once after the request ended (grpc-exec.c). */
        bool client_streaming;
};

/* grpc-server.c */
/* Asks for a flush of the connection's pending output from the loop. */
void grpc_conn_schedule_flush(GrpcConn *c);

/* grpc-calls.c */
/* Registers the callbacks that turn frames into calls. */
void grpc_session_callbacks_set(nghttp2_session_callbacks *cb);
/* Unlinks the call from its connection and frees it. */
void grpc_stream_free(GrpcStream *s);
/* Submits the response HEADERS (with a data provider) if not done yet. */
int grpc_stream_begin(GrpcStream *s);
/* Appends one length-prefixed message; submits the response headers first. */
int grpc_stream_send(GrpcStream *s, const ProtobufCMessage *m);
/* Decides the status; trailers go out after the buffered messages. */
void grpc_stream_finish(GrpcStream *s, GrpcStatus status, const char *fmt, ...) _printf_(3, 4);
void grpc_stream_finish_error(GrpcStream *s, const BerthError *err);
void grpc_stream_wake(GrpcStream *s);

/* grpc-codec.c */
GrpcStatus grpc_status_from_error(int error);
/* The error class names of berth_error_class() ("InvalidArgument", ...). */
GrpcStatus grpc_status_from_class(const char *class);
/* "100m", "2S", ... -> usec; -EINVAL if malformed. */
int grpc_timeout_parse(const char *s, usec_t *ret);
/* Splits the body into exactly one message: -EINVAL (malformed), -EMSGSIZE (too large), -EOPNOTSUPP (compressed). */
int grpc_frame_unpack(const uint8_t *buf, size_t len, size_t max, const uint8_t **ret, size_t *ret_len);
/* Decodes a protobuf message; NULL when malformed. Free with protobuf_c_message_free_unpacked. */
ProtobufCMessage *grpc_message_decode(const ProtobufCMessageDescriptor *d, const uint8_t *buf, size_t len);
/* Fills a Workload message; free with grpc_workload_msg_done(). */
int grpc_workload_to_msg(const Workload *w, Berth__V1__Workload *m, Berth__V1__WorkloadStatus *st);
void grpc_workload_msg_done(Berth__V1__Workload *m);
void grpc_event_to_msg(const BerthEvent *ev, Berth__V1__Event *m);
const char *grpc_signal_name(int sig, char *buf, size_t size);
/* Percent-encodes a grpc-message value. */
char *grpc_message_encode(const char *s);

/* grpc-service.c */
const GrpcMethod *grpc_method_find(const char *path);

/* grpc-exec.c: berth.v1.Exec/Exec (bidirectional). */
void grpc_exec_message(GrpcStream *s, const ProtobufCMessage *req);
/* Request DATA of a client-streaming call: decodes whole messages, runs the handler for each. */
void grpc_stream_input(GrpcStream *s, const uint8_t *data, size_t len);
/* The client half-closed the request stream. */
void grpc_exec_input_end(GrpcStream *s);
/* The response buffer drained: read the command's output again. */
void grpc_exec_fill(GrpcStream *s);
void grpc_exec_release(GrpcStream *s);

/* grpc-images.c: berth.v1.Images. */
void grpc_images_list(GrpcStream *s, const ProtobufCMessage *req);
void grpc_images_inspect(GrpcStream *s, const ProtobufCMessage *req);
void grpc_images_remove(GrpcStream *s, const ProtobufCMessage *req);
void grpc_images_df(GrpcStream *s, const ProtobufCMessage *req);
void grpc_images_pull(GrpcStream *s, const ProtobufCMessage *req);
void grpc_images_import(GrpcStream *s, const ProtobufCMessage *req);
void grpc_images_commit(GrpcStream *s, const ProtobufCMessage *req);
void grpc_images_release(GrpcStream *s);

/* grpc-stream.c */
void grpc_stream_logs(GrpcStream *s, const ProtobufCMessage *req);
void grpc_stream_events(GrpcStream *s, const ProtobufCMessage *req);
/* Produces more output for a streaming call when its buffer ran dry. */
void grpc_stream_fill(GrpcStream *s);
void grpc_stream_release(GrpcStream *s);
