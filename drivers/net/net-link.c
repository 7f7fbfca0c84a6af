/* SPDX-License-Identifier: Apache-2.0 */
/* rtnetlink through libmnl: the bridge, veth pairs, addresses, routes, taps.
 * Every request asks for an ACK and waits for it, so errors come back as the
 * kernel's errno. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <time.h>

#include "drivers/net/net.h"

/* Requests are small; an ACK (or error with the echoed request) fits too. */
#define NL_BUF_SIZE 8192

static void mnl_socket_closep(struct mnl_socket **s)
{
        if (*s)
                mnl_socket_close(*s);
}
#define _cleanup_mnl_ _cleanup_(mnl_socket_closep)

static int nl_open(struct mnl_socket **ret)
{
        struct mnl_socket *nl;

        nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
        if (!nl)
                return -errno;
        if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
                int r = -errno;
                mnl_socket_close(nl);
                return r;
        }
        *ret = nl;
        return 0;
}

/* Sends one request and waits for its ACK (or error). */
static int nl_talk(struct mnl_socket *nl, struct nlmsghdr *nlh)
{
        char buf[NL_BUF_SIZE];
        unsigned portid = mnl_socket_get_portid(nl);
        ssize_t n;
        int r;

        nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
        nlh->nlmsg_seq = (unsigned)time(NULL) ^ (unsigned)random();
        if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
                return -errno;
        for (;;) {
                n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                r = mnl_cb_run(buf, (size_t)n, nlh->nlmsg_seq, portid, NULL, NULL);
                if (r < 0)
                        return -errno;
                if (r == MNL_CB_STOP)
                        return 0;
        }
}

static struct nlmsghdr *link_msg(char *buf, uint16_t type, uint16_t flags, struct ifinfomsg **ret_ifm)
{
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
        struct ifinfomsg *ifm;

        nlh->nlmsg_type = type;
        nlh->nlmsg_flags = flags;
        ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
        ifm->ifi_family = AF_UNSPEC;
        if (ret_ifm)
                *ret_ifm = ifm;
        return nlh;
}

static int check_ifname(const char *name)
{
        size_t l = name ? strlen(name) : 0;

        if (l == 0 || l >= IFNAMSIZ || strchr(name, '/') || strchr(name, ' '))
                return -EINVAL;
        return 0;
}

static int link_set_up(struct mnl_socket *nl, const char *name)
{
        char buf[NL_BUF_SIZE];
        struct ifinfomsg *ifm;
        struct nlmsghdr *nlh = link_msg(buf, RTM_NEWLINK, 0, &ifm);

        ifm->ifi_change = IFF_UP;
        ifm->ifi_flags = IFF_UP;
        mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
        return nl_talk(nl, nlh);
}

static int link_set_master(struct mnl_socket *nl, const char *name, const char *master)
{
        char buf[NL_BUF_SIZE];
        struct ifinfomsg *ifm;
        struct nlmsghdr *nlh = link_msg(buf, RTM_NEWLINK, 0, &ifm);
        unsigned idx = if_nametoindex(master);

        if (idx == 0)
                return -errno;
        mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
        mnl_attr_put_u32(nlh, IFLA_MASTER, idx);
        return nl_talk(nl, nlh);
}

static int addr_add(struct mnl_socket *nl, unsigned ifindex, uint32_t addr, unsigned prefixlen)
{
        char buf[NL_BUF_SIZE];
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
        struct ifaddrmsg *ifa;
        uint32_t be = htonl(addr);

        nlh->nlmsg_type = RTM_NEWADDR;
        nlh->nlmsg_flags = NLM_F_CREATE | NLM_F_REPLACE;
        ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
        ifa->ifa_family = AF_INET;
        ifa->ifa_prefixlen = (unsigned char)prefixlen;
        ifa->ifa_scope = RT_SCOPE_UNIVERSE;
        ifa->ifa_index = ifindex;
        mnl_attr_put_u32(nlh, IFA_LOCAL, be);
        mnl_attr_put_u32(nlh, IFA_ADDRESS, be);
        return nl_talk(nl, nlh);
}

static int route_add_default(struct mnl_socket *nl, unsigned ifindex, uint32_t gateway)
{
        char buf[NL_BUF_SIZE];
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
        struct rtmsg *rtm;

        nlh->nlmsg_type = RTM_NEWROUTE;
        nlh->nlmsg_flags = NLM_F_CREATE | NLM_F_REPLACE;
        rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
        rtm->rtm_family = AF_INET;
        rtm->rtm_dst_len = 0;
        rtm->rtm_table = RT_TABLE_MAIN;
        rtm->rtm_protocol = RTPROT_BOOT;
        rtm->rtm_scope = RT_SCOPE_UNIVERSE;
        rtm->rtm_type = RTN_UNICAST;
        mnl_attr_put_u32(nlh, RTA_GATEWAY, htonl(gateway));
        mnl_attr_put_u32(nlh, RTA_OIF, ifindex);
        return nl_talk(nl, nlh);
}

int net_link_delete(const char *name)
{
        _cleanup_mnl_ struct mnl_socket *nl = NULL;
        char buf[NL_BUF_SIZE];
        struct nlmsghdr *nlh;
        int r;

        if (check_ifname(name) < 0)
                return -EINVAL;
        r = nl_open(&nl);
        if (r < 0)
                return r;
        nlh = link_msg(buf, RTM_DELLINK, 0, NULL);
        mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
        r = nl_talk(nl, nlh);
        return r == -ENODEV ? 0 : r;
}

int net_link_bridge_ensure(const char *name, uint32_t addr, unsigned prefixlen)
{
        _cleanup_mnl_ struct mnl_socket *nl = NULL;
        char buf[NL_BUF_SIZE];
        struct nlmsghdr *nlh;
        struct nlattr *info;
        unsigned idx;
        int r;

        if (check_ifname(name) < 0)
                return -EINVAL;
        r = nl_open(&nl);
        if (r < 0)
                return r;
        nlh = link_msg(buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, NULL);
        mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
        info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
        mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "bridge");
        mnl_attr_nest_end(nlh, info);
        r = nl_talk(nl, nlh);
        if (r < 0 && r != -EEXIST)
                return r;
        idx = if_nametoindex(name);
        if (idx == 0)
                return -errno;
        r = addr_add(nl, idx, addr, prefixlen);
        if (r < 0 && r != -EEXIST)
                return r;
        return link_set_up(nl, name);
}

int net_link_veth_create(const char *host_if, const char *bridge, const char *peer_if, int netns_fd)
{
        _cleanup_mnl_ struct mnl_socket *nl = NULL;
        char buf[NL_BUF_SIZE];
        struct nlattr *info, *data, *peer;
        struct ifinfomsg *ifm, *pifm;
        struct nlmsghdr *nlh;
        unsigned master;
        int r;

        if (check_ifname(host_if) < 0 || check_ifname(peer_if) < 0 || check_ifname(bridge) < 0 || netns_fd < 0)
                return -EINVAL;
        master = if_nametoindex(bridge);
        if (master == 0)
                return -errno;
        r = nl_open(&nl);
        if (r < 0)
                return r;
        for (int attempt = 0; attempt < 2; attempt++) {
                nlh = link_msg(buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &ifm);
                ifm->ifi_change = IFF_UP;
                ifm->ifi_flags = IFF_UP;
                mnl_attr_put_strz(nlh, IFLA_IFNAME, host_if);
                mnl_attr_put_u32(nlh, IFLA_MASTER, master);
                info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
                mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "veth");
                data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
                peer = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
                pifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*pifm));
                pifm->ifi_family = AF_UNSPEC;
                mnl_attr_put_strz(nlh, IFLA_IFNAME, peer_if);
                mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, (uint32_t)netns_fd);
                mnl_attr_nest_end(nlh, peer);
                mnl_attr_nest_end(nlh, data);
                mnl_attr_nest_end(nlh, info);
                r = nl_talk(nl, nlh);
                if (r != -EEXIST || attempt > 0)
                        break;
                /* A host end left over from a run whose netns still lingers. */
                (void)net_link_delete(host_if);
        }
        return r;
}

int net_link_configure_in(int netns_fd, const char *ifname, uint32_t addr, unsigned prefixlen, uint32_t gateway)
{
        _cleanup_mnl_ struct mnl_socket *nl = NULL;
        _cleanup_close_ int self = -EBADF;
        unsigned idx;
        int r;

        if (check_ifname(ifname) < 0 || netns_fd < 0)
                return -EINVAL;
        self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
        if (self < 0)
                return -errno;
        /* A netlink socket belongs to the netns it was created in: enter,
         * open, leave at once (this is called from the single-threaded shim). */
        if (setns(netns_fd, CLONE_NEWNET) < 0)
                return -errno;
        r = nl_open(&nl);
        idx = r >= 0 ? if_nametoindex(ifname) : 0;
        if (r >= 0 && idx == 0)
                r = -errno;
        if (setns(self, CLONE_NEWNET) < 0)
                return -errno; /* cannot happen short of a kernel bug; do not go on in the wrong netns */
        if (r < 0)
                return r;

        r = addr_add(nl, idx, addr, prefixlen);
        if (r < 0)
                return r;
        r = link_set_up(nl, "lo");
        if (r < 0)
                return r;
        r = link_set_up(nl, ifname);
        if (r < 0)
                return r;
        if (gateway != 0) {
                r = route_add_default(nl, idx, gateway);
                if (r < 0)
                        return r;
        }
        return 0;
}

int net_tap_open(const char *name, const char *bridge, int *ret_fd)
{
        _cleanup_mnl_ struct mnl_socket *nl = NULL;
        _cleanup_close_ int fd = -EBADF;
        struct ifreq ifr = {};
        int r;

        if (check_ifname(name) < 0 || check_ifname(bridge) < 0)
                return -EINVAL;
        fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
        if (ioctl(fd, TUNSETIFF, &ifr) < 0)
                return -errno;
        r = nl_open(&nl);
        if (r < 0)
                return r;
        r = link_set_master(nl, name, bridge);
        if (r < 0)
                return r;
        r = link_set_up(nl, name);
        if (r < 0)
                return r;
        *ret_fd = TAKE_FD(fd);
        return 0;
}
