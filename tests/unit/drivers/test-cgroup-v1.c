/* SPDX-License-Identifier: Apache-2.0 */
/* The v1 backend on the real hierarchy (root, hybrid/v1 host). */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "drivers/container/cgroup.h"
#include "test-util.h"

static const char *R = "/sys/fs/cgroup";
static char parent[64];

static volatile pid_t idle_tid;

static void *idle_thread(void *arg)
{
        idle_tid = gettid();
        for (;;)
                pause();
        return arg;
}

/* Thread tid's (of process pid) line for ctrl names our t1 cgroup. */
static bool in_t1(pid_t pid, pid_t tid, const char *ctrl)
{
        char p[64], want[128], *s = NULL;
        bool ok;

        snprintf(p, sizeof(p), "/proc/%d/task/%d/cgroup", (int)pid, (int)tid);
        if (read_file_at(AT_FDCWD, p, 65536, &s, NULL) < 0)
                return false;
        snprintf(want, sizeof(want), ":%s:/%s/t1\n", ctrl, parent);
        ok = strstr(s, want) != NULL;
        free(s);
        return ok;
}

static bool has_in(const char *ctrl, const char *name, const char *file, const char *want)
{
        char p[256], *s = NULL;
        bool ok;

        snprintf(p, sizeof(p), "%s/%s/%s/%s/%s", R, ctrl, parent, name, file);
        if (read_file_at(AT_FDCWD, p, 4096, &s, NULL) < 0) {
                fprintf(stderr, "cannot read %s\n", p);
                return false;
        }
        s[strcspn(s, "\n")] = 0;
        ok = streq(s, want);
        if (!ok)
                fprintf(stderr, "%s: got \"%s\", want \"%s\"\n", p, s, want);
        free(s);
        return ok;
}

static bool has(const char *ctrl, const char *file, const char *want)
{
        return has_in(ctrl, "t1", file, want);
}

static void cleanup_parent(void)
{
        static const char *const c[] = { "cpu", "cpuacct", "memory", "pids", "freezer", "cpuset" };
        char p[256];

        (void)cgroup_v1_ops.remove(R, parent, "t1");
        (void)cgroup_v1_ops.remove(R, parent, "t2");
        for (size_t i = 0; i < ELEMENTSOF(c); i++) {
                snprintf(p, sizeof(p), "%s/%s/%s", R, c[i], parent);
                (void)rmdir(p);
        }
}

int main(void)
{
        const CgroupOps *ops = NULL;
        CgroupLimits lim = { .memory_bytes = 32 << 20, .cpu_millis = 500, .pids = 64 };
        DriverStats st;
        char p[256], v[32];
        int status;

        if (geteuid() != 0)
                SKIP("needs root");
        if (cgroup_detect(R, &ops) < 0 || ops != &cgroup_v1_ops)
                SKIP("no cgroup v1 hierarchy at %s", R);
        snprintf(parent, sizeof(parent), "berth-test-%d", (int)getpid());

        CHECK_RC(cgroup_v1_ops.create(R, parent, "t1", &lim));
        CHECK(has("memory", "memory.limit_in_bytes", "33554432"));
        snprintf(p, sizeof(p), "%s/memory/%s/t1/memory.memsw.limit_in_bytes", R, parent);
        if (access(p, F_OK) == 0)
                CHECK(has("memory", "memory.memsw.limit_in_bytes", "33554432"));
        CHECK(has("cpu", "cpu.cfs_period_us", "100000"));
        CHECK(has("cpu", "cpu.cfs_quota_us", "50000"));
        CHECK(has("pids", "pids.max", "64"));
        snprintf(p, sizeof(p), "%s/cpuset/cpuset.cpus", R);
        char *rootcpus = NULL;
        if (read_file_at(AT_FDCWD, p, 256, &rootcpus, NULL) >= 0) {
                rootcpus[strcspn(rootcpus, "\n")] = 0;
                CHECK(has("cpuset", "cpuset.cpus", rootcpus));
                free(rootcpus);
        }

        /* A new cgroup with no limits: nothing is written (the kernel's
         * defaults are the spec's), and the defaults are what it reads. */
        CHECK_RC(cgroup_v1_ops.create(R, parent, "t2", &(CgroupLimits){}));
        CHECK(has_in("cpu", "t2", "cpu.cfs_quota_us", "-1"));
        CHECK(has_in("cpu", "t2", "cpu.shares", "1024"));
        /* After the first child, the kernel copies cpus and mems into new
         * ones (clone_children on the parent), not the create. */
        snprintf(p, sizeof(p), "%s/cpuset/cpuset.cpus", R);
        rootcpus = NULL;
        if (read_file_at(AT_FDCWD, p, 256, &rootcpus, NULL) >= 0) {
                rootcpus[strcspn(rootcpus, "\n")] = 0;
                CHECK(has_in("cpuset", "t2", "cpuset.cpus", rootcpus));
                free(rootcpus);
        }
        snprintf(p, sizeof(p), "%s/cpuset/%s/cgroup.clone_children", R, parent);
        char *clones = NULL;
        CHECK(read_file_at(AT_FDCWD, p, 16, &clones, NULL) >= 0 && clones[0] == '1');
        free(clones);
        CHECK(has_in("pids", "t2", "pids.max", "max"));
        snprintf(p, sizeof(p), "%s/memory/memory.limit_in_bytes", R);
        char *unlimited = NULL; /* what the root reads: no limit */
        CHECK(read_file_at(AT_FDCWD, p, 64, &unlimited, NULL) >= 0);
        unlimited[strcspn(unlimited, "\n")] = 0;
        CHECK(has_in("memory", "t2", "memory.soft_limit_in_bytes", unlimited));
        CHECK(has_in("memory", "t2", "memory.limit_in_bytes", unlimited));
        free(unlimited);
        CHECK_RC(cgroup_v1_ops.remove(R, parent, "t2"));

        /* raise the limit (memsw first path) and lift it */
        lim.memory_bytes = 256 << 20;
        CHECK_RC(cgroup_v1_ops.create(R, parent, "t1", &lim));
        CHECK(has("memory", "memory.limit_in_bytes", "268435456"));
        lim = (CgroupLimits){};
        CHECK_RC(cgroup_v1_ops.create(R, parent, "t1", &lim));
        CHECK(has("cpu", "cpu.cfs_quota_us", "-1"));
        CHECK(has("pids", "pids.max", "max"));

        pid_t child = fork();
        if (child == 0) {
                pause();
                _exit(0);
        }
        CHECK_RC(cgroup_v1_ops.attach(R, parent, "t1", child));
        snprintf(v, sizeof(v), "%d", (int)child);
        CHECK(has("pids", "cgroup.procs", v));
        CHECK(has("memory", "cgroup.procs", v));
        /* pid 0: a single-threaded process joins itself through tasks (the
         * shim's init does, no RCU grace period); v1 has no clone fd. */
        int sp[2];
        CHECK(pipe2(sp, O_CLOEXEC) == 0);
        pid_t self = fork();
        if (self == 0) {
                char ok = cgroup_v1_ops.attach(R, parent, "t1", 0) >= 0 ? 'y' : 'n';
                (void)!write(sp[1], &ok, 1);
                pause();
                _exit(0);
        }
        char ok = 0;
        CHECK(read(sp[0], &ok, 1) == 1 && ok == 'y');
        close(sp[0]);
        close(sp[1]);
        CHECK(in_t1(self, self, "memory"));
        CHECK(in_t1(self, self, "pids"));
        CHECK(in_t1(self, self, "freezer"));
        CHECK(in_t1(self, self, "cpuset"));
        /* ... and only the calling thread: the tasks file, not cgroup.procs
         * (which would take the lock and move every thread). */
        CHECK(pipe2(sp, O_CLOEXEC) == 0);
        pid_t thr = fork();
        if (thr == 0) {
                pthread_t t;
                char res = 'n';

                if (pthread_create(&t, NULL, idle_thread, NULL) == 0) {
                        while (!idle_tid)
                                usleep(1000);
                        if (cgroup_v1_ops.attach(R, parent, "t1", 0) >= 0 && in_t1(getpid(), getpid(), "memory") &&
                            !in_t1(getpid(), idle_tid, "memory"))
                                res = 'y';
                }
                (void)!write(sp[1], &res, 1);
                _exit(0);
        }
        ok = 0;
        CHECK(read(sp[0], &ok, 1) == 1 && ok == 'y');
        CHECK(waitpid(thr, &status, 0) == thr);
        close(sp[0]);
        close(sp[1]);
        CHECK(cgroup_v1_ops.clone_fd(R, parent, "t1") == -EOPNOTSUPP);
        CHECK_RC(cgroup_v1_ops.stats(R, parent, "t1", &st));
        CHECK(st.pids_current == 2);
        CHECK(st.memory_limit_bytes == 0);
        uint64_t kills = 99;
        CHECK_RC(cgroup_v1_ops.oom_kills(R, parent, "t1", &kills));
        CHECK(kills == st.oom_kill_count && kills == 0);

        /* remove kills the leftover and removes every hierarchy's dir */
        CHECK_RC(cgroup_v1_ops.remove(R, parent, "t1"));
        CHECK(waitpid(child, &status, 0) == child && WIFSIGNALED(status));
        CHECK(waitpid(self, &status, 0) == self && WIFSIGNALED(status));
        snprintf(p, sizeof(p), "%s/memory/%s/t1", R, parent);
        CHECK(access(p, F_OK) < 0 && errno == ENOENT);
        /* the parent stays for the next start; remove_parent drops it */
        snprintf(p, sizeof(p), "%s/cpuset/%s", R, parent);
        CHECK(access(p, F_OK) == 0);
        cgroup_v1_ops.remove_parent(R, parent);
        CHECK(access(p, F_OK) < 0 && errno == ENOENT);
        snprintf(p, sizeof(p), "%s/memory/%s", R, parent);
        CHECK(access(p, F_OK) < 0 && errno == ENOENT);

        cleanup_parent();
        return test_result("test-cgroup-v1");
}
