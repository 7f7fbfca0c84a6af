/* SPDX-License-Identifier: Apache-2.0 */
/* exec into a running container: setns into the init's namespaces through
 * a pidfd, join its cgroup, apply the workload's capability/seccomp policy,
 * exec. Used by the driver's exec op (berthctl exec) and exec health probes. */
#pragma once

#include "drivers/container/cgroup.h"

/* Forks a helper that joins the cgroup and the namespaces of run->pid
 * (identity checked by start time), forks the command inside the
 * container's pid namespace and exits with its status (128+N for signal N).
 * *ret_pidfd is the helper's; it writes the exit code as one int on
 * *ret_status_fd (O_CLOEXEC|O_NONBLOCK read end) before exiting. The workload
 * directory (for the security policy) is looked up below workloads_fd. */
int container_exec_spawn(const char *cgroup_root, const char *cgroup_parent, const CgroupOps *cg, int workloads_fd,
                         const char *name, const DriverRun *run, char **argv, int stdin_fd, int stdout_fd,
                         int stderr_fd, int tty_fd, int *ret_pidfd, int *ret_status_fd);
