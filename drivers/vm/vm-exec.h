/* SPDX-License-Identifier: Apache-2.0 */
/* exec into a running microVM (docs/VM.md "exec"). berth-shim listens on
 * <workload dir>/exec.sock (mode 0600, a path, never abstract); each
 * connection is one session relayed onto the guest channel. On the socket,
 * frames are VmFrameHeader + payload as on the channel, without the session
 * id: the client sends EXEC_START (key\0value\0: arg, env, cwd, tty, rows,
 * cols), then EXEC_STDIN (empty = EOF), EXEC_SIGNAL (int32) and EXEC_RESIZE
 * (uint16 rows, cols); the shim sends EXEC_STDOUT, EXEC_STDERR and finally
 * EXEC_EXIT (int32 code, int32 signal) and closes. A connection that closes
 * early kills the session's processes in the guest (SIGKILL). */
#pragma once

#include "drivers/driver.h"

#define VM_EXEC_SOCKET "exec.sock"

/* The VM driver's exec op, with the container driver's contract
 * (driver.h): a helper child of the caller relays stdio between the given
 * fds and the socket; *ret_pidfd is the helper's; it writes the command's
 * exit code as one int on *ret_status_fd before it exits. The command runs
 * with the workload's env and workingDir. Connecting happens before the
 * helper is forked, so a VM that is not running fails here, with a reason. */
int vm_exec_spawn(int workloads_fd, const char *name, const DriverRun *run, char **argv, int stdin_fd,
                  int stdout_fd, int stderr_fd, int tty_fd, int *ret_pidfd, int *ret_status_fd,
                  BerthError *err);

/* Connects to <dirfd>/exec.sock (through /proc/self/fd: no sun_path length
 * limit). A blocking socket, or -errno. */
int vm_exec_connect(int dirfd);
