/* SPDX-License-Identifier: Apache-2.0 */
/* drivers/vm/vm-snapshot.c: the qcow2 backing-name parser on images made by
 * the real qemu-img (none, a raw base, an overlay chain, not qcow2) and the
 * disk layer GC on a temp berth root: layers reached from a workload's
 * disk.qcow2, from a snapshot's result.json (through a chain of layers) and
 * from a restored workload's vm-restore.json are kept; an unreached one and
 * only it is removed; files that are not layers are never touched. */
#include <fcntl.h>
#include <sys/stat.h>

#include "drivers/vm/vm-snapshot.h"
#include "test-util.h"

static char root[256];

static int sh(const char *fmt, const char *a, const char *b)
{
        char cmd[2048];
        snprintf(cmd, sizeof(cmd), fmt, a, b);
        return system(cmd) == 0 ? 0 : -EIO;
}

/* qcow2 PATH backed by BACKING (NULL: none, size 16M) */
static void qcow2(const char *path, const char *backing)
{
        if (backing)
                CHECK_RC(sh("qemu-img create -q -f qcow2 -F qcow2 -b '%s' '%s' >/dev/null", backing, path));
        else
                CHECK_RC(sh("qemu-img create -q -f qcow2 '%s' 16M >/dev/null%s", path, ""));
}

static void backing_is(const char *path, const char *want)
{
        char buf[4096];
        int fd = open(path, O_RDONLY | O_CLOEXEC);

        CHECK(fd >= 0);
        CHECK_RC(vm_qcow2_backing(fd, buf, sizeof(buf)));
        CHECK(streq(buf, want));
        close(fd);
}

static void test_backing(void)
{
        char base[300], raw[300], top[300], txt[300], buf[64];
        int fd;

        snprintf(base, sizeof(base), "%s/base.qcow2", root);
        snprintf(raw, sizeof(raw), "%s/base.raw", root);
        snprintf(top, sizeof(top), "%s/top.qcow2", root);
        snprintf(txt, sizeof(txt), "%s/notes.txt", root);
        qcow2(base, NULL);
        backing_is(base, "");
        qcow2(top, base);
        backing_is(top, base);
        CHECK_RC(sh("qemu-img create -q -f raw '%s' 1M >/dev/null%s", raw, ""));
        CHECK_RC(sh("qemu-img create -q -f qcow2 -F raw -b '%s' '%s' >/dev/null", raw, top));
        backing_is(top, raw);
        fd = open(raw, O_RDONLY | O_CLOEXEC);
        CHECK(vm_qcow2_backing(fd, buf, sizeof(buf)) == -EMEDIUMTYPE);
        close(fd);
        CHECK_RC(sh("echo hello > '%s'%s", txt, ""));
        fd = open(txt, O_RDONLY | O_CLOEXEC);
        CHECK(vm_qcow2_backing(fd, buf, sizeof(buf)) < 0);
        close(fd);
        /* a name longer than the buffer is an error, not a truncation */
        fd = open(top, O_RDONLY | O_CLOEXEC);
        CHECK(vm_qcow2_backing(fd, buf, 4) == -EBADMSG);
        close(fd);
}

static bool exists(const char *rel)
{
        char p[512];
        snprintf(p, sizeof(p), "%s/%s", root, rel);
        return access(p, F_OK) == 0;
}

static void test_gc(void)
{
        char p[512], q[512], d[2048];

        CHECK_RC(sh("mkdir -p '%s/vm/layers' '%s/workloads/w1' ", root, root));
        CHECK_RC(sh("mkdir -p '%s/workloads/w2' '%s/vm/snapshots/s1' ", root, root));
        CHECK_RC(sh("mkdir -p '%s/vm/snapshots/.tmp-s2' '%s/vm/images' ", root, root));
#define L(n) (snprintf(p, sizeof(p), "%s/vm/layers/%s.qcow2", root, n), p)
        snprintf(d, sizeof(d), "%s/vm/images/base.qcow2", root);
        qcow2(d, NULL);
        /* a <- b: b is reached from w1's disk */
        qcow2(L("a"), d);
        snprintf(q, sizeof(q), "%s", p);
        qcow2(L("b"), q);
        snprintf(q, sizeof(q), "%s", p);
        snprintf(d, sizeof(d), "%s/workloads/w1/disk.qcow2", root);
        qcow2(d, q);
        /* c <- e: e is named by s1's result.json */
        qcow2(L("c"), NULL);
        snprintf(q, sizeof(q), "%s", p);
        qcow2(L("e"), q);
        snprintf(d, sizeof(d), "printf '{\"ok\":true,\"layer\":\"%s\"}' > '%s/vm/snapshots/s1/result.json'",
                 p, root);
        CHECK(system(d) == 0);
        /* f: named by w2's vm-restore.json; g: by an in-progress snapshot */
        qcow2(L("f"), NULL);
        snprintf(d, sizeof(d), "printf '{\"layer\":\"%s\"}' > '%s/workloads/w2/vm-restore.json'", p, root);
        CHECK(system(d) == 0);
        qcow2(L("g"), NULL);
        snprintf(d, sizeof(d),
                 "printf '{\"ok\":true,\"layer\":\"%s\"}' > '%s/vm/snapshots/.tmp-s2/result.json'", p, root);
        CHECK(system(d) == 0);
        /* h: reached only through a hardlink under a workload (a snapshot in progress) */
        qcow2(L("h"), NULL);
        snprintf(d, sizeof(d), "%s/workloads/w2/disk.qcow2", root);
        CHECK(link(p, d) == 0);
        /* x: nothing reaches it; y: not a layer file */
        qcow2(L("x"), NULL);
        CHECK_RC(sh("echo keep > '%s/vm/layers/y.txt'%s", root, ""));
#undef L
        CHECK(vm_layers_gc(root) == 1);
        CHECK(exists("vm/layers/a.qcow2") && exists("vm/layers/b.qcow2"));
        CHECK(exists("vm/layers/c.qcow2") && exists("vm/layers/e.qcow2"));
        CHECK(exists("vm/layers/f.qcow2") && exists("vm/layers/g.qcow2") && exists("vm/layers/h.qcow2"));
        CHECK(!exists("vm/layers/x.qcow2"));
        CHECK(exists("vm/layers/y.txt"));
        /* the snapshot goes: its chain c <- e follows */
        CHECK_RC(sh("rm -rf '%s/vm/snapshots/s1'%s", root, ""));
        CHECK(vm_layers_gc(root) == 2);
        CHECK(!exists("vm/layers/c.qcow2") && !exists("vm/layers/e.qcow2"));
        CHECK(exists("vm/layers/a.qcow2") && exists("vm/layers/b.qcow2"));
        /* no layer store: nothing to do */
        CHECK_RC(sh("rm -rf '%s/vm/layers'%s", root, ""));
        CHECK(vm_layers_gc(root) == 0);
}

int main(void)
{
        if (system("qemu-img --version >/dev/null 2>&1") != 0)
                SKIP("qemu-img missing (apt-get install qemu-utils)");
        snprintf(root, sizeof(root), "/tmp/berth-test-vm-snapshot-XXXXXX");
        if (!mkdtemp(root))
                SKIP("mkdtemp failed");
        test_backing();
        test_gc();
        sh("rm -rf '%s'%s", root, "");
        return test_result("vm-snapshot");
}
