/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by the pieces of the static guest init (berth-init.c, init-net.c,
 * init-exec.c). libc only: this is linked statically into the initramfs. */
#pragma once

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "drivers/vm/vm-proto.h"

/* berth-init.c */
void send_frame(uint32_t type, const void *data, size_t len);
void klog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* init-net.c: eth0 (lo too) up with addr ("a.b.c.d/prefix"), default route
 * via gw, MAC changed first when mac is set. Waits up to 5 s for eth0 to
 * appear. 0 or -errno with the reason in why. */
int init_net_configure(const char *mac, const char *addr, const char *gw, char *why, size_t why_size);
/* /etc/resolv.conf and /etc/hosts of the (switched) root, when /etc exists. */
void init_net_write_files(const char *resolv, const char *hosts);
/* A VM_FRAME_NET payload: reconfigures eth0 and answers VM_FRAME_NET_DONE. */
void init_net_on_frame(const char *p, uint32_t len);

/* init-exec.c: exec sessions served from the main loop. */
size_t init_exec_pollfds(struct pollfd *p, size_t max);
void init_exec_dispatch(const struct pollfd *p, size_t n);
/* VM_FRAME_EXEC_* frames from the host. */
void init_exec_on_frame(uint32_t type, const char *p, uint32_t len);
/* A reaped child: true if it was an exec session's command. */
bool init_exec_reaped(pid_t pid, int status);
#define INIT_EXEC_POLL_MAX (VM_EXEC_SESSIONS_MAX * 3 + 1) /* + the SIGCHLD pipe */
