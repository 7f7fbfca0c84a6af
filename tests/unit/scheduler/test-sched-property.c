/* SPDX-License-Identifier: Apache-2.0 */
/* Property tests: random sequences of admit (with preemption), resize and
 * remove against both fixture topologies and several configurations. After
 * every step: nothing is over-allocated beyond the configured overcommit, no
 * exclusive CPU is given twice, the shared pool is never empty while shared
 * workloads exist, and a decision leaves the ledger as it found it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scheduler/sched.h"
#include "tests/unit/lib/tap.h"

#define GiB (UINT64_C(1) << 30)
#define MiB (UINT64_C(1) << 20)
#define STEPS 20000
#define LIVE_MAX 2048

static uint64_t rng_state;

static uint64_t rnd(void)
{
        /* splitmix64: reproducible from the printed seed */
        uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));
        z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
        return z ^ (z >> 31);
}

static uint64_t pick(uint64_t n)
{
        return n ? rnd() % n : 0;
}

static SchedRequest random_request(const SchedTopology *t)
{
        SchedRequest r = { .priority = (int32_t)pick(4), .is_vm = pick(5) == 0 };
        uint64_t mem_unit = t->memory_bytes / 64;
        unsigned cpus = t->n_cpus;

        switch (pick(4)) {
        case 0: /* best-effort */
                break;
        case 1: /* burstable */
                r.cpu_request = pick(cpus * 250 + 1);
                r.cpu_limit = pick(2) ? r.cpu_request + pick(2000) : 0;
                r.memory_request = pick(mem_unit * 4);
                r.memory_limit = pick(2) ? r.memory_request + pick(mem_unit) : 0;
                if (!r.cpu_request && !r.cpu_limit && !r.memory_request && !r.memory_limit)
                        r.memory_request = MiB;
                break;
        case 2: /* guaranteed, whole CPUs */
                r.cpu_request = r.cpu_limit = 1000 * (1 + pick(cpus > 8 ? 8 : cpus));
                r.memory_request = r.memory_limit = MiB + pick(mem_unit * 2);
                break;
        default: /* guaranteed, fractional */
                r.cpu_request = r.cpu_limit = 100 + pick(1800);
                r.memory_request = r.memory_limit = MiB + pick(mem_unit);
                break;
        }
        return r;
}

static bool same_usage(const SchedUsage *a, const SchedUsage *b)
{
        return memcmp(a, b, sizeof(*a)) == 0;
}

static int run(const char *label, const SchedTopology *t, const SchedConfig *c, uint64_t seed)
{
        SchedLedger *l = NULL;
        uint32_t live[LIVE_MAX];
        size_t n_live = 0;
        unsigned admitted = 0, rejected = 0, preempted = 0, resized = 0, removed = 0;
        char reason[256];
        int fails = 0;

        rng_state = seed;
        if (sched_ledger_new(t, c, LIVE_MAX, &l) < 0)
                return -ENOMEM;

        for (unsigned step = 0; step < STEPS && fails == 0; step++) {
                unsigned op = (unsigned)pick(10);
                SchedDecision d;
                SchedUsage before, after;

                if (op < 5 && n_live < LIVE_MAX - 1) {
                        SchedRequest r = random_request(t);
                        sched_usage(l, &before);
                        if (sched_decide(l, &r, SCHED_ID_NONE, &d) < 0) {
                                fails++;
                                tap_diag("%s step %u: decide failed", label, step);
                                break;
                        }
                        sched_usage(l, &after);
                        if (!same_usage(&before, &after)) {
                                fails++;
                                tap_diag("%s step %u: decide changed the ledger", label, step);
                                break;
                        }
                        if (d.verdict == SCHED_REJECT) {
                                rejected++;
                                if (!strstr(d.reason, "insufficient ")) {
                                        fails++;
                                        tap_diag("%s step %u: reason without resource: %s", label, step, d.reason);
                                }
                                continue;
                        }
                        if (d.verdict == SCHED_ADMIT_PREEMPT) {
                                for (unsigned i = 0; i < d.n_victims; i++) {
                                        const SchedEntry *e = sched_entry(l, d.victims[i]);
                                        if (!e || !e->used || e->req.priority >= r.priority) {
                                                fails++;
                                                tap_diag("%s step %u: bad victim", label, step);
                                        }
                                        sched_remove(l, d.victims[i]);
                                        for (size_t j = 0; j < n_live; j++)
                                                if (live[j] == d.victims[i]) {
                                                        live[j] = live[--n_live];
                                                        break;
                                                }
                                }
                                preempted++;
                                if (sched_decide(l, &r, SCHED_ID_NONE, &d) < 0 || d.verdict != SCHED_ADMIT) {
                                        fails++;
                                        tap_diag("%s step %u: did not fit after preemption: %s", label, step,
                                                 d.reason);
                                        break;
                                }
                        }
                        uint32_t id;
                        if (sched_commit(l, &r, &d, SCHED_ID_NONE, &id) < 0) {
                                fails++;
                                tap_diag("%s step %u: commit failed", label, step);
                                break;
                        }
                        live[n_live++] = id;
                        admitted++;
                        /* the class's own ratio bounds what was booked when it got in */
                        SchedUsage u;
                        sched_usage(l, &u);
                        unsigned ratio = c->overcommit[SCHED_RES_MEMORY][d.placement.qos];
                        if (u.allocated[SCHED_RES_MEMORY] >
                            (__uint128_t)u.allocatable[SCHED_RES_MEMORY] * ratio / SCHED_RATIO_ONE) {
                                fails++;
                                tap_diag("%s step %u: memory past the %s ratio", label, step,
                                         sched_qos_to_string(d.placement.qos));
                        }
                } else if (op < 7 && n_live > 0) {
                        size_t k = pick(n_live);
                        SchedRequest r = random_request(t);
                        if (sched_decide(l, &r, live[k], &d) < 0) {
                                fails++;
                                break;
                        }
                        if (d.verdict == SCHED_ADMIT) {
                                if (sched_commit(l, &r, &d, live[k], NULL) < 0) {
                                        fails++;
                                        tap_diag("%s step %u: resize commit failed", label, step);
                                }
                                resized++;
                        }
                } else if (n_live > 0) {
                        size_t k = pick(n_live);
                        sched_remove(l, live[k]);
                        live[k] = live[--n_live];
                        removed++;
                }
                if (sched_ledger_verify(l, reason, sizeof(reason)) < 0) {
                        fails++;
                        tap_diag("%s step %u: %s", label, step, reason);
                }
        }
        tap_ok(fails == 0, "%s seed %llu: %u admitted (%u by preemption), %u rejected, %u resized, %u removed", label,
               (unsigned long long)seed, admitted, preempted, rejected, resized, removed);
        sched_ledger_free(l);
        return 0;
}

int main(int argc, char **argv)
{
        const char *fixtures = argc > 1 ? argv[1] : "tests/fixtures/topology";
        static const char *const hosts[] = { "host-2cpu", "host-128cpu-2socket-smt2" };
        uint64_t seed0 = getenv("SCHED_SEED") ? strtoull(getenv("SCHED_SEED"), NULL, 0) : 20261124;

        for (size_t h = 0; h < 2; h++) {
                static SchedTopology t;
                char path[4096], label[128];

                snprintf(path, sizeof(path), "%s/%s", fixtures, hosts[h]);
                if (!tap_ok(sched_topology_discover(path, &t) == 0, "discover %s", hosts[h]))
                        continue;
                for (int variant = 0; variant < 4; variant++) {
                        SchedConfig c;
                        sched_config_init(&c);
                        c.sibling_policy = (SchedSiblingPolicy)(variant % _SCHED_SIBLINGS_MAX);
                        if (variant >= 1) {
                                c.overcommit[SCHED_RES_MEMORY][SCHED_QOS_BURSTABLE] = 1500;
                                c.overcommit[SCHED_RES_CPU][SCHED_QOS_BURSTABLE] = 4000;
                                c.overcommit[SCHED_RES_CPU][SCHED_QOS_BEST_EFFORT] = 8000;
                        }
                        if (variant == 3) {
                                c.system_reserved_cpu_millis = 500;
                                c.system_reserved_memory_bytes = t.memory_bytes / 16;
                                c.shared_pool_min_cpus = t.n_cpus > 2 ? 4 : 1;
                                c.vm_overhead_memory_bytes = 256 * MiB;
                        }
                        snprintf(label, sizeof(label), "%s/%s%s", hosts[h],
                                 sched_sibling_policy_to_string(c.sibling_policy), variant >= 1 ? "+overcommit" : "");
                        for (uint64_t s = 0; s < 2; s++)
                                run(label, &t, &c, seed0 + s * 7919 + (uint64_t)variant * 104729 + h);
                }
        }
        return tap_finish();
}
