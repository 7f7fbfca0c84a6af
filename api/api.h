/* SPDX-License-Identifier: Apache-2.0 */
/* The API core: typed operations over one backend (the agent's manager).
 * Adapters — HTTP/JSON now (api/http-*.c), gRPC later — decode a request,
 * call the core, and encode the result; validation and logic live here or
 * below, never in an adapter.
 *
 * Dependency direction: api/ may include lib/ and drivers/driver.h types, and
 * never agent/. The agent implements ApiBackendOps and hands it to the core.
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
} ApiNode;

/* Called when a workload reached a final state for the watch (exited, or
 * removed: w == NULL and error == -ENOENT). */
typedef void (*ApiWorkloadCallback)(void *userdata, const Workload *w, int error);
typedef void (*ApiRemoveCallback)(void *userdata, int error);
/* Called for each event, in id order; ev == NULL with error < 0 ends the watch. */
typedef void (*ApiEventCallback)(void *userdata, const BerthEvent *ev, int error);

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
} ApiHttpConfig;

typedef struct ApiHttp ApiHttp;

int api_http_new(sd_event *event, const ApiHttpConfig *config, const ApiBackend *backend, ApiHttp **ret);
/* Stops accepting; open streams end. */
ApiHttp *api_http_free(ApiHttp *h);
