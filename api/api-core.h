/* SPDX-License-Identifier: Apache-2.0 */
/* The API core: one typed operation per API verb. Adapters (HTTP and
 * gRPC) hand it raw parameter strings as they arrived (NULL = absent); the
 * core validates them, names the offending parameter in the BerthError, and
 * calls the backend. Encoders to the JSON shapes of docs/API.md live here too
 * so that every JSON-speaking adapter renders the same documents. */
#pragma once

#include <jansson.h>

#include "api/api.h"
#include "api/auth.h"
#include "lib/logfile.h"

#define API_STOP_TIMEOUT_DEFAULT (10 * USEC_PER_SEC)
#define API_STOP_TIMEOUT_MAX (24 * 3600 * USEC_PER_SEC)

typedef struct ApiCore {
        ApiBackend backend;
        usec_t default_stop_timeout;
} ApiCore;

void api_core_init(ApiCore *c, const ApiBackend *backend, usec_t default_stop_timeout);

/* Parameter parsers; each names `field` in err on failure (-EINVAL). */
int api_parse_bool(const char *s, const char *field, bool *ret, BerthError *err);
int api_parse_uint64(const char *s, const char *field, uint64_t *ret, BerthError *err);
/* "10", "2.5" seconds -> usec; capped at API_STOP_TIMEOUT_MAX. */
int api_parse_timeout(const char *s, const char *field, usec_t *ret, BerthError *err);
/* "KILL", "SIGKILL", "kill", "9" -> 9. */
int api_parse_signal(const char *s, const char *field, int *ret, BerthError *err);
int api_validate_name(const char *name, const char *field, BerthError *err);

/* The caller of the request being served, from the adapter's dispatch until
 * api_core_caller_end(): events the backend records meanwhile name it
 * (docs/API.md "caller"). NULL caller = the daemon itself. */
void api_core_caller_begin(ApiCore *c, const ApiCaller *caller);
void api_core_caller_end(ApiCore *c);

/* Operations. Workloads returned are borrowed (valid until control returns
 * to the event loop). */
int api_core_create(ApiCore *c, const char *body, size_t len, const Workload **ret, BerthError *err);
/* The same, for a caller whose role is checked against host-level privileges
 * (api/auth.h); caller NULL = trusted (unix socket). */
int api_core_create_as(ApiCore *c, const ApiCaller *caller, const char *body, size_t len, const Workload **ret,
                       BerthError *err);
/* The same with the start parameter (POST /v1/workloads?start=): NULL or true
 * creates and starts; false ("0", "false", "no") creates only: the workload
 * stays in state created until api_core_start() (docs/API.md). 400 naming
 * "start" for anything else; 501 if the backend has no create2. */
int api_core_create2(ApiCore *c, const ApiCaller *caller, const char *start, const char *body, size_t len,
                     const Workload **ret, BerthError *err);
int api_core_get(ApiCore *c, const char *name, const Workload **ret, BerthError *err);
int api_core_list(ApiCore *c, const Workload ***ret, size_t *ret_n, BerthError *err);
int api_core_start(ApiCore *c, const char *name, const Workload **ret, BerthError *err);
/* Returns 1 when a stop was initiated, 0 when it was a no-op (not running). */
int api_core_stop(ApiCore *c, const char *name, const char *timeout, const Workload **ret, BerthError *err);
/* signal NULL = SIGKILL. -EBUSY when the workload is not running. */
int api_core_kill(ApiCore *c, const char *name, const char *signal, const Workload **ret, BerthError *err);
int api_core_remove(ApiCore *c, const char *name, const char *force, ApiRemoveCallback done, void *userdata,
                    BerthError *err);
int api_core_wait(ApiCore *c, const char *name, ApiWorkloadCallback done, void *userdata, ApiWatch **ret,
                  BerthError *err);
int api_core_events(ApiCore *c, const char *since, const char *workload, const char *follow, ApiEventCallback cb,
                    void *userdata, ApiWatch **ret, bool *ret_follow, BerthError *err);
void api_core_watch_cancel(ApiCore *c, ApiWatch *watch);
int api_core_node(ApiCore *c, ApiNode *ret, BerthError *err);
int api_core_metrics(ApiCore *c, char **ret_text, size_t *ret_len, BerthError *err);
/* api/api-core-harden.c: PATCH body {"resources": {...}} merged into the
 * stored spec (null removes a limit), revalidated, applied live. */
int api_core_update(ApiCore *c, const char *name, const char *body, size_t len, const Workload **ret,
                    BerthError *err);
int api_core_pause(ApiCore *c, const char *name, const Workload **ret, BerthError *err);
int api_core_resume(ApiCore *c, const char *name, const Workload **ret, BerthError *err);
/* exec body {"command": [...], "tty": bool}; *ret_argv NULL-terminated. */
int api_core_exec_parse(const char *body, size_t len, char ***ret_argv, bool *ret_tty, BerthError *err);
int api_core_exec(ApiCore *c, const char *name, char **argv, bool tty, ApiExecIo *ret, BerthError *err);

/* api/api-core-images.c: the image store (docs/IMAGES.md). Documents are the
 * JSON shapes of docs/IMAGES.md, new references for the caller. A job's
 * parameters are checked here (errors name path, ref, name, image). */
int api_core_image_list(ApiCore *c, json_t **ret, BerthError *err);
int api_core_image_inspect(ApiCore *c, const char *ref, json_t **ret, BerthError *err);
int api_core_image_remove(ApiCore *c, const char *ref, json_t **ret, BerthError *err);
int api_core_system_df(ApiCore *c, json_t **ret, BerthError *err);
int api_core_image_job(ApiCore *c, const ApiImageJob *job, ApiImageJobCallback cb, void *userdata,
                       ApiImageWatch **ret, BerthError *err);
void api_core_image_job_cancel(ApiCore *c, ApiImageWatch *watch);

typedef enum ApiLogFormat {
        API_LOG_PLAIN,
        API_LOG_TIMESTAMPS,
        API_LOG_RAW,
} ApiLogFormat;

typedef struct ApiLogRequest {
        ApiLogFormat format;
        bool follow;
        bool tail_set;
        uint64_t tail;
} ApiLogRequest;

/* Validates the log parameters (tail, follow, timestamps, format). */
int api_core_logs_parse(const char *tail, const char *follow, const char *timestamps, const char *format,
                        ApiLogRequest *ret, BerthError *err);
/* Opens the workload's log directory (for inotify) and a reader positioned per req. */
int api_core_logs_open(ApiCore *c, const char *name, const ApiLogRequest *req, int *ret_dirfd, LogReader **ret,
                       BerthError *err);
/* Appends one record rendered per format to a growing buffer. *midline
 * (start false) tracks whether the previous record was partial. */
int api_log_record_render(const LogRecord *rec, ApiLogFormat format, bool *midline, char **buf, size_t *len,
                          size_t *cap);

/* Encoders (api/api-json.c). NULL on ENOMEM. */
json_t *api_workload_to_json(const Workload *w);
json_t *api_workload_list_to_json(const Workload *const *w, size_t n);
json_t *api_wait_result_to_json(const Workload *w);
json_t *api_event_to_json(const BerthEvent *ev);
json_t *api_node_to_json(const ApiNode *n);
/* api/api-sched.c: the scheduler's ledger in the node document, and the dry run.
 * api_core_create_dry_run returns 0 when dryRun is false (create normally), 1
 * with *ret filled when the decision was taken, or a negative errno. */
int api_node_sched_to_json(const ApiNode *n, json_t *o);
json_t *api_admission_to_json(const ApiAdmission *a);
int api_core_create_dry_run(ApiCore *c, const char *dry_run, const char *body, size_t len, ApiAdmission *ret,
                            BerthError *err);
/* {"code","message","field"}; field null when empty. */
json_t *api_error_to_json(const BerthError *err);
/* Fills err from a bare errno when the backend left it unset. */
void api_error_fill(BerthError *err, int error);
