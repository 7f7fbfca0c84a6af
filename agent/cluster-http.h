/* SPDX-License-Identifier: Apache-2.0 */
/* HTTP POSTs to the etcd v3 JSON gateway on libcurl's multi interface,
 * driven by berthd's sd-event loop (io sources from CURLMOPT_SOCKETFUNCTION,
 * one timer from CURLMOPT_TIMERFUNCTION). Nothing here blocks.
 *
 * Callbacks never run inside a libcurl callback: bytes are buffered and
 * delivered from a defer source, so a callback may start or cancel any
 * request, including its own. */
#pragma once

#include <systemd/sd-event.h>

#include "lib/util.h"

#ifndef MAX
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#endif

#define CLUSTER_HTTP_BODY_MAX (8u << 20) /* bytes of one unary response */
#define CLUSTER_HTTP_LINE_MAX (4u << 20) /* bytes of one streamed JSON message */

typedef struct ClusterHttp ClusterHttp;
typedef struct ClusterRequest ClusterRequest;

typedef struct ClusterTls {
        const char *ca;   /* PEM bundle to verify the server; NULL = system store */
        const char *cert; /* client certificate (PEM) or NULL */
        const char *key;  /* client key (PEM) or NULL */
} ClusterTls;

/* The request finished. error < 0: transport failure (-ECONNREFUSED,
 * -ETIMEDOUT, -EMSGSIZE, -EIO); else http_status and the whole body
 * (NUL-terminated; for streams only what was not delivered as lines). The
 * request is freed after the callback returns. */
typedef void (*ClusterRequestDone)(ClusterRequest *req, int error, long http_status, const char *body,
                                   size_t len, void *userdata);
/* One newline-terminated message of a streamed response (the watch). */
typedef void (*ClusterRequestLine)(ClusterRequest *req, const char *line, size_t len, void *userdata);

int cluster_http_new(sd_event *event, const ClusterTls *tls, ClusterHttp **ret);
ClusterHttp *cluster_http_free(ClusterHttp *h);
DEFINE_TRIVIAL_CLEANUP_FUNC(ClusterHttp *, cluster_http_free);

/* POSTs body (JSON) to url. timeout 0 = none (streams); line != NULL makes it
 * a stream delivered message by message. *ret (optional) stays valid until
 * done runs or cluster_request_cancel(). */
int cluster_http_post(ClusterHttp *h, const char *url, const char *body, usec_t timeout,
                      ClusterRequestLine line, ClusterRequestDone done, void *userdata,
                      ClusterRequest **ret);
/* Aborts; done is not called. Accepts NULL. */
void cluster_request_cancel(ClusterRequest *req);
/* Aborts every request; no callbacks. */
void cluster_http_cancel_all(ClusterHttp *h);

/* Counters for /metrics and the fleet benchmark. */
typedef struct ClusterHttpStats {
        uint64_t requests;
        uint64_t bytes_sent; /* request bodies */
        uint64_t failures;   /* transport failures */
} ClusterHttpStats;
const ClusterHttpStats *cluster_http_stats(const ClusterHttp *h);
