/* SPDX-License-Identifier: Apache-2.0 */
/* cpio newc writer for the berth initramfs (see initramfs.h). */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include "drivers/vm/initramfs.h"
#include "lib/util.h"

const char *const vm_initramfs_modules[] = {
        "kernel/drivers/virtio/virtio_ring.ko",
        "kernel/drivers/virtio/virtio.ko",
        "kernel/drivers/virtio/virtio_mmio.ko",
        /* q35 (the libvirt backend) has PCI: virtio-pci and its two helpers */
        "kernel/drivers/virtio/virtio_pci_legacy_dev.ko",
        "kernel/drivers/virtio/virtio_pci_modern_dev.ko",
        "kernel/drivers/virtio/virtio_pci.ko",
        "kernel/drivers/block/virtio_blk.ko",
        "kernel/drivers/char/virtio_console.ko",
        "kernel/net/core/failover.ko",
        "kernel/drivers/net/net_failover.ko",
        "kernel/drivers/net/virtio_net.ko",
        NULL,
};

static int cpio_entry(FILE *f, const char *name, unsigned mode, const void *data, size_t len, unsigned ino)
{
        size_t nl = strlen(name) + 1;
        static const char zeros[4] = {};

        if (fprintf(f, "070701%08X%08X%08X%08X%08X%08X%08zX%08X%08X%08X%08X%08zX%08X", ino, mode, 0u, 0u, 1u, 0u,
                    len, 0u, 0u, 0u, 0u, nl, 0u) < 0)
                return -EIO;
        if (fwrite(name, 1, nl, f) != nl)
                return -EIO;
        if ((110 + nl) % 4 && fwrite(zeros, 1, 4 - (110 + nl) % 4, f) != 4 - (110 + nl) % 4)
                return -EIO;
        if (len && fwrite(data, 1, len, f) != len)
                return -EIO;
        if (len % 4 && fwrite(zeros, 1, 4 - len % 4, f) != 4 - len % 4)
                return -EIO;
        return 0;
}

static int read_file_max(const char *path, uint64_t max, char **ret, size_t *ret_len)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        struct stat st;
        char *buf;

        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EINVAL;
        if ((uint64_t)st.st_size > max)
                return -EFBIG;
        buf = malloc((size_t)st.st_size + 1);
        if (!buf)
                return -ENOMEM;
        for (size_t off = 0; off < (size_t)st.st_size;) {
                ssize_t n = read(fd, buf + off, (size_t)st.st_size - off);
                if (n <= 0) {
                        free(buf);
                        return n < 0 ? -errno : -EIO;
                }
                off += (size_t)n;
        }
        *ret = buf;
        *ret_len = (size_t)st.st_size;
        return 0;
}

int vm_initramfs_build(const char *init_path, const char *modules_dir, const char *out_path)
{
        _cleanup_free_ char *tmp = NULL, *init = NULL, *list = NULL;
        size_t init_len, list_len = 0, list_cap = 4096;
        unsigned ino = 1;
        FILE *f;
        int r;

        r = read_file_max(init_path, VM_INITRD_MAX, &init, &init_len);
        if (r < 0)
                return r;
        if (asprintf(&tmp, "%s.tmp.%d", out_path, (int)getpid()) < 0)
                return -ENOMEM;
        list = calloc(1, list_cap);
        if (!list)
                return -ENOMEM;
        f = fopen(tmp, "wxe");
        if (!f)
                return -errno;
        r = 0;
        static const char *const dirs[] = { "dev", "proc", "sys", "modules", "newroot", NULL };
        for (size_t i = 0; r >= 0 && dirs[i]; i++)
                r = cpio_entry(f, dirs[i], S_IFDIR | 0755, NULL, 0, ino++);
        if (r >= 0)
                r = cpio_entry(f, "init", S_IFREG | 0755, init, init_len, ino++);
        for (size_t i = 0; r >= 0 && vm_initramfs_modules[i]; i++) {
                _cleanup_free_ char *p = NULL, *data = NULL, *name = NULL;
                const char *base = strrchr(vm_initramfs_modules[i], '/') + 1;
                size_t len;

                if (asprintf(&p, "%s/%s", modules_dir, vm_initramfs_modules[i]) < 0 ||
                    asprintf(&name, "modules/%s", base) < 0) {
                        r = -ENOMEM;
                        break;
                }
                if (read_file_max(p, VM_INITRD_MAX, &data, &len) < 0)
                        continue; /* built into this kernel */
                r = cpio_entry(f, name, S_IFREG | 0644, data, len, ino++);
                list_len += (size_t)snprintf(list + list_len, list_cap - list_len, "%s\n", base);
        }
        if (r >= 0)
                r = cpio_entry(f, "modules.list", S_IFREG | 0644, list, list_len, ino++);
        if (r >= 0)
                r = cpio_entry(f, "TRAILER!!!", 0, NULL, 0, 0);
        if (r >= 0 && (fflush(f) != 0 || fsync(fileno(f)) < 0))
                r = -errno;
        if (fclose(f) != 0 && r >= 0)
                r = -errno;
        if (r >= 0 && rename(tmp, out_path) < 0)
                r = -errno;
        if (r < 0)
                (void)unlink(tmp);
        return r;
}
