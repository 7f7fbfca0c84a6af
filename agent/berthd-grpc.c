/* SPDX-License-Identifier: Apache-2.0 */
/* Configuration -> ApiGrpcConfig. The server copies the role table. */
#include "agent/berthd-grpc.h"
#include "api/auth.h"
#include "lib/log.h"

int berthd_grpc_start(sd_event *event, const Config *config, gid_t gid, const ApiBackend *backend, ApiGrpc **ret)
{
        ApiRoleMapping *roles = NULL;
        size_t n_roles = 0;
        int r;

        r = api_role_mappings_parse(config->tls_roles_control_plane, config->tls_roles_operator,
                                    config->tls_roles_reader, &roles, &n_roles);
        if (r < 0)
                return log_error_errno(r, "tls.roles: %m");
        ApiGrpcConfig gc = {
                .socket_path = config->grpc_socket,
                .socket_gid = gid,
                .tcp_address = config->grpc_tcp,
                .tls_cert = config->tls_cert,
                .tls_key = config->tls_key,
                .tls_ca = config->tls_ca,
                .roles = roles,
                .n_roles = n_roles,
                .rate_limit = (double)config->rate_limit,
                .rate_burst = (double)config->rate_burst,
                .max_message = (size_t)config->grpc_max_message,
                .keepalive = config->grpc_keepalive,
                .default_stop_timeout = config->stop_timeout,
        };
        r = api_grpc_new(event, &gc, backend, ret);
        api_role_mappings_free(roles, n_roles);
        if (r < 0)
                return log_error_errno(r, "cannot serve gRPC on %s: %m", config->grpc_socket);
        log_info("gRPC on %s%s%s", config->grpc_socket, config->grpc_tcp ? " and TLS " : "",
                 strempty(config->grpc_tcp));
        return 0;
}

int berthd_http_tcp_start(sd_event *event, const Config *config, const ApiBackend *backend, ApiHttp **ret)
{
        ApiRoleMapping *roles = NULL;
        size_t n_roles = 0;
        _cleanup_close_ int fd = -EBADF;
        int r;

        *ret = NULL;
        if (!config->api_tcp)
                return 0;
        r = api_listen_tcp(config->api_tcp, &fd);
        if (r < 0)
                return log_error_errno(r, "cannot listen on api.tcp %s: %m", config->api_tcp);
        r = api_role_mappings_parse(config->tls_roles_control_plane, config->tls_roles_operator,
                                    config->tls_roles_reader, &roles, &n_roles);
        if (r < 0)
                return log_error_errno(r, "tls.roles: %m");
        ApiHttpConfig hc = {
                .listen_fd = fd,
                .socket_gid = (gid_t)-1,
                .default_stop_timeout = config->stop_timeout,
                .tls_cert = config->tls_cert,
                .tls_key = config->tls_key,
                .tls_ca = config->tls_ca,
                .roles = roles,
                .n_roles = n_roles,
                .rate_limit = (double)config->rate_limit,
                .rate_burst = (double)config->rate_burst,
        };
        r = api_http_new(event, &hc, backend, ret); /* dups fd; ours is closed on return */
        api_role_mappings_free(roles, n_roles);
        if (r < 0)
                return log_error_errno(r, "cannot serve HTTP on %s: %m", config->api_tcp);
        log_info("HTTP/JSON with mutual TLS on %s", config->api_tcp);
        return 0;
}
