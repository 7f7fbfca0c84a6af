/* SPDX-License-Identifier: Apache-2.0 */
/* VM snapshots, the driver's side (vm-snapshot.h, docs/VM.md "Snapshots").
 * The shim does the QMP work (drivers/shim/shim-vm-snapshot.c); here:
 * asking it (a request file and VM_SIGNAL_SNAPSHOT), reading its result,
 * turning a new workload into a restore of a snapshot, and the garbage
 * collection of disk layers.
 *
 * Layer GC is mark and sweep by inode: the roots are the layer named in
 * every snapshot directory's result.json (finished or still in a temp
 * directory), every workload's disk.qcow2 and every workload's
 * vm-restore.json; from each root the qcow2 backing names are followed
 * while they point into the layer store. A layer no root reaches is removed.
 * A snapshot in progress is always reachable from its workload's disk.qcow2
 * (the shim hardlinks before it switches), so the GC never races it. */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <time.h>

#include "drivers/container/container-files.h"
#include "drivers/shim/shim-vm-snapshot.h"
#include "drivers/vm/vm-qemu.h"
#include "drivers/vm/vm-snapshot.h"
#include "lib/log.h"

#define LAYER_CHAIN_MAX 256
#define GC_MARKS_MAX 65536

/* One armed restore at a time: arm, create (synchronous), disarm. */
static char *armed_name, *armed_state, *armed_layer;

static int signal_shim(int dfd, int signo)
{
        _cleanup_close_ int fd = -EBADF;
        ShimState s;
        uint64_t st;
        int r;

        r = shim_state_read(dfd, &s);
        if (r < 0)
                return r;
        if (s.shim_pid <= 0)
                return -ESRCH;
        fd = pidfd_open(s.shim_pid, 0);
        if (fd < 0)
                return -errno;
        r = proc_start_time(s.shim_pid, &st);
        if (r < 0)
                return r;
        if (st != s.shim_start_time)
                return -ESRCH;
        return pidfd_send_signal(fd, signo, NULL, 0) < 0 ? -errno : 0;
}

/* Snapshots need QMP in berth-shim: the microvm backend only. cfg (vm.json
 * being written) or the workload's vm.json. */
static int backend_check(int dfd, json_t *cfg, BerthError *err)
{
        _cleanup_free_ char *s = NULL;
        const char *b;
        json_t *j = cfg;
        int r = 0;

        if (!j) {
                if (read_file_at(dfd, "vm.json", 1024 * 1024, &s, NULL) < 0)
                        return 0; /* the shim finds out */
                j = json_loads(s, 0, NULL);
        }
        b = json_string_value(json_object_get(j, "backend"));
        if (b && !streq(b, "microvm"))
                r = berth_error_set(err, -EOPNOTSUPP, "spec.vm.backend",
                                    "snapshots and restores need the microvm backend (this VM runs under %s)", b);
        if (j != cfg)
                json_decref(j);
        return r;
}

int vm_snapshot_begin(Driver *d, const char *name, const char *tmp_dir, BerthError *err)
{
        _cleanup_close_ int dfd = -EBADF;
        _cleanup_free_ char *layers = NULL, *layer = NULL, *s = NULL;
        const char *base = strrchr(tmp_dir, '/');
        json_t *j;
        int r;

        dfd = openat(vm_driver_workloads_fd(d), name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (dfd < 0)
                return berth_error_set(err, -errno, "", "cannot open the workload directory: %m");
        r = backend_check(dfd, NULL, err);
        if (r < 0)
                return r;
        if (asprintf(&layers, "%s/%s", vm_driver_root(d), VM_LAYERS_DIR) < 0)
                return -ENOMEM;
        r = mkdir_p(layers, 0700);
        if (r < 0)
                return berth_error_set(err, r, "", "cannot create %s: %s", layers, strerror(-r));
        /* unique: the temp dir's name is unique among snapshots, plus the time */
        base = base ? base + 1 : tmp_dir;
        if (strncmp(base, ".tmp-", 5) == 0)
                base += 5;
        if (asprintf(&layer, "%s/%s-%" PRIx64 ".qcow2", layers, base, (uint64_t)now_usec(CLOCK_REALTIME)) <
            0)
                return -ENOMEM;
        j = json_pack("{s:s, s:s}", "dir", tmp_dir, "layer", layer);
        s = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
        if (!s)
                return -ENOMEM;
        r = write_file_atomic_at(dfd, SHIM_VM_SNAPSHOT_REQUEST, s, strlen(s), 0600);
        if (r < 0)
                return berth_error_set(err, r, "", "cannot write the snapshot request: %s", strerror(-r));
        r = signal_shim(dfd, VM_SIGNAL_SNAPSHOT);
        if (r < 0) {
                (void)unlinkat(dfd, SHIM_VM_SNAPSHOT_REQUEST, 0);
                return berth_error_set(err, r, "", "cannot reach berth-shim: %s", strerror(-r));
        }
        wlog_info(name, "snapshot requested into %s", tmp_dir);
        return 0;
}

int vm_snapshot_poll(Driver *d, const char *tmp_dir, DriverSnapshot *ret, BerthError *err)
{
        _cleanup_close_ int dfd = -EBADF;
        _cleanup_free_ char *s = NULL;
        json_t *j;
        const char *layer;
        int r;

        dfd = open(tmp_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (dfd < 0)
                return berth_error_set(err, -errno, "", "the snapshot directory %s is gone", tmp_dir);
        r = read_file_at(dfd, SHIM_VM_SNAPSHOT_RESULT, 64 * 1024, &s, NULL);
        if (r == -ENOENT)
                return -EAGAIN;
        if (r < 0)
                return berth_error_set(err, r, "", "cannot read the snapshot result: %s", strerror(-r));
        j = json_loads(s, 0, NULL);
        if (!j)
                return berth_error_set(err, -EBADMSG, "", "the snapshot result is not valid JSON");
        if (!json_is_true(json_object_get(j, "ok"))) {
                r = berth_error_set(err, -EIO, "", "the snapshot failed: %s",
                                    json_string_value(json_object_get(j, "error")) ?: "no reason given");
                json_decref(j);
                return r;
        }
        layer = json_string_value(json_object_get(j, "layer"));
        *ret = (DriverSnapshot){
            .memory_bytes = (uint64_t)json_integer_value(json_object_get(j, "memoryBytes")),
            .disk_bytes = (uint64_t)json_integer_value(json_object_get(j, "diskBytes")),
            .was_running = json_is_true(json_object_get(j, "wasRunning")),
        };
        snprintf(ret->layer, sizeof(ret->layer), "%s", strempty(layer));
        json_decref(j);
        if (!ret->layer[0])
                return berth_error_set(err, -EBADMSG, "", "the snapshot result names no layer");
        return 0;
}

int vm_restore_arm(Driver *d, const char *name, const char *state_path, const char *layer)
{
        free(armed_name);
        free(armed_state);
        free(armed_layer);
        armed_name = armed_state = armed_layer = NULL;
        if (!name)
                return 0;
        armed_name = strdup(name);
        armed_state = strdup(state_path);
        armed_layer = strdup(layer);
        if (!armed_name || !armed_state || !armed_layer) {
                vm_restore_arm(d, NULL, NULL, NULL);
                return -ENOMEM;
        }
        return 0;
}

int vm_restore_prepare(Driver *d, const char *name, BerthError *err)
{
        _cleanup_close_ int dfd = -EBADF;
        _cleanup_free_ char *s = NULL;
        json_t *j;
        int r;

        if (!armed_name || !streq(armed_name, name))
                return 0;
        dfd = openat(vm_driver_workloads_fd(d), name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (dfd < 0)
                return berth_error_set(err, -errno, "", "cannot open the workload directory: %m");
        /* The stream is hardlinked (O(1)): the workload can restart from it
         * even after the snapshot is removed; the layer stays reachable from
         * vm-restore.json for the GC. */
        (void)unlinkat(dfd, VM_RESTORE_STATE, 0);
        if (linkat(AT_FDCWD, armed_state, dfd, VM_RESTORE_STATE, 0) < 0)
                return berth_error_set(err, -errno, "", "cannot link the snapshot's state: %m");
        j = json_pack("{s:s}", "layer", armed_layer);
        s = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
        if (!s)
                return -ENOMEM;
        r = write_file_atomic_at(dfd, VM_RESTORE_FILE, s, strlen(s), 0600);
        if (r < 0)
                return berth_error_set(err, r, "", "cannot write %s: %s", VM_RESTORE_FILE, strerror(-r));
        return 0;
}

int vm_restore_config(Driver *d, int dirfd, json_t *cfg, BerthError *err)
{
        _cleanup_free_ char *s = NULL, *incoming = NULL;
        char link[64], wdir[PATH_MAX];
        const char *layer;
        json_t *j, *argv = json_object_get(cfg, "argv");
        ssize_t n;
        int r;

        r = read_file_at(dirfd, VM_RESTORE_FILE, 64 * 1024, &s, NULL);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return berth_error_set(err, r, "", "cannot read %s: %s", VM_RESTORE_FILE, strerror(-r));
        r = backend_check(dirfd, cfg, err);
        if (r < 0)
                return r;
        j = json_loads(s, 0, NULL);
        layer = json_string_value(json_object_get(j, "layer"));
        if (!layer || layer[0] != '/') {
                json_decref(j);
                return berth_error_set(err, -EBADMSG, "", "%s names no layer", VM_RESTORE_FILE);
        }
        snprintf(link, sizeof(link), "/proc/self/fd/%d", dirfd);
        n = readlink(link, wdir, sizeof(wdir) - 1);
        if (n <= 0) {
                json_decref(j);
                return -errno;
        }
        wdir[n] = 0;
        if (asprintf(&incoming, "%s/%s", wdir, VM_RESTORE_STATE) < 0) {
                json_decref(j);
                return -ENOMEM;
        }
        r = 0;
        if (json_array_append_new(argv, json_string("-incoming")) < 0 ||
            json_array_append_new(argv, json_string("defer")) < 0 ||
            json_object_set_new(cfg, "disk", json_string(layer)) < 0 ||
            json_object_set_new(cfg, "disk_format", json_string("qcow2")) < 0 ||
            json_object_set_new(cfg, "incoming", json_string(incoming)) < 0)
                r = -ENOMEM;
        json_decref(j);
        return r;
}

int vm_qcow2_backing(int fd, char *buf, size_t size)
{
        unsigned char h[20];
        uint64_t off = 0;
        uint32_t len = 0;

        buf[0] = 0;
        if (pread(fd, h, sizeof(h), 0) != (ssize_t)sizeof(h))
                return -EIO;
        if (memcmp(h, "QFI\xfb", 4) != 0)
                return -EMEDIUMTYPE;
        for (int i = 0; i < 8; i++)
                off = (off << 8) | h[8 + i];
        for (int i = 0; i < 4; i++)
                len = (len << 8) | h[16 + i];
        if (off == 0 || len == 0)
                return 0;
        if (len >= size || off > 65536)
                return -EBADMSG;
        if (pread(fd, buf, len, (off_t)off) != (ssize_t)len)
                return -EIO;
        buf[len] = 0;
        return 0;
}

typedef struct Marks {
        dev_t dev[GC_MARKS_MAX];
        ino_t ino[GC_MARKS_MAX];
        size_t n;
} Marks;

static bool marked(const Marks *m, const struct stat *st)
{
        for (size_t i = 0; i < m->n; i++)
                if (m->dev[i] == st->st_dev && m->ino[i] == st->st_ino)
                        return true;
        return false;
}

/* Marks path and every layer on its backing chain. */
static void mark_chain(Marks *m, const char *layers, const char *path)
{
        char cur[PATH_MAX], next[PATH_MAX];
        size_t ll = strlen(layers);

        snprintf(cur, sizeof(cur), "%s", path);
        for (int depth = 0; depth < LAYER_CHAIN_MAX; depth++) {
                _cleanup_close_ int fd = open(cur, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
                struct stat st;

                if (fd < 0 || fstat(fd, &st) < 0)
                        return;
                if (!marked(m, &st) && m->n < GC_MARKS_MAX) {
                        m->dev[m->n] = st.st_dev;
                        m->ino[m->n] = st.st_ino;
                        m->n++;
                }
                if (vm_qcow2_backing(fd, next, sizeof(next)) < 0 || !next[0])
                        return;
                /* only chains inside the layer store are ours to follow */
                if (strncmp(next, layers, ll) != 0 || next[ll] != '/')
                        return;
                snprintf(cur, sizeof(cur), "%s", next);
        }
}

static void mark_json_layer(Marks *m, const char *layers, int dfd, const char *file)
{
        _cleanup_free_ char *s = NULL;
        json_t *j;
        const char *l;

        if (read_file_at(dfd, file, 64 * 1024, &s, NULL) < 0)
                return;
        j = json_loads(s, 0, NULL);
        l = json_string_value(json_object_get(j, "layer"));
        if (l)
                mark_chain(m, layers, l);
        json_decref(j);
}

static void mark_dirs(Marks *m, const char *layers, const char *parent, bool workloads)
{
        DIR *dir = opendir(parent);
        struct dirent *de;

        if (!dir)
                return;
        while ((de = readdir(dir))) {
                _cleanup_close_ int dfd = -EBADF;
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                dfd = openat(dirfd(dir), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
                if (dfd < 0)
                        continue;
                if (workloads) {
                        char p[PATH_MAX];
                        snprintf(p, sizeof(p), "%s/%s/disk.qcow2", parent, de->d_name);
                        mark_chain(m, layers, p);
                        mark_json_layer(m, layers, dfd, VM_RESTORE_FILE);
                } else
                        mark_json_layer(m, layers, dfd, SHIM_VM_SNAPSHOT_RESULT);
        }
        closedir(dir);
}

int vm_snapshot_gc(Driver *d)
{
        return vm_layers_gc(vm_driver_root(d));
}

int vm_layers_gc(const char *root)
{
        _cleanup_free_ char *layers = NULL, *snaps = NULL, *wls = NULL;
        _cleanup_free_ Marks *m = calloc(1, sizeof(Marks));
        DIR *dir;
        struct dirent *de;
        unsigned removed = 0;

        if (!m)
                return -ENOMEM;
        if (asprintf(&layers, "%s/%s", root, VM_LAYERS_DIR) < 0 || asprintf(&snaps, "%s/vm/snapshots", root) < 0 ||
            asprintf(&wls, "%s/workloads", root) < 0)
                return -ENOMEM;
        dir = opendir(layers);
        if (!dir)
                return errno == ENOENT ? 0 : -errno;
        mark_dirs(m, layers, snaps, false);
        mark_dirs(m, layers, wls, true);
        while ((de = readdir(dir))) {
                struct stat st;
                size_t n = strlen(de->d_name);
                if (n < 7 || !streq(de->d_name + n - 6, ".qcow2"))
                        continue;
                if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
                        continue;
                if (marked(m, &st))
                        continue;
                if (unlinkat(dirfd(dir), de->d_name, 0) >= 0)
                        removed++;
        }
        closedir(dir);
        if (removed)
                log_debug("vm layer gc: removed %u unreferenced layer(s)", removed);
        return (int)removed;
}
