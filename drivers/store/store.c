/* SPDX-License-Identifier: Apache-2.0 */
/* The store's database, crash recovery, garbage collection and df. */
#include <dirent.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "drivers/store/store-internal.h"
#include "lib/log.h"

const char store_sql_end_marker[1], store_sql_int_marker[1];

static const char *const schema = "CREATE TABLE IF NOT EXISTS blobs ("
                                  "  digest TEXT PRIMARY KEY NOT NULL,"
                                  "  size INTEGER NOT NULL,"
                                  "  created INTEGER NOT NULL) WITHOUT ROWID;"
                                  "CREATE TABLE IF NOT EXISTS images ("
                                  "  name TEXT PRIMARY KEY NOT NULL,"
                                  "  manifest TEXT NOT NULL,"
                                  "  created INTEGER NOT NULL) WITHOUT ROWID;"
                                  "CREATE TABLE IF NOT EXISTS snapshots ("
                                  "  key TEXT PRIMARY KEY NOT NULL,"
                                  "  kind TEXT NOT NULL," /* committed, active, view */
                                  "  parent TEXT," /* committed: parent layer; active/view: top layer */
                                  "  layer TEXT,"  /* committed: the layer blob it was unpacked from */
                                  "  image TEXT,"  /* active/view: manifest digest it was made from */
                                  "  size INTEGER NOT NULL DEFAULT 0,"
                                  "  created INTEGER NOT NULL) WITHOUT ROWID;"
                                  /* work in progress (import, pull, commit) in some process: GC keeps
                                   * everything made since the oldest live lease began */
                                  "CREATE TABLE IF NOT EXISTS leases ("
                                  "  pid INTEGER PRIMARY KEY NOT NULL,"
                                  "  created INTEGER NOT NULL);";

int sqlite_to_errno_store(int rc)
{
        switch (rc & 0xff) {
        case SQLITE_OK:
        case SQLITE_DONE:
        case SQLITE_ROW:
                return 0;
        case SQLITE_NOMEM:
                return -ENOMEM;
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
                return -EBUSY;
        case SQLITE_FULL:
                return -ENOSPC;
        case SQLITE_CONSTRAINT:
                return -EEXIST;
        default:
                return -EIO;
        }
}

/* The store runs WAL with synchronous=NORMAL (see store_open): a commit is
 * atomic at once but reaches the disk only with the WAL's next fsync. Writes
 * that are acknowledged to a caller (an image recorded or removed) call this
 * after their commit: an fdatasync of the WAL makes them, and every commit
 * before them, survive an OS crash too. */
int store_db_sync(Store *s)
{
        _cleanup_free_ char *wal = NULL;
        _cleanup_close_ int fd = -EBADF;

        if (asprintf(&wal, "%s/store.db-wal", s->path) < 0)
                return -ENOMEM;
        fd = open(wal, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? 0 : -errno; /* checkpointed away: in the db file already */
        if (fdatasync(fd) < 0)
                return -errno;
        return 0;
}

int store_db_exec(Store *s, const char *sql)
{
        char *msg = NULL;
        int rc = sqlite3_exec(s->db, sql, NULL, NULL, &msg);

        if (rc != SQLITE_OK) {
                log_debug("store: \"%.60s\" failed: %s", sql, msg ? msg : sqlite3_errstr(rc));
                sqlite3_free(msg);
                return sqlite_to_errno_store(rc) ?: -EIO;
        }
        return 0;
}

void *store_db(Store *s)
{
        return s->db;
}

const char *store_path(Store *s)
{
        return s->path;
}

ExtractPolicy *store_policy(Store *s)
{
        return &s->policy;
}

int store_dirfd(Store *s, const char *sub)
{
        if (streq(sub, "blobs"))
                return s->blobs_fd;
        if (streq(sub, "snapshots"))
                return s->snapshots_fd;
        if (streq(sub, "mounts"))
                return s->mounts_fd;
        if (streq(sub, "tmp"))
                return s->tmp_fd;
        return s->dir_fd;
}

/* Runs one statement with text parameters (STORE_SQL_END-terminated list); calls row() per result
 * row. sql must be a string literal: its address keys the prepared-statement cache. */
int store_sql(Store *s, const char *sql, int (*row)(void *userdata, sqlite3_stmt *st), void *userdata, ...)
{
        sqlite3_stmt *st = NULL;
        va_list ap;
        int rc, r = 0, i = 1, slot = -1;

        for (size_t k = 0; k < ELEMENTSOF(s->stmts); k++)
                if (s->stmts[k].sql == sql && !s->stmts[k].busy) {
                        slot = (int)k;
                        st = s->stmts[k].st;
                        break;
                }
        if (!st) {
                rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
                if (rc != SQLITE_OK) {
                        log_debug("store: prepare \"%.60s\": %s", sql, sqlite3_errmsg(s->db));
                        return sqlite_to_errno_store(rc) ?: -EIO;
                }
                for (size_t k = 0; k < ELEMENTSOF(s->stmts) && slot < 0; k++)
                        if (!s->stmts[k].sql) {
                                slot = (int)k;
                                s->stmts[k].sql = sql;
                                s->stmts[k].st = st;
                        }
        }
        if (slot >= 0)
                s->stmts[slot].busy = true;
        va_start(ap, userdata);
        for (const char *a; (a = va_arg(ap, const char *)) != STORE_SQL_END; i++) {
                if (a == STORE_SQL_INT) {
                        sqlite3_bind_int64(st, i, va_arg(ap, int64_t));
                        continue;
                }
                if (a)
                        sqlite3_bind_text(st, i, a, -1, SQLITE_TRANSIENT);
                else
                        sqlite3_bind_null(st, i);
        }
        va_end(ap);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                if (row) {
                        r = row(userdata, st);
                        if (r < 0)
                                break;
                }
        }
        if (r >= 0 && rc != SQLITE_DONE && rc != SQLITE_ROW)
                r = sqlite_to_errno_store(rc) ?: -EIO;
        if (slot >= 0) {
                sqlite3_reset(st);
                sqlite3_clear_bindings(st);
                s->stmts[slot].busy = false;
        } else
                sqlite3_finalize(st);
        return r;
}

static int row_exists(void *userdata, sqlite3_stmt *st)
{
        *(bool *)userdata = true;
        return 0;
}

bool store_row_exists(Store *s, const char *sql, const char *arg)
{
        bool found = false;
        if (store_sql(s, sql, row_exists, &found, arg, STORE_SQL_END) < 0)
                return false;
        return found;
}

static int open_sub(int dir_fd, const char *name)
{
        if (mkdirat(dir_fd, name, 0700) < 0 && errno != EEXIST)
                return -errno;
        int fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
}

bool store_is_mountpoint(int dirfd, const char *name)
{
        struct statx sx;

        if (statx(dirfd, name, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &sx) < 0)
                return false;
        return (sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
               (sx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
}

int store_unmount_key(Store *s, const char *key)
{
        _cleanup_free_ char *p = NULL;

        if (asprintf(&p, "%s/mounts/%s", s->path, key) < 0)
                return -ENOMEM;
        while (store_is_mountpoint(s->mounts_fd, key))
                if (umount2(p, MNT_DETACH) < 0)
                        return -errno;
        if (unlinkat(s->mounts_fd, key, AT_REMOVEDIR) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}

/* Deletes directory entries of dfd for which keep() says false. */
static int sweep_dir(Store *s, int dfd, bool (*keep)(Store *s, const char *name),
                     int (*drop)(Store *s, const char *name))
{
        _cleanup_close_ int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d;
        struct dirent *de;
        char **victims = NULL;
        size_t n = 0;
        int r = 0;

        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (!d)
                return -errno;
        TAKE_FD(fd);
        while ((de = readdir(d))) {
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (keep(s, de->d_name))
                        continue;
                char **nv = realloc(victims, (n + 2) * sizeof(char *));
                if (!nv) {
                        r = -ENOMEM;
                        break;
                }
                victims = nv;
                victims[n] = strdup(de->d_name);
                if (!victims[n]) {
                        r = -ENOMEM;
                        break;
                }
                victims[++n] = NULL;
        }
        closedir(d);
        for (size_t i = 0; i < n; i++) {
                log_debug("store: removing stray %s", victims[i]);
                int k = drop(s, victims[i]);
                if (k < 0 && r == 0)
                        r = k;
        }
        strv_free(victims);
        return r;
}

static bool blob_keep(Store *s, const char *name)
{
        char digest[STORE_DIGEST_MAX];
        snprintf(digest, sizeof(digest), "sha256:%s", name);
        if (!store_digest_is_valid(digest))
                return false;
        return store_row_exists(s, "SELECT 1 FROM blobs WHERE digest = ?1", digest);
}
static int blob_drop(Store *s, const char *name)
{
        return rm_rf_at(s->blobs_fd, name);
}
static bool snapshot_keep(Store *s, const char *name)
{
        return store_key_is_valid(name) &&
               store_row_exists(s, "SELECT 1 FROM snapshots WHERE key = ?1", name);
}
static int snapshot_drop(Store *s, const char *name)
{
        return rm_rf_at(s->snapshots_fd, name);
}
static bool mount_keep(Store *s, const char *name)
{
        return store_key_is_valid(name) &&
               store_row_exists(s, "SELECT 1 FROM snapshots WHERE key = ?1 AND kind != 'committed'", name);
}
static int mount_drop(Store *s, const char *name)
{
        return store_unmount_key(s, name);
}

typedef struct RowList {
        char **a;
        size_t n;
        int64_t *size;
} RowList;

static int row_collect(void *userdata, sqlite3_stmt *st)
{
        RowList *l = userdata;
        char **na = realloc(l->a, (l->n + 2) * sizeof(char *));
        int64_t *ns = realloc(l->size, (l->n + 1) * sizeof(int64_t));
        if (na)
                l->a = na;
        if (ns)
                l->size = ns;
        if (!na || !ns)
                return -ENOMEM;
        const unsigned char *t = sqlite3_column_text(st, 0);
        l->a[l->n] = strdup(t ? (const char *)t : "");
        if (!l->a[l->n])
                return -ENOMEM;
        l->size[l->n] = sqlite3_column_count(st) > 1 ? sqlite3_column_int64(st, 1) : 0;
        l->a[++l->n] = NULL;
        return 0;
}
static void row_list_done(RowList *l)
{
        strv_free(l->a);
        free(l->size);
}

/* Rows whose files are gone, and blobs whose size is wrong. */
static int recover_rows(Store *s)
{
        RowList l = {};
        int r;

        r = store_sql(s, "SELECT digest, size FROM blobs", row_collect, &l, STORE_SQL_END);
        for (size_t i = 0; r >= 0 && i < l.n; i++) {
                struct stat st;
                const char *hex = l.a[i] + STRLEN("sha256:");
                if (!store_digest_is_valid(l.a[i]) ||
                    fstatat(s->blobs_fd, hex, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode) ||
                    st.st_size != l.size[i]) {
                        log_debug("store: dropping blob %s (missing or wrong size)", l.a[i]);
                        if (store_digest_is_valid(l.a[i]))
                                (void)unlinkat(s->blobs_fd, hex, 0);
                        r = store_sql(s, "DELETE FROM blobs WHERE digest = ?1", NULL, NULL, l.a[i],
                                      STORE_SQL_END);
                }
        }
        row_list_done(&l);
        if (r < 0)
                return r;

        l = (RowList){};
        r = store_sql(s, "SELECT key FROM snapshots", row_collect, &l, STORE_SQL_END);
        for (size_t i = 0; r >= 0 && i < l.n; i++) {
                struct stat st;
                if (store_key_is_valid(l.a[i]) &&
                    fstatat(s->snapshots_fd, l.a[i], &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
                        continue;
                log_debug("store: dropping snapshot row %s (directory missing)", l.a[i]);
                r = store_sql(s, "DELETE FROM snapshots WHERE key = ?1", NULL, NULL, l.a[i], STORE_SQL_END);
        }
        row_list_done(&l);
        return r;
}

static bool keep_nothing(Store *s, const char *name)
{
        return false;
}
static int tmp_drop(Store *s, const char *name)
{
        return rm_rf_at(s->tmp_fd, name);
}

/* Whether the lease of pid, taken at created (CLOCK_REALTIME usec), is held
 * by a live process. Not only "the pid exists": a worker that died with
 * its daemon may linger as a zombie until it is reaped, and its pid may be
 * reused by an unrelated process; either would otherwise skip crash
 * recovery and pin GC's horizon forever. */
static bool lease_pid_alive(pid_t pid, int64_t created)
{
        _cleanup_free_ char *stat = NULL, *boot = NULL;
        char path[64], state = 0;
        unsigned long long start = 0, btime = 0;
        const char *q, *b;

        if (pid <= 0)
                return false;
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        if (read_file_at(AT_FDCWD, path, 4096, &stat, NULL) < 0)
                return kill(pid, 0) == 0 || errno != ESRCH; /* no procfs: the old test */
        q = strrchr(stat, ')'); /* comm may hold spaces and parentheses */
        if (!q || sscanf(q + 1, " %c", &state) != 1)
                return true;
        if (state == 'Z' || state == 'X')
                return false;
        q++; /* the walk of proc_start_time(): field 22 is the start time */
        for (int field = 3; field < 22 && q; field++)
                q = strchr(q + 1, ' ');
        if (!q || sscanf(q + 1, "%llu", &start) != 1)
                return true;
        if (read_file_at(AT_FDCWD, "/proc/stat", 1 << 20, &boot, NULL) < 0 || !(b = strstr(boot, "\nbtime ")) ||
            sscanf(b, "\nbtime %llu", &btime) != 1)
                return true;
        /* started after the lease was taken (btime is in whole seconds: 2 s slack): another process */
        int64_t started = (int64_t)(btime + start / (unsigned long long)sysconf(_SC_CLK_TCK)) * 1000000;
        return started <= created + 2000000;
}

static int row_pid(void *userdata, sqlite3_stmt *st)
{
        pid_t pid = (pid_t)sqlite3_column_int64(st, 0);
        if (pid > 0 && pid != getpid() && lease_pid_alive(pid, sqlite3_column_int64(st, 1)))
                *(bool *)userdata = true;
        return 0;
}

static bool lease_foreign_alive(Store *s)
{
        bool alive = false;
        (void)store_sql(s, "SELECT pid, created FROM leases", row_pid, &alive, STORE_SQL_END);
        return alive;
}

int store_open_full(const char *root_dir, bool recover, Store **ret)
{
        _cleanup_(store_freep) Store *s = NULL;
        _cleanup_free_ char *dbpath = NULL;
        int r, rc;

        if (!root_dir || root_dir[0] != '/')
                return -EINVAL;
        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->dir_fd = s->blobs_fd = s->snapshots_fd = s->mounts_fd = s->tmp_fd = -EBADF;
        extract_policy_default(&s->policy);
        if (asprintf(&s->path, "%s/store", root_dir) < 0)
                return -ENOMEM;
        r = mkdir_p(s->path, 0700);
        if (r < 0)
                return r;
        s->dir_fd = open(s->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (s->dir_fd < 0)
                return -errno;

        s->tmp_fd = open_sub(s->dir_fd, "tmp");
        if (s->tmp_fd < 0)
                return s->tmp_fd;
        if (mkdirat(s->dir_fd, "blobs", 0700) < 0 && errno != EEXIST)
                return -errno;
        _cleanup_close_ int b = openat(s->dir_fd, "blobs", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (b < 0)
                return -errno;
        s->blobs_fd = open_sub(b, "sha256");
        if (s->blobs_fd < 0)
                return s->blobs_fd;
        s->snapshots_fd = open_sub(s->dir_fd, "snapshots");
        if (s->snapshots_fd < 0)
                return s->snapshots_fd;
        s->mounts_fd = open_sub(s->dir_fd, "mounts");
        if (s->mounts_fd < 0)
                return s->mounts_fd;

        if (asprintf(&dbpath, "%s/store.db", s->path) < 0)
                return -ENOMEM;
        rc = sqlite3_open_v2(dbpath, &s->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
        if (rc != SQLITE_OK)
                return sqlite_to_errno_store(rc) ?: -EIO;
        sqlite3_busy_timeout(s->db, 10000);
        /* WAL + NORMAL: every commit is atomic and survives a crash of any
         * process; an OS crash may lose the newest commits, which recovery
         * handles like any other missing row (blob and layer data are
         * fsynced before their rows anyway). FULL would put an fsync into
         * every snapshot prepare. */
        r = store_db_exec(s, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;");
        if (r < 0)
                return r;
        r = store_db_exec(s, schema);
        if (r < 0)
                return r;

        if (!recover)
                goto done;
        /* Another process (an import or pull worker) is building objects:
         * its half-made ones would look like crash leftovers. Recover later. */
        if (lease_foreign_alive(s))
                goto done;
        /* crash recovery: tmp/ holds only unfinished work, then rows without
         * files, then files without rows */
        r = sweep_dir(s, s->tmp_fd, keep_nothing, tmp_drop);
        if (r < 0)
                return r;
        r = recover_rows(s);
        if (r < 0)
                return r;
        r = sweep_dir(s, s->blobs_fd, blob_keep, blob_drop);
        if (r < 0)
                return r;
        r = sweep_dir(s, s->mounts_fd, mount_keep, mount_drop);
        if (r < 0)
                return r;
        r = sweep_dir(s, s->snapshots_fd, snapshot_keep, snapshot_drop);
        if (r < 0)
                return r;
done:
        *ret = TAKE_PTR(s);
        return 0;
}

int store_open(const char *root_dir, Store **ret)
{
        return store_open_full(root_dir, true, ret);
}

Store *store_free(Store *s)
{
        if (!s)
                return NULL;
        for (size_t k = 0; k < ELEMENTSOF(s->stmts); k++)
                if (s->stmts[k].st)
                        sqlite3_finalize(s->stmts[k].st);
        store_manifest_cache_free(s);
        if (s->db)
                sqlite3_close_v2(s->db);
        safe_close(s->dir_fd);
        safe_close(s->blobs_fd);
        safe_close(s->snapshots_fd);
        safe_close(s->mounts_fd);
        safe_close(s->tmp_fd);
        free(s->path);
        free(s);
        return NULL;
}

int store_tmpdir_make(Store *s, char **ret_name, int *ret_fd)
{
        char name[] = "unpack-XXXXXX";
        _cleanup_free_ char *path = NULL;

        if (asprintf(&path, "%s/tmp/%s", s->path, name) < 0)
                return -ENOMEM;
        if (!mkdtemp(path))
                return -errno;
        const char *base = strrchr(path, '/') + 1;
        int fd = openat(s->tmp_fd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        *ret_name = strdup(base);
        if (!*ret_name) {
                safe_close(fd);
                return -ENOMEM;
        }
        *ret_fd = fd;
        return 0;
}

/* ---- references and GC ---- */

static int keep_add(Store *s, const char *id)
{
        return store_sql(s, "INSERT OR IGNORE INTO temp.keep (id) VALUES (?1)", NULL, NULL, id,
                         STORE_SQL_END);
}

/* Marks what every image and every active/view snapshot references. */
static int mark_referenced(Store *s)
{
        RowList l = {};
        int r;

        r = store_db_exec(
            s, "CREATE TEMP TABLE IF NOT EXISTS keep (id TEXT PRIMARY KEY); DELETE FROM temp.keep;");
        if (r < 0)
                return r;
        r = store_sql(s,
                      "SELECT DISTINCT manifest FROM images UNION SELECT DISTINCT image FROM snapshots "
                      "WHERE kind != 'committed' AND image IS NOT NULL",
                      row_collect, &l, STORE_SQL_END);
        for (size_t i = 0; r >= 0 && i < l.n; i++) {
                StoreImage img = {};
                r = keep_add(s, l.a[i]);
                if (r < 0)
                        break;
                if (store_manifest_load(s, l.a[i], &img) < 0)
                        continue; /* broken manifest: keeps nothing more */
                char(*keys)[STORE_KEY_MAX] = NULL;
                r = store_image_chain_keys(s, &img, &keys);
                if (r >= 0)
                        r = keep_add(s, img.config_digest);
                for (size_t j = 0; r >= 0 && j < img.n_layers; j++) {
                        r = keep_add(s, img.layers[j]);
                        if (r >= 0)
                                r = keep_add(s, keys[j]);
                }
                free(keys);
                store_image_done(&img);
        }
        row_list_done(&l);
        if (r < 0)
                return r;
        /* active/view snapshots and every committed layer below them */
        return store_db_exec(s, "WITH RECURSIVE chain(k) AS ("
                                "  SELECT key FROM snapshots WHERE kind != 'committed'"
                                "  UNION SELECT parent FROM snapshots JOIN chain ON snapshots.key = chain.k"
                                "  WHERE parent IS NOT NULL)"
                                " INSERT OR IGNORE INTO temp.keep (id) SELECT k FROM chain;");
}

int store_lease_begin(Store *s)
{
        return store_sql(s, "INSERT OR REPLACE INTO leases (pid, created) VALUES (?1, ?2)", NULL, NULL,
                         STORE_SQL_INT, (int64_t)getpid(), STORE_SQL_INT, (int64_t)now_usec(CLOCK_REALTIME),
                         STORE_SQL_END);
}

int store_lease_end(Store *s)
{
        return store_sql(s, "DELETE FROM leases WHERE pid = ?1", NULL, NULL, STORE_SQL_INT,
                         (int64_t)getpid(), STORE_SQL_END);
}

/* Objects created at or after the returned time are kept: some live
 * process is still building on them. Leases of dead pids are dropped. */
static int lease_horizon(Store *s, int64_t *ret)
{
        RowList l = {};
        int64_t h = INT64_MAX;
        int r;

        r = store_sql(s, "SELECT pid, created FROM leases", row_collect, &l, STORE_SQL_END);
        for (size_t i = 0; r >= 0 && i < l.n; i++) {
                pid_t pid = (pid_t)atoi(l.a[i]);
                if (pid > 0 && pid != getpid() && !lease_pid_alive(pid, l.size[i])) {
                        r = store_sql(s, "DELETE FROM leases WHERE pid = ?1", NULL, NULL, STORE_SQL_INT,
                                      (int64_t)pid, STORE_SQL_END);
                        continue;
                }
                if (pid != getpid() && l.size[i] < h)
                        h = l.size[i];
        }
        row_list_done(&l);
        *ret = h;
        return r;
}

int store_gc(Store *s, StoreGcStats *ret)
{
        StoreGcStats gc = {};
        int64_t horizon;
        RowList l = {};
        int r;

        r = mark_referenced(s);
        if (r < 0)
                return r;
        r = lease_horizon(s, &horizon);
        if (r < 0)
                return r;
        r = store_sql(s,
                      "SELECT key, size FROM snapshots WHERE kind = 'committed' AND created < ?1 AND "
                      "key NOT IN (SELECT id FROM temp.keep)",
                      row_collect, &l, STORE_SQL_INT, horizon, STORE_SQL_END);
        for (size_t i = 0; r >= 0 && i < l.n; i++) {
                /* row first: a crash after it leaves a directory that open() sweeps */
                r = store_sql(s, "DELETE FROM snapshots WHERE key = ?1", NULL, NULL, l.a[i], STORE_SQL_END);
                if (r >= 0)
                        r = rm_rf_at(s->snapshots_fd, l.a[i]);
                gc.snapshots_removed++;
                gc.bytes_freed += (uint64_t)l.size[i];
        }
        row_list_done(&l);
        if (r < 0)
                return r;
        l = (RowList){};
        r = store_sql(
            s,
            "SELECT digest, size FROM blobs WHERE created < ?1 AND digest NOT IN (SELECT id FROM temp.keep)",
            row_collect, &l, STORE_SQL_INT, horizon, STORE_SQL_END);
        for (size_t i = 0; r >= 0 && i < l.n; i++) {
                r = store_sql(s, "DELETE FROM blobs WHERE digest = ?1", NULL, NULL, l.a[i], STORE_SQL_END);
                if (r >= 0 && unlinkat(s->blobs_fd, l.a[i] + STRLEN("sha256:"), 0) < 0 && errno != ENOENT)
                        r = -errno;
                gc.blobs_removed++;
                gc.bytes_freed += (uint64_t)l.size[i];
        }
        row_list_done(&l);
        if (r >= 0 && fsync(s->blobs_fd) < 0)
                r = -errno;
        if (ret)
                *ret = gc;
        return r < 0 ? r : 0;
}

static int row_u64(void *userdata, sqlite3_stmt *st)
{
        uint64_t *v = userdata;
        for (int i = 0; i < sqlite3_column_count(st); i++)
                v[i] = (uint64_t)sqlite3_column_int64(st, i);
        return 0;
}

int store_df(Store *s, StoreDf *ret)
{
        uint64_t v[3] = {};
        int r;

        *ret = (StoreDf){};
        r = store_sql(s, "SELECT COUNT(*) FROM images", row_u64, v, STORE_SQL_END);
        ret->images = v[0];
        if (r >= 0)
                r = store_sql(s, "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM blobs", row_u64, v,
                              STORE_SQL_END);
        ret->blobs = v[0];
        ret->blob_bytes = v[1];
        if (r >= 0)
                r = store_sql(
                    s,
                    "SELECT SUM(kind = 'committed'), SUM(kind != 'committed'), COALESCE(SUM(size), 0) "
                    "FROM snapshots",
                    row_u64, v, STORE_SQL_END);
        ret->snapshots_committed = v[0];
        ret->snapshots_active = v[1];
        ret->snapshot_bytes = v[2];
        if (r >= 0)
                r = mark_referenced(s);
        if (r >= 0)
                r = store_sql(s, "SELECT COUNT(*) FROM blobs WHERE digest NOT IN (SELECT id FROM temp.keep)",
                              row_u64, v, STORE_SQL_END);
        ret->reclaimable_blobs = v[0];
        if (r >= 0)
                r = store_sql(s,
                              "SELECT COUNT(*) FROM snapshots WHERE kind = 'committed' AND "
                              "key NOT IN (SELECT id FROM temp.keep)",
                              row_u64, v, STORE_SQL_END);
        ret->reclaimable_snapshots = v[0];
        return r < 0 ? r : 0;
}

int store_snapshot_list_active(Store *s, char ***ret_keys)
{
        RowList l = {};
        int r;

        r = store_sql(s, "SELECT key FROM snapshots WHERE kind != 'committed' ORDER BY key", row_collect, &l,
                      STORE_SQL_END);
        if (r < 0) {
                row_list_done(&l);
                return r;
        }
        free(l.size);
        *ret_keys = l.a ? l.a : calloc(1, sizeof(char *));
        return *ret_keys ? 0 : -ENOMEM;
}

bool store_key_is_valid(const char *key)
{
        size_t n = key ? strlen(key) : 0;

        if (n == 0 || n >= STORE_KEY_MAX || key[0] == '-' || key[0] == '.')
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((key[i] >= 'a' && key[i] <= 'z') || (key[i] >= '0' && key[i] <= '9') ||
                      key[i] == '-' || key[i] == '_' || key[i] == '.'))
                        return false;
        return !strstr(key, "..");
}
