/* SPDX-License-Identifier: Apache-2.0 */
/* The cluster: section of berthd.yaml: absent = standalone, defaults, both
 * endpoint spellings, and errors that name the key. */
#include "agent/config.h"
#include "tests/unit/lib/tap.h"

static int parse(const char *yaml, Config *c, BerthError *err)
{
        int r;

        *err = (BerthError){};
        r = config_init(c);
        if (r >= 0)
                r = config_parse(c, yaml, strlen(yaml), err);
        if (r >= 0)
                r = config_finish(c, err);
        return r;
}

static void expect_error(const char *yaml, const char *field, const char *what)
{
        _cleanup_(config_donep) Config c = {};
        BerthError err;
        int r = parse(yaml, &c, &err);

        tap_ok(r == -EINVAL && streq(err.field, field), "%s: error names %s (got %d \"%s\": %s)", what,
               field, r, err.field, err.message);
}

int main(void)
{
        BerthError err;

        {
                _cleanup_(config_donep) Config c = {};
                tap_ok(parse("logLevel: info\n", &c, &err) == 0 && !c.cluster_endpoints &&
                           !c.cluster_section,
                       "no cluster section: standalone");
        }
        {
                _cleanup_(config_donep) Config c = {};
                int r = parse("cluster:\n  endpoints:\n    - http://10.0.0.1:2379\n    - https://e2:2379\n",
                              &c, &err);
                tap_ok(r == 0 && c.cluster_endpoints &&
                           streq(c.cluster_endpoints[0], "http://10.0.0.1:2379") &&
                           streq(c.cluster_endpoints[1], "https://e2:2379") && !c.cluster_endpoints[2],
                       "endpoints as a list");
                tap_ok(r == 0 && streq(c.cluster_prefix, "/berth") &&
                           c.cluster_lease_ttl == 10 * USEC_PER_SEC &&
                           c.cluster_interval == 10 * USEC_PER_SEC,
                       "defaults: /berth, 10s, 10s");
                char host[256] = {};
                gethostname(host, sizeof(host) - 1);
                tap_ok(r == 0 && c.cluster_node && streq(c.cluster_node, host),
                       "node defaults to the host name");
        }
        {
                _cleanup_(config_donep) Config c = {};
                int r =
                    parse("cluster:\n  endpoints: http://a:1, http://b:2\n  prefix: /fleet/x\n  node: n-1\n"
                          "  leaseTTL: 5s\n  interval: 500ms\n  labels: zone=a\n"
                          "  tls:\n    ca: /ca.pem\n    cert: /c.pem\n    key: /k.pem\n",
                          &c, &err);
                tap_ok(r == 0 && streq(c.cluster_endpoints[1], "http://b:2") &&
                           streq(c.cluster_prefix, "/fleet/x") && streq(c.cluster_node, "n-1") &&
                           c.cluster_lease_ttl == 5 * USEC_PER_SEC &&
                           c.cluster_interval == 500 * USEC_PER_MSEC && streq(c.cluster_tls_key, "/k.pem"),
                       "every key, endpoints as one comma-separated scalar (%s)", err.message);
        }
        expect_error("cluster:\n  node: x\n", "cluster.endpoints", "section without endpoints");
        expect_error("cluster:\n  endpoints: [ftp://x]\n", "cluster.endpoints", "non-http URL");
        expect_error("cluster:\n  endpoints: [http://x]\n  prefix: berth/\n", "cluster.prefix",
                     "bad prefix");
        expect_error("cluster:\n  endpoints: [http://x]\n  node: a/b\n", "cluster.node", "bad node name");
        expect_error("cluster:\n  endpoints: [http://x]\n  leaseTTL: 1s\n", "cluster.leaseTTL",
                     "TTL below etcd's minimum");
        expect_error("cluster:\n  endpoints: [http://x]\n  tls:\n    cert: /c.pem\n", "cluster.tls.key",
                     "cert without key");
        expect_error("cluster:\n  endpoints: [http://x]\n  bogus: 1\n", "cluster.bogus", "unknown key");
        return tap_finish();
}
