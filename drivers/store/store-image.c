/* SPDX-License-Identifier: Apache-2.0 */
/* Image records: name -> manifest digest; manifests and configs parsed. */
#include <fcntl.h>

#include "drivers/store/store-internal.h"

static bool media_is_manifest(const char *mt)
{
        return !mt || streq(mt, "application/vnd.oci.image.manifest.v1+json") ||
               streq(mt, "application/vnd.docker.distribution.manifest.v2+json");
}

static bool media_is_layer(const char *mt)
{
        static const char *const ok[] = {
            "application/vnd.oci.image.layer.v1.tar",
            "application/vnd.oci.image.layer.v1.tar+gzip",
            "application/vnd.oci.image.layer.v1.tar+zstd",
            "application/vnd.docker.image.rootfs.diff.tar.gzip",
            "application/vnd.docker.image.rootfs.diff.tar",
        };
        for (size_t i = 0; i < ELEMENTSOF(ok); i++)
                if (mt && streq(mt, ok[i]))
                        return true;
        return false;
}

void store_image_done(StoreImage *img)
{
        if (!img)
                return;
        free(img->name);
        free(img->digest);
        free(img->config_digest);
        strv_free(img->layers);
        strv_free(img->media_types);
        *img = (StoreImage){};
}

void store_image_list_free(StoreImage *l, size_t n)
{
        for (size_t i = 0; l && i < n; i++)
                store_image_done(&l[i]);
        free(l);
}

int store_manifest_parse(const char *json, size_t len, StoreImage *img, BerthError *err)
{
        json_t *root, *layers, *l;
        json_error_t jerr;
        const char *cfg;
        size_t i;
        int r = 0;

        root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!root)
                return berth_error_set(err, -EINVAL, "manifest", "not JSON: %s", jerr.text);
        if (!media_is_manifest(json_string_value(json_object_get(root, "mediaType"))) ||
            json_integer_value(json_object_get(root, "schemaVersion")) != 2) {
                r = berth_error_set(err, -EOPNOTSUPP, "manifest", "not an image manifest (schema 2)");
                goto out;
        }
        cfg = json_string_value(json_object_get(json_object_get(root, "config"), "digest"));
        layers = json_object_get(root, "layers");
        if (!store_digest_is_valid(cfg) || !json_is_array(layers) ||
            json_array_size(layers) > STORE_LAYERS_MAX) {
                r = berth_error_set(err, -EINVAL, "manifest",
                                    "config digest or layers missing, or over %d layers", STORE_LAYERS_MAX);
                goto out;
        }
        img->config_digest = strdup(cfg);
        img->layers = calloc(json_array_size(layers) + 1, sizeof(char *));
        img->media_types = calloc(json_array_size(layers) + 1, sizeof(char *));
        if (!img->config_digest || !img->layers || !img->media_types) {
                r = -ENOMEM;
                goto out;
        }
        img->size =
            len + (uint64_t)json_integer_value(json_object_get(json_object_get(root, "config"), "size"));
        json_array_foreach(layers, i, l)
        {
                const char *d = json_string_value(json_object_get(l, "digest"));
                const char *mt = json_string_value(json_object_get(l, "mediaType"));
                if (!store_digest_is_valid(d) || !media_is_layer(mt)) {
                        r = berth_error_set(err, -EOPNOTSUPP, "manifest",
                                            "layer %zu: unsupported digest or media type %s", i,
                                            strempty(mt));
                        goto out;
                }
                img->layers[i] = strdup(d);
                img->media_types[i] = strdup(mt);
                if (!img->layers[i] || !img->media_types[i]) {
                        r = -ENOMEM;
                        goto out;
                }
                img->n_layers = i + 1;
                img->size += (uint64_t)json_integer_value(json_object_get(l, "size"));
        }
out:
        json_decref(root);
        return r;
}

/* img = a deep copy of from's manifest fields (digest, config, layers, size) */
static int manifest_copy(const StoreImage *from, StoreImage *img)
{
        *img = (StoreImage){.n_layers = from->n_layers, .size = from->size};
        int r = strv_copy_n(from->layers, from->n_layers, &img->layers);
        if (r >= 0)
                r = strv_copy_n(from->media_types, from->n_layers, &img->media_types);
        if (r >= 0 && (!(img->digest = strdup(from->digest)) ||
                       !(img->config_digest = strdup(from->config_digest))))
                r = -ENOMEM;
        if (r < 0)
                store_image_done(img);
        return r;
}

static StoreManifestEntry *manifest_cached(Store *s, const char *digest)
{
        for (size_t i = 0; digest && i < ELEMENTSOF(s->manifests); i++)
                if (s->manifests[i].img.digest && streq(s->manifests[i].img.digest, digest))
                        return &s->manifests[i];
        return NULL;
}

static void manifest_entry_done(StoreManifestEntry *e)
{
        store_image_done(&e->img);
        free(e->chain);
        e->chain = NULL;
}

void store_manifest_cache_free(Store *s)
{
        for (size_t i = 0; i < ELEMENTSOF(s->manifests); i++)
                manifest_entry_done(&s->manifests[i]);
}

static int chain_keys_compute(const StoreImage *img, char (*ret)[STORE_KEY_MAX])
{
        for (size_t i = 0; i < img->n_layers; i++) {
                int r = store_chain_key(i ? ret[i - 1] : NULL, img->layers[i], ret[i]);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Best effort: a failure leaves the slot empty and the next load parses again. */
static void manifest_cache_add(Store *s, const StoreImage *img)
{
        StoreManifestEntry *e = &s->manifests[s->manifests_next++ % ELEMENTSOF(s->manifests)];

        manifest_entry_done(e);
        e->chain = calloc(img->n_layers ? img->n_layers : 1, sizeof(*e->chain));
        if (!e->chain || chain_keys_compute(img, e->chain) < 0 || manifest_copy(img, &e->img) < 0)
                manifest_entry_done(e);
}

int store_manifest_load(Store *s, const char *digest, StoreImage *img)
{
        _cleanup_free_ char *buf = NULL;
        StoreManifestEntry *e = manifest_cached(s, digest);
        size_t len;
        int r;

        if (e)
                return manifest_copy(&e->img, img);
        r = store_blob_read(s, digest, STORE_JSON_MAX, &buf, &len);
        if (r < 0)
                return r;
        r = store_manifest_parse(buf, len, img, NULL);
        if (r < 0) {
                store_image_done(img);
                return r;
        }
        img->digest = strdup(digest);
        if (!img->digest)
                return -ENOMEM;
        manifest_cache_add(s, img);
        return 0;
}

int store_image_chain_keys(Store *s, const StoreImage *img, char (**ret)[STORE_KEY_MAX])
{
        StoreManifestEntry *e = manifest_cached(s, img->digest);
        char(*keys)[STORE_KEY_MAX] = calloc(img->n_layers + 1, sizeof(*keys));
        int r = 0;

        if (!keys)
                return -ENOMEM;
        if (e && e->img.n_layers == img->n_layers)
                memcpy(keys, e->chain, img->n_layers * sizeof(*keys));
        else
                r = chain_keys_compute(img, keys);
        if (r < 0) {
                free(keys);
                return r;
        }
        *ret = keys;
        return 0;
}

int store_ref_normalize(const char *ref, char **ret)
{
        const char *slash, *colon;

        if (!ref || !*ref || strlen(ref) > STORE_REF_MAX)
                return -EINVAL;
        for (const char *p = ref; *p; p++)
                if (*p <= ' ' || *p == '"' || *p == '\\' || (unsigned char)*p >= 0x7f)
                        return -EINVAL;
        if (strchr(ref, '@')) {
                *ret = strdup(ref);
                return *ret ? 0 : -ENOMEM;
        }
        slash = strrchr(ref, '/');
        colon = strrchr(ref, ':');
        if (colon && (!slash || colon > slash))
                *ret = strdup(ref);
        else if (asprintf(ret, "%s:latest", ref) < 0)
                *ret = NULL;
        return *ret ? 0 : -ENOMEM;
}

typedef struct ImageRow {
        StoreImage *a;
        size_t n;
} ImageRow;

static int image_row(void *userdata, sqlite3_stmt *st)
{
        ImageRow *l = userdata;
        StoreImage img = {};
        StoreImage *na;

        na = realloc(l->a, (l->n + 1) * sizeof(StoreImage));
        if (!na)
                return -ENOMEM;
        l->a = na;
        img.name = strdup((const char *)sqlite3_column_text(st, 0));
        img.digest = strdup((const char *)sqlite3_column_text(st, 1));
        img.created = (usec_t)sqlite3_column_int64(st, 2);
        if (!img.name || !img.digest) {
                store_image_done(&img);
                return -ENOMEM;
        }
        l->a[l->n++] = img;
        return 0;
}

/* Fills the manifest fields of rows loaded by name/digest only. */
static int image_fill(Store *s, StoreImage *img)
{
        StoreImage m = {};
        int r = store_manifest_load(s, img->digest, &m);
        if (r < 0)
                return r;
        img->config_digest = TAKE_PTR(m.config_digest);
        img->layers = TAKE_PTR(m.layers);
        img->media_types = TAKE_PTR(m.media_types);
        img->n_layers = m.n_layers;
        img->size = m.size;
        store_image_done(&m);
        return 0;
}

int store_image_list(Store *s, StoreImage **ret, size_t *ret_n)
{
        ImageRow l = {};
        int r;

        r = store_sql(s, "SELECT name, manifest, created FROM images ORDER BY name", image_row, &l,
                      STORE_SQL_END);
        for (size_t i = 0; r >= 0 && i < l.n; i++)
                (void)image_fill(s, &l.a[i]); /* a broken manifest still lists */
        if (r < 0) {
                store_image_list_free(l.a, l.n);
                return r;
        }
        *ret = l.a;
        *ret_n = l.n;
        return 0;
}

/* ref: a name, a name without tag (":latest" added), a manifest digest or
 * a unique prefix of its hex of at least 12 characters. */
int store_image_get(Store *s, const char *ref, StoreImage *ret)
{
        _cleanup_free_ char *norm = NULL;
        ImageRow l = {};
        int r;

        if (!ref || !*ref)
                return -EINVAL;
        if (store_digest_is_valid(ref))
                r = store_sql(
                    s,
                    "SELECT name, manifest, created FROM images WHERE manifest = ?1 ORDER BY name LIMIT 1",
                    image_row, &l, ref, STORE_SQL_END);
        else
                r = store_sql(s, "SELECT name, manifest, created FROM images WHERE name = ?1", image_row, &l,
                              ref, STORE_SQL_END);
        if (r >= 0 && l.n == 0 && store_ref_normalize(ref, &norm) >= 0)
                r = store_sql(s, "SELECT name, manifest, created FROM images WHERE name = ?1", image_row, &l,
                              norm, STORE_SQL_END);
        static const char *const hub[] = {"docker.io/", "docker.io/library/"};
        for (size_t i = 0; r >= 0 && l.n == 0 && norm && i < ELEMENTSOF(hub); i++) {
                _cleanup_free_ char *full = NULL;
                if (asprintf(&full, "%s%s", hub[i], norm) < 0)
                        return -ENOMEM;
                r = store_sql(s, "SELECT name, manifest, created FROM images WHERE name = ?1", image_row, &l,
                              full, STORE_SQL_END);
        }
        if (r >= 0 && l.n == 0) {
                const char *hex = strncmp(ref, "sha256:", 7) == 0 ? ref + 7 : ref;
                size_t n = strlen(hex);
                bool ok = n >= 12 && n <= 64;
                for (size_t i = 0; ok && i < n; i++)
                        ok = (hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f');
                if (ok) {
                        _cleanup_free_ char *pat = NULL;
                        if (asprintf(&pat, "sha256:%s%%", hex) < 0)
                                return -ENOMEM;
                        r = store_sql(s,
                                      "SELECT name, manifest, created FROM images WHERE manifest LIKE ?1 "
                                      "ORDER BY name",
                                      image_row, &l, pat, STORE_SQL_END);
                        /* several names for one manifest are fine; several manifests are not */
                        for (size_t i = 1; r >= 0 && i < l.n; i++)
                                if (!streq(l.a[i].digest, l.a[0].digest))
                                        r = -ENOTUNIQ;
                }
        }
        if (r >= 0 && l.n == 0)
                r = -ENOENT;
        if (r >= 0)
                r = image_fill(s, &l.a[0]);
        if (r < 0) {
                store_image_list_free(l.a, l.n);
                return r;
        }
        *ret = l.a[0];
        l.a[0] = (StoreImage){};
        store_image_list_free(l.a, l.n);
        return 0;
}

int store_image_add(Store *s, const char *name, const char *manifest_digest, BerthError *err)
{
        StoreImage img = {};
        _cleanup_free_ char *norm = NULL;
        int r;

        r = store_ref_normalize(name, &norm);
        if (r < 0)
                return berth_error_set(err, r, "name", "\"%s\" is not a valid image name", strempty(name));
        r = store_manifest_load(s, manifest_digest, &img);
        if (r < 0)
                return berth_error_set(err, r, "manifest", "manifest %s is missing or invalid",
                                       manifest_digest);
        if (!store_blob_exists(s, img.config_digest)) {
                r = berth_error_set(err, -ENOENT, "config", "config blob %s missing", img.config_digest);
                goto out;
        }
        for (size_t i = 0; i < img.n_layers; i++)
                if (!store_blob_exists(s, img.layers[i])) {
                        r = berth_error_set(err, -ENOENT, "layers", "layer blob %s missing", img.layers[i]);
                        goto out;
                }
        r = store_image_unpack(s, &img, err);
        if (r < 0)
                goto out;
        STORE_CRASH_POINT("image-unpacked"); /* every layer committed; the image row is the commit point */
        r = store_sql(s, "INSERT OR REPLACE INTO images (name, manifest, created) VALUES (?1, ?2, ?3)", NULL,
                      NULL, norm, manifest_digest, STORE_SQL_INT, (int64_t)now_usec(CLOCK_REALTIME),
                      STORE_SQL_END);
        if (r >= 0)
                r = store_db_sync(s); /* acknowledged next: durable first */
        if (r >= 0)
                STORE_CRASH_POINT("image-recorded");
out:
        store_image_done(&img);
        return r;
}

int store_image_remove(Store *s, const char *ref, StoreGcStats *ret_gc, BerthError *err)
{
        StoreImage img = {};
        int r;

        r = store_image_get(s, ref, &img);
        if (r < 0)
                return berth_error_set(err, r, "image",
                                       r == -ENOENT ? "no image %s" : "image %s is ambiguous", ref);
        /* the last name of a manifest cannot go while a snapshot is made from it */
        bool other = false;
        {
                ImageRow l = {};
                r = store_sql(
                    s, "SELECT name, manifest, created FROM images WHERE manifest = ?1 AND name != ?2",
                    image_row, &l, img.digest, img.name, STORE_SQL_END);
                other = l.n > 0;
                store_image_list_free(l.a, l.n);
        }
        if (r >= 0 && !other &&
            store_row_exists(s, "SELECT 1 FROM snapshots WHERE kind != 'committed' AND image = ?1",
                             img.digest))
                r = berth_error_set(err, -EBUSY, "image", "image %s is in use by a workload", img.name);
        if (r >= 0)
                r = store_sql(s, "DELETE FROM images WHERE name = ?1", NULL, NULL, img.name, STORE_SQL_END);
        if (r >= 0)
                r = store_db_sync(s);
        store_image_done(&img);
        if (r < 0)
                return r;
        return store_gc(s, ret_gc);
}

int store_image_config(Store *s, const StoreImage *img, json_t **ret_config)
{
        _cleanup_free_ char *buf = NULL;
        size_t len;
        json_t *j;
        int r;

        r = store_blob_read(s, img->config_digest, STORE_JSON_MAX, &buf, &len);
        if (r < 0)
                return r;
        j = json_loadb(buf, len, 0, NULL);
        if (!j || !json_is_object(j)) {
                json_decref(j);
                return -EINVAL;
        }
        *ret_config = j;
        return 0;
}

static char **strv_from_json(const json_t *a)
{
        size_t i, n = json_array_size(a);
        const json_t *v;
        char **l;

        if (!json_is_array(a))
                return NULL;
        l = calloc(n + 1, sizeof(char *));
        if (!l)
                return NULL;
        json_array_foreach(a, i, v)
        {
                l[i] = strdup(json_is_string(v) ? json_string_value(v) : "");
                if (!l[i]) {
                        strv_free(l);
                        return NULL;
                }
        }
        return l;
}

void store_image_config_done(StoreImageConfig *c)
{
        strv_free(c->entrypoint);
        strv_free(c->cmd);
        strv_free(c->env);
        free(c->working_dir);
        free(c->user);
        strv_free(c->exposed_ports);
        *c = (StoreImageConfig){};
}

int store_image_config_parse(const json_t *config, StoreImageConfig *ret)
{
        const json_t *c = json_object_get(config, "config");
        const json_t *ports;
        const char *k;
        json_t *v;
        size_t n = 0;

        *ret = (StoreImageConfig){};
        if (!json_is_object(c))
                return 0;
        ret->entrypoint = strv_from_json(json_object_get(c, "Entrypoint"));
        ret->cmd = strv_from_json(json_object_get(c, "Cmd"));
        ret->env = strv_from_json(json_object_get(c, "Env"));
        ret->working_dir = strdup_or_null(json_string_value(json_object_get(c, "WorkingDir")));
        ret->user = strdup_or_null(json_string_value(json_object_get(c, "User")));
        ports = json_object_get(c, "ExposedPorts");
        if (json_is_object(ports)) {
                ret->exposed_ports = calloc(json_object_size(ports) + 1, sizeof(char *));
                if (!ret->exposed_ports)
                        return -ENOMEM;
                json_object_foreach((json_t *)ports, k,
                                    v) if (!(ret->exposed_ports[n++] = strdup(k))) return -ENOMEM;
        }
        return 0;
}
