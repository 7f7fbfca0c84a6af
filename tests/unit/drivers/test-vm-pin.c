/* SPDX-License-Identifier: Apache-2.0 */
/* drivers/vm/vm-pin.c against real threads of this process named the way
 * QEMU names its vCPU threads ("CPU <n>/TCG"): one-to-one pinning (vCPU n ->
 * the n-th CPU of the set, every other thread on the whole set), unpinning,
 * -EAGAIN while vCPU threads are missing, -EOPNOTSUPP for round-robin TCG
 * ("ALL CPUs/TCG"), -ESRCH for a wrong start time. Needs 2 online CPUs in
 * this process's affinity. */
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "drivers/container/container-files.h"
#include "drivers/vm/vm-pin.h"
#include "test-util.h"

typedef struct Th {
        pthread_t t;
        const char *name;
        pid_t tid;
        pthread_barrier_t *ready, *done;
} Th;

static void *th_main(void *arg)
{
        Th *th = arg;

        th->tid = (pid_t)syscall(SYS_gettid);
        (void)pthread_setname_np(pthread_self(), th->name);
        pthread_barrier_wait(th->ready);
        pthread_barrier_wait(th->done);
        return NULL;
}

static int affinity_of(pid_t tid, unsigned *ret_first, unsigned *ret_count)
{
        cpu_set_t set;

        if (sched_getaffinity(tid, sizeof(set), &set) < 0)
                return -errno;
        *ret_count = (unsigned)CPU_COUNT(&set);
        for (unsigned c = 0; c < CPU_SETSIZE; c++)
                if (CPU_ISSET(c, &set)) {
                        *ret_first = c;
                        break;
                }
        return 0;
}

int main(void)
{
        static const char *const names[] = {"CPU 0/TCG", "CPU 1/TCG", "IO mon_iothread"};
        Th th[3] = {};
        pthread_barrier_t ready, done;
        unsigned cpus[2], n = 0, first, count;
        uint64_t start;
        cpu_set_t all;
        VmPinResult res;
        char text[64];
        int r;

        if (sched_getaffinity(0, sizeof(all), &all) < 0 || CPU_COUNT(&all) < 2)
                SKIP("needs 2 CPUs in this process's affinity");
        for (unsigned c = 0; c < CPU_SETSIZE && n < 2; c++)
                if (CPU_ISSET(c, &all))
                        cpus[n++] = c;
        CHECK_RC(proc_start_time(getpid(), &start));

        /* only the main thread exists: no vCPU thread yet */
        r = vm_vcpu_pin(getpid(), start, cpus, 2, true, 2, &res);
        CHECK(r == -EAGAIN);
        CHECK(res.n_vcpus == 0 && res.n_other == 1);
        CHECK(vm_vcpu_pin(getpid(), start + 1, cpus, 2, true, 2, &res) == -ESRCH);
        CHECK(vm_vcpu_pin(getpid(), start, cpus, 0, true, 2, &res) == -EINVAL);

        pthread_barrier_init(&ready, NULL, 4);
        pthread_barrier_init(&done, NULL, 4);
        for (int i = 0; i < 3; i++) {
                th[i] = (Th){.name = names[i], .ready = &ready, .done = &done};
                CHECK(pthread_create(&th[i].t, NULL, th_main, &th[i]) == 0);
        }
        pthread_barrier_wait(&ready);

        /* vCPU 0 -> cpus[1], vCPU 1 -> cpus[0]: a reversed set shows the mapping is by position */
        unsigned rev[2] = {cpus[1], cpus[0]};
        r = vm_vcpu_pin(getpid(), start, rev, 2, true, 2, &res);
        CHECK(r == 0);
        CHECK(res.n_vcpus == 2 && res.n_other == 2); /* main + I/O thread */
        CHECK(res.vcpus[0].vcpu == 0 && res.vcpus[0].tid == th[0].tid && res.vcpus[0].cpu == (int)cpus[1]);
        CHECK(res.vcpus[1].vcpu == 1 && res.vcpus[1].tid == th[1].tid && res.vcpus[1].cpu == (int)cpus[0]);
        CHECK(affinity_of(th[0].tid, &first, &count) == 0 && count == 1 && first == cpus[1]);
        CHECK(affinity_of(th[1].tid, &first, &count) == 0 && count == 1 && first == cpus[0]);
        CHECK(affinity_of(th[2].tid, &first, &count) == 0 && count == 2); /* I/O thread: the whole set */
        CHECK(affinity_of(getpid(), &first, &count) == 0 && count == 2);  /* main loop: the whole set */
        snprintf(text, sizeof(text), "0=%u,1=%u", cpus[1], cpus[0]);
        CHECK(streq(vm_pin_format(&res, (char[64]){}, 64), text));
        fprintf(stderr, "pinned: %s\n", text);

        /* more vCPUs expected than exist: pinned what is there, asks to retry */
        CHECK(vm_vcpu_pin(getpid(), start, rev, 2, true, 3, &res) == -EAGAIN);

        /* unpin: every thread on the whole set */
        r = vm_vcpu_pin(getpid(), start, cpus, 2, false, 2, &res);
        CHECK(r == 0);
        CHECK(res.vcpus[0].cpu == -1 && res.vcpus[1].cpu == -1);
        CHECK(streq(vm_pin_format(&res, (char[64]){}, 64), ""));
        CHECK(affinity_of(th[0].tid, &first, &count) == 0 && count == 2);
        CHECK(affinity_of(th[1].tid, &first, &count) == 0 && count == 2);

        /* round-robin TCG: one thread for all vCPUs cannot be pinned one to one */
        (void)pthread_setname_np(th[1].t, "ALL CPUs/TCG");
        CHECK(vm_vcpu_pin(getpid(), start, cpus, 2, true, 1, &res) == -EOPNOTSUPP);

        pthread_barrier_wait(&done);
        for (int i = 0; i < 3; i++)
                pthread_join(th[i].t, NULL);
        (void)sched_setaffinity(0, sizeof(all), &all);
        return test_result("vm-pin");
}
