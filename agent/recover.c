/* SPDX-License-Identifier: Apache-2.0 */
/* See recover.h. Orphans are found by name: the entries of
 * <root>/workloads/ and the first-level cgroups below the cgroup parent
 * (v2: <cgroup_root>/<parent>/<name>, v1: <cgroup_root>/<ctrl>/<parent>/<name>).
 * Only valid workload names are considered; the driver's remove() refuses
 * a cgroup that still holds processes (rmdir fails with EBUSY), so a live
 * process is never orphaned silently: it is logged and left alone. */
#include <dirent.h>
#include <fcntl.h>

#include "agent/manager.h"
#include "agent/recover.h"
#include "lib/log.h"

#define ORPHANS_MAX 4096

typedef struct NameSet {
        char **names;
        size_t n;
} NameSet;

static void name_set_done(NameSet *s)
{
        for (size_t i = 0; i < s->n; i++)
                free(s->names[i]);
        free(s->names);
}

static void collect(Manager *m, const char *dir, NameSet *out)
{
        _cleanup_close_ int fd = -EBADF;
        DIR *d;
        struct dirent *de;

        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return;
        d = fdopendir(fd);
        if (!d)
                return;
        TAKE_FD(fd);
        while ((de = readdir(d)) && out->n < ORPHANS_MAX) {
                char **n;
                bool dup = false;

                if (de->d_name[0] == '.' || !spec_name_is_valid(de->d_name) || manager_find(m, de->d_name))
                        continue;
                if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
                        continue;
                for (size_t i = 0; i < out->n && !dup; i++)
                        dup = streq(out->names[i], de->d_name);
                if (dup)
                        continue;
                n = realloc(out->names, (out->n + 1) * sizeof(*n));
                if (!n)
                        break;
                out->names = n;
                out->names[out->n] = strdup(de->d_name);
                if (out->names[out->n])
                        out->n++;
        }
        closedir(d);
}

int manager_orphans_remove(Manager *m)
{
        static const char *const v1[] = { "memory", "pids", "cpu", "cpuacct", "freezer", "cpuset" };
        const Config *c = m->config;
        NameSet s = {};
        char path[4096];
        int removed = 0;

        snprintf(path, sizeof(path), "%s/workloads", c->root);
        collect(m, path, &s);
        snprintf(path, sizeof(path), "%s/%s", c->cgroup_root, c->cgroup_parent);
        collect(m, path, &s);
        for (size_t i = 0; i < ELEMENTSOF(v1); i++) {
                snprintf(path, sizeof(path), "%s/%s/%s", c->cgroup_root, v1[i], c->cgroup_parent);
                collect(m, path, &s);
        }
        for (size_t i = 0; i < s.n; i++) {
                int r = container_driver_ops.remove(m->container, s.names[i]);
                if (r < 0)
                        wlog_warning_errno(s.names[i], r,
                                           "leftover of an interrupted create or removal could not be removed: %m");
                else {
                        wlog_notice(s.names[i], "removed the leftovers of an interrupted create or removal");
                        removed++;
                }
        }
        name_set_done(&s);
        return removed;
}
