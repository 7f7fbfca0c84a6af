/* SPDX-License-Identifier: Apache-2.0 */
/* The pure part of the cluster store: key layout, value encodings and their
 * size limits, base64, the diff/batch table, txn bodies and backoff. */
#include <jansson.h>

#include "agent/cluster-codec.h"
#include "tests/unit/lib/tap.h"

static void test_keys(void)
{
        _cleanup_free_ char *n = cluster_key_node("/berth", "n1");
        _cleanup_free_ char *s = cluster_key_status("/berth", "n1", "web");
        _cleanup_free_ char *m = cluster_key_metrics("/berth", "n1");
        _cleanup_free_ char *a = cluster_key_assignments("/berth", "n1");
        _cleanup_free_ char *e = cluster_key_range_end(a);
        _cleanup_free_ char *sp = cluster_key_status_prefix("/x/y", "n1");

        tap_ok(streq(n, "/berth/nodes/n1"), "node key %s", n);
        tap_ok(streq(s, "/berth/status/n1/web"), "status key %s", s);
        tap_ok(streq(m, "/berth/metrics/n1"), "metrics key %s", m);
        tap_ok(streq(a, "/berth/assignments/n1/"), "assignments prefix %s", a);
        tap_ok(streq(e, "/berth/assignments/n10"), "range end increments the last byte: %s", e);
        tap_ok(streq(sp, "/x/y/status/n1/"), "status prefix under a nested prefix");
        tap_ok(streq_ptr(cluster_key_assignment_name(a, "/berth/assignments/n1/web"), "web"),
               "assignment name");
        tap_ok(!cluster_key_assignment_name(a, "/berth/assignments/n1/web/x"),
               "nested assignment key ignored");
        tap_ok(!cluster_key_assignment_name(a, "/berth/assignments/n1/"), "empty assignment name ignored");
        tap_ok(!cluster_key_assignment_name(a, "/berth/assignments/n10/web"), "sibling node's key ignored");
        tap_ok(cluster_node_name_is_valid("node-1.example"), "valid node name");
        tap_ok(!cluster_node_name_is_valid("a/b") && !cluster_node_name_is_valid("") &&
                   !cluster_node_name_is_valid(".."),
               "invalid node names");
        tap_ok(cluster_prefix_is_valid("/berth") && cluster_prefix_is_valid("/a/b"), "valid prefixes");
        tap_ok(!cluster_prefix_is_valid("berth") && !cluster_prefix_is_valid("/berth/") &&
                   !cluster_prefix_is_valid("//x") && !cluster_prefix_is_valid("/"),
               "invalid prefixes");
        char big[600];
        memset(big, 'a', sizeof(big) - 1);
        big[sizeof(big) - 1] = 0;
        char *k = cluster_key_status("/berth", "n1", big);
        tap_ok(!k, "over-long key refused");
        free(k);
}

static void test_base64(void)
{
        static const char *const v[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
        static const char *const e[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};

        for (size_t i = 0; i < ELEMENTSOF(v); i++) {
                _cleanup_free_ char *enc = cluster_base64_encode(v[i], strlen(v[i]));
                _cleanup_free_ char *dec = NULL;
                size_t l = 0;

                tap_ok(streq(enc, e[i]), "base64(\"%s\") = %s", v[i], enc);
                tap_ok(cluster_base64_decode(e[i], &dec, &l) == 0 && l == strlen(v[i]) && streq(dec, v[i]),
                       "decode %s", e[i]);
        }
        char *x = NULL;
        tap_ok(cluster_base64_decode("Zm9", &x, NULL) == -EINVAL, "truncated base64 refused");
        tap_ok(cluster_base64_decode("Zm=v", &x, NULL) == -EINVAL, "padding in the middle refused");
        tap_ok(cluster_base64_decode("Zm9*", &x, NULL) == -EINVAL, "bad character refused");
}

static void test_int64(void)
{
        json_t *j = json_pack("{s:s,s:i,s:s,s:b}", "a", "123456789012", "b", 5, "c", "12x", "d", 1);
        int64_t v;

        tap_ok(cluster_json_int64(j, "a", &v) == 0 && v == 123456789012LL, "int64 from a string");
        tap_ok(cluster_json_int64(j, "b", &v) == 0 && v == 5, "int64 from a number");
        tap_ok(cluster_json_int64(j, "missing", &v) == 0 && v == 0,
               "missing field is 0 (gateway omits zeros)");
        tap_ok(cluster_json_int64(j, "c", &v) == -EINVAL, "garbage refused");
        tap_ok(cluster_json_int64(j, "d", &v) == -EINVAL, "bool refused");
        json_decref(j);
}

static void test_values(void)
{
        char msg[2000];
        WorkloadStatus s = {
            .state = WORKLOAD_RUNNING, .restart_count = 2, .started_at = 1700000000ULL * USEC_PER_SEC};
        _cleanup_free_ char *v = cluster_status_encode(&s, 42);

        tap_ok(streq_ptr(v, "{\"state\":\"running\",\"restarts\":2,\"startedAt\":1700000000,\"rev\":42}"),
               "running status: %s", v);
        memset(msg, 'x', sizeof(msg) - 1);
        msg[sizeof(msg) - 1] = 0;
        s = (WorkloadStatus){.state = WORKLOAD_EXITED,
                             .exit_code = 137,
                             .term_signal = 9,
                             .oom_killed = true,
                             .reason = (char *)"OOMKilled",
                             .message = msg};
        _cleanup_free_ char *v2 = cluster_status_encode(&s, 0);
        tap_ok(v2 && strlen(v2) <= CLUSTER_STATUS_VALUE_MAX, "long message cut: %zu bytes",
               v2 ? strlen(v2) : 0);
        json_t *j = v2 ? json_loads(v2, 0, NULL) : NULL;
        tap_ok(j && json_integer_value(json_object_get(j, "exitCode")) == 137 &&
                   json_is_true(json_object_get(j, "oomKilled")) &&
                   strlen(json_string_value(json_object_get(j, "message"))) == CLUSTER_MESSAGE_MAX,
               "exited status fields");
        json_decref(j);

        _cleanup_free_ char *r = cluster_status_encode_rejected("InvalidArgument", "spec.rootfs: bad", 7);
        tap_ok(streq_ptr(
                   r,
                   "{\"state\":\"rejected\",\"reason\":\"InvalidArgument\",\"message\":\"spec.rootfs: bad\","
                   "\"rev\":7}"),
               "rejected status: %s", r);

        ApiNode node = {.version = "0.1.0",
                        .kernel = "6.1.0",
                        .cgroup_version = 2,
                        .cpus = 4,
                        .memory_total_bytes = 8ULL << 30,
                        .started_at = 1700000000ULL * USEC_PER_SEC};
        ClusterNodeInfo info = {
            .node = &node, .labels = "zone=a,rack=r1", .api = "unix:///run/berth/berthd.sock"};
        _cleanup_free_ char *nv = cluster_node_encode(&info);
        tap_ok(nv && strlen(nv) <= CLUSTER_NODE_VALUE_MAX, "registration %zu bytes: %s", nv ? strlen(nv) : 0,
               strempty(nv));
        j = nv ? json_loads(nv, 0, NULL) : NULL;
        tap_ok(j && json_integer_value(json_object_get(json_object_get(j, "capacity"), "cpu")) == 4000 &&
                   json_integer_value(json_object_get(json_object_get(j, "allocatable"), "memory")) ==
                       (json_int_t)(8ULL << 30) &&
                   streq_ptr(json_string_value(json_object_get(json_object_get(j, "labels"), "zone")), "a"),
               "registration fields");
        json_decref(j);

        ApiNodeResource res[] = {{.name = "cpu", .capacity = 4000, .allocatable = 3500},
                                 {.name = "memory", .capacity = 8ULL << 30, .allocatable = 7ULL << 30}};
        node.has_scheduler = true;
        node.resources = res;
        node.n_resources = 2;
        _cleanup_free_ char *nv2 = cluster_node_encode(&info);
        j = nv2 ? json_loads(nv2, 0, NULL) : NULL;
        tap_ok(j && json_integer_value(json_object_get(json_object_get(j, "allocatable"), "cpu")) == 3500 &&
                   json_integer_value(json_object_get(json_object_get(j, "allocatable"), "memory")) ==
                       (json_int_t)(7ULL << 30),
               "allocatable from the scheduler's ledger: %s", strempty(nv2));
        json_decref(j);

        ClusterMetrics m = {
            .time = 1700000000ULL * USEC_PER_SEC, .load1 = 0.123, .memory_available_bytes = 5ULL << 30};
        m.workloads[WORKLOAD_RUNNING] = 3;
        _cleanup_free_ char *mv = cluster_metrics_encode(&m);
        tap_ok(
            streq_ptr(mv,
                      "{\"t\":1700000000,\"workloads\":{\"running\":3},\"load1\":0.12,\"memAvailMi\":5120}"),
            "metrics snapshot: %s", mv);
}

static void test_table(void)
{
        ClusterTable t = {};
        size_t idx[8], n;

        cluster_table_begin(&t);
        cluster_table_want(&t, "/k/a", "1");
        cluster_table_want(&t, "/k/b", "2");
        n = cluster_table_pending(&t, idx, 8);
        tap_ok(n == 2, "two new keys pending");
        _cleanup_free_ char *body = cluster_txn_build(&t, idx, n, 77, "/k/a");
        json_t *j = json_loads(body, 0, NULL);
        tap_ok(j && json_array_size(json_object_get(j, "compare")) == 2 &&
                   json_array_size(json_object_get(j, "success")) == 2,
               "txn: a compare per key, no lease compare on an absent fence key");
        tap_ok(
            streq_ptr(json_string_value(json_object_get(
                          json_object_get(json_array_get(json_object_get(j, "success"), 0), "request_put"),
                          "lease")),
                      "77"),
            "puts carry the lease");
        json_decref(j);
        cluster_table_commit(&t, idx, n, 10);
        tap_ok(!cluster_table_dirty(&t), "clean after commit");

        cluster_table_begin(&t);
        cluster_table_want(&t, "/k/a", "1");
        cluster_table_want(&t, "/k/b", "2");
        tap_ok(!cluster_table_dirty(&t), "same values: nothing to write");

        cluster_table_begin(&t);
        cluster_table_want(&t, "/k/a", "1");
        cluster_table_want(&t, "/k/b", "3");
        cluster_table_want(&t, "/k/c", "4");
        n = cluster_table_pending(&t, idx, 8);
        tap_ok(n == 2 && streq(t.entries[idx[0]].key, "/k/b") && streq(t.entries[idx[1]].key, "/k/c"),
               "only the changed and the new key");
        body = (free(body), cluster_txn_build(&t, idx, n, 77, "/k/a"));
        j = json_loads(body, 0, NULL);
        json_t *c0 = json_array_get(json_object_get(j, "compare"), 0),
               *c1 = json_array_get(json_object_get(j, "compare"), 1);
        tap_ok(streq_ptr(json_string_value(json_object_get(c0, "target")), "MOD") &&
                   streq_ptr(json_string_value(json_object_get(c0, "mod_revision")), "10") &&
                   streq_ptr(json_string_value(json_object_get(c1, "target")), "LEASE") &&
                   streq_ptr(json_string_value(json_object_get(c1, "lease")), "77"),
               "fence: the registration's mod_revision and lease are compared");
        json_decref(j);
        cluster_table_commit(&t, idx, n, 11);

        /* A key no longer wanted is deleted, guarded by its revision. */
        cluster_table_begin(&t);
        cluster_table_want(&t, "/k/a", "1");
        cluster_table_want(&t, "/k/c", "4");
        n = cluster_table_pending(&t, idx, 8);
        tap_ok(n == 1 && streq(t.entries[idx[0]].key, "/k/b") && !t.entries[idx[0]].wanted,
               "vanished key deleted");
        body = (free(body), cluster_txn_build(&t, idx, n, 77, "/k/a"));
        tap_ok(strstr(body, "request_delete_range") != NULL, "delete op in the txn");
        cluster_table_commit(&t, idx, n, 12);
        tap_ok(t.n == 2 && !cluster_table_find(&t, "/k/b"), "deleted entry dropped");

        /* Coalescing: many changes between two flushes give one write of the last value. */
        for (int i = 0; i < 100; i++) {
                char v[16];
                snprintf(v, sizeof(v), "v%d", i);
                cluster_table_begin(&t);
                cluster_table_want(&t, "/k/a", v);
                cluster_table_want(&t, "/k/c", "4");
        }
        n = cluster_table_pending(&t, idx, 8);
        tap_ok(n == 1 && streq(t.entries[idx[0]].want, "v99"),
               "100 changes coalesce into one write of the last");
        cluster_table_commit(&t, idx, n, 13);

        /* After a new lease: everything unknown, learned keys get their revisions, stale ones deleted. */
        cluster_table_forget(&t);
        cluster_table_learn(&t, "/k/c", 12);
        cluster_table_learn(&t, "/k/old", 5);
        cluster_table_begin(&t);
        cluster_table_want(&t, "/k/a", "v99");
        cluster_table_want(&t, "/k/c", "4");
        n = cluster_table_pending(&t, idx, 8);
        tap_ok(n == 3, "resync rewrites everything and deletes the stale key (%zu)", n);
        bool ok = true;
        for (size_t i = 0; i < n; i++) {
                const ClusterEntry *e = &t.entries[idx[i]];
                if (streq(e->key, "/k/a"))
                        ok = ok && e->mod_rev == 0;
                if (streq(e->key, "/k/c"))
                        ok = ok && e->mod_rev == 12;
                if (streq(e->key, "/k/old"))
                        ok = ok && e->mod_rev == 5 && !e->wanted;
        }
        tap_ok(ok, "compares use the learned revisions");
        n = cluster_table_pending(&t, idx, 2);
        tap_ok(n == 2, "batch bounded by max");
        cluster_table_done(&t);

        /* A registration learned from a previous incarnation: guarded by its revision only. */
        cluster_table_learn(&t, "/n", 5);
        cluster_table_begin(&t);
        cluster_table_want(&t, "/n", "x");
        n = cluster_table_pending(&t, idx, 8);
        body = (free(body), cluster_txn_build(&t, idx, n, 99, "/n"));
        tap_ok(n == 1 && body && !strstr(body, "LEASE") && strstr(body, "\"mod_revision\":\"5\""),
               "learned registration: MOD compare only: %s", strempty(body));
        cluster_table_commit(&t, idx, n, 6);
        cluster_table_begin(&t);
        cluster_table_want(&t, "/other", "y");
        cluster_table_want(&t, "/n", "x");
        n = cluster_table_pending(&t, idx, 8);
        body = (free(body), cluster_txn_build(&t, idx, n, 99, "/n"));
        tap_ok(n == 1 && body && strstr(body, "LEASE") && strstr(body, "\"lease\":\"99\""),
               "written registration: lease compared too");
        cluster_table_done(&t);
}

static void test_backoff(void)
{
        usec_t i0 = USEC_PER_SEC / 2, mx = 30 * USEC_PER_SEC;

        tap_ok(cluster_backoff_delay(0, i0, mx, 0) == i0 / 2 && cluster_backoff_delay(0, i0, mx, 0.999) < i0,
               "first delay within [initial/2, initial)");
        tap_ok(cluster_backoff_delay(3, i0, mx, 0) == 2 * USEC_PER_SEC, "exponential");
        tap_ok(cluster_backoff_delay(50, i0, mx, 0.999) < mx &&
                   cluster_backoff_delay(50, i0, mx, 0) == mx / 2,
               "capped at max");
        tap_ok(cluster_backoff_delay(5, i0, mx, 0.1) != cluster_backoff_delay(5, i0, mx, 0.9),
               "jitter matters");
}

int main(void)
{
        test_keys();
        test_base64();
        test_int64();
        test_values();
        test_table();
        test_backoff();
        return tap_finish();
}
