/* SPDX-License-Identifier: Apache-2.0 */
/* Pinning of a microVM's vCPU threads (docs/VM.md, docs/SCHEDULER.md).
 *
 * A guaranteed VM with an exclusive cpuset gets each vCPU thread of QEMU
 * pinned to one CPU of the set (vCPU n -> the n-th CPU of the set), while
 * QEMU's other threads (main loop, I/O, RCU, workers) may use the whole
 * set. The threads are found in /proc/<qemu>/task/<tid>/comm, where QEMU
 * names them "CPU <n>/TCG" or "CPU <n>/KVM"; no QMP round trip is needed
 * (QMP belongs to berth-shim). The agent calls this after the cgroup's
 * cpuset was written: on cgroup v1 a cpuset write resets the affinity of
 * every task in the cgroup, and an affinity outside the cpuset is refused. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define VM_PIN_VCPUS_MAX 256

typedef struct VmVcpuThread {
        unsigned vcpu; /* n of "CPU n/..." */
        pid_t tid;
        int cpu; /* the CPU it is pinned to; -1 = the whole set */
} VmVcpuThread;

typedef struct VmPinResult {
        size_t n_vcpus; /* vCPU threads found, sorted by vcpu */
        size_t n_other; /* other QEMU threads, set to the whole set */
        VmVcpuThread vcpus[VM_PIN_VCPUS_MAX];
} VmPinResult;

/* Sets the affinity of QEMU's threads. pid + start_time identify QEMU
 * (a reused pid is -ESRCH). cpus[0..n_cpus) is the set (ids < 1024).
 * one_to_one: vCPU n gets cpus[n % n_cpus] alone, every other thread the
 * whole set; false: every thread gets the whole set (unpinning).
 * Returns 0 when at least expected_vcpus vCPU threads were found (all set),
 * -EAGAIN when fewer exist yet (QEMU is still starting; those found are
 * set), -EOPNOTSUPP when QEMU runs all vCPUs on one thread (round-robin
 * TCG: "ALL CPUs/TCG"), -ESRCH when QEMU is gone, or another negative errno
 * from sched_setaffinity(). *ret may be NULL. */
int vm_vcpu_pin(pid_t pid, uint64_t start_time, const unsigned *cpus, size_t n_cpus, bool one_to_one,
                size_t expected_vcpus, VmPinResult *ret);

/* "0=1,1=2" (vCPU=CPU, by vCPU) into buf; "" when nothing is pinned. */
char *vm_pin_format(const VmPinResult *p, char *buf, size_t size);
