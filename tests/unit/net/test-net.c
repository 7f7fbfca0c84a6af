/* SPDX-License-Identifier: Apache-2.0 */
/* drivers/net: CIDR parsing, IPAM (allocate, release, persistence, no
 * duplicates, exhaustion, ports), nft rendering (and, as root, loading it
 * into a private network namespace), hosts/resolv.conf rendering, and the
 * spec.network parser. TAP. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <nftables/libnftables.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "drivers/net/net.h"
#include "tests/unit/lib/tap.h"

static uint32_t ip(const char *s)
{
        struct in_addr a;
        inet_pton(AF_INET, s, &a);
        return ntohl(a.s_addr);
}

static void test_cidr(void)
{
        NetCidr c;
        static const char *const bad[] = {
            "10.88.0.0",     "10.88.0.1/16", "10.88.0.0/31",  "10.0.0.0/7", "10.88.0.0/",
            "10.88.0.0/016", "300.1.1.0/24", "10.88.0.0/16x", "",           NULL};

        tap_ok(net_cidr_parse("10.88.0.0/16", &c) == 0 && c.addr == ip("10.88.0.0") && c.prefixlen == 16,
               "cidr 10.88.0.0/16 parses");
        tap_ok(net_cidr_gateway(&c) == ip("10.88.0.1"), "gateway is the first host address");
        for (size_t i = 0; bad[i]; i++)
                tap_ok(net_cidr_parse(bad[i], &c) == -EINVAL, "cidr \"%s\" is refused", bad[i]);
}

static bool file_has(const char *dir, const char *name, const char *needle)
{
        _cleanup_free_ char *path = NULL, *text = NULL;
        size_t len;

        if (asprintf(&path, "%s/%s", dir, name) < 0 ||
            read_file_at(AT_FDCWD, path, 1 << 20, &text, &len) < 0)
                return false;
        return strstr(text, needle) != NULL;
}

static void test_ipam(const char *dir)
{
        _cleanup_(net_ipam_freep) NetIpam *ipam = NULL;
        uint32_t a, b, c, a2, d, e;
        NetCidr cidr, other;
        SpecPort p80 = {.host_port = 8080, .container_port = 80, .protocol = IPPROTO_TCP};
        SpecPort p80u = {.host_port = 8080, .container_port = 80, .protocol = IPPROTO_UDP};
        const char *conflict = NULL;

        net_cidr_parse("10.77.0.0/29", &cidr); /* offsets 2..6: five workload addresses */
        tap_ok(net_ipam_open(dir, &cidr, &ipam) == 0, "ipam opens an empty dir");
        tap_ok(net_ipam_allocate(ipam, "a", &a) == 0 && a == ip("10.77.0.2"),
               "first address is .2 (gateway .1 skipped)");
        tap_ok(net_ipam_allocate(ipam, "b", &b) == 0 && b == ip("10.77.0.3"), "second address is .3");
        tap_ok(net_ipam_allocate(ipam, "a", &a2) == 0 && a2 == a, "same owner, same address");
        tap_ok(file_has(dir, NET_IPAM_FILE, "\"10.77.0.3\""), "allocation is on disk before it is returned");
        tap_ok(net_ipam_release(ipam, "b") == 1, "release b");
        tap_ok(net_ipam_release(ipam, "b") == 0, "release is idempotent");
        tap_ok(net_ipam_allocate(ipam, "c", &c) == 0 && c == ip("10.77.0.4"),
               "released .3 is not reused at once");
        tap_ok(net_ipam_set_ports(ipam, "a", &p80, 1, NULL) == 1, "a publishes 8080/tcp (changed)");
        tap_ok(net_ipam_set_ports(ipam, "a", &p80, 1, NULL) == 0, "the same ports again: unchanged");
        tap_ok(net_ipam_set_ports(ipam, "b", NULL, 0, NULL) == -ENOENT, "released owner has no ports");
        tap_ok(net_ipam_set_ports(ipam, "c", &p80, 1, &conflict) == -EADDRINUSE && streq_ptr(conflict, "a"),
               "c cannot publish 8080/tcp too (conflict names a)");
        tap_ok(net_ipam_set_ports(ipam, "c", &p80u, 1, NULL) == 1, "8080/udp is a different port");
        tap_ok(net_ipam_set_ports(ipam, "zz", &p80u, 1, NULL) == -ENOENT, "ports need an address");
        ipam = net_ipam_free(ipam);

        /* A restarted daemon sees the same allocations and never repeats one. */
        tap_ok(net_ipam_open(dir, &cidr, &ipam) == 0, "ipam reopens");
        tap_ok(net_ipam_find(ipam, "a") && net_ipam_find(ipam, "a")->addr == a &&
                   net_ipam_find(ipam, "a")->n_ports == 1 &&
                   net_ipam_find(ipam, "a")->ports[0].host_port == 8080,
               "a's address and port survive a reopen");
        tap_ok(net_ipam_find(ipam, "b") == NULL, "b stays released");
        tap_ok(net_ipam_allocate(ipam, "d", &d) == 0 && d == ip("10.77.0.5"),
               "after reopen, next is .5 (round robin kept)");
        tap_ok(net_ipam_allocate(ipam, "e", &e) == 0 && e == ip("10.77.0.6"), ".6");
        tap_ok(net_ipam_allocate(ipam, "f", &e) == 0 && e == ip("10.77.0.3"), "wraps around to the free .3");
        tap_ok(net_ipam_allocate(ipam, "g", &e) == -ENOSPC, "a full subnet says ENOSPC");
        {
                bool dup = false;
                for (size_t i = 0; i < ipam->n_allocs; i++)
                        for (size_t k = i + 1; k < ipam->n_allocs; k++)
                                dup = dup || ipam->allocs[i].addr == ipam->allocs[k].addr;
                tap_ok(!dup && ipam->n_allocs == 5, "five owners, five distinct addresses");
        }
        tap_ok(net_ipam_allocate(ipam, "../x", &e) == -EINVAL, "owner must be a workload name");
        ipam = net_ipam_free(ipam);

        net_cidr_parse("10.66.0.0/24", &other);
        tap_ok(net_ipam_open(dir, &other, &ipam) == -EADDRNOTAVAIL,
               "another subnet over live allocations is refused");

        /* Only the final file: no temporary left behind. */
        {
                _cleanup_free_ char *cmd = NULL;
                asprintf(&cmd, "test $(ls -A %s | wc -l) -eq 1", dir);
                tap_ok(system(cmd) == 0, "no temporary files left in the ipam dir");
        }
}

static void test_nft_render(const char *dir)
{
        _cleanup_(net_ipam_freep) NetIpam *ipam = NULL;
        _cleanup_free_ char *empty = NULL, *full = NULL;
        SpecPort ps[2] = {{8080, 80, IPPROTO_TCP}, {5353, 53, IPPROTO_UDP}};
        NetCidr cidr;
        uint32_t a;

        net_cidr_parse("10.55.0.0/24", &cidr);
        net_ipam_open(dir, &cidr, &ipam);
        empty = net_nft_render_table(ipam);
        tap_ok(empty && strstr(empty, "delete table ip berth") && !strstr(empty, "elements"),
               "empty map renders without elements and replaces the old table");
        net_ipam_allocate(ipam, "web", &a);
        net_ipam_set_ports(ipam, "web", ps, 2, NULL);
        full = net_nft_render_table(ipam);
        tap_ok(full &&
                   strstr(full, "elements = { tcp . 8080 : 10.55.0.2 . 80, udp . 5353 : 10.55.0.2 . 53 }"),
               "published ports render as map elements");
        tap_ok(full && strstr(full, "hook prerouting") && strstr(full, "hook output") &&
                   strstr(full, "fib daddr type local"),
               "DNAT only for local destinations, from outside and from this namespace");
        tap_ok(full && !strstr(full, "masquerade") && !strstr(full, "snat") && !strstr(full, "forward"),
               "no masquerade, snat or forward rules");

        if (geteuid() != 0) {
                tap_diag("skipping the kernel load of the table: not root");
                return;
        }
        pid_t pid = fork();
        if (pid == 0) {
                BerthError err = {};
                struct nft_ctx *ctx;
                const char *out;
                if (unshare(CLONE_NEWNET) < 0)
                        _exit(77);
                if (net_nft_run(full, &err) < 0) {
                        fprintf(stderr, "%s\n", err.message);
                        _exit(1);
                }
                /* applying twice replaces, never duplicates */
                if (net_nft_run(full, &err) < 0)
                        _exit(2);
                ctx = nft_ctx_new(NFT_CTX_DEFAULT);
                nft_ctx_buffer_output(ctx);
                nft_ctx_buffer_error(ctx);
                if (nft_run_cmd_from_buffer(ctx, "list table ip berth") != 0)
                        _exit(3);
                out = nft_ctx_get_output_buffer(ctx);
                if (!strstr(out, "10.55.0.2 . 80") ||
                    strstr(strstr(out, "10.55.0.2 . 80") + 1, "10.55.0.2 . 80"))
                        _exit(4);
                if (net_nft_run(net_nft_render_delete(), &err) < 0)
                        _exit(5);
                if (nft_run_cmd_from_buffer(ctx, "list table ip berth") == 0)
                        _exit(6);
                _exit(0);
        }
        int st = 0;
        waitpid(pid, &st, 0);
        if (WIFEXITED(st) && WEXITSTATUS(st) == 77)
                tap_diag("skipping the kernel load: no unshare");
        else
                tap_ok(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                       "the table loads into a fresh netns, reapplies, deletes (%d)",
                       WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

static void test_files(void)
{
        _cleanup_free_ char *h = net_render_hosts("web", ip("10.88.0.7"));
        _cleanup_free_ char *r =
            net_render_resolv_conf("# x\nnameserver 127.0.0.53\nnameserver 192.0.2.1\n"
                                   "search example.org\noptions ndots:2\nnameserver ::1\n");
        _cleanup_free_ char *r0 = net_render_resolv_conf(NULL);

        tap_ok(h && strstr(h, "127.0.0.1\tlocalhost\n") && strstr(h, "10.88.0.7\tweb\n"),
               "hosts names the workload");
        tap_ok(r && strstr(r, "nameserver 192.0.2.1\n") && !strstr(r, "127.0.0.53") && !strstr(r, "::1") &&
                   strstr(r, "search example.org\n") && strstr(r, "options ndots:2\n"),
               "resolv.conf keeps reachable nameservers, search and options; drops loopback");
        tap_ok(r0 && !strstr(r0, "\nnameserver"), "no host resolv.conf: no nameserver");
}

static void test_attach_json(void)
{
        NetAttach a = {.bridge = "berth0",
                       .host_if = "bv0a580005",
                       .ifname = "eth0",
                       .addr = ip("10.88.0.5"),
                       .gateway = ip("10.88.0.1"),
                       .prefixlen = 16},
                  b;
        json_t *j = net_attach_to_json(&a);

        tap_ok(j && net_attach_from_json(j, &b) == 0 && memcmp(&a, &b, sizeof(a)) == 0,
               "NetAttach round-trips");
        json_object_set_new(j, "hostInterface", json_string("averyveryverylongname"));
        tap_ok(net_attach_from_json(j, &b) == -EBADMSG, "an over-long interface name is refused");
        json_decref(j);
}

static Spec *parse(const char *net, BerthError *err)
{
        _cleanup_free_ char *doc = NULL;
        Spec *s = NULL;

        asprintf(&doc,
                 "{\"apiVersion\":\"berth/v1\",\"kind\":\"Workload\",\"metadata\":{\"name\":\"w\"},"
                 "\"spec\":{\"rootfs\":\"/r\",\"command\":[\"true\"]%s%s}}",
                 net ? ",\"network\":" : "", net ? net : "");
        *err = (BerthError){};
        if (spec_parse_json(doc, strlen(doc), &s, err) < 0)
                return NULL;
        return s;
}

static void test_spec(void)
{
        BerthError err;
        Spec *s;
        SpecPort p;
        char buf[32];

        s = parse(NULL, &err);
        tap_ok(s && s->network == NETWORK_NONE && s->network_default, "no network: default (agent decides)");
        spec_free(s);
        s = parse("{\"mode\":\"bridge\",\"ports\":[\"8080:80/tcp\",\"53:53/udp\",\"9000:9000\"]}", &err);
        tap_ok(s && s->network == NETWORK_BRIDGE && !s->network_default && s->n_ports == 3 &&
                   s->ports[0].host_port == 8080 && s->ports[0].container_port == 80 &&
                   s->ports[1].protocol == IPPROTO_UDP && s->ports[2].protocol == IPPROTO_TCP,
               "bridge with three ports");
        if (s) {
                json_t *j = spec_to_json(s);
                char *t =
                    j ? json_dumps(json_object_get(json_object_get(j, "spec"), "network"), JSON_COMPACT)
                      : NULL;
                Spec *c = spec_dup(s);
                tap_ok(t && streq(t, "{\"mode\":\"bridge\",\"ports\":[\"8080:80/tcp\",\"53:53/"
                                     "udp\",\"9000:9000/tcp\"]}"),
                       "canonical form: %s", strempty(t));
                tap_ok(c && c->n_ports == 3 && c->ports[1].host_port == 53, "spec_dup copies the ports");
                free(t);
                json_decref(j);
                spec_free(c);
        }
        spec_free(s);
        s = parse("{\"ports\":[\"8080:80\"]}", &err);
        tap_ok(s && s->network == NETWORK_BRIDGE && !s->network_default,
               "ports without a mode imply bridge");
        spec_free(s);
        s = parse("{\"mode\":\"none\",\"ports\":[\"8080:80\"]}", &err);
        tap_ok(!s && streq(err.field, "spec.network.ports"), "ports with mode none are refused (%s)",
               err.message);
        s = parse("{\"mode\":\"bridge\",\"ports\":[\"8080:80\",\"8080:81/tcp\"]}", &err);
        tap_ok(!s && streq(err.field, "spec.network.ports[1]"), "a host port twice is refused (%s)",
               err.message);
        s = parse("{\"mode\":\"wifi\"}", &err);
        tap_ok(!s && streq(err.field, "spec.network.mode"), "unknown mode names the field");
        s = parse("{\"mode\":\"bridge\",\"dns\":[]}", &err);
        tap_ok(!s && streq(err.field, "spec.network.dns"), "unknown network field is refused, named");
        static const char *const badp[] = {"80",  "0:80",   "80:0",   "65536:80", "80:80/sctp", "a:80",
                                           ":80", "080:80", "80:80/", "-1:80",    NULL};
        for (size_t i = 0; badp[i]; i++)
                tap_ok(spec_port_parse(badp[i], &p) == -EINVAL, "port \"%s\" is refused", badp[i]);
        tap_ok(spec_port_parse("65535:1/udp", &p) == 0 &&
                   streq(spec_port_format(&p, buf, sizeof(buf)), "65535:1/udp"),
               "port round-trips");
}

int main(void)
{
        char tmpl[] = "/tmp/berth-test-net.XXXXXX", tmpl2[] = "/tmp/berth-test-net.XXXXXX";
        char *dir = mkdtemp(tmpl), *dir2 = mkdtemp(tmpl2);
        _cleanup_free_ char *cmd = NULL;

        if (!dir || !dir2)
                return 1;
        test_cidr();
        test_ipam(dir);
        test_nft_render(dir2);
        test_files();
        test_attach_json();
        test_spec();
        if (asprintf(&cmd, "rm -rf %s %s", dir, dir2) > 0)
                (void)!system(cmd);
        return tap_finish();
}
