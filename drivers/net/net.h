/* SPDX-License-Identifier: Apache-2.0 */
/* Workload networking shared by the container and microVM drivers
 * (docs/NETWORK.md). Everything acts on the network namespace berthd runs in:
 *
 *   - a berth bridge (default "berth0") carrying the first address of the
 *     configured CIDR (default 10.88.0.0/16) and nothing else: no default
 *     route, no NAT or masquerade toward any uplink;
 *   - IPAM: one address per workload, persisted in <root>/net/ipam.json
 *     (atomic write: tmp, fsync, rename, fsync dir) so that an address is
 *     never handed out twice, across berthd restarts too;
 *   - a veth pair per container (host end on the bridge, the peer created
 *     directly inside the container's netns as eth0), or a tap device on the
 *     bridge for a VM;
 *   - port publishing hostPort:containerPort/tcp|udp as elements of a DNAT map
 *     in a berth-owned nftables table ("ip berth"), applied with libnftables;
 *   - /etc/hosts and /etc/resolv.conf for the workload, written into its
 *     workload directory and bind-mounted over the rootfs' files.
 *
 * Netlink goes through libmnl: nothing here runs the ip or nft binaries.
 * Functions return >= 0 on success, a negative errno on failure. */
#pragma once

#include <net/if.h>
#include <netinet/in.h>
#include <sys/types.h>

#include "lib/error.h"
#include "lib/spec.h"
#include "lib/util.h"

#define NET_DEFAULT_BRIDGE "berth0"
#define NET_DEFAULT_CIDR "10.88.0.0/16"
#define NET_NFT_TABLE "berth"     /* family ip */
#define NET_IPAM_FILE "ipam.json" /* under <root>/net */
#define NET_IPAM_FILE_MAX (4 * 1024 * 1024)
#define NET_ALLOCATIONS_MAX 65536 /* entries in ipam.json */
#define NET_CONTAINER_IFNAME "eth0"
#define NET_HOSTS_FILE "hosts" /* in the workload directory */
#define NET_RESOLV_FILE "resolv.conf"

/* IPv4 subnet. addr is the network address, host byte order. */
typedef struct NetCidr {
        uint32_t addr;
        unsigned prefixlen; /* 8..30 */
} NetCidr;

/* "10.88.0.0/16": -EINVAL if malformed, host bits set, or the prefix is not
 * in 8..30 (a bridge needs a gateway and at least two workload addresses). */
int net_cidr_parse(const char *s, NetCidr *ret);
/* "10.88.0.5" into buf (INET_ADDRSTRLEN). */
char *net_addr_format(uint32_t addr, char buf[static INET_ADDRSTRLEN]);

/* ---- IPAM (net-ipam.c) -------------------------------------------------- */

typedef struct NetAllocation {
        char *owner;     /* workload name */
        uint32_t addr;   /* host byte order */
        SpecPort *ports; /* published ports, for conflict checks and the nft map */
        size_t n_ports;
} NetAllocation;

typedef struct NetIpam {
        int dirfd; /* <root>/net */
        NetCidr cidr;
        uint32_t next; /* offset of the next address to try (round robin) */
        NetAllocation *allocs;
        size_t n_allocs;
} NetIpam;

/* Opens (creating) dir/ipam.json. A file made for another CIDR is refused
 * (-EADDRNOTAVAIL) unless it holds no allocations. */
int net_ipam_open(const char *dir, const NetCidr *cidr, NetIpam **ret);
NetIpam *net_ipam_free(NetIpam *ipam);
DEFINE_TRIVIAL_CLEANUP_FUNC(NetIpam *, net_ipam_free);
/* The owner's address: the existing one, else the next free address after the
 * last one handed out (round robin, so a released address is not reused at
 * once). Persists before returning. -ENOSPC when the subnet is full. */
int net_ipam_allocate(NetIpam *ipam, const char *owner, uint32_t *ret);
/* Records the owner's published ports. -EADDRINUSE (with *ret_conflict set to
 * the other owner) if another workload publishes the same host port and
 * protocol. Persists. Returns 1 if the ports changed, 0 if they were the same. */
int net_ipam_set_ports(NetIpam *ipam, const char *owner, const SpecPort *ports, size_t n,
                       const char **ret_conflict);
/* Forgets the owner's address and ports. 0 if there was nothing. Persists. */
int net_ipam_release(NetIpam *ipam, const char *owner);
const NetAllocation *net_ipam_find(const NetIpam *ipam, const char *owner);
/* The gateway (bridge) address: the first host address of the CIDR. */
uint32_t net_cidr_gateway(const NetCidr *cidr);

/* ---- nftables (net-nft.c) ----------------------------------------------- */

/* The whole berth table as an nft script that atomically replaces any earlier
 * one: a DNAT map (l4proto . dport -> addr . port) consulted in prerouting
 * (traffic addressed to a local address) and output (connections from this
 * namespace to its own addresses). Caller frees. */
char *net_nft_render_table(const NetIpam *ipam);
/* "delete table ip berth" preceded by a create, so it never fails on absence. */
char *net_nft_render_delete(void);
/* Runs an nft script through libnftables. -EINVAL with the error text in
 * err->message on failure. */
int net_nft_run(const char *script, BerthError *err);

/* ---- rtnetlink (net-link.c) ---------------------------------------------- */

/* Creates the bridge if missing, gives it addr/prefixlen, sets it up. */
int net_link_bridge_ensure(const char *name, uint32_t addr, unsigned prefixlen);
/* Creates a veth pair: host_if on the bridge and up, the peer named peer_if
 * inside the network namespace netns_fd (an nsfs fd; not up). An existing
 * host_if left by an earlier run is deleted first. */
int net_link_veth_create(const char *host_if, const char *bridge, const char *peer_if, int netns_fd);
/* Inside the network namespace netns_fd: ifname up with addr/prefixlen, lo
 * up, default route via gateway (inside that namespace only). */
int net_link_configure_in(int netns_fd, const char *ifname, uint32_t addr, unsigned prefixlen,
                          uint32_t gateway);
/* Deletes a link by name; 0 if it does not exist. */
int net_link_delete(const char *name);
/* Opens a tap device (IFF_TAP|IFF_NO_PI|IFF_VNET_HDR, not persistent: it goes
 * away with the last fd), attaches it to the bridge and sets it up. For a VM:
 * pass the fd to QEMU (-netdev tap,fd=N). */
int net_tap_open(const char *name, const char *bridge, int *ret_fd);

/* ---- files (net-files.c) ------------------------------------------------- */

/* hosts: localhost entries and "addr name". resolv.conf: the nameserver,
 * search and options lines of host_resolv that work from inside a workload
 * (loopback nameservers are dropped). Caller frees. */
char *net_render_hosts(const char *name, uint32_t addr);
char *net_render_resolv_conf(const char *host_resolv);
/* Writes both files into dirfd (each replaced whole by rename; not fsynced:
 * they are rewritten before every start). */
int net_write_files(int dirfd, const char *name, uint32_t addr);
int net_file_replace_at(int dirfd, const char *name, const char *text);
/* Called inside the container's mount namespace before pivot_root: bind-mounts
 * hosts and resolv.conf of the directory src_dir over /etc/hosts and
 * /etc/resolv.conf of rootfd, resolving the targets with RESOLVE_IN_ROOT. A
 * missing target or source is skipped (the rootfs is never written to).
 * src_dir is a path, opened here: a bind source must be a mount of the
 * caller's own mount namespace, so an fd opened before the clone will not do. */
int net_files_mount(int rootfd, const char *src_dir);

/* ---- the per-daemon network (net.c) -------------------------------------- */

typedef struct NetConfig {
        const char *bridge;    /* NULL = NET_DEFAULT_BRIDGE */
        const char *cidr;      /* NULL = NET_DEFAULT_CIDR */
        const char *state_dir; /* <root>/net */
} NetConfig;

typedef struct Net Net;

/* Sets up the bridge and the nft table from the persisted allocations. Fails
 * if either cannot be set up; the caller then treats bridge mode as absent. */
int net_new(const NetConfig *config, Net **ret, BerthError *err);
Net *net_free(Net *n);
DEFINE_TRIVIAL_CLEANUP_FUNC(Net *, net_free);
const char *net_bridge_name(const Net *n);

/* What a workload needs to be attached (written into the shim's config.json). */
typedef struct NetAttach {
        char bridge[IFNAMSIZ];
        char host_if[IFNAMSIZ]; /* "bv" + 8 hex digits of the address */
        char ifname[IFNAMSIZ];  /* inside: "eth0" */
        uint32_t addr;
        uint32_t gateway;
        unsigned prefixlen;
} NetAttach;

/* Allocates (or finds) the workload's address, records its ports (conflicts
 * are -EADDRINUSE with the other workload named in err), updates the nft map
 * and fills *ret. Idempotent. */
int net_workload_prepare(Net *n, const char *name, const SpecPort *ports, size_t n_ports, NetAttach *ret,
                         BerthError *err);
/* The workload's current address, -ENOENT if none. */
int net_workload_address(const Net *n, const char *name, uint32_t *ret);
/* Releases the address and the ports, updates the nft map. */
int net_workload_release(Net *n, const char *name);

/* Runs in berth-shim after the clone and before the workload's command: the
 * veth into the workload's netns (netns_fd), address, routes. */
int net_attach(const NetAttach *a, int netns_fd);
/* NetAttach <-> JSON, and net.json in the workload directory (driver ->
 * shim, written atomically by the driver's start() next to config.json). */
#define NET_ATTACH_FILE "net.json"
json_t *net_attach_to_json(const NetAttach *a);
int net_attach_from_json(const json_t *j, NetAttach *ret);
int net_attach_write(int dirfd, const NetAttach *a);
int net_attach_read(int dirfd, NetAttach *ret);
