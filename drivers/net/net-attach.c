/* SPDX-License-Identifier: Apache-2.0 */
/* One workload's side of bridge networking: net.json, which berthd writes at
 * prepare, and net_attach(), which berth-shim runs for the workload's new
 * network namespace. Apart from net.c so that berth-shim, which links only
 * this, loads none of the nft libraries berthd's side needs. */
#include <arpa/inet.h>
#include <jansson.h>

#include "drivers/net/net.h"

int net_attach(const NetAttach *a, int netns_fd)
{
        int r;

        r = net_link_veth_create(a->host_if, a->bridge, a->ifname, netns_fd);
        if (r < 0)
                return r;
        return net_link_configure_in(netns_fd, a->ifname, a->addr, a->prefixlen, a->gateway);
}

json_t *net_attach_to_json(const NetAttach *a)
{
        char x[INET_ADDRSTRLEN], g[INET_ADDRSTRLEN];

        return json_pack("{s:s, s:s, s:s, s:s, s:s, s:i}", "bridge", a->bridge, "hostInterface", a->host_if,
                         "interface", a->ifname, "address", net_addr_format(a->addr, x), "gateway",
                         net_addr_format(a->gateway, g), "prefixLength", (int)a->prefixlen);
}

static int copy_name(const json_t *j, const char *key, char dst[static IFNAMSIZ])
{
        const char *s = json_string_value(json_object_get(j, key));

        if (!s || strlen(s) == 0 || strlen(s) >= IFNAMSIZ)
                return -EBADMSG;
        snprintf(dst, IFNAMSIZ, "%s", s);
        return 0;
}

static int get_addr(const json_t *j, const char *key, uint32_t *ret)
{
        const char *s = json_string_value(json_object_get(j, key));
        struct in_addr in;

        if (!s || inet_pton(AF_INET, s, &in) != 1)
                return -EBADMSG;
        *ret = ntohl(in.s_addr);
        return 0;
}

int net_attach_from_json(const json_t *j, NetAttach *ret)
{
        NetAttach a = {};
        json_int_t p;

        if (!json_is_object(j))
                return -EBADMSG;
        p = json_integer_value(json_object_get(j, "prefixLength"));
        if (copy_name(j, "bridge", a.bridge) < 0 || copy_name(j, "hostInterface", a.host_if) < 0 ||
            copy_name(j, "interface", a.ifname) < 0 || get_addr(j, "address", &a.addr) < 0 ||
            get_addr(j, "gateway", &a.gateway) < 0 || p < 8 || p > 30)
                return -EBADMSG;
        a.prefixlen = (unsigned)p;
        *ret = a;
        return 0;
}

int net_attach_write(int dirfd, const NetAttach *a)
{
        _cleanup_free_ char *text = NULL;
        json_t *j = net_attach_to_json(a);

        if (!j)
                return -ENOMEM;
        text = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        if (!text)
                return -ENOMEM;
        return net_file_replace_at(dirfd, NET_ATTACH_FILE, text);
}

int net_attach_read(int dirfd, NetAttach *ret)
{
        _cleanup_free_ char *text = NULL;
        size_t len;
        json_t *j;
        int r;

        r = read_file_at(dirfd, NET_ATTACH_FILE, 4096, &text, &len);
        if (r < 0)
                return r;
        j = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
        if (!j)
                return -EBADMSG;
        r = net_attach_from_json(j, ret);
        json_decref(j);
        return r;
}
