/* SPDX-License-Identifier: Apache-2.0 */
/* The libvirt backend of the VM driver, driver side (docs/VM.md). berthd
 * never talks to libvirt: it writes the domain XML and the connection
 * details into vm.json, and berth-shim's libvirt mode
 * (drivers/shim/shim-libvirt.c) holds the connection for the whole run, as
 * it holds QEMU in the microvm backend.
 *
 * Without vm.libvirtUri every VM gets its own embedded QEMU driver,
 * qemu:///embed?root=<root>/lv/<id>: an embed root is locked by the one
 * process that opens it, and the shims are separate processes. The
 * capabilities cache is shared (<root>/lv/cache) so that only the first VM
 * pays for QEMU's probing. */
#include <fcntl.h>
#include <inttypes.h>

#include "drivers/vm/vm-backend.h"
#include "drivers/vm/vm-libvirt-xml.h"
#include "lib/util.h"

#define LV_DIR "lv"
#define LV_CHANNEL "chan.sock"
#define LV_CONSOLE "con.sock"

/* <root>/lv/<12 hex digits of the name's FNV-1a hash>: short, because QEMU's
 * monitor socket lands at <embed root>/lib/qemu/domain-N-<name>/monitor.sock
 * and a unix socket path has at most 107 bytes. */
static int embed_root(const char *root_dir, const char *name, char **ret)
{
        uint64_t h = UINT64_C(0xcbf29ce484222325);

        for (const char *p = name; *p; p++)
                h = (h ^ (unsigned char)*p) * UINT64_C(0x100000001b3);
        return asprintf(ret, "%s/" LV_DIR "/%012" PRIx64, root_dir, h & UINT64_C(0xffffffffffff)) < 0
                   ? -ENOMEM
                   : 0;
}

/* Percent-encodes everything but [A-Za-z0-9/._-] (libvirt unescapes URIs). */
static int uri_escape(const char *s, char **ret)
{
        char *o = malloc(strlen(s) * 3 + 1), *q = o;

        if (!o)
                return -ENOMEM;
        for (; *s; s++) {
                unsigned char c = (unsigned char)*s;
                if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    strchr("/._-", c))
                        *q++ = (char)c;
                else
                        q += sprintf(q, "%%%02X", c);
        }
        *q = 0;
        *ret = o;
        return 0;
}

static int libvirt_configure(const VmBackendConfig *bc, const VmLaunch *l, json_t *cfg, BerthError *err)
{
        _cleanup_free_ char *xml = NULL, *chan = NULL, *con = NULL, *disk = NULL, *uri = NULL, *root = NULL,
                            *esc = NULL, *piddir = NULL, *cache = NULL, *dom = NULL;
        char cmdline[160] = "console=ttyS0 quiet panic=-1 rdinit=/init";
        bool embed;
        int r;

        if (asprintf(&chan, "%s/workloads/%s/" LV_CHANNEL, bc->root_dir, l->name) < 0 ||
            asprintf(&con, "%s/workloads/%s/" LV_CONSOLE, bc->root_dir, l->name) < 0 ||
            asprintf(&disk, "%s/workloads/%s/disk.qcow2", bc->root_dir, l->name) < 0 ||
            asprintf(&cache, "%s/" LV_DIR "/cache", bc->root_dir) < 0 ||
            asprintf(&dom, VM_LIBVIRT_DOMAIN_PREFIX "%s", l->name) < 0)
                return -ENOMEM;
        if (bc->libvirt_uri) {
                static const char pfx[] = "qemu:///embed?root=";
                const char *q =
                    strncmp(bc->libvirt_uri, pfx, strlen(pfx)) == 0 ? bc->libvirt_uri + strlen(pfx) : NULL;

                uri = strdup(bc->libvirt_uri);
                if (!uri)
                        return -ENOMEM;
                embed = q;
                if (q) {
                        root = strndup(q, strcspn(q, "&"));
                        if (!root)
                                return -ENOMEM;
                } else if (streq(uri, "qemu:///system") && !(piddir = strdup("/run/libvirt/qemu")))
                        return -ENOMEM;
        } else {
                embed = true;
                r = embed_root(bc->root_dir, l->name, &root);
                if (r < 0)
                        return r;
                r = uri_escape(root, &esc);
                if (r < 0)
                        return r;
                if (asprintf(&uri, "qemu:///embed?root=%s", esc) < 0)
                        return -ENOMEM;
        }
        if (embed && asprintf(&piddir, "%s/run/qemu", root) < 0)
                return -ENOMEM;
        /* 55 bytes: /lib/qemu/domain-NNN-<20 chars of the name>/monitor.sock */
        if (embed && strlen(root) + 55 > VM_LIBVIRT_SOCKET_PATH_MAX)
                return berth_error_set(err, -ENAMETOOLONG, "spec.vm.backend",
                                       "the embedded libvirt root %s is too long for QEMU's monitor socket "
                                       "(at most %d bytes); use a shorter berth root",
                                       root, VM_LIBVIRT_SOCKET_PATH_MAX - 55);
        if (streq(l->accel, "tcg") && l->tsc_khz)
                snprintf(cmdline + strlen(cmdline), sizeof(cmdline) - strlen(cmdline),
                         " tsc_early_khz=%" PRIu64, l->tsc_khz);
        VmLibvirtDomain d = {
            .name = l->name,
            .accel = l->accel,
            .vcpus = l->vcpus,
            .memory_bytes = l->memory_bytes,
            .kernel = l->kernel,
            .initrd = l->initrd,
            .cmdline = cmdline,
            .disk = disk,
            .channel_path = chan,
            .console_path = con,
        };
        r = vm_libvirt_domain_xml(&d, &xml);
        if (r == -ENAMETOOLONG)
                return berth_error_set(
                    err, r, "spec.vm.backend",
                    "the guest channel socket %s is longer than %d bytes; use a shorter name or "
                    "berth root",
                    chan, VM_LIBVIRT_SOCKET_PATH_MAX);
        if (r < 0)
                return berth_error_set(err, r, "", "cannot build the libvirt domain XML: %s", strerror(-r));
        if (json_object_set_new(cfg, "backend", json_string("libvirt")) < 0 ||
            json_object_set_new(cfg, "libvirt_uri", json_string(uri)) < 0 ||
            json_object_set_new(cfg, "libvirt_embed_root", root ? json_string(root) : json_null()) < 0 ||
            json_object_set_new(cfg, "libvirt_owns_root", json_boolean(!bc->libvirt_uri)) < 0 ||
            json_object_set_new(cfg, "libvirt_cache", json_string(cache)) < 0 ||
            json_object_set_new(cfg, "libvirt_pid_dir", piddir ? json_string(piddir) : json_null()) < 0 ||
            json_object_set_new(cfg, "domain", json_string(dom)) < 0 ||
            json_object_set_new(cfg, "domain_xml", json_string(xml)) < 0 ||
            json_object_set_new(cfg, "channel_path", json_string(chan)) < 0 ||
            json_object_set_new(cfg, "console_path", json_string(con)) < 0)
                return -ENOMEM;
        return 0;
}

static int libvirt_remove(const VmBackendConfig *bc, const char *name)
{
        _cleanup_free_ char *root = NULL, *lv = NULL;
        _cleanup_close_ int fd = -EBADF;
        int r;

        if (bc->libvirt_uri)
                return 0; /* not ours: an operator's libvirt */
        r = embed_root(bc->root_dir, name, &root);
        if (r < 0)
                return r;
        if (asprintf(&lv, "%s/" LV_DIR, bc->root_dir) < 0)
                return -ENOMEM;
        fd = open(lv, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return errno == ENOENT ? 0 : -errno;
        r = rm_rf_at(fd, strrchr(root, '/') + 1);
        return r == -ENOENT ? 0 : r;
}

const VmBackendOps vm_backend_libvirt = {
    .name = "libvirt",
    .configure = libvirt_configure,
    .remove = libvirt_remove,
};
