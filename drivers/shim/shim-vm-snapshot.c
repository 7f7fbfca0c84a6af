/* SPDX-License-Identifier: Apache-2.0 */
/* VM snapshot and restore, berth-shim's side (docs/VM.md "Snapshots").
 *
 * Snapshot, with the guest stopped so that memory and disk are one instant:
 *   1. the active overlay (workloads/<name>/disk.qcow2) is hardlinked into
 *      the layer store as the new layer: from now on it is never written;
 *   2. a new empty overlay on top of it (qemu-img create -u, O(1)) is
 *      handed to QEMU through an fdset (add-fd over QMP with SCM_RIGHTS)
 *      and made the active image (blockdev-add with file.locking=off, then
 *      blockdev-snapshot),
 *      then renamed over disk.qcow2;
 *   3. the device and memory state goes to <dir>/state.mig with migrate to
 *      an fd passed by getfd (no exec: migration, the sandbox forbids it);
 *   4. fsync, cont if it was running, and result.json written last.
 * At every moment the layer is reachable from workloads/<name>/disk.qcow2
 * (same inode, then through the overlay's backing name), which is what the
 * layer GC of drivers/vm/vm-snapshot.c relies on. */
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <limits.h>
#include <time.h>

#include "drivers/net/net.h"
#include "drivers/shim/shim-vm-snapshot.h"
#include "drivers/shim/shim-vm.h"
#include "drivers/vm/vm-frame.h"
#include "drivers/vm/vm-qemu.h"
#include "lib/log.h"

#define QMP_TIMEOUT_USEC (60 * USEC_PER_SEC)
#define MIGRATE_TIMEOUT_USEC (600 * USEC_PER_SEC)

typedef struct Qmp {
        int fd;
        int dirfd; /* workload dir, for vm-run-state */
        char buf[16384];
        size_t len;
} Qmp;

static int qmp_write(Qmp *q, const char *line, int pass_fd)
{
        union {
                char buf[CMSG_SPACE(sizeof(int))];
                struct cmsghdr align;
        } u = {};
        struct iovec iov = {(void *)line, strlen(line)};
        struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
        ssize_t n;

        if (q->fd < 0)
                return -EPIPE;
        if (pass_fd >= 0) {
                struct cmsghdr *c;
                msg.msg_control = u.buf;
                msg.msg_controllen = sizeof(u.buf);
                c = CMSG_FIRSTHDR(&msg);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(sizeof(int));
                memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
        }
        do
                n = sendmsg(q->fd, &msg, MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        if ((size_t)n < iov.iov_len)
                return write_all(q->fd, line + n, iov.iov_len - (size_t)n);
        return 0;
}

/* Next complete JSON line; events are handled on the way (STOP/RESUME ->
 * vm-run-state, as the main loop does). -ETIMEDOUT, -EPIPE at EOF. */
static int qmp_line(Qmp *q, usec_t deadline, json_t **ret)
{
        for (;;) {
                char *nl = memchr(q->buf, '\n', q->len);
                if (nl) {
                        *nl = 0;
                        json_t *j = json_loads(q->buf, 0, NULL);
                        size_t used = (size_t)(nl + 1 - q->buf);
                        memmove(q->buf, nl + 1, q->len - used);
                        q->len -= used;
                        if (!j)
                                continue;
                        *ret = j;
                        return 0;
                }
                if (q->len >= sizeof(q->buf) - 1)
                        q->len = 0; /* an over-long line: drop it */
                usec_t now = now_usec(CLOCK_MONOTONIC);
                if (now >= deadline)
                        return -ETIMEDOUT;
                struct pollfd p = {.fd = q->fd, .events = POLLIN};
                int r = poll(&p, 1, (int)((deadline - now) / USEC_PER_MSEC) + 1);
                if (r < 0 && errno != EINTR)
                        return -errno;
                if (r <= 0)
                        continue;
                ssize_t n = read(q->fd, q->buf + q->len, sizeof(q->buf) - 1 - q->len);
                if (n < 0 && (errno == EINTR || errno == EAGAIN))
                        continue;
                if (n <= 0)
                        return n < 0 ? -errno : -EPIPE;
                q->len += (size_t)n;
        }
}

static void qmp_event(Qmp *q, json_t *j)
{
        const char *ev = json_string_value(json_object_get(j, "event"));

        if (!ev)
                return;
        log_info("QMP event %s", ev);
        if (streq(ev, "STOP") || streq(ev, "RESUME")) {
                const char *st = streq(ev, "STOP") ? "paused\n" : "running\n";
                (void)write_file_atomic_at(q->dirfd, VM_RUN_STATE_FILE, st, strlen(st), 0644);
        }
}

/* Executes cmd (a JSON object, stolen) and waits for its reply. *ret gets
 * the "return" member (new reference) when ret is set. */
static int qmp_exec(Qmp *q, json_t *cmd, int pass_fd, json_t **ret, char *why, size_t why_size)
{
        _cleanup_free_ char *s = NULL, *line = NULL;
        usec_t deadline = now_usec(CLOCK_MONOTONIC) + QMP_TIMEOUT_USEC;
        const char *name = json_string_value(json_object_get(cmd, "execute"));
        int r;

        s = cmd ? json_dumps(cmd, JSON_COMPACT) : NULL;
        name = name ? name : "?";
        if (!s || asprintf(&line, "%s\n", s) < 0) {
                json_decref(cmd);
                return -ENOMEM;
        }
        r = qmp_write(q, line, pass_fd);
        if (r < 0) {
                snprintf(why, why_size, "QMP %s: %s", name, strerror(-r));
                json_decref(cmd);
                return r;
        }
        for (;;) {
                json_t *j = NULL;
                r = qmp_line(q, deadline, &j);
                if (r < 0) {
                        snprintf(why, why_size, "QMP %s: %s", name,
                                 r == -EPIPE ? "QEMU went away" : strerror(-r));
                        break;
                }
                json_t *e = json_object_get(j, "error");
                if (e) {
                        snprintf(why, why_size, "QMP %s: %s", name,
                                 json_string_value(json_object_get(e, "desc")) ?: "error");
                        json_decref(j);
                        r = -EIO;
                        break;
                }
                if (json_object_get(j, "return")) {
                        if (ret)
                                *ret = json_incref(json_object_get(j, "return"));
                        json_decref(j);
                        r = 0;
                        break;
                }
                qmp_event(q, j);
                json_decref(j);
        }
        json_decref(cmd);
        return r;
}

#define QMP(q, fd, ret, why, ...) qmp_exec(q, json_pack(__VA_ARGS__), fd, ret, why, sizeof(why))

/* Polls query-migrate until completed (0) or failed. */
static int qmp_migrate_wait(Qmp *q, char *why, size_t why_size)
{
        usec_t deadline = now_usec(CLOCK_MONOTONIC) + MIGRATE_TIMEOUT_USEC;

        for (;;) {
                json_t *info = NULL;
                const char *st;
                int r =
                    qmp_exec(q, json_pack("{s:s}", "execute", "query-migrate"), -1, &info, why, why_size);
                if (r < 0)
                        return r;
                st = json_string_value(json_object_get(info, "status"));
                if (st && streq(st, "completed")) {
                        json_decref(info);
                        return 0;
                }
                if (st && (streq(st, "failed") || streq(st, "cancelled"))) {
                        snprintf(why, why_size, "migration %s: %s", st,
                                 json_string_value(json_object_get(info, "error-desc")) ?: "no detail");
                        json_decref(info);
                        return -EIO;
                }
                json_decref(info);
                if (now_usec(CLOCK_MONOTONIC) >= deadline) {
                        snprintf(why, why_size, "migration did not complete in time");
                        return -ETIMEDOUT;
                }
                (void)usleep(2000);
        }
}

/* qcow2 header: magic "QFI\xfb", virtual size (big-endian) at offset 24. */
static int qcow2_virtual_size(int fd, uint64_t *ret)
{
        unsigned char h[32];

        if (pread(fd, h, sizeof(h), 0) != (ssize_t)sizeof(h))
                return -EIO;
        if (memcmp(h, "QFI\xfb", 4) != 0)
                return -EMEDIUMTYPE;
        *ret = 0;
        for (int i = 0; i < 8; i++)
                *ret = (*ret << 8) | h[24 + i];
        return 0;
}

static int dir_path(int dirfd, char *buf, size_t size)
{
        char link[64];
        ssize_t n;

        snprintf(link, sizeof(link), "/proc/self/fd/%d", dirfd);
        n = readlink(link, buf, size - 1);
        if (n <= 0)
                return -errno;
        buf[n] = 0;
        return 0;
}

/* Steps 1 and 2: freeze the active overlay as the layer under a new one. */
static int switch_disk(Qmp *q, int dirfd, const char *layer, char *why, size_t why_size)
{
        static unsigned fdset = 100; /* fdset 1 is the boot disk's */
        _cleanup_close_ int cur = -EBADF, rw = -EBADF, ro = -EBADF, ldir = -EBADF;
        char wdir[PATH_MAX], next[PATH_MAX + 32], size[32], sfile[48], node[48], lpath[PATH_MAX], w2[256];
        bool added = false;
        uint64_t vsize;
        int r;

        r = dir_path(dirfd, wdir, sizeof(wdir));
        if (r < 0)
                return r;
        cur = openat(dirfd, "disk.qcow2", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (cur < 0 || qcow2_virtual_size(cur, &vsize) < 0) {
                snprintf(why, why_size, "the active overlay disk.qcow2 cannot be read");
                return cur < 0 ? -errno : -EIO;
        }
        if (linkat(dirfd, "disk.qcow2", AT_FDCWD, layer, 0) < 0) {
                r = -errno;
                snprintf(why, why_size, "link the layer %s: %m", layer);
                return r;
        }
        snprintf(next, sizeof(next), "%s/disk.qcow2.next", wdir);
        snprintf(size, sizeof(size), "%" PRIu64, vsize);
        (void)unlinkat(dirfd, "disk.qcow2.next", 0);
        char *argv[] = {"qemu-img", "create", "-q",          "-f", "qcow2", "-u", "-F",
                        "qcow2",    "-b",     (char *)layer, next, size,    NULL};
        r = shim_run_wait(argv);
        if (r < 0) {
                snprintf(why, why_size, "qemu-img create of the new overlay failed");
                goto undo;
        }
        rw = openat(dirfd, "disk.qcow2.next", O_RDWR | O_CLOEXEC | O_NOFOLLOW);
        ro = openat(dirfd, "disk.qcow2.next", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (rw < 0 || ro < 0) {
                r = -errno;
                snprintf(why, why_size, "open the new overlay: %m");
                goto undo;
        }
        fdset++;
        r = qmp_exec(
            q, json_pack("{s:s, s:{s:I}}", "execute", "add-fd", "arguments", "fdset-id", (json_int_t)fdset),
            rw, NULL, why, why_size);
        if (r >= 0)
                r = qmp_exec(q,
                             json_pack("{s:s, s:{s:I}}", "execute", "add-fd", "arguments", "fdset-id",
                                       (json_int_t)fdset),
                             ro, NULL, why, why_size);
        snprintf(sfile, sizeof(sfile), "/dev/fdset/%u", fdset);
        snprintf(node, sizeof(node), "berth-ovl-%u", fdset);
        /* blockdev-add + blockdev-snapshot rather than blockdev-snapshot-sync:
         * the overlay needs file.locking=off like the boot disk (QEMU's
         * reactivation after the migration would otherwise trip over the
         * read-only fd of the same fdset: "Failed to get write lock"). */
        if (r >= 0)
                r = qmp_exec(q,
                             json_pack("{s:s, s:{s:s, s:s, s:{s:s, s:s, s:s}, s:n}}", "execute",
                                       "blockdev-add", "arguments", "driver", "qcow2", "node-name", node,
                                       "file", "driver", "file", "filename", sfile, "locking", "off",
                                       "backing"),
                             -1, NULL, why, why_size);
        added = r >= 0;
        if (r >= 0)
                r = qmp_exec(q,
                             json_pack("{s:s, s:{s:s, s:s}}", "execute", "blockdev-snapshot", "arguments",
                                       "node", "root", "overlay", node),
                             -1, NULL, why, why_size);
        /* The fds stay open in QEMU as long as the node uses them. */
        (void)qmp_exec(
            q,
            json_pack("{s:s, s:{s:I}}", "execute", "remove-fd", "arguments", "fdset-id", (json_int_t)fdset),
            -1, NULL, w2, sizeof(w2));
        if (r < 0)
                goto undo;
        /* QEMU now writes the new overlay only; the layer is frozen. */
        if (renameat(dirfd, "disk.qcow2.next", dirfd, "disk.qcow2") < 0) {
                /* QEMU runs on it anyway; the name only matters to the GC. */
                log_warning("rename the new overlay into place: %m");
        }
        if (fsync(cur) < 0 || fsync(dirfd) < 0)
                log_warning("fsync the layer: %m");
        /* the layer's name in the store is durable too */
        snprintf(lpath, sizeof(lpath), "%s", layer);
        if (strrchr(lpath, '/'))
                *strrchr(lpath, '/') = 0;
        ldir = open(lpath, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (ldir < 0 || fsync(ldir) < 0)
                log_warning("fsync %s: %m", lpath);
        return 0;
undo:
        if (added)
                (void)qmp_exec(
                    q,
                    json_pack("{s:s, s:{s:s}}", "execute", "blockdev-del", "arguments", "node-name", node),
                    -1, NULL, w2, sizeof(w2));
        (void)unlinkat(dirfd, "disk.qcow2.next", 0);
        (void)unlink(layer);
        return r < 0 ? r : -EIO;
}

static void write_result(const char *dir, json_t *res)
{
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        _cleanup_free_ char *s = json_dumps(res, JSON_COMPACT);
        int r;

        if (dfd < 0 || !s) {
                log_warning("cannot record the snapshot result in %s (gone?)", dir);
                return;
        }
        r = write_file_atomic_at(dfd, SHIM_VM_SNAPSHOT_RESULT, s, strlen(s), 0600);
        if (r < 0)
                log_warning("write %s/%s: %s", dir, SHIM_VM_SNAPSHOT_RESULT, strerror(-r));
}

void shim_vm_snapshot(int dirfd, int qmp)
{
        _cleanup_free_ char *req = NULL;
        _cleanup_close_ int sfd = -EBADF, tfd = -EBADF;
        Qmp *q = NULL;
        json_t *jreq = NULL, *st = NULL, *res = NULL;
        const char *dir = NULL, *layer = NULL;
        char why[512] = "";
        bool was_running = false, stopped = false;
        struct stat ss = {}, ls = {};
        int r;

        r = read_file_at(dirfd, SHIM_VM_SNAPSHOT_REQUEST, 64 * 1024, &req, NULL);
        (void)unlinkat(dirfd, SHIM_VM_SNAPSHOT_REQUEST, 0);
        if (r < 0) {
                log_warning("snapshot signal without a request: %s", strerror(-r));
                return;
        }
        jreq = json_loads(req, 0, NULL);
        dir = json_string_value(json_object_get(jreq, "dir"));
        layer = json_string_value(json_object_get(jreq, "layer"));
        if (!dir || !layer || dir[0] != '/' || layer[0] != '/' || strstr(dir, "/../") ||
            strstr(layer, "/../")) {
                log_warning("malformed snapshot request");
                json_decref(jreq);
                return;
        }
        log_info("snapshot into %s", dir);
        q = calloc(1, sizeof(*q));
        if (!q) {
                snprintf(why, sizeof(why), "out of memory");
                r = -ENOMEM;
                goto out;
        }
        q->fd = qmp;
        q->dirfd = dirfd;
        tfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (tfd < 0) {
                r = -errno;
                snprintf(why, sizeof(why), "open %s: %m", dir);
                goto out;
        }
        r = qmp_exec(q, json_pack("{s:s}", "execute", "query-status"), -1, &st, why, sizeof(why));
        if (r < 0)
                goto out;
        was_running = json_is_true(json_object_get(st, "running"));
        if (was_running) {
                r = qmp_exec(q, json_pack("{s:s}", "execute", "stop"), -1, NULL, why, sizeof(why));
                if (r < 0)
                        goto out;
                stopped = true;
        }
        r = switch_disk(q, dirfd, layer, why, sizeof(why));
        if (r < 0)
                goto out;
        sfd =
            openat(tfd, SHIM_VM_SNAPSHOT_STATE, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (sfd < 0) {
                r = -errno;
                snprintf(why, sizeof(why), "create %s: %m", SHIM_VM_SNAPSHOT_STATE);
                goto out;
        }
        r = QMP(q, -1, NULL, why, "{s:s, s:{s:I}}", "execute", "migrate-set-parameters", "arguments",
                "max-bandwidth", (json_int_t)(INT64_C(1) << 40));
        if (r >= 0)
                r = QMP(q, sfd, NULL, why, "{s:s, s:{s:s}}", "execute", "getfd", "arguments", "fdname",
                        "berth-snap");
        if (r >= 0)
                r = QMP(q, -1, NULL, why, "{s:s, s:{s:s}}", "execute", "migrate", "arguments", "uri",
                        "fd:berth-snap");
        if (r >= 0)
                r = qmp_migrate_wait(q, why, sizeof(why));
        if (r < 0)
                goto out;
        if (fsync(sfd) < 0 || fstat(sfd, &ss) < 0 || stat(layer, &ls) < 0) {
                r = -errno;
                snprintf(why, sizeof(why), "fsync the state: %m");
                goto out;
        }
        (void)fsync(tfd);
out:
        if (stopped) {
                char w2[256];
                if (qmp_exec(q, json_pack("{s:s}", "execute", "cont"), -1, NULL, w2, sizeof(w2)) < 0)
                        log_error("cannot resume the VM after the snapshot: %s", w2);
        }
        if (r < 0) {
                log_error("snapshot failed: %s", why);
                res = json_pack("{s:b, s:s}", "ok", false, "error", why[0] ? why : strerror(-r));
        } else {
                log_info("snapshot done: %" PRIu64 " bytes of state, layer %s", (uint64_t)ss.st_size, layer);
                res = json_pack("{s:b, s:s, s:I, s:I, s:b}", "ok", true, "layer", layer, "memoryBytes",
                                (json_int_t)ss.st_size, "diskBytes", (json_int_t)ls.st_blocks * 512,
                                "wasRunning", was_running);
        }
        if (res && dir)
                write_result(dir, res);
        json_decref(res);
        json_decref(st);
        json_decref(jreq);
        free(q);
}

int shim_vm_restore(int dirfd, int qmp, const char *state_path, char *why, size_t why_size)
{
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ Qmp *q = calloc(1, sizeof(Qmp));
        usec_t t0 = now_usec(CLOCK_MONOTONIC), deadline = t0 + QMP_TIMEOUT_USEC, t1 = 0, t2;
        json_t *j = NULL, *st = NULL;
        int r;

        if (!q)
                return -ENOMEM;
        q->fd = qmp;
        q->dirfd = dirfd;
        fd = open(state_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0) {
                r = -errno;
                snprintf(why, why_size, "open %s: %m", state_path);
                return r;
        }
        /* greeting */
        for (;;) {
                r = qmp_line(q, deadline, &j);
                if (r < 0) {
                        snprintf(why, why_size, "no QMP greeting: %s", strerror(-r));
                        return r;
                }
                bool greeting = json_object_get(j, "QMP") != NULL;
                json_decref(j);
                if (greeting)
                        break;
        }
        t1 = now_usec(CLOCK_MONOTONIC);
        r = qmp_exec(q, json_pack("{s:s}", "execute", "qmp_capabilities"), -1, NULL, why, why_size);
        if (r >= 0)
                r = qmp_exec(
                    q,
                    json_pack("{s:s, s:{s:s}}", "execute", "getfd", "arguments", "fdname", "berth-restore"),
                    fd, NULL, why, why_size);
        if (r >= 0)
                r = qmp_exec(q,
                             json_pack("{s:s, s:{s:s}}", "execute", "migrate-incoming", "arguments", "uri",
                                       "fd:berth-restore"),
                             -1, NULL, why, why_size);
        if (r >= 0)
                r = qmp_migrate_wait(q, why, why_size);
        if (r < 0)
                return r;
        /* The stream carries the source's run state (stopped for the
         * snapshot): start the guest unless QEMU already did. */
        r = qmp_exec(q, json_pack("{s:s}", "execute", "query-status"), -1, &st, why, why_size);
        if (r >= 0 && !json_is_true(json_object_get(st, "running")))
                r = qmp_exec(q, json_pack("{s:s}", "execute", "cont"), -1, NULL, why, why_size);
        json_decref(st);
        t2 = now_usec(CLOCK_MONOTONIC);
        if (r >= 0)
                log_info("restored: QEMU up in %" PRIu64 " ms, state loaded and running after %" PRIu64 " ms more",
                         (t1 - t0) / USEC_PER_MSEC, (t2 - t1) / USEC_PER_MSEC);
        return r;
}

int shim_vm_restore_net_payload(int dirfd, char **ret, size_t *ret_len)
{
        NetAttach na = {};
        VmKv kv = {};
        char mac[18];
        int r;

        r = net_attach_read(dirfd, &na); /* this workload's own address (its prepare()) */
        if (r < 0)
                return r;
        r = vm_net_kv(&kv, "", vm_net_mac(na.addr, mac), na.addr, na.prefixlen, na.gateway);
        if (r < 0) {
                vm_kv_done(&kv);
                return r;
        }
        *ret = kv.buf;
        *ret_len = kv.len;
        return 0;
}
