/* SPDX-License-Identifier: Apache-2.0 */
/* berth's image and snapshot store (no containerd). Layout under
 * <root>/store (docs/IMAGES.md):
 *
 *   store.db                 SQLite (WAL, synchronous=NORMAL; the WAL is
 *                            fdatasync'd before an image write is
 *                            acknowledged): blobs, images, snapshots
 *   blobs/sha256/<hex>       content-addressed blobs, only ever renamed into
 *                            place after size and digest were verified
 *   snapshots/<key>/fs       a committed (unpacked) layer
 *   snapshots/<key>/upper,work  an active snapshot's overlay dirs
 *   mounts/<key>             where active and view snapshots are mounted
 *   tmp/                     ingest and unpack staging; emptied at open
 *
 * Crash safety: every object is made in tmp/ and renamed into place, then
 * its row is inserted. store_open() deletes tmp/, files and directories
 * without a row, rows without their file, and blobs whose size differs from
 * the row; so after a crash at any step no half-made snapshot and no
 * wrong-digest blob is visible.
 *
 * References are computed, not counted by hand: a blob is referenced by the
 * images whose manifest names it; a committed snapshot by the images whose
 * layer chain it is and by the active/view snapshots stacked on it.
 * store_gc() removes everything unreferenced.
 *
 * Not thread-safe; one Store per process. Several processes may open the
 * same store (SQLite WAL, busy timeout). */
#pragma once

#include <jansson.h>

#include "drivers/store/safe-extract.h"
#include "lib/error.h"
#include "lib/util.h"

#define STORE_DIGEST_MAX 72       /* "sha256:" + 64 hex + NUL */
#define STORE_JSON_MAX (4u << 20) /* manifests, indexes, configs */
#define STORE_LAYERS_MAX 64
#define STORE_KEY_MAX 128
#define STORE_REF_MAX 255

typedef struct Store Store;

typedef struct StoreImage {
        char *name;   /* "busybox:latest" */
        char *digest; /* manifest digest */
        char *config_digest;
        char **layers;      /* layer blob digests, base first, NULL-terminated */
        char **media_types; /* per layer */
        size_t n_layers;
        uint64_t size;  /* manifest + config + layers, bytes */
        usec_t created; /* when stored, CLOCK_REALTIME */
} StoreImage;

typedef struct StoreImageConfig {
        char **entrypoint; /* NULL-terminated, may be NULL */
        char **cmd;
        char **env; /* "K=V" */
        char *working_dir;
        char *user;
        char **exposed_ports; /* "80/tcp" */
} StoreImageConfig;

typedef struct StoreDf {
        uint64_t images, blobs, blob_bytes;
        uint64_t snapshots_committed, snapshots_active, snapshot_bytes;
        uint64_t reclaimable_blobs, reclaimable_snapshots;
} StoreDf;

typedef struct StoreGcStats {
        uint64_t blobs_removed, snapshots_removed, bytes_freed;
} StoreGcStats;

typedef void (*StoreProgress)(void *userdata, const char *what, uint64_t done, uint64_t total);

/* Opens (creating) <root_dir>/store and runs crash recovery (skipped
 * while another live process holds a lease: its work in progress would
 * look like leftovers). */
int store_open(const char *root_dir, Store **ret);
/* recover = false: for worker processes next to a daemon that recovers. */
int store_open_full(const char *root_dir, bool recover, Store **ret);
Store *store_free(Store *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(Store *, store_free);
const char *store_path(Store *s);
/* Limits used by unpack; defaults from extract_policy_default(). */
ExtractPolicy *store_policy(Store *s);

/* ---- blobs (store-blob.c) ---- */
bool store_digest_is_valid(const char *digest);
/* Reads fd to EOF into a temp file, fsyncs, verifies size (expect_size < 0:
 * any, up to max) and digest (expect_digest NULL: computed), renames into
 * blobs/ and fsyncs the directory, then records it. ret_digest may be NULL. */
int store_blob_ingest_fd(Store *s, int fd, const char *expect_digest, int64_t expect_size, uint64_t max,
                         char ret_digest[STORE_DIGEST_MAX], BerthError *err);
int store_blob_ingest_mem(Store *s, const void *data, size_t len, const char *expect_digest,
                          char ret_digest[STORE_DIGEST_MAX], BerthError *err);
/* Ingest as a stream (for libcurl writers): begin, write pieces, finish. */
typedef struct StoreIngest StoreIngest;
int store_ingest_begin(Store *s, const char *expect_digest, int64_t expect_size, uint64_t max,
                       StoreIngest **ret);
int store_ingest_write(StoreIngest *in, const void *data, size_t len);
int store_ingest_finish(StoreIngest *in, char ret_digest[STORE_DIGEST_MAX], BerthError *err);
void store_ingest_abort(StoreIngest *in);
bool store_blob_exists(Store *s, const char *digest);
int store_blob_open(Store *s, const char *digest, int *ret_fd);
int store_blob_read(Store *s, const char *digest, size_t max, char **ret, size_t *ret_len);
/* "sha256:<hex>" of a buffer. */
int store_sha256_digest(const void *data, size_t len, char ret[STORE_DIGEST_MAX]);

/* ---- images (store-image.c) ---- */
/* Records name -> manifest after checking that the manifest, its config and
 * all layers are present; unpacks every layer into committed snapshots. */
int store_image_add(Store *s, const char *name, const char *manifest_digest, BerthError *err);
int store_image_get(Store *s, const char *ref, StoreImage *ret);
int store_image_list(Store *s, StoreImage **ret, size_t *ret_n);
/* -EBUSY while a snapshot made from it exists. Then runs store_gc(). */
int store_image_remove(Store *s, const char *ref, StoreGcStats *ret_gc, BerthError *err);
int store_image_config(Store *s, const StoreImage *img, json_t **ret_config);
int store_image_config_parse(const json_t *config, StoreImageConfig *ret);
void store_image_done(StoreImage *img);
void store_image_config_done(StoreImageConfig *c);
void store_image_list_free(StoreImage *l, size_t n);
/* Adds ":latest" when ref has neither a tag nor a digest. */
int store_ref_normalize(const char *ref, char **ret);

/* ---- import (store-import.c) ---- */
/* An OCI image layout (directory or tar) or a docker-archive tar. Returns
 * the names it stored. name (may be NULL) overrides the first image's name. */
int store_import_path(Store *s, const char *path, const char *name, char ***ret_names, BerthError *err);

/* ---- pull (registry-pull.c) ---- */
typedef struct StorePullOptions {
        bool insecure_http; /* plain HTTP (default for 127.0.0.1/localhost) */
        const char *ca_file;
        StoreProgress progress;
        void *userdata;
} StorePullOptions;
int store_pull(Store *s, const char *ref, const StorePullOptions *opts, char **ret_name, BerthError *err);

/* ---- snapshots (store-snapshot.c) ---- */
/* Unpacks the image's layers into committed snapshots (no-op for those that exist). */
int store_image_unpack(Store *s, const StoreImage *img, BerthError *err);
/* An active (writable) snapshot on top of the image: overlay upper/work
 * made, mounted at mounts/<key>. O(1) in the image size. */
int store_snapshot_prepare(Store *s, const char *key, const char *image_ref, char **ret_mountpoint,
                           BerthError *err);
/* A read-only view of the image. */
int store_snapshot_view(Store *s, const char *key, const char *image_ref, char **ret_mountpoint,
                        BerthError *err);
/* Mounts an existing active/view snapshot again (after a reboot); idempotent. */
int store_snapshot_mount(Store *s, const char *key, char **ret_mountpoint, BerthError *err);
/* Turns the active snapshot's changes into a new layer and stores a new
 * image `name` = base image + that layer. */
int store_snapshot_commit(Store *s, const char *key, const char *name, char ret_digest[STORE_DIGEST_MAX],
                          BerthError *err);
/* The keys of every active and view snapshot (NULL-terminated, sorted). */
int store_snapshot_list_active(Store *s, char ***ret_keys);
/* Unmounts and deletes an active/view snapshot. -ENOENT if unknown. */
int store_snapshot_remove(Store *s, const char *key);
bool store_key_is_valid(const char *key);

/* ---- housekeeping (store.c) ---- */
int store_gc(Store *s, StoreGcStats *ret);
/* Marks this process as building objects (import, pull, commit): a GC in
 * any process keeps what was made since. */
int store_lease_begin(Store *s);
int store_lease_end(Store *s);
int store_df(Store *s, StoreDf *ret);

/* ---- crash points (store-crash.c) ---- */
/* Names the operation whose steps the crash points report ("import",
 * "pull", "commit") and the process that dies with this one when a point
 * fires (berthd, for its worker; 0 = none). docs/OPERATIONS.md lists them. */
void store_crash_setup(const char *op, pid_t also_kill);

/* internal, shared between the store's files */
int store_db_exec(Store *s, const char *sql);
int store_db_sync(Store *s);
void *store_db(Store *s);
int store_dirfd(Store *s, const char *sub);
int store_tmpdir_make(Store *s, char **ret_name, int *ret_fd);
int store_chain_key(const char *parent_key, const char *layer_digest, char ret[STORE_KEY_MAX]);
