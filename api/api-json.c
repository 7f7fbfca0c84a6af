/* SPDX-License-Identifier: Apache-2.0 */
/* JSON encoders for the documents of docs/API.md. */
#include <signal.h>

#include "api/api-core.h"

static json_t *json_time_or_null(usec_t t)
{
        char buf[RFC3339_MAX];

        if (t == 0 || t == USEC_INFINITY)
                return json_null();
        return json_string(format_rfc3339(buf, sizeof(buf), t));
}

static json_t *json_string_or_null(const char *s)
{
        return s ? json_string(s) : json_null();
}

static json_t *json_signal_or_null(int sig)
{
        char buf[32];
        const char *abbrev;

        if (sig <= 0)
                return json_null();
        abbrev = sigabbrev_np(sig);
        if (abbrev)
                snprintf(buf, sizeof(buf), "SIG%s", abbrev);
        else
                snprintf(buf, sizeof(buf), "%d", sig);
        return json_string(buf);
}

/* json_object_set_new that records a failure instead of returning it. */
static void set(json_t *o, const char *key, json_t *v, bool *failed)
{
        if (!v || json_object_set_new(o, key, v) < 0)
                *failed = true;
}

static json_t *status_to_json(const WorkloadStatus *s)
{
        bool exited = s->state == WORKLOAD_EXITED, live = s->state == WORKLOAD_RUNNING || s->state == WORKLOAD_PAUSED;
        bool failed = false;
        json_t *o = json_object();

        if (!o)
                return NULL;
        set(o, "state", json_string_or_null(workload_state_to_string(s->state)), &failed);
        set(o, "exitCode", exited ? json_integer(s->exit_code) : json_null(), &failed);
        set(o, "signal", exited ? json_signal_or_null(s->term_signal) : json_null(), &failed);
        set(o, "oomKilled", json_boolean(s->oom_killed), &failed);
        set(o, "pid", live && s->pid > 0 ? json_integer(s->pid) : json_null(), &failed);
        set(o, "createdAt", json_time_or_null(s->created_at), &failed);
        set(o, "startedAt", json_time_or_null(s->started_at), &failed);
        set(o, "finishedAt", exited ? json_time_or_null(s->finished_at) : json_null(), &failed);
        set(o, "restartCount", json_integer(s->restart_count), &failed);
        set(o, "reason", json_string_or_null(s->reason), &failed);
        set(o, "message", json_string_or_null(s->message), &failed);
        if (s->health)
                set(o, "health", json_string(s->health), &failed);
        if (s->vm_accelerator) {
                json_t *vm = json_object();
                set(vm, "accelerator", json_string(s->vm_accelerator), &failed);
                if (s->vm_backend)
                        set(vm, "backend", json_string(s->vm_backend), &failed);
                set(o, "vm", vm, &failed);
        }
        if (s->network_ip[0]) {
                json_t *net = json_object();
                set(net, "ip", json_string(s->network_ip), &failed);
                set(o, "network", net, &failed);
        }
        if (failed) {
                json_decref(o);
                return NULL;
        }
        return o;
}

json_t *api_workload_to_json(const Workload *w)
{
        json_t *o, *st;

        o = spec_to_json(w->spec);
        if (!o)
                return NULL;
        st = status_to_json(&w->status);
        if (!st || json_object_set_new(o, "status", st) < 0) {
                json_decref(o);
                return NULL;
        }
        return o;
}

json_t *api_workload_list_to_json(const Workload *const *w, size_t n)
{
        json_t *items = json_array();

        if (!items)
                return NULL;
        for (size_t i = 0; i < n; i++)
                if (json_array_append_new(items, api_workload_to_json(w[i])) < 0) {
                        json_decref(items);
                        return NULL;
                }
        return json_pack("{s:o}", "items", items);
}

json_t *api_wait_result_to_json(const Workload *w)
{
        const WorkloadStatus *s = &w->status;
        bool exited = s->state == WORKLOAD_EXITED;

        return json_pack("{s:s, s:s?, s:o, s:o, s:b, s:o}", "name", w->spec->name, "state",
                         workload_state_to_string(s->state), "exitCode",
                         exited ? json_integer(s->exit_code) : json_null(), "signal",
                         exited ? json_signal_or_null(s->term_signal) : json_null(), "oomKilled", s->oom_killed,
                         "reason", json_string_or_null(s->reason));
}

json_t *api_event_to_json(const BerthEvent *ev)
{
        return json_pack("{s:I, s:o, s:s, s:o, s:o, s:o}", "id", (json_int_t)ev->id, "time",
                         json_time_or_null(ev->time), "type", strempty(ev->type), "workload",
                         json_string_or_null(ev->workload), "message", json_string_or_null(ev->message), "caller",
                         json_string_or_null(ev->caller));
}

json_t *api_node_to_json(const ApiNode *n)
{
        unsigned total = 0;
        json_t *wl;

        wl = json_object();
        if (!wl)
                return NULL;
        for (int i = 0; i < _WORKLOAD_STATE_MAX; i++) {
                total += n->workloads[i];
                if (json_object_set_new(wl, workload_state_to_string(i), json_integer(n->workloads[i])) < 0) {
                        json_decref(wl);
                        return NULL;
                }
        }
        if (json_object_set_new(wl, "total", json_integer(total)) < 0) {
                json_decref(wl);
                return NULL;
        }
        json_t *o = json_pack("{s:s?, s:s?, s:s?, s:i, s:I, s:{s:I, s:I}, s:o, s:o, s:b}", "name", n->name, "version",
                         n->version, "kernel", n->kernel, "cgroupVersion", n->cgroup_version, "cpus",
                         (json_int_t)n->cpus, "memory", "totalBytes", (json_int_t)n->memory_total_bytes,
                         "availableBytes", (json_int_t)n->memory_available_bytes, "startedAt",
                         json_time_or_null(n->started_at), "workloads", wl, "ready", n->ready);
        /* The cluster store session (docs/CLUSTER.md), absent when standalone. */
        if (o && n->cluster && json_object_set_new(o, "cluster", json_string(n->cluster)) < 0) {
                json_decref(o);
                return NULL;
        }
        /* The scheduler's ledger (docs/SCHEDULER.md), absent without one. */
        if (o && n->has_scheduler && api_node_sched_to_json(n, o) < 0) {
                json_decref(o);
                return NULL;
        }
        return o;
}

/* Error texts may quote what the client sent (a path, a name): JSON needs
 * valid UTF-8, so a text that is not gets its non-ASCII bytes as '?'. */
static json_t *json_string_lossy(const char *s)
{
        json_t *j = json_string(s);
        char buf[sizeof(((BerthError *)NULL)->message)];
        size_t i;

        if (j)
                return j;
        for (i = 0; s[i] && i < sizeof(buf) - 1; i++)
                buf[i] = (unsigned char)s[i] >= 0x80 ? '?' : s[i];
        buf[i] = 0;
        return json_string(buf);
}

json_t *api_error_to_json(const BerthError *err)
{
        int error = err && err->error < 0 ? err->error : -EIO;
        const char *message = err && err->message[0] ? err->message : strerror(-error);

        return json_pack("{s:s, s:o, s:o}", "code", berth_error_class(error), "message", json_string_lossy(message),
                         "field", err && err->field[0] ? json_string_lossy(err->field) : json_null());
}
