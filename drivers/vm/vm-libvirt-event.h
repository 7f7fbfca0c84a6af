/* SPDX-License-Identifier: Apache-2.0 */
/* libvirt's event loop on sd-event (docs/VM.md, libvirt backend). The process
 * that holds a libvirt connection (berth-shim in its libvirt mode) registers
 * this implementation with virEventRegisterImpl() before virConnectOpen():
 * libvirt's file handles become sd_event_add_io() sources and its timeouts
 * sd_event_add_time() sources on CLOCK_MONOTONIC, dispatched by the one
 * sd_event_loop() of that process, never polled.
 *
 * libvirt calls the add/update/remove functions from its own worker threads
 * too (a driver thread queueing a domain event arms the dispatch timeout),
 * while sd-event is single-threaded. So the registrations live in a table
 * under a mutex; a call made on the loop's thread applies at once, a call
 * from another thread is applied by the loop thread after an eventfd wakes
 * it. The free callbacks libvirt hands us always run later from the loop
 * thread, never inside the remove call (libvirt requires that). */
#pragma once

#include <systemd/sd-event.h>

/* Registers the implementation, bound to e (the caller's thread is the loop
 * thread). Once per process; e stays referenced for the process's life. */
int vm_libvirt_event_register(sd_event *e);
