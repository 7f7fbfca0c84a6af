/* SPDX-License-Identifier: Apache-2.0 */
/* The daemon's network: the bridge, IPAM and the nft table together
 * (docs/NETWORK.md). Created once by the agent and shared by the drivers
 * through DriverConfig.net. All of it runs in berthd's network namespace;
 * net_attach() (net-attach.c) runs in berth-shim, per workload. */
#include <arpa/inet.h>
#include <jansson.h>

#include "drivers/net/net.h"
#include "lib/log.h"

struct Net {
        char bridge[IFNAMSIZ];
        NetCidr cidr;
        NetIpam *ipam;
};

Net *net_free(Net *n)
{
        if (!n)
                return NULL;
        net_ipam_free(n->ipam);
        free(n);
        return NULL;
}

const char *net_bridge_name(const Net *n)
{
        return n ? n->bridge : NULL;
}

static int net_sync_nft(Net *n, BerthError *err)
{
        _cleanup_free_ char *script = net_nft_render_table(n->ipam);

        return net_nft_run(script, err);
}

int net_new(const NetConfig *config, Net **ret, BerthError *err)
{
        _cleanup_(net_freep) Net *n = NULL;
        const char *bridge = config && config->bridge ? config->bridge : NET_DEFAULT_BRIDGE;
        const char *cidr = config && config->cidr ? config->cidr : NET_DEFAULT_CIDR;
        char a[INET_ADDRSTRLEN];
        int r;

        if (!config || !config->state_dir)
                return -EINVAL;
        if (strlen(bridge) == 0 || strlen(bridge) >= IFNAMSIZ)
                return berth_error_set(err, -EINVAL, "network.bridge", "\"%s\" is not an interface name",
                                       bridge);
        n = calloc(1, sizeof(*n));
        if (!n)
                return -ENOMEM;
        snprintf(n->bridge, sizeof(n->bridge), "%s", bridge);
        r = net_cidr_parse(cidr, &n->cidr);
        if (r < 0)
                return berth_error_set(err, r, "network.cidr",
                                       "\"%s\" is not an IPv4 network a.b.c.d/8..30 without host bits",
                                       cidr);
        r = net_ipam_open(config->state_dir, &n->cidr, &n->ipam);
        if (r == -EADDRNOTAVAIL)
                return berth_error_set(
                    err, r, "network.cidr",
                    "%s/%s holds addresses of another subnet; remove those workloads first",
                    config->state_dir, NET_IPAM_FILE);
        if (r < 0)
                return berth_error_set(err, r, "", "cannot open %s/%s: %s", config->state_dir, NET_IPAM_FILE,
                                       strerror(-r));
        r = net_link_bridge_ensure(n->bridge, net_cidr_gateway(&n->cidr), n->cidr.prefixlen);
        if (r < 0)
                return berth_error_set(err, r, "", "cannot set up bridge %s with %s/%u: %s", n->bridge,
                                       net_addr_format(net_cidr_gateway(&n->cidr), a), n->cidr.prefixlen,
                                       strerror(-r));
        r = net_sync_nft(n, err);
        if (r < 0)
                return r;
        log_debug("bridge %s up with %s/%u", n->bridge, net_addr_format(net_cidr_gateway(&n->cidr), a),
                  n->cidr.prefixlen);
        *ret = TAKE_PTR(n);
        return 0;
}

int net_workload_prepare(Net *n, const char *name, const SpecPort *ports, size_t n_ports, NetAttach *ret,
                         BerthError *err)
{
        const char *other = NULL;
        bool fresh = !net_ipam_find(n->ipam, name);
        char pb[32];
        uint32_t addr;
        int r;

        r = net_ipam_allocate(n->ipam, name, &addr);
        if (r == -ENOSPC)
                return berth_error_set(err, r, "spec.network", "no free address left in the bridge subnet");
        if (r < 0)
                return berth_error_set(err, r, "spec.network", "cannot allocate an address: %s",
                                       strerror(-r));
        r = net_ipam_set_ports(n->ipam, name, ports, n_ports, &other);
        if (r < 0 && fresh)
                (void)net_ipam_release(n->ipam, name); /* a refused create keeps no address */
        if (r == -EADDRINUSE) {
                for (size_t i = 0; i < n_ports; i++) {
                        /* name the port in the message */
                        const NetAllocation *o = net_ipam_find(n->ipam, other);
                        for (size_t k = 0; o && k < o->n_ports; k++)
                                if (o->ports[k].host_port == ports[i].host_port &&
                                    o->ports[k].protocol == ports[i].protocol)
                                        return berth_error_set(
                                            err, r, "spec.network.ports",
                                            "host port %s is already published by workload \"%s\"",
                                            spec_port_format(&ports[i], pb, sizeof(pb)), other);
                }
                return berth_error_set(err, r, "spec.network.ports", "a host port is already published");
        }
        if (r < 0)
                return berth_error_set(err, r, "spec.network", "cannot record the ports: %s", strerror(-r));
        /* The table changes only with the ports: a workload without any (or a
         * restart with the same ones) costs no nft transaction. */
        if (r > 0) {
                r = net_sync_nft(n, err);
                if (r < 0)
                        return r;
        }
        *ret =
            (NetAttach){.addr = addr, .gateway = net_cidr_gateway(&n->cidr), .prefixlen = n->cidr.prefixlen};
        snprintf(ret->bridge, sizeof(ret->bridge), "%s", n->bridge);
        snprintf(ret->host_if, sizeof(ret->host_if), "bv%08x", addr);
        snprintf(ret->ifname, sizeof(ret->ifname), "%s", NET_CONTAINER_IFNAME);
        return 0;
}

int net_workload_address(const Net *n, const char *name, uint32_t *ret)
{
        const NetAllocation *a = n ? net_ipam_find(n->ipam, name) : NULL;

        if (!a)
                return -ENOENT;
        *ret = a->addr;
        return 0;
}

int net_workload_release(Net *n, const char *name)
{
        const NetAllocation *a = net_ipam_find(n->ipam, name);
        bool had_ports = a && a->n_ports > 0;
        uint32_t addr;
        int r;

        if (net_workload_address(n, name, &addr) < 0)
                return 0;
        /* The host end goes away with the container's netns (asynchronously,
         * in the kernel). Deleting it here would block on that teardown for
         * tens of ms; a leftover held by a stray process is replaced by
         * net_link_veth_create() when the address is handed out again. */
        r = net_ipam_release(n->ipam, name);
        if (r < 0)
                return r;
        return had_ports ? net_sync_nft(n, NULL) : 0;
}
