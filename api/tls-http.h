/* SPDX-License-Identifier: Apache-2.0 */
/* Mutual TLS for the HTTP adapter's TCP listener (libmicrohttpd's GnuTLS):
 * MHD options, per-request caller identity and role checks, and SIGHUP
 * rotation of the server certificate (docs/SECURITY.md). */
#pragma once

#include <microhttpd.h>

#include "api/api.h"
#include "api/auth.h"

typedef struct HttpTls HttpTls;
typedef struct HttpRequest HttpRequest;

int http_tls_new(const ApiHttpConfig *config, HttpTls **ret);
HttpTls *http_tls_free(HttpTls *t);
/* The options to hand MHD_start_daemon (MHD_OPTION_ARRAY), END-terminated; valid for t's lifetime. */
const struct MHD_OptionItem *http_tls_mhd_options(HttpTls *t);
/* Before a route runs: 0 = go on (req->caller filled), 1 = a 401/403/429
 * response was queued, < 0 = failure. /healthz passes without credentials. */
int http_tls_authorize(HttpRequest *req, bool healthz, bool write);
