/* SPDX-License-Identifier: Apache-2.0 */
/* The v2 backend against a fake cgroupfs tree in a temp dir: the files it
 * writes, the subtree delegation, stats parsing and kill on remove. */
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

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

static void mk(const char *rel)
{
        char p[256];
        snprintf(p, sizeof(p), "%s/%s", root, rel);
        CHECK(mkdir(p, 0755) == 0);
}

int main(void)
{
        const CgroupOps *ops = NULL;
        static const char *const files[] = { "memory.max", "memory.swap.max", "cpu.max", "pids.max", "cgroup.procs",
                                             "cpu.weight", "memory.high" };
        CgroupLimits lim = { .memory_bytes = 64 << 20, .cpu_millis = 250, .pids = 100 };
        DriverStats st;
        char p[256];

        strcpy(root, "/tmp/berth-cgv2-XXXXXX");
        if (!mkdtemp(root))
                SKIP("mkdtemp: %m");
        /* What the kernel would show: controllers offered at the root and
         * in berth/, files of the workload cgroup populated on mkdir. */
        put("cgroup.controllers", "cpuset cpu io memory pids\n");
        put("cgroup.subtree_control", "");
        mk("berth");
        put("berth/cgroup.controllers", "cpu memory pids\n");
        put("berth/cgroup.subtree_control", "");
        mk("berth/w1");
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                snprintf(p, sizeof(p), "berth/w1/%s", files[i]);
                put(p, "");
        }

        CHECK_RC(cgroup_detect(root, &ops));
        CHECK(ops == &cgroup_v2_ops);

        CHECK_RC(cgroup_v2_ops.create(root, "berth", "w1", &lim));
        CHECK(has("cgroup.subtree_control", "+cpu +memory +pids +io +cpuset"));
        CHECK(has("berth/cgroup.subtree_control", "+cpu +memory +pids"));
        CHECK(has("berth/w1/memory.max", "67108864"));
        CHECK(has("berth/w1/memory.swap.max", "0"));
        CHECK(has("berth/w1/cpu.max", "25000 100000"));
        CHECK(has("berth/w1/pids.max", "100"));

        /* Idempotent; unlimited values */
        lim = (CgroupLimits){};
        CHECK_RC(cgroup_v2_ops.create(root, "berth", "w1", &lim));
        CHECK(has("berth/w1/memory.max", "max"));
        CHECK(has("berth/w1/cpu.max", "max 100000"));
        CHECK(has("berth/w1/pids.max", "max"));

        CHECK_RC(cgroup_v2_ops.attach(root, "berth", "w1", 4242));
        CHECK(has("berth/w1/cgroup.procs", "4242"));
        /* a fake tree is no cgroup2 mount: no CLONE_INTO_CGROUP, the shim moves by pid */
        CHECK(cgroup_v2_ops.clone_fd(root, "berth", "w1") == -EOPNOTSUPP);

        /* A missing limit file (controller not delegated) is an error. */
        mk("berth/w2");
        CHECK(cgroup_v2_ops.create(root, "berth", "w2", &lim) == -ENOENT);

        put("berth/w1/cpu.stat", "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n");
        put("berth/w1/memory.current", "123456\n");
        put("berth/w1/memory.max", "67108864\n");
        put("berth/w1/pids.current", "3\n");
        put("berth/w1/memory.events", "low 0\nhigh 0\nmax 4\noom 2\noom_kill 1\n");
        CHECK_RC(cgroup_v2_ops.stats(root, "berth", "w1", &st));
        CHECK(st.cpu_usage_nsec == 1500000);
        CHECK(st.memory_bytes == 123456);
        CHECK(st.memory_limit_bytes == 67108864);
        CHECK(st.pids_current == 3);
        CHECK(st.oom_kill_count == 1);
        uint64_t kills = 99;
        CHECK_RC(cgroup_v2_ops.oom_kills(root, "berth", "w1", &kills));
        CHECK(kills == 1);
        put("berth/w1/memory.events", "low 0\nhigh 0\nmax 0\noom 0\n"); /* a kernel that does not count */
        CHECK_RC(cgroup_v2_ops.oom_kills(root, "berth", "w1", &kills));
        CHECK(kills == 0);
        CHECK(cgroup_v2_ops.oom_kills(root, "berth", "nosuch", &kills) == -ENOENT);
        put("berth/w1/memory.events", "low 0\nhigh 0\nmax 4\noom 2\noom_kill 1\n");

        /* remove without cgroup.kill: SIGKILLs what cgroup.procs lists. The
         * rmdir then fails on the fake tree's regular files (ENOTEMPTY). */
        pid_t child = fork();
        if (child == 0) {
                pause();
                _exit(0);
        }
        snprintf(p, sizeof(p), "%d\n", (int)child);
        put("berth/w1/cgroup.procs", p);
        CHECK(cgroup_v2_ops.remove(root, "berth", "w1") == -ENOTEMPTY);
        int status = 0;
        CHECK(waitpid(child, &status, 0) == child);
        CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

        /* remove of a cgroup that is not there is fine */
        CHECK(cgroup_v2_ops.remove(root, "berth", "nope") == 0);

        rm_rf_at(AT_FDCWD, root);
        return test_result("test-cgroup-v2");
}
