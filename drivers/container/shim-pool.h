/* SPDX-License-Identifier: Apache-2.0 */
/* Starting berth-shim, and the pool of one shim started ahead of need
 * (docs/CONTAINER.md "The shim pool").
 *
 * exec'ing the shim (the kernel's exec, then the dynamic linker) is the
 * larger part of what a start costs berthd. So once a workload has started,
 * the driver's warm() (called off the start path, agent/manager-warm.c)
 * starts the next shim ahead, as `berth-shim --pooled` with one end
 * of a SOCK_SEQPACKET pair on fd 3, and the next start hands it its workload:
 * one message holding the workload directory's path and, as SCM_RIGHTS, the
 * shim's stdin/stdout, its stderr (shim.log) and the start-report pipe, and
 * the start gate's read end when the start has one (drivers/start-gate.h). The shim
 * puts the first three on fds 0-3 and goes on as if spawned with that
 * argument. A
 * pooled shim that reads end-of-file (berthd stopped, or drained the pool)
 * exits 0 without touching anything. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

#define SHIM_POOLED_ARG "--pooled"

/* posix_spawn of `shim arg [arg2]` in a session of its own, default signals
 * and an empty mask, with null_fd as stdin and stdout, err_fd as stderr,
 * fd3 as fd 3 and gate_fd, if >= 0, as fd 4 (SHIM_GATE_FD), nothing else. */
int shim_spawn(const char *shim, const char *arg, const char *arg2, int fd3, int gate_fd, int null_fd,
               int err_fd, pid_t *ret);

typedef struct ShimPool {
        int sock; /* berthd's end; -EBADF when empty */
        pid_t pid;
} ShimPool;

#define SHIM_POOL_INIT ((ShimPool){ .sock = -EBADF })

/* Starts a pooled shim if there is none: `shim --pooled PAD`, PAD being
 * dir_max blanks, the longest workload directory it may be handed. */
int shim_pool_fill(ShimPool *p, const char *shim, size_t dir_max);
/* Hands the pooled shim its workload: dir, and the fds for 0-1, 2 and 3,
 * and gate_r unless it is < 0. -EAGAIN when the pool is empty or its shim is
 * gone (the caller spawns). */
int shim_pool_take(ShimPool *p, const char *dir, int null_fd, int err_fd, int notify_w, int gate_r, pid_t *ret);
/* Closes berthd's end: the pooled shim, if any, exits. */
void shim_pool_drain(ShimPool *p);

/* berth-shim's side: waits on sock (fd 3) for the workload, puts the fds it
 * brings on 0-3 and returns the directory (malloc'ed) in *ret, and the start
 * gate, if one came, in *ret_gate (O_CLOEXEC; else -EBADF). 0 with *ret NULL
 * on end-of-file; -EBADMSG on a message that is not exactly a path and three
 * or four fds. */
int shim_pool_receive(int sock, char **ret, int *ret_gate);
/* After the hand-over, with main()'s argc and argv: rewrites the argument
 * area in place so that /proc/PID/cmdline (ps) reads "argv0 dir", as for a
 * shim spawned with the directory, instead of "argv0 --pooled". The pad that
 * shim_pool_fill passes as argv[2] makes the room; without it nothing
 * changes. argv[1] then reads dir; argv[2] is not to be used. */
void shim_pool_set_cmdline(int argc, char *argv[], const char *dir);
