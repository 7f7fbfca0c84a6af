/* SPDX-License-Identifier: Apache-2.0 */
/* Topology discovery: the one part of the scheduler that does I/O. Reads,
 * relative to a root directory fd (so fixture trees work):
 *   sys/devices/system/cpu/online
 *   sys/devices/system/cpu/cpuN/topology/{core_id,physical_package_id}
 *   sys/devices/system/node/nodeN/{cpulist,meminfo}     (absent: one node)
 *   sys/kernel/mm/hugepages/hugepages-{2048,1048576}kB/nr_hugepages
 *   proc/meminfo                                          (MemTotal) */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scheduler/sched.h"

#define SYSFS_FILE_MAX 8192

static int read_small(int rootfd, const char *path, char *buf, size_t size)
{
        ssize_t n;
        size_t len = 0;
        int fd;

        fd = openat(rootfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        while (len + 1 < size) {
                n = read(fd, buf + len, size - 1 - len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        int r = -errno;
                        close(fd);
                        return r;
                }
                if (n == 0)
                        break;
                len += (size_t)n;
        }
        close(fd);
        buf[len] = 0;
        return (int)len;
}

static int read_int(int rootfd, const char *path, long *ret)
{
        char buf[64], *end;
        int r;

        r = read_small(rootfd, path, buf, sizeof(buf));
        if (r < 0)
                return r;
        errno = 0;
        long v = strtol(buf, &end, 10);
        if (errno || end == buf || (*end && *end != '\n'))
                return -EINVAL;
        *ret = v;
        return 0;
}

/* "Node 0 MemTotal:  4286676 kB" or "MemTotal:  4286676 kB" */
static int read_memtotal(int rootfd, const char *path, uint64_t *ret)
{
        static char buf[SYSFS_FILE_MAX];
        int r;

        r = read_small(rootfd, path, buf, sizeof(buf));
        if (r < 0)
                return r;
        char *p = strstr(buf, "MemTotal:");
        if (!p)
                return -EINVAL;
        unsigned long long kb;
        if (sscanf(p, "MemTotal: %llu kB", &kb) != 1 || kb > (UINT64_C(1) << 44))
                return -EINVAL;
        *ret = (uint64_t)kb * 1024;
        return 0;
}

int sched_topology_discover(const char *root, SchedTopology *ret)
{
        static char buf[SYSFS_FILE_MAX];
        char path[256];
        int16_t core_pkg[SCHED_CPUS_MAX];
        long core_key[SCHED_CPUS_MAX];
        SchedTopology *t = ret;
        int rootfd, r;

        if (!root || !ret)
                return -EINVAL;
        rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (rootfd < 0)
                return -errno;

        memset(t, 0, sizeof(*t));
        r = read_small(rootfd, "sys/devices/system/cpu/online", buf, sizeof(buf));
        if (r < 0)
                goto finish;
        r = cpuset_parse(buf, &t->online);
        if (r < 0)
                goto finish;
        if (cpuset_is_empty(&t->online)) {
                r = -ENODATA;
                goto finish;
        }

        for (unsigned c = 0; c < SCHED_CPUS_MAX; c++) {
                t->core_of[c] = -1;
                t->node_of[c] = -1;
                t->package_of[c] = -1;
        }
        for (unsigned c = 0; c < SCHED_CPUS_MAX; c++) {
                long core_id = (long)c, pkg = 0;

                if (!cpuset_test(&t->online, c))
                        continue;
                t->n_cpus = c + 1;
                snprintf(path, sizeof(path), "sys/devices/system/cpu/cpu%u/topology/core_id", c);
                (void)read_int(rootfd, path, &core_id); /* missing topology: every CPU its own core */
                snprintf(path, sizeof(path), "sys/devices/system/cpu/cpu%u/topology/physical_package_id", c);
                (void)read_int(rootfd, path, &pkg);
                if (pkg < 0 || pkg >= SCHED_CPUS_MAX)
                        pkg = 0;
                t->package_of[c] = (int16_t)pkg;
                if ((unsigned)pkg + 1 > t->n_packages)
                        t->n_packages = (unsigned)pkg + 1;

                unsigned k;
                for (k = 0; k < t->n_cores; k++)
                        if (core_pkg[k] == pkg && core_key[k] == core_id)
                                break;
                if (k == t->n_cores) {
                        core_pkg[k] = (int16_t)pkg;
                        core_key[k] = core_id;
                        t->n_cores++;
                }
                if (t->core_n_cpus[k] >= SCHED_SMT_MAX) {
                        r = -ERANGE;
                        goto finish;
                }
                t->core_cpus[k][t->core_n_cpus[k]++] = (uint16_t)c;
                t->core_of[c] = (int16_t)k;
                if (t->core_n_cpus[k] > t->smt_width)
                        t->smt_width = t->core_n_cpus[k];
        }

        r = read_memtotal(rootfd, "proc/meminfo", &t->memory_bytes);
        if (r < 0)
                goto finish;

        /* NUMA nodes: dense renumbering of the nodes that exist */
        for (unsigned nd = 0; nd < SCHED_CPUS_MAX && t->n_nodes < SCHED_NODES_MAX; nd++) {
                CpuSet cpus;
                uint64_t mem = 0;

                snprintf(path, sizeof(path), "sys/devices/system/node/node%u/cpulist", nd);
                r = read_small(rootfd, path, buf, sizeof(buf));
                if (r == -ENOENT)
                        continue;
                if (r < 0)
                        goto finish;
                r = cpuset_parse(buf, &cpus);
                if (r < 0)
                        goto finish;
                snprintf(path, sizeof(path), "sys/devices/system/node/node%u/meminfo", nd);
                (void)read_memtotal(rootfd, path, &mem);
                unsigned idx = t->n_nodes++;
                for (unsigned c = 0; c < t->n_cpus; c++)
                        if (cpuset_test(&cpus, c) && cpuset_test(&t->online, c)) {
                                cpuset_set(&t->node_cpus[idx], c);
                                t->node_of[c] = (int16_t)idx;
                        }
                t->node_memory_bytes[idx] = mem;
        }
        if (t->n_nodes == 0) {
                t->n_nodes = 1;
                t->node_cpus[0] = t->online;
                t->node_memory_bytes[0] = t->memory_bytes;
        }
        for (unsigned c = 0; c < t->n_cpus; c++)
                if (cpuset_test(&t->online, c) && t->node_of[c] < 0) {
                        t->node_of[c] = 0;
                        cpuset_set(&t->node_cpus[0], c);
                }

        long v;
        if (read_int(rootfd, "sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", &v) >= 0 && v > 0)
                t->hugepages_2m = (uint64_t)v;
        if (read_int(rootfd, "sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages", &v) >= 0 && v > 0)
                t->hugepages_1g = (uint64_t)v;
        r = 0;
finish:
        close(rootfd);
        return r;
}
