/* SPDX-License-Identifier: Apache-2.0 */
/* Routes of docs/API.md: decode the URL and query, call the API core, encode. */
#include "api/http-internal.h"
#include "api/http-vm-snapshot.h"
#include "lib/log.h"

typedef enum Route {
        ROUTE_HEALTHZ,
        ROUTE_READYZ,
        ROUTE_METRICS,
        ROUTE_NODE,
        ROUTE_EVENTS,
        ROUTE_WORKLOADS,
        ROUTE_WORKLOAD,
        ROUTE_START,
        ROUTE_STOP,
        ROUTE_KILL,
        ROUTE_WAIT,
        ROUTE_LOGS,
        ROUTE_PAUSE,
        ROUTE_RESUME,
        ROUTE_EXEC,
        _ROUTE_MAX,
        _ROUTE_INVALID = -EINVAL,
} Route;

typedef struct RouteInfo {
        const char *allow;         /* methods, for 405 */
        const char *const *params; /* per method: GET params / POST/DELETE params */
} RouteInfo;

static const char *const no_params[] = { NULL };
static const char *const stop_params[] = { "timeout", NULL };
static const char *const kill_params[] = { "signal", NULL };
static const char *const delete_params[] = { "force", NULL };
static const char *const logs_params[] = { "tail", "follow", "timestamps", "format", NULL };
static const char *const events_params[] = { "since", "workload", "follow", NULL };
static const char *const workloads_params[] = { "dryRun", "start", NULL }; /* POST only; GET ignores them */

static const RouteInfo routes[_ROUTE_MAX] = {
        [ROUTE_HEALTHZ] = { "GET", no_params },      [ROUTE_READYZ] = { "GET", no_params },
        [ROUTE_METRICS] = { "GET", no_params },      [ROUTE_NODE] = { "GET", no_params },
        [ROUTE_EVENTS] = { "GET", events_params },   [ROUTE_WORKLOADS] = { "GET, POST", workloads_params },
        [ROUTE_WORKLOAD] = { "GET, DELETE, PATCH", NULL },  [ROUTE_START] = { "POST", no_params },
        [ROUTE_STOP] = { "POST", stop_params },      [ROUTE_KILL] = { "POST", kill_params },
        [ROUTE_WAIT] = { "GET", no_params },         [ROUTE_LOGS] = { "GET", logs_params },
        [ROUTE_PAUSE] = { "POST", no_params },       [ROUTE_RESUME] = { "POST", no_params },
        [ROUTE_EXEC] = { "POST", no_params },
};

/* Splits url into a route and the workload name (borrowed into buf). */
static Route route_parse(const char *url, char *name, size_t name_size)
{
        static const struct {
                const char *path;
                Route route;
        } fixed[] = {
                { "/healthz", ROUTE_HEALTHZ }, { "/readyz", ROUTE_READYZ },       { "/metrics", ROUTE_METRICS },
                { "/v1/node", ROUTE_NODE },    { "/v1/events", ROUTE_EVENTS },    { "/v1/workloads", ROUTE_WORKLOADS },
        };
        static const struct {
                const char *suffix;
                Route route;
        } verbs[] = {
                { "start", ROUTE_START }, { "stop", ROUTE_STOP }, { "kill", ROUTE_KILL },
                { "wait", ROUTE_WAIT },   { "logs", ROUTE_LOGS },
                { "pause", ROUTE_PAUSE }, { "resume", ROUTE_RESUME }, { "exec", ROUTE_EXEC },
        };
        const char *p, *slash;
        size_t n;

        for (size_t i = 0; i < ELEMENTSOF(fixed); i++)
                if (streq(url, fixed[i].path))
                        return fixed[i].route;
        if (strncmp(url, "/v1/workloads/", STRLEN("/v1/workloads/")) != 0)
                return _ROUTE_INVALID;
        p = url + STRLEN("/v1/workloads/");
        slash = strchr(p, '/');
        n = slash ? (size_t)(slash - p) : strlen(p);
        if (n == 0)
                return _ROUTE_INVALID;
        if (n >= name_size) /* too long: the truncated name still fails validation */
                n = name_size - 1;
        memcpy(name, p, n);
        name[n] = 0;
        if (!slash)
                return ROUTE_WORKLOAD;
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (streq(slash + 1, verbs[i].suffix))
                        return verbs[i].route;
        return _ROUTE_INVALID;
}

static bool method_allowed(Route r, const char *method)
{
        switch (r) {
        case ROUTE_WORKLOADS:
                return streq(method, "GET") || streq(method, "POST");
        case ROUTE_WORKLOAD:
                return streq(method, "GET") || streq(method, "DELETE") || streq(method, "PATCH");
        case ROUTE_START:
        case ROUTE_STOP:
        case ROUTE_KILL:
        case ROUTE_PAUSE:
        case ROUTE_RESUME:
        case ROUTE_EXEC:
                return streq(method, "POST");
        default:
                /* HEAD of a GET route is answered by MHD without a body */
                return streq(method, "GET") || streq(method, "HEAD");
        }
}

typedef struct ParamCheck {
        const char *const *allowed;
        const char *unknown;
} ParamCheck;

static enum MHD_Result param_check(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
        ParamCheck *pc = cls;

        for (const char *const *a = pc->allowed; *a; a++)
                if (streq(*a, key))
                        return MHD_YES;
        pc->unknown = key;
        return MHD_NO;
}

static const char *arg(HttpRequest *req, const char *key)
{
        return MHD_lookup_connection_value(req->connection, MHD_GET_ARGUMENT_KIND, key);
}

static enum MHD_Result result(int r)
{
        return r < 0 ? MHD_NO : MHD_YES;
}

static enum MHD_Result reply_method_not_allowed(HttpRequest *req, Route r, const char *method)
{
        struct MHD_Response *resp;
        _cleanup_free_ char *s = NULL;
        json_t *doc;
        char msg[128];
        enum MHD_Result q;

        snprintf(msg, sizeof(msg), "method %s is not allowed here (allowed: %s)", method, routes[r].allow);
        doc = json_pack("{s:s, s:s, s:n}", "code", "MethodNotAllowed", "message", msg, "field");
        s = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        json_decref(doc);
        if (!s)
                return MHD_NO;
        resp = MHD_create_response_from_buffer(strlen(s), s, MHD_RESPMEM_MUST_COPY);
        if (!resp)
                return MHD_NO;
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, routes[r].allow);
        q = MHD_queue_response(req->connection, MHD_HTTP_METHOD_NOT_ALLOWED, resp);
        MHD_destroy_response(resp);
        req->responded = q == MHD_YES;
        return q;
}

/* ---- async completions ---- */

static void on_wait_done(void *userdata, const Workload *w, int error)
{
        HttpRequest *req = userdata;

        req->watch = NULL; /* final callback: the watch is gone */
        if (req->disconnected)
                return;
        if (error < 0 || !w) {
                if (error == -ENOENT || (!w && error >= 0))
                        (void)http_queue_error_errno(req, -ENOENT, NULL, "workload was removed while waiting");
                else
                        (void)http_queue_error_errno(req, error, NULL, "wait failed: %s", strerror(-error));
        } else
                (void)http_queue_json(req, MHD_HTTP_OK, api_wait_result_to_json(w));
        http_request_resume(req);
}

static void on_remove_done(void *userdata, int error)
{
        HttpRemoveOp *op = userdata;
        HttpRequest *req = op->req;

        if (req && !req->disconnected) {
                req->remove_op = NULL;
                if (error < 0)
                        (void)http_queue_error_errno(req, error, NULL, "cannot remove \"%s\": %s", op->name,
                                                     strerror(-error));
                else
                        (void)http_queue_json(req, MHD_HTTP_OK, json_pack("{s:s}", "name", op->name));
                http_request_resume(req);
        } else if (req)
                req->remove_op = NULL;
        free(op->name);
        free(op);
}

/* ---- handlers ---- */

static enum MHD_Result handle_workload_result(HttpRequest *req, int r, unsigned status, const Workload *w,
                                              const BerthError *err)
{
        if (r < 0)
                return result(http_queue_error(req, err));
        return result(http_queue_json(req, status, api_workload_to_json(w)));
}

static enum MHD_Result handle_list(HttpRequest *req)
{
        BerthError err = {};
        const Workload **l = NULL;
        size_t n = 0;
        int r;

        r = api_core_list(&req->http->core, &l, &n, &err);
        if (r < 0)
                return result(http_queue_error(req, &err));
        r = http_queue_json(req, MHD_HTTP_OK, api_workload_list_to_json(l, n));
        free(l);
        return result(r);
}

static enum MHD_Result handle_delete(HttpRequest *req, const char *name)
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
        r = api_core_remove(&req->http->core, name, arg(req, "force"), on_remove_done, op, &err);
        if (r < 0) {
                req->remove_op = NULL;
                free(op->name);
                free(op);
                return result(http_queue_error(req, &err));
        }
        if (req->remove_op) /* still pending: respond from on_remove_done() */
                http_request_suspend(req);
        return MHD_YES;
}

static enum MHD_Result handle_wait(HttpRequest *req, const char *name)
{
        BerthError err = {};
        ApiWatch *watch = NULL;
        int r;

        r = api_core_wait(&req->http->core, name, on_wait_done, req, &watch, &err);
        if (r < 0)
                return result(http_queue_error(req, &err));
        req->watch = watch;
        http_request_suspend(req);
        return MHD_YES;
}

static enum MHD_Result handle_node(HttpRequest *req, Route route)
{
        BerthError err = {};
        ApiNode node;
        int r;

        r = api_core_node(&req->http->core, &node, &err);
        if (r < 0)
                return result(http_queue_error(req, &err));
        if (route == ROUTE_READYZ) {
                if (!node.ready)
                        return result(
                                http_queue_error_errno(req, -ESHUTDOWN, NULL, "berthd is not ready yet"));
                if (node.cluster) {
                        /* Local serving does not depend on etcd: still 200, with the session state. */
                        char text[64];
                        int l = snprintf(text, sizeof(text), "ok\ncluster: %s\n", node.cluster);
                        return result(
                                http_queue_text(req, MHD_HTTP_OK, "text/plain; charset=utf-8", text, (size_t)l));
                }
                return result(http_queue_text(req, MHD_HTTP_OK, "text/plain; charset=utf-8", "ok\n", 3));
        }
        return result(http_queue_json(req, MHD_HTTP_OK, api_node_to_json(&node)));
}

static enum MHD_Result handle_metrics(HttpRequest *req)
{
        BerthError err = {};
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        int r;

        r = api_core_metrics(&req->http->core, &text, &len, &err);
        if (r < 0)
                return result(http_queue_error(req, &err));
        return result(http_queue_text(req, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", text, len));
}

static enum MHD_Result route_dispatch(HttpRequest *req, const char *method, const char *url)
{
        ApiCore *c = &req->http->core;
        char name[SPEC_NAME_MAX + 2];
        ParamCheck pc = {};
        const Workload *w = NULL;
        BerthError err = {};
        Route route;
        int r;

        if (http_images_match(url))
                return http_images_route(req, method, url);
        if (http_vm_snapshot_match(url)) /* VM snapshots (api/http-vm-snapshot.c) */
                return http_vm_snapshot_route(req, method, url);

        route = route_parse(url, name, sizeof(name));
        if (route < 0)
                return result(http_queue_error_errno(req, -ENOENT, NULL, "no route for %s %s", method, url));
        if (!method_allowed(route, method))
                return reply_method_not_allowed(req, route, method);

        pc.allowed = routes[route].params;
        if (route == ROUTE_WORKLOAD)
                pc.allowed = streq(method, "DELETE") ? delete_params : no_params;
        MHD_get_connection_values(req->connection, MHD_GET_ARGUMENT_KIND, param_check, &pc);
        if (pc.unknown)
                return result(http_queue_error_errno(req, -EINVAL, pc.unknown, "unknown query parameter \"%s\"",
                                                     pc.unknown));

        if (route >= ROUTE_WORKLOAD && api_validate_name(name, "name", &err) < 0)
                return result(http_queue_error(req, &err));
        if (req->body_len > 0 && !(route == ROUTE_WORKLOADS && streq(method, "POST")) &&
            !(route == ROUTE_WORKLOAD && streq(method, "PATCH")) && route != ROUTE_EXEC)
                return result(http_queue_error_errno(req, -EINVAL, NULL, "this request takes no body"));

        switch (route) {
        case ROUTE_HEALTHZ:
                return result(http_queue_text(req, MHD_HTTP_OK, "text/plain; charset=utf-8", "ok\n", 3));
        case ROUTE_READYZ:
        case ROUTE_NODE:
                return handle_node(req, route);
        case ROUTE_METRICS:
                return handle_metrics(req);
        case ROUTE_EVENTS:
                return http_stream_events(req);
        case ROUTE_WORKLOADS:
                if (streq(method, "GET"))
                        return handle_list(req);
                if (arg(req, "dryRun")) { /* admission only (docs/SCHEDULER.md) */
                        ApiAdmission adm;
                        r = api_core_create_dry_run(c, arg(req, "dryRun"), req->body, req->body_len, &adm, &err);
                        if (r < 0)
                                return result(http_queue_error(req, &err));
                        if (r > 0)
                                return result(http_queue_json(req, MHD_HTTP_OK, api_admission_to_json(&adm)));
                }
                r = api_core_create2(c, req->http->tls ? &req->caller : NULL, arg(req, "start"), req->body,
                                     req->body_len, &w, &err);
                if (r >= 0)
                        wlog_info(w->spec->name, "created through the API");
                return handle_workload_result(req, r, MHD_HTTP_CREATED, w, &err);
        case ROUTE_WORKLOAD:
                if (streq(method, "DELETE"))
                        return handle_delete(req, name);
                if (streq(method, "PATCH")) {
                        r = api_core_update(c, name, req->body, req->body_len, &w, &err);
                        return handle_workload_result(req, r, MHD_HTTP_OK, w, &err);
                }
                r = api_core_get(c, name, &w, &err);
                return handle_workload_result(req, r, MHD_HTTP_OK, w, &err);
        case ROUTE_START:
                r = api_core_start(c, name, &w, &err);
                return handle_workload_result(req, r, MHD_HTTP_OK, w, &err);
        case ROUTE_STOP:
                r = api_core_stop(c, name, arg(req, "timeout"), &w, &err);
                return handle_workload_result(req, r, r > 0 ? MHD_HTTP_ACCEPTED : MHD_HTTP_OK, w, &err);
        case ROUTE_KILL:
                r = api_core_kill(c, name, arg(req, "signal"), &w, &err);
                return handle_workload_result(req, r, MHD_HTTP_ACCEPTED, w, &err);
        case ROUTE_WAIT:
                return handle_wait(req, name);
        case ROUTE_LOGS:
                return http_stream_logs(req, name);
        case ROUTE_EXEC:
                return http_exec_start(req, name);
        case ROUTE_PAUSE:
                r = api_core_pause(c, name, &w, &err);
                return handle_workload_result(req, r, MHD_HTTP_OK, w, &err);
        case ROUTE_RESUME:
                r = api_core_resume(c, name, &w, &err);
                return handle_workload_result(req, r, MHD_HTTP_OK, w, &err);
        default:
                return MHD_NO;
        }
}

enum MHD_Result http_route(HttpRequest *req, const char *method, const char *url)
{
        enum MHD_Result q;
        int r;

        /* TCP listener: mutual TLS and roles before anything else, image routes
         * included (api/tls-http.c). The unix socket: the caller is whoever
         * SO_PEERCRED names (docs/SECURITY.md). */
        r = http_tls_authorize(req, streq(url, "/healthz"), !streq(method, "GET") && !streq(method, "HEAD"));
        if (r != 0)
                return result(r > 0 ? 0 : r);
        if (!req->http->tls) {
                const union MHD_ConnectionInfo *ci =
                        MHD_get_connection_info(req->connection, MHD_CONNECTION_INFO_CONNECTION_FD);
                if (ci)
                        (void)api_caller_from_peercred(ci->connect_fd, &req->caller);
        }
        /* Events recorded while the request is served name its caller. */
        api_core_caller_begin(&req->http->core, &req->caller);
        q = route_dispatch(req, method, url);
        api_core_caller_end(&req->http->core);
        return q;
}
