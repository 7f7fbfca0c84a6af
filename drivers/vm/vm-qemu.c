/* SPDX-License-Identifier: Apache-2.0 */
/* QEMU command line builder, accelerator choice, disk checks (vm-qemu.h). */
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include "drivers/vm/vm-proto.h"
#include "drivers/vm/vm-qemu.h"

static int push(char ***v, size_t *n, const char *fmt, ...) _printf_(3, 4);
static int push(char ***v, size_t *n, const char *fmt, ...)
{
        char **nv = realloc(*v, (*n + 2) * sizeof(char *));
        va_list ap;
        int r;

        if (!nv)
                return -ENOMEM;
        *v = nv;
        va_start(ap, fmt);
        r = vasprintf(&nv[*n], fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        nv[++*n] = NULL;
        return 0;
}

int vm_qemu_argv(const VmLaunch *l, char ***ret)
{
        char **v = NULL;
        size_t n = 0;
        int r = 0;

        char tsc[48] = "";

        if (!l->accel || !l->kernel || !l->initrd || l->vcpus < 1 || l->memory_bytes < (UINT64_C(1) << 20))
                return -EINVAL;
        /* TCG: no PIT calibration of the TSC in the guest (vm_host_tsc_khz) */
        if (streq(l->accel, "tcg") && l->tsc_khz)
                snprintf(tsc, sizeof(tsc), " tsc_early_khz=%" PRIu64, l->tsc_khz);
#define P(...) if (r >= 0) r = push(&v, &n, __VA_ARGS__)
        P("qemu-system-x86_64");
        P("-name");
        /* debug-threads: vCPU threads named "CPU <n>/TCG|KVM", found by vm-pin.c and the vCPU metrics */
        P("berth-%s,debug-threads=on", l->name);
        P("-M");
        P("microvm,x-option-roms=off,isa-serial=on");
        P("-accel");
        P("%s", l->accel);
        if (streq(l->accel, "kvm")) {
                P("-cpu");
                P("host");
        }
        P("-nodefaults");
        P("-no-user-config");
        P("-display");
        P("none");
        P("-sandbox");
        P("on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny");
        P("-smp");
        P("%" PRIu64, l->vcpus);
        P("-m");
        P("%" PRIu64 "M", l->memory_bytes >> 20);
        P("-kernel");
        P("%s", l->kernel);
        P("-initrd");
        P("%s", l->initrd);
        P("-append");
        P("console=ttyS0 quiet panic=-1 init_on_free=1 rdinit=/init%s", tsc);
        P("-no-reboot");
        P("-chardev");
        P("socket,id=qmp,fd=%d", VM_FD_QMP);
        P("-mon");
        P("chardev=qmp,mode=control");
        P("-chardev");
        P("socket,id=chan,fd=%d", VM_FD_CHANNEL);
        P("-device");
        P("virtio-serial-device,max_ports=2");
        P("-device");
        P("virtserialport,chardev=chan,name=%s,nr=1", VM_PORT_NAME);
        P("-chardev");
        P("socket,id=con,fd=%d", VM_FD_CONSOLE);
        P("-serial");
        P("chardev:con");
        P("-add-fd");
        P("fd=%d,set=1", VM_FD_DISK);
        P("-add-fd");
        P("fd=%d,set=1", VM_FD_DISK_RO);
        P("-drive");
        P("file=/dev/fdset/1,format=qcow2,if=none,id=root,file.locking=off");
        P("-device");
        P("virtio-blk-device,drive=root");
        if (l->tap) {
                P("-netdev");
                P("tap,id=n0,fd=%d", VM_FD_TAP);
                P("-device");
                P("virtio-net-device,netdev=n0%s%s", l->mac ? ",mac=" : "", strempty(l->mac));
        }
#undef P
        if (r < 0) {
                strv_free(v);
                return r;
        }
        *ret = v;
        return 0;
}

uint64_t vm_host_tsc_khz(void)
{
#if defined(__x86_64__) || defined(__i386__)
        uint64_t best = 0;

        /* Three tries of 20 ms; keep the one least disturbed by preemption
         * (the shortest rdtsc bracket around the clock reads). */
        for (int i = 0; i < 3; i++) {
                struct timespec a, b, s = { 0, 20 * 1000 * 1000 };
                uint64_t t0, t1, t2, t3;

                t0 = __builtin_ia32_rdtsc();
                clock_gettime(CLOCK_MONOTONIC_RAW, &a);
                t1 = __builtin_ia32_rdtsc();
                nanosleep(&s, NULL);
                t2 = __builtin_ia32_rdtsc();
                clock_gettime(CLOCK_MONOTONIC_RAW, &b);
                t3 = __builtin_ia32_rdtsc();
                int64_t ns = (int64_t)(b.tv_sec - a.tv_sec) * 1000000000 + (b.tv_nsec - a.tv_nsec);
                if (ns <= 0 || (t1 - t0) + (t3 - t2) > (t2 - t1) / 1000)
                        continue; /* preempted around a clock read: retry */
                uint64_t khz = (uint64_t)((double)(((t2 + t3) / 2) - ((t0 + t1) / 2)) * 1e6 / (double)ns);
                if (khz > best)
                        best = khz;
        }
        /* sane range only: 100 MHz .. 10 GHz */
        return best >= 100000 && best <= 10000000 ? best : 0;
#else
        return 0;
#endif
}

const char *vm_choose_accel(const char *want, const char *sys_root, char *why, size_t why_size)
{
        char p[PATH_MAX];
        int fd;

        if (why_size)
                why[0] = 0;
        if (want && streq(want, "tcg"))
                return "tcg";
        if (want && streq(want, "kvm"))
                return "kvm";
        snprintf(p, sizeof(p), "%s/sys/module/kvm_pvm", sys_root);
        if (access(p, F_OK) >= 0) {
                snprintf(why, why_size, "KVM here is paravirtual-only (kvm_pvm is loaded) and cannot run a standard guest");
                return "tcg";
        }
        snprintf(p, sizeof(p), "%s/dev/kvm", sys_root);
        fd = open(p, O_RDWR | O_CLOEXEC);
        if (fd < 0) {
                snprintf(why, why_size, "%s cannot be opened: %s", p, strerror(errno));
                return "tcg";
        }
        close(fd);
        return "kvm";
}

static uint32_t be32(const unsigned char *b)
{
        return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

int vm_disk_check(const char *path, const char **ret_format, char *why, size_t why_size)
{
        _cleanup_close_ int fd = -EBADF;
        unsigned char h[32];
        struct stat st;
        ssize_t n;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                snprintf(why, why_size, "cannot open \"%s\": %s", path, strerror(errno));
                return -EINVAL;
        }
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                snprintf(why, why_size, "\"%s\" is not a regular file", path);
                return -EINVAL;
        }
        n = pread(fd, h, sizeof(h), 0);
        if (n == (ssize_t)sizeof(h) && memcmp(h, "QFI\xfb", 4) == 0) {
                /* qcow2 header: backing_file_offset (u64 at 8), backing_file_size (u32 at 16) */
                if (be32(h + 8) || be32(h + 12) || be32(h + 16)) {
                        snprintf(why, why_size, "\"%s\" is a qcow2 image with a backing file; berth refuses "
                                 "user-supplied backing files", path);
                        return -EINVAL;
                }
                *ret_format = "qcow2";
                return 0;
        }
        if (n >= 4 && (memcmp(h, "QFI", 3) == 0 || memcmp(h, "KDMV", 4) == 0 || memcmp(h, "conectix", 4) == 0)) {
                snprintf(why, why_size, "\"%s\" is not a raw or qcow2 image", path);
                return -EINVAL;
        }
        *ret_format = "raw";
        return 0;
}

int vm_modules_dir(const char *kernel, char **ret)
{
        _cleanup_free_ char *real = realpath(kernel, NULL);
        const char *base;
        char *slash;

        if (!real)
                return -errno;
        base = strrchr(real, '/');
        if (!base || strncmp(base, "/vmlinuz-", 9) != 0)
                return -EINVAL;
        slash = (char *)base;
        *slash = 0; /* <tree>/boot */
        slash = strrchr(real, '/');
        if (!slash)
                return -EINVAL;
        *slash = 0;
        return asprintf(ret, "%s/lib/modules/%s", real, base + strlen("/vmlinuz-")) < 0 ? -ENOMEM : 0;
}
