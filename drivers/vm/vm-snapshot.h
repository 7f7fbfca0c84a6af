/* SPDX-License-Identifier: Apache-2.0 */
/* VM snapshot, restore and the disk layer store: the VM driver's part
 * (drivers/vm/vm-snapshot.c, docs/VM.md "Snapshots").
 *
 *   <root>/vm/layers/<n>.qcow2   frozen disk layers (qcow2; each names its
 *                                backing by absolute path: a base image under
 *                                <root>/vm/images, a user disk, or another layer)
 *   workloads/<name>/vm-restore.json  {"layer": ...}: this workload restores
 *                                from a snapshot (written by prepare() when
 *                                armed); its state stream is hardlinked to
 *                                workloads/<name>/restore.mig */
#pragma once

#include <jansson.h>

#include "drivers/driver.h"

#define VM_LAYERS_DIR "vm/layers"
#define VM_RESTORE_FILE "vm-restore.json"
#define VM_RESTORE_STATE "restore.mig"

/* vm.c: the parts of the driver that vm-snapshot.c needs. */
const char *vm_driver_root(Driver *d);
int vm_driver_workloads_fd(Driver *d);

int vm_snapshot_begin(Driver *d, const char *name, const char *tmp_dir, BerthError *err);
int vm_snapshot_poll(Driver *d, const char *tmp_dir, DriverSnapshot *ret, BerthError *err);
int vm_restore_arm(Driver *d, const char *name, const char *state_path, const char *layer);
int vm_snapshot_gc(Driver *d);
/* The GC itself, on a berth root: removes the <root>/vm/layers qcow2 files that no
 * root reaches; returns how many. */
int vm_layers_gc(const char *root);

/* prepare(): when `name` is armed, records the restore in its directory. */
int vm_restore_prepare(Driver *d, const char *name, BerthError *err);
/* vm.json of a restoring workload: -incoming defer, the layer as the disk
 * backing (qcow2), "incoming" = the state stream. No-op otherwise. */
int vm_restore_config(Driver *d, int dirfd, json_t *cfg, BerthError *err);

/* Backing file name recorded in a qcow2 header (empty when none). Pure
 * parsing of the first 64 KiB; -EMEDIUMTYPE if not qcow2. */
int vm_qcow2_backing(int fd, char *buf, size_t size);
