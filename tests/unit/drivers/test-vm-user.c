/* SPDX-License-Identifier: Apache-2.0 */
/* QEMU's user (docs/VM.md "QEMU's user"):
 * - drivers/vm/vm-user.c on temp berth roots: vm.user unset resolves to
 *   berth-qemu only when that user can search its way down to <root>/vm
 *   (root otherwise), "root" forces root, another name passes through; the
 *   grant makes <root>/vm root:berth-qemu 0710, gives <root> group search
 *   and takes <root>/vm/images back to 0700;
 * - drivers/shim/shim-vm-chain.c on real qemu-img images: a backing chain
 *   qcow2 -> qcow2 -> raw is opened level by level and turned into fdsets
 *   on the root -drive; a missing backing file is an error naming it.
 * Needs root and the berth-qemu user (systemd/berth.sysusers). */
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>

#include "drivers/shim/shim-vm-chain.h"
#include "drivers/vm/vm-user.h"
#include "test-util.h"

static char tmp[256];

static int sh(const char *cmd)
{
        return system(cmd) == 0 ? 0 : -EIO;
}

static void test_user(void)
{
        char root[512], vm[600], images[700];
        struct group *g = getgrnam(VM_DEFAULT_USER);
        struct stat st;
        char *u = NULL;

        gid_t gid;

        CHECK(g != NULL);
        if (!g)
                return;
        gid = g->gr_gid; /* getgrnam's buffer is reused */
        snprintf(root, sizeof(root), "%s/root", tmp);
        snprintf(vm, sizeof(vm), "%s/vm", root);
        snprintf(images, sizeof(images), "%s/images", vm);
        CHECK(mkdir(root, 0700) == 0);
        CHECK(mkdir(vm, 0755) == 0);
        CHECK(mkdir(images, 0755) == 0);

        /* tmp is 0700 root: berth-qemu cannot reach <root>/vm, the default falls back to root
         * and nothing is granted */
        CHECK(chmod(tmp, 0700) == 0);
        CHECK(vm_user_setup(NULL, root, false, &u) == 0);
        CHECK(u == NULL);
        CHECK(stat(vm, &st) == 0 && (st.st_mode & 07777) == 0755 && st.st_gid == 0);
        CHECK(stat(root, &st) == 0 && (st.st_mode & 07777) == 0700 && st.st_gid == 0);

        /* named explicitly: kept (with a warning, QEMU would fail to load the initramfs), granted */
        CHECK(vm_user_setup(VM_DEFAULT_USER, root, false, &u) == 0);
        CHECK(streq_ptr(u, VM_DEFAULT_USER));
        free(u);
        u = NULL;
        CHECK(stat(vm, &st) == 0 && (st.st_mode & 07777) == 0710 && st.st_uid == 0 && st.st_gid == gid);
        CHECK(stat(images, &st) == 0 && (st.st_mode & 07777) == 0700);
        CHECK(stat(root, &st) == 0 && (st.st_mode & 07777) == 0710 && st.st_gid == gid);

        /* reachable: the default is berth-qemu */
        CHECK(chmod(tmp, 0711) == 0);
        CHECK(chmod(root, 0700) == 0 && chown(root, 0, 0) == 0);
        CHECK(vm_user_setup(NULL, root, false, &u) == 0);
        CHECK(streq_ptr(u, VM_DEFAULT_USER));
        free(u);
        u = NULL;
        CHECK(stat(root, &st) == 0 && (st.st_mode & 07777) == 0710 && st.st_gid == gid);

        /* the default accelerator is KVM: /dev/kvm must open for berth-qemu and its group kvm */
        struct group *kg = getgrnam("kvm");
        gid_t kvm = kg ? kg->gr_gid : (gid_t)-1;
        if (stat("/dev/kvm", &st) == 0) {
                bool opens = (st.st_mode & 06) == 06 || (st.st_gid == kvm && (st.st_mode & 060) == 060);
                CHECK(vm_user_setup(NULL, root, true, &u) == 0);
                CHECK(opens ? streq_ptr(u, VM_DEFAULT_USER) : u == NULL);
                free(u);
                u = NULL;
                fprintf(stderr, "/dev/kvm %04o %u:%u: %s\n", (unsigned)(st.st_mode & 07777),
                        (unsigned)st.st_uid, (unsigned)st.st_gid, opens ? "berth-qemu" : "root");
        }

        /* "root" forces root; an unknown name passes through (berth-shim refuses to start it) */
        CHECK(vm_user_setup("root", root, false, &u) == 0);
        CHECK(u == NULL);
        CHECK(vm_user_setup("no-such-user-h25", root, false, &u) == 0);
        CHECK(streq_ptr(u, "no-such-user-h25"));
        free(u);
        CHECK(chmod(tmp, 0700) == 0);
}

static void test_chain(void)
{
        char cmd[2048], top[300], mid[300], base[300];
        ShimVmChain c = {};
        char why[512] = "";
        json_t *cfg;
        int fd;

        snprintf(base, sizeof(base), "%s/base.raw", tmp);
        snprintf(mid, sizeof(mid), "%s/mid.qcow2", tmp);
        snprintf(top, sizeof(top), "%s/top.qcow2", tmp);
        snprintf(cmd, sizeof(cmd),
                 "qemu-img create -q -f raw '%s' 16M && qemu-img create -q -f qcow2 -F raw -b '%s' '%s' && "
                 "qemu-img create -q -f qcow2 -F qcow2 -b '%s' '%s'",
                 base, base, mid, mid, top);
        CHECK_RC(sh(cmd));
        fd = open(top, O_RDONLY | O_CLOEXEC);
        CHECK(fd >= 0);
        CHECK(shim_vm_chain_open(fd, &c, why, sizeof(why)) == 0);
        CHECK(c.n == 2);
        CHECK(c.n == 2 && streq(c.format[0], "qcow2") && streq(c.format[1], "raw"));
        cfg = json_pack("{s:[s,s,s,s]}", "argv", "qemu-system-x86_64", "-drive",
                        "file=/dev/fdset/1,format=qcow2,if=none,id=root,file.locking=off", "-no-reboot");
        CHECK(shim_vm_chain_argv(&c, 9, cfg) == 0);
        json_t *a = json_object_get(cfg, "argv");
        CHECK(json_array_size(a) == 8);
        CHECK(streq(json_string_value(json_array_get(a, 2)),
                    "file=/dev/fdset/1,format=qcow2,if=none,id=root,file.locking=off,backing.driver=qcow2,"
                    "backing.file.filename=/dev/fdset/2,backing.backing.driver=raw,"
                    "backing.backing.file.filename=/dev/fdset/3"));
        CHECK(streq(json_string_value(json_array_get(a, 4)), "-add-fd"));
        CHECK(streq(json_string_value(json_array_get(a, 5)), "fd=9,set=2"));
        CHECK(streq(json_string_value(json_array_get(a, 7)), "fd=10,set=3"));
        json_decref(cfg);
        shim_vm_chain_close(&c);
        CHECK(c.n == 0);

        /* no backing file: nothing to hand over */
        int bfd = open(mid, O_RDONLY | O_CLOEXEC);
        char why2[512];
        CHECK(bfd >= 0 && shim_vm_chain_open(bfd, &c, why2, sizeof(why2)) == 0 && c.n == 1);
        shim_vm_chain_close(&c);
        close(bfd);

        /* a missing level is an error naming it */
        CHECK(unlink(base) == 0);
        CHECK(shim_vm_chain_open(fd, &c, why, sizeof(why)) == -ENOENT);
        CHECK(strstr(why, "base.raw") != NULL);
        CHECK(c.n == 0);
        close(fd);
}

int main(void)
{
        if (getuid() != 0)
                SKIP("needs root (chown to the berth-qemu group)");
        if (!getpwnam(VM_DEFAULT_USER))
                SKIP("no user %s on this host: run deploy/install-deps.sh (systemd/berth.sysusers)",
                     VM_DEFAULT_USER);
        if (system("qemu-img --version >/dev/null 2>&1") != 0)
                SKIP("qemu-img missing (apt-get install qemu-utils)");
        snprintf(tmp, sizeof(tmp), "/tmp/berth-test-vm-user-XXXXXX");
        if (!mkdtemp(tmp))
                SKIP("mkdtemp failed");
        test_user();
        test_chain();
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
        (void)system(cmd);
        return test_result("vm-user");
}
