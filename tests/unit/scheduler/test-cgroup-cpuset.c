/* SPDX-License-Identifier: Apache-2.0 */
/* cgroup_set_cpuset() / cgroup_get_cpuset() on a fake v2 tree and a fake v1
 * layout in a temp dir (drivers/container/cgroup-cpuset.c). */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "drivers/container/cgroup.h"
#include "tests/unit/lib/tap.h"

/* cgroupfs files exist before they are written: make them in the fake tree */
static void touch(const char *dir)
{
        char p[600];
        snprintf(p, sizeof(p), "%s/cpuset.cpus", dir);
        close(open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
        snprintf(p, sizeof(p), "%s/cpuset.mems", dir);
        close(open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
}

static char *slurp(const char *path)
{
        static char buf[256];
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
        if (fd >= 0)
                close(fd);
        buf[n > 0 ? n : 0] = 0;
        return buf;
}

int main(void)
{
        char root[] = "/tmp/berth-test-cpuset.XXXXXX", p[512];
        _cleanup_free_ char *cpus = NULL;

        if (!mkdtemp(root))
                return 77;
        snprintf(p, sizeof(p), "%s/parent/w", root);
        snprintf(p, sizeof(p), "%s/parent", root);
        mkdir(p, 0755);
        snprintf(p, sizeof(p), "%s/parent/w", root);
        mkdir(p, 0755);
        touch(p);

        tap_ok(cgroup_set_cpuset(&cgroup_v2_ops, root, "parent", "w", "2-3", "1") == 0, "v2: write cpuset");
        snprintf(p, sizeof(p), "%s/parent/w/cpuset.cpus", root);
        tap_ok(streq(slurp(p), "2-3") || streq(slurp(p), "2-3\n"), "v2: cpuset.cpus is 2-3");
        snprintf(p, sizeof(p), "%s/parent/w/cpuset.mems", root);
        tap_ok(streq(slurp(p), "1") || streq(slurp(p), "1\n"), "v2: cpuset.mems is 1");
        tap_ok(cgroup_get_cpuset(&cgroup_v2_ops, root, "parent", "w", &cpus) == 0 && streq(cpus, "2-3"),
               "v2: read back");
        tap_ok(cgroup_set_cpuset(&cgroup_v2_ops, root, "parent", "gone", "0", NULL) == -ENOENT,
               "a workload without a cgroup: -ENOENT");

        snprintf(p, sizeof(p), "%s/cpuset", root);
        mkdir(p, 0755);
        snprintf(p, sizeof(p), "%s/cpuset/parent", root);
        mkdir(p, 0755);
        snprintf(p, sizeof(p), "%s/cpuset/parent/w", root);
        mkdir(p, 0755);
        touch(p);
        tap_ok(cgroup_set_cpuset(&cgroup_v1_ops, root, "parent", "w", "0", NULL) == 0, "v1: write under cpuset/");
        snprintf(p, sizeof(p), "%s/cpuset/parent/w/cpuset.cpus", root);
        tap_ok(streq(slurp(p), "0") || streq(slurp(p), "0\n"), "v1: cpuset.cpus is 0");

        char cmd[600];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
        (void)!system(cmd);
        return tap_finish();
}
