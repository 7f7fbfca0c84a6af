/* SPDX-License-Identifier: Apache-2.0 */
/* Scheduler helpers: cpusets, names, quantities for messages, configuration
 * defaults and the eviction policy with hysteresis. No I/O, no allocation. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "scheduler/sched.h"

unsigned cpuset_count(const CpuSet *s)
{
        unsigned n = 0;

        for (size_t i = 0; i < SCHED_CPUS_MAX / 64; i++)
                n += (unsigned)__builtin_popcountll(s->bits[i]);
        return n;
}

bool cpuset_is_empty(const CpuSet *s)
{
        for (size_t i = 0; i < SCHED_CPUS_MAX / 64; i++)
                if (s->bits[i])
                        return false;
        return true;
}

bool cpuset_intersects(const CpuSet *a, const CpuSet *b)
{
        for (size_t i = 0; i < SCHED_CPUS_MAX / 64; i++)
                if (a->bits[i] & b->bits[i])
                        return true;
        return false;
}

void cpuset_or(CpuSet *dst, const CpuSet *src)
{
        for (size_t i = 0; i < SCHED_CPUS_MAX / 64; i++)
                dst->bits[i] |= src->bits[i];
}

void cpuset_andnot(CpuSet *dst, const CpuSet *src)
{
        for (size_t i = 0; i < SCHED_CPUS_MAX / 64; i++)
                dst->bits[i] &= ~src->bits[i];
}

char *cpuset_format(const CpuSet *s, char *buf, size_t size)
{
        size_t len = 0;

        if (size == 0)
                return buf;
        buf[0] = 0;
        for (unsigned c = 0; c < SCHED_CPUS_MAX; c++) {
                unsigned e;
                int k;

                if (!cpuset_test(s, c))
                        continue;
                for (e = c; e + 1 < SCHED_CPUS_MAX && cpuset_test(s, e + 1); e++)
                        ;
                if (e == c)
                        k = snprintf(buf + len, size - len, "%s%u", len ? "," : "", c);
                else
                        k = snprintf(buf + len, size - len, "%s%u-%u", len ? "," : "", c, e);
                if (k < 0 || (size_t)k >= size - len) {
                        buf[len] = 0;
                        return buf;
                }
                len += (size_t)k;
                c = e;
        }
        return buf;
}

static int parse_uint(const char **p, unsigned *ret)
{
        unsigned long v = 0;
        const char *s = *p;

        if (*s < '0' || *s > '9')
                return -EINVAL;
        while (*s >= '0' && *s <= '9') {
                v = v * 10 + (unsigned long)(*s - '0');
                if (v >= SCHED_CPUS_MAX)
                        return -ERANGE;
                s++;
        }
        *p = s;
        *ret = (unsigned)v;
        return 0;
}

int cpuset_parse(const char *s, CpuSet *ret)
{
        CpuSet set = {};
        int r;

        while (*s == ' ' || *s == '\t')
                s++;
        while (*s && *s != '\n') {
                unsigned a, b;

                r = parse_uint(&s, &a);
                if (r < 0)
                        return r;
                b = a;
                if (*s == '-') {
                        s++;
                        r = parse_uint(&s, &b);
                        if (r < 0)
                                return r;
                        if (b < a)
                                return -EINVAL;
                }
                for (unsigned c = a; c <= b; c++)
                        cpuset_set(&set, c);
                if (*s == ',')
                        s++;
                else if (*s && *s != '\n')
                        return -EINVAL;
        }
        *ret = set;
        return 0;
}

static const char *const qos_names[_SCHED_QOS_MAX] = {
        [SCHED_QOS_GUARANTEED] = "guaranteed",
        [SCHED_QOS_BURSTABLE] = "burstable",
        [SCHED_QOS_BEST_EFFORT] = "best-effort",
};
static const char *const resource_names[_SCHED_RES_MAX] = {
        [SCHED_RES_CPU] = "cpu",
        [SCHED_RES_MEMORY] = "memory",
};
static const char *const sibling_names[_SCHED_SIBLINGS_MAX] = {
        [SCHED_SIBLINGS_NONE] = "none",
        [SCHED_SIBLINGS_PREFER_WHOLE] = "prefer-whole-cores",
        [SCHED_SIBLINGS_REQUIRE_WHOLE] = "require-whole-cores",
};

static int lookup(const char *const *names, int n, const char *s)
{
        if (!s)
                return -EINVAL;
        for (int i = 0; i < n; i++)
                if (strcmp(names[i], s) == 0)
                        return i;
        return -EINVAL;
}

const char *sched_qos_to_string(SchedQos q)
{
        return q >= 0 && q < _SCHED_QOS_MAX ? qos_names[q] : NULL;
}
SchedQos sched_qos_from_string(const char *s)
{
        return (SchedQos)lookup(qos_names, _SCHED_QOS_MAX, s);
}
const char *sched_resource_to_string(SchedResource r)
{
        return r >= 0 && r < _SCHED_RES_MAX ? resource_names[r] : NULL;
}
SchedResource sched_resource_from_string(const char *s)
{
        return (SchedResource)lookup(resource_names, _SCHED_RES_MAX, s);
}
const char *sched_sibling_policy_to_string(SchedSiblingPolicy p)
{
        return p >= 0 && p < _SCHED_SIBLINGS_MAX ? sibling_names[p] : NULL;
}
SchedSiblingPolicy sched_sibling_policy_from_string(const char *s)
{
        return (SchedSiblingPolicy)lookup(sibling_names, _SCHED_SIBLINGS_MAX, s);
}

char *sched_format_bytes(char *buf, size_t size, uint64_t bytes)
{
        static const char *const suffix[] = { "Ki", "Mi", "Gi", "Ti", "Pi", "Ei" };
        int u = -1;

        for (int i = 0; i < 6 && bytes >= (UINT64_C(1024) << (10 * i)); i++)
                u = i;
        if (u < 0) {
                snprintf(buf, size, "%" PRIu64, bytes);
                return buf;
        }
        uint64_t unit = UINT64_C(1024) << (10 * u);
        uint64_t whole = bytes / unit, tenths = (bytes % unit) * 10 / unit;
        if (bytes % unit == 0 || tenths == 0)
                snprintf(buf, size, "%s%" PRIu64 "%s", bytes % unit ? "~" : "", whole, suffix[u]);
        else
                snprintf(buf, size, "%" PRIu64 ".%" PRIu64 "%s", whole, tenths, suffix[u]);
        return buf;
}

char *sched_format_millis(char *buf, size_t size, uint64_t millis)
{
        if (millis % 1000 == 0)
                snprintf(buf, size, "%" PRIu64, millis / 1000);
        else
                snprintf(buf, size, "%" PRIu64 "m", millis);
        return buf;
}

void sched_config_init(SchedConfig *c)
{
        *c = (SchedConfig){
                .system_reserved_cpu_millis = 0,
                .system_reserved_memory_bytes = 0,
                .berth_reserved_cpu_millis = 100,
                .berth_reserved_memory_bytes = UINT64_C(64) << 20,
                .vm_overhead_memory_bytes = UINT64_C(64) << 20,
                .vm_overhead_cpu_millis = 100,
                .sibling_policy = SCHED_SIBLINGS_PREFER_WHOLE,
                .shared_pool_min_cpus = 1,
                .evict_psi_high = 0,
                .evict_psi_low = 0,
                .evict_available_low = 0,
                .evict_available_high = 0,
        };
        for (int r = 0; r < _SCHED_RES_MAX; r++)
                for (int q = 0; q < _SCHED_QOS_MAX; q++)
                        c->overcommit[r][q] = SCHED_RATIO_ONE;
}

int sched_config_check(const SchedConfig *c, const char **ret_what)
{
        static const char *const oc[_SCHED_RES_MAX][_SCHED_QOS_MAX] = {
                { "overcommit.cpu.guaranteed", "overcommit.cpu.burstable", "overcommit.cpu.bestEffort" },
                { "overcommit.memory.guaranteed", "overcommit.memory.burstable", "overcommit.memory.bestEffort" },
        };
        const char *what = NULL;

        for (int r = 0; r < _SCHED_RES_MAX && !what; r++)
                for (int q = 0; q < _SCHED_QOS_MAX && !what; q++)
                        if (c->overcommit[r][q] < SCHED_RATIO_ONE || c->overcommit[r][q] > 100 * SCHED_RATIO_ONE)
                                what = oc[r][q];
        if (!what && (c->sibling_policy < 0 || c->sibling_policy >= _SCHED_SIBLINGS_MAX))
                what = "cpuManager.siblings";
        if (!what && c->shared_pool_min_cpus < 1)
                what = "cpuManager.sharedPoolMinCpus";
        if (!what && c->evict_psi_high > 10000)
                what = "eviction.psiHigh";
        if (!what && c->evict_psi_low > c->evict_psi_high)
                what = "eviction.psiLow";
        if (!what && c->evict_available_high < c->evict_available_low)
                what = "eviction.availableHigh";
        if (what) {
                if (ret_what)
                        *ret_what = what;
                return -EINVAL;
        }
        return 0;
}

/* Eviction order: best-effort before burstable, lower priority first, youngest first. */
static bool evict_before(const SchedEntry *a, const SchedEntry *b)
{
        if (a->placement.qos != b->placement.qos)
                return a->placement.qos > b->placement.qos;
        if (a->req.priority != b->req.priority)
                return a->req.priority < b->req.priority;
        return a->seq > b->seq;
}

bool sched_eviction_tick(const SchedLedger *l, SchedEvictionState *st, const SchedPressure *p,
                         uint32_t *ret_victim, char *reason, size_t size)
{
        const SchedConfig *c = sched_config(l);
        bool psi_on = c->evict_psi_high > 0, mem_on = c->evict_available_low > 0;
        char a[32], b[32];

        *ret_victim = SCHED_ID_NONE;
        if (reason && size)
                reason[0] = 0;
        if (!st->under_pressure) {
                if (psi_on && p->psi_some_avg10 >= c->evict_psi_high) {
                        st->under_pressure = true;
                        if (reason)
                                snprintf(reason, size, "memory pressure: PSI some avg10 %u.%02u%% >= %u.%02u%%",
                                         p->psi_some_avg10 / 100, p->psi_some_avg10 % 100, c->evict_psi_high / 100,
                                         c->evict_psi_high % 100);
                } else if (mem_on && p->memory_available <= c->evict_available_low) {
                        st->under_pressure = true;
                        if (reason)
                                snprintf(reason, size, "low memory: available %s <= %s",
                                         sched_format_bytes(a, sizeof(a), p->memory_available),
                                         sched_format_bytes(b, sizeof(b), c->evict_available_low));
                }
        } else {
                bool psi_ok = !psi_on || p->psi_some_avg10 <= c->evict_psi_low;
                bool mem_ok = !mem_on || p->memory_available >= c->evict_available_high;
                if (psi_ok && mem_ok)
                        st->under_pressure = false;
                else if (reason) {
                        if (!psi_ok)
                                snprintf(reason, size, "memory pressure: PSI some avg10 %u.%02u%% > %u.%02u%%",
                                         p->psi_some_avg10 / 100, p->psi_some_avg10 % 100, c->evict_psi_low / 100,
                                         c->evict_psi_low % 100);
                        else
                                snprintf(reason, size, "low memory: available %s < %s",
                                         sched_format_bytes(a, sizeof(a), p->memory_available),
                                         sched_format_bytes(b, sizeof(b), c->evict_available_high));
                }
        }
        if (!st->under_pressure)
                return false;

        const SchedEntry *best = NULL;
        uint32_t best_id = SCHED_ID_NONE;
        for (uint32_t id = 0; id < SCHED_WORKLOADS_MAX; id++) {
                const SchedEntry *e = sched_entry(l, id);
                if (!e)
                        break;
                if (!e->used || e->placement.qos == SCHED_QOS_GUARANTEED)
                        continue;
                if (!best || evict_before(e, best)) {
                        best = e;
                        best_id = id;
                }
        }
        *ret_victim = best_id;
        return true;
}
