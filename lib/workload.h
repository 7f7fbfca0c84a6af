/* SPDX-License-Identifier: Apache-2.0 */
/* The observed state of one workload: shared vocabulary of the agent, the
 * API encoders and the drivers. Pure data. */
#pragma once

#include <sys/types.h>

#include "lib/spec.h"
#include "lib/util.h"

typedef enum WorkloadState {
        WORKLOAD_CREATED,  /* record durable, not (yet) started */
        WORKLOAD_RUNNING,  /* supervisor up, workload process alive */
        WORKLOAD_PAUSED,   /* frozen (container issue) */
        WORKLOAD_EXITED,   /* process ended; exit_code/signal valid */
        WORKLOAD_UNKNOWN,  /* lost track, e.g. after a host reboot: never a made-up exit code */
        _WORKLOAD_STATE_MAX,
        _WORKLOAD_STATE_INVALID = -EINVAL,
} WorkloadState;

typedef struct WorkloadStatus {
        WorkloadState state;
        int exit_code;       /* valid when state == EXITED: 0..255, 128+N for signal N */
        int term_signal;     /* signal that ended it, 0 if it exited normally */
        bool oom_killed;
        pid_t pid;           /* workload init as seen from the host; 0 when not running */
        usec_t created_at;   /* CLOCK_REALTIME */
        usec_t started_at;   /* 0 if never started */
        usec_t finished_at;  /* 0 if not finished */
        unsigned restart_count;
        char *reason;        /* short machine word ("Completed", "Error", "OOMKilled", "StartFailed", ...) or NULL */
        char *message;       /* human detail or NULL */
        char network_ip[46]; /* bridge mode: the workload's address ("10.88.0.5"); "" otherwise */
        const char *health;  /* static string: "starting", "healthy", "unhealthy"; NULL = no health check */
        const char *vm_accelerator; /* static "kvm"/"tcg": a VM's accelerator (status.vm.accelerator); NULL otherwise */
        const char *vm_backend;     /* static "microvm"/"libvirt" (status.vm.backend); NULL otherwise */
} WorkloadStatus;

/* What the API core and the encoders see of one workload. Owned by the agent;
 * pointers are valid until control returns to the event loop. */
typedef struct Workload {
        const Spec *spec;
        WorkloadStatus status;
} Workload;

const char *workload_state_to_string(WorkloadState s);
WorkloadState workload_state_from_string(const char *s);
void workload_status_done(WorkloadStatus *s); /* frees reason/message */
