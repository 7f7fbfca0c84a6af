/* SPDX-License-Identifier: Apache-2.0 */
/* Assignments (docs/CLUSTER.md): what the control plane put under
 * <prefix>/assignments/<node>/<name>, applied one at a time through the API
 * core, remembered (with the applied revision) in <root>/cluster-assignments.json
 * so a restart resumes the watch where it stopped. Internal to cluster*.c. */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "api/api-core.h"

#define CLUSTER_ASSIGNMENTS_MAX 1024

typedef struct ClusterAssigned {
        char *name;
        int64_t rev;  /* mod_revision of the assignment applied (or refused) */
        bool local;   /* a workload was created from it */
        char *reason; /* refused: class ("InvalidArgument", ...), else NULL */
        char *message;
} ClusterAssigned;

typedef struct ClusterOp {
        char *name;
        char *value; /* NULL = delete */
        size_t len;
        int64_t rev;
} ClusterOp;

typedef struct ClusterAssign {
        ApiCore *core;
        char *path;          /* the state file */
        int64_t applied_rev; /* events at or below are ignored */
        ClusterAssigned *items;
        size_t n_items;
        ClusterOp *ops; /* pending, coalesced by name */
        size_t n_ops;
        bool busy;                       /* a removal is in flight */
        void (*changed)(void *userdata); /* something to publish */
        void *userdata;
        uint64_t applied, refused;
} ClusterAssign;

int cluster_assign_init(ClusterAssign *a, ApiCore *core, const char *root, void (*changed)(void *),
                        void *userdata);
void cluster_assign_done(ClusterAssign *a);
ClusterAssigned *cluster_assign_find(ClusterAssign *a, const char *name);
/* Queues a put (value != NULL) or delete at rev; a later op for the same name replaces it. */
int cluster_assign_queue(ClusterAssign *a, const char *name, const char *value, size_t len, int64_t rev);
/* After a relist at revision rev with names[] present: deletes what vanished. */
int cluster_assign_queue_vanished(ClusterAssign *a, char *const *names, size_t n, int64_t rev);
/* Applies queued ops until one has to wait for a removal. */
void cluster_assign_process(ClusterAssign *a);
int cluster_assign_save(ClusterAssign *a);
