/* SPDX-License-Identifier: Apache-2.0 */
/* Building "key\0value\0" payloads for the host/guest channel (vm-proto.h)
 * and the values the network keys carry. Host side only (berth-shim, the VM
 * driver); the guest init parses them itself. */
#pragma once

#include <stdint.h>

#include "lib/util.h"

typedef struct VmKv {
        char *buf;
        size_t len, cap;
        size_t max; /* 0 = VM_FRAME_MAX */
} VmKv;

/* Appends key\0value\0; -E2BIG past max, -ENOMEM. */
int vm_kv_add(VmKv *kv, const char *key, const char *value);
int vm_kv_add_bytes(VmKv *kv, const void *p, size_t n);
void vm_kv_done(VmKv *kv);

/* The guest's MAC for a bridge address: 02:b7:<the four address bytes>
 * (locally administered, unicast; distinct addresses give distinct MACs). */
char *vm_net_mac(uint32_t addr, char buf[static 18]);

/* The VM_FRAME_NET payload (also the net.* CONFIG keys with prefix "net."):
 * mac, addr "a.b.c.d/prefix", gw. A clone restored from a snapshot is sent
 * one with its own address and MAC. prefix is "" or "net.". */
int vm_net_kv(VmKv *kv, const char *prefix, const char *mac, uint32_t addr, unsigned prefixlen,
              uint32_t gateway);
