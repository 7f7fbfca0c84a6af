/* SPDX-License-Identifier: Apache-2.0 */
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>

#include "tests/unit/api/test-backend.h"

static int live_watches, cancelled_watches;

int test_backend_live_watches(void)
{
        return __atomic_load_n(&live_watches, __ATOMIC_SEQ_CST);
}

int test_backend_cancelled_watches(void)
{
        return __atomic_load_n(&cancelled_watches, __ATOMIC_SEQ_CST);
}

typedef struct Entry {
        Spec *spec;
        Workload w;
        sd_event_source *exit_timer;
        int exit_code, exit_signal;
} Entry;

typedef enum WatchKind { WATCH_WAIT, WATCH_EVENTS } WatchKind;

struct ApiWatch {
        TestBackend *b;
        WatchKind kind;
        char *name; /* wait: workload; events: filter or NULL */
        ApiWorkloadCallback wait_cb;
        ApiEventCallback event_cb;
        void *userdata;
        uint64_t after_id;
        bool follow;
        bool replayed;
        sd_event_source *defer;
        ApiWatch *next;
};

typedef struct Event {
        BerthEvent ev;
        char *type, *workload, *message;
} Event;

typedef struct PendingRemove {
        TestBackend *b;
        char *name;
        ApiRemoveCallback done;
        void *userdata;
} PendingRemove;

struct TestBackend {
        sd_event *event;
        char *log_root;
        Entry **entries;
        size_t n_entries;
        ApiWatch *watches;
        Event *events;
        size_t n_events;
        bool ready;
};

static Entry *find(TestBackend *b, const char *name)
{
        for (size_t i = 0; i < b->n_entries; i++)
                if (streq(b->entries[i]->spec->name, name))
                        return b->entries[i];
        return NULL;
}

static void watch_free(ApiWatch *w)
{
        TestBackend *b = w->b;

        for (ApiWatch **p = &b->watches; *p; p = &(*p)->next)
                if (*p == w) {
                        *p = w->next;
                        break;
                }
        sd_event_source_disable_unref(w->defer);
        free(w->name);
        free(w);
        __atomic_sub_fetch(&live_watches, 1, __ATOMIC_SEQ_CST);
}

static void emit(TestBackend *b, const char *type, const char *workload, const char *message)
{
        Event *e;
        ApiWatch *w, *next;

        b->events = realloc(b->events, (b->n_events + 1) * sizeof(Event));
        e = &b->events[b->n_events++];
        *e = (Event){ .type = strdup(type), .workload = strdup_or_null(workload), .message = strdup_or_null(message) };
        e->ev = (BerthEvent){ .id = b->n_events, .time = now_usec(CLOCK_REALTIME), .type = e->type,
                              .workload = e->workload, .message = e->message };
        for (w = b->watches; w; w = next) {
                next = w->next;
                if (w->kind != WATCH_EVENTS || !w->replayed || !w->follow)
                        continue;
                if (w->name && !streq_ptr(w->name, workload))
                        continue;
                w->event_cb(w->userdata, &e->ev, 0);
        }
}

static void complete_waiters(TestBackend *b, const char *name, const Workload *wl, int error)
{
        ApiWatch *w, *next;

        for (w = b->watches; w; w = next) {
                next = w->next;
                if (w->kind == WATCH_WAIT && streq(w->name, name)) {
                        w->wait_cb(w->userdata, wl, error);
                        watch_free(w);
                }
        }
}

static void append_log(TestBackend *b, const char *name, const char *line)
{
        char path[4096], ts[RFC3339_MAX], buf[512];
        int fd;

        snprintf(path, sizeof(path), "%s/%s/log", b->log_root, name);
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
                return;
        snprintf(buf, sizeof(buf), "%s stdout F %s\n", format_rfc3339(ts, sizeof(ts), now_usec(CLOCK_REALTIME)),
                 line);
        (void)write_all(fd, buf, strlen(buf));
        close(fd);
}

static void entry_exit(TestBackend *b, Entry *e, int code, int sig)
{
        e->exit_timer = sd_event_source_disable_unref(e->exit_timer);
        workload_status_done(&e->w.status);
        e->w.status.state = WORKLOAD_EXITED;
        e->w.status.exit_code = code;
        e->w.status.term_signal = sig;
        e->w.status.pid = 0;
        e->w.status.finished_at = now_usec(CLOCK_REALTIME);
        e->w.status.reason = strdup(code == 0 ? "Completed" : "Error");
        emit(b, "exited", e->spec->name, code == 0 ? "exit code 0" : "non-zero exit");
        complete_waiters(b, e->spec->name, &e->w, 0);
}

typedef struct ExitCtx {
        TestBackend *b;
        Entry *e;
} ExitCtx;

static int on_exit_ctx(sd_event_source *s, uint64_t usec, void *userdata)
{
        ExitCtx *x = userdata;
        TestBackend *b = x->b;
        Entry *e = x->e;

        if (strncmp(e->spec->name, "short", 5) == 0 && e->exit_signal == 0)
                append_log(b, e->spec->name, "bye");
        entry_exit(b, e, e->exit_signal ? 128 + e->exit_signal : 0, e->exit_signal);
        return 0;
}

static void schedule_exit(TestBackend *b, Entry *e, usec_t after, int sig)
{
        ExitCtx *x = malloc(sizeof(*x));

        *x = (ExitCtx){ b, e };
        e->exit_timer = sd_event_source_disable_unref(e->exit_timer);
        e->exit_signal = sig;
        sd_event_add_time_relative(b->event, &e->exit_timer, CLOCK_MONOTONIC, after, 0, on_exit_ctx, x);
        sd_event_source_set_destroy_callback(e->exit_timer, free);
}

static void entry_run(TestBackend *b, Entry *e)
{
        workload_status_done(&e->w.status);
        e->w.status.state = WORKLOAD_RUNNING;
        e->w.status.pid = 4242;
        e->w.status.started_at = now_usec(CLOCK_REALTIME);
        e->w.status.finished_at = 0;
        emit(b, "started", e->spec->name, NULL);
        if (strncmp(e->spec->name, "short", 5) == 0)
                schedule_exit(b, e, 300 * USEC_PER_MSEC, 0);
}

static int entry_add(TestBackend *b, Spec *spec, Entry **ret)
{
        char path[4096];
        Entry *e = calloc(1, sizeof(*e));

        e->spec = spec;
        e->w.spec = spec;
        e->w.status.created_at = now_usec(CLOCK_REALTIME);
        snprintf(path, sizeof(path), "%s/%s", b->log_root, spec->name);
        (void)mkdir(path, 0755);
        b->entries = realloc(b->entries, (b->n_entries + 1) * sizeof(Entry *));
        /* keep sorted by name */
        size_t i = b->n_entries;
        while (i > 0 && strcmp(b->entries[i - 1]->spec->name, spec->name) > 0) {
                b->entries[i] = b->entries[i - 1];
                i--;
        }
        b->entries[i] = e;
        b->n_entries++;
        emit(b, "created", spec->name, NULL);
        entry_run(b, e);
        *ret = e;
        return 0;
}

static void entry_free(Entry *e)
{
        sd_event_source_disable_unref(e->exit_timer);
        workload_status_done(&e->w.status);
        spec_free(e->spec);
        free(e);
}

static int be_create(void *backend, Spec *spec, const Workload **ret, BerthError *err)
{
        TestBackend *b = backend;
        Entry *e;

        if (find(b, spec->name))
                return berth_error_set(err, -EEXIST, "metadata.name", "workload \"%s\" already exists", spec->name);
        if (spec->isolation == ISOLATION_VM)
                return berth_error_set(err, -EOPNOTSUPP, "spec.isolation", "vm isolation is not implemented");
        entry_add(b, spec, &e);
        *ret = &e->w;
        return 0;
}

static int be_get(void *backend, const char *name, const Workload **ret, BerthError *err)
{
        Entry *e = find(backend, name);

        if (!e)
                return berth_error_set(err, -ENOENT, NULL, "no workload \"%s\"", name);
        *ret = &e->w;
        return 0;
}

static int be_list(void *backend, const Workload ***ret, size_t *ret_n)
{
        TestBackend *b = backend;
        const Workload **l = calloc(b->n_entries + 1, sizeof(*l));

        if (!l)
                return -ENOMEM;
        for (size_t i = 0; i < b->n_entries; i++)
                l[i] = &b->entries[i]->w;
        *ret = l;
        *ret_n = b->n_entries;
        return 0;
}

static int be_start(void *backend, const char *name, const Workload **ret, BerthError *err)
{
        Entry *e = find(backend, name);

        if (!e)
                return berth_error_set(err, -ENOENT, NULL, "no workload \"%s\"", name);
        entry_run(backend, e);
        *ret = &e->w;
        return 0;
}

static int be_stop(void *backend, const char *name, usec_t timeout, const Workload **ret, BerthError *err)
{
        Entry *e = find(backend, name);

        if (!e)
                return berth_error_set(err, -ENOENT, NULL, "no workload \"%s\"", name);
        *ret = &e->w;
        if (e->w.status.state != WORKLOAD_RUNNING && e->w.status.state != WORKLOAD_PAUSED)
                return 0; /* like the manager: stopping a stopped workload only cancels restarts */
        emit(backend, "stopping", name, NULL);
        schedule_exit(backend, e, 50 * USEC_PER_MSEC, SIGTERM);
        *ret = &e->w;
        return 0;
}

static int be_kill(void *backend, const char *name, int signo, const Workload **ret, BerthError *err)
{
        Entry *e = find(backend, name);

        if (!e)
                return berth_error_set(err, -ENOENT, NULL, "no workload \"%s\"", name);
        emit(backend, "killed", name, sigabbrev_np(signo));
        schedule_exit(backend, e, 10 * USEC_PER_MSEC, signo);
        *ret = &e->w;
        return 0;
}

static int on_remove(sd_event_source *s, uint64_t usec, void *userdata)
{
        PendingRemove *p = userdata;
        TestBackend *b = p->b;

        for (size_t i = 0; i < b->n_entries; i++)
                if (streq(b->entries[i]->spec->name, p->name)) {
                        Entry *e = b->entries[i];
                        memmove(b->entries + i, b->entries + i + 1, (b->n_entries - i - 1) * sizeof(Entry *));
                        b->n_entries--;
                        complete_waiters(b, p->name, NULL, -ENOENT);
                        emit(b, "removed", p->name, NULL);
                        entry_free(e);
                        break;
                }
        p->done(p->userdata, 0);
        free(p->name);
        free(p);
        return 0; /* the floating source is freed with the loop */
}

static int be_remove(void *backend, const char *name, bool force, ApiRemoveCallback done, void *userdata,
                     BerthError *err)
{
        TestBackend *b = backend;
        Entry *e = find(b, name);
        PendingRemove *p;

        if (!e)
                return berth_error_set(err, -ENOENT, NULL, "no workload \"%s\"", name);
        if (e->w.status.state == WORKLOAD_RUNNING && !force)
                return berth_error_set(err, -EBUSY, NULL, "workload \"%s\" is running", name);
        p = calloc(1, sizeof(*p));
        *p = (PendingRemove){ b, strdup(name), done, userdata };
        return sd_event_add_time_relative(b->event, NULL, CLOCK_MONOTONIC, 100 * USEC_PER_MSEC, 0, on_remove, p) < 0
                       ? -ENOMEM
                       : 0;
}

static ApiWatch *watch_new(TestBackend *b, WatchKind kind, const char *name, void *userdata)
{
        ApiWatch *w = calloc(1, sizeof(*w));

        w->b = b;
        w->kind = kind;
        w->name = strdup_or_null(name);
        w->userdata = userdata;
        w->next = b->watches;
        b->watches = w;
        __atomic_add_fetch(&live_watches, 1, __ATOMIC_SEQ_CST);
        return w;
}

static int on_wait_defer(sd_event_source *s, void *userdata)
{
        ApiWatch *w = userdata;
        Entry *e = find(w->b, w->name);

        w->wait_cb(w->userdata, e ? &e->w : NULL, e ? 0 : -ENOENT);
        watch_free(w);
        return 0;
}

static int be_wait(void *backend, const char *name, ApiWorkloadCallback done, void *userdata, ApiWatch **ret,
                   BerthError *err)
{
        TestBackend *b = backend;
        Entry *e = find(b, name);
        ApiWatch *w;

        if (!e)
                return berth_error_set(err, -ENOENT, NULL, "no workload \"%s\"", name);
        w = watch_new(b, WATCH_WAIT, name, userdata);
        w->wait_cb = done;
        if (e->w.status.state == WORKLOAD_EXITED)
                sd_event_add_defer(b->event, &w->defer, on_wait_defer, w);
        *ret = w;
        return 0;
}

static int on_events_defer(sd_event_source *s, void *userdata)
{
        ApiWatch *w = userdata;
        TestBackend *b = w->b;

        w->defer = sd_event_source_disable_unref(w->defer);
        for (size_t i = 0; i < b->n_events; i++) {
                const BerthEvent *ev = &b->events[i].ev;
                if (ev->id <= w->after_id || (w->name && !streq_ptr(w->name, ev->workload)))
                        continue;
                w->event_cb(w->userdata, ev, 0);
        }
        w->replayed = true;
        if (!w->follow) {
                w->event_cb(w->userdata, NULL, 0);
                watch_free(w);
        }
        return 0;
}

static int be_events(void *backend, uint64_t after_id, const char *workload, bool follow, ApiEventCallback cb,
                     void *userdata, ApiWatch **ret, BerthError *err)
{
        TestBackend *b = backend;
        ApiWatch *w = watch_new(b, WATCH_EVENTS, workload, userdata);

        w->event_cb = cb;
        w->after_id = after_id;
        w->follow = follow;
        sd_event_add_defer(b->event, &w->defer, on_events_defer, w);
        *ret = w;
        return 0;
}

static void be_watch_cancel(void *backend, ApiWatch *w)
{
        __atomic_add_fetch(&cancelled_watches, 1, __ATOMIC_SEQ_CST);
        watch_free(w);
}

static int be_log_dir(void *backend, const char *name, int *ret_dirfd, BerthError *err)
{
        TestBackend *b = backend;
        char path[4096];
        int fd;

        if (!find(b, name))
                return berth_error_set(err, -ENOENT, NULL, "no workload \"%s\"", name);
        snprintf(path, sizeof(path), "%s/%s", b->log_root, name);
        fd = open(path, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        *ret_dirfd = fd;
        return 0;
}

static int be_node(void *backend, ApiNode *ret)
{
        TestBackend *b = backend;

        *ret = (ApiNode){ .name = "testhost", .version = "0.1.0", .kernel = "6.1.0", .cgroup_version = 1,
                          .cpus = 2, .memory_total_bytes = 1 << 30, .memory_available_bytes = 1 << 29,
                          .started_at = 1, .ready = b->ready };
        for (size_t i = 0; i < b->n_entries; i++)
                ret->workloads[b->entries[i]->w.status.state]++;
        return 0;
}

static int be_metrics(void *backend, char **ret_text, size_t *ret_len)
{
        const char *t = "berth_build_info{version=\"0.1.0\"} 1\nberth_node_cpus 2\n";

        *ret_text = strdup(t);
        *ret_len = strlen(t);
        return *ret_text ? 0 : -ENOMEM;
}

const ApiBackendOps test_backend_ops = {
        .create = be_create, .get = be_get,       .list = be_list,
        .start = be_start,   .stop = be_stop,     .kill = be_kill,
        .remove = be_remove, .wait = be_wait,     .events = be_events,
        .watch_cancel = be_watch_cancel, .log_dir = be_log_dir, .node = be_node,
        .metrics = be_metrics,
};

int test_backend_new(sd_event *e, const char *log_root, TestBackend **ret)
{
        TestBackend *b = calloc(1, sizeof(*b));

        if (!b)
                return -ENOMEM;
        b->event = sd_event_ref(e);
        b->log_root = strdup(log_root);
        b->ready = true;
        *ret = b;
        return 0;
}

int test_backend_add(TestBackend *b, const char *json)
{
        BerthError err = {};
        Spec *spec = NULL;
        Entry *e;
        int r;

        r = spec_parse_json(json, strlen(json), &spec, &err);
        if (r < 0) {
                fprintf(stderr, "test_backend_add: %s: %s\n", err.field, err.message);
                return r;
        }
        return entry_add(b, spec, &e);
}

void test_backend_set_ready(TestBackend *b, bool ready)
{
        b->ready = ready;
}

TestBackend *test_backend_free(TestBackend *b)
{
        if (!b)
                return NULL;
        while (b->watches)
                watch_free(b->watches);
        for (size_t i = 0; i < b->n_entries; i++)
                entry_free(b->entries[i]);
        free(b->entries);
        for (size_t i = 0; i < b->n_events; i++) {
                free(b->events[i].type);
                free(b->events[i].workload);
                free(b->events[i].message);
        }
        free(b->events);
        free(b->log_root);
        sd_event_unref(b->event);
        free(b);
        return NULL;
}
