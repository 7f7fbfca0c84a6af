/* SPDX-License-Identifier: Apache-2.0 */
/* The gRPC server: HTTP/2 (nghttp2) over unix and TLS TCP sockets on
 * berthd's sd-event loop. One GrpcConn per client connection, one GrpcStream
 * per call. nghttp2 never sends from inside its own callbacks here: output is
 * produced by a deferred flush (conn->flush_source). The calls on a
 * connection are grpc-calls.c's. See docs/GRPC.md. */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "api/grpc-internal.h"
#include <openssl/err.h>

#include "api/tls.h"
#include "lib/log.h"

#define GRPC_READ_CHUNK 16384
#define GRPC_WRITE_BATCH (64 * 1024)
#define GRPC_CONNS_MAX 1024
#define GRPC_HEADER_LIST_MAX (16 * 1024)
#define GRPC_TICK (1 * USEC_PER_SEC)

static void conn_free(GrpcConn *c);

/* ---- I/O ---- */

static ssize_t conn_raw_write(GrpcConn *c, const uint8_t *p, size_t n)
{
        ssize_t k;

        if (c->ssl) {
                int w;
                ERR_clear_error();
                w = SSL_write(c->ssl, p, (int)MIN(n, (size_t)INT_MAX));
                if (w > 0)
                        return w;
                switch (SSL_get_error(c->ssl, w)) {
                case SSL_ERROR_WANT_WRITE:
                case SSL_ERROR_WANT_READ:
                        return -EAGAIN;
                default:
                        return -EPIPE;
                }
        }
        k = send(c->fd, p, n, MSG_NOSIGNAL);
        if (k < 0)
                return errno == EINTR ? -EAGAIN : -errno;
        return k;
}

static ssize_t conn_raw_read(GrpcConn *c, uint8_t *p, size_t n)
{
        ssize_t k;

        if (c->ssl) {
                int rd;
                ERR_clear_error();
                rd = SSL_read(c->ssl, p, (int)n);
                if (rd > 0)
                        return rd;
                switch (SSL_get_error(c->ssl, rd)) {
                case SSL_ERROR_WANT_READ:
                case SSL_ERROR_WANT_WRITE:
                        return -EAGAIN;
                case SSL_ERROR_ZERO_RETURN:
                        return 0;
                default:
                        return -ECONNRESET;
                }
        }
        k = recv(c->fd, p, n, 0);
        if (k < 0)
                return errno == EINTR ? -EAGAIN : -errno;
        return k;
}

/* Sends what nghttp2 has; returns < 0 when the connection is finished. */
static int conn_flush(GrpcConn *c)
{
        for (;;) {
                while (c->wbuf_pos < c->wbuf_len) {
                        ssize_t k = conn_raw_write(c, c->wbuf + c->wbuf_pos, c->wbuf_len - c->wbuf_pos);
                        if (k == -EAGAIN) {
                                sd_event_source_set_io_events(c->io_source, EPOLLIN | EPOLLOUT | EPOLLRDHUP);
                                return 0;
                        }
                        if (k < 0)
                                return (int)k;
                        c->wbuf_pos += (size_t)k;
                }
                c->wbuf_pos = c->wbuf_len = 0;
                if (!c->session)
                        break;
                /* Batch frames into one write. */
                while (c->wbuf_len < GRPC_WRITE_BATCH) {
                        const uint8_t *data;
                        ssize_t n = nghttp2_session_mem_send(c->session, &data);
                        if (n < 0)
                                return -EIO;
                        if (n == 0)
                                break;
                        if (!c->wbuf || c->wbuf_len + (size_t)n > GRPC_WRITE_BATCH * 2) {
                                size_t cap = MAX(GRPC_WRITE_BATCH * 2, c->wbuf_len + (size_t)n);
                                uint8_t *p = realloc(c->wbuf, cap);
                                if (!p)
                                        return -ENOMEM;
                                c->wbuf = p;
                        }
                        memcpy(c->wbuf + c->wbuf_len, data, (size_t)n);
                        c->wbuf_len += (size_t)n;
                }
                if (c->wbuf_len == 0)
                        break;
        }
        sd_event_source_set_io_events(c->io_source, EPOLLIN | EPOLLRDHUP);
        if (c->session && !nghttp2_session_want_read(c->session) && !nghttp2_session_want_write(c->session))
                return -ECONNRESET; /* GOAWAY exchanged and nothing left */
        return 0;
}

static int on_flush(sd_event_source *src, void *userdata)
{
        GrpcConn *c = userdata;

        if (conn_flush(c) < 0)
                conn_free(c);
        return 0;
}

void grpc_conn_schedule_flush(GrpcConn *c)
{
        sd_event_source_set_enabled(c->flush_source, SD_EVENT_ONESHOT);
}

static int conn_session_new(GrpcConn *c)
{
        ApiGrpc *g = c->server;
        nghttp2_session_callbacks *cb;
        nghttp2_option *opt;
        nghttp2_settings_entry iv[] = {
                { NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, g->config.max_streams },
                { NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20 },
                { NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, GRPC_HEADER_LIST_MAX },
        };
        int r;

        if (nghttp2_session_callbacks_new(&cb) != 0)
                return -ENOMEM;
        grpc_session_callbacks_set(cb);
        if (nghttp2_option_new(&opt) != 0) {
                nghttp2_session_callbacks_del(cb);
                return -ENOMEM;
        }
        nghttp2_option_set_max_deflate_dynamic_table_size(opt, 4096);
        r = nghttp2_session_server_new2(&c->session, cb, c, opt);
        nghttp2_option_del(opt);
        nghttp2_session_callbacks_del(cb);
        if (r != 0)
                return -ENOMEM;
        /* A larger connection window so a stream of logs is not throttled at 64 KiB. */
        (void)nghttp2_session_set_local_window_size(c->session, NGHTTP2_FLAG_NONE, 0, 4 << 20);
        if (nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, iv, ELEMENTSOF(iv)) != 0)
                return -EIO;
        return 0;
}

static int conn_handshake(GrpcConn *c)
{
        ApiGrpc *g = c->server;
        const unsigned char *alpn = NULL;
        unsigned alpn_len = 0;
        int r;

        ERR_clear_error();
        r = SSL_do_handshake(c->ssl);
        if (r != 1) {
                int e = SSL_get_error(c->ssl, r);
                if (e == SSL_ERROR_WANT_READ)
                        return 0;
                if (e == SSL_ERROR_WANT_WRITE) {
                        sd_event_source_set_io_events(c->io_source, EPOLLIN | EPOLLOUT | EPOLLRDHUP);
                        return 0;
                }
                log_debug("grpc: TLS handshake failed");
                return -ECONNRESET;
        }
        c->handshaking = false;
        SSL_get0_alpn_selected(c->ssl, &alpn, &alpn_len);
        if (alpn_len != 2 || memcmp(alpn, "h2", 2) != 0)
                log_debug("grpc: client did not negotiate ALPN h2, trying HTTP/2 anyway");
        tls_caller_from_ssl(c->ssl, &c->caller, c->tls_why, sizeof(c->tls_why));
        if (c->caller.authenticated)
                c->caller.role = api_role_for_subject(g->config.roles, g->config.n_roles, c->caller.id + 5);
        else
                c->tls_rejected = true;
        log_debug("grpc: TLS client %s role %s%s%s", c->caller.id, api_role_to_string(c->caller.role),
                  c->tls_rejected ? ": " : "", c->tls_rejected ? c->tls_why : "");
        return conn_session_new(c);
}

static int on_conn_io(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
        GrpcConn *c = userdata;
        uint8_t buf[GRPC_READ_CHUNK];
        int r;

        c->last_activity = now_usec(CLOCK_MONOTONIC);
        if (c->handshaking) {
                r = conn_handshake(c);
                if (r < 0)
                        goto fail;
                if (c->handshaking)
                        return 0;
        }
        if (revents & (EPOLLIN | EPOLLHUP | EPOLLRDHUP | EPOLLERR)) {
                for (;;) {
                        ssize_t k = conn_raw_read(c, buf, sizeof(buf));
                        if (k == -EAGAIN)
                                break;
                        if (k <= 0)
                                goto fail;
                        if (nghttp2_session_mem_recv(c->session, buf, (size_t)k) < 0)
                                goto fail_flush; /* nghttp2 queued a GOAWAY for protocol errors */
                        if ((size_t)k < sizeof(buf) && !c->ssl)
                                break;
                }
        }
        if (conn_flush(c) < 0)
                goto fail;
        return 0;
fail_flush:
        (void)conn_flush(c);
fail:
        conn_free(c);
        return 0;
}

static int on_conn_timer(sd_event_source *src, uint64_t usec, void *userdata)
{
        GrpcConn *c = userdata;
        ApiGrpc *g = c->server;
        usec_t now = now_usec(CLOCK_MONOTONIC);

        if (!c->session || c->handshaking) {
                if (now - c->last_activity > GRPC_HEADER_TIMEOUT) {
                        log_debug("grpc: %s did not complete the handshake in time", c->caller.id);
                        conn_free(c);
                        return 0;
                }
        } else if (c->ping_sent && now - c->ping_sent > GRPC_KEEPALIVE_TIMEOUT) {
                log_debug("grpc: %s did not answer a keepalive ping, closing", c->caller.id);
                conn_free(c);
                return 0;
        } else if (c->n_streams == 0 && now - c->last_activity > g->config.idle_timeout && !c->goaway_sent) {
                nghttp2_submit_goaway(c->session, NGHTTP2_FLAG_NONE,
                                      nghttp2_session_get_last_proc_stream_id(c->session), NGHTTP2_NO_ERROR, NULL, 0);
                c->goaway_sent = true;
                grpc_conn_schedule_flush(c);
        } else if (!c->ping_sent && now - c->last_activity >= g->config.keepalive) {
                if (nghttp2_submit_ping(c->session, NGHTTP2_FLAG_NONE, NULL) == 0) {
                        c->ping_sent = now;
                        grpc_conn_schedule_flush(c);
                }
        }
        sd_event_source_set_time(src, now + MIN(GRPC_TICK, g->config.keepalive / 2 + 1));
        sd_event_source_set_enabled(src, SD_EVENT_ON);
        return 0;
}

static void conn_free(GrpcConn *c)
{
        ApiGrpc *g;

        if (!c)
                return;
        g = c->server;
        while (c->streams)
                grpc_stream_free(c->streams);
        nghttp2_session_del(c->session);
        c->session = NULL;
        sd_event_source_disable_unref(c->io_source);
        sd_event_source_disable_unref(c->flush_source);
        sd_event_source_disable_unref(c->timer_source);
        if (c->ssl) {
                (void)SSL_shutdown(c->ssl);
                SSL_free(c->ssl);
        }
        safe_close(c->fd);
        if (c->prev)
                c->prev->next = c->next;
        else
                g->conns = c->next;
        if (c->next)
                c->next->prev = c->prev;
        g->n_conns--;
        free(c->wbuf);
        free(c);
}

static int on_accept(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
        GrpcListener *l = userdata;
        ApiGrpc *g = l->server;
        GrpcConn *c;
        int cfd, r;

        for (;;) {
                cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (cfd < 0) {
                        if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                                log_warning_errno(errno, "grpc: accept failed: %m");
                        return 0;
                }
                if (g->n_conns >= GRPC_CONNS_MAX || g->closing) {
                        safe_close(cfd);
                        continue;
                }
                c = calloc(1, sizeof(*c));
                if (!c) {
                        safe_close(cfd);
                        return 0;
                }
                c->server = g;
                c->fd = cfd;
                c->last_activity = now_usec(CLOCK_MONOTONIC);
                c->next = g->conns;
                if (g->conns)
                        g->conns->prev = c;
                g->conns = c;
                g->n_conns++;
                if (l->tls) {
                        int one = 1;
                        (void)setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                        snprintf(c->caller.id, sizeof(c->caller.id), "tls:handshaking");
                        c->ssl = SSL_new(g->ssl_ctx);
                        if (!c->ssl || SSL_set_fd(c->ssl, cfd) != 1) {
                                conn_free(c);
                                continue;
                        }
                        SSL_set_accept_state(c->ssl);
                        c->handshaking = true;
                        r = 0;
                } else {
                        (void)api_caller_from_peercred(cfd, &c->caller);
                        r = conn_session_new(c);
                }
                if (r >= 0)
                        r = sd_event_add_io(g->event, &c->io_source, cfd, EPOLLIN | EPOLLRDHUP, on_conn_io, c);
                if (r >= 0)
                        r = sd_event_add_defer(g->event, &c->flush_source, on_flush, c);
                if (r >= 0)
                        r = sd_event_source_set_enabled(c->flush_source, c->session ? SD_EVENT_ONESHOT : SD_EVENT_OFF);
                if (r >= 0)
                        r = sd_event_add_time_relative(g->event, &c->timer_source, CLOCK_MONOTONIC,
                                                       MIN(GRPC_TICK, g->config.keepalive / 2 + 1), 100 * USEC_PER_MSEC,
                                                       on_conn_timer, c);
                if (r < 0) {
                        log_warning_errno(r, "grpc: cannot set up a connection: %m");
                        conn_free(c);
                }
        }
}

/* ---- listeners ---- */

static int listen_unix(ApiGrpc *g, const char *path, gid_t gid, GrpcListener *l)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int fd = -EBADF;

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        (void)unlink(path);
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                return -errno;
        if (chmod(path, 0660) < 0 || (gid != (gid_t)-1 && chown(path, 0, gid) < 0)) {
                int e = -errno;
                (void)unlink(path);
                return e;
        }
        if (listen(fd, 128) < 0)
                return -errno;
        l->unlink_path = strdup(path);
        if (!l->unlink_path)
                return -ENOMEM;
        l->fd = TAKE_FD(fd);
        return 0;
}

/* "HOST:PORT", "[V6]:PORT", ":PORT" (all addresses). */
int api_listen_tcp(const char *address, int *ret_fd)
{
        _cleanup_free_ char *host = NULL;
        struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV };
        struct addrinfo *ai = NULL;
        const char *colon = strrchr(address, ':');
        _cleanup_close_ int fd = -EBADF;
        int one = 1, r;

        if (!colon || !colon[1])
                return -EINVAL;
        if (address[0] == '[') {
                if (colon == address || colon[-1] != ']')
                        return -EINVAL;
                host = strndup(address + 1, (size_t)(colon - address - 2));
        } else
                host = strndup(address, (size_t)(colon - address));
        if (!host)
                return -ENOMEM;
        r = getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &ai);
        if (r != 0 || !ai)
                return -EINVAL;
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
                freeaddrinfo(ai);
                return -errno;
        }
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        r = bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 ? -errno : 0;
        freeaddrinfo(ai);
        if (r < 0)
                return r;
        if (listen(fd, 512) < 0)
                return -errno;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

static int tls_load(ApiGrpc *g, SSL_CTX **ret)
{
        ApiTlsConfig tc = { .cert = g->config.tls_cert, .key = g->config.tls_key, .ca = g->config.tls_ca };
        BerthError err = {};
        char buf[1100];
        int r;

        r = tls_context_new(&tc, true, ret, &err);
        if (r < 0)
                log_error("grpc: TLS: %s", berth_error_format(&err, buf, sizeof(buf)));
        return r;
}

int api_grpc_reload_tls(ApiGrpc *g)
{
        SSL_CTX *ctx = NULL;
        int r;

        if (!g || !g->config.tcp_address)
                return 0;
        r = tls_load(g, &ctx);
        if (r < 0)
                return r; /* keep serving with the old certificates */
        /* Connections hold a reference to the context they were made with. */
        SSL_CTX_free(g->ssl_ctx);
        g->ssl_ctx = ctx;
        log_info("grpc: reloaded the TLS certificate %s", g->config.tls_cert);
        return 0;
}

int api_grpc_new(sd_event *event, const ApiGrpcConfig *config, const ApiBackend *backend, ApiGrpc **ret)
{
        ApiGrpc *g;
        int r;

        g = calloc(1, sizeof(*g));
        if (!g)
                return -ENOMEM;
        g->event = sd_event_ref(event);
        g->unix_listener = (GrpcListener){ .server = g, .fd = -EBADF };
        g->tcp_listener = (GrpcListener){ .server = g, .fd = -EBADF };
        g->config = *config;
        g->config.roles = NULL;
        g->config.n_roles = 0;
        if (config->n_roles > 0) {
                ApiRoleMapping *m = calloc(config->n_roles, sizeof(*m));
                if (!m) {
                        r = -ENOMEM;
                        goto fail;
                }
                g->config.roles = m;
                for (size_t i = 0; i < config->n_roles; i++) {
                        m[i].role = config->roles[i].role;
                        m[i].subject = strdup(config->roles[i].subject);
                        g->config.n_roles++;
                        if (!m[i].subject) {
                                r = -ENOMEM;
                                goto fail;
                        }
                }
        }
        if (!g->config.max_message)
                g->config.max_message = GRPC_DEFAULT_MAX_MESSAGE;
        if (!g->config.max_streams)
                g->config.max_streams = GRPC_DEFAULT_MAX_STREAMS;
        if (!g->config.keepalive)
                g->config.keepalive = GRPC_DEFAULT_KEEPALIVE;
        if (!g->config.idle_timeout)
                g->config.idle_timeout = GRPC_DEFAULT_IDLE_TIMEOUT;
        api_core_init(&g->core, backend, config->default_stop_timeout);
        r = api_rate_limiter_init(&g->rate, config->rate_limit, config->rate_burst);
        if (r < 0)
                goto fail;

        if (config->socket_path) {
                r = listen_unix(g, config->socket_path, config->socket_gid, &g->unix_listener);
                if (r < 0) {
                        log_error_errno(r, "grpc: cannot listen on %s: %m", config->socket_path);
                        goto fail;
                }
                r = sd_event_add_io(event, &g->unix_listener.source, g->unix_listener.fd, EPOLLIN, on_accept,
                                    &g->unix_listener);
                if (r < 0)
                        goto fail;
        }
        if (config->tcp_address) {
                r = tls_load(g, &g->ssl_ctx);
                if (r < 0)
                        goto fail;
                r = api_listen_tcp(config->tcp_address, &g->tcp_listener.fd);
                g->tcp_listener.tls = true;
                if (r < 0) {
                        log_error_errno(r, "grpc: cannot listen on %s: %m", config->tcp_address);
                        goto fail;
                }
                r = sd_event_add_io(event, &g->tcp_listener.source, g->tcp_listener.fd, EPOLLIN, on_accept,
                                    &g->tcp_listener);
                if (r < 0)
                        goto fail;
        }
        *ret = g;
        return 0;
fail:
        api_grpc_free(g);
        return r;
}

void api_grpc_shutdown(ApiGrpc *g)
{
        if (!g || g->closing)
                return;
        g->closing = true;
        sd_event_source_set_enabled(g->unix_listener.source, SD_EVENT_OFF);
        sd_event_source_set_enabled(g->tcp_listener.source, SD_EVENT_OFF);
        for (GrpcConn *c = g->conns, *next; c; c = next) {
                next = c->next;
                if (!c->session) {
                        conn_free(c);
                        continue;
                }
                /* Streams that would never end on their own end now. */
                for (GrpcStream *s = c->streams; s; s = s->next)
                        if (s->kind != GRPC_STREAM_UNARY || s->watch)
                                grpc_stream_finish(s, GRPC_UNAVAILABLE, "berthd is shutting down");
                if (!c->goaway_sent)
                        nghttp2_submit_goaway(c->session, NGHTTP2_FLAG_NONE,
                                              nghttp2_session_get_last_proc_stream_id(c->session),
                                              NGHTTP2_NO_ERROR, NULL, 0);
                c->goaway_sent = true;
                if (conn_flush(c) < 0)
                        conn_free(c);
        }
}

static void listener_done(GrpcListener *l)
{
        l->source = sd_event_source_disable_unref(l->source);
        l->fd = safe_close(l->fd);
        if (l->unlink_path)
                (void)unlink(l->unlink_path);
        free(l->unlink_path);
        l->unlink_path = NULL;
}

ApiGrpc *api_grpc_free(ApiGrpc *g)
{
        if (!g)
                return NULL;
        api_grpc_shutdown(g);
        while (g->conns)
                conn_free(g->conns);
        listener_done(&g->unix_listener);
        listener_done(&g->tcp_listener);
        SSL_CTX_free(g->ssl_ctx);
        api_rate_limiter_done(&g->rate);
        api_role_mappings_free((ApiRoleMapping *)g->config.roles, g->config.n_roles);
        sd_event_unref(g->event);
        free(g);
        return NULL;
}
