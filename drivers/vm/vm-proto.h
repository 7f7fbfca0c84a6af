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
        /* Networking (guest/init-net.c): eth0 is first configured from the
         * CONFIG keys net.mac, net.addr ("a.b.c.d/prefix"), net.gw, resolv
         * and hosts (file contents for /etc); NET reconfigures it at any time. */
        VM_FRAME_NET = 9,       /* host -> guest: "key\0value\0": mac, addr (a.b.c.d/prefix), gw (vm_net_kv()) */
        VM_FRAME_NET_DONE = 10, /* guest -> host: int32 result (0 or -errno, LE), then text */
        /* exec sessions (guest/init-exec.c, shim-vm-exec.c), multiplexed by
         * a uint32 session id chosen by the host at the head of the payload. */
        VM_FRAME_EXEC_START = 11,  /* h->g: id, then "key\0value\0": arg (repeated), env (repeated), cwd, tty ("1"), rows, cols */
        VM_FRAME_EXEC_STDIN = 12,  /* h->g: id + bytes (at most VM_EXEC_CHUNK); id alone = EOF */
        VM_FRAME_EXEC_STDOUT = 13, /* g->h: id + bytes (at most VM_EXEC_CHUNK) */
        VM_FRAME_EXEC_STDERR = 14, /* g->h: id + bytes */
        VM_FRAME_EXEC_EXIT = 15,   /* g->h: id, int32 exit code (128+N for signal N), int32 signal; ends the session */
        VM_FRAME_EXEC_SIGNAL = 16, /* h->g: id, int32 signal for the session's process group */
        VM_FRAME_EXEC_ACK = 17,    /* both ways: id, uint32 bytes of STDIN resp. STDOUT/STDERR data consumed */
        VM_FRAME_EXEC_RESIZE = 18, /* h->g: id, uint16 rows, uint16 cols (tty sessions) */
        /* Snapshots (docs/VM.md): after a restore the guest did not boot, so
         * there is no HELLO; the shim sends PING and the guest init echoes
         * the payload back in PONG (time of "answering" in vm-hello). */
        VM_FRAME_PING = 32, /* host -> guest: any payload (at most 64 bytes) */
        VM_FRAME_PONG = 33, /* guest -> host: the PING's payload */
} VmFrameType;

/* exec limits: sessions at once per VM, data bytes per frame, and the flow
 * control window (unacknowledged data bytes in flight per session and
 * direction; the receiver acks what it has handed on). The host may start a
 * last exec-socket frame (at most VM_FRAME_MAX) just below the window, so
 * the guest buffers up to VM_EXEC_WINDOW + VM_FRAME_MAX of stdin. */
#define VM_EXEC_SESSIONS_MAX 16u
#define VM_EXEC_CHUNK 16384u
#define VM_EXEC_WINDOW (256u * 1024u)
#define VM_EXEC_ARGS_MAX 1024u /* arg and env entries each */

typedef struct VmFrameHeader {
        uint32_t type;
        uint32_t len;
} VmFrameHeader;
