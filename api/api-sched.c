/* SPDX-License-Identifier: Apache-2.0 */
/* The scheduler's part of the API (docs/API.md, docs/SCHEDULER.md): the dry
 * run of POST /v1/workloads?dryRun=1 and the ledger in GET /v1/node. */
#include "api/api-core.h"

static json_t *placement_to_json(const ApiPlacement *p)
{
        json_t *o = json_pack("{s:s?, s:s?, s:s?, s:b, s:I, s:{s:I, s:I}}", "workload", p->workload, "qos", p->qos,
                              "cpuset", p->cpuset, "exclusive", p->exclusive, "priority", (json_int_t)p->priority,
                              "charged", "cpuMillis", (json_int_t)p->cpu_millis, "memoryBytes",
                              (json_int_t)p->memory_bytes);
        if (o && p->vcpu_pins && json_object_set_new(o, "vcpuPins", json_string(p->vcpu_pins)) < 0) {
                json_decref(o);
                return NULL;
        }
        if (o && json_object_set_new(o, "numaNode", p->numa_node >= 0 ? json_integer(p->numa_node) : json_null()) < 0) {
                json_decref(o);
                return NULL;
        }
        return o;
}

int api_node_sched_to_json(const ApiNode *n, json_t *o)
{
        json_t *res = json_object(), *pl = json_array(), *topo;

        if (!res || !pl)
                goto fail;
        for (size_t i = 0; i < n->n_resources; i++) {
                const ApiNodeResource *r = &n->resources[i];
                if (json_object_set_new(res, r->name,
                                        json_pack("{s:I, s:I, s:I, s:I}", "capacity", (json_int_t)r->capacity,
                                                  "allocatable", (json_int_t)r->allocatable, "allocated",
                                                  (json_int_t)r->allocated, "free", (json_int_t)r->free)) < 0)
                        goto fail;
        }
        for (size_t i = 0; i < n->n_placements; i++)
                if (json_array_append_new(pl, placement_to_json(&n->placements[i])) < 0)
                        goto fail;
        topo = json_pack("{s:i, s:i, s:i, s:{s:I, s:I}}", "numaNodes", (int)n->numa_nodes, "cores", (int)n->cpu_cores,
                         "threadsPerCore", (int)n->smt_width, "hugepages", "2Mi", (json_int_t)n->hugepages_2m, "1Gi",
                         (json_int_t)n->hugepages_1g);
        if (json_object_set_new(o, "topology", topo) < 0 || json_object_set_new(o, "resources", res) < 0) {
                res = NULL;
                goto fail;
        }
        res = NULL;
        if (json_object_set_new(o, "sharedPool", json_string(n->shared_pool ? n->shared_pool : "")) < 0 ||
            json_object_set_new(o, "underPressure", json_boolean(n->under_pressure)) < 0 ||
            json_object_set_new(o, "placements", pl) < 0)
                return -ENOMEM;
        return 0;
fail:
        json_decref(res);
        json_decref(pl);
        return -ENOMEM;
}

json_t *api_admission_to_json(const ApiAdmission *a)
{
        json_t *o, *v = json_array();

        if (!v)
                return NULL;
        for (size_t i = 0; i < a->n_preempts; i++)
                if (json_array_append_new(v, json_string(a->preempts[i])) < 0) {
                        json_decref(v);
                        return NULL;
                }
        o = json_pack("{s:b, s:b, s:o, s:o, s:s?, s:s?}", "dryRun", 1, "admitted", a->admitted, "placement",
                      placement_to_json(&a->placement), "preempts", v, "reason", a->reason[0] ? a->reason : NULL,
                      "resource", a->resource);
        return o;
}

int api_core_create_dry_run(ApiCore *c, const char *dry_run, const char *body, size_t len, ApiAdmission *ret,
                            BerthError *err)
{
        _cleanup_(spec_freep) Spec *spec = NULL;
        bool on = false;
        int r;

        r = api_parse_bool(dry_run, "dryRun", &on, err);
        if (r < 0)
                return r;
        if (!on)
                return 0;
        if (!c->backend.ops->admit_dry_run)
                return berth_error_set(err, -EOPNOTSUPP, "dryRun", "this backend has no scheduler");
        if (len > SPEC_BODY_MAX)
                return berth_error_set(err, -E2BIG, NULL, "request body exceeds %d bytes", SPEC_BODY_MAX);
        if (!body || len == 0)
                return berth_error_set(err, -EINVAL, NULL, "a workload document is required");
        r = spec_parse_json(body, len, &spec, err);
        if (r < 0)
                return r;
        r = c->backend.ops->admit_dry_run(c->backend.userdata, spec, ret, err);
        if (r < 0) {
                api_error_fill(err, r);
                return r;
        }
        return 1;
}
