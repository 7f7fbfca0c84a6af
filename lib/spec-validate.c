/* SPDX-License-Identifier: Apache-2.0 */
/* spec_from_json(): the one validator behind both encodings. Every error
 * names the field path (BerthError.field); see docs/SPEC.md for the rules. */
#include <inttypes.h>
#include <math.h>

#include "lib/spec-internal.h"

#define API_VERSION "berth/v1"
#define KIND "Workload"

/* A printable, bounded rendering of a user string for error messages. */
static const char *quoted(char *buf, size_t size, const char *s)
{
        size_t n = 0;

        if (size < 8) {
                if (size > 0)
                        buf[0] = 0;
                return buf;
        }
        buf[n++] = '"';
        for (const char *p = s; *p && n + 6 < size; p++) {
                unsigned char c = (unsigned char)*p;
                if (c < 0x20 || c == 0x7f)
                        n += (size_t)snprintf(buf + n, size - n, "\\x%02x", c);
                else if (c == '"' || c == '\\')
                        n += (size_t)snprintf(buf + n, size - n, "\\%c", c);
                else
                        buf[n++] = (char)c;
        }
        if (n + 6 >= size)
                n += (size_t)snprintf(buf + n, size - n, "...");
        snprintf(buf + n, size - n, "\"");
        return buf;
}
#define QUOTED(s) quoted((char[80]){}, 80, (s))

static const char *json_type_name(const json_t *v)
{
        switch (json_typeof(v)) {
        case JSON_OBJECT:
                return "a mapping";
        case JSON_ARRAY:
                return "a list";
        case JSON_STRING:
                return "a string";
        case JSON_INTEGER:
                return "an integer";
        case JSON_REAL:
                return "a number";
        case JSON_TRUE:
        case JSON_FALSE:
                return "a boolean";
        default:
                return "null";
        }
}

static int type_error(BerthError *err, const char *path, const char *want, const json_t *v)
{
        return berth_error_set(err, -EINVAL, path, "must be %s, not %s", want, json_type_name(v));
}

/* Rejects keys not in `allowed` (NULL-terminated). */
static int check_fields(const json_t *obj, const char *path, const char *const *allowed, BerthError *err)
{
        const char *key;
        json_t *v;

        json_object_foreach((json_t *)obj, key, v)
        {
                bool ok = false;
                for (const char *const *a = allowed; *a; a++)
                        if (streq(*a, key)) {
                                ok = true;
                                break;
                        }
                if (!ok) {
                        char child[SPEC_PATH_MAX];
                        return berth_error_set(err, -EINVAL, spec_path_key(child, sizeof(child), path, key),
                                               "unknown field");
                }
        }
        return 0;
}

/* Looks up an optional member; JSON null counts as absent. */
static const json_t *member(const json_t *obj, const char *key)
{
        const json_t *v = json_object_get(obj, key);
        return v && !json_is_null(v) ? v : NULL;
}

static int get_object(const json_t *obj, const char *key, const char *path, bool required,
                      const json_t **ret, BerthError *err)
{
        const json_t *v = member(obj, key);

        *ret = NULL;
        if (!v)
                return required ? berth_error_set(err, -EINVAL, path, "is required") : 0;
        if (!json_is_object(v))
                return type_error(err, path, "a mapping", v);
        *ret = v;
        return 0;
}

/* Checks a string value: type, NUL bytes, UTF-8, length. */
static int check_string(const json_t *v, const char *path, size_t max, const char **ret, BerthError *err)
{
        const char *s;
        size_t len;

        if (!json_is_string(v))
                return type_error(err, path, "a string", v);
        s = json_string_value(v);
        len = json_string_length(v);
        if (memchr(s, 0, len))
                return berth_error_set(err, -EINVAL, path, "contains a NUL byte");
        if (!spec_utf8_is_valid(s, len))
                return berth_error_set(err, -EINVAL, path, "is not valid UTF-8");
        if (len > max)
                return berth_error_set(err, -EINVAL, path, "is longer than %zu bytes", max);
        *ret = s;
        return 0;
}

static int get_string(const json_t *obj, const char *key, const char *path, bool required, const char **ret,
                      BerthError *err)
{
        const json_t *v = member(obj, key);

        *ret = NULL;
        if (!v)
                return required ? berth_error_set(err, -EINVAL, path, "is required") : 0;
        return check_string(v, path, SPEC_STRING_MAX, ret, err);
}

/* Absolute path, no ".." component; "//", "/./" and a trailing "/" are normalised. */
static int normalize_path(const char *in, const char *path, char **ret, BerthError *err)
{
        _cleanup_free_ char *out = NULL;
        size_t n = 0;

        if (in[0] != '/')
                return berth_error_set(err, -EINVAL, path, "%s is not an absolute path", QUOTED(in));
        out = malloc(strlen(in) + 2);
        if (!out)
                return -ENOMEM;
        for (const char *p = in; *p;) {
                size_t len;

                while (*p == '/')
                        p++;
                len = strcspn(p, "/");
                if (len == 0)
                        break;
                if (len == 2 && p[0] == '.' && p[1] == '.')
                        return berth_error_set(err, -EINVAL, path, "%s must not contain \"..\"", QUOTED(in));
                if (!(len == 1 && p[0] == '.')) {
                        out[n++] = '/';
                        memcpy(out + n, p, len);
                        n += len;
                }
                p += len;
        }
        if (n == 0)
                out[n++] = '/';
        out[n] = 0;
        *ret = TAKE_PTR(out);
        return 0;
}

static bool is_alnum(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Kubernetes label name/value: [A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?, 1..max. */
static bool label_name_is_valid(const char *s, size_t len, size_t max)
{
        if (len < 1 || len > max || !is_alnum(s[0]) || !is_alnum(s[len - 1]))
                return false;
        for (size_t i = 0; i < len; i++)
                if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
                        return false;
        return true;
}

/* DNS subdomain: dot-separated DNS labels, at most 253 characters. */
static bool dns_subdomain_is_valid(const char *s, size_t len)
{
        if (len < 1 || len > 253)
                return false;
        for (size_t i = 0; i < len;) {
                size_t l = 0;
                char label[SPEC_NAME_MAX + 1];

                while (i + l < len && s[i + l] != '.')
                        l++;
                if (l < 1 || l > SPEC_NAME_MAX)
                        return false;
                memcpy(label, s + i, l);
                label[l] = 0;
                if (!spec_name_is_valid(label))
                        return false;
                i += l;
                if (i < len) {
                        i++; /* the dot */
                        if (i == len)
                                return false;
                }
        }
        return true;
}

static bool label_key_is_valid(const char *key)
{
        size_t len = strlen(key);
        const char *slash = strchr(key, '/');

        if (len > SPEC_LABEL_KEY_MAX)
                return false;
        if (!slash)
                return label_name_is_valid(key, len, SPEC_NAME_MAX);
        return dns_subdomain_is_valid(key, (size_t)(slash - key)) &&
               label_name_is_valid(slash + 1, len - (size_t)(slash - key) - 1, SPEC_NAME_MAX);
}

static int key_value_cmp(const void *a, const void *b)
{
        return strcmp(((const KeyValue *)a)->key, ((const KeyValue *)b)->key);
}

static int validate_metadata(const json_t *root, Spec *s, BerthError *err)
{
        static const char *const fields[] = {"name", "labels", NULL};
        const json_t *md, *labels;
        const char *name, *key;
        json_t *v;
        int r;

        r = get_object(root, "metadata", "metadata", true, &md, err);
        if (r < 0)
                return r;
        r = check_fields(md, "metadata", fields, err);
        if (r < 0)
                return r;

        r = get_string(md, "name", "metadata.name", true, &name, err);
        if (r < 0)
                return r;
        if (!spec_name_is_valid(name))
                return berth_error_set(err, -EINVAL, "metadata.name",
                                       "%s is not a valid name: 1 to %d characters of a-z, 0-9 and '-', "
                                       "starting and ending with a letter or digit",
                                       QUOTED(name), SPEC_NAME_MAX);
        s->name = strdup(name);
        if (!s->name)
                return -ENOMEM;

        r = get_object(md, "labels", "metadata.labels", false, &labels, err);
        if (r < 0 || !labels)
                return r;
        if (json_object_size(labels) > SPEC_LABELS_MAX)
                return berth_error_set(err, -EINVAL, "metadata.labels", "more than %d labels",
                                       SPEC_LABELS_MAX);
        if (json_object_size(labels) == 0)
                return 0;
        s->labels = calloc(json_object_size(labels), sizeof(KeyValue));
        if (!s->labels)
                return -ENOMEM;
        json_object_foreach((json_t *)labels, key, v)
        {
                char path[SPEC_PATH_MAX];
                const char *value;

                spec_path_key(path, sizeof(path), "metadata.labels", key);
                if (!label_key_is_valid(key))
                        return berth_error_set(err, -EINVAL, path,
                                               "is not a valid label key: an optional DNS subdomain prefix "
                                               "and '/', then 1 to 63 characters of A-Z, a-z, 0-9, '-', '_' "
                                               "and '.', starting and ending with a letter or digit");
                if (!json_is_string(v))
                        return berth_error_set(err, -EINVAL, path,
                                               "label values must be strings, not %s; quote the value",
                                               json_type_name(v));
                r = check_string(v, path, SPEC_LABEL_VALUE_MAX, &value, err);
                if (r < 0)
                        return r;
                if (value[0] && !label_name_is_valid(value, strlen(value), SPEC_LABEL_VALUE_MAX))
                        return berth_error_set(
                            err, -EINVAL, path,
                            "%s is not a valid label value: empty, or up to 63 characters "
                            "of A-Z, a-z, 0-9, '-', '_' and '.', starting and ending "
                            "with a letter or digit",
                            QUOTED(value));
                s->labels[s->n_labels].key = strdup(key);
                s->labels[s->n_labels].value = strdup(value);
                s->n_labels++;
                if (!s->labels[s->n_labels - 1].key || !s->labels[s->n_labels - 1].value)
                        return -ENOMEM;
        }
        qsort(s->labels, s->n_labels, sizeof(KeyValue), key_value_cmp);
        return 0;
}

static int validate_command(const json_t *spec, Spec *s, BerthError *err)
{
        const json_t *cmd = member(spec, "command"), *v;
        size_t i;
        int r;

        if (!cmd && s->image)
                return 0; /* the image's Entrypoint and Cmd apply */
        if (!cmd)
                return berth_error_set(err, -EINVAL, "spec.command", "is required");
        if (!json_is_array(cmd))
                return type_error(err, "spec.command", "a list of strings", cmd);
        if (json_array_size(cmd) == 0)
                return berth_error_set(err, -EINVAL, "spec.command", "must not be empty");
        if (json_array_size(cmd) > SPEC_ARGS_MAX)
                return berth_error_set(err, -EINVAL, "spec.command", "has more than %d entries",
                                       SPEC_ARGS_MAX);
        s->command = calloc(json_array_size(cmd) + 1, sizeof(char *));
        if (!s->command)
                return -ENOMEM;
        json_array_foreach(cmd, i, v)
        {
                char path[SPEC_PATH_MAX];
                const char *arg;

                spec_path_index(path, sizeof(path), "spec.command", i);
                if (!json_is_string(v))
                        return berth_error_set(err, -EINVAL, path, "must be a string, not %s; quote it",
                                               json_type_name(v));
                r = check_string(v, path, SPEC_STRING_MAX, &arg, err);
                if (r < 0)
                        return r;
                if (i == 0 && !arg[0])
                        return berth_error_set(err, -EINVAL, path, "the program must not be empty");
                s->command[i] = strdup(arg);
                if (!s->command[i])
                        return -ENOMEM;
                s->n_command++;
        }
        return 0;
}

static int validate_env(const json_t *spec, Spec *s, BerthError *err)
{
        const json_t *env;
        const char *key;
        json_t *v;
        int r;

        r = get_object(spec, "env", "spec.env", false, &env, err);
        if (r < 0 || !env)
                return r;
        if (json_object_size(env) > SPEC_ENV_MAX)
                return berth_error_set(err, -EINVAL, "spec.env", "more than %d entries", SPEC_ENV_MAX);
        if (json_object_size(env) == 0)
                return 0;
        s->env = calloc(json_object_size(env), sizeof(KeyValue));
        if (!s->env)
                return -ENOMEM;
        /* jansson keeps insertion order, so this is document order. */
        json_object_foreach((json_t *)env, key, v)
        {
                char path[SPEC_PATH_MAX];
                const char *value;
                bool ok = key[0] && strlen(key) <= SPEC_STRING_MAX;

                spec_path_key(path, sizeof(path), "spec.env", key);
                for (const char *k = key; ok && *k; k++)
                        ok = *k == '_' || (*k >= 'A' && *k <= 'Z') || (*k >= 'a' && *k <= 'z') ||
                             (k > key && *k >= '0' && *k <= '9');
                if (!ok)
                        return berth_error_set(err, -EINVAL, path,
                                               "is not a valid variable name: [A-Za-z_][A-Za-z0-9_]*");
                if (!json_is_string(v)) {
                        _cleanup_free_ char *txt = json_dumps(v, JSON_ENCODE_ANY);
                        return berth_error_set(err, -EINVAL, path,
                                               "values must be strings, not %s; quote it: %s: \"%.64s\"",
                                               json_type_name(v), key, txt ? txt : "...");
                }
                r = check_string(v, path, SPEC_STRING_MAX, &value, err);
                if (r < 0)
                        return r;
                s->env[s->n_env].key = strdup(key);
                s->env[s->n_env].value = strdup(value);
                s->n_env++;
                if (!s->env[s->n_env - 1].key || !s->env[s->n_env - 1].value)
                        return -ENOMEM;
        }
        return 0;
}

/* A JSON real that is a whole number in [0, 2^64). */
static bool real_to_u64(double d, uint64_t *ret)
{
        if (!isfinite(d) || d < 0 || d != floor(d) || d >= 18446744073709551616.0)
                return false;
        *ret = (uint64_t)d;
        return true;
}

static int validate_memory(const json_t *v, Spec *s, BerthError *err)
{
        static const char path[] = "spec.resources.memory";
        char a[32], b[32];
        uint64_t bytes;
        int r;

        if (json_is_string(v)) {
                const char *str;

                r = check_string(v, path, 64, &str, err);
                if (r < 0)
                        return r;
                r = parse_memory_quantity(str, &bytes);
                if (r == -ERANGE)
                        return berth_error_set(err, -EINVAL, path, "%s is too large", QUOTED(str));
                if (r == -EDOM)
                        return berth_error_set(err, -EINVAL, path, "%s is not a whole number of bytes",
                                               QUOTED(str));
                if (r < 0)
                        return berth_error_set(err, -EINVAL, path,
                                               "%s is not a size (e.g. \"128Mi\", \"1G\", \"1048576\")",
                                               QUOTED(str));
        } else if (json_is_integer(v)) {
                if (json_integer_value(v) < 0)
                        return berth_error_set(err, -EINVAL, path, "must not be negative");
                bytes = (uint64_t)json_integer_value(v);
        } else if (json_is_real(v)) {
                double d = json_real_value(v);
                if (d < 0)
                        return berth_error_set(err, -EINVAL, path, "must not be negative");
                if (d != floor(d))
                        return berth_error_set(err, -EINVAL, path, "%g is not a whole number of bytes", d);
                if (!real_to_u64(d, &bytes))
                        return berth_error_set(err, -EINVAL, path, "%g is too large", d);
        } else
                return type_error(err, path, "a size such as \"128Mi\" or a number of bytes", v);

        if (bytes == 0)
                return berth_error_set(err, -EINVAL, path, "must not be 0; omit it for no limit");
        if (bytes < SPEC_MEMORY_MIN)
                return berth_error_set(err, -EINVAL, path, "is below the minimum of %s",
                                       format_memory_quantity(a, sizeof(a), SPEC_MEMORY_MIN));
        if (bytes > SPEC_MEMORY_MAX)
                return berth_error_set(err, -EINVAL, path, "%s is above the maximum of %s",
                                       format_memory_quantity(b, sizeof(b), bytes),
                                       format_memory_quantity(a, sizeof(a), SPEC_MEMORY_MAX));
        s->memory_bytes = bytes;
        return 0;
}

static int validate_cpu(const json_t *v, Spec *s, BerthError *err)
{
        static const char path[] = "spec.resources.cpu";
        char a[32];
        uint64_t millis;
        int r;

        if (json_is_string(v)) {
                const char *str;

                r = check_string(v, path, 64, &str, err);
                if (r < 0)
                        return r;
                r = parse_cpu_quantity(str, &millis);
                if (r == -ERANGE)
                        return berth_error_set(err, -EINVAL, path, "%s is too large", QUOTED(str));
                if (r == -EDOM)
                        return berth_error_set(err, -EINVAL, path,
                                               "%s is finer than a millicore (at most 3 decimals)",
                                               QUOTED(str));
                if (r < 0)
                        return berth_error_set(err, -EINVAL, path,
                                               "%s is not a CPU amount (e.g. \"500m\", \"2\", \"0.25\")",
                                               QUOTED(str));
        } else if (json_is_integer(v)) {
                json_int_t n = json_integer_value(v);
                if (n < 0)
                        return berth_error_set(err, -EINVAL, path, "must not be negative");
                if ((uint64_t)n > SPEC_CPU_MILLIS_MAX / 1000)
                        return berth_error_set(err, -EINVAL, path, "%lld CPUs is above the maximum of %s",
                                               (long long)n,
                                               format_cpu_quantity(a, sizeof(a), SPEC_CPU_MILLIS_MAX));
                millis = (uint64_t)n * 1000;
        } else if (json_is_real(v)) {
                double d = json_real_value(v);
                char txt[512];

                if (d < 0)
                        return berth_error_set(err, -EINVAL, path, "must not be negative");
                if (d > (double)SPEC_CPU_MILLIS_MAX)
                        return berth_error_set(err, -EINVAL, path, "%g is above the maximum of %s", d,
                                               format_cpu_quantity(a, sizeof(a), SPEC_CPU_MILLIS_MAX));
                /* Exactly representable with 3 decimals? 0.25 yes, 0.1234 no. */
                snprintf(txt, sizeof(txt), "%.3f", d);
                if (strtod(txt, NULL) != d)
                        return berth_error_set(err, -EINVAL, path,
                                               "%g is finer than a millicore (at most 3 decimals)", d);
                r = parse_cpu_quantity(txt, &millis);
                if (r < 0)
                        return berth_error_set(err, -EINVAL, path, "%g is not a CPU amount", d);
        } else
                return type_error(err, path, "a CPU amount such as \"500m\" or a number of CPUs", v);

        if (millis == 0)
                return berth_error_set(err, -EINVAL, path, "must not be 0; omit it for no limit");
        if (millis > SPEC_CPU_MILLIS_MAX)
                return berth_error_set(err, -EINVAL, path, "is above the maximum of %s",
                                       format_cpu_quantity(a, sizeof(a), SPEC_CPU_MILLIS_MAX));
        s->cpu_millis = millis;
        return 0;
}

static int validate_pids(const json_t *v, Spec *s, BerthError *err)
{
        static const char path[] = "spec.resources.pids";
        uint64_t n = 0;

        if (json_is_integer(v)) {
                if (json_integer_value(v) < 0)
                        return berth_error_set(err, -EINVAL, path, "must not be negative");
                n = (uint64_t)json_integer_value(v);
        } else if (json_is_real(v)) {
                if (json_real_value(v) < 0)
                        return berth_error_set(err, -EINVAL, path, "must not be negative");
                if (!real_to_u64(json_real_value(v), &n))
                        return berth_error_set(err, -EINVAL, path, "must be a whole number");
        } else if (json_is_string(v)) {
                const char *str;
                int r = check_string(v, path, 64, &str, err);
                if (r < 0)
                        return r;
                if (!str[0] || strspn(str, "0123456789") != strlen(str))
                        return berth_error_set(err, -EINVAL, path, "%s is not a whole number", QUOTED(str));
                if (strlen(str) > 19)
                        return berth_error_set(err, -EINVAL, path, "%s is too large", QUOTED(str));
                n = strtoull(str, NULL, 10);
        } else
                return type_error(err, path, "a whole number", v);

        if (n == 0)
                return berth_error_set(err, -EINVAL, path, "must not be 0; omit it for no limit");
        if (n > SPEC_PIDS_MAX)
                return berth_error_set(err, -EINVAL, path, "is above the maximum of %" PRIu64,
                                       SPEC_PIDS_MAX);
        s->pids = n;
        return 0;
}

static int validate_resources(const json_t *spec, Spec *s, BerthError *err)
{
        static const char *const fields[] = {"cpu", "memory", "pids", "cpuWeight", "memoryHigh", "swap", "ioWeight", "requests", "limits", NULL};
        const json_t *res, *v;
        int r;

        r = get_object(spec, "resources", "spec.resources", false, &res, err);
        if (r < 0 || !res)
                return r;
        r = check_fields(res, "spec.resources", fields, err);
        if (r < 0)
                return r;
        if ((v = member(res, "cpu")) && (r = validate_cpu(v, s, err)) < 0)
                return r;
        if ((v = member(res, "memory")) && (r = validate_memory(v, s, err)) < 0)
                return r;
        if ((v = member(res, "pids")) && (r = validate_pids(v, s, err)) < 0)
                return r;
        return spec_validate_resources_harden(res, s, err);
}

static int validate_enum(const json_t *obj, const char *key, const char *path, int (*from)(const char *),
                         const char *choices, int def, int *ret, BerthError *err)
{
        const char *str;
        int r, v = 0;

        r = get_string(obj, key, path, false, &str, err);
        if (r < 0)
                return r;
        if (!str) {
                *ret = def;
                return 0;
        }
        v = from(str);
        if (v < 0)
                return berth_error_set(err, -EINVAL, path, "%s is not one of %s", QUOTED(str), choices);
        *ret = v;
        return 0;
}

static int isolation_from(const char *s)
{
        return isolation_from_string(s);
}
static int restart_from(const char *s)
{
        return restart_policy_from_string(s);
}

static int validate_spec(const json_t *root, Spec *s, BerthError *err)
{
        static const char *const fields[] = {"isolation", "rootfs", "image", "command", "env", "workingDir",
                                             "resources", "restartPolicy", "network", "vm", "security", "healthCheck", "priority", NULL};
        const json_t *spec, *net;
        const char *str;
        int r, v = 0;

        r = get_object(root, "spec", "spec", true, &spec, err);
        if (r < 0)
                return r;
        r = check_fields(spec, "spec", fields, err);
        if (r < 0)
                return r;

        r = validate_enum(spec, "isolation", "spec.isolation", isolation_from, "\"container\", \"vm\"",
                          ISOLATION_CONTAINER, &v, err);
        if (r < 0)
                return r;
        s->isolation = (Isolation)v;

        /* exactly one of rootfs and image (docs/IMAGES.md) */
        r = get_string(spec, "image", "spec.image", false, &str, err);
        if (r < 0)
                return r;
        if (str) {
                if (!str[0] || strlen(str) > 255)
                        return berth_error_set(err, -EINVAL, "spec.image", "must be an image name of 1..255 characters");
                if (json_object_get(spec, "rootfs"))
                        return berth_error_set(err, -EINVAL, "spec.rootfs", "give either spec.rootfs or spec.image, not both");
                s->image = strdup(str);
                if (!s->image)
                        return -ENOMEM;
        } else {
                r = get_string(spec, "rootfs", "spec.rootfs", true, &str, err);
                if (r < 0)
                        return r;
                r = normalize_path(str, "spec.rootfs", &s->rootfs, err);
                if (r < 0)
                        return r;
        }

        r = validate_command(spec, s, err);
        if (r < 0)
                return r;
        r = validate_env(spec, s, err);
        if (r < 0)
                return r;

        r = get_string(spec, "workingDir", "spec.workingDir", false, &str, err);
        if (r < 0)
                return r;
        s->working_dir_default = !str;
        r = normalize_path(str ? str : "/", "spec.workingDir", &s->working_dir, err);
        if (r < 0)
                return r;

        r = validate_resources(spec, s, err);
        if (r < 0)
                return r;
        r = spec_sched_from_json(spec, s, err);
        if (r < 0)
                return r;
        r = spec_validate_harden(spec, s, err);
        if (r < 0)
                return r;

        r = validate_enum(spec, "restartPolicy", "spec.restartPolicy", restart_from,
                          "\"Never\", \"OnFailure\", \"Always\"", RESTART_NEVER, &v, err);
        if (r < 0)
                return r;
        s->restart_policy = (RestartPolicy)v;

        r = get_object(spec, "network", "spec.network", false, &net, err);
        if (r < 0)
                return r;
        r = spec_network_from_json(net, s, err);
        if (r < 0)
                return r;
        return spec_vm_from_json(spec, &s->vm, err);
}

int spec_from_json(const json_t *root, Spec **ret, BerthError *err)
{
        static const char *const fields[] = {"apiVersion", "kind", "metadata", "spec", NULL};
        _cleanup_(spec_freep) Spec *s = NULL;
        const char *str;
        int r;

        if (!root || !json_is_object(root))
                return berth_error_set(err, -EINVAL, "", "the document must be a mapping, not %s",
                                       root ? json_type_name(root) : "empty");
        r = check_fields(root, "", fields, err);
        if (r < 0)
                return r;

        r = get_string(root, "apiVersion", "apiVersion", true, &str, err);
        if (r < 0)
                return r;
        if (!streq(str, API_VERSION))
                return berth_error_set(err, -EINVAL, "apiVersion", "%s is not supported; use \"%s\"",
                                       QUOTED(str), API_VERSION);
        r = get_string(root, "kind", "kind", true, &str, err);
        if (r < 0)
                return r;
        if (!streq(str, KIND))
                return berth_error_set(err, -EINVAL, "kind", "%s is not supported; use \"%s\"", QUOTED(str),
                                       KIND);

        s = calloc(1, sizeof(Spec));
        if (!s)
                return -ENOMEM;
        r = validate_metadata(root, s, err);
        if (r < 0)
                return r;
        r = validate_spec(root, s, err);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(s);
        return 0;
}
