/* SPDX-License-Identifier: Apache-2.0 */
/* Shared between the store's files only. */
#pragma once

#include <sqlite3.h>
#include <inttypes.h>
#include <stdarg.h>
#include <time.h>

#include "drivers/store/store.h"

/* A parsed manifest and the chain key of each of its layers. A blob never
 * changes under its digest, so a cached entry is never stale. */
typedef struct StoreManifestEntry {
        StoreImage img; /* digest, config digest, layers, media types, size */
        char (*chain)[STORE_KEY_MAX];
} StoreManifestEntry;

#define STORE_MANIFEST_CACHE 16

struct Store {
        char *path; /* <root>/store */
        int dir_fd, blobs_fd, snapshots_fd, mounts_fd, tmp_fd;
        sqlite3 *db;
        ExtractPolicy policy;
        /* prepared statements by the address of their (static) SQL text */
        struct {
                const char *sql;
                sqlite3_stmt *st;
                bool busy;
        } stmts[48];
        /* parsed manifests by digest, replaced round-robin (store-image.c) */
        StoreManifestEntry manifests[STORE_MANIFEST_CACHE];
        unsigned manifests_next;
};

extern const char store_sql_end_marker[1], store_sql_int_marker[1];
/* Argument list terminators/markers for store_sql(): text args as const
 * char * (NULL binds NULL), an integer as STORE_SQL_INT, (int64_t)v. */
#define STORE_SQL_END ((const char *)store_sql_end_marker)
#define STORE_SQL_INT ((const char *)store_sql_int_marker)

int sqlite_to_errno_store(int rc);
int store_sql(Store *s, const char *sql, int (*row)(void *userdata, sqlite3_stmt *st), void *userdata, ...);
bool store_row_exists(Store *s, const char *sql, const char *arg);
bool store_is_mountpoint(int dirfd, const char *name);
int store_unmount_key(Store *s, const char *key);
/* Parses a stored manifest blob into img (name unset); served from the
 * manifest cache after the first load. */
int store_manifest_load(Store *s, const char *digest, StoreImage *img);
/* (*ret)[i] = the chain key of img's layer i (store_chain_key over layers
 * 0..i), from the manifest cache when img->digest is there. *ret is a new
 * array of n_layers keys (at least one entry), freed by the caller. */
int store_image_chain_keys(Store *s, const StoreImage *img, char (**ret)[STORE_KEY_MAX]);
void store_manifest_cache_free(Store *s);
/* Parses manifest JSON (media types checked). */
int store_manifest_parse(const char *json, size_t len, StoreImage *img, BerthError *err);

/* store-crash.c: a crash point of a store step, "<op>.<step>" (store_crash_setup()). */
#if BERTH_CRASH_POINTS
void store_crash_point(const char *step);
#define STORE_CRASH_POINT(step) store_crash_point(step)
#else
#define STORE_CRASH_POINT(step) ((void)0)
#endif
