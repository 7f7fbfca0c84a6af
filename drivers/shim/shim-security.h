/* SPDX-License-Identifier: Apache-2.0 */
/* Hardening of the container init (berth-shim side): capabilities, the
 * default seccomp profile, masked and read-only paths, procfs checks. The
 * policy is read from the canonical spec stored in config.json
 * ("spec.security"), so the shim needs no spec parser. See docs/CONTAINER.md
 * "Hardening". */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct ShimSecurity {
        uint64_t caps;          /* bit N = capability N kept (bounding, permitted, effective) */
        bool seccomp;           /* load the default profile */
        bool user_namespace;    /* container root maps to an unprivileged host range */
        uint32_t uid_base;      /* host uid/gid of container root when user_namespace */
        uint32_t id_count;
        int userns_sock;        /* socketpair end (shim: [0], init: [1]) carrying the rootfs tree fd */
        int seccomp_fd;         /* init: read end of the compiled filter (shim_seccomp_export), or -EBADF */
        bool rootfs_idmapped;   /* set by shim_userns_parent() */
} ShimSecurity;

/* docker/containerd's default set: CHOWN DAC_OVERRIDE FSETID FOWNER MKNOD
 * NET_RAW SETGID SETUID SETFCAP SETPCAP NET_BIND_SERVICE SYS_CHROOT KILL
 * AUDIT_WRITE. */
uint64_t shim_default_caps(void);

/* Applies add/drop (canonical names, "ALL" allowed) to the default set.
 * Unknown names: -EINVAL. */
int shim_caps_compute(char **add, char **drop, uint64_t *ret);

/* spec.security of a parsed config.json. Missing => defaults. */
int shim_security_from_config(const json_t *config, ShimSecurity *ret);
/* The same, reading the config.json in dirfd. */
int shim_security_load(int dirfd, ShimSecurity *ret);

/* Inside the container, after pivot_root, with /proc and /sys mounted:
 * masks /proc/kcore & co. (bind /dev/null or an empty read-only tmpfs) and
 * makes /proc/sys, /proc/bus, ... read-only. root is an O_PATH fd on "/". */
int shim_security_paths(int root);

/* Fails with -EPERM if fd lives on procfs (a working directory under /proc). */
int shim_check_not_proc(int fd);

/* Writes value to a procfs file (path absolute, e.g. "/proc/123/uid_map")
 * after checking with fstatfs that it really is procfs. */
int shim_proc_write(const char *path, const char *value);

/* The last steps before exec, in this order: bounding set, ambient and
 * inheritable cleared, no_new_privs, capset(permitted = effective = caps),
 * then the seccomp filter (if enabled): read from s->seccomp_fd when that is
 * open, else compiled here. */
int shim_security_apply(const ShimSecurity *s);

/* Compiles the seccomp filter for s into fd as raw BPF (seccomp_export_bpf).
 * Unless the pooled shim compiled it ahead (shim_seccomp_precompile),
 * berth-shim does this after the clone, while the init sets up its mounts
 * on the other CPU, so the init only loads it (in bridge mode the roles
 * swap: the shim builds the network, the init compiles its own filter). */
int shim_seccomp_export(const ShimSecurity *s, int fd);
/* The filter for s, compiled into a memfd at offset 0 (for the init to read
 * with shim_security_apply). Returns the fd. */
int shim_seccomp_memfd(const ShimSecurity *s);
/* The filter for the default capability set, compiled ahead (by the pooled
 * shim while it waits) into a memfd at offset 0: an init whose caps are the
 * default ones reads it instead of waiting for a compile. Returns the fd. */
int shim_seccomp_precompile(void);

/* User namespaces (spec.security.userNamespace). Shim side, after the
 * clone and before releasing the init: writes uid_map/gid_map (checked
 * procfs writes) and gives the init its rootfs: an idmapped detached mount
 * sent over sec->userns_sock where the kernel and filesystem allow it,
 * otherwise the rootfs is chowned into the range (files owned by ids below
 * id_count are shifted; idempotent) and no fd is sent. */
int shim_userns_parent(ShimSecurity *sec, pid_t child, const char *rootfs);
/* Init side, after the sync: if a tree fd arrives, put the idmapped rootfs
 * in place over rootfs. The ids switch to the namespace's root later, in
 * shim_security_apply(). */
int shim_userns_child(const ShimSecurity *sec, const char *rootfs);

/* setgroups/setresgid/setresuid to the namespace's root. Called once the
 * rootfs is open (host paths below 0700 directories only resolve as host
 * root) and before anything is created in it (an unmapped owner would be
 * EOVERFLOW). */
int shim_userns_become_root(const ShimSecurity *s);

/* Builds the seccomp filter without loading it; returns the number of rules
 * (for the unit test), or a negative errno. */
int shim_seccomp_rule_count(uint64_t caps);
