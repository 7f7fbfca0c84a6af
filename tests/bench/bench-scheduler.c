/* SPDX-License-Identifier: Apache-2.0 */
/* bench-scheduler FIXTURES [N]: admission decisions per second and p50/p99
 * decision latency on one core, for the 128-CPU 2-socket SMT-2 fixture with
 * 1,000 running workloads (a mix of exclusive guaranteed, shared guaranteed,
 * burstable, best-effort and VMs). Each measured call is one sched_decide()
 * for a random request of the same mix; about one in ten does not fit and a
 * higher priority asks for preemption. Prints figures; not a test. */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "scheduler/sched.h"

#define GiB (UINT64_C(1) << 30)
#define MiB (UINT64_C(1) << 20)

static uint64_t rng = 42;
static uint64_t rnd(void)
{
        uint64_t z = (rng += UINT64_C(0x9e3779b97f4a7c15));
        z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
        return z ^ (z >> 31);
}

static SchedRequest request(unsigned kind)
{
        SchedRequest r = { .priority = (int32_t)(rnd() % 3) };
        switch (kind % 10) {
        case 0: /* exclusive guaranteed, 1-2 CPUs */
                r.cpu_request = r.cpu_limit = 1000 * (1 + rnd() % 2);
                r.memory_request = r.memory_limit = 512 * MiB + rnd() % (2 * GiB);
                break;
        case 1:
        case 2: /* shared guaranteed */
                r.cpu_request = r.cpu_limit = 50 + rnd() % 200;
                r.memory_request = r.memory_limit = 64 * MiB + rnd() % (512 * MiB);
                break;
        case 3: /* VM */
                r.is_vm = true;
                r.cpu_request = 100 + rnd() % 400;
                r.memory_limit = 256 * MiB + rnd() % GiB;
                break;
        case 4: /* best-effort */
                break;
        default: /* burstable */
                r.cpu_request = 20 + rnd() % 100;
                r.cpu_limit = r.cpu_request * 4;
                r.memory_request = 32 * MiB + rnd() % (800 * MiB);
                r.memory_limit = r.memory_request * 2;
                break;
        }
        return r;
}

static uint64_t now_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
        return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
        static SchedTopology t;
        char path[4096];
        SchedConfig c;
        SchedLedger *l;
        size_t n = argc > 2 ? strtoull(argv[2], NULL, 10) : 1000000;
        unsigned running = 0, verdicts[_SCHED_VERDICT_MAX] = {};
        cpu_set_t one;

        if (argc < 2) {
                fprintf(stderr, "usage: bench-scheduler FIXTURES_DIR [N]\n");
                return 2;
        }
        CPU_ZERO(&one);
        CPU_SET(sched_getcpu() >= 0 ? sched_getcpu() : 0, &one);
        (void)sched_setaffinity(0, sizeof(one), &one);

        snprintf(path, sizeof(path), "%s/host-128cpu-2socket-smt2", argv[1]);
        if (sched_topology_discover(path, &t) < 0) {
                fprintf(stderr, "cannot read %s\n", path);
                return 1;
        }
        sched_config_init(&c);
        c.overcommit[SCHED_RES_CPU][SCHED_QOS_BURSTABLE] = 2000;
        c.overcommit[SCHED_RES_CPU][SCHED_QOS_BEST_EFFORT] = 4000;
        if (sched_ledger_new(&t, &c, 4096, &l) < 0)
                return 1;

        /* fill to 1,000 running workloads */
        for (unsigned tries = 0; running < 1000 && tries < 100000; tries++) {
                unsigned kind = (unsigned)rnd();
                if (kind % 10 == 0 && running % 16 != 0)
                        kind++; /* about 60 exclusive sets: the shared pool keeps room */
                SchedRequest r = request(kind);
                SchedDecision d;
                if (sched_decide(l, &r, SCHED_ID_NONE, &d) == 0 && d.verdict == SCHED_ADMIT &&
                    sched_commit(l, &r, &d, SCHED_ID_NONE, NULL) == 0)
                        running++;
        }
        SchedUsage u;
        sched_usage(l, &u);
        printf("fixture: 128 CPUs, 2 NUMA nodes, SMT-2; %zu running workloads, %u exclusive CPUs, "
               "memory %.1f/%.1f GiB booked\n",
               u.n_workloads, u.exclusive_cpus, (double)u.allocated[SCHED_RES_MEMORY] / GiB,
               (double)u.allocatable[SCHED_RES_MEMORY] / GiB);

        SchedRequest *reqs = calloc(4096, sizeof(*reqs));
        uint64_t *lat = calloc(n, sizeof(*lat));
        if (!reqs || !lat)
                return 1;
        for (size_t i = 0; i < 4096; i++) {
                reqs[i] = request((unsigned)rnd());
                if (i % 10 == 9) { /* does not fit: too big; a higher priority asks for preemption */
                        bool hi = i % 20 == 19;
                        reqs[i].memory_request = reqs[i].memory_limit = hi ? 160 * GiB : 200 * GiB;
                        reqs[i].cpu_request = reqs[i].cpu_limit = 4000;
                        reqs[i].priority = hi ? 10 : 0;
                }
        }

        SchedDecision d;
        uint64_t t0 = now_ns();
        for (size_t i = 0; i < n; i++) {
                uint64_t a = now_ns();
                sched_decide(l, &reqs[i % 4096], SCHED_ID_NONE, &d);
                lat[i] = now_ns() - a;
                verdicts[d.verdict]++;
        }
        uint64_t total = now_ns() - t0;
        qsort(lat, n, sizeof(*lat), cmp_u64);
        printf("decisions: %zu in %.3f s on one core: %.0f decisions/s\n", n, (double)total / 1e9,
               (double)n / ((double)total / 1e9));
        printf("verdicts: %u admit, %u admit-with-preemption, %u reject\n", verdicts[SCHED_ADMIT],
               verdicts[SCHED_ADMIT_PREEMPT], verdicts[SCHED_REJECT]);
        printf("latency: p50 %.2f us, p99 %.2f us, p99.9 %.2f us, max %.2f us\n", lat[n / 2] / 1e3,
               lat[n * 99 / 100] / 1e3, lat[n * 999 / 1000] / 1e3, lat[n - 1] / 1e3);
        printf("target: >= 100000 decisions/s and p99 <= 20 us: %s\n",
               (double)n / ((double)total / 1e9) >= 100000 && lat[n * 99 / 100] <= 20000 ? "met" : "NOT met");
        printf("SCHED_P50_US=%.2f SCHED_P99_US=%.2f\n", lat[n / 2] / 1e3, lat[n * 99 / 100] / 1e3);
        free(reqs);
        free(lat);
        sched_ledger_free(l);
        return 0;
}
