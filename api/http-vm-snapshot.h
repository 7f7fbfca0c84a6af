/* SPDX-License-Identifier: Apache-2.0 */
/* The VM snapshot routes of the HTTP adapter (api/http-vm-snapshot.c). */
#pragma once

#include "api/http-internal.h"

/* /v1/vm-snapshots[/ID[/restore]] and /v1/workloads/NAME/snapshot */
bool http_vm_snapshot_match(const char *url);
enum MHD_Result http_vm_snapshot_route(HttpRequest *req, const char *method, const char *url);
