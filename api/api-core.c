/* SPDX-License-Identifier: Apache-2.0 */
#include <ctype.h>
#include <signal.h>
#include <strings.h>

#include "api/api-core.h"
#include "lib/log.h"

void api_core_init(ApiCore *c, const ApiBackend *backend, usec_t default_stop_timeout)
{
        c->backend = *backend;
        c->default_stop_timeout = default_stop_timeout > 0 ? default_stop_timeout : API_STOP_TIMEOUT_DEFAULT;
}

#define OPS(c) ((c)->backend.ops)
#define BK(c) ((c)->backend.userdata)

void api_core_caller_begin(ApiCore *c, const ApiCaller *caller)
{
        if (OPS(c)->set_caller)
                OPS(c)->set_caller(BK(c), caller && caller->id[0] ? caller->id : NULL);
}

void api_core_caller_end(ApiCore *c)
{
        if (OPS(c)->set_caller)
                OPS(c)->set_caller(BK(c), NULL);
}

void api_error_fill(BerthError *err, int error)
{
        if (!err)
                return;
        if (error >= 0)
                error = -EIO;
        if (err->error == 0 || err->message[0] == 0) {
                err->error = error;
                if (!err->message[0])
                        snprintf(err->message, sizeof(err->message), "%s", strerror(-error));
        }
}

/* Backend calls: make sure a failing backend always leaves err filled. */
static int backend_result(int r, BerthError *err)
{
        if (r < 0)
                api_error_fill(err, r);
        return r;
}

int api_parse_bool(const char *s, const char *field, bool *ret, BerthError *err)
{
        if (!s) {
                *ret = false;
                return 0;
        }
        if (streq(s, "1") || streq(s, "true") || streq(s, "yes") || streq(s, "")) {
                /* "?force" alone means force */
                *ret = true;
                return 0;
        }
        if (streq(s, "0") || streq(s, "false") || streq(s, "no")) {
                *ret = false;
                return 0;
        }
        return berth_error_set(err, -EINVAL, field, "\"%s\" is not a boolean (use 1 or 0)", s);
}

int api_parse_uint64(const char *s, const char *field, uint64_t *ret, BerthError *err)
{
        uint64_t v = 0;

        if (!s || !*s)
                return berth_error_set(err, -EINVAL, field, "a non-negative integer is required");
        for (const char *p = s; *p; p++) {
                if (!isdigit((unsigned char)*p))
                        return berth_error_set(err, -EINVAL, field, "\"%s\" is not a non-negative integer", s);
                if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
                        return berth_error_set(err, -EINVAL, field, "\"%s\" is out of range", s);
                v = v * 10 + (uint64_t)(*p - '0');
        }
        *ret = v;
        return 0;
}

int api_parse_timeout(const char *s, const char *field, usec_t *ret, BerthError *err)
{
        uint64_t secs = 0, frac = 0;
        unsigned n_frac = 0;
        const char *p = s;

        if (!s || !*s)
                return berth_error_set(err, -EINVAL, field, "a number of seconds is required");
        for (; isdigit((unsigned char)*p); p++) {
                secs = secs * 10 + (uint64_t)(*p - '0');
                if (secs > API_STOP_TIMEOUT_MAX / USEC_PER_SEC)
                        return berth_error_set(err, -EINVAL, field, "\"%s\" exceeds %llu seconds", s,
                                               (unsigned long long)(API_STOP_TIMEOUT_MAX / USEC_PER_SEC));
        }
        if (p == s)
                return berth_error_set(err, -EINVAL, field, "\"%s\" is not a number of seconds", s);
        if (*p == '.') {
                p++;
                if (!isdigit((unsigned char)*p))
                        return berth_error_set(err, -EINVAL, field, "\"%s\" is not a number of seconds", s);
                for (; isdigit((unsigned char)*p); p++) {
                        if (++n_frac > 6)
                                return berth_error_set(err, -EINVAL, field,
                                                       "\"%s\" has more than 6 decimals", s);
                        frac = frac * 10 + (uint64_t)(*p - '0');
                }
                for (unsigned i = n_frac; i < 6; i++)
                        frac *= 10;
        }
        if (*p)
                return berth_error_set(err, -EINVAL, field, "\"%s\" is not a number of seconds", s);
        if (secs * USEC_PER_SEC + frac > API_STOP_TIMEOUT_MAX)
                return berth_error_set(err, -EINVAL, field, "\"%s\" exceeds %llu seconds", s,
                                       (unsigned long long)(API_STOP_TIMEOUT_MAX / USEC_PER_SEC));
        *ret = secs * USEC_PER_SEC + frac;
        return 0;
}

int api_parse_signal(const char *s, const char *field, int *ret, BerthError *err)
{
        const char *name;

        if (!s || !*s)
                return berth_error_set(err, -EINVAL, field, "a signal name or number is required");
        if (isdigit((unsigned char)s[0])) {
                uint64_t v;
                if (api_parse_uint64(s, field, &v, NULL) < 0 || v < 1 || v >= (uint64_t)NSIG)
                        return berth_error_set(err, -EINVAL, field, "\"%s\" is not a valid signal number", s);
                *ret = (int)v;
                return 0;
        }
        name = strncasecmp(s, "SIG", 3) == 0 ? s + 3 : s;
        for (int sig = 1; sig < NSIG; sig++) {
                const char *abbrev = sigabbrev_np(sig);
                if (abbrev && strcasecmp(abbrev, name) == 0) {
                        *ret = sig;
                        return 0;
                }
        }
        return berth_error_set(err, -EINVAL, field, "\"%s\" is not a known signal", s);
}

int api_validate_name(const char *name, const char *field, BerthError *err)
{
        if (!name || !spec_name_is_valid(name))
                return berth_error_set(err, -EINVAL, field,
                                       "\"%s\" is not a valid workload name (a DNS label of 1..%d characters)",
                                       strempty(name), SPEC_NAME_MAX);
        return 0;
}

int api_core_create(ApiCore *c, const char *body, size_t len, const Workload **ret, BerthError *err)
{
        return api_core_create_as(c, NULL, body, len, ret, err);
}

int api_core_create_as(ApiCore *c, const ApiCaller *caller, const char *body, size_t len, const Workload **ret,
                       BerthError *err)
{
        return api_core_create2(c, caller, NULL, body, len, ret, err);
}

int api_core_create2(ApiCore *c, const ApiCaller *caller, const char *start, const char *body, size_t len,
                     const Workload **ret, BerthError *err)
{
        _cleanup_(spec_freep) Spec *spec = NULL;
        bool run = true;
        int r;

        if (start) { /* "?start" alone is true, like "?force" */
                r = api_parse_bool(start, "start", &run, err);
                if (r < 0)
                        return r;
        }
        if (!run && !OPS(c)->create2)
                return berth_error_set(err, -EOPNOTSUPP, "start",
                                       "this backend cannot create without starting");
        if (len > SPEC_BODY_MAX)
                return berth_error_set(err, -E2BIG, NULL, "request body exceeds %d bytes", SPEC_BODY_MAX);
        if (!body || len == 0)
                return berth_error_set(err, -EINVAL, NULL, "a workload document is required");
        r = spec_parse_json(body, len, &spec, err);
        if (r < 0)
                return backend_result(r, err);
        /* Role policy (api/auth.h): host-level privileges need control-plane. */
        if (!api_caller_may_use_host(caller) && api_spec_needs_host(spec))
                return berth_error_set(err, -EACCES, "spec", "role %s may not use host-level privileges (%s)",
                                       strempty(api_role_to_string(caller->role)), api_spec_needs_host(spec));
        r = run ? OPS(c)->create(BK(c), spec, ret, err) : OPS(c)->create2(BK(c), spec, false, ret, err);
        if (r < 0)
                return backend_result(r, err);
        TAKE_PTR(spec); /* owned by the backend now */
        return 0;
}

int api_core_get(ApiCore *c, const char *name, const Workload **ret, BerthError *err)
{
        int r = api_validate_name(name, "name", err);
        if (r < 0)
                return r;
        return backend_result(OPS(c)->get(BK(c), name, ret, err), err);
}

int api_core_list(ApiCore *c, const Workload ***ret, size_t *ret_n, BerthError *err)
{
        return backend_result(OPS(c)->list(BK(c), ret, ret_n), err);
}

static bool state_is_active(WorkloadState s)
{
        return s == WORKLOAD_RUNNING || s == WORKLOAD_PAUSED;
}

int api_core_start(ApiCore *c, const char *name, const Workload **ret, BerthError *err)
{
        const Workload *w;
        int r;

        r = api_core_get(c, name, &w, err);
        if (r < 0)
                return r;
        if (state_is_active(w->status.state))
                return berth_error_set(err, -EBUSY, NULL, "workload \"%s\" is already %s", name,
                                       workload_state_to_string(w->status.state));
        return backend_result(OPS(c)->start(BK(c), name, ret, err), err);
}

int api_core_stop(ApiCore *c, const char *name, const char *timeout, const Workload **ret, BerthError *err)
{
        usec_t t = c->default_stop_timeout;
        const Workload *w;
        bool active;
        int r;

        r = api_validate_name(name, "name", err);
        if (r < 0)
                return r;
        if (timeout) {
                r = api_parse_timeout(timeout, "timeout", &t, err);
                if (r < 0)
                        return r;
        }
        r = api_core_get(c, name, &w, err);
        if (r < 0)
                return r;
        active = state_is_active(w->status.state);
        /* Always tell the backend: a workload that is not running may still
         * have a restart pending (restart policy), which stop cancels. */
        r = OPS(c)->stop(BK(c), name, t, ret, err);
        if (r < 0)
                return backend_result(r, err);
        return active ? 1 : 0; /* 0: nothing was running, a no-op for the caller (200) */
}

int api_core_kill(ApiCore *c, const char *name, const char *signal, const Workload **ret, BerthError *err)
{
        const Workload *w;
        int signo = SIGKILL, r;

        r = api_validate_name(name, "name", err);
        if (r < 0)
                return r;
        if (signal) {
                r = api_parse_signal(signal, "signal", &signo, err);
                if (r < 0)
                        return r;
        }
        r = api_core_get(c, name, &w, err);
        if (r < 0)
                return r;
        if (!state_is_active(w->status.state))
                return berth_error_set(err, -EBUSY, NULL, "workload \"%s\" is not running (%s)", name,
                                       workload_state_to_string(w->status.state));
        return backend_result(OPS(c)->kill(BK(c), name, signo, ret, err), err);
}

int api_core_remove(ApiCore *c, const char *name, const char *force, ApiRemoveCallback done, void *userdata,
                    BerthError *err)
{
        bool f;
        int r;

        r = api_validate_name(name, "name", err);
        if (r < 0)
                return r;
        r = api_parse_bool(force, "force", &f, err);
        if (r < 0)
                return r;
        return backend_result(OPS(c)->remove(BK(c), name, f, done, userdata, err), err);
}

int api_core_wait(ApiCore *c, const char *name, ApiWorkloadCallback done, void *userdata, ApiWatch **ret,
                  BerthError *err)
{
        int r = api_validate_name(name, "name", err);
        if (r < 0)
                return r;
        return backend_result(OPS(c)->wait(BK(c), name, done, userdata, ret, err), err);
}

int api_core_events(ApiCore *c, const char *since, const char *workload, const char *follow, ApiEventCallback cb,
                    void *userdata, ApiWatch **ret, bool *ret_follow, BerthError *err)
{
        uint64_t after = 0;
        bool f;
        int r;

        if (since) {
                r = api_parse_uint64(since, "since", &after, err);
                if (r < 0)
                        return r;
        }
        if (workload) {
                r = api_validate_name(workload, "workload", err);
                if (r < 0)
                        return r;
        }
        r = api_parse_bool(follow, "follow", &f, err);
        if (r < 0)
                return r;
        r = OPS(c)->events(BK(c), after, workload, f, cb, userdata, ret, err);
        if (r < 0)
                return backend_result(r, err);
        if (ret_follow)
                *ret_follow = f;
        return 0;
}

void api_core_watch_cancel(ApiCore *c, ApiWatch *watch)
{
        if (watch)
                OPS(c)->watch_cancel(BK(c), watch);
}

int api_core_node(ApiCore *c, ApiNode *ret, BerthError *err)
{
        *ret = (ApiNode){};
        return backend_result(OPS(c)->node(BK(c), ret), err);
}

int api_core_metrics(ApiCore *c, char **ret_text, size_t *ret_len, BerthError *err)
{
        return backend_result(OPS(c)->metrics(BK(c), ret_text, ret_len), err);
}

int api_core_logs_parse(const char *tail, const char *follow, const char *timestamps, const char *format,
                        ApiLogRequest *ret, BerthError *err)
{
        ApiLogRequest req = { .format = API_LOG_PLAIN };
        bool ts = false;
        int r;

        if (tail) {
                r = api_parse_uint64(tail, "tail", &req.tail, err);
                if (r < 0)
                        return r;
                req.tail_set = true;
        }
        r = api_parse_bool(follow, "follow", &req.follow, err);
        if (r < 0)
                return r;
        r = api_parse_bool(timestamps, "timestamps", &ts, err);
        if (r < 0)
                return r;
        if (ts)
                req.format = API_LOG_TIMESTAMPS;
        if (format) {
                if (streq(format, "raw"))
                        req.format = API_LOG_RAW;
                else if (!streq(format, "text"))
                        return berth_error_set(err, -EINVAL, "format", "\"%s\" is not a log format (text, raw)",
                                               format);
        }
        *ret = req;
        return 0;
}

int api_core_logs_open(ApiCore *c, const char *name, const ApiLogRequest *req, int *ret_dirfd, LogReader **ret,
                       BerthError *err)
{
        _cleanup_close_ int dirfd = -EBADF;
        LogReader *reader = NULL;
        int r;

        r = api_validate_name(name, "name", err);
        if (r < 0)
                return r;
        r = OPS(c)->log_dir(BK(c), name, &dirfd, err);
        if (r < 0)
                return backend_result(r, err);
        r = log_reader_open(dirfd, &reader);
        if (r < 0)
                return berth_error_set(err, r, NULL, "cannot open the log of \"%s\": %s", name, strerror(-r));
        if (req->tail_set) {
                r = log_reader_tail(reader, req->tail > SIZE_MAX ? SIZE_MAX : (size_t)req->tail);
                if (r < 0) {
                        log_reader_free(reader);
                        return berth_error_set(err, r, NULL, "cannot read the log of \"%s\": %s", name,
                                               strerror(-r));
                }
        }
        *ret_dirfd = TAKE_FD(dirfd);
        *ret = reader;
        return 0;
}

static int buf_append(char **buf, size_t *len, size_t *cap, const void *data, size_t n)
{
        if (*len + n + 1 > *cap) {
                size_t ncap = (*len + n + 1) * 2;
                char *p = realloc(*buf, ncap);
                if (!p)
                        return -ENOMEM;
                *buf = p;
                *cap = ncap;
        }
        memcpy(*buf + *len, data, n);
        *len += n;
        (*buf)[*len] = 0;
        return 0;
}

int api_log_record_render(const LogRecord *rec, ApiLogFormat format, bool *midline, char **buf, size_t *len,
                          size_t *cap)
{
        char ts[RFC3339_MAX];
        int r;

        if (format == API_LOG_RAW)
                return log_record_format_raw(rec, buf, len, cap);
        /* a record following a partial one continues its line: no second prefix */
        if (format == API_LOG_TIMESTAMPS && !*midline) {
                format_rfc3339(ts, sizeof(ts), rec->time);
                r = buf_append(buf, len, cap, ts, strlen(ts));
                if (r >= 0)
                        r = buf_append(buf, len, cap, " ", 1);
                if (r < 0)
                        return r;
        }
        r = buf_append(buf, len, cap, rec->data, rec->len);
        if (r < 0)
                return r;
        *midline = rec->partial;
        if (!rec->partial)
                r = buf_append(buf, len, cap, "\n", 1);
        return r;
}
