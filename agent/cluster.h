/* SPDX-License-Identifier: Apache-2.0 */
/* The cluster store client (docs/CLUSTER.md): registers the node in etcd
 * under a lease, publishes workload status and a metrics snapshot (only what
 * changed, at most one txn per interval, fenced by lease and mod_revision),
 * and applies assignments watched from etcd through the API core. Absent
 * cluster section: never created (standalone). */
#pragma once

#include <systemd/sd-event.h>

#include "agent/config.h"
#include "api/api.h"

typedef struct Cluster Cluster;

typedef enum ClusterState {
        CLUSTER_DISCONNECTED, /* waiting for the next reconnect attempt */
        CLUSTER_CONNECTING,   /* lease, sync, registration in flight */
        CLUSTER_CONNECTED,
        CLUSTER_FENCED, /* the node name is held by another live lease */
        _CLUSTER_STATE_MAX,
        _CLUSTER_STATE_INVALID = -EINVAL,
} ClusterState;

/* backend: the manager's ApiBackend (assignments go through the API core). */
int cluster_new(sd_event *event, const Config *config, const ApiBackend *backend, Cluster **ret);
Cluster *cluster_free(Cluster *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(Cluster *, cluster_free);
/* Connects in the background; never fails because etcd is unreachable. */
int cluster_start(Cluster *c);

ClusterState cluster_get_state(const Cluster *c);
const char *cluster_state_to_string(ClusterState s);
/* Appends the berth_cluster_* families (Prometheus text) to a buffer. */
int cluster_metrics_append(const Cluster *c, char **buf, size_t *len, size_t *cap);
