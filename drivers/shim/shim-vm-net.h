/* SPDX-License-Identifier: Apache-2.0 */
/* berth-shim's VM mode: the VM's tap on the berth bridge and the network
 * keys of the CONFIG frame (docs/VM.md "Network"). */
#pragma once

#include "drivers/vm/vm-frame.h"

/* Reads net.json in dirfd, opens the tap "bt<address in hex>" on the bridge
 * (not persistent: it goes away with QEMU, its last holder) and fills *keys
 * with net.mac, net.addr, net.gw and the resolv/hosts file contents.
 * ret_tap_name: IFNAMSIZ bytes. */
int shim_vm_net_open(int dirfd, const char *mac, int *ret_tap, char *ret_tap_name, VmKv *keys);
