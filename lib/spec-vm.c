/* SPDX-License-Identifier: Apache-2.0 */
/* spec.vm: the microVM knobs of a workload (docs/VM.md). Everything is
 * optional; the VM driver fills in the defaults and checks them against the
 * host (vCPUs, memory, kernel file) at create time. */
#include "lib/spec.h"

static const char *const vm_fields[] = { "vcpus", "memory", "kernel", "initrd", "disk", "backend", "accelerator", NULL };
static const char *const backends[] = { "microvm", "libvirt", NULL };
static const char *const accels[] = { "auto", "kvm", "tcg", NULL };

static bool in_list(const char *const *l, const char *s)
{
        for (; *l; l++)
                if (streq(*l, s))
                        return true;
        return false;
}

static int vm_path(const json_t *vm, const char *key, char **ret, BerthError *err)
{
        const json_t *v = json_object_get(vm, key);
        char path[64];
        const char *s;
        size_t n;

        if (!v || json_is_null(v))
                return 0;
        snprintf(path, sizeof(path), "spec.vm.%s", key);
        if (!json_is_string(v))
                return berth_error_set(err, -EINVAL, path, "must be a string");
        s = json_string_value(v);
        n = strlen(s);
        if (s[0] != '/' || n > SPEC_STRING_MAX || strstr(s, "/../") || (n >= 3 && streq(s + n - 3, "/..")))
                return berth_error_set(err, -EINVAL, path, "\"%.200s\" is not an absolute path without \"..\"", s);
        *ret = strdup(s);
        return *ret ? 0 : -ENOMEM;
}

static int vm_choice(const json_t *vm, const char *key, const char *const *choices, char **ret, BerthError *err)
{
        const json_t *v = json_object_get(vm, key);
        char path[64];

        if (!v || json_is_null(v))
                return 0;
        snprintf(path, sizeof(path), "spec.vm.%s", key);
        if (!json_is_string(v) || !in_list(choices, json_string_value(v)))
                return berth_error_set(err, -EINVAL, path, "must be one of %s, %s%s%s", choices[0], choices[1],
                                       choices[2] ? ", " : "", choices[2] ? choices[2] : "");
        *ret = strdup(json_string_value(v));
        return *ret ? 0 : -ENOMEM;
}

int spec_vm_from_json(const json_t *spec, SpecVm *ret, BerthError *err)
{
        const json_t *vm = json_object_get(spec, "vm"), *v;
        const char *key;
        SpecVm x = {};
        int r;

        if (!vm || json_is_null(vm))
                return 0;
        if (!json_is_object(vm))
                return berth_error_set(err, -EINVAL, "spec.vm", "must be a mapping");
        json_object_foreach((json_t *)vm, key, v)
                if (!in_list(vm_fields, key))
                        return berth_error_set(err, -EINVAL, "spec.vm", "unknown field \"%.64s\"", key);

        v = json_object_get(vm, "vcpus");
        if (v && !json_is_null(v)) {
                if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > SPEC_VM_VCPUS_MAX)
                        return berth_error_set(err, -EINVAL, "spec.vm.vcpus", "must be an integer from 1 to %d",
                                               SPEC_VM_VCPUS_MAX);
                x.vcpus = (uint64_t)json_integer_value(v);
        }
        v = json_object_get(vm, "memory");
        if (v && !json_is_null(v)) {
                if (!json_is_string(v))
                        return berth_error_set(err, -EINVAL, "spec.vm.memory", "must be a quantity string such as \"256Mi\"");
                r = parse_memory_quantity(json_string_value(v), &x.memory_bytes);
                if (r < 0)
                        return berth_error_set(err, -EINVAL, "spec.vm.memory", "\"%.64s\" is not a memory quantity",
                                               json_string_value(v));
                if (x.memory_bytes < (UINT64_C(32) << 20) || x.memory_bytes > SPEC_MEMORY_MAX)
                        return berth_error_set(err, -EINVAL, "spec.vm.memory", "must be between 32Mi and 1Pi");
        }
        if ((r = vm_path(vm, "kernel", &x.kernel, err)) < 0 || (r = vm_path(vm, "initrd", &x.initrd, err)) < 0 ||
            (r = vm_path(vm, "disk", &x.disk, err)) < 0 ||
            (r = vm_choice(vm, "backend", backends, &x.backend, err)) < 0 ||
            (r = vm_choice(vm, "accelerator", accels, &x.accelerator, err)) < 0) {
                spec_vm_done(&x);
                return r;
        }
        *ret = x;
        return 0;
}

int spec_vm_to_json(const SpecVm *vm, json_t *spec)
{
        char buf[64];
        json_t *o;

        if (!vm->vcpus && !vm->memory_bytes && !vm->kernel && !vm->initrd && !vm->disk && !vm->backend &&
            !vm->accelerator)
                return 0;
        o = json_object();
        if (!o)
                return -ENOMEM;
        if ((vm->vcpus && json_object_set_new(o, "vcpus", json_integer((json_int_t)vm->vcpus)) < 0) ||
            (vm->memory_bytes &&
             json_object_set_new(o, "memory", json_string(format_memory_quantity(buf, sizeof(buf), vm->memory_bytes))) < 0) ||
            (vm->kernel && json_object_set_new(o, "kernel", json_string(vm->kernel)) < 0) ||
            (vm->initrd && json_object_set_new(o, "initrd", json_string(vm->initrd)) < 0) ||
            (vm->disk && json_object_set_new(o, "disk", json_string(vm->disk)) < 0) ||
            (vm->backend && json_object_set_new(o, "backend", json_string(vm->backend)) < 0) ||
            (vm->accelerator && json_object_set_new(o, "accelerator", json_string(vm->accelerator)) < 0)) {
                json_decref(o);
                return -ENOMEM;
        }
        return json_object_set_new(spec, "vm", o) < 0 ? -ENOMEM : 0;
}

void spec_vm_done(SpecVm *vm)
{
        free(vm->kernel);
        free(vm->initrd);
        free(vm->disk);
        free(vm->backend);
        free(vm->accelerator);
        *vm = (SpecVm){};
}

int spec_vm_copy(const SpecVm *src, SpecVm *dst)
{
        *dst = (SpecVm){ .vcpus = src->vcpus, .memory_bytes = src->memory_bytes };
        dst->kernel = strdup_or_null(src->kernel);
        dst->initrd = strdup_or_null(src->initrd);
        dst->disk = strdup_or_null(src->disk);
        dst->backend = strdup_or_null(src->backend);
        dst->accelerator = strdup_or_null(src->accelerator);
        if ((src->kernel && !dst->kernel) || (src->initrd && !dst->initrd) || (src->disk && !dst->disk) ||
            (src->backend && !dst->backend) || (src->accelerator && !dst->accelerator)) {
                spec_vm_done(dst);
                return -ENOMEM;
        }
        return 0;
}
