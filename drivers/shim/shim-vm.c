/* SPDX-License-Identifier: Apache-2.0 */
/* berth-shim's VM mode (docs/VM.md). QEMU is the shim's child in the
 * workload's cgroup; the shim holds the other ends of QEMU's QMP socket, the
 * guest channel (virtio-serial port "berth.0") and the serial console, all
 * passed as inherited socketpair fds, so no socket path is ever exposed. */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <grp.h>
#include <jansson.h>
#include <net/if.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/pidfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "drivers/shim/shim-libvirt.h"
#include "drivers/shim/shim-reserve.h"
#include "drivers/shim/shim-vm-chain.h"
#include "drivers/shim/shim-vm.h"
#include "drivers/shim/shim-vm-exec.h"
#include "drivers/shim/shim-vm-net.h"
#include "drivers/vm/initramfs.h"
#include "drivers/vm/vm-proto.h"
#include "drivers/vm/vm-qemu.h"
#include "drivers/shim/shim-vm-snapshot.h"
#include "lib/log.h"

#ifndef MIN
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#endif
#define DISK_FILE "disk.qcow2"
#define CONSOLE_FILE "console.log"
#define HELLO_FILE "vm-hello"   /* CLOCK_REALTIME usec of the guest init's HELLO (benchmarks) */

static const char *jstr(json_t *j, const char *k)
{
        return json_string_value(json_object_get(j, k));
}

int shim_run_wait(char *const argv[])
{
        int status;
        pid_t pid = fork();

        if (pid < 0)
                return -errno;
        if (pid == 0) {
                int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
                if (nul >= 0)
                        dup2(nul, 1);
                execvp(argv[0], argv);
                _exit(127);
        }
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

/* A digest of a rootfs tree (names, types, modes, owners, sizes, mtimes,
 * link targets; FNV-1a 64, two seeds), walked fd-relative without
 * following symlinks. The tree is the content key of the exported image. */
typedef struct Digest {
        uint64_t a, b, bytes;
} Digest;

static void dg(Digest *d, const void *p, size_t n)
{
        const unsigned char *c = p;
        for (size_t i = 0; i < n; i++) {
                d->a = (d->a ^ c[i]) * UINT64_C(0x100000001b3);
                d->b = (d->b ^ c[i]) * UINT64_C(0x100000001b3) + 0x9e37;
        }
}

static int digest_tree(int dfd, unsigned depth, Digest *d)
{
        DIR *dir = NULL;
        struct dirent *de;
        int r = 0;

        if (depth > 64)
                return -ELOOP;
        dir = fdopendir(dfd);
        if (!dir) {
                safe_close(dfd);
                return -errno;
        }
        while ((de = readdir(dir))) {
                struct stat st;
                char target[PATH_MAX];

                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        r = -errno;
                        break;
                }
                dg(d, de->d_name, strlen(de->d_name) + 1);
                uint64_t f[] = { st.st_mode, st.st_uid, st.st_gid, (uint64_t)st.st_size, (uint64_t)st.st_mtim.tv_sec,
                                 (uint64_t)st.st_mtim.tv_nsec };
                dg(d, f, sizeof(f));
                d->bytes += (uint64_t)st.st_size + 4096;
                if (S_ISLNK(st.st_mode)) {
                        ssize_t n = readlinkat(dirfd(dir), de->d_name, target, sizeof(target));
                        if (n > 0)
                                dg(d, target, (size_t)n);
                } else if (S_ISDIR(st.st_mode)) {
                        int fd = openat(dirfd(dir), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
                        if (fd < 0) {
                                r = -errno;
                                break;
                        }
                        r = digest_tree(fd, depth + 1, d);
                        if (r < 0)
                                break;
                }
        }
        closedir(dir);
        return r;
}

/* <images>/<digest>.ext4, built once with mkfs.ext4 -d under a lock. */
static int export_rootfs(const char *rootfs, const char *images, char **ret)
{
        _cleanup_free_ char *path = NULL, *tmp = NULL, *lock = NULL, *size = NULL;
        _cleanup_close_ int lfd = -EBADF, fd = -EBADF;
        Digest d = { UINT64_C(0xcbf29ce484222325), UINT64_C(0x84222325cbf29ce4), 0 };
        uint64_t bytes;
        int r;

        fd = open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        r = digest_tree(TAKE_FD(fd), 0, &d);
        if (r < 0)
                return r;
        if (asprintf(&path, "%s/%016" PRIx64 "%016" PRIx64 ".ext4", images, d.a, d.b) < 0 ||
            asprintf(&lock, "%s/.lock", images) < 0 || asprintf(&tmp, "%s.tmp.%d", path, (int)getpid()) < 0)
                return -ENOMEM;
        if (access(path, F_OK) >= 0)
                goto done;
        lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (lfd < 0 || flock(lfd, LOCK_EX) < 0)
                return -errno;
        if (access(path, F_OK) >= 0)
                goto done;
        bytes = d.bytes + d.bytes / 2 + (UINT64_C(64) << 20);
        if (asprintf(&size, "%" PRIu64 "k", bytes / 1024) < 0)
                return -ENOMEM;
        char *argv[] = { "mkfs.ext4", "-q", "-F", "-L", "berth-root", "-d", (char *)rootfs, tmp, size, NULL };
        r = shim_run_wait(argv);
        if (r < 0 || chmod(tmp, 0644) < 0 || rename(tmp, path) < 0) {
                (void)unlink(tmp);
                return r < 0 ? r : -errno;
        }
        log_info("exported %s to %s", rootfs, path);
done:
        *ret = TAKE_PTR(path);
        return 0;
}

static int prepare_initrd(json_t *cfg)
{
        const char *initrd = jstr(cfg, "initrd"), *init = jstr(cfg, "guest_init"), *mods = jstr(cfg, "modules_dir");
        _cleanup_free_ char *lock = NULL;
        _cleanup_close_ int lfd = -EBADF;
        int r;

        if (!init || !initrd || access(initrd, F_OK) >= 0)
                return 0;
        if (asprintf(&lock, "%s.lock", initrd) < 0)
                return -ENOMEM;
        lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (lfd < 0 || flock(lfd, LOCK_EX) < 0)
                return -errno;
        if (access(initrd, F_OK) >= 0)
                return 0;
        r = vm_initramfs_build(init, mods, initrd);
        /* QEMU reads it by path as vm.user (drivers/vm/vm-user.c): public modules and berth's init */
        if (r >= 0 && chmod(initrd, 0644) < 0)
                r = -errno;
        return r;
}

static int prepare_disk(int dirfd, const ShimConfig *c, json_t *cfg, uid_t uid, int *ret_fd)
{
        _cleanup_free_ char *base = NULL, *overlay = NULL;
        const char *fmt = jstr(cfg, "disk_format") ?: "raw";
        char bopt[32];
        int r, fd;

        if (jstr(cfg, "disk")) {
                base = strdup(jstr(cfg, "disk"));
                if (!base)
                        return -ENOMEM;
        } else {
                r = export_rootfs(c->rootfs, jstr(cfg, "images_dir"), &base);
                if (r < 0)
                        return r;
        }
        char link[64], real[PATH_MAX];
        ssize_t n;

        snprintf(link, sizeof(link), "/proc/self/fd/%d", dirfd);
        n = readlink(link, real, sizeof(real) - 1);
        if (n <= 0)
                return -errno;
        real[n] = 0;
        (void)unlinkat(dirfd, DISK_FILE, 0);
        /* The backing file is always berth's own image: never user input. */
        if (asprintf(&overlay, "%s/%s", real, DISK_FILE) < 0)
                return -ENOMEM;
        snprintf(bopt, sizeof(bopt), "%s", fmt);
        char *argv[] = { "qemu-img", "create", "-q", "-f", "qcow2", "-F", bopt, "-b", base, overlay, NULL };
        r = shim_run_wait(argv);
        if (r < 0)
                return r;
        fd = openat(dirfd, DISK_FILE, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        if (uid != 0)
                (void)fchown(fd, uid, (gid_t)-1);
        *ret_fd = fd;
        return 0;
}

typedef struct Vm {
        int dirfd;
        LogWriter *w;
        int chan, qmp, con, console_fd;
        char cbuf[VM_FRAME_MAX + sizeof(VmFrameHeader)];
        size_t clen;
        char qbuf[8192];
        size_t qlen;
        bool qmp_ready;
        bool got_exit;
        int32_t exit_code, exit_signal;
        char message[256];
        uint64_t console_bytes, console_max;
        const ShimConfig *c;
        const VmKv *net_keys; /* net.* CONFIG keys of a bridged VM (shim-vm-net.c) */
        ShimVmExec *exec;     /* exec.sock (shim-vm-exec.c) */
} Vm;

static void chan_send(Vm *vm, uint32_t type, const void *data, size_t len)
{
        VmFrameHeader h = { type, (uint32_t)len };
        (void)write_all(vm->chan, &h, sizeof(h));
        if (len)
                (void)write_all(vm->chan, data, len);
}

static void qmp_send(Vm *vm, const char *cmd)
{
        char line[128];
        int n = snprintf(line, sizeof(line), "{\"execute\":\"%s\"}\n", cmd);
        if (vm->qmp >= 0)
                (void)write_all(vm->qmp, line, (size_t)n);
}

#ifndef SHIM_WITH_LIBVIRT
/* errno of a failed exec of berth-shim-libvirt, reported by shim_vm_run() */
static int libvirt_exec_error;
#endif

int shim_vm_libvirt_reexec(char *argv[])
{
#ifdef SHIM_WITH_LIBVIRT
        (void)argv;
        return 0;
#else
        _cleanup_close_ int dfd = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        _cleanup_free_ char *buf = NULL;
        char self[PATH_MAX];
        json_t *cfg;
        bool lv;
        ssize_t n;

        if (dfd < 0 || read_file_at(dfd, SHIM_VM_CONFIG_FILE, 1024 * 1024, &buf, NULL) < 0)
                return 0; /* not a VM, or main() reports what is wrong */
        cfg = json_loads(buf, 0, NULL);
        lv = cfg && streq_ptr(jstr(cfg, "backend"), "libvirt");
        json_decref(cfg);
        if (!lv)
                return 0;
        n = readlink("/proc/self/exe", self, sizeof(self) - sizeof("berth-shim-libvirt"));
        char *slash = n > 0 ? memrchr(self, '/', (size_t)n) : NULL;
        if (!slash)
                return libvirt_exec_error = n < 0 ? -errno : -ENOENT;
        strcpy(slash + 1, "berth-shim-libvirt");
        execv(self, argv); /* same pid, argv and fds: berthd cannot tell */
        return libvirt_exec_error = -errno;
#endif
}

int shim_vm_config_payload(const ShimConfig *c, const VmKv *net_keys, VmKv *ret)
{
        int r = 0;

        *ret = (VmKv){ .max = VM_FRAME_MAX * 16 };
        for (char **a = c->argv; r >= 0 && a && *a; a++)
                r = vm_kv_add(ret, "arg", *a);
        for (char **e = c->env; r >= 0 && e && *e; e++)
                r = vm_kv_add(ret, "env", *e);
        if (r >= 0)
                r = vm_kv_add(ret, "cwd", c->working_dir ?: "/");
        if (r >= 0)
                r = vm_kv_add(ret, "hostname", c->hostname ?: c->name);
        /* the net.* keys are key\0value\0 pairs already */
        if (r >= 0 && net_keys && net_keys->len)
                r = vm_kv_add_bytes(ret, net_keys->buf, net_keys->len);
        if (r < 0)
                vm_kv_done(ret);
        return r;
}

static int send_config(Vm *vm)
{
        VmKv kv;
        int r = shim_vm_config_payload(vm->c, vm->net_keys, &kv);

        if (r < 0)
                return r;
        chan_send(vm, VM_FRAME_CONFIG, kv.buf, kv.len);
        vm_kv_done(&kv);
        return 0;
}

static void on_frame(Vm *vm, uint32_t type, const char *p, uint32_t len)
{
        switch (type) {
        case VM_FRAME_HELLO: {
                char t[32];
                int n = snprintf(t, sizeof(t), "%" PRIu64 "\n", (uint64_t)now_usec(CLOCK_REALTIME));
                (void)write_file_atomic_at(vm->dirfd, HELLO_FILE, t, (size_t)n, 0644);
                log_info("guest init is up: %.*s", (int)len, p);
                if (send_config(vm) < 0)
                        log_error("cannot send the CONFIG frame");
                break;
        }
        case VM_FRAME_STDOUT:
        case VM_FRAME_STDERR:
                (void)log_writer_write(vm->w, type == VM_FRAME_STDOUT ? LOG_STREAM_STDOUT : LOG_STREAM_STDERR, p, len);
                break;
        case VM_FRAME_EXIT:
                if (len >= 8) {
                        memcpy(&vm->exit_code, p, 4);
                        memcpy(&vm->exit_signal, p + 4, 4);
                        vm->got_exit = true;
                }
                break;
        case VM_FRAME_ERROR:
                snprintf(vm->message, sizeof(vm->message), "%.*s", (int)len, p);
                break;
        case VM_FRAME_PONG: { /* a restored guest answers (shim-vm-snapshot.c) */
                char t[32];
                int n = snprintf(t, sizeof(t), "%" PRIu64 "\n", (uint64_t)now_usec(CLOCK_REALTIME));
                (void)write_file_atomic_at(vm->dirfd, HELLO_FILE, t, (size_t)n, 0644);
                log_info("restored guest answers");
                shim_vm_exec_guest_ready(vm->exec); /* its init is in its main loop: exec works */
                break;
        }
        case VM_FRAME_STARTED:
                log_debug("guest command started as pid %.*s", (int)len, p);
                shim_vm_exec_guest_ready(vm->exec);
                break;
        case VM_FRAME_NET_DONE:
                if (len >= 4)
                        log_info("guest network: %.*s", (int)len - 4, p + 4);
                break;
        case VM_FRAME_EXEC_STDOUT:
        case VM_FRAME_EXEC_STDERR:
        case VM_FRAME_EXEC_EXIT:
        case VM_FRAME_EXEC_ACK:
                shim_vm_exec_on_frame(vm->exec, type, p, len);
                break;
        default:
                break;
        }
}

/* Returns false at EOF. */
static bool chan_read(Vm *vm)
{
        ssize_t n = read(vm->chan, vm->cbuf + vm->clen, sizeof(vm->cbuf) - vm->clen);

        if (n < 0)
                return errno == EINTR || errno == EAGAIN;
        if (n == 0)
                return false;
        vm->clen += (size_t)n;
        while (vm->clen >= sizeof(VmFrameHeader)) {
                VmFrameHeader h;
                memcpy(&h, vm->cbuf, sizeof(h));
                if (h.len > VM_FRAME_MAX) {
                        log_error("oversize frame from the guest (%u bytes): closing the channel", h.len);
                        return false;
                }
                if (vm->clen < sizeof(h) + h.len)
                        break;
                on_frame(vm, h.type, vm->cbuf + sizeof(h), h.len);
                memmove(vm->cbuf, vm->cbuf + sizeof(h) + h.len, vm->clen - sizeof(h) - h.len);
                vm->clen -= sizeof(h) + h.len;
        }
        return true;
}

static bool qmp_read(Vm *vm)
{
        ssize_t n = read(vm->qmp, vm->qbuf + vm->qlen, sizeof(vm->qbuf) - 1 - vm->qlen);
        char *nl;

        if (n < 0)
                return errno == EINTR || errno == EAGAIN;
        if (n == 0)
                return false;
        vm->qlen += (size_t)n;
        vm->qbuf[vm->qlen] = 0;
        while ((nl = strchr(vm->qbuf, '\n'))) {
                *nl = 0;
                json_t *j = json_loads(vm->qbuf, 0, NULL);
                if (j && json_object_get(j, "QMP")) {
                        qmp_send(vm, "qmp_capabilities");
                        vm->qmp_ready = true;
                } else if (j && jstr(j, "event")) {
                        const char *ev = jstr(j, "event");
                        log_info("QMP event %s", ev); /* SHUTDOWN, STOP, RESUME, ... */
                        if (streq(ev, "STOP") || streq(ev, "RESUME")) {
                                const char *st = streq(ev, "STOP") ? "paused\n" : "running\n";
                                (void)write_file_atomic_at(vm->dirfd, VM_RUN_STATE_FILE, st, strlen(st), 0644);
                        }
                }
                json_decref(j);
                memmove(vm->qbuf, nl + 1, vm->qlen - (size_t)(nl + 1 - vm->qbuf) + 1);
                vm->qlen -= (size_t)(nl + 1 - vm->qbuf);
        }
        if (vm->qlen >= sizeof(vm->qbuf) - 1)
                vm->qlen = 0; /* a line longer than the buffer: drop it */
        return true;
}

/* console.log, rotated to console.log.1 at half the cap. */
static bool con_read(Vm *vm)
{
        char buf[4096];
        ssize_t n = read(vm->con, buf, sizeof(buf));

        if (n < 0)
                return errno == EINTR || errno == EAGAIN;
        if (n == 0)
                return false;
        if (vm->console_bytes + (uint64_t)n > vm->console_max / 2) {
                vm->console_fd = safe_close(vm->console_fd);
                (void)renameat(vm->dirfd, CONSOLE_FILE, vm->dirfd, CONSOLE_FILE ".1");
                vm->console_bytes = 0;
        }
        if (vm->console_fd < 0)
                vm->console_fd = openat(vm->dirfd, CONSOLE_FILE, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (vm->console_fd >= 0 && write_all(vm->console_fd, buf, (size_t)n) >= 0)
                vm->console_bytes += (uint64_t)n;
        return true;
}

static int resolve_user(json_t *cfg, uid_t *uid, gid_t *gid)
{
        const char *name = jstr(cfg, "user");
        struct passwd *pw;

        *uid = 0;
        *gid = 0;
        /* berthd resolves the default (drivers/vm/vm-user.c); none = root. QEMU
         * opens only the kernel and the initrd by path (docs/VM.md "QEMU's user"). */
        if (!name || streq(name, "root"))
                return 0;
        pw = getpwnam(name);
        if (!pw)
                return -ESRCH;
        *uid = pw->pw_uid;
        *gid = pw->pw_gid;
        return 0;
}

/* fds[i] becomes VM_FD_QMP + i in QEMU (fds[6..]: the backing chain, shim-vm-chain.c) */
static _noreturn_ void exec_qemu(json_t *cfg, int *fds, size_t nfds, int sync_fd, int err_fd, uid_t uid, gid_t gid)
{
        json_t *a = json_object_get(cfg, "argv");
        size_t n = json_array_size(a);
        char **argv = calloc(n + 1, sizeof(char *));
        char c;
        int e;

        if (!argv)
                _exit(126);
        for (size_t i = 0; i < n; i++)
                argv[i] = (char *)json_string_value(json_array_get(a, i));
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        if (read(sync_fd, &c, 1) != 1)
                _exit(126);
        /* fds above the target range first, then into 3.. */
        for (size_t i = 0; i < nfds; i++)
                if (fds[i] >= 0 && (fds[i] = fcntl(fds[i], F_DUPFD, 256)) < 0)
                        goto fail;
        err_fd = fcntl(err_fd, F_DUPFD_CLOEXEC, 512);
        for (size_t i = 0; i < nfds; i++)
                if (fds[i] >= 0 && dup2(fds[i], VM_FD_QMP + i) < 0)
                        goto fail;
        if (uid != 0) {
                gid_t groups[1];
                struct group *kvm = getgrnam("kvm");
                int ng = 0;
                if (kvm)
                        groups[ng++] = kvm->gr_gid;
                if (setgroups((size_t)ng, groups) < 0 || setgid(gid) < 0 || setuid(uid) < 0)
                        goto fail;
        }
        for (int fd = VM_FD_QMP + (int)nfds; fd < 1024; fd++)
                if (fd != err_fd)
                        (void)close(fd);
        execvp("qemu-system-x86_64", argv);
fail:
        e = errno;
        (void)!write(err_fd, &e, sizeof(e));
        _exit(126);
}

int shim_vm_run(int dirfd, const ShimConfig *c, LogWriter *w, const CgroupOps *cg, int *notify_fd)
{
        _cleanup_free_ char *cfgs = NULL;
        _cleanup_close_ int disk = -EBADF, disk_ro = -EBADF, pidfd = -EBADF, sfd = -EBADF;
        _cleanup_close_ int tap = -EBADF;      /* bridge mode (shim-vm-net.c) */
        _cleanup_(shim_vm_chain_close) ShimVmChain chain = {}; /* the disk's backing files (shim-vm-chain.c) */
        char cwhy[512];
        VmKv net_keys = { .max = VM_FRAME_MAX };
        char tap_name[IFNAMSIZ] = "";
        ShimVmExec *exec = NULL;               /* exec.sock (shim-vm-exec.c) */
        int exec_chan = -1;
        int qmp[2], chan[2], con[2], sync[2], ep[2], r, e;
        json_t *cfg;
        uid_t uid;
        gid_t gid;
        sigset_t mask;
        ShimState st = {};
        pid_t pid;
        ssize_t n;

        r = read_file_at(dirfd, SHIM_VM_CONFIG_FILE, 1024 * 1024, &cfgs, NULL);
        if (r < 0)
                return fail_start(dirfd, w, notify_fd, 126, -r, "read vm.json: %s", strerror(-r));
        cfg = json_loads(cfgs, 0, NULL);
        if (!cfg || !json_is_array(json_object_get(cfg, "argv")))
                return fail_start(dirfd, w, notify_fd, 126, EBADMSG, "vm.json is not valid");
        r = resolve_user(cfg, &uid, &gid);
        if (r < 0)
                return fail_start(dirfd, w, notify_fd, 126, -r, "vm.user \"%s\" does not exist", jstr(cfg, "user"));
        r = prepare_initrd(cfg);
        if (r < 0)
                return fail_start(dirfd, w, notify_fd, 126, -r, "build the initramfs %s: %s", jstr(cfg, "initrd"),
                                  strerror(-r));
        r = prepare_disk(dirfd, c, cfg, uid, &disk);
        if (r >= 0 && (disk_ro = openat(dirfd, DISK_FILE, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
                r = -errno;
        if (r < 0)
                return fail_start(dirfd, w, notify_fd, 126, -r, "prepare the root disk: %s", strerror(-r));
        if (streq_ptr(jstr(cfg, "backend"), "libvirt")) { /* QEMU run by libvirt (shim-libvirt.c) */
                disk = safe_close(disk);
                disk_ro = safe_close(disk_ro);
#ifdef SHIM_WITH_LIBVIRT
                return shim_libvirt_run(dirfd, c, w, cg, notify_fd, cfg);
#else
                return fail_start(dirfd, w, notify_fd, 126, -libvirt_exec_error ?: ENOEXEC,
                                  "the libvirt backend runs in berth-shim-libvirt, next to berth-shim: "
                                  "cannot execute it: %s",
                                  strerror(-libvirt_exec_error ?: ENOEXEC));
#endif
        }
        r = shim_vm_chain_open(disk, &chain, cwhy, sizeof(cwhy));
        if (r >= 0 && (r = shim_vm_chain_argv(&chain, VM_FD_DISK_RO + 1, cfg)) < 0)
                snprintf(cwhy, sizeof(cwhy), "%s", strerror(-r));
        if (r < 0)
                return fail_start(dirfd, w, notify_fd, 126, -r, "prepare the root disk: %s", cwhy);
        if (json_is_true(json_object_get(cfg, "tap"))) {
                /* bridge mode: a tap on the berth bridge, QEMU's fd VM_FD_TAP */
                r = shim_vm_net_open(dirfd, jstr(cfg, "mac"), &tap, tap_name, &net_keys);
                if (r < 0)
                        return fail_start(dirfd, w, notify_fd, 126, -r, "bridge network: tap: %s", strerror(-r));
                log_info("tap %s on the bridge", tap_name);
        }
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, qmp) < 0 ||
            socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, chan) < 0 ||
            socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, con) < 0 || pipe2(sync, O_CLOEXEC) < 0 ||
            pipe2(ep, O_CLOEXEC) < 0)
                return fail_start(dirfd, w, notify_fd, 126, errno, "socketpair: %m");

        pid = fork();
        if (pid < 0)
                return fail_start(dirfd, w, notify_fd, 126, errno, "fork: %m");
        if (pid == 0) {
                int fds[6 + SHIM_VM_CHAIN_MAX] = { qmp[1], chan[1], con[1], disk, tap, disk_ro };
                for (size_t i = 0; i < chain.n; i++)
                        fds[6 + i] = chain.fd[i];
                exec_qemu(cfg, fds, 6 + chain.n, sync[0], ep[1], uid, gid);
        }
        shim_vm_chain_close(&chain); /* QEMU holds them */
        safe_close(qmp[1]);
        safe_close(chan[1]);
        safe_close(con[1]);
        safe_close(sync[0]);
        safe_close(ep[1]);
        disk = safe_close(disk);
        tap = safe_close(tap); /* QEMU holds it: the tap goes away with QEMU */
        disk_ro = safe_close(disk_ro);
        pidfd = pidfd_open(pid, 0);
        r = cg ? cg->attach(c->cgroup_root, c->cgroup_parent, c->name, pid) : -EOPNOTSUPP;
        if (pidfd < 0 || r < 0) {
                (void)kill(pid, SIGKILL);
                (void)waitpid(pid, NULL, 0);
                return fail_start(dirfd, w, notify_fd, 126, r < 0 ? -r : errno, "join cgroup: %s",
                                  strerror(r < 0 ? -r : errno));
        }
        (void)write_all(sync[1], "1", 1);
        safe_close(sync[1]);
        do
                n = read(ep[0], &e, sizeof(e));
        while (n < 0 && errno == EINTR);
        safe_close(ep[0]);
        if (n != 0) {
                (void)waitpid(pid, NULL, 0);
                return fail_start(dirfd, w, notify_fd, e == ENOENT ? 127 : 126, e, "exec qemu-system-x86_64: %s",
                                  strerror(e));
        }
        if (jstr(cfg, "incoming")) { /* restore from a snapshot (shim-vm-snapshot.c) */
                char why[512] = "";
                r = shim_vm_restore(dirfd, qmp[0], jstr(cfg, "incoming"), why, sizeof(why));
                if (r < 0) {
                        (void)kill(pid, SIGKILL);
                        (void)waitpid(pid, NULL, 0);
                        return fail_start(dirfd, w, notify_fd, 126, -r, "restore the snapshot: %s", why);
                }
        }

        st.shim_pid = getpid();
        st.pid = pid;
        st.started_at = now_usec(CLOCK_REALTIME);
        (void)proc_start_time(st.shim_pid, &st.shim_start_time);
        (void)proc_start_time(pid, &st.pid_start_time);
        (void)read_boot_id(st.boot_id);
        r = shim_state_write(dirfd, &st);
        if (r < 0) {
                (void)kill(pid, SIGKILL);
                (void)waitpid(pid, NULL, 0);
                return fail_start(dirfd, w, notify_fd, 126, -r, "write state.json: %s", strerror(-r));
        }
        /* Signals are queued from here on, before berthd learns the VM runs. */
        sigemptyset(&mask);
        sigaddset(&mask, VM_SIGNAL_PAUSE);
        sigaddset(&mask, VM_SIGNAL_RESUME);
        sigaddset(&mask, VM_SIGNAL_SNAPSHOT);
        for (int s = 1; s < 32; s++)
                if (s != SIGKILL && s != SIGSTOP && s != SIGCHLD && s != SIGSEGV && s != SIGBUS && s != SIGFPE &&
                    s != SIGILL && s != SIGABRT && s != SIGPIPE)
                        sigaddset(&mask, s);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        exec_chan = chan[0];
        r = shim_vm_exec_new(dirfd, &exec_chan, &exec);
        if (r < 0)
                log_error_errno(r, "exec socket: %m (exec into this VM will fail)");
        notify(notify_fd, true, 0, pid, NULL);
        shim_exit_reserve(dirfd); /* exit.json can be written on a full disk */

        Vm *vm = calloc(1, sizeof(Vm));
        if (!vm)
                return 1;
        *vm = (Vm){ .dirfd = dirfd, .w = w, .chan = chan[0], .qmp = qmp[0], .con = con[0], .console_fd = -EBADF,
                    .console_max = (uint64_t)json_integer_value(json_object_get(cfg, "console_max")), .c = c };
        if (vm->console_max < 8192)
                vm->console_max = VM_CONSOLE_MAX;
        vm->net_keys = &net_keys;
        vm->exec = exec;
        if (jstr(cfg, "incoming")) {
                /* Restored: this clone's own address and MAC, then PING; the PONG is "answering". */
                _cleanup_free_ char *np = NULL;
                size_t nl = 0;
                if (shim_vm_restore_net_payload(dirfd, &np, &nl) >= 0)
                        chan_send(vm, VM_FRAME_NET, np, nl);
                chan_send(vm, VM_FRAME_PING, "restored", 8);
        }
        usec_t powerdown_at = USEC_INFINITY, quit_at = USEC_INFINITY, drain_until = USEC_INFINITY;
        bool exited = false;
        siginfo_t si = {};

        for (;;) {
                usec_t now = now_usec(CLOCK_MONOTONIC), next = USEC_INFINITY;
                struct pollfd p[5 + SHIM_VM_EXEC_POLL_MAX] = {
                        { .fd = vm->chan, .events = POLLIN },
                        { .fd = vm->qmp, .events = POLLIN },
                        { .fd = vm->con, .events = POLLIN },
                        { .fd = exited ? -1 : pidfd, .events = POLLIN },
                        { .fd = sfd, .events = POLLIN },
                };

                if (exited && (vm->chan < 0 || now >= drain_until))
                        break;
                if (now >= powerdown_at) {
                        log_info("the guest did not stop: ACPI powerdown");
                        qmp_send(vm, "system_powerdown");
                        powerdown_at = USEC_INFINITY;
                        if (quit_at == USEC_INFINITY)
                                quit_at = now + 5 * USEC_PER_SEC;
                }
                if (now >= quit_at) {
                        log_info("the guest did not power off: quit");
                        qmp_send(vm, "quit");
                        quit_at = USEC_INFINITY;
                }
                next = MIN(MIN(powerdown_at, quit_at), exited ? drain_until : USEC_INFINITY);
                int timeout = next == USEC_INFINITY ? -1 : (int)((next - MIN(now, next)) / USEC_PER_MSEC) + 1;
                exec_chan = vm->chan;
                size_t nx = shim_vm_exec_pollfds(vm->exec, p + 5, SHIM_VM_EXEC_POLL_MAX);
                if (poll(p, 5 + nx, timeout) < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                shim_vm_exec_dispatch(vm->exec, p + 5, nx);
                if (p[0].revents && !chan_read(vm))
                        vm->chan = safe_close(vm->chan);
                if (p[1].revents && !qmp_read(vm))
                        vm->qmp = safe_close(vm->qmp);
                if (p[2].revents && !con_read(vm))
                        vm->con = safe_close(vm->con);
                if (vm->got_exit && quit_at == USEC_INFINITY && !exited)
                        quit_at = now_usec(CLOCK_MONOTONIC) + 5 * USEC_PER_SEC; /* the guest powers off by itself */
                if (p[4].revents & POLLIN) {
                        struct signalfd_siginfo ssi;
                        while (read(sfd, &ssi, sizeof(ssi)) == (ssize_t)sizeof(ssi)) {
                                int32_t sig = (int32_t)ssi.ssi_signo;
                                if (sig == VM_SIGNAL_SNAPSHOT) {
                                        shim_vm_snapshot(dirfd, vm->qmp);
                                        continue;
                                }
                                if (sig == VM_SIGNAL_PAUSE || sig == VM_SIGNAL_RESUME) {
                                        log_info("QMP %s", sig == VM_SIGNAL_PAUSE ? "stop" : "cont");
                                        qmp_send(vm, sig == VM_SIGNAL_PAUSE ? "stop" : "cont");
                                        continue;
                                }
                                log_info("forwarding signal %d to the guest", sig);
                                if (vm->chan >= 0)
                                        chan_send(vm, VM_FRAME_SIGNAL, &sig, sizeof(sig));
                                if ((sig == SIGTERM || sig == SIGINT) && powerdown_at == USEC_INFINITY)
                                        powerdown_at = now_usec(CLOCK_MONOTONIC) + 5 * USEC_PER_SEC;
                        }
                }
                if (!exited && (p[3].revents & POLLIN) && waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED) >= 0) {
                        exited = true;
                        drain_until = now_usec(CLOCK_MONOTONIC) + USEC_PER_SEC;
                        powerdown_at = quit_at = USEC_INFINITY;
                }
        }
        (void)log_writer_flush(w);
        exec_chan = -1;
        vm->exec = shim_vm_exec_free(vm->exec);
        vm_kv_done(&net_keys);
        safe_close(vm->chan);
        safe_close(vm->qmp);
        safe_close(vm->con);
        safe_close(vm->console_fd);

        DriverExit ex = { .finished_at = now_usec(CLOCK_REALTIME) };
        if (vm->got_exit) {
                ex.exit_code = vm->exit_code & 0xff;
                ex.term_signal = vm->exit_signal;
                snprintf(ex.reason, sizeof(ex.reason), "%s",
                         ex.term_signal ? "Signaled" : ex.exit_code == 0 ? "Completed" : "Error");
                snprintf(ex.message, sizeof(ex.message), "%s", vm->message);
        } else if (si.si_code == CLD_KILLED || si.si_code == CLD_DUMPED) {
                ex.term_signal = si.si_status;
                ex.exit_code = 128 + si.si_status;
                snprintf(ex.reason, sizeof(ex.reason), "Signaled");
                snprintf(ex.message, sizeof(ex.message), "QEMU was killed by signal %s", strsignal(si.si_status));
        } else {
                ex.exit_code = 255;
                snprintf(ex.reason, sizeof(ex.reason), "Error");
                snprintf(ex.message, sizeof(ex.message), "the VM stopped without reporting an exit code%s%s (see console.log)",
                         vm->message[0] ? ": " : "", vm->message);
        }
        free(vm);
        json_decref(cfg);
        r = shim_exit_write(dirfd, &ex, true);
        if (r < 0) {
                log_error_errno(r, "Cannot write exit.json: %m");
                return 1;
        }
        shim_exit_reserve_release(dirfd, SHIM_EXIT_RESERVE_FILE);
        return 0;
}
