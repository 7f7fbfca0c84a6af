/* SPDX-License-Identifier: Apache-2.0 */
/* The pure part of the cluster store (docs/CLUSTER.md): key layout, value
 * encodings, base64 for the etcd JSON gateway, the published-key table that
 * turns "what the node looks like now" into "what must be written", the txn
 * request builder and the reconnect backoff. No I/O; unit-tested directly in
 * tests/unit/cluster. */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "api/api.h"
#include "lib/util.h"

#ifndef MIN
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#endif
#ifndef MAX
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#endif
#include "lib/workload.h"

#define CLUSTER_KEY_MAX 512          /* bytes of one key */
#define CLUSTER_STATUS_VALUE_MAX 512 /* bytes of one status value */
#define CLUSTER_MESSAGE_MAX 160      /* bytes of a status message */
#define CLUSTER_NODE_VALUE_MAX 1024  /* bytes of the registration value */
#define CLUSTER_TXN_OPS_MAX 64       /* keys written by one txn (etcd's default limit is 128) */
#define CLUSTER_ENTRIES_MAX 4096     /* keys one node publishes (workloads + 2) */

/* ---- keys ---- */
/* <prefix>/nodes/<node>, <prefix>/status/<node>/<name>, <prefix>/metrics/<node>,
 * <prefix>/assignments/<node>/ (a prefix). NULL on ENOMEM. */
char *cluster_key_node(const char *prefix, const char *node);
char *cluster_key_status(const char *prefix, const char *node, const char *name);
char *cluster_key_status_prefix(const char *prefix, const char *node);
char *cluster_key_metrics(const char *prefix, const char *node);
char *cluster_key_assignments(const char *prefix, const char *node);
/* The range_end that selects every key starting with key (etcd convention). */
char *cluster_key_range_end(const char *key);
/* The workload name of an assignment key, or NULL when key is not directly
 * below assignments_prefix (nested paths, empty name). Borrowed pointer into key. */
const char *cluster_key_assignment_name(const char *assignments_prefix, const char *key);
/* A node name for keys: non-empty, at most 253 bytes of [A-Za-z0-9._-]. */
bool cluster_node_name_is_valid(const char *s);
/* A key prefix: "/" followed by [A-Za-z0-9._/-], no trailing slash, no "//", at most 128 bytes. */
bool cluster_prefix_is_valid(const char *s);

/* ---- base64 (RFC 4648, with padding) ---- */
char *cluster_base64_encode(const void *data, size_t len);
/* -EINVAL on malformed input. *ret is NUL-terminated. */
int cluster_base64_decode(const char *s, char **ret, size_t *ret_len);

/* ---- numbers in gateway JSON: int64 fields arrive as strings ---- */
/* Missing -> 0; "123" or 123 -> 123; anything else -> -EINVAL. */
int cluster_json_int64(const json_t *obj, const char *field, int64_t *ret);

/* ---- values ---- */
/* Status of a local workload. assigned_rev: the assignment revision it came
 * from (0 = a local workload). Compact JSON, at most CLUSTER_STATUS_VALUE_MAX. */
char *cluster_status_encode(const WorkloadStatus *s, int64_t assigned_rev);
/* Status of an assignment that was refused (validation/admission). */
char *cluster_status_encode_rejected(const char *reason, const char *message, int64_t assigned_rev);

typedef struct ClusterNodeInfo {
        const ApiNode *node;
        const char *labels; /* "k=v,k2=v2" or NULL */
        const char *api;    /* "unix:///run/berth/berthd.sock" */
} ClusterNodeInfo;
char *cluster_node_encode(const ClusterNodeInfo *info);

typedef struct ClusterMetrics {
        usec_t time; /* CLOCK_REALTIME */
        unsigned workloads[_WORKLOAD_STATE_MAX];
        unsigned rejected;
        double load1;
        uint64_t memory_available_bytes;
} ClusterMetrics;
char *cluster_metrics_encode(const ClusterMetrics *m);

/* ---- the published-key table ---- */
typedef struct ClusterEntry {
        char *key;
        char *value;     /* what etcd holds as far as we know; NULL = unknown or absent */
        char *want;      /* desired value in this round */
        int64_t mod_rev; /* the key's mod_revision as we know it; 0 = absent */
        bool wanted;     /* desired in this round (else: delete when present) */
} ClusterEntry;

typedef struct ClusterTable {
        ClusterEntry *entries;
        size_t n, cap;
} ClusterTable;

void cluster_table_done(ClusterTable *t);
ClusterEntry *cluster_table_find(ClusterTable *t, const char *key);
/* Starts a round: nothing is wanted until cluster_table_want() says so. */
void cluster_table_begin(ClusterTable *t);
int cluster_table_want(ClusterTable *t, const char *key, const char *value);
/* Keeps the entry's current desired value in this round (no re-encoding). */
void cluster_table_keep(ClusterTable *t, const char *key);
/* Indices of entries that must be written (changed, new, or to delete), at most max. */
size_t cluster_table_pending(const ClusterTable *t, size_t *idx, size_t max);
/* True when any entry must be written. */
bool cluster_table_dirty(const ClusterTable *t);
/* The txn holding idx[] succeeded at revision rev. Deleted entries go away. */
void cluster_table_commit(ClusterTable *t, const size_t *idx, size_t n, int64_t rev);
/* Everything we believed about etcd is void (new lease, lost txn): values
 * unknown, revisions 0 until cluster_table_learn() says otherwise. */
void cluster_table_forget(ClusterTable *t);
/* etcd holds key at mod_rev (from a range). Unknown keys are added unwanted,
 * so the next round deletes them unless they are wanted again. */
int cluster_table_learn(ClusterTable *t, const char *key, int64_t mod_rev);

/* The body of POST /v3/kv/txn writing the pending entries idx[] under lease,
 * each guarded by its mod_revision, plus a guard on fence_key (the
 * registration): MOD == its known revision and, once written by us under
 * this lease (value known), LEASE == lease. */
char *cluster_txn_build(const ClusterTable *t, const size_t *idx, size_t n, int64_t lease,
                        const char *fence_key);

/* ---- backoff ---- */
/* Delay before reconnect attempt number step (0-based): exponential from
 * initial to max, "equal jitter": half fixed, half uniform from rnd in [0,1). */
usec_t cluster_backoff_delay(unsigned step, usec_t initial, usec_t max, double rnd);
