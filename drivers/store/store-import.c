/* SPDX-License-Identifier: Apache-2.0 */
/* Import of an OCI image layout (a directory or a tar of one) and of a
 * docker-archive tar (docker save). Every blob goes through the verifying
 * ingest; OCI blobs are checked against the digest in their name and in the
 * descriptor, docker-archive files get their digest computed. */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <libgen.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "drivers/store/store-internal.h"

#define IMPORT_FILES_MAX 4096

typedef struct PathDigest {
        char *path;
        char digest[STORE_DIGEST_MAX];
        uint64_t size;
} PathDigest;

typedef struct Import {
        Store *s;
        int dir_fd; /* directory input, else -EBADF */
        char *index_json, *manifest_json;
        size_t index_len, manifest_len;
        PathDigest *files; /* tar input: everything ingested, by path */
        size_t n_files;
        char *default_name; /* basename of the input */
        BerthError *err;
} Import;

static void import_done(Import *im)
{
        safe_close(im->dir_fd);
        free(im->index_json);
        free(im->manifest_json);
        for (size_t i = 0; i < im->n_files; i++)
                free(im->files[i].path);
        free(im->files);
        free(im->default_name);
}

static void archive_readp(struct archive **a)
{
        if (*a)
                archive_read_free(*a);
}

static const char *clean_path(const char *p)
{
        while (p[0] == '.' && p[1] == '/')
                p += 2;
        while (*p == '/')
                p++;
        return p;
}

/* Ingests the current tar entry's data as a blob. */
static int ingest_entry(Import *im, struct archive *a, struct archive_entry *e, const char *expect,
                        char *ret)
{
        StoreIngest *in = NULL;
        const void *buf;
        size_t size;
        la_int64_t off;
        int r;

        r = store_ingest_begin(im->s, expect, archive_entry_size_is_set(e) ? archive_entry_size(e) : -1,
                               im->s->policy.blob_max, &in);
        if (r < 0)
                return r;
        while ((r = archive_read_data_block(a, &buf, &size, &off)) == ARCHIVE_OK)
                if (store_ingest_write(in, buf, size) < 0)
                        break;
        if (r != ARCHIVE_EOF && r != ARCHIVE_OK) {
                store_ingest_abort(in);
                return berth_error_set(im->err, -EIO, archive_entry_pathname(e), "%s",
                                       archive_error_string(a));
        }
        return store_ingest_finish(in, ret, im->err);
}

static int read_entry(struct archive *a, struct archive_entry *e, char **ret, size_t *ret_len)
{
        int64_t n = archive_entry_size(e);
        char *b;

        if (n < 0 || n > STORE_JSON_MAX)
                return -EFBIG;
        b = malloc((size_t)n + 1);
        if (!b)
                return -ENOMEM;
        if (archive_read_data(a, b, (size_t)n) != n) {
                free(b);
                return -EIO;
        }
        b[n] = 0;
        *ret = b;
        *ret_len = (size_t)n;
        return 0;
}

static int import_tar(Import *im, int fd)
{
        _cleanup_(archive_readp) struct archive *a = archive_read_new();
        struct archive_entry *e;
        int r;

        if (!a)
                return -ENOMEM;
        archive_read_support_format_tar(a);
        archive_read_support_format_gnutar(a);
        archive_read_support_filter_gzip(a);
        archive_read_support_filter_zstd(a);
        if (archive_read_open_fd(a, fd, 128 * 1024) != ARCHIVE_OK)
                return berth_error_set(im->err, -EINVAL, "file", "not a tar archive: %s",
                                       archive_error_string(a));
        while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
                const char *p = clean_path(strempty(archive_entry_pathname(e)));
                char digest[STORE_DIGEST_MAX];

                if (archive_entry_filetype(e) != AE_IFREG)
                        continue;
                if (streq(p, "index.json"))
                        r = read_entry(a, e, &im->index_json, &im->index_len);
                else if (streq(p, "manifest.json"))
                        r = read_entry(a, e, &im->manifest_json, &im->manifest_len);
                else if (streq(p, "oci-layout") || streq(p, "repositories"))
                        continue;
                else {
                        if (im->n_files >= IMPORT_FILES_MAX)
                                return berth_error_set(im->err, -E2BIG, "file", "more than %d files",
                                                       IMPORT_FILES_MAX);
                        const char *expect = NULL;
                        char ebuf[STORE_DIGEST_MAX];
                        if (strncmp(p, "blobs/sha256/", 13) == 0) {
                                snprintf(ebuf, sizeof(ebuf), "sha256:%s", p + 13);
                                if (!store_digest_is_valid(ebuf))
                                        return berth_error_set(im->err, -EINVAL, p,
                                                               "blob name is not a digest");
                                expect = ebuf;
                        }
                        r = ingest_entry(im, a, e, expect, digest);
                        if (r < 0)
                                return r;
                        PathDigest *nf = realloc(im->files, (im->n_files + 1) * sizeof(PathDigest));
                        if (!nf)
                                return -ENOMEM;
                        im->files = nf;
                        nf[im->n_files] =
                            (PathDigest){.path = strdup(p), .size = (uint64_t)archive_entry_size(e)};
                        memcpy(nf[im->n_files].digest, digest, sizeof(digest));
                        if (!nf[im->n_files++].path)
                                return -ENOMEM;
                }
                if (r < 0)
                        return berth_error_set(im->err, r, p, "cannot read the entry");
        }
        if (r != ARCHIVE_EOF)
                return berth_error_set(im->err, -EINVAL, "file", "corrupt archive: %s",
                                       archive_error_string(a));
        return 0;
}

/* Directory input: ingests blobs/sha256/<hex> for a descriptor on demand. */
static int ensure_blob(Import *im, const char *digest, int64_t size)
{
        char path[128];

        if (!store_digest_is_valid(digest))
                return berth_error_set(im->err, -EINVAL, "descriptor", "invalid digest %s",
                                       strempty(digest));
        if (store_blob_exists(im->s, digest))
                return 0;
        if (im->dir_fd < 0)
                return berth_error_set(im->err, -ENOENT, "descriptor", "blob %s is not in the archive",
                                       digest);
        snprintf(path, sizeof(path), "blobs/sha256/%s", digest + 7);
        struct open_how how = {.flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC,
                               .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS};
        _cleanup_close_ int fd = (int)syscall(SYS_openat2, im->dir_fd, path, &how, sizeof(how));
        if (fd < 0)
                return berth_error_set(im->err, -errno, "descriptor", "cannot open %s", path);
        return store_blob_ingest_fd(im->s, fd, digest, size, im->s->policy.blob_max, NULL, im->err);
}

static int descriptor_check(Import *im, const json_t *desc)
{
        const char *d = json_string_value(json_object_get(desc, "digest"));
        const json_t *sz = json_object_get(desc, "size");
        int r = ensure_blob(im, d, json_is_integer(sz) ? json_integer_value(sz) : -1);
        if (r < 0)
                return r;
        if (json_is_integer(sz)) {
                StoreImage tmp = {};
                (void)tmp;
                uint64_t have = 0;
                struct stat st;
                if (fstatat(im->s->blobs_fd, d + 7, &st, AT_SYMLINK_NOFOLLOW) == 0)
                        have = (uint64_t)st.st_size;
                if (have != (uint64_t)json_integer_value(sz))
                        return berth_error_set(im->err, -EBADMSG, "descriptor",
                                               "blob %s: size differs from the descriptor", d);
        }
        return 0;
}

static int strv_push(char ***l, size_t *n, const char *s)
{
        char **nl = realloc(*l, (*n + 2) * sizeof(char *));
        if (!nl)
                return -ENOMEM;
        *l = nl;
        nl[*n] = strdup(s);
        if (!nl[*n])
                return -ENOMEM;
        nl[++*n] = NULL;
        return 0;
}

static int add_manifest(Import *im, const json_t *desc, const char *name, char ***names, size_t *n_names)
{
        const char *digest = json_string_value(json_object_get(desc, "digest"));
        StoreImage img = {};
        json_t *m;
        int r;

        r = descriptor_check(im, desc);
        if (r < 0)
                return r;
        STORE_CRASH_POINT("manifest-recorded");
        r = store_manifest_load(im->s, digest, &img);
        if (r < 0)
                return berth_error_set(im->err, r, "manifest", "manifest %s is not a usable image manifest",
                                       digest);
        _cleanup_free_ char *mbuf = NULL;
        size_t mlen;
        r = store_blob_read(im->s, digest, STORE_JSON_MAX, &mbuf, &mlen);
        m = r >= 0 ? json_loadb(mbuf, mlen, 0, NULL) : NULL;
        if (!m)
                r = -EINVAL;
        if (r >= 0)
                r = descriptor_check(im, json_object_get(m, "config"));
        if (r >= 0)
                STORE_CRASH_POINT("config-recorded");
        for (size_t i = 0; r >= 0 && i < json_array_size(json_object_get(m, "layers")); i++)
                r = descriptor_check(im, json_array_get(json_object_get(m, "layers"), i));
        if (r >= 0)
                STORE_CRASH_POINT("layers-recorded");
        json_decref(m);
        store_image_done(&img);
        if (r >= 0)
                r = store_image_add(im->s, name, digest, im->err);
        if (r >= 0)
                r = strv_push(names, n_names, name);
        return r;
}

static int name_for(Import *im, const char *override, const json_t *desc, char **ret)
{
        const char *ref = json_string_value(
            json_object_get(json_object_get(desc, "annotations"), "org.opencontainers.image.ref.name"));
        char *n = NULL;

        if (override)
                return store_ref_normalize(override, ret);
        if (ref && (strchr(ref, ':') || strchr(ref, '/')))
                return store_ref_normalize(ref, ret);
        if (asprintf(&n, "%s:%s", im->default_name, ref ? ref : "latest") < 0)
                return -ENOMEM;
        int r = store_ref_normalize(n, ret);
        free(n);
        return r;
}

static int import_oci(Import *im, const char *override, char ***names, size_t *n_names)
{
        json_t *index = json_loadb(im->index_json, im->index_len, JSON_REJECT_DUPLICATES, NULL);
        json_t *d;
        size_t i;
        int r = 0;

        if (!index || !json_is_array(json_object_get(index, "manifests"))) {
                json_decref(index);
                return berth_error_set(im->err, -EINVAL, "index.json", "not an OCI image index");
        }
        json_array_foreach(json_object_get(index, "manifests"), i, d)
        {
                const char *mt = json_string_value(json_object_get(d, "mediaType"));
                const json_t *plat = json_object_get(d, "platform");
                _cleanup_free_ char *name = NULL;
                if (mt && strstr(mt, "index")) {
                        r = berth_error_set(im->err, -EOPNOTSUPP, "index.json",
                                            "nested indexes are not supported");
                        break;
                }
                if (plat && (!streq_ptr(json_string_value(json_object_get(plat, "architecture")), "amd64") ||
                             !streq_ptr(json_string_value(json_object_get(plat, "os")), "linux")))
                        continue;
                r = name_for(im, *n_names == 0 ? override : NULL, d, &name);
                if (r < 0)
                        break;
                r = add_manifest(im, d, name, names, n_names);
                if (r < 0)
                        break;
        }
        json_decref(index);
        return r;
}

static const PathDigest *file_find(Import *im, const char *path)
{
        path = clean_path(path);
        for (size_t i = 0; i < im->n_files; i++)
                if (streq(im->files[i].path, path))
                        return &im->files[i];
        return NULL;
}

/* docker save: manifest.json = [{Config, RepoTags, Layers}] with uncompressed tar layers. */
static int import_docker(Import *im, const char *override, char ***names, size_t *n_names)
{
        json_t *top = json_loadb(im->manifest_json, im->manifest_len, JSON_REJECT_DUPLICATES, NULL);
        json_t *ent;
        size_t i;
        int r = 0;

        if (!json_is_array(top)) {
                json_decref(top);
                return berth_error_set(im->err, -EINVAL, "manifest.json", "not a docker-archive manifest");
        }
        json_array_foreach(top, i, ent)
        {
                const PathDigest *cfg =
                    file_find(im, strempty(json_string_value(json_object_get(ent, "Config"))));
                json_t *layers = json_object_get(ent, "Layers"), *l;
                json_t *m =
                    json_pack("{s:i, s:s, s:{s:s, s:s, s:I}, s:[]}", "schemaVersion", 2, "mediaType",
                              "application/vnd.oci.image.manifest.v1+json", "config", "mediaType",
                              "application/vnd.oci.image.config.v1+json", "digest", cfg ? cfg->digest : "",
                              "size", (json_int_t)(cfg ? cfg->size : 0), "layers");
                size_t j;
                if (!m)
                        return -ENOMEM;
                if (!cfg || !json_is_array(layers)) {
                        json_decref(m);
                        r = berth_error_set(im->err, -EINVAL, "manifest.json",
                                            "image %zu: config or layers missing", i);
                        break;
                }
                json_array_foreach(layers, j, l)
                {
                        const PathDigest *f = file_find(im, strempty(json_string_value(l)));
                        if (!f) {
                                r = berth_error_set(im->err, -EINVAL, "manifest.json", "layer %s missing",
                                                    strempty(json_string_value(l)));
                                break;
                        }
                        json_array_append_new(json_object_get(m, "layers"),
                                              json_pack("{s:s, s:s, s:I}", "mediaType",
                                                        "application/vnd.oci.image.layer.v1.tar", "digest",
                                                        f->digest, "size", (json_int_t)f->size));
                }
                _cleanup_free_ char *mj = r >= 0 ? json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
                json_decref(m);
                if (r < 0)
                        break;
                char mdigest[STORE_DIGEST_MAX];
                r = mj ? store_blob_ingest_mem(im->s, mj, strlen(mj), NULL, mdigest, im->err) : -ENOMEM;
                if (r < 0)
                        break;
                STORE_CRASH_POINT("manifest-recorded");
                _cleanup_free_ char *name = NULL;
                const char *tag = json_string_value(json_array_get(json_object_get(ent, "RepoTags"), 0));
                if (*n_names == 0 && override)
                        r = store_ref_normalize(override, &name);
                else if (tag)
                        r = store_ref_normalize(tag, &name);
                else
                        r = asprintf(&name, "%s:latest", im->default_name) < 0 ? -ENOMEM : 0;
                if (r < 0)
                        break;
                r = store_image_add(im->s, name, mdigest, im->err);
                if (r >= 0)
                        r = strv_push(names, n_names, name);
                if (r < 0)
                        break;
        }
        json_decref(top);
        return r;
}

int store_import_path(Store *s, const char *path, const char *name, char ***ret_names, BerthError *err)
{
        _cleanup_close_ int fd = -EBADF;
        _cleanup_strv_free_ char **names = NULL;
        _cleanup_free_ char *copy = NULL;
        size_t n_names = 0;
        Import im = {.s = s, .dir_fd = -EBADF, .err = err};
        struct stat st;
        int r;

        if (!path || path[0] != '/')
                return berth_error_set(err, -EINVAL, "path", "the path must be absolute");
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0 || fstat(fd, &st) < 0)
                return berth_error_set(err, -errno, "path", "cannot open %s: %m", path);
        copy = strdup(path);
        if (!copy)
                return -ENOMEM;
        char *base = basename(copy);
        char *dot = strstr(base, ".tar");
        if (dot)
                *dot = 0;
        for (char *p = base; *p; p++)
                if (*p >= 'A' && *p <= 'Z')
                        *p = (char)(*p - 'A' + 'a');
        im.default_name = strdup(*base ? base : "imported");
        if (!im.default_name)
                return -ENOMEM;

        if (S_ISDIR(st.st_mode)) {
                im.dir_fd = TAKE_FD(fd);
                r = read_file_at(im.dir_fd, "index.json", STORE_JSON_MAX, &im.index_json, &im.index_len);
                if (r < 0)
                        r = berth_error_set(err, r, "path", "%s has no index.json: not an OCI image layout",
                                            path);
        } else if (S_ISREG(st.st_mode))
                r = import_tar(&im, fd);
        else
                r = berth_error_set(err, -EINVAL, "path", "%s is neither a directory nor a file", path);
        if (r >= 0) {
                if (im.index_json)
                        r = import_oci(&im, name, &names, &n_names);
                else if (im.manifest_json)
                        r = import_docker(&im, name, &names, &n_names);
                else
                        r = berth_error_set(err, -EINVAL, "path",
                                            "neither an OCI layout nor a docker-archive");
        }
        if (r >= 0 && n_names == 0)
                r = berth_error_set(err, -ENOENT, "path", "no linux/amd64 image in %s", path);
        import_done(&im);
        if (r < 0) {
                (void)store_gc(s, NULL); /* blobs ingested for nothing */
                return r;
        }
        if (ret_names)
                *ret_names = TAKE_PTR(names);
        return 0;
}
