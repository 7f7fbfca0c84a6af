/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include "drivers/container/container-files.h"

/* Disk-full safety of the exit record (docs/OPERATIONS.md, "Disk full").
 *
 * At start the shim reserves a few blocks in the workload directory
 * (SHIM_EXIT_RESERVE_FILE, fallocate'd). shim_exit_write() writes exit.json
 * atomically, durable or not (driver_exit_write); when that fails with ENOSPC or EDQUOT it
 * gives the reserved blocks back and tries again, then keeps retrying once
 * a second for up to SHIM_EXIT_RETRY_SEC seconds, so that a workload that
 * ends while the disk is full still has its real exit code recorded. Once
 * exit.json is written the reserve is renamed to a name of this shim's own
 * (shim_exit_reserve_detach()), and deleted only after berthd has been told
 * (shim_exit_reserve_release()): freeing its blocks costs ext4 ~0.3 ms,
 * which the exit's report need not wait for, and the next run's shim may
 * already have made a reserve of its own under the shared name. */
#define SHIM_EXIT_RESERVE_FILE "exit.reserve"
#define SHIM_EXIT_RESERVE_BYTES (64 * 1024)
#define SHIM_EXIT_RETRY_SEC 60

/* Best effort: a reserve that cannot be made is logged and not fatal. */
void shim_exit_reserve(int dirfd);
int shim_exit_write(int dirfd, const DriverExit *e, bool durable);
#define SHIM_EXIT_RESERVE_NAME_MAX 64
/* Renames the reserve to "exit.reserve.PID" in ret (empty if there was none). */
int shim_exit_reserve_detach(int dirfd, char ret[static SHIM_EXIT_RESERVE_NAME_MAX]);
/* Deletes what shim_exit_reserve_detach() renamed; nothing if name is empty. */
void shim_exit_reserve_release(int dirfd, const char *name);
