/* SPDX-License-Identifier: Apache-2.0 */
/* The ledger and the admission decision: QoS, overcommit, exclusive cpusets
 * with NUMA and sibling policy, the VMM overhead, and preemption victims.
 *
 * Accounting (docs/SCHEDULER.md):
 *   cpu    allocatable = online CPUs x 1000 - reservations (millicores).
 *          Exclusive sets are whole CPUs taken out of the shared pool; the
 *          reservations and every non-exclusive booking live in the shared pool,
 *          whose capacity is pool CPUs x 1000 - reservations.
 *   memory allocatable = MemTotal - reservations; every booking counts.
 * A workload of class q is admitted when booked + charge <= capacity x
 * overcommit[resource][q]. */
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scheduler/sched.h"

struct SchedLedger {
        SchedTopology topo;
        SchedConfig cfg;
        size_t max;
        uint32_t high;               /* ids below this may be in use */
        SchedEntry *entries;
        uint32_t *free_ids;          /* stack of free ids below high */
        size_t n_free;
        size_t n_used;
        uint64_t next_seq;

        uint64_t reserved_cpu;
        uint64_t reserved_memory;
        uint64_t allocatable_memory;
        uint64_t node_allocatable_memory[SCHED_NODES_MAX];

        CpuSet exclusive;            /* union of exclusive sets */
        unsigned n_exclusive;
        uint64_t shared_millis;      /* booked on the shared pool */
        size_t n_shared;             /* workloads on the shared pool */
        uint64_t memory_booked;
        uint64_t node_memory_booked[SCHED_NODES_MAX];

        uint32_t *scratch;           /* ids in victim order (order_insert) */
        size_t n_order;
        uint8_t *released;           /* per id: temporarily unbooked */
};

static inline uint64_t sat_sub(uint64_t a, uint64_t b)
{
        return a > b ? a - b : 0;
}

static inline uint64_t scale(uint64_t v, unsigned ratio)
{
        /* v is at most ~2^50 bytes, ratio at most 100000: no overflow */
        return v / SCHED_RATIO_ONE * ratio + v % SCHED_RATIO_ONE * ratio / SCHED_RATIO_ONE;
}

static unsigned max_ratio(const SchedConfig *c, SchedResource r)
{
        unsigned m = 0;

        for (int q = 0; q < _SCHED_QOS_MAX; q++)
                if (c->overcommit[r][q] > m)
                        m = c->overcommit[r][q];
        return m;
}

int sched_ledger_new(const SchedTopology *topo, const SchedConfig *config, size_t max_workloads, SchedLedger **ret)
{
        SchedLedger *l;

        if (!topo || !config || !ret || max_workloads == 0 || max_workloads > SCHED_WORKLOADS_MAX)
                return -EINVAL;
        if (topo->n_cpus == 0 || topo->n_cpus > SCHED_CPUS_MAX || topo->n_nodes == 0 ||
            topo->n_nodes > SCHED_NODES_MAX || sched_config_check(config, NULL) < 0)
                return -EINVAL;

        l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        l->entries = calloc(max_workloads, sizeof(*l->entries));
        l->free_ids = calloc(max_workloads, sizeof(*l->free_ids));
        l->scratch = calloc(max_workloads, sizeof(*l->scratch));
        l->released = calloc(max_workloads, sizeof(*l->released));
        if (!l->entries || !l->free_ids || !l->scratch || !l->released) {
                sched_ledger_free(l);
                return -ENOMEM;
        }
        l->topo = *topo;
        l->cfg = *config;
        l->max = max_workloads;
        l->reserved_cpu = config->system_reserved_cpu_millis + config->berth_reserved_cpu_millis;
        l->reserved_memory = config->system_reserved_memory_bytes + config->berth_reserved_memory_bytes;
        l->allocatable_memory = sat_sub(topo->memory_bytes, l->reserved_memory);
        uint64_t node_total = 0;
        for (unsigned n = 0; n < topo->n_nodes; n++)
                node_total += topo->node_memory_bytes[n];
        for (unsigned n = 0; n < topo->n_nodes; n++) {
                /* each node gives up its share of the reservation */
                if (node_total == 0)
                        l->node_allocatable_memory[n] = l->allocatable_memory / topo->n_nodes;
                else
                        l->node_allocatable_memory[n] =
                                (uint64_t)((__uint128_t)topo->node_memory_bytes[n] * l->allocatable_memory / node_total);
        }
        *ret = l;
        return 0;
}

SchedLedger *sched_ledger_free(SchedLedger *l)
{
        if (!l)
                return NULL;
        free(l->entries);
        free(l->free_ids);
        free(l->scratch);
        free(l->released);
        free(l);
        return NULL;
}

const SchedTopology *sched_topology(const SchedLedger *l)
{
        return &l->topo;
}

const SchedConfig *sched_config(const SchedLedger *l)
{
        return &l->cfg;
}

const SchedEntry *sched_entry(const SchedLedger *l, uint32_t id)
{
        return id < l->high ? &l->entries[id] : NULL;
}

SchedQos sched_qos_of(const SchedRequest *req)
{
        if (!req->cpu_request && !req->cpu_limit && !req->memory_request && !req->memory_limit)
                return SCHED_QOS_BEST_EFFORT;
        if (req->cpu_request && req->cpu_request == req->cpu_limit && req->memory_request &&
            req->memory_request == req->memory_limit)
                return SCHED_QOS_GUARANTEED;
        return SCHED_QOS_BURSTABLE;
}

/* ---- booking ---- */

static uint64_t shared_part(const SchedPlacement *p)
{
        return p->exclusive ? sat_sub(p->charge_cpu_millis, (uint64_t)cpuset_count(&p->cpus) * 1000)
                            : p->charge_cpu_millis;
}

static void book(SchedLedger *l, const SchedPlacement *p)
{
        l->memory_booked += p->charge_memory_bytes;
        l->shared_millis += shared_part(p);
        if (p->exclusive) {
                cpuset_or(&l->exclusive, &p->cpus);
                l->n_exclusive += cpuset_count(&p->cpus);
        } else
                l->n_shared++;
        if (p->numa_node >= 0)
                l->node_memory_booked[p->numa_node] += p->charge_memory_bytes;
}

static void unbook(SchedLedger *l, const SchedPlacement *p)
{
        l->memory_booked -= p->charge_memory_bytes;
        l->shared_millis -= shared_part(p);
        if (p->exclusive) {
                cpuset_andnot(&l->exclusive, &p->cpus);
                l->n_exclusive -= cpuset_count(&p->cpus);
        } else
                l->n_shared--;
        if (p->numa_node >= 0)
                l->node_memory_booked[p->numa_node] -= p->charge_memory_bytes;
}

/* ---- placement ---- */

static void charges(const SchedLedger *l, const SchedRequest *req, SchedPlacement *p);

typedef struct Fit {
        SchedPlacement placement;
        SchedResource resource;
        char *reason;
        size_t reason_size;
} Fit;

static bool reject(Fit *f, SchedResource r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static bool reject(Fit *f, SchedResource r, const char *fmt, ...)
{
        va_list ap;

        f->resource = r;
        if (f->reason) {
                va_start(ap, fmt);
                vsnprintf(f->reason, f->reason_size, fmt, ap);
                va_end(ap);
        }
        return false;
}

/* Takes n CPUs out of avail (the free CPUs of one node, or of the host)
 * following the sibling policy; highest ids first so CPU 0 stays shared. */
static bool pick_cpus(const SchedLedger *l, const CpuSet *avail, unsigned n, CpuSet *ret)
{
        const SchedTopology *t = &l->topo;
        SchedSiblingPolicy pol = l->cfg.sibling_policy;
        CpuSet out = {};
        unsigned got = 0;

        if (pol == SCHED_SIBLINGS_NONE) {
                for (int c = (int)t->n_cpus - 1; c >= 0 && got < n; c--)
                        if (cpuset_test(avail, (unsigned)c)) {
                                cpuset_set(&out, (unsigned)c);
                                got++;
                        }
        } else {
                /* pass 0: whole free cores; pass 1 (prefer only): partially free
                 * cores, to fill fragments; pass 2 (prefer only): anything left */
                for (int pass = 0; pass < 3 && got < n; pass++) {
                        if (pass > 0 && pol == SCHED_SIBLINGS_REQUIRE_WHOLE)
                                break;
                        for (int k = (int)t->n_cores - 1; k >= 0 && got < n; k--) {
                                unsigned nc = t->core_n_cpus[k], nfree = 0;

                                for (unsigned i = 0; i < nc; i++)
                                        if (cpuset_test(avail, t->core_cpus[k][i]) &&
                                            !cpuset_test(&out, t->core_cpus[k][i]))
                                                nfree++;
                                if (nfree == 0)
                                        continue;
                                if (pass == 0 && (nfree != nc || n - got < nc))
                                        continue;
                                if (pass == 1 && nfree == nc)
                                        continue;
                                for (unsigned i = 0; i < nc && got < n; i++) {
                                        unsigned c = t->core_cpus[k][i];
                                        if (cpuset_test(avail, c) && !cpuset_test(&out, c)) {
                                                cpuset_set(&out, c);
                                                got++;
                                        }
                                }
                        }
                }
        }
        if (got < n)
                return false;
        *ret = out;
        return true;
}

static bool fit(SchedLedger *l, const SchedRequest *req, Fit *f)
{
        const SchedConfig *c = &l->cfg;
        const SchedTopology *t = &l->topo;
        SchedPlacement *p = &f->placement;
        char a[32], b[32];

        charges(l, req, p);

        /* memory, node-wide */
        uint64_t mem_cap = scale(l->allocatable_memory, c->overcommit[SCHED_RES_MEMORY][p->qos]);
        if (l->memory_booked + p->charge_memory_bytes > mem_cap)
                return reject(f, SCHED_RES_MEMORY, "insufficient memory: requested %s, free %s on node",
                              sched_format_bytes(a, sizeof(a), p->charge_memory_bytes),
                              sched_format_bytes(b, sizeof(b), sat_sub(mem_cap, l->memory_booked)));

        CpuSet pool = t->online;
        cpuset_andnot(&pool, &l->exclusive);
        unsigned pool_n = t->n_cpus ? cpuset_count(&pool) : 0;
        unsigned cpu_ratio = c->overcommit[SCHED_RES_CPU][p->qos];
        bool exclusive = p->qos == SCHED_QOS_GUARANTEED && req->cpu_request % 1000 == 0;

        if (!exclusive) {
                uint64_t cap = scale(sat_sub((uint64_t)pool_n * 1000, l->reserved_cpu), cpu_ratio);
                if (l->shared_millis + p->charge_cpu_millis > cap)
                        return reject(f, SCHED_RES_CPU, "insufficient cpu: requested %s, free %s on node",
                                      sched_format_millis(a, sizeof(a), p->charge_cpu_millis),
                                      sched_format_millis(b, sizeof(b), sat_sub(cap, l->shared_millis)));
                return true;
        }

        unsigned n = (unsigned)(req->cpu_request / 1000);
        uint64_t extra = p->charge_cpu_millis - req->cpu_request; /* VMM I/O threads, on the shared pool */
        unsigned spare = pool_n > c->shared_pool_min_cpus ? pool_n - c->shared_pool_min_cpus : 0;
        if (n > spare)
                return reject(f, SCHED_RES_CPU,
                              "insufficient cpu: requested %u exclusive CPUs, free %u on node (%u of %u pool CPUs must stay shared)",
                              n, spare, c->shared_pool_min_cpus, pool_n);
        if (c->sibling_policy == SCHED_SIBLINGS_REQUIRE_WHOLE && t->smt_width > 1 && n % t->smt_width)
                return reject(f, SCHED_RES_CPU,
                              "insufficient cpu: requested %u exclusive CPUs, sibling policy require-whole-cores needs a multiple of %u",
                              n, t->smt_width);
        /* the pool left behind must still hold what is booked on it */
        uint64_t left = scale(sat_sub((uint64_t)(pool_n - n) * 1000, l->reserved_cpu), max_ratio(c, SCHED_RES_CPU));
        if (l->shared_millis + extra > left)
                return reject(f, SCHED_RES_CPU,
                              "insufficient cpu: requested %u exclusive CPUs, the shared pool would keep %s for %s booked on it",
                              n, sched_format_millis(a, sizeof(a), left),
                              sched_format_millis(b, sizeof(b), l->shared_millis + extra));

        /* NUMA: the fullest node that still fits (best fit), CPUs and memory */
        if (t->n_nodes > 1) {
                int best = -1;
                unsigned best_free = 0;
                CpuSet best_avail = {};
                for (unsigned nd = 0; nd < t->n_nodes; nd++) {
                        CpuSet avail = t->node_cpus[nd];
                        cpuset_andnot(&avail, &l->exclusive);
                        unsigned nfree = cpuset_count(&avail);
                        if (nfree < n || (best >= 0 && nfree >= best_free))
                                continue;
                        if (l->node_memory_booked[nd] + p->charge_memory_bytes > l->node_allocatable_memory[nd])
                                continue;
                        CpuSet got;
                        if (!pick_cpus(l, &avail, n, &got))
                                continue;
                        best = (int)nd;
                        best_free = nfree;
                        best_avail = got;
                }
                if (best >= 0) {
                        p->exclusive = true;
                        p->cpus = best_avail;
                        p->numa_node = best;
                        return true;
                }
        }
        if (!pick_cpus(l, &pool, n, &p->cpus))
                return reject(f, SCHED_RES_CPU,
                              "insufficient cpu: requested %u exclusive CPUs, no %s set free on node",
                              n, c->sibling_policy == SCHED_SIBLINGS_REQUIRE_WHOLE ? "whole-core" : "such");
        p->exclusive = true;
        if (t->n_nodes == 1)
                p->numa_node = 0;
        return true;
}

/* ---- preemption ---- */

/* Victim order (docs/SCHEDULER.md): lowest priority first, then best-effort
 * before burstable before guaranteed, then the youngest. */
static bool victim_before(const SchedEntry *a, const SchedEntry *b)
{
        if (a->req.priority != b->req.priority)
                return a->req.priority < b->req.priority;
        if (a->placement.qos != b->placement.qos)
                return a->placement.qos > b->placement.qos;
        return a->seq > b->seq;
}

static void release(SchedLedger *l, uint32_t id)
{
        unbook(l, &l->entries[id].placement);
        l->released[id] = 1;
}

static void restore(SchedLedger *l, uint32_t id)
{
        book(l, &l->entries[id].placement);
        l->released[id] = 0;
}

static void charges(const SchedLedger *l, const SchedRequest *req, SchedPlacement *p)
{
        const SchedConfig *c = &l->cfg;

        *p = (SchedPlacement){ .numa_node = -1 };
        p->qos = sched_qos_of(req);
        p->charge_cpu_millis = req->cpu_request;
        p->charge_memory_bytes = req->memory_request;
        if (req->is_vm) {
                /* guest RAM is allocated whole by the VMM whatever was "requested" */
                if (req->memory_limit > p->charge_memory_bytes)
                        p->charge_memory_bytes = req->memory_limit;
                p->charge_memory_bytes += c->vm_overhead_memory_bytes;
                p->charge_cpu_millis += c->vm_overhead_cpu_millis;
        }
}

/* The victim order as a sorted array of ids (scratch), kept up to date on
 * commit and remove: preemption then walks a prefix instead of sorting. */
static size_t order_find(const SchedLedger *l, const SchedEntry *e)
{
        size_t lo = 0, hi = l->n_order;

        while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (victim_before(&l->entries[l->scratch[mid]], e))
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

static void order_insert(SchedLedger *l, uint32_t id)
{
        size_t at = order_find(l, &l->entries[id]);

        memmove(l->scratch + at + 1, l->scratch + at, (l->n_order - at) * sizeof(*l->scratch));
        l->scratch[at] = id;
        l->n_order++;
}

static void order_erase(SchedLedger *l, uint32_t id)
{
        size_t at = order_find(l, &l->entries[id]);

        while (at < l->n_order && l->scratch[at] != id) /* equal keys cannot happen: seq is unique */
                at++;
        if (at == l->n_order)
                return;
        memmove(l->scratch + at, l->scratch + at + 1, (l->n_order - at - 1) * sizeof(*l->scratch));
        l->n_order--;
}

/* What a victim gives back, and what the request still lacks, in the units of
 * the checks in fit(): memory bytes, shared-pool millicores at the request's
 * ratio, and pool CPUs for an exclusive request. */
typedef struct Need {
        int64_t memory;
        int64_t cpu;
        int64_t pool_cpus;
        unsigned cpu_ratio;
} Need;

static void need_compute(const SchedLedger *l, const SchedRequest *req, Need *n)
{
        const SchedConfig *c = &l->cfg;
        SchedPlacement p;

        charges(l, req, &p);
        n->memory = (int64_t)(l->memory_booked + p.charge_memory_bytes) -
                    (int64_t)scale(l->allocatable_memory, c->overcommit[SCHED_RES_MEMORY][p.qos]);
        unsigned pool_n = cpuset_count(&l->topo.online) - l->n_exclusive;
        if (p.qos == SCHED_QOS_GUARANTEED && req->cpu_request % 1000 == 0) {
                uint64_t k = req->cpu_request / 1000;
                n->cpu_ratio = max_ratio(c, SCHED_RES_CPU);
                n->pool_cpus = (int64_t)(k + c->shared_pool_min_cpus) - (int64_t)pool_n;
                n->cpu = (int64_t)(l->shared_millis + p.charge_cpu_millis - req->cpu_request) -
                         (int64_t)scale(sat_sub((pool_n > k ? pool_n - k : 0) * UINT64_C(1000), l->reserved_cpu),
                                        n->cpu_ratio);
        } else {
                n->cpu_ratio = c->overcommit[SCHED_RES_CPU][p.qos];
                n->pool_cpus = 0;
                n->cpu = (int64_t)(l->shared_millis + p.charge_cpu_millis) -
                         (int64_t)scale(sat_sub((uint64_t)pool_n * 1000, l->reserved_cpu), n->cpu_ratio);
        }
}

static void need_give(Need *n, const SchedPlacement *v, int sign)
{
        int64_t excl = v->exclusive ? cpuset_count(&v->cpus) : 0;

        n->memory -= sign * (int64_t)v->charge_memory_bytes;
        n->cpu -= sign * ((int64_t)shared_part(v) + excl * (int64_t)scale(1000, n->cpu_ratio));
        n->pool_cpus -= sign * excl;
}

static bool need_met(const Need *n)
{
        return n->memory <= 0 && n->cpu <= 0 && n->pool_cpus <= 0;
}

static bool need_helped_by(const Need *n, const SchedPlacement *v, SchedResource failing)
{
        bool mem = v->charge_memory_bytes > 0, cpu = shared_part(v) > 0 || v->exclusive;

        if (need_met(n)) /* the counts fit but the topology did not: free CPUs of the failing kind */
                return failing == SCHED_RES_MEMORY ? mem : v->exclusive;
        return (n->memory > 0 && mem) || (n->cpu > 0 && cpu) || (n->pool_cpus > 0 && v->exclusive);
}

/* Walks the victim order (lower priorities only), taking victims that give
 * back what is lacking until the request fits, then drops the ones the last
 * victims made unnecessary. At most SCHED_VICTIMS_MAX victims. */
static bool try_preempt(SchedLedger *l, const SchedRequest *req, uint32_t replacing, SchedResource failing,
                        SchedDecision *d)
{
        uint32_t order[SCHED_VICTIMS_MAX];
        size_t k = 0;
        Need need;
        Fit f = {};
        bool ok = false;

        need_compute(l, req, &need);
        for (size_t i = 0; i < l->n_order && k < SCHED_VICTIMS_MAX; i++) {
                uint32_t id = l->scratch[i];
                const SchedEntry *e = &l->entries[id];

                if (e->req.priority >= req->priority)
                        break;
                if (id == replacing || !need_helped_by(&need, &e->placement, failing))
                        continue;
                release(l, id);
                need_give(&need, &e->placement, +1);
                order[k++] = id;
                if (!need_met(&need))
                        continue;
                if (fit(l, req, &f)) {
                        ok = true;
                        break;
                }
                failing = f.resource;
        }
        if (ok) {
                /* minimise: drop earlier victims whose share is no longer needed */
                uint32_t kept[SCHED_VICTIMS_MAX];
                size_t dropped = 0;

                memcpy(kept, order, k * sizeof(*order));
                for (size_t j = k - 1; j-- > 0;) {
                        Need t = need;
                        need_give(&t, &l->entries[order[j]].placement, -1);
                        if (need_met(&t)) {
                                need = t;
                                restore(l, order[j]);
                                order[j] = SCHED_ID_NONE;
                                dropped++;
                        }
                }
                if (dropped && !fit(l, req, &f)) {
                        /* the topology wanted them after all: keep the full set */
                        for (size_t j = 0; j < k; j++)
                                if (order[j] == SCHED_ID_NONE) {
                                        order[j] = kept[j];
                                        release(l, kept[j]);
                                }
                        (void)fit(l, req, &f);
                }
                if (ok) {
                        d->placement = f.placement;
                        d->n_victims = 0;
                        for (size_t j = 0; j < k; j++)
                                if (order[j] != SCHED_ID_NONE)
                                        d->victims[d->n_victims++] = order[j];
                }
        }
        for (size_t j = 0; j < k; j++)
                if (order[j] != SCHED_ID_NONE && l->released[order[j]])
                        restore(l, order[j]);
        return ok;
}

static int check_request(const SchedLedger *l, const SchedRequest *req, uint32_t replacing)
{
        if (!req)
                return -EINVAL;
        if (req->cpu_limit && req->cpu_request > req->cpu_limit)
                return -EINVAL;
        if (req->memory_limit && req->memory_request > req->memory_limit)
                return -EINVAL;
        if (req->cpu_request > (uint64_t)SCHED_CPUS_MAX * 1000 || req->memory_request > (UINT64_C(1) << 52) ||
            req->memory_limit > (UINT64_C(1) << 52))
                return -EINVAL;
        if (replacing != SCHED_ID_NONE && (replacing >= l->high || !l->entries[replacing].used))
                return -ENOENT;
        return 0;
}

int sched_decide(SchedLedger *l, const SchedRequest *req, uint32_t replacing, SchedDecision *ret)
{
        Fit f = { .reason = ret->reason, .reason_size = sizeof(ret->reason) };
        int r;

        r = check_request(l, req, replacing);
        if (r < 0)
                return r;
        ret->verdict = SCHED_REJECT;
        ret->n_victims = 0;
        ret->reason[0] = 0;
        ret->resource = _SCHED_RES_INVALID;

        if (replacing != SCHED_ID_NONE)
                release(l, replacing);
        if (fit(l, req, &f)) {
                ret->verdict = SCHED_ADMIT;
                ret->placement = f.placement;
        } else {
                ret->resource = f.resource;
                ret->placement = f.placement;
                if (try_preempt(l, req, replacing, f.resource, ret))
                        ret->verdict = SCHED_ADMIT_PREEMPT;
        }
        if (replacing != SCHED_ID_NONE)
                restore(l, replacing);
        return 0;
}

static uint32_t take_id(SchedLedger *l)
{
        if (l->n_free > 0)
                return l->free_ids[--l->n_free];
        if (l->high < l->max)
                return l->high++;
        return SCHED_ID_NONE;
}

static void put_entry(SchedLedger *l, uint32_t id, const SchedRequest *req, const SchedPlacement *p, uint64_t seq)
{
        SchedEntry *e = &l->entries[id];

        *e = (SchedEntry){
                .used = true,
                .is_vm = req->is_vm,
                .priority = req->priority,
                .seq = seq,
                .placement = *p,
                .req = *req,
        };
        e->req.name = NULL;
        book(l, p);
        order_insert(l, id);
}

int sched_commit(SchedLedger *l, const SchedRequest *req, const SchedDecision *d, uint32_t replacing,
                 uint32_t *ret_id)
{
        uint32_t id;
        int r;

        r = check_request(l, req, replacing);
        if (r < 0)
                return r;
        if (!d || d->verdict != SCHED_ADMIT)
                return -EINVAL;
        if (d->placement.exclusive) {
                /* refuse a stale decision rather than hand out a CPU twice */
                CpuSet taken = l->exclusive;
                if (replacing != SCHED_ID_NONE && l->entries[replacing].placement.exclusive)
                        cpuset_andnot(&taken, &l->entries[replacing].placement.cpus);
                if (cpuset_intersects(&taken, &d->placement.cpus))
                        return -ESTALE;
        }
        if (replacing != SCHED_ID_NONE) {
                uint64_t seq = l->entries[replacing].seq;
                order_erase(l, replacing);
                unbook(l, &l->entries[replacing].placement);
                put_entry(l, replacing, req, &d->placement, seq);
                id = replacing;
        } else {
                id = take_id(l);
                if (id == SCHED_ID_NONE)
                        return -ENOSPC;
                put_entry(l, id, req, &d->placement, l->next_seq++);
                l->n_used++;
        }
        if (ret_id)
                *ret_id = id;
        return 0;
}

int sched_adopt(SchedLedger *l, const SchedRequest *req, const CpuSet *cpus, uint32_t *ret_id)
{
        Fit f = {};
        uint32_t id;
        int r;

        r = check_request(l, req, SCHED_ID_NONE);
        if (r < 0)
                return r;
        if (!fit(l, req, &f)) {
                /* what runs is what runs: book it on the shared pool even past the limits */
                f.placement.exclusive = false;
                f.placement.cpus = (CpuSet){};
                f.placement.numa_node = -1;
        }
        if (cpus && !cpuset_is_empty(cpus) && f.placement.qos == SCHED_QOS_GUARANTEED) {
                CpuSet s = *cpus;
                CpuSet off = s;
                cpuset_andnot(&off, &l->topo.online);
                if (cpuset_is_empty(&off) && !cpuset_intersects(&s, &l->exclusive) &&
                    cpuset_count(&s) * UINT64_C(1000) <= f.placement.charge_cpu_millis) {
                        f.placement.exclusive = true;
                        f.placement.cpus = s;
                        f.placement.numa_node = -1;
                        for (unsigned nd = 0; nd < l->topo.n_nodes; nd++) {
                                CpuSet rest = s;
                                cpuset_andnot(&rest, &l->topo.node_cpus[nd]);
                                if (cpuset_is_empty(&rest)) {
                                        f.placement.numa_node = (int)nd;
                                        break;
                                }
                        }
                } else if (!cpuset_is_empty(&off) || cpuset_intersects(&s, &l->exclusive)) {
                        f.placement.exclusive = false;
                        f.placement.cpus = (CpuSet){};
                        f.placement.numa_node = -1;
                }
        } else if (cpus && cpuset_is_empty(cpus)) {
                /* it was running on the shared pool: keep it there */
                f.placement.exclusive = false;
                f.placement.cpus = (CpuSet){};
                f.placement.numa_node = -1;
        }
        id = take_id(l);
        if (id == SCHED_ID_NONE)
                return -ENOSPC;
        put_entry(l, id, req, &f.placement, l->next_seq++);
        l->n_used++;
        if (ret_id)
                *ret_id = id;
        return 0;
}

void sched_remove(SchedLedger *l, uint32_t id)
{
        if (id >= l->high || !l->entries[id].used)
                return;
        order_erase(l, id);
        unbook(l, &l->entries[id].placement);
        l->entries[id].used = false;
        l->free_ids[l->n_free++] = id;
        l->n_used--;
}

void sched_usage(const SchedLedger *l, SchedUsage *ret)
{
        const SchedTopology *t = &l->topo;

        *ret = (SchedUsage){};
        ret->capacity[SCHED_RES_CPU] = (uint64_t)cpuset_count(&t->online) * 1000;
        ret->allocatable[SCHED_RES_CPU] = sat_sub(ret->capacity[SCHED_RES_CPU], l->reserved_cpu);
        ret->allocated[SCHED_RES_CPU] = (uint64_t)l->n_exclusive * 1000 + l->shared_millis;
        ret->capacity[SCHED_RES_MEMORY] = t->memory_bytes;
        ret->allocatable[SCHED_RES_MEMORY] = l->allocatable_memory;
        ret->allocated[SCHED_RES_MEMORY] = l->memory_booked;
        for (int r = 0; r < _SCHED_RES_MAX; r++)
                ret->free[r] = sat_sub(ret->allocatable[r], ret->allocated[r]);
        ret->shared_pool = t->online;
        cpuset_andnot(&ret->shared_pool, &l->exclusive);
        ret->exclusive_cpus = l->n_exclusive;
        ret->shared_cpu_millis = l->shared_millis;
        ret->n_workloads = l->n_used;
}

int sched_ledger_verify(const SchedLedger *l, char *reason, size_t size)
{
        CpuSet seen = {};
        uint64_t mem = 0, shared = 0, node_mem[SCHED_NODES_MAX] = {};
        size_t used = 0, n_shared = 0;
        const SchedConfig *c = &l->cfg;

#define FAIL(...)                                                                                            \
        do {                                                                                                 \
                if (reason)                                                                                  \
                        snprintf(reason, size, __VA_ARGS__);                                                 \
                return -EUCLEAN;                                                                             \
        } while (0)

        for (uint32_t id = 0; id < l->high; id++) {
                const SchedEntry *e = &l->entries[id];
                if (!e->used)
                        continue;
                used++;
                mem += e->placement.charge_memory_bytes;
                shared += shared_part(&e->placement);
                if (e->placement.numa_node >= 0)
                        node_mem[e->placement.numa_node] += e->placement.charge_memory_bytes;
                if (e->placement.exclusive) {
                        if (cpuset_is_empty(&e->placement.cpus))
                                FAIL("entry %u: empty exclusive set", id);
                        if (cpuset_intersects(&seen, &e->placement.cpus))
                                FAIL("entry %u: exclusive CPU given twice", id);
                        CpuSet off = e->placement.cpus;
                        cpuset_andnot(&off, &l->topo.online);
                        if (!cpuset_is_empty(&off))
                                FAIL("entry %u: exclusive set holds offline CPUs", id);
                        cpuset_or(&seen, &e->placement.cpus);
                } else
                        n_shared++;
        }
        if (used != l->n_used || n_shared != l->n_shared)
                FAIL("counts: %zu used (ledger says %zu), %zu shared (%zu)", used, l->n_used, n_shared, l->n_shared);
        if (mem != l->memory_booked || shared != l->shared_millis)
                FAIL("sums drifted: memory %" PRIu64 " vs %" PRIu64 ", shared cpu %" PRIu64 " vs %" PRIu64, mem,
                     l->memory_booked, shared, l->shared_millis);
        if (l->n_order != used)
                FAIL("victim order holds %zu ids for %zu workloads", l->n_order, used);
        for (size_t i = 0; i < l->n_order; i++)
                if (!l->entries[l->scratch[i]].used ||
                    (i > 0 && !victim_before(&l->entries[l->scratch[i - 1]], &l->entries[l->scratch[i]])))
                        FAIL("victim order broken at %zu", i);
        if (memcmp(&seen, &l->exclusive, sizeof(seen)) != 0 || cpuset_count(&seen) != l->n_exclusive)
                FAIL("exclusive union drifted");
        for (unsigned nd = 0; nd < l->topo.n_nodes; nd++)
                if (node_mem[nd] != l->node_memory_booked[nd])
                        FAIL("node %u memory drifted", nd);
        if (mem > scale(l->allocatable_memory, max_ratio(c, SCHED_RES_MEMORY)))
                FAIL("memory over-allocated: %" PRIu64 " booked, allocatable %" PRIu64, mem, l->allocatable_memory);
        CpuSet pool = l->topo.online;
        cpuset_andnot(&pool, &seen);
        unsigned pool_n = cpuset_count(&pool);
        if (n_shared > 0 && pool_n == 0)
                FAIL("shared pool empty with %zu shared workloads", n_shared);
        if (pool_n < c->shared_pool_min_cpus && pool_n < cpuset_count(&l->topo.online))
                FAIL("shared pool has %u CPUs, minimum %u", pool_n, c->shared_pool_min_cpus);
        if (shared > scale(sat_sub((uint64_t)pool_n * 1000, l->reserved_cpu), max_ratio(c, SCHED_RES_CPU)))
                FAIL("shared pool over-allocated: %" PRIu64 "m booked on %u CPUs", shared, pool_n);
#undef FAIL
        return 0;
}
