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
 * ends while the disk is full still has its real exit code recorded. The
 * reserve is deleted once exit.json is written. */
#define SHIM_EXIT_RESERVE_FILE "exit.reserve"
#define SHIM_EXIT_RESERVE_BYTES (64 * 1024)
#define SHIM_EXIT_RETRY_SEC 60

/* Best effort: a reserve that cannot be made is logged and not fatal. */
void shim_exit_reserve(int dirfd);
int shim_exit_write(int dirfd, const DriverExit *e, bool durable);
