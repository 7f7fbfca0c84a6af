/* SPDX-License-Identifier: Apache-2.0 */
/* API core operations of issue 3 part B: PATCH /v1/workloads/{name}
 * (live resource update), pause and resume. */
#include "api/api-core.h"

#define UPDATE_BODY_MAX (64 * 1024)

static int unsupported(BerthError *err, const char *what)
{
        return berth_error_set(err, -EOPNOTSUPP, NULL, "%s is not supported by this daemon", what);
}

static int fill(int r, BerthError *err)
{
        if (r < 0)
                api_error_fill(err, r);
        return r;
}

int api_core_update(ApiCore *c, const char *name, const char *body, size_t len, const Workload **ret,
                    BerthError *err)
{
        const ApiBackendOps *ops = c->backend.ops;
        const Workload *w;
        json_t *patch = NULL, *doc = NULL, *res, *pres, *v;
        json_error_t jerr;
        Spec *spec = NULL;
        const char *key;
        int r;

        r = api_validate_name(name, "name", err);
        if (r < 0)
                return r;
        if (!ops->update)
                return unsupported(err, "updating a workload");
        if (!body || len == 0)
                return berth_error_set(err, -EINVAL, NULL, "the request needs a JSON body {\"resources\": {...}}");
        if (len > UPDATE_BODY_MAX)
                return berth_error_set(err, -E2BIG, NULL, "the body is larger than %d bytes", UPDATE_BODY_MAX);
        patch = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!patch)
                return berth_error_set(err, -EINVAL, NULL, "invalid JSON: %s", jerr.text);
        r = -EINVAL;
        if (!json_is_object(patch)) {
                berth_error_set(err, -EINVAL, NULL, "the body must be a JSON object");
                goto out;
        }
        json_object_foreach(patch, key, v)
                if (!streq(key, "resources")) {
                        char f[128];
                        snprintf(f, sizeof(f), "%.100s", key);
                        berth_error_set(err, -EINVAL, f, "only resources can be changed on a live workload");
                        goto out;
                }
        pres = json_object_get(patch, "resources");
        if (!json_is_object(pres)) {
                berth_error_set(err, -EINVAL, "resources", "must be a mapping");
                goto out;
        }
        r = ops->get(c->backend.userdata, name, &w, err);
        if (r < 0) {
                fill(r, err);
                goto out;
        }
        doc = spec_to_json(w->spec);
        res = doc ? json_object_get(json_object_get(doc, "spec"), "resources") : NULL;
        if (!res) {
                r = berth_error_set(err, -ENOMEM, NULL, "out of memory");
                goto out;
        }
        /* A JSON merge patch (RFC 7396) limited to spec.resources. */
        json_object_foreach(pres, key, v) {
                if (json_is_null(v))
                        json_object_del(res, key);
                else
                        json_object_set(res, key, v);
        }
        r = spec_from_json(doc, &spec, err);
        if (r < 0)
                goto out;
        r = fill(ops->update(c->backend.userdata, name, spec, ret, err), err);
        if (r >= 0)
                spec = NULL; /* taken */
out:
        spec_free(spec);
        json_decref(doc);
        json_decref(patch);
        return r;
}

int api_core_pause(ApiCore *c, const char *name, const Workload **ret, BerthError *err)
{
        int r = api_validate_name(name, "name", err);

        if (r < 0)
                return r;
        if (!c->backend.ops->pause)
                return unsupported(err, "pause");
        return fill(c->backend.ops->pause(c->backend.userdata, name, ret, err), err);
}

int api_core_resume(ApiCore *c, const char *name, const Workload **ret, BerthError *err)
{
        int r = api_validate_name(name, "name", err);

        if (r < 0)
                return r;
        if (!c->backend.ops->resume)
                return unsupported(err, "resume");
        return fill(c->backend.ops->resume(c->backend.userdata, name, ret, err), err);
}

int api_core_exec_parse(const char *body, size_t len, char ***ret_argv, bool *ret_tty, BerthError *err)
{
        json_t *j, *cmd, *v;
        json_error_t jerr;
        const char *key;
        char **argv;
        size_t i;

        if (!body || len == 0)
                return berth_error_set(err, -EINVAL, NULL, "exec needs a JSON body {\"command\": [...]}");
        if (len > UPDATE_BODY_MAX)
                return berth_error_set(err, -E2BIG, NULL, "the body is larger than %d bytes", UPDATE_BODY_MAX);
        j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!j || !json_is_object(j)) {
                json_decref(j);
                return berth_error_set(err, -EINVAL, NULL, "the body must be a JSON object");
        }
        json_object_foreach(j, key, v)
                if (!streq(key, "command") && !streq(key, "tty")) {
                        char f[128];
                        snprintf(f, sizeof(f), "%.100s", key);
                        json_decref(j);
                        return berth_error_set(err, -EINVAL, f, "unknown field");
                }
        cmd = json_object_get(j, "command");
        if (!json_is_array(cmd) || json_array_size(cmd) == 0 || json_array_size(cmd) > SPEC_ARGS_MAX) {
                json_decref(j);
                return berth_error_set(err, -EINVAL, "command", "must be a list of 1..%d strings", SPEC_ARGS_MAX);
        }
        v = json_object_get(j, "tty");
        if (v && !json_is_boolean(v)) {
                json_decref(j);
                return berth_error_set(err, -EINVAL, "tty", "must be a boolean");
        }
        argv = calloc(json_array_size(cmd) + 1, sizeof(char *));
        if (!argv) {
                json_decref(j);
                return -ENOMEM;
        }
        json_array_foreach(cmd, i, v) {
                if (!json_is_string(v) || json_string_length(v) > SPEC_STRING_MAX ||
                    strlen(json_string_value(v)) != json_string_length(v) || (i == 0 && !*json_string_value(v))) {
                        char f[32];
                        snprintf(f, sizeof(f), "command[%zu]", i);
                        strv_free(argv);
                        json_decref(j);
                        return berth_error_set(err, -EINVAL, f, "must be a non-empty string without NUL");
                }
                argv[i] = strdup(json_string_value(v));
                if (!argv[i]) {
                        strv_free(argv);
                        json_decref(j);
                        return -ENOMEM;
                }
        }
        *ret_tty = json_is_true(json_object_get(j, "tty"));
        json_decref(j);
        *ret_argv = argv;
        return 0;
}

int api_core_exec(ApiCore *c, const char *name, char **argv, bool tty, ApiExecIo *ret, BerthError *err)
{
        int r = api_validate_name(name, "name", err);

        if (r < 0)
                return r;
        if (!c->backend.ops->exec)
                return unsupported(err, "exec");
        return fill(c->backend.ops->exec(c->backend.userdata, name, argv, tty, ret, err), err);
}
