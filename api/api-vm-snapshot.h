/* SPDX-License-Identifier: Apache-2.0 */
/* The API core's VM snapshot operations (api/api-vm-snapshot.c, docs/API.md
 * "VM snapshots"): request validation, then the backend. Adapters pass raw
 * bodies and path parts; errors name the offending field. */
#pragma once

#include "api/api-core.h"

/* Snapshot ids follow the workload name rules (a DNS label, 1..63). */
int api_validate_snapshot_id(const char *id, const char *field, BerthError *err);

/* body: empty or {"id": "..."}. done() is called later, exactly once, on success. */
int api_core_vm_snapshot_create(ApiCore *c, const char *workload, const char *body, size_t len,
                                ApiVmSnapshotCallback done, void *userdata, BerthError *err);
int api_core_vm_snapshot_list(ApiCore *c, json_t **ret, BerthError *err);
int api_core_vm_snapshot_get(ApiCore *c, const char *id, json_t **ret, BerthError *err);
int api_core_vm_snapshot_remove(ApiCore *c, const char *id, BerthError *err);
/* body: {"name": "..."} (required): the new workload's name. */
int api_core_vm_snapshot_restore(ApiCore *c, const char *id, const char *body, size_t len,
                                 const Workload **ret, BerthError *err);
