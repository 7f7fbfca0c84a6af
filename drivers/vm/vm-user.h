/* SPDX-License-Identifier: Apache-2.0 */
/* The user QEMU runs as (vm.user, docs/VM.md "QEMU's user"). */
#pragma once

#include <stdbool.h>

#define VM_DEFAULT_USER "berth-qemu"

/* Resolves vm.user (configured: NULL = unset) to the user name passed to
 * berth-shim in *ret (NULL = root, no drop):
 *   unset: berth-qemu if that user exists, can reach <root>/vm and, when kvm
 *          (the default accelerator is KVM), can open /dev/kvm with its
 *          groups (its own and kvm); else root with one notice saying why;
 *   "root": root;
 *   another name: that name (berth-shim fails the start if it does not exist).
 * For a user that exists, grants it what QEMU opens by path, the initramfs
 * under <root>/vm: <root>/vm becomes root:<user's group> 0710, and <root>
 * gets group search (root:<group>, g+x) when others cannot search it.
 * Everything else under <root>/vm stays 0700 root. */
int vm_user_setup(const char *configured, const char *root_dir, bool kvm, char **ret);
