/* SPDX-License-Identifier: Apache-2.0 */
/* Applying assignments through the API core, so validation and admission are
 * the ones every other client gets. A refused assignment is remembered with
 * its reason and revision and never retried until the control plane writes a
 * new revision: no retry storm. */
#include <fcntl.h>

#include "agent/cluster-assign.h"
#include "lib/log.h"

static void assigned_done(ClusterAssigned *x)
{
        free(x->name);
        free(x->reason);
        free(x->message);
}

static void op_done(ClusterOp *o)
{
        free(o->name);
        free(o->value);
}

ClusterAssigned *cluster_assign_find(ClusterAssign *a, const char *name)
{
        for (size_t i = 0; i < a->n_items; i++)
                if (streq(a->items[i].name, name))
                        return &a->items[i];
        return NULL;
}

static ClusterAssigned *assigned_get(ClusterAssign *a, const char *name)
{
        ClusterAssigned *x = cluster_assign_find(a, name), *n;

        if (x)
                return x;
        if (a->n_items >= CLUSTER_ASSIGNMENTS_MAX)
                return NULL;
        n = reallocarray(a->items, a->n_items + 1, sizeof(*n));
        if (!n)
                return NULL;
        a->items = n;
        x = &a->items[a->n_items];
        *x = (ClusterAssigned){.name = strdup(name)};
        if (!x->name)
                return NULL;
        a->n_items++;
        return x;
}

static void assigned_remove(ClusterAssign *a, const char *name)
{
        ClusterAssigned *x = cluster_assign_find(a, name);

        if (!x)
                return;
        assigned_done(x);
        *x = a->items[--a->n_items];
}

int cluster_assign_save(ClusterAssign *a)
{
        json_t *root = json_object(), *items = json_object();
        _cleanup_free_ char *s = NULL;

        if (!root || !items) {
                json_decref(root);
                json_decref(items);
                return -ENOMEM;
        }
        json_object_set_new(root, "revision", json_integer(a->applied_rev));
        for (size_t i = 0; i < a->n_items; i++) {
                const ClusterAssigned *x = &a->items[i];
                json_t *o = json_pack("{s:I,s:b}", "rev", (json_int_t)x->rev, "local", x->local);
                if (o && x->reason) {
                        json_object_set_new(o, "reason", json_string(x->reason));
                        json_object_set_new(o, "message", json_string(strempty(x->message)));
                }
                json_object_set_new(items, x->name, o);
        }
        json_object_set_new(root, "assigned", items);
        s = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(root);
        if (!s)
                return -ENOMEM;
        return write_file_atomic_at(AT_FDCWD, a->path, s, strlen(s), 0600);
}

static int assign_load(ClusterAssign *a)
{
        _cleanup_free_ char *buf = NULL;
        const char *name;
        json_t *root, *items, *v;
        size_t len;
        int r;

        r = read_file_at(AT_FDCWD, a->path, 1 << 20, &buf, &len);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        root = json_loadb(buf, len, 0, NULL);
        if (!root)
                return log_warning_errno(-EINVAL, "%s is not valid JSON, relisting assignments", a->path);
        a->applied_rev = json_integer_value(json_object_get(root, "revision"));
        items = json_object_get(root, "assigned");
        json_object_foreach(items, name, v)
        {
                ClusterAssigned *x = assigned_get(a, name);
                const char *reason = json_string_value(json_object_get(v, "reason"));
                if (!x)
                        break;
                x->rev = json_integer_value(json_object_get(v, "rev"));
                x->local = json_is_true(json_object_get(v, "local"));
                x->reason = strdup_or_null(reason);
                x->message = strdup_or_null(json_string_value(json_object_get(v, "message")));
        }
        json_decref(root);
        return 0;
}

int cluster_assign_init(ClusterAssign *a, ApiCore *core, const char *root, void (*changed)(void *),
                        void *userdata)
{
        *a = (ClusterAssign){.core = core, .changed = changed, .userdata = userdata};
        if (asprintf(&a->path, "%s/cluster-assignments.json", root) < 0) {
                a->path = NULL;
                return -ENOMEM;
        }
        return assign_load(a);
}

void cluster_assign_done(ClusterAssign *a)
{
        for (size_t i = 0; i < a->n_items; i++)
                assigned_done(&a->items[i]);
        for (size_t i = 0; i < a->n_ops; i++)
                op_done(&a->ops[i]);
        free(a->items);
        free(a->ops);
        free(a->path);
        *a = (ClusterAssign){};
}

int cluster_assign_queue(ClusterAssign *a, const char *name, const char *value, size_t len, int64_t rev)
{
        ClusterOp *o = NULL, *n;
        char *nv = NULL;

        for (size_t i = 0; i < a->n_ops; i++)
                if (streq(a->ops[i].name, name))
                        o = &a->ops[i];
        if (value) {
                nv = malloc(len + 1);
                if (!nv)
                        return -ENOMEM;
                memcpy(nv, value, len);
                nv[len] = 0;
        }
        if (!o) {
                if (a->n_ops >= CLUSTER_ASSIGNMENTS_MAX) {
                        free(nv);
                        return -ENOSPC;
                }
                n = reallocarray(a->ops, a->n_ops + 1, sizeof(*n));
                if (!n) {
                        free(nv);
                        return -ENOMEM;
                }
                a->ops = n;
                o = &a->ops[a->n_ops];
                *o = (ClusterOp){.name = strdup(name)};
                if (!o->name) {
                        free(nv);
                        return -ENOMEM;
                }
                a->n_ops++;
        }
        free(o->value);
        o->value = nv;
        o->len = len;
        o->rev = rev;
        return 0;
}

int cluster_assign_queue_vanished(ClusterAssign *a, char *const *names, size_t n, int64_t rev)
{
        for (size_t i = 0; i < a->n_items; i++) {
                bool present = false;

                for (size_t k = 0; k < n && !present; k++)
                        present = streq(names[k], a->items[i].name);
                if (!present) {
                        int r = cluster_assign_queue(a, a->items[i].name, NULL, 0, rev);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

static void refuse(ClusterAssign *a, const char *name, int64_t rev, const BerthError *err)
{
        ClusterAssigned *x = assigned_get(a, name);
        char buf[1100];

        a->refused++;
        wlog_warning(name, "assignment (revision %lld) refused: %s", (long long)rev,
                     berth_error_format(err, buf, sizeof(buf)));
        if (!x)
                return;
        x->rev = rev;
        x->local = false;
        free(x->reason);
        free(x->message);
        x->reason = strdup(berth_error_class(err->error ?: -EINVAL));
        x->message = strdup(berth_error_format(err, buf, sizeof(buf)));
}

/* Checks what the API core cannot know: the document names the workload the key names. */
static int check_document(const char *name, const char *value, size_t len, BerthError *err)
{
        json_t *doc = json_loadb(value, len, 0, NULL);
        const char *mname;
        int r = 0;

        if (!doc)
                return berth_error_set(err, -EINVAL, "", "the assignment is not a JSON workload document");
        mname = json_string_value(json_object_get(json_object_get(doc, "metadata"), "name"));
        if (mname && !streq(mname, name))
                r = berth_error_set(err, -EINVAL, "metadata.name",
                                    "\"%s\" differs from the assignment key's name \"%s\"", mname, name);
        json_decref(doc);
        return r;
}

static void create_now(ClusterAssign *a, const ClusterOp *o)
{
        const Workload *w = NULL;
        BerthError err = {};
        ClusterAssigned *x;
        int r;

        r = check_document(o->name, o->value, o->len, &err);
        if (r >= 0)
                r = api_core_create(a->core, o->value, o->len, &w, &err);
        if (r < 0) {
                refuse(a, o->name, o->rev, &err);
                return;
        }
        x = assigned_get(a, o->name);
        if (!x) {
                log_error("too many assignments, %s is not tracked", o->name);
                return;
        }
        a->applied++;
        x->rev = o->rev;
        x->local = true;
        free(x->reason);
        free(x->message);
        x->reason = x->message = NULL;
        wlog_info(o->name, "assignment (revision %lld) applied", (long long)o->rev);
}

typedef struct RemoveCtx {
        ClusterAssign *a;
        ClusterOp op; /* value NULL: a delete; else recreate with it */
} RemoveCtx;

static void on_removed(void *userdata, int error)
{
        RemoveCtx *ctx = userdata;
        ClusterAssign *a = ctx->a;

        a->busy = false;
        if (error < 0 && error != -ENOENT)
                wlog_warning_errno(ctx->op.name, error, "removing the assigned workload failed: %m");
        if (ctx->op.value)
                create_now(a, &ctx->op);
        else
                assigned_remove(a, ctx->op.name);
        op_done(&ctx->op);
        free(ctx);
        (void)cluster_assign_save(a);
        a->changed(a->userdata);
        cluster_assign_process(a);
}

static int remove_then(ClusterAssign *a, ClusterOp *o)
{
        RemoveCtx *ctx = calloc(1, sizeof(*ctx));
        BerthError err = {};
        int r;

        if (!ctx)
                return -ENOMEM;
        ctx->a = a;
        ctx->op = *o;
        *o = (ClusterOp){};
        r = api_core_remove(a->core, ctx->op.name, "true", on_removed, ctx, &err);
        if (r < 0) {
                *o = ctx->op;
                free(ctx);
                return r;
        }
        a->busy = true;
        return 0;
}

/* Returns 1 when it started an asynchronous removal. op is consumed. */
static int apply_one(ClusterAssign *a, ClusterOp *o)
{
        ClusterAssigned *x = cluster_assign_find(a, o->name);
        const Workload *w = NULL;
        bool exists = api_core_get(a->core, o->name, &w, NULL) >= 0;
        BerthError err = {};
        int r;

        if (!o->value) {
                if (!x)
                        return 0;
                if (x->local && exists) {
                        wlog_info(o->name, "assignment deleted (revision %lld), removing the workload",
                                  (long long)o->rev);
                        r = remove_then(a, o);
                        if (r >= 0)
                                return 1;
                        wlog_warning_errno(o->name, r, "cannot remove the assigned workload: %m");
                }
                assigned_remove(a, o->name);
                return 0;
        }
        if (x && x->rev >= o->rev)
                return 0; /* already applied: a replay after failover or relist */
        if (api_validate_name(o->name, "metadata.name", &err) < 0) {
                refuse(a, o->name, o->rev, &err);
                return 0;
        }
        if (exists && !(x && x->local)) {
                berth_error_set(&err, -EEXIST, "metadata.name", "a local workload named \"%s\" exists",
                                o->name);
                refuse(a, o->name, o->rev, &err);
                return 0;
        }
        if (exists) {
                wlog_info(o->name, "assignment updated (revision %lld), replacing the workload",
                          (long long)o->rev);
                r = remove_then(a, o);
                if (r >= 0)
                        return 1;
                berth_error_set(&err, r, "", "cannot replace the workload: %s", strerror(-r));
                refuse(a, o->name, o->rev, &err);
                return 0;
        }
        create_now(a, o);
        return 0;
}

void cluster_assign_process(ClusterAssign *a)
{
        bool any = false;

        while (!a->busy && a->n_ops > 0) {
                ClusterOp o = a->ops[0];

                memmove(a->ops, a->ops + 1, (a->n_ops - 1) * sizeof(*a->ops));
                a->n_ops--;
                any = true;
                (void)apply_one(a, &o);
                op_done(&o);
        }
        if (any) {
                (void)cluster_assign_save(a);
                a->changed(a->userdata);
        }
}
