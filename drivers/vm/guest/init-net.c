/* SPDX-License-Identifier: Apache-2.0 */
/* eth0 of a berth microVM (docs/VM.md "Network"): virtio-net on a tap on the
 * berth bridge. Configured with plain ioctls (no netlink, libc only): MAC,
 * address/prefix, up, default route via the bridge's gateway. The same code
 * serves the first configuration (CONFIG keys) and VM_FRAME_NET, which gives
 * a restored clone its own MAC and address at any time. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <net/route.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "drivers/vm/guest/init.h"

#define IFNAME "eth0"

static int parse_mac(const char *s, unsigned char mac[6])
{
        unsigned v[6];
        char tail;

        if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &tail) != 6)
                return -EINVAL;
        for (int i = 0; i < 6; i++)
                mac[i] = (unsigned char)v[i];
        /* unicast only */
        return mac[0] & 1 ? -EINVAL : 0;
}

static int parse_cidr(const char *s, struct in_addr *addr, unsigned *prefix)
{
        char buf[32], *slash, *end;
        unsigned long p;

        if (strlen(s) >= sizeof(buf))
                return -EINVAL;
        strcpy(buf, s);
        slash = strchr(buf, '/');
        if (!slash)
                return -EINVAL;
        *slash = 0;
        errno = 0;
        p = strtoul(slash + 1, &end, 10);
        if (errno || *end || end == slash + 1 || p < 1 || p > 32)
                return -EINVAL;
        if (inet_pton(AF_INET, buf, addr) != 1)
                return -EINVAL;
        *prefix = (unsigned)p;
        return 0;
}

static void sin_set(struct sockaddr *sa, struct in_addr a)
{
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr = a};
        memcpy(sa, &sin, sizeof(sin));
}

static int if_flags(int s, const char *name, short set, short clear)
{
        struct ifreq ifr = {};

        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
        if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
                return -errno;
        ifr.ifr_flags = (short)((ifr.ifr_flags | set) & ~clear);
        return ioctl(s, SIOCSIFFLAGS, &ifr) < 0 ? -errno : 0;
}

static bool wait_for_eth0(void)
{
        struct timespec ts = {0, 10 * 1000 * 1000};

        for (int i = 0; i < 500; i++) {
                if (access("/sys/class/net/" IFNAME, F_OK) == 0)
                        return true;
                nanosleep(&ts, NULL);
        }
        return false;
}

int init_net_configure(const char *mac, const char *addr, const char *gw, char *why, size_t why_size)
{
        unsigned char hw[6];
        struct in_addr a, g, mask;
        struct ifreq ifr = {};
        struct rtentry rt = {};
        unsigned prefix;
        int s, r;

#define FAIL(err, ...)                                                                                      \
        do {                                                                                                \
                snprintf(why, why_size, __VA_ARGS__);                                                       \
                if (s >= 0)                                                                                 \
                        close(s);                                                                           \
                return (err);                                                                               \
        } while (0)
        s = -1;
        if (!addr || parse_cidr(addr, &a, &prefix) < 0)
                FAIL(-EINVAL, "bad address \"%s\"", addr ? addr : "");
        if (!gw || inet_pton(AF_INET, gw, &g) != 1)
                FAIL(-EINVAL, "bad gateway \"%s\"", gw ? gw : "");
        if (mac && parse_mac(mac, hw) < 0)
                FAIL(-EINVAL, "bad MAC address \"%s\"", mac);
        if (!wait_for_eth0())
                FAIL(-ENODEV, "no %s (virtio_net not loaded?)", IFNAME);
        s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (s < 0)
                FAIL(-errno, "socket: %s", strerror(errno));
        (void)if_flags(s, "lo", IFF_UP, 0);
        /* Down first: the MAC can only change on a down link, and going down
         * drops the old routes. */
        r = if_flags(s, IFNAME, 0, IFF_UP);
        if (r < 0)
                FAIL(r, "%s down: %s", IFNAME, strerror(-r));
        if (mac) {
                snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), IFNAME);
                ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
                memcpy(ifr.ifr_hwaddr.sa_data, hw, 6);
                if (ioctl(s, SIOCSIFHWADDR, &ifr) < 0)
                        FAIL(-errno, "set MAC %s: %s", mac, strerror(errno));
        }
        memset(&ifr, 0, sizeof(ifr));
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), IFNAME);
        sin_set(&ifr.ifr_addr, a);
        if (ioctl(s, SIOCSIFADDR, &ifr) < 0)
                FAIL(-errno, "set address %s: %s", addr, strerror(errno));
        mask.s_addr = htonl(prefix == 32 ? 0xffffffffu : ~(0xffffffffu >> prefix));
        sin_set(&ifr.ifr_netmask, mask);
        if (ioctl(s, SIOCSIFNETMASK, &ifr) < 0)
                FAIL(-errno, "set netmask /%u: %s", prefix, strerror(errno));
        r = if_flags(s, IFNAME, IFF_UP | IFF_RUNNING, 0);
        if (r < 0)
                FAIL(r, "%s up: %s", IFNAME, strerror(-r));
        sin_set(&rt.rt_dst, (struct in_addr){0});
        sin_set(&rt.rt_genmask, (struct in_addr){0});
        sin_set(&rt.rt_gateway, g);
        rt.rt_flags = RTF_UP | RTF_GATEWAY;
        rt.rt_dev = (char *)IFNAME;
        (void)ioctl(s, SIOCDELRT, &rt);
        if (ioctl(s, SIOCADDRT, &rt) < 0)
                FAIL(-errno, "default route via %s: %s", gw, strerror(errno));
        close(s);
        return 0;
#undef FAIL
}

static void write_etc(const char *name, const char *text)
{
        char tmp[64], path[64];
        int fd;

        snprintf(path, sizeof(path), "/etc/%s", name);
        snprintf(tmp, sizeof(tmp), "/etc/.%s.berth", name);
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0)
                return;
        if (write(fd, text, strlen(text)) != (ssize_t)strlen(text) || close(fd) < 0 ||
            rename(tmp, path) < 0) {
                klog("cannot write %s: %s", path, strerror(errno));
                (void)unlink(tmp);
        }
}

void init_net_write_files(const char *resolv, const char *hosts)
{
        struct stat st;

        /* Like a container's bind mounts: only into a root that has /etc.
         * The root is the VM's own overlay: the image is never written. */
        if (stat("/etc", &st) < 0 || !S_ISDIR(st.st_mode))
                return;
        if (resolv)
                write_etc("resolv.conf", resolv);
        if (hosts)
                write_etc("hosts", hosts);
}

void init_net_on_frame(const char *p, uint32_t len)
{
        const char *mac = NULL, *addr = NULL, *gw = NULL;
        char buf[512 + 4], why[256] = "";
        char *kv;
        int32_t res;
        int n;

        kv = malloc(len + 1);
        if (!kv)
                return;
        memcpy(kv, p, len);
        kv[len] = 0;
        for (uint32_t i = 0; i < len;) {
                const char *k = kv + i, *v;
                i += (uint32_t)strlen(k) + 1;
                if (i >= len)
                        break;
                v = kv + i;
                i += (uint32_t)strlen(v) + 1;
                if (strcmp(k, "mac") == 0)
                        mac = v;
                else if (strcmp(k, "addr") == 0)
                        addr = v;
                else if (strcmp(k, "gw") == 0)
                        gw = v;
        }
        res = init_net_configure(mac, addr, gw, why, sizeof(why));
        if (res < 0)
                klog("network reconfiguration failed: %s", why);
        else
                snprintf(why, sizeof(why), "eth0 %s via %s%s%s", addr, gw, mac ? " mac " : "",
                         mac ? mac : "");
        memcpy(buf, &res, 4);
        n = snprintf(buf + 4, sizeof(buf) - 4, "%s", why);
        if (n > (int)sizeof(buf) - 5)
                n = (int)sizeof(buf) - 5;
        send_frame(VM_FRAME_NET_DONE, buf, 4 + (size_t)n);
        free(kv);
}
