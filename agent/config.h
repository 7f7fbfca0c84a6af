/* SPDX-License-Identifier: Apache-2.0 */
/* berthd configuration: YAML file (strict: unknown keys are errors naming the
 * key) plus command-line overrides. Every key and its default is documented in
 * docs/CONFIG.md and deploy/berthd.yaml. */
#pragma once

#include "agent/config-sched.h"
#include "lib/error.h"
#include "lib/util.h"

#define CONFIG_DEFAULT_PATH "/etc/berth/berthd.yaml"
#define CONFIG_DEFAULT_ROOT "/var/lib/berth"
#define CONFIG_DEFAULT_RUN_DIR "/run/berth"
#define CONFIG_DEFAULT_SOCKET_NAME "berthd.sock"
#define CONFIG_DEFAULT_SOCKET_GROUP "berth"
#define CONFIG_DEFAULT_CGROUP_ROOT "/sys/fs/cgroup"
#define CONFIG_DEFAULT_CGROUP_PARENT "berth"
#define CONFIG_DEFAULT_STOP_TIMEOUT (10 * USEC_PER_SEC)
#define CONFIG_DEFAULT_LOG_MAX_BYTES (UINT64_C(16) << 20)
#define CONFIG_DEFAULT_BACKOFF_INITIAL (1 * USEC_PER_SEC)
#define CONFIG_DEFAULT_BACKOFF_MAX (300 * USEC_PER_SEC)
#define CONFIG_FILE_MAX (64 * 1024)
#define CONFIG_DEFAULT_CLUSTER_PREFIX "/berth"
#define CONFIG_DEFAULT_CLUSTER_LEASE_TTL (10 * USEC_PER_SEC)
#define CONFIG_DEFAULT_CLUSTER_INTERVAL (10 * USEC_PER_SEC)
#define CONFIG_CLUSTER_ENDPOINTS_MAX 16
#define CONFIG_DEFAULT_GRPC_SOCKET_NAME "grpc.sock"
#define CONFIG_DEFAULT_GRPC_MAX_MESSAGE (UINT64_C(4) << 20)
#define CONFIG_DEFAULT_GRPC_KEEPALIVE (30 * USEC_PER_SEC)
#define CONFIG_DEFAULT_RATE_LIMIT 200 /* requests/s per TCP client (docs/SECURITY.md) */
#define CONFIG_DEFAULT_RATE_BURST 400

typedef struct Config {
        char *root;             /* root */
        char *run_dir;          /* runDir */
        int log_level;          /* logLevel, syslog level */
        char *shim;             /* shim; NULL = look it up (config_find_shim) */
        char *api_socket;       /* api.socket; NULL until config_finish(): <runDir>/berthd.sock */
        char *api_socket_group; /* api.socketGroup */
        char *cgroup_root;      /* cgroup.root */
        char *cgroup_parent;    /* cgroup.parent */
        usec_t stop_timeout;    /* workloads.stopTimeout */
        uint64_t log_max_bytes; /* workloads.logMaxBytes */
        usec_t backoff_initial; /* workloads.restartBackoff.initial */
        usec_t backoff_max;     /* workloads.restartBackoff.max */
        char *net_bridge;       /* network.bridge; NULL = "berth0" (drivers/net/net.h) */
        char *net_cidr;         /* network.cidr; NULL = "10.88.0.0/16" */
        char *vm_guest_dir;     /* vm.guestDir: guest kernel tree (deploy/fetch-guest-kernel.sh); NULL = /var/lib/berth/guest */
        char *vm_accelerator;   /* vm.accelerator: auto|kvm|tcg; NULL = auto */
        char *vm_user;          /* vm.user: QEMU runs as this user; NULL = root (no drop) */
        char *vm_backend;       /* vm.backend: microvm|libvirt, the default of spec.vm.backend; NULL = microvm */
        char *vm_libvirt_uri;   /* vm.libvirtUri: NULL = qemu:///embed?root=<root>/lv/<id>, one per VM */
        /* cluster: (agent/cluster*.c, docs/CLUSTER.md). No cluster section: standalone. */
        bool cluster_section;         /* a cluster: mapping was present */
        char **cluster_endpoints;     /* cluster.endpoints: URLs (NULL-terminated); NULL = standalone */
        char *cluster_prefix;         /* cluster.prefix, default /berth */
        char *cluster_node;           /* cluster.node; NULL until config_finish(): the host name */
        usec_t cluster_lease_ttl;     /* cluster.leaseTTL */
        usec_t cluster_interval;      /* cluster.interval */
        char *cluster_labels;         /* cluster.labels: "k=v,k2=v2" published in the registration */
        char *cluster_tls_ca;         /* cluster.tls.ca */
        char *cluster_tls_cert;       /* cluster.tls.cert */
        char *cluster_tls_key;        /* cluster.tls.key */
        /* gRPC and TCP listeners (api/grpc-*.c, api/tls-*.c, docs/GRPC.md, docs/SECURITY.md). */
        char *grpc_socket;            /* grpc.socket; NULL until config_finish(): <runDir>/grpc.sock */
        char *grpc_tcp;               /* grpc.tcp "HOST:PORT"; NULL = no TCP listener */
        char *api_tcp;                /* api.tcp "HOST:PORT": HTTP/JSON over mutual TLS; NULL = none */
        uint64_t grpc_max_message;    /* grpc.maxMessage bytes */
        usec_t grpc_keepalive;        /* grpc.keepalive ping interval */
        char *tls_cert;               /* tls.cert (PEM) for every TCP listener */
        char *tls_key;                /* tls.key */
        char *tls_ca;                 /* tls.ca: client certificates must chain to it */
        char *tls_roles_control_plane; /* tls.roles.controlPlane: subjects separated by ';' */
        char *tls_roles_operator;     /* tls.roles.operator */
        char *tls_roles_reader;       /* tls.roles.reader */
        uint64_t rate_limit;          /* limits.rate: requests/s per TCP client, 0 = off */
        uint64_t rate_burst;          /* limits.burst */
        /* scheduler: (agent/config-sched.c, docs/SCHEDULER.md): the raw strings, and
         * what config_finish() parsed from them. */
        char *sched_str[_CONFIG_SCHED_KEY_MAX];
        ConfigSched sched;
} Config;

/* Fills *c with the built-in defaults. */
int config_init(Config *c);
void config_done(Config *c);
static inline void config_donep(Config *c)
{
        config_done(c);
}

/* Parses a YAML document into *c (which holds defaults or earlier values).
 * Errors name the key path in err->field ("workloads.stopTimeout"). */
int config_parse(Config *c, const char *buf, size_t len, BerthError *err);
/* Reads and parses a file. missing_ok: a missing file leaves *c unchanged and returns 0. */
int config_load_file(Config *c, const char *path, bool missing_ok, BerthError *err);
/* Computes derived defaults (api.socket from runDir) and checks consistency. */
int config_finish(Config *c, BerthError *err);

/* "1m30s", "500ms", "10s", "5m", "1h", "250us"; a bare integer means seconds. */
int config_parse_duration(const char *s, usec_t *ret);
/* "16Mi", "1G", "4096" (bytes), suffixes k M G T (1000^n) and Ki Mi Gi Ti (1024^n). */
int config_parse_size(const char *s, uint64_t *ret);
/* "debug", "info", "notice", "warning", "error" or 0..7. */
int config_parse_log_level(const char *s, int *ret);
const char *config_log_level_to_string(int level);

/* Where berth-shim is: the configured path, else next to /proc/self/exe, else libexecdir.
 * libexecdir is passed in so the function does not depend on the generated header. */
int config_find_shim(const Config *c, const char *libexecdir, char **ret);
