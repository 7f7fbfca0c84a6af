/* SPDX-License-Identifier: Apache-2.0 */
/* berth-shim's libvirt mode (docs/VM.md, "libvirt backend"). The shim holds
 * the libvirt connection for the whole run, as it holds QEMU in the microvm
 * backend: it defines and starts a transient, paused domain
 * (VIR_DOMAIN_START_AUTODESTROY with a libvirtd, which then destroys it
 * when the shim's connection goes), connects to the two unix sockets QEMU listens on (the
 * guest channel "berth.0" and the serial console), moves QEMU into the
 * workload's cgroup (embedded driver only), resumes the guest and then runs
 * one sd-event loop that also carries libvirt's own events
 * (drivers/vm/vm-libvirt-event.c). The guest's EXIT frame tears the domain
 * down; the run ends when libvirt reports the domain stopped or QEMU is gone.
 *
 * With the embedded driver QEMU is daemonized by libvirt and reparented to
 * the shim (a child subreaper), so its wait status says whether it was
 * killed (berthd's kill sends SIGKILL to QEMU's pid, as for microvm). A
 * reaper thread waits for it: libvirt's destroy, called on the loop thread,
 * waits for QEMU to vanish, which a zombie never does. */
#include <fcntl.h>
#include <inttypes.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <systemd/sd-event.h>

#include "drivers/shim/shim-libvirt.h"
#include "drivers/shim/shim-reserve.h"
#include "drivers/shim/shim-vm-net.h"
#include "drivers/shim/shim-vm.h"
#include "drivers/vm/vm-frame.h"
#include "drivers/vm/vm-libvirt-event.h"
#include "drivers/vm/vm-libvirt-xml.h"
#include "drivers/vm/vm-proto.h"
#include "drivers/vm/vm-qemu.h"
#include "lib/log.h"

#define CONSOLE_FILE "console.log"
#define HELLO_FILE "vm-hello"
#define QEMU_LOG_FILE "qemu.log"          /* libvirt's log of QEMU's stderr, kept after the run */
#define LIBVIRT_STATE_FILE "libvirt.json" /* uri, domain, uuid, QEMU pid: for operators and tests */
#define GRACE_USEC (5 * USEC_PER_SEC)

/* qemu.conf of an embedded driver: no virtlogd (stdio_handler), and QEMU as
 * root like the microvm backend's default: berth's root is 0700, and the
 * overlay's backing image lives under it. No security driver (no SELinux or
 * AppArmor labels: the microvm backend has none either) and no private /dev;
 * QEMU's seccomp sandbox is the same -sandbox as microvm's. libvirt leaves
 * cgroups to berth (cgroup_controllers): the shim moves QEMU itself. */
static const char embed_qemu_conf[] = "# written by berth-shim (docs/VM.md)\n"
                                      "stdio_handler = \"file\"\n"
                                      "user = \"root\"\n"
                                      "group = \"root\"\n"
                                      "dynamic_ownership = 0\n"
                                      "remember_owner = 0\n"
                                      "security_driver = \"none\"\n"
                                      "cgroup_controllers = [ ]\n"
                                      "namespaces = [ ]\n"
                                      "seccomp_sandbox = 1\n";

typedef struct Lv {
        int dirfd;
        LogWriter *w;
        const ShimConfig *c;
        sd_event *e;
        virConnectPtr conn;
        virDomainPtr dom;
        int cb_id;
        int chan, con, console_fd;
        sd_event_source *chan_src, *con_src, *sig_src, *reap_src, *drain_src;
        char cbuf[VM_FRAME_MAX + sizeof(VmFrameHeader)];
        size_t clen;
        bool got_exit, stopped, qemu_gone, have_status, term_sent;
        int32_t exit_code, exit_signal;
        int stop_detail;
        char message[256];
        uint64_t console_bytes, console_max;
        pid_t qemu_pid;
        int qemu_pidfd;
        siginfo_t qemu_si;
        int reap_pipe[2];
        const VmKv *net_keys; /* net.* CONFIG keys in bridge mode (shim-vm-net.c) */
} Lv;

/* Bridge mode: libvirt opens the tap by name (managed='no'), which a
 * non-persistent tap held by our fd would refuse (EBUSY), so the shim makes
 * it persistent, lets go of it, and deletes it when the run is over. */
typedef struct Tap {
        char name[IFNAMSIZ];
} Tap;

static void tap_delete(Tap *t)
{
        struct ifreq ifr = {};
        int fd;

        if (!t->name[0])
                return;
        fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
        if (fd < 0)
                return;
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", t->name);
        ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
        if (ioctl(fd, TUNSETIFF, &ifr) < 0 || ioctl(fd, TUNSETPERSIST, 0) < 0)
                log_error_errno(errno, "cannot delete the tap %s: %m", t->name);
        close(fd);
        t->name[0] = 0;
}

static const char *jstr(json_t *j, const char *k)
{
        return json_string_value(json_object_get(j, k));
}

static const char *lv_error(void)
{
        const char *m = virGetLastErrorMessage();
        return m ? m : "unknown libvirt error";
}

static void lv_quiet_error(void *userdata, virErrorPtr error)
{
        /* errors are reported where they matter, with virGetLastErrorMessage() */
}

static void chan_send(Lv *lv, uint32_t type, const void *data, size_t len)
{
        VmFrameHeader h = {type, (uint32_t)len};

        if (lv->chan < 0)
                return;
        (void)write_all(lv->chan, &h, sizeof(h));
        if (len)
                (void)write_all(lv->chan, data, len);
}

static int send_config(Lv *lv)
{
        VmKv kv;
        int r = shim_vm_config_payload(lv->c, lv->net_keys, &kv);

        if (r < 0)
                return r;
        chan_send(lv, VM_FRAME_CONFIG, kv.buf, kv.len);
        vm_kv_done(&kv);
        return 0;
}

/* Destroys the domain if it still runs (idempotent). Blocks until QEMU is
 * gone; the reaper thread reaps it meanwhile. */
static void lv_destroy(Lv *lv, const char *why)
{
        if (!lv->dom || lv->stopped || lv->qemu_gone || virDomainIsActive(lv->dom) != 1)
                return;
        log_info("destroying the domain: %s", why);
        if (virDomainDestroy(lv->dom) < 0)
                log_error("virDomainDestroy: %s", lv_error());
}

static int on_destroy_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        Lv *lv = userdata;

        lv_destroy(lv, lv->got_exit ? "the guest reported its exit and did not power off"
                                    : "the guest did not stop");
        return 0;
}

static int on_powerdown_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        Lv *lv = userdata;

        if (lv->stopped || lv->qemu_gone)
                return 0;
        log_info("the guest did not stop: ACPI powerdown");
        if (virDomainShutdownFlags(lv->dom, VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN) < 0)
                log_error("virDomainShutdown: %s", lv_error());
        (void)sd_event_add_time_relative(lv->e, NULL, CLOCK_MONOTONIC, GRACE_USEC, USEC_PER_MSEC,
                                         on_destroy_timer, lv);
        return 0;
}

static void on_frame(Lv *lv, uint32_t type, const char *p, uint32_t len)
{
        switch (type) {
        case VM_FRAME_HELLO: {
                char t[32];
                int n = snprintf(t, sizeof(t), "%" PRIu64 "\n", (uint64_t)now_usec(CLOCK_REALTIME));
                (void)write_file_atomic_at(lv->dirfd, HELLO_FILE, t, (size_t)n, 0644);
                log_info("guest init is up: %.*s", (int)len, p);
                if (send_config(lv) < 0)
                        log_error("cannot send the CONFIG frame");
                break;
        }
        case VM_FRAME_STDOUT:
        case VM_FRAME_STDERR:
                (void)log_writer_write(
                    lv->w, type == VM_FRAME_STDOUT ? LOG_STREAM_STDOUT : LOG_STREAM_STDERR, p, len);
                break;
        case VM_FRAME_EXIT:
                if (len >= 8 && !lv->got_exit) {
                        memcpy(&lv->exit_code, p, 4);
                        memcpy(&lv->exit_signal, p + 4, 4);
                        lv->got_exit = true;
                        /* the guest powers off by itself; tear down if it does not */
                        (void)sd_event_add_time_relative(lv->e, NULL, CLOCK_MONOTONIC, 2 * USEC_PER_SEC,
                                                         USEC_PER_MSEC, on_destroy_timer, lv);
                }
                break;
        case VM_FRAME_ERROR:
                snprintf(lv->message, sizeof(lv->message), "%.*s", (int)len, p);
                break;
        case VM_FRAME_STARTED:
                log_debug("guest command started as pid %.*s", (int)len, p);
                break;
        default:
                break;
        }
}

static void maybe_finish(Lv *lv);

static int on_chan(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        Lv *lv = userdata;
        ssize_t n = read(lv->chan, lv->cbuf + lv->clen, sizeof(lv->cbuf) - lv->clen);

        if (n < 0 && (errno == EINTR || errno == EAGAIN))
                return 0;
        if (n <= 0)
                goto eof;
        lv->clen += (size_t)n;
        while (lv->clen >= sizeof(VmFrameHeader)) {
                VmFrameHeader h;
                memcpy(&h, lv->cbuf, sizeof(h));
                if (h.len > VM_FRAME_MAX) {
                        log_error("oversize frame from the guest (%u bytes): closing the channel", h.len);
                        goto eof;
                }
                if (lv->clen < sizeof(h) + h.len)
                        break;
                on_frame(lv, h.type, lv->cbuf + sizeof(h), h.len);
                memmove(lv->cbuf, lv->cbuf + sizeof(h) + h.len, lv->clen - sizeof(h) - h.len);
                lv->clen -= sizeof(h) + h.len;
        }
        return 0;
eof:
        lv->chan_src = sd_event_source_disable_unref(lv->chan_src);
        lv->chan = safe_close(lv->chan);
        maybe_finish(lv);
        return 0;
}

/* console.log, rotated to console.log.1 at half the cap (as shim-vm.c). */
static int on_con(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        Lv *lv = userdata;
        char buf[4096];
        ssize_t n = read(lv->con, buf, sizeof(buf));

        if (n < 0 && (errno == EINTR || errno == EAGAIN))
                return 0;
        if (n <= 0) {
                lv->con_src = sd_event_source_disable_unref(lv->con_src);
                lv->con = safe_close(lv->con);
                return 0;
        }
        if (lv->console_bytes + (uint64_t)n > lv->console_max / 2) {
                lv->console_fd = safe_close(lv->console_fd);
                (void)renameat(lv->dirfd, CONSOLE_FILE, lv->dirfd, CONSOLE_FILE ".1");
                lv->console_bytes = 0;
        }
        if (lv->console_fd < 0)
                lv->console_fd = openat(lv->dirfd, CONSOLE_FILE,
                                        O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (lv->console_fd >= 0 && write_all(lv->console_fd, buf, (size_t)n) >= 0)
                lv->console_bytes += (uint64_t)n;
        return 0;
}

static int on_signal(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        Lv *lv = userdata;
        struct signalfd_siginfo ssi;

        while (read(fd, &ssi, sizeof(ssi)) == (ssize_t)sizeof(ssi)) {
                int32_t sig = (int32_t)ssi.ssi_signo;

                if (lv->stopped || lv->qemu_gone)
                        continue;
                if (sig == VM_SIGNAL_PAUSE || sig == VM_SIGNAL_RESUME) {
                        log_info("%s", sig == VM_SIGNAL_PAUSE ? "virDomainSuspend" : "virDomainResume");
                        if ((sig == VM_SIGNAL_PAUSE ? virDomainSuspend(lv->dom) : virDomainResume(lv->dom)) <
                            0)
                                log_error("%s", lv_error());
                        continue;
                }
                if (sig >= SIGRTMIN) {
                        log_info("signal %d: not supported by the libvirt backend", sig);
                        continue;
                }
                log_info("forwarding signal %d to the guest", sig);
                chan_send(lv, VM_FRAME_SIGNAL, &sig, sizeof(sig));
                if ((sig == SIGTERM || sig == SIGINT) && !lv->term_sent) {
                        lv->term_sent = true;
                        (void)sd_event_add_time_relative(lv->e, NULL, CLOCK_MONOTONIC, GRACE_USEC,
                                                         USEC_PER_MSEC, on_powerdown_timer, lv);
                }
        }
        return 0;
}

static int on_drained(sd_event_source *s, uint64_t usec, void *userdata)
{
        Lv *lv = userdata;
        return sd_event_exit(lv->e, 0);
}

/* Done once the domain is gone and the channel is drained (EOF, or 1 s). */
static void maybe_finish(Lv *lv)
{
        if (!lv->stopped && !lv->qemu_gone)
                return;
        if (lv->chan < 0) {
                (void)sd_event_exit(lv->e, 0);
                return;
        }
        if (!lv->drain_src)
                (void)sd_event_add_time_relative(lv->e, &lv->drain_src, CLOCK_MONOTONIC, USEC_PER_SEC,
                                                 USEC_PER_MSEC, on_drained, lv);
}

static int on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque)
{
        Lv *lv = opaque;
        const char *st = NULL;

        switch (event) {
        case VIR_DOMAIN_EVENT_SUSPENDED:
                st = "paused\n";
                break;
        case VIR_DOMAIN_EVENT_RESUMED:
                st = "running\n";
                break;
        case VIR_DOMAIN_EVENT_STOPPED:
                log_info("libvirt: the domain stopped (detail %d)", detail);
                lv->stopped = true;
                lv->stop_detail = detail;
                maybe_finish(lv);
                break;
        default:
                log_debug("libvirt: lifecycle event %d detail %d", event, detail);
                break;
        }
        if (st)
                (void)write_file_atomic_at(lv->dirfd, VM_RUN_STATE_FILE, st, strlen(st), 0644);
        return 0;
}

/* A libvirtd that goes away (restart, crash): the domain's QEMU lives on
 * (and is still watched through its pidfd), but no more events arrive. */
static void on_conn_close(virConnectPtr conn, int reason, void *opaque)
{
        log_error("libvirt: the connection closed (reason %d); QEMU is still watched through its pid",
                  reason);
}

static void *reaper(void *userdata)
{
        Lv *lv = userdata;
        siginfo_t si = {};

        /* QEMU is our child once libvirt's daemonizing parent exited (we are
         * a subreaper); otherwise (qemu:///system) its pidfd still says when
         * it is gone. */
        if (waitid(P_PIDFD, (id_t)lv->qemu_pidfd, &si, WEXITED) >= 0) {
                lv->qemu_si = si;
                lv->have_status = true;
        } else {
                struct pollfd p = {.fd = lv->qemu_pidfd, .events = POLLIN};
                while (poll(&p, 1, -1) < 0 && errno == EINTR)
                        ;
        }
        (void)!write(lv->reap_pipe[1], "x", 1);
        return NULL;
}

static int on_reaped(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        Lv *lv = userdata;
        char x;

        (void)!read(fd, &x, 1);
        lv->reap_src = sd_event_source_disable_unref(lv->reap_src);
        lv->qemu_gone = true;
        maybe_finish(lv);
        return 0;
}

static int connect_unix(const char *path)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        _cleanup_close_ int fd = -EBADF;

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                return -errno;
        if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0)
                return -errno;
        return TAKE_FD(fd);
}

/* The embedded driver's root: qemu.conf, and the capabilities cache shared
 * by all VMs (the first probe of QEMU costs seconds). */
static int embed_setup(const char *root, const char *cache)
{
        _cleanup_free_ char *etc = NULL, *link = NULL;
        _cleanup_close_ int fd = -EBADF;
        int r;

        if (asprintf(&etc, "%s/etc", root) < 0 || asprintf(&link, "%s/cache", root) < 0)
                return -ENOMEM;
        r = mkdir_p(etc, 0700);
        if (r < 0)
                return r;
        fd = open(etc, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        r = write_file_atomic_at(fd, "qemu.conf", embed_qemu_conf, strlen(embed_qemu_conf), 0600);
        if (r < 0)
                return r;
        if (cache && mkdir_p(cache, 0700) >= 0 && symlink(cache, link) < 0 && errno != EEXIST)
                log_debug_errno(errno, "cannot share the capabilities cache: %m");
        return 0;
}

static pid_t read_pidfile(const char *dir, const char *dom)
{
        _cleanup_free_ char *p = NULL, *s = NULL;
        long v;

        if (!dir || asprintf(&p, "%s/%s.pid", dir, dom) < 0)
                return 0;
        if (read_file_at(AT_FDCWD, p, 64, &s, NULL) < 0)
                return 0;
        v = strtol(s, NULL, 10);
        return v > 1 && v < INT32_MAX ? (pid_t)v : 0;
}

static void write_libvirt_state(Lv *lv, const char *uri, const char *dom)
{
        char uuid[VIR_UUID_STRING_BUFLEN] = "";
        json_t *j;
        char *s;

        (void)virDomainGetUUIDString(lv->dom, uuid);
        j = json_pack("{s:s, s:s, s:s, s:i, s:i}", "uri", uri, "domain", dom, "uuid", uuid, "id",
                      (int)virDomainGetID(lv->dom), "qemu_pid", (int)lv->qemu_pid);
        s = j ? json_dumps(j, JSON_COMPACT) : NULL;
        if (s)
                (void)write_file_atomic_at(lv->dirfd, LIBVIRT_STATE_FILE, s, strlen(s), 0644);
        free(s);
        json_decref(j);
}

/* After the run: keep QEMU's log. The embedded root itself goes when
 * berthd reads the exit (vm.c), after this process is gone: libvirt's last
 * worker thread may still write into it (run/qemu) as the shim exits. */
static void embed_keep_log(int dirfd, const char *root, const char *dom)
{
        _cleanup_free_ char *log = NULL;

        if (root && asprintf(&log, "%s/log/qemu/%s.log", root, dom) >= 0)
                (void)renameat(AT_FDCWD, log, dirfd, QEMU_LOG_FILE);
}

static void block_signals(sigset_t *mask)
{
        sigemptyset(mask);
        /* every real-time signal: berthd's requests (pause, resume; a snapshot
         * request, which the driver refuses for this backend anyway) */
        for (int s = SIGRTMIN; s <= SIGRTMAX; s++)
                sigaddset(mask, s);
        for (int s = 1; s < 32; s++)
                if (s != SIGKILL && s != SIGSTOP && s != SIGCHLD && s != SIGSEGV && s != SIGBUS &&
                    s != SIGFPE && s != SIGILL && s != SIGABRT && s != SIGPIPE)
                        sigaddset(mask, s);
        /* before libvirt starts its threads, so that they inherit the mask */
        sigprocmask(SIG_BLOCK, mask, NULL);
}

/* Start failures after the domain exists: destroy it, then fail_start(). */
#define FAIL(code, err, ...)                                                                                \
        do {                                                                                                \
                if (lv->dom && virDomainIsActive(lv->dom) == 1)                                             \
                        (void)virDomainDestroy(lv->dom);                                                    \
                return fail_start(dirfd, w, notify_fd, code, err, __VA_ARGS__);                             \
        } while (0)

int shim_libvirt_run(int dirfd, const ShimConfig *c, LogWriter *w, const CgroupOps *cg, int *notify_fd,
                     json_t *cfg)
{
        const char *uri = jstr(cfg, "libvirt_uri"), *root = jstr(cfg, "libvirt_embed_root"),
                   *dom = jstr(cfg, "domain"), *xml = jstr(cfg, "domain_xml"),
                   *chan_path = jstr(cfg, "channel_path"), *con_path = jstr(cfg, "console_path");
        bool owned = json_is_true(json_object_get(cfg, "libvirt_owns_root"));
        _cleanup_close_ int sfd = -EBADF;
        _cleanup_(tap_delete) Tap tap = {};
        _cleanup_free_ char *xml_net = NULL;
        VmKv net_keys = {.max = VM_FRAME_MAX};
        pthread_t reaper_thread;
        char *caps;
        ShimState st = {};
        sigset_t mask;
        Lv *lv;
        int r;

        if (!uri || !dom || !xml || !chan_path || !con_path)
                return fail_start(dirfd, w, notify_fd, 126, EBADMSG,
                                  "vm.json: the libvirt backend's fields are missing");
        lv = calloc(1, sizeof(*lv));
        if (!lv)
                return fail_start(dirfd, w, notify_fd, 126, ENOMEM, "out of memory");
        *lv = (Lv){.dirfd = dirfd,
                   .w = w,
                   .c = c,
                   .chan = -EBADF,
                   .con = -EBADF,
                   .console_fd = -EBADF,
                   .qemu_pidfd = -EBADF,
                   .cb_id = -1,
                   .reap_pipe = {-EBADF, -EBADF},
                   .console_max = (uint64_t)json_integer_value(json_object_get(cfg, "console_max"))};
        if (lv->console_max < 8192)
                lv->console_max = VM_CONSOLE_MAX;

        if (root) {
                r = embed_setup(root, jstr(cfg, "libvirt_cache"));
                if (r < 0)
                        return fail_start(dirfd, w, notify_fd, 126, -r,
                                          "libvirt: prepare the embedded root %s: %s", root, strerror(-r));
        }
        if (json_is_true(json_object_get(cfg, "tap"))) {
                _cleanup_close_ int tfd = -EBADF;

                r = shim_vm_net_open(dirfd, jstr(cfg, "mac"), &tfd, tap.name, &net_keys);
                if (r >= 0 && ioctl(tfd, TUNSETPERSIST, 1) < 0)
                        r = -errno;
                if (r >= 0)
                        r = vm_libvirt_xml_add_tap(xml, tap.name, jstr(cfg, "mac"), &xml_net);
                if (r < 0)
                        return fail_start(dirfd, w, notify_fd, 126, -r, "bridge network: tap: %s",
                                          strerror(-r));
                log_info("tap %s on the bridge", tap.name);
                lv->net_keys = &net_keys;
                xml = xml_net;
        }
        (void)unlinkat(dirfd, "chan.sock", 0);
        (void)unlinkat(dirfd, "con.sock", 0);
        block_signals(&mask);
        sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        if (sfd < 0)
                return fail_start(dirfd, w, notify_fd, 126, errno, "signalfd: %m");

        r = sd_event_new(&lv->e);
        if (r >= 0)
                r = vm_libvirt_event_register(lv->e);
        if (r < 0)
                return fail_start(dirfd, w, notify_fd, 126, -r, "libvirt event loop: %s", strerror(-r));
        virSetErrorFunc(NULL, lv_quiet_error);
        if (virInitialize() < 0)
                return fail_start(dirfd, w, notify_fd, 126, EIO, "libvirt: %s", lv_error());
        lv->conn = virConnectOpen(uri);
        if (!lv->conn)
                return fail_start(dirfd, w, notify_fd, 126, EIO, "libvirt: cannot connect to %s: %s", uri,
                                  lv_error());
        (void)virConnectRegisterCloseCallback(lv->conn, on_conn_close, lv, NULL);
        lv->cb_id = virConnectDomainEventRegisterAny(lv->conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                                     VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle), lv, NULL);
        if (lv->cb_id < 0)
                return fail_start(dirfd, w, notify_fd, 126, EIO, "libvirt: domain events: %s", lv_error());

        /* QEMU's capabilities, probed now (once per QEMU binary, then from the
         * shared cache), while we are not yet a subreaper: the probe's QEMU
         * daemonizes, and libvirt waits for it to vanish after killing it,
         * which it would never do as our unreaped zombie. */
        caps = virConnectGetDomainCapabilities(lv->conn, NULL, "x86_64", "q35",
                                               streq_ptr(jstr(cfg, "accel"), "kvm") ? "kvm" : "qemu", 0);
        if (!caps)
                log_debug("libvirt: domain capabilities: %s", lv_error());
        free(caps);
        /* From here QEMU, daemonized by the embedded driver, is reparented to
         * us: its wait status tells a kill from a shutdown. */
        (void)prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);

        /* A domain of ours left behind by a run whose shim died. */
        lv->dom = virDomainLookupByName(lv->conn, dom);
        if (lv->dom) {
                log_info("destroying the leftover domain %s", dom);
                if (virDomainIsActive(lv->dom) == 1)
                        (void)virDomainDestroy(lv->dom);
                (void)virDomainUndefine(lv->dom);
                virDomainFree(lv->dom);
        }
        virResetLastError();

        /* A libvirtd destroys the domain when our connection goes (the shim
         * died); an embedded driver has no such notion and dies with us. */
        lv->dom = virDomainCreateXML(lv->conn, xml,
                                     VIR_DOMAIN_START_PAUSED | (root ? 0 : VIR_DOMAIN_START_AUTODESTROY));
        if (!lv->dom)
                return fail_start(dirfd, w, notify_fd, 126, EIO, "libvirt: cannot start the domain %s: %s",
                                  dom, lv_error());
        log_info("domain %s started (paused) through %s", dom, uri);
        lv->qemu_pid = read_pidfile(jstr(cfg, "libvirt_pid_dir"), dom);
        if (lv->qemu_pid > 0) {
                lv->qemu_pidfd = pidfd_open(lv->qemu_pid, 0);
                if (lv->qemu_pidfd < 0)
                        FAIL(126, errno, "libvirt: QEMU (pid %d) is gone: %m", (int)lv->qemu_pid);
                if (root && owned) {
                        r = cg ? cg->attach(c->cgroup_root, c->cgroup_parent, c->name, lv->qemu_pid)
                               : -EOPNOTSUPP;
                        if (r < 0)
                                FAIL(126, -r, "join cgroup: %s", strerror(-r));
                }
                if (pipe2(lv->reap_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
                        FAIL(126, errno, "pipe: %m");
                r = pthread_create(&reaper_thread, NULL, reaper, lv);
                if (r != 0)
                        FAIL(126, r, "reaper thread: %s", strerror(r));
                (void)pthread_detach(reaper_thread);
                r = sd_event_add_io(lv->e, &lv->reap_src, lv->reap_pipe[0], EPOLLIN, on_reaped, lv);
                if (r < 0)
                        FAIL(126, -r, "sd-event: %s", strerror(-r));
        } else
                log_info("QEMU's pid is unknown for %s: relying on libvirt's events", uri);

        lv->chan = connect_unix(chan_path);
        if (lv->chan < 0)
                FAIL(126, -lv->chan, "connect to the guest channel %s: %s", chan_path, strerror(-lv->chan));
        lv->con = connect_unix(con_path);
        if (lv->con < 0)
                FAIL(126, -lv->con, "connect to the console %s: %s", con_path, strerror(-lv->con));
        r = sd_event_add_io(lv->e, &lv->chan_src, lv->chan, EPOLLIN, on_chan, lv);
        if (r >= 0)
                r = sd_event_add_io(lv->e, &lv->con_src, lv->con, EPOLLIN, on_con, lv);
        if (r >= 0)
                r = sd_event_add_io(lv->e, &lv->sig_src, sfd, EPOLLIN, on_signal, lv);
        if (r < 0)
                FAIL(126, -r, "sd-event: %s", strerror(-r));

        st.shim_pid = getpid();
        st.pid = lv->qemu_pid;
        st.started_at = now_usec(CLOCK_REALTIME);
        (void)proc_start_time(st.shim_pid, &st.shim_start_time);
        if (lv->qemu_pid > 0)
                (void)proc_start_time(lv->qemu_pid, &st.pid_start_time);
        (void)read_boot_id(st.boot_id);
        r = shim_state_write(dirfd, &st);
        if (r < 0)
                FAIL(126, -r, "write state.json: %s", strerror(-r));
        write_libvirt_state(lv, uri, dom);
        if (virDomainResume(lv->dom) < 0)
                FAIL(126, EIO, "libvirt: cannot resume the domain: %s", lv_error());
        notify(notify_fd, true, 0, lv->qemu_pid, NULL);
        shim_exit_reserve(dirfd); /* exit.json can be written on a full disk */

        r = sd_event_loop(lv->e);
        if (r < 0)
                log_error_errno(r, "event loop: %m");

        lv_destroy(lv, "the run is over");
        (void)log_writer_flush(w);
        lv->chan_src = sd_event_source_disable_unref(lv->chan_src);
        lv->con_src = sd_event_source_disable_unref(lv->con_src);
        lv->sig_src = sd_event_source_disable_unref(lv->sig_src);
        safe_close(lv->chan);
        safe_close(lv->con);
        safe_close(lv->console_fd);
        if (lv->cb_id >= 0)
                (void)virConnectDomainEventDeregisterAny(lv->conn, lv->cb_id);
        virDomainFree(lv->dom);
        (void)virConnectClose(lv->conn);
        (void)unlinkat(dirfd, "chan.sock", 0);
        (void)unlinkat(dirfd, "con.sock", 0);
        embed_keep_log(dirfd, root, dom);

        DriverExit ex = {.finished_at = now_usec(CLOCK_REALTIME)};
        if (lv->got_exit) {
                ex.exit_code = lv->exit_code & 0xff;
                ex.term_signal = lv->exit_signal;
                snprintf(ex.reason, sizeof(ex.reason), "%s",
                         ex.term_signal      ? "Signaled"
                         : ex.exit_code == 0 ? "Completed"
                                             : "Error");
                snprintf(ex.message, sizeof(ex.message), "%s", lv->message);
        } else if (lv->have_status &&
                   (lv->qemu_si.si_code == CLD_KILLED || lv->qemu_si.si_code == CLD_DUMPED)) {
                ex.term_signal = lv->qemu_si.si_status;
                ex.exit_code = 128 + lv->qemu_si.si_status;
                snprintf(ex.reason, sizeof(ex.reason), "Signaled");
                snprintf(ex.message, sizeof(ex.message), "QEMU was killed by signal %s",
                         strsignal(lv->qemu_si.si_status));
        } else {
                ex.exit_code = 255;
                snprintf(ex.reason, sizeof(ex.reason), "Error");
                snprintf(ex.message, sizeof(ex.message),
                         "the VM stopped without reporting an exit code (libvirt stop detail %d)%s%s (see "
                         "console.log, "
                         "qemu.log)",
                         lv->stop_detail, lv->message[0] ? ": " : "", lv->message);
        }
        r = shim_exit_write(dirfd, &ex, true);
        if (r < 0) {
                log_error_errno(r, "Cannot write exit.json: %m");
                return 1;
        }
        shim_exit_reserve_release(dirfd, SHIM_EXIT_RESERVE_FILE);
        /* the reaper thread may still wait for a QEMU that is not our child: exit, do not free lv */
        return 0;
}
