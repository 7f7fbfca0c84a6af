/* SPDX-License-Identifier: Apache-2.0 */
/* The controllers beyond memory.max/cpu.max/pids.max (cpu weight, memory
 * high, swap, io weight) and the freezer, for both backends. Called from
 * v1_create()/v2_create(), so a live update is simply create() again with
 * the new limits (every write is idempotent). */
#include <time.h>

#include "drivers/container/cgroup.h"

/* cgroup v2 weight (1..10000, default 100) <-> v1 cpu.shares (2..262144,
 * default 1024): the mapping crun and systemd use, inverted. */
uint64_t cgroup_cpu_quota_usec(uint64_t cpu_millis)
{
        uint64_t q = cpu_millis * 100;

        return q < 1000 ? 1000 : q;
}

uint64_t cgroup_weight_to_shares(uint64_t weight)
{
        if (weight == 0)
                return 1024;
        return 2 + ((weight - 1) * 262142) / 9999;
}

/* v2 io.weight 1..10000 -> v1 blkio.weight 10..1000. */
static uint64_t io_weight_to_blkio(uint64_t w)
{
        return 10 + ((w - 1) * 990) / 9999;
}

static int write_u64(const char *dir, const char *file, uint64_t v)
{
        char b[32];

        snprintf(b, sizeof(b), "%llu", (unsigned long long)v);
        return cg_write(dir, file, b);
}

bool cgroup_v1_extra_is_default(const CgroupLimits *l)
{
        return l->cpu_weight == 0 && l->memory_high_bytes == 0 && !(l->memory_bytes && l->swap_bytes) &&
               l->io_weight == 0;
}

int cgroup_v1_apply_extra(const char *root, const char *parent, const char *name, const CgroupLimits *l)
{
        _cleanup_free_ char *cpu = NULL, *mem = NULL, *blkio = NULL;
        int r;

        if (asprintf(&cpu, "%s/cpu/%s/%s", root, parent, name) < 0 ||
            asprintf(&mem, "%s/memory/%s/%s", root, parent, name) < 0 ||
            asprintf(&blkio, "%s/blkio/%s/%s", root, parent, name) < 0)
                return -ENOMEM;
        r = write_u64(cpu, "cpu.shares", cgroup_weight_to_shares(l->cpu_weight));
        if (r < 0)
                return r;
        /* v1 has no memory.high; the soft limit is the closest thing. */
        if (l->memory_high_bytes)
                r = write_u64(mem, "memory.soft_limit_in_bytes", l->memory_high_bytes);
        else
                r = cg_write(mem, "memory.soft_limit_in_bytes", "-1");
        if (r < 0)
                return r;
        if (l->memory_bytes && l->swap_bytes) {
                r = write_u64(mem, "memory.memsw.limit_in_bytes", l->memory_bytes + l->swap_bytes);
                if (r < 0 && r != -ENOENT)
                        return r;
        }
        /* blkio.weight exists only with a proportional-weight I/O scheduler
         * (BFQ); without it the weight cannot be honoured, so it is skipped. */
        if (l->io_weight && access(blkio, F_OK) >= 0) {
                r = write_u64(blkio, "blkio.weight", io_weight_to_blkio(l->io_weight));
                if (r < 0 && r != -ENOENT)
                        return r;
        }
        return 0;
}

int cgroup_v2_apply_extra(const char *dir, const CgroupLimits *l)
{
        char b[48];
        int r;

        r = write_u64(dir, "cpu.weight", l->cpu_weight ? l->cpu_weight : 100);
        if (r < 0)
                return r;
        if (l->memory_high_bytes)
                r = write_u64(dir, "memory.high", l->memory_high_bytes);
        else
                r = cg_write(dir, "memory.high", "max");
        if (r < 0)
                return r;
        if (l->swap_bytes) {
                r = write_u64(dir, "memory.swap.max", l->swap_bytes);
                if (r < 0 && r != -ENOENT)
                        return r;
        }
        snprintf(b, sizeof(b), "default %llu", (unsigned long long)(l->io_weight ? l->io_weight : 100));
        r = cg_write(dir, "io.weight", b);
        if (r < 0 && r != -ENOENT) /* io controller not delegated */
                return r;
        return 0;
}

int cgroup_v1_freeze(const char *root, const char *parent, const char *name, bool frozen)
{
        _cleanup_free_ char *dir = NULL;
        int r;

        if (asprintf(&dir, "%s/freezer/%s/%s", root, parent, name) < 0)
                return -ENOMEM;
        r = cg_write(dir, "freezer.state", frozen ? "FROZEN" : "THAWED");
        if (r < 0)
                return r;
        /* FREEZING is transient: wait (bounded) until every task stopped. */
        for (int i = 0; i < 200; i++) {
                _cleanup_free_ char *s = NULL;

                r = cg_read(dir, "freezer.state", &s);
                if (r < 0)
                        return r;
                if (strncmp(s, frozen ? "FROZEN" : "THAWED", 6) == 0)
                        return 0;
                (void)cg_write(dir, "freezer.state", frozen ? "FROZEN" : "THAWED");
                nanosleep(&(struct timespec){ .tv_nsec = 5 * 1000 * 1000 }, NULL);
        }
        return -ETIMEDOUT;
}

int cgroup_v2_freeze(const char *root, const char *parent, const char *name, bool frozen)
{
        _cleanup_free_ char *dir = NULL;

        if (asprintf(&dir, "%s/%s/%s", root, parent, name) < 0)
                return -ENOMEM;
        /* cgroup.events "frozen 1" follows asynchronously; the write is the
         * request and the kernel completes it without further action. */
        return cg_write(dir, "cgroup.freeze", frozen ? "1" : "0");
}

int cgroup_frozen(const CgroupOps *ops, const char *root, const char *parent, const char *name, bool *ret)
{
        _cleanup_free_ char *dir = NULL, *s = NULL;
        uint64_t v;
        int r;

        if (ops->version == 1) {
                if (asprintf(&dir, "%s/freezer/%s/%s", root, parent, name) < 0)
                        return -ENOMEM;
                r = cg_read(dir, "freezer.state", &s);
                if (r < 0)
                        return r;
                *ret = strncmp(s, "THAWED", 6) != 0;
                return 0;
        }
        if (asprintf(&dir, "%s/%s/%s", root, parent, name) < 0)
                return -ENOMEM;
        r = cg_read_u64(dir, "cgroup.freeze", &v);
        if (r < 0)
                return r;
        *ret = v != 0;
        return 0;
}
