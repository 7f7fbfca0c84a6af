/* SPDX-License-Identifier: Apache-2.0 */
/* agent/state.c against a temporary database. */
#include <fcntl.h>
#include <sys/stat.h>

#include "agent/state.h"

static int failures;
#define CHECK(cond)                                                                                          \
        do {                                                                                                 \
                if (!(cond)) {                                                                               \
                        fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);                       \
                        failures++;                                                                          \
                }                                                                                            \
        } while (0)

static char dir[] = "/tmp/berth-test-state-XXXXXX";

static int pragma_int(State *s, const char *sql)
{
        sqlite3_stmt *st = NULL;
        int v = -1;

        if (sqlite3_prepare_v2(state_db(s), sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
                v = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
        return v;
}

static char *pragma_text(State *s, const char *sql)
{
        sqlite3_stmt *st = NULL;
        char *v = NULL;

        if (sqlite3_prepare_v2(state_db(s), sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
                v = strdup_or_null((const char *)sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
        return v;
}

static void test_open_and_durability(const char *path)
{
        _cleanup_(state_freep) State *s = NULL;
        _cleanup_free_ char *mode = NULL;
        int v = -1;

        /* An empty file is migrated from version 0. */
        int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        CHECK(fd >= 0);
        safe_close(fd);

        CHECK(state_open(path, &s) == 0);
        if (!s)
                return;
        CHECK(state_schema_version(s, &v) == 0);
        CHECK(v == STATE_SCHEMA_VERSION);
        mode = pragma_text(s, "PRAGMA journal_mode");
        CHECK(streq_ptr(mode, "wal"));
        CHECK(pragma_int(s, "PRAGMA synchronous") == 2); /* FULL */
        CHECK(pragma_int(s, "PRAGMA busy_timeout") == STATE_BUSY_TIMEOUT_MSEC);
        CHECK(pragma_int(s, "SELECT COUNT(*) FROM sqlite_master WHERE name IN ('workloads','events')") == 2);
}

static void test_reopen_keeps_version(const char *path)
{
        _cleanup_(state_freep) State *s = NULL;
        int v = -1;

        CHECK(state_open(path, &s) == 0);
        if (!s)
                return;
        CHECK(state_schema_version(s, &v) == 0);
        CHECK(v == STATE_SCHEMA_VERSION);
        CHECK(pragma_int(s, "SELECT COUNT(*) FROM schema_version") == 1);
}

static void test_newer_schema_refused(const char *path)
{
        State *s = NULL;
        sqlite3 *db = NULL;

        CHECK(sqlite3_open(path, &db) == SQLITE_OK);
        CHECK(sqlite3_exec(db, "CREATE TABLE schema_version (version INTEGER NOT NULL);"
                               "INSERT INTO schema_version VALUES (99)", NULL, NULL, NULL) == SQLITE_OK);
        sqlite3_close(db);
        CHECK(state_open(path, &s) == -EPROTO);
        CHECK(!s);
}

static void test_workloads(const char *path)
{
        _cleanup_(state_freep) State *s = NULL;
        StateWorkload w = {
                .name = (char *)"web",
                .spec_json = (char *)"{\"apiVersion\":\"berth/v1\"}",
                .desired_running = true,
                .status = {
                        .state = WORKLOAD_RUNNING,
                        .pid = 4242,
                        .created_at = 1700000000000001,
                        .started_at = 1700000000000002,
                        .restart_count = 3,
                        .reason = (char *)"Started",
                },
                .shim_pid = 4241,
                .shim_start_time = 123456,
                .pid_start_time = 123457,
        };
        StateWorkload *a = NULL;
        size_t n = 0;

        CHECK(state_open(path, &s) == 0);
        if (!s)
                return;
        CHECK(state_workload_insert(s, &w) == 0);
        CHECK(state_workload_insert(s, &w) == -EEXIST);
        w.name = (char *)"api";
        w.status.state = WORKLOAD_CREATED;
        w.status.reason = NULL;
        CHECK(state_workload_insert(s, &w) == 0);

        CHECK(state_workload_load_all(s, &a, &n) == 0);
        CHECK(n == 2);
        if (n == 2) {
                CHECK(streq(a[0].name, "api")); /* sorted by name */
                CHECK(streq(a[1].name, "web"));
                CHECK(streq(a[1].spec_json, "{\"apiVersion\":\"berth/v1\"}"));
                CHECK(a[1].desired_running);
                CHECK(a[1].status.state == WORKLOAD_RUNNING);
                CHECK(a[1].status.pid == 4242);
                CHECK(a[1].status.created_at == 1700000000000001);
                CHECK(a[1].status.started_at == 1700000000000002);
                CHECK(a[1].status.finished_at == 0);
                CHECK(a[1].status.restart_count == 3);
                CHECK(streq_ptr(a[1].status.reason, "Started"));
                CHECK(a[1].status.message == NULL);
                CHECK(a[1].shim_pid == 4241 && a[1].shim_start_time == 123456 && a[1].pid_start_time == 123457);
                CHECK(a[0].status.state == WORKLOAD_CREATED);
        }
        state_workload_array_free(a, n);

        /* Update with an exit record, in an explicit transaction. */
        w.name = (char *)"web";
        w.desired_running = false;
        w.status = (WorkloadStatus){
                .state = WORKLOAD_EXITED,
                .exit_code = 137,
                .term_signal = 9,
                .oom_killed = true,
                .created_at = 1700000000000001,
                .started_at = 1700000000000002,
                .finished_at = 1700000000000003,
                .restart_count = 4,
                .reason = (char *)"OOMKilled",
                .message = (char *)"out of memory",
                .vm_accelerator = "tcg", /* schema v3: kept after the run */
                .vm_backend = "libvirt",
        };
        CHECK(state_begin(s) == 0);
        CHECK(state_workload_update(s, &w) == 0);
        CHECK(state_commit(s) == 0);
        w.name = (char *)"nope";
        CHECK(state_workload_update(s, &w) == -ENOENT);

        /* A rolled back change leaves no trace. */
        CHECK(state_begin(s) == 0);
        CHECK(state_workload_delete(s, "api") == 0);
        state_rollback(s);

        state_free(TAKE_PTR(s));
        CHECK(state_open(path, &s) == 0); /* survives a reopen */
        if (!s)
                return;
        CHECK(state_workload_load_all(s, &a, &n) == 0);
        CHECK(n == 2);
        if (n == 2) {
                CHECK(a[1].status.state == WORKLOAD_EXITED);
                CHECK(a[1].status.exit_code == 137 && a[1].status.term_signal == 9 && a[1].status.oom_killed);
                CHECK(a[1].status.pid == 0);
                CHECK(a[1].status.finished_at == 1700000000000003);
                CHECK(!a[1].desired_running);
                CHECK(streq_ptr(a[1].status.message, "out of memory"));
                CHECK(streq_ptr(a[1].status.vm_accelerator, "tcg") &&
                      streq_ptr(a[1].status.vm_backend, "libvirt"));
                CHECK(a[0].status.vm_accelerator == NULL && a[0].status.vm_backend == NULL);
        }
        state_workload_array_free(a, n);

        CHECK(state_workload_delete(s, "api") == 0);
        CHECK(state_workload_delete(s, "api") == -ENOENT);
        CHECK(state_workload_load_all(s, &a, &n) == 0);
        CHECK(n == 1);
        state_workload_array_free(a, n);
}

static void test_events(const char *path)
{
        _cleanup_(state_freep) State *s = NULL;
        StateEvent *a = NULL;
        size_t n = 0;
        uint64_t id = 0, last = 0;

        CHECK(state_open(path, &s) == 0);
        if (!s)
                return;
        CHECK(state_event_last_id(s, &last) == 0);
        CHECK(last == 0);
        CHECK(state_event_append(s, 10, "daemon-started", NULL, NULL, &id) == 0);
        CHECK(id == 1);
        CHECK(state_event_append(s, 11, "created", "web", NULL, &id) == 0);
        CHECK(state_event_append(s, 12, "created", "api", NULL, &id) == 0);
        CHECK(state_event_append(s, 13, "exited", "web", "exit code 0", &id) == 0);
        CHECK(id == 4);

        CHECK(state_event_list(s, 0, NULL, 100, &a, &n) == 0);
        CHECK(n == 4);
        if (n == 4) {
                CHECK(a[0].id == 1 && a[0].workload == NULL && streq(a[0].type, "daemon-started"));
                CHECK(a[3].id == 4 && a[3].time == 13 && streq_ptr(a[3].message, "exit code 0"));
        }
        state_event_array_free(a, n);

        CHECK(state_event_list(s, 2, NULL, 100, &a, &n) == 0);
        CHECK(n == 2 && a[0].id == 3);
        state_event_array_free(a, n);

        CHECK(state_event_list(s, 0, "web", 100, &a, &n) == 0);
        CHECK(n == 2 && a[0].id == 2 && a[1].id == 4);
        state_event_array_free(a, n);

        CHECK(state_event_list(s, 0, NULL, 3, &a, &n) == 0);
        CHECK(n == 3);
        state_event_array_free(a, n);

        CHECK(state_event_list(s, 4, NULL, 100, &a, &n) == 0);
        CHECK(n == 0);
        state_event_array_free(a, n);

        /* The table is bounded to the last STATE_EVENTS_KEEP events; ids keep growing. */
        CHECK(state_begin(s) == 0);
        for (int i = 0; i < STATE_EVENTS_KEEP + 50; i++)
                if (state_event_append(s, 100, "started", "web", NULL, &id) < 0) {
                        CHECK(false);
                        break;
                }
        CHECK(state_commit(s) == 0);
        CHECK(id == 4 + STATE_EVENTS_KEEP + 50);
        CHECK(pragma_int(s, "SELECT COUNT(*) FROM events") == STATE_EVENTS_KEEP);
        CHECK(state_event_list(s, 0, NULL, 1, &a, &n) == 0);
        CHECK(n == 1 && a[0].id == id - STATE_EVENTS_KEEP + 1);
        state_event_array_free(a, n);
        CHECK(state_event_last_id(s, &last) == 0);
        CHECK(last == id);
}

/* Schema v2: events name their API caller; a v1 database is migrated in place. */
static void test_event_caller(const char *path)
{
        _cleanup_(state_freep) State *s = NULL;
        StateEvent *a = NULL;
        sqlite3 *db = NULL;
        size_t n = 0;
        uint64_t id = 0;
        int v = -1;

        /* A database as berthd with schema v1 left it: events without caller. */
        CHECK(sqlite3_open(path, &db) == SQLITE_OK);
        CHECK(sqlite3_exec(db, "CREATE TABLE schema_version (version INTEGER NOT NULL);"
                               "INSERT INTO schema_version VALUES (1);"
                               "CREATE TABLE workloads (name TEXT PRIMARY KEY NOT NULL, spec TEXT NOT NULL,"
                               " desired_state TEXT NOT NULL, state TEXT NOT NULL, exit_code INTEGER, signal INTEGER,"
                               " oom INTEGER NOT NULL DEFAULT 0, pid INTEGER, shim_pid INTEGER, shim_start_time INTEGER,"
                               " pid_start_time INTEGER, created_at INTEGER NOT NULL, started_at INTEGER,"
                               " finished_at INTEGER, restart_count INTEGER NOT NULL DEFAULT 0, reason TEXT,"
                               " message TEXT) WITHOUT ROWID;"
                               "CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, time INTEGER NOT NULL,"
                               " type TEXT NOT NULL, workload TEXT, message TEXT);"
                               "INSERT INTO events (time, type, workload) VALUES (1, 'created', 'old');"
                               "INSERT INTO workloads (name, spec, desired_state, state, created_at)"
                               " VALUES ('old', '{}', 'stopped', 'exited', 1);",
                           NULL, NULL, NULL) == SQLITE_OK);
        sqlite3_close(db);

        CHECK(state_open(path, &s) == 0);
        if (!s)
                return;
        CHECK(state_schema_version(s, &v) == 0);
        CHECK(v == STATE_SCHEMA_VERSION && v >= 2);
        CHECK(state_event_append_caller(s, 2, "killed", "old", "SIGKILL", "uid=0 gid=0 pid=42", &id) == 0);
        CHECK(state_event_append(s, 3, "exited", "old", NULL, &id) == 0);
        CHECK(state_event_list(s, 0, NULL, 10, &a, &n) == 0);
        CHECK(n == 3);
        if (n == 3) {
                CHECK(a[0].caller == NULL && streq(a[0].type, "created")); /* recorded before v2 */
                CHECK(streq_ptr(a[1].caller, "uid=0 gid=0 pid=42"));
                CHECK(a[2].caller == NULL);
        }
        state_event_array_free(a, n);

        /* v3: a row from before it has no status.vm */
        StateWorkload *ws = NULL;
        CHECK(state_workload_load_all(s, &ws, &n) == 0);
        CHECK(n == 1);
        if (n == 1)
                CHECK(streq(ws[0].name, "old") && ws[0].status.vm_accelerator == NULL &&
                      !ws[0].status.vm_backend);
        state_workload_array_free(ws, n);
}

/* ---- lazy commits: a VFS over the default one that counts xSync ---- */

static sqlite3_vfs *real_vfs;
static sqlite3_vfs count_vfs;
/* The unix VFS has a method table per locking style (the database's, the
 * WAL's): each gets a copy whose xSync counts. */
static struct {
        const sqlite3_io_methods *real;
        sqlite3_io_methods wrapped;
} methods[4];
static unsigned n_syncs;

static int count_sync(sqlite3_file *f, int flags)
{
        for (size_t i = 0; i < ELEMENTSOF(methods); i++)
                if (f->pMethods == &methods[i].wrapped) {
                        n_syncs++;
                        return methods[i].real->xSync(f, flags);
                }
        return SQLITE_IOERR_FSYNC;
}

static int count_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *f, int flags, int *out_flags)
{
        int rc = real_vfs->xOpen(real_vfs, name, f, flags, out_flags);

        if (rc != SQLITE_OK || !f->pMethods)
                return rc;
        for (size_t i = 0; i < ELEMENTSOF(methods); i++) {
                if (!methods[i].real) {
                        methods[i].real = f->pMethods;
                        methods[i].wrapped = *f->pMethods;
                        methods[i].wrapped.xSync = count_sync;
                }
                if (methods[i].real == f->pMethods) {
                        f->pMethods = &methods[i].wrapped;
                        return rc;
                }
        }
        return rc; /* more styles than slots: not counted, and the test fails */
}

#define FORWARD(fn, ...) real_vfs->fn(real_vfs, __VA_ARGS__)
static int count_delete(sqlite3_vfs *v, const char *n, int d) { return FORWARD(xDelete, n, d); }
static int count_access(sqlite3_vfs *v, const char *n, int f, int *o) { return FORWARD(xAccess, n, f, o); }
static int count_fullpath(sqlite3_vfs *v, const char *n, int l, char *o) { return FORWARD(xFullPathname, n, l, o); }
static int count_random(sqlite3_vfs *v, int n, char *o) { return FORWARD(xRandomness, n, o); }
static int count_sleep(sqlite3_vfs *v, int us) { return FORWARD(xSleep, us); }
static int count_time(sqlite3_vfs *v, double *o) { return FORWARD(xCurrentTime, o); }
static int count_error(sqlite3_vfs *v, int n, char *o) { return FORWARD(xGetLastError, n, o); }
static int count_time64(sqlite3_vfs *v, sqlite3_int64 *o) { return FORWARD(xCurrentTimeInt64, o); }

static bool count_vfs_register(void)
{
        real_vfs = sqlite3_vfs_find(NULL);
        if (!real_vfs)
                return false;
        count_vfs = (sqlite3_vfs){
                .iVersion = 2,
                .szOsFile = real_vfs->szOsFile,
                .mxPathname = real_vfs->mxPathname,
                .zName = "berth-test-count",
                .xOpen = count_open,
                .xDelete = count_delete,
                .xAccess = count_access,
                .xFullPathname = count_fullpath,
                .xRandomness = count_random,
                .xSleep = count_sleep,
                .xCurrentTime = count_time,
                .xGetLastError = count_error,
                .xCurrentTimeInt64 = count_time64,
        };
        return sqlite3_vfs_register(&count_vfs, 1) == SQLITE_OK;
}

static void test_lazy_commit(const char *path)
{
        _cleanup_(state_freep) State *s = NULL;
        StateWorkload w = {
                .name = (char *)"job",
                .spec_json = (char *)"{}",
                .status = { .state = WORKLOAD_CREATED },
        };
        StateWorkload *a = NULL;
        size_t n = 0;
        uint64_t id;

        CHECK(count_vfs_register());
        CHECK(state_open(path, &s) == 0);
        if (!s)
                goto out;
        n_syncs = 0;
        CHECK(state_workload_insert(s, &w) == 0); /* autocommit, FULL */
        CHECK(n_syncs >= 1);
        CHECK(!state_unsynced(s));

        /* The start record: no fsync of its own, the safety level back. */
        n_syncs = 0;
        w.status.state = WORKLOAD_RUNNING;
        CHECK(state_begin_lazy(s) == 0);
        CHECK(state_workload_update(s, &w) == 0);
        CHECK(state_event_append(s, 1, "started", "job", NULL, &id) == 0);
        CHECK(state_commit(s) == 0);
        CHECK(n_syncs == 0);
        CHECK(state_unsynced(s));
        CHECK(pragma_int(s, "PRAGMA synchronous") == 2);
        /* state_sync: one fsync, then nothing left to do. */
        CHECK(state_sync(s) == 0);
        CHECK(n_syncs == 1);
        CHECK(!state_unsynced(s));
        CHECK(state_sync(s) == 0);
        CHECK(n_syncs == 1);

        /* A later FULL commit covers the lazy one. */
        CHECK(state_begin_lazy(s) == 0);
        CHECK(state_event_append(s, 2, "started", "job", NULL, &id) == 0);
        CHECK(state_commit(s) == 0);
        CHECK(state_unsynced(s));
        n_syncs = 0;
        w.status.state = WORKLOAD_EXITED;
        CHECK(state_begin(s) == 0);
        CHECK(state_workload_update(s, &w) == 0);
        CHECK(state_commit(s) == 0);
        CHECK(n_syncs >= 1);
        CHECK(!state_unsynced(s));

        /* A lazy transaction rolled back leaves FULL and nothing unsynced. */
        CHECK(state_begin_lazy(s) == 0);
        CHECK(pragma_int(s, "PRAGMA synchronous") == 1); /* NORMAL */
        CHECK(state_workload_delete(s, "job") == 0);
        state_rollback(s);
        CHECK(pragma_int(s, "PRAGMA synchronous") == 2);
        CHECK(!state_unsynced(s));
        n_syncs = 0;
        w.status.state = WORKLOAD_CREATED;
        CHECK(state_workload_update(s, &w) == 0);
        CHECK(n_syncs >= 1);

        /* What a lazy commit wrote is read back after a reopen. */
        w.status.state = WORKLOAD_RUNNING;
        CHECK(state_begin_lazy(s) == 0);
        CHECK(state_workload_update(s, &w) == 0);
        CHECK(state_commit(s) == 0);
        s = state_free(s);
        CHECK(state_open(path, &s) == 0);
        if (s && state_workload_load_all(s, &a, &n) == 0) {
                CHECK(n == 1 && a[0].status.state == WORKLOAD_RUNNING);
                state_workload_array_free(a, n);
        }
out:
        s = state_free(s);
        sqlite3_vfs_unregister(&count_vfs);
}

int main(void)
{
        char path[256];

        if (!mkdtemp(dir)) {
                perror("mkdtemp");
                return 1;
        }
        snprintf(path, sizeof(path), "%s/state.db", dir);
        test_open_and_durability(path);
        test_reopen_keeps_version(path);
        test_workloads(path);
        test_events(path);

        snprintf(path, sizeof(path), "%s/v1.db", dir);
        test_event_caller(path);

        snprintf(path, sizeof(path), "%s/newer.db", dir);
        test_newer_schema_refused(path);

        snprintf(path, sizeof(path), "%s/lazy.db", dir);
        test_lazy_commit(path);

        (void)rm_rf_at(AT_FDCWD, dir);
        if (failures) {
                fprintf(stderr, "%d check(s) failed\n", failures);
                return 1;
        }
        printf("ok - agent state\n");
        return 0;
}
