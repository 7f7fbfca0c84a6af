/* SPDX-License-Identifier: Apache-2.0 */
/* The microVM driver (isolation: vm, docs/VM.md). It reuses the container
 * driver for what is the same (workload directory, cgroup, state.json,
 * exit.json, adoption) and differs in what the shim runs: it writes vm.json
 * next to config.json, and berth-shim (drivers/shim/shim-vm.c) then builds
 * the disk and the initramfs and supervises QEMU instead of a container
 * init. Checks that need only a stat (kernel, initrd size, disk format,
 * vCPUs and memory against the host) are done at create time so that bad
 * input is a 400 naming the field. */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <libgen.h>
#include <signal.h>
#include <sys/pidfd.h>
#include <sys/stat.h>

#include "drivers/container/container-files.h"
#include "drivers/driver.h"
#include "drivers/net/net.h"
#include "drivers/vm/initramfs.h"
#include "drivers/vm/vm-backend.h"
#include "drivers/vm/vm-exec.h"
#include "drivers/vm/vm-frame.h"
#include "drivers/vm/vm-qemu.h"
#include "drivers/vm/vm-snapshot.h"
#include "drivers/vm/vm-user.h"
#include "lib/log.h"

#define VM_DEFAULT_GUEST_DIR "/var/lib/berth/guest"
#define VM_CONFIG_FILE "vm.json"

struct Driver {
        struct Driver *inner;   /* the container driver */
        char *root_dir;
        char *guest_dir;
        char *guest_init;
        char *user;
        const char *accel;      /* "kvm" | "tcg" (static) */
        bool accel_forced;
        uint64_t tsc_khz;       /* host TSC rate for TCG guests (vm_host_tsc_khz) */
        int workloads_fd;
        const VmBackendOps *backend; /* vm.backend: the default of spec.vm.backend */
        char *libvirt_uri;      /* vm.libvirtUri; NULL = embedded per VM */
};

static Driver *vm_free(Driver *d)
{
        if (!d)
                return NULL;
        if (d->inner)
                container_driver_ops.free(d->inner);
        free(d->root_dir);
        free(d->guest_dir);
        free(d->guest_init);
        free(d->user);
        free(d->libvirt_uri);
        safe_close(d->workloads_fd);
        free(d);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(Driver *, vm_free);

static int vm_new(const DriverConfig *config, Driver **ret)
{
        _cleanup_(vm_freep) Driver *d = NULL;
        _cleanup_free_ char *wdir = NULL, *shim = NULL;
        char why[256];
        int r;

        if (!config || !config->shim_path)
                return -EINVAL;
        if (config->vm_accelerator && !streq(config->vm_accelerator, "auto") &&
            !streq(config->vm_accelerator, "kvm") && !streq(config->vm_accelerator, "tcg"))
                return log_error_errno(-EINVAL, "vm.accelerator: \"%s\" is not auto, kvm or tcg", config->vm_accelerator);
        d = calloc(1, sizeof(*d));
        if (!d)
                return -ENOMEM;
        d->workloads_fd = -EBADF;
        r = container_driver_ops.new(config, &d->inner);
        if (r < 0)
                return r;
        shim = strdup(config->shim_path);
        d->root_dir = strdup(config->root_dir);
        d->guest_dir = strdup(config->vm_guest_dir ? config->vm_guest_dir : VM_DEFAULT_GUEST_DIR);
        d->backend = vm_backend_find(config->vm_backend);
        if (!d->backend)
                return log_error_errno(-EINVAL, "vm.backend: \"%s\" is not microvm or libvirt", config->vm_backend);
        d->libvirt_uri = strdup_or_null(config->vm_libvirt_uri);
        if (config->vm_libvirt_uri && !d->libvirt_uri)
                return -ENOMEM;
        if (!shim || !d->root_dir || !d->guest_dir)
                return -ENOMEM;
        if (asprintf(&d->guest_init, "%s/berth-guest-init", dirname(shim)) < 0)
                return -ENOMEM;
        if (asprintf(&wdir, "%s/workloads", d->root_dir) < 0)
                return -ENOMEM;
        d->workloads_fd = open(wdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (d->workloads_fd < 0)
                return -errno;
        d->accel = vm_choose_accel(config->vm_accelerator, "", why, sizeof(why));
        d->accel_forced = config->vm_accelerator && !streq(config->vm_accelerator, "auto");
        d->tsc_khz = vm_host_tsc_khz();
        if (why[0])
                log_info("microVMs use the TCG accelerator: %s", why);
        else
                log_debug("microVMs use the %s accelerator%s", d->accel, d->accel_forced ? " (configured)" : "");
        r = vm_user_setup(config->vm_user, d->root_dir, streq(d->accel, "kvm"), &d->user); /* NULL: root */
        if (r < 0)
                return r;
        *ret = TAKE_PTR(d);
        return 0;
}

static uint64_t host_memory_bytes(void)
{
        FILE *f = fopen("/proc/meminfo", "re");
        unsigned long long kb = 0;
        char line[256];

        if (!f)
                return 0;
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "MemTotal: %llu kB", &kb) == 1)
                        break;
        fclose(f);
        return (uint64_t)kb * 1024;
}

typedef struct VmPlan {
        uint64_t vcpus;
        uint64_t memory_bytes;
        char *kernel;
        char *initrd;           /* the file QEMU loads */
        bool build_initrd;      /* the shim builds it from guest_init + modules */
        char *modules_dir;
        const char *disk_format;/* user disk: "raw" | "qcow2"; NULL = export rootfs */
        const char *accel;
        const VmBackendOps *backend;
} VmPlan;

static void vm_plan_done(VmPlan *p)
{
        free(p->kernel);
        free(p->initrd);
        free(p->modules_dir);
        *p = (VmPlan){};
}

static int vm_plan(Driver *d, const Spec *spec, VmPlan *p, BerthError *err)
{
        const SpecVm *vm = &spec->vm;
        uint64_t host_mem = host_memory_bytes();
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        char why[512];
        struct stat st;
        int r;

        *p = (VmPlan){};
        if (spec->network == NETWORK_HOST)
                return berth_error_set(err, -EINVAL, "spec.network.mode",
                                       "a microVM has its own kernel and cannot share the host's network; "
                                       "use \"bridge\" or \"none\"");
        p->backend = vm->backend ? vm_backend_find(vm->backend) : d->backend;
        if (!p->backend)
                return berth_error_set(err, -EINVAL, "spec.vm.backend", "must be one of microvm, libvirt");
        p->vcpus = vm->vcpus ? vm->vcpus : 1;
        if (ncpu > 0 && p->vcpus > (uint64_t)ncpu)
                return berth_error_set(err, -EINVAL, "spec.vm.vcpus", "%" PRIu64 " vCPUs is more than the %ld CPUs of this host",
                                       p->vcpus, ncpu);
        p->memory_bytes = vm->memory_bytes ? vm->memory_bytes : spec->memory_bytes ? spec->memory_bytes : VM_DEFAULT_MEMORY;
        if (p->memory_bytes < (UINT64_C(32) << 20))
                return berth_error_set(err, -EINVAL, vm->memory_bytes ? "spec.vm.memory" : "spec.resources.memory",
                                       "a microVM needs at least 32Mi of memory");
        if (host_mem && p->memory_bytes + VM_OVERHEAD_BYTES(p->memory_bytes) > host_mem)
                return berth_error_set(err, -EINVAL, vm->memory_bytes ? "spec.vm.memory" : "spec.resources.memory",
                                       "%" PRIu64 "Mi of guest memory does not fit in the %" PRIu64 "Mi of this host",
                                       p->memory_bytes >> 20, host_mem >> 20);
        if (vm->kernel)
                p->kernel = strdup(vm->kernel);
        else if (asprintf(&p->kernel, "%s/vmlinuz", d->guest_dir) < 0)
                p->kernel = NULL;
        if (!p->kernel)
                return -ENOMEM;
        if (stat(p->kernel, &st) < 0 || !S_ISREG(st.st_mode))
                return berth_error_set(err, -EINVAL, vm->kernel ? "spec.vm.kernel" : "spec.vm",
                                       "kernel \"%s\" %s%s", p->kernel,
                                       errno == ENOENT ? "does not exist" : "is not a readable file",
                                       vm->kernel ? "" : " (run deploy/fetch-guest-kernel.sh)");
        if (vm->initrd) {
                if (stat(vm->initrd, &st) < 0 || !S_ISREG(st.st_mode))
                        return berth_error_set(err, -EINVAL, "spec.vm.initrd", "\"%s\" is not a readable file", vm->initrd);
                if ((uint64_t)st.st_size > VM_INITRD_MAX)
                        return berth_error_set(err, -EFBIG, "spec.vm.initrd",
                                               "\"%s\" is %" PRIu64 "Mi, over the limit of %" PRIu64 "Mi", vm->initrd,
                                               (uint64_t)st.st_size >> 20, VM_INITRD_MAX >> 20);
                p->initrd = strdup(vm->initrd);
                if (!p->initrd)
                        return -ENOMEM;
        } else {
                if (stat(d->guest_init, &st) < 0)
                        return berth_error_set(err, -ENOENT, "spec.vm", "the guest init %s is missing", d->guest_init);
                r = vm_modules_dir(p->kernel, &p->modules_dir);
                if (r < 0)
                        return berth_error_set(err, -EINVAL, vm->kernel ? "spec.vm.kernel" : "spec.vm",
                                               "cannot find the modules of kernel \"%s\" (expected <tree>/boot/vmlinuz-<version>); "
                                               "name an initrd in spec.vm.initrd", p->kernel);
                /* cache key: kernel version + guest init identity */
                if (asprintf(&p->initrd, "%s/vm/initramfs-%s-%d-%" PRIx64 "-%" PRIx64 ".cpio", d->root_dir,
                             strrchr(p->modules_dir, '/') + 1, VM_INITRAMFS_LAYOUT, (uint64_t)st.st_mtim.tv_sec ^ (uint64_t)st.st_mtim.tv_nsec,
                             (uint64_t)st.st_size) < 0)
                        return -ENOMEM;
                p->build_initrd = true;
        }
        if (vm->disk) {
                r = vm_disk_check(vm->disk, &p->disk_format, why, sizeof(why));
                if (r < 0)
                        return berth_error_set(err, r, "spec.vm.disk", "%s", why);
        }
        p->accel = vm->accelerator && !streq(vm->accelerator, "auto") ? vm_choose_accel(vm->accelerator, "", why, sizeof(why))
                                                                       : d->accel;
        return 0;
}

static int vm_prepare(Driver *d, const Spec *spec, BerthError *err)
{
        _cleanup_(spec_freep) Spec *copy = NULL;
        _cleanup_free_ char *vmdir = NULL;
        VmPlan p;
        int r;

        r = vm_plan(d, spec, &p, err);
        if (r < 0) {
                vm_plan_done(&p);
                return r;
        }
        /* The cgroup covers guest RAM plus the VMM's own overhead. */
        copy = spec_dup(spec);
        if (!copy) {
                vm_plan_done(&p);
                return -ENOMEM;
        }
        copy->memory_bytes = p.memory_bytes + VM_OVERHEAD_BYTES(p.memory_bytes);
        vm_plan_done(&p);
        if (asprintf(&vmdir, "%s/vm/images", d->root_dir) < 0)
                return -ENOMEM;
        r = mkdir_p(vmdir, 0700); /* QEMU gets the images as fds (shim-vm-chain.c) */
        if (r < 0)
                return berth_error_set(err, r, "", "cannot create %s: %s", vmdir, strerror(-r));
        r = container_driver_ops.prepare(d->inner, copy, err);
        if (r >= 0)
                r = vm_restore_prepare(d, spec->name, err); /* armed by restore_arm (vm-snapshot.c) */
        return r;
}

static int vm_write_config(Driver *d, const Spec *spec, const VmPlan *p, BerthError *err)
{
        _cleanup_close_ int dfd = -EBADF;
        _cleanup_strv_free_ char **argv = NULL;
        _cleanup_free_ char *s = NULL, *images = NULL;
        json_t *j, *a;
        NetAttach na = {};
        char mac[18];
        VmLaunch l = {
                .name = spec->name,
                .accel = p->accel,
                .vcpus = p->vcpus,
                .memory_bytes = p->memory_bytes,
                .kernel = p->kernel,
                .initrd = p->initrd,
                .tsc_khz = d->tsc_khz,
        };
        int r;

        dfd = openat(d->workloads_fd, spec->name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (dfd < 0)
                return berth_error_set(err, -errno, "", "cannot open the workload directory: %m");
        if (spec->network == NETWORK_BRIDGE) {
                /* net.json was written by prepare(): a tap on the bridge (shim-vm-net.c) */
                r = net_attach_read(dfd, &na);
                if (r < 0)
                        return berth_error_set(err, r, "spec.network.mode", "cannot read net.json: %s", strerror(-r));
                l.tap = true;
                l.mac = vm_net_mac(na.addr, mac);
        }
        r = vm_qemu_argv(&l, &argv);
        if (r < 0)
                return berth_error_set(err, r, "", "cannot build the QEMU command line: %s", strerror(-r));
        if (asprintf(&images, "%s/vm/images", d->root_dir) < 0)
                return -ENOMEM;
        a = json_array();
        for (size_t i = 0; a && argv[i]; i++)
                json_array_append_new(a, json_string(argv[i]));
        j = json_pack("{s:o, s:s, s:s, s:s, s:s?, s:s?, s:s?, s:s?, s:s?, s:I, s:s, s:I, s:I}", "argv", a, "accel",
                      p->accel, "kernel", p->kernel, "initrd", p->initrd, "guest_init",
                      p->build_initrd ? d->guest_init : NULL, "modules_dir", p->build_initrd ? p->modules_dir : NULL,
                      "disk", spec->vm.disk, "disk_format", p->disk_format, "user",
                      streq(p->backend->name, "libvirt") ? NULL : d->user, /* libvirt runs QEMU as root */
                      "console_max",
                      (json_int_t)VM_CONSOLE_MAX, "images_dir", images, "vcpus", (json_int_t)p->vcpus, "memory",
                      (json_int_t)p->memory_bytes);
        if (!j)
                return berth_error_set(err, -ENOMEM, "", "out of memory");
        r = p->backend->configure(&(VmBackendConfig){ .root_dir = d->root_dir, .libvirt_uri = d->libvirt_uri }, &l, j,
                                  err);
        if (r < 0) {
                json_decref(j);
                return err && err->error ? r : berth_error_set(err, r, "", "out of memory");
        }
        if (l.tap && (json_object_set_new(j, "tap", json_true()) < 0 || json_object_set_new(j, "mac", json_string(mac)) < 0)) {
                json_decref(j);
                return berth_error_set(err, -ENOMEM, "", "out of memory");
        }
        r = vm_restore_config(d, dfd, j, err); /* a restore from a snapshot (vm-snapshot.c) */
        if (r < 0) {
                json_decref(j);
                return r;
        }
        s = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        if (!s)
                return -ENOMEM;
        r = write_file_atomic_at(dfd, VM_CONFIG_FILE, s, strlen(s), 0600);
        if (r < 0)
                return berth_error_set(err, r, "", "cannot write vm.json: %s", strerror(-r));
        return 0;
}

static int vm_start(Driver *d, const Spec *spec, int *ret_notify_fd, int *ret_gate_fd, BerthError *err)
{
        VmPlan p;
        int r;

        r = vm_plan(d, spec, &p, err);
        if (r >= 0)
                r = vm_write_config(d, spec, &p, err);
        if (r >= 0)
                wlog_info(spec->name, "starting a microVM (%s): %" PRIu64 " vCPU, %" PRIu64 "Mi, accelerator %s",
                          p.backend->name, p.vcpus, p.memory_bytes >> 20, p.accel);
        vm_plan_done(&p);
        if (r < 0)
                return r;
        return container_driver_ops.start(d->inner, spec, ret_notify_fd, ret_gate_fd, err);
}

/* The accelerator recorded in vm.json, as a static string (NULL if unknown). */
static const char *vm_recorded_accel(Driver *d, const char *name)
{
        _cleanup_close_ int dfd = -EBADF;
        _cleanup_free_ char *s = NULL;
        const char *a, *ret = NULL;
        json_t *j;

        dfd = openat(d->workloads_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (dfd < 0 || read_file_at(dfd, VM_CONFIG_FILE, 1024 * 1024, &s, NULL) < 0)
                return NULL;
        j = json_loads(s, 0, NULL);
        a = json_string_value(json_object_get(j, "accel"));
        if (a)
                ret = streq(a, "kvm") ? "kvm" : streq(a, "tcg") ? "tcg" : NULL;
        json_decref(j);
        return ret;
}

/* The backend recorded in vm.json (libvirt backend), as a static string. */
static const char *vm_recorded_backend(Driver *d, const char *name)
{
        _cleanup_close_ int dfd = -EBADF;
        _cleanup_free_ char *s = NULL;
        const VmBackendOps *b = NULL;
        json_t *j;

        dfd = openat(d->workloads_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (dfd < 0 || read_file_at(dfd, VM_CONFIG_FILE, 1024 * 1024, &s, NULL) < 0)
                return NULL;
        j = json_loads(s, 0, NULL);
        b = vm_backend_find(json_string_value(json_object_get(j, "backend")));
        json_decref(j);
        return b ? b->name : NULL;
}

/* A VM's shim comes from the inner container driver's pool like any other. */
static void vm_warm(Driver *d)
{
        container_driver_ops.warm(d->inner);
}

static int vm_start_finish(Driver *d, const Spec *spec, int notify_fd, DriverRun *ret, BerthError *err)
{
        int r = container_driver_ops.start_finish(d->inner, spec, notify_fd, ret, err);
        if (r >= 0) {
                ret->vm_accelerator = vm_recorded_accel(d, spec->name);
                ret->vm_backend = vm_recorded_backend(d, spec->name);
        }
        return r;
}

static int vm_adopt(Driver *d, const char *name, DriverRun *ret, DriverAdoptResult *ret_result)
{
        int r = container_driver_ops.adopt(d->inner, name, ret, ret_result);
        if (r >= 0 && *ret_result == DRIVER_ADOPT_RUNNING) {
                ret->vm_accelerator = vm_recorded_accel(d, name);
                ret->vm_backend = vm_recorded_backend(d, name);
        }
        return r;
}

static int signal_checked(pid_t pid, uint64_t start_time, int signo)
{
        _cleanup_close_ int fd = -EBADF;
        uint64_t st;
        int r;

        if (pid <= 0)
                return -ESRCH;
        fd = pidfd_open(pid, 0);
        if (fd < 0)
                return -errno;
        r = proc_start_time(pid, &st);
        if (r < 0)
                return r;
        if (st != start_time)
                return -ESRCH;
        return pidfd_send_signal(fd, signo, NULL, 0) < 0 ? -errno : 0;
}

/* SIGKILL ends QEMU at once; any other signal goes to the shim, which
 * forwards it to the guest's command over the channel (and for SIGTERM
 * escalates to an ACPI powerdown and then quit; docs/VM.md). */
static int vm_kill(Driver *d, const char *name, const DriverRun *run, int signo)
{
        if (!run)
                return -EINVAL;
        if (signo == SIGKILL)
                return signal_checked(run->pid, run->pid_start_time, signo);
        return signal_checked(run->shim_pid, run->shim_start_time, signo);
}

/* pause/resume: QMP stop/cont, issued by berth-shim (which owns QMP) on a
 * real-time signal; the shim records QMP's STOP/RESUME events in
 * vm-run-state. QEMU stays signalable (kill, stop) while its vCPUs are
 * stopped. */
static int vm_qmp_signal(Driver *d, const char *name, int signo, BerthError *err)
{
        _cleanup_close_ int dfd = -EBADF;
        ShimState s;
        int r;

        dfd = openat(d->workloads_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (dfd < 0)
                return berth_error_set(err, -errno, "", "cannot open the workload directory: %m");
        r = shim_state_read(dfd, &s);
        if (r < 0)
                return berth_error_set(err, r, "", "cannot read state.json: %s", strerror(-r));
        r = signal_checked(s.shim_pid, s.shim_start_time, signo);
        if (r < 0)
                return berth_error_set(err, r, "", "cannot reach berth-shim: %s", strerror(-r));
        return 0;
}

static int vm_pause(Driver *d, const char *name, BerthError *err)
{
        return vm_qmp_signal(d, name, VM_SIGNAL_PAUSE, err);
}

static int vm_resume(Driver *d, const char *name, BerthError *err)
{
        return vm_qmp_signal(d, name, VM_SIGNAL_RESUME, err);
}

/* The libvirt backend's embedded root, whatever backend the last run used. */
static void vm_libvirt_root_remove(Driver *d, const char *name)
{
        int r = vm_backend_libvirt.remove(&(VmBackendConfig){ .root_dir = d->root_dir, .libvirt_uri = d->libvirt_uri },
                                          name);
        if (r < 0)
                wlog_debug(name, "cannot remove the embedded libvirt root: %s", strerror(-r));
}

/* The run is over and its shim gone: the exit record, and the embedded root
 * goes now rather than in the shim, where libvirt's last worker thread could
 * still write into it (seen under load: run/qemu made again after removal). */
static int vm_read_exit(Driver *d, const char *name, DriverExit *ret)
{
        vm_libvirt_root_remove(d, name);
        return container_driver_ops.read_exit(d->inner, name, ret);
}

/* utime + stime of /proc/<pid>/task/<tid>/stat, in nsec. */
static uint64_t task_cpu_nsec(int taskfd, const char *tid)
{
        char p[300], buf[1024], *s;
        unsigned long long ut, st;
        ssize_t n;
        int fd;

        snprintf(p, sizeof(p), "%s/stat", tid);
        fd = openat(taskfd, p, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return 0;
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n <= 0)
                return 0;
        buf[n] = 0;
        s = strrchr(buf, ')'); /* comm may hold spaces */
        if (!s || sscanf(s + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
                return 0;
        return (uint64_t)(ut + st) * (UINT64_C(1000000000) / (uint64_t)sysconf(_SC_CLK_TCK));
}

/* QEMU's vCPU threads are named "CPU <n>/KVM" or "CPU <n>/TCG". */
static void vm_qemu_stats(pid_t pid, DriverStats *ret)
{
        char p[64], line[256];
        DIR *dir;
        FILE *f;
        struct dirent *de;

        snprintf(p, sizeof(p), "/proc/%d/task", (int)pid);
        dir = opendir(p);
        if (dir) {
                while ((de = readdir(dir))) {
                        char cp[300], comm[64] = "";
                        int fd;
                        ssize_t n;

                        if (de->d_name[0] == '.')
                                continue;
                        snprintf(cp, sizeof(cp), "%s/comm", de->d_name);
                        fd = openat(dirfd(dir), cp, O_RDONLY | O_CLOEXEC);
                        if (fd < 0)
                                continue;
                        n = read(fd, comm, sizeof(comm) - 1);
                        close(fd);
                        if (n > 4 && strncmp(comm, "CPU ", 4) == 0)
                                ret->vm_vcpu_nsec += task_cpu_nsec(dirfd(dir), de->d_name);
                }
                closedir(dir);
        }
        snprintf(p, sizeof(p), "/proc/%d/status", (int)pid);
        f = fopen(p, "re");
        if (f) {
                unsigned long long kb;
                while (fgets(line, sizeof(line), f))
                        if (sscanf(line, "VmRSS: %llu kB", &kb) == 1) {
                                ret->vm_qemu_rss_bytes = (uint64_t)kb * 1024;
                                break;
                        }
                fclose(f);
        }
}

static int vm_stats(Driver *d, const char *name, DriverStats *ret)
{
        _cleanup_close_ int dfd = -EBADF;
        ShimState s;
        uint64_t st;
        int r;

        r = container_driver_ops.stats(d->inner, name, ret);
        if (r < 0)
                return r;
        dfd = openat(d->workloads_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (dfd < 0 || shim_state_read(dfd, &s) < 0 || s.pid <= 0)
                return 0;
        if (proc_start_time(s.pid, &st) < 0 || st != s.pid_start_time)
                return 0; /* QEMU is gone (or the pid was reused) */
        ret->vm = true;
        vm_qemu_stats(s.pid, ret);
        return 0;
}

static int vm_reset(Driver *d, const char *name)
{
        return container_driver_ops.reset(d->inner, name);
}

static int vm_remove(Driver *d, const char *name)
{
        int r;

        vm_libvirt_root_remove(d, name);
        r = container_driver_ops.remove(d->inner, name);
        if (r >= 0)
                (void)vm_snapshot_gc(d); /* disk layers only this VM reached (vm-snapshot.c) */
        return r;
}

/* exec: through berth-shim's exec socket onto the guest channel (vm-exec.c). */
static int vm_exec(Driver *d, const char *name, const DriverRun *run, char **argv, int stdin_fd, int stdout_fd,
                   int stderr_fd, int tty_fd, int *ret_pidfd, int *ret_status_fd, BerthError *err)
{
        return vm_exec_spawn(d->workloads_fd, name, run, argv, stdin_fd, stdout_fd, stderr_fd, tty_fd, ret_pidfd,
                             ret_status_fd, err);
}

const DriverOps vm_driver_ops = {
        .name = "vm",
        .isolation = ISOLATION_VM,
        .new = vm_new,
        .free = vm_free,
        .prepare = vm_prepare,
        .start = vm_start,
        .start_finish = vm_start_finish,
        .warm = vm_warm,
        .adopt = vm_adopt,
        .kill = vm_kill,
        .read_exit = vm_read_exit,
        .stats = vm_stats,
        .reset = vm_reset,
        .remove = vm_remove,
        .pause = vm_pause,
        .resume = vm_resume,
        .exec = vm_exec,
        .snapshot_begin = vm_snapshot_begin,
        .snapshot_poll = vm_snapshot_poll,
        .restore_arm = vm_restore_arm,
        .snapshot_gc = vm_snapshot_gc,
};

const char *vm_driver_root(Driver *d)
{
        return d->root_dir;
}

int vm_driver_workloads_fd(Driver *d)
{
        return d->workloads_fd;
}
