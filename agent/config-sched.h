/* SPDX-License-Identifier: Apache-2.0 */
/* The scheduler: section of berthd.yaml (docs/CONFIG.md, docs/SCHEDULER.md).
 * The keys are read as strings by config.c's key table and parsed here by
 * config_finish(), so an error names the key. Plain numbers only: the agent
 * turns ConfigSched into the scheduler's SchedConfig (agent/manager-sched.c). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

typedef enum ConfigSchedKey {
        CONFIG_SCHED_SYSTEM_CPU,
        CONFIG_SCHED_SYSTEM_MEMORY,
        CONFIG_SCHED_BERTH_CPU,
        CONFIG_SCHED_BERTH_MEMORY,
        CONFIG_SCHED_OC_CPU_GUARANTEED,
        CONFIG_SCHED_OC_CPU_BURSTABLE,
        CONFIG_SCHED_OC_CPU_BEST_EFFORT,
        CONFIG_SCHED_OC_MEMORY_GUARANTEED,
        CONFIG_SCHED_OC_MEMORY_BURSTABLE,
        CONFIG_SCHED_OC_MEMORY_BEST_EFFORT,
        CONFIG_SCHED_VM_MEMORY,
        CONFIG_SCHED_VM_CPU,
        CONFIG_SCHED_SIBLINGS,
        CONFIG_SCHED_POOL_MIN,
        CONFIG_SCHED_PSI_HIGH,
        CONFIG_SCHED_PSI_LOW,
        CONFIG_SCHED_AVAILABLE_LOW,
        CONFIG_SCHED_AVAILABLE_HIGH,
        CONFIG_SCHED_EVICT_INTERVAL,
        CONFIG_SCHED_TOPOLOGY_ROOT,
        _CONFIG_SCHED_KEY_MAX,
} ConfigSchedKey;

typedef struct ConfigSched {
        uint64_t reserved_cpu_millis[2];    /* [0] system, [1] berth */
        uint64_t reserved_memory_bytes[2];
        unsigned overcommit[2][3];          /* [cpu|memory][guaranteed|burstable|bestEffort], permille */
        uint64_t vm_overhead_memory_bytes;
        uint64_t vm_overhead_cpu_millis;
        int siblings;                       /* 0 none, 1 prefer-whole-cores, 2 require-whole-cores */
        unsigned pool_min_cpus;
        unsigned psi_high, psi_low;         /* percent x100; 0 = off */
        uint64_t available_low, available_high; /* bytes; 0 = off */
        uint64_t evict_interval_usec;
        const char *topology_root;          /* "/" unless scheduler.topologyRoot (tests) */
} ConfigSched;

/* Parses the strings (NULL = default) into *ret; errors name the key. */
struct BerthError;
int config_sched_parse(char *const *strings, ConfigSched *ret, struct BerthError *err);
/* The key path of one entry ("scheduler.overcommit.memory.burstable"). */
const char *config_sched_key_path(ConfigSchedKey k);
