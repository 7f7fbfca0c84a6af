/* SPDX-License-Identifier: Apache-2.0 */
/* The image routes of the HTTP adapter (docs/IMAGES.md):
 *
 *   GET    /v1/images                       list
 *   GET    /v1/images/REF                   inspect (REF URL-escaped)
 *   DELETE /v1/images/REF                   remove (then GC)
 *   POST   /v1/images/import?path=P[&name=N]    stream
 *   POST   /v1/images/pull?ref=R[&insecure=true] stream
 *   POST   /v1/workloads/NAME/commit?image=N    stream
 *   GET    /v1/system/df                    store usage
 *
 * The three slow operations answer 200 at once with a chunked
 * application/x-ndjson body: one JSON object per line for each progress
 * step, ending with {"status":"done",...} or {"status":"error","code",
 * "message"}. The work itself runs in a worker process of the backend. */
#include "api/http-internal.h"
#include "lib/log.h"

static enum MHD_Result result(int r)
{
        return r < 0 ? MHD_NO : MHD_YES;
}

bool http_images_match(const char *url)
{
        size_t n = strlen(url);

        if (strncmp(url, "/v1/images", 10) == 0 && (url[10] == 0 || url[10] == '/'))
                return true;
        if (streq(url, "/v1/system/df"))
                return true;
        return strncmp(url, "/v1/workloads/", 14) == 0 && n > 21 && streq(url + n - 7, "/commit");
}

static const char *arg(HttpRequest *req, const char *key)
{
        return MHD_lookup_connection_value(req->connection, MHD_GET_ARGUMENT_KIND, key);
}

typedef struct ArgCheck {
        const char *const *allowed;
        const char *unknown;
} ArgCheck;

static enum MHD_Result arg_check(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
        ArgCheck *a = cls;
        for (const char *const *p = a->allowed; *p; p++)
                if (streq(*p, key))
                        return MHD_YES;
        a->unknown = key;
        return MHD_NO;
}

static int check_args(HttpRequest *req, const char *const *allowed)
{
        ArgCheck a = {.allowed = allowed};
        MHD_get_connection_values(req->connection, MHD_GET_ARGUMENT_KIND, arg_check, &a);
        if (a.unknown)
                return http_queue_error_errno(req, -EINVAL, a.unknown, "unknown query parameter \"%s\"",
                                              a.unknown) < 0
                           ? -ENOMEM
                           : 1;
        return 0;
}

static enum MHD_Result reply_doc(HttpRequest *req, int r, json_t *doc, BerthError *err)
{
        if (r < 0) {
                json_decref(doc);
                api_error_fill(err, r);
                return result(http_queue_error(req, err));
        }
        return result(http_queue_json(req, MHD_HTTP_OK, doc));
}

/* ---- streamed jobs ---- */

static int out_line(HttpRequest *req, const json_t *obj, bool final)
{
        _cleanup_free_ char *s = json_dumps(obj, JSON_COMPACT);
        size_t n;

        if (!s)
                return -ENOMEM;
        n = strlen(s);
        if (req->out_len - req->out_pos > HTTP_STREAM_HIGH_WATER && !final)
                return 0; /* slow reader: progress lines may be dropped, never the end */
        if (req->out_len + n + 2 > req->out_cap) {
                size_t cap = (req->out_len + n + 2) * 2;
                char *p = realloc(req->out, cap);
                if (!p)
                        return -ENOMEM;
                req->out = p;
                req->out_cap = cap;
        }
        memcpy(req->out + req->out_len, s, n);
        req->out[req->out_len + n] = '\n';
        req->out_len += n + 1;
        return 0;
}

static void on_job(void *userdata, const json_t *obj, bool final)
{
        HttpRequest *req = userdata;

        if (out_line(req, obj, final) < 0)
                req->stream_error = true;
        if (final) {
                req->image_watch = NULL; /* final callback: the backend forgets it */
                req->stream_done = true;
        }
        if (req->suspended)
                http_request_resume(req);
}

static ssize_t job_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
        HttpRequest *req = cls;
        size_t n;

        if (req->disconnected || req->stream_error)
                return MHD_CONTENT_READER_END_WITH_ERROR;
        if (req->out_pos < req->out_len) {
                n = req->out_len - req->out_pos;
                if (n > max)
                        n = max;
                memcpy(buf, req->out + req->out_pos, n);
                req->out_pos += n;
                if (req->out_pos == req->out_len)
                        req->out_pos = req->out_len = 0;
                return (ssize_t)n;
        }
        if (req->stream_done || req->http->closing)
                return MHD_CONTENT_READER_END_OF_STREAM;
        http_request_suspend(req);
        return 0;
}

static enum MHD_Result start_job(HttpRequest *req, const ApiImageJob *job)
{
        struct MHD_Response *resp;
        BerthError err = {};
        enum MHD_Result q;
        int r;

        r = api_core_image_job(&req->http->core, job, on_job, req, &req->image_watch, &err);
        if (r < 0)
                return result(http_queue_error(req, &err));
        resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, HTTP_STREAM_BLOCK, job_reader, req, NULL);
        if (!resp)
                return MHD_NO;
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/x-ndjson");
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
        q = MHD_queue_response(req->connection, MHD_HTTP_OK, resp);
        MHD_destroy_response(resp);
        req->responded = q == MHD_YES;
        return q;
}

void http_images_release(HttpRequest *req)
{
        api_core_image_job_cancel(&req->http->core, TAKE_PTR(req->image_watch));
}

static int parse_bool_arg(HttpRequest *req, const char *key, bool *ret)
{
        BerthError err = {};
        const char *v = arg(req, key);

        *ret = false;
        if (!v)
                return 0;
        if (api_parse_bool(v, key, ret, &err) < 0)
                return http_queue_error(req, &err) < 0 ? -ENOMEM : 1;
        return 0;
}

enum MHD_Result http_images_route(HttpRequest *req, const char *method, const char *url)
{
        static const char *const none[] = {NULL};
        static const char *const import_args[] = {"path", "name", NULL};
        static const char *const pull_args[] = {"ref", "insecure", NULL};
        static const char *const commit_args[] = {"image", NULL};
        ApiCore *c = &req->http->core;
        BerthError err = {};
        json_t *doc = NULL;
        int r;

        if (req->body_len > 0)
                return result(http_queue_error_errno(req, -EINVAL, NULL, "this request takes no body"));

        if (streq(url, "/v1/system/df")) {
                if (!streq(method, "GET") && !streq(method, "HEAD"))
                        return result(http_queue_error_errno(
                            req, -EOPNOTSUPP, NULL, "method %s is not allowed here (allowed: GET)", method));
                if ((r = check_args(req, none)) != 0)
                        return result(r);
                r = api_core_system_df(c, &doc, &err);
                return reply_doc(req, r, doc, &err);
        }

        if (strncmp(url, "/v1/workloads/", 14) == 0) {
                char name[SPEC_NAME_MAX + 2];
                size_t n = strlen(url) - 14 - 7;
                if (n >= sizeof(name))
                        return result(
                            http_queue_error_errno(req, -EINVAL, "name", "workload name too long"));
                memcpy(name, url + 14, n);
                name[n] = 0;
                if (!streq(method, "POST"))
                        return result(http_queue_error_errno(req, -EOPNOTSUPP, NULL,
                                                             "method %s is not allowed here (allowed: POST)",
                                                             method));
                if ((r = check_args(req, commit_args)) != 0)
                        return result(r);
                ApiImageJob job = {.kind = API_IMAGE_COMMIT, .workload = name, .name = arg(req, "image")};
                return start_job(req, &job);
        }

        const char *rest = url + 10; /* after /v1/images */
        if (*rest == 0 || streq(rest, "/")) {
                if (!streq(method, "GET") && !streq(method, "HEAD"))
                        return result(http_queue_error_errno(
                            req, -EOPNOTSUPP, NULL, "method %s is not allowed here (allowed: GET)", method));
                if ((r = check_args(req, none)) != 0)
                        return result(r);
                r = api_core_image_list(c, &doc, &err);
                return reply_doc(req, r, doc, &err);
        }
        rest++;
        if (streq(method, "POST") && streq(rest, "import")) {
                if ((r = check_args(req, import_args)) != 0)
                        return result(r);
                ApiImageJob job = {.kind = API_IMAGE_IMPORT, .path = arg(req, "path"), .name = arg(req, "name")};
                return start_job(req, &job);
        }
        if (streq(method, "POST") && streq(rest, "pull")) {
                bool insecure;
                if ((r = check_args(req, pull_args)) != 0)
                        return result(r);
                if ((r = parse_bool_arg(req, "insecure", &insecure)) != 0)
                        return result(r);
                ApiImageJob job = {.kind = API_IMAGE_PULL, .ref = arg(req, "ref"), .insecure = insecure};
                return start_job(req, &job);
        }
        if ((r = check_args(req, none)) != 0)
                return result(r);
        if (streq(method, "GET") || streq(method, "HEAD")) {
                r = api_core_image_inspect(c, rest, &doc, &err);
                return reply_doc(req, r, doc, &err);
        }
        if (streq(method, "DELETE")) {
                r = api_core_image_remove(c, rest, &doc, &err);
                return reply_doc(req, r, doc, &err);
        }
        return result(
            http_queue_error_errno(req, -EOPNOTSUPP, NULL, "method %s is not allowed on %s", method, url));
}
