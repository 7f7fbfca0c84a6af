/* SPDX-License-Identifier: Apache-2.0 */
/* IPAM: one IPv4 address per workload out of the configured CIDR, persisted
 * in <root>/net/ipam.json:
 *
 *   {"cidr":"10.88.0.0/16","next":7,
 *    "allocations":[{"owner":"web","address":"10.88.0.5","ports":["8080:80/tcp"]}]}
 *
 * Every change is written whole and fsync'd before the rename
 * (WRITE_OLD_OR_NEW) and before the caller is told the result, so a crash of
 * berthd can never make it hand an address out twice. The directory is not
 * fsync'd: a power loss may bring back the previous file, which is whole and
 * consistent, and no workload that held an address handed out since is
 * running any more (the next start of each allocates again). "next" makes
 * allocation round robin: a released address comes back only after the rest
 * of the range was used. The gateway (network + 1), network and broadcast
 * addresses are never handed out. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <jansson.h>

#include "drivers/net/net.h"

int net_cidr_parse(const char *s, NetCidr *ret)
{
        char buf[INET_ADDRSTRLEN + 4], *slash, *end;
        struct in_addr a;
        unsigned long p;
        uint32_t mask;

        if (!s || strlen(s) >= sizeof(buf))
                return -EINVAL;
        strcpy(buf, s);
        slash = strchr(buf, '/');
        if (!slash)
                return -EINVAL;
        *slash = 0;
        if (inet_pton(AF_INET, buf, &a) != 1)
                return -EINVAL;
        if (!slash[1] || slash[1] == '0' || strspn(slash + 1, "0123456789") != strlen(slash + 1))
                return -EINVAL;
        errno = 0;
        p = strtoul(slash + 1, &end, 10);
        if (errno || *end || p < 8 || p > 30)
                return -EINVAL;
        mask = ~UINT32_C(0) << (32 - p);
        if ((ntohl(a.s_addr) & ~mask) != 0)
                return -EINVAL;
        *ret = (NetCidr){.addr = ntohl(a.s_addr), .prefixlen = (unsigned)p};
        return 0;
}

char *net_addr_format(uint32_t addr, char buf[static INET_ADDRSTRLEN])
{
        struct in_addr a = {.s_addr = htonl(addr)};

        if (!inet_ntop(AF_INET, &a, buf, INET_ADDRSTRLEN))
                snprintf(buf, INET_ADDRSTRLEN, "0.0.0.0");
        return buf;
}

static uint32_t cidr_size(const NetCidr *c)
{
        return UINT32_C(1) << (32 - c->prefixlen);
}

uint32_t net_cidr_gateway(const NetCidr *cidr)
{
        return cidr->addr + 1;
}

static void allocation_done(NetAllocation *a)
{
        free(a->owner);
        free(a->ports);
        *a = (NetAllocation){};
}

NetIpam *net_ipam_free(NetIpam *ipam)
{
        if (!ipam)
                return NULL;
        for (size_t i = 0; i < ipam->n_allocs; i++)
                allocation_done(&ipam->allocs[i]);
        free(ipam->allocs);
        safe_close(ipam->dirfd);
        free(ipam);
        return NULL;
}

const NetAllocation *net_ipam_find(const NetIpam *ipam, const char *owner)
{
        for (size_t i = 0; i < ipam->n_allocs; i++)
                if (streq(ipam->allocs[i].owner, owner))
                        return &ipam->allocs[i];
        return NULL;
}

static bool addr_in_use(const NetIpam *ipam, uint32_t addr)
{
        for (size_t i = 0; i < ipam->n_allocs; i++)
                if (ipam->allocs[i].addr == addr)
                        return true;
        return false;
}

static int ipam_save(NetIpam *ipam)
{
        _cleanup_free_ char *text = NULL;
        char a[INET_ADDRSTRLEN], c[INET_ADDRSTRLEN + 4], p[32];
        json_t *root, *l;
        int r = -ENOMEM;

        root = json_object();
        l = json_array();
        if (!root || !l) {
                json_decref(root);
                json_decref(l);
                return -ENOMEM;
        }
        snprintf(c, sizeof(c), "%s/%u", net_addr_format(ipam->cidr.addr, a), ipam->cidr.prefixlen);
        if (json_object_set_new(root, "cidr", json_string(c)) < 0 ||
            json_object_set_new(root, "next", json_integer(ipam->next)) < 0 ||
            json_object_set_new(root, "allocations", l) < 0)
                goto out;
        for (size_t i = 0; i < ipam->n_allocs; i++) {
                const NetAllocation *al = &ipam->allocs[i];
                json_t *ports = json_array(), *e;

                e = json_pack("{s:s, s:s, s:o}", "owner", al->owner, "address", net_addr_format(al->addr, a),
                              "ports", ports ? ports : json_null());
                if (!e || json_array_append_new(l, e) < 0)
                        goto out;
                for (size_t k = 0; ports && k < al->n_ports; k++)
                        if (json_array_append_new(
                                ports, json_string(spec_port_format(&al->ports[k], p, sizeof(p)))) < 0)
                                goto out;
        }
        text = json_dumps(root, JSON_COMPACT);
        if (!text)
                goto out;
        r = write_file_replace_at(ipam->dirfd, NET_IPAM_FILE, text, strlen(text), 0600, WRITE_OLD_OR_NEW);
out:
        json_decref(root);
        return r;
}

static int ipam_load(NetIpam *ipam)
{
        _cleanup_free_ char *text = NULL;
        const json_t *l, *e, *v;
        json_t *root;
        NetCidr c;
        size_t len, i;
        int r;

        r = read_file_at(ipam->dirfd, NET_IPAM_FILE, NET_IPAM_FILE_MAX, &text, &len);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        root = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
        if (!root)
                return -EBADMSG;
        r = -EBADMSG;
        l = json_object_get(root, "allocations");
        if (net_cidr_parse(json_string_value(json_object_get(root, "cidr")), &c) < 0 || !json_is_array(l) ||
            json_array_size(l) > NET_ALLOCATIONS_MAX)
                goto out;
        if (c.addr != ipam->cidr.addr || c.prefixlen != ipam->cidr.prefixlen) {
                /* Another subnet was configured: only an empty file may be replaced. */
                r = json_array_size(l) == 0 ? 0 : -EADDRNOTAVAIL;
                goto out;
        }
        ipam->next = (uint32_t)json_integer_value(json_object_get(root, "next"));
        ipam->allocs = calloc(json_array_size(l) + 1, sizeof(NetAllocation));
        if (!ipam->allocs) {
                r = -ENOMEM;
                goto out;
        }
        json_array_foreach(l, i, e)
        {
                NetAllocation *al = &ipam->allocs[ipam->n_allocs];
                const char *owner = json_string_value(json_object_get(e, "owner"));
                const char *addr = json_string_value(json_object_get(e, "address"));
                const json_t *ports = json_object_get(e, "ports");
                struct in_addr in;
                size_t k;

                if (!owner || !spec_name_is_valid(owner) || !addr || inet_pton(AF_INET, addr, &in) != 1 ||
                    net_ipam_find(ipam, owner))
                        goto out;
                al->addr = ntohl(in.s_addr);
                if ((al->addr & ~(~UINT32_C(0) << (32 - c.prefixlen))) == 0 ||
                    (al->addr >> (32 - c.prefixlen)) != (c.addr >> (32 - c.prefixlen)))
                        goto out;
                al->owner = strdup(owner);
                if (!al->owner) {
                        r = -ENOMEM;
                        goto out;
                }
                ipam->n_allocs++;
                if (json_is_array(ports) && json_array_size(ports) > 0) {
                        if (json_array_size(ports) > SPEC_PORTS_MAX)
                                goto out;
                        al->ports = calloc(json_array_size(ports), sizeof(SpecPort));
                        if (!al->ports) {
                                r = -ENOMEM;
                                goto out;
                        }
                        json_array_foreach(ports, k,
                                           v) if (spec_port_parse(json_string_value(v),
                                                                  &al->ports[al->n_ports++]) < 0) goto out;
                }
        }
        r = 0;
out:
        json_decref(root);
        return r;
}

int net_ipam_open(const char *dir, const NetCidr *cidr, NetIpam **ret)
{
        _cleanup_(net_ipam_freep) NetIpam *ipam = NULL;
        int r;

        if (!dir || !cidr)
                return -EINVAL;
        r = mkdir_p(dir, 0700);
        if (r < 0)
                return r;
        ipam = calloc(1, sizeof(*ipam));
        if (!ipam)
                return -ENOMEM;
        ipam->cidr = *cidr;
        ipam->next = 2;
        ipam->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (ipam->dirfd < 0)
                return -errno;
        r = ipam_load(ipam);
        if (r < 0)
                return r;
        if (ipam->next < 2 || ipam->next > cidr_size(cidr) - 2)
                ipam->next = 2;
        *ret = TAKE_PTR(ipam);
        return 0;
}

int net_ipam_allocate(NetIpam *ipam, const char *owner, uint32_t *ret)
{
        const NetAllocation *existing;
        uint32_t size = cidr_size(&ipam->cidr), count = size - 3, off = ipam->next;
        NetAllocation *l;
        char *o;
        int r;

        if (!spec_name_is_valid(owner))
                return -EINVAL;
        existing = net_ipam_find(ipam, owner);
        if (existing) {
                *ret = existing->addr;
                return 0;
        }
        if (ipam->n_allocs >= NET_ALLOCATIONS_MAX || ipam->n_allocs >= count)
                return -ENOSPC;
        /* Offsets 2 .. size-2: skip network, gateway and broadcast. */
        bool found = false;
        for (uint32_t i = 0; i < count && !found; i++) {
                if (off < 2 || off > size - 2)
                        off = 2;
                if (!addr_in_use(ipam, ipam->cidr.addr + off))
                        found = true;
                else
                        off++;
        }
        if (!found)
                return -ENOSPC;
        l = realloc(ipam->allocs, (ipam->n_allocs + 1) * sizeof(NetAllocation));
        if (!l)
                return -ENOMEM;
        ipam->allocs = l;
        o = strdup(owner);
        if (!o)
                return -ENOMEM;
        l[ipam->n_allocs++] = (NetAllocation){.owner = o, .addr = ipam->cidr.addr + off};
        ipam->next = off + 1 > size - 2 ? 2 : off + 1;
        r = ipam_save(ipam);
        if (r < 0) {
                /* Not on disk: not handed out. */
                allocation_done(&l[--ipam->n_allocs]);
                return r;
        }
        *ret = ipam->cidr.addr + off;
        return 0;
}

int net_ipam_set_ports(NetIpam *ipam, const char *owner, const SpecPort *ports, size_t n,
                       const char **ret_conflict)
{
        NetAllocation *al = NULL;
        SpecPort *copy = NULL, *old;
        size_t old_n;
        int r;

        for (size_t i = 0; i < ipam->n_allocs; i++)
                if (streq(ipam->allocs[i].owner, owner))
                        al = &ipam->allocs[i];
        if (!al)
                return -ENOENT;
        for (size_t i = 0; i < n; i++)
                for (size_t j = 0; j < ipam->n_allocs; j++) {
                        const NetAllocation *o = &ipam->allocs[j];
                        if (o == al)
                                continue;
                        for (size_t k = 0; k < o->n_ports; k++)
                                if (o->ports[k].host_port == ports[i].host_port &&
                                    o->ports[k].protocol == ports[i].protocol) {
                                        if (ret_conflict)
                                                *ret_conflict = o->owner;
                                        return -EADDRINUSE;
                                }
                }
        if (n == al->n_ports && (n == 0 || memcmp(al->ports, ports, n * sizeof(SpecPort)) == 0))
                return 0; /* unchanged: nothing to write */
        if (n > 0) {
                copy = calloc(n, sizeof(SpecPort));
                if (!copy)
                        return -ENOMEM;
                memcpy(copy, ports, n * sizeof(SpecPort));
        }
        old = al->ports;
        old_n = al->n_ports;
        al->ports = copy;
        al->n_ports = n;
        r = ipam_save(ipam);
        if (r < 0) {
                al->ports = old;
                al->n_ports = old_n;
                free(copy);
                return r;
        }
        free(old);
        return 1;
}

int net_ipam_release(NetIpam *ipam, const char *owner)
{
        for (size_t i = 0; i < ipam->n_allocs; i++) {
                NetAllocation saved;
                int r;

                if (!streq(ipam->allocs[i].owner, owner))
                        continue;
                saved = ipam->allocs[i];
                ipam->allocs[i] = ipam->allocs[ipam->n_allocs - 1];
                ipam->n_allocs--;
                r = ipam_save(ipam);
                if (r < 0) {
                        /* Still on disk: keep it in memory too. */
                        ipam->allocs[ipam->n_allocs++] = ipam->allocs[i];
                        ipam->allocs[i] = saved;
                        return r;
                }
                allocation_done(&saved);
                return 1;
        }
        return 0;
}
