/* SPDX-License-Identifier: Apache-2.0 */
/* The node resource scheduler: one ledger for containers and VMs.
 *
 * A pure decision library. sched_ledger_new() is the only allocation; after
 * it, sched_decide(), sched_commit(), sched_remove() and the eviction policy
 * neither allocate nor do I/O (topology discovery from sysfs lives apart, in
 * topology-sysfs.c). The agent owns the I/O edges: it asks for a decision,
 * kills the victims it names, commits, and applies the cpusets.
 *
 * The model, the order of preemption victims and the eviction policy are
 * documented in docs/SCHEDULER.md. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SCHED_CPUS_MAX 1024
#define SCHED_NODES_MAX 64
#define SCHED_SMT_MAX 8
#define SCHED_WORKLOADS_MAX 65536
#define SCHED_VICTIMS_MAX 64
#define SCHED_REASON_MAX 192
#define SCHED_ID_NONE UINT32_MAX
#define SCHED_RATIO_ONE 1000 /* ratios are in permille: 1500 = 1.5x */

typedef struct CpuSet {
        uint64_t bits[SCHED_CPUS_MAX / 64];
} CpuSet;

static inline void cpuset_set(CpuSet *s, unsigned cpu)
{
        s->bits[cpu / 64] |= UINT64_C(1) << (cpu % 64);
}
static inline void cpuset_clear(CpuSet *s, unsigned cpu)
{
        s->bits[cpu / 64] &= ~(UINT64_C(1) << (cpu % 64));
}
static inline bool cpuset_test(const CpuSet *s, unsigned cpu)
{
        return cpu < SCHED_CPUS_MAX && (s->bits[cpu / 64] >> (cpu % 64)) & 1;
}
unsigned cpuset_count(const CpuSet *s);
bool cpuset_is_empty(const CpuSet *s);
bool cpuset_intersects(const CpuSet *a, const CpuSet *b);
void cpuset_or(CpuSet *dst, const CpuSet *src);
void cpuset_andnot(CpuSet *dst, const CpuSet *src);
/* "0-3,8,10-11"; "" for the empty set. Returns buf, truncated to size. */
char *cpuset_format(const CpuSet *s, char *buf, size_t size);
/* Parses the kernel's list format ("0-3,8\n"); -EINVAL, -ERANGE past SCHED_CPUS_MAX. */
int cpuset_parse(const char *s, CpuSet *ret);

typedef struct SchedTopology {
        unsigned n_cpus;                   /* highest online CPU + 1 */
        CpuSet online;
        int16_t core_of[SCHED_CPUS_MAX];   /* dense core index, -1 = offline */
        int16_t node_of[SCHED_CPUS_MAX];   /* NUMA node, 0 without NUMA */
        int16_t package_of[SCHED_CPUS_MAX];
        unsigned n_cores;
        uint16_t core_cpus[SCHED_CPUS_MAX][SCHED_SMT_MAX]; /* by core index */
        uint8_t core_n_cpus[SCHED_CPUS_MAX];
        unsigned smt_width;                /* max threads per core */
        unsigned n_packages;
        unsigned n_nodes;                  /* nodes with CPUs or memory, dense 0..n-1 */
        CpuSet node_cpus[SCHED_NODES_MAX];
        uint64_t node_memory_bytes[SCHED_NODES_MAX];
        uint64_t memory_bytes;             /* MemTotal */
        uint64_t hugepages_2m;             /* nr_hugepages, whole host */
        uint64_t hugepages_1g;
} SchedTopology;

/* topology-sysfs.c: reads <root>/sys/devices/system/{cpu,node}, <root>/sys/kernel/mm/hugepages
 * and <root>/proc/meminfo. root "/" for the host, a fixture directory in tests. */
int sched_topology_discover(const char *root, SchedTopology *ret);

typedef enum SchedResource {
        SCHED_RES_CPU,
        SCHED_RES_MEMORY,
        _SCHED_RES_MAX,
        _SCHED_RES_INVALID = -22,
} SchedResource;

typedef enum SchedQos {
        SCHED_QOS_GUARANTEED,
        SCHED_QOS_BURSTABLE,
        SCHED_QOS_BEST_EFFORT,
        _SCHED_QOS_MAX,
        _SCHED_QOS_INVALID = -22,
} SchedQos;

typedef enum SchedSiblingPolicy {
        SCHED_SIBLINGS_NONE,           /* any free CPUs, lowest fragmentation not sought */
        SCHED_SIBLINGS_PREFER_WHOLE,   /* whole free cores first, then single threads */
        SCHED_SIBLINGS_REQUIRE_WHOLE,  /* only whole cores; odd requests are rejected */
        _SCHED_SIBLINGS_MAX,
        _SCHED_SIBLINGS_INVALID = -22,
} SchedSiblingPolicy;

typedef struct SchedConfig {
        uint64_t system_reserved_cpu_millis;
        uint64_t system_reserved_memory_bytes;
        uint64_t berth_reserved_cpu_millis;
        uint64_t berth_reserved_memory_bytes;
        unsigned overcommit[_SCHED_RES_MAX][_SCHED_QOS_MAX]; /* permille, >= 1000 */
        uint64_t vm_overhead_memory_bytes;   /* per VM: VMM, device model, page tables */
        uint64_t vm_overhead_cpu_millis;     /* per VM: I/O threads */
        SchedSiblingPolicy sibling_policy;
        unsigned shared_pool_min_cpus;       /* exclusive sets never shrink the pool below this */
        /* eviction */
        unsigned evict_psi_high;             /* memory some avg10 x100 (1000 = 10.00%) entering pressure, 0 = off */
        unsigned evict_psi_low;              /* leaving pressure */
        uint64_t evict_available_low;        /* MemAvailable under this enters pressure, 0 = off */
        uint64_t evict_available_high;       /* leaving pressure needs at least this */
} SchedConfig;

void sched_config_init(SchedConfig *c);
/* -EINVAL with *ret_what naming the bad key path suffix ("overcommit.memory.guaranteed"). */
int sched_config_check(const SchedConfig *c, const char **ret_what);

typedef struct SchedRequest {
        const char *name;        /* for messages only, may be NULL */
        bool is_vm;
        uint64_t cpu_request;    /* millis, 0 = none */
        uint64_t cpu_limit;      /* millis, 0 = unlimited */
        uint64_t memory_request; /* bytes */
        uint64_t memory_limit;
        int32_t priority;
} SchedRequest;

typedef enum SchedVerdict {
        SCHED_ADMIT,
        SCHED_ADMIT_PREEMPT,     /* fits once victims[] are gone */
        SCHED_REJECT,
        _SCHED_VERDICT_MAX,
} SchedVerdict;

typedef struct SchedPlacement {
        SchedQos qos;
        uint64_t charge_cpu_millis;  /* what the ledger books (VM: guest + overhead) */
        uint64_t charge_memory_bytes;
        bool exclusive;              /* cpus is an exclusive set */
        CpuSet cpus;                 /* exclusive set; empty = the shared pool */
        int numa_node;               /* -1 = not aligned */
} SchedPlacement;

typedef struct SchedDecision {
        SchedVerdict verdict;
        SchedPlacement placement;
        SchedResource resource;      /* on reject: the resource that did not fit */
        unsigned n_victims;
        uint32_t victims[SCHED_VICTIMS_MAX];
        char reason[SCHED_REASON_MAX];
} SchedDecision;

typedef struct SchedEntry {
        bool used;
        bool is_vm;
        int32_t priority;
        uint64_t seq;                /* admission order: larger = younger */
        SchedPlacement placement;
        SchedRequest req;            /* name not kept */
} SchedEntry;

typedef struct SchedLedger SchedLedger;

/* Allocates a ledger for at most max_workloads entries. topo and config are copied. */
int sched_ledger_new(const SchedTopology *topo, const SchedConfig *config, size_t max_workloads, SchedLedger **ret);
SchedLedger *sched_ledger_free(SchedLedger *l);

/* Classifies a request: guaranteed when cpu and memory requests equal
 * non-zero limits; best-effort when nothing is requested or limited; else burstable. */
SchedQos sched_qos_of(const SchedRequest *req);

/* Decides without changing the ledger. replacing: SCHED_ID_NONE for a new
 * workload, or the id of the entry being resized (its booking is not counted).
 * Returns 0 (the decision is in *ret, including rejections) or -EINVAL for a
 * malformed request. */
int sched_decide(SchedLedger *l, const SchedRequest *req, uint32_t replacing, SchedDecision *ret);
/* Books an SCHED_ADMIT decision (victims of SCHED_ADMIT_PREEMPT must have been removed
 * first, and the decision re-taken). replacing as for sched_decide; its id is kept. */
int sched_commit(SchedLedger *l, const SchedRequest *req, const SchedDecision *d, uint32_t replacing,
                 uint32_t *ret_id);
/* Books a running workload as found at daemon start, never rejecting:
 * cpus (may be NULL) is the exclusive set it already runs on. */
int sched_adopt(SchedLedger *l, const SchedRequest *req, const CpuSet *cpus, uint32_t *ret_id);
void sched_remove(SchedLedger *l, uint32_t id);
const SchedEntry *sched_entry(const SchedLedger *l, uint32_t id);

typedef struct SchedUsage {
        uint64_t capacity[_SCHED_RES_MAX];
        uint64_t allocatable[_SCHED_RES_MAX];
        uint64_t allocated[_SCHED_RES_MAX];
        uint64_t free[_SCHED_RES_MAX];      /* allocatable - allocated, 0 when overcommitted */
        CpuSet shared_pool;
        unsigned exclusive_cpus;
        uint64_t shared_cpu_millis;         /* booked on the shared pool */
        size_t n_workloads;
} SchedUsage;

void sched_usage(const SchedLedger *l, SchedUsage *ret);
const SchedTopology *sched_topology(const SchedLedger *l);
const SchedConfig *sched_config(const SchedLedger *l);
/* Checks every invariant of the ledger; 0 or -EUCLEAN with a reason. For tests. */
int sched_ledger_verify(const SchedLedger *l, char *reason, size_t size);

/* Eviction: feed one sample per tick. Hysteresis: pressure starts when PSI
 * memory some avg10 >= psi_high or MemAvailable <= available_low, and ends
 * only when PSI <= psi_low and MemAvailable >= available_high. */
typedef struct SchedPressure {
        unsigned psi_some_avg10;     /* x100 */
        uint64_t memory_available;
} SchedPressure;

typedef struct SchedEvictionState {
        bool under_pressure;
} SchedEvictionState;

/* Returns true when the node is (still) under pressure. When it is, *ret_victim is the
 * workload to evict next (best-effort first, then burstable by priority, youngest
 * first; guaranteed never), or SCHED_ID_NONE. reason gets the crossed threshold. */
bool sched_eviction_tick(const SchedLedger *l, SchedEvictionState *st, const SchedPressure *p,
                         uint32_t *ret_victim, char *reason, size_t size);

const char *sched_qos_to_string(SchedQos q);
SchedQos sched_qos_from_string(const char *s);
const char *sched_resource_to_string(SchedResource r);
SchedResource sched_resource_from_string(const char *s);
const char *sched_sibling_policy_to_string(SchedSiblingPolicy p);
SchedSiblingPolicy sched_sibling_policy_from_string(const char *s);
/* "2Gi", "1.5Gi", "512Mi", "100" for messages. */
char *sched_format_bytes(char *buf, size_t size, uint64_t bytes);
/* "500m", "2", "1.5" */
char *sched_format_millis(char *buf, size_t size, uint64_t millis);
