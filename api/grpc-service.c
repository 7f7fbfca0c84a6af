/* SPDX-License-Identifier: Apache-2.0 */
/* The unary methods of proto/berth/v1/berth.proto and grpc.health.v1: decode
 * the request message, call the API core, encode. Parameters travel to the
 * core as the same strings the HTTP adapter passes, so the core's
 * validation (and its error messages) are the only ones. */
#include <inttypes.h>

#include "api/grpc-internal.h"
#include "lib/log.h"

#define CORE(s) (&(s)->conn->server->core)

static void reply_workload(GrpcStream *s, int r, const Workload *w, const BerthError *err)
{
        Berth__V1__Workload m;
        Berth__V1__WorkloadStatus st;

        if (r < 0)
                return grpc_stream_finish_error(s, err);
        r = grpc_workload_to_msg(w, &m, &st);
        if (r >= 0)
                r = grpc_stream_send(s, &m.base);
        grpc_workload_msg_done(&m);
        if (r < 0)
                return grpc_stream_finish(s, GRPC_INTERNAL, "cannot encode the workload: %s", strerror(-r));
        grpc_stream_finish(s, GRPC_OK, NULL);
}

static void do_create(GrpcStream *s, const ProtobufCMessage *req)
{
        const Berth__V1__CreateWorkloadRequest *m = (const void *)req;
        const Workload *w = NULL;
        BerthError err = {};
        int r;

        r = api_core_create_as(CORE(s), &s->conn->caller, m->document, strlen(m->document), &w, &err);
        if (r >= 0)
                wlog_info(w->spec->name, "created through gRPC by %s", s->conn->caller.id);
        reply_workload(s, r, w, &err);
}

static void do_get(GrpcStream *s, const ProtobufCMessage *req)
{
        const Berth__V1__GetWorkloadRequest *m = (const void *)req;
        const Workload *w = NULL;
        BerthError err = {};

        int r = api_core_get(CORE(s), m->name, &w, &err);

        reply_workload(s, r, w, &err);
}

static void do_list(GrpcStream *s, const ProtobufCMessage *req)
{
        Berth__V1__ListWorkloadsResponse resp = BERTH__V1__LIST_WORKLOADS_RESPONSE__INIT;
        _cleanup_free_ Berth__V1__Workload *ms = NULL;
        _cleanup_free_ Berth__V1__WorkloadStatus *sts = NULL;
        _cleanup_free_ Berth__V1__Workload **ptrs = NULL;
        _cleanup_free_ const Workload **l = NULL;
        BerthError err = {};
        size_t n = 0;
        int r;

        r = api_core_list(CORE(s), &l, &n, &err);
        if (r < 0)
                return grpc_stream_finish_error(s, &err);
        ms = calloc(n + 1, sizeof(*ms));
        sts = calloc(n + 1, sizeof(*sts));
        ptrs = calloc(n + 1, sizeof(*ptrs));
        if (!ms || !sts || !ptrs)
                return grpc_stream_finish(s, GRPC_RESOURCE_EXHAUSTED, "out of memory");
        r = 0;
        for (size_t i = 0; i < n; i++) {
                if (r >= 0)
                        r = grpc_workload_to_msg(l[i], &ms[i], &sts[i]);
                else
                        berth__v1__workload__init(&ms[i]);
                ptrs[i] = &ms[i];
        }
        resp.items = ptrs;
        resp.n_items = n;
        if (r >= 0)
                r = grpc_stream_send(s, &resp.base);
        for (size_t i = 0; i < n; i++)
                grpc_workload_msg_done(&ms[i]);
        if (r < 0)
                return grpc_stream_finish(s, r == -EMSGSIZE ? GRPC_RESOURCE_EXHAUSTED : GRPC_INTERNAL,
                                          "cannot encode the list: %s", strerror(-r));
        grpc_stream_finish(s, GRPC_OK, NULL);
}

static void do_update(GrpcStream *s, const ProtobufCMessage *req)
{
        const Berth__V1__UpdateWorkloadRequest *m = (const void *)req;
        const Workload *w = NULL;
        BerthError err = {};

        /* The PATCH body as it is: merge, validation and admission happen in the core and below. */
        int r = api_core_update(CORE(s), m->name, m->patch, strlen(m->patch), &w, &err);

        reply_workload(s, r, w, &err);
}

static void do_start(GrpcStream *s, const ProtobufCMessage *req)
{
        const Berth__V1__StartWorkloadRequest *m = (const void *)req;
        const Workload *w = NULL;
        BerthError err = {};

        int r = api_core_start(CORE(s), m->name, &w, &err);

        reply_workload(s, r, w, &err);
}

static void do_stop(GrpcStream *s, const ProtobufCMessage *req)
{
        const Berth__V1__StopWorkloadRequest *m = (const void *)req;
        Berth__V1__StopWorkloadResponse resp = BERTH__V1__STOP_WORKLOAD_RESPONSE__INIT;
        Berth__V1__Workload wm;
        Berth__V1__WorkloadStatus st;
        const Workload *w = NULL;
        BerthError err = {};
        int r;

        r = api_core_stop(CORE(s), m->name, m->timeout[0] ? m->timeout : NULL, &w, &err);
        if (r < 0)
                return grpc_stream_finish_error(s, &err);
        resp.initiated = r > 0;
        resp.workload = &wm;
        r = grpc_workload_to_msg(w, &wm, &st);
        if (r >= 0)
                r = grpc_stream_send(s, &resp.base);
        grpc_workload_msg_done(&wm);
        if (r < 0)
                return grpc_stream_finish(s, GRPC_INTERNAL, "cannot encode the workload: %s", strerror(-r));
        grpc_stream_finish(s, GRPC_OK, NULL);
}

static void do_kill(GrpcStream *s, const ProtobufCMessage *req)
{
        const Berth__V1__KillWorkloadRequest *m = (const void *)req;
        const Workload *w = NULL;
        BerthError err = {};

        int r = api_core_kill(CORE(s), m->name, m->signal[0] ? m->signal : NULL, &w, &err);

        reply_workload(s, r, w, &err);
}

static void on_remove_done(void *userdata, int error)
{
        GrpcRemoveOp *op = userdata;
        GrpcStream *s = op->stream;

        if (s) {
                s->remove_op = NULL;
                if (error < 0)
                        grpc_stream_finish(s, grpc_status_from_error(error), "cannot remove \"%s\": %s", op->name,
                                           strerror(-error));
                else {
                        Berth__V1__DeleteWorkloadResponse resp = BERTH__V1__DELETE_WORKLOAD_RESPONSE__INIT;
                        resp.name = op->name;
                        (void)grpc_stream_send(s, &resp.base);
                        grpc_stream_finish(s, GRPC_OK, NULL);
                }
        }
        free(op->name);
        free(op);
}

static void do_delete(GrpcStream *s, const ProtobufCMessage *req)
{
        const Berth__V1__DeleteWorkloadRequest *m = (const void *)req;
        BerthError err = {};
        GrpcRemoveOp *op;
        int r;

        op = calloc(1, sizeof(*op));
        if (!op || !(op->name = strdup(m->name))) {
                free(op);
                return grpc_stream_finish(s, GRPC_RESOURCE_EXHAUSTED, "out of memory");
        }
        op->stream = s;
        s->remove_op = op;
        r = api_core_remove(CORE(s), m->name, m->force ? "1" : "0", on_remove_done, op, &err);
        if (r < 0) {
                s->remove_op = NULL;
                free(op->name);
                free(op);
                return grpc_stream_finish_error(s, &err);
        }
}

static void on_wait_done(void *userdata, const Workload *w, int error)
{
        GrpcStream *s = userdata;
        Berth__V1__WaitWorkloadResponse resp = BERTH__V1__WAIT_WORKLOAD_RESPONSE__INIT;
        char sig[32];

        s->watch = NULL; /* final callback */
        if (error < 0 || !w) {
                if (error == -ENOENT || !w)
                        return grpc_stream_finish(s, GRPC_NOT_FOUND, "workload was removed while waiting");
                return grpc_stream_finish(s, grpc_status_from_error(error), "wait failed: %s", strerror(-error));
        }
        resp.name = w->spec->name;
        resp.state = (char *)strempty(workload_state_to_string(w->status.state));
        resp.has_exit_code = w->status.state == WORKLOAD_EXITED;
        resp.exit_code = resp.has_exit_code ? w->status.exit_code : 0;
        resp.signal = (char *)grpc_signal_name(w->status.term_signal, sig, sizeof(sig));
        resp.oom_killed = w->status.oom_killed;
        resp.reason = (char *)strempty(w->status.reason);
        (void)grpc_stream_send(s, &resp.base);
        grpc_stream_finish(s, GRPC_OK, NULL);
}

static void do_wait(GrpcStream *s, const ProtobufCMessage *req)
{
        const Berth__V1__WaitWorkloadRequest *m = (const void *)req;
        BerthError err = {};
        ApiWatch *watch = NULL;
        int r;

        r = api_core_wait(CORE(s), m->name, on_wait_done, s, &watch, &err);
        if (r < 0)
                return grpc_stream_finish_error(s, &err);
        s->watch = watch;
}

static void do_node_info(GrpcStream *s, const ProtobufCMessage *req)
{
        Berth__V1__NodeInfo resp = BERTH__V1__NODE_INFO__INIT;
        Berth__V1__NodeInfo__WorkloadsEntry e[_WORKLOAD_STATE_MAX], *ep[_WORKLOAD_STATE_MAX];
        BerthError err = {};
        ApiNode node;
        int r;

        r = api_core_node(CORE(s), &node, &err);
        if (r < 0)
                return grpc_stream_finish_error(s, &err);
        resp.name = (char *)strempty(node.name);
        resp.version = (char *)strempty(node.version);
        resp.kernel = (char *)strempty(node.kernel);
        resp.cgroup_version = node.cgroup_version;
        resp.started_at_usec = node.started_at;
        resp.ready = node.ready;
        for (int i = 0; i < _WORKLOAD_STATE_MAX; i++) {
                berth__v1__node_info__workloads_entry__init(&e[i]);
                e[i].key = (char *)workload_state_to_string(i);
                e[i].value = node.workloads[i];
                ep[i] = &e[i];
        }
        resp.workloads = ep;
        resp.n_workloads = _WORKLOAD_STATE_MAX;
        (void)grpc_stream_send(s, &resp.base);
        grpc_stream_finish(s, GRPC_OK, NULL);
}

static void do_capacity(GrpcStream *s, const ProtobufCMessage *req)
{
        Berth__V1__Capacity resp = BERTH__V1__CAPACITY__INIT;
        BerthError err = {};
        ApiNode node;
        int r;

        r = api_core_node(CORE(s), &node, &err);
        if (r < 0)
                return grpc_stream_finish_error(s, &err);
        resp.cpus = node.cpus;
        resp.memory_total_bytes = node.memory_total_bytes;
        resp.memory_available_bytes = node.memory_available_bytes;
        (void)grpc_stream_send(s, &resp.base);
        grpc_stream_finish(s, GRPC_OK, NULL);
}

static void do_placements(GrpcStream *s, const ProtobufCMessage *req)
{
        Berth__V1__Placements resp = BERTH__V1__PLACEMENTS__INIT;
        _cleanup_free_ Berth__V1__Placement *ps = NULL;
        _cleanup_free_ Berth__V1__Placement **pp = NULL;
        _cleanup_free_ const Workload **l = NULL;
        BerthError err = {};
        size_t n = 0;
        int r;

        r = api_core_list(CORE(s), &l, &n, &err);
        if (r < 0)
                return grpc_stream_finish_error(s, &err);
        ps = calloc(n + 1, sizeof(*ps));
        pp = calloc(n + 1, sizeof(*pp));
        if (!ps || !pp)
                return grpc_stream_finish(s, GRPC_RESOURCE_EXHAUSTED, "out of memory");
        for (size_t i = 0; i < n; i++) {
                berth__v1__placement__init(&ps[i]);
                ps[i].name = l[i]->spec->name;
                ps[i].state = (char *)strempty(workload_state_to_string(l[i]->status.state));
                pp[i] = &ps[i];
        }
        resp.items = pp;
        resp.n_items = n;
        r = grpc_stream_send(s, &resp.base);
        if (r < 0)
                return grpc_stream_finish(s, GRPC_RESOURCE_EXHAUSTED, "cannot encode: %s", strerror(-r));
        grpc_stream_finish(s, GRPC_OK, NULL);
}

static const char *const health_services[] = {
        "",         "berth.v1.Workloads", "berth.v1.Logs",   "berth.v1.Events",
        "berth.v1.Exec", "berth.v1.Node", "berth.v1.Images", "grpc.health.v1.Health",
};

/* -ENOENT for an unknown service, else SERVING / NOT_SERVING. */
static int health_status(GrpcStream *s, const char *service)
{
        ApiNode node;

        for (size_t i = 0; i < ELEMENTSOF(health_services); i++)
                if (streq(service, health_services[i])) {
                        if (api_core_node(CORE(s), &node, NULL) < 0 || !node.ready)
                                return GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING;
                        return GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
                }
        return -ENOENT;
}

static void do_health_check(GrpcStream *s, const ProtobufCMessage *req)
{
        const Grpc__Health__V1__HealthCheckRequest *m = (const void *)req;
        Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
        int st = health_status(s, m->service);

        if (st < 0)
                return grpc_stream_finish(s, GRPC_NOT_FOUND, "unknown service \"%s\"", m->service);
        resp.status = st;
        (void)grpc_stream_send(s, &resp.base);
        grpc_stream_finish(s, GRPC_OK, NULL);
}

static void do_health_watch(GrpcStream *s, const ProtobufCMessage *req)
{
        const Grpc__Health__V1__HealthCheckRequest *m = (const void *)req;
        Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
        int st = health_status(s, m->service);

        resp.status = st < 0 ? GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN : st;
        s->kind = GRPC_STREAM_HEALTH; /* stays open until the client or the deadline ends it */
        (void)grpc_stream_send(s, &resp.base);
}

#define M(svc, name, type, fn, acc, w)                                                                       \
        { "/berth.v1." svc "/" name, &berth__v1__##type##__descriptor, fn, API_ACCESS_##acc, w, false }

static const GrpcMethod methods[] = {
        M("Workloads", "CreateWorkload", create_workload_request, do_create, WRITE, "create workloads"),
        M("Workloads", "GetWorkload", get_workload_request, do_get, READ, "read workloads"),
        M("Workloads", "ListWorkloads", list_workloads_request, do_list, READ, "list workloads"),
        M("Workloads", "UpdateWorkload", update_workload_request, do_update, WRITE, "update workloads"),
        M("Workloads", "StartWorkload", start_workload_request, do_start, WRITE, "start workloads"),
        M("Workloads", "StopWorkload", stop_workload_request, do_stop, WRITE, "stop workloads"),
        M("Workloads", "KillWorkload", kill_workload_request, do_kill, WRITE, "kill workloads"),
        M("Workloads", "DeleteWorkload", delete_workload_request, do_delete, WRITE, "delete workloads"),
        M("Workloads", "WaitWorkload", wait_workload_request, do_wait, READ, "wait for workloads"),
        M("Logs", "StreamLogs", logs_request, grpc_stream_logs, READ, "read logs"),
        M("Events", "StreamEvents", events_request, grpc_stream_events, READ, "read events"),
        { "/berth.v1.Exec/Exec", &berth__v1__exec_input__descriptor, grpc_exec_message, API_ACCESS_WRITE,
          "exec in workloads", true },
        M("Node", "Info", node_info_request, do_node_info, READ, "read the node"),
        M("Node", "GetCapacity", capacity_request, do_capacity, READ, "read the node"),
        M("Node", "GetPlacements", placements_request, do_placements, READ, "read the node"),
        M("Images", "ListImages", list_images_request, grpc_images_list, READ, "read images"),
        M("Images", "InspectImage", inspect_image_request, grpc_images_inspect, READ, "read images"),
        M("Images", "RemoveImage", remove_image_request, grpc_images_remove, WRITE, "remove images"),
        M("Images", "PullImage", pull_image_request, grpc_images_pull, WRITE, "pull images"),
        M("Images", "ImportImage", import_image_request, grpc_images_import, WRITE, "import images"),
        M("Images", "CommitWorkload", commit_workload_request, grpc_images_commit, WRITE, "commit workloads"),
        M("Images", "SystemDf", system_df_request, grpc_images_df, READ, "read images"),
        { "/grpc.health.v1.Health/Check", &grpc__health__v1__health_check_request__descriptor, do_health_check,
          API_ACCESS_READ, "check health" },
        { "/grpc.health.v1.Health/Watch", &grpc__health__v1__health_check_request__descriptor, do_health_watch,
          API_ACCESS_READ, "check health" },
};

const GrpcMethod *grpc_method_find(const char *path)
{
        for (size_t i = 0; i < ELEMENTSOF(methods); i++)
                if (streq(methods[i].path, path))
                        return &methods[i];
        return NULL;
}
