/* SPDX-License-Identifier: Apache-2.0 */
/* berthd's durable state: SQLite at <root>/state.db (WAL, synchronous=FULL).
 * Tables: schema_version, workloads, events. The spec is stored as the
 * canonical JSON text (spec_to_json()); this module does not interpret it. */
#pragma once

#include <sqlite3.h>

#include "lib/util.h"
#include "lib/workload.h"

#define STATE_SCHEMA_VERSION 3 /* v2: events.caller; v3: workloads.vm_accelerator, vm_backend */
#define STATE_EVENTS_KEEP 10000
#define STATE_BUSY_TIMEOUT_MSEC 5000

typedef struct State State;

/* One row of the workloads table. */
typedef struct StateWorkload {
        char *name;
        char *spec_json;          /* canonical spec document */
        bool desired_running;     /* desired state: "running" or "stopped" */
        WorkloadStatus status;    /* observed state, exit record, times, restart count, reason, message */
        pid_t shim_pid;
        uint64_t shim_start_time;
        uint64_t pid_start_time;
} StateWorkload;

typedef struct StateEvent {
        uint64_t id;
        usec_t time;
        char *type;
        char *workload; /* NULL for node events */
        char *message;  /* NULL or detail */
        char *caller;   /* NULL, or the API caller that caused it ("uid=0 gid=0 pid=1", "cert:CN=...") */
} StateEvent;

int state_open(const char *path, State **ret);
State *state_free(State *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(State *, state_free);
sqlite3 *state_db(State *s);
int state_schema_version(State *s, int *ret);

/* Explicit transactions, for writes that must be durable together. */
int state_begin(State *s);
int state_commit(State *s);
void state_rollback(State *s);
/* A transaction whose COMMIT is not fsync'd (synchronous=NORMAL), for a
 * record that acknowledges nothing to anyone: it is on disk once a later
 * commit has been fsync'd, or after state_sync(). Until then
 * state_unsynced() is true. After a crash of berthd alone it is there (the
 * kernel holds the write); after a power loss it may be missing, never
 * half-there (WAL frames are checksummed). Ended by state_commit() or
 * state_rollback(), as BEGIN is. */
int state_begin_lazy(State *s);
bool state_unsynced(State *s);
/* Makes every lazy commit durable (one fdatasync of the WAL); 0 at once
 * if there is none. state_unsynced() is false afterwards even when the
 * fsync failed (an error the caller reports): the kernel does not keep a
 * failed write for a retry. */
int state_sync(State *s);

int state_workload_insert(State *s, const StateWorkload *w);  /* -EEXIST if the name exists */
int state_workload_update(State *s, const StateWorkload *w);  /* -ENOENT if missing */
int state_workload_delete(State *s, const char *name);        /* -ENOENT if missing */
int state_workload_load_all(State *s, StateWorkload **ret, size_t *ret_n); /* sorted by name */
void state_workload_done(StateWorkload *w);
void state_workload_array_free(StateWorkload *a, size_t n);

/* Appends an event, trims the table to the last STATE_EVENTS_KEEP. */
int state_event_append(State *s, usec_t time, const char *type, const char *workload, const char *message,
                       uint64_t *ret_id);
/* The same, naming the API caller that caused it (NULL = the daemon itself). */
int state_event_append_caller(State *s, usec_t time, const char *type, const char *workload, const char *message,
                              const char *caller, uint64_t *ret_id);
/* Up to limit events with id > after_id (only `workload`'s if non-NULL), in id order. */
int state_event_list(State *s, uint64_t after_id, const char *workload, size_t limit, StateEvent **ret,
                     size_t *ret_n);
int state_event_last_id(State *s, uint64_t *ret);
void state_event_array_free(StateEvent *a, size_t n);
