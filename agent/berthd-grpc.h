/* SPDX-License-Identifier: Apache-2.0 */
/* berthd's gRPC listeners (docs/GRPC.md): built from the configuration. */
#pragma once

#include "agent/config.h"
#include "api/api.h"

/* Serves gRPC on config->grpc_socket (group gid) and, when configured, on grpc.tcp with mutual TLS. */
int berthd_grpc_start(sd_event *event, const Config *config, gid_t gid, const ApiBackend *backend, ApiGrpc **ret);

/* HTTP/JSON on api.tcp with mutual TLS, NULL *ret when api.tcp is not set. */
int berthd_http_tcp_start(sd_event *event, const Config *config, const ApiBackend *backend, ApiHttp **ret);
