/* SPDX-License-Identifier: Apache-2.0 */
/* Backend lookup and the microvm backend's part (vm-backend.h). */
#include "drivers/vm/vm-backend.h"
#include "lib/util.h"

static int microvm_configure(const VmBackendConfig *bc, const VmLaunch *l, json_t *cfg, BerthError *err)
{
        /* the QEMU argv is already in vm.json (vm_qemu_argv) */
        return json_object_set_new(cfg, "backend", json_string("microvm")) < 0 ? -ENOMEM : 0;
}

const VmBackendOps vm_backend_microvm = {
    .name = "microvm",
    .configure = microvm_configure,
};

const VmBackendOps *vm_backend_find(const char *name)
{
        if (!name || streq(name, "microvm"))
                return &vm_backend_microvm;
        if (streq(name, "libvirt"))
                return &vm_backend_libvirt;
        return NULL;
}
