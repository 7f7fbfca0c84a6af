/* SPDX-License-Identifier: Apache-2.0 */
/* vCPU thread pinning (vm-pin.h). */
#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/vm/vm-pin.h"
#include "lib/util.h"

/* Field 22 of <proc>/stat (start time in clock ticks since boot). */
static int stat_start_time(int procfd, uint64_t *ret)
{
        _cleanup_free_ char *s = NULL;
        const char *q;
        int r;

        r = read_file_at(procfd, "stat", 4096, &s, NULL);
        if (r < 0)
                return r == -ENOENT ? -ESRCH : r;
        q = strrchr(s, ')'); /* comm may hold spaces and parentheses */
        if (!q)
                return -EBADMSG;
        q++;
        /* the same walk as proc_start_time() (container-files.c), whose value the shim records */
        for (int field = 3; field < 22; field++) {
                q = strchr(q + 1, ' ');
                if (!q)
                        return -EBADMSG;
        }
        *ret = strtoull(q + 1, NULL, 10);
        return 0;
}

/* 1 and *ret_vcpu for "CPU <n>/TCG|KVM", 2 for "ALL CPUs/TCG", 0 otherwise. */
static int thread_kind(int taskfd, const char *tid, unsigned *ret_vcpu)
{
        char path[300], comm[32] = "", accel[8] = "";
        _cleanup_close_ int fd = -EBADF;
        unsigned n;
        ssize_t k;

        snprintf(path, sizeof(path), "%s/comm", tid);
        fd = openat(taskfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return 0; /* the thread just ended */
        k = read(fd, comm, sizeof(comm) - 1);
        if (k <= 0)
                return 0;
        comm[k] = 0;
        comm[strcspn(comm, "\n")] = 0;
        if (streq(comm, "ALL CPUs/TCG"))
                return 2;
        if (sscanf(comm, "CPU %u/%7s", &n, accel) == 2 && (streq(accel, "TCG") || streq(accel, "KVM")) &&
            n < VM_PIN_VCPUS_MAX) {
                *ret_vcpu = n;
                return 1;
        }
        return 0;
}

static int set_affinity(pid_t tid, const unsigned *cpus, size_t n)
{
        cpu_set_t set;

        CPU_ZERO(&set);
        for (size_t i = 0; i < n; i++)
                if (cpus[i] < CPU_SETSIZE)
                        CPU_SET(cpus[i], &set);
        if (sched_setaffinity(tid, sizeof(set), &set) < 0)
                return errno == ESRCH ? 0 : -errno; /* a thread that ended is no error */
        return 0;
}

static int cmp_vcpu(const void *a, const void *b)
{
        const VmVcpuThread *x = a, *y = b;
        return x->vcpu < y->vcpu ? -1 : x->vcpu > y->vcpu;
}

int vm_vcpu_pin(pid_t pid, uint64_t start_time, const unsigned *cpus, size_t n_cpus, bool one_to_one,
                size_t expected_vcpus, VmPinResult *ret)
{
        _cleanup_close_ int procfd = -EBADF, taskfd = -EBADF;
        _cleanup_free_ VmPinResult *res = NULL;
        char path[32];
        struct dirent *de;
        bool round_robin = false;
        uint64_t st;
        DIR *d;
        int r = 0;

        if (ret)
                *ret = (VmPinResult){}; /* also on failure: nothing found */
        if (pid <= 0 || !cpus || n_cpus == 0)
                return -EINVAL;
        res = calloc(1, sizeof(*res));
        if (!res)
                return -ENOMEM;
        snprintf(path, sizeof(path), "/proc/%d", (int)pid);
        procfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (procfd < 0)
                return errno == ENOENT ? -ESRCH : -errno;
        /* identity through the same directory fd as the task list below */
        r = stat_start_time(procfd, &st);
        if (r < 0)
                return r;
        if (st != start_time)
                return -ESRCH;
        taskfd = openat(procfd, "task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (taskfd < 0)
                return errno == ENOENT ? -ESRCH : -errno;
        d = fdopendir(taskfd);
        if (!d)
                return -errno;
        TAKE_FD(taskfd);
        while ((de = readdir(d))) {
                char *end;
                long tid = strtol(de->d_name, &end, 10);
                unsigned vcpu = 0;
                int k, q;

                if (de->d_name[0] == '.' || *end || tid <= 0)
                        continue;
                k = thread_kind(dirfd(d), de->d_name, &vcpu);
                if (k == 2)
                        round_robin = true;
                if (k == 1 && one_to_one && res->n_vcpus < VM_PIN_VCPUS_MAX) {
                        unsigned cpu = cpus[vcpu % n_cpus];
                        q = set_affinity((pid_t)tid, &cpu, 1);
                        res->vcpus[res->n_vcpus++] =
                            (VmVcpuThread){.vcpu = vcpu, .tid = (pid_t)tid, .cpu = (int)cpu};
                } else {
                        q = set_affinity((pid_t)tid, cpus, n_cpus);
                        if (k == 1 && res->n_vcpus < VM_PIN_VCPUS_MAX)
                                res->vcpus[res->n_vcpus++] =
                                    (VmVcpuThread){.vcpu = vcpu, .tid = (pid_t)tid, .cpu = -1};
                        else
                                res->n_other++;
                }
                if (q < 0 && r == 0)
                        r = q;
        }
        closedir(d);
        qsort(res->vcpus, res->n_vcpus, sizeof(res->vcpus[0]), cmp_vcpu);
        if (ret)
                *ret = *res;
        if (r < 0)
                return r;
        if (round_robin && one_to_one)
                return -EOPNOTSUPP;
        return res->n_vcpus < expected_vcpus ? -EAGAIN : 0;
}

char *vm_pin_format(const VmPinResult *p, char *buf, size_t size)
{
        size_t len = 0;

        if (size == 0)
                return buf;
        buf[0] = 0;
        for (size_t i = 0; p && i < p->n_vcpus && len < size; i++) {
                if (p->vcpus[i].cpu < 0)
                        continue;
                int k = snprintf(buf + len, size - len, "%s%u=%d", len ? "," : "", p->vcpus[i].vcpu,
                                 p->vcpus[i].cpu);
                if (k < 0)
                        break;
                len += (size_t)k;
        }
        if (len >= size)
                buf[size - 1] = 0;
        return buf;
}
