/* SPDX-License-Identifier: Apache-2.0 */
/* Cgroup backend probing and the small file helpers both backends share. */
#include <fcntl.h>
#include <linux/magic.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>

#include "drivers/container/cgroup.h"

int cgroup_detect(const char *root, const CgroupOps **ret)
{
        struct statfs fs;
        _cleanup_free_ char *p = NULL;

        if (!root || root[0] != '/')
                return -EINVAL;
        if (statfs(root, &fs) < 0)
                return -errno;
        if (fs.f_type == CGROUP2_SUPER_MAGIC) {
                *ret = &cgroup_v2_ops;
                return 0;
        }
        if (fs.f_type == TMPFS_MAGIC) {
                struct statfs mfs;
                if (asprintf(&p, "%s/memory", root) < 0)
                        return -ENOMEM;
                if (statfs(p, &mfs) >= 0 && mfs.f_type == CGROUP_SUPER_MAGIC) {
                        *ret = &cgroup_v1_ops;
                        return 0;
                }
                free(p);
                p = NULL;
        }
        if (asprintf(&p, "%s/cgroup.controllers", root) < 0)
                return -ENOMEM;
        if (access(p, F_OK) >= 0) {
                *ret = &cgroup_v2_ops;
                return 0;
        }
        return -EOPNOTSUPP;
}

int cg_write(const char *dir, const char *file, const char *value)
{
        _cleanup_free_ char *p = NULL;
        _cleanup_close_ int fd = -EBADF;

        if (asprintf(&p, "%s/%s", dir, file) < 0)
                return -ENOMEM;
        /* No O_CREAT: cgroupfs populates its files; a missing one means the
         * controller is absent. O_TRUNC matters only for a fake tree. */
        fd = open(p, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        return write_all(fd, value, strlen(value));
}

int cg_read(const char *dir, const char *file, char **ret)
{
        _cleanup_free_ char *p = NULL;

        if (asprintf(&p, "%s/%s", dir, file) < 0)
                return -ENOMEM;
        return read_file_at(AT_FDCWD, p, 1024 * 1024, ret, NULL);
}

int cg_read_u64(const char *dir, const char *file, uint64_t *ret)
{
        _cleanup_free_ char *s = NULL;
        char *end;
        int r;

        r = cg_read(dir, file, &s);
        if (r < 0)
                return r;
        if (strncmp(s, "max", 3) == 0) {
                *ret = 0;
                return 0;
        }
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno != 0 || end == s)
                return -EINVAL;
        *ret = v;
        return 0;
}

int cg_read_keyed_u64(const char *dir, const char *file, const char *key, uint64_t *ret)
{
        _cleanup_free_ char *s = NULL;
        size_t kl = strlen(key);
        int r;

        r = cg_read(dir, file, &s);
        if (r < 0)
                return r;
        for (char *l = s; l && *l;) {
                char *nl = strchr(l, '\n');
                if (strncmp(l, key, kl) == 0 && l[kl] == ' ') {
                        *ret = strtoull(l + kl + 1, NULL, 10);
                        return 0;
                }
                l = nl ? nl + 1 : NULL;
        }
        return -ENODATA;
}

int cg_kill_procs(const char *dir)
{
        _cleanup_free_ char *s = NULL;
        int r, n = 0;

        r = cg_read(dir, "cgroup.procs", &s);
        if (r < 0)
                return r == -ENOENT ? 0 : r;
        for (char *l = s; l && *l;) {
                char *nl = strchr(l, '\n');
                long pid = strtol(l, NULL, 10);
                if (pid > 1 && kill((pid_t)pid, SIGKILL) >= 0)
                        n++;
                l = nl ? nl + 1 : NULL;
        }
        return n;
}

int cg_rmdir_retry(const char *dir)
{
        for (int i = 0; i < 40; i++) {
                struct timespec ts = { .tv_nsec = 25 * 1000 * 1000 };

                if (rmdir(dir) >= 0 || errno == ENOENT)
                        return 0;
                if (errno != EBUSY)
                        return -errno;
                /* Killed processes take a moment to leave the cgroup. */
                (void)cg_kill_procs(dir);
                nanosleep(&ts, NULL);
        }
        return -EBUSY;
}
