/* SPDX-License-Identifier: Apache-2.0 */
/* QEMU -M microvm command line, accelerator choice and disk checks for the
 * VM driver (docs/VM.md). Pure functions apart from the host probes. */
#pragma once

#include <signal.h>

#include "lib/util.h"

/* The fds berth-shim hands QEMU (fixed numbers in QEMU's fd table). */
#define VM_FD_QMP 3
#define VM_FD_CHANNEL 4
#define VM_FD_CONSOLE 5
#define VM_FD_DISK 6
#define VM_FD_TAP 7
#define VM_FD_DISK_RO 8 /* QEMU probes the fdset read-only first */

/* berthd -> berth-shim: QMP stop / cont (pause, resume). Real-time signals,
 * so they never collide with a signal meant for the guest's command. */
#define VM_SIGNAL_PAUSE (SIGRTMIN + 4)
#define VM_SIGNAL_RESUME (SIGRTMIN + 5)
/* berthd -> berth-shim: take the snapshot described in vm-snapshot.req
 * (drivers/shim/shim-vm-snapshot.c, docs/VM.md "Snapshots"). */
#define VM_SIGNAL_SNAPSHOT (SIGRTMIN + 6)
/* workloads/<name>/vm-run-state: "paused" or "running", from QMP's STOP and
 * RESUME events (written by berth-shim). */
#define VM_RUN_STATE_FILE "vm-run-state"

#define VM_DEFAULT_MEMORY (UINT64_C(256) << 20)
#define VM_OVERHEAD_BYTES(mem) ((UINT64_C(96) << 20) + (mem) / 16) /* VMM overhead charged to the cgroup */
#define VM_CONSOLE_MAX (UINT64_C(1) << 20)

typedef struct VmLaunch {
        const char *name;
        const char *accel;      /* "kvm" | "tcg" */
        uint64_t vcpus;
        uint64_t memory_bytes;
        const char *kernel;
        const char *initrd;
        bool tap;               /* a tap fd is passed as VM_FD_TAP */
        const char *mac;        /* "02:..." with tap */
        uint64_t tsc_khz;       /* TCG: the host TSC rate, passed as tsc_early_khz (0: none) */
} VmLaunch;

/* NULL-terminated argv for qemu-system-x86_64 (argv[0] is the binary name). */
int vm_qemu_argv(const VmLaunch *l, char ***ret);

/* The host's TSC rate in kHz, measured against CLOCK_MONOTONIC_RAW over
 * ~20 ms (0 where there is no TSC). Under TCG the guest's TSC is the host's,
 * and without a hint the guest kernel calibrates it against the emulated
 * PIT: on a loaded host that calibration fails ("Unable to calibrate against
 * PIT", "Marking TSC unstable") and the boot hangs. */
uint64_t vm_host_tsc_khz(void);

/* want: "auto", "kvm", "tcg" or NULL (auto). Fills why[] when auto picks TCG.
 * sys_root/dev_root: "/" on a real host, a fake tree in tests. */
const char *vm_choose_accel(const char *want, const char *sys_root, char *why, size_t why_size);

/* Checks a user-supplied disk image: raw or qcow2, and a qcow2 must not name
 * a backing file (user input never sets one). Returns "raw"/"qcow2" in
 * *ret_format. -EINVAL with a reason in why[] otherwise. */
int vm_disk_check(const char *path, const char **ret_format, char *why, size_t why_size);

/* Kernel modules dir for a kernel image <tree>/boot/vmlinuz-<ver> (symlinks
 * resolved): <tree>/lib/modules/<ver>. */
int vm_modules_dir(const char *kernel, char **ret);
