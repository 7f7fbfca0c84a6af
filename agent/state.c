/* SPDX-License-Identifier: Apache-2.0 */
#include <fcntl.h>

#include "agent/state.h"
#include "lib/log.h"

typedef enum StateStmt {
        STMT_WORKLOAD_INSERT,
        STMT_WORKLOAD_UPDATE,
        STMT_WORKLOAD_DELETE,
        STMT_WORKLOAD_LOAD,
        STMT_EVENT_INSERT,
        STMT_EVENT_TRIM,
        STMT_EVENT_LIST,
        STMT_EVENT_LIST_WORKLOAD,
        STMT_EVENT_LAST,
        _STMT_MAX,
} StateStmt;

#define WORKLOAD_COLUMNS                                                                                     \
        "name, spec, desired_state, state, exit_code, signal, oom, pid, shim_pid, shim_start_time, "         \
        "pid_start_time, created_at, started_at, finished_at, restart_count, reason, message, "            \
        "vm_accelerator, vm_backend"

static const char *const stmt_sql[_STMT_MAX] = {
        [STMT_WORKLOAD_INSERT] = "INSERT INTO workloads (" WORKLOAD_COLUMNS ") "
                                 "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, "
                                 "?17, ?18, ?19)",
        [STMT_WORKLOAD_UPDATE] = "UPDATE workloads SET spec = ?2, desired_state = ?3, state = ?4, exit_code = ?5, "
                                 "signal = ?6, oom = ?7, pid = ?8, shim_pid = ?9, shim_start_time = ?10, "
                                 "pid_start_time = ?11, created_at = ?12, started_at = ?13, finished_at = ?14, "
                                 "restart_count = ?15, reason = ?16, message = ?17, vm_accelerator = ?18, "
                                 "vm_backend = ?19 WHERE name = ?1",
        [STMT_WORKLOAD_DELETE] = "DELETE FROM workloads WHERE name = ?1",
        [STMT_WORKLOAD_LOAD] = "SELECT " WORKLOAD_COLUMNS " FROM workloads ORDER BY name",
        [STMT_EVENT_INSERT] = "INSERT INTO events (time, type, workload, message, caller) VALUES (?1, ?2, ?3, ?4, ?5)",
        [STMT_EVENT_TRIM] = "DELETE FROM events WHERE id <= ?1",
        [STMT_EVENT_LIST] = "SELECT id, time, type, workload, message, caller FROM events WHERE id > ?1 "
                            "ORDER BY id LIMIT ?2",
        [STMT_EVENT_LIST_WORKLOAD] = "SELECT id, time, type, workload, message, caller FROM events "
                                     "WHERE id > ?1 AND workload = ?3 ORDER BY id LIMIT ?2",
        [STMT_EVENT_LAST] = "SELECT COALESCE(MAX(id), 0) FROM events",
};

/* Migration i brings the schema from version i to i + 1. Append only. */
static const char *const migrations[] = {
        /* v0 -> v1 */
        "CREATE TABLE workloads ("
        "  name TEXT PRIMARY KEY NOT NULL,"
        "  spec TEXT NOT NULL,"
        "  desired_state TEXT NOT NULL,"
        "  state TEXT NOT NULL,"
        "  exit_code INTEGER,"
        "  signal INTEGER,"
        "  oom INTEGER NOT NULL DEFAULT 0,"
        "  pid INTEGER,"
        "  shim_pid INTEGER,"
        "  shim_start_time INTEGER,"
        "  pid_start_time INTEGER,"
        "  created_at INTEGER NOT NULL,"
        "  started_at INTEGER,"
        "  finished_at INTEGER,"
        "  restart_count INTEGER NOT NULL DEFAULT 0,"
        "  reason TEXT,"
        "  message TEXT"
        ") WITHOUT ROWID;"
        "CREATE TABLE events ("
        "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
        "  time INTEGER NOT NULL,"
        "  type TEXT NOT NULL,"
        "  workload TEXT,"
        "  message TEXT"
        ");"
        "CREATE INDEX events_workload ON events (workload, id);",
        /* v1 -> v2: who caused an event (API caller: SO_PEERCRED or the client certificate) */
        "ALTER TABLE events ADD COLUMN caller TEXT;",
        /* v2 -> v3: status.vm of a microVM ("kvm"/"tcg", "microvm"/"libvirt"), kept after its run ended */
        "ALTER TABLE workloads ADD COLUMN vm_accelerator TEXT;"
        "ALTER TABLE workloads ADD COLUMN vm_backend TEXT;",
};

struct State {
        sqlite3 *db;
        sqlite3_stmt *stmts[_STMT_MAX];
        bool lazy_txn; /* inside state_begin_lazy(): synchronous=NORMAL until it ends */
        bool unsynced; /* a lazy commit may not be on disk yet (state_sync()) */
};

static inline void sqlite3_closep(sqlite3 **db)
{
        if (*db)
                sqlite3_close_v2(*db);
}

static int sqlite_to_errno(int rc)
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
        case SQLITE_PERM:
        case SQLITE_AUTH:
        case SQLITE_READONLY:
                return -EACCES;
        case SQLITE_CANTOPEN:
                return -ENOENT;
        default:
                return -EIO;
        }
}

static int state_exec(State *s, const char *sql)
{
        char *msg = NULL;
        int rc = sqlite3_exec(s->db, sql, NULL, NULL, &msg);

        if (rc != SQLITE_OK) {
                log_debug("state: \"%.60s\" failed: %s", sql, msg ? msg : sqlite3_errstr(rc));
                sqlite3_free(msg);
                return sqlite_to_errno(rc) ?: -EIO;
        }
        return 0;
}

sqlite3 *state_db(State *s)
{
        return s->db;
}

int state_schema_version(State *s, int *ret)
{
        sqlite3_stmt *st = NULL;
        int rc, v = 0;

        rc = sqlite3_prepare_v2(s->db,
                                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'",
                                -1, &st, NULL);
        if (rc != SQLITE_OK)
                return sqlite_to_errno(rc);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW && sqlite3_column_int(st, 0) > 0) {
                sqlite3_finalize(st);
                rc = sqlite3_prepare_v2(s->db, "SELECT MAX(version) FROM schema_version", -1, &st, NULL);
                if (rc != SQLITE_OK)
                        return sqlite_to_errno(rc);
                rc = sqlite3_step(st);
                if (rc == SQLITE_ROW)
                        v = sqlite3_column_int(st, 0);
        }
        sqlite3_finalize(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
                return sqlite_to_errno(rc);
        *ret = v;
        return 0;
}

static int state_migrate(State *s)
{
        int v, r;

        r = state_begin(s);
        if (r < 0)
                return r;
        r = state_exec(s, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
        if (r >= 0)
                r = state_schema_version(s, &v);
        if (r >= 0 && v > (int)ELEMENTSOF(migrations))
                r = log_error_errno(-EPROTO, "state: database schema version %d is newer than this berthd (%d)",
                                    v, (int)ELEMENTSOF(migrations));
        for (int i = v; r >= 0 && i < (int)ELEMENTSOF(migrations); i++) {
                char sql[96];

                log_info("state: migrating schema from version %d to %d", i, i + 1);
                r = state_exec(s, migrations[i]);
                if (r < 0)
                        break;
                snprintf(sql, sizeof(sql), "DELETE FROM schema_version; INSERT INTO schema_version VALUES (%d)",
                         i + 1);
                r = state_exec(s, sql);
        }
        if (r < 0) {
                state_rollback(s);
                return r;
        }
        return state_commit(s);
}

/* SQLite's checkpoint threshold (sqlite3_wal_autocheckpoint()'s default),
 * which setting our own hook replaces. */
#define STATE_WAL_CHECKPOINT_FRAMES 1000

/* Called after every commit that wrote to the WAL, once COMMIT has done its
 * fsync if synchronous=FULL: then every frame before it is on disk too, the
 * lazy ones included, because one fdatasync covers the whole file. */
static int on_wal_commit(void *userdata, sqlite3 *db, const char *name, int n_frames)
{
        State *s = userdata;

        s->unsynced = s->lazy_txn;
        if (n_frames >= STATE_WAL_CHECKPOINT_FRAMES)
                (void)sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        return SQLITE_OK;
}

int state_open(const char *path, State **ret)
{
        _cleanup_(state_freep) State *s = NULL;
        int rc, r;

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        /* SQLite opens its files O_CLOEXEC itself (since 3.7.x via osOpen with O_CLOEXEC). */
        rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
        if (rc != SQLITE_OK)
                return log_error_errno(sqlite_to_errno(rc) ?: -EIO, "state: cannot open %s: %s", path,
                                       s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        sqlite3_busy_timeout(s->db, STATE_BUSY_TIMEOUT_MSEC);
        sqlite3_extended_result_codes(s->db, 0);

        /* WAL: readers never block the writer and a commit is one append.
         * synchronous=FULL: every commit is fsync'd before it returns, because
         * an acknowledged create or a recorded exit must survive power loss
         * (NORMAL in WAL mode may lose the last commits on power failure). */
        r = state_exec(s, "PRAGMA journal_mode = WAL");
        if (r >= 0)
                r = state_exec(s, "PRAGMA synchronous = FULL");
        if (r >= 0)
                r = state_exec(s, "PRAGMA foreign_keys = ON");
        if (r < 0)
                return log_error_errno(r, "state: cannot configure %s: %m", path);

        r = state_migrate(s);
        if (r < 0)
                return log_error_errno(r, "state: migrating %s failed: %m", path);
        /* After the migration: it runs before anyone can read the state. */
        sqlite3_wal_hook(s->db, on_wal_commit, s);

        for (int i = 0; i < _STMT_MAX; i++) {
                rc = sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->stmts[i], NULL);
                if (rc != SQLITE_OK)
                        return log_error_errno(sqlite_to_errno(rc) ?: -EIO, "state: preparing statement: %s",
                                               sqlite3_errmsg(s->db));
        }
        *ret = TAKE_PTR(s);
        return 0;
}

State *state_free(State *s)
{
        if (!s)
                return NULL;
        for (int i = 0; i < _STMT_MAX; i++)
                sqlite3_finalize(s->stmts[i]);
        sqlite3_closep(&s->db);
        free(s);
        return NULL;
}

int state_begin(State *s)
{
        return state_exec(s, "BEGIN IMMEDIATE");
}

/* SQLite refuses to change the safety level inside a transaction, so a lazy
 * transaction sets it before BEGIN and puts it back once it has ended. */
static void lazy_txn_end(State *s)
{
        if (!s->lazy_txn || !sqlite3_get_autocommit(s->db))
                return;
        s->lazy_txn = false;
        if (state_exec(s, "PRAGMA synchronous = FULL") < 0)
                log_error("state: cannot restore synchronous=FULL: %s", sqlite3_errmsg(s->db));
}

int state_begin_lazy(State *s)
{
        int r;

        r = state_exec(s, "PRAGMA synchronous = NORMAL");
        if (r < 0)
                return r;
        s->lazy_txn = true;
        r = state_begin(s);
        if (r < 0)
                lazy_txn_end(s);
        return r;
}

int state_commit(State *s)
{
        int r = state_exec(s, "COMMIT");
        lazy_txn_end(s);
        return r;
}

void state_rollback(State *s)
{
        if (!sqlite3_get_autocommit(s->db))
                (void)state_exec(s, "ROLLBACK");
        lazy_txn_end(s);
}

bool state_unsynced(State *s)
{
        return s->unsynced;
}

int state_sync(State *s)
{
        sqlite3_file *wal = NULL;
        int rc;

        if (!s->unsynced)
                return 0;
        /* The WAL's own file object: its xSync is the fdatasync a FULL
         * commit would have made. */
        rc = sqlite3_file_control(s->db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &wal);
        if (rc != SQLITE_OK || !wal || !wal->pMethods)
                return -EIO;
        rc = wal->pMethods->xSync(wal, SQLITE_SYNC_NORMAL);
        /* Cleared on failure too: Linux forgets a failed writeback once it
         * has reported it, so a retry would report success for lost data. */
        s->unsynced = false;
        return rc == SQLITE_OK ? 0 : sqlite_to_errno(rc) ?: -EIO;
}

/* Resets a cached statement when the caller is done with it. */
static inline void stmt_resetp(sqlite3_stmt **st)
{
        if (*st) {
                sqlite3_reset(*st);
                sqlite3_clear_bindings(*st);
        }
}
#define _cleanup_stmt_reset_ _cleanup_(stmt_resetp)

static int bind_text(sqlite3_stmt *st, int i, const char *v)
{
        return v ? sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC) : sqlite3_bind_null(st, i);
}

static int bind_u64_or_null(sqlite3_stmt *st, int i, uint64_t v)
{
        return v ? sqlite3_bind_int64(st, i, (sqlite3_int64)v) : sqlite3_bind_null(st, i);
}

static int bind_workload(sqlite3_stmt *st, const StateWorkload *w)
{
        const WorkloadStatus *ws = &w->status;
        bool exited = ws->state == WORKLOAD_EXITED;
        int rc = 0;

        rc |= bind_text(st, 1, w->name);
        rc |= bind_text(st, 2, w->spec_json);
        rc |= bind_text(st, 3, w->desired_running ? "running" : "stopped");
        rc |= bind_text(st, 4, workload_state_to_string(ws->state));
        rc |= exited ? sqlite3_bind_int(st, 5, ws->exit_code) : sqlite3_bind_null(st, 5);
        rc |= exited ? sqlite3_bind_int(st, 6, ws->term_signal) : sqlite3_bind_null(st, 6);
        rc |= sqlite3_bind_int(st, 7, ws->oom_killed);
        rc |= bind_u64_or_null(st, 8, (uint64_t)ws->pid);
        rc |= bind_u64_or_null(st, 9, (uint64_t)w->shim_pid);
        rc |= bind_u64_or_null(st, 10, w->shim_start_time);
        rc |= bind_u64_or_null(st, 11, w->pid_start_time);
        rc |= sqlite3_bind_int64(st, 12, (sqlite3_int64)ws->created_at);
        rc |= bind_u64_or_null(st, 13, ws->started_at);
        rc |= bind_u64_or_null(st, 14, ws->finished_at);
        rc |= sqlite3_bind_int64(st, 15, ws->restart_count);
        rc |= bind_text(st, 16, ws->reason);
        rc |= bind_text(st, 17, ws->message);
        rc |= bind_text(st, 18, ws->vm_accelerator);
        rc |= bind_text(st, 19, ws->vm_backend);
        return rc == SQLITE_OK ? 0 : -ENOMEM;
}

static int step_done(State *s, sqlite3_stmt *st)
{
        int rc = sqlite3_step(st);

        if (rc == SQLITE_DONE)
                return 0;
        log_debug("state: statement failed: %s", sqlite3_errmsg(s->db));
        return sqlite_to_errno(rc) ?: -EIO;
}

int state_workload_insert(State *s, const StateWorkload *w)
{
        _cleanup_stmt_reset_ sqlite3_stmt *st = s->stmts[STMT_WORKLOAD_INSERT];
        int r;

        r = bind_workload(st, w);
        if (r < 0)
                return r;
        return step_done(s, st);
}

int state_workload_update(State *s, const StateWorkload *w)
{
        _cleanup_stmt_reset_ sqlite3_stmt *st = s->stmts[STMT_WORKLOAD_UPDATE];
        int r;

        r = bind_workload(st, w);
        if (r < 0)
                return r;
        r = step_done(s, st);
        if (r < 0)
                return r;
        return sqlite3_changes(s->db) > 0 ? 0 : -ENOENT;
}

int state_workload_delete(State *s, const char *name)
{
        _cleanup_stmt_reset_ sqlite3_stmt *st = s->stmts[STMT_WORKLOAD_DELETE];
        int r;

        if (bind_text(st, 1, name) != SQLITE_OK)
                return -ENOMEM;
        r = step_done(s, st);
        if (r < 0)
                return r;
        return sqlite3_changes(s->db) > 0 ? 0 : -ENOENT;
}

static int column_strdup(sqlite3_stmt *st, int i, char **ret)
{
        const unsigned char *t = sqlite3_column_text(st, i);

        *ret = NULL;
        if (!t)
                return sqlite3_column_type(st, i) == SQLITE_NULL ? 0 : -ENOMEM;
        *ret = strdup((const char *)t);
        return *ret ? 0 : -ENOMEM;
}

/* status.vm.* are static strings (lib/workload.h): the stored text mapped
 * back onto one of known, NULL when absent or not known. */
static const char *column_static(sqlite3_stmt *st, int i, const char *const *known)
{
        const char *t = (const char *)sqlite3_column_text(st, i);

        for (; t && *known; known++)
                if (streq(t, *known))
                        return *known;
        return NULL;
}

void state_workload_done(StateWorkload *w)
{
        free(w->name);
        free(w->spec_json);
        workload_status_done(&w->status);
        *w = (StateWorkload){};
}

void state_workload_array_free(StateWorkload *a, size_t n)
{
        for (size_t i = 0; i < n; i++)
                state_workload_done(&a[i]);
        free(a);
}

int state_workload_load_all(State *s, StateWorkload **ret, size_t *ret_n)
{
        _cleanup_stmt_reset_ sqlite3_stmt *st = s->stmts[STMT_WORKLOAD_LOAD];
        StateWorkload *a = NULL;
        size_t n = 0;
        int rc, r = 0;

        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                StateWorkload *na = realloc(a, (n + 1) * sizeof(*a));
                StateWorkload *w;
                char *state = NULL;

                if (!na) {
                        r = -ENOMEM;
                        break;
                }
                a = na;
                w = &a[n++];
                *w = (StateWorkload){};
                if (column_strdup(st, 0, &w->name) < 0 || column_strdup(st, 1, &w->spec_json) < 0 ||
                    column_strdup(st, 15, &w->status.reason) < 0 || column_strdup(st, 16, &w->status.message) < 0 ||
                    !w->name || !w->spec_json) {
                        r = -ENOMEM;
                        break;
                }
                w->desired_running = streq_ptr((const char *)sqlite3_column_text(st, 2), "running");
                state = (char *)sqlite3_column_text(st, 3);
                w->status.state = workload_state_from_string(state);
                if (w->status.state < 0) {
                        log_warning("state: workload %s has unknown state \"%s\", treating it as unknown", w->name,
                                    strempty(state));
                        w->status.state = WORKLOAD_UNKNOWN;
                }
                w->status.exit_code = sqlite3_column_int(st, 4);
                w->status.term_signal = sqlite3_column_int(st, 5);
                w->status.oom_killed = sqlite3_column_int(st, 6) != 0;
                w->status.pid = (pid_t)sqlite3_column_int64(st, 7);
                w->shim_pid = (pid_t)sqlite3_column_int64(st, 8);
                w->shim_start_time = (uint64_t)sqlite3_column_int64(st, 9);
                w->pid_start_time = (uint64_t)sqlite3_column_int64(st, 10);
                w->status.created_at = (usec_t)sqlite3_column_int64(st, 11);
                w->status.started_at = (usec_t)sqlite3_column_int64(st, 12);
                w->status.finished_at = (usec_t)sqlite3_column_int64(st, 13);
                w->status.restart_count = (unsigned)sqlite3_column_int64(st, 14);
                w->status.vm_accelerator = column_static(st, 17, (const char *const[]){"kvm", "tcg", NULL});
                w->status.vm_backend =
                    column_static(st, 18, (const char *const[]){"microvm", "libvirt", NULL});
        }
        if (r == 0 && rc != SQLITE_DONE)
                r = sqlite_to_errno(rc) ?: -EIO;
        if (r < 0) {
                state_workload_array_free(a, n);
                return r;
        }
        *ret = a;
        *ret_n = n;
        return 0;
}

int state_event_append(State *s, usec_t time, const char *type, const char *workload, const char *message,
                       uint64_t *ret_id)
{
        return state_event_append_caller(s, time, type, workload, message, NULL, ret_id);
}

int state_event_append_caller(State *s, usec_t time, const char *type, const char *workload, const char *message,
                              const char *caller, uint64_t *ret_id)
{
        _cleanup_stmt_reset_ sqlite3_stmt *st = s->stmts[STMT_EVENT_INSERT];
        uint64_t id;
        int r;

        if (sqlite3_bind_int64(st, 1, (sqlite3_int64)time) != SQLITE_OK || bind_text(st, 2, type) != SQLITE_OK ||
            bind_text(st, 3, workload) != SQLITE_OK || bind_text(st, 4, message) != SQLITE_OK ||
            bind_text(st, 5, caller) != SQLITE_OK)
                return -ENOMEM;
        r = step_done(s, st);
        if (r < 0)
                return r;
        id = (uint64_t)sqlite3_last_insert_rowid(s->db);

        /* AUTOINCREMENT ids never repeat, so "id <= last - keep" bounds the table. */
        if (id > STATE_EVENTS_KEEP) {
                _cleanup_stmt_reset_ sqlite3_stmt *trim = s->stmts[STMT_EVENT_TRIM];

                sqlite3_bind_int64(trim, 1, (sqlite3_int64)(id - STATE_EVENTS_KEEP));
                r = step_done(s, trim);
                if (r < 0)
                        return r;
        }
        if (ret_id)
                *ret_id = id;
        return 0;
}

void state_event_array_free(StateEvent *a, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                free(a[i].type);
                free(a[i].workload);
                free(a[i].message);
                free(a[i].caller);
        }
        free(a);
}

int state_event_list(State *s, uint64_t after_id, const char *workload, size_t limit, StateEvent **ret,
                     size_t *ret_n)
{
        _cleanup_stmt_reset_ sqlite3_stmt *st = s->stmts[workload ? STMT_EVENT_LIST_WORKLOAD : STMT_EVENT_LIST];
        StateEvent *a = NULL;
        size_t n = 0;
        int rc, r = 0;

        if (limit == 0) {
                *ret = NULL;
                *ret_n = 0;
                return 0;
        }
        if (after_id > INT64_MAX)
                after_id = INT64_MAX;
        if (limit > INT64_MAX)
                limit = INT64_MAX;
        sqlite3_bind_int64(st, 1, (sqlite3_int64)after_id);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)limit);
        if (workload && bind_text(st, 3, workload) != SQLITE_OK)
                return -ENOMEM;
        size_t cap = limit < 256 ? limit : 256;
        a = calloc(cap, sizeof(*a));
        if (!a)
                return -ENOMEM;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                StateEvent *e;

                if (n == cap) {
                        StateEvent *na = realloc(a, cap * 2 * sizeof(*a));
                        if (!na) {
                                r = -ENOMEM;
                                break;
                        }
                        a = na;
                        cap *= 2;
                }
                e = &a[n++];
                *e = (StateEvent){
                        .id = (uint64_t)sqlite3_column_int64(st, 0),
                        .time = (usec_t)sqlite3_column_int64(st, 1),
                };
                if (column_strdup(st, 2, &e->type) < 0 || column_strdup(st, 3, &e->workload) < 0 ||
                    column_strdup(st, 4, &e->message) < 0 || column_strdup(st, 5, &e->caller) < 0 || !e->type) {
                        r = -ENOMEM;
                        break;
                }
        }
        if (r == 0 && rc != SQLITE_DONE)
                r = sqlite_to_errno(rc) ?: -EIO;
        if (r < 0) {
                state_event_array_free(a, n);
                return r;
        }
        *ret = a;
        *ret_n = n;
        return 0;
}

int state_event_last_id(State *s, uint64_t *ret)
{
        _cleanup_stmt_reset_ sqlite3_stmt *st = s->stmts[STMT_EVENT_LAST];
        int rc = sqlite3_step(st);

        if (rc != SQLITE_ROW)
                return sqlite_to_errno(rc) ?: -EIO;
        *ret = (uint64_t)sqlite3_column_int64(st, 0);
        return 0;
}
