/* SPDX-License-Identifier: Apache-2.0 */
/* drivers/vm/vm-qemu.c: the QEMU command line (microvm, sandbox, explicit
 * drive format, tsc_early_khz under TCG only), the accelerator choice on fake
 * /sys and /dev trees, the disk checks (a qcow2 with a backing file is
 * refused) and the host TSC measurement. */
#include <fcntl.h>
#include <sys/stat.h>

#include "drivers/vm/vm-qemu.h"
#include "test-util.h"

static bool has_arg(char **v, const char *want)
{
        for (; v && *v; v++)
                if (streq(*v, want))
                        return true;
        return false;
}

static const char *after(char **v, const char *flag)
{
        for (; v && v[0] && v[1]; v++)
                if (streq(v[0], flag))
                        return v[1];
        return NULL;
}

static void test_argv(void)
{
        VmLaunch l = { .name = "w", .accel = "tcg", .vcpus = 2, .memory_bytes = UINT64_C(256) << 20,
                       .kernel = "/k", .initrd = "/i", .tsc_khz = 2300000 };
        char **v = NULL;

        CHECK_RC(vm_qemu_argv(&l, &v));
        CHECK(streq(v[0], "qemu-system-x86_64"));
        CHECK(strncmp(after(v, "-M"), "microvm,x-option-roms=off", 25) == 0);
        CHECK(has_arg(v, "-nodefaults") && has_arg(v, "-no-user-config") && has_arg(v, "-no-reboot"));
        CHECK(streq(after(v, "-sandbox"), "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"));
        CHECK(streq(after(v, "-smp"), "2") && streq(after(v, "-m"), "256M"));
        CHECK(strstr(after(v, "-drive"), "format=qcow2") != NULL);
        CHECK(strstr(after(v, "-append"), " tsc_early_khz=2300000") != NULL);
        CHECK(!has_arg(v, "-cpu"));
        strv_free(v);

        l.accel = "kvm";
        v = NULL;
        CHECK_RC(vm_qemu_argv(&l, &v));
        CHECK(strstr(after(v, "-append"), "tsc_early_khz") == NULL);
        CHECK(streq(after(v, "-cpu"), "host"));
        strv_free(v);

        l.accel = "tcg";
        l.tsc_khz = 0;
        v = NULL;
        CHECK_RC(vm_qemu_argv(&l, &v));
        CHECK(strstr(after(v, "-append"), "tsc_early_khz") == NULL);
        strv_free(v);

        l.vcpus = 0;
        CHECK(vm_qemu_argv(&l, &v) == -EINVAL);
}

static void test_accel(void)
{
        char tmp[] = "/tmp/test-vm-qemu.XXXXXX", p[128], why[256];

        CHECK(mkdtemp(tmp) != NULL);
        /* no /dev/kvm: TCG, and why */
        CHECK(streq(vm_choose_accel("auto", tmp, why, sizeof(why)), "tcg"));
        CHECK(strstr(why, "/dev/kvm") != NULL);
        /* /dev/kvm opens, no kvm_pvm: KVM */
        snprintf(p, sizeof(p), "%s/dev", tmp);
        CHECK(mkdir(p, 0755) == 0);
        snprintf(p, sizeof(p), "%s/dev/kvm", tmp);
        close(open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600));
        CHECK(streq(vm_choose_accel(NULL, tmp, why, sizeof(why)), "kvm"));
        CHECK(why[0] == 0);
        /* kvm_pvm loaded: TCG, and why */
        snprintf(p, sizeof(p), "%s/sys", tmp);
        CHECK(mkdir(p, 0755) == 0);
        snprintf(p, sizeof(p), "%s/sys/module", tmp);
        CHECK(mkdir(p, 0755) == 0);
        snprintf(p, sizeof(p), "%s/sys/module/kvm_pvm", tmp);
        CHECK(mkdir(p, 0755) == 0);
        CHECK(streq(vm_choose_accel("auto", tmp, why, sizeof(why)), "tcg"));
        CHECK(strstr(why, "kvm_pvm") != NULL);
        /* forced either way */
        CHECK(streq(vm_choose_accel("kvm", tmp, why, sizeof(why)), "kvm"));
        CHECK(streq(vm_choose_accel("tcg", "/", why, sizeof(why)), "tcg"));

        rmdir(p);
        snprintf(p, sizeof(p), "%s/sys/module", tmp);
        rmdir(p);
        snprintf(p, sizeof(p), "%s/sys", tmp);
        rmdir(p);
        snprintf(p, sizeof(p), "%s/dev/kvm", tmp);
        unlink(p);
        snprintf(p, sizeof(p), "%s/dev", tmp);
        rmdir(p);
        rmdir(tmp);
}

static void test_disk(void)
{
        char tmp[] = "/tmp/test-vm-disk.XXXXXX", p[128], why[256];
        /* qcow2 v3 header: magic, version 3, backing_file_offset at 8 */
        unsigned char q[104] = { 'Q', 'F', 'I', 0xfb, 0, 0, 0, 3 };
        const char *fmt = NULL;
        int fd;

        CHECK(mkdtemp(tmp) != NULL);
        snprintf(p, sizeof(p), "%s/plain.qcow2", tmp);
        fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        CHECK(write(fd, q, sizeof(q)) == (ssize_t)sizeof(q));
        close(fd);
        CHECK_RC(vm_disk_check(p, &fmt, why, sizeof(why)));
        CHECK(fmt && streq(fmt, "qcow2"));
        q[15] = 104; /* backing file name at offset 104 */
        q[19] = 4;
        fd = open(p, O_WRONLY | O_TRUNC | O_CLOEXEC);
        CHECK(write(fd, q, sizeof(q)) == (ssize_t)sizeof(q));
        CHECK(write(fd, "/etc", 4) == 4);
        close(fd);
        CHECK(vm_disk_check(p, &fmt, why, sizeof(why)) == -EINVAL);
        CHECK(strstr(why, "backing file") != NULL);
        unlink(p);
        snprintf(p, sizeof(p), "%s/raw.img", tmp);
        fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        CHECK(ftruncate(fd, 1 << 20) == 0);
        close(fd);
        CHECK_RC(vm_disk_check(p, &fmt, why, sizeof(why)));
        CHECK(fmt && streq(fmt, "raw"));
        unlink(p);
        CHECK(vm_disk_check(tmp, &fmt, why, sizeof(why)) == -EINVAL); /* a directory */
        CHECK(vm_disk_check("/no/such/disk", &fmt, why, sizeof(why)) == -EINVAL);
        rmdir(tmp);
}

static void test_tsc(void)
{
#if defined(__x86_64__)
        uint64_t khz = vm_host_tsc_khz();
        /* 0 only if every try was disturbed; otherwise a plausible rate */
        CHECK(khz == 0 || (khz >= 100000 && khz <= 10000000));
        fprintf(stderr, "host TSC: %llu kHz\n", (unsigned long long)khz);
#endif
}

int main(void)
{
        test_argv();
        test_accel();
        test_disk();
        test_tsc();
        return test_result("vm-qemu");
}
