/* SPDX-License-Identifier: Apache-2.0 */
/* The gRPC adapter without a real daemon: the pure helpers (grpc-timeout,
 * status mapping, framing, roles, rate limits) and the HTTP/2 server driven
 * by an nghttp2 client over its unix socket on one sd-event loop, against the
 * test backend of tests/unit/api: status codes, deadlines, size limits,
 * the concurrent stream limit, keepalive pings, rapid-reset protection and
 * GOAWAY on shutdown. */
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "api/grpc-internal.h"
#include "tests/unit/api/test-backend.h"

static int n_failed, n_passed;

#define CHECK(cond)                                                                                          \
        do {                                                                                                 \
                if (cond)                                                                                    \
                        n_passed++;                                                                          \
                else {                                                                                       \
                        n_failed++;                                                                          \
                        fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);                     \
                }                                                                                            \
        } while (0)

static void test_helpers(void)
{
        usec_t t = 0;
        const uint8_t *p;
        size_t n;
        uint8_t f[] = { 0, 0, 0, 0, 2, 0x0a, 0x00 };
        ApiRateLimiter rl;
        ApiRoleMapping *m = NULL;
        size_t nm = 0;
        ApiCaller c = { .authenticated = true, .role = API_ROLE_READER };
        BerthError err = {};

        CHECK(grpc_timeout_parse("100m", &t) == 0 && t == 100 * USEC_PER_MSEC);
        CHECK(grpc_timeout_parse("2S", &t) == 0 && t == 2 * USEC_PER_SEC);
        CHECK(grpc_timeout_parse("1H", &t) == 0 && t == 3600 * USEC_PER_SEC);
        CHECK(grpc_timeout_parse("5u", &t) == 0 && t == 5);
        CHECK(grpc_timeout_parse("5000n", &t) == 0 && t == 5);
        CHECK(grpc_timeout_parse("99999999S", &t) == 0);
        CHECK(grpc_timeout_parse("123456789S", &t) == -EINVAL);
        CHECK(grpc_timeout_parse("S", &t) == -EINVAL);
        CHECK(grpc_timeout_parse("1x", &t) == -EINVAL);
        CHECK(grpc_timeout_parse("-1S", &t) == -EINVAL);

        CHECK(grpc_status_from_error(-EINVAL) == GRPC_INVALID_ARGUMENT);
        CHECK(grpc_status_from_error(-ENOENT) == GRPC_NOT_FOUND);
        CHECK(grpc_status_from_error(-EEXIST) == GRPC_ALREADY_EXISTS);
        CHECK(grpc_status_from_error(-EBUSY) == GRPC_FAILED_PRECONDITION);
        CHECK(grpc_status_from_error(-E2BIG) == GRPC_RESOURCE_EXHAUSTED);
        CHECK(grpc_status_from_error(-ENOSPC) == GRPC_RESOURCE_EXHAUSTED);
        CHECK(grpc_status_from_error(-EOPNOTSUPP) == GRPC_UNIMPLEMENTED);
        CHECK(grpc_status_from_error(-ESHUTDOWN) == GRPC_UNAVAILABLE);
        CHECK(grpc_status_from_error(-EACCES) == GRPC_PERMISSION_DENIED);
        CHECK(grpc_status_from_error(-ENOKEY) == GRPC_UNAUTHENTICATED);
        CHECK(grpc_status_from_error(-EIO) == GRPC_INTERNAL);

        CHECK(grpc_frame_unpack(f, sizeof(f), 100, &p, &n) == 0 && n == 2 && p == f + 5);
        CHECK(grpc_frame_unpack(f, sizeof(f) - 1, 100, &p, &n) == -EINVAL);
        CHECK(grpc_frame_unpack(f, sizeof(f), 1, &p, &n) == -EMSGSIZE);
        f[0] = 1;
        CHECK(grpc_frame_unpack(f, sizeof(f), 100, &p, &n) == -EOPNOTSUPP);
        CHECK(grpc_frame_unpack(f, 3, 100, &p, &n) == -EINVAL);

        CHECK(api_role_mappings_parse("CN=cp,O=x; CN=cp2", "CN=op", NULL, &m, &nm) == 0 && nm == 3);
        CHECK(api_role_for_subject(m, nm, "CN=cp,O=x") == API_ROLE_CONTROL_PLANE);
        CHECK(api_role_for_subject(m, nm, "CN=cp2") == API_ROLE_CONTROL_PLANE);
        CHECK(api_role_for_subject(m, nm, "CN=op,O=anything") == API_ROLE_OPERATOR); /* by CN */
        CHECK(api_role_for_subject(m, nm, "CN=cp,O=y") == API_ROLE_NONE); /* full subject differs, CN unmapped */
        CHECK(api_role_for_subject(m, nm, "CN=nobody") == API_ROLE_NONE);
        api_role_mappings_free(m, nm);

        CHECK(api_caller_check(&c, API_ACCESS_READ, "read", &err) == 0);
        CHECK(api_caller_check(&c, API_ACCESS_WRITE, "write", &err) == -EACCES);
        c.authenticated = false;
        CHECK(api_caller_check(&c, API_ACCESS_READ, "read", &err) == -ENOKEY);
        c = (ApiCaller){ .authenticated = true, .role = API_ROLE_OPERATOR };
        CHECK(api_caller_check(&c, API_ACCESS_WRITE, "write", &err) == 0 && !api_caller_may_use_host(&c));
        c.role = API_ROLE_CONTROL_PLANE;
        CHECK(api_caller_may_use_host(&c) && api_caller_may_use_host(NULL));

        CHECK(api_rate_limiter_init(&rl, 10, 5) == 0);
        for (int i = 0; i < 5; i++)
                CHECK(api_rate_limiter_take(&rl, "a", 1000000));
        CHECK(!api_rate_limiter_take(&rl, "a", 1000000));
        CHECK(api_rate_limiter_take(&rl, "b", 1000000)); /* per client */
        CHECK(api_rate_limiter_take(&rl, "a", 1000000 + USEC_PER_SEC / 10)); /* refilled one token */
        CHECK(!api_rate_limiter_take(&rl, "a", 1000000 + USEC_PER_SEC / 10));
        api_rate_limiter_done(&rl);
}

/* ---- an nghttp2 client on the same loop ---- */

typedef struct Client {
        int fd;
        nghttp2_session *session;
        int status[1024]; /* grpc-status by stream id, -1 = none yet */
        bool closed[1024];
        uint8_t data[1024][256];
        size_t data_len[1024];
        int goaway_error; /* -1 = none */
        unsigned pings;
} Client;

static int c_on_header(nghttp2_session *s, const nghttp2_frame *frame, const uint8_t *name, size_t namelen,
                       const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
        Client *c = ud;
        int32_t id = frame->hd.stream_id;

        if (id > 0 && id < 1024 && namelen == 11 && memcmp(name, "grpc-status", 11) == 0)
                c->status[id] = atoi((const char *)value);
        return 0;
}

static int c_on_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data, size_t len, void *ud)
{
        Client *c = ud;

        if (id > 0 && id < 1024) {
                if (c->data_len[id] + len <= sizeof(c->data[id]))
                        memcpy(c->data[id] + c->data_len[id], data, len);
                c->data_len[id] += len;
        }
        return 0;
}

static int c_on_frame(nghttp2_session *s, const nghttp2_frame *frame, void *ud)
{
        Client *c = ud;

        if (frame->hd.type == NGHTTP2_GOAWAY)
                c->goaway_error = (int)frame->goaway.error_code;
        if (frame->hd.type == NGHTTP2_PING && !(frame->hd.flags & NGHTTP2_FLAG_ACK))
                c->pings++;
        return 0;
}

static int c_on_close(nghttp2_session *s, int32_t id, uint32_t error_code, void *ud)
{
        Client *c = ud;

        if (id > 0 && id < 1024)
                c->closed[id] = true;
        return 0;
}

static void client_io(Client *c)
{
        uint8_t buf[16384];
        const uint8_t *out;
        ssize_t n;

        for (;;) {
                n = nghttp2_session_mem_send(c->session, &out);
                if (n <= 0)
                        break;
                if (send(c->fd, out, (size_t)n, MSG_NOSIGNAL) != n)
                        break;
        }
        while ((n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
                (void)nghttp2_session_mem_recv(c->session, buf, (size_t)n);
}

static void pump(sd_event *e, Client *c, usec_t for_usec)
{
        usec_t end = now_usec(CLOCK_MONOTONIC) + for_usec;

        do {
                client_io(c);
                (void)sd_event_run(e, 5 * USEC_PER_MSEC);
                client_io(c);
        } while (now_usec(CLOCK_MONOTONIC) < end);
}

static int client_connect(Client *c, const char *path)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        nghttp2_session_callbacks *cb;

        memset(c, 0, sizeof(*c));
        for (int i = 0; i < 1024; i++)
                c->status[i] = -1;
        c->goaway_error = -1;
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                return -errno;
        nghttp2_session_callbacks_new(&cb);
        nghttp2_session_callbacks_set_on_header_callback(cb, c_on_header);
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, c_on_data);
        nghttp2_session_callbacks_set_on_frame_recv_callback(cb, c_on_frame);
        nghttp2_session_callbacks_set_on_stream_close_callback(cb, c_on_close);
        nghttp2_session_client_new(&c->session, cb, c);
        nghttp2_session_callbacks_del(cb);
        nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, NULL, 0);
        return 0;
}

static void client_close(Client *c)
{
        nghttp2_session_del(c->session);
        safe_close(c->fd);
}

typedef struct Body {
        const uint8_t *p;
        size_t len, pos;
} Body;

static ssize_t body_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t length, uint32_t *flags,
                         nghttp2_data_source *src, void *ud)
{
        Body *b = src->ptr;
        size_t n = MIN(length, b->len - b->pos);

        memcpy(buf, b->p + b->pos, n);
        b->pos += n;
        if (b->pos == b->len)
                *flags |= NGHTTP2_DATA_FLAG_EOF;
        return (ssize_t)n;
}

#define HNV(n, v) { (uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), NGHTTP2_NV_FLAG_NONE }

/* A unary call with `msg` (unframed protobuf; NULL = end the stream after the headers). */
static int32_t call(Client *c, const char *path, const char *timeout, Body *body)
{
        nghttp2_nv nv[7] = {
                HNV(":method", "POST"), HNV(":scheme", "http"), HNV(":authority", "localhost"),
                HNV(":path", path), HNV("content-type", "application/grpc"), HNV("te", "trailers"),
        };
        size_t n = 6;
        nghttp2_data_provider prd = { .source.ptr = body, .read_callback = body_read };

        if (timeout)
                nv[n++] = (nghttp2_nv)HNV("grpc-timeout", timeout);
        return nghttp2_submit_request(c->session, NULL, nv, n, body ? &prd : NULL, NULL);
}

static Body *framed(const ProtobufCMessage *m, uint8_t *buf, Body *b)
{
        size_t n = protobuf_c_message_get_packed_size(m);

        buf[0] = 0;
        buf[1] = (uint8_t)(n >> 24);
        buf[2] = (uint8_t)(n >> 16);
        buf[3] = (uint8_t)(n >> 8);
        buf[4] = (uint8_t)n;
        protobuf_c_message_pack(m, buf + 5);
        *b = (Body){ .p = buf, .len = n + 5 };
        return b;
}

static void test_server(void)
{
        _cleanup_free_ char *dir = strdup("/tmp/berth-test-grpc-XXXXXX"), *path = NULL;
        sd_event *e = NULL;
        TestBackend *tb = NULL;
        ApiGrpc *g = NULL;
        Client c;
        Body b1, b2, b3, b4, b5;
        uint8_t buf1[256], buf2[256], buf3[256], buf5[256];
        _cleanup_free_ uint8_t *big = NULL;
        Berth__V1__GetWorkloadRequest get = BERTH__V1__GET_WORKLOAD_REQUEST__INIT;
        Berth__V1__WaitWorkloadRequest wait = BERTH__V1__WAIT_WORKLOAD_REQUEST__INIT;
        Berth__V1__UpdateWorkloadRequest upd = BERTH__V1__UPDATE_WORKLOAD_REQUEST__INIT;
        uint8_t buf6[256];
        Body b6;
        int32_t s_nf, s_ok, s_bad, s_dl, s_big, s_unk, s_exec, s_ct, s_upd;
        usec_t t0;

        CHECK(dir && mkdtemp(dir));
        CHECK(asprintf(&path, "%s/grpc.sock", dir) > 0);
        CHECK(sd_event_new(&e) >= 0);
        CHECK(test_backend_new(e, dir, &tb) >= 0);
        CHECK(test_backend_add(tb, "{\"apiVersion\":\"berth/v1\",\"kind\":\"Workload\",\"metadata\":{\"name\":\"web\"},"
                                   "\"spec\":{\"rootfs\":\"/\",\"command\":[\"/bin/true\"]}}") >= 0);
        test_backend_set_ready(tb, true);
        ApiBackend be = { .ops = &test_backend_ops, .userdata = tb };
        ApiGrpcConfig gc = {
                .socket_path = path, .socket_gid = (gid_t)-1, .keepalive = USEC_PER_SEC, .max_message = 64 * 1024,
                .max_streams = 50,
        };
        CHECK(api_grpc_new(e, &gc, &be, &g) >= 0);
        if (!g)
                return;
        CHECK(client_connect(&c, path) == 0);
        pump(e, &c, 50 * USEC_PER_MSEC);
        CHECK(nghttp2_session_get_remote_settings(c.session, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS) == 50);

        get.name = (char *)"nosuch";
        s_nf = call(&c, "/berth.v1.Workloads/GetWorkload", NULL, framed(&get.base, buf1, &b1));
        get.name = (char *)"web";
        s_ok = call(&c, "/berth.v1.Workloads/GetWorkload", NULL, framed(&get.base, buf2, &b2));
        b3 = (Body){ .p = (const uint8_t *)"\0\0\0\0\3\x0a\x05\x61", .len = 8 };
        s_bad = call(&c, "/berth.v1.Workloads/GetWorkload", NULL, &b3);
        wait.name = (char *)"web"; /* runs until stopped: the wait never ends by itself */
        s_dl = call(&c, "/berth.v1.Workloads/WaitWorkload", "200m", framed(&wait.base, buf3, &b4));
        big = calloc(1, 100 * 1024);
        big[1] = 0, big[2] = 1, big[3] = 0x90, big[4] = 0; /* declares 102400 - 5 bytes */
        b5 = (Body){ .p = big, .len = 100 * 1024 };
        s_big = call(&c, "/berth.v1.Workloads/GetWorkload", NULL, &b5);
        s_unk = call(&c, "/berth.v1.Nope/Nope", NULL, NULL);
        s_exec = call(&c, "/berth.v1.Exec/Exec", NULL, NULL);
        /* UpdateWorkload goes through api_core_update: this backend has no update op -> UNIMPLEMENTED from the core */
        upd.name = (char *)"web";
        upd.patch = (char *)"{\"resources\":{\"memory\":\"64Mi\"}}";
        s_upd = call(&c, "/berth.v1.Workloads/UpdateWorkload", NULL, framed(&upd.base, buf6, &b6));
        {
                nghttp2_nv nv[] = { HNV(":method", "POST"), HNV(":scheme", "http"), HNV(":authority", "x"),
                                    HNV(":path", "/berth.v1.Workloads/GetWorkload"), HNV("content-type", "text/plain") };
                s_ct = nghttp2_submit_request(c.session, NULL, nv, ELEMENTSOF(nv), NULL, NULL);
        }
        t0 = now_usec(CLOCK_MONOTONIC);
        pump(e, &c, 100 * USEC_PER_MSEC);
        CHECK(c.status[s_nf] == GRPC_NOT_FOUND);
        CHECK(c.status[s_ok] == GRPC_OK && c.data_len[s_ok] > 5);
        CHECK(c.status[s_bad] == GRPC_INVALID_ARGUMENT);
        CHECK(c.status[s_big] == GRPC_RESOURCE_EXHAUSTED);
        CHECK(c.status[s_unk] == GRPC_UNIMPLEMENTED);
        CHECK(c.status[s_exec] == GRPC_INVALID_ARGUMENT); /* no first message naming the command */
        CHECK(c.status[s_upd] == GRPC_UNIMPLEMENTED);
        CHECK(c.status[s_ct] == GRPC_INVALID_ARGUMENT);
        CHECK(c.status[s_dl] == -1); /* not yet */
        pump(e, &c, 250 * USEC_PER_MSEC);
        CHECK(c.status[s_dl] == GRPC_DEADLINE_EXCEEDED);
        CHECK(now_usec(CLOCK_MONOTONIC) - t0 >= 200 * USEC_PER_MSEC);
        CHECK(test_backend_live_watches() == 0); /* the deadline cancelled the wait */

        /* keepalive: an idle connection is pinged within ~2 intervals */
        pump(e, &c, 2500 * USEC_PER_MSEC);
        CHECK(c.pings >= 1);
        CHECK(c.goaway_error == -1);

        /* rapid reset: open and cancel streams faster than GRPC_RST_STREAM_MAX/s */
        for (int i = 0; i < GRPC_RST_STREAM_MAX + 20 && c.goaway_error < 0; i++) {
                /* Bodies must outlive the loop: nghttp2 may read them later. */
                static Body bw[GRPC_RST_STREAM_MAX + 20];
                int32_t id = call(&c, "/berth.v1.Workloads/WaitWorkload", NULL, framed(&wait.base, buf5, &bw[i]));
                client_io(&c); /* the HEADERS must be on the wire before the reset */
                nghttp2_submit_rst_stream(c.session, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
                client_io(&c);
                if (i % 10 == 0)
                        (void)sd_event_run(e, 0);
        }
        pump(e, &c, 100 * USEC_PER_MSEC);
        CHECK(c.goaway_error == NGHTTP2_ENHANCE_YOUR_CALM);
        CHECK(test_backend_live_watches() == 0); /* the reset calls released their waits */
        client_close(&c);
        for (int i = 0; i < 5; i++) /* the server notices the close */
                (void)sd_event_run(e, 5 * USEC_PER_MSEC);

        /* GOAWAY on shutdown, NO_ERROR */
        CHECK(client_connect(&c, path) == 0);
        pump(e, &c, 50 * USEC_PER_MSEC);
        api_grpc_shutdown(g);
        pump(e, &c, 50 * USEC_PER_MSEC);
        CHECK(c.goaway_error == NGHTTP2_NO_ERROR);
        client_close(&c);

        g = api_grpc_free(g);
        CHECK(access(path, F_OK) < 0); /* socket removed */
        test_backend_free(tb);
        sd_event_unref(e);
        (void)rm_rf_at(AT_FDCWD, dir); /* the test backend made web/ in it */
}

int main(void)
{
        test_helpers();
        test_server();
        fprintf(stderr, "%d passed, %d failed\n", n_passed, n_failed);
        return n_failed ? 1 : 0;
}
