/* SPDX-License-Identifier: Apache-2.0 */
/* The manager's image side (docs/IMAGES.md): the store handle, workloads
 * made from images (image config defaults, an active overlay snapshot per
 * workload, keyed "wl-<name>"), and the image backend operations. Slow work
 * (import, pull, commit) runs in a forked worker process that opens the
 * store itself and reports NDJSON lines on a pipe; the event loop never
 * blocks on it. */
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>

#include "agent/manager.h"
#include "drivers/store/store.h"
#include "lib/log.h"

#define JOB_LINE_MAX (64 * 1024)

struct ApiImageWatch {
        Manager *m;
        pid_t pid;
        int fd;
        sd_event_source *io;
        char *buf;
        size_t len;
        bool final;
        ApiImageJobCallback cb; /* NULL once cancelled */
        void *userdata;
        ApiImageWatch *next;
};

typedef struct ManagerImages {
        Store *store;
        ApiImageWatch *jobs;
} ManagerImages;

static ManagerImages *images(Manager *m)
{
        if (!m->images)
                m->images = calloc(1, sizeof(ManagerImages));
        return m->images;
}

static int store_get(Manager *m, Store **ret, BerthError *err)
{
        ManagerImages *im = images(m);
        int r;

        if (!im)
                return -ENOMEM;
        if (!im->store) {
                r = store_open(m->config->root, &im->store);
                if (r < 0)
                        return berth_error_set(err, r, "", "cannot open the image store: %s", strerror(-r));
        }
        *ret = im->store;
        return 0;
}

/* At daemon start, when a store exists: the store's crash recovery (tmp/
 * emptied, rows without files and files without rows dropped, stray mounts
 * undone) runs now rather than at the first image request, and rootfs
 * snapshots of no recorded workload are removed. Called after the
 * workloads are loaded. */
void manager_images_recover(Manager *m)
{
        _cleanup_free_ char *path = NULL;
        _cleanup_strv_free_ char **keys = NULL;
        BerthError err = {};
        Store *s;
        int r;

        if (asprintf(&path, "%s/store/store.db", m->config->root) < 0 || access(path, F_OK) < 0)
                return;
        if (store_get(m, &s, &err) < 0) {
                log_warning("image store: %s", err.message);
                return;
        }
        /* The rootfs snapshot of a create that crashed before its record was
         * committed: no workload will ever remove it, and it would keep its
         * image "in use" forever. */
        if (store_snapshot_list_active(s, &keys) < 0)
                return;
        for (char **k = keys; *k; k++) {
                if (strncmp(*k, "wl-", 3) != 0 || manager_find(m, *k + 3))
                        continue;
                r = store_snapshot_remove(s, *k);
                if (r < 0)
                        log_warning_errno(r, "image store: cannot remove the snapshot %s of no workload: %m", *k);
                else
                        log_info("image store: removed the snapshot %s of a create that did not complete", *k);
        }
}

static void job_free(ApiImageWatch *j)
{
        sd_event_source_disable_unref(j->io);
        safe_close(j->fd);
        free(j->buf);
        free(j);
}

void manager_images_free(Manager *m)
{
        ManagerImages *im = m->images;

        if (!im)
                return;
        /* running workers finish on their own; we only stop listening */
        while (im->jobs) {
                ApiImageWatch *j = im->jobs;
                im->jobs = j->next;
                job_free(j);
        }
        store_free(im->store);
        free(im);
        m->images = NULL;
}

static void snapshot_key(const char *name, char key[STORE_KEY_MAX])
{
        snprintf(key, STORE_KEY_MAX, "wl-%s", name);
}

/* ---- workloads from images ---- */

static int env_merge(Spec *spec, char **image_env)
{
        size_t n_img = 0, n = 0;
        KeyValue *kv;

        for (char **e = image_env; e && *e; e++)
                n_img++;
        if (n_img == 0)
                return 0;
        kv = calloc(n_img + spec->n_env, sizeof(KeyValue));
        if (!kv)
                return -ENOMEM;
        for (char **e = image_env; e && *e; e++) {
                const char *eq = strchr(*e, '=');
                bool overridden = false;
                if (!eq || eq == *e)
                        continue;
                for (size_t i = 0; i < spec->n_env; i++)
                        if (strlen(spec->env[i].key) == (size_t)(eq - *e) &&
                            strncmp(spec->env[i].key, *e, eq - *e) == 0)
                                overridden = true;
                for (size_t i = 0; i < n && !overridden; i++)
                        if (strlen(kv[i].key) == (size_t)(eq - *e) && strncmp(kv[i].key, *e, eq - *e) == 0)
                                overridden = true; /* first one wins inside the image */
                if (overridden)
                        continue;
                kv[n].key = strndup(*e, (size_t)(eq - *e));
                kv[n].value = strdup(eq + 1);
                if (!kv[n].key || !kv[n].value) {
                        for (size_t i = 0; i <= n; i++) {
                                free(kv[i].key);
                                free(kv[i].value);
                        }
                        free(kv);
                        return -ENOMEM;
                }
                n++;
        }
        /* the spec's own entries follow, moved over */
        for (size_t i = 0; i < spec->n_env; i++)
                kv[n++] = spec->env[i];
        free(spec->env);
        spec->env = kv;
        spec->n_env = n;
        return 0;
}

/* Entrypoint + Cmd, Env, WorkingDir become defaults the spec overrides:
 * spec.command replaces both Entrypoint and Cmd (berth has one argv). */
static int apply_image_defaults(Spec *spec, const StoreImageConfig *ic, BerthError *err)
{
        int r;

        if (spec->n_command == 0) {
                size_t n = 0, i = 0;
                for (char **a = ic->entrypoint; a && *a; a++)
                        n++;
                for (char **a = ic->cmd; a && *a; a++)
                        n++;
                if (n == 0)
                        return berth_error_set(err, -EINVAL, "spec.command",
                                               "is required: image %s has neither Entrypoint nor Cmd",
                                               spec->image);
                if (n > SPEC_ARGS_MAX)
                        return berth_error_set(err, -EINVAL, "spec.image",
                                               "the image's command is too long");
                char **argv = calloc(n + 1, sizeof(char *));
                if (!argv)
                        return -ENOMEM;
                for (char **a = ic->entrypoint; a && *a; a++)
                        argv[i++] = strdup(*a);
                for (char **a = ic->cmd; a && *a; a++)
                        argv[i++] = strdup(*a);
                for (i = 0; i < n; i++)
                        if (!argv[i]) {
                                strv_free(argv);
                                return -ENOMEM;
                        }
                strv_free(spec->command);
                spec->command = argv;
                spec->n_command = n;
        }
        r = env_merge(spec, ic->env);
        if (r < 0)
                return r;
        if (spec->working_dir_default && ic->working_dir && ic->working_dir[0] == '/') {
                char *wd = strdup(ic->working_dir);
                if (!wd)
                        return -ENOMEM;
                free(spec->working_dir);
                spec->working_dir = wd;
        }
        spec->working_dir_default = false;
        if (ic->user && *ic->user && !streq(ic->user, "0") && !streq(ic->user, "root") &&
            !streq(ic->user, "0:0"))
                wlog_warning(spec->name,
                             "image %s asks for user \"%s\"; berth runs it as the spec's user (root)",
                             spec->image, ic->user);
        return 0;
}

int manager_image_workload_prepare(Manager *m, Spec *spec, BerthError *err)
{
        _cleanup_free_ char *mnt = NULL;
        char key[STORE_KEY_MAX];
        StoreImage img = {};
        StoreImageConfig ic = {};
        json_t *cfg = NULL;
        Store *s;
        int r;

        r = store_get(m, &s, err);
        if (r < 0)
                return r;
        r = store_image_get(s, spec->image, &img);
        if (r < 0)
                return berth_error_set(err, r == -ENOENT ? -EINVAL : r, "spec.image",
                                       r == -ENOENT ? "no image \"%s\" in the store; import or pull it first"
                                                    : "image \"%s\" cannot be resolved",
                                       spec->image);
        r = store_image_config(s, &img, &cfg);
        if (r >= 0)
                r = store_image_config_parse(cfg, &ic);
        json_decref(cfg);
        if (r < 0) {
                r = berth_error_set(err, r, "spec.image", "the config of image %s is unreadable",
                                    spec->image);
                goto out;
        }
        r = apply_image_defaults(spec, &ic, err);
        if (r < 0)
                goto out;
        snapshot_key(spec->name, key);
        /* a snapshot left by a create that crashed before its record was made */
        (void)store_snapshot_remove(s, key);
        r = store_snapshot_prepare(s, key, img.digest, &mnt, err);
        if (r < 0)
                goto out;
        free(spec->rootfs);
        spec->rootfs = TAKE_PTR(mnt);
        wlog_info(spec->name, "rootfs: snapshot %s of image %s (%s)", key, img.name, img.digest);
out:
        store_image_config_done(&ic);
        store_image_done(&img);
        return r;
}

int manager_image_workload_mount(Manager *m, Spec *spec)
{
        _cleanup_free_ char *mnt = NULL;
        char key[STORE_KEY_MAX];
        BerthError err = {};
        Store *s;
        int r;

        r = store_get(m, &s, &err);
        if (r < 0)
                return r;
        snapshot_key(spec->name, key);
        r = store_snapshot_mount(s, key, &mnt, &err);
        if (r < 0)
                return wlog_error_errno(spec->name, r, "cannot mount the snapshot of image %s: %s",
                                        spec->image, err.message);
        free(spec->rootfs);
        spec->rootfs = TAKE_PTR(mnt);
        return 0;
}

void manager_image_workload_release(Manager *m, const char *name)
{
        char key[STORE_KEY_MAX];
        BerthError err = {};
        Store *s;
        int r;

        if (store_get(m, &s, &err) < 0)
                return;
        snapshot_key(name, key);
        r = store_snapshot_remove(s, key);
        if (r < 0 && r != -ENOENT)
                wlog_error_errno(name, r, "cannot remove the workload's snapshot: %m");
}

/* ---- documents ---- */

static json_t *time_json(usec_t t)
{
        char buf[RFC3339_MAX];
        return json_string(format_rfc3339(buf, sizeof(buf), t));
}

static json_t *image_json(const StoreImage *img)
{
        json_t *layers = json_array();
        for (size_t i = 0; i < img->n_layers; i++)
                json_array_append_new(layers, json_pack("{s:s, s:s}", "digest", img->layers[i], "mediaType",
                                                        img->media_types[i]));
        return json_pack("{s:s, s:s, s:s?, s:I, s:o, s:o}", "name", img->name, "digest", img->digest,
                         "config", img->config_digest, "size", (json_int_t)img->size, "created",
                         time_json(img->created), "layers", layers);
}

int manager_backend_image_list(void *backend, json_t **ret, BerthError *err)
{
        Manager *m = backend;
        StoreImage *l = NULL;
        size_t n = 0;
        Store *s;
        int r;

        r = store_get(m, &s, err);
        if (r < 0)
                return r;
        r = store_image_list(s, &l, &n);
        if (r < 0)
                return r;
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++)
                json_array_append_new(a, image_json(&l[i]));
        store_image_list_free(l, n);
        *ret = a;
        return 0;
}

int manager_backend_image_inspect(void *backend, const char *ref, json_t **ret, BerthError *err)
{
        Manager *m = backend;
        StoreImage img = {};
        json_t *cfg = NULL, *doc, *users;
        Store *s;
        int r;

        r = store_get(m, &s, err);
        if (r < 0)
                return r;
        r = store_image_get(s, ref, &img);
        if (r < 0)
                return berth_error_set(err, r, "image",
                                       r == -ENOENT ? "no image \"%s\"" : "\"%s\" is ambiguous", ref);
        doc = image_json(&img);
        if (store_image_config(s, &img, &cfg) >= 0) {
                json_object_set(doc, "imageConfig", json_object_get(cfg, "config") ?: json_null());
                json_object_set(doc, "architecture", json_object_get(cfg, "architecture") ?: json_null());
                json_object_set(doc, "os", json_object_get(cfg, "os") ?: json_null());
                json_decref(cfg);
        }
        users = json_array();
        for (size_t i = 0; i < m->n_workloads; i++) {
                const Spec *sp = m->workloads[i]->spec;
                StoreImage wi = {};
                if (sp->image && store_image_get(s, sp->image, &wi) >= 0) {
                        if (streq(wi.digest, img.digest))
                                json_array_append_new(users, json_string(sp->name));
                        store_image_done(&wi);
                }
        }
        json_object_set_new(doc, "usedBy", users);
        store_image_done(&img);
        *ret = doc;
        return 0;
}

int manager_backend_image_remove(void *backend, const char *ref, json_t **ret, BerthError *err)
{
        Manager *m = backend;
        StoreGcStats gc = {};
        StoreImage img = {};
        Store *s;
        int r;

        r = store_get(m, &s, err);
        if (r < 0)
                return r;
        r = store_image_get(s, ref, &img);
        if (r < 0)
                return berth_error_set(err, r, "image",
                                       r == -ENOENT ? "no image \"%s\"" : "\"%s\" is ambiguous", ref);
        r = store_image_remove(s, img.name, &gc, err);
        if (r >= 0) {
                manager_emit(m, "image-removed", NULL, img.name);
                *ret = json_pack("{s:s, s:s, s:I, s:I, s:I}", "removed", img.name, "digest", img.digest,
                                 "blobsRemoved", (json_int_t)gc.blobs_removed, "snapshotsRemoved",
                                 (json_int_t)gc.snapshots_removed, "bytesFreed", (json_int_t)gc.bytes_freed);
        }
        store_image_done(&img);
        return r;
}

int manager_backend_system_df(void *backend, json_t **ret, BerthError *err)
{
        Manager *m = backend;
        StoreDf df;
        Store *s;
        int r;

        r = store_get(m, &s, err);
        if (r < 0)
                return r;
        r = store_df(s, &df);
        if (r < 0)
                return r;
        *ret = json_pack(
            "{s:I, s:{s:I, s:I}, s:{s:I, s:I, s:I}, s:{s:I, s:I}}", "images", (json_int_t)df.images, "blobs",
            "count", (json_int_t)df.blobs, "bytes", (json_int_t)df.blob_bytes, "snapshots", "committed",
            (json_int_t)df.snapshots_committed, "active", (json_int_t)df.snapshots_active, "bytes",
            (json_int_t)df.snapshot_bytes, "reclaimable", "blobs", (json_int_t)df.reclaimable_blobs,
            "snapshots", (json_int_t)df.reclaimable_snapshots);
        return 0;
}

/* ---- jobs: the worker process ---- */

typedef struct Worker {
        int fd;
        usec_t last_progress;
} Worker;

static void worker_line(Worker *w, json_t *obj)
{
        _cleanup_free_ char *s = json_dumps(obj, JSON_COMPACT);
        json_decref(obj);
        if (!s)
                return;
        size_t n = strlen(s);
        s[n] = '\n';
        (void)write_all(w->fd, s, n + 1); /* a vanished reader does not stop the work */
}

static void worker_progress(void *userdata, const char *what, uint64_t done, uint64_t total)
{
        Worker *w = userdata;
        usec_t now = now_usec(CLOCK_MONOTONIC);

        if (done < total && now - w->last_progress < 200 * USEC_PER_MSEC)
                return;
        w->last_progress = now;
        worker_line(w, json_pack("{s:s, s:s, s:I, s:I}", "status", "progress", "id", what, "current",
                                 (json_int_t)done, "total", (json_int_t)total));
}

static int worker_run(const char *root, const ApiImageJob *job, const char *key, pid_t daemon_pid, Worker *w)
{
        _cleanup_(store_freep) Store *s = NULL;
        _cleanup_strv_free_ char **names = NULL;
        _cleanup_free_ char *name = NULL;
        char digest[STORE_DIGEST_MAX] = "";
        BerthError err = {};
        int r;

        r = store_open_full(root, false, &s);
        if (r < 0) {
                berth_error_set(&err, r, "", "cannot open the image store: %s", strerror(-r));
                goto out;
        }
        /* a crash point in the worker takes berthd down with it (docs/OPERATIONS.md) */
        store_crash_setup(job->kind == API_IMAGE_IMPORT ? "import" : job->kind == API_IMAGE_PULL ? "pull" : "commit",
                          getppid() == daemon_pid ? daemon_pid : 0);
        (void)store_lease_begin(s);
        switch (job->kind) {
        case API_IMAGE_IMPORT:
                worker_line(w, json_pack("{s:s, s:s}", "status", "importing", "path", job->path));
                r = store_import_path(s, job->path, job->name, &names, &err);
                break;
        case API_IMAGE_PULL: {
                StorePullOptions o = {
                    .insecure_http = job->insecure, .progress = worker_progress, .userdata = w};
                worker_line(w, json_pack("{s:s, s:s}", "status", "pulling", "ref", job->ref));
                r = store_pull(s, job->ref, &o, &name, &err);
                break;
        }
        case API_IMAGE_COMMIT:
                worker_line(w, json_pack("{s:s, s:s}", "status", "committing", "workload", job->workload));
                r = store_snapshot_commit(s, key, job->name, digest, &err);
                if (r >= 0)
                        r = store_ref_normalize(job->name, &name);
                break;
        default:
                r = -EINVAL;
        }
        (void)store_lease_end(s);
out:
        if (r < 0) {
                if (!err.error)
                        berth_error_set(&err, r, "", "%s", strerror(-r));
                worker_line(w, json_pack("{s:s, s:s, s:s, s:s?}", "status", "error", "code",
                                         berth_error_class(err.error), "message", err.message, "field",
                                         err.field[0] ? err.field : NULL));
                return 1;
        }
        json_t *done = json_pack("{s:s}", "status", "done");
        json_t *list = json_array();
        if (names)
                for (char **n = names; *n; n++)
                        json_array_append_new(list, json_string(*n));
        if (name)
                json_array_append_new(list, json_string(name));
        json_object_set_new(done, "images", list);
        if (digest[0])
                json_object_set_new(done, "digest", json_string(digest));
        worker_line(w, done);
        return 0;
}

/* ---- jobs: the daemon side ---- */

static void job_unlink(Manager *m, ApiImageWatch *j)
{
        ManagerImages *im = m->images;
        for (ApiImageWatch **p = &im->jobs; *p; p = &(*p)->next)
                if (*p == j) {
                        *p = j->next;
                        return;
                }
}

static void job_deliver(ApiImageWatch *j, const char *line, size_t len)
{
        json_t *obj = json_loadb(line, len, 0, NULL);
        const char *st;

        if (!obj)
                return;
        st = json_string_value(json_object_get(obj, "status"));
        bool final = st && (streq(st, "done") || streq(st, "error"));
        if (final) {
                j->final = true;
                if (streq(st, "done"))
                        manager_emit(j->m, "image-stored", NULL,
                                     json_string_value(json_array_get(json_object_get(obj, "images"), 0)));
        }
        if (j->cb)
                j->cb(j->userdata, obj, final);
        if (final)
                j->cb = NULL;
        json_decref(obj);
}

static int on_job_io(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
        ApiImageWatch *j = userdata;
        char buf[16384];
        ssize_t n;

        n = read(fd, buf, sizeof(buf));
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return 0;
        if (n > 0) {
                if (j->len + (size_t)n > JOB_LINE_MAX) {
                        j->len = 0; /* an absurd line: drop it */
                        return 0;
                }
                char *nb = realloc(j->buf, j->len + (size_t)n);
                if (!nb)
                        return 0;
                j->buf = nb;
                memcpy(j->buf + j->len, buf, (size_t)n);
                j->len += (size_t)n;
                for (char *nl; (nl = memchr(j->buf, '\n', j->len));) {
                        size_t l = (size_t)(nl - j->buf);
                        job_deliver(j, j->buf, l);
                        memmove(j->buf, nl + 1, j->len - l - 1);
                        j->len -= l + 1;
                }
                return 0;
        }
        /* EOF: the worker is gone */
        (void)waitpid(j->pid, NULL, 0);
        if (!j->final && j->cb) {
                json_t *e = json_pack("{s:s, s:s, s:s}", "status", "error", "code", "Internal", "message",
                                      "the image worker died");
                j->cb(j->userdata, e, true);
                json_decref(e);
        }
        job_unlink(j->m, j);
        job_free(j);
        return 0;
}

int manager_backend_image_job(void *backend, const ApiImageJob *job, ApiImageJobCallback cb, void *userdata,
                              ApiImageWatch **ret, BerthError *err)
{
        Manager *m = backend;
        ManagerImages *im = images(m);
        char key[STORE_KEY_MAX] = "";
        int p[2];
        pid_t pid;
        int r;

        Store *s;
        if (!im)
                return -ENOMEM;
        /* the daemon's handle (and its crash recovery) comes first */
        r = store_get(m, &s, err);
        if (r < 0)
                return r;
        if (job->kind == API_IMAGE_COMMIT) {
                MWorkload *w = manager_find(m, job->workload);
                _cleanup_free_ char *norm = NULL;
                if (!w)
                        return berth_error_set(err, -ENOENT, "name", "no workload \"%s\"", job->workload);
                if (!w->spec->image)
                        return berth_error_set(
                            err, -EINVAL, "name",
                            "workload \"%s\" runs from spec.rootfs, not an image: nothing to commit",
                            job->workload);
                if (store_ref_normalize(job->name, &norm) < 0)
                        return berth_error_set(err, -EINVAL, "image", "\"%s\" is not a valid image name",
                                               job->name);
                snapshot_key(job->workload, key);
        }
        if (job->kind == API_IMAGE_PULL) {
                _cleanup_free_ char *norm = NULL;
                if (store_ref_normalize(job->ref, &norm) < 0)
                        return berth_error_set(err, -EINVAL, "ref", "\"%s\" is not an image reference",
                                               job->ref);
        }
        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        pid_t daemon_pid = getpid();
        pid = fork();
        if (pid < 0) {
                r = -errno;
                safe_close(p[0]);
                safe_close(p[1]);
                return r;
        }
        if (pid == 0) {
                Worker w = {.fd = p[1]};
                safe_close(p[0]);
                signal(SIGPIPE, SIG_IGN);
                _exit(worker_run(m->config->root, job, key, daemon_pid, &w));
        }
        safe_close(p[1]);
        (void)fcntl(p[0], F_SETFL, O_NONBLOCK);

        ApiImageWatch *j = calloc(1, sizeof(*j));
        if (!j) {
                safe_close(p[0]);
                return -ENOMEM; /* the worker still finishes; it is reaped by nobody but init */
        }
        *j = (ApiImageWatch){.m = m, .pid = pid, .fd = p[0], .cb = cb, .userdata = userdata};
        r = sd_event_add_io(m->event, &j->io, j->fd, EPOLLIN, on_job_io, j);
        if (r < 0) {
                job_free(j);
                return r;
        }
        j->next = im->jobs;
        im->jobs = j;
        log_info("image job %d started (pid %d)", (int)job->kind, (int)pid);
        *ret = j;
        return 0;
}

void manager_backend_image_job_cancel(void *backend, ApiImageWatch *watch)
{
        if (watch)
                watch->cb = NULL; /* the worker finishes; nobody listens */
}
