/* SPDX-License-Identifier: Apache-2.0 */
/* The scheduler's part of the spec (docs/SPEC.md, docs/SCHEDULER.md):
 * spec.resources.requests / spec.resources.limits and spec.priority.
 *
 * The flat spec.resources.cpu / memory keep their meaning: they are the
 * limits, and the requests equal them unless given. spec.resources.limits is
 * another spelling of the flat keys; giving both for one resource is an
 * error. A request above its limit is an error; a request without a limit
 * is fine (burstable, unlimited). */
#include <inttypes.h>
#include <math.h>

#include "lib/spec-internal.h"

static int get_millis(const json_t *v, const char *path, uint64_t *ret, BerthError *err)
{
        uint64_t m;
        int r;

        if (json_is_string(v)) {
                r = parse_cpu_quantity(json_string_value(v), &m);
                if (r < 0)
                        return berth_error_set(err, -EINVAL, path, "\"%.64s\" is not a CPU quantity (e.g. \"500m\", \"2\")",
                                               json_string_value(v));
        } else if (json_is_integer(v) && json_integer_value(v) >= 0 &&
                   (uint64_t)json_integer_value(v) <= SPEC_CPU_MILLIS_MAX / 1000)
                m = (uint64_t)json_integer_value(v) * 1000;
        else if (json_is_real(v) && json_real_value(v) >= 0 && json_real_value(v) <= SPEC_CPU_MILLIS_MAX / 1000 &&
                 json_real_value(v) * 1000 == floor(json_real_value(v) * 1000))
                m = (uint64_t)(json_real_value(v) * 1000);
        else
                return berth_error_set(err, -EINVAL, path, "must be a CPU quantity such as \"500m\" or 2");
        if (m > SPEC_CPU_MILLIS_MAX)
                return berth_error_set(err, -EINVAL, path, "is above the maximum of %" PRIu64 " CPUs",
                                       SPEC_CPU_MILLIS_MAX / 1000);
        *ret = m;
        return 0;
}

static int get_bytes(const json_t *v, const char *path, uint64_t *ret, BerthError *err)
{
        uint64_t b;
        int r;

        if (json_is_string(v)) {
                r = parse_memory_quantity(json_string_value(v), &b);
                if (r < 0)
                        return berth_error_set(err, -EINVAL, path, "\"%.64s\" is not a size (e.g. \"128Mi\")",
                                               json_string_value(v));
        } else if (json_is_integer(v) && json_integer_value(v) >= 0)
                b = (uint64_t)json_integer_value(v);
        else
                return berth_error_set(err, -EINVAL, path, "must be a size such as \"128Mi\" or a number of bytes");
        if (b > SPEC_MEMORY_MAX)
                return berth_error_set(err, -EINVAL, path, "is above the maximum of 1Pi");
        *ret = b;
        return 0;
}

static int get_pair(const json_t *res, const char *key, const char *path, const json_t **ret, BerthError *err)
{
        static const char *const fields[] = { "cpu", "memory" };
        const json_t *o = json_object_get(res, key);
        const char *k;
        json_t *v;

        *ret = NULL;
        if (!o)
                return 0;
        if (!json_is_object(o))
                return berth_error_set(err, -EINVAL, path, "must be a mapping with cpu and/or memory");
        json_object_foreach((json_t *)o, k, v) {
                if (!streq(k, fields[0]) && !streq(k, fields[1]))
                        return berth_error_set(err, -EINVAL, path, "unknown field \"%.64s\"; expected cpu, memory", k);
        }
        *ret = o;
        return 0;
}

int spec_sched_from_json(const json_t *spec, Spec *s, BerthError *err)
{
        const json_t *res = json_object_get(spec, "resources"), *req = NULL, *lim = NULL, *v;
        int r;

        s->priority = 0;
        v = json_object_get(spec, "priority");
        if (v) {
                if (!json_is_integer(v) || json_integer_value(v) < SPEC_PRIORITY_MIN ||
                    json_integer_value(v) > SPEC_PRIORITY_MAX)
                        return berth_error_set(err, -EINVAL, "spec.priority", "must be an integer from %d to %d",
                                               SPEC_PRIORITY_MIN, SPEC_PRIORITY_MAX);
                s->priority = (int32_t)json_integer_value(v);
        }

        if (res && json_is_object(res)) {
                r = get_pair(res, "requests", "spec.resources.requests", &req, err);
                if (r < 0)
                        return r;
                r = get_pair(res, "limits", "spec.resources.limits", &lim, err);
                if (r < 0)
                        return r;
        }
        if (lim) {
                if ((v = json_object_get(lim, "cpu"))) {
                        if (s->cpu_millis)
                                return berth_error_set(err, -EINVAL, "spec.resources.limits.cpu",
                                                       "give either spec.resources.cpu or spec.resources.limits.cpu");
                        r = get_millis(v, "spec.resources.limits.cpu", &s->cpu_millis, err);
                        if (r < 0)
                                return r;
                        if (s->cpu_millis == 0)
                                return berth_error_set(err, -EINVAL, "spec.resources.limits.cpu",
                                                       "must not be 0; omit it for no limit");
                }
                if ((v = json_object_get(lim, "memory"))) {
                        if (s->memory_bytes)
                                return berth_error_set(err, -EINVAL, "spec.resources.limits.memory",
                                                       "give either spec.resources.memory or spec.resources.limits.memory");
                        r = get_bytes(v, "spec.resources.limits.memory", &s->memory_bytes, err);
                        if (r < 0)
                                return r;
                        if (s->memory_bytes < SPEC_MEMORY_MIN)
                                return berth_error_set(err, -EINVAL, "spec.resources.limits.memory",
                                                       "is below the minimum of 4Mi");
                }
        }
        s->cpu_request_millis = s->cpu_millis;
        s->memory_request_bytes = s->memory_bytes;
        if (req) {
                if ((v = json_object_get(req, "cpu"))) {
                        r = get_millis(v, "spec.resources.requests.cpu", &s->cpu_request_millis, err);
                        if (r < 0)
                                return r;
                        if (s->cpu_millis && s->cpu_request_millis > s->cpu_millis)
                                return berth_error_set(err, -EINVAL, "spec.resources.requests.cpu",
                                                       "is above the limit spec.resources.cpu");
                }
                if ((v = json_object_get(req, "memory"))) {
                        r = get_bytes(v, "spec.resources.requests.memory", &s->memory_request_bytes, err);
                        if (r < 0)
                                return r;
                        if (s->memory_bytes && s->memory_request_bytes > s->memory_bytes)
                                return berth_error_set(err, -EINVAL, "spec.resources.requests.memory",
                                                       "is above the limit spec.resources.memory");
                }
        }
        return 0;
}

int spec_sched_to_json(const Spec *s, json_t *spec, json_t *res)
{
        char buf[64];
        json_t *req = NULL;

        if (s->cpu_request_millis != s->cpu_millis || s->memory_request_bytes != s->memory_bytes) {
                req = json_object();
                if (!req)
                        return -ENOMEM;
                if (s->cpu_request_millis != s->cpu_millis &&
                    json_object_set_new(req, "cpu", json_string(format_cpu_quantity(buf, sizeof(buf),
                                                                                    s->cpu_request_millis))) < 0)
                        goto fail;
                if (s->memory_request_bytes != s->memory_bytes &&
                    json_object_set_new(req, "memory", json_string(format_memory_quantity(
                                                                buf, sizeof(buf), s->memory_request_bytes))) < 0)
                        goto fail;
                if (json_object_set_new(res, "requests", req) < 0)
                        return -ENOMEM;
        }
        if (s->priority != 0 && json_object_set_new(spec, "priority", json_integer(s->priority)) < 0)
                return -ENOMEM;
        return 0;
fail:
        json_decref(req);
        return -ENOMEM;
}
