/* SPDX-License-Identifier: Apache-2.0 */
/* berth-shim's VM mode: the exec socket (<workload dir>/exec.sock, mode
 * 0600) and the relay of its sessions onto the guest channel
 * (drivers/vm/vm-exec.h has the socket protocol, vm-proto.h the frames). */
#pragma once

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>

#include "drivers/vm/vm-proto.h"

typedef struct ShimVmExec ShimVmExec;

#define SHIM_VM_EXEC_POLL_MAX (1 + VM_EXEC_SESSIONS_MAX)

/* Binds and listens on exec.sock in dirfd (an old one is replaced). chan
 * points at the channel fd (negative once it is closed). */
int shim_vm_exec_new(int dirfd, const int *chan, ShimVmExec **ret);
/* Closes every session (their clients see EOF without EXIT: the exec
 * failed) and removes the socket. NULL-safe. */
ShimVmExec *shim_vm_exec_free(ShimVmExec *x);
/* The guest init serves exec once the command runs (VM_FRAME_STARTED):
 * sessions that arrived earlier wait until then. */
void shim_vm_exec_guest_ready(ShimVmExec *x);
size_t shim_vm_exec_pollfds(ShimVmExec *x, struct pollfd *p, size_t max);
void shim_vm_exec_dispatch(ShimVmExec *x, const struct pollfd *p, size_t n);
/* A VM_FRAME_EXEC_* frame from the guest. */
void shim_vm_exec_on_frame(ShimVmExec *x, uint32_t type, const char *p, uint32_t len);
