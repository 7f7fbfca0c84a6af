/* SPDX-License-Identifier: Apache-2.0 */
/* "key\0value\0" payloads for the host/guest channel (vm-frame.h). */
#include <arpa/inet.h>
#include <stdio.h>

#include "drivers/net/net.h"
#include "drivers/vm/vm-frame.h"
#include "drivers/vm/vm-proto.h"

int vm_kv_add_bytes(VmKv *kv, const void *p, size_t n)
{
        size_t max = kv->max ? kv->max : VM_FRAME_MAX;

        if (kv->len + n > max)
                return -E2BIG;
        if (kv->len + n > kv->cap) {
                size_t cap = (kv->len + n) * 2;
                char *nb = realloc(kv->buf, cap);
                if (!nb)
                        return -ENOMEM;
                kv->buf = nb;
                kv->cap = cap;
        }
        if (n)
                memcpy(kv->buf + kv->len, p, n);
        kv->len += n;
        return 0;
}

int vm_kv_add(VmKv *kv, const char *key, const char *value)
{
        size_t kl = strlen(key) + 1, vl = strlen(value) + 1;
        size_t max = kv->max ? kv->max : VM_FRAME_MAX;
        int r;

        if (kv->len + kl + vl > max)
                return -E2BIG;
        r = vm_kv_add_bytes(kv, key, kl);
        return r < 0 ? r : vm_kv_add_bytes(kv, value, vl);
}

void vm_kv_done(VmKv *kv)
{
        free(kv->buf);
        *kv = (VmKv){};
}

char *vm_net_mac(uint32_t addr, char buf[static 18])
{
        snprintf(buf, 18, "02:b7:%02x:%02x:%02x:%02x", (addr >> 24) & 0xff, (addr >> 16) & 0xff,
                 (addr >> 8) & 0xff, addr & 0xff);
        return buf;
}

int vm_net_kv(VmKv *kv, const char *prefix, const char *mac, uint32_t addr, unsigned prefixlen,
              uint32_t gateway)
{
        char a[INET_ADDRSTRLEN], cidr[INET_ADDRSTRLEN + 4], g[INET_ADDRSTRLEN], k[16];
        int r;

        if (strlen(prefix) > 8 || prefixlen < 1 || prefixlen > 32)
                return -EINVAL;
        snprintf(cidr, sizeof(cidr), "%s/%u", net_addr_format(addr, a), prefixlen);
        net_addr_format(gateway, g);
        snprintf(k, sizeof(k), "%smac", prefix);
        r = mac ? vm_kv_add(kv, k, mac) : 0;
        snprintf(k, sizeof(k), "%saddr", prefix);
        if (r >= 0)
                r = vm_kv_add(kv, k, cidr);
        snprintf(k, sizeof(k), "%sgw", prefix);
        if (r >= 0)
                r = vm_kv_add(kv, k, g);
        return r;
}
