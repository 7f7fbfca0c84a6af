/* SPDX-License-Identifier: Apache-2.0 */
/* The manager: owns the workloads, drives the drivers, persists to the state
 * DB and implements the API backend (ApiBackendOps). One thread, one sd_event. */
#pragma once

#include <systemd/sd-event.h>

#include "agent/config.h"
#include "agent/state.h"
#include "api/api.h"
#include "drivers/driver.h"

typedef struct Manager Manager;
typedef struct MWorkload MWorkload;

struct ApiWatch {
        Manager *manager;
        bool is_events;
        bool cancelled;
        bool finished;      /* final callback delivered */
        ApiWatch *next;     /* Manager.watches */

        /* events */
        uint64_t last_id;
        char *workload;     /* filter, NULL = all */
        bool follow;
        bool pending;       /* needs a dispatch pass */
        ApiEventCallback event_cb;

        /* wait */
        MWorkload *target;
        bool fired;         /* the workload exited: deliver snapshot */
        bool removed;       /* the workload was removed: deliver -ENOENT */
        Spec *spec_snapshot;
        WorkloadStatus status_snapshot;
        ApiWorkloadCallback wait_cb;

        void *userdata;
};

typedef struct RemoveRequest {
        ApiRemoveCallback done;
        void *userdata;
        char *caller;            /* API caller that asked (events name it), NULL = the daemon */
        struct RemoveRequest *next;
} RemoveRequest;

struct MWorkload {
        Manager *manager;
        Spec *spec;
        char *spec_json;         /* canonical spec document, as stored */
        Workload pub;            /* what the API sees: pub.spec == spec */
        Driver *driver;
        bool desired_running;
        DriverRun run;
        uint64_t shim_start_time;
        uint64_t pid_start_time;

        int notify_fd;           /* start in progress when >= 0 */
        int report_fd;           /* the same pipe, held while the run lasts: the shim writes
                                  * exit.json without fsync while berthd holds it, and
                                  * berthd's exit commit is the durable record; it also
                                  * says "exited" there before its own exit */
        sd_event_source *notify_source;
        sd_event_source *pidfd_source;
        sd_event_source *report_source;  /* report_fd: the exit line */
        sd_event_source *kill_timer;     /* SIGKILL after the stop grace period */
        sd_event_source *restart_timer;  /* restart policy backoff */
        struct MHealth *health;          /* health check state (manager-health.c), NULL = none yet */
        uint32_t sched_slot;             /* scheduler ledger id + 1 (manager-sched.c); 0 = nothing booked */
        unsigned backoff_step;

        bool stop_pending;       /* stop requested while the start was in flight */
        bool prepared;           /* create ran the driver's prepare: the first start skips it */
        usec_t stop_timeout;

        bool removing;
        RemoveRequest *remove_requests;
};

struct Manager {
        sd_event *event;
        const Config *config;
        State *state;
        Driver *container;
        Driver *vm;              /* microVM driver (drivers/vm); NULL if it could not be set up */
        char *shim_path;
        struct Net *net;         /* bridge networking (drivers/net); NULL if it could not be set up */
        struct Cluster *cluster; /* cluster store (agent/cluster.c); NULL = standalone */

        MWorkload **workloads;   /* sorted by name */
        size_t n_workloads;

        ApiWatch *watches;
        const char *caller;               /* API caller of the operation in progress (ApiBackendOps.set_caller):
                                           * events recorded meanwhile name it; NULL = the daemon itself */
        sd_event_source *dispatch_source; /* defer: delivers watch callbacks */
        unsigned dispatching;

        sd_event_source *remove_source;   /* defer: finishes removals */
        sd_event_source *warm_source;     /* manager-warm.c: idle-priority timer for the drivers' warm() */
        sd_event_source *sync_source;     /* manager-sync.c: the deadline of lazy commits */

        usec_t started_at;
        bool ready;
        sd_event_source *health_timer;    /* manager-health.c: drives every workload's probes */
        struct ManagerImages *images;     /* manager-images.c: image store and jobs; NULL until used */
        struct ManagerSched *sched;       /* manager-sched.c: the resource ledger; NULL = admit all */
        struct ManagerVmSnap *vmsnap;     /* manager-vm-snapshot.c: snapshots in progress; NULL until used */
};

extern const ApiBackendOps manager_backend_ops;

int manager_new(sd_event *event, const Config *config, State *state, const char *shim_path, Manager **ret);
Manager *manager_free(Manager *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(Manager *, manager_free);
/* Loads every workload from the state DB and re-adopts the running ones. */
int manager_start(Manager *m);
/* Emits daemon-stopping and detaches from all runs (they keep running). */
void manager_shutdown(Manager *m);

static inline const char *mworkload_name(const MWorkload *w)
{
        return w->spec->name;
}

static inline const DriverOps *mworkload_ops(const MWorkload *w)
{
        return w->spec && w->spec->isolation == ISOLATION_VM ? &vm_driver_ops : &container_driver_ops;
}

/* manager.c internals shared with manager-api.c / manager-node.c */
MWorkload *manager_find(Manager *m, const char *name);
void manager_remove_schedule(Manager *m); /* finish removals from the loop */
int manager_emit(Manager *m, const char *type, const char *workload, const char *message);
int manager_persist(MWorkload *w);
/* manager_persist() and manager_emit() in one transaction: one fsync, not two. */
int manager_persist_emit(MWorkload *w, const char *type, const char *message);
/* The same for a record that acknowledges nothing, without its own fsync:
 * durable with the next fsync'd commit, or by manager_sync() within a few
 * milliseconds (manager-sync.c). */
int manager_persist_emit_lazy(MWorkload *w, const char *type, const char *message);
/* Makes lazy commits durable now and lets the watchers have what was held. */
void manager_sync(Manager *m);
/* Arms the sync MANAGER_SYNC_DELAY after the first lazy commit not yet synced. */
void manager_sync_arm(Manager *m);
void manager_sync_free(Manager *m);
int manager_workload_create(Manager *m, Spec *spec, MWorkload **ret, BerthError *err);
/* start false: create-only (POST /v1/workloads?start=false): recorded, booked
 * with the scheduler and prepared, left in state created until a start. */
int manager_workload_create2(Manager *m, Spec *spec, bool start, MWorkload **ret, BerthError *err);
int manager_workload_start(MWorkload *w, BerthError *err);
int manager_workload_stop(MWorkload *w, usec_t timeout, BerthError *err);
int manager_workload_kill(MWorkload *w, int signo, BerthError *err);
int manager_workload_remove(MWorkload *w, bool force, ApiRemoveCallback done, void *userdata, BerthError *err);
bool manager_workload_is_active(const MWorkload *w); /* start pending, running or paused */
bool manager_workload_is_created(const MWorkload *w); /* created, no start asked: holds its booking */
void manager_dispatch_schedule(Manager *m);
int manager_dispatch_handler(sd_event_source *s, void *userdata);
void manager_watches_workload_exited(Manager *m, MWorkload *w);
void manager_watches_workload_removed(Manager *m, MWorkload *w);
void manager_watches_free_all(Manager *m);
/* manager-node.c */
int manager_backend_node(void *backend, ApiNode *ret);
int manager_backend_metrics(void *backend, char **ret_text, size_t *ret_len);

/* manager-images.c (docs/IMAGES.md) */
/* spec.image: applies the image config defaults to spec and mounts a
 * fresh active snapshot, setting spec->rootfs to it. */
int manager_image_workload_prepare(Manager *m, Spec *spec, BerthError *err);
/* After a restart: mounts the workload's existing snapshot again. */
int manager_image_workload_mount(Manager *m, Spec *spec);
void manager_image_workload_release(Manager *m, const char *name);
void manager_images_free(Manager *m);
/* At start: runs the image store's crash recovery when a store exists. */
void manager_images_recover(Manager *m);
int manager_backend_image_list(void *backend, json_t **ret, BerthError *err);
int manager_backend_image_inspect(void *backend, const char *ref, json_t **ret, BerthError *err);
int manager_backend_image_remove(void *backend, const char *ref, json_t **ret, BerthError *err);
int manager_backend_system_df(void *backend, json_t **ret, BerthError *err);
int manager_backend_image_job(void *backend, const ApiImageJob *job, ApiImageJobCallback cb, void *userdata,
                              ApiImageWatch **ret, BerthError *err);
void manager_backend_image_job_cancel(void *backend, ApiImageWatch *watch);

/* manager-vm-snapshot.c: VM snapshot, restore, clone (docs/VM.md "Snapshots") */
int manager_backend_vm_snapshot_create(void *backend, const char *workload, const char *id,
                                       ApiVmSnapshotCallback done, void *userdata, BerthError *err);
int manager_backend_vm_snapshot_list(void *backend, json_t **ret, BerthError *err);
int manager_backend_vm_snapshot_get(void *backend, const char *id, json_t **ret, BerthError *err);
int manager_backend_vm_snapshot_remove(void *backend, const char *id, BerthError *err);
int manager_backend_vm_snapshot_restore(void *backend, const char *id, const char *name, const Workload **ret,
                                        BerthError *err);
/* Startup: drops interrupted snapshot operations, collects unused disk layers. */
void manager_vm_snapshot_recover(Manager *m);
/* Fails the snapshots in progress (their callbacks run) and frees the state. */
void manager_vm_snapshot_free(Manager *m);

/* manager-run.c: one run of a workload. */
void workload_net_refresh(MWorkload *w); /* status.network.ip from the IPAM */
/* Admission, then the driver's start; the start report comes later (or a
 * start failure is recorded as the run's end). -errno only if admission refused.
 * With ret_gate, the start is gated (drivers/start-gate.h): the
 * caller, inside the transaction that records the workload, gets the gate in
 * *ret_gate (-EBADF if no shim was started) and says go once its commit has
 * returned, or cancels. */
int workload_start_run(MWorkload *w, int *ret_gate, BerthError *err);
/* SIGTERM now, SIGKILL after timeout; the workload must be running. */
int workload_terminate(MWorkload *w, usec_t timeout);
/* Watches the run's shim (its pidfd, or its exit record if it is gone). */
int workload_watch_run(MWorkload *w);
void workload_record_exit(MWorkload *w, const DriverExit *ex); /* in memory */
void workload_persist_exit(MWorkload *w); /* the exit record and its event, fsync'd */
void workload_record_lost(MWorkload *w, const char *message);
/* The restart policy after a run of ran_for usec: arms the backoff or not. */
void workload_maybe_restart(MWorkload *w, usec_t ran_for);

/* manager-warm.c: the drivers' warm() (driver.h), off the starts' paths. */
void manager_warm_after_start(Manager *m); /* a run came up: warm a little later */
void manager_warm_after_run(Manager *m);   /* a run ended: warm once the loop is idle */
void manager_warm_free(Manager *m);

/* manager-sched.c: the node resource scheduler's glue (docs/SCHEDULER.md).
 * Admission happens when a run starts (create, start, restart), at a
 * create-only create (the created workload holds its booking until its run
 * ends or it is removed) and on resize; the booking is released when the run
 * ends. */
int manager_sched_new(Manager *m);
void manager_sched_free(Manager *m);
/* Books the workloads found running at daemon start (after adoption). */
int manager_sched_rebuild(Manager *m);
/* Create: rejects up front (-ENOSPC naming the resource) what could not be admitted. */
int manager_sched_check(Manager *m, const Spec *spec, BerthError *err);
/* Start: books the run, preempting lower priorities if that makes it fit. */
int manager_sched_admit(MWorkload *w, BerthError *err);
/* The run is up: apply its cpuset. */
void manager_sched_running(MWorkload *w);
/* The run ended or the workload goes away. */
void manager_sched_release(MWorkload *w);
/* PATCH: admission for the new resources of a booked workload; commits on success. */
int manager_sched_resize(MWorkload *w, const Spec *spec, BerthError *err);
int manager_sched_dry_run(void *backend, const Spec *spec, ApiAdmission *ret, BerthError *err);
void manager_sched_node(Manager *m, ApiNode *ret);
