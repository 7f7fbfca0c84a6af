/* SPDX-License-Identifier: Apache-2.0 */
/* The VM driver's nested backends (docs/VM.md): what differs between QEMU
 * run directly under berth-shim (microvm) and QEMU run by libvirt (libvirt)
 * on the driver's side. Everything else (plan, checks, cgroup, files,
 * adoption, signals) is shared in vm.c; berth-shim picks its mode from the
 * "backend" member of vm.json. */
#pragma once

#include <jansson.h>

#include "drivers/vm/vm-qemu.h"
#include "lib/error.h"

typedef struct VmBackendConfig {
        const char *root_dir;    /* berth's state root */
        const char *libvirt_uri; /* vm.libvirtUri; NULL = an embedded driver per VM */
} VmBackendConfig;

typedef struct VmBackendOps {
        const char *name; /* "microvm" | "libvirt": spec.vm.backend, vm.backend */
        /* Adds what berth-shim needs for this backend to vm.json (cfg). */
        int (*configure)(const VmBackendConfig *bc, const VmLaunch *l, json_t *cfg, BerthError *err);
        /* Removes what a run left outside the workload directory; idempotent. */
        int (*remove)(const VmBackendConfig *bc, const char *name);
} VmBackendOps;

extern const VmBackendOps vm_backend_microvm;
extern const VmBackendOps vm_backend_libvirt;

/* NULL or "microvm" -> microvm, "libvirt" -> libvirt, anything else NULL. */
const VmBackendOps *vm_backend_find(const char *name);
