/* SPDX-License-Identifier: Apache-2.0 */
/* The Spec object: lifetime, copying, enum names, name rules, field paths.
 * Parsing lives in spec-json.c / spec-yaml.c, validation in spec-validate.c. */
#include "lib/spec-internal.h"

static const char *const isolation_names[_ISOLATION_MAX] = {
    [ISOLATION_CONTAINER] = "container",
    [ISOLATION_VM] = "vm",
};

static const char *const restart_policy_names[_RESTART_POLICY_MAX] = {
    [RESTART_NEVER] = "Never",
    [RESTART_ON_FAILURE] = "OnFailure",
    [RESTART_ALWAYS] = "Always",
};

static const char *const network_mode_names[_NETWORK_MODE_MAX] = {
    [NETWORK_NONE] = "none",
    [NETWORK_HOST] = "host",
    [NETWORK_BRIDGE] = "bridge",
};

static int lookup(const char *const *names, int n, const char *s)
{
        if (!s)
                return -EINVAL;
        for (int i = 0; i < n; i++)
                if (streq(names[i], s))
                        return i;
        return -EINVAL;
}

const char *isolation_to_string(Isolation i)
{
        return i >= 0 && i < _ISOLATION_MAX ? isolation_names[i] : NULL;
}

Isolation isolation_from_string(const char *s)
{
        return (Isolation)lookup(isolation_names, _ISOLATION_MAX, s);
}

const char *restart_policy_to_string(RestartPolicy p)
{
        return p >= 0 && p < _RESTART_POLICY_MAX ? restart_policy_names[p] : NULL;
}

RestartPolicy restart_policy_from_string(const char *s)
{
        return (RestartPolicy)lookup(restart_policy_names, _RESTART_POLICY_MAX, s);
}

const char *network_mode_to_string(NetworkMode m)
{
        return m >= 0 && m < _NETWORK_MODE_MAX ? network_mode_names[m] : NULL;
}

NetworkMode network_mode_from_string(const char *s)
{
        return (NetworkMode)lookup(network_mode_names, _NETWORK_MODE_MAX, s);
}

bool spec_name_is_valid(const char *name)
{
        size_t n;

        if (!name)
                return false;
        n = strlen(name);
        if (n < 1 || n > SPEC_NAME_MAX)
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = name[i];
                if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
                        return false;
        }
        return name[0] != '-' && name[n - 1] != '-';
}

static void key_values_free(KeyValue *kv, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                free(kv[i].key);
                free(kv[i].value);
        }
        free(kv);
}

Spec *spec_free(Spec *spec)
{
        if (!spec)
                return NULL;
        free(spec->name);
        key_values_free(spec->labels, spec->n_labels);
        free(spec->rootfs);
        free(spec->image);
        strv_free(spec->command);
        key_values_free(spec->env, spec->n_env);
        free(spec->working_dir);
        spec_network_done(spec);
        spec_harden_free(spec);
        spec_vm_done(&spec->vm);
        free(spec);
        return NULL;
}

static int key_values_dup(const KeyValue *src, size_t n, KeyValue **ret)
{
        KeyValue *kv;

        if (n == 0) {
                *ret = NULL;
                return 0;
        }
        kv = calloc(n, sizeof(KeyValue));
        if (!kv)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                kv[i].key = strdup(src[i].key);
                kv[i].value = strdup(src[i].value);
                if (!kv[i].key || !kv[i].value) {
                        key_values_free(kv, n);
                        return -ENOMEM;
                }
        }
        *ret = kv;
        return 0;
}

Spec *spec_dup(const Spec *spec)
{
        _cleanup_(spec_freep) Spec *c = NULL;

        if (!spec)
                return NULL;
        c = calloc(1, sizeof(Spec));
        if (!c)
                return NULL;
        *c = (Spec){
            .isolation = spec->isolation,
            .cpu_millis = spec->cpu_millis,
            .memory_bytes = spec->memory_bytes,
            .pids = spec->pids,
            .cpu_request_millis = spec->cpu_request_millis,
            .memory_request_bytes = spec->memory_request_bytes,
            .priority = spec->priority,
            .restart_policy = spec->restart_policy,
            .network = spec->network,
        };
        if (spec_harden_dup(spec, c) < 0)
                return NULL;
        c->name = strdup_or_null(spec->name);
        c->rootfs = strdup_or_null(spec->rootfs);
        c->image = strdup_or_null(spec->image);
        c->working_dir_default = spec->working_dir_default;
        c->working_dir = strdup_or_null(spec->working_dir);
        if ((spec->name && !c->name) || (spec->rootfs && !c->rootfs) || (spec->image && !c->image) ||
            (spec->working_dir && !c->working_dir))
                return NULL;
        if (key_values_dup(spec->labels, spec->n_labels, &c->labels) < 0)
                return NULL;
        c->n_labels = spec->n_labels;
        if (key_values_dup(spec->env, spec->n_env, &c->env) < 0)
                return NULL;
        c->n_env = spec->n_env;
        if (spec_network_copy(spec, c) < 0)
                return NULL;
        if (spec_vm_copy(&spec->vm, &c->vm) < 0)
                return NULL;
        if (spec->command) {
                c->command = calloc(spec->n_command + 1, sizeof(char *));
                if (!c->command)
                        return NULL;
                for (size_t i = 0; i < spec->n_command; i++) {
                        c->command[i] = strdup(spec->command[i]);
                        if (!c->command[i])
                                return NULL;
                }
                c->n_command = spec->n_command;
        }
        return TAKE_PTR(c);
}

static bool is_identifier(const char *s)
{
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
                return false;
        for (s++; *s; s++)
                if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
                      *s == '_'))
                        return false;
        return true;
}

char *spec_path_key(char *buf, size_t size, const char *parent, const char *key)
{
        size_t n = 0;

        parent = strempty(parent);
        if (is_identifier(key) && !streq(parent, "metadata.labels")) {
                snprintf(buf, size, "%s%s%s", parent, *parent ? "." : "", key);
                return buf;
        }
        /* ["key"], escaping quotes, backslashes and control bytes; long keys are cut. */
        n = (size_t)snprintf(buf, size, "%s[\"", parent);
        for (const char *k = key; *k && n + 8 < size && k - key < 128; k++) {
                unsigned char c = (unsigned char)*k;
                if (c == '"' || c == '\\')
                        n += (size_t)snprintf(buf + n, size - n, "\\%c", c);
                else if (c < 0x20 || c == 0x7f)
                        n += (size_t)snprintf(buf + n, size - n, "\\x%02x", c);
                else
                        buf[n++] = (char)c;
        }
        if (n + 3 <= size)
                snprintf(buf + n, size - n, "\"]");
        else if (size > 0)
                buf[size - 1] = 0;
        return buf;
}

char *spec_path_index(char *buf, size_t size, const char *parent, size_t index)
{
        snprintf(buf, size, "%s[%zu]", strempty(parent), index);
        return buf;
}

bool spec_utf8_is_valid(const char *str, size_t len)
{
        const unsigned char *s = (const unsigned char *)str;
        size_t i = 0;

        while (i < len) {
                unsigned char c = s[i];
                uint32_t cp;
                size_t n;

                if (c < 0x80) {
                        i++;
                        continue;
                } else if (c >= 0xc2 && c <= 0xdf) {
                        n = 1;
                        cp = c & 0x1f;
                } else if (c >= 0xe0 && c <= 0xef) {
                        n = 2;
                        cp = c & 0x0f;
                } else if (c >= 0xf0 && c <= 0xf4) {
                        n = 3;
                        cp = c & 0x07;
                } else
                        return false;
                if (len - i <= n)
                        return false;
                for (size_t k = 1; k <= n; k++) {
                        if ((s[i + k] & 0xc0) != 0x80)
                                return false;
                        cp = (cp << 6) | (s[i + k] & 0x3f);
                }
                if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
                    (cp >= 0xd800 && cp <= 0xdfff))
                        return false;
                i += n + 1;
        }
        return true;
}
