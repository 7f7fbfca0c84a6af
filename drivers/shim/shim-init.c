/* SPDX-License-Identifier: Apache-2.0 */
/* Container setup inside the cloned child. Every mount target inside the
 * rootfs is resolved with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
 * relative to the rootfs fd and mounted through /proc/self/fd/N, so a
 * symlink planted in the image cannot redirect a mount onto the host. */
#include <fcntl.h>
#include <linux/openat2.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>

#include "drivers/net/net.h"
#include "drivers/shim/shim-init.h"

extern char **environ;

static const char *const stage_names[_INIT_STAGE_MAX] = {
        [INIT_STAGE_SYNC] = "sync",          [INIT_STAGE_CGROUPNS] = "cgroup namespace",
        [INIT_STAGE_MOUNTS] = "rootfs mount", [INIT_STAGE_PROC] = "mount /proc",
        [INIT_STAGE_DEV] = "set up /dev",    [INIT_STAGE_SYS] = "mount /sys",
        [INIT_STAGE_PIVOT] = "pivot_root",   [INIT_STAGE_HOSTNAME] = "sethostname",
        [INIT_STAGE_LOOPBACK] = "loopback",  [INIT_STAGE_WORKDIR] = "chdir",
        [INIT_STAGE_ENV] = "environment",    [INIT_STAGE_EXEC] = "exec",
        [INIT_STAGE_MASK] = "masked paths",  [INIT_STAGE_SECURITY] = "capabilities and seccomp",
        [INIT_STAGE_USERNS] = "user namespace", [INIT_STAGE_CGROUP] = "join cgroup",
        [INIT_STAGE_NETNS] = "network namespace",
};

const char *init_stage_to_string(InitStage s)
{
        return s >= 0 && s < _INIT_STAGE_MAX ? stage_names[s] : "setup";
}

static _noreturn_ void fail(int err_fd, InitStage stage, int error)
{
        InitError e = { .stage = stage, .error = error > 0 ? error : EIO };

        (void)!write(err_fd, &e, sizeof(e));
        _exit(stage == INIT_STAGE_EXEC && e.error == ENOENT ? 127 : 126);
}

static int openat2_in_root(int rootfd, const char *path, int flags)
{
        struct open_how how = {
                .flags = (uint64_t)(flags | O_CLOEXEC),
                .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
        };
        int fd = (int)syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
        return fd < 0 ? -errno : fd;
}

/* Opens (creating if needed) the directory "name" directly below dirfd. */
static int open_mount_dir(int dirfd, const char *name, bool in_root)
{
        if (mkdirat(dirfd, name, 0755) < 0 && errno != EEXIST)
                return -errno;
        if (in_root)
                return openat2_in_root(dirfd, name, O_PATH | O_DIRECTORY);
        int fd = openat(dirfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
}

static int mount_on_fd(const char *src, int fd, const char *fstype, unsigned long flags, const char *data)
{
        char p[64];

        snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
        return mount(src, p, fstype, flags, data) < 0 ? -errno : 0;
}

static int mount_fs_at(int dirfd, const char *name, bool in_root, const char *src, const char *fstype,
                       unsigned long flags, const char *data)
{
        int fd, r;

        fd = open_mount_dir(dirfd, name, in_root);
        if (fd < 0)
                return fd;
        r = mount_on_fd(src, fd, fstype, flags, data);
        safe_close(fd);
        return r;
}

static int setup_dev(int rootfd)
{
        static const struct {
                const char *name;
                unsigned maj, min;
        } nodes[] = {
                { "null", 1, 3 }, { "zero", 1, 5 }, { "full", 1, 7 },
                { "random", 1, 8 }, { "urandom", 1, 9 }, { "tty", 5, 0 },
        };
        static const struct {
                const char *name, *target;
        } links[] = {
                { "fd", "/proc/self/fd" },         { "stdin", "/proc/self/fd/0" },
                { "stdout", "/proc/self/fd/1" },   { "stderr", "/proc/self/fd/2" },
                { "ptmx", "pts/ptmx" },            { "core", "/proc/kcore" },
        };
        _cleanup_close_ int devfd = -EBADF;
        int r;

        r = mount_fs_at(rootfd, "dev", true, "tmpfs", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=755,size=65536k");
        if (r < 0)
                return r;
        /* Reopen: the fd from before the mount points below it. */
        devfd = openat2_in_root(rootfd, "dev", O_RDONLY | O_DIRECTORY);
        if (devfd < 0)
                return devfd;
        for (size_t i = 0; i < ELEMENTSOF(nodes); i++) {
                if (mknodat(devfd, nodes[i].name, S_IFCHR | 0666, makedev(nodes[i].maj, nodes[i].min)) < 0) {
                        /* In a user namespace mknod is refused: bind the
                         * host's node onto an empty file instead. */
                        _cleanup_close_ int nfd = -EBADF;
                        char host[32];

                        if (errno != EPERM)
                                return -errno;
                        nfd = openat(devfd, nodes[i].name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
                        if (nfd < 0)
                                return -errno;
                        snprintf(host, sizeof(host), "/dev/%s", nodes[i].name);
                        r = mount_on_fd(host, nfd, NULL, MS_BIND, NULL);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (fchmodat(devfd, nodes[i].name, 0666, 0) < 0) /* umask */
                        return -errno;
        }
        r = mount_fs_at(devfd, "pts", false, "devpts", "devpts", MS_NOSUID | MS_NOEXEC,
                        "newinstance,ptmxmode=0666,mode=0620");
        if (r < 0)
                return r;
        r = mount_fs_at(devfd, "shm", false, "shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                        "mode=1777,size=65536k");
        if (r < 0)
                return r;
        for (size_t i = 0; i < ELEMENTSOF(links); i++)
                if (symlinkat(links[i].target, devfd, links[i].name) < 0)
                        return -errno;
        return 0;
}

static int setup_sys(int rootfd)
{
        _cleanup_close_ int fd = -EBADF;
        int r;

        fd = open_mount_dir(rootfd, "sys", true);
        if (fd < 0)
                return fd;
        r = mount_on_fd("sysfs", fd, "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
        if (r >= 0)
                return 0;
        /* sysfs refuses a new instance in a netns we do not own (host
         * network): bind the host's read-only instead. */
        r = mount_on_fd("/sys", fd, NULL, MS_BIND | MS_REC, NULL);
        if (r < 0)
                return r;
        return mount_on_fd(NULL, fd, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                           NULL);
}

static int loopback_up(void)
{
        _cleanup_close_ int s = -EBADF;
        struct ifreq ifr = {};

        s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (s < 0)
                return -errno;
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
        if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
                return -errno;
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
                return -errno;
        return 0;
}

int shim_netns_make(void)
{
        _cleanup_close_ int self = -EBADF, made = -EBADF;
        int r;

        self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
        if (self < 0)
                return -errno;
        if (unshare(CLONE_NEWNET) < 0)
                return -errno;
        made = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
        r = made < 0 ? -errno : loopback_up();
        if (setns(self, CLONE_NEWNET) < 0)
                return -ENOTRECOVERABLE;
        if (r < 0)
                return r;
        return TAKE_FD(made);
}

static bool env_has(char **env, const char *key)
{
        size_t l = strlen(key);

        for (char **e = env; e && *e; e++)
                if (strncmp(*e, key, l) == 0 && (*e)[l] == '=')
                        return true;
        return false;
}

static char **build_env(const ShimConfig *c)
{
        size_t n = 0, i = 0;
        char **l;

        for (char **e = c->env; *e; e++)
                n++;
        l = calloc(n + 3, sizeof(char *));
        if (!l)
                return NULL;
        for (char **e = c->env; *e; e++)
                l[i++] = *e;
        if (!env_has(c->env, "PATH"))
                l[i++] = (char *)"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
        if (!env_has(c->env, "HOSTNAME") && asprintf(&l[i++], "HOSTNAME=%s", c->hostname) < 0)
                return NULL;
        return l;
}

/* Returns once the shim has done its part (uid maps, network), then makes
 * our cgroup the root of the container's cgroup view. */
static void wait_for_shim(int sync_fd, int err_fd)
{
        ssize_t n;
        char b;

        do
                n = read(sync_fd, &b, 1);
        while (n < 0 && errno == EINTR);
        if (n != 1)
                fail(err_fd, INIT_STAGE_SYNC, n < 0 ? errno : EPIPE);
        safe_close(sync_fd);
        if (unshare(CLONE_NEWCGROUP) < 0)
                fail(err_fd, INIT_STAGE_CGROUPNS, errno);
}

_noreturn_ void shim_init_run(const ShimConfig *c, const ShimSecurity *sec, const CgroupOps *join, int netns_fd,
                              int sync_fd, int err_fd)
{
        _cleanup_close_ int rootfd = -EBADF, wd = -EBADF, newroot = -EBADF;
        bool netns_made = netns_fd >= 0; /* with lo up already */
        int r;

        if (netns_fd >= 0) {
                if (setns(netns_fd, CLONE_NEWNET) < 0)
                        fail(err_fd, INIT_STAGE_NETNS, errno);
                safe_close(netns_fd);
        }

        /* Into the cgroups before anything of the workload can run or fork:
         * limits hold from the first instruction. */
        if (join) {
                r = join->attach(c->cgroup_root, c->cgroup_parent, c->name, 0);
                if (r < 0)
                        fail(err_fd, INIT_STAGE_CGROUP, -r);
        }
        /* With a user namespace the shim's uid maps come before anything
         * else; otherwise the mounts below run while the shim builds the
         * network, and the wait comes just before the exec. */
        if (sec->user_namespace) {
                wait_for_shim(sync_fd, err_fd);
                r = shim_userns_child(sec, c->rootfs);
                if (r < 0)
                        fail(err_fd, INIT_STAGE_USERNS, -r);
        }

        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                fail(err_fd, INIT_STAGE_MOUNTS, errno);
        /* pivot_root needs the new root to be a mount point. */
        if (mount(c->rootfs, c->rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
                fail(err_fd, INIT_STAGE_MOUNTS, errno);
        rootfd = open(c->rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (rootfd < 0)
                fail(err_fd, INIT_STAGE_MOUNTS, errno);
        if (sec->user_namespace) {
                r = shim_userns_become_root(sec);
                if (r < 0)
                        fail(err_fd, INIT_STAGE_USERNS, -r);
        }

        r = mount_fs_at(rootfd, "proc", true, "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
        if (r < 0)
                fail(err_fd, INIT_STAGE_PROC, -r);
        r = setup_dev(rootfd);
        if (r < 0)
                fail(err_fd, INIT_STAGE_DEV, -r);
        r = setup_sys(rootfd);
        if (r < 0)
                fail(err_fd, INIT_STAGE_SYS, -r);
        if (c->bridge_network) {
                r = net_files_mount(rootfd, c->workload_dir);
                if (r < 0)
                        fail(err_fd, INIT_STAGE_MOUNTS, -r);
        }

        /* The "." trick: no put_old directory needed inside the image. */
        if (fchdir(rootfd) < 0)
                fail(err_fd, INIT_STAGE_PIVOT, errno);
        if (syscall(SYS_pivot_root, ".", ".") < 0)
                fail(err_fd, INIT_STAGE_PIVOT, errno);
        if (umount2(".", MNT_DETACH) < 0)
                fail(err_fd, INIT_STAGE_PIVOT, errno);
        if (chdir("/") < 0)
                fail(err_fd, INIT_STAGE_PIVOT, errno);

        if (sethostname(c->hostname, strlen(c->hostname)) < 0)
                fail(err_fd, INIT_STAGE_HOSTNAME, errno);
        if (!c->host_network && !netns_made) {
                r = loopback_up();
                if (r < 0)
                        fail(err_fd, INIT_STAGE_LOOPBACK, -r);
        }

        newroot = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (newroot < 0)
                fail(err_fd, INIT_STAGE_WORKDIR, errno);
        r = shim_security_paths(newroot);
        if (r < 0)
                fail(err_fd, INIT_STAGE_MASK, -r);
        wd = openat2_in_root(newroot, c->working_dir, O_PATH | O_DIRECTORY);
        if (wd < 0)
                fail(err_fd, INIT_STAGE_WORKDIR, -wd);
        /* A working directory on procfs would hand the workload a way out
         * through /proc/<pid>/cwd-style tricks (runc CVE-2024-21626). */
        r = shim_check_not_proc(wd);
        if (r < 0)
                fail(err_fd, INIT_STAGE_WORKDIR, -r);
        if (fchdir(wd) < 0)
                fail(err_fd, INIT_STAGE_WORKDIR, errno);

        char **env = build_env(c);
        if (!env)
                fail(err_fd, INIT_STAGE_ENV, ENOMEM);
        environ = env;

        /* Nothing of the shim may leak into the workload; err_fd and the
         * fds above go away at exec (CLOEXEC), so failures still report. */
        if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
                fail(err_fd, INIT_STAGE_EXEC, errno);
        /* No filter from the shim (bridge mode: it builds the network
         * meanwhile): compile our own now, before the wait, not after. */
        ShimSecurity own = *sec;
        if (own.seccomp && own.seccomp_fd < 0) {
                own.seccomp_fd = shim_seccomp_memfd(&own);
                if (own.seccomp_fd < 0)
                        fail(err_fd, INIT_STAGE_SECURITY, -own.seccomp_fd);
        }
        if (!sec->user_namespace)
                wait_for_shim(sync_fd, err_fd);
        r = shim_security_apply(&own);
        if (r < 0)
                fail(err_fd, INIT_STAGE_SECURITY, -r);
        execvp(c->argv[0], c->argv);
        fail(err_fd, INIT_STAGE_EXEC, errno);
}
