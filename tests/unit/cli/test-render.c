/* SPDX-License-Identifier: Apache-2.0 */
/* Human output: tables, ages, the ls table, YAML rendering. */
#include "cli/berthctl.h"
#include "cli/list-table.h"
#include "cli/table.h"
#include "cli/yaml-out.h"
#include "lib/spec.h"
#include "tap.h"

static void test_table(void)
{
        _cleanup_(table_freep) Table *t = NULL;
        _cleanup_free_ char *s = NULL;
        size_t len;

        CHECK(table_new((const char *const[]){"NAME", "STATE", "X"}, 3, &t) == 0, "table_new");
        CHECK(table_add_row(t, (const char *const[]){"a-long-name", "running", "1"}) == 0, "row 1");
        CHECK(table_add_row(t, (const char *const[]){"b", NULL, "22"}) == 0, "row 2 with a NULL cell");
        CHECK(table_rows(t) == 2, "two rows");
        CHECK(table_render(t, &s, &len) == 0 && len == strlen(s), "render");
        CHECK_STREQ(s,
                    "NAME          STATE     X\n"
                    "a-long-name   running   1\n"
                    "b             -         22\n",
                    "columns aligned, 3 spaces apart, last column unpadded");
}

static void test_age(void)
{
        char b[32];
        usec_t now = 1795502412 * USEC_PER_SEC;

        CHECK_STREQ(format_age(b, sizeof(b), 0, now), "-", "0 is '-'");
        CHECK_STREQ(format_age(b, sizeof(b), now - 5 * USEC_PER_SEC, now), "5s ago", "5s");
        CHECK_STREQ(format_age(b, sizeof(b), now + 5 * USEC_PER_SEC, now), "0s ago", "future clamps to 0s");
        CHECK_STREQ(format_age(b, sizeof(b), now - 200 * USEC_PER_SEC, now), "3m ago", "3m");
        CHECK_STREQ(format_age(b, sizeof(b), now - 7300 * USEC_PER_SEC, now), "2h ago", "2h");
        CHECK_STREQ(format_age(b, sizeof(b), now - 4 * 86400 * USEC_PER_SEC, now), "4d ago", "4d");
}

static void test_ls_table(void)
{
        const char *js =
            "[{\"metadata\":{\"name\":\"web\"},\"spec\":{\"isolation\":\"container\"},"
            "\"status\":{\"state\":\"running\",\"exitCode\":null,\"signal\":null,\"pid\":4242,"
            "\"createdAt\":\"2026-11-24T06:40:00.000000Z\",\"startedAt\":\"2026-11-24T06:40:07.000000Z\"}},"
            "{\"metadata\":{\"name\":\"job\"},\"spec\":{\"isolation\":\"vm\"},"
            "\"status\":{\"state\":\"exited\",\"exitCode\":137,\"signal\":\"SIGKILL\",\"pid\":null,"
            "\"createdAt\":\"2026-11-24T04:40:12.000000Z\",\"startedAt\":null}}]";
        _cleanup_(json_decrefp) json_t *items = json_loads(js, 0, NULL);
        _cleanup_free_ char *s = NULL;
        usec_t now;
        size_t len;

        CHECK(items && parse_rfc3339("2026-11-24T06:40:12.000000Z", &now) == 0, "fixture");
        CHECK(list_table_render(items, now, &s, &len) == 0, "list_table_render");
        CHECK_STREQ(s,
                    "NAME   STATE     EXIT            PID    CREATED   STARTED   ISOLATION\n"
                    "web    running   -               4242   12s ago   5s ago    container\n"
                    "job    exited    137 (SIGKILL)   -      2h ago    -         vm\n",
                    "ls table");
}

static void expect_yaml(const char *json, const char *yaml, const char *what)
{
        _cleanup_(json_decrefp) json_t *j = json_loads(json, JSON_DECODE_ANY, NULL);
        _cleanup_free_ char *s = NULL;
        size_t len;

        CHECK(j && yaml_render(j, &s, &len) == 0, "%s: renders", what);
        CHECK_STREQ(s, yaml, "%s", what);
}

static void test_yaml(void)
{
        expect_yaml("{\"a\":1,\"b\":{\"c\":\"x\",\"d\":[1,\"two\",null,true]},\"e\":[],\"f\":{}}",
                    "a: 1\n"
                    "b:\n"
                    "  c: x\n"
                    "  d:\n"
                    "    - 1\n"
                    "    - two\n"
                    "    - null\n"
                    "    - true\n"
                    "e: []\n"
                    "f: {}\n",
                    "nested maps and lists");
        expect_yaml("{\"items\":[{\"name\":\"web\",\"num\":2},{\"name\":\"db\"}],\"l\":[[1,2],[]]}",
                    "items:\n"
                    "  - name: web\n"
                    "    num: 2\n"
                    "  - name: db\n"
                    "l:\n"
                    "  -\n"
                    "    - 1\n"
                    "    - 2\n"
                    "  - []\n",
                    "lists of maps and of lists");
        expect_yaml(
            "{\"s\":[\"\",\"true\",\"No\",\"null\",\"128Mi\",\"2026-11-24T06:40:12Z\",\"a: b\",\"x #y\","
            "\"-x\",\"line\\nbreak\",\"/bin/sh\",\"echo hi\",\"1.5\",\" pad\",\"q\\\"uote\",\"k:v\"]}",
            "s:\n"
            "  - \"\"\n"
            "  - \"true\"\n"
            "  - \"No\"\n"
            "  - \"null\"\n"
            "  - \"128Mi\"\n"
            "  - \"2026-11-24T06:40:12Z\"\n"
            "  - \"a: b\"\n"
            "  - \"x #y\"\n"
            "  - \"-x\"\n"
            "  - \"line\\nbreak\"\n"
            "  - /bin/sh\n"
            "  - echo hi\n"
            "  - \"1.5\"\n"
            "  - \" pad\"\n"
            "  - \"q\\\"uote\"\n"
            "  - k:v\n",
            "strings quoted exactly when a reader could misread them");
        expect_yaml("{\"weird key\":1,\"9\":2,\"app.kubernetes.io/name\":\"x\"}",
                    "weird key: 1\n"
                    "\"9\": 2\n"
                    "app.kubernetes.io/name: x\n",
                    "keys quoted like values");
        expect_yaml("{}", "{}\n", "empty top-level object");
        expect_yaml("\"x\"", "x\n", "top-level scalar");
}

/* The YAML we render reads back, through the daemon's own strict reader, as the same tree. */
static void test_yaml_roundtrip(void)
{
        const char *js =
            "{\"apiVersion\":\"berth/v1\",\"kind\":\"Workload\",\"metadata\":{\"name\":\"web\","
            "\"labels\":{\"app\":\"web\",\"tier\":\"1\"}},\"spec\":{\"isolation\":\"container\","
            "\"rootfs\":\"/srv/rootfs/busybox\",\"command\":[\"/bin/sh\",\"-c\",\"echo 'a: b' # x\"],"
            "\"env\":{\"GREETING\":\"yes\",\"EMPTY\":\"\",\"NUM\":\"007\"},\"workingDir\":\"/\","
            "\"resources\":{\"cpu\":\"500m\",\"memory\":\"128Mi\",\"pids\":64},"
            "\"restartPolicy\":\"Never\",\"network\":{\"mode\":\"none\"}}}";
        _cleanup_(json_decrefp) json_t *j = json_loads(js, 0, NULL), *back = NULL;
        _cleanup_free_ char *s = NULL;
        BerthError err = {};
        size_t len;
        int r;

        CHECK(j && yaml_render(j, &s, &len) == 0, "render a workload document");
        r = spec_yaml_to_json(s, len, &back, &err);
        CHECK(r >= 0, "spec_yaml_to_json reads it back (%s: %s)", err.field, err.message);
        CHECK(back && json_equal(j, back), "same tree after the round trip");
}

int main(void)
{
        test_table();
        test_age();
        test_ls_table();
        test_yaml();
        test_yaml_roundtrip();
        return tap_done();
}
