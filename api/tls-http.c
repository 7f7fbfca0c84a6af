/* SPDX-License-Identifier: Apache-2.0 */
/* Mutual TLS for the HTTP TCP listener on top of libmicrohttpd's GnuTLS
 * support (Debian's MHD 0.9.75 has MHD_FEATURE_TLS and the certificate
 * callback). MHD asks for a client certificate when a trust store is given
 * (MHD_OPTION_HTTPS_MEM_TRUST) but does not require one, so that a client
 * without one gets a 401 with a JSON body rather than a TLS alert. The server
 * certificate comes from a callback so that SIGHUP can swap it for new
 * handshakes while established connections carry on. */
#include <fcntl.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "api/http-internal.h"
#include "api/tls-http.h"
#include "lib/log.h"

#define TLS_CHAIN_MAX 8
#define TLS_OLD_CREDS_MAX 16
#define TLS_FILE_MAX (256 * 1024)
#define TLS_VERDICT_CACHE 16
#define TLS_VERDICT_TTL (1 * USEC_PER_SEC)
#define TLS_CERT_DER_MAX 4096

/* Verifying the peer chain costs a signature check; keep-alive clients send
 * the same certificate on every request, so the verdict is cached briefly,
 * keyed by the exact DER bytes. */
typedef struct TlsVerdict {
        uint8_t der[TLS_CERT_DER_MAX];
        size_t der_len;
        usec_t at;
        ApiCaller caller;
        char why[192];
} TlsVerdict;

typedef struct TlsCreds {
        gnutls_pcert_st pcert[TLS_CHAIN_MAX];
        unsigned n_pcert;
        gnutls_privkey_t key;
} TlsCreds;

struct HttpTls {
        char *cert_path, *key_path;
        char *ca_pem;
        TlsCreds *creds;
        /* Replaced credentials stay alive (a handshake in flight may still use
         * them); the oldest is freed past TLS_OLD_CREDS_MAX rotations. */
        TlsCreds *old[TLS_OLD_CREDS_MAX];
        unsigned n_old;
        ApiRoleMapping *roles;
        size_t n_roles;
        ApiRateLimiter rate;
        struct MHD_OptionItem options[3];
        TlsVerdict *verdicts;
        unsigned next_verdict;
};

/* The certificate callback has no user pointer: one TLS listener per process. */
static HttpTls *current_tls;

static void creds_free(TlsCreds *c)
{
        if (!c)
                return;
        for (unsigned i = 0; i < c->n_pcert; i++)
                gnutls_pcert_deinit(&c->pcert[i]);
        gnutls_privkey_deinit(c->key);
        free(c);
}

static int read_pem(const char *path, char **ret, size_t *ret_len)
{
        return read_file_at(AT_FDCWD, path, TLS_FILE_MAX, ret, ret_len);
}

static int creds_load(const char *cert, const char *key, TlsCreds **ret)
{
        _cleanup_free_ char *cpem = NULL, *kpem = NULL;
        size_t clen = 0, klen = 0;
        gnutls_datum_t cd, kd;
        TlsCreds *c;
        int r;

        if ((r = read_pem(cert, &cpem, &clen)) < 0 || (r = read_pem(key, &kpem, &klen)) < 0)
                return r;
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        cd = (gnutls_datum_t){ (unsigned char *)cpem, (unsigned)clen };
        kd = (gnutls_datum_t){ (unsigned char *)kpem, (unsigned)klen };
        c->n_pcert = TLS_CHAIN_MAX;
        if (gnutls_pcert_list_import_x509_raw(c->pcert, &c->n_pcert, &cd, GNUTLS_X509_FMT_PEM, 0) < 0) {
                c->n_pcert = 0;
                creds_free(c);
                return -EBADMSG;
        }
        if (gnutls_privkey_init(&c->key) < 0 ||
            gnutls_privkey_import_x509_raw(c->key, &kd, GNUTLS_X509_FMT_PEM, NULL, 0) < 0) {
                creds_free(c);
                return -EBADMSG;
        }
        *ret = c;
        return 0;
}

static int cert_callback(gnutls_session_t session, const gnutls_datum_t *req_ca_dn, int nreqs,
                         const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length, gnutls_pcert_st **pcert,
                         unsigned int *pcert_length, gnutls_privkey_t *pkey)
{
        TlsCreds *c = current_tls ? current_tls->creds : NULL;

        if (!c)
                return -1;
        *pcert = c->pcert;
        *pcert_length = c->n_pcert;
        *pkey = c->key;
        return 0;
}

int http_tls_new(const ApiHttpConfig *config, HttpTls **ret)
{
        HttpTls *t;
        size_t len;
        int r;

        if (!config->tls_cert || !config->tls_key || !config->tls_ca)
                return -EINVAL;
        if (current_tls)
                return -EBUSY;
        t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        t->cert_path = strdup(config->tls_cert);
        t->key_path = strdup(config->tls_key);
        if (!t->cert_path || !t->key_path) {
                r = -ENOMEM;
                goto fail;
        }
        r = read_pem(config->tls_ca, &t->ca_pem, &len);
        if (r < 0) {
                log_error_errno(r, "api: cannot read tls.ca %s: %m", config->tls_ca);
                goto fail;
        }
        r = creds_load(t->cert_path, t->key_path, &t->creds);
        if (r < 0) {
                log_error_errno(r, "api: cannot load tls.cert/tls.key %s: %m", t->cert_path);
                goto fail;
        }
        for (size_t i = 0; i < config->n_roles; i++) {
                ApiRoleMapping *m = reallocarray(t->roles, t->n_roles + 1, sizeof(*m));
                if (!m) {
                        r = -ENOMEM;
                        goto fail;
                }
                t->roles = m;
                m[t->n_roles] = (ApiRoleMapping){ .subject = strdup(config->roles[i].subject),
                                                  .role = config->roles[i].role };
                if (!m[t->n_roles++].subject) {
                        r = -ENOMEM;
                        goto fail;
                }
        }
        r = api_rate_limiter_init(&t->rate, config->rate_limit, config->rate_burst);
        if (r < 0)
                goto fail;
        t->verdicts = calloc(TLS_VERDICT_CACHE, sizeof(TlsVerdict));
        if (!t->verdicts) {
                r = -ENOMEM;
                goto fail;
        }
        t->options[0] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_TRUST, 0, t->ca_pem };
        t->options[1] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_CERT_CALLBACK, 0, (void *)cert_callback };
        t->options[2] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };
        current_tls = t;
        *ret = t;
        return 0;
fail:
        http_tls_free(t);
        return r;
}

HttpTls *http_tls_free(HttpTls *t)
{
        if (!t)
                return NULL;
        if (current_tls == t)
                current_tls = NULL;
        creds_free(t->creds);
        for (unsigned i = 0; i < t->n_old; i++)
                creds_free(t->old[i]);
        api_role_mappings_free(t->roles, t->n_roles);
        api_rate_limiter_done(&t->rate);
        free(t->cert_path);
        free(t->key_path);
        free(t->ca_pem);
        free(t->verdicts);
        free(t);
        return NULL;
}

const struct MHD_OptionItem *http_tls_mhd_options(HttpTls *t)
{
        static const struct MHD_OptionItem none[] = { { MHD_OPTION_END, 0, NULL } };

        return t ? t->options : none;
}

int api_http_reload_tls(ApiHttp *h)
{
        HttpTls *t = h ? h->tls : NULL;
        TlsCreds *c = NULL;
        int r;

        if (!t)
                return 0;
        r = creds_load(t->cert_path, t->key_path, &c);
        if (r < 0)
                return log_error_errno(r, "api: cannot reload %s, keeping the old certificate: %m", t->cert_path);
        if (t->n_old == TLS_OLD_CREDS_MAX) {
                creds_free(t->old[0]);
                memmove(t->old, t->old + 1, sizeof(t->old[0]) * (TLS_OLD_CREDS_MAX - 1));
                t->n_old--;
        }
        t->old[t->n_old++] = t->creds;
        t->creds = c;
        log_info("api: reloaded the TLS certificate %s", t->cert_path);
        return 0;
}

static int queue_plain_error(HttpRequest *req, unsigned status, const char *code, const char *msg)
{
        _cleanup_free_ char *s = NULL;
        json_t *doc = json_pack("{s:s, s:s, s:n}", "code", code, "message", msg, "field");

        s = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        json_decref(doc);
        if (!s)
                return -ENOMEM;
        return http_queue_text(req, status, "application/json", s, strlen(s));
}

/* Fills req->caller from the peer certificate; reason in why when it is not usable. */
static void caller_from_session(HttpTls *t, gnutls_session_t session, ApiCaller *caller, char *why, size_t size)
{
        const gnutls_datum_t *peers;
        unsigned n = 0, status = 0;
        gnutls_x509_crt_t crt = NULL;
        gnutls_datum_t dn = {};

        *caller = (ApiCaller){ .role = API_ROLE_NONE };
        snprintf(caller->id, sizeof(caller->id), "tls:anonymous");
        snprintf(why, size, "a client certificate is required");
        peers = gnutls_certificate_get_peers(session, &n);
        if (!peers || n == 0)
                return;
        if (gnutls_x509_crt_init(&crt) >= 0 && gnutls_x509_crt_import(crt, &peers[0], GNUTLS_X509_FMT_DER) >= 0 &&
            gnutls_x509_crt_get_dn3(crt, &dn, 0) >= 0) {
                snprintf(caller->id, sizeof(caller->id), "cert:%.*s", (int)dn.size, (const char *)dn.data);
                gnutls_free(dn.data);
        }
        if (crt)
                gnutls_x509_crt_deinit(crt);
        if (gnutls_certificate_verify_peers2(session, &status) < 0 || status != 0) {
                snprintf(why, size, "client certificate rejected: %s",
                         status & GNUTLS_CERT_EXPIRED             ? "certificate has expired"
                         : status & GNUTLS_CERT_NOT_ACTIVATED     ? "certificate is not yet valid"
                         : status & GNUTLS_CERT_SIGNER_NOT_FOUND  ? "unable to get issuer certificate (unknown CA)"
                         : status & GNUTLS_CERT_REVOKED           ? "certificate revoked"
                                                                  : "verification failed");
                return;
        }
        caller->authenticated = true;
        caller->role = api_role_for_subject(t->roles, t->n_roles, caller->id + 5);
        why[0] = 0;
}

int http_tls_authorize(HttpRequest *req, bool healthz, bool write)
{
        HttpTls *t = req->http->tls;
        const union MHD_ConnectionInfo *ci;
        BerthError err = {};
        char why[192];
        int r;

        if (!t)
                return 0;
        if (healthz)
                return 0; /* the only path open without credentials */
        ci = MHD_get_connection_info(req->connection, MHD_CONNECTION_INFO_GNUTLS_SESSION);
        if (!ci || !ci->tls_session)
                return queue_plain_error(req, MHD_HTTP_UNAUTHORIZED, "Unauthenticated", "TLS is required") < 0 ? -EIO : 1;
        {
                unsigned n = 0;
                const gnutls_datum_t *peers = gnutls_certificate_get_peers(ci->tls_session, &n);
                usec_t now = now_usec(CLOCK_MONOTONIC);
                TlsVerdict *v = NULL;

                if (peers && n > 0 && peers[0].size <= TLS_CERT_DER_MAX)
                        for (unsigned i = 0; i < TLS_VERDICT_CACHE; i++)
                                if (t->verdicts[i].der_len == peers[0].size && now - t->verdicts[i].at < TLS_VERDICT_TTL &&
                                    memcmp(t->verdicts[i].der, peers[0].data, peers[0].size) == 0) {
                                        v = &t->verdicts[i];
                                        break;
                                }
                if (v) {
                        req->caller = v->caller;
                        snprintf(why, sizeof(why), "%s", v->why);
                } else {
                        caller_from_session(t, ci->tls_session, &req->caller, why, sizeof(why));
                        if (peers && n > 0 && peers[0].size <= TLS_CERT_DER_MAX) {
                                v = &t->verdicts[t->next_verdict++ % TLS_VERDICT_CACHE];
                                memcpy(v->der, peers[0].data, peers[0].size);
                                v->der_len = peers[0].size;
                                v->at = now;
                                v->caller = req->caller;
                                snprintf(v->why, sizeof(v->why), "%s", why);
                        }
                }
        }
        if (!req->caller.authenticated)
                return queue_plain_error(req, MHD_HTTP_UNAUTHORIZED, "Unauthenticated", why) < 0 ? -EIO : 1;
        r = api_caller_check(&req->caller, write ? API_ACCESS_WRITE : API_ACCESS_READ,
                             write ? "change workloads" : "read", &err);
        if (r < 0)
                return http_queue_error(req, &err) < 0 ? -EIO : 1;
        if (!api_rate_limiter_take(&t->rate, req->caller.id, now_usec(CLOCK_MONOTONIC)))
                return queue_plain_error(req, MHD_HTTP_TOO_MANY_REQUESTS, "ResourceExhausted",
                                         "rate limit exceeded") < 0 ? -EIO : 1;
        return 0;
}
