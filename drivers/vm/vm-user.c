/* SPDX-License-Identifier: Apache-2.0 */
/* QEMU's user (vm-user.h).
 *
 * QEMU gets every disk, socket, tap and migration stream as an already open
 * fd (drivers/shim/shim-vm.c, shim-vm-chain.c, shim-vm-snapshot.c); by path
 * it opens only -kernel and -initrd (and /dev/kvm, through the kvm group the
 * shim adds). The kernel lies in vm.guestDir (public) or spec.vm.kernel; the
 * initramfs berth builds lies in <root>/vm. So the user needs search
 * permission on every directory down to <root>/vm and read permission on the
 * initramfs (0644), nothing else. */
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <sys/stat.h>

#include "drivers/vm/vm-user.h"
#include "lib/log.h"

/* mode bits (S_IXOTH, S_IROTH|S_IWOTH, ...) for pw, whose groups are its own and kvm (berth-shim's
 * setgroups) */
static bool can(const struct stat *st, const struct passwd *pw, gid_t kvm, mode_t oth)
{
        if (pw->pw_uid == 0)
                return true;
        if (st->st_uid == pw->pw_uid)
                return (st->st_mode & (oth << 6)) == (oth << 6);
        if (st->st_gid == pw->pw_gid || (kvm != (gid_t)-1 && st->st_gid == kvm))
                return (st->st_mode & (oth << 3)) == (oth << 3);
        return (st->st_mode & oth) == oth;
}

static gid_t kvm_gid(void)
{
        struct group *g = getgrnam("kvm");
        return g ? g->gr_gid : (gid_t)-1;
}

/* The first directory on the way down to path (included) that pw cannot search. */
static int first_blocked(const char *path, const struct passwd *pw, char *bad, size_t bad_size)
{
        gid_t kvm = kvm_gid();
        char real[PATH_MAX], *p;
        struct stat st;

        bad[0] = 0;
        if (!realpath(path, real))
                return -errno;
        p = real;
        do {
                char save;
                p = strchr(p + 1, '/');
                save = p ? *p : 0;
                if (p)
                        *p = 0;
                if (stat(real[0] ? real : "/", &st) < 0)
                        return -errno;
                if (!can(&st, pw, kvm, S_IXOTH)) {
                        snprintf(bad, bad_size, "%s", real[0] ? real : "/");
                        return 0;
                }
                if (p)
                        *p = save;
        } while (p);
        return 0;
}

/* root:<gid> with group search on root_dir/vm, and on root_dir if others cannot search it. */
static int grant(const char *root_dir, gid_t gid)
{
        _cleanup_free_ char *vm = NULL;
        _cleanup_close_ int rfd = -EBADF, vfd = -EBADF;
        struct stat st;
        int r;

        if (asprintf(&vm, "%s/vm", root_dir) < 0)
                return -ENOMEM;
        r = mkdir_p(vm, 0710);
        if (r < 0)
                return r;
        rfd = open(root_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        vfd = open(vm, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (rfd < 0 || vfd < 0)
                return -errno;
        if (fchown(vfd, 0, gid) < 0 || fchmod(vfd, 0710) < 0)
                return -errno;
        /* images (rootfs exports) reach QEMU as fds: not for the group (older roots made it 0755) */
        if (fchmodat(vfd, "images", 0700, 0) < 0 && errno != ENOENT)
                return -errno;
        if (fstat(rfd, &st) < 0)
                return -errno;
        if (!(st.st_mode & S_IXOTH) && !(st.st_gid == gid && (st.st_mode & S_IXGRP))) {
                if (st.st_gid != 0 && st.st_gid != gid)
                        return 0; /* someone else's group: left alone (the walk reports it) */
                if (fchown(rfd, (uid_t)-1, gid) < 0 || fchmod(rfd, (st.st_mode & 07777) | S_IXGRP) < 0)
                        return -errno;
                log_info("%s: group %u and g+x, so that QEMU's user can reach %s", root_dir, (unsigned)gid,
                         vm);
        }
        return 0;
}

int vm_user_setup(const char *configured, const char *root_dir, bool kvm, char **ret)
{
        const char *name = configured ?: VM_DEFAULT_USER;
        _cleanup_free_ char *vm = NULL, *up = NULL;
        struct passwd *pw;
        char bad[PATH_MAX];
        int r;

        *ret = NULL;
        if (configured && streq(configured, "root")) {
                log_debug("vm.user: root, QEMU runs as root");
                return 0;
        }
        pw = getpwnam(name);
        if (!pw && !configured) {
                log_notice(
                    "vm.user is not set and this host has no user %s (deploy/install-deps.sh creates it "
                    "from systemd/berth.sysusers): QEMU runs as root",
                    VM_DEFAULT_USER);
                return 0;
        }
        if (pw && pw->pw_uid != 0) {
                struct stat st;
                bool nokvm;

                /* first what berthd cannot change: the directories above <root>, /dev/kvm */
                if (asprintf(&up, "%s/..", root_dir) < 0 || asprintf(&vm, "%s/vm", root_dir) < 0)
                        return -ENOMEM;
                r = first_blocked(up, pw, bad, sizeof(bad));
                if (r < 0)
                        return log_error_errno(r, "%s: %m", root_dir);
                if (bad[0] && !configured) {
                        log_notice(
                            "vm.user is not set and user %s cannot search %s (it needs search permission "
                            "on every directory down to %s, where the initramfs lies): QEMU runs as root",
                            name, bad, vm);
                        return 0;
                }
                if (bad[0])
                        log_warning(
                            "vm.user %s cannot search %s: QEMU will fail to load the initramfs under %s",
                            name, bad, vm);
                nokvm = kvm && stat("/dev/kvm", &st) >= 0 && !can(&st, pw, kvm_gid(), S_IROTH | S_IWOTH);
                if (nokvm && !configured) {
                        log_notice("vm.user is not set and user %s cannot open /dev/kvm (mode %04o, uid %u, "
                                   "gid %u; its groups: its own and kvm): QEMU runs as root",
                                   name, (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid,
                                   (unsigned)st.st_gid);
                        return 0;
                }
                if (nokvm)
                        log_warning("vm.user %s cannot open /dev/kvm: QEMU will fail under KVM", name);
                /* then <root> and <root>/vm, which are berth's */
                r = grant(root_dir, pw->pw_gid);
                if (r < 0)
                        return log_error_errno(r, "give user %s access to %s: %m", name, vm);
                r = first_blocked(vm, pw, bad, sizeof(bad));
                if (r < 0)
                        return log_error_errno(r, "%s: %m", vm);
                if (bad[0] && !configured) {
                        log_notice(
                            "vm.user is not set and user %s cannot search %s (its group is not berth's to "
                            "change): QEMU runs as root",
                            name, bad);
                        return 0;
                }
                if (bad[0])
                        log_warning(
                            "vm.user %s cannot search %s: QEMU will fail to load the initramfs under %s",
                            name, bad, vm);
        }
        *ret = strdup(name);
        if (!*ret)
                return -ENOMEM;
        log_info("QEMU runs as user %s%s", name, configured ? " (vm.user)" : "");
        return 0;
}
