/* SPDX-License-Identifier: Apache-2.0 */
/* The root disk's backing chain, opened by berth-shim and handed to QEMU as
 * fdsets, so that QEMU (which runs as vm.user) opens no image by path
 * (docs/VM.md "QEMU's user"). */
#pragma once

#include <jansson.h>

#include "lib/util.h"

/* Deepest backing chain handed over: the -drive option naming every level
 * ("backing.backing....file.filename") must stay under the kernel's 128 KiB
 * limit for one argument. */
#define SHIM_VM_CHAIN_MAX 128u
#define SHIM_VM_CHAIN_FIRST_SET 2u /* fdset 1 is the overlay's */

typedef struct ShimVmChain {
        int fd[SHIM_VM_CHAIN_MAX];             /* read-only, level 1 = the overlay's backing file */
        const char *format[SHIM_VM_CHAIN_MAX]; /* "raw" | "qcow2", from the header's backing format */
        size_t n;
} ShimVmChain;

/* Follows the backing names from the qcow2 overlay open at fd and opens
 * every level read-only. Names must be absolute and every qcow2 level must
 * record its backing format (berth creates them all with -F); the last level
 * is the one without a backing file. why gets a reason on failure. */
int shim_vm_chain_open(int overlay_fd, ShimVmChain *c, char *why, size_t why_size);
void shim_vm_chain_close(ShimVmChain *c);

/* Rewrites the QEMU argv in cfg: "-add-fd fd=N,set=S" per level (level i's
 * fd becomes first_fd + i - 1 in QEMU) and the levels' backing.*.driver and
 * backing.*.file.filename=/dev/fdset/S appended to the root -drive. */
int shim_vm_chain_argv(const ShimVmChain *c, int first_fd, json_t *cfg);
