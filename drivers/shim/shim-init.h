/* SPDX-License-Identifier: Apache-2.0 */
/* The workload init's side of berth-shim: runs in the freshly cloned child
 * (new mount, pid, uts, ipc and usually net namespaces), builds the container
 * around the rootfs and execs the command. Never returns. */
#pragma once

#include "drivers/container/cgroup.h"
#include "drivers/container/container-files.h"
#include "drivers/shim/shim-security.h"

/* What went wrong in the child, sent to the shim over the error pipe. */
typedef enum InitStage {
        INIT_STAGE_SYNC,
        INIT_STAGE_CGROUPNS,
        INIT_STAGE_MOUNTS,
        INIT_STAGE_PROC,
        INIT_STAGE_DEV,
        INIT_STAGE_SYS,
        INIT_STAGE_PIVOT,
        INIT_STAGE_HOSTNAME,
        INIT_STAGE_LOOPBACK,
        INIT_STAGE_WORKDIR,
        INIT_STAGE_ENV,
        INIT_STAGE_EXEC,
        INIT_STAGE_MASK,     /* masked and read-only paths (shim-security.c) */
        INIT_STAGE_SECURITY, /* capabilities, no_new_privs, seccomp */
        INIT_STAGE_USERNS,   /* user namespace: ids and the idmapped rootfs */
        INIT_STAGE_CGROUP,   /* joining the workload's cgroups (v1) */
        INIT_STAGE_NETNS,    /* entering the network namespace made ahead */
        _INIT_STAGE_MAX,
} InitStage;

typedef struct InitError {
        int stage; /* InitStage */
        int error; /* positive errno */
} InitError;

const char *init_stage_to_string(InitStage s);

/* A network namespace with lo up, made ahead for a run to come (by the pooled
 * shim while it waits: creating one is most of what cloning the init costs).
 * Returns its fd (O_CLOEXEC); the caller stays in its own namespace.
 * -ENOTRECOVERABLE: the caller could not get back into its own; it must not
 * go on. */
int shim_netns_make(void);

/* join: non-NULL when the child joins its cgroups itself, first thing
 * (attach with pid 0: on v1 its tid to tasks, no RCU grace period to wait
 * for); NULL when it was born in them (CLONE_INTO_CGROUP).
 * netns_fd: the network namespace the pooled shim made ahead (the child was
 * cloned without CLONE_NEWNET), entered first thing; -EBADF otherwise.
 * sync_fd: read end; the shim closes the write end (after writing one byte)
 * once the child's network is in place. err_fd: O_CLOEXEC write end. */
_noreturn_ void shim_init_run(const ShimConfig *c, const ShimSecurity *sec, const CgroupOps *join, int netns_fd,
                              int sync_fd, int err_fd);
