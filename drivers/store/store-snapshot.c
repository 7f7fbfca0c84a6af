/* SPDX-License-Identifier: Apache-2.0 */
/* Snapshots: committed layers (unpacked once, shared), active snapshots
 * (overlayfs upper/work on top of an image's layers, O(1) in image size),
 * read-only views, commit (upper dir -> new layer -> new image), remove. */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "drivers/store/store-internal.h"
#include "lib/log.h"

#define MOUNT_OPTIONS_MAX 4000 /* below one page: the kernel's limit for mount data */

int store_chain_key(const char *parent_key, const char *layer_digest, char ret[STORE_KEY_MAX])
{
        _cleanup_free_ char *s = NULL;
        char d[STORE_DIGEST_MAX];
        int r;

        if (asprintf(&s, "%s|%s", strempty(parent_key), layer_digest) < 0)
                return -ENOMEM;
        r = store_sha256_digest(s, strlen(s), d);
        if (r < 0)
                return r;
        snprintf(ret, STORE_KEY_MAX, "layer-%s", d + 7);
        return 0;
}

static int unpack_layer(Store *s, const char *parent_key, const char *key, const char *layer,
                        BerthError *err)
{
        _cleanup_free_ char *tmp = NULL;
        _cleanup_close_ int tfd = -EBADF, fsfd = -EBADF, blob = -EBADF;
        ExtractStats st = {};
        int r;

        r = store_tmpdir_make(s, &tmp, &tfd);
        if (r < 0)
                return r;
        if (mkdirat(tfd, "fs", 0755) < 0) {
                r = -errno;
                goto fail;
        }
        fsfd = openat(tfd, "fs", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fsfd < 0) {
                r = -errno;
                goto fail;
        }
        r = store_blob_open(s, layer, &blob);
        if (r < 0)
                goto fail;
        r = safe_extract_fd(blob, fsfd, &s->policy, &st, err);
        if (r < 0)
                goto fail;
        STORE_CRASH_POINT("layer-extracted"); /* a full tree in tmp/ */
        /* the tree must be on disk before the row says it exists */
        if (syncfs(fsfd) < 0) {
                r = -errno;
                goto fail;
        }
        STORE_CRASH_POINT("layer-synced");
        if (renameat(s->tmp_fd, tmp, s->snapshots_fd, key) < 0) {
                r = -errno;
                goto fail;
        }
        if (fsync(s->snapshots_fd) < 0)
                return -errno; /* swept at the next open: no row */
        STORE_CRASH_POINT("layer-renamed"); /* in snapshots/, no row yet: swept at the next open */
        r = store_sql(s,
                      "INSERT INTO snapshots (key, kind, parent, layer, size, created) VALUES (?1, "
                      "'committed', ?2, ?3, "
                      "?4, ?5)",
                      NULL, NULL, key, parent_key, layer, STORE_SQL_INT, (int64_t)st.expanded_bytes,
                      STORE_SQL_INT, (int64_t)now_usec(CLOCK_REALTIME), STORE_SQL_END);
        if (r < 0)
                (void)rm_rf_at(s->snapshots_fd, key);
        else
                STORE_CRASH_POINT("layer-recorded");
        log_debug("store: unpacked %s into %s (%" PRIu64 " entries, %" PRIu64 " bytes)", layer, key,
                  st.entries, st.expanded_bytes);
        return r;
fail:
        (void)rm_rf_at(s->tmp_fd, tmp);
        return r;
}

int store_image_unpack(Store *s, const StoreImage *img, BerthError *err)
{
        _cleanup_free_ char(*keys)[STORE_KEY_MAX] = NULL;
        int r;

        r = store_image_chain_keys(s, img, &keys);
        for (size_t i = 0; r >= 0 && i < img->n_layers; i++)
                if (!store_row_exists(s, "SELECT 1 FROM snapshots WHERE key = ?1", keys[i]))
                        r = unpack_layer(s, i ? keys[i - 1] : NULL, keys[i], img->layers[i], err);
        return r;
}

typedef struct SnapRow {
        char kind[16];
        char *parent, *image;
        bool found;
} SnapRow;

static int snap_row(void *userdata, sqlite3_stmt *st)
{
        SnapRow *r = userdata;
        const unsigned char *p = sqlite3_column_text(st, 1), *i = sqlite3_column_text(st, 2);

        snprintf(r->kind, sizeof(r->kind), "%s", (const char *)sqlite3_column_text(st, 0));
        r->parent = p ? strdup((const char *)p) : NULL;
        r->image = i ? strdup((const char *)i) : NULL;
        r->found = true;
        return 0;
}

static int snap_get(Store *s, const char *key, SnapRow *ret)
{
        *ret = (SnapRow){};
        int r = store_sql(s, "SELECT kind, parent, image FROM snapshots WHERE key = ?1", snap_row, ret, key,
                          STORE_SQL_END);
        if (r < 0)
                return r;
        return ret->found ? 0 : -ENOENT;
}

static void snap_done(SnapRow *r)
{
        free(r->parent);
        free(r->image);
}

/* "lowerdir=<top>/fs:...:<base>/fs" for the chain starting at top (may be NULL). */
static int lower_option(Store *s, const char *key, const char *top, char **buf, size_t *len, size_t *cap,
                        unsigned *ret_n)
{
        _cleanup_free_ char *cur = strdup_or_null(top);
        unsigned n = 0;
        int r;

        r = buf_printf(buf, len, cap, "lowerdir=");
        while (r >= 0 && cur) {
                SnapRow row;
                r = snap_get(s, cur, &row);
                if (r < 0)
                        return r;
                r = buf_printf(buf, len, cap, "%s%s/snapshots/%s/fs", n ? ":" : "", s->path, cur);
                free(cur);
                cur = TAKE_PTR(row.parent);
                snap_done(&row);
                if (++n > STORE_LAYERS_MAX)
                        return -ELOOP;
        }
        if (r >= 0 && n == 0) {
                /* an image without layers: an empty lower dir of the snapshot's own */
                r = buf_printf(buf, len, cap, "%s/snapshots/%s/empty", s->path, key);
                n = 1;
        }
        *ret_n = n;
        return r;
}

/* Mounts mounts/<key> given the lowerdir option (opts, with n layers). */
static int do_mount(Store *s, const char *key, bool active, bool fresh, char **opts, size_t *len,
                    size_t *cap, unsigned n, char **ret_mountpoint, BerthError *err)
{
        _cleanup_free_ char *target = NULL;
        int r = 0;

        if (asprintf(&target, "%s/mounts/%s", s->path, key) < 0)
                return -ENOMEM;
        if (!fresh && store_is_mountpoint(s->mounts_fd, key))
                goto done;
        if (mkdirat(s->mounts_fd, key, 0755) < 0 && errno != EEXIST)
                return -errno;
        if (active)
                r = buf_printf(opts, len, cap,
                               ",upperdir=%s/snapshots/%s/upper,workdir=%s/snapshots/%s/work", s->path, key,
                               s->path, key);
        if (r < 0)
                return r;
        if (*len > MOUNT_OPTIONS_MAX)
                return berth_error_set(err, -E2BIG, "snapshot", "too many layers for one overlay mount");
        if (!active && n == 1) {
                /* overlayfs wants two lower layers without an upper: bind the one read-only */
                const char *src = *opts + STRLEN("lowerdir=");
                if (mount(src, target, NULL, MS_BIND, NULL) < 0 ||
                    mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0)
                        r = -errno;
        } else if (mount("overlay", target, "overlay", active ? 0 : MS_RDONLY, *opts) < 0)
                r = -errno;
        if (r < 0)
                return berth_error_set(err, r, "snapshot", "cannot mount snapshot %s: %s", key,
                                       strerror(-r));
done:
        if (ret_mountpoint)
                *ret_mountpoint = TAKE_PTR(target);
        return 0;
}

int store_snapshot_mount(Store *s, const char *key, char **ret_mountpoint, BerthError *err)
{
        _cleanup_free_ char *opts = NULL;
        size_t len = 0, cap = 0;
        unsigned n = 0;
        SnapRow row;
        int r;

        if (!store_key_is_valid(key))
                return -EINVAL;
        r = snap_get(s, key, &row);
        if (r < 0)
                return berth_error_set(err, r, "snapshot", "no snapshot %s", key);
        if (streq(row.kind, "committed")) {
                snap_done(&row);
                return berth_error_set(err, -EINVAL, "snapshot", "%s is a committed layer", key);
        }
        bool active = streq(row.kind, "active");
        r = lower_option(s, key, row.parent, &opts, &len, &cap, &n);
        snap_done(&row);
        if (r < 0)
                return r;
        return do_mount(s, key, active, false, &opts, &len, &cap, n, ret_mountpoint, err);
}

/* mkdir snapshots/<key>/<name> */
static int snap_mkdir(Store *s, const char *key, const char *name, mode_t mode)
{
        char path[STORE_KEY_MAX + 16];

        snprintf(path, sizeof(path), "%s/%s", key, name);
        return mkdirat(s->snapshots_fd, path, mode) < 0 ? -errno : 0;
}

/* Records snapshot key of image_ref: its directories and its row, in one
 * write transaction with the image lookup. Fills img and keys (the chain
 * key of each of img's layers). */
static int snapshot_record(Store *s, const char *key, const char *image_ref, bool active, StoreImage *img,
                           char (**ret_keys)[STORE_KEY_MAX], BerthError *err)
{
        char(*keys)[STORE_KEY_MAX] = NULL;
        bool made = false;
        int r;

        r = store_sql(s, "BEGIN IMMEDIATE", NULL, NULL, STORE_SQL_END);
        if (r < 0)
                return berth_error_set(err, r, "snapshot", "cannot begin a transaction: %s", strerror(-r));
        r = store_image_get(s, image_ref, img);
        if (r < 0) {
                berth_error_set(err, r, "image", "no image %s", image_ref);
                goto fail;
        }
        r = store_image_chain_keys(s, img, &keys);
        /* an image's layers are unpacked before its row exists and GC keeps
         * them while it does; a layer lost anyway shows as ENOENT at mount */
        if (r < 0)
                goto fail;

        /* Made in place: a directory without its row is swept at open, and
         * an active snapshot starts empty, so nothing here needs an fsync. */
        if (mkdirat(s->snapshots_fd, key, 0755) < 0) {
                r = -errno;
                if (r == -EEXIST && store_row_exists(s, "SELECT 1 FROM snapshots WHERE key = ?1", key)) {
                        berth_error_set(err, -EEXIST, "key", "snapshot %s exists", key);
                        goto fail;
                }
                /* a stray directory of a crashed attempt */
                if (r != -EEXIST || rm_rf_at(s->snapshots_fd, key) < 0 ||
                    mkdirat(s->snapshots_fd, key, 0755) < 0)
                        goto fail;
        }
        made = true;
        /* the store's own tree, the key just made and checked: no openat needed */
        r = active ? snap_mkdir(s, key, "upper", 0755) : 0;
        if (r >= 0 && active)
                r = snap_mkdir(s, key, "work", 0700);
        if (r >= 0 && img->n_layers == 0)
                r = snap_mkdir(s, key, "empty", 0755);
        if (r >= 0)
                r = store_sql(s,
                              "INSERT INTO snapshots (key, kind, parent, image, created) VALUES (?1, ?2, ?3, ?4, "
                              "?5)",
                              NULL, NULL, key, active ? "active" : "view",
                              img->n_layers ? keys[img->n_layers - 1] : NULL, img->digest, STORE_SQL_INT,
                              (int64_t)now_usec(CLOCK_REALTIME), STORE_SQL_END);
        if (r >= 0)
                r = store_sql(s, "COMMIT", NULL, NULL, STORE_SQL_END);
        if (r >= 0) {
                *ret_keys = keys;
                return 0;
        }
fail:
        (void)store_sql(s, "ROLLBACK", NULL, NULL, STORE_SQL_END);
        if (made)
                (void)rm_rf_at(s->snapshots_fd, key);
        free(keys);
        store_image_done(img);
        return r;
}

static int snapshot_make(Store *s, const char *key, const char *image_ref, bool active,
                         char **ret_mountpoint, BerthError *err)
{
        char(*keys)[STORE_KEY_MAX] = NULL;
        _cleanup_free_ char *opts = NULL;
        size_t len = 0, cap = 0;
        StoreImage img = {};
        int r;

        if (!store_key_is_valid(key))
                return berth_error_set(err, -EINVAL, "key", "invalid snapshot key %s", strempty(key));
        r = snapshot_record(s, key, image_ref, active, &img, &keys, err);
        if (r < 0)
                return r;
        r = buf_printf(&opts, &len, &cap, "lowerdir=");
        for (size_t i = img.n_layers; r >= 0 && i > 0; i--)
                r = buf_printf(&opts, &len, &cap, "%s%s/snapshots/%s/fs", i < img.n_layers ? ":" : "",
                               s->path, keys[i - 1]);
        if (r >= 0 && img.n_layers == 0)
                r = buf_printf(&opts, &len, &cap, "%s/snapshots/%s/empty", s->path, key);
        if (r >= 0) {
                size_t len0 = len;
                r = do_mount(s, key, active, true, &opts, &len, &cap,
                             img.n_layers ? (unsigned)img.n_layers : 1, ret_mountpoint, err);
                if (r == -ENOENT && img.n_layers > 0) {
                        /* a committed layer went missing (crash recovery): unpack again */
                        *err = (BerthError){};
                        opts[len0] = 0;
                        len = len0;
                        r = store_image_unpack(s, &img, err);
                        if (r >= 0)
                                r = do_mount(s, key, active, true, &opts, &len, &cap, (unsigned)img.n_layers,
                                             ret_mountpoint, err);
                }
        }
        if (r < 0)
                (void)store_snapshot_remove(s, key);
        free(keys);
        store_image_done(&img);
        return r;
}

int store_snapshot_prepare(Store *s, const char *key, const char *image_ref, char **ret_mountpoint,
                           BerthError *err)
{
        return snapshot_make(s, key, image_ref, true, ret_mountpoint, err);
}

int store_snapshot_view(Store *s, const char *key, const char *image_ref, char **ret_mountpoint,
                        BerthError *err)
{
        return snapshot_make(s, key, image_ref, false, ret_mountpoint, err);
}

int store_snapshot_remove(Store *s, const char *key)
{
        SnapRow row;
        int r;

        if (!store_key_is_valid(key))
                return -EINVAL;
        r = snap_get(s, key, &row);
        if (r < 0)
                return r;
        bool committed = streq(row.kind, "committed");
        snap_done(&row);
        if (committed)
                return -EPERM; /* layers go through GC */
        r = store_unmount_key(s, key);
        if (r < 0)
                return r;
        r = store_sql(s, "DELETE FROM snapshots WHERE key = ?1", NULL, NULL, key, STORE_SQL_END);
        if (r < 0)
                return r;
        return rm_rf_at(s->snapshots_fd, key);
}

/* ---- commit: upper dir -> tar layer ---- */

static void archive_writep(struct archive **a)
{
        if (*a)
                archive_write_free(*a);
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static int tar_add(struct archive *a, int dfd, const char *name, const char *path, const struct stat *st,
                   const char *arcname_override)
{
        struct archive_entry *e = archive_entry_new();
        int r = 0;

        if (!e)
                return -ENOMEM;
        archive_entry_copy_stat(e, st);
        archive_entry_set_pathname(e, arcname_override ? arcname_override : path);
        if (S_ISLNK(st->st_mode)) {
                char target[PATH_MAX];
                ssize_t n = readlinkat(dfd, name, target, sizeof(target) - 1);
                if (n < 0) {
                        archive_entry_free(e);
                        return -errno;
                }
                target[n] = 0;
                archive_entry_set_symlink(e, target);
        }
        if (!S_ISREG(st->st_mode))
                archive_entry_set_size(e, 0);
        if (archive_write_header(a, e) != ARCHIVE_OK)
                r = -EIO;
        if (r >= 0 && S_ISREG(st->st_mode) && st->st_size > 0) {
                _cleanup_close_ int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
                char buf[65536];
                ssize_t n;
                if (fd < 0)
                        r = -errno;
                while (r >= 0 && (n = read(fd, buf, sizeof(buf))) > 0)
                        if (archive_write_data(a, buf, (size_t)n) != n)
                                r = -EIO;
        }
        archive_entry_free(e);
        return r;
}

static int tar_dir(struct archive *a, int dfd, const char *prefix, unsigned depth)
{
        _cleanup_close_ int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        char **names = NULL;
        size_t n = 0;
        struct dirent *de;
        DIR *d;
        int r = 0;

        if (depth > 256)
                return -ELOOP;
        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (!d)
                return -errno;
        TAKE_FD(fd);
        while ((de = readdir(d))) {
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                char **nv = realloc(names, (n + 2) * sizeof(char *));
                if (!nv || !(nv[n] = strdup(de->d_name))) {
                        names = nv ? nv : names;
                        r = -ENOMEM;
                        break;
                }
                names = nv;
                names[++n] = NULL;
        }
        if (names)
                qsort(names, n, sizeof(char *), cmp_str);
        for (size_t i = 0; r >= 0 && i < n; i++) {
                _cleanup_free_ char *path = NULL;
                struct stat st;
                if (asprintf(&path, "%s%s", prefix, names[i]) < 0) {
                        r = -ENOMEM;
                        break;
                }
                if (fstatat(dirfd(d), names[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        r = -errno;
                        break;
                }
                if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0)) {
                        /* overlay whiteout -> OCI whiteout */
                        _cleanup_free_ char *wh = NULL;
                        if (asprintf(&wh, "%s.wh.%s", prefix, names[i]) < 0) {
                                r = -ENOMEM;
                                break;
                        }
                        struct stat fst = {.st_mode = S_IFREG | 0644, .st_mtime = st.st_mtime};
                        r = tar_add(a, dirfd(d), names[i], path, &fst, wh);
                        continue;
                }
                r = tar_add(a, dirfd(d), names[i], path, &st, NULL);
                if (r < 0 || !S_ISDIR(st.st_mode))
                        continue;
                _cleanup_close_ int sub =
                    openat(dirfd(d), names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (sub < 0) {
                        r = -errno;
                        break;
                }
                _cleanup_free_ char *subprefix = NULL;
                if (asprintf(&subprefix, "%s/", path) < 0) {
                        r = -ENOMEM;
                        break;
                }
                char v[4];
                if (fgetxattr(sub, "trusted.overlay.opaque", v, sizeof(v)) == 1 && v[0] == 'y') {
                        _cleanup_free_ char *opq = NULL;
                        struct stat fst = {.st_mode = S_IFREG | 0644, .st_mtime = st.st_mtime};
                        if (asprintf(&opq, "%s.wh..wh..opq", subprefix) < 0) {
                                r = -ENOMEM;
                                break;
                        }
                        r = tar_add(a, sub, ".", opq, &fst, opq);
                        if (r < 0)
                                break;
                }
                r = tar_dir(a, sub, subprefix, depth + 1);
        }
        closedir(d);
        strv_free(names);
        return r;
}

static int json_append_layer(json_t *manifest, json_t *config, const char *digest, uint64_t size)
{
        json_t *layers = json_object_get(manifest, "layers");
        json_t *rootfs = json_object_get(config, "rootfs");
        json_t *diff_ids = json_object_get(rootfs, "diff_ids");
        json_t *history = json_object_get(config, "history");
        char created[RFC3339_MAX];

        if (!json_is_array(layers) || !json_is_array(diff_ids))
                return -EINVAL;
        if (json_array_append_new(layers, json_pack("{s:s, s:s, s:I}", "mediaType",
                                                    "application/vnd.oci.image.layer.v1.tar", "digest",
                                                    digest, "size", (json_int_t)size)) < 0 ||
            json_array_append_new(diff_ids, json_string(digest)) < 0)
                return -ENOMEM;
        format_rfc3339(created, sizeof(created), now_usec(CLOCK_REALTIME));
        if (!json_is_array(history)) {
                history = json_array();
                json_object_set_new(config, "history", history);
        }
        json_array_append_new(history,
                              json_pack("{s:s, s:s}", "created", created, "created_by", "berthctl commit"));
        json_object_set_new(config, "created", json_string(created));
        return 0;
}

int store_snapshot_commit(Store *s, const char *key, const char *name, char ret_digest[STORE_DIGEST_MAX],
                          BerthError *err)
{
        _cleanup_(archive_writep) struct archive *a = NULL;
        _cleanup_close_ int upper = -EBADF, tarfd = -EBADF;
        _cleanup_free_ char *mbuf = NULL, *mjson = NULL, *cjson = NULL;
        char tmpname[64], layer[STORE_DIGEST_MAX], cdigest[STORE_DIGEST_MAX], mdigest[STORE_DIGEST_MAX];
        json_t *manifest = NULL, *config = NULL;
        StoreImage base = {};
        SnapRow row;
        size_t mlen;
        struct stat st;
        int r;

        r = snap_get(s, key, &row);
        if (r < 0)
                return berth_error_set(err, r, "snapshot", "no snapshot %s", key);
        if (!streq(row.kind, "active") || !row.image) {
                snap_done(&row);
                return berth_error_set(err, -EINVAL, "snapshot", "%s is not an active snapshot", key);
        }
        r = store_manifest_load(s, row.image, &base);
        snap_done(&row);
        if (r < 0)
                return berth_error_set(err, r, "image", "the snapshot's base image is gone");

        snprintf(tmpname, sizeof(tmpname), "commit-%d.tar", (int)getpid());
        tarfd = openat(s->tmp_fd, tmpname, O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
        upper = openat(s->snapshots_fd, key, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (tarfd < 0 || upper < 0) {
                r = -errno;
                goto out;
        }
        int ufd = openat(upper, "upper", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (ufd < 0) {
                r = -errno;
                goto out;
        }
        safe_close(upper);
        upper = ufd;
        a = archive_write_new();
        if (!a || archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
            archive_write_open_fd(a, tarfd) != ARCHIVE_OK) {
                r = -EIO;
                goto out;
        }
        r = tar_dir(a, upper, "", 0);
        if (r < 0 || archive_write_close(a) != ARCHIVE_OK) {
                r = berth_error_set(err, r < 0 ? r : -EIO, "snapshot", "cannot write the layer tar");
                goto out;
        }
        if (fstat(tarfd, &st) < 0 || lseek(tarfd, 0, SEEK_SET) < 0) {
                r = -errno;
                goto out;
        }
        STORE_CRASH_POINT("tar-written"); /* the diff tar in tmp/ */
        r = store_blob_ingest_fd(s, tarfd, NULL, st.st_size, 0, layer, err);
        if (r < 0)
                goto out;
        STORE_CRASH_POINT("diff-recorded");

        r = store_blob_read(s, base.digest, STORE_JSON_MAX, &mbuf, &mlen);
        if (r < 0)
                goto out;
        manifest = json_loadb(mbuf, mlen, 0, NULL);
        r = store_image_config(s, &base, &config);
        if (r < 0 || !manifest) {
                r = r < 0 ? r : -EINVAL;
                goto out;
        }
        r = json_append_layer(manifest, config, layer, (uint64_t)st.st_size);
        if (r < 0)
                goto out;
        cjson = json_dumps(config, JSON_COMPACT | JSON_SORT_KEYS);
        if (!cjson) {
                r = -ENOMEM;
                goto out;
        }
        r = store_blob_ingest_mem(s, cjson, strlen(cjson), NULL, cdigest, err);
        if (r < 0)
                goto out;
        STORE_CRASH_POINT("config-recorded");
        json_object_set_new(manifest, "mediaType",
                            json_string("application/vnd.oci.image.manifest.v1+json"));
        json_object_set_new(manifest, "config",
                            json_pack("{s:s, s:s, s:I}", "mediaType",
                                      "application/vnd.oci.image.config.v1+json", "digest", cdigest, "size",
                                      (json_int_t)strlen(cjson)));
        mjson = json_dumps(manifest, JSON_COMPACT | JSON_SORT_KEYS);
        if (!mjson) {
                r = -ENOMEM;
                goto out;
        }
        r = store_blob_ingest_mem(s, mjson, strlen(mjson), NULL, mdigest, err);
        if (r < 0)
                goto out;
        STORE_CRASH_POINT("manifest-recorded");
        r = store_image_add(s, name, mdigest, err);
        if (r >= 0 && ret_digest)
                memcpy(ret_digest, mdigest, STORE_DIGEST_MAX);
out:
        (void)unlinkat(s->tmp_fd, tmpname, 0);
        json_decref(manifest);
        json_decref(config);
        store_image_done(&base);
        return r;
}
