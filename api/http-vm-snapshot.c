/* SPDX-License-Identifier: Apache-2.0 */
/* The VM snapshot routes of the HTTP adapter (docs/API.md "VM snapshots"):
 *
 *   POST   /v1/workloads/NAME/snapshot     201 snapshot, once complete and durable
 *   GET    /v1/vm-snapshots                200 {"items": [...]}
 *   GET    /v1/vm-snapshots/ID             200 snapshot
 *   DELETE /v1/vm-snapshots/ID             200 {"id": ...}
 *   POST   /v1/vm-snapshots/ID/restore     201 workload (body {"name": ...})
 *
 * A snapshot takes a moment (the guest is stopped while its memory is
 * written): the request is suspended until the backend's callback. The
 * pending operation rides on req->remove_op, whose req pointer the server
 * clears when the client goes away (http-server.c), so a late callback
 * never touches a freed request. */
#include "api/api-vm-snapshot.h"
#include "api/http-vm-snapshot.h"
#include "lib/log.h"

#define PREFIX "/v1/vm-snapshots"
#define WL_PREFIX "/v1/workloads/"
#define WL_SUFFIX "/snapshot"

static enum MHD_Result result(int r)
{
        return r < 0 ? MHD_NO : MHD_YES;
}

bool http_vm_snapshot_match(const char *url)
{
        size_t n = strlen(url), p = strlen(PREFIX);

        if (strncmp(url, PREFIX, p) == 0 && (url[p] == 0 || url[p] == '/'))
                return true;
        return strncmp(url, WL_PREFIX, strlen(WL_PREFIX)) == 0 &&
               n > strlen(WL_PREFIX) + strlen(WL_SUFFIX) && streq(url + n - strlen(WL_SUFFIX), WL_SUFFIX) &&
               !memchr(url + strlen(WL_PREFIX), '/', n - strlen(WL_PREFIX) - strlen(WL_SUFFIX));
}

static enum MHD_Result arg_seen(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
        *(const char **)cls = key;
        return MHD_NO;
}

static enum MHD_Result not_allowed(HttpRequest *req, const char *method, const char *allow)
{
        _cleanup_free_ char *s = NULL;
        struct MHD_Response *resp;
        char msg[128];
        json_t *doc;
        enum MHD_Result q;

        snprintf(msg, sizeof(msg), "method %s is not allowed here (allowed: %s)", method, allow);
        doc = json_pack("{s:s, s:s, s:n}", "code", "MethodNotAllowed", "message", msg, "field");
        s = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        json_decref(doc);
        if (!s)
                return MHD_NO;
        resp = MHD_create_response_from_buffer(strlen(s), s, MHD_RESPMEM_MUST_COPY);
        if (!resp)
                return MHD_NO;
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
        q = MHD_queue_response(req->connection, MHD_HTTP_METHOD_NOT_ALLOWED, resp);
        MHD_destroy_response(resp);
        req->responded = q == MHD_YES;
        return q;
}

static enum MHD_Result reply_doc(HttpRequest *req, int r, unsigned status, json_t *doc, BerthError *err)
{
        if (r < 0) {
                json_decref(doc);
                api_error_fill(err, r);
                return result(http_queue_error(req, err));
        }
        return result(http_queue_json(req, status, doc));
}

static void on_snapshot_done(void *userdata, json_t *doc, const BerthError *err)
{
        HttpRemoveOp *op = userdata;
        HttpRequest *req = op->req;

        if (req && !req->disconnected) {
                req->remove_op = NULL;
                if (doc)
                        (void)http_queue_json(req, MHD_HTTP_CREATED, json_incref(doc));
                else
                        (void)http_queue_error(req, err);
                http_request_resume(req);
        } else if (req)
                req->remove_op = NULL;
        free(op->name);
        free(op);
}

static enum MHD_Result handle_create(HttpRequest *req, const char *name)
{
        BerthError err = {};
        HttpRemoveOp *op;
        int r;

        op = calloc(1, sizeof(*op));
        if (!op || !(op->name = strdup(name))) {
                free(op);
                return result(http_queue_error_errno(req, -ENOMEM, NULL, "out of memory"));
        }
        op->req = req;
        req->remove_op = op;
        r = api_core_vm_snapshot_create(&req->http->core, name, req->body, req->body_len, on_snapshot_done,
                                        op, &err);
        if (r < 0) {
                req->remove_op = NULL;
                free(op->name);
                free(op);
                api_error_fill(&err, r);
                return result(http_queue_error(req, &err));
        }
        wlog_info(name, "snapshot requested through the API");
        http_request_suspend(req); /* answered from on_snapshot_done() */
        return MHD_YES;
}

enum MHD_Result http_vm_snapshot_route(HttpRequest *req, const char *method, const char *url)
{
        ApiCore *c = &req->http->core;
        const char *unknown = NULL, *rest;
        char part[SPEC_NAME_MAX + 2];
        BerthError err = {};
        const Workload *w = NULL;
        json_t *doc = NULL;
        bool get = streq(method, "GET") || streq(method, "HEAD");
        size_t n;
        int r;

        MHD_get_connection_values(req->connection, MHD_GET_ARGUMENT_KIND, arg_seen, &unknown);
        if (unknown)
                return result(http_queue_error_errno(req, -EINVAL, unknown, "unknown query parameter \"%s\"",
                                                     unknown));

        if (strncmp(url, WL_PREFIX, strlen(WL_PREFIX)) == 0) {
                n = strlen(url) - strlen(WL_PREFIX) - strlen(WL_SUFFIX);
                if (n >= sizeof(part))
                        n = sizeof(part) - 1; /* the truncated name fails validation */
                memcpy(part, url + strlen(WL_PREFIX), n);
                part[n] = 0;
                if (!streq(method, "POST"))
                        return not_allowed(req, method, "POST");
                return handle_create(req, part);
        }

        rest = url + strlen(PREFIX);
        if (rest[0] == 0 || streq(rest, "/")) {
                if (!get)
                        return not_allowed(req, method, "GET");
                if (req->body_len > 0)
                        return result(
                            http_queue_error_errno(req, -EINVAL, NULL, "this request takes no body"));
                r = api_core_vm_snapshot_list(c, &doc, &err);
                return reply_doc(req, r, MHD_HTTP_OK, doc, &err);
        }
        rest++;
        const char *slash = strchr(rest, '/');
        n = slash ? (size_t)(slash - rest) : strlen(rest);
        if (n >= sizeof(part))
                n = sizeof(part) - 1;
        memcpy(part, rest, n);
        part[n] = 0;
        if (slash) {
                if (!streq(slash, "/restore"))
                        return result(
                            http_queue_error_errno(req, -ENOENT, NULL, "no route for %s %s", method, url));
                if (!streq(method, "POST"))
                        return not_allowed(req, method, "POST");
                r = api_core_vm_snapshot_restore(c, part, req->body, req->body_len, &w, &err);
                if (r < 0) {
                        api_error_fill(&err, r);
                        return result(http_queue_error(req, &err));
                }
                wlog_info(w->spec->name, "restored from snapshot %s through the API", part);
                return result(http_queue_json(req, MHD_HTTP_CREATED, api_workload_to_json(w)));
        }
        if (req->body_len > 0)
                return result(http_queue_error_errno(req, -EINVAL, NULL, "this request takes no body"));
        if (get) {
                r = api_core_vm_snapshot_get(c, part, &doc, &err);
                return reply_doc(req, r, MHD_HTTP_OK, doc, &err);
        }
        if (!streq(method, "DELETE"))
                return not_allowed(req, method, "GET, DELETE");
        r = api_core_vm_snapshot_remove(c, part, &err);
        if (r >= 0)
                doc = json_pack("{s:s}", "id", part);
        return reply_doc(req, r, MHD_HTTP_OK, doc, &err);
}
