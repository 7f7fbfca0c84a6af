/* SPDX-License-Identifier: Apache-2.0 */
/* VM snapshots, the manager's side (docs/VM.md "Snapshots", docs/API.md
 * "VM snapshots"): the API backend operations, the snapshot directory and
 * its crash safety.
 *
 *   <root>/vm/snapshots/<id>/        a complete snapshot: state.mig (the
 *                                    migration stream), result.json (the
 *                                    shim's record, names the disk layer),
 *                                    meta.json (this file's document)
 *   <root>/vm/snapshots/.tmp-<id>/   one being made; renamed to <id> only
 *                                    once everything in it is on disk
 *   <root>/vm/snapshots/.del-<id>/   one being removed
 *
 * The directory is the truth: listing reads it, and a berthd restart drops
 * every .tmp-* and .del-* (an interrupted snapshot never happened, an
 * interrupted removal completes) and collects unreferenced disk layers.
 * The shim does the work (the event loop only polls a result file on a
 * 10 ms timer); the VM keeps running, or resumes, whatever happens to
 * berthd meanwhile. */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>

#include "agent/manager.h"
#include "lib/crashpoint.h"
#include "lib/log.h"

#define SNAP_DIR "vm/snapshots"
#define SNAP_META "meta.json"
#define SNAP_STATE "state.mig"
#define SNAP_POLL_USEC (10 * USEC_PER_MSEC)
#define SNAP_TIMEOUT_USEC (600 * USEC_PER_SEC)
#define SNAP_META_MAX (2 * 1024 * 1024)

typedef struct SnapOp {
        Manager *m;
        char *id, *workload, *tmp, *final;
        json_t *spec; /* the source's spec document at request time */
        usec_t deadline;
        usec_t requested_at; /* CLOCK_REALTIME */
        sd_event_source *timer;
        ApiVmSnapshotCallback done;
        void *userdata;
        struct SnapOp *next;
} SnapOp;

typedef struct ManagerVmSnap {
        SnapOp *ops;
} ManagerVmSnap;

static int snap_root(Manager *m, char **ret)
{
        return asprintf(ret, "%s/%s", m->config->root, SNAP_DIR) < 0 ? -ENOMEM : 0;
}

static ManagerVmSnap *vmsnap(Manager *m)
{
        if (!m->vmsnap)
                m->vmsnap = calloc(1, sizeof(ManagerVmSnap));
        return m->vmsnap;
}

static void op_unlink(SnapOp *op)
{
        for (SnapOp **p = &op->m->vmsnap->ops; *p; p = &(*p)->next)
                if (*p == op) {
                        *p = op->next;
                        break;
                }
}

static void op_free(SnapOp *op)
{
        sd_event_source_disable_unref(op->timer);
        json_decref(op->spec);
        free(op->id);
        free(op->workload);
        free(op->tmp);
        free(op->final);
        free(op);
}

static void rm_dir(const char *path)
{
        _cleanup_free_ char *copy = strdup(path);
        char *slash = copy ? strrchr(copy, '/') : NULL;
        _cleanup_close_ int pfd = -EBADF;

        if (!slash)
                return;
        *slash = 0;
        pfd = open(copy, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (pfd >= 0) {
                (void)rm_rf_at(pfd, slash + 1);
                (void)fsync(pfd);
        }
}

static int fsync_path(const char *path)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (fd < 0 || fsync(fd) < 0)
                return -errno;
        return 0;
}

/* Finishes op: done() once, then the op is gone. */
static void op_finish(SnapOp *op, json_t *doc, const BerthError *err)
{
        op_unlink(op);
        if (!doc) {
                rm_dir(op->tmp);
                wlog_warning(op->workload, "snapshot %s failed: %s", op->id, err->message);
                manager_emit(op->m, "snapshot-failed", op->workload, err->message);
        }
        if (op->done)
                op->done(op->userdata, doc, err);
        op_free(op);
}

static json_t *snap_doc(SnapOp *op, const DriverSnapshot *s)
{
        char t[64];

        return json_pack("{s:s, s:s, s:s, s:I, s:I, s:b, s:s, s:O}", "id", op->id, "workload", op->workload,
                         "createdAt", format_rfc3339(t, sizeof(t), op->requested_at), "memoryBytes",
                         (json_int_t)s->memory_bytes, "diskBytes", (json_int_t)s->disk_bytes, "wasRunning",
                         s->was_running, "layer", s->layer, "spec", op->spec);
}

/* The shim is done: meta.json, fsync, rename into place. */
static void op_complete(SnapOp *op, const DriverSnapshot *s)
{
        _cleanup_free_ char *text = NULL, *root = NULL;
        _cleanup_close_ int tfd = -EBADF;
        BerthError err = {};
        bool renamed = false;
        json_t *doc;
        int r;

        CRASH_POINT("vm-snapshot.after-result");
        doc = snap_doc(op, s);
        text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        if (!text) {
                json_decref(doc);
                berth_error_set(&err, -ENOMEM, "", "out of memory");
                op_finish(op, NULL, &err);
                return;
        }
        tfd = open(op->tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        r = tfd < 0 ? -errno : write_file_atomic_at(tfd, SNAP_META, text, strlen(text), 0600);
        if (r >= 0 && fsync(tfd) < 0)
                r = -errno;
        CRASH_POINT("vm-snapshot.after-meta");
        if (r >= 0 && rename(op->tmp, op->final) < 0)
                r = -errno;
        else if (r >= 0) {
                renamed = true;
                r = snap_root(op->m, &root);
                if (r >= 0)
                        r = fsync_path(root); /* the rename is durable before anyone hears of it */
        }
        if (r < 0) {
                json_decref(doc);
                if (renamed)
                        rm_dir(op->final); /* the API answers "failed": so it must not exist */
                berth_error_set(&err, r, "", "cannot record the snapshot: %s", strerror(-r));
                op_finish(op, NULL, &err);
                return;
        }
        CRASH_POINT("vm-snapshot.after-rename");
        json_object_del(doc, "layer"); /* internal */
        wlog_info(op->workload, "snapshot %s complete: %" PRIu64 " bytes of state", op->id, s->memory_bytes);
        manager_emit(op->m, "snapshotted", op->workload, op->id);
        op_finish(op, doc, NULL);
        json_decref(doc);
}

static int on_poll(sd_event_source *src, uint64_t usec, void *userdata)
{
        SnapOp *op = userdata;
        Manager *m = op->m;
        MWorkload *w = manager_find(m, op->workload);
        BerthError err = {};
        DriverSnapshot s;
        int r;

        r = vm_driver_ops.snapshot_poll(m->vm, op->tmp, &s, &err);
        if (r == -EAGAIN) {
                if (!w || !manager_workload_is_active(w)) {
                        berth_error_set(&err, -EBUSY, "", "the VM stopped during the snapshot");
                        op_finish(op, NULL, &err);
                } else if (now_usec(CLOCK_MONOTONIC) > op->deadline) {
                        berth_error_set(&err, -ETIMEDOUT, "", "the snapshot did not complete in time");
                        op_finish(op, NULL, &err);
                } else
                        (void)sd_event_source_set_time(src, usec + SNAP_POLL_USEC);
                return 0;
        }
        if (r < 0)
                op_finish(op, NULL, &err);
        else
                op_complete(op, &s);
        return 0;
}

static bool snapshot_exists(Manager *m, const char *id)
{
        _cleanup_free_ char *p = NULL;

        if (asprintf(&p, "%s/%s/%s/%s", m->config->root, SNAP_DIR, id, SNAP_META) < 0)
                return false;
        return access(p, F_OK) >= 0;
}

int manager_backend_vm_snapshot_create(void *backend, const char *workload, const char *id,
                                       ApiVmSnapshotCallback done, void *userdata, BerthError *err)
{
        Manager *m = backend;
        ManagerVmSnap *ms = vmsnap(m);
        MWorkload *w = manager_find(m, workload);
        _cleanup_free_ char *root = NULL, *gen = NULL;
        SnapOp *op;
        json_t *spec;
        int r;

        if (!ms)
                return -ENOMEM;
        if (!m->ready)
                return berth_error_set(err, -ESHUTDOWN, "", "berthd is not ready");
        if (!w)
                return berth_error_set(err, -ENOENT, "name", "workload \"%s\" not found", workload);
        if (w->spec->isolation != ISOLATION_VM || !m->vm)
                return berth_error_set(
                    err, -EINVAL, "name",
                    "workload \"%s\" is a container: only microVMs (isolation: vm) can be snapshotted",
                    workload);
        if (w->removing || w->notify_fd >= 0 ||
            (w->pub.status.state != WORKLOAD_RUNNING && w->pub.status.state != WORKLOAD_PAUSED))
                return berth_error_set(
                    err, -EBUSY, "name",
                    "workload \"%s\" is %s: only a running or paused microVM can be snapshotted", workload,
                    w->removing         ? "being removed"
                    : w->notify_fd >= 0 ? "starting"
                                        : workload_state_to_string(w->pub.status.state));
        for (SnapOp *o = ms->ops; o; o = o->next) {
                if (streq(o->workload, workload))
                        return berth_error_set(err, -EBUSY, "name",
                                               "a snapshot of \"%s\" is already in progress", workload);
                if (id && streq(o->id, id))
                        return berth_error_set(err, -EEXIST, "id", "snapshot \"%s\" is being made", id);
        }
        if (!id) {
                if (asprintf(&gen, "%.40s-%010" PRIx64, workload,
                             (uint64_t)now_usec(CLOCK_REALTIME) & UINT64_C(0xffffffffff)) < 0)
                        return -ENOMEM;
                id = gen;
        }
        if (snapshot_exists(m, id))
                return berth_error_set(err, -EEXIST, "id", "snapshot \"%s\" already exists", id);
        spec = spec_to_json(w->spec);
        if (!spec)
                return -ENOMEM;
        op = calloc(1, sizeof(*op));
        if (!op) {
                json_decref(spec);
                return -ENOMEM;
        }
        *op = (SnapOp){.m = m,
                       .spec = spec,
                       .done = done,
                       .userdata = userdata,
                       .deadline = now_usec(CLOCK_MONOTONIC) + SNAP_TIMEOUT_USEC,
                       .requested_at = now_usec(CLOCK_REALTIME)};
        op->id = strdup(id);
        op->workload = strdup(workload);
        r = snap_root(m, &root);
        if (r < 0 || !op->id || !op->workload || asprintf(&op->tmp, "%s/.tmp-%s", root, id) < 0 ||
            asprintf(&op->final, "%s/%s", root, id) < 0) {
                op_free(op);
                return -ENOMEM;
        }
        r = mkdir_p(root, 0700);
        if (r >= 0) {
                rm_dir(op->tmp); /* a leftover of a failed attempt */
                if (mkdir(op->tmp, 0700) < 0)
                        r = -errno;
        }
        if (r < 0) {
                berth_error_set(err, r, "", "cannot create the snapshot directory: %s", strerror(-r));
                op_free(op);
                return r;
        }
        CRASH_POINT("vm-snapshot.after-mkdir");
        r = vm_driver_ops.snapshot_begin(m->vm, workload, op->tmp, err);
        if (r < 0) {
                rm_dir(op->tmp);
                op_free(op);
                return r;
        }
        CRASH_POINT("vm-snapshot.after-request");
        r = sd_event_add_time_relative(m->event, &op->timer, CLOCK_MONOTONIC, SNAP_POLL_USEC, 0, on_poll,
                                       op);
        if (r < 0) {
                /* The shim goes on; without a poll the result is never collected. */
                rm_dir(op->tmp);
                op_free(op);
                return berth_error_set(err, r, "", "cannot watch the snapshot: %s", strerror(-r));
        }
        (void)sd_event_source_set_enabled(op->timer, SD_EVENT_ON);
        op->next = ms->ops;
        ms->ops = op;
        return 0;
}

static int meta_read(Manager *m, const char *id, json_t **ret, BerthError *err)
{
        _cleanup_free_ char *p = NULL, *s = NULL;
        json_t *j;
        int r;

        if (asprintf(&p, "%s/%s/%s", m->config->root, SNAP_DIR, id) < 0)
                return -ENOMEM;
        _cleanup_close_ int dfd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (dfd < 0 && errno == ENOENT)
                return berth_error_set(err, -ENOENT, "id", "snapshot \"%s\" not found", id);
        r = dfd < 0 ? -errno : read_file_at(dfd, SNAP_META, SNAP_META_MAX, &s, NULL);
        if (r == -ENOENT)
                return berth_error_set(err, -ENOENT, "id", "snapshot \"%s\" not found", id);
        if (r < 0)
                return berth_error_set(err, r, "", "cannot read snapshot \"%s\": %s", id, strerror(-r));
        j = json_loads(s, 0, NULL);
        if (!json_is_object(j)) {
                json_decref(j);
                return berth_error_set(err, -EBADMSG, "", "snapshot \"%s\" has a damaged meta.json", id);
        }
        *ret = j;
        return 0;
}

/* The API shape: meta.json without the internal layer path. */
static json_t *public_doc(json_t *meta)
{
        json_t *d = json_deep_copy(meta);

        if (d)
                json_object_del(d, "layer");
        return d;
}

int manager_backend_vm_snapshot_get(void *backend, const char *id, json_t **ret, BerthError *err)
{
        json_t *meta = NULL;
        int r = meta_read(backend, id, &meta, err);

        if (r < 0)
                return r;
        *ret = public_doc(meta);
        json_decref(meta);
        return *ret ? 0 : -ENOMEM;
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

int manager_backend_vm_snapshot_list(void *backend, json_t **ret, BerthError *err)
{
        Manager *m = backend;
        _cleanup_free_ char *root = NULL;
        char **names = NULL;
        size_t n = 0;
        json_t *items = json_array();
        DIR *dir;
        struct dirent *de;

        if (!items || snap_root(m, &root) < 0) {
                json_decref(items);
                return -ENOMEM;
        }
        dir = opendir(root);
        while (dir && (de = readdir(dir))) {
                if (de->d_name[0] == '.') /* ., .., .tmp-*, .del-*: not (or no longer) snapshots */
                        continue;
                char **nn = realloc(names, (n + 1) * sizeof(char *));
                if (!nn || !(nn[n] = strdup(de->d_name))) {
                        names = nn ? nn : names;
                        break;
                }
                names = nn;
                n++;
        }
        if (dir)
                closedir(dir);
        if (n)
                qsort(names, n, sizeof(char *), cmp_str);
        for (size_t i = 0; i < n; i++) {
                json_t *meta = NULL;
                BerthError e = {};
                if (meta_read(m, names[i], &meta, &e) >= 0) {
                        json_array_append_new(items, public_doc(meta));
                        json_decref(meta);
                }
                free(names[i]);
        }
        free(names);
        *ret = json_pack("{s:o}", "items", items);
        return *ret ? 0 : -ENOMEM;
}

int manager_backend_vm_snapshot_remove(void *backend, const char *id, BerthError *err)
{
        Manager *m = backend;
        _cleanup_free_ char *root = NULL, *from = NULL, *to = NULL;
        json_t *meta = NULL;
        const char *src;
        int r;

        r = meta_read(m, id, &meta, err);
        if (r < 0)
                return r;
        src = json_string_value(json_object_get(meta, "workload"));
        if (snap_root(m, &root) < 0 || asprintf(&from, "%s/%s", root, id) < 0 ||
            asprintf(&to, "%s/.del-%s", root, id) < 0) {
                json_decref(meta);
                return -ENOMEM;
        }
        rm_dir(to);
        /* Gone from the API the moment the rename is durable. */
        if (rename(from, to) < 0 || fsync_path(root) < 0) {
                r = -errno;
                json_decref(meta);
                return berth_error_set(err, r, "", "cannot remove snapshot \"%s\": %s", id, strerror(-r));
        }
        CRASH_POINT("vm-snapshot.remove-after-rename");
        rm_dir(to);
        if (m->vm)
                (void)vm_driver_ops.snapshot_gc(m->vm);
        manager_emit(m, "snapshot-removed", src, id);
        json_decref(meta);
        return 0;
}

int manager_backend_vm_snapshot_restore(void *backend, const char *id, const char *name,
                                        const Workload **ret, BerthError *err)
{
        Manager *m = backend;
        _cleanup_free_ char *state = NULL;
        json_t *meta = NULL;
        Spec *spec = NULL;
        MWorkload *w = NULL;
        const char *layer;
        char msg[128];
        int r;

        if (!m->ready)
                return berth_error_set(err, -ESHUTDOWN, "", "berthd is not ready");
        if (!m->vm)
                return berth_error_set(err, -EOPNOTSUPP, "",
                                       "the vm driver could not be set up on this host");
        r = meta_read(m, id, &meta, err);
        if (r < 0)
                return r;
        layer = json_string_value(json_object_get(meta, "layer"));
        r = spec_from_json(json_object_get(meta, "spec"), &spec, err);
        if (r < 0 || !layer) {
                json_decref(meta);
                spec_free(spec);
                return berth_error_set(err, -EBADMSG, "", "snapshot \"%s\" has a damaged meta.json", id);
        }
        free(spec->name);
        spec->name = strdup(name);
        if (!spec->name || asprintf(&state, "%s/%s/%s/%s", m->config->root, SNAP_DIR, id, SNAP_STATE) < 0) {
                json_decref(meta);
                spec_free(spec);
                return -ENOMEM;
        }
        /* Armed only for this synchronous create: its prepare() records the
         * restore in the new workload's directory (drivers/vm/vm-snapshot.c). */
        r = vm_driver_ops.restore_arm(m->vm, name, state, layer);
        if (r >= 0)
                r = manager_workload_create(m, spec, &w, err);
        (void)vm_driver_ops.restore_arm(m->vm, NULL, NULL, NULL);
        json_decref(meta);
        if (r < 0) {
                spec_free(spec);
                return r;
        }
        snprintf(msg, sizeof(msg), "from snapshot %s", id);
        manager_emit(m, "restored", name, msg);
        *ret = &w->pub;
        return 0;
}

void manager_vm_snapshot_recover(Manager *m)
{
        _cleanup_free_ char *root = NULL;
        DIR *dir;
        struct dirent *de;
        unsigned n = 0;

        if (snap_root(m, &root) < 0)
                return;
        dir = opendir(root);
        while (dir && (de = readdir(dir))) {
                if (strncmp(de->d_name, ".tmp-", 5) != 0 && strncmp(de->d_name, ".del-", 5) != 0)
                        continue;
                (void)rm_rf_at(dirfd(dir), de->d_name);
                n++;
        }
        if (dir) {
                (void)fsync(dirfd(dir));
                closedir(dir);
        }
        if (n)
                log_info("dropped %u interrupted VM snapshot operation(s)", n);
        if (m->vm)
                (void)vm_driver_ops.snapshot_gc(m->vm);
}

void manager_vm_snapshot_free(Manager *m)
{
        BerthError err = {};

        if (!m->vmsnap)
                return;
        /* No events here: the manager is half torn down. The shim finishes
         * (or fails) on its own; the next start drops the temp directory. */
        berth_error_set(&err, -ESHUTDOWN, "", "berthd is shutting down");
        while (m->vmsnap->ops) {
                SnapOp *op = m->vmsnap->ops;
                m->vmsnap->ops = op->next;
                if (op->done)
                        op->done(op->userdata, NULL, &err);
                op_free(op);
        }
        free(m->vmsnap);
        m->vmsnap = NULL;
}
