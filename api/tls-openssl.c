/* SPDX-License-Identifier: Apache-2.0 */
/* OpenSSL server contexts for the TCP listeners (api/tls.h). */
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "api/tls.h"

static int verify_keep_going(int preverify_ok, X509_STORE_CTX *ctx)
{
        /* The verdict is read after the handshake (SSL_get_verify_result) so
         * that the client is told why, over the protocol, instead of an alert. */
        return 1;
}

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                       unsigned inlen, void *arg)
{
        static const unsigned char h2[] = { 2, 'h', '2' };
        unsigned char *o;

        if (SSL_select_next_proto(&o, outlen, h2, sizeof(h2), in, inlen) != OPENSSL_NPN_NEGOTIATED)
                return SSL_TLSEXT_ERR_ALERT_FATAL;
        *out = o;
        return SSL_TLSEXT_ERR_OK;
}

static int tls_error(BerthError *err, const char *what, const char *path)
{
        char buf[256];
        unsigned long e = ERR_get_error();

        ERR_error_string_n(e, buf, sizeof(buf));
        ERR_clear_error();
        return berth_error_set(err, -EINVAL, what, "%s: %s", path ?: "", buf);
}

int tls_context_new(const ApiTlsConfig *config, bool alpn_h2, SSL_CTX **ret, BerthError *err)
{
        SSL_CTX *ctx;

        if (!config || !config->cert || !config->key || !config->ca)
                return berth_error_set(err, -EINVAL, "tls", "cert, key and ca are all required for a TCP listener");
        ctx = SSL_CTX_new(TLS_server_method());
        if (!ctx)
                return berth_error_set(err, -ENOMEM, NULL, "out of memory");
        SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
        SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
        SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                      SSL_MODE_RELEASE_BUFFERS);
        if (SSL_CTX_use_certificate_chain_file(ctx, config->cert) != 1) {
                SSL_CTX_free(ctx);
                return tls_error(err, "tls.cert", config->cert);
        }
        if (SSL_CTX_use_PrivateKey_file(ctx, config->key, SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(ctx) != 1) {
                SSL_CTX_free(ctx);
                return tls_error(err, "tls.key", config->key);
        }
        if (SSL_CTX_load_verify_locations(ctx, config->ca, NULL) != 1) {
                SSL_CTX_free(ctx);
                return tls_error(err, "tls.ca", config->ca);
        }
        SSL_CTX_set_client_CA_list(ctx, SSL_load_client_CA_file(config->ca));
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify_keep_going);
        SSL_CTX_set_verify_depth(ctx, 4);
        /* Client verification with session resumption needs a session id
         * context, or a resuming client (stunnel, grpcio) gets an internal-error alert. */
        SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"berthd", 6);
        if (alpn_h2)
                SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
        *ret = ctx;
        return 0;
}

void tls_caller_from_ssl(SSL *ssl, ApiCaller *caller, char *why, size_t why_size)
{
        X509 *peer;
        long v;
        char subject[API_CALLER_ID_MAX - 8];
        BIO *bio;
        int n;

        *caller = (ApiCaller){ .role = API_ROLE_NONE };
        snprintf(why, why_size, "a client certificate is required");
        peer = SSL_get1_peer_certificate(ssl);
        if (!peer) {
                snprintf(caller->id, sizeof(caller->id), "tls:anonymous");
                return;
        }
        bio = BIO_new(BIO_s_mem());
        n = bio ? X509_NAME_print_ex(bio, X509_get_subject_name(peer), 0, XN_FLAG_RFC2253) : -1;
        if (n >= 0) {
                n = BIO_read(bio, subject, sizeof(subject) - 1);
                subject[n > 0 ? n : 0] = 0;
        } else
                subject[0] = 0;
        BIO_free(bio);
        X509_free(peer);
        snprintf(caller->id, sizeof(caller->id), "cert:%s", subject);
        v = SSL_get_verify_result(ssl);
        if (v != X509_V_OK) {
                snprintf(why, why_size, "client certificate rejected: %s", X509_verify_cert_error_string(v));
                return;
        }
        caller->authenticated = true;
        why[0] = 0;
}
