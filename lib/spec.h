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
        _NETWORK_MODE_MAX,
        _NETWORK_MODE_INVALID = -EINVAL,
} NetworkMode;

typedef struct KeyValue {
        char *key;
        char *value;
} KeyValue;

typedef struct Spec {
        /* metadata */
        char *name;              /* DNS label, 1..63 */
        KeyValue *labels;        /* sorted by key, unique */
        size_t n_labels;

        /* spec */
        Isolation isolation;     /* default container */
        char *rootfs;            /* absolute, normalised, no ".." ; required in this slice */
        char **command;          /* NULL-terminated argv, n_command >= 1 */
        size_t n_command;
        KeyValue *env;           /* in document order, keys unique, valid env names */
        size_t n_env;
        char *working_dir;       /* absolute; default "/" */
        uint64_t cpu_millis;     /* 0 = unlimited */
        uint64_t memory_bytes;   /* 0 = unlimited */
        uint64_t pids;           /* 0 = unlimited */
        RestartPolicy restart_policy; /* default Never */
        NetworkMode network;     /* default none */
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

const char *isolation_to_string(Isolation i);
Isolation isolation_from_string(const char *s);
const char *restart_policy_to_string(RestartPolicy p);
RestartPolicy restart_policy_from_string(const char *s);
const char *network_mode_to_string(NetworkMode m);
NetworkMode network_mode_from_string(const char *s);

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

/* True for a DNS label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, 1..63 characters. */
bool spec_name_is_valid(const char *name);
