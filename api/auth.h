/* SPDX-License-Identifier: Apache-2.0 */
/* Who is calling and what they may do (docs/SECURITY.md). Shared by the
 * HTTP and gRPC adapters so that both enforce one policy:
 *   - unix sockets: access is the socket's file mode (root + group berth);
 *     the caller is named by SO_PEERCRED and gets the control-plane role;
 *   - TCP: mutual TLS; the client certificate's subject maps to a role.
 * Per-client token-bucket rate limits live here too. */
#pragma once

#include <sys/types.h>

#include "lib/error.h"
#include "lib/util.h"

typedef enum ApiRole {
        API_ROLE_NONE,          /* authenticated but mapped to nothing: may do nothing */
        API_ROLE_READER,        /* get, list, logs, events, node, metrics */
        API_ROLE_OPERATOR,      /* everything except host-level privileges */
        API_ROLE_CONTROL_PLANE, /* everything */
        _API_ROLE_MAX,
        _API_ROLE_INVALID = -EINVAL,
} ApiRole;

/* What an operation needs. */
typedef enum ApiAccess {
        API_ACCESS_READ,  /* reader and up */
        API_ACCESS_WRITE, /* operator and up; host privileges are checked in the core on create */
        _API_ACCESS_MAX,
} ApiAccess;

#define API_CALLER_ID_MAX 320
#define API_ROLES_MAX 256
#define API_RATE_CLIENTS_MAX 1024
/* Default per-client limit on TCP listeners: 200 requests/s sustained, bursts of 400. */
#define API_RATE_DEFAULT 200
#define API_RATE_BURST_DEFAULT 400

typedef struct ApiCaller {
        char id[API_CALLER_ID_MAX]; /* "uid=0 gid=0 pid=123" or "cert:CN=ops,O=example" */
        ApiRole role;
        bool authenticated;         /* false: TCP without a (valid) client certificate */
} ApiCaller;

typedef struct ApiRoleMapping {
        char *subject; /* RFC 2253 subject ("CN=cp,O=example") or "CN=cp" */
        ApiRole role;
} ApiRoleMapping;

typedef struct ApiRateBucket {
        char key[API_CALLER_ID_MAX];
        double tokens;
        usec_t last;
} ApiRateBucket;

typedef struct ApiRateLimiter {
        double rate;  /* tokens per second; 0 = unlimited */
        double burst;
        ApiRateBucket *buckets; /* fixed table, least recently used slot is recycled */
        size_t n_buckets;
} ApiRateLimiter;

const char *api_role_to_string(ApiRole r);
ApiRole api_role_from_string(const char *s);

/* The role of a certificate subject: exact match on the full subject first,
 * then on its CN alone ("CN=ops"). API_ROLE_NONE when unmapped. */
ApiRole api_role_for_subject(const ApiRoleMapping *m, size_t n, const char *subject);

/* 0, or -EACCES with err naming the role, when `caller` may not do `access`. */
int api_caller_check(const ApiCaller *caller, ApiAccess access, const char *what, BerthError *err);
/* May the caller use host-level privileges (network host, privileged, host paths)? */
bool api_caller_may_use_host(const ApiCaller *caller);

/* Fills a caller from SO_PEERCRED of a unix socket connection. */
int api_caller_from_peercred(int fd, ApiCaller *ret);

int api_rate_limiter_init(ApiRateLimiter *l, double rate, double burst);
void api_rate_limiter_done(ApiRateLimiter *l);
/* true when `key` may make one more request now. */
bool api_rate_limiter_take(ApiRateLimiter *l, const char *key, usec_t now);

typedef struct Spec Spec;
/* NULL, or a word naming the host-level privilege the spec asks for
 * ("network.mode host"): what the operator role may not use. */
const char *api_spec_needs_host(const Spec *spec);

/* Builds the subject -> role table from ';'-separated subject lists (config
 * keys tls.roles.controlPlane/operator/reader). */
int api_role_mappings_parse(const char *control_plane, const char *operator_, const char *reader,
                            ApiRoleMapping **ret, size_t *ret_n);
void api_role_mappings_free(ApiRoleMapping *m, size_t n);
