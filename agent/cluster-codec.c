/* SPDX-License-Identifier: Apache-2.0 */
/* Pure helpers of the cluster store: keys, values, the published-key table,
 * txn bodies and backoff. See docs/CLUSTER.md for the formats. */
#include <ctype.h>
#include <inttypes.h>

#include "agent/cluster-codec.h"

/* ---- keys ---- */

static char *key_join(const char *a, const char *b, const char *c, const char *d)
{
        char *s;

        if (asprintf(&s, "%s%s%s%s", a, b, strempty(c), strempty(d)) < 0)
                return NULL;
        if (strlen(s) > CLUSTER_KEY_MAX) {
                free(s);
                errno = ENAMETOOLONG;
                return NULL;
        }
        return s;
}

char *cluster_key_node(const char *prefix, const char *node)
{
        return key_join(prefix, "/nodes/", node, NULL);
}

char *cluster_key_status(const char *prefix, const char *node, const char *name)
{
        _cleanup_free_ char *p = key_join(prefix, "/status/", node, "/");
        return p ? key_join(p, name, NULL, NULL) : NULL;
}

char *cluster_key_status_prefix(const char *prefix, const char *node)
{
        return key_join(prefix, "/status/", node, "/");
}

char *cluster_key_metrics(const char *prefix, const char *node)
{
        return key_join(prefix, "/metrics/", node, NULL);
}

char *cluster_key_assignments(const char *prefix, const char *node)
{
        return key_join(prefix, "/assignments/", node, "/");
}

char *cluster_key_range_end(const char *key)
{
        size_t l = strlen(key);
        char *e = strdup(key);

        if (!e)
                return NULL;
        /* Increment the last byte that is not 0xff, drop what follows. */
        while (l > 0) {
                if ((unsigned char)e[l - 1] != 0xff) {
                        e[l - 1]++;
                        e[l] = 0;
                        return e;
                }
                l--;
        }
        /* All 0xff: the range end is "\0", meaning "to the end". */
        e[0] = 0;
        return e;
}

const char *cluster_key_assignment_name(const char *assignments_prefix, const char *key)
{
        size_t l = strlen(assignments_prefix);

        if (strncmp(key, assignments_prefix, l) != 0)
                return NULL;
        key += l;
        if (!*key || strchr(key, '/'))
                return NULL;
        return key;
}

bool cluster_node_name_is_valid(const char *s)
{
        size_t l;

        if (!s)
                return false;
        l = strlen(s);
        if (l == 0 || l > 253 || streq(s, ".") || streq(s, ".."))
                return false;
        for (const char *p = s; *p; p++)
                if (!isalnum((unsigned char)*p) && !strchr("._-", *p))
                        return false;
        return true;
}

bool cluster_prefix_is_valid(const char *s)
{
        size_t l;

        if (!s || s[0] != '/')
                return false;
        l = strlen(s);
        if (l < 2 || l > 128 || s[l - 1] == '/' || strstr(s, "//"))
                return false;
        for (const char *p = s; *p; p++)
                if (!isalnum((unsigned char)*p) && !strchr("._-/", *p))
                        return false;
        return true;
}

/* ---- base64 ---- */

static const char b64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *cluster_base64_encode(const void *data, size_t len)
{
        const unsigned char *in = data;
        char *out, *o;

        if (len > (SIZE_MAX - 1) / 4 * 3 - 3)
                return NULL;
        out = malloc((len + 2) / 3 * 4 + 1);
        if (!out)
                return NULL;
        o = out;
        for (size_t i = 0; i < len; i += 3) {
                uint32_t v = (uint32_t)in[i] << 16;
                size_t rem = len - i;

                if (rem > 1)
                        v |= (uint32_t)in[i + 1] << 8;
                if (rem > 2)
                        v |= in[i + 2];
                *o++ = b64_alphabet[(v >> 18) & 63];
                *o++ = b64_alphabet[(v >> 12) & 63];
                *o++ = rem > 1 ? b64_alphabet[(v >> 6) & 63] : '=';
                *o++ = rem > 2 ? b64_alphabet[v & 63] : '=';
        }
        *o = 0;
        return out;
}

static int b64_value(char c)
{
        const char *p = c ? strchr(b64_alphabet, c) : NULL;
        return p ? (int)(p - b64_alphabet) : -1;
}

int cluster_base64_decode(const char *s, char **ret, size_t *ret_len)
{
        size_t l = strlen(s), n = 0;
        _cleanup_free_ char *out = NULL;

        if (l % 4 != 0)
                return -EINVAL;
        out = malloc(l / 4 * 3 + 1);
        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < l; i += 4) {
                int a = b64_value(s[i]), b = b64_value(s[i + 1]), c, d;
                bool last = i + 4 == l;

                if (a < 0 || b < 0)
                        return -EINVAL;
                c = s[i + 2] == '=' && last ? -2 : b64_value(s[i + 2]);
                d = s[i + 3] == '=' && last ? -2 : b64_value(s[i + 3]);
                if (c == -1 || d == -1 || (c == -2 && d != -2))
                        return -EINVAL;
                out[n++] = (char)((a << 2) | (b >> 4));
                if (c >= 0)
                        out[n++] = (char)(((b & 15) << 4) | (c >> 2));
                if (d >= 0)
                        out[n++] = (char)(((c & 3) << 6) | d);
        }
        out[n] = 0;
        *ret = TAKE_PTR(out);
        if (ret_len)
                *ret_len = n;
        return 0;
}

int cluster_json_int64(const json_t *obj, const char *field, int64_t *ret)
{
        const json_t *v = obj ? json_object_get(obj, field) : NULL;

        *ret = 0;
        if (!v || json_is_null(v))
                return 0;
        if (json_is_integer(v)) {
                *ret = json_integer_value(v);
                return 0;
        }
        if (json_is_string(v)) {
                const char *s = json_string_value(v);
                char *end;

                errno = 0;
                long long x = strtoll(s, &end, 10);
                if (errno || end == s || *end)
                        return -EINVAL;
                *ret = x;
                return 0;
        }
        return -EINVAL;
}

/* ---- values ---- */

static char *dump_limited(json_t *o, size_t max)
{
        char *s;

        if (!o)
                return NULL;
        s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(o);
        if (s && strlen(s) > max) {
                free(s);
                errno = EMSGSIZE;
                return NULL;
        }
        return s;
}

/* Cuts s to at most max bytes on a UTF-8 boundary. */
static json_t *string_cut(const char *s, size_t max)
{
        size_t l = strlen(s);

        if (l > max) {
                l = max;
                while (l > 0 && ((unsigned char)s[l] & 0xc0) == 0x80)
                        l--;
        }
        return json_stringn(s, l);
}

char *cluster_status_encode(const WorkloadStatus *s, int64_t assigned_rev)
{
        json_t *o = json_object();

        if (!o)
                return NULL;
        json_object_set_new(o, "state", json_string(workload_state_to_string(s->state)));
        if (s->state == WORKLOAD_EXITED) {
                json_object_set_new(o, "exitCode", json_integer(s->exit_code));
                if (s->term_signal)
                        json_object_set_new(o, "signal", json_integer(s->term_signal));
        }
        if (s->oom_killed)
                json_object_set_new(o, "oomKilled", json_true());
        json_object_set_new(o, "restarts", json_integer(s->restart_count));
        if (s->started_at)
                json_object_set_new(o, "startedAt",
                                    json_integer((json_int_t)(s->started_at / USEC_PER_SEC)));
        if (s->finished_at)
                json_object_set_new(o, "finishedAt",
                                    json_integer((json_int_t)(s->finished_at / USEC_PER_SEC)));
        if (s->reason)
                json_object_set_new(o, "reason", string_cut(s->reason, 32));
        if (s->message)
                json_object_set_new(o, "message", string_cut(s->message, CLUSTER_MESSAGE_MAX));
        if (assigned_rev > 0)
                json_object_set_new(o, "rev", json_integer(assigned_rev));
        return dump_limited(o, CLUSTER_STATUS_VALUE_MAX);
}

char *cluster_status_encode_rejected(const char *reason, const char *message, int64_t assigned_rev)
{
        json_t *o = json_object();

        if (!o)
                return NULL;
        json_object_set_new(o, "state", json_string("rejected"));
        json_object_set_new(o, "reason", string_cut(strempty(reason), 32));
        json_object_set_new(o, "message", string_cut(strempty(message), CLUSTER_MESSAGE_MAX));
        if (assigned_rev > 0)
                json_object_set_new(o, "rev", json_integer(assigned_rev));
        return dump_limited(o, CLUSTER_STATUS_VALUE_MAX);
}

static json_t *labels_to_json(const char *labels)
{
        json_t *o = json_object();
        _cleanup_free_ char *copy = labels ? strdup(labels) : NULL;
        char *save = NULL;

        if (!o || (labels && !copy))
                return o;
        for (char *t = copy ? strtok_r(copy, ",", &save) : NULL; t; t = strtok_r(NULL, ",", &save)) {
                char *eq = strchr(t, '=');
                if (!eq)
                        continue;
                *eq = 0;
                json_object_set_new(o, t, json_string(eq + 1));
        }
        return o;
}

char *cluster_node_encode(const ClusterNodeInfo *info)
{
        const ApiNode *n = info->node;
        json_t *o = json_object(), *cap, *alloc, *api;

        if (!o)
                return NULL;
        json_object_set_new(o, "version", json_string(strempty(n->version)));
        json_object_set_new(o, "kernel", json_string(strempty(n->kernel)));
        json_object_set_new(o, "cgroup", json_integer(n->cgroup_version));
        /* cpu in millicores, memory in bytes. With the scheduler's ledger its
         * capacity and allocatable (after reservations); without it
         * allocatable equals capacity (docs/CLUSTER.md). */
        cap = json_pack("{s:I,s:I}", "cpu", (json_int_t)n->cpus * 1000, "memory",
                        (json_int_t)n->memory_total_bytes);
        alloc = json_deep_copy(cap);
        if (n->has_scheduler)
                for (size_t i = 0; i < n->n_resources; i++) {
                        const ApiNodeResource *res = &n->resources[i];
                        if (!res->name)
                                continue;
                        json_object_set_new(cap, res->name, json_integer((json_int_t)res->capacity));
                        json_object_set_new(alloc, res->name, json_integer((json_int_t)res->allocatable));
                }
        json_object_set_new(o, "capacity", cap);
        json_object_set_new(o, "allocatable", alloc);
        json_object_set_new(o, "labels", labels_to_json(info->labels));
        api = json_array();
        if (api && info->api)
                json_array_append_new(api, json_string(info->api));
        json_object_set_new(o, "api", api);
        json_object_set_new(o, "startedAt", json_integer((json_int_t)(n->started_at / USEC_PER_SEC)));
        return dump_limited(o, CLUSTER_NODE_VALUE_MAX);
}

char *cluster_metrics_encode(const ClusterMetrics *m)
{
        json_t *o = json_object(), *w = json_object();
        char load[32];

        if (!o || !w) {
                json_decref(o);
                json_decref(w);
                return NULL;
        }
        json_object_set_new(o, "t", json_integer((json_int_t)(m->time / USEC_PER_SEC)));
        for (int s = 0; s < _WORKLOAD_STATE_MAX; s++)
                if (m->workloads[s])
                        json_object_set_new(w, workload_state_to_string(s), json_integer(m->workloads[s]));
        if (m->rejected)
                json_object_set_new(w, "rejected", json_integer(m->rejected));
        json_object_set_new(o, "workloads", w);
        snprintf(load, sizeof(load), "%.2f", m->load1);
        json_object_set_new(o, "load1", json_real(strtod(load, NULL)));
        json_object_set_new(o, "memAvailMi", json_integer((json_int_t)(m->memory_available_bytes >> 20)));
        return dump_limited(o, CLUSTER_STATUS_VALUE_MAX);
}

/* ---- table ---- */

static void entry_done(ClusterEntry *e)
{
        free(e->key);
        free(e->value);
        free(e->want);
        *e = (ClusterEntry){};
}

void cluster_table_done(ClusterTable *t)
{
        for (size_t i = 0; i < t->n; i++)
                entry_done(&t->entries[i]);
        free(t->entries);
        *t = (ClusterTable){};
}

ClusterEntry *cluster_table_find(ClusterTable *t, const char *key)
{
        for (size_t i = 0; i < t->n; i++)
                if (streq(t->entries[i].key, key))
                        return &t->entries[i];
        return NULL;
}

static ClusterEntry *table_add(ClusterTable *t, const char *key)
{
        ClusterEntry *e;

        if (t->n >= CLUSTER_ENTRIES_MAX) {
                errno = ENOSPC;
                return NULL;
        }
        if (t->n == t->cap) {
                size_t nc = t->cap ? t->cap * 2 : 16;
                ClusterEntry *ne = reallocarray(t->entries, nc, sizeof(*ne));
                if (!ne)
                        return NULL;
                t->entries = ne;
                t->cap = nc;
        }
        e = &t->entries[t->n];
        *e = (ClusterEntry){.key = strdup(key)};
        if (!e->key)
                return NULL;
        t->n++;
        return e;
}

void cluster_table_begin(ClusterTable *t)
{
        for (size_t i = 0; i < t->n; i++)
                t->entries[i].wanted = false;
}

int cluster_table_want(ClusterTable *t, const char *key, const char *value)
{
        ClusterEntry *e = cluster_table_find(t, key);
        char *v;

        if (!e) {
                e = table_add(t, key);
                if (!e)
                        return -errno;
        }
        e->wanted = true;
        if (e->want && streq(e->want, value))
                return 0;
        v = strdup(value);
        if (!v)
                return -ENOMEM;
        free(e->want);
        e->want = v;
        return 0;
}

void cluster_table_keep(ClusterTable *t, const char *key)
{
        ClusterEntry *e = cluster_table_find(t, key);

        if (e && e->want)
                e->wanted = true;
}

static bool entry_pending(const ClusterEntry *e)
{
        if (e->wanted)
                return !e->value || !e->want || !streq(e->value, e->want);
        return e->mod_rev != 0;
}

size_t cluster_table_pending(const ClusterTable *t, size_t *idx, size_t max)
{
        size_t n = 0;

        for (size_t i = 0; i < t->n && n < max; i++)
                if (entry_pending(&t->entries[i]))
                        idx[n++] = i;
        return n;
}

bool cluster_table_dirty(const ClusterTable *t)
{
        for (size_t i = 0; i < t->n; i++)
                if (entry_pending(&t->entries[i]))
                        return true;
        return false;
}

void cluster_table_commit(ClusterTable *t, const size_t *idx, size_t n, int64_t rev)
{
        for (size_t k = 0; k < n; k++) {
                ClusterEntry *e = &t->entries[idx[k]];

                if (e->wanted) {
                        free(e->value);
                        e->value = strdup_or_null(e->want);
                        e->mod_rev = rev;
                } else {
                        free(e->value);
                        e->value = NULL;
                        e->mod_rev = 0;
                }
        }
        /* Drop deleted entries that are not wanted any more (compacting the array). */
        size_t w = 0;
        for (size_t i = 0; i < t->n; i++) {
                ClusterEntry *e = &t->entries[i];
                if (!e->wanted && e->mod_rev == 0) {
                        entry_done(e);
                        continue;
                }
                t->entries[w++] = *e;
        }
        t->n = w;
}

void cluster_table_forget(ClusterTable *t)
{
        for (size_t i = 0; i < t->n; i++) {
                free(t->entries[i].value);
                t->entries[i].value = NULL;
                t->entries[i].mod_rev = 0;
        }
}

int cluster_table_learn(ClusterTable *t, const char *key, int64_t mod_rev)
{
        ClusterEntry *e = cluster_table_find(t, key);

        if (!e) {
                e = table_add(t, key);
                if (!e)
                        return -errno;
        }
        e->mod_rev = mod_rev;
        free(e->value);
        e->value = NULL;
        return 0;
}

/* ---- txn ---- */

static json_t *b64_json(const char *s)
{
        char *e = cluster_base64_encode(s, strlen(s));
        json_t *j = e ? json_string(e) : NULL;
        free(e);
        return j;
}

static json_t *int64_json(int64_t v)
{
        char buf[32];
        snprintf(buf, sizeof(buf), "%" PRId64, v);
        return json_string(buf);
}

char *cluster_txn_build(const ClusterTable *t, const size_t *idx, size_t n, int64_t lease,
                        const char *fence_key)
{
        json_t *root = json_object(), *cmp = json_array(), *ops = json_array();
        char *s;

        if (!root || !cmp || !ops)
                goto fail;
        json_object_set_new(root, "compare", cmp);
        json_object_set_new(root, "success", ops);
        if (fence_key) {
                const ClusterEntry *fe = cluster_table_find((ClusterTable *)t, fence_key);
                int64_t rev = fe ? fe->mod_rev : 0;
                bool fence_in_txn = false;

                for (size_t k = 0; k < n; k++)
                        if (streq(t->entries[idx[k]].key, fence_key))
                                fence_in_txn = true;
                if (!fence_in_txn)
                        json_array_append_new(cmp, json_pack("{s:o,s:s,s:s,s:o}", "key", b64_json(fence_key),
                                                             "target", "MOD", "result", "EQUAL",
                                                             "mod_revision", int64_json(rev)));
                /* The lease is compared once we wrote the key ourselves; a key
                 * learned from a range (a previous incarnation's lease) is
                 * guarded by its mod_revision alone. */
                if (rev != 0 && fe->value)
                        json_array_append_new(cmp, json_pack("{s:o,s:s,s:s,s:o}", "key", b64_json(fence_key),
                                                             "target", "LEASE", "result", "EQUAL", "lease",
                                                             int64_json(lease)));
        }
        for (size_t k = 0; k < n; k++) {
                const ClusterEntry *e = &t->entries[idx[k]];

                json_array_append_new(cmp, json_pack("{s:o,s:s,s:s,s:o}", "key", b64_json(e->key), "target",
                                                     "MOD", "result", "EQUAL", "mod_revision",
                                                     int64_json(e->mod_rev)));
                if (e->wanted)
                        json_array_append_new(ops, json_pack("{s:{s:o,s:o,s:o}}", "request_put", "key",
                                                             b64_json(e->key), "value", b64_json(e->want),
                                                             "lease", int64_json(lease)));
                else
                        json_array_append_new(
                            ops, json_pack("{s:{s:o}}", "request_delete_range", "key", b64_json(e->key)));
        }
        s = json_dumps(root, JSON_COMPACT);
        json_decref(root);
        return s;
fail:
        json_decref(root);
        json_decref(cmp);
        json_decref(ops);
        return NULL;
}

/* ---- backoff ---- */

usec_t cluster_backoff_delay(unsigned step, usec_t initial, usec_t max, double rnd)
{
        usec_t d = initial;

        for (unsigned i = 0; i < step && d < max; i++)
                d = d > max / 2 ? max : d * 2;
        if (d > max)
                d = max;
        if (rnd < 0)
                rnd = 0;
        if (rnd >= 1)
                rnd = 0.999999;
        return d / 2 + (usec_t)((double)(d / 2) * rnd);
}
