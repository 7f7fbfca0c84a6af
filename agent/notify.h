/* SPDX-License-Identifier: Apache-2.0 */
/* berthd and its service manager: sd_notify(3) messages (READY=1 after the
 * state is loaded and the runs re-adopted, STATUS= with the workload count,
 * WATCHDOG=1 from the event loop, RELOADING=1 around a SIGHUP reload,
 * STOPPING=1) and socket activation (sd_listen_fds(3)). Without a service
 * manager (no NOTIFY_SOCKET, no LISTEN_FDS) everything here is a no-op. */
#pragma once

#include <systemd/sd-event.h>

typedef struct Manager Manager;
typedef struct Notify Notify;

/* Arms the watchdog/status timer on event when WATCHDOG_USEC is set (pings
 * at half the interval), else a 5 s status refresh. m may be NULL until
 * notify_set_manager(). */
int notify_new(sd_event *event, Notify **ret);
Notify *notify_free(Notify *n);
void notify_set_manager(Notify *n, Manager *m);
/* READY=1 and STATUS=. Call once the manager has started. */
void notify_ready(Notify *n);
/* RELOADING=1 (with MONOTONIC_USEC=), then notify_ready() again when done. */
void notify_reloading(Notify *n);
void notify_stopping(Notify *n);

/* Returns the socket-activated API socket (>= 3), -EBADF when not activated,
 * or a negative errno when the passed fds are not one listening unix stream
 * socket. LISTEN_FDS/LISTEN_PID are unset so the shims do not inherit them. */
int notify_listen_fd(void);
