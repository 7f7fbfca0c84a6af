/* SPDX-License-Identifier: Apache-2.0 */
/* berthd configuration. The file is read with libyaml's document API and
 * checked against one key table, so a key is either known (and typed) or an
 * error naming it. spec_yaml_to_json() is not reused here: the config must be
 * readable before (and independently of) the spec module, and it needs only
 * string scalars and mappings. */
#include <ctype.h>
#include <fcntl.h>
#include <limits.h>
#include <syslog.h>
#include <yaml.h>

#include "agent/config.h"

typedef enum KeyType {
        KEY_MAP,
        KEY_STRING,
        KEY_PATH,     /* absolute path */
        KEY_PATH_OPT, /* absolute path, or null for "use the default" */
        KEY_NAME,     /* non-empty string without '/' */
        KEY_DURATION,
        KEY_SIZE,
        KEY_LOG_LEVEL,
        KEY_URL_LIST, /* a sequence of http(s) URLs, or one scalar of comma-separated URLs */
} KeyType;

typedef struct ConfigKey {
        const char *path;
        KeyType type;
        size_t offset;
} ConfigKey;

#define FIELD(f) offsetof(Config, f)

static const ConfigKey config_keys[] = {
        { "root", KEY_PATH, FIELD(root) },
        { "runDir", KEY_PATH, FIELD(run_dir) },
        { "logLevel", KEY_LOG_LEVEL, FIELD(log_level) },
        { "shim", KEY_PATH_OPT, FIELD(shim) },
        { "api", KEY_MAP, 0 },
        { "api.socket", KEY_PATH_OPT, FIELD(api_socket) },
        { "api.socketGroup", KEY_STRING, FIELD(api_socket_group) },
        { "cgroup", KEY_MAP, 0 },
        { "cgroup.root", KEY_PATH, FIELD(cgroup_root) },
        { "cgroup.parent", KEY_NAME, FIELD(cgroup_parent) },
        { "workloads", KEY_MAP, 0 },
        { "workloads.stopTimeout", KEY_DURATION, FIELD(stop_timeout) },
        { "workloads.logMaxBytes", KEY_SIZE, FIELD(log_max_bytes) },
        { "workloads.restartBackoff", KEY_MAP, 0 },
        { "workloads.restartBackoff.initial", KEY_DURATION, FIELD(backoff_initial) },
        { "workloads.restartBackoff.max", KEY_DURATION, FIELD(backoff_max) },
        { "network", KEY_MAP, 0 },
        { "network.bridge", KEY_NAME, FIELD(net_bridge) },
        { "network.cidr", KEY_STRING, FIELD(net_cidr) },
        { "vm", KEY_MAP, 0 },
        { "vm.guestDir", KEY_PATH_OPT, FIELD(vm_guest_dir) },
        { "vm.accelerator", KEY_STRING, FIELD(vm_accelerator) },
        { "vm.user", KEY_STRING, FIELD(vm_user) },
        { "vm.backend", KEY_STRING, FIELD(vm_backend) },
        { "vm.libvirtUri", KEY_STRING, FIELD(vm_libvirt_uri) },
        { "cluster", KEY_MAP, 0 },
        { "cluster.endpoints", KEY_URL_LIST, FIELD(cluster_endpoints) },
        { "cluster.prefix", KEY_STRING, FIELD(cluster_prefix) },
        { "cluster.node", KEY_STRING, FIELD(cluster_node) },
        { "cluster.leaseTTL", KEY_DURATION, FIELD(cluster_lease_ttl) },
        { "cluster.interval", KEY_DURATION, FIELD(cluster_interval) },
        { "cluster.labels", KEY_STRING, FIELD(cluster_labels) },
        { "cluster.tls", KEY_MAP, 0 },
        { "cluster.tls.ca", KEY_PATH, FIELD(cluster_tls_ca) },
        { "cluster.tls.cert", KEY_PATH, FIELD(cluster_tls_cert) },
        { "cluster.tls.key", KEY_PATH, FIELD(cluster_tls_key) },
        { "grpc", KEY_MAP, 0 },
        { "grpc.socket", KEY_PATH_OPT, FIELD(grpc_socket) },
        { "grpc.tcp", KEY_STRING, FIELD(grpc_tcp) },
        { "api.tcp", KEY_STRING, FIELD(api_tcp) },
        { "grpc.maxMessage", KEY_SIZE, FIELD(grpc_max_message) },
        { "grpc.keepalive", KEY_DURATION, FIELD(grpc_keepalive) },
        { "tls", KEY_MAP, 0 },
        { "tls.cert", KEY_PATH, FIELD(tls_cert) },
        { "tls.key", KEY_PATH, FIELD(tls_key) },
        { "tls.ca", KEY_PATH, FIELD(tls_ca) },
        { "tls.roles", KEY_MAP, 0 },
        { "tls.roles.controlPlane", KEY_STRING, FIELD(tls_roles_control_plane) },
        { "tls.roles.operator", KEY_STRING, FIELD(tls_roles_operator) },
        { "tls.roles.reader", KEY_STRING, FIELD(tls_roles_reader) },
        { "limits", KEY_MAP, 0 },
        { "limits.rate", KEY_SIZE, FIELD(rate_limit) },
        { "limits.burst", KEY_SIZE, FIELD(rate_burst) },
        { "scheduler", KEY_MAP, 0 },
        { "scheduler.reserved", KEY_MAP, 0 },
        { "scheduler.reserved.system", KEY_MAP, 0 },
        { "scheduler.reserved.system.cpu", KEY_STRING, FIELD(sched_str[CONFIG_SCHED_SYSTEM_CPU]) },
        { "scheduler.reserved.system.memory", KEY_STRING, FIELD(sched_str[CONFIG_SCHED_SYSTEM_MEMORY]) },
        { "scheduler.reserved.berth", KEY_MAP, 0 },
        { "scheduler.reserved.berth.cpu", KEY_STRING, FIELD(sched_str[CONFIG_SCHED_BERTH_CPU]) },
        { "scheduler.reserved.berth.memory", KEY_STRING, FIELD(sched_str[CONFIG_SCHED_BERTH_MEMORY]) },
        { "scheduler.overcommit", KEY_MAP, 0 },
        { "scheduler.overcommit.cpu", KEY_MAP, 0 },
        { "scheduler.overcommit.cpu.guaranteed", KEY_STRING, FIELD(sched_str[CONFIG_SCHED_OC_CPU_GUARANTEED]) },
        { "scheduler.overcommit.cpu.burstable", KEY_STRING, FIELD(sched_str[CONFIG_SCHED_OC_CPU_BURSTABLE]) },
        { "scheduler.overcommit.cpu.bestEffort", KEY_STRING, FIELD(sched_str[CONFIG_SCHED_OC_CPU_BEST_EFFORT]) },
        { "scheduler.overcommit.memory", KEY_MAP, 0 },
        { "scheduler.overcommit.memory.guaranteed", KEY_STRING, FIELD(sched_str[CONFIG_SCHED_OC_MEMORY_GUARANTEED]) },
        { "scheduler.overcommit.memory.burstable", KEY_STRING, FIELD(sched_str[CONFIG_SCHED_OC_MEMORY_BURSTABLE]) },
        { "scheduler.overcommit.memory.bestEffort", KEY_STRING, FIELD(sched_str[CONFIG_SCHED_OC_MEMORY_BEST_EFFORT]) },
        { "scheduler.vmOverhead", KEY_MAP, 0 },
        { "scheduler.vmOverhead.memory", KEY_STRING, FIELD(sched_str[CONFIG_SCHED_VM_MEMORY]) },
        { "scheduler.vmOverhead.cpu", KEY_STRING, FIELD(sched_str[CONFIG_SCHED_VM_CPU]) },
        { "scheduler.cpuManager", KEY_MAP, 0 },
        { "scheduler.cpuManager.siblings", KEY_STRING, FIELD(sched_str[CONFIG_SCHED_SIBLINGS]) },
        { "scheduler.cpuManager.sharedPoolMinCpus", KEY_STRING, FIELD(sched_str[CONFIG_SCHED_POOL_MIN]) },
        { "scheduler.eviction", KEY_MAP, 0 },
        { "scheduler.eviction.psiHigh", KEY_STRING, FIELD(sched_str[CONFIG_SCHED_PSI_HIGH]) },
        { "scheduler.eviction.psiLow", KEY_STRING, FIELD(sched_str[CONFIG_SCHED_PSI_LOW]) },
        { "scheduler.eviction.availableLow", KEY_STRING, FIELD(sched_str[CONFIG_SCHED_AVAILABLE_LOW]) },
        { "scheduler.eviction.availableHigh", KEY_STRING, FIELD(sched_str[CONFIG_SCHED_AVAILABLE_HIGH]) },
        { "scheduler.eviction.interval", KEY_STRING, FIELD(sched_str[CONFIG_SCHED_EVICT_INTERVAL]) },
        { "scheduler.topologyRoot", KEY_STRING, FIELD(sched_str[CONFIG_SCHED_TOPOLOGY_ROOT]) },
};

static int set_str(char **p, const char *v)
{
        char *n = NULL;

        if (v) {
                n = strdup(v);
                if (!n)
                        return -ENOMEM;
        }
        free(*p);
        *p = n;
        return 0;
}

int config_init(Config *c)
{
        *c = (Config){
                .log_level = LOG_INFO,
                .stop_timeout = CONFIG_DEFAULT_STOP_TIMEOUT,
                .log_max_bytes = CONFIG_DEFAULT_LOG_MAX_BYTES,
                .backoff_initial = CONFIG_DEFAULT_BACKOFF_INITIAL,
                .backoff_max = CONFIG_DEFAULT_BACKOFF_MAX,
                .cluster_lease_ttl = CONFIG_DEFAULT_CLUSTER_LEASE_TTL,
                .cluster_interval = CONFIG_DEFAULT_CLUSTER_INTERVAL,
                .grpc_max_message = CONFIG_DEFAULT_GRPC_MAX_MESSAGE,
                .grpc_keepalive = CONFIG_DEFAULT_GRPC_KEEPALIVE,
                .rate_limit = CONFIG_DEFAULT_RATE_LIMIT,
                .rate_burst = CONFIG_DEFAULT_RATE_BURST,
        };
        if (set_str(&c->root, CONFIG_DEFAULT_ROOT) < 0 || set_str(&c->run_dir, CONFIG_DEFAULT_RUN_DIR) < 0 ||
            set_str(&c->api_socket_group, CONFIG_DEFAULT_SOCKET_GROUP) < 0 ||
            set_str(&c->cgroup_root, CONFIG_DEFAULT_CGROUP_ROOT) < 0 ||
            set_str(&c->cgroup_parent, CONFIG_DEFAULT_CGROUP_PARENT) < 0 ||
            set_str(&c->cluster_prefix, CONFIG_DEFAULT_CLUSTER_PREFIX) < 0) {
                config_done(c);
                return -ENOMEM;
        }
        return 0;
}

void config_done(Config *c)
{
        for (size_t i = 0; i < _CONFIG_SCHED_KEY_MAX; i++)
                free(c->sched_str[i]);
        free(c->root);
        free(c->run_dir);
        free(c->shim);
        free(c->api_socket);
        free(c->api_socket_group);
        free(c->cgroup_root);
        free(c->cgroup_parent);
        free(c->net_bridge);
        free(c->net_cidr);
        free(c->vm_guest_dir);
        free(c->vm_accelerator);
        free(c->vm_user);
        free(c->vm_backend);
        free(c->vm_libvirt_uri);
        strv_free(c->cluster_endpoints);
        free(c->cluster_prefix);
        free(c->cluster_node);
        free(c->cluster_labels);
        free(c->cluster_tls_ca);
        free(c->cluster_tls_cert);
        free(c->cluster_tls_key);
        free(c->grpc_socket);
        free(c->grpc_tcp);
        free(c->api_tcp);
        free(c->tls_cert);
        free(c->tls_key);
        free(c->tls_ca);
        free(c->tls_roles_control_plane);
        free(c->tls_roles_operator);
        free(c->tls_roles_reader);
        *c = (Config){};
}

int config_parse_duration(const char *s, usec_t *ret)
{
        static const struct {
                const char *suffix;
                usec_t mult;
        } units[] = {
                { "us", 1 }, { "ms", USEC_PER_MSEC }, { "s", USEC_PER_SEC },
                { "m", 60 * USEC_PER_SEC }, { "h", 3600 * USEC_PER_SEC },
        };
        usec_t total = 0;
        const char *p = s;

        if (!s || !*s)
                return -EINVAL;
        /* A bare integer is seconds. */
        if (strspn(s, "0123456789") == strlen(s)) {
                errno = 0;
                unsigned long long v = strtoull(s, NULL, 10);
                if (errno || v > UINT64_MAX / USEC_PER_SEC)
                        return -ERANGE;
                *ret = (usec_t)v * USEC_PER_SEC;
                return 0;
        }
        while (*p) {
                unsigned long long v;
                char *end;
                size_t best = 0;
                usec_t mult = 0;

                if (!isdigit((unsigned char)*p))
                        return -EINVAL;
                errno = 0;
                v = strtoull(p, &end, 10);
                if (errno)
                        return -ERANGE;
                for (size_t i = 0; i < ELEMENTSOF(units); i++) {
                        size_t l = strlen(units[i].suffix);
                        if (strncmp(end, units[i].suffix, l) == 0 && l > best &&
                            !(l == 1 && end[0] == 'm' && end[1] == 's')) {
                                best = l;
                                mult = units[i].mult;
                        }
                }
                if (best == 0)
                        return -EINVAL;
                if (v > (UINT64_MAX - total) / mult)
                        return -ERANGE;
                total += (usec_t)v * mult;
                p = end + best;
        }
        *ret = total;
        return 0;
}

int config_parse_size(const char *s, uint64_t *ret)
{
        static const struct {
                const char *suffix;
                uint64_t mult;
        } units[] = {
                { "", 1 },
                { "k", UINT64_C(1000) }, { "M", UINT64_C(1000000) }, { "G", UINT64_C(1000000000) },
                { "T", UINT64_C(1000000000000) },
                { "Ki", UINT64_C(1) << 10 }, { "Mi", UINT64_C(1) << 20 }, { "Gi", UINT64_C(1) << 30 },
                { "Ti", UINT64_C(1) << 40 },
        };
        unsigned long long v;
        char *end;

        if (!s || !isdigit((unsigned char)*s))
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno)
                return -ERANGE;
        for (size_t i = 0; i < ELEMENTSOF(units); i++)
                if (streq(end, units[i].suffix)) {
                        if (v > UINT64_MAX / units[i].mult)
                                return -ERANGE;
                        *ret = (uint64_t)v * units[i].mult;
                        return 0;
                }
        return -EINVAL;
}

static const char *const level_names[] = {
        [LOG_EMERG] = "emerg", [LOG_ALERT] = "alert",     [LOG_CRIT] = "crit", [LOG_ERR] = "error",
        [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice", [LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

int config_parse_log_level(const char *s, int *ret)
{
        if (!s)
                return -EINVAL;
        for (int i = 0; i < (int)ELEMENTSOF(level_names); i++)
                if (streq(s, level_names[i])) {
                        *ret = i;
                        return 0;
                }
        if (streq(s, "err")) {
                *ret = LOG_ERR;
                return 0;
        }
        if (streq(s, "warn")) {
                *ret = LOG_WARNING;
                return 0;
        }
        if (s[0] >= '0' && s[0] <= '7' && s[1] == 0) {
                *ret = s[0] - '0';
                return 0;
        }
        return -EINVAL;
}

const char *config_log_level_to_string(int level)
{
        return level >= 0 && level < (int)ELEMENTSOF(level_names) ? level_names[level] : "?";
}

static const ConfigKey *config_key_find(const char *path)
{
        for (size_t i = 0; i < ELEMENTSOF(config_keys); i++)
                if (streq(config_keys[i].path, path))
                        return &config_keys[i];
        return NULL;
}

static bool scalar_is_null(const yaml_node_t *n)
{
        const char *v = (const char *)n->data.scalar.value;

        if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
                return false;
        return streq(v, "") || streq(v, "~") || streq(v, "null") || streq(v, "Null") || streq(v, "NULL");
}

/* Appends one endpoint URL (cluster.endpoints) to a NULL-terminated list. */
static int url_list_add(char ***list, const char *v, const char *path, BerthError *err)
{
        size_t n = 0;
        char **nl;

        if (strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0)
                return berth_error_set(err, -EINVAL, path, "\"%s\" is not an http:// or https:// URL", v);
        if (strlen(v) > 1024)
                return berth_error_set(err, -EINVAL, path, "URL too long");
        while (*list && (*list)[n])
                n++;
        if (n >= CONFIG_CLUSTER_ENDPOINTS_MAX)
                return berth_error_set(err, -EINVAL, path, "at most %d endpoints", CONFIG_CLUSTER_ENDPOINTS_MAX);
        nl = reallocarray(*list, n + 2, sizeof(char *));
        if (!nl)
                return -ENOMEM;
        *list = nl;
        nl[n] = strdup(v);
        nl[n + 1] = NULL;
        return nl[n] ? 0 : -ENOMEM;
}

static int url_list_set_scalar(char ***list, const char *v, const char *path, BerthError *err)
{
        _cleanup_free_ char *copy = strdup(v);
        char *save = NULL;
        int r;

        if (!copy)
                return -ENOMEM;
        strv_free(*list);
        *list = NULL;
        for (char *t = strtok_r(copy, ", ", &save); t; t = strtok_r(NULL, ", ", &save))
                if ((r = url_list_add(list, t, path, err)) < 0)
                        return r;
        if (!*list)
                return berth_error_set(err, -EINVAL, path, "at least one endpoint is required");
        return 0;
}

static int config_set(Config *c, const ConfigKey *k, const yaml_node_t *n, BerthError *err)
{
        const char *v = (const char *)n->data.scalar.value;
        void *field = (char *)c + k->offset;
        bool null = scalar_is_null(n);
        int r;

        if (null && k->type != KEY_PATH_OPT)
                return berth_error_set(err, -EINVAL, k->path, "a value is required");
        switch (k->type) {
        case KEY_STRING:
                return set_str(field, v);
        case KEY_PATH_OPT:
                if (null)
                        return set_str(field, NULL);
                __attribute__((fallthrough));
        case KEY_PATH:
                if (v[0] != '/')
                        return berth_error_set(err, -EINVAL, k->path, "\"%s\" is not an absolute path", v);
                if (strlen(v) >= PATH_MAX)
                        return berth_error_set(err, -EINVAL, k->path, "path too long");
                return set_str(field, v);
        case KEY_NAME:
                if (!v[0] || strchr(v, '/') || streq(v, ".") || streq(v, ".."))
                        return berth_error_set(err, -EINVAL, k->path, "\"%s\" is not a valid name", v);
                return set_str(field, v);
        case KEY_DURATION:
                r = config_parse_duration(v, field);
                if (r < 0)
                        return berth_error_set(err, -EINVAL, k->path,
                                               "\"%s\" is not a duration (e.g. \"10s\", \"1m30s\", \"500ms\")", v);
                return 0;
        case KEY_SIZE:
                r = config_parse_size(v, field);
                if (r < 0)
                        return berth_error_set(err, -EINVAL, k->path, "\"%s\" is not a size (e.g. \"16Mi\")", v);
                return 0;
        case KEY_LOG_LEVEL:
                r = config_parse_log_level(v, field);
                if (r < 0)
                        return berth_error_set(err, -EINVAL, k->path,
                                               "\"%s\" is not a log level (debug, info, notice, warning, error)",
                                               v);
                return 0;
        case KEY_URL_LIST:
                return url_list_set_scalar(field, v, k->path, err);
        case KEY_MAP:
                break;
        }
        return berth_error_set(err, -EINVAL, k->path, "expected a mapping");
}

static int config_parse_mapping(Config *c, yaml_document_t *doc, yaml_node_t *map, const char *prefix,
                                BerthError *err)
{
        for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
                yaml_node_t *kn = yaml_document_get_node(doc, p->key);
                yaml_node_t *vn = yaml_document_get_node(doc, p->value);
                char path[256];
                const ConfigKey *k;
                int r;

                if (!kn || !vn || kn->type != YAML_SCALAR_NODE)
                        return berth_error_set(err, -EINVAL, prefix, "keys must be strings");
                snprintf(path, sizeof(path), "%s%s%s", prefix, prefix[0] ? "." : "",
                         (const char *)kn->data.scalar.value);

                /* Duplicate keys would make the file ambiguous. */
                for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
                        yaml_node_t *qn = yaml_document_get_node(doc, q->key);
                        if (qn && qn->type == YAML_SCALAR_NODE &&
                            streq((const char *)qn->data.scalar.value, (const char *)kn->data.scalar.value))
                                return berth_error_set(err, -EINVAL, path, "duplicate key");
                }

                k = config_key_find(path);
                if (!k)
                        return berth_error_set(err, -EINVAL, path, "unknown key \"%s\"", path);
                if (streq(path, "cluster"))
                        c->cluster_section = true;
                if (k->type == KEY_URL_LIST && vn->type == YAML_SEQUENCE_NODE) {
                        char ***list = (char ***)((char *)c + k->offset);

                        strv_free(*list);
                        *list = NULL;
                        r = 0;
                        for (yaml_node_item_t *it = vn->data.sequence.items.start;
                             r >= 0 && it < vn->data.sequence.items.top; it++) {
                                yaml_node_t *in = yaml_document_get_node(doc, *it);
                                if (!in || in->type != YAML_SCALAR_NODE)
                                        r = berth_error_set(err, -EINVAL, path, "expected a list of URLs");
                                else
                                        r = url_list_add(list, (const char *)in->data.scalar.value, path, err);
                        }
                        if (r >= 0 && !*list)
                                r = berth_error_set(err, -EINVAL, path, "at least one endpoint is required");
                } else if (k->type == KEY_MAP) {
                        if (vn->type == YAML_SCALAR_NODE && scalar_is_null(vn))
                                continue; /* "api:" with nothing below */
                        if (vn->type != YAML_MAPPING_NODE)
                                return berth_error_set(err, -EINVAL, path, "expected a mapping");
                        r = config_parse_mapping(c, doc, vn, path, err);
                } else {
                        if (vn->type != YAML_SCALAR_NODE)
                                return berth_error_set(err, -EINVAL, path, "expected a scalar value");
                        r = config_set(c, k, vn, err);
                }
                if (r < 0)
                        return r == -ENOMEM ? berth_error_set(err, r, path, "out of memory") : r;
        }
        return 0;
}

/* vm.backend and vm.libvirtUri (the libvirt backend, docs/VM.md) */
static int config_check_vm_backend(const Config *c, BerthError *err)
{
        if (c->vm_backend && !streq(c->vm_backend, "microvm") && !streq(c->vm_backend, "libvirt"))
                return berth_error_set(err, -EINVAL, "vm.backend", "\"%.64s\" is not microvm or libvirt", c->vm_backend);
        if (c->vm_libvirt_uri) {
                if (strncmp(c->vm_libvirt_uri, "qemu:", 5) != 0 || strlen(c->vm_libvirt_uri) > 1024)
                        return berth_error_set(err, -EINVAL, "vm.libvirtUri",
                                               "must be a libvirt QEMU URI (qemu:///system, qemu:///embed?root=DIR, ...) "
                                               "of at most 1024 bytes");
                for (const char *p = c->vm_libvirt_uri; *p; p++)
                        if ((unsigned char)*p < 0x20 || *p == 0x7f)
                                return berth_error_set(err, -EINVAL, "vm.libvirtUri", "holds a control character");
        }
        /* vm.user: a user name (unset: berth-qemu where it exists, drivers/vm/vm-user.c) */
        if (c->vm_user) {
                size_t n = strlen(c->vm_user);
                bool okname = n >= 1 && n <= 32 && c->vm_user[0] != '-' && c->vm_user[0] != '.';
                for (const char *p = c->vm_user; okname && *p; p++)
                        okname = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                                 *p == '_' || *p == '-' || *p == '.';
                if (!okname)
                        return berth_error_set(err, -EINVAL, "vm.user",
                                               "\"%.64s\" is not a user name (1-32 of A-Z a-z 0-9 _ - ., not "
                                               "starting with - or .)",
                                               c->vm_user);
        }
        return 0;
}

int config_parse(Config *c, const char *buf, size_t len, BerthError *err)
{
        yaml_parser_t parser;
        yaml_document_t doc;
        yaml_node_t *root;
        int r;

        if (len > CONFIG_FILE_MAX)
                return berth_error_set(err, -E2BIG, "", "configuration file larger than %d bytes", CONFIG_FILE_MAX);
        if (!yaml_parser_initialize(&parser))
                return berth_error_set(err, -ENOMEM, "", "out of memory");
        yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
        if (!yaml_parser_load(&parser, &doc)) {
                r = berth_error_set(err, -EINVAL, "", "YAML error at line %zu: %s",
                                    parser.problem_mark.line + 1, strempty(parser.problem));
                yaml_parser_delete(&parser);
                return r;
        }
        root = yaml_document_get_root_node(&doc);
        if (!root)
                r = 0; /* empty file: all defaults */
        else if (root->type == YAML_SCALAR_NODE && scalar_is_null(root))
                r = 0;
        else if (root->type != YAML_MAPPING_NODE)
                r = berth_error_set(err, -EINVAL, "", "the configuration must be a mapping");
        else
                r = config_parse_mapping(c, &doc, root, "", err);
        yaml_document_delete(&doc);
        yaml_parser_delete(&parser);
        if (r >= 0)
                r = config_check_vm_backend(c, err);
        return r;
}

int config_load_file(Config *c, const char *path, bool missing_ok, BerthError *err)
{
        _cleanup_free_ char *buf = NULL;
        size_t len;
        int r;

        r = read_file_at(AT_FDCWD, path, CONFIG_FILE_MAX, &buf, &len);
        if (r == -ENOENT && missing_ok)
                return 0;
        if (r < 0)
                return berth_error_set(err, r, "", "cannot read %s: %s", path, strerror(-r));
        return config_parse(c, buf, len, err);
}

/* cluster: endpoints are required once the section is there; the node name
 * defaults to the host name; the rest is checked here so berthd refuses a
 * bad cluster section at startup rather than at the first write. */
static int config_finish_cluster(Config *c, BerthError *err)
{
        const char *p = c->cluster_prefix;
        size_t l = strlen(p);

        if (!c->cluster_endpoints)
                return berth_error_set(err, -EINVAL, "cluster.endpoints",
                                       "required when the cluster section is present");
        if (p[0] != '/' || l < 2 || l > 128 || p[l - 1] == '/' || strstr(p, "//") ||
            strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/") != l)
                return berth_error_set(err, -EINVAL, "cluster.prefix",
                                       "\"%s\" is not a key prefix (\"/name\", no trailing slash)", p);
        if (!c->cluster_node) {
                char host[256] = {};
                if (gethostname(host, sizeof(host) - 1) < 0 || !host[0])
                        snprintf(host, sizeof(host), "localhost");
                if (set_str(&c->cluster_node, host) < 0)
                        return berth_error_set(err, -ENOMEM, "", "out of memory");
        }
        l = strlen(c->cluster_node);
        if (l == 0 || l > 253 || streq(c->cluster_node, ".") || streq(c->cluster_node, "..") ||
            strspn(c->cluster_node, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != l)
                return berth_error_set(err, -EINVAL, "cluster.node", "\"%s\" is not a valid node name",
                                       c->cluster_node);
        /* etcd refuses leases shorter than 1.5 election timeouts (~1.5 s by default). */
        if (c->cluster_lease_ttl < 2 * USEC_PER_SEC || c->cluster_lease_ttl > 3600 * USEC_PER_SEC)
                return berth_error_set(err, -EINVAL, "cluster.leaseTTL", "must be between 2s and 1h");
        if (c->cluster_interval < 100 * USEC_PER_MSEC || c->cluster_interval > 3600 * USEC_PER_SEC)
                return berth_error_set(err, -EINVAL, "cluster.interval", "must be between 100ms and 1h");
        if (!!c->cluster_tls_cert != !!c->cluster_tls_key)
                return berth_error_set(err, -EINVAL, c->cluster_tls_cert ? "cluster.tls.key" : "cluster.tls.cert",
                                       "cluster.tls.cert and cluster.tls.key go together");
        return 0;
}

int config_finish(Config *c, BerthError *err)
{
        int sr = config_sched_parse(c->sched_str, &c->sched, err);
        if (sr < 0)
                return sr;
        if (!c->grpc_socket && asprintf(&c->grpc_socket, "%s/%s", c->run_dir, CONFIG_DEFAULT_GRPC_SOCKET_NAME) < 0) {
                c->grpc_socket = NULL;
                return berth_error_set(err, -ENOMEM, "", "out of memory");
        }
        if ((c->grpc_tcp || c->api_tcp) && (!c->tls_cert || !c->tls_key || !c->tls_ca))
                return berth_error_set(err, -EINVAL, c->grpc_tcp ? "grpc.tcp" : "api.tcp",
                                       "a TCP listener requires tls.cert, tls.key and tls.ca (mutual TLS)");
        if (c->grpc_max_message < 1024 || c->grpc_max_message > (UINT64_C(64) << 20))
                return berth_error_set(err, -EINVAL, "grpc.maxMessage", "must be between 1Ki and 64Mi");
        if (c->grpc_keepalive < USEC_PER_SEC)
                return berth_error_set(err, -EINVAL, "grpc.keepalive", "must be at least 1s");
        if (!c->api_socket && asprintf(&c->api_socket, "%s/%s", c->run_dir, CONFIG_DEFAULT_SOCKET_NAME) < 0) {
                c->api_socket = NULL;
                return berth_error_set(err, -ENOMEM, "", "out of memory");
        }
        if (c->backoff_initial == 0)
                return berth_error_set(err, -EINVAL, "workloads.restartBackoff.initial", "must be positive");
        if (c->backoff_max < c->backoff_initial)
                return berth_error_set(err, -EINVAL, "workloads.restartBackoff.max",
                                       "must not be smaller than workloads.restartBackoff.initial");
        if (c->log_max_bytes < 2 * 4096)
                return berth_error_set(err, -EINVAL, "workloads.logMaxBytes", "must be at least 8Ki");
        if (c->cluster_section) {
                int r = config_finish_cluster(c, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

int config_find_shim(const Config *c, const char *libexecdir, char **ret)
{
        char self[PATH_MAX];
        ssize_t n;

        if (c->shim) {
                if (access(c->shim, X_OK) < 0)
                        return -errno;
                *ret = strdup(c->shim);
                return *ret ? 0 : -ENOMEM;
        }
        n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (n > 0) {
                _cleanup_free_ char *p = NULL;
                char *slash;

                self[n] = 0;
                slash = strrchr(self, '/');
                if (slash) {
                        *slash = 0;
                        if (asprintf(&p, "%s/berth-shim", self) < 0)
                                return -ENOMEM;
                        if (access(p, X_OK) >= 0) {
                                *ret = TAKE_PTR(p);
                                return 0;
                        }
                }
        }
        if (asprintf(ret, "%s/berth-shim", libexecdir) < 0)
                return -ENOMEM;
        if (access(*ret, X_OK) < 0) {
                int e = -errno;
                free(*ret);
                *ret = NULL;
                return e;
        }
        return 0;
}
