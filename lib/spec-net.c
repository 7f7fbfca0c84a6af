/* SPDX-License-Identifier: Apache-2.0 */
/* spec.network: {mode: none|host|bridge, ports: ["8080:80/tcp", ...]}
 * (docs/SPEC.md, docs/NETWORK.md). A pure module like the rest of lib/spec*.
 *
 * When mode is absent the spec says network_default: the agent resolves it to
 * bridge if the daemon's bridge is up and to none otherwise, before the spec
 * is stored, so a stored spec always names its mode. Ports need bridge mode;
 * ports without a mode imply bridge. */
#include <netinet/in.h>

#include "lib/spec-internal.h"

static const char *const net_fields[] = {"mode", "ports", NULL};

static int parse_port_number(const char *s, size_t len, uint16_t *ret)
{
        unsigned v = 0;

        if (len == 0 || len > 5)
                return -EINVAL;
        for (size_t i = 0; i < len; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -EINVAL;
                v = v * 10 + (unsigned)(s[i] - '0');
        }
        if (v == 0 || v > 65535 || (s[0] == '0'))
                return -EINVAL;
        *ret = (uint16_t)v;
        return 0;
}

int spec_port_parse(const char *s, SpecPort *ret)
{
        const char *colon, *slash, *end;
        SpecPort p = {.protocol = IPPROTO_TCP};

        if (!s)
                return -EINVAL;
        colon = strchr(s, ':');
        if (!colon)
                return -EINVAL;
        slash = strchr(colon + 1, '/');
        end = slash ? slash : colon + 1 + strlen(colon + 1);
        if (parse_port_number(s, (size_t)(colon - s), &p.host_port) < 0 ||
            parse_port_number(colon + 1, (size_t)(end - colon - 1), &p.container_port) < 0)
                return -EINVAL;
        if (slash) {
                if (streq(slash + 1, "tcp"))
                        p.protocol = IPPROTO_TCP;
                else if (streq(slash + 1, "udp"))
                        p.protocol = IPPROTO_UDP;
                else
                        return -EINVAL;
        }
        *ret = p;
        return 0;
}

char *spec_port_format(const SpecPort *p, char *buf, size_t size)
{
        snprintf(buf, size, "%u:%u/%s", (unsigned)p->host_port, (unsigned)p->container_port,
                 p->protocol == IPPROTO_UDP ? "udp" : "tcp");
        return buf;
}

static int validate_ports(const json_t *ports, Spec *s, BerthError *err)
{
        _cleanup_free_ SpecPort *l = NULL;
        const json_t *v;
        size_t i, n;

        if (!json_is_array(ports))
                return berth_error_set(err, -EINVAL, "spec.network.ports",
                                       "must be a list of \"hostPort:containerPort/tcp|udp\"");
        n = json_array_size(ports);
        if (n > SPEC_PORTS_MAX)
                return berth_error_set(err, -E2BIG, "spec.network.ports", "at most %d entries",
                                       SPEC_PORTS_MAX);
        l = calloc(n ? n : 1, sizeof(SpecPort));
        if (!l)
                return -ENOMEM;
        json_array_foreach(ports, i, v)
        {
                char path[64];

                snprintf(path, sizeof(path), "spec.network.ports[%zu]", i);
                if (!json_is_string(v))
                        return berth_error_set(err, -EINVAL, path,
                                               "must be a string \"hostPort:containerPort/tcp|udp\"");
                if (spec_port_parse(json_string_value(v), &l[i]) < 0)
                        return berth_error_set(
                            err, -EINVAL, path,
                            "\"%.64s\" is not \"hostPort:containerPort\" with ports 1..65535 "
                            "and an optional /tcp or /udp",
                            json_string_value(v));
                for (size_t k = 0; k < i; k++)
                        if (l[k].host_port == l[i].host_port && l[k].protocol == l[i].protocol)
                                return berth_error_set(
                                    err, -EINVAL, path, "host port %u/%s is published twice",
                                    (unsigned)l[i].host_port, l[i].protocol == IPPROTO_UDP ? "udp" : "tcp");
        }
        s->ports = n ? TAKE_PTR(l) : NULL;
        s->n_ports = n;
        return 0;
}

int spec_network_from_json(const json_t *net, Spec *s, BerthError *err)
{
        const json_t *mode, *ports;
        const char *key;
        json_t *v;
        int m, r;

        s->network = NETWORK_NONE;
        s->network_default = true;
        if (!net)
                return 0;
        if (!json_is_object(net))
                return berth_error_set(err, -EINVAL, "spec.network", "must be a mapping");
        json_object_foreach((json_t *)net, key, v)
        {
                bool known = false;
                for (size_t i = 0; net_fields[i]; i++)
                        known = known || streq(key, net_fields[i]);
                if (!known) {
                        char path[SPEC_PATH_MAX];
                        return berth_error_set(err, -EINVAL,
                                               spec_path_key(path, sizeof(path), "spec.network", key),
                                               "unknown field");
                }
        }
        mode = json_object_get(net, "mode");
        if (mode && !json_is_null(mode)) {
                if (!json_is_string(mode))
                        return berth_error_set(err, -EINVAL, "spec.network.mode", "must be a string");
                m = network_mode_from_string(json_string_value(mode));
                if (m < 0)
                        return berth_error_set(err, -EINVAL, "spec.network.mode",
                                               "\"%.64s\" is not one of \"none\", \"host\", \"bridge\"",
                                               json_string_value(mode));
                s->network = (NetworkMode)m;
                s->network_default = false;
        }
        ports = json_object_get(net, "ports");
        if (ports && !json_is_null(ports)) {
                r = validate_ports(ports, s, err);
                if (r < 0)
                        return r;
                if (s->n_ports > 0) {
                        if (s->network_default) {
                                s->network = NETWORK_BRIDGE;
                                s->network_default = false;
                        } else if (s->network != NETWORK_BRIDGE)
                                return berth_error_set(
                                    err, -EINVAL, "spec.network.ports",
                                    "publishing ports needs network mode \"bridge\", not \"%s\"",
                                    network_mode_to_string(s->network));
                }
        }
        return 0;
}

int spec_network_to_json(const Spec *s, json_t *net)
{
        json_t *l;
        char buf[32];

        if (json_object_set_new(net, "mode", json_string(network_mode_to_string(s->network))) < 0)
                return -ENOMEM;
        if (s->n_ports == 0)
                return 0;
        l = json_array();
        if (!l || json_object_set_new(net, "ports", l) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < s->n_ports; i++)
                if (json_array_append_new(l, json_string(spec_port_format(&s->ports[i], buf, sizeof(buf)))) <
                    0)
                        return -ENOMEM;
        return 0;
}

int spec_network_copy(const Spec *src, Spec *dst)
{
        dst->network = src->network;
        dst->network_default = src->network_default;
        dst->ports = NULL;
        dst->n_ports = 0;
        if (src->n_ports == 0)
                return 0;
        dst->ports = calloc(src->n_ports, sizeof(SpecPort));
        if (!dst->ports)
                return -ENOMEM;
        memcpy(dst->ports, src->ports, src->n_ports * sizeof(SpecPort));
        dst->n_ports = src->n_ports;
        return 0;
}

void spec_network_done(Spec *s)
{
        free(s->ports);
        s->ports = NULL;
        s->n_ports = 0;
}
