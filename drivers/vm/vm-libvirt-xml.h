/* SPDX-License-Identifier: Apache-2.0 */
/* The libvirt domain XML of a berth VM (docs/VM.md, libvirt backend): q35
 * with direct kernel boot, the same kernel, initramfs, qcow2 overlay and
 * guest channel as the microvm backend. Written with libxml2's text writer,
 * so every string (paths come from the user) is escaped. Pure function. */
#pragma once

#include <stdint.h>

#define VM_LIBVIRT_DOMAIN_PREFIX "berth-" /* domain name: berth-<workload> */
#define VM_LIBVIRT_XMLNS "https://berth.dev/xmlns/libvirt/1"

typedef struct VmLibvirtDomain {
        const char *name;  /* workload name */
        const char *accel; /* "kvm" -> <domain type='kvm'>, "tcg" -> 'qemu' */
        uint64_t vcpus;
        uint64_t memory_bytes;
        const char *kernel;
        const char *initrd;
        const char *cmdline;
        const char *disk;         /* the per-run qcow2 overlay */
        const char *channel_path; /* unix socket QEMU binds for virtio-serial port berth.0 */
        const char *console_path; /* unix socket QEMU binds for the serial console */
        const char *tap;          /* existing tap device (managed='no'), NULL = no network */
        const char *mac;          /* with tap, may be NULL */
} VmLibvirtDomain;

/* The longest unix socket path (sun_path minus the NUL). */
#define VM_LIBVIRT_SOCKET_PATH_MAX 107

/* Fills *ret with a NUL-terminated XML document (free()). -EINVAL when a
 * field is missing or a socket path is too long, -ENOMEM. */
int vm_libvirt_domain_xml(const VmLibvirtDomain *d, char **ret);

/* berth-shim, bridge mode: the same document with an <interface
 * type='ethernet'> on the existing tap (managed='no': libvirt opens it by
 * name and leaves it alone), model virtio, and mac when given. */
int vm_libvirt_xml_add_tap(const char *xml, const char *tap, const char *mac, char **ret);
