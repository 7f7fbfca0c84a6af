/* SPDX-License-Identifier: Apache-2.0 */
/* TLS for TCP listeners (OpenSSL): a server context that asks for a client
 * certificate, verifies it against the configured CA, and speaks ALPN h2.
 * Verification failures do not abort the handshake: the connection is kept
 * long enough to answer UNAUTHENTICATED / 401 with the reason. */
#pragma once

#include <openssl/ssl.h>

#include "api/auth.h"

typedef struct ApiTlsConfig {
        const char *cert; /* PEM server certificate chain */
        const char *key;  /* PEM private key */
        const char *ca;   /* PEM CA bundle that client certificates must chain to */
} ApiTlsConfig;

/* A new server context from the files; -errno with err filled on failure. */
int tls_context_new(const ApiTlsConfig *config, bool alpn_h2, SSL_CTX **ret, BerthError *err);
/* After the handshake: fills caller->id/authenticated from the peer
 * certificate (role left API_ROLE_NONE); the reason it failed in `why`. */
void tls_caller_from_ssl(SSL *ssl, ApiCaller *caller, char *why, size_t why_size);
