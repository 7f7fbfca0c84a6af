/* SPDX-License-Identifier: Apache-2.0 */
/* microVM networking pieces that run without a VM:
 * - drivers/vm/vm-frame.c: key/value payloads and their size limit, the MAC
 *   of an address, the NET payload / net.* CONFIG keys;
 * - drivers/vm/guest/init-net.c (the guest init's code, compiled in here):
 *   eth0's first configuration and a VM_FRAME_NET reconfiguration (new MAC,
 *   new address, default route), on a veth "eth0" in a private network
 *   namespace (root only; skipped otherwise). */
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/wait.h>

#include "drivers/vm/guest/init.h"
#include "drivers/vm/vm-frame.h"
#include "test-util.h"

/* The guest init's frame writer, captured. */
static uint32_t last_type;
static char last_payload[1024];
static size_t last_len;

void send_frame(uint32_t type, const void *data, size_t len)
{
        last_type = type;
        last_len = len < sizeof(last_payload) ? len : sizeof(last_payload);
        memcpy(last_payload, data, last_len);
}

void klog(const char *fmt, ...)
{
}

static bool kv_has(const VmKv *kv, const char *k, const char *v)
{
        for (size_t i = 0; i < kv->len;) {
                const char *key = kv->buf + i, *val = key + strlen(key) + 1;
                if (streq(key, k) && streq(val, v))
                        return true;
                i += strlen(key) + strlen(val) + 2;
        }
        return false;
}

static void test_kv(void)
{
        VmKv kv = {.max = 32};
        char mac[18];

        CHECK_RC(vm_kv_add(&kv, "arg", "echo"));
        CHECK(kv.len == 9 && memcmp(kv.buf, "arg\0echo\0", 9) == 0);
        CHECK(vm_kv_add(&kv, "arg", "a string that does not fit") == -E2BIG);
        CHECK(kv.len == 9); /* nothing half-written */
        vm_kv_done(&kv);
        CHECK(kv.buf == NULL && kv.len == 0);

        CHECK(streq(vm_net_mac(0x0a580005, mac), "02:b7:0a:58:00:05"));
        CHECK(streq(vm_net_mac(0xc0a8fffe, mac), "02:b7:c0:a8:ff:fe"));

        kv = (VmKv){};
        CHECK_RC(vm_net_kv(&kv, "net.", "02:b7:0a:58:00:05", 0x0a580005, 16, 0x0a580001));
        CHECK(kv_has(&kv, "net.mac", "02:b7:0a:58:00:05"));
        CHECK(kv_has(&kv, "net.addr", "10.88.0.5/16"));
        CHECK(kv_has(&kv, "net.gw", "10.88.0.1"));
        vm_kv_done(&kv);
        CHECK_RC(vm_net_kv(&kv, "", NULL, 0x0a580009, 24, 0x0a580001));
        CHECK(!kv_has(&kv, "mac", "") && kv_has(&kv, "addr", "10.88.0.9/24") &&
              kv_has(&kv, "gw", "10.88.0.1"));
        vm_kv_done(&kv);
        CHECK(vm_net_kv(&kv, "", NULL, 1, 0, 1) == -EINVAL);
        vm_kv_done(&kv);
}

static int sh(const char *cmd, char *out, size_t size)
{
        FILE *f = popen(cmd, "r");
        size_t n;

        if (!f)
                return -errno;
        n = fread(out, 1, size - 1, f);
        out[n] = 0;
        return pclose(f) == 0 ? 0 : -EIO;
}

/* In a child: its own network and mount namespaces (sysfs shows that
 * network namespace's links), a veth eth0, then the guest's code. */
static int guest_net_child(void)
{
        char why[256] = "", out[4096];
        VmKv kv = {};
        int32_t res;

        if (unshare(CLONE_NEWNET | CLONE_NEWNS) < 0)
                return 77;
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
            mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
                return 77;
        if (sh("ip link add eth0 type veth peer name peer0 2>&1 && ip link set peer0 up 2>&1", out,
               sizeof(out)) < 0)
                return 77;

        /* bad input never touches the link */
        CHECK(init_net_configure(NULL, "10.88.0.5", "10.88.0.1", why, sizeof(why)) == -EINVAL);
        CHECK(strstr(why, "bad address") != NULL);
        CHECK(init_net_configure("03:00:00:00:00:01", "10.88.0.5/16", "10.88.0.1", why, sizeof(why)) ==
              -EINVAL);
        CHECK(init_net_configure(NULL, "10.88.0.5/16", "10.88.0", why, sizeof(why)) == -EINVAL);

        /* first configuration (CONFIG keys) */
        CHECK_RC(init_net_configure("02:b7:0a:58:00:05", "10.88.0.5/16", "10.88.0.1", why, sizeof(why)));
        CHECK(sh("ip -o -4 addr show eth0", out, sizeof(out)) >= 0 && strstr(out, "inet 10.88.0.5/16"));
        CHECK(sh("ip -o link show eth0", out, sizeof(out)) >= 0 && strstr(out, "02:b7:0a:58:00:05") &&
              strstr(out, "UP"));
        CHECK(sh("ip -o link show lo", out, sizeof(out)) >= 0 && strstr(out, "UP"));
        CHECK(sh("ip route show default", out, sizeof(out)) >= 0 &&
              strstr(out, "default via 10.88.0.1 dev eth0"));

        /* VM_FRAME_NET: a clone's own MAC and address, answered by NET_DONE */
        CHECK_RC(vm_net_kv(&kv, "", "02:b7:0a:58:00:09", 0x0a580009, 16, 0x0a580001));
        init_net_on_frame(kv.buf, (uint32_t)kv.len);
        vm_kv_done(&kv);
        CHECK(last_type == VM_FRAME_NET_DONE && last_len >= 4);
        memcpy(&res, last_payload, 4);
        CHECK(res == 0);
        CHECK(sh("ip -o -4 addr show eth0", out, sizeof(out)) >= 0 && strstr(out, "inet 10.88.0.9/16") &&
              !strstr(out, "10.88.0.5"));
        CHECK(sh("ip -o link show eth0", out, sizeof(out)) >= 0 && strstr(out, "02:b7:0a:58:00:09"));
        CHECK(sh("ip route show default", out, sizeof(out)) >= 0 &&
              strstr(out, "default via 10.88.0.1 dev eth0"));

        /* a bad NET frame is answered with an error, the link keeps its state */
        CHECK_RC(vm_kv_add(&kv, "addr", "10.88.0.300/16"));
        CHECK_RC(vm_kv_add(&kv, "gw", "10.88.0.1"));
        init_net_on_frame(kv.buf, (uint32_t)kv.len);
        vm_kv_done(&kv);
        memcpy(&res, last_payload, 4);
        CHECK(last_type == VM_FRAME_NET_DONE && res == -EINVAL);
        CHECK(sh("ip -o -4 addr show eth0", out, sizeof(out)) >= 0 && strstr(out, "inet 10.88.0.9/16"));
        return test_failures ? 1 : 0;
}

static void test_guest_net(void)
{
        int status;
        pid_t pid;

        if (geteuid() != 0) {
                fprintf(stderr, "guest network part skipped: needs root\n");
                return;
        }
        pid = fork();
        if (pid == 0)
                _exit(guest_net_child());
        CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status));
        if (WEXITSTATUS(status) == 77)
                fprintf(stderr, "guest network part skipped: no namespaces or no veth links here\n");
        else
                CHECK(WEXITSTATUS(status) == 0);
}

int main(void)
{
        test_kv();
        test_guest_net();
        return test_result("vm-net");
}
