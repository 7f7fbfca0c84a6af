/* SPDX-License-Identifier: Apache-2.0 */
/* Port publishing through nftables. berth owns one table, "ip berth", and
 * always replaces it whole in one transaction (create, delete, create with
 * the content), so the kernel never sees a half-made rule set and nothing of
 * an earlier daemon survives. Published ports are the elements of a map
 * (l4proto . dport -> workload address . port) looked up by a DNAT rule in
 * prerouting (traffic to a local address from outside this namespace) and
 * output (connections from this namespace to one of its own addresses).
 * There is no masquerade and no forwarding rule: berth never NATs toward an
 * uplink (docs/NETWORK.md). */
#include <netinet/in.h>
#include <nftables/libnftables.h>
#include <stdio.h>

#include "drivers/net/net.h"

static void nft_ctx_freep(struct nft_ctx **c)
{
        if (*c)
                nft_ctx_free(*c);
}

char *net_nft_render_delete(void)
{
        return strdup("table ip " NET_NFT_TABLE " {}\ndelete table ip " NET_NFT_TABLE "\n");
}

char *net_nft_render_table(const NetIpam *ipam)
{
        _cleanup_fclose_ FILE *f = NULL;
        char *buf = NULL, a[INET_ADDRSTRLEN];
        size_t size = 0;
        bool first = true;

        f = open_memstream(&buf, &size);
        if (!f)
                return NULL;
        fputs("table ip " NET_NFT_TABLE " {}\n"
              "delete table ip " NET_NFT_TABLE "\n"
              "table ip " NET_NFT_TABLE " {\n"
              "\tmap ports {\n"
              "\t\ttype inet_proto . inet_service : ipv4_addr . inet_service\n",
              f);
        for (size_t i = 0; ipam && i < ipam->n_allocs; i++) {
                const NetAllocation *al = &ipam->allocs[i];
                for (size_t k = 0; k < al->n_ports; k++) {
                        const SpecPort *p = &al->ports[k];
                        fprintf(f, "%s%s . %u : %s . %u", first ? "\t\telements = { " : ", ",
                                p->protocol == IPPROTO_UDP ? "udp" : "tcp", (unsigned)p->host_port,
                                net_addr_format(al->addr, a), (unsigned)p->container_port);
                        first = false;
                }
        }
        if (!first)
                fputs(" }\n", f);
        fputs("\t}\n"
              "\tchain prerouting {\n"
              "\t\ttype nat hook prerouting priority -100; policy accept;\n"
              "\t\tmeta l4proto { tcp, udp } fib daddr type local dnat ip to meta l4proto . th dport map "
              "@ports\n"
              "\t}\n"
              "\tchain output {\n"
              "\t\ttype nat hook output priority -100; policy accept;\n"
              "\t\tmeta l4proto { tcp, udp } fib daddr type local dnat ip to meta l4proto . th dport map "
              "@ports\n"
              "\t}\n"
              "}\n",
              f);
        if (fflush(f) != 0 || ferror(f)) {
                fclose(TAKE_PTR(f));
                free(buf);
                return NULL;
        }
        fclose(TAKE_PTR(f));
        return buf;
}

int net_nft_run(const char *script, BerthError *err)
{
        _cleanup_(nft_ctx_freep) struct nft_ctx *ctx = NULL;
        const char *e;

        if (!script)
                return -ENOMEM;
        ctx = nft_ctx_new(NFT_CTX_DEFAULT);
        if (!ctx)
                return -ENOMEM;
        if (nft_ctx_buffer_output(ctx) < 0 || nft_ctx_buffer_error(ctx) < 0)
                return -ENOMEM;
        if (nft_run_cmd_from_buffer(ctx, script) == 0)
                return 0;
        e = nft_ctx_get_error_buffer(ctx);
        return berth_error_set(err, -EINVAL, "", "nftables: %.400s", strempty(e));
}
