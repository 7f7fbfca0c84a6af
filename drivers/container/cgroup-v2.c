/* SPDX-License-Identifier: Apache-2.0 */
/* cgroup v2 backend: one unified hierarchy. */
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include "drivers/container/cgroup.h"

static const char *const v2_wanted[] = { "cpu", "memory", "pids", "io", "cpuset" };

static bool word_in(const char *list, const char *w)
{
        size_t l = strlen(w);

        for (const char *p = list; (p = strstr(p, w)); p += l)
                if ((p == list || p[-1] == ' ' || p[-1] == '\n') && (p[l] == 0 || p[l] == ' ' || p[l] == '\n'))
                        return true;
        return false;
}

/* Enables our controllers for the children of dir, as far as dir offers them. */
static int v2_enable_subtree(const char *dir)
{
        _cleanup_free_ char *avail = NULL;
        char v[64] = "";
        int r;

        r = cg_read(dir, "cgroup.controllers", &avail);
        if (r < 0 && r != -ENOENT)
                return r;
        for (size_t i = 0; i < ELEMENTSOF(v2_wanted); i++) {
                if (avail && !word_in(avail, v2_wanted[i]))
                        continue;
                if (v[0])
                        strcat(v, " ");
                strcat(v, "+");
                strcat(v, v2_wanted[i]);
        }
        if (!v[0])
                return 0;
        return cg_write(dir, "cgroup.subtree_control", v);
}

static int v2_path(const char *root, const char *parent, const char *name, char **ret)
{
        return asprintf(ret, "%s/%s/%s", root, parent, name) < 0 ? -ENOMEM : 0;
}

static int v2_create(const char *root, const char *parent, const char *name, const CgroupLimits *limits)
{
        _cleanup_free_ char *p = NULL, *dir = NULL;
        char v[64];
        int r;

        /* root, then each level of parent: mkdir and delegate controllers. */
        r = v2_enable_subtree(root);
        if (r < 0)
                return r;
        if (asprintf(&p, "%s/%s", root, parent) < 0)
                return -ENOMEM;
        for (char *s = p + strlen(root) + 1;; s++) {
                if (*s == '/' || *s == 0) {
                        char c = *s;
                        *s = 0;
                        if (mkdir(p, 0755) < 0 && errno != EEXIST)
                                return -errno;
                        r = v2_enable_subtree(p);
                        if (r < 0)
                                return r;
                        *s = c;
                        if (c == 0)
                                break;
                }
        }
        r = v2_path(root, parent, name, &dir);
        if (r < 0)
                return r;
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                return -errno;

        if (limits->memory_bytes == 0)
                snprintf(v, sizeof(v), "max");
        else
                snprintf(v, sizeof(v), "%llu", (unsigned long long)limits->memory_bytes);
        r = cg_write(dir, "memory.max", v);
        if (r < 0)
                return r;
        r = cg_write(dir, "memory.swap.max", "0");
        if (r < 0 && r != -ENOENT) /* absent without swap accounting */
                return r;

        if (limits->cpu_millis == 0)
                snprintf(v, sizeof(v), "max 100000");
        else
                snprintf(v, sizeof(v), "%llu 100000", (unsigned long long)cgroup_cpu_quota_usec(limits->cpu_millis));
        r = cg_write(dir, "cpu.max", v);
        if (r < 0)
                return r;
        r = cgroup_v2_apply_extra(dir, limits);
        if (r < 0)
                return r;

        if (limits->pids == 0)
                snprintf(v, sizeof(v), "max");
        else
                snprintf(v, sizeof(v), "%llu", (unsigned long long)limits->pids);
        return cg_write(dir, "pids.max", v);
}

static int v2_attach(const char *root, const char *parent, const char *name, pid_t pid)
{
        _cleanup_free_ char *dir = NULL;
        char v[32];
        int r;

        r = v2_path(root, parent, name, &dir);
        if (r < 0)
                return r;
        snprintf(v, sizeof(v), "%d", (int)pid);
        return cg_write(dir, "cgroup.procs", v);
}

static int v2_clone_fd(const char *root, const char *parent, const char *name)
{
        _cleanup_free_ char *dir = NULL;
        _cleanup_close_ int fd = -EBADF;
        struct statfs sf;
        int r;

        r = v2_path(root, parent, name, &dir);
        if (r < 0)
                return r;
        fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fstatfs(fd, &sf) < 0)
                return -errno;
        if (sf.f_type != CGROUP2_SUPER_MAGIC)
                return -EOPNOTSUPP; /* a fake tree (tests) */
        return TAKE_FD(fd);
}

static int v2_oom_kills(const char *root, const char *parent, const char *name, uint64_t *ret)
{
        _cleanup_free_ char *dir = NULL;
        int r;

        r = v2_path(root, parent, name, &dir);
        if (r < 0)
                return r;
        *ret = 0;
        r = cg_read_keyed_u64(dir, "memory.events", "oom_kill", ret);
        return r == -ENODATA ? 0 : r; /* oom_kill is counted since Linux 4.13 */
}

static int v2_stats(const char *root, const char *parent, const char *name, DriverStats *ret)
{
        _cleanup_free_ char *dir = NULL;
        DriverStats s = {};
        uint64_t usec = 0;
        int r;

        r = v2_path(root, parent, name, &dir);
        if (r < 0)
                return r;
        r = cg_read_keyed_u64(dir, "cpu.stat", "usage_usec", &usec);
        if (r < 0)
                return r;
        s.cpu_usage_nsec = usec * NSEC_PER_USEC;
        r = cg_read_u64(dir, "memory.current", &s.memory_bytes);
        if (r < 0)
                return r;
        r = cg_read_u64(dir, "memory.max", &s.memory_limit_bytes); /* "max" -> 0 */
        if (r < 0)
                return r;
        r = cg_read_u64(dir, "pids.current", &s.pids_current);
        if (r < 0)
                return r;
        r = v2_oom_kills(root, parent, name, &s.oom_kill_count);
        if (r < 0)
                return r;
        *ret = s;
        return 0;
}

static int v2_remove(const char *root, const char *parent, const char *name)
{
        _cleanup_free_ char *dir = NULL;
        int r;

        r = v2_path(root, parent, name, &dir);
        if (r < 0)
                return r;
        if (access(dir, F_OK) < 0)
                return errno == ENOENT ? 0 : -errno;
        r = cg_write(dir, "cgroup.kill", "1");
        if (r == -ENOENT) /* before Linux 5.14 */
                (void)cg_kill_procs(dir);
        else if (r < 0)
                return r;
        return cg_rmdir_retry(dir);
}

static void v2_remove_parent(const char *root, const char *parent)
{
        _cleanup_free_ char *dir = NULL;

        if (asprintf(&dir, "%s/%s", root, parent) >= 0)
                (void)rmdir(dir);
}

const CgroupOps cgroup_v2_ops = {
        .name = "v2",
        .version = 2,
        .create = v2_create,
        .attach = v2_attach,
        .clone_fd = v2_clone_fd,
        .stats = v2_stats,
        .oom_kills = v2_oom_kills,
        .remove = v2_remove,
        .remove_parent = v2_remove_parent,
        .freeze = cgroup_v2_freeze,
};
