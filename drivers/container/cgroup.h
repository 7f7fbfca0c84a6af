/* SPDX-License-Identifier: Apache-2.0 */
/* Cgroup backends behind an ops table, chosen once by probing cgroup_root:
 * v1 (per-controller hierarchies under a tmpfs, this build machine) and v2
 * (unified, fleet hosts). Every path is relative to the configured root, so
 * tests can point the v2 backend at a fake tree in a temp dir.
 *
 * A workload's cgroup is <root>/<parent>/<name> (v2) or
 * <root>/<controller>/<parent>/<name> for each v1 controller. */
#pragma once

#include <sys/types.h>

#include "drivers/driver.h"

typedef struct CgroupLimits {
        uint64_t memory_bytes; /* 0 = unlimited */
        uint64_t cpu_millis;   /* 0 = unlimited */
        uint64_t pids;         /* 0 = unlimited */
        /* cgroup-extra.c */
        uint64_t cpu_weight;        /* 1..10000 (v2 scale), 0 = default */
        uint64_t memory_high_bytes; /* 0 = none (v1: soft limit) */
        uint64_t swap_bytes;        /* on top of memory_bytes; 0 = no swap */
        uint64_t io_weight;         /* 1..10000, 0 = default */
} CgroupLimits;

typedef struct CgroupOps {
        const char *name; /* "v1", "v2" */
        int version;
        /* Creates the cgroup (and the parent) and applies limits. Idempotent. */
        int (*create)(const char *root, const char *parent, const char *name, const CgroupLimits *limits);
        /* Moves pid into the workload's cgroup(s). pid 0 moves the calling
         * process, which must be single-threaded: on v1 it writes its own
         * tid to each controller's tasks file, which unlike a pid written
         * to cgroup.procs does not take the global threadgroup lock and so
         * does not wait for an RCU grace period (~10 ms on this machine). */
        int (*attach)(const char *root, const char *parent, const char *name, pid_t pid);
        /* An O_PATH fd of the workload's cgroup for clone3(CLONE_INTO_CGROUP),
         * which joins the child at fork without any lock wait: v2 on a real
         * cgroup2 mount only; -EOPNOTSUPP on v1 and on a fake tree, where the
         * child attaches itself (pid 0). */
        int (*clone_fd)(const char *root, const char *parent, const char *name);
        int (*stats)(const char *root, const char *parent, const char *name, DriverStats *ret);
        /* The OOM killer's kills in the cgroup so far (one file; 0 on a kernel
         * that does not count them): what the shim compares across a run. */
        int (*oom_kills)(const char *root, const char *parent, const char *name, uint64_t *ret);
        /* Kills what is left, then removes the cgroup(s); 0 if already gone. */
        int (*remove)(const char *root, const char *parent, const char *name);
        /* Removes the parent if no workload is left in it (rmdir, which
         * fails harmlessly while one is). The container driver calls it when
         * berthd stops, not after each remove: made once, the parent saves
         * every start its mkdirs (one per v1 controller, and on v2 the
         * controller delegation). */
        void (*remove_parent)(const char *root, const char *parent);
        /* Freezes (pause) or thaws (resume) every process of the cgroup. */
        int (*freeze)(const char *root, const char *parent, const char *name, bool frozen);
} CgroupOps;

extern const CgroupOps cgroup_v1_ops;
extern const CgroupOps cgroup_v2_ops;

/* statfs(root): CGROUP2_SUPER_MAGIC => v2; tmpfs with v1 controller mounts =>
 * v1; any other directory holding cgroup.controllers => v2 (a fake tree). */
int cgroup_detect(const char *root, const CgroupOps **ret);

/* cgroup-extra.c: cpu weight, memory high, swap, io weight, freezer. */
/* The CFS quota in usec per 100 ms period for cpu_millis (> 0) thousandths of
 * a CPU; at least 1 ms, the kernel's minimum. */
uint64_t cgroup_cpu_quota_usec(uint64_t cpu_millis);
uint64_t cgroup_weight_to_shares(uint64_t weight);
int cgroup_v1_apply_extra(const char *root, const char *parent, const char *name, const CgroupLimits *l);
/* True when cgroup_v1_apply_extra would only write what a new cgroup holds. */
bool cgroup_v1_extra_is_default(const CgroupLimits *l);
int cgroup_v2_apply_extra(const char *dir, const CgroupLimits *l);
int cgroup_v1_freeze(const char *root, const char *parent, const char *name, bool frozen);
int cgroup_v2_freeze(const char *root, const char *parent, const char *name, bool frozen);
int cgroup_frozen(const CgroupOps *ops, const char *root, const char *parent, const char *name, bool *ret);

/* cgroup-cpuset.c: the scheduler's placement, written live by the agent.
 * cpus/mems in the kernel's list format; NULL or "" leaves a file as is.
 * -ENOENT when the workload's cgroup does not exist. */
int cgroup_set_cpuset(const CgroupOps *ops, const char *root, const char *parent, const char *name, const char *cpus,
                      const char *mems);
int cgroup_get_cpuset(const CgroupOps *ops, const char *root, const char *parent, const char *name, char **ret_cpus);

/* Shared helpers (cgroup-util). Paths are absolute. */
int cg_write(const char *dir, const char *file, const char *value);
int cg_read(const char *dir, const char *file, char **ret);
int cg_read_u64(const char *dir, const char *file, uint64_t *ret);
/* Reads "key value" lines (cpu.stat, memory.events, memory.oom_control). */
int cg_read_keyed_u64(const char *dir, const char *file, const char *key, uint64_t *ret);
/* SIGKILLs every pid in dir/cgroup.procs; returns how many were signalled. */
int cg_kill_procs(const char *dir);
/* rmdir with a short bounded retry while processes die; 0 if it is gone. */
int cg_rmdir_retry(const char *dir);
