/* SPDX-License-Identifier: Apache-2.0 */
/* Pull from an OCI distribution registry with libcurl: bearer-token auth
 * (WWW-Authenticate challenge), manifest lists / OCI indexes resolved to
 * linux/amd64, every blob streamed through the verifying ingest, gzip and
 * zstd layers unpacked by the store. Blocking: run it in a worker process. */
#include <curl/curl.h>

#include "drivers/store/store-internal.h"

#define PULL_URL_MAX 2048
#define PULL_TOKEN_MAX (64 * 1024)
#define ACCEPT_MANIFESTS                                                                                    \
        "Accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, "     \
        "application/vnd.docker.distribution.manifest.list.v2+json, "                                       \
        "application/vnd.docker.distribution.manifest.v2+json"

typedef struct Pull {
        Store *s;
        const StorePullOptions *o;
        char scheme[8];
        char host[256];
        char repo[256];
        char ref[160];   /* tag or digest */
        char *token;     /* bearer token once obtained */
        char *challenge; /* WWW-Authenticate of the last 401 */
        BerthError *err;
} Pull;

typedef struct Buf {
        char *data;
        size_t len, max;
} Buf;

static void curl_easy_cleanupp(CURL **c)
{
        if (*c)
                curl_easy_cleanup(*c);
}
static void curl_slist_free_allp(struct curl_slist **l)
{
        if (*l)
                curl_slist_free_all(*l);
}

static size_t buf_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
        Buf *b = userdata;
        size_t n = size * nmemb;
        if (b->len + n > b->max)
                return 0;
        char *nd = realloc(b->data, b->len + n + 1);
        if (!nd)
                return 0;
        b->data = nd;
        memcpy(b->data + b->len, ptr, n);
        b->len += n;
        b->data[b->len] = 0;
        return n;
}

static size_t header_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
        Pull *p = userdata;
        size_t n = size * nmemb;
        if (n > 18 && strncasecmp(ptr, "www-authenticate:", 17) == 0) {
                free(p->challenge);
                p->challenge = strndup(ptr + 17, n - 17);
        }
        return n;
}

int store_parse_ref(const char *ref, char *host, size_t hsize, char *repo, size_t rsize, char *tag,
                    size_t tsize);
int store_parse_ref(const char *ref, char *host, size_t hsize, char *repo, size_t rsize, char *tag,
                    size_t tsize)
{
        const char *slash = strchr(ref, '/'), *rest = ref, *at, *colon;
        size_t n;

        if (slash && (memchr(ref, '.', (size_t)(slash - ref)) || memchr(ref, ':', (size_t)(slash - ref)) ||
                      strncmp(ref, "localhost/", 10) == 0)) {
                if ((size_t)(slash - ref) >= hsize)
                        return -EINVAL;
                snprintf(host, hsize, "%.*s", (int)(slash - ref), ref);
                rest = slash + 1;
        } else
                snprintf(host, hsize, "registry-1.docker.io");
        at = strchr(rest, '@');
        colon = strrchr(rest, ':');
        if (at) {
                n = (size_t)(at - rest);
                snprintf(tag, tsize, "%s", at + 1);
        } else if (colon && !strchr(colon, '/')) {
                n = (size_t)(colon - rest);
                snprintf(tag, tsize, "%s", colon + 1);
        } else {
                n = strlen(rest);
                snprintf(tag, tsize, "latest");
        }
        if (n == 0 || n >= rsize - 8)
                return -EINVAL;
        if (streq(host, "registry-1.docker.io") && !memchr(rest, '/', n))
                snprintf(repo, rsize, "library/%.*s", (int)n, rest);
        else
                snprintf(repo, rsize, "%.*s", (int)n, rest);
        for (const char *c = repo; *c; c++)
                if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || strchr("._-/", *c)))
                        return -EINVAL;
        for (const char *c = tag; *c; c++)
                if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
                      strchr("._-:", *c)))
                        return -EINVAL;
        return 0;
}

/* value of key="..." in a Bearer challenge */
static char *challenge_param(const char *ch, const char *key)
{
        char pat[32];
        const char *p, *e;
        snprintf(pat, sizeof(pat), "%s=\"", key);
        p = strcasestr(ch, pat);
        if (!p)
                return NULL;
        p += strlen(pat);
        e = strchr(p, '"');
        return e ? strndup(p, (size_t)(e - p)) : NULL;
}

static int fetch_token(Pull *p)
{
        _cleanup_free_ char *realm = NULL, *service = NULL, *scope = NULL, *url = NULL;
        _cleanup_(curl_easy_cleanupp) CURL *c = NULL;
        Buf b = {.max = PULL_TOKEN_MAX};
        long code = 0;
        int r = 0;

        if (!p->challenge || !strcasestr(p->challenge, "bearer"))
                return berth_error_set(p->err, -EACCES, "ref",
                                       "registry wants authentication berth cannot do");
        realm = challenge_param(p->challenge, "realm");
        service = challenge_param(p->challenge, "service");
        scope = challenge_param(p->challenge, "scope");
        if (!realm)
                return berth_error_set(p->err, -EACCES, "ref", "bearer challenge without realm");
        c = curl_easy_init();
        if (!c)
                return -ENOMEM;
        _cleanup_free_ char *es = service ? curl_easy_escape(c, service, 0) : NULL;
        _cleanup_free_ char *esc = NULL;
        if (!scope && asprintf(&scope, "repository:%s:pull", p->repo) < 0)
                return -ENOMEM;
        esc = curl_easy_escape(c, scope, 0);
        if (asprintf(&url, "%s%sservice=%s&scope=%s", realm, strchr(realm, '?') ? "&" : "?", strempty(es),
                     strempty(esc)) < 0)
                return -ENOMEM;
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, buf_write);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        if (p->o && p->o->ca_file)
                curl_easy_setopt(c, CURLOPT_CAINFO, p->o->ca_file);
        if (curl_easy_perform(c) != CURLE_OK ||
            (curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code), code != 200)) {
                free(b.data);
                return berth_error_set(p->err, -EACCES, "ref", "token request to %s failed (HTTP %ld)",
                                       realm, code);
        }
        json_t *j = json_loadb(b.data, b.len, 0, NULL);
        const char *t = json_string_value(json_object_get(j, "token"));
        if (!t)
                t = json_string_value(json_object_get(j, "access_token"));
        free(p->token);
        p->token = t ? strdup(t) : NULL;
        if (!t)
                r = berth_error_set(p->err, -EACCES, "ref", "token response without a token");
        json_decref(j);
        free(b.data);
        return r;
}

typedef struct Sink {
        Buf *buf;
        StoreIngest *in;
        const char *what;
        Pull *p;
} Sink;

static size_t sink_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
        Sink *k = userdata;
        size_t n = size * nmemb;
        if (k->buf)
                return buf_write(ptr, size, nmemb, k->buf);
        return store_ingest_write(k->in, ptr, n) < 0 ? 0 : n;
}

static int xfer_cb(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                   curl_off_t ulnow)
{
        Sink *k = userdata;
        if (k->p->o && k->p->o->progress && dltotal > 0)
                k->p->o->progress(k->p->o->userdata, k->what, (uint64_t)dlnow, (uint64_t)dltotal);
        return 0;
}

/* GET /v2/<repo>/<kind>/<ref>; retries once after fetching a token. */
static int get(Pull *p, const char *kind, const char *ref, Sink *sink, char *ret_ctype, size_t ctsize)
{
        char url[PULL_URL_MAX];
        long code = 0;

        snprintf(url, sizeof(url), "%s://%s/v2/%s/%s/%s", p->scheme, p->host, p->repo, kind, ref);
        for (int attempt = 0; attempt < 2; attempt++) {
                _cleanup_(curl_easy_cleanupp) CURL *c = curl_easy_init();
                _cleanup_(curl_slist_free_allp) struct curl_slist *h = NULL;
                _cleanup_free_ char *auth = NULL;
                char *ct = NULL;
                CURLcode cc;

                if (!c)
                        return -ENOMEM;
                h = curl_slist_append(h, ACCEPT_MANIFESTS);
                if (p->token) {
                        if (asprintf(&auth, "Authorization: Bearer %s", p->token) < 0)
                                return -ENOMEM;
                        h = curl_slist_append(h, auth);
                }
                curl_easy_setopt(c, CURLOPT_URL, url);
                curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
                curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
                curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
                curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
                curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
                curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
                curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
                curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
                curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
                curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
                curl_easy_setopt(c, CURLOPT_HEADERDATA, p);
                curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink_write);
                curl_easy_setopt(c, CURLOPT_WRITEDATA, sink);
                curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
                curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, xfer_cb);
                curl_easy_setopt(c, CURLOPT_XFERINFODATA, sink);
                if (p->o && p->o->ca_file)
                        curl_easy_setopt(c, CURLOPT_CAINFO, p->o->ca_file);
                /* a 401 body must not reach the sink */
                curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
                cc = curl_easy_perform(c);
                curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
                if (code == 401 && attempt == 0) {
                        int r = fetch_token(p);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (cc != CURLE_OK || code != 200)
                        return berth_error_set(p->err, code == 404 ? -ENOENT : -EIO, "ref",
                                               "GET %s: %s (HTTP %ld)", url, curl_easy_strerror(cc), code);
                if (ret_ctype) {
                        curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
                        snprintf(ret_ctype, ctsize, "%s", ct ? ct : "");
                        char *semi = strchr(ret_ctype, ';');
                        if (semi)
                                *semi = 0;
                }
                return 0;
        }
        return berth_error_set(p->err, -EACCES, "ref", "GET %s: unauthorized", url);
}

static int get_json(Pull *p, const char *ref, Buf *b, char *ctype, size_t ctsize)
{
        Sink k = {.buf = b, .what = ref, .p = p};
        b->max = STORE_JSON_MAX;
        return get(p, "manifests", ref, &k, ctype, ctsize);
}

static int get_blob(Pull *p, const json_t *desc)
{
        const char *d = json_string_value(json_object_get(desc, "digest"));
        const json_t *sz = json_object_get(desc, "size");
        Sink k = {.what = d, .p = p};
        int r;

        if (!store_digest_is_valid(d) || !json_is_integer(sz))
                return berth_error_set(p->err, -EINVAL, "manifest", "descriptor without digest or size");
        if (store_blob_exists(p->s, d))
                return 0;
        r = store_ingest_begin(p->s, d, json_integer_value(sz), p->s->policy.blob_max, &k.in);
        if (r < 0)
                return r;
        r = get(p, "blobs", d, &k, NULL, 0);
        if (r < 0) {
                store_ingest_abort(k.in);
                return r;
        }
        if (p->o && p->o->progress)
                p->o->progress(p->o->userdata, d, (uint64_t)json_integer_value(sz),
                               (uint64_t)json_integer_value(sz));
        return store_ingest_finish(k.in, NULL, p->err);
}

static const char *pick_platform(const json_t *index)
{
        size_t i;
        json_t *m;
        json_array_foreach(json_object_get(index, "manifests"), i, m)
        {
                const json_t *pl = json_object_get(m, "platform");
                if (streq_ptr(json_string_value(json_object_get(pl, "os")), "linux") &&
                    streq_ptr(json_string_value(json_object_get(pl, "architecture")), "amd64"))
                        return json_string_value(json_object_get(m, "digest"));
        }
        return NULL;
}

int store_pull(Store *s, const char *ref, const StorePullOptions *opts, char **ret_name, BerthError *err)
{
        _cleanup_free_ char *name = NULL;
        Pull p = {.s = s, .o = opts, .err = err};
        Buf b = {};
        char ctype[128], digest[STORE_DIGEST_MAX];
        json_t *m = NULL;
        int r;

        r = store_ref_normalize(ref, &name);
        if (r < 0 ||
            store_parse_ref(ref, p.host, sizeof(p.host), p.repo, sizeof(p.repo), p.ref, sizeof(p.ref)) < 0)
                return berth_error_set(err, -EINVAL, "ref", "\"%s\" is not an image reference",
                                       strempty(ref));
        bool local = strncmp(p.host, "127.", 4) == 0 || strncmp(p.host, "localhost", 9) == 0 ||
                     strncmp(p.host, "[::1]", 5) == 0;
        snprintf(p.scheme, sizeof(p.scheme), "%s",
                 (opts && opts->insecure_http) || local ? "http" : "https");

        r = get_json(&p, p.ref, &b, ctype, sizeof(ctype));
        if (r < 0)
                goto out;
        m = json_loadb(b.data, b.len, 0, NULL);
        if (m && (strstr(ctype, "index") || strstr(ctype, "manifest.list") ||
                  json_is_array(json_object_get(m, "manifests")))) {
                const char *d = pick_platform(m);
                if (!d) {
                        r = berth_error_set(err, -ENOENT, "ref", "%s has no linux/amd64 image", ref);
                        goto out;
                }
                snprintf(digest, sizeof(digest), "%s", d);
                json_decref(m);
                free(b.data);
                b = (Buf){};
                r = get_json(&p, digest, &b, ctype, sizeof(ctype));
                if (r < 0)
                        goto out;
                m = json_loadb(b.data, b.len, 0, NULL);
                r = store_blob_ingest_mem(s, b.data, b.len, digest, NULL, err);
        } else
                r = store_blob_ingest_mem(s, b.data, b.len, strncmp(p.ref, "sha256:", 7) == 0 ? p.ref : NULL,
                                          digest, err);
        if (r < 0)
                goto out;
        if (!m) {
                r = berth_error_set(err, -EINVAL, "ref", "manifest is not JSON");
                goto out;
        }
        r = get_blob(&p, json_object_get(m, "config"));
        for (size_t i = 0; r >= 0 && i < json_array_size(json_object_get(m, "layers")); i++)
                r = get_blob(&p, json_array_get(json_object_get(m, "layers"), i));
        if (r >= 0)
                r = store_image_add(s, name, digest, err);
        if (r >= 0 && ret_name)
                *ret_name = TAKE_PTR(name);
out:
        json_decref(m);
        free(b.data);
        free(p.token);
        free(p.challenge);
        return r;
}
