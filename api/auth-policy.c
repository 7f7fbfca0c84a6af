/* SPDX-License-Identifier: Apache-2.0 */
/* Roles, caller identity and per-client rate limits (api/auth.h). */
#include <sys/socket.h>

#include "api/auth.h"
#include "lib/spec.h"

static const char *const role_names[_API_ROLE_MAX] = {
        [API_ROLE_NONE] = "none",
        [API_ROLE_READER] = "reader",
        [API_ROLE_OPERATOR] = "operator",
        [API_ROLE_CONTROL_PLANE] = "control-plane",
};

const char *api_role_to_string(ApiRole r)
{
        return r >= 0 && r < _API_ROLE_MAX ? role_names[r] : NULL;
}

ApiRole api_role_from_string(const char *s)
{
        for (ApiRole r = API_ROLE_READER; r < _API_ROLE_MAX; r++)
                if (s && streq(s, role_names[r]))
                        return r;
        return _API_ROLE_INVALID;
}

/* "CN=x" out of "CN=x,O=y" (RFC 2253 order puts CN first or anywhere). */
static bool subject_cn(const char *subject, char *buf, size_t size)
{
        const char *p = subject;

        while (p && *p) {
                if (strncmp(p, "CN=", 3) == 0) {
                        size_t n = strcspn(p, ",");
                        if (n >= size)
                                return false;
                        memcpy(buf, p, n);
                        buf[n] = 0;
                        return true;
                }
                p = strchr(p, ',');
                if (p)
                        p++;
        }
        return false;
}

ApiRole api_role_for_subject(const ApiRoleMapping *m, size_t n, const char *subject)
{
        char cn[API_CALLER_ID_MAX];

        if (!subject)
                return API_ROLE_NONE;
        for (size_t i = 0; i < n; i++)
                if (streq(m[i].subject, subject))
                        return m[i].role;
        if (!subject_cn(subject, cn, sizeof(cn)))
                return API_ROLE_NONE;
        for (size_t i = 0; i < n; i++)
                if (streq(m[i].subject, cn))
                        return m[i].role;
        return API_ROLE_NONE;
}

int api_caller_check(const ApiCaller *caller, ApiAccess access, const char *what, BerthError *err)
{
        ApiRole need = access == API_ACCESS_READ ? API_ROLE_READER : API_ROLE_OPERATOR;

        if (!caller)
                return 0;
        if (!caller->authenticated)
                return berth_error_set(err, -ENOKEY, NULL, "a client certificate is required");
        if (caller->role < need)
                return berth_error_set(err, -EACCES, NULL, "role %s may not %s",
                                       strempty(api_role_to_string(caller->role)), what);
        return 0;
}

bool api_caller_may_use_host(const ApiCaller *caller)
{
        return !caller || caller->role >= API_ROLE_CONTROL_PLANE;
}

int api_caller_from_peercred(int fd, ApiCaller *ret)
{
        struct ucred uc;
        socklen_t l = sizeof(uc);

        *ret = (ApiCaller){ .role = API_ROLE_CONTROL_PLANE, .authenticated = true };
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &l) < 0) {
                snprintf(ret->id, sizeof(ret->id), "unix:unknown");
                return -errno;
        }
        snprintf(ret->id, sizeof(ret->id), "uid=%u gid=%u pid=%d", (unsigned)uc.uid, (unsigned)uc.gid, (int)uc.pid);
        return 0;
}

int api_rate_limiter_init(ApiRateLimiter *l, double rate, double burst)
{
        *l = (ApiRateLimiter){ .rate = rate, .burst = burst > 0 ? burst : rate };
        if (rate <= 0)
                return 0;
        l->buckets = calloc(API_RATE_CLIENTS_MAX, sizeof(ApiRateBucket));
        if (!l->buckets)
                return -ENOMEM;
        return 0;
}

void api_rate_limiter_done(ApiRateLimiter *l)
{
        free(l->buckets);
        l->buckets = NULL;
        l->n_buckets = 0;
}

bool api_rate_limiter_take(ApiRateLimiter *l, const char *key, usec_t now)
{
        ApiRateBucket *b = NULL, *oldest = NULL;

        if (l->rate <= 0 || !l->buckets)
                return true;
        for (size_t i = 0; i < l->n_buckets; i++) {
                if (streq(l->buckets[i].key, key)) {
                        b = &l->buckets[i];
                        break;
                }
                if (!oldest || l->buckets[i].last < oldest->last)
                        oldest = &l->buckets[i];
        }
        if (!b) {
                b = l->n_buckets < API_RATE_CLIENTS_MAX ? &l->buckets[l->n_buckets++] : oldest;
                snprintf(b->key, sizeof(b->key), "%s", key);
                b->tokens = l->burst;
                b->last = now;
        }
        if (now > b->last) {
                b->tokens += (double)(now - b->last) * l->rate / (double)USEC_PER_SEC;
                if (b->tokens > l->burst)
                        b->tokens = l->burst;
                b->last = now;
        }
        if (b->tokens < 1.0)
                return false;
        b->tokens -= 1.0;
        return true;
}

const char *api_spec_needs_host(const Spec *spec)
{
        if (spec->network == NETWORK_HOST)
                return "network.mode host";
        return NULL;
}

static int mappings_add(ApiRoleMapping **m, size_t *n, const char *list, ApiRole role)
{
        _cleanup_free_ char *copy = NULL;
        char *save = NULL;

        if (!list)
                return 0;
        copy = strdup(list);
        if (!copy)
                return -ENOMEM;
        for (char *t = strtok_r(copy, ";", &save); t; t = strtok_r(NULL, ";", &save)) {
                ApiRoleMapping *nm;
                size_t l;

                t += strspn(t, " \t");
                l = strlen(t);
                while (l > 0 && (t[l - 1] == ' ' || t[l - 1] == '\t'))
                        t[--l] = 0;
                if (l == 0)
                        continue;
                if (*n >= API_ROLES_MAX || l >= API_CALLER_ID_MAX)
                        return -E2BIG;
                nm = reallocarray(*m, *n + 1, sizeof(**m));
                if (!nm)
                        return -ENOMEM;
                *m = nm;
                nm[*n] = (ApiRoleMapping){ .subject = strdup(t), .role = role };
                if (!nm[*n].subject)
                        return -ENOMEM;
                (*n)++;
        }
        return 0;
}

int api_role_mappings_parse(const char *control_plane, const char *operator_, const char *reader,
                            ApiRoleMapping **ret, size_t *ret_n)
{
        ApiRoleMapping *m = NULL;
        size_t n = 0;
        int r;

        if ((r = mappings_add(&m, &n, control_plane, API_ROLE_CONTROL_PLANE)) < 0 ||
            (r = mappings_add(&m, &n, operator_, API_ROLE_OPERATOR)) < 0 ||
            (r = mappings_add(&m, &n, reader, API_ROLE_READER)) < 0) {
                api_role_mappings_free(m, n);
                return r;
        }
        *ret = m;
        *ret_n = n;
        return 0;
}

void api_role_mappings_free(ApiRoleMapping *m, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(m[i].subject);
        free(m);
}
