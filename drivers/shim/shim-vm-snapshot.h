/* SPDX-License-Identifier: Apache-2.0 */
/* berth-shim's side of VM snapshot and restore (drivers/shim/shim-vm-snapshot.c,
 * docs/VM.md "Snapshots"). berth-shim owns QMP, so it is the one that talks
 * to QEMU; both functions hold a short synchronous QMP conversation on the
 * shim's end of the QMP socket (the guest is stopped meanwhile, so nothing
 * else needs the shim). */
#pragma once

#include <stddef.h>

/* workloads/<name>/vm-snapshot.req: written by the VM driver before it sends
 * VM_SIGNAL_SNAPSHOT; {"dir": temp dir, "layer": new layer path}. */
#define SHIM_VM_SNAPSHOT_REQUEST "vm-snapshot.req"
/* <dir>/result.json: {"ok": true, "layer", "memoryBytes", "diskBytes"} or
 * {"ok": false, "error": "..."}; written last (atomically) by the shim. */
#define SHIM_VM_SNAPSHOT_RESULT "result.json"
#define SHIM_VM_SNAPSHOT_STATE "state.mig"

/* Handles one snapshot request: stop, freeze the disk layer (hardlinked into
 * the layer store) under a new qcow2 overlay (blockdev-snapshot-sync on an
 * fdset), migrate the device and memory state to <dir>/state.mig over an fd
 * passed with getfd, fsync, cont (when it was running), write the result. */
void shim_vm_snapshot(int dirfd, int qmp);

/* Restore: the greeting, then migrate-incoming from the state file (passed
 * with getfd) into a QEMU started with -incoming defer; returns once the
 * migration completed (the guest then runs on by itself). why[] on failure. */
int shim_vm_restore(int dirfd, int qmp, const char *state_path, char *why, size_t why_size);

/* After a restore: the VM_FRAME_NET payload that gives this clone its own
 * address and MAC (from its net.json); -ENOENT without a bridge network. */
int shim_vm_restore_net_payload(int dirfd, char **ret, size_t *ret_len);
