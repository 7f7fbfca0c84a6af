/* SPDX-License-Identifier: Apache-2.0 */
/* The host <-> guest channel of the VM driver (docs/VM.md): a virtio-serial
 * port named "berth.0" carrying frames of an 8-byte header (type, length,
 * both little-endian uint32) and at most VM_FRAME_MAX bytes of payload.
 * Shared by berth-shim (host) and the guest init; no other dependencies. */
#pragma once

#include <stdint.h>

#define VM_PORT_NAME "berth.0"
#define VM_FRAME_MAX 65536u

typedef enum VmFrameType {
        VM_FRAME_HELLO = 1,  /* guest -> host: init is up (payload: text); the host answers CONFIG */
        VM_FRAME_CONFIG = 2, /* host -> guest: "key\0value\0" pairs: arg, env, cwd, hostname, uid, gid */
        VM_FRAME_STDOUT = 3, /* guest -> host: workload output */
        VM_FRAME_STDERR = 4,
        VM_FRAME_EXIT = 5,   /* guest -> host: int32 exit code, int32 signal (LE) */
        VM_FRAME_SIGNAL = 6, /* host -> guest: int32 signal for the workload */
        VM_FRAME_STARTED = 7,/* guest -> host: the command was executed (payload: pid as text) */
        VM_FRAME_ERROR = 8,  /* guest -> host: init failed before the command ran (text) */
} VmFrameType;

typedef struct VmFrameHeader {
        uint32_t type;
        uint32_t len;
} VmFrameHeader;
