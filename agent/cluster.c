/* SPDX-License-Identifier: Apache-2.0 */
/* The cluster session: lease, sync, publish, watch (docs/CLUSTER.md).
 *
 *   DISCONNECTED --timer--> CONNECTING: probe the old lease (keepalive) or
 *   grant one; read back what etcd holds for this node (one txn of ranges);
 *   publish everything that differs (one fenced txn) --> CONNECTED: keepalive
 *   every TTL/3, at most one txn per interval, the assignments watch.
 *   Any transport failure, a lost lease or a broken watch cancels everything
 *   in flight and goes back to DISCONNECTED on the next endpoint, after a
 *   jittered exponential backoff. Workloads are never touched by any of it. */
#include <inttypes.h>
#include <sys/random.h>

#include "agent/cluster-assign.h"
#include "agent/cluster-codec.h"
#include "agent/cluster-http.h"
#include "agent/cluster.h"
#include "api/api-core.h"
#include "lib/log.h"

#define BACKOFF_INITIAL (500 * USEC_PER_MSEC)
#define BACKOFF_MAX (30 * USEC_PER_SEC)
#define METRICS_PERIOD (60 * USEC_PER_SEC)

struct Cluster {
        sd_event *event;
        const Config *config;
        ApiCore core;
        ClusterHttp *http;
        ClusterState state;
        size_t endpoint;
        size_t n_endpoints;
        char *key_node, *key_metrics, *status_prefix, *status_end, *assign_prefix, *assign_end, *api_url;

        int64_t lease;
        int64_t old_lease; /* the lease before a regrant: its keys are ours too */
        bool ever_connected;
        unsigned backoff_step;
        sd_event_source *reconnect_timer, *keepalive_timer, *flush_timer;
        ClusterRequest *req; /* the session step in flight (probe, grant, sync, relist) */
        ClusterRequest *req_txn, *req_keepalive, *req_watch;
        size_t txn_idx[CLUSTER_TXN_OPS_MAX];
        size_t txn_n;
        usec_t last_txn;

        ClusterTable table;
        ClusterAssign assign;
        ApiWatch *events;
        ClusterMetrics metrics_pub;
        usec_t metrics_time;

        uint64_t n_txns, n_txn_bytes, n_txn_conflicts, n_keepalives, n_reconnects, n_relists, n_watch_events;
};

static const char *const state_names[_CLUSTER_STATE_MAX] = {
    [CLUSTER_DISCONNECTED] = "disconnected",
    [CLUSTER_CONNECTING] = "connecting",
    [CLUSTER_CONNECTED] = "connected",
    [CLUSTER_FENCED] = "fenced",
};

const char *cluster_state_to_string(ClusterState s)
{
        return s >= 0 && s < _CLUSTER_STATE_MAX ? state_names[s] : "?";
}

ClusterState cluster_get_state(const Cluster *c)
{
        return c ? c->state : _CLUSTER_STATE_INVALID;
}

static usec_t now_mono(Cluster *c)
{
        usec_t t = 0;
        (void)sd_event_now(c->event, CLOCK_MONOTONIC, &t);
        return t;
}

static char *url(Cluster *c, const char *path)
{
        const char *e = c->config->cluster_endpoints[c->endpoint];
        size_t l = strlen(e);
        char *s;

        while (l > 0 && e[l - 1] == '/')
                l--;
        if (asprintf(&s, "%.*s%s", (int)l, e, path) < 0)
                return NULL;
        return s;
}

static int post(Cluster *c, const char *path, const char *body, usec_t timeout, ClusterRequestLine line,
                ClusterRequestDone done, ClusterRequest **ret)
{
        _cleanup_free_ char *u = url(c, path);

        if (!u)
                return -ENOMEM;
        return cluster_http_post(c->http, u, body, timeout, line, done, c, ret);
}

static usec_t request_timeout(Cluster *c)
{
        usec_t t = c->config->cluster_lease_ttl / 3;
        return t < USEC_PER_SEC ? USEC_PER_SEC : t;
}

/* Parses a unary gateway answer; NULL (and a log line) when it is an error. */
static json_t *parse_answer(Cluster *c, const char *what, int error, long status, const char *body,
                            size_t len)
{
        json_t *j;

        if (error < 0) {
                log_debug_errno(error, "cluster: %s on %s failed: %m", what,
                                c->config->cluster_endpoints[c->endpoint]);
                return NULL;
        }
        j = json_loadb(body, len, 0, NULL);
        if (status != 200 || !j || json_object_get(j, "error")) {
                log_debug("cluster: %s on %s: HTTP %ld: %.200s", what,
                          c->config->cluster_endpoints[c->endpoint], status, body);
                json_decref(j);
                return NULL;
        }
        return j;
}

static void session_connect(Cluster *c);
static void schedule_flush(Cluster *c, bool soon);

static double random_unit(void)
{
        uint32_t v = 0;
        if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != sizeof(v))
                v = (uint32_t)now_usec(CLOCK_MONOTONIC);
        return (double)v / 4294967296.0;
}

static void session_stop(Cluster *c)
{
        cluster_request_cancel(c->req);
        cluster_request_cancel(c->req_txn);
        cluster_request_cancel(c->req_keepalive);
        cluster_request_cancel(c->req_watch);
        c->req = c->req_txn = c->req_keepalive = c->req_watch = NULL;
        (void)sd_event_source_set_enabled(c->keepalive_timer, SD_EVENT_OFF);
        (void)sd_event_source_set_enabled(c->flush_timer, SD_EVENT_OFF);
}

/* Something failed: drop the session, move to the next endpoint, retry
 * after a jittered backoff. What is unsent stays in the table (one value per
 * key: coalesced, bounded) and goes out on the next connect. */
static void session_fail(Cluster *c, ClusterState state, const char *why)
{
        /* Capped at the lease TTL: a node should be back within about one TTL of etcd's return. */
        usec_t max = MIN(BACKOFF_MAX, MAX(c->config->cluster_lease_ttl, 2 * BACKOFF_INITIAL));
        usec_t delay = cluster_backoff_delay(c->backoff_step, BACKOFF_INITIAL, max, random_unit());

        session_stop(c);
        if (c->state == CLUSTER_CONNECTED)
                log_warning("cluster: lost the connection to %s (%s); workloads keep running, retrying",
                            c->config->cluster_endpoints[c->endpoint], why);
        else
                log_debug("cluster: %s on %s, retrying in %" PRIu64 " ms", why,
                          c->config->cluster_endpoints[c->endpoint], delay / USEC_PER_MSEC);
        c->state = state;
        c->backoff_step++;
        c->endpoint = (c->endpoint + 1) % c->n_endpoints;
        (void)sd_event_source_set_time(c->reconnect_timer, now_mono(c) + delay);
        (void)sd_event_source_set_enabled(c->reconnect_timer, SD_EVENT_ONESHOT);
}

static int on_reconnect_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        Cluster *c = userdata;

        c->n_reconnects++;
        session_connect(c);
        return 0;
}

/* ---- publishing ---- */

static void read_load(double *load1)
{
        _cleanup_fclose_ FILE *f = fopen("/proc/loadavg", "re");

        *load1 = 0;
        if (f && fscanf(f, "%lf", load1) != 1)
                *load1 = 0;
}

/* Puts the node's current state into the table as this round's wants. */
static int build_round(Cluster *c)
{
        _cleanup_free_ const Workload **list = NULL;
        ClusterMetrics m = {};
        size_t n = 0;
        ApiNode node;
        int r;

        cluster_table_begin(&c->table);
        r = api_core_node(&c->core, &node, NULL);
        if (r < 0)
                return r;
        ClusterNodeInfo info = {.node = &node, .labels = c->config->cluster_labels, .api = c->api_url};
        _cleanup_free_ char *nv = cluster_node_encode(&info);
        if (!nv || (r = cluster_table_want(&c->table, c->key_node, nv)) < 0)
                return nv ? r : -ENOMEM;

        r = api_core_list(&c->core, &list, &n, NULL);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                const char *name = list[i]->spec->name;
                ClusterAssigned *x = cluster_assign_find(&c->assign, name);
                _cleanup_free_ char *k =
                    cluster_key_status(c->config->cluster_prefix, c->config->cluster_node, name);
                _cleanup_free_ char *v = cluster_status_encode(&list[i]->status, x && x->local ? x->rev : 0);

                if (!k || !v)
                        continue;
                if ((r = cluster_table_want(&c->table, k, v)) < 0)
                        return r;
                if (list[i]->status.state >= 0 && list[i]->status.state < _WORKLOAD_STATE_MAX)
                        m.workloads[list[i]->status.state]++;
        }
        for (size_t i = 0; i < c->assign.n_items; i++) {
                const ClusterAssigned *x = &c->assign.items[i];
                _cleanup_free_ char *k = NULL, *v = NULL;
                const Workload *w;

                if (!x->reason || api_core_get(&c->core, x->name, &w, NULL) >= 0)
                        continue;
                k = cluster_key_status(c->config->cluster_prefix, c->config->cluster_node, x->name);
                v = cluster_status_encode_rejected(x->reason, x->message, x->rev);
                if (!k || !v)
                        continue;
                if ((r = cluster_table_want(&c->table, k, v)) < 0)
                        return r;
                m.rejected++;
        }

        /* The metrics snapshot changes with every reading; it is rewritten
         * when the counts change, else at most once per METRICS_PERIOD. */
        usec_t now = now_mono(c);
        ClusterEntry *me = cluster_table_find(&c->table, c->key_metrics);
        if (!me || !me->want || memcmp(m.workloads, c->metrics_pub.workloads, sizeof(m.workloads)) != 0 ||
            m.rejected != c->metrics_pub.rejected || now >= c->metrics_time + METRICS_PERIOD) {
                m.time = now_usec(CLOCK_REALTIME);
                m.memory_available_bytes = node.memory_available_bytes;
                read_load(&m.load1);
                _cleanup_free_ char *mv = cluster_metrics_encode(&m);
                if (!mv)
                        return -ENOMEM;
                if ((r = cluster_table_want(&c->table, c->key_metrics, mv)) < 0)
                        return r;
                c->metrics_pub = m;
                c->metrics_time = now;
        } else
                cluster_table_keep(&c->table, c->key_metrics);
        return 0;
}

static void on_txn(ClusterRequest *req, int error, long status, const char *body, size_t len, void *userdata)
{
        Cluster *c = userdata;
        json_t *j;
        int64_t rev = 0;

        c->req_txn = NULL;
        j = parse_answer(c, "txn", error, status, body, len);
        if (!j) {
                session_fail(c, CLUSTER_DISCONNECTED, "txn failed");
                return;
        }
        (void)cluster_json_int64(json_object_get(j, "header"), "revision", &rev);
        if (!json_is_true(json_object_get(j, "succeeded"))) {
                json_decref(j);
                /* A compare failed: the lease is gone or someone else wrote
                 * our keys. Never overwrite blindly: re-probe and re-read. */
                c->n_txn_conflicts++;
                log_notice("cluster: a guarded write was refused (lease lost or keys changed); resyncing");
                session_fail(c, CLUSTER_DISCONNECTED, "guarded write refused");
                return;
        }
        json_decref(j);
        cluster_table_commit(&c->table, c->txn_idx, c->txn_n, rev);
        c->txn_n = 0;
        if (c->state == CLUSTER_CONNECTING) {
                c->state = CLUSTER_CONNECTED;
                c->backoff_step = 0;
                c->ever_connected = true;
                log_info("cluster: node %s registered on %s (lease %" PRId64 ", revision %" PRId64 ")",
                         c->config->cluster_node, c->config->cluster_endpoints[c->endpoint], c->lease, rev);
        }
        schedule_flush(c, false);
}

/* Sends at most one txn with what changed. force: ignore the interval (connect). */
static void flush(Cluster *c, bool force)
{
        _cleanup_free_ char *body = NULL;
        int r;

        if (c->req_txn || (c->state != CLUSTER_CONNECTED && !force))
                return;
        if (!force && c->last_txn && now_mono(c) < c->last_txn + c->config->cluster_interval) {
                schedule_flush(c, true);
                return;
        }
        r = build_round(c);
        if (r < 0) {
                log_warning_errno(r, "cluster: cannot build the status report: %m");
                return;
        }
        c->txn_n = cluster_table_pending(&c->table, c->txn_idx, ELEMENTSOF(c->txn_idx));
        if (c->txn_n == 0) {
                if (force) { /* nothing to write: still fenced-check the registration */
                        c->state = CLUSTER_CONNECTED;
                        c->backoff_step = 0;
                        c->ever_connected = true;
                }
                schedule_flush(c, false);
                return;
        }
        body = cluster_txn_build(&c->table, c->txn_idx, c->txn_n, c->lease, c->key_node);
        if (!body)
                return;
        r = post(c, "/v3/kv/txn", body, request_timeout(c), NULL, on_txn, &c->req_txn);
        if (r < 0) {
                session_fail(c, CLUSTER_DISCONNECTED, "cannot send a txn");
                return;
        }
        c->n_txns++;
        c->n_txn_bytes += strlen(body);
        c->last_txn = now_mono(c);
}

static int on_flush_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        Cluster *c = userdata;

        flush(c, false);
        if (!c->req_txn && c->state == CLUSTER_CONNECTED)
                schedule_flush(c, false);
        return 0;
}

/* soon: a change is known, write at the earliest the interval allows;
 * else: the periodic check one interval after the last write. */
static void schedule_flush(Cluster *c, bool soon)
{
        usec_t now = now_mono(c), when, cur = 0;
        int enabled = SD_EVENT_OFF;

        if (c->state != CLUSTER_CONNECTED)
                return;
        /* Never in the past: an idle node checks once per interval, not in a loop. */
        when = MAX(now, c->last_txn) + c->config->cluster_interval;
        if (soon)
                when = MAX(now, c->last_txn ? c->last_txn + c->config->cluster_interval : now);
        (void)sd_event_source_get_enabled(c->flush_timer, &enabled);
        (void)sd_event_source_get_time(c->flush_timer, &cur);
        if (enabled != SD_EVENT_OFF && cur <= when && cur > now)
                return;
        (void)sd_event_source_set_time(c->flush_timer, when);
        (void)sd_event_source_set_enabled(c->flush_timer, SD_EVENT_ONESHOT);
}

static void on_local_change(void *userdata)
{
        schedule_flush(userdata, true);
}

static void on_event(void *userdata, const BerthEvent *ev, int error)
{
        Cluster *c = userdata;

        if (!ev) {
                c->events = NULL;
                return;
        }
        schedule_flush(c, true);
}

/* ---- keepalive ---- */

static void on_keepalive(ClusterRequest *req, int error, long status, const char *body, size_t len,
                         void *userdata)
{
        Cluster *c = userdata;
        json_t *j;
        int64_t ttl = 0;

        c->req_keepalive = NULL;
        j = parse_answer(c, "keepalive", error, status, body, len);
        if (!j) {
                session_fail(c, CLUSTER_DISCONNECTED, "keepalive failed");
                return;
        }
        (void)cluster_json_int64(json_object_get(j, "result"), "TTL", &ttl);
        json_decref(j);
        if (ttl <= 0) {
                log_warning("cluster: lease %" PRId64 " expired; registering again", c->lease);
                session_stop(c);
                c->old_lease = c->lease;
                c->lease = 0;
                c->state = CLUSTER_CONNECTING;
                session_connect(c);
                return;
        }
        c->n_keepalives++;
}

static int on_keepalive_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        Cluster *c = userdata;
        char body[64];

        (void)sd_event_source_set_time(s, usec + c->config->cluster_lease_ttl / 3);
        if (c->req_keepalive || c->state != CLUSTER_CONNECTED)
                return 0;
        snprintf(body, sizeof(body), "{\"ID\":\"%" PRId64 "\"}", c->lease);
        if (post(c, "/v3/lease/keepalive", body, request_timeout(c), NULL, on_keepalive, &c->req_keepalive) <
            0)
                session_fail(c, CLUSTER_DISCONNECTED, "cannot send a keepalive");
        return 0;
}

/* ---- watch ---- */

static void watch_start(Cluster *c);

static int64_t kv_int(const json_t *kv, const char *f)
{
        int64_t v = 0;
        (void)cluster_json_int64(kv, f, &v);
        return v;
}

static char *kv_string(const json_t *kv, const char *f, size_t *len)
{
        const char *s = json_string_value(json_object_get(kv, f));
        char *out = NULL;

        if (cluster_base64_decode(s ?: "", &out, len) < 0)
                return NULL;
        return out;
}

static void on_relist(ClusterRequest *req, int error, long status, const char *body, size_t len,
                      void *userdata)
{
        Cluster *c = userdata;
        _cleanup_strv_free_ char **names = NULL;
        size_t n = 0;
        int64_t rev = 0;
        json_t *j, *kv;
        size_t i;

        c->req = NULL;
        j = parse_answer(c, "relist", error, status, body, len);
        if (!j) {
                session_fail(c, CLUSTER_DISCONNECTED, "relist failed");
                return;
        }
        (void)cluster_json_int64(json_object_get(j, "header"), "revision", &rev);
        names = calloc(json_array_size(json_object_get(j, "kvs")) + 1, sizeof(char *));
        json_array_foreach(json_object_get(j, "kvs"), i, kv)
        {
                _cleanup_free_ char *key = kv_string(kv, "key", NULL), *value = NULL;
                const char *name = key ? cluster_key_assignment_name(c->assign_prefix, key) : NULL;
                ClusterAssigned *x;
                size_t vl = 0;

                if (!name || !names)
                        continue;
                names[n++] = strdup(name);
                x = cluster_assign_find(&c->assign, name);
                if (x && x->rev >= kv_int(kv, "mod_revision"))
                        continue;
                value = kv_string(kv, "value", &vl);
                if (value)
                        (void)cluster_assign_queue(&c->assign, name, value, vl, kv_int(kv, "mod_revision"));
        }
        json_decref(j);
        if (names)
                (void)cluster_assign_queue_vanished(&c->assign, names, n, rev);
        c->n_relists++;
        log_info("cluster: listed %zu assignments at revision %" PRId64, n, rev);
        c->assign.applied_rev = rev;
        cluster_assign_process(&c->assign);
        (void)cluster_assign_save(&c->assign);
        watch_start(c);
}

static void relist(Cluster *c)
{
        _cleanup_free_ char *k = cluster_base64_encode(c->assign_prefix, strlen(c->assign_prefix));
        _cleanup_free_ char *e = cluster_base64_encode(c->assign_end, strlen(c->assign_end));
        _cleanup_free_ char *body = NULL;

        cluster_request_cancel(c->req_watch);
        c->req_watch = NULL;
        if (!k || !e || asprintf(&body, "{\"key\":\"%s\",\"range_end\":\"%s\"}", k, e) < 0)
                return;
        if (post(c, "/v3/kv/range", body, request_timeout(c), NULL, on_relist, &c->req) < 0)
                session_fail(c, CLUSTER_DISCONNECTED, "cannot relist");
}

static void on_watch_line(ClusterRequest *req, const char *line, size_t len, void *userdata)
{
        Cluster *c = userdata;
        json_t *j = json_loadb(line, len, 0, NULL), *res, *ev;
        int64_t compact = 0;
        size_t i;

        if (!j)
                return;
        res = json_object_get(j, "result");
        (void)cluster_json_int64(res, "compact_revision", &compact);
        if (compact > 0 || json_is_true(json_object_get(res, "canceled")) || json_object_get(j, "error")) {
                log_notice("cluster: the assignments watch was %s (compacted at %" PRId64 "); relisting",
                           compact > 0 ? "compacted" : "canceled", compact);
                json_decref(j);
                relist(c); /* cancels this request: safe, we run outside libcurl */
                return;
        }
        json_array_foreach(json_object_get(res, "events"), i, ev)
        {
                const json_t *kv = json_object_get(ev, "kv");
                _cleanup_free_ char *key = kv_string(kv, "key", NULL), *value = NULL;
                const char *name = key ? cluster_key_assignment_name(c->assign_prefix, key) : NULL;
                int64_t rev = kv_int(kv, "mod_revision");
                bool del = streq_ptr(json_string_value(json_object_get(ev, "type")), "DELETE");
                size_t vl = 0;

                c->n_watch_events++;
                if (rev <= c->assign.applied_rev)
                        continue; /* already applied (resumed watch, failover) */
                c->assign.applied_rev = rev;
                if (!name)
                        continue;
                if (!del)
                        value = kv_string(kv, "value", &vl);
                if (!del && !value)
                        continue;
                (void)cluster_assign_queue(&c->assign, name, value, vl, rev);
        }
        json_decref(j);
        cluster_assign_process(&c->assign);
        (void)cluster_assign_save(&c->assign);
}

static void on_watch_done(ClusterRequest *req, int error, long status, const char *body, size_t len,
                          void *userdata)
{
        Cluster *c = userdata;

        c->req_watch = NULL;
        session_fail(c, CLUSTER_DISCONNECTED, "the assignments watch ended");
}

static void watch_start(Cluster *c)
{
        _cleanup_free_ char *k = cluster_base64_encode(c->assign_prefix, strlen(c->assign_prefix));
        _cleanup_free_ char *e = cluster_base64_encode(c->assign_end, strlen(c->assign_end));
        _cleanup_free_ char *body = NULL;

        if (c->assign.applied_rev == 0) {
                relist(c);
                return;
        }
        if (!k || !e ||
            asprintf(&body,
                     "{\"create_request\":{\"key\":\"%s\",\"range_end\":\"%s\",\"start_revision\":\"%" PRId64
                     "\"}}",
                     k, e, c->assign.applied_rev + 1) < 0)
                return;
        if (post(c, "/v3/watch", body, 0, on_watch_line, on_watch_done, &c->req_watch) < 0)
                session_fail(c, CLUSTER_DISCONNECTED, "cannot start the watch");
}

/* ---- connect: probe/grant, sync, publish ---- */

static void on_sync(ClusterRequest *req, int error, long status, const char *body, size_t len,
                    void *userdata)
{
        Cluster *c = userdata;
        json_t *j, *resp, *kv;
        size_t i, k;

        c->req = NULL;
        j = parse_answer(c, "sync", error, status, body, len);
        if (!j) {
                session_fail(c, CLUSTER_DISCONNECTED, "sync failed");
                return;
        }
        cluster_table_forget(&c->table);
        json_array_foreach(json_object_get(j, "responses"), k, resp)
        {
                json_array_foreach(json_object_get(json_object_get(resp, "response_range"), "kvs"), i, kv)
                {
                        _cleanup_free_ char *key = kv_string(kv, "key", NULL);
                        int64_t lease = kv_int(kv, "lease");

                        if (!key)
                                continue;
                        if (streq(key, c->key_node) && lease != 0 && lease != c->lease &&
                            lease != c->old_lease && c->ever_connected) {
                                json_decref(j);
                                log_error("cluster: node name %s is registered under another live lease "
                                          "(%" PRId64 "); not overwriting it",
                                          c->config->cluster_node, lease);
                                session_fail(c, CLUSTER_FENCED, "fenced");
                                return;
                        }
                        (void)cluster_table_learn(&c->table, key, kv_int(kv, "mod_revision"));
                }
        }
        json_decref(j);
        /* Re-register and re-publish everything under the current lease. */
        flush(c, true);
        (void)sd_event_source_set_time(c->keepalive_timer, now_mono(c) + c->config->cluster_lease_ttl / 3);
        (void)sd_event_source_set_enabled(c->keepalive_timer, SD_EVENT_ON);
        watch_start(c);
}

static void sync_start(Cluster *c)
{
        _cleanup_free_ char *n = cluster_base64_encode(c->key_node, strlen(c->key_node));
        _cleanup_free_ char *m = cluster_base64_encode(c->key_metrics, strlen(c->key_metrics));
        _cleanup_free_ char *s = cluster_base64_encode(c->status_prefix, strlen(c->status_prefix));
        _cleanup_free_ char *se = cluster_base64_encode(c->status_end, strlen(c->status_end));
        _cleanup_free_ char *body = NULL;

        if (!n || !m || !s || !se ||
            asprintf(&body,
                     "{\"success\":[{\"request_range\":{\"key\":\"%s\"}},{\"request_range\":{\"key\":\"%s\","
                     "\"keys_only\":true}},"
                     "{\"request_range\":{\"key\":\"%s\",\"range_end\":\"%s\",\"keys_only\":true}}]}",
                     n, m, s, se) < 0)
                return;
        if (post(c, "/v3/kv/txn", body, request_timeout(c), NULL, on_sync, &c->req) < 0)
                session_fail(c, CLUSTER_DISCONNECTED, "cannot sync");
}

static void on_grant(ClusterRequest *req, int error, long status, const char *body, size_t len,
                     void *userdata)
{
        Cluster *c = userdata;
        json_t *j;

        c->req = NULL;
        j = parse_answer(c, "lease grant", error, status, body, len);
        if (!j) {
                session_fail(c, CLUSTER_DISCONNECTED, "lease grant failed");
                return;
        }
        (void)cluster_json_int64(j, "ID", &c->lease);
        json_decref(j);
        if (c->lease == 0) {
                session_fail(c, CLUSTER_DISCONNECTED, "lease grant returned no ID");
                return;
        }
        log_debug("cluster: granted lease %" PRId64, c->lease);
        sync_start(c);
}

static void grant(Cluster *c)
{
        char body[64];

        snprintf(body, sizeof(body), "{\"TTL\":\"%" PRIu64 "\"}",
                 (c->config->cluster_lease_ttl + USEC_PER_SEC - 1) / USEC_PER_SEC);
        if (post(c, "/v3/lease/grant", body, request_timeout(c), NULL, on_grant, &c->req) < 0)
                session_fail(c, CLUSTER_DISCONNECTED, "cannot grant a lease");
}

static void on_probe(ClusterRequest *req, int error, long status, const char *body, size_t len,
                     void *userdata)
{
        Cluster *c = userdata;
        json_t *j;
        int64_t ttl = 0;

        c->req = NULL;
        j = parse_answer(c, "lease probe", error, status, body, len);
        if (!j) {
                session_fail(c, CLUSTER_DISCONNECTED, "lease probe failed");
                return;
        }
        (void)cluster_json_int64(json_object_get(j, "result"), "TTL", &ttl);
        json_decref(j);
        if (ttl > 0) {
                sync_start(c); /* the lease survived the outage: keep it */
                return;
        }
        c->old_lease = c->lease;
        c->lease = 0;
        grant(c);
}

static void session_connect(Cluster *c)
{
        char body[64];

        session_stop(c);
        c->state = c->state == CLUSTER_FENCED ? CLUSTER_FENCED : CLUSTER_CONNECTING;
        if (c->lease == 0) {
                grant(c);
                return;
        }
        snprintf(body, sizeof(body), "{\"ID\":\"%" PRId64 "\"}", c->lease);
        if (post(c, "/v3/lease/keepalive", body, request_timeout(c), NULL, on_probe, &c->req) < 0)
                session_fail(c, CLUSTER_DISCONNECTED, "cannot probe the lease");
}

/* ---- lifecycle ---- */

int cluster_new(sd_event *event, const Config *config, const ApiBackend *backend, Cluster **ret)
{
        _cleanup_(cluster_freep) Cluster *c = NULL;
        ClusterTls tls = {config->cluster_tls_ca, config->cluster_tls_cert, config->cluster_tls_key};
        const char *p = config->cluster_prefix, *n = config->cluster_node;
        int r;

        if (!config->cluster_endpoints || !config->cluster_endpoints[0] || !n)
                return -EINVAL;
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->event = sd_event_ref(event);
        c->config = config;
        api_core_init(&c->core, backend, config->stop_timeout);
        while (config->cluster_endpoints[c->n_endpoints])
                c->n_endpoints++;
        c->key_node = cluster_key_node(p, n);
        c->key_metrics = cluster_key_metrics(p, n);
        c->status_prefix = cluster_key_status_prefix(p, n);
        c->status_end = c->status_prefix ? cluster_key_range_end(c->status_prefix) : NULL;
        c->assign_prefix = cluster_key_assignments(p, n);
        c->assign_end = c->assign_prefix ? cluster_key_range_end(c->assign_prefix) : NULL;
        if (asprintf(&c->api_url, "unix://%s", config->api_socket) < 0)
                c->api_url = NULL;
        if (!c->key_node || !c->key_metrics || !c->status_end || !c->assign_end || !c->api_url)
                return -ENOMEM;
        r = cluster_assign_init(&c->assign, &c->core, config->root, on_local_change, c);
        if (r < 0)
                return log_error_errno(r, "cluster: cannot read %s/cluster-assignments.json: %m",
                                       config->root);
        r = cluster_http_new(event, &tls, &c->http);
        if (r < 0)
                return r;
        if ((r = sd_event_add_time(event, &c->reconnect_timer, CLOCK_MONOTONIC, 0, 0, on_reconnect_timer,
                                   c)) < 0 ||
            (r = sd_event_add_time(event, &c->keepalive_timer, CLOCK_MONOTONIC, 0, 10 * USEC_PER_MSEC,
                                   on_keepalive_timer, c)) < 0 ||
            /* 1 ms accuracy: sd-event's default (250 ms) would stretch "within one interval". */
            (r = sd_event_add_time(event, &c->flush_timer, CLOCK_MONOTONIC, 0, USEC_PER_MSEC, on_flush_timer,
                                   c)) < 0)
                return r;
        (void)sd_event_source_set_enabled(c->reconnect_timer, SD_EVENT_OFF);
        (void)sd_event_source_set_enabled(c->keepalive_timer, SD_EVENT_OFF);
        (void)sd_event_source_set_enabled(c->flush_timer, SD_EVENT_OFF);
        *ret = TAKE_PTR(c);
        return 0;
}

int cluster_start(Cluster *c)
{
        BerthError err = {};
        int r;

        r = api_core_events(&c->core, NULL, NULL, "true", on_event, c, &c->events, NULL, &err);
        if (r < 0)
                log_warning_errno(r,
                                  "cluster: cannot follow local events, publishing every interval only: %m");
        log_info("cluster: node %s joins %s (prefix %s, lease %" PRIu64 " s, interval %" PRIu64 " ms)",
                 c->config->cluster_node, c->config->cluster_endpoints[0], c->config->cluster_prefix,
                 c->config->cluster_lease_ttl / USEC_PER_SEC, c->config->cluster_interval / USEC_PER_MSEC);
        session_connect(c);
        return 0;
}

Cluster *cluster_free(Cluster *c)
{
        if (!c)
                return NULL;
        if (c->events)
                api_core_watch_cancel(&c->core, c->events);
        session_stop(c);
        cluster_http_free(c->http);
        sd_event_source_disable_unref(c->reconnect_timer);
        sd_event_source_disable_unref(c->keepalive_timer);
        sd_event_source_disable_unref(c->flush_timer);
        cluster_table_done(&c->table);
        cluster_assign_done(&c->assign);
        free(c->key_node);
        free(c->key_metrics);
        free(c->status_prefix);
        free(c->status_end);
        free(c->assign_prefix);
        free(c->assign_end);
        free(c->api_url);
        sd_event_unref(c->event);
        free(c);
        return NULL;
}

int cluster_metrics_append(const Cluster *c, char **buf, size_t *len, size_t *cap)
{
        const ClusterHttpStats *hs;
        int r;

        if (!c)
                return 0;
        hs = cluster_http_stats(c->http);
        r = buf_printf(buf, len, cap,
                       "# HELP berth_cluster_connected 1 when the etcd session is up.\n"
                       "# TYPE berth_cluster_connected gauge\nberth_cluster_connected %d\n"
                       "# HELP berth_cluster_state Cluster session state.\n"
                       "# TYPE berth_cluster_state gauge\n",
                       c->state == CLUSTER_CONNECTED);
        for (int s = 0; r >= 0 && s < _CLUSTER_STATE_MAX; s++)
                r = buf_printf(buf, len, cap, "berth_cluster_state{state=\"%s\"} %d\n", state_names[s],
                               c->state == (ClusterState)s);
        if (r < 0)
                return r;
        return buf_printf(
            buf, len, cap,
            "# HELP berth_cluster_txns_total Status txns sent.\n# TYPE berth_cluster_txns_total counter\n"
            "berth_cluster_txns_total %" PRIu64 "\n"
            "# HELP berth_cluster_txn_bytes_total Bytes of txn request bodies.\n"
            "# TYPE berth_cluster_txn_bytes_total counter\nberth_cluster_txn_bytes_total %" PRIu64 "\n"
            "# HELP berth_cluster_txn_conflicts_total Guarded txns refused by etcd.\n"
            "# TYPE berth_cluster_txn_conflicts_total counter\nberth_cluster_txn_conflicts_total %" PRIu64
            "\n"
            "# HELP berth_cluster_keepalives_total Lease keepalives answered.\n"
            "# TYPE berth_cluster_keepalives_total counter\nberth_cluster_keepalives_total %" PRIu64 "\n"
            "# HELP berth_cluster_reconnects_total Reconnect attempts.\n"
            "# TYPE berth_cluster_reconnects_total counter\nberth_cluster_reconnects_total %" PRIu64 "\n"
            "# HELP berth_cluster_relists_total Assignment relists.\n"
            "# TYPE berth_cluster_relists_total counter\nberth_cluster_relists_total %" PRIu64 "\n"
            "# HELP berth_cluster_watch_events_total Assignment watch events.\n"
            "# TYPE berth_cluster_watch_events_total counter\nberth_cluster_watch_events_total %" PRIu64 "\n"
            "# HELP berth_cluster_assignments_refused_total Assignments refused.\n"
            "# TYPE berth_cluster_assignments_refused_total counter\n"
            "berth_cluster_assignments_refused_total %" PRIu64 "\n"
            "# HELP berth_cluster_requests_total HTTP requests to etcd.\n"
            "# TYPE berth_cluster_requests_total counter\nberth_cluster_requests_total %" PRIu64 "\n"
            "# HELP berth_cluster_request_failures_total Transport failures.\n"
            "# TYPE berth_cluster_request_failures_total counter\n"
            "berth_cluster_request_failures_total %" PRIu64 "\n",
            c->n_txns, c->n_txn_bytes, c->n_txn_conflicts, c->n_keepalives, c->n_reconnects, c->n_relists,
            c->n_watch_events, c->assign.refused, hs->requests, hs->failures);
}
