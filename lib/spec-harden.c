/* SPDX-License-Identifier: Apache-2.0 */
/* The hardening part of the spec: spec.security (capabilities, seccomp, user
 * namespace), spec.healthCheck, and the extra resources (cpuWeight,
 * memoryHigh, swap, ioWeight). Called from spec-validate.c / spec-json.c /
 * spec.c through the hooks declared in spec-internal.h. */
#include <ctype.h>
#include <inttypes.h>
#include <linux/capability.h>

#include "lib/spec-internal.h"

static const char *const cap_names[] = {
        [CAP_CHOWN] = "CHOWN",
        [CAP_DAC_OVERRIDE] = "DAC_OVERRIDE",
        [CAP_DAC_READ_SEARCH] = "DAC_READ_SEARCH",
        [CAP_FOWNER] = "FOWNER",
        [CAP_FSETID] = "FSETID",
        [CAP_KILL] = "KILL",
        [CAP_SETGID] = "SETGID",
        [CAP_SETUID] = "SETUID",
        [CAP_SETPCAP] = "SETPCAP",
        [CAP_LINUX_IMMUTABLE] = "LINUX_IMMUTABLE",
        [CAP_NET_BIND_SERVICE] = "NET_BIND_SERVICE",
        [CAP_NET_BROADCAST] = "NET_BROADCAST",
        [CAP_NET_ADMIN] = "NET_ADMIN",
        [CAP_NET_RAW] = "NET_RAW",
        [CAP_IPC_LOCK] = "IPC_LOCK",
        [CAP_IPC_OWNER] = "IPC_OWNER",
        [CAP_SYS_MODULE] = "SYS_MODULE",
        [CAP_SYS_RAWIO] = "SYS_RAWIO",
        [CAP_SYS_CHROOT] = "SYS_CHROOT",
        [CAP_SYS_PTRACE] = "SYS_PTRACE",
        [CAP_SYS_PACCT] = "SYS_PACCT",
        [CAP_SYS_ADMIN] = "SYS_ADMIN",
        [CAP_SYS_BOOT] = "SYS_BOOT",
        [CAP_SYS_NICE] = "SYS_NICE",
        [CAP_SYS_RESOURCE] = "SYS_RESOURCE",
        [CAP_SYS_TIME] = "SYS_TIME",
        [CAP_SYS_TTY_CONFIG] = "SYS_TTY_CONFIG",
        [CAP_MKNOD] = "MKNOD",
        [CAP_LEASE] = "LEASE",
        [CAP_AUDIT_WRITE] = "AUDIT_WRITE",
        [CAP_AUDIT_CONTROL] = "AUDIT_CONTROL",
        [CAP_SETFCAP] = "SETFCAP",
        [CAP_MAC_OVERRIDE] = "MAC_OVERRIDE",
        [CAP_MAC_ADMIN] = "MAC_ADMIN",
        [CAP_SYSLOG] = "SYSLOG",
        [CAP_WAKE_ALARM] = "WAKE_ALARM",
        [CAP_BLOCK_SUSPEND] = "BLOCK_SUSPEND",
        [CAP_AUDIT_READ] = "AUDIT_READ",
        [CAP_PERFMON] = "PERFMON",
        [CAP_BPF] = "BPF",
        [CAP_CHECKPOINT_RESTORE] = "CHECKPOINT_RESTORE",
};

int capability_last(void)
{
        return (int)ELEMENTSOF(cap_names) - 1;
}

const char *capability_to_name(int cap)
{
        return cap >= 0 && cap < (int)ELEMENTSOF(cap_names) ? cap_names[cap] : NULL;
}

int capability_from_name(const char *name)
{
        char up[32];
        size_t n;

        if (!name)
                return -EINVAL;
        if (strncasecmp(name, "CAP_", 4) == 0)
                name += 4;
        n = strlen(name);
        if (n == 0 || n >= sizeof(up))
                return -EINVAL;
        for (size_t i = 0; i <= n; i++)
                up[i] = (char)toupper((unsigned char)name[i]);
        for (int i = 0; i < (int)ELEMENTSOF(cap_names); i++)
                if (cap_names[i] && streq(cap_names[i], up))
                        return i;
        return -EINVAL;
}

static const char *const seccomp_names[_SECCOMP_MODE_MAX] = {
        [SECCOMP_MODE_DEFAULT] = "default",
        [SECCOMP_MODE_UNCONFINED] = "unconfined",
};

const char *seccomp_mode_to_string(SeccompMode m)
{
        return m >= 0 && m < _SECCOMP_MODE_MAX ? seccomp_names[m] : NULL;
}

int parse_duration(const char *s, usec_t *ret)
{
        static const struct {
                const char *suffix;
                usec_t mult;
        } units[] = {
                { "ms", USEC_PER_MSEC }, { "s", USEC_PER_SEC }, { "m", 60 * USEC_PER_SEC },
                { "h", 3600 * USEC_PER_SEC }, { "", USEC_PER_SEC },
        };
        uint64_t v = 0;
        const char *p = s;

        if (!s || !isdigit((unsigned char)*s))
                return -EINVAL;
        for (; isdigit((unsigned char)*p); p++) {
                if (v > (UINT64_MAX - 9) / 10)
                        return -ERANGE;
                v = v * 10 + (uint64_t)(*p - '0');
        }
        for (size_t i = 0; i < ELEMENTSOF(units); i++)
                if (streq(p, units[i].suffix)) {
                        if (v > UINT64_MAX / units[i].mult)
                                return -ERANGE;
                        *ret = v * units[i].mult;
                        return 0;
                }
        return -EINVAL;
}

static int check_fields(const json_t *obj, const char *path, const char *const *allowed, BerthError *err)
{
        const char *key;
        json_t *v;

        json_object_foreach((json_t *)obj, key, v) {
                bool ok = false;
                for (const char *const *a = allowed; *a; a++)
                        ok = ok || streq(*a, key);
                if (!ok) {
                        char child[SPEC_PATH_MAX];
                        return berth_error_set(err, -EINVAL, spec_path_key(child, sizeof(child), path, key),
                                               "unknown field");
                }
        }
        return 0;
}

static const json_t *member(const json_t *obj, const char *key)
{
        const json_t *v = json_object_get(obj, key);
        return v && !json_is_null(v) ? v : NULL;
}

static int get_string(const json_t *v, const char *path, const char **ret, BerthError *err)
{
        if (!json_is_string(v))
                return berth_error_set(err, -EINVAL, path, "must be a string");
        if (json_string_length(v) > SPEC_STRING_MAX || memchr(json_string_value(v), 0, json_string_length(v)))
                return berth_error_set(err, -EINVAL, path, "must be a string of at most %d bytes without NUL",
                                       SPEC_STRING_MAX);
        *ret = json_string_value(v);
        return 0;
}

static int validate_caps(const json_t *v, const char *path, char ***ret, BerthError *err)
{
        char **l;
        size_t i, n;
        json_t *e;

        if (!json_is_array(v))
                return berth_error_set(err, -EINVAL, path, "must be a list of capability names");
        n = json_array_size(v);
        if (n > SPEC_CAPS_MAX)
                return berth_error_set(err, -E2BIG, path, "has more than %d entries", SPEC_CAPS_MAX);
        l = calloc(n + 1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        json_array_foreach(v, i, e) {
                char p[SPEC_PATH_MAX];
                const char *s;
                int c, r;

                spec_path_index(p, sizeof(p), path, i);
                r = get_string(e, p, &s, err);
                if (r < 0) {
                        strv_free(l);
                        return r;
                }
                if (strcasecmp(s, "ALL") == 0)
                        l[i] = strdup("ALL");
                else {
                        c = capability_from_name(s);
                        if (c < 0) {
                                strv_free(l);
                                return berth_error_set(err, -EINVAL, p, "unknown capability \"%.64s\"", s);
                        }
                        l[i] = strdup(cap_names[c]);
                }
                if (!l[i]) {
                        strv_free(l);
                        return -ENOMEM;
                }
        }
        *ret = l;
        return 0;
}

static int validate_security(const json_t *sec, Spec *s, BerthError *err)
{
        static const char *const fields[] = { "capabilities", "seccomp", "userNamespace", NULL };
        static const char *const cap_fields[] = { "add", "drop", NULL };
        const json_t *caps, *v;
        const char *str;
        int r;

        if (!json_is_object(sec))
                return berth_error_set(err, -EINVAL, "spec.security", "must be a mapping");
        r = check_fields(sec, "spec.security", fields, err);
        if (r < 0)
                return r;
        if ((caps = member(sec, "capabilities"))) {
                if (!json_is_object(caps))
                        return berth_error_set(err, -EINVAL, "spec.security.capabilities", "must be a mapping");
                r = check_fields(caps, "spec.security.capabilities", cap_fields, err);
                if (r < 0)
                        return r;
                if ((v = member(caps, "add")) &&
                    (r = validate_caps(v, "spec.security.capabilities.add", &s->security.cap_add, err)) < 0)
                        return r;
                if ((v = member(caps, "drop")) &&
                    (r = validate_caps(v, "spec.security.capabilities.drop", &s->security.cap_drop, err)) < 0)
                        return r;
        }
        s->security.seccomp = SECCOMP_MODE_DEFAULT;
        if ((v = member(sec, "seccomp"))) {
                r = get_string(v, "spec.security.seccomp", &str, err);
                if (r < 0)
                        return r;
                if (streq(str, "default"))
                        s->security.seccomp = SECCOMP_MODE_DEFAULT;
                else if (streq(str, "unconfined"))
                        s->security.seccomp = SECCOMP_MODE_UNCONFINED;
                else
                        return berth_error_set(err, -EINVAL, "spec.security.seccomp",
                                               "\"%.64s\" is not one of \"default\", \"unconfined\"", str);
        }
        if ((v = member(sec, "userNamespace"))) {
                if (!json_is_boolean(v))
                        return berth_error_set(err, -EINVAL, "spec.security.userNamespace", "must be a boolean");
                s->security.user_namespace = json_is_true(v);
        }
        return 0;
}

static int get_duration(const json_t *obj, const char *key, const char *path, usec_t def, usec_t *ret,
                        BerthError *err)
{
        const json_t *v = member(obj, key);
        const char *str;
        usec_t u;
        int r;

        if (!v) {
                *ret = def;
                return 0;
        }
        if (json_is_integer(v)) {
                json_int_t i = json_integer_value(v);
                if (i <= 0 || (usec_t)i > SPEC_DURATION_MAX / USEC_PER_SEC)
                        return berth_error_set(err, -ERANGE, path, "must be between 1 and 86400 seconds");
                *ret = (usec_t)i * USEC_PER_SEC;
                return 0;
        }
        r = get_string(v, path, &str, err);
        if (r < 0)
                return r;
        r = parse_duration(str, &u);
        if (r < 0)
                return berth_error_set(err, r, path, "\"%.64s\" is not a duration such as \"500ms\", \"10s\", \"1m\"",
                                       str);
        if (u < 10 * USEC_PER_MSEC || u > SPEC_DURATION_MAX)
                return berth_error_set(err, -ERANGE, path, "must be between 10ms and 24h");
        *ret = u;
        return 0;
}

static int validate_health(const json_t *hc, Spec *s, BerthError *err)
{
        static const char *const fields[] = { "exec", "tcp", "interval", "timeout", "retries", NULL };
        const json_t *ex, *tcp, *v;
        int r;

        if (!json_is_object(hc))
                return berth_error_set(err, -EINVAL, "spec.healthCheck", "must be a mapping");
        r = check_fields(hc, "spec.healthCheck", fields, err);
        if (r < 0)
                return r;
        ex = member(hc, "exec");
        tcp = member(hc, "tcp");
        if (!!ex == !!tcp)
                return berth_error_set(err, -EINVAL, "spec.healthCheck", "needs exactly one of exec or tcp");
        if (ex) {
                size_t i, n;
                json_t *e;

                if (!json_is_array(ex) || json_array_size(ex) == 0)
                        return berth_error_set(err, -EINVAL, "spec.healthCheck.exec",
                                               "must be a non-empty list of strings");
                n = json_array_size(ex);
                if (n > SPEC_ARGS_MAX)
                        return berth_error_set(err, -E2BIG, "spec.healthCheck.exec", "has more than %d entries",
                                               SPEC_ARGS_MAX);
                s->health.exec = calloc(n + 1, sizeof(char *));
                if (!s->health.exec)
                        return -ENOMEM;
                json_array_foreach(ex, i, e) {
                        char p[SPEC_PATH_MAX];
                        const char *str;

                        r = get_string(e, spec_path_index(p, sizeof(p), "spec.healthCheck.exec", i), &str, err);
                        if (r < 0)
                                return r;
                        if (i == 0 && !*str)
                                return berth_error_set(err, -EINVAL, p, "must not be empty");
                        s->health.exec[i] = strdup(str);
                        if (!s->health.exec[i])
                                return -ENOMEM;
                }
                s->health.kind = HEALTH_CHECK_EXEC;
        } else {
                json_int_t port = json_integer_value(tcp);
                if (!json_is_integer(tcp) || port < 1 || port > 65535)
                        return berth_error_set(err, -EINVAL, "spec.healthCheck.tcp", "must be a port 1..65535");
                s->health.tcp_port = (uint16_t)port;
                s->health.kind = HEALTH_CHECK_TCP;
        }
        r = get_duration(hc, "interval", "spec.healthCheck.interval", 10 * USEC_PER_SEC, &s->health.interval, err);
        if (r < 0)
                return r;
        r = get_duration(hc, "timeout", "spec.healthCheck.timeout", 5 * USEC_PER_SEC, &s->health.timeout, err);
        if (r < 0)
                return r;
        s->health.retries = 3;
        if ((v = member(hc, "retries"))) {
                json_int_t n = json_integer_value(v);
                if (!json_is_integer(v) || n < 1 || n > SPEC_HEALTH_RETRIES_MAX)
                        return berth_error_set(err, -EINVAL, "spec.healthCheck.retries", "must be an integer 1..%d",
                                               SPEC_HEALTH_RETRIES_MAX);
                s->health.retries = (unsigned)n;
        }
        return 0;
}

int spec_validate_harden(const json_t *spec, Spec *s, BerthError *err)
{
        const json_t *v;
        int r;

        if ((v = member(spec, "security")) && (r = validate_security(v, s, err)) < 0)
                return r;
        if ((v = member(spec, "healthCheck")) && (r = validate_health(v, s, err)) < 0)
                return r;
        return 0;
}

static int get_weight(const json_t *res, const char *key, const char *path, uint64_t *ret, BerthError *err)
{
        const json_t *v = member(res, key);
        json_int_t n;

        if (!v)
                return 0;
        n = json_integer_value(v);
        if (!json_is_integer(v) || n < 1 || n > SPEC_WEIGHT_MAX)
                return berth_error_set(err, -EINVAL, path, "must be an integer 1..%d", SPEC_WEIGHT_MAX);
        *ret = (uint64_t)n;
        return 0;
}

static int get_bytes(const json_t *res, const char *key, const char *path, uint64_t *ret, BerthError *err)
{
        const json_t *v = member(res, key);
        const char *str;
        int r;

        if (!v)
                return 0;
        if (json_is_integer(v) && json_integer_value(v) >= 0) {
                *ret = (uint64_t)json_integer_value(v);
        } else {
                r = get_string(v, path, &str, err);
                if (r < 0)
                        return r;
                r = parse_memory_quantity(str, ret);
                if (r < 0)
                        return berth_error_set(err, r, path, "\"%.64s\" is not a memory quantity", str);
        }
        if (*ret > SPEC_MEMORY_MAX)
                return berth_error_set(err, -ERANGE, path, "is above 1Pi");
        return 0;
}

int spec_validate_resources_harden(const json_t *res, Spec *s, BerthError *err)
{
        int r;

        r = get_weight(res, "cpuWeight", "spec.resources.cpuWeight", &s->cpu_weight, err);
        if (r < 0)
                return r;
        r = get_weight(res, "ioWeight", "spec.resources.ioWeight", &s->io_weight, err);
        if (r < 0)
                return r;
        r = get_bytes(res, "memoryHigh", "spec.resources.memoryHigh", &s->memory_high_bytes, err);
        if (r < 0)
                return r;
        if (s->memory_high_bytes > 0 && s->memory_high_bytes < SPEC_MEMORY_MIN)
                return berth_error_set(err, -ERANGE, "spec.resources.memoryHigh", "must be at least 4Mi");
        r = get_bytes(res, "swap", "spec.resources.swap", &s->swap_bytes, err);
        if (r < 0)
                return r;
        if (s->swap_bytes > 0 && s->memory_bytes == 0)
                return berth_error_set(err, -EINVAL, "spec.resources.swap", "needs spec.resources.memory");
        return 0;
}

static json_t *strv_to_json(char **l)
{
        json_t *a = json_array();

        for (char **p = l; a && p && *p; p++)
                if (json_array_append_new(a, json_string(*p)) < 0) {
                        json_decref(a);
                        return NULL;
                }
        return a;
}

static json_t *duration_to_json(usec_t u)
{
        char b[32];

        if (u % USEC_PER_SEC == 0)
                snprintf(b, sizeof(b), "%" PRIu64 "s", u / USEC_PER_SEC);
        else
                snprintf(b, sizeof(b), "%" PRIu64 "ms", u / USEC_PER_MSEC);
        return json_string(b);
}

int spec_harden_to_json(const Spec *s, json_t *spec, json_t *res)
{
        char b[32];

        if (s->cpu_weight && json_object_set_new(res, "cpuWeight", json_integer((json_int_t)s->cpu_weight)) < 0)
                return -ENOMEM;
        if (s->io_weight && json_object_set_new(res, "ioWeight", json_integer((json_int_t)s->io_weight)) < 0)
                return -ENOMEM;
        if (s->memory_high_bytes &&
            json_object_set_new(res, "memoryHigh",
                                json_string(format_memory_quantity(b, sizeof(b), s->memory_high_bytes))) < 0)
                return -ENOMEM;
        if (s->swap_bytes &&
            json_object_set_new(res, "swap", json_string(format_memory_quantity(b, sizeof(b), s->swap_bytes))) < 0)
                return -ENOMEM;

        /* Emitted only when it differs from the defaults, so documents
         * stored before spec.security existed stay byte for byte the same. */
        if (s->security.seccomp == SECCOMP_MODE_DEFAULT && !s->security.user_namespace && !s->security.cap_add &&
            !s->security.cap_drop)
                goto health;
        json_t *sec = json_pack("{s:s, s:b}", "seccomp", seccomp_mode_to_string(s->security.seccomp),
                                "userNamespace", (int)s->security.user_namespace);
        if (!sec)
                return -ENOMEM;
        if (s->security.cap_add || s->security.cap_drop) {
                json_t *caps = json_object();
                if (!caps || (s->security.cap_add && json_object_set_new(caps, "add", strv_to_json(s->security.cap_add)) < 0) ||
                    (s->security.cap_drop && json_object_set_new(caps, "drop", strv_to_json(s->security.cap_drop)) < 0) ||
                    json_object_set_new(sec, "capabilities", caps) < 0) {
                        json_decref(sec);
                        return -ENOMEM;
                }
        }
        if (json_object_set_new(spec, "security", sec) < 0)
                return -ENOMEM;
health:
        if (s->health.kind != HEALTH_CHECK_NONE) {
                json_t *hc = json_pack("{s:o, s:o, s:i}", "interval", duration_to_json(s->health.interval),
                                       "timeout", duration_to_json(s->health.timeout), "retries",
                                       (int)s->health.retries);
                if (!hc)
                        return -ENOMEM;
                if (s->health.kind == HEALTH_CHECK_EXEC)
                        json_object_set_new(hc, "exec", strv_to_json(s->health.exec));
                else
                        json_object_set_new(hc, "tcp", json_integer(s->health.tcp_port));
                if (json_object_set_new(spec, "healthCheck", hc) < 0)
                        return -ENOMEM;
        }
        return 0;
}

static int strv_dup(char **src, char ***ret)
{
        size_t n = 0;

        *ret = NULL;
        if (!src)
                return 0;
        while (src[n])
                n++;
        return strv_copy_n(src, n, ret);
}

int spec_harden_dup(const Spec *src, Spec *dst)
{
        dst->security = src->security;
        dst->health = src->health;
        dst->security.cap_add = dst->security.cap_drop = NULL;
        dst->health.exec = NULL;
        dst->cpu_weight = src->cpu_weight;
        dst->memory_high_bytes = src->memory_high_bytes;
        dst->swap_bytes = src->swap_bytes;
        dst->io_weight = src->io_weight;
        if (strv_dup(src->security.cap_add, &dst->security.cap_add) < 0 ||
            strv_dup(src->security.cap_drop, &dst->security.cap_drop) < 0 ||
            strv_dup(src->health.exec, &dst->health.exec) < 0)
                return -ENOMEM;
        return 0;
}

void spec_harden_free(Spec *s)
{
        strv_free(s->security.cap_add);
        strv_free(s->security.cap_drop);
        strv_free(s->health.exec);
        s->security.cap_add = s->security.cap_drop = s->health.exec = NULL;
}
