/* SPDX-License-Identifier: Apache-2.0 */
/* The VM's tap and network CONFIG keys (see shim-vm-net.h). */
#include <net/if.h>
#include <stdio.h>

#include "drivers/net/net.h"
#include "drivers/shim/shim-vm-net.h"
#include "drivers/vm/vm-proto.h"

#define NET_FILE_MAX (64 * 1024)

int shim_vm_net_open(int dirfd, const char *mac, int *ret_tap, char *ret_tap_name, VmKv *keys)
{
        _cleanup_close_ int fd = -EBADF;
        NetAttach na;
        char name[IFNAMSIZ], macbuf[18];
        int r;

        r = net_attach_read(dirfd, &na);
        if (r < 0)
                return r;
        snprintf(name, sizeof(name), "bt%08x", na.addr);
        r = net_tap_open(name, na.bridge, &fd);
        if (r < 0)
                return r;
        r = vm_net_kv(keys, "net.", mac ?: vm_net_mac(na.addr, macbuf), na.addr, na.prefixlen, na.gateway);
        for (size_t i = 0; r >= 0 && i < 2; i++) {
                static const char *const files[][2] = {{NET_RESOLV_FILE, "resolv"},
                                                       {NET_HOSTS_FILE, "hosts"}};
                _cleanup_free_ char *text = NULL;
                if (read_file_at(dirfd, files[i][0], NET_FILE_MAX, &text, NULL) >= 0)
                        r = vm_kv_add(keys, files[i][1], text);
        }
        if (r < 0)
                return r;
        snprintf(ret_tap_name, IFNAMSIZ, "%s", name);
        *ret_tap = TAKE_FD(fd);
        return 0;
}
