/* SPDX-License-Identifier: Apache-2.0 */
/* JSON encoding of the spec: strict reading (API bodies) and the canonical
 * document (spec_to_json). */
#include "lib/spec-internal.h"

/* jansson allows 2048 levels; the spec allows SPEC_DEPTH_MAX. */
static int check_depth(const json_t *v, unsigned depth, const char *path, BerthError *err)
{
        char child[SPEC_PATH_MAX];
        const char *key;
        json_t *c;
        size_t i;
        int r;

        if (!json_is_object(v) && !json_is_array(v))
                return 0;
        if (depth + 1 > SPEC_DEPTH_MAX)
                return berth_error_set(err, -EINVAL, path, "nesting deeper than %d levels", SPEC_DEPTH_MAX);
        if (json_is_object(v))
                json_object_foreach((json_t *)v, key, c)
                {
                        r = check_depth(c, depth + 1, spec_path_key(child, sizeof(child), path, key), err);
                        if (r < 0)
                                return r;
                }
        else
                json_array_foreach(v, i, c)
                {
                        r = check_depth(c, depth + 1, spec_path_index(child, sizeof(child), path, i), err);
                        if (r < 0)
                                return r;
                }
        return 0;
}

int spec_parse_json(const char *buf, size_t len, Spec **ret, BerthError *err)
{
        _cleanup_json_ json_t *root = NULL;
        json_error_t jerr;
        int r;

        if (!buf)
                return berth_error_set(err, -EINVAL, "", "no document");
        if (len > SPEC_BODY_MAX)
                return berth_error_set(err, -E2BIG, "", "document is larger than %d bytes", SPEC_BODY_MAX);
        /* Without JSON_ALLOW_NUL jansson rejects "\u0000"; it also rejects
         * invalid UTF-8, NaN/Infinity and trailing garbage. */
        root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!root) {
                /* jansson does not say where a duplicate key sits. JSON is
                 * (flow) YAML, and the strict YAML reader names the path. */
                if (strstr(jerr.text, "duplicate object key")) {
                        _cleanup_json_ json_t *unused = NULL;
                        BerthError yerr = {};

                        if (spec_yaml_to_json(buf, len, &unused, &yerr) < 0 && yerr.field[0] &&
                            strstr(yerr.message, "duplicate key"))
                                return berth_error_set(err, -EINVAL, yerr.field, "duplicate key");
                }
                return berth_error_set(err, -EINVAL, "", "invalid JSON: %s at line %d, column %d", jerr.text,
                                       jerr.line, jerr.column);
        }
        r = check_depth(root, 0, "", err);
        if (r < 0)
                return r;
        return spec_from_json(root, ret, err);
}

static int set_string(json_t *obj, const char *key, const char *value)
{
        return json_object_set_new(obj, key, json_string(value)) < 0 ? -ENOMEM : 0;
}

static json_t *key_values_to_json(const KeyValue *kv, size_t n)
{
        _cleanup_json_ json_t *o = json_object();

        if (!o)
                return NULL;
        for (size_t i = 0; i < n; i++)
                if (set_string(o, kv[i].key, kv[i].value) < 0)
                        return NULL;
        return TAKE_PTR(o);
}

json_t *spec_to_json(const Spec *s)
{
        _cleanup_json_ json_t *doc = NULL, *md = NULL, *spec = NULL, *cmd = NULL, *res = NULL, *net = NULL;
        char buf[32];

        if (!s)
                return NULL;
        doc = json_object();
        md = json_object();
        spec = json_object();
        cmd = json_array();
        res = json_object();
        net = json_object();
        if (!doc || !md || !spec || !cmd || !res || !net)
                return NULL;

        if (set_string(doc, "apiVersion", "berth/v1") < 0 || set_string(doc, "kind", "Workload") < 0)
                return NULL;
        if (set_string(md, "name", s->name) < 0 ||
            json_object_set_new(md, "labels", key_values_to_json(s->labels, s->n_labels)) < 0)
                return NULL;

        if (set_string(spec, "isolation", isolation_to_string(s->isolation)) < 0)
                return NULL;
        /* with an image, rootfs is the run-time snapshot mount: not part of the document */
        if (s->image ? set_string(spec, "image", s->image) < 0 : set_string(spec, "rootfs", s->rootfs) < 0)
                return NULL;
        for (size_t i = 0; i < s->n_command; i++)
                if (json_array_append_new(cmd, json_string(s->command[i])) < 0)
                        return NULL;
        if ((s->n_command > 0 && json_object_set(spec, "command", cmd) < 0) ||
            json_object_set_new(spec, "env", key_values_to_json(s->env, s->n_env)) < 0 ||
            set_string(spec, "workingDir", s->working_dir ? s->working_dir : "/") < 0)
                return NULL;

        if (s->cpu_millis > 0 &&
            set_string(res, "cpu", format_cpu_quantity(buf, sizeof(buf), s->cpu_millis)) < 0)
                return NULL;
        if (s->memory_bytes > 0 &&
            set_string(res, "memory", format_memory_quantity(buf, sizeof(buf), s->memory_bytes)) < 0)
                return NULL;
        if (s->pids > 0 && json_object_set_new(res, "pids", json_integer((json_int_t)s->pids)) < 0)
                return NULL;
        if (spec_harden_to_json(s, spec, res) < 0)
                return NULL;
        if (spec_sched_to_json(s, spec, res) < 0)
                return NULL;
        if (json_object_set(spec, "resources", res) < 0 ||
            set_string(spec, "restartPolicy", restart_policy_to_string(s->restart_policy)) < 0)
                return NULL;
        if (spec_network_to_json(s, net) < 0 || json_object_set(spec, "network", net) < 0)
                return NULL;
        if (spec_vm_to_json(&s->vm, spec) < 0)
                return NULL;

        if (json_object_set(doc, "metadata", md) < 0 || json_object_set(doc, "spec", spec) < 0)
                return NULL;
        return TAKE_PTR(doc);
}
