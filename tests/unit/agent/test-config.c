/* SPDX-License-Identifier: Apache-2.0 */
/* agent/config.c: defaults, overrides, strictness, durations and sizes. */
#include <fcntl.h>
#include <syslog.h>

#include "agent/config.h"

static int failures;
#define CHECK(cond)                                                                                          \
        do {                                                                                                 \
                if (!(cond)) {                                                                               \
                        fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);                       \
                        failures++;                                                                          \
                }                                                                                            \
        } while (0)

static int parse(Config *c, const char *yaml, BerthError *err)
{
        *err = (BerthError){};
        return config_parse(c, yaml, strlen(yaml), err);
}

/* network: (drivers/net, docs/NETWORK.md) */
static void test_network(void)
{
        _cleanup_(config_donep) Config c;
        BerthError err = {};

        CHECK(config_init(&c) == 0);
        CHECK(c.net_bridge == NULL && c.net_cidr == NULL); /* NULL = the defaults in drivers/net */
        CHECK(parse(&c, "network:\n  bridge: br9\n  cidr: 10.9.0.0/24\n", &err) == 0);
        CHECK(streq_ptr(c.net_bridge, "br9") && streq_ptr(c.net_cidr, "10.9.0.0/24"));
        CHECK(parse(&c, "network:\n  bogus: 1\n", &err) == -EINVAL && strstr(err.field, "network.bogus"));
        CHECK(parse(&c, "network:\n  bridge: a/b\n", &err) == -EINVAL && streq(err.field, "network.bridge"));
}

static void test_defaults(void)
{
        Config c;
        BerthError err = {};

        CHECK(config_init(&c) == 0);
        CHECK(streq(c.root, "/var/lib/berth"));
        CHECK(streq(c.run_dir, "/run/berth"));
        CHECK(c.log_level == LOG_INFO);
        CHECK(c.shim == NULL);
        CHECK(streq(c.api_socket_group, "berth"));
        CHECK(streq(c.cgroup_root, "/sys/fs/cgroup"));
        CHECK(streq(c.cgroup_parent, "berth"));
        CHECK(c.stop_timeout == 10 * USEC_PER_SEC);
        CHECK(c.log_max_bytes == 16 * 1024 * 1024);
        CHECK(c.backoff_initial == USEC_PER_SEC);
        CHECK(c.backoff_max == 300 * USEC_PER_SEC);
        CHECK(parse(&c, "", &err) == 0); /* empty file = defaults */
        CHECK(parse(&c, "# only a comment\n", &err) == 0);
        CHECK(config_finish(&c, &err) == 0);
        CHECK(streq_ptr(c.api_socket, "/run/berth/berthd.sock"));
        config_done(&c);

        /* A missing default file is not an error. */
        CHECK(config_init(&c) == 0);
        CHECK(config_load_file(&c, "/nonexistent/berthd.yaml", true, &err) == 0);
        CHECK(config_load_file(&c, "/nonexistent/berthd.yaml", false, &err) == -ENOENT);
        config_done(&c);
}

static void test_full_file(void)
{
        Config c;
        BerthError err = {};
        const char *yaml = "root: /srv/berth\n"
                           "runDir: /run/b2\n"
                           "logLevel: debug\n"
                           "shim: /usr/libexec/berth/berth-shim\n"
                           "api:\n"
                           "  socket: /run/b2/api.sock\n"
                           "  socketGroup: wheel\n"
                           "cgroup:\n"
                           "  root: /tmp/fakecg\n"
                           "  parent: berth-test-1\n"
                           "workloads:\n"
                           "  stopTimeout: 1m30s\n"
                           "  logMaxBytes: 1Mi\n"
                           "  restartBackoff:\n"
                           "    initial: 500ms\n"
                           "    max: 2m\n";

        CHECK(config_init(&c) == 0);
        CHECK(parse(&c, yaml, &err) == 0);
        CHECK(config_finish(&c, &err) == 0);
        CHECK(streq(c.root, "/srv/berth"));
        CHECK(streq(c.run_dir, "/run/b2"));
        CHECK(c.log_level == LOG_DEBUG);
        CHECK(streq_ptr(c.shim, "/usr/libexec/berth/berth-shim"));
        CHECK(streq_ptr(c.api_socket, "/run/b2/api.sock"));
        CHECK(streq(c.api_socket_group, "wheel"));
        CHECK(streq(c.cgroup_root, "/tmp/fakecg"));
        CHECK(streq(c.cgroup_parent, "berth-test-1"));
        CHECK(c.stop_timeout == 90 * USEC_PER_SEC);
        CHECK(c.log_max_bytes == 1024 * 1024);
        CHECK(c.backoff_initial == 500 * USEC_PER_MSEC);
        CHECK(c.backoff_max == 120 * USEC_PER_SEC);
        config_done(&c);

        /* Socket follows runDir when not given; a later override wins. */
        CHECK(config_init(&c) == 0);
        CHECK(parse(&c, "runDir: /run/x\nworkloads: {stopTimeout: 3}\n", &err) == 0);
        CHECK(c.stop_timeout == 3 * USEC_PER_SEC);
        free(c.run_dir);
        c.run_dir = strdup("/run/override"); /* what a --run-dir flag does */
        CHECK(config_finish(&c, &err) == 0);
        CHECK(streq_ptr(c.api_socket, "/run/override/berthd.sock"));
        config_done(&c);
}

static void expect_error(const char *yaml, const char *field, const char *needle)
{
        Config c;
        BerthError err = {};
        int r;

        CHECK(config_init(&c) == 0);
        r = parse(&c, yaml, &err);
        CHECK(r == -EINVAL);
        if (!streq(err.field, field) || (needle && !strstr(err.message, needle))) {
                fprintf(stderr, "FAIL: for %s expected field \"%s\" got \"%s\" (%s)\n", yaml, field, err.field,
                        err.message);
                failures++;
        }
        config_done(&c);
}

static void test_errors(void)
{
        expect_error("rooot: /x\n", "rooot", "unknown key \"rooot\"");
        expect_error("api:\n  sockett: /x\n", "api.sockett", "unknown key \"api.sockett\"");
        expect_error("workloads:\n  restartBackoff:\n    maximum: 1s\n", "workloads.restartBackoff.maximum",
                     "unknown key");
        expect_error("workloads:\n  stopTimeout: 10 seconds\n", "workloads.stopTimeout", "not a duration");
        expect_error("workloads:\n  stopTimeout: -1s\n", "workloads.stopTimeout", "not a duration");
        expect_error("workloads:\n  stopTimeout: 10x\n", "workloads.stopTimeout", "not a duration");
        expect_error("workloads:\n  logMaxBytes: 12Xi\n", "workloads.logMaxBytes", "not a size");
        expect_error("workloads:\n  logMaxBytes: 99999999999999999999999\n", "workloads.logMaxBytes",
                     "not a size");
        expect_error("workloads:\n  logMaxBytes: ''\n", "workloads.logMaxBytes", "not a size");
        expect_error("logLevel: loud\n", "logLevel", "not a log level");
        expect_error("root: relative/path\n", "root", "absolute");
        expect_error("cgroup:\n  parent: a/b\n", "cgroup.parent", "valid name");
        expect_error("root: /a\nroot: /b\n", "root", "duplicate");
        expect_error("api: /x\n", "api", "mapping");
        expect_error("root: [a, b]\n", "root", "scalar");
        expect_error("root:\n", "root", "required");
        expect_error("- a\n- b\n", "", "mapping");
        expect_error("root: \"/x\n", "", "YAML error");
        /* the VM driver's libvirt backend (docs/VM.md) */
        expect_error("vm:\n  backend: xen\n", "vm.backend", "not microvm or libvirt");
        expect_error("vm:\n  libvirtUri: http://x\n", "vm.libvirtUri", "libvirt QEMU URI");
        /* vm.user: a user name; unset = berth-qemu where it exists (drivers/vm/vm-user.c) */
        expect_error("vm:\n  user: ''\n", "vm.user", "not a user name");
        expect_error("vm:\n  user: -rf\n", "vm.user", "not a user name");
        expect_error("vm:\n  user: a/b\n", "vm.user", "not a user name");
        expect_error("vm:\n  user: abcdefghijklmnopqrstuvwxyz0123456789\n", "vm.user", "not a user name");
        {
                Config v;
                BerthError verr = {};
                CHECK(config_init(&v) == 0);
                CHECK(v.vm_user == NULL);
                CHECK(parse(&v, "vm:\n  user: root\n", &verr) == 0);
                CHECK(streq_ptr(v.vm_user, "root"));
                config_done(&v);
                CHECK(config_init(&v) == 0);
                CHECK(parse(&v, "vm:\n  user: berth-qemu\n", &verr) == 0);
                CHECK(streq_ptr(v.vm_user, "berth-qemu"));
                config_done(&v);
        }
        {
                Config v;
                BerthError verr = {};
                CHECK(config_init(&v) == 0);
                CHECK(parse(&v, "vm:\n  backend: libvirt\n  libvirtUri: qemu:///system\n", &verr) == 0);
                CHECK(streq_ptr(v.vm_backend, "libvirt") && streq_ptr(v.vm_libvirt_uri, "qemu:///system"));
                config_done(&v);
        }

        Config c;
        BerthError err = {};
        CHECK(config_init(&c) == 0);
        CHECK(parse(&c, "workloads: {restartBackoff: {initial: 10s, max: 1s}}\n", &err) == 0);
        CHECK(config_finish(&c, &err) == -EINVAL);
        CHECK(streq(err.field, "workloads.restartBackoff.max"));
        config_done(&c);
}

static void test_quantities(void)
{
        usec_t u = 0;
        uint64_t b = 0;
        int l = -1;

        CHECK(config_parse_duration("10s", &u) == 0 && u == 10 * USEC_PER_SEC);
        CHECK(config_parse_duration("5m", &u) == 0 && u == 300 * USEC_PER_SEC);
        CHECK(config_parse_duration("1h2m3s", &u) == 0 && u == 3723 * USEC_PER_SEC);
        CHECK(config_parse_duration("250ms", &u) == 0 && u == 250 * USEC_PER_MSEC);
        CHECK(config_parse_duration("7us", &u) == 0 && u == 7);
        CHECK(config_parse_duration("42", &u) == 0 && u == 42 * USEC_PER_SEC);
        CHECK(config_parse_duration("0s", &u) == 0 && u == 0);
        CHECK(config_parse_duration("", &u) == -EINVAL);
        CHECK(config_parse_duration("s", &u) == -EINVAL);
        CHECK(config_parse_duration("1.5s", &u) == -EINVAL);
        CHECK(config_parse_duration("1d", &u) == -EINVAL);
        CHECK(config_parse_duration("99999999999999999999h", &u) == -ERANGE);

        CHECK(config_parse_size("16Mi", &b) == 0 && b == 16 * 1024 * 1024);
        CHECK(config_parse_size("1k", &b) == 0 && b == 1000);
        CHECK(config_parse_size("2Gi", &b) == 0 && b == UINT64_C(2) << 30);
        CHECK(config_parse_size("4096", &b) == 0 && b == 4096);
        CHECK(config_parse_size("1.5Mi", &b) == -EINVAL);
        CHECK(config_parse_size("-1", &b) == -EINVAL);
        CHECK(config_parse_size("20000000Ti", &b) == -ERANGE);

        CHECK(config_parse_log_level("warning", &l) == 0 && l == LOG_WARNING);
        CHECK(config_parse_log_level("7", &l) == 0 && l == LOG_DEBUG);
        CHECK(config_parse_log_level("verbose", &l) == -EINVAL);
}

static void test_find_shim(void)
{
        Config c;
        _cleanup_free_ char *p = NULL;

        CHECK(config_init(&c) == 0);
        c.shim = strdup("/bin/sh");
        CHECK(config_find_shim(&c, "/nonexistent", &p) == 0);
        CHECK(streq_ptr(p, "/bin/sh"));
        free(c.shim);
        c.shim = strdup("/nonexistent/berth-shim");
        CHECK(config_find_shim(&c, "/nonexistent", &p) == -ENOENT);
        config_done(&c);
}

/* The shipped example must parse and equal the built-in defaults. */
static void test_example_file(const char *path)
{
        Config c, d;
        BerthError err = {};

        CHECK(config_init(&c) == 0);
        CHECK(config_init(&d) == 0);
        CHECK(config_load_file(&c, path, false, &err) == 0);
        if (err.error)
                fprintf(stderr, "%s: %s: %s\n", path, err.field, err.message);
        CHECK(config_finish(&c, &err) == 0 && config_finish(&d, &err) == 0);
        CHECK(streq(c.root, d.root) && streq(c.run_dir, d.run_dir) && c.log_level == d.log_level);
        CHECK(c.shim == NULL && streq_ptr(c.api_socket, d.api_socket));
        CHECK(streq(c.api_socket_group, d.api_socket_group) && streq(c.cgroup_root, d.cgroup_root));
        CHECK(streq(c.cgroup_parent, d.cgroup_parent) && c.stop_timeout == d.stop_timeout);
        CHECK(c.log_max_bytes == d.log_max_bytes && c.backoff_initial == d.backoff_initial);
        CHECK(c.backoff_max == d.backoff_max);
        config_done(&c);
        config_done(&d);
}

int main(int argc, char **argv)
{
        if (argc > 1)
                test_example_file(argv[1]);
        test_defaults();
        test_network();
        test_full_file();
        test_errors();
        test_quantities();
        test_find_shim();
        if (failures) {
                fprintf(stderr, "%d check(s) failed\n", failures);
                return 1;
        }
        printf("ok - agent config\n");
        return 0;
}
