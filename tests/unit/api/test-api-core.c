/* SPDX-License-Identifier: Apache-2.0 */
/* The API core's parameter parsers and encoders, without any I/O. */
#include <signal.h>

#include "api/api-core.h"

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

static void test_signal(void)
{
        BerthError err = {};
        int sig = 0;

        CHECK(api_parse_signal("KILL", "signal", &sig, &err) == 0 && sig == SIGKILL);
        CHECK(api_parse_signal("SIGKILL", "signal", &sig, &err) == 0 && sig == SIGKILL);
        CHECK(api_parse_signal("9", "signal", &sig, &err) == 0 && sig == 9);
        CHECK(api_parse_signal("term", "signal", &sig, &err) == 0 && sig == SIGTERM);
        CHECK(api_parse_signal("SIGHUP", "signal", &sig, &err) == 0 && sig == SIGHUP);
        CHECK(api_parse_signal("NOPE", "signal", &sig, &err) == -EINVAL && streq(err.field, "signal"));
        CHECK(api_parse_signal("0", "signal", &sig, &err) == -EINVAL);
        CHECK(api_parse_signal("65", "signal", &sig, &err) == -EINVAL);
        CHECK(api_parse_signal("9x", "signal", &sig, &err) == -EINVAL);
        CHECK(api_parse_signal("", "signal", &sig, &err) == -EINVAL);
}

static void test_timeout(void)
{
        BerthError err = {};
        usec_t t = 0;

        CHECK(api_parse_timeout("10", "timeout", &t, &err) == 0 && t == 10 * USEC_PER_SEC);
        CHECK(api_parse_timeout("0", "timeout", &t, &err) == 0 && t == 0);
        CHECK(api_parse_timeout("2.5", "timeout", &t, &err) == 0 && t == 2500 * USEC_PER_MSEC);
        CHECK(api_parse_timeout("0.000001", "timeout", &t, &err) == 0 && t == 1);
        CHECK(api_parse_timeout("1.0000001", "timeout", &t, &err) == -EINVAL);
        CHECK(api_parse_timeout("-1", "timeout", &t, &err) == -EINVAL && streq(err.field, "timeout"));
        CHECK(api_parse_timeout("1.", "timeout", &t, &err) == -EINVAL);
        CHECK(api_parse_timeout("1e3", "timeout", &t, &err) == -EINVAL);
        CHECK(api_parse_timeout("99999999999999999999", "timeout", &t, &err) == -EINVAL);
        CHECK(api_parse_timeout("86401", "timeout", &t, &err) == -EINVAL);
}

static void test_bool_uint(void)
{
        BerthError err = {};
        bool b;
        uint64_t v;

        CHECK(api_parse_bool("1", "force", &b, &err) == 0 && b);
        CHECK(api_parse_bool("true", "force", &b, &err) == 0 && b);
        CHECK(api_parse_bool("0", "force", &b, &err) == 0 && !b);
        CHECK(api_parse_bool(NULL, "force", &b, &err) == 0 && !b);
        CHECK(api_parse_bool("2", "force", &b, &err) == -EINVAL && streq(err.field, "force"));
        CHECK(api_parse_uint64("18446744073709551615", "since", &v, &err) == 0 && v == UINT64_MAX);
        CHECK(api_parse_uint64("18446744073709551616", "since", &v, &err) == -EINVAL);
        CHECK(api_parse_uint64("-1", "since", &v, &err) == -EINVAL);
        CHECK(api_parse_uint64("", "since", &v, &err) == -EINVAL);
}

static void test_logs_parse_render(void)
{
        BerthError err = {};
        ApiLogRequest lr;
        LogRecord rec = { .time = 1000001, .stream = LOG_STREAM_STDOUT, .data = "abc", .len = 3 };
        char *buf = NULL;
        size_t len = 0, cap = 0;
        bool mid = false;

        CHECK(api_core_logs_parse("5", "1", "1", NULL, &lr, &err) == 0 && lr.tail_set && lr.tail == 5 &&
              lr.follow && lr.format == API_LOG_TIMESTAMPS);
        CHECK(api_core_logs_parse(NULL, NULL, NULL, "raw", &lr, &err) == 0 && lr.format == API_LOG_RAW);
        CHECK(api_core_logs_parse(NULL, NULL, NULL, "json", &lr, &err) == -EINVAL && streq(err.field, "format"));

        rec.partial = true;
        CHECK(api_log_record_render(&rec, API_LOG_TIMESTAMPS, &mid, &buf, &len, &cap) == 0 && mid);
        rec.partial = false;
        rec.data = "def";
        CHECK(api_log_record_render(&rec, API_LOG_TIMESTAMPS, &mid, &buf, &len, &cap) == 0 && !mid);
        CHECK(buf && streq(buf, "1970-01-01T00:00:01.000001Z abcdef\n"));
        len = 0;
        CHECK(api_log_record_render(&rec, API_LOG_PLAIN, &mid, &buf, &len, &cap) == 0 && streq(buf, "def\n"));
        free(buf);
}

static void test_encoders(void)
{
        BerthError err = {};
        BerthEvent ev = { .id = 12, .time = 1, .type = "started", .workload = "web" };
        ApiNode node = { .name = "n", .cgroup_version = 2, .cpus = 4 };
        json_t *j;
        char *s;

        berth_error_set(&err, -EINVAL, "spec.resources.memory", "\"12Xi\" is not a size");
        j = api_error_to_json(&err);
        s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
        CHECK(s && streq(s, "{\"code\":\"InvalidArgument\",\"field\":\"spec.resources.memory\","
                            "\"message\":\"\\\"12Xi\\\" is not a size\"}"));
        free(s);
        json_decref(j);
        err = (BerthError){};
        api_error_fill(&err, -ENOENT);
        j = api_error_to_json(&err);
        CHECK(j && json_is_null(json_object_get(j, "field")) &&
              streq(json_string_value(json_object_get(j, "code")), "NotFound"));
        json_decref(j);

        j = api_event_to_json(&ev);
        s = json_dumps(j, JSON_COMPACT);
        CHECK(s && streq(s, "{\"id\":12,\"time\":\"1970-01-01T00:00:00.000001Z\",\"type\":\"started\","
                            "\"workload\":\"web\",\"message\":null,\"caller\":null}"));
        free(s);
        json_decref(j);
        ev.caller = "uid=0 gid=0 pid=7";
        j = api_event_to_json(&ev);
        CHECK(j && streq(json_string_value(json_object_get(j, "caller")), "uid=0 gid=0 pid=7"));
        json_decref(j);

        node.workloads[WORKLOAD_RUNNING] = 3;
        node.workloads[WORKLOAD_EXITED] = 1;
        j = api_node_to_json(&node);
        CHECK(j && json_integer_value(json_object_get(json_object_get(j, "workloads"), "total")) == 4 &&
              json_integer_value(json_object_get(j, "cgroupVersion")) == 2 &&
              json_is_null(json_object_get(j, "startedAt")));
        json_decref(j);
}

/* POST /v1/workloads?start=: which backend call, and the errors naming "start". */
static int fake_calls[2]; /* [0] create (starts), [1] create2 with start false */
static Workload fake_workload;

static int fake_create(void *backend, Spec *spec, const Workload **ret, BerthError *err)
{
        fake_calls[0]++;
        spec_free(spec); /* the backend owns it on success */
        *ret = &fake_workload;
        return 0;
}

static int fake_create2(void *backend, Spec *spec, bool start, const Workload **ret, BerthError *err)
{
        fake_calls[start ? 0 : 1]++;
        spec_free(spec);
        *ret = &fake_workload;
        return 0;
}

static void test_create_start(void)
{
        static const char body[] = "{\"apiVersion\":\"berth/v1\",\"kind\":\"Workload\","
                                   "\"metadata\":{\"name\":\"w\"},"
                                   "\"spec\":{\"rootfs\":\"/\",\"command\":[\"/bin/true\"]}}";
        ApiBackendOps ops = { .create = fake_create, .create2 = fake_create2 };
        ApiCore c;
        const Workload *w = NULL;
        BerthError err = {};

        api_core_init(&c, &(ApiBackend){ .ops = &ops }, 0);
        CHECK(api_core_create2(&c, NULL, NULL, body, strlen(body), &w, &err) == 0 && fake_calls[0] == 1);
        CHECK(api_core_create2(&c, NULL, "1", body, strlen(body), &w, &err) == 0 && fake_calls[0] == 2);
        CHECK(api_core_create2(&c, NULL, "", body, strlen(body), &w, &err) == 0 && fake_calls[0] == 3);
        CHECK(api_core_create2(&c, NULL, "false", body, strlen(body), &w, &err) == 0 && fake_calls[1] == 1);
        CHECK(api_core_create2(&c, NULL, "0", body, strlen(body), &w, &err) == 0 && fake_calls[1] == 2);
        CHECK(api_core_create_as(&c, NULL, body, strlen(body), &w, &err) == 0 && fake_calls[0] == 4);
        CHECK(api_core_create2(&c, NULL, "maybe", body, strlen(body), &w, &err) == -EINVAL &&
              streq(err.field, "start"));
        CHECK(fake_calls[0] == 4 && fake_calls[1] == 2); /* nothing created for the 400 */
        ops.create2 = NULL; /* a backend without create-only */
        err = (BerthError){};
        CHECK(api_core_create2(&c, NULL, "no", body, strlen(body), &w, &err) == -EOPNOTSUPP &&
              streq(err.field, "start"));
        CHECK(api_core_create2(&c, NULL, "yes", body, strlen(body), &w, &err) == 0 && fake_calls[0] == 5);
}

int main(void)
{
        test_create_start();
        test_signal();
        test_timeout();
        test_bool_uint();
        test_logs_parse_render();
        test_encoders();
        printf("%d passed, %d failed\n", n_passed, n_failed);
        return n_failed ? 1 : 0;
}
