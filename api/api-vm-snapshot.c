/* SPDX-License-Identifier: Apache-2.0 */
/* VM snapshot operations of the API core (api-vm-snapshot.h). */
#include "api/api-vm-snapshot.h"

#define SNAPSHOT_BODY_MAX 4096

int api_validate_snapshot_id(const char *id, const char *field, BerthError *err)
{
        if (!id || !spec_name_is_valid(id))
                return berth_error_set(err, -EINVAL, field,
                                       "\"%s\" is not a valid snapshot id (a DNS label of 1..%d characters)",
                                       strempty(id), SPEC_NAME_MAX);
        return 0;
}

static int unimplemented(BerthError *err)
{
        return berth_error_set(err, -EOPNOTSUPP, NULL, "VM snapshots are not supported by this berthd");
}

/* A small JSON object with only the string member `key` allowed (optional
 * unless required). *ret borrows from *ret_doc. */
static int parse_body(const char *body, size_t len, const char *key, bool required, json_t **ret_doc,
                      const char **ret, BerthError *err)
{
        json_error_t je;
        json_t *doc, *v;
        const char *k;

        *ret_doc = NULL;
        *ret = NULL;
        if (!body || len == 0) {
                if (required)
                        return berth_error_set(err, -EINVAL, key, "a body {\"%s\": ...} is required", key);
                return 0;
        }
        if (len > SNAPSHOT_BODY_MAX)
                return berth_error_set(err, -E2BIG, NULL, "request body exceeds %d bytes",
                                       SNAPSHOT_BODY_MAX);
        doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
        if (!doc)
                return berth_error_set(err, -EINVAL, NULL, "the body is not valid JSON: %s", je.text);
        if (!json_is_object(doc)) {
                json_decref(doc);
                return berth_error_set(err, -EINVAL, NULL, "the body must be a JSON object");
        }
        json_object_foreach(doc, k, v) if (!streq(k, key))
        {
                int r = berth_error_set(err, -EINVAL, k, "unknown field \"%s\"", k);
                json_decref(doc);
                return r;
        }
        v = json_object_get(doc, key);
        if (v && !json_is_string(v)) {
                json_decref(doc);
                return berth_error_set(err, -EINVAL, key, "must be a string");
        }
        if (!v && required) {
                json_decref(doc);
                return berth_error_set(err, -EINVAL, key, "is required");
        }
        *ret_doc = doc;
        *ret = json_string_value(v);
        return 0;
}

int api_core_vm_snapshot_create(ApiCore *c, const char *workload, const char *body, size_t len,
                                ApiVmSnapshotCallback done, void *userdata, BerthError *err)
{
        const ApiBackendOps *ops = c->backend.ops;
        json_t *doc = NULL;
        const char *id = NULL;
        int r;

        if (!ops->vm_snapshot_create)
                return unimplemented(err);
        r = api_validate_name(workload, "name", err);
        if (r < 0)
                return r;
        r = parse_body(body, len, "id", false, &doc, &id, err);
        if (r >= 0 && id)
                r = api_validate_snapshot_id(id, "id", err);
        if (r >= 0)
                r = ops->vm_snapshot_create(c->backend.userdata, workload, id, done, userdata, err);
        json_decref(doc);
        return r;
}

int api_core_vm_snapshot_list(ApiCore *c, json_t **ret, BerthError *err)
{
        const ApiBackendOps *ops = c->backend.ops;

        if (!ops->vm_snapshot_list)
                return unimplemented(err);
        return ops->vm_snapshot_list(c->backend.userdata, ret, err);
}

int api_core_vm_snapshot_get(ApiCore *c, const char *id, json_t **ret, BerthError *err)
{
        const ApiBackendOps *ops = c->backend.ops;
        int r;

        if (!ops->vm_snapshot_get)
                return unimplemented(err);
        r = api_validate_snapshot_id(id, "id", err);
        if (r < 0)
                return r;
        return ops->vm_snapshot_get(c->backend.userdata, id, ret, err);
}

int api_core_vm_snapshot_remove(ApiCore *c, const char *id, BerthError *err)
{
        const ApiBackendOps *ops = c->backend.ops;
        int r;

        if (!ops->vm_snapshot_remove)
                return unimplemented(err);
        r = api_validate_snapshot_id(id, "id", err);
        if (r < 0)
                return r;
        return ops->vm_snapshot_remove(c->backend.userdata, id, err);
}

int api_core_vm_snapshot_restore(ApiCore *c, const char *id, const char *body, size_t len,
                                 const Workload **ret, BerthError *err)
{
        const ApiBackendOps *ops = c->backend.ops;
        json_t *doc = NULL;
        const char *name = NULL;
        int r;

        if (!ops->vm_snapshot_restore)
                return unimplemented(err);
        r = api_validate_snapshot_id(id, "id", err);
        if (r >= 0)
                r = parse_body(body, len, "name", true, &doc, &name, err);
        if (r >= 0)
                r = api_validate_name(name, "name", err);
        if (r >= 0)
                r = ops->vm_snapshot_restore(c->backend.userdata, id, name, ret, err);
        json_decref(doc);
        return r;
}
