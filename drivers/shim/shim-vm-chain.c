/* SPDX-License-Identifier: Apache-2.0 */
/* The root disk's backing chain as fdsets (shim-vm-chain.h).
 *
 * The overlay (workloads/<name>/disk.qcow2) already reaches QEMU as fdset 1.
 * Its backing file (an image under <root>/vm/images, a user disk, or a
 * snapshot layer under <root>/vm/layers, itself backed by more layers) would
 * be opened by QEMU by the path in the qcow2 header, which needs the whole
 * path to be reachable by vm.user. Instead the shim opens each level here and
 * the -drive option overrides the header's names with
 * backing.file.filename=/dev/fdset/N (and backing.backing... below it): the
 * headers keep the real paths, which the layer GC follows. */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>

#include "drivers/shim/shim-vm-chain.h"

#define HEADER_READ 65536u /* the header and its extensions live in cluster 0 */
#define EXT_BACKING_FORMAT 0xe2792acau

static uint32_t be32(const unsigned char *b)
{
        return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* Reads fd's qcow2 header: *is_qcow2, backing name (empty: none) and format. */
static int read_header(int fd, bool *is_qcow2, char *name, size_t name_size, char *fmt, size_t fmt_size)
{
        _cleanup_free_ unsigned char *h = malloc(HEADER_READ);
        uint64_t off;
        uint32_t len, hlen;
        ssize_t n;

        name[0] = fmt[0] = 0;
        *is_qcow2 = false;
        if (!h)
                return -ENOMEM;
        n = pread(fd, h, HEADER_READ, 0);
        if (n < 0)
                return -errno;
        if (n < 104 || memcmp(h, "QFI\xfb", 4) != 0)
                return 0; /* not qcow2 (berth's formats: raw then) */
        *is_qcow2 = true;
        off = (uint64_t)be32(h + 8) << 32 | be32(h + 12);
        len = be32(h + 16);
        if (off == 0 || len == 0)
                return 0;
        if (len >= name_size || off + len > (uint64_t)n)
                return -EBADMSG;
        memcpy(name, h + off, len);
        name[len] = 0;
        hlen = be32(h + 4) >= 3 ? be32(h + 100) : 72;
        for (uint64_t e = hlen; e + 8 <= (uint64_t)n;) {
                uint32_t type = be32(h + e), elen = be32(h + e + 4);
                if (type == 0 || e + 8 + elen > (uint64_t)n)
                        break;
                if (type == EXT_BACKING_FORMAT) {
                        if (elen >= fmt_size)
                                return -EBADMSG;
                        memcpy(fmt, h + e + 8, elen);
                        fmt[elen] = 0;
                        break;
                }
                e += 8 + (((uint64_t)elen + 7) & ~UINT64_C(7));
        }
        return 0;
}

int shim_vm_chain_open(int overlay_fd, ShimVmChain *c, char *why, size_t why_size)
{
        char name[PATH_MAX], fmt[16];
        bool qcow2;
        int fd = overlay_fd, r;

        c->n = 0;
        for (;;) {
                r = read_header(fd, &qcow2, name, sizeof(name), fmt, sizeof(fmt));
                if (r < 0) {
                        snprintf(why, why_size, "level %zu of the backing chain: bad qcow2 header", c->n);
                        goto fail;
                }
                if (!qcow2 || !name[0])
                        return 0;
                if (c->n >= SHIM_VM_CHAIN_MAX) {
                        snprintf(why, why_size, "the backing chain is deeper than %u images",
                                 SHIM_VM_CHAIN_MAX);
                        r = -ELOOP;
                        goto fail;
                }
                if (name[0] != '/') {
                        snprintf(why, why_size, "backing file \"%s\" is not an absolute path", name);
                        r = -EINVAL;
                        goto fail;
                }
                if (!streq(fmt, "raw") && !streq(fmt, "qcow2")) {
                        snprintf(why, why_size,
                                 "backing file \"%s\" has no raw or qcow2 backing format (\"%s\")", name,
                                 fmt);
                        r = -EMEDIUMTYPE;
                        goto fail;
                }
                c->format[c->n] = streq(fmt, "raw") ? "raw" : "qcow2";
                fd = open(name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
                if (fd < 0) {
                        r = -errno;
                        snprintf(why, why_size, "open the backing file \"%s\": %m", name);
                        goto fail;
                }
                c->fd[c->n++] = fd;
                if (streq(fmt, "raw"))
                        return 0;
        }
fail:
        shim_vm_chain_close(c);
        return r;
}

void shim_vm_chain_close(ShimVmChain *c)
{
        for (size_t i = 0; i < c->n; i++)
                safe_close(c->fd[i]);
        c->n = 0;
}

int shim_vm_chain_argv(const ShimVmChain *c, int first_fd, json_t *cfg)
{
        json_t *a = json_object_get(cfg, "argv");
        _cleanup_free_ char *opts = NULL;
        size_t drive = SIZE_MAX, len = 0, cap;
        char add[48];

        if (c->n == 0)
                return 0;
        for (size_t i = 0; i < json_array_size(a); i++) {
                const char *s = json_string_value(json_array_get(a, i));
                if (s && strncmp(s, "file=/dev/fdset/1,", 18) == 0)
                        drive = i;
        }
        if (drive == SIZE_MAX)
                return -ENOENT;
        /* level i: "backing." i times, then "driver=" and "file.filename=" */
        cap = strlen(json_string_value(json_array_get(a, drive))) + 1;
        for (size_t i = 1; i <= c->n; i++)
                cap += 2 * (8 * i + 1) + sizeof("driver=qcow2file.filename=/dev/fdset/4294967295");
        if (cap > 128 * 1024)
                return -E2BIG;
        opts = malloc(cap);
        if (!opts)
                return -ENOMEM;
        len = (size_t)snprintf(opts, cap, "%s", json_string_value(json_array_get(a, drive)));
        for (size_t i = 1; i <= c->n; i++) {
                for (int k = 0; k < 2; k++) {
                        opts[len++] = ',';
                        for (size_t j = 0; j < i; j++) {
                                memcpy(opts + len, "backing.", 8);
                                len += 8;
                        }
                        len +=
                            (size_t)(k == 0 ? snprintf(opts + len, cap - len, "driver=%s", c->format[i - 1])
                                            : snprintf(opts + len, cap - len, "file.filename=/dev/fdset/%zu",
                                                       SHIM_VM_CHAIN_FIRST_SET + i - 1));
                }
        }
        if (json_array_set_new(a, drive, json_string(opts)) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < c->n; i++) {
                snprintf(add, sizeof(add), "fd=%zu,set=%zu", (size_t)first_fd + i,
                         SHIM_VM_CHAIN_FIRST_SET + i);
                if (json_array_append_new(a, json_string("-add-fd")) < 0 ||
                    json_array_append_new(a, json_string(add)) < 0)
                        return -ENOMEM;
        }
        return 0;
}
