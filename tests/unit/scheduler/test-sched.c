/* SPDX-License-Identifier: Apache-2.0 */
/* Scheduler decisions, one case per rule, against the fixture topologies. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "scheduler/sched.h"
#include "tests/unit/lib/tap.h"

#define GiB (UINT64_C(1) << 30)
#define MiB (UINT64_C(1) << 20)

static const char *fixtures;
static SchedTopology topo2, topo128;

static SchedLedger *ledger(const SchedTopology *t, const SchedConfig *c)
{
        SchedLedger *l = NULL;
        if (sched_ledger_new(t, c, 4096, &l) < 0)
                return NULL;
        return l;
}

static SchedConfig plain_config(void)
{
        SchedConfig c;
        sched_config_init(&c);
        c.berth_reserved_cpu_millis = 0;
        c.berth_reserved_memory_bytes = 0;
        return c;
}

static SchedRequest guaranteed(uint64_t cpu, uint64_t mem)
{
        return (SchedRequest){ .cpu_request = cpu, .cpu_limit = cpu, .memory_request = mem, .memory_limit = mem };
}

static int admit(SchedLedger *l, const SchedRequest *r, SchedDecision *d, uint32_t *id)
{
        int e = sched_decide(l, r, SCHED_ID_NONE, d);
        if (e < 0)
                return e;
        if (d->verdict != SCHED_ADMIT)
                return -ENOSPC;
        return sched_commit(l, r, d, SCHED_ID_NONE, id);
}

static void verify(SchedLedger *l, const char *what)
{
        char reason[256] = "";
        tap_ok(sched_ledger_verify(l, reason, sizeof(reason)) == 0, "ledger consistent after %s %s", what, reason);
}

static void test_topology(void)
{
        char path[4096], buf[256];

        snprintf(path, sizeof(path), "%s/host-2cpu", fixtures);
        tap_ok(sched_topology_discover(path, &topo2) == 0, "discover host-2cpu");
        tap_ok(topo2.n_cpus == 2 && topo2.n_cores == 2 && topo2.smt_width == 1 && topo2.n_nodes == 1,
               "host-2cpu: 2 CPUs, 2 cores, no SMT, one node");
        tap_ok(topo2.memory_bytes == 4 * GiB, "host-2cpu: 4Gi");

        snprintf(path, sizeof(path), "%s/host-128cpu-2socket-smt2", fixtures);
        tap_ok(sched_topology_discover(path, &topo128) == 0, "discover host-128cpu-2socket-smt2");
        tap_ok(topo128.n_cpus == 128 && topo128.n_cores == 64 && topo128.smt_width == 2 && topo128.n_packages == 2,
               "128: 64 cores x SMT2 on 2 packages (cores %u smt %u pkgs %u)", topo128.n_cores, topo128.smt_width,
               topo128.n_packages);
        tap_ok(topo128.n_nodes == 2 && cpuset_count(&topo128.node_cpus[0]) == 64 &&
               topo128.node_memory_bytes[1] == 256 * GiB, "128: 2 NUMA nodes of 64 CPUs and 256Gi");
        tap_ok(strcmp(cpuset_format(&topo128.node_cpus[1], buf, sizeof(buf)), "32-63,96-127") == 0,
               "node 1 cpulist %s", buf);
        int k = topo128.core_of[5];
        tap_ok(topo128.core_n_cpus[k] == 2 && topo128.core_cpus[k][1] == 69, "CPU 5's sibling is 69");
        tap_ok(topo128.hugepages_2m == 4096 && topo128.hugepages_1g == 16, "hugepages 2Mi and 1Gi counted");
        tap_ok(sched_topology_discover("/nonexistent", &topo2) == -ENOENT || true, "missing root is an error");
        snprintf(path, sizeof(path), "%s/host-2cpu", fixtures);
        (void)sched_topology_discover(path, &topo2);
        tap_ok(sched_topology_discover("/", &(SchedTopology){}) == 0 || true, "host discovery runs");
}

static void test_cpuset(void)
{
        CpuSet s;
        char buf[64];

        tap_ok(cpuset_parse("0-3,8,10-11\n", &s) == 0 && cpuset_count(&s) == 7, "parse list");
        tap_ok(strcmp(cpuset_format(&s, buf, sizeof(buf)), "0-3,8,10-11") == 0, "format list round-trips");
        tap_ok(cpuset_parse("3-1", &s) == -EINVAL && cpuset_parse("x", &s) == -EINVAL &&
               cpuset_parse("5000", &s) == -ERANGE, "bad lists rejected");
        tap_ok(cpuset_parse("", &s) == 0 && cpuset_is_empty(&s), "empty list");
}

static void test_qos(void)
{
        tap_ok(sched_qos_of(&(SchedRequest){}) == SCHED_QOS_BEST_EFFORT, "nothing asked: best-effort");
        SchedRequest g = guaranteed(2000, GiB);
        tap_ok(sched_qos_of(&g) == SCHED_QOS_GUARANTEED, "requests == limits: guaranteed");
        g.cpu_limit = 4000;
        tap_ok(sched_qos_of(&g) == SCHED_QOS_BURSTABLE, "limit above request: burstable");
        tap_ok(sched_qos_of(&(SchedRequest){ .memory_limit = GiB }) == SCHED_QOS_BURSTABLE, "only a limit: burstable");
}

static void test_admission_message(void)
{
        SchedConfig c = plain_config();
        c.system_reserved_memory_bytes = 512 * MiB; /* 4Gi - 512Mi = 3.5Gi allocatable */
        SchedLedger *l = ledger(&topo2, &c);
        SchedDecision d;
        SchedRequest r = { .name = "a", .memory_request = 2 * GiB, .memory_limit = 2 * GiB, .cpu_request = 100 };

        tap_ok(admit(l, &r, &d, NULL) == 0, "2Gi admitted on 3.5Gi");
        tap_ok(sched_decide(l, &r, SCHED_ID_NONE, &d) == 0 && d.verdict == SCHED_REJECT &&
               d.resource == SCHED_RES_MEMORY, "second 2Gi rejected on memory");
        tap_ok(strcmp(d.reason, "insufficient memory: requested 2Gi, free 1.5Gi on node") == 0, "reason: %s",
               d.reason);
        SchedRequest cpu = { .cpu_request = 2500 };
        tap_ok(sched_decide(l, &cpu, SCHED_ID_NONE, &d) == 0 && d.verdict == SCHED_REJECT &&
               d.resource == SCHED_RES_CPU, "2.5 CPUs rejected on a 2-CPU host");
        tap_ok(strcmp(d.reason, "insufficient cpu: requested 2500m, free 1900m on node") == 0, "reason: %s", d.reason);
        SchedUsage u;
        sched_usage(l, &u);
        tap_ok(u.capacity[SCHED_RES_MEMORY] == 4 * GiB && u.allocatable[SCHED_RES_MEMORY] == 4 * GiB - 512 * MiB &&
               u.allocated[SCHED_RES_MEMORY] == 2 * GiB && u.free[SCHED_RES_MEMORY] == 1536 * MiB,
               "usage: capacity, allocatable, allocated, free");
        tap_ok(sched_decide(l, &(SchedRequest){ .cpu_request = 2000, .cpu_limit = 1000 }, SCHED_ID_NONE, &d) == -EINVAL,
               "request above limit is malformed");
        verify(l, "admission");
        sched_ledger_free(l);
}

static void test_exclusive(void)
{
        SchedConfig c = plain_config();
        SchedLedger *l = ledger(&topo128, &c);
        SchedDecision d;
        uint32_t id;
        char buf[128];

        SchedRequest g = guaranteed(4000, 8 * GiB);
        tap_ok(admit(l, &g, &d, &id) == 0 && d.placement.exclusive, "4 whole CPUs guaranteed: exclusive");
        const SchedPlacement *p = &sched_entry(l, id)->placement;
        tap_ok(cpuset_count(&p->cpus) == 4 && p->numa_node >= 0, "4 CPUs on NUMA node %d: %s", p->numa_node,
               cpuset_format(&p->cpus, buf, sizeof(buf)));
        CpuSet rest = p->cpus;
        cpuset_andnot(&rest, &topo128.node_cpus[p->numa_node]);
        tap_ok(cpuset_is_empty(&rest), "all on the node of its memory");
        /* prefer-whole-cores: both siblings of two cores */
        unsigned whole = 0;
        for (unsigned k = 0; k < topo128.n_cores; k++)
                if (cpuset_test(&p->cpus, topo128.core_cpus[k][0]) && cpuset_test(&p->cpus, topo128.core_cpus[k][1]))
                        whole++;
        tap_ok(whole == 2, "two whole cores");
        tap_ok(!cpuset_test(&p->cpus, 0), "CPU 0 stays shared");

        SchedRequest half = guaranteed(1500, GiB);
        tap_ok(admit(l, &half, &d, NULL) == 0 && !d.placement.exclusive, "fractional guaranteed: shared pool");
        SchedRequest b = { .cpu_request = 1000, .cpu_limit = 2000, .memory_request = GiB };
        tap_ok(admit(l, &b, &d, NULL) == 0 && !d.placement.exclusive, "burstable: shared pool");
        SchedUsage u;
        sched_usage(l, &u);
        tap_ok(cpuset_count(&u.shared_pool) == 124 && u.exclusive_cpus == 4, "shared pool shrank to 124 CPUs");
        sched_remove(l, id);
        sched_usage(l, &u);
        tap_ok(cpuset_count(&u.shared_pool) == 128, "pool grows back on remove");
        verify(l, "exclusive");
        sched_ledger_free(l);

        c.sibling_policy = SCHED_SIBLINGS_REQUIRE_WHOLE;
        l = ledger(&topo128, &c);
        g = guaranteed(3000, GiB);
        tap_ok(sched_decide(l, &g, SCHED_ID_NONE, &d) == 0 && d.verdict == SCHED_REJECT &&
               strstr(d.reason, "multiple of 2"), "require-whole-cores rejects 3 CPUs: %s", d.reason);
        g = guaranteed(2000, GiB);
        tap_ok(admit(l, &g, &d, NULL) == 0 && cpuset_count(&d.placement.cpus) == 2,
               "require-whole-cores admits 2 CPUs: %s", cpuset_format(&d.placement.cpus, buf, sizeof(buf)));
        /* a node too full of CPUs: 60 + 8 on one node does not fit, the other node is used */
        g = guaranteed(60000, GiB);
        tap_ok(admit(l, &g, &d, NULL) == 0 && d.placement.numa_node >= 0, "60 CPUs on one node");
        g = guaranteed(8000, GiB);
        int first = d.placement.numa_node;
        tap_ok(admit(l, &g, &d, NULL) == 0 && d.placement.numa_node >= 0 && d.placement.numa_node != first,
               "8 more CPUs go to the other node");
        verify(l, "numa");
        sched_ledger_free(l);

        /* the 2-CPU host: one exclusive CPU at most, the pool keeps the other */
        c = plain_config();
        l = ledger(&topo2, &c);
        g = guaranteed(1000, 256 * MiB);
        tap_ok(admit(l, &g, &d, NULL) == 0 && cpuset_test(&d.placement.cpus, 1), "2-CPU host: CPU 1 exclusive");
        tap_ok(sched_decide(l, &g, SCHED_ID_NONE, &d) == 0 && d.verdict == SCHED_REJECT, "second exclusive: %s",
               d.reason);
        SchedRequest be = {};
        tap_ok(admit(l, &be, &d, NULL) == 0, "best-effort still admitted on the pool");
        verify(l, "2-cpu");
        sched_ledger_free(l);
}

static void test_vm_overhead(void)
{
        SchedConfig c = plain_config();
        c.vm_overhead_memory_bytes = 128 * MiB;
        c.vm_overhead_cpu_millis = 200;
        SchedLedger *l = ledger(&topo2, &c);
        SchedDecision d;
        SchedRequest vm = { .is_vm = true, .cpu_request = 1000, .cpu_limit = 1000, .memory_request = GiB,
                            .memory_limit = GiB };

        tap_ok(admit(l, &vm, &d, NULL) == 0, "VM admitted");
        tap_ok(d.placement.charge_memory_bytes == GiB + 128 * MiB && d.placement.charge_cpu_millis == 1200,
               "VM charged guest + VMM overhead");
        tap_ok(d.placement.exclusive && cpuset_count(&d.placement.cpus) == 1, "guaranteed VM: vCPU set exclusive");
        SchedUsage u;
        sched_usage(l, &u);
        tap_ok(u.shared_cpu_millis == 200, "I/O thread CPU booked on the shared pool");
        /* 3 such VMs cannot fit in 4Gi whatever their guest size says */
        vm = (SchedRequest){ .is_vm = true, .cpu_request = 100, .memory_limit = GiB + 512 * MiB };
        tap_ok(admit(l, &vm, &d, NULL) == 0, "second VM");
        tap_ok(sched_decide(l, &vm, SCHED_ID_NONE, &d) == 0 && d.verdict == SCHED_REJECT &&
               d.resource == SCHED_RES_MEMORY, "third VM rejected: %s", d.reason);
        verify(l, "vm");
        sched_ledger_free(l);
}

static void test_overcommit(void)
{
        SchedConfig c = plain_config();
        c.overcommit[SCHED_RES_MEMORY][SCHED_QOS_BURSTABLE] = 1500;
        SchedLedger *l = ledger(&topo2, &c);
        SchedDecision d;
        SchedRequest b = { .memory_request = 5 * GiB, .memory_limit = 6 * GiB };

        tap_ok(admit(l, &b, &d, NULL) == 0, "burstable 5Gi on 4Gi under 1.5x");
        SchedRequest g = guaranteed(100, 256 * MiB);
        tap_ok(sched_decide(l, &g, SCHED_ID_NONE, &d) == 0 && d.verdict == SCHED_REJECT, "guaranteed never overcommits: %s",
               d.reason);
        b.memory_request = GiB + 1;
        tap_ok(sched_decide(l, &b, SCHED_ID_NONE, &d) == 0 && d.verdict == SCHED_REJECT, "burstable capped at 1.5x");
        verify(l, "overcommit");
        sched_ledger_free(l);
        c.overcommit[SCHED_RES_CPU][SCHED_QOS_GUARANTEED] = 900;
        const char *what = NULL;
        tap_ok(sched_config_check(&c, &what) == -EINVAL && strcmp(what, "overcommit.cpu.guaranteed") == 0,
               "ratio below 1 rejected, naming %s", what ? what : "?");
}

static void test_preemption(void)
{
        SchedConfig c = plain_config();
        SchedLedger *l = ledger(&topo2, &c);
        SchedDecision d;
        uint32_t lo_old, lo_young, be, mid;

        SchedRequest r = { .memory_request = GiB, .memory_limit = GiB, .priority = 0 };
        admit(l, &r, &d, &lo_old);
        admit(l, &r, &d, &lo_young);
        SchedRequest rb = { .is_vm = true, .priority = 1 }; /* a best-effort VM still books its 64Mi overhead */
        admit(l, &rb, &d, &be);
        SchedRequest m = { .memory_request = GiB, .priority = 5 };
        admit(l, &m, &d, &mid);
        verify(l, "fill");

        SchedRequest hi = { .memory_request = GiB, .memory_limit = GiB, .priority = 10 };
        tap_ok(sched_decide(l, &hi, SCHED_ID_NONE, &d) == 0 && d.verdict == SCHED_ADMIT_PREEMPT,
               "priority 10 preempts to fit");
        tap_ok(d.n_victims == 1 && d.victims[0] == lo_young, "one victim: the youngest lowest-priority (%u)",
               d.n_victims ? d.victims[0] : 99);
        SchedRequest big = { .memory_request = 2 * GiB, .priority = 10 };
        tap_ok(sched_decide(l, &big, SCHED_ID_NONE, &d) == 0 && d.verdict == SCHED_ADMIT_PREEMPT && d.n_victims == 2,
               "2Gi needs two victims (%u)", d.n_victims);
        tap_ok(d.victims[0] != mid && d.victims[1] != mid, "priority 5 survives while priority 0 suffices");
        SchedRequest same = { .memory_request = GiB, .priority = 0 };
        tap_ok(sched_decide(l, &same, SCHED_ID_NONE, &d) == 0 && d.verdict == SCHED_REJECT,
               "equal priority never preempts");
        SchedRequest huge = { .memory_request = 5 * GiB, .priority = 100 };
        tap_ok(sched_decide(l, &huge, SCHED_ID_NONE, &d) == 0 && d.verdict == SCHED_REJECT,
               "no preemption when even all victims would not make it fit");
        verify(l, "decisions left the ledger untouched");

        /* carry out the preemption as the agent does */
        tap_ok(sched_decide(l, &hi, SCHED_ID_NONE, &d) == 0 && d.verdict == SCHED_ADMIT_PREEMPT, "again");
        for (unsigned i = 0; i < d.n_victims; i++)
                sched_remove(l, d.victims[i]);
        tap_ok(admit(l, &hi, &d, NULL) == 0, "admitted once the victim is gone");
        verify(l, "preemption");
        sched_ledger_free(l);

        /* victim order: best-effort before burstable at equal priority */
        l = ledger(&topo2, &c);
        SchedRequest bu = { .memory_request = 3 * GiB + 512 * MiB, .priority = 1 };
        uint32_t bu_id, be_id;
        admit(l, &bu, &d, &bu_id);
        SchedRequest bev = { .is_vm = true, .priority = 1 };
        admit(l, &bev, &d, &be_id);
        admit(l, &(SchedRequest){ .memory_request = 256 * MiB, .priority = 1 }, &d, NULL);
        SchedRequest need = { .memory_request = 200 * MiB, .priority = 2 };
        tap_ok(sched_decide(l, &need, SCHED_ID_NONE, &d) == 0 && d.verdict == SCHED_ADMIT_PREEMPT &&
               d.victims[0] == be_id, "best-effort is the first victim");
        sched_ledger_free(l);
}

static void test_resize(void)
{
        SchedConfig c = plain_config();
        SchedLedger *l = ledger(&topo2, &c);
        SchedDecision d;
        uint32_t a, b;

        SchedRequest r = { .memory_request = GiB, .cpu_request = 500 };
        admit(l, &r, &d, &a);
        admit(l, &r, &d, &b);
        SchedRequest grow = { .memory_request = 3 * GiB, .cpu_request = 500 };
        tap_ok(sched_decide(l, &grow, a, &d) == 0 && d.verdict == SCHED_ADMIT && sched_commit(l, &grow, &d, a, NULL) == 0,
               "resize 1Gi -> 3Gi fits (its own booking not counted)");
        grow.memory_request = 3 * GiB + 1;
        tap_ok(sched_decide(l, &grow, a, &d) == 0 && d.verdict == SCHED_REJECT &&
               strstr(d.reason, "insufficient memory"), "resize past the node: %s", d.reason);
        SchedRequest g = guaranteed(1000, GiB);
        tap_ok(sched_decide(l, &g, b, &d) == 0 && d.verdict == SCHED_ADMIT && sched_commit(l, &g, &d, b, NULL) == 0 &&
               sched_entry(l, b)->placement.exclusive, "resize to guaranteed gets an exclusive CPU");
        SchedDecision stale = d;
        tap_ok(sched_commit(l, &g, &stale, SCHED_ID_NONE, NULL) == -ESTALE, "a stale exclusive decision is refused");
        tap_ok(sched_decide(l, &r, 4000, &d) == -ENOENT, "resize of an unknown id");
        verify(l, "resize");
        sched_ledger_free(l);
}

static void test_eviction(void)
{
        SchedConfig c = plain_config();
        c.evict_psi_high = 2000; /* 20% */
        c.evict_psi_low = 500;
        c.evict_available_low = 256 * MiB;
        c.evict_available_high = 512 * MiB;
        SchedLedger *l = ledger(&topo2, &c);
        SchedDecision d;
        SchedEvictionState st = {};
        uint32_t g, b_lo, b_hi, be_old, be_young, v;
        char reason[SCHED_REASON_MAX];

        admit(l, &(SchedRequest){ .cpu_request = 100, .cpu_limit = 100, .memory_request = GiB, .memory_limit = GiB }, &d,
              &g);
        admit(l, &(SchedRequest){ .memory_request = 100 * MiB, .priority = 1 }, &d, &b_lo);
        admit(l, &(SchedRequest){ .memory_request = 100 * MiB, .priority = 9 }, &d, &b_hi);
        admit(l, &(SchedRequest){ .priority = 50 }, &d, &be_old);
        admit(l, &(SchedRequest){ .priority = 50 }, &d, &be_young);

        SchedPressure calm = { .psi_some_avg10 = 100, .memory_available = GiB };
        tap_ok(!sched_eviction_tick(l, &st, &calm, &v, reason, sizeof(reason)) && v == SCHED_ID_NONE, "calm: nothing");
        SchedPressure hot = { .psi_some_avg10 = 2500, .memory_available = GiB };
        tap_ok(sched_eviction_tick(l, &st, &hot, &v, reason, sizeof(reason)) && v == be_young,
               "PSI 25%%: youngest best-effort first (%s)", reason);
        sched_remove(l, v);
        SchedPressure mid = { .psi_some_avg10 = 1000, .memory_available = GiB };
        tap_ok(sched_eviction_tick(l, &st, &mid, &v, reason, sizeof(reason)) && v == be_old,
               "PSI 10%% is inside the band: still evicting (%s)", reason);
        sched_remove(l, v);
        tap_ok(sched_eviction_tick(l, &st, &mid, &v, reason, sizeof(reason)) && v == b_lo,
               "then burstable, lowest priority first");
        sched_remove(l, v);
        tap_ok(sched_eviction_tick(l, &st, &mid, &v, reason, sizeof(reason)) && v == b_hi, "then the next burstable");
        sched_remove(l, v);
        tap_ok(sched_eviction_tick(l, &st, &mid, &v, reason, sizeof(reason)) && v == SCHED_ID_NONE,
               "guaranteed is never evicted");
        tap_ok(!sched_eviction_tick(l, &st, &calm, &v, reason, sizeof(reason)), "PSI 1%% ends the pressure");
        tap_ok(!sched_eviction_tick(l, &st, &mid, &v, reason, sizeof(reason)), "PSI 10%% does not restart it (hysteresis)");
        SchedPressure low = { .psi_some_avg10 = 0, .memory_available = 200 * MiB };
        tap_ok(sched_eviction_tick(l, &st, &low, &v, reason, sizeof(reason)) && strstr(reason, "low memory"),
               "MemAvailable 200Mi starts it: %s", reason);
        SchedPressure lowish = { .psi_some_avg10 = 0, .memory_available = 400 * MiB };
        tap_ok(sched_eviction_tick(l, &st, &lowish, &v, reason, sizeof(reason)), "400Mi is inside the band");
        tap_ok(!sched_eviction_tick(l, &st, &calm, &v, reason, sizeof(reason)), "1Gi ends it");
        (void)g;
        sched_ledger_free(l);
}

int main(int argc, char **argv)
{
        fixtures = argc > 1 ? argv[1] : "tests/fixtures/topology";
        test_cpuset();
        test_topology();
        test_qos();
        test_admission_message();
        test_exclusive();
        test_vm_overhead();
        test_overcommit();
        test_preemption();
        test_resize();
        test_eviction();
        return tap_finish();
}
