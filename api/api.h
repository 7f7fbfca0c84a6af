/* SPDX-License-Identifier: Apache-2.0 */
/* The API core: typed operations over one backend (the agent's manager).
 * Adapters — HTTP/JSON (api/http-*.c) and gRPC (api/grpc-*.c) — decode a request,
 * call the core, and encode the result; validation and logic live here or
 * below, never in an adapter.
 *
 * Dependency direction: api/ includes lib/ and its own headers only (scheduler
 * facts cross as ApiNode/ApiPlacement), never drivers/ or agent/. The agent implements ApiBackendOps and hands it to the core.
 *
 * Callback rule: a backend never invokes a callback from inside the call that
 * registered it; it defers to a later iteration of the event loop. A watch
 * stays valid until its final callback ran or it was cancelled. */
#pragma once

#include <systemd/sd-event.h>

#include "lib/error.h"
#include "lib/spec.h"
#include "lib/workload.h"

typedef struct ApiWatch ApiWatch; /* backend-defined subscription handle */

typedef struct BerthEvent {
        uint64_t id;          /* strictly increasing, durable (state DB) */
        usec_t time;          /* CLOCK_REALTIME */
        const char *type;     /* see docs/API.md: created, started, start-failed, exited, oom-killed,
                               * stopping, killed, restarting, removed, adopted, daemon-started, ... */
        const char *workload; /* NULL for node events */
        const char *message;  /* NULL or human detail */
        const char *caller;   /* NULL, or the API caller that caused it: "uid=0 gid=0 pid=123" (unix
                               * socket, SO_PEERCRED) or "cert:CN=..." (TCP, mutual TLS) */
} BerthEvent;

typedef struct ApiNode {
        const char *name;            /* node name (hostname) */
        const char *version;         /* berth version */
        const char *kernel;          /* uname -r */
        int cgroup_version;          /* 1 or 2 */
        unsigned cpus;               /* online CPUs */
        uint64_t memory_total_bytes;
        uint64_t memory_available_bytes;
        usec_t started_at;           /* berthd start, CLOCK_REALTIME */
        unsigned workloads[_WORKLOAD_STATE_MAX]; /* count by state */
        bool ready;
        const char *cluster;         /* cluster store session state (docs/CLUSTER.md); NULL = standalone */
        /* The scheduler's ledger (docs/SCHEDULER.md); has_scheduler false = absent.
         * Borrowed: valid until control returns to the event loop. */
        bool has_scheduler;
        const struct ApiNodeResource *resources;  /* cpu (millicores), memory (bytes) */
        size_t n_resources;
        const char *shared_pool;     /* cpuset list of the shared pool */
        unsigned numa_nodes;
        unsigned cpu_cores, smt_width;
        uint64_t hugepages_2m, hugepages_1g;
        const struct ApiPlacement *placements;    /* one per booked workload, by name */
        size_t n_placements;
        bool under_pressure;         /* eviction: memory pressure with hysteresis */
} ApiNode;

typedef struct ApiNodeResource {
        const char *name;            /* "cpu", "memory" */
        uint64_t capacity, allocatable, allocated, free;
} ApiNodeResource;

typedef struct ApiPlacement {
        const char *workload;
        const char *qos;             /* guaranteed, burstable, best-effort */
        const char *cpuset;          /* its exclusive set, or the shared pool */
        bool exclusive;
        int numa_node;               /* -1 = not aligned */
        int32_t priority;
        uint64_t cpu_millis;         /* what the ledger books (VM: with the VMM overhead) */
        uint64_t memory_bytes;
        const char *vcpu_pins;       /* VM on an exclusive set: "0=1,1=2" (vCPU=CPU); NULL otherwise */
} ApiPlacement;

/* POST /v1/workloads?dryRun=1: what admission would decide, nothing done. */
typedef struct ApiAdmission {
        bool admitted;
        ApiPlacement placement;      /* workload = the spec's name */
        const char *const *preempts; /* victims' names, NULL-terminated; NULL = none */
        size_t n_preempts;
        char reason[256];            /* rejection: names the resource and the numbers */
        const char *resource;        /* rejection: "cpu" or "memory"; NULL when admitted */
} ApiAdmission;

/* Called when a workload reached a final state for the watch (exited, or
 * removed: w == NULL and error == -ENOENT). */
/* One exec session's descriptors (ApiBackendOps.exec). */
typedef struct ApiExecIo {
        int stdin_fd;  /* write end; -EBADF with a tty */
        int stdout_fd; /* read end; with a tty the pty master (read and write) */
        int stderr_fd; /* read end; -EBADF with a tty */
        int pidfd;     /* the exec helper: SIGKILL cancels the command */
        int status_fd; /* the exit code as one native int, then EOF */
} ApiExecIo;

typedef void (*ApiWorkloadCallback)(void *userdata, const Workload *w, int error);
typedef void (*ApiRemoveCallback)(void *userdata, int error);
/* Called for each event, in id order; ev == NULL with error < 0 ends the watch. */
typedef void (*ApiEventCallback)(void *userdata, const BerthEvent *ev, int error);

typedef enum ApiImageJobKind {
        API_IMAGE_IMPORT,   /* path (absolute, on the node), name optional */
        API_IMAGE_PULL,     /* ref */
        API_IMAGE_COMMIT,   /* workload -> name */
        _API_IMAGE_JOB_KIND_MAX,
} ApiImageJobKind;

typedef struct ApiImageJob {
        ApiImageJobKind kind;
        const char *path;
        const char *ref;
        const char *name;
        const char *workload;
        bool insecure;      /* pull over plain HTTP */
} ApiImageJob;

typedef struct ApiImageWatch ApiImageWatch; /* backend-defined */
typedef void (*ApiImageJobCallback)(void *userdata, const json_t *obj, bool final);

/* VM snapshot creation finished (doc: new reference, NULL on failure with err set). */
typedef void (*ApiVmSnapshotCallback)(void *userdata, json_t *doc, const BerthError *err);

typedef struct ApiBackendOps {
        /* Creates and starts. Returns after the record is durable. Takes
         * ownership of spec on success. -EEXIST if the name is taken. */
        int (*create)(void *backend, Spec *spec, const Workload **ret, BerthError *err);
        int (*get)(void *backend, const char *name, const Workload **ret, BerthError *err);
        /* *ret is a malloc'd array of borrowed pointers, sorted by name. */
        int (*list)(void *backend, const Workload ***ret, size_t *ret_n);
        int (*start)(void *backend, const char *name, const Workload **ret, BerthError *err);
        /* SIGTERM now, SIGKILL after timeout; returns at once. */
        int (*stop)(void *backend, const char *name, usec_t timeout, const Workload **ret, BerthError *err);
        int (*kill)(void *backend, const char *name, int signo, const Workload **ret, BerthError *err);
        /* -EBUSY when running and !force. With force a running workload is
         * killed first. done() is always called later, once removed. */
        int (*remove)(void *backend, const char *name, bool force, ApiRemoveCallback done, void *userdata,
                      BerthError *err);
        /* done() once the workload is exited (at once, deferred, if it already is). */
        int (*wait)(void *backend, const char *name, ApiWorkloadCallback done, void *userdata, ApiWatch **ret,
                    BerthError *err);
        /* Replays events with id > after_id (optionally only one workload),
         * then live ones while follow is true; without follow, ends with
         * (NULL, 0) after the replay. */
        int (*events)(void *backend, uint64_t after_id, const char *workload, bool follow, ApiEventCallback cb,
                      void *userdata, ApiWatch **ret, BerthError *err);
        void (*watch_cancel)(void *backend, ApiWatch *watch);
        /* O_DIRECTORY|O_CLOEXEC fd of the workload directory holding the log
         * files (lib/logfile.h). */
        int (*log_dir)(void *backend, const char *name, int *ret_dirfd, BerthError *err);
        int (*node)(void *backend, ApiNode *ret);
        /* Prometheus text exposition (version 0.0.4), malloc'd. */
        int (*metrics)(void *backend, char **ret_text, size_t *ret_len);
        /* Issue 3 part B (additive; NULL = not supported, 501). */
        /* Replaces the spec (only resources may differ, checked by the
         * core) and applies it live when running. Takes spec on success. */
        int (*update)(void *backend, const char *name, Spec *spec, const Workload **ret, BerthError *err);
        /* Freeze / thaw a running workload (state paused <-> running). */
        int (*pause)(void *backend, const char *name, const Workload **ret, BerthError *err);
        int (*resume)(void *backend, const char *name, const Workload **ret, BerthError *err);
        /* Starts argv inside the running workload (all its namespaces, its
         * cgroup, its security policy). Fills *ret with non-blocking,
         * O_CLOEXEC fds owned by the caller. */
        int (*exec)(void *backend, const char *name, char **argv, bool tty, ApiExecIo *ret, BerthError *err);

        /* Issue 3 part A: images (docs/IMAGES.md; additive, NULL = 501).
         * Documents are the JSON shapes of docs/IMAGES.md, new references. */
        int (*image_list)(void *backend, json_t **ret, BerthError *err);
        int (*image_inspect)(void *backend, const char *ref, json_t **ret, BerthError *err);
        int (*image_remove)(void *backend, const char *ref, json_t **ret, BerthError *err);
        int (*system_df)(void *backend, json_t **ret, BerthError *err);
        /* Slow image work (import a path on the node, pull, commit) runs in
         * a worker process; cb gets each progress object, then one final
         * object ({"status":"done",...} or {"status":"error",...}) with
         * final = true. The job outlives a cancelled watch. */
        int (*image_job)(void *backend, const ApiImageJob *job, ApiImageJobCallback cb, void *userdata,
                         ApiImageWatch **ret, BerthError *err);
        void (*image_job_cancel)(void *backend, ApiImageWatch *watch);

        /* The scheduler (docs/SCHEDULER.md; additive, NULL = 501): admission
         * without side effects, for POST /v1/workloads?dryRun=1. The result
         * borrows backend memory until control returns to the event loop. */
        int (*admit_dry_run)(void *backend, const Spec *spec, ApiAdmission *ret, BerthError *err);

        /* Who calls the operations that follow (additive, NULL = not recorded): the adapters set it
         * around each request (api_core_caller_begin/end), the backend names it in the events it
         * records meanwhile. caller is borrowed until the next call; NULL ends the request. */
        void (*set_caller)(void *backend, const char *caller);

        /* VM snapshots (docs/API.md "VM snapshots"; additive, NULL = 501).
         * Documents are the JSON shapes of docs/API.md (new references). */
        /* Snapshots a running or paused microVM into a new snapshot `id`
         * (NULL = generated). done() is always called later, exactly once:
         * with the snapshot document once it is complete and durable, or
         * with doc NULL and err set. */
        int (*vm_snapshot_create)(void *backend, const char *workload, const char *id, ApiVmSnapshotCallback done,
                                  void *userdata, BerthError *err);
        int (*vm_snapshot_list)(void *backend, json_t **ret, BerthError *err);
        int (*vm_snapshot_get)(void *backend, const char *id, json_t **ret, BerthError *err);
        int (*vm_snapshot_remove)(void *backend, const char *id, BerthError *err);
        /* A new workload `name` restored from snapshot `id`: created and
         * started like POST /v1/workloads (durable before it returns). */
        int (*vm_snapshot_restore)(void *backend, const char *id, const char *name, const Workload **ret,
                                   BerthError *err);

        /* create with a choice (additive, NULL = only create): start false records the
         * workload (durable before it returns), books it with the scheduler, prepares it
         * and leaves it in state created until start(), for POST /v1/workloads?start=false. */
        int (*create2)(void *backend, Spec *spec, bool start, const Workload **ret, BerthError *err);
} ApiBackendOps;

typedef struct ApiBackend {
        const ApiBackendOps *ops;
        void *userdata;
} ApiBackend;

/* ---- The HTTP/JSON adapter (api/http-server.c), on the caller's sd_event ---- */

typedef struct ApiHttpConfig {
        const char *socket_path;   /* unix socket to create (mode 0660); parent dir made 0750 */
        gid_t socket_gid;          /* group owning the socket, (gid_t)-1 to leave as is */
        int listen_fd;             /* >= 0: use this already-listening socket instead (socket activation) */
        usec_t default_stop_timeout;
        /* TCP with mutual TLS (api/tls-http.c, docs/SECURITY.md): when tls_cert is set, listen_fd is
         * a listening TCP socket (api_listen_tcp) and every route but /healthz needs a client
         * certificate whose subject maps to a role. */
        const char *tls_cert, *tls_key, *tls_ca;
        const struct ApiRoleMapping *roles;
        size_t n_roles;
        double rate_limit, rate_burst; /* per client certificate, requests/s; 0 = unlimited */
} ApiHttpConfig;

typedef struct ApiHttp ApiHttp;
/* SIGHUP: a new server certificate for new TLS connections; established ones carry on. */
int api_http_reload_tls(ApiHttp *h);
/* A listening TCP socket on "HOST:PORT" / "[V6]:PORT" (non-blocking, CLOEXEC). */
int api_listen_tcp(const char *address, int *ret_fd);

int api_http_new(sd_event *event, const ApiHttpConfig *config, const ApiBackend *backend, ApiHttp **ret);
/* Stops accepting; open streams end. */
ApiHttp *api_http_free(ApiHttp *h);

/* ---- The gRPC adapter (api/grpc-*.c, docs/GRPC.md), on the caller's sd_event ---- */

typedef struct ApiRoleMapping ApiRoleMapping; /* api/auth.h */

typedef struct ApiGrpcConfig {
        const char *socket_path;     /* unix socket (mode 0660), NULL = none */
        gid_t socket_gid;            /* (gid_t)-1 to leave as is */
        const char *tcp_address;     /* "HOST:PORT" or "[V6]:PORT", NULL = no TCP listener */
        const char *tls_cert, *tls_key, *tls_ca; /* required with tcp_address (mutual TLS) */
        const ApiRoleMapping *roles; /* certificate subject -> role */
        size_t n_roles;
        double rate_limit;           /* per-client requests/s on TCP; 0 = unlimited */
        double rate_burst;
        size_t max_message;          /* bytes per message, 0 = GRPC_DEFAULT_MAX_MESSAGE */
        unsigned max_streams;        /* concurrent streams per connection, 0 = default */
        usec_t keepalive;            /* ping interval on idle connections, 0 = default */
        usec_t idle_timeout;         /* close connections without streams after this, 0 = default */
        usec_t default_stop_timeout;
} ApiGrpcConfig;

#define GRPC_DEFAULT_MAX_MESSAGE (4 * 1024 * 1024)
#define GRPC_DEFAULT_MAX_STREAMS 100
#define GRPC_DEFAULT_KEEPALIVE (30 * USEC_PER_SEC)
#define GRPC_KEEPALIVE_TIMEOUT (20 * USEC_PER_SEC)
#define GRPC_DEFAULT_IDLE_TIMEOUT (300 * USEC_PER_SEC)
#define GRPC_HEADER_TIMEOUT (10 * USEC_PER_SEC) /* TLS handshake + client preface */
#define GRPC_RST_STREAM_MAX 100                 /* RST_STREAM frames per connection per second */

typedef struct ApiGrpc ApiGrpc;

int api_grpc_new(sd_event *event, const ApiGrpcConfig *config, const ApiBackend *backend, ApiGrpc **ret);
/* SIGHUP: reloads the TLS certificate, key and CA for new connections;
 * established connections and their streams carry on. */
int api_grpc_reload_tls(ApiGrpc *g);
/* Graceful shutdown: GOAWAY to every client, stop accepting. */
void api_grpc_shutdown(ApiGrpc *g);
ApiGrpc *api_grpc_free(ApiGrpc *g);
static inline void api_grpc_freep(ApiGrpc **g)
{
        api_grpc_free(*g);
}
static inline void api_http_freep(ApiHttp **h)
{
        api_http_free(*h);
}
