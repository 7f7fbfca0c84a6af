/* SPDX-License-Identifier: Apache-2.0 */
/* berth-shim's VM mode (drivers/shim/shim-vm.c, docs/VM.md): used when the
 * workload directory holds vm.json (written by the VM driver). */
#pragma once

#include "drivers/container/cgroup.h"
#include "drivers/container/container-files.h"
#include "drivers/vm/vm-frame.h"
#include "lib/logfile.h"

#define SHIM_VM_CONFIG_FILE "vm.json"

/* Builds the initramfs and the disk if needed, runs QEMU in the workload's
 * cgroup, pumps the guest channel into the log and records exit.json.
 * Returns the shim's exit status. */
int shim_vm_run(int dirfd, const ShimConfig *c, LogWriter *w, const CgroupOps *cg, int *notify_fd);

/* berth-shim is built without libvirt: libvirt's QEMU driver pulls in some 60
 * shared libraries, which cost every start of every workload ~10 ms in the
 * dynamic linker. A libvirt VM's supervisor is berth-shim-libvirt, the same
 * program built with shim-libvirt.c (SHIM_WITH_LIBVIRT), next to berth-shim.
 * Called first thing in main(): when argv[1] holds a libvirt VM's vm.json,
 * execs berth-shim-libvirt with the same argv and fds (same pid, so berthd
 * cannot tell); returns 0 otherwise, or the exec's error (shim_vm_run() then
 * reports it as the start failure). A no-op in berth-shim-libvirt. */
int shim_vm_libvirt_reexec(char *argv[]);

/* The VM_FRAME_CONFIG payload (vm-proto.h): arg, env, cwd, hostname, then
 * the net.* keys of bridge mode (NULL: none). -E2BIG past 16 frames. */
int shim_vm_config_payload(const ShimConfig *c, const VmKv *net_keys, VmKv *ret);

/* Runs argv (PATH lookup, stdout to /dev/null) and waits: 0 on exit status 0,
 * -EIO otherwise (qemu-img, mkfs). */
int shim_run_wait(char *const argv[]);

/* berth-shim.c */
void notify(int *fd, bool ok, int error, pid_t pid, const char *message);
int fail_start(int dirfd, LogWriter *w, int *notify_fd, int exit_code, int error, const char *fmt, ...) _printf_(6, 7);
