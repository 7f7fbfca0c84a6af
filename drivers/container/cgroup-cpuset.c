/* SPDX-License-Identifier: Apache-2.0 */
/* cpuset.cpus / cpuset.mems of a workload's cgroup, written live by the agent
 * as the scheduler places workloads (exclusive sets, the shared pool). The
 * cgroup is <root>/cpuset/<parent>/<name> on v1 and <root>/<parent>/<name>
 * on v2 (the v2 backend enables the cpuset controller for its children). */
#include "drivers/container/cgroup.h"

static int cpuset_dir(const CgroupOps *ops, const char *root, const char *parent, const char *name, char **ret)
{
        int n;

        if (!ops || !root || !parent || !name)
                return -EINVAL;
        if (ops->version == 1)
                n = asprintf(ret, "%s/cpuset/%s/%s", root, parent, name);
        else
                n = asprintf(ret, "%s/%s/%s", root, parent, name);
        return n < 0 ? -ENOMEM : 0;
}

int cgroup_set_cpuset(const CgroupOps *ops, const char *root, const char *parent, const char *name, const char *cpus,
                      const char *mems)
{
        _cleanup_free_ char *dir = NULL;
        int r;

        r = cpuset_dir(ops, root, parent, name, &dir);
        if (r < 0)
                return r;
        if (access(dir, F_OK) < 0)
                return -errno;
        /* widen mems first: a cpus write is refused while mems is empty (v1) */
        if (mems && mems[0]) {
                r = cg_write(dir, "cpuset.mems", mems);
                if (r < 0)
                        return r;
        }
        if (cpus && cpus[0]) {
                r = cg_write(dir, "cpuset.cpus", cpus);
                if (r < 0)
                        return r;
        }
        return 0;
}

int cgroup_get_cpuset(const CgroupOps *ops, const char *root, const char *parent, const char *name, char **ret_cpus)
{
        _cleanup_free_ char *dir = NULL, *v = NULL;
        int r;

        r = cpuset_dir(ops, root, parent, name, &dir);
        if (r < 0)
                return r;
        r = cg_read(dir, "cpuset.cpus", &v);
        if (r < 0)
                return r;
        v[strcspn(v, "\n")] = 0;
        *ret_cpus = TAKE_PTR(v);
        return 0;
}
