/* SPDX-License-Identifier: Apache-2.0 */
/* The start gate (docs/CONTAINER.md "The start gate"): how berthd lets the
 * shim set a run up while the record of the workload is still being made
 * durable, and nothing of the workload run before it is.
 *
 * A pipe: berthd keeps the write end, the shim gets the read end (fd 4 when
 * spawned, in the hand-over message when pooled). The shim prepares the run
 * (the init's namespaces, mounts, cgroup, network) and reads one byte before
 * it lets the init exec, or, for a microVM, before anything. berthd writes
 * that byte once its commit has returned. End-of-file instead (the commit
 * failed and berthd cancelled, or berthd died before it could say go) means
 * that no record says the run should exist: the shim kills what it set up
 * and exits with no state.json, no exit.json and no start report. */
#pragma once

#define SHIM_GATE_FD 4

/* berthd: go. Writes the byte and closes *gate. */
int start_gate_go(int *gate);
/* berthd: cancel. Closes *gate, then waits (bounded, timeout_msec) until the
 * shim has gone: the start-report pipe notify_fd reads end-of-file once the
 * shim and its init, which both hold the write end, are gone. -ETIMEDOUT if
 * they were not gone by then. */
int start_gate_cancel(int *gate, int notify_fd, int timeout_msec);
/* The shim: waits for berthd's word and closes *gate. 0 on go, and at once
 * when *gate < 0 (a start without a gate); -ECANCELED on end-of-file. */
int start_gate_wait(int *gate);
