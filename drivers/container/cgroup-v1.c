/* SPDX-License-Identifier: Apache-2.0 */
/* cgroup v1 backend: one directory per controller hierarchy. */
#include <sys/stat.h>

#include "drivers/container/cgroup.h"

static const char *const v1_controllers[] = { "cpu", "cpuacct", "memory", "pids", "freezer", "cpuset" };

static int v1_path(const char *root, const char *ctrl, const char *parent, const char *name, char **ret)
{
        int n;

        if (name)
                n = asprintf(ret, "%s/%s/%s/%s", root, ctrl, parent, name);
        else
                n = asprintf(ret, "%s/%s/%s", root, ctrl, parent);
        return n < 0 ? -ENOMEM : 0;
}

/* A new cpuset cgroup starts with empty cpus/mems and accepts no task until
 * they are set: copy them from the level above. */
static int cpuset_copy_from_parent(const char *dir)
{
        _cleanup_free_ char *up = strdup(dir);
        char *slash;
        int r;

        if (!up)
                return -ENOMEM;
        slash = strrchr(up, '/');
        if (!slash || slash == up)
                return -EINVAL;
        *slash = 0;
        for (size_t i = 0; i < 2; i++) {
                const char *f = i == 0 ? "cpuset.cpus" : "cpuset.mems";
                _cleanup_free_ char *cur = NULL, *v = NULL;

                if (cg_read(dir, f, &cur) >= 0 && cur[0] && cur[0] != '\n')
                        continue;
                r = cg_read(up, f, &v);
                if (r < 0)
                        return r;
                r = cg_write(dir, f, v);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* The cpuset parent (its path) whose cgroup.clone_children we set: the
 * kernel gives each new child its parent's cpus and mems at mkdir, which
 * saves the create path the copy by hand (two reads and a write per file). */
static char *cloning_parent;

static size_t parent_len(const char *dir)
{
        const char *slash = strrchr(dir, '/');
        return slash ? (size_t)(slash - dir) : 0;
}

static bool cpuset_parent_clones(const char *dir)
{
        size_t n = parent_len(dir);
        return cloning_parent && strlen(cloning_parent) == n && strncmp(dir, cloning_parent, n) == 0;
}

static void cpuset_parent_set_clones(const char *dir)
{
        char *up = strndup(dir, parent_len(dir));

        if (up && cg_write(up, "cgroup.clone_children", "1") >= 0) {
                free(cloning_parent);
                cloning_parent = up;
                return;
        }
        free(up); /* copied by hand, as before */
}

/* mkdir -p below <root>/<ctrl>, initialising cpuset levels as they appear.
 * 1 if the last level is new (its files hold the kernel's defaults), 0 if it
 * was there. */
static int v1_mkdir(const char *root, const char *ctrl, const char *rel)
{
        _cleanup_free_ char *p = NULL;
        bool made = false;
        size_t base;

        if (asprintf(&p, "%s/%s/%s", root, ctrl, rel) < 0)
                return -ENOMEM;
        /* The common case: the levels above are there (the parent stays
         * made, see remove_parent) and only the last one is new. */
        if (mkdir(p, 0755) >= 0) {
                int r = 0;
                if (streq(ctrl, "cpuset") && !cpuset_parent_clones(p)) {
                        r = cpuset_copy_from_parent(p);
                        if (r >= 0)
                                cpuset_parent_set_clones(p);
                }
                return r < 0 ? r : 1;
        }
        base = strlen(root) + 1 + strlen(ctrl);
        for (char *s = p + base + 1;; s++) {
                if (*s == '/' || *s == 0) {
                        char c = *s;
                        *s = 0;
                        made = mkdir(p, 0755) >= 0;
                        if (!made && errno != EEXIST)
                                return -errno;
                        if (streq(ctrl, "cpuset")) {
                                int r = cpuset_copy_from_parent(p);
                                if (r < 0)
                                        return r;
                        }
                        *s = c;
                        if (c == 0)
                                break;
                }
        }
        if (streq(ctrl, "cpuset"))
                cpuset_parent_set_clones(p);
        return made;
}

static int v1_set_memory(const char *dir, uint64_t bytes)
{
        char v[32];
        int r;

        if (bytes == 0)
                snprintf(v, sizeof(v), "-1");
        else
                snprintf(v, sizeof(v), "%llu", (unsigned long long)bytes);
        /* memsw must stay >= memory: raise memsw first, lower memory first. */
        r = cg_write(dir, "memory.limit_in_bytes", v);
        if (r == -EINVAL) {
                r = cg_write(dir, "memory.memsw.limit_in_bytes", v);
                if (r < 0)
                        return r;
                return cg_write(dir, "memory.limit_in_bytes", v);
        }
        if (r < 0)
                return r;
        r = cg_write(dir, "memory.memsw.limit_in_bytes", v);
        if (r == -ENOENT) /* no swap accounting: nothing to close */
                return 0;
        return r;
}

static int v1_create(const char *root, const char *parent, const char *name, const CgroupLimits *limits)
{
        _cleanup_free_ char *rel = NULL;
        bool fresh = true; /* every directory new: skip writing the kernel's defaults */
        char v[32];
        int r;

        if (asprintf(&rel, "%s/%s", parent, name) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(v1_controllers); i++) {
                r = v1_mkdir(root, v1_controllers[i], rel);
                if (r < 0)
                        return r;
                if (r == 0)
                        fresh = false;
        }

        _cleanup_free_ char *mem = NULL, *cpu = NULL, *pids = NULL;
        if (v1_path(root, "memory", parent, name, &mem) < 0 || v1_path(root, "cpu", parent, name, &cpu) < 0 ||
            v1_path(root, "pids", parent, name, &pids) < 0)
                return -ENOMEM;

        if (!fresh || limits->memory_bytes) {
                r = v1_set_memory(mem, limits->memory_bytes);
                if (r < 0)
                        return r;
        }

        if (!fresh || limits->cpu_millis) {
                r = cg_write(cpu, "cpu.cfs_period_us", "100000");
                if (r < 0)
                        return r;
                if (limits->cpu_millis == 0)
                        snprintf(v, sizeof(v), "-1");
                else
                        snprintf(v, sizeof(v), "%llu", (unsigned long long)cgroup_cpu_quota_usec(limits->cpu_millis));
                r = cg_write(cpu, "cpu.cfs_quota_us", v);
                if (r < 0)
                        return r;
        }
        if (!fresh || !cgroup_v1_extra_is_default(limits)) {
                r = cgroup_v1_apply_extra(root, parent, name, limits);
                if (r < 0)
                        return r;
        }

        if (fresh && limits->pids == 0)
                return 0;
        if (limits->pids == 0)
                snprintf(v, sizeof(v), "max");
        else
                snprintf(v, sizeof(v), "%llu", (unsigned long long)limits->pids);
        return cg_write(pids, "pids.max", v);
}

static int v1_attach(const char *root, const char *parent, const char *name, pid_t pid)
{
        char v[32];
        int r;

        snprintf(v, sizeof(v), "%d", (int)pid);
        for (size_t i = 0; i < ELEMENTSOF(v1_controllers); i++) {
                _cleanup_free_ char *p = NULL;

                r = v1_path(root, v1_controllers[i], parent, name, &p);
                if (r < 0)
                        return r;
                /* "0" to tasks: this thread, the whole of a single-threaded
                 * caller, without the lock a cgroup.procs write takes. */
                r = cg_write(p, pid == 0 ? "tasks" : "cgroup.procs", v);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int v1_clone_fd(_unused_ const char *root, _unused_ const char *parent, _unused_ const char *name)
{
        return -EOPNOTSUPP; /* CLONE_INTO_CGROUP is cgroup2 only */
}

static int v1_oom_kills(const char *root, const char *parent, const char *name, uint64_t *ret)
{
        _cleanup_free_ char *mem = NULL;
        int r;

        if (v1_path(root, "memory", parent, name, &mem) < 0)
                return -ENOMEM;
        *ret = 0;
        r = cg_read_keyed_u64(mem, "memory.oom_control", "oom_kill", ret);
        return r == -ENODATA ? 0 : r; /* oom_kill is counted since Linux 4.13 */
}

static int v1_stats(const char *root, const char *parent, const char *name, DriverStats *ret)
{
        _cleanup_free_ char *acct = NULL, *mem = NULL, *pids = NULL;
        DriverStats s = {};
        int r;

        if (v1_path(root, "cpuacct", parent, name, &acct) < 0 || v1_path(root, "memory", parent, name, &mem) < 0 ||
            v1_path(root, "pids", parent, name, &pids) < 0)
                return -ENOMEM;
        r = cg_read_u64(acct, "cpuacct.usage", &s.cpu_usage_nsec);
        if (r < 0)
                return r;
        r = cg_read_u64(mem, "memory.usage_in_bytes", &s.memory_bytes);
        if (r < 0)
                return r;
        r = cg_read_u64(mem, "memory.limit_in_bytes", &s.memory_limit_bytes);
        if (r < 0)
                return r;
        /* The kernel reports "unlimited" as a huge page-aligned number. */
        if (s.memory_limit_bytes >= (UINT64_C(1) << 62))
                s.memory_limit_bytes = 0;
        r = cg_read_u64(pids, "pids.current", &s.pids_current);
        if (r < 0)
                return r;
        r = v1_oom_kills(root, parent, name, &s.oom_kill_count);
        if (r < 0)
                return r;
        *ret = s;
        return 0;
}

static int v1_remove(const char *root, const char *parent, const char *name)
{
        int r = 0;

        /* A frozen task never dies: thaw first (harmless when not frozen). */
        (void)cgroup_v1_freeze(root, parent, name, false);
        /* v1 has no cgroup.kill: SIGKILL what is listed, then rmdir with a
         * retry that kills again whatever forked in between. */
        for (size_t i = 0; i < ELEMENTSOF(v1_controllers); i++) {
                _cleanup_free_ char *p = NULL;

                if (v1_path(root, v1_controllers[i], parent, name, &p) < 0)
                        return -ENOMEM;
                (void)cg_kill_procs(p);
        }
        for (size_t i = 0; i < ELEMENTSOF(v1_controllers); i++) {
                _cleanup_free_ char *p = NULL;
                int q;

                if (v1_path(root, v1_controllers[i], parent, name, &p) < 0)
                        return -ENOMEM;
                q = cg_rmdir_retry(p);
                if (q < 0 && r == 0)
                        r = q;
        }
        return r;
}

static void v1_remove_parent(const char *root, const char *parent)
{
        for (size_t i = 0; i < ELEMENTSOF(v1_controllers); i++) {
                _cleanup_free_ char *p = NULL;

                if (v1_path(root, v1_controllers[i], parent, NULL, &p) < 0)
                        return;
                if (rmdir(p) >= 0 && cloning_parent && streq(cloning_parent, p)) {
                        free(cloning_parent); /* a parent made again sets it again */
                        cloning_parent = NULL;
                }
        }
}

const CgroupOps cgroup_v1_ops = {
        .name = "v1",
        .version = 1,
        .create = v1_create,
        .attach = v1_attach,
        .clone_fd = v1_clone_fd,
        .stats = v1_stats,
        .oom_kills = v1_oom_kills,
        .remove = v1_remove,
        .remove_parent = v1_remove_parent,
        .freeze = cgroup_v1_freeze,
};
