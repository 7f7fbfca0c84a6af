/* SPDX-License-Identifier: Apache-2.0 */
/* spec.resources.requests / limits and spec.priority (lib/spec-sched.c). */
#include <string.h>

#include "lib/spec.h"
#include "tests/unit/lib/tap.h"

static Spec *parse(const char *resources, const char *extra, BerthError *err)
{
        char doc[2048];
        Spec *s = NULL;

        snprintf(doc, sizeof(doc),
                 "{\"apiVersion\":\"berth/v1\",\"kind\":\"Workload\",\"metadata\":{\"name\":\"w\"},"
                 "\"spec\":{\"rootfs\":\"/r\",\"command\":[\"/bin/true\"]%s%s%s%s}}",
                 resources ? ",\"resources\":" : "", resources ? resources : "", extra ? "," : "", extra ? extra : "");
        *err = (BerthError){};
        if (spec_parse_json(doc, strlen(doc), &s, err) < 0)
                return NULL;
        return s;
}

static bool rejects(const char *res, const char *extra, const char *field)
{
        BerthError err;
        Spec *s = parse(res, extra, &err);
        bool ok = !s && strcmp(err.field, field) == 0;
        if (!ok)
                tap_diag("field %s message %s", err.field, err.message);
        spec_free(s);
        return ok;
}

static bool round_trips(Spec *s)
{
        BerthError err;
        json_t *j = spec_to_json(s);
        char *txt = j ? json_dumps(j, 0) : NULL;
        Spec *t = NULL;
        bool ok = txt && spec_parse_json(txt, strlen(txt), &t, &err) >= 0 && t->cpu_millis == s->cpu_millis &&
                  t->memory_bytes == s->memory_bytes && t->cpu_request_millis == s->cpu_request_millis &&
                  t->memory_request_bytes == s->memory_request_bytes && t->priority == s->priority;
        Spec *d = spec_dup(s);
        ok = ok && d && d->cpu_request_millis == s->cpu_request_millis && d->priority == s->priority;
        spec_free(d);
        spec_free(t);
        free(txt);
        json_decref(j);
        return ok;
}

int main(void)
{
        BerthError err;
        Spec *s;

        s = parse("{\"cpu\":\"2\",\"memory\":\"1Gi\"}", NULL, &err);
        tap_ok(s && s->cpu_request_millis == 2000 && s->memory_request_bytes == (1u << 30) && s->priority == 0,
               "flat cpu/memory: requests equal the limits (old documents unchanged)");
        tap_ok(s && round_trips(s), "flat round-trips");
        spec_free(s);

        s = parse("{\"requests\":{\"cpu\":\"500m\",\"memory\":\"256Mi\"},\"limits\":{\"cpu\":2,\"memory\":\"1Gi\"}}",
                  "\"priority\":100", &err);
        tap_ok(s && s->cpu_millis == 2000 && s->cpu_request_millis == 500 && s->memory_bytes == (1u << 30) &&
               s->memory_request_bytes == (256u << 20) && s->priority == 100, "requests and limits, priority 100");
        tap_ok(s && round_trips(s), "requests/limits round-trip");
        spec_free(s);

        s = parse("{\"requests\":{\"memory\":\"64Mi\"}}", "\"priority\":-5", &err);
        tap_ok(s && s->memory_bytes == 0 && s->memory_request_bytes == (64u << 20) && s->priority == -5,
               "a request without a limit");
        tap_ok(s && round_trips(s), "request-only round-trips");
        spec_free(s);

        tap_ok(rejects("{\"requests\":{\"cpu\":\"3\"},\"cpu\":\"2\"}", NULL, "spec.resources.requests.cpu"),
               "request above limit names the field");
        tap_ok(rejects("{\"memory\":\"1Gi\",\"limits\":{\"memory\":\"1Gi\"}}", NULL, "spec.resources.limits.memory"),
               "flat and limits for one resource conflict");
        tap_ok(rejects("{\"requests\":{\"disk\":\"1\"}}", NULL, "spec.resources.requests"), "unknown request key");
        tap_ok(rejects("{\"requests\":{\"cpu\":\"lots\"}}", NULL, "spec.resources.requests.cpu"), "bad quantity");
        tap_ok(rejects(NULL, "\"priority\":\"high\"", "spec.priority"), "priority must be an integer");
        tap_ok(rejects(NULL, "\"priority\":2000000", "spec.priority"), "priority range");
        return tap_finish();
}
