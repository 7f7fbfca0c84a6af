/* SPDX-License-Identifier: Apache-2.0 */
/* The workload spec: one schema, read from YAML (berthctl apply -f) and JSON
 * (the API). A pure module: no I/O beyond the buffers it is given.
 *
 * Both encodings go through one validator: YAML is first converted into a
 * jansson tree by a strict reader (no anchors, aliases, merge keys, tags or
 * duplicate keys), then spec_from_json() validates every field and names the
 * field path in its error. See docs/SPEC.md for the schema and the limits. */
#pragma once

#include <jansson.h>

#include "lib/error.h"
#include "lib/util.h"

/* Documented caps (docs/SPEC.md). */
#define SPEC_BODY_MAX (1024 * 1024)    /* bytes of one YAML or JSON document */
#define SPEC_NAME_MAX 63               /* DNS label */
#define SPEC_STRING_MAX 4096           /* any single string, incl. paths and args */
#define SPEC_ARGS_MAX 1024             /* command entries */
#define SPEC_ENV_MAX 1024              /* env entries */
#define SPEC_LABELS_MAX 64             /* labels */
#define SPEC_LABEL_KEY_MAX 253
#define SPEC_LABEL_VALUE_MAX 63
#define SPEC_DEPTH_MAX 32              /* nesting depth of a document */
#define SPEC_MEMORY_MAX (UINT64_C(1) << 50)  /* 1 PiB */
#define SPEC_MEMORY_MIN (UINT64_C(4) << 20)  /* 4 MiB: below this nothing starts */
#define SPEC_CPU_MILLIS_MAX (UINT64_C(4096) * 1000)
#define SPEC_PIDS_MAX UINT64_C(4194304)
#define SPEC_PRIORITY_MIN (-1000000)
#define SPEC_PRIORITY_MAX 1000000

typedef enum Isolation {
        ISOLATION_CONTAINER,
        ISOLATION_VM,
        _ISOLATION_MAX,
        _ISOLATION_INVALID = -EINVAL,
} Isolation;

typedef enum RestartPolicy {
        RESTART_NEVER,
        RESTART_ON_FAILURE,
        RESTART_ALWAYS,
        _RESTART_POLICY_MAX,
        _RESTART_POLICY_INVALID = -EINVAL,
} RestartPolicy;

typedef enum NetworkMode {
        NETWORK_NONE, /* own netns with loopback up (default in this slice) */
        NETWORK_HOST, /* share the host's netns: an explicit privilege */
        NETWORK_BRIDGE, /* own netns, veth on the berth bridge (drivers/net, docs/NETWORK.md) */
        _NETWORK_MODE_MAX,
        _NETWORK_MODE_INVALID = -EINVAL,
} NetworkMode;

typedef struct KeyValue {
        char *key;
        char *value;
} KeyValue;

/* spec.network.ports entry "hostPort:containerPort[/tcp|udp]" (lib/spec-net.c). */
#define SPEC_PORTS_MAX 64
typedef struct SpecPort {
        uint16_t host_port;
        uint16_t container_port;
        int protocol;            /* IPPROTO_TCP or IPPROTO_UDP */
} SpecPort;

/* spec.security, spec.healthCheck and the extra resources (lib/spec-harden.c). */
typedef enum SeccompMode {
        SECCOMP_MODE_DEFAULT,    /* berth's default profile */
        SECCOMP_MODE_UNCONFINED, /* explicit opt-out */
        _SECCOMP_MODE_MAX,
        _SECCOMP_MODE_INVALID = -EINVAL,
} SeccompMode;

typedef struct SpecSecurity {
        char **cap_add;          /* NULL-terminated canonical names ("NET_ADMIN", "ALL"), or NULL */
        char **cap_drop;
        SeccompMode seccomp;     /* default SECCOMP_MODE_DEFAULT */
        bool user_namespace;     /* map container root to an unprivileged host range */
} SpecSecurity;

typedef enum HealthCheckKind {
        HEALTH_CHECK_NONE,
        HEALTH_CHECK_EXEC,
        HEALTH_CHECK_TCP,
        _HEALTH_CHECK_KIND_MAX,
        _HEALTH_CHECK_KIND_INVALID = -EINVAL,
} HealthCheckKind;

typedef struct SpecHealthCheck {
        HealthCheckKind kind;
        char **exec;             /* NULL-terminated argv for HEALTH_CHECK_EXEC */
        uint16_t tcp_port;       /* HEALTH_CHECK_TCP: port on the workload's loopback */
        usec_t interval;         /* default 10s */
        usec_t timeout;          /* default 5s */
        unsigned retries;        /* consecutive failures before unhealthy; default 3 */
} SpecHealthCheck;

#define SPEC_CAPS_MAX 64
#define SPEC_DURATION_MAX (24 * 3600 * USEC_PER_SEC)
#define SPEC_HEALTH_RETRIES_MAX 100
#define SPEC_WEIGHT_MAX 10000

/* spec.vm (lib/spec-vm.c, docs/VM.md): only read when isolation is vm. */
#define SPEC_VM_VCPUS_MAX 255
typedef struct SpecVm {
        uint64_t vcpus;          /* 0 = default (1) */
        uint64_t memory_bytes;   /* 0 = resources.memory, else 256Mi */
        char *kernel;            /* absolute path; NULL = the configured guest kernel */
        char *initrd;            /* absolute path; NULL = the built berth initramfs */
        char *disk;              /* absolute path of a raw/qcow2 root disk instead of rootfs; NULL = export rootfs */
        char *backend;           /* "microvm" | "libvirt"; NULL = config default */
        char *accelerator;       /* "auto" | "kvm" | "tcg"; NULL = config default */
} SpecVm;

typedef struct Spec {
        /* metadata */
        char *name;              /* DNS label, 1..63 */
        KeyValue *labels;        /* sorted by key, unique */
        size_t n_labels;

        /* spec */
        Isolation isolation;     /* default container */
        char *rootfs;            /* absolute, normalised, no ".." ; exactly one of rootfs and image.
                                  * With an image the agent sets it to the snapshot's mount point
                                  * at run time; it is then not part of the stored document. */
        char *image;             /* spec.image: an image in berth's store (docs/IMAGES.md), or NULL */
        bool working_dir_default;/* workingDir was not given: the image's WorkingDir may apply */
        char **command;          /* NULL-terminated argv, n_command >= 1 */
        size_t n_command;
        KeyValue *env;           /* in document order, keys unique, valid env names */
        size_t n_env;
        char *working_dir;       /* absolute; default "/" */
        uint64_t cpu_millis;     /* 0 = unlimited */
        uint64_t memory_bytes;   /* 0 = unlimited */
        uint64_t pids;           /* 0 = unlimited */
        RestartPolicy restart_policy; /* default Never */
        NetworkMode network;     /* default none; see network_default */
        bool network_default;    /* mode was not given: the agent picks bridge when available, else none */
        SpecPort *ports;         /* spec.network.ports (bridge mode only) */
        size_t n_ports;
        SpecSecurity security;   /* spec.security (lib/spec-harden.c) */
        SpecHealthCheck health;  /* spec.healthCheck */
        uint64_t cpu_weight;     /* spec.resources.cpuWeight 1..10000; 0 = unset */
        uint64_t memory_high_bytes; /* spec.resources.memoryHigh; 0 = unset */
        uint64_t swap_bytes;     /* spec.resources.swap on top of memory; 0 = none */
        uint64_t io_weight;      /* spec.resources.ioWeight 1..10000; 0 = unset */
        /* lib/spec-sched.c: the scheduler's view (docs/SCHEDULER.md). cpu_millis and
         * memory_bytes above are the limits; the requests default to them. */
        uint64_t cpu_request_millis;   /* spec.resources.requests.cpu */
        uint64_t memory_request_bytes; /* spec.resources.requests.memory */
        int32_t priority;              /* spec.priority, SPEC_PRIORITY_MIN..MAX, default 0 */
        SpecVm vm;               /* spec.vm, all optional (lib/spec-vm.c) */
} Spec;

/* Parses a JSON document (API body). Rejects duplicate keys, NUL bytes,
 * invalid UTF-8, bodies over SPEC_BODY_MAX (-E2BIG). */
int spec_parse_json(const char *buf, size_t len, Spec **ret, BerthError *err);

/* Parses a YAML document (berthctl apply -f). Exactly one document. */
int spec_parse_yaml(const char *buf, size_t len, Spec **ret, BerthError *err);

/* Strict YAML -> JSON tree (core schema scalars: null, bool, int, float, str;
 * quoted scalars are always strings). Used by spec_parse_yaml and by
 * berthctl to send YAML files as JSON. */
int spec_yaml_to_json(const char *buf, size_t len, json_t **ret, BerthError *err);

/* Validates a parsed JSON tree into a Spec. The tree is not modified. */
int spec_from_json(const json_t *root, Spec **ret, BerthError *err);

/* Canonical full document {apiVersion, kind, metadata, spec}; all defaults
 * made explicit, quantities in canonical spelling ("500m", "128Mi"), pids as
 * an integer, unlimited resources omitted. Round-trips through
 * spec_from_json(). Returns NULL on ENOMEM. */
json_t *spec_to_json(const Spec *spec);

Spec *spec_free(Spec *spec);
DEFINE_TRIVIAL_CLEANUP_FUNC(Spec *, spec_free);
Spec *spec_dup(const Spec *spec);

/* spec.vm (lib/spec-vm.c): validates the "vm" member of spec (absent is
 * fine), emits it back (omitted when empty), frees and copies it. */
int spec_vm_from_json(const json_t *spec, SpecVm *ret, BerthError *err);
int spec_vm_to_json(const SpecVm *vm, json_t *spec);
void spec_vm_done(SpecVm *vm);
int spec_vm_copy(const SpecVm *src, SpecVm *dst);

const char *isolation_to_string(Isolation i);
Isolation isolation_from_string(const char *s);
const char *restart_policy_to_string(RestartPolicy p);
RestartPolicy restart_policy_from_string(const char *s);
const char *network_mode_to_string(NetworkMode m);
NetworkMode network_mode_from_string(const char *s);

/* spec.network (lib/spec-net.c, docs/NETWORK.md). from_json validates the
 * "network" member of spec (absent is fine: mode none, network_default set);
 * to_json fills the network object; copy and done handle the port list. */
int spec_network_from_json(const json_t *net, Spec *s, BerthError *err);
int spec_network_to_json(const Spec *s, json_t *net);
int spec_network_copy(const Spec *src, Spec *dst);
void spec_network_done(Spec *s);
/* "8080:80/tcp", "53:53/udp", "8080:80" (tcp). -EINVAL if malformed or a port is 0. */
int spec_port_parse(const char *s, SpecPort *ret);
char *spec_port_format(const SpecPort *p, char *buf, size_t size);

/* Quantities (lib/quantity.c). Memory: integer bytes, or a decimal number
 * with suffix k M G T P E (powers of 1000) or Ki Mi Gi Ti Pi Ei (powers of
 * 1024); the result must be a whole number of bytes. CPU: "500m", "2",
 * "0.25" -> millicores (at most 3 decimals). Overflow is -ERANGE; a
 * fraction of a byte or of a millicore is -EDOM; anything else that is not a
 * quantity is -EINVAL. */
int parse_memory_quantity(const char *s, uint64_t *ret);
int parse_cpu_quantity(const char *s, uint64_t *ret_millis);
/* Formats bytes with the largest exact binary suffix ("128Mi", "1536Ki", "100"). */
char *format_memory_quantity(char *buf, size_t size, uint64_t bytes);
/* Formats millicores as "500m" or "2". */
char *format_cpu_quantity(char *buf, size_t size, uint64_t millis);

/* Capability names without the CAP_ prefix, upper case ("NET_ADMIN");
 * "CAP_net_admin" is accepted too. -EINVAL for an unknown name. */
int capability_from_name(const char *name);
const char *capability_to_name(int cap);
int capability_last(void);
const char *seccomp_mode_to_string(SeccompMode m);
/* "500ms", "10s", "2m", "1h" or a bare integer of seconds. */
int parse_duration(const char *s, usec_t *ret);

/* True for a DNS label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, 1..63 characters. */
bool spec_name_is_valid(const char *name);
