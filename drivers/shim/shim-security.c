/* SPDX-License-Identifier: Apache-2.0 */
/* Container hardening applied by the workload init right before exec. */
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <jansson.h>
#include <linux/mount.h>
#include <linux/capability.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <sched.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <sys/wait.h>

#include "drivers/container/container-files.h"
#include "drivers/shim/shim-security.h"
#include "lib/spec.h"

#define BIT(c) (UINT64_C(1) << (c))

uint64_t shim_default_caps(void)
{
        return BIT(CAP_CHOWN) | BIT(CAP_DAC_OVERRIDE) | BIT(CAP_FSETID) | BIT(CAP_FOWNER) | BIT(CAP_MKNOD) |
               BIT(CAP_NET_RAW) | BIT(CAP_SETGID) | BIT(CAP_SETUID) | BIT(CAP_SETFCAP) | BIT(CAP_SETPCAP) |
               BIT(CAP_NET_BIND_SERVICE) | BIT(CAP_SYS_CHROOT) | BIT(CAP_KILL) | BIT(CAP_AUDIT_WRITE);
}

static uint64_t all_caps(void)
{
        int last = capability_last();
        return last >= 63 ? UINT64_MAX : BIT(last + 1) - 1;
}

static bool has_all(char **l)
{
        for (char **p = l; p && *p; p++)
                if (streq(*p, "ALL"))
                        return true;
        return false;
}

int shim_caps_compute(char **add, char **drop, uint64_t *ret)
{
        uint64_t caps = has_all(drop) ? 0 : shim_default_caps();

        if (has_all(add))
                caps = all_caps();
        for (char **p = add; p && *p; p++) {
                int c;
                if (streq(*p, "ALL"))
                        continue;
                c = capability_from_name(*p);
                if (c < 0)
                        return -EINVAL;
                caps |= BIT(c);
        }
        /* An explicit drop wins over an add of the same name. */
        for (char **p = drop; p && *p; p++) {
                int c;
                if (streq(*p, "ALL"))
                        continue;
                c = capability_from_name(*p);
                if (c < 0)
                        return -EINVAL;
                caps &= ~BIT(c);
        }
        *ret = caps;
        return 0;
}

static char **strv_from(const json_t *a)
{
        size_t i;
        json_t *v;
        char **l;

        if (!json_is_array(a))
                return NULL;
        l = calloc(json_array_size(a) + 1, sizeof(char *));
        if (!l)
                return NULL;
        json_array_foreach(a, i, v)
                if (!json_is_string(v) || !(l[i] = strdup(json_string_value(v)))) {
                        strv_free(l);
                        return NULL;
                }
        return l;
}

int shim_security_load(int dirfd, ShimSecurity *ret)
{
        _cleanup_free_ char *buf = NULL;
        json_t *j;
        size_t len;
        int r;

        r = read_file_at(dirfd, SHIM_CONFIG_FILE, 4 * 1024 * 1024, &buf, &len);
        if (r < 0)
                return r;
        j = json_loadb(buf, len, 0, NULL);
        if (!j)
                return -EBADMSG;
        r = shim_security_from_config(j, ret);
        json_decref(j);
        return r;
}

int shim_security_from_config(const json_t *config, ShimSecurity *ret)
{
        _cleanup_strv_free_ char **add = NULL, **drop = NULL;
        ShimSecurity s = { .caps = shim_default_caps(), .seccomp = true, .userns_sock = -EBADF, .seccomp_fd = -EBADF };
        const json_t *sec, *caps;
        int r;

        sec = json_object_get(json_object_get(json_object_get(config, "spec"), "spec"), "security");
        if (json_is_object(sec)) {
                s.seccomp = !streq_ptr(json_string_value(json_object_get(sec, "seccomp")), "unconfined");
                s.user_namespace = json_is_true(json_object_get(sec, "userNamespace"));
                caps = json_object_get(sec, "capabilities");
                if (json_is_object(caps)) {
                        add = strv_from(json_object_get(caps, "add"));
                        drop = strv_from(json_object_get(caps, "drop"));
                        r = shim_caps_compute(add, drop, &s.caps);
                        if (r < 0)
                                return r;
                }
        }
        if (s.user_namespace) {
                /* One fixed unprivileged range per host for now; documented. */
                s.uid_base = 100000;
                s.id_count = 65536;
        }
        *ret = s;
        return 0;
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

static int mount_fd(const char *src, int fd, const char *fstype, unsigned long flags, const char *data)
{
        char p[64];

        snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
        return mount(src ? src : p, p, fstype, flags, data) < 0 ? -errno : 0;
}

static const char *const masked_paths[] = {
        "/proc/acpi",       "/proc/asound",      "/proc/kcore",        "/proc/keys",
        "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
        "/proc/scsi",       "/sys/firmware",     "/sys/devices/virtual/powercap",
};

static const char *const readonly_paths[] = {
        "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};

int shim_security_paths(int root)
{
        int r;

        for (size_t i = 0; i < ELEMENTSOF(masked_paths); i++) {
                _cleanup_close_ int fd = -EBADF;
                struct stat st;

                fd = openat2_in_root(root, masked_paths[i], O_PATH);
                if (fd == -ENOENT)
                        continue;
                if (fd < 0)
                        return fd;
                if (fstat(fd, &st) < 0)
                        return -errno;
                if (S_ISDIR(st.st_mode))
                        r = mount_fd("tmpfs", fd, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                                     "size=0,mode=0555");
                else
                        r = mount_fd("/dev/null", fd, NULL, MS_BIND, NULL);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < ELEMENTSOF(readonly_paths); i++) {
                _cleanup_close_ int fd = -EBADF;

                fd = openat2_in_root(root, readonly_paths[i], O_PATH);
                if (fd == -ENOENT)
                        continue;
                if (fd < 0)
                        return fd;
                r = mount_fd(NULL, fd, NULL, MS_BIND | MS_REC, NULL);
                if (r < 0)
                        return r;
                /* Reopen: the fd from before the bind points below it. */
                safe_close(fd);
                fd = openat2_in_root(root, readonly_paths[i], O_PATH);
                if (fd < 0)
                        return fd;
                r = mount_fd(NULL, fd, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                             NULL);
                if (r < 0)
                        return r;
        }
        return 0;
}

int shim_check_not_proc(int fd)
{
        struct statfs fs;

        if (fstatfs(fd, &fs) < 0)
                return -errno;
        return fs.f_type == PROC_SUPER_MAGIC ? -EPERM : 0;
}

int shim_proc_write(const char *path, const char *value)
{
        _cleanup_close_ int fd = -EBADF;
        struct statfs fs;

        fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
        if (fd < 0)
                return -errno;
        if (fstatfs(fd, &fs) < 0)
                return -errno;
        if (fs.f_type != PROC_SUPER_MAGIC)
                return -EXDEV; /* something was mounted over procfs */
        return write_all(fd, value, strlen(value));
}

/* Syscalls refused with EPERM unless the named capability is kept. Modelled
 * on the docker/containerd default profile, written as a denylist: the
 * kernel already checks capabilities for most of these, the filter removes
 * the attack surface of the code behind them. */
static const struct {
        const char *name;
        int cap; /* -1: always refused */
} denied[] = {
        { "acct", CAP_SYS_PACCT },
        { "add_key", -1 },
        { "bpf", CAP_SYS_ADMIN },
        { "clock_adjtime", CAP_SYS_TIME },
        { "clock_settime", CAP_SYS_TIME },
        { "create_module", CAP_SYS_MODULE },
        { "delete_module", CAP_SYS_MODULE },
        { "finit_module", CAP_SYS_MODULE },
        { "fsconfig", CAP_SYS_ADMIN },
        { "fsmount", CAP_SYS_ADMIN },
        { "fsopen", CAP_SYS_ADMIN },
        { "fspick", CAP_SYS_ADMIN },
        { "get_kernel_syms", CAP_SYS_MODULE },
        { "get_mempolicy", CAP_SYS_NICE },
        { "init_module", CAP_SYS_MODULE },
        { "ioperm", CAP_SYS_RAWIO },
        { "iopl", CAP_SYS_RAWIO },
        { "kcmp", CAP_SYS_PTRACE },
        { "kexec_file_load", CAP_SYS_BOOT },
        { "kexec_load", CAP_SYS_BOOT },
        { "keyctl", -1 },
        { "lookup_dcookie", CAP_SYS_ADMIN },
        { "mbind", CAP_SYS_NICE },
        { "mount", CAP_SYS_ADMIN },
        { "mount_setattr", CAP_SYS_ADMIN },
        { "move_mount", CAP_SYS_ADMIN },
        { "move_pages", CAP_SYS_NICE },
        { "name_to_handle_at", CAP_DAC_READ_SEARCH },
        { "nfsservctl", -1 },
        { "open_by_handle_at", CAP_DAC_READ_SEARCH },
        { "open_tree", CAP_SYS_ADMIN },
        { "perf_event_open", CAP_PERFMON },
        { "pivot_root", CAP_SYS_ADMIN },
        { "process_vm_readv", CAP_SYS_PTRACE },
        { "process_vm_writev", CAP_SYS_PTRACE },
        { "ptrace", CAP_SYS_PTRACE },
        { "query_module", CAP_SYS_MODULE },
        { "quotactl", CAP_SYS_ADMIN },
        { "reboot", CAP_SYS_BOOT },
        { "request_key", -1 },
        { "set_mempolicy", CAP_SYS_NICE },
        { "setns", CAP_SYS_ADMIN },
        { "settimeofday", CAP_SYS_TIME },
        { "stime", CAP_SYS_TIME },
        { "swapoff", CAP_SYS_ADMIN },
        { "swapon", CAP_SYS_ADMIN },
        { "syslog", CAP_SYSLOG },
        { "sysfs", -1 },
        { "_sysctl", -1 },
        { "umount", CAP_SYS_ADMIN },
        { "umount2", CAP_SYS_ADMIN },
        { "unshare", CAP_SYS_ADMIN },
        { "uselib", -1 },
        { "userfaultfd", CAP_SYS_PTRACE },
        { "ustat", -1 },
        { "vm86", -1 },
        { "vm86old", -1 },
};

static void seccomp_releasep(scmp_filter_ctx *ctx)
{
        if (*ctx)
                seccomp_release(*ctx);
}

static int seccomp_build(uint64_t caps, scmp_filter_ctx *ret, int *ret_rules)
{
        _cleanup_(seccomp_releasep) scmp_filter_ctx ctx = NULL;
        int r, n = 0;

        /* Only the native ABI is added: x32 and i386 entry points hit the
         * default bad-arch action (kill), which closes the compat bypass. */
        ctx = seccomp_init(SCMP_ACT_ALLOW);
        if (!ctx)
                return -ENOMEM;
        /* A binary tree of syscall numbers rather than a list: the kernel
         * runs the filter for every syscall number when it loads it (its
         * action cache), and its longest lookup is 14 instructions, not 60.
         * Loading took 116-143 us here, 43-75 us with the tree. libseccomp
         * before 2.5 lacks the attribute: the list it makes works the same. */
        (void)seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
        for (size_t i = 0; i < ELEMENTSOF(denied); i++) {
                int nr;

                if (denied[i].cap >= 0 && (caps & BIT(denied[i].cap)))
                        continue;
                nr = seccomp_syscall_resolve_name(denied[i].name);
                if (nr == __NR_SCMP_ERROR || nr < 0)
                        continue; /* not on this architecture */
                r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
                if (r < 0)
                        return r;
                n++;
        }
        if (!(caps & BIT(CAP_SYS_ADMIN))) {
                const uint64_t ns = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID |
                                    CLONE_NEWNET | CLONE_NEWCGROUP | CLONE_NEWTIME;

                /* clone(2) with any namespace flag, one rule per flag. */
                for (int b = 0; b < 64; b++) {
                        if (!(ns & BIT(b)))
                                continue;
                        r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                                             SCMP_A0(SCMP_CMP_MASKED_EQ, BIT(b), BIT(b)));
                        if (r < 0)
                                return r;
                        n++;
                }
                /* clone3 keeps its flags in memory the filter cannot read:
                 * ENOSYS makes libc fall back to clone(2). */
                r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
                if (r < 0)
                        return r;
                n++;
        }
        *ret = TAKE_PTR(ctx);
        *ret_rules = n;
        return 0;
}

int shim_seccomp_rule_count(uint64_t caps)
{
        scmp_filter_ctx ctx = NULL;
        int r, n = 0;

        r = seccomp_build(caps, &ctx, &n);
        if (r < 0)
                return r;
        seccomp_release(ctx);
        return n;
}

int shim_seccomp_export(const ShimSecurity *s, int fd)
{
        scmp_filter_ctx ctx = NULL;
        int r, n;

        r = seccomp_build(s->caps, &ctx, &n);
        if (r < 0)
                return r;
        r = seccomp_export_bpf(ctx, fd);
        seccomp_release(ctx);
        return r;
}

int shim_seccomp_memfd(const ShimSecurity *s)
{
        _cleanup_close_ int fd = -EBADF;
        int r;

        fd = memfd_create("seccomp", MFD_CLOEXEC);
        if (fd < 0)
                return -errno;
        r = shim_seccomp_export(s, fd);
        if (r < 0)
                return r;
        if (lseek(fd, 0, SEEK_SET) < 0)
                return -errno;
        return TAKE_FD(fd);
}

int shim_seccomp_precompile(void)
{
        ShimSecurity d = { .caps = shim_default_caps(), .seccomp = true, .userns_sock = -EBADF,
                           .seccomp_fd = -EBADF };

        return shim_seccomp_memfd(&d);
}

/* Loads the raw filter shim_seccomp_export() wrote into fd (the shim's pipe
 * or the init's own memfd), read to its end (BPF_MAXINSNS bounds it), as
 * seccomp_load() would: no flags, after no_new_privs. */
static int seccomp_load_from(int fd)
{
        struct sock_filter insns[BPF_MAXINSNS];
        struct sock_fprog prog = { .filter = insns };
        size_t have = 0;
        ssize_t n;

        for (;;) {
                n = read(fd, (char *)insns + have, sizeof(insns) - have);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        break;
                have += (size_t)n;
                if (have == sizeof(insns))
                        return -E2BIG;
        }
        if (have == 0 || have % sizeof(insns[0]) != 0)
                return -EBADMSG; /* the shim failed to compile it */
        prog.len = (unsigned short)(have / sizeof(insns[0]));
        if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
                return -errno;
        return 0;
}

int shim_security_apply(const ShimSecurity *s)
{
        struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
        struct __user_cap_data_struct d[2] = {};
        int last = capability_last();
        int r;

        if (s->user_namespace) {
                r = shim_userns_become_root(s);
                if (r < 0)
                        return r;
        }

        /* Bounding set: what no exec can ever regain. Capabilities are
         * numbered without gaps: the first EINVAL past `last` is the end. */
        for (int c = 0; c <= 63; c++) {
                if (c <= last && (s->caps & BIT(c)))
                        continue;
                if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0) {
                        if (errno != EINVAL)
                                return -errno;
                        if (c > last)
                                break;
                }
        }
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
                return -errno;
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return -errno;
        d[0].permitted = d[0].effective = (uint32_t)(s->caps & 0xffffffffu);
        d[1].permitted = d[1].effective = (uint32_t)(s->caps >> 32);
        d[0].inheritable = d[1].inheritable = 0;
        if (syscall(SYS_capset, &h, d) < 0)
                return -errno;

        if (s->seccomp && s->seccomp_fd >= 0)
                return seccomp_load_from(s->seccomp_fd);
        if (s->seccomp) {
                scmp_filter_ctx ctx = NULL;
                int n;

                r = seccomp_build(s->caps, &ctx, &n);
                if (r < 0)
                        return r;
                r = seccomp_load(ctx);
                seccomp_release(ctx);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- user namespaces ---- */

static int chown_shift_at(int dfd, const char *name, const ShimSecurity *s, unsigned depth)
{
        struct stat st;
        int fd, r = 0;

        if (depth > 256)
                return -ELOOP;
        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return -errno;
        if (st.st_uid < s->id_count || st.st_gid < s->id_count) {
                uid_t u = st.st_uid < s->id_count ? st.st_uid + s->uid_base : st.st_uid;
                gid_t g = st.st_gid < s->id_count ? st.st_gid + s->uid_base : st.st_gid;
                if (fchownat(dfd, name, u, g, AT_SYMLINK_NOFOLLOW) < 0)
                        return -errno;
                /* chown clears set-id bits: put them back. */
                if (!S_ISLNK(st.st_mode) && (st.st_mode & (S_ISUID | S_ISGID)) &&
                    fchmodat(dfd, name, st.st_mode & 07777, 0) < 0)
                        return -errno;
        }
        if (!S_ISDIR(st.st_mode))
                return 0;
        fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        DIR *d = fdopendir(fd);
        if (!d) {
                safe_close(fd);
                return -errno;
        }
        for (struct dirent *de; (de = readdir(d));) {
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                r = chown_shift_at(dirfd(d), de->d_name, s, depth + 1);
                if (r < 0)
                        break;
        }
        closedir(d);
        return r;
}

static int write_map(pid_t pid, const char *file, const ShimSecurity *s)
{
        char path[64], line[64];

        snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
        snprintf(line, sizeof(line), "0 %u %u\n", s->uid_base, s->id_count);
        return shim_proc_write(path, line);
}

static int send_fd(int sock, int fd)
{
        char c = fd >= 0 ? 'F' : 'C';
        struct iovec iov = { .iov_base = &c, .iov_len = 1 };
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(sizeof(int))];
        } u = {};
        struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };

        if (fd >= 0) {
                m.msg_control = u.buf;
                m.msg_controllen = sizeof(u.buf);
                struct cmsghdr *h = CMSG_FIRSTHDR(&m);
                h->cmsg_level = SOL_SOCKET;
                h->cmsg_type = SCM_RIGHTS;
                h->cmsg_len = CMSG_LEN(sizeof(int));
                memcpy(CMSG_DATA(h), &fd, sizeof(int));
        }
        return sendmsg(sock, &m, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

static int recv_fd(int sock, int *ret)
{
        char c = 0;
        struct iovec iov = { .iov_base = &c, .iov_len = 1 };
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(sizeof(int))];
        } u = {};
        struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
        struct cmsghdr *h;

        if (recvmsg(sock, &m, MSG_CMSG_CLOEXEC) != 1)
                return -EPROTO;
        *ret = -EBADF;
        h = CMSG_FIRSTHDR(&m);
        if (c == 'F' && h && h->cmsg_type == SCM_RIGHTS)
                memcpy(ret, CMSG_DATA(h), sizeof(int));
        return 0;
}

int shim_userns_parent(ShimSecurity *s, pid_t child, const char *rootfs)
{
        _cleanup_close_ int userns = -EBADF, tree = -EBADF;
        char p[64];
        int r;

        r = write_map(child, "uid_map", s);
        if (r < 0)
                return r;
        r = write_map(child, "gid_map", s);
        if (r < 0)
                return r;

        snprintf(p, sizeof(p), "/proc/%d/ns/user", (int)child);
        userns = open(p, O_RDONLY | O_CLOEXEC);
        if (userns < 0)
                return -errno;
        tree = (int)syscall(SYS_open_tree, AT_FDCWD, rootfs, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
        if (tree >= 0) {
                struct mount_attr a = { .attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (uint64_t)userns };
                if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &a, sizeof(a)) < 0)
                        tree = safe_close(tree);
        }
        if (tree >= 0) {
                /* Put it in place from here: a helper joins the init's
                 * mount namespace (host root may, a namespace's own root
                 * may not move a tree made outside it: EACCES). */
                _cleanup_close_ int mntns = -EBADF;
                siginfo_t si = {};
                pid_t h;

                snprintf(p, sizeof(p), "/proc/%d/ns/mnt", (int)child);
                mntns = open(p, O_RDONLY | O_CLOEXEC);
                if (mntns < 0)
                        return -errno;
                h = fork();
                if (h < 0)
                        return -errno;
                if (h == 0) {
                        if (setns(mntns, CLONE_NEWNS) < 0)
                                _exit(1);
                        if (syscall(SYS_move_mount, tree, "", AT_FDCWD, rootfs, MOVE_MOUNT_F_EMPTY_PATH) < 0)
                                _exit(2);
                        _exit(0);
                }
                if (waitid(P_PID, (id_t)h, &si, WEXITED) < 0)
                        return -errno;
                if (si.si_code != CLD_EXITED || si.si_status != 0)
                        tree = safe_close(tree); /* fall back to chown */
                else
                        tree = safe_close(tree); /* in place: nothing to send */
                s->rootfs_idmapped = si.si_code == CLD_EXITED && si.si_status == 0;
        }
        if (!s->rootfs_idmapped) {
                /* No idmapped mounts here: shift the owners on disk. */
                r = chown_shift_at(AT_FDCWD, rootfs, s, 0);
                if (r < 0)
                        return r;
        }
        return send_fd(s->userns_sock, -EBADF);
}

int shim_userns_become_root(const ShimSecurity *s)
{
        if (setgroups(0, NULL) < 0 && errno != EPERM)
                return -errno;
        if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
                return -errno;
        return 0;
}

int shim_userns_child(const ShimSecurity *s, const char *rootfs)
{
        _cleanup_close_ int tree = -EBADF;
        int r;

        r = recv_fd(s->userns_sock, &tree);
        if (r < 0)
                return r;
        /* Still host uid 0 here (ids switch in shim_security_apply()), so
         * the path to the rootfs below 0700 host directories resolves. */
        if (tree >= 0 &&
            syscall(SYS_move_mount, tree, "", AT_FDCWD, rootfs, MOVE_MOUNT_F_EMPTY_PATH) < 0)
                return -errno;
        return 0;
}
