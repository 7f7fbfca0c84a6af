/* SPDX-License-Identifier: Apache-2.0 */
/* Drives the real HTTP adapter on a temp unix socket: the sd-event loop runs
 * in the main thread with the test backend, a client thread speaks HTTP with
 * libcurl. The backend's watch count is read across threads atomically. */
#include <curl/curl.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "api/api.h"
#include "lib/log.h"
#include "tests/unit/api/test-backend.h"

static char tmpdir[] = "/tmp/berth-api-test-XXXXXX";
static char sock_path[256];
static int n_failed, n_passed;
static int done_fd = -1;
static int held_fd = -1; /* a raw client left waiting across api_http_free */

#define CHECK(cond)                                                                                          \
        do {                                                                                                 \
                if (cond)                                                                                    \
                        __atomic_add_fetch(&n_passed, 1, __ATOMIC_SEQ_CST);                                  \
                else {                                                                                       \
                        __atomic_add_fetch(&n_failed, 1, __ATOMIC_SEQ_CST);                                  \
                        fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);                     \
                }                                                                                            \
        } while (0)

typedef struct Resp {
        long status;
        char *body;
        size_t len;
        char ctype[128];
        CURLcode code;
} Resp;

static size_t on_data(char *p, size_t size, size_t n, void *userdata)
{
        Resp *r = userdata;
        size_t k = size * n;

        r->body = realloc(r->body, r->len + k + 1);
        memcpy(r->body + r->len, p, k);
        r->len += k;
        r->body[r->len] = 0;
        return k;
}

typedef struct ChunkSrc {
        size_t left;
} ChunkSrc;

static size_t on_read(char *buf, size_t size, size_t n, void *userdata)
{
        ChunkSrc *c = userdata;
        size_t k = size * n < c->left ? size * n : c->left;

        memset(buf, 'x', k);
        c->left -= k;
        return k;
}

/* method NULL = GET. chunked_size > 0 sends a chunked body of that many bytes. */
static Resp req_full(const char *method, const char *path, const char *body, size_t body_len, long timeout_ms,
                     size_t chunked_size)
{
        Resp r = {};
        char url[1024];
        CURL *c = curl_easy_init();
        struct curl_slist *h = NULL;
        ChunkSrc src = { chunked_size };
        char *ct = NULL;

        snprintf(url, sizeof(url), "http://localhost%s", path);
        curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, sock_path);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 5000L);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        if (chunked_size > 0) {
                h = curl_slist_append(h, "Transfer-Encoding: chunked");
                h = curl_slist_append(h, "Content-Type: application/json");
                curl_easy_setopt(c, CURLOPT_POST, 1L);
                curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
                curl_easy_setopt(c, CURLOPT_READDATA, &src);
        } else if (body) {
                h = curl_slist_append(h, "Content-Type: application/json");
                curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
                curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)body_len);
        }
        if (h)
                curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        if (method)
                curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        r.code = curl_easy_perform(c);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
        if (curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct)
                snprintf(r.ctype, sizeof(r.ctype), "%s", ct);
        if (!r.body)
                r.body = strdup("");
        curl_slist_free_all(h);
        curl_easy_cleanup(c);
        return r;
}

static Resp req(const char *method, const char *path, const char *body)
{
        return req_full(method, path, body, body ? strlen(body) : 0, 0, 0);
}

/* Checks status and, for errors, the error body shape. */
static bool check_error(Resp *r, long status, const char *code, const char *field)
{
        json_error_t je;
        json_t *j = json_loads(r->body, 0, &je);
        bool ok = r->status == status && j && json_is_object(j) && json_object_size(j) == 3 &&
                  streq_ptr(json_string_value(json_object_get(j, "code")), code) &&
                  json_is_string(json_object_get(j, "message")) &&
                  (field ? streq_ptr(json_string_value(json_object_get(j, "field")), field)
                         : json_is_null(json_object_get(j, "field")));

        if (!ok)
                fprintf(stderr, "  got %ld %s (want %ld %s field=%s)\n", r->status, r->body, status, code,
                        strempty(field));
        json_decref(j);
        return ok;
}

static json_t *body_json(Resp *r)
{
        return json_loads(r->body, 0, NULL);
}

static void resp_done(Resp *r)
{
        free(r->body);
        r->body = NULL;
}

static bool wait_watches(int n, int ms)
{
        for (int i = 0; i < ms / 10; i++) {
                if (test_backend_live_watches() == n)
                        return true;
                usleep(10 * 1000);
        }
        fprintf(stderr, "  live watches %d, want %d\n", test_backend_live_watches(), n);
        return false;
}

static void write_log(const char *name, const char *content)
{
        char path[512];
        int fd;

        snprintf(path, sizeof(path), "%s/logs/%s/log", tmpdir, name);
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0 || write_all(fd, content, strlen(content)) < 0)
                fprintf(stderr, "cannot write %s\n", path);
        close(fd);
}

#define DOC(name) "{\"apiVersion\":\"berth/v1\",\"kind\":\"Workload\",\"metadata\":{\"name\":\"" name "\"},"       \
                  "\"spec\":{\"rootfs\":\"/srv/rootfs\",\"command\":[\"/bin/true\"]}}"

static void test_simple_routes(void)
{
        Resp r;
        json_t *j;

        r = req(NULL, "/healthz", NULL);
        CHECK(r.status == 200 && streq(r.body, "ok\n"));
        resp_done(&r);
        r = req(NULL, "/readyz", NULL);
        CHECK(r.status == 200);
        resp_done(&r);
        r = req(NULL, "/metrics", NULL);
        CHECK(r.status == 200 && strstr(r.body, "berth_node_cpus 2") && strstr(r.ctype, "version=0.0.4"));
        resp_done(&r);
        r = req(NULL, "/v1/node", NULL);
        j = body_json(&r);
        CHECK(r.status == 200 && j && json_integer_value(json_object_get(j, "cpus")) == 2 &&
              json_integer_value(json_object_get(json_object_get(j, "workloads"), "running")) == 2 &&
              json_integer_value(json_object_get(json_object_get(j, "workloads"), "total")) == 2 &&
              json_integer_value(json_object_get(json_object_get(j, "memory"), "totalBytes")) == 1 << 30);
        json_decref(j);
        resp_done(&r);

        /* unknown routes, wrong methods, unknown params, bad names */
        r = req(NULL, "/nope", NULL);
        CHECK(check_error(&r, 404, "NotFound", NULL));
        resp_done(&r);
        r = req(NULL, "/v1/workloads/web/frobnicate", NULL);
        CHECK(check_error(&r, 404, "NotFound", NULL));
        resp_done(&r);
        r = req("PUT", "/v1/workloads", NULL);
        CHECK(check_error(&r, 405, "MethodNotAllowed", NULL));
        resp_done(&r);
        r = req("POST", "/healthz", NULL);
        CHECK(check_error(&r, 405, "MethodNotAllowed", NULL));
        resp_done(&r);
        r = req(NULL, "/v1/workloads/web/start", NULL);
        CHECK(check_error(&r, 405, "MethodNotAllowed", NULL));
        resp_done(&r);
        r = req(NULL, "/v1/workloads?bogus=1", NULL);
        CHECK(check_error(&r, 400, "InvalidArgument", "bogus"));
        resp_done(&r);
        r = req(NULL, "/v1/workloads/web?force=1", NULL);
        CHECK(check_error(&r, 400, "InvalidArgument", "force"));
        resp_done(&r);
        r = req(NULL, "/v1/workloads/Bad_Name", NULL);
        CHECK(check_error(&r, 400, "InvalidArgument", "name"));
        resp_done(&r);
        r = req(NULL, "/v1/workloads/nosuch", NULL);
        CHECK(check_error(&r, 404, "NotFound", NULL));
        resp_done(&r);
}

static void test_create_get_list(void)
{
        Resp r;
        json_t *j;
        char *big;

        r = req("POST", "/v1/workloads", DOC("web2"));
        j = body_json(&r);
        CHECK(r.status == 201 && j &&
              streq_ptr(json_string_value(json_object_get(json_object_get(j, "metadata"), "name")), "web2") &&
              streq_ptr(json_string_value(json_object_get(json_object_get(j, "status"), "state")), "running") &&
              json_integer_value(json_object_get(json_object_get(j, "status"), "pid")) == 4242 &&
              json_is_null(json_object_get(json_object_get(j, "status"), "exitCode")) &&
              json_is_object(json_object_get(j, "spec")));
        json_decref(j);
        resp_done(&r);

        r = req("POST", "/v1/workloads", DOC("web2"));
        CHECK(check_error(&r, 409, "AlreadyExists", "metadata.name"));
        resp_done(&r);
        r = req("POST", "/v1/workloads", "{\"apiVersion\":\"berth/v1\",\"kind\":\"Workload\",\"metadata\":{\"name\":"
                                         "\"x\"},\"spec\":{\"rootfs\":\"/r\",\"command\":[\"/a\"],"
                                         "\"resources\":{\"memory\":\"12Xi\"}}}");
        CHECK(check_error(&r, 400, "InvalidArgument", "spec.resources.memory"));
        resp_done(&r);
        r = req("POST", "/v1/workloads", "{not json");
        CHECK(r.status == 400);
        resp_done(&r);
        r = req("POST", "/v1/workloads", NULL);
        CHECK(check_error(&r, 400, "InvalidArgument", NULL));
        resp_done(&r);

        /* 2 MiB with Content-Length: refused before the body is read */
        big = malloc(2 * 1024 * 1024);
        memset(big, ' ', 2 * 1024 * 1024);
        r = req_full("POST", "/v1/workloads", big, 2 * 1024 * 1024, 0, 0);
        CHECK(check_error(&r, 413, "PayloadTooLarge", NULL));
        resp_done(&r);
        free(big);
        /* 2 MiB chunked: no Content-Length, refused once the cap is crossed */
        r = req_full(NULL, "/v1/workloads", NULL, 0, 0, 2 * 1024 * 1024);
        CHECK(check_error(&r, 413, "PayloadTooLarge", NULL));
        resp_done(&r);

        r = req(NULL, "/v1/workloads/web2", NULL);
        CHECK(r.status == 200 && strstr(r.body, "\"web2\""));
        resp_done(&r);

        r = req(NULL, "/v1/workloads", NULL);
        j = body_json(&r);
        CHECK(r.status == 200 && j && json_array_size(json_object_get(j, "items")) == 3);
        if (j && json_array_size(json_object_get(j, "items")) == 3) {
                const char *names[3];
                for (int i = 0; i < 3; i++)
                        names[i] = json_string_value(json_object_get(
                                json_object_get(json_array_get(json_object_get(j, "items"), i), "metadata"), "name"));
                CHECK(streq_ptr(names[0], "sleeper") && streq_ptr(names[1], "web") && streq_ptr(names[2], "web2"));
        }
        json_decref(j);
        resp_done(&r);
}

static void test_lifecycle(void)
{
        Resp r;
        json_t *j;

        /* start of a running workload: 409 */
        r = req("POST", "/v1/workloads/web2/start", NULL);
        CHECK(check_error(&r, 409, "FailedPrecondition", NULL));
        resp_done(&r);
        /* kill parameters */
        r = req("POST", "/v1/workloads/web2/kill?signal=BOGUS", NULL);
        CHECK(check_error(&r, 400, "InvalidArgument", "signal"));
        resp_done(&r);
        r = req("POST", "/v1/workloads/web2/kill?signal=99", NULL);
        CHECK(check_error(&r, 400, "InvalidArgument", "signal"));
        resp_done(&r);
        r = req("POST", "/v1/workloads/web2/stop?timeout=abc", NULL);
        CHECK(check_error(&r, 400, "InvalidArgument", "timeout"));
        resp_done(&r);
        /* rm of a running one without force */
        r = req("DELETE", "/v1/workloads/web2", NULL);
        CHECK(check_error(&r, 409, "FailedPrecondition", NULL));
        resp_done(&r);
        r = req("DELETE", "/v1/workloads/web2?force=maybe", NULL);
        CHECK(check_error(&r, 400, "InvalidArgument", "force"));
        resp_done(&r);

        /* stop: 202, then /wait completes later with the signal */
        r = req("POST", "/v1/workloads/web2/stop?timeout=1.5", NULL);
        CHECK(r.status == 202);
        resp_done(&r);
        r = req(NULL, "/v1/workloads/web2/wait", NULL);
        j = body_json(&r);
        CHECK(r.status == 200 && j && streq_ptr(json_string_value(json_object_get(j, "state")), "exited") &&
              json_integer_value(json_object_get(j, "exitCode")) == 143 &&
              streq_ptr(json_string_value(json_object_get(j, "signal")), "SIGTERM") &&
              streq_ptr(json_string_value(json_object_get(j, "name")), "web2"));
        json_decref(j);
        resp_done(&r);
        CHECK(wait_watches(0, 1000));
        /* stop of an exited workload: no-op 200; kill: 409 */
        r = req("POST", "/v1/workloads/web2/stop", NULL);
        CHECK(r.status == 200);
        resp_done(&r);
        r = req("POST", "/v1/workloads/web2/kill", NULL);
        CHECK(check_error(&r, 409, "FailedPrecondition", NULL));
        resp_done(&r);
        /* start again, kill with a name */
        r = req("POST", "/v1/workloads/web2/start", NULL);
        CHECK(r.status == 200 && strstr(r.body, "\"running\""));
        resp_done(&r);
        r = req("POST", "/v1/workloads/web2/kill?signal=SIGINT", NULL);
        CHECK(r.status == 202);
        resp_done(&r);
        r = req(NULL, "/v1/workloads/web2/wait", NULL);
        CHECK(r.status == 200 && strstr(r.body, "\"SIGINT\""));
        resp_done(&r);
        /* remove of an exited one without force, answered once removed */
        r = req("DELETE", "/v1/workloads/web2", NULL);
        CHECK(r.status == 200 && streq(r.body, "{\"name\":\"web2\"}\n"));
        resp_done(&r);
        r = req(NULL, "/v1/workloads/web2", NULL);
        CHECK(check_error(&r, 404, "NotFound", NULL));
        resp_done(&r);
}

typedef struct Bg {
        pthread_t t;
        const char *method, *path;
        long timeout_ms;
        Resp r;
} Bg;

static void *bg_main(void *p)
{
        Bg *bg = p;
        bg->r = req_full(bg->method, bg->path, NULL, 0, bg->timeout_ms, 0);
        return NULL;
}

static void test_wait_remove_disconnect(void)
{
        Resp r;
        Bg bg = { .path = "/v1/workloads/web/wait", .timeout_ms = 5000 };
        int cancelled;

        /* a waiter answered 404 when the workload is removed (force) meanwhile */
        pthread_create(&bg.t, NULL, bg_main, &bg);
        CHECK(wait_watches(1, 2000));
        r = req("DELETE", "/v1/workloads/web?force=1", NULL);
        CHECK(r.status == 200 && strstr(r.body, "\"web\""));
        resp_done(&r);
        pthread_join(bg.t, NULL);
        CHECK(check_error(&bg.r, 404, "NotFound", NULL));
        resp_done(&bg.r);
        CHECK(wait_watches(0, 1000));

        /* client disconnects during /wait: the watch is cancelled */
        cancelled = test_backend_cancelled_watches();
        r = req_full(NULL, "/v1/workloads/sleeper/wait", NULL, 0, 200, 0);
        CHECK(r.code == CURLE_OPERATION_TIMEDOUT);
        resp_done(&r);
        CHECK(wait_watches(0, 2000));
        CHECK(test_backend_cancelled_watches() == cancelled + 1);

        /* the server still answers */
        r = req(NULL, "/healthz", NULL);
        CHECK(r.status == 200);
        resp_done(&r);
}

static void test_events(void)
{
        Resp r;
        json_t *j;
        char *line, *save = NULL;
        uint64_t ids[64];
        size_t n = 0;
        char path[128];
        int cancelled;

        r = req(NULL, "/v1/events", NULL);
        CHECK(r.status == 200 && strstr(r.ctype, "application/x-ndjson"));
        for (line = strtok_r(r.body, "\n", &save); line && n < 64; line = strtok_r(NULL, "\n", &save)) {
                j = json_loads(line, 0, NULL);
                CHECK(j && json_is_integer(json_object_get(j, "id")) && json_is_string(json_object_get(j, "type")) &&
                      json_is_string(json_object_get(j, "time")) && json_object_get(j, "message"));
                ids[n++] = j ? (uint64_t)json_integer_value(json_object_get(j, "id")) : 0;
                json_decref(j);
        }
        resp_done(&r);
        CHECK(n > 5);
        for (size_t i = 1; i < n; i++)
                CHECK(ids[i] > ids[i - 1]);

        /* resume after an id */
        snprintf(path, sizeof(path), "/v1/events?since=%llu", (unsigned long long)ids[n - 3]);
        r = req(NULL, path, NULL);
        {
                size_t lines = 0;
                for (char *p = r.body; *p; p++)
                        lines += *p == '\n';
                CHECK(r.status == 200 && lines == 2);
                snprintf(path, sizeof(path), "\"id\":%llu,", (unsigned long long)ids[n - 2]);
                CHECK(strstr(r.body, path) == r.body + 1);
                if (strstr(r.body, path) != r.body + 1)
                        fprintf(stderr, "  since=%llu gave %s", (unsigned long long)ids[n - 3], r.body);
        }
        resp_done(&r);

        r = req(NULL, "/v1/events?workload=sleeper", NULL);
        CHECK(r.status == 200 && strstr(r.body, "\"sleeper\"") && !strstr(r.body, "\"web\""));
        resp_done(&r);
        r = req(NULL, "/v1/events?since=-1", NULL);
        CHECK(check_error(&r, 400, "InvalidArgument", "since"));
        resp_done(&r);
        r = req(NULL, "/v1/events?workload=NO!", NULL);
        CHECK(check_error(&r, 400, "InvalidArgument", "workload"));
        resp_done(&r);

        /* follow: a live event arrives, then the client goes away */
        cancelled = test_backend_cancelled_watches();
        {
                Bg bg = { .path = "/v1/events?follow=1&workload=short1", .timeout_ms = 700 };
                pthread_create(&bg.t, NULL, bg_main, &bg);
                CHECK(wait_watches(1, 2000));
                r = req("POST", "/v1/workloads", DOC("short1"));
                CHECK(r.status == 201);
                resp_done(&r);
                pthread_join(bg.t, NULL);
                CHECK(bg.r.code == CURLE_OPERATION_TIMEDOUT && strstr(bg.r.body, "\"created\"") &&
                      strstr(bg.r.body, "\"started\"") && strstr(bg.r.body, "\"exited\""));
                resp_done(&bg.r);
        }
        CHECK(wait_watches(0, 2000));
        CHECK(test_backend_cancelled_watches() == cancelled + 1);
}

static void test_logs(void)
{
        Resp r;
        int cancelled;

        write_log("sleeper", "2026-11-24T06:40:12.000001Z stdout F one\n"
                             "2026-11-24T06:40:12.000002Z stderr F two\n"
                             "2026-11-24T06:40:12.000003Z stdout P thr\n"
                             "2026-11-24T06:40:12.000004Z stdout F ee\n"
                             "2026-11-24T06:40:12.000005Z stdout F four\n");
        r = req(NULL, "/v1/workloads/sleeper/logs", NULL);
        CHECK(r.status == 200 && streq(r.body, "one\ntwo\nthree\nfour\n") && strstr(r.ctype, "text/plain"));
        resp_done(&r);
        r = req(NULL, "/v1/workloads/sleeper/logs?tail=2", NULL);
        /* tail counts lines, not records: a P record joins the F record after it. */
        CHECK(r.status == 200 && streq(r.body, "three\nfour\n"));
        resp_done(&r);
        r = req(NULL, "/v1/workloads/sleeper/logs?tail=1&timestamps=1", NULL);
        CHECK(r.status == 200 && streq(r.body, "2026-11-24T06:40:12.000005Z four\n"));
        resp_done(&r);
        r = req(NULL, "/v1/workloads/sleeper/logs?timestamps=1", NULL);
        CHECK(r.status == 200 && strstr(r.body, "2026-11-24T06:40:12.000003Z three\n2026-11-24T06:40:12.000005Z four\n"));
        resp_done(&r);
        r = req(NULL, "/v1/workloads/sleeper/logs?format=raw", NULL);
        CHECK(r.status == 200 && strstr(r.body, "2026-11-24T06:40:12.000002Z stderr F two\n") &&
              strstr(r.body, "2026-11-24T06:40:12.000003Z stdout P thr\n"));
        resp_done(&r);
        r = req(NULL, "/v1/workloads/sleeper/logs?format=xml", NULL);
        CHECK(check_error(&r, 400, "InvalidArgument", "format"));
        resp_done(&r);
        r = req(NULL, "/v1/workloads/sleeper/logs?tail=x", NULL);
        CHECK(check_error(&r, 400, "InvalidArgument", "tail"));
        resp_done(&r);
        r = req(NULL, "/v1/workloads/nosuch/logs", NULL);
        CHECK(check_error(&r, 404, "NotFound", NULL));
        resp_done(&r);

        /* follow until the workload exits: "bye" is written just before the exit */
        r = req("POST", "/v1/workloads", DOC("short2"));
        CHECK(r.status == 201);
        resp_done(&r);
        write_log("short2", "2026-11-24T06:40:12.000001Z stdout F hello\n");
        r = req_full(NULL, "/v1/workloads/short2/logs?follow=1", NULL, 0, 3000, 0);
        CHECK(r.code == CURLE_OK && r.status == 200 && streq(r.body, "hello\nbye\n"));
        resp_done(&r);
        CHECK(wait_watches(0, 1000));

        /* follow of a running workload, client disconnects: watch cancelled */
        cancelled = test_backend_cancelled_watches();
        r = req_full(NULL, "/v1/workloads/sleeper/logs?follow=1&tail=1", NULL, 0, 300, 0);
        CHECK(r.code == CURLE_OPERATION_TIMEDOUT && streq(r.body, "four\n"));
        resp_done(&r);
        CHECK(wait_watches(0, 2000));
        CHECK(test_backend_cancelled_watches() == cancelled + 1);
}

static void test_unready(TestBackend *b)
{
        Resp r;

        r = req(NULL, "/readyz", NULL);
        CHECK(check_error(&r, 503, "Unavailable", NULL));
        resp_done(&r);
}

/* Leaves a raw client waiting on /wait so that api_http_free() must end it. */
static void hold_waiter(void)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        const char *q = "GET /v1/workloads/sleeper/wait HTTP/1.1\r\nHost: x\r\n\r\n";

        held_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        strcpy(sa.sun_path, sock_path);
        CHECK(connect(held_fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
        CHECK(write_all(held_fd, q, strlen(q)) == 0);
        CHECK(wait_watches(1, 2000));
}

static TestBackend *backend;
static int phase;
static bool phase_done;

static void *client_main(void *p)
{
        uint64_t one = 1;

        if (phase == 0) {
                test_simple_routes();
                test_create_get_list();
                test_lifecycle();
                test_wait_remove_disconnect();
                test_events();
                test_logs();
        } else if (phase == 1)
                test_unready(backend);
        else
                hold_waiter();
        (void)!write(done_fd, &one, sizeof(one));
        return NULL;
}

static int on_done(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        uint64_t v;
        (void)!read(fd, &v, sizeof(v));
        phase_done = true;
        return 0;
}

static int on_watchdog(sd_event_source *s, uint64_t usec, void *userdata)
{
        fprintf(stderr, "FAIL: watchdog expired\n");
        _exit(1);
}

static void run_phase(sd_event *e, int ph)
{
        pthread_t t;

        phase = ph;
        phase_done = false;
        pthread_create(&t, NULL, client_main, NULL);
        while (!phase_done)
                if (sd_event_run(e, UINT64_MAX) < 0)
                        break;
        pthread_join(t, NULL);
}

int main(void)
{
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        sd_event_source *done_src = NULL, *wd = NULL;
        ApiHttpConfig cfg = { .socket_gid = (gid_t)-1, .listen_fd = -1 };
        ApiBackend be = { .ops = &test_backend_ops };
        ApiHttp *h = NULL;
        struct stat st;
        char logs[300], cmd[400];
        int r;

        log_set_max_level(getenv("BERTH_TEST_DEBUG") ? LOG_DEBUG : LOG_WARNING);
        if (!mkdtemp(tmpdir))
                return 1;
        snprintf(sock_path, sizeof(sock_path), "%s/run/berth/berthd.sock", tmpdir);
        snprintf(logs, sizeof(logs), "%s/logs", tmpdir);
        mkdir(logs, 0755);
        curl_global_init(CURL_GLOBAL_DEFAULT);

        r = sd_event_new(&e);
        if (r < 0)
                return 1;
        test_backend_new(e, logs, &backend);
        be.userdata = backend;
        if (test_backend_add(backend, DOC("web")) < 0 || test_backend_add(backend, DOC("sleeper")) < 0) {
                fprintf(stderr, "FAIL: the spec parser rejects the test documents\n");
                return 1;
        }
        cfg.socket_path = sock_path;
        r = api_http_new(e, &cfg, &be, &h);
        if (r < 0) {
                fprintf(stderr, "FAIL: api_http_new: %s\n", strerror(-r));
                return 1;
        }
        CHECK(stat(sock_path, &st) == 0 && S_ISSOCK(st.st_mode) && (st.st_mode & 0777) == 0660);
        snprintf(logs, sizeof(logs), "%s/run/berth", tmpdir);
        CHECK(stat(logs, &st) == 0 && (st.st_mode & 0777) == 0750);

        done_fd = eventfd(0, EFD_CLOEXEC);
        sd_event_add_io(e, &done_src, done_fd, EPOLLIN, on_done, NULL);
        sd_event_add_time_relative(e, &wd, CLOCK_MONOTONIC, 60 * USEC_PER_SEC, 0, on_watchdog, NULL);

        run_phase(e, 0);
        test_backend_set_ready(backend, false);
        run_phase(e, 1);
        run_phase(e, 2);

        /* shutting down with a suspended waiter must not panic or leak */
        h = api_http_free(h);
        CHECK(test_backend_live_watches() == 0);
        CHECK(access(sock_path, F_OK) < 0);
        if (held_fd >= 0) {
                char buf[64];
                /* the server closed its end */
                CHECK(read(held_fd, buf, sizeof(buf)) >= 0);
                close(held_fd);
        }

        sd_event_source_disable_unref(done_src);
        sd_event_source_disable_unref(wd);
        close(done_fd);
        test_backend_free(backend);
        curl_global_cleanup();
        snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
        (void)!system(cmd);

        printf("%d passed, %d failed\n", n_passed, n_failed);
        return n_failed ? 1 : 0;
}
