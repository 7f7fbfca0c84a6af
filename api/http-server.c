/* SPDX-License-Identifier: Apache-2.0 */
/* The HTTP/JSON adapter: libmicrohttpd in external-epoll mode, driven from
 * the caller's sd-event loop. MHD's epoll fd is an sd-event io source that
 * calls MHD_run(); after every run a one-shot timer is re-armed from
 * MHD_get_timeout() (connection timeouts, and 0 when MHD has work queued).
 * Long operations suspend their connection and resume it from the backend's
 * callback; while suspended, MHD does not notice a client going away, so we
 * watch the connection fd for EPOLLRDHUP ourselves and cancel the watch. */
#include <fcntl.h>
#include <stdarg.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "api/http-internal.h"
#include "lib/log.h"

/* ---- responses ---- */

unsigned http_status_from_error(int error)
{
        const char *c = berth_error_class(error < 0 ? error : -EIO);

        if (streq(c, "InvalidArgument"))
                return MHD_HTTP_BAD_REQUEST;
        if (streq(c, "NotFound"))
                return MHD_HTTP_NOT_FOUND;
        if (streq(c, "AlreadyExists") || streq(c, "FailedPrecondition"))
                return MHD_HTTP_CONFLICT;
        if (streq(c, "PayloadTooLarge"))
                return MHD_HTTP_CONTENT_TOO_LARGE;
        if (streq(c, "ResourceExhausted") || streq(c, "Unavailable"))
                return MHD_HTTP_SERVICE_UNAVAILABLE;
        if (streq(c, "Unimplemented"))
                return MHD_HTTP_NOT_IMPLEMENTED;
        if (streq(c, "PermissionDenied"))
                return MHD_HTTP_FORBIDDEN;
        return MHD_HTTP_INTERNAL_SERVER_ERROR;
}

static int queue_buffer(HttpRequest *req, unsigned status, const char *content_type, char *text, size_t len,
                        enum MHD_ResponseMemoryMode mode)
{
        struct MHD_Response *resp;
        enum MHD_Result q;

        resp = MHD_create_response_from_buffer(len, text, mode);
        if (!resp) {
                if (mode == MHD_RESPMEM_MUST_FREE)
                        free(text);
                return -ENOMEM;
        }
        if (content_type)
                MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
        q = MHD_queue_response(req->connection, status, resp);
        MHD_destroy_response(resp);
        if (q != MHD_YES)
                return -EIO;
        req->responded = true;
        return 0;
}

int http_queue_text(HttpRequest *req, unsigned status, const char *content_type, const char *text, size_t len)
{
        return queue_buffer(req, status, content_type, (char *)text, len, MHD_RESPMEM_MUST_COPY);
}

int http_queue_json(HttpRequest *req, unsigned status, json_t *doc)
{
        _cleanup_free_ char *s = NULL;

        if (!doc)
                return http_queue_text(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "application/json",
                                       "{\"code\":\"Internal\",\"message\":\"out of memory\",\"field\":null}\n",
                                       STRLEN("{\"code\":\"Internal\",\"message\":\"out of memory\",\"field\":null}\n"));
        s = json_dumps(doc, JSON_COMPACT);
        json_decref(doc);
        if (!s)
                return http_queue_json(req, status, NULL);
        size_t n = strlen(s);
        char *t = realloc(s, n + 2);
        if (!t)
                return -ENOMEM;
        s = t;
        s[n] = '\n';
        s[n + 1] = 0;
        /* MHD takes the encoded document as it is: no second copy per response. */
        return queue_buffer(req, status, "application/json", TAKE_PTR(s), n + 1, MHD_RESPMEM_MUST_FREE);
}

int http_queue_error(HttpRequest *req, const BerthError *err)
{
        return http_queue_json(req, http_status_from_error(err ? err->error : -EIO), api_error_to_json(err));
}

int http_queue_error_errno(HttpRequest *req, int error, const char *field, const char *fmt, ...)
{
        BerthError err = { .error = error };
        va_list ap;

        snprintf(err.field, sizeof(err.field), "%s", strempty(field));
        va_start(ap, fmt);
        vsnprintf(err.message, sizeof(err.message), fmt, ap);
        va_end(ap);
        return http_queue_error(req, &err);
}

/* ---- suspension ---- */

static void request_cancel_watches(HttpRequest *req)
{
        ApiCore *c = &req->http->core;

        api_core_watch_cancel(c, TAKE_PTR(req->watch));
        api_core_watch_cancel(c, TAKE_PTR(req->events_watch));
        api_core_watch_cancel(c, TAKE_PTR(req->exit_watch));
        http_images_release(req);
        req->inotify_source = sd_event_source_disable_unref(req->inotify_source);
        if (req->remove_op) {
                req->remove_op->req = NULL; /* freed when the backend's done() arrives */
                req->remove_op = NULL;
        }
}

static int on_hangup(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        HttpRequest *req = userdata;

        /* The client went away while we held the connection. Cancel what it
         * waited for and let MHD see the EOF and complete the request. */
        log_debug("api: client disconnected from a suspended request");
        req->disconnected = true;
        request_cancel_watches(req);
        http_request_resume(req);
        return 0;
}

void http_request_suspend(HttpRequest *req)
{
        const union MHD_ConnectionInfo *ci;
        int r;

        if (req->suspended)
                return;
        MHD_suspend_connection(req->connection);
        req->suspended = true;
        ci = MHD_get_connection_info(req->connection, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (ci && !req->hup_source) {
                r = sd_event_add_io(req->http->event, &req->hup_source, ci->connect_fd, EPOLLRDHUP, on_hangup, req);
                if (r < 0)
                        log_debug_errno(r, "api: cannot watch a suspended connection for hangup: %m");
        }
}

void http_request_resume(HttpRequest *req)
{
        if (!req->suspended)
                return;
        req->hup_source = sd_event_source_disable_unref(req->hup_source);
        req->suspended = false;
        MHD_resume_connection(req->connection);
        /* MHD's ITC wakes the epoll fd; make sure the run happens soon even
         * if we are called outside of MHD_run. */
        if (req->http->run_source)
                (void)sd_event_source_set_enabled(req->http->run_source, SD_EVENT_ONESHOT);
}

/* ---- request lifecycle ---- */

static void request_free(HttpRequest *req)
{
        ApiHttp *h = req->http;

        request_cancel_watches(req);
        http_stream_release(req);
        req->hup_source = sd_event_source_disable_unref(req->hup_source);
        req->defer_source = sd_event_source_disable_unref(req->defer_source);
        free(req->body);
        if (req->prev)
                req->prev->next = req->next;
        else
                h->requests = req->next;
        if (req->next)
                req->next->prev = req->prev;
        free(req);
}

static void on_completed(void *cls, struct MHD_Connection *connection, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
        HttpRequest *req = *con_cls;

        if (!req)
                return;
        *con_cls = NULL;
        request_free(req);
}

static enum MHD_Result access_handler(void *cls, struct MHD_Connection *connection, const char *url,
                                      const char *method, const char *version, const char *upload_data,
                                      size_t *upload_data_size, void **con_cls)
{
        ApiHttp *h = cls;
        HttpRequest *req = *con_cls;

        if (!req) {
                const char *cl;

                req = calloc(1, sizeof(*req));
                if (!req)
                        return MHD_NO;
                req->http = h;
                req->connection = connection;
                req->log_dirfd = -EBADF;
                req->next = h->requests;
                if (h->requests)
                        h->requests->prev = req;
                h->requests = req;
                *con_cls = req;

                /* Refuse an oversized body before reading any of it. */
                cl = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
                if (cl) {
                        char *end;
                        errno = 0;
                        unsigned long long v = strtoull(cl, &end, 10);
                        if (errno != 0 || end == cl || *end || v > SPEC_BODY_MAX) {
                                req->too_large = true;
                                return http_queue_error_errno(req, -E2BIG, NULL, "request body exceeds %d bytes",
                                                              SPEC_BODY_MAX) < 0
                                               ? MHD_NO
                                               : MHD_YES;
                        }
                }
                return MHD_YES;
        }

        if (req->disconnected || req->responded || h->closing)
                return MHD_NO;

        if (*upload_data_size > 0) {
                size_t n = *upload_data_size;

                *upload_data_size = 0;
                if (req->too_large) {
                        /* Chunked body over the cap: MHD does not allow a
                         * response while upload data is being passed, so we
                         * discard until the end, but only up to a bound. */
                        req->body_len += n;
                        return req->body_len > 4 * (size_t)SPEC_BODY_MAX ? MHD_NO : MHD_YES;
                }
                if (req->body_len + n > SPEC_BODY_MAX) {
                        req->too_large = true;
                        free(req->body);
                        req->body = NULL;
                        req->body_cap = 0;
                        req->body_len = n;
                        return MHD_YES;
                }
                if (req->body_len + n + 1 > req->body_cap) {
                        size_t cap = (req->body_len + n + 1) * 2;
                        if (cap > SPEC_BODY_MAX + 1)
                                cap = SPEC_BODY_MAX + 1;
                        char *p = realloc(req->body, cap);
                        if (!p)
                                return MHD_NO;
                        req->body = p;
                        req->body_cap = cap;
                }
                memcpy(req->body + req->body_len, upload_data, n);
                req->body_len += n;
                req->body[req->body_len] = 0;
                return MHD_YES;
        }

        if (req->too_large)
                return http_queue_error_errno(req, -E2BIG, NULL, "request body exceeds %d bytes", SPEC_BODY_MAX) < 0
                               ? MHD_NO
                               : MHD_YES;

        /* Request complete. Called again after a resume without a response
         * only when something went wrong: close then. */
        if (req->suspended || req->stream_kind != HTTP_STREAM_NONE || req->remove_op || req->watch)
                return MHD_NO;
        return http_route(req, method, url);
}

/* ---- the event loop glue ---- */

/* After every MHD_run. The bench profile (tests/bench/bench-api.sh) showed
 * this re-arm costing a timerfd_settime() every other loop iteration: the
 * deadline MHD reports is "now + connection timeout", a new value each time.
 * Work MHD has queued (0) now goes to a defer source (no syscall), and the
 * idle-connection deadline is a coarse timer (HTTP_TIMER_ACCURACY) whose
 * armed value sd-event keeps, and so does not reprogram, while it moves
 * within its window. */
static int http_arm_timer(ApiHttp *h)
{
        MHD_UNSIGNED_LONG_LONG ms;
        int r;

        if (MHD_get_timeout(h->daemon, &ms) != MHD_YES)
                return sd_event_source_set_enabled(h->timer_source, SD_EVENT_OFF);
        if (ms == 0)
                return sd_event_source_set_enabled(h->run_source, SD_EVENT_ONESHOT);
        r = sd_event_source_set_time(h->timer_source, now_usec(CLOCK_MONOTONIC) + (usec_t)ms * USEC_PER_MSEC);
        if (r < 0)
                return r;
        return sd_event_source_set_enabled(h->timer_source, SD_EVENT_ONESHOT);
}

static int http_run(ApiHttp *h)
{
        if (MHD_run(h->daemon) != MHD_YES)
                log_debug("api: MHD_run failed");
        return http_arm_timer(h);
}

static int on_epoll(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        return http_run(userdata) < 0 ? 0 : 0;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        return http_run(userdata) < 0 ? 0 : 0;
}

static int on_run(sd_event_source *s, void *userdata)
{
        return http_run(userdata) < 0 ? 0 : 0;
}

static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
        char buf[512];

        if (log_get_max_level() < LOG_DEBUG)
                return;
        vsnprintf(buf, sizeof(buf), fmt, ap);
        buf[strcspn(buf, "\n")] = 0;
        log_debug("api: microhttpd: %s", buf);
}

/* ---- the socket ---- */

static int http_socket_create(const ApiHttpConfig *config, int *ret)
{
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *dir = NULL;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct stat st;
        mode_t old;
        char *slash;
        int r;

        if (!config->socket_path || config->socket_path[0] != '/')
                return -EINVAL;
        if (strlen(config->socket_path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, config->socket_path);

        dir = strdup(config->socket_path);
        if (!dir)
                return -ENOMEM;
        slash = strrchr(dir, '/');
        if (slash != dir) {
                *slash = 0;
                /* Only directories we create get 0750; an existing one is the operator's. */
                r = mkdir_p(dir, 0750);
                if (r < 0)
                        return r;
        }

        if (lstat(config->socket_path, &st) == 0) {
                if (!S_ISSOCK(st.st_mode))
                        return -EEXIST; /* never unlink something that is not a socket */
                if (unlink(config->socket_path) < 0 && errno != ENOENT)
                        return -errno;
        }

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        old = umask(0177); /* never more open than 0600 before the chmod */
        r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
        umask(old);
        if (r < 0)
                return -errno;
        if (chmod(config->socket_path, 0660) < 0)
                goto fail;
        if (config->socket_gid != (gid_t)-1 && chown(config->socket_path, (uid_t)-1, config->socket_gid) < 0)
                goto fail;
        if (listen(fd, SOMAXCONN) < 0)
                goto fail;
        *ret = TAKE_FD(fd);
        return 0;
fail:
        r = -errno;
        (void)unlink(config->socket_path);
        return r;
}

int api_http_new(sd_event *event, const ApiHttpConfig *config, const ApiBackend *backend, ApiHttp **ret)
{
        _cleanup_close_ int fd = -EBADF;
        const union MHD_DaemonInfo *info;
        ApiHttp *h;
        int r;

        if (!event || !config || !backend || !backend->ops || !ret)
                return -EINVAL;

        if (config->listen_fd >= 0) {
                /* MHD closes its listen socket on stop; keep the caller's. */
                fd = fcntl(config->listen_fd, F_DUPFD_CLOEXEC, 3);
                if (fd < 0)
                        return -errno;
                int fl = fcntl(fd, F_GETFL);
                if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
                        return -errno;
        } else {
                r = http_socket_create(config, &fd);
                if (r < 0)
                        return log_error_errno(r, "api: cannot listen on %s: %m", strempty(config->socket_path));
        }

        h = calloc(1, sizeof(*h));
        if (!h)
                return -ENOMEM;
        h->event = sd_event_ref(event);
        h->listen_fd = -EBADF;
        api_core_init(&h->core, backend, config->default_stop_timeout);
        if (config->tls_cert) {
                r = http_tls_new(config, &h->tls);
                if (r < 0)
                        goto fail;
        }
        if (config->listen_fd < 0) {
                h->socket_path = strdup(config->socket_path);
                if (!h->socket_path) {
                        r = -ENOMEM;
                        goto fail;
                }
        }

        h->listen_fd = fd;
        h->daemon = MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_ALLOW_UPGRADE | MHD_USE_ERROR_LOG |
                                             (h->tls ? MHD_USE_TLS : 0), 0, NULL, NULL,
                                     access_handler, h, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT,
                                     (unsigned)HTTP_CONNECTION_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT,
                                     (unsigned)HTTP_CONNECTION_TIMEOUT_SEC, MHD_OPTION_NOTIFY_COMPLETED,
                                     on_completed, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, h,
                                     MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024), MHD_OPTION_ARRAY,
                                     http_tls_mhd_options(h->tls), MHD_OPTION_END);
        if (!h->daemon) {
                r = -EIO;
                goto fail;
        }
        TAKE_FD(fd); /* owned by MHD now */

        info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_EPOLL_FD);
        if (!info) {
                r = -EIO;
                goto fail;
        }
        r = sd_event_add_io(event, &h->io_source, info->epoll_fd, EPOLLIN, on_epoll, h);
        if (r < 0)
                goto fail;
        (void)sd_event_source_set_description(h->io_source, "api-http");
        /* MHD's timeouts are idle-connection limits (60 s): a coarse timer is plenty. */
        r = sd_event_add_time(event, &h->timer_source, CLOCK_MONOTONIC, 0, HTTP_TIMER_ACCURACY, on_timer, h);
        if (r < 0)
                goto fail;
        (void)sd_event_source_set_description(h->timer_source, "api-http-timer");
        r = sd_event_add_defer(event, &h->run_source, on_run, h);
        if (r >= 0)
                r = sd_event_source_set_enabled(h->run_source, SD_EVENT_OFF);
        if (r < 0)
                goto fail;
        (void)sd_event_source_set_description(h->run_source, "api-http-run");
        r = http_arm_timer(h);
        if (r < 0)
                goto fail;

        *ret = h;
        return 0;
fail:
        api_http_free(h);
        return log_error_errno(r, "api: cannot start the HTTP server: %m");
}

ApiHttp *api_http_free(ApiHttp *h)
{
        if (!h)
                return NULL;
        h->closing = true;
        http_exec_close_all(h); /* MHD refuses to stop with upgraded connections open */
        if (h->daemon) {
                /* MHD panics if stopped with suspended connections: end what
                 * they wait for, resume them, and let MHD take them back. */
                for (HttpRequest *req = h->requests; req; req = req->next) {
                        request_cancel_watches(req);
                        req->stream_done = true;
                        http_request_resume(req);
                }
                (void)MHD_run(h->daemon);
                MHD_stop_daemon(h->daemon); /* closes the listen socket */
        }
        while (h->requests) /* not reached by MHD: should not happen */
                request_free(h->requests);
        h->io_source = sd_event_source_disable_unref(h->io_source);
        h->timer_source = sd_event_source_disable_unref(h->timer_source);
        h->run_source = sd_event_source_disable_unref(h->run_source);
        h->tls = http_tls_free(h->tls);
        if (h->socket_path)
                (void)unlink(h->socket_path);
        free(h->socket_path);
        sd_event_unref(h->event);
        free(h);
        return NULL;
}
