/* SPDX-License-Identifier: Apache-2.0 */
/* The berth initramfs (docs/VM.md): a cpio "newc" archive holding /init (the
 * static guest init) and the virtio modules of the guest kernel, loaded in
 * the order of /modules.list. Built by berth-shim on first use, cached by
 * kernel version + guest init identity under <root>/vm/. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define VM_INITRD_MAX (UINT64_C(64) << 20)   /* larger initrds are refused */
/* Part of the cache key of built initramfs images: bump when the module list changes
 * (2: virtio_pci for q35 guests of the libvirt backend). */
#define VM_INITRAMFS_LAYOUT 2

/* Modules needed by a microVM guest, in dependency order. */
extern const char *const vm_initramfs_modules[];

/* Writes the archive to out_path (tmp + rename). modules_dir is
 * <kernel tree>/lib/modules/<version>; missing modules are skipped (built-in). */
int vm_initramfs_build(const char *init_path, const char *modules_dir, const char *out_path);
