/* SPDX-License-Identifier: Apache-2.0 */
/* berth-shim's libvirt mode (drivers/shim/shim-libvirt.c, docs/VM.md): used
 * when vm.json says "backend": "libvirt". Called by shim_vm_run() once the
 * initramfs and the disk overlay exist. */
#pragma once

#include <jansson.h>

#include "drivers/container/cgroup.h"
#include "drivers/container/container-files.h"
#include "lib/logfile.h"

/* Starts the transient domain paused, connects to its guest channel and
 * console sockets, puts QEMU into the workload's cgroup (embedded driver),
 * resumes it and supervises it on an sd-event loop (which also runs
 * libvirt's events) until it stopped; records exit.json. Returns the shim's
 * exit status. */
int shim_libvirt_run(int dirfd, const ShimConfig *c, LogWriter *w, const CgroupOps *cg, int *notify_fd,
                     json_t *cfg);
