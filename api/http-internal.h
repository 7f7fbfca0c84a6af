/* SPDX-License-Identifier: Apache-2.0 */
/* Shared between the HTTP adapter's files: the daemon (http-server.c), the
 * routes (http-routes.c) and the streaming responses (http-stream.c). */
#pragma once

#include <microhttpd.h>

#include "api/api-core.h"
#include "api/tls-http.h"

#define HTTP_CONNECTION_LIMIT 256
#define HTTP_CONNECTION_TIMEOUT_SEC 60
#define HTTP_TIMER_ACCURACY (250 * USEC_PER_MSEC) /* MHD timeouts are connection idle limits */
#define HTTP_STREAM_BLOCK 16384
/* Buffered-but-unsent stream output above which we stop reading logs/events. */
#define HTTP_STREAM_HIGH_WATER (256 * 1024)

typedef struct HttpRequest HttpRequest;
typedef struct HttpRemoveOp HttpRemoveOp;
typedef struct HttpExec HttpExec;

struct ApiHttp {
        sd_event *event;
        ApiCore core;
        struct MHD_Daemon *daemon;
        int listen_fd;
        char *socket_path; /* set when we created it: unlinked on free */
        sd_event_source *io_source;
        sd_event_source *timer_source; /* MHD's own timeouts (idle connections), coarse */
        sd_event_source *run_source;   /* defer: MHD has work queued, run it on the next iteration */
        HttpRequest *requests; /* every live request, for shutdown */
        HttpExec *execs;       /* upgraded exec sessions (http-exec.c) */
        HttpTls *tls;          /* TCP with mutual TLS (tls-http.c), NULL on the unix socket */
        bool closing;
};

typedef enum HttpStreamKind {
        HTTP_STREAM_NONE,
        HTTP_STREAM_LOGS,
        HTTP_STREAM_EVENTS,
} HttpStreamKind;

struct HttpRemoveOp {
        HttpRequest *req; /* NULL once the client went away */
        char *name;
};

struct HttpRequest {
        ApiHttp *http;
        struct MHD_Connection *connection;
        ApiCaller caller; /* TLS listener: filled by http_tls_authorize() */
        HttpRequest *prev, *next;

        /* body */
        char *body;
        size_t body_len, body_cap;
        bool too_large;
        bool headers_seen;

        /* suspension (wait, force delete, idle streams) */
        bool suspended;
        bool disconnected;
        sd_event_source *hup_source; /* EPOLLRDHUP watch while suspended */
        sd_event_source *defer_source;

        bool responded; /* a response is queued */

        /* /wait */
        ApiWatch *watch;
        /* DELETE */
        HttpRemoveOp *remove_op;

        /* streams */
        HttpStreamKind stream_kind;
        char *out; /* pending output */
        size_t out_len, out_cap, out_pos;
        bool stream_done; /* no more data will come */
        bool stream_error;
        /* logs */
        LogReader *reader;
        ApiLogFormat log_format;
        bool log_follow;
        bool midline;
        int log_dirfd;
        sd_event_source *inotify_source;
        ApiWatch *exit_watch; /* wait watch: the workload exited */
        bool workload_exited;
        /* events */
        ApiWatch *events_watch;
        /* image jobs (api/http-images.c) */
        ApiImageWatch *image_watch;
};

/* http-server.c */
void http_request_suspend(HttpRequest *req);
void http_request_resume(HttpRequest *req);
int http_queue_json(HttpRequest *req, unsigned status, json_t *doc);
int http_queue_text(HttpRequest *req, unsigned status, const char *content_type, const char *text, size_t len);
int http_queue_error(HttpRequest *req, const BerthError *err);
int http_queue_error_errno(HttpRequest *req, int error, const char *field, const char *fmt, ...) _printf_(4, 5);
unsigned http_status_from_error(int error);

/* http-routes.c: returns an MHD_Result for the access handler. */
enum MHD_Result http_route(HttpRequest *req, const char *method, const char *url);

/* http-images.c: /v1/images*, /v1/system/df, /v1/workloads/NAME/commit */
bool http_images_match(const char *url);
enum MHD_Result http_images_route(HttpRequest *req, const char *method, const char *url);
void http_images_release(HttpRequest *req);

/* http-exec.c: POST /v1/workloads/NAME/exec (HTTP Upgrade, framed stdio). */
enum MHD_Result http_exec_start(HttpRequest *req, const char *name);
void http_exec_close_all(ApiHttp *h);

/* http-stream.c */
enum MHD_Result http_stream_logs(HttpRequest *req, const char *name);
enum MHD_Result http_stream_events(HttpRequest *req);
void http_stream_release(HttpRequest *req);
