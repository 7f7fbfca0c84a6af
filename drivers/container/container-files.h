/* SPDX-License-Identifier: Apache-2.0 */
/* The files the container driver and berth-shim exchange in the workload
 * directory (docs/CONTAINER.md): config.json (driver -> shim), state.json and
 * exit.json (shim -> driver), and the notify line on fd 3. */
#pragma once

#include <sys/types.h>

#include "drivers/driver.h"

#define SHIM_CONFIG_FILE "config.json"
#define SHIM_STATE_FILE "state.json"
#define SHIM_EXIT_FILE "exit.json"
#define SHIM_NOTIFY_FD 3
/* The line a container shim writes on the report pipe (after the start
 * report) once exit.json is in place, before it exits: berthd may record the
 * exit from then on (docs/CONTAINER.md "Shim protocol"). */
#define SHIM_EXIT_LINE "{\"exited\":true}\n"
#define BOOT_ID_MAX 40

/* What the shim needs, flattened out of the spec so that the shim does not
 * depend on the spec parser; the canonical spec is stored alongside. */
typedef struct ShimConfig {
        char *name;
        char *hostname;
        char *rootfs;
        char **argv;        /* NULL-terminated */
        char **env;         /* NULL-terminated "KEY=VALUE" */
        char *working_dir;
        bool host_network;
        bool bridge_network;  /* "network": "bridge": net.json holds the attachment (drivers/net) */
        const char *workload_dir; /* not in config.json: berth-shim's argument (not owned), or NULL */
        char *cgroup_root;
        char *cgroup_parent;
        uint64_t log_max_bytes;
} ShimConfig;

ShimConfig *shim_config_free(ShimConfig *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(ShimConfig *, shim_config_free);
int shim_config_write(int dirfd, const Spec *spec, const DriverConfig *dc);
/* ret_json (optional): the parsed document too, for what else it holds
 * (spec.security: shim_security_from_config). */
int shim_config_read(int dirfd, ShimConfig **ret, json_t **ret_json);

typedef struct ShimState {
        pid_t shim_pid;
        uint64_t shim_start_time;
        pid_t pid;
        uint64_t pid_start_time;
        usec_t started_at;
        char boot_id[BOOT_ID_MAX];
} ShimState;

int shim_state_write(int dirfd, const ShimState *s);
int shim_state_read(int dirfd, ShimState *ret);

/* exit.json, atomic (tmp and rename). durable: fsync'd, file and directory.
 * Only the container shim whose berthd still holds the run's start-report pipe
 * writes it without (berth-shim.c): that berthd commits the exit to its state
 * with an fsync before it answers anyone, and a berthd that is gone closed
 * the pipe. */
int driver_exit_write(int dirfd, const DriverExit *e, bool durable);
int driver_exit_read(int dirfd, DriverExit *ret);

/* /proc/<pid>/stat field 22 (clock ticks since boot). */
int proc_start_time(pid_t pid, uint64_t *ret);
int read_boot_id(char buf[static BOOT_ID_MAX]);
