/* SPDX-License-Identifier: Apache-2.0 */
/* Crash recovery at berthd start (docs/OPERATIONS.md, "Crash safety").
 * The state DB is the truth: a workload exists iff its row does. A crash
 * between creating resources and committing the row (create), or between
 * removing resources and deleting the row (remove), leaves resources with
 * no row; they are removed here. A removal in progress is recorded in the
 * row (status.reason == MANAGER_REASON_REMOVING) and finished at start. */
#pragma once

typedef struct Manager Manager;

#define MANAGER_REASON_REMOVING "Removing"

/* Removes workload directories and cgroups that have no row in the state
 * DB. Call after the rows are loaded. Returns the number removed. */
int manager_orphans_remove(Manager *m);
