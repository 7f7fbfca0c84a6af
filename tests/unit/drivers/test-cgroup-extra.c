/* SPDX-License-Identifier: Apache-2.0 */
/* cgroup extras on a fake v2 tree: cpu.weight, memory.high, memory.swap.max,
 * io.weight, a live update (create again with new limits) and the freezer
 * (cgroup.freeze). The v1 freezer and limits are tested for real by
 * tests/integration/harden-lifecycle.sh. */
#include <fcntl.h>
#include <sys/stat.h>

#include "drivers/container/cgroup.h"
#include "test-util.h"

static char root[64];

static void put(const char *rel, const char *content)
{
        char p[256];
        snprintf(p, sizeof(p), "%s/%s", root, rel);
        CHECK_RC(write_file_atomic_at(AT_FDCWD, p, content, strlen(content), 0644));
}

static bool has(const char *rel, const char *want)
{
        char p[256], *s = NULL;
        bool ok;

        snprintf(p, sizeof(p), "%s/%s", root, rel);
        if (read_file_at(AT_FDCWD, p, 4096, &s, NULL) < 0)
                return false;
        ok = streq(s, want);
        if (!ok)
                fprintf(stderr, "%s: got \"%s\", want \"%s\"\n", rel, s, want);
        free(s);
        return ok;
}

int main(void)
{
        static const char *const files[] = { "memory.max", "memory.swap.max", "memory.high", "cpu.max",
                                             "cpu.weight", "pids.max", "io.weight", "cgroup.procs",
                                             "cgroup.freeze" };
        CgroupLimits lim = { .memory_bytes = 64 << 20, .cpu_weight = 500, .memory_high_bytes = 48 << 20,
                             .swap_bytes = 16 << 20, .io_weight = 200 };
        const CgroupOps *ops = NULL;
        char p[256];
        bool frozen = true;

        strcpy(root, "/tmp/berth-cgx-XXXXXX");
        if (!mkdtemp(root))
                SKIP("mkdtemp: %m");
        put("cgroup.controllers", "cpuset cpu io memory pids\n");
        put("cgroup.subtree_control", "");
        snprintf(p, sizeof(p), "%s/berth", root);
        CHECK(mkdir(p, 0755) == 0);
        put("berth/cgroup.controllers", "cpuset cpu io memory pids\n");
        put("berth/cgroup.subtree_control", "");
        snprintf(p, sizeof(p), "%s/berth/w", root);
        CHECK(mkdir(p, 0755) == 0);
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                snprintf(p, sizeof(p), "berth/w/%s", files[i]);
                put(p, "");
        }
        CHECK_RC(cgroup_detect(root, &ops));
        CHECK(ops == &cgroup_v2_ops);

        CHECK_RC(ops->create(root, "berth", "w", &lim));
        CHECK(has("berth/cgroup.subtree_control", "+cpu +memory +pids +io +cpuset"));
        CHECK(has("berth/w/cpu.weight", "500"));
        CHECK(has("berth/w/memory.high", "50331648"));
        CHECK(has("berth/w/memory.swap.max", "16777216"));
        CHECK(has("berth/w/io.weight", "default 200"));

        /* live update: new limits, same call */
        lim = (CgroupLimits){ .memory_bytes = 32 << 20 };
        CHECK_RC(ops->create(root, "berth", "w", &lim));
        CHECK(has("berth/w/memory.max", "33554432"));
        CHECK(has("berth/w/cpu.weight", "100"));
        CHECK(has("berth/w/memory.high", "max"));
        CHECK(has("berth/w/memory.swap.max", "0"));
        CHECK(has("berth/w/io.weight", "default 100"));

        CHECK_RC(ops->freeze(root, "berth", "w", true));
        CHECK(has("berth/w/cgroup.freeze", "1"));
        CHECK_RC(cgroup_frozen(ops, root, "berth", "w", &frozen));
        CHECK(frozen);
        CHECK_RC(ops->freeze(root, "berth", "w", false));
        CHECK(has("berth/w/cgroup.freeze", "0"));
        CHECK_RC(cgroup_frozen(ops, root, "berth", "w", &frozen));
        CHECK(!frozen);

        CHECK(cgroup_weight_to_shares(100) == 2 + (99 * 262142) / 9999);
        CHECK(cgroup_weight_to_shares(1) == 2);
        CHECK(cgroup_weight_to_shares(10000) == 262144);
        CHECK(cgroup_weight_to_shares(0) == 1024);

        (void)rm_rf_at(AT_FDCWD, root);
        return test_result("cgroup-extra");
}
