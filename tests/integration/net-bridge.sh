#!/usr/bin/env bash
# Bridge networking (docs/NETWORK.md), all inside the test's own network
# namespace: berthd makes its bridge, veths and nft table there and they go
# away with it. Two containers talk over the bridge, a published port answers
# on the namespace's own address, nothing routes or NATs toward an uplink,
# addresses are released on rm and never handed out twice across a restart.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2016
source "$(dirname "$0")/lib.sh"

command -v nft >/dev/null || skip "nft is missing (apt-get install nftables)"
"$BERTH_SOURCE_ROOT/deploy/make-busybox-rootfs.sh" "$IT_ROOTFS" >/dev/null
# (Debian's static busybox wget crashes in glibc's resolver: nc is the client.)
# The list first: grep -q in a pipeline could SIGPIPE busybox, and pipefail
# would read that as a missing applet (a skip that depended on timing).
applets=$("$IT_ROOTFS/bin/busybox" --list)
for applet in httpd nc ip; do
        grep -qx "$applet" <<<"$applets" || skip "busybox without $applet"
done

daemon_start a
NS=${D_NS[a]}
nsx() { nsenter --net="/run/netns/$NS" -- "$@"; }

if ! grep -q "bridge networking on berth0" "${D_LOG[a]}"; then
        grep -i "bridge" "${D_LOG[a]}" | sed 's/^/# /'
        skip "berthd could not set up its bridge here (nf_tables or veth missing?)"
fi

# The namespace's "own" address, as a host's uplink address would be.
check "give the test netns an address (up0 10.254.1.1/24, a veth standing in for an uplink)" \
        bash -c "ip -n $NS link add up0 type veth peer name up1 && ip -n $NS addr add 10.254.1.1/24 dev up0 && ip -n $NS link set up0 up && ip -n $NS link set up1 up"

check_match "bridge berth0 carries 10.88.0.1/16" "inet 10\.88\.0\.1/16" "$(ip -n "$NS" addr show berth0)"
check_eq "no default route in berthd's namespace" "" "$(ip -n "$NS" route show default)"
rules=$(nsx nft list ruleset)
check_match "nft: berth owns table ip berth" "table ip berth" "$rules"
check "nft: no masquerade or snat anywhere" bash -c '! grep -Eq "masquerade|snat" <<<"$1"' _ "$rules"

# a web server with a published port (bridge is the default mode here)
srv_doc=$(doc srv /bin/sh -c 'mkdir -p /tmp/www-$HOSTNAME && echo hello-from-srv >/tmp/www-$HOSTNAME/index.html && exec httpd -f -p 80 -h /tmp/www-$HOSTNAME' |
        jq -c '.spec.network = {ports: ["8080:80/tcp"]}')
check_eq "create srv with 8080:80/tcp" 201 "$(post_doc "$srv_doc")"
check "srv running" wait_for 10 state_is srv running
srv_ip=$(status_of srv .status.network.ip)
check_match "inspect shows status.network.ip for srv" '^10\.88\.[0-9]+\.[0-9]+$' "$srv_ip"
check_eq "stored spec names the resolved mode" "bridge" "$(status_of srv .spec.network.mode)"

# second container reaches the first over the bridge
check "run -d cli (HTTP GET to srv over the bridge with nc)" run_d cli -- /bin/sh -c "for i in 1 2 3 4 5 6 7 8 9 10; do printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 2 $srv_ip 80 | grep hello && break; sleep 0.3; done; sleep 1000"
cli_ip=$(status_of cli .status.network.ip)
check_match "cli has an address" '^10\.88\.' "$cli_ip"
check "cli and srv have different addresses" test "$cli_ip" != "$srv_ip"
check "cli fetched srv's page over the bridge" wait_for 15 bash -c '"$0" --socket "$1" logs cli | grep -q hello-from-srv' "$BERTHCTL" "$(sock)"

# inside the container: eth0 with its address, a default route only inside
check "run eth0 probe" run_d probe -- /bin/sh -c 'grep Seccomp: /proc/self/status; ip -4 addr show eth0; ip route; cat /etc/hosts /etc/resolv.conf; sleep 1000'
check "probe output" wait_for 10 bash -c '"$0" --socket "$1" logs probe | grep -q "default via"' "$BERTHCTL" "$(sock)"
plog=$(ctl logs probe)
probe_ip=$(status_of probe .status.network.ip)
check_match "probe: eth0 has its address" "inet ${probe_ip//./\\.}/16" "$plog"
# in bridge mode the init compiles its own seccomp filter (the shim builds the network)
check_match "probe: the seccomp filter is loaded in bridge mode too" "Seccomp:[[:space:]]+2" "$plog"
check_match "probe: default route via the bridge, inside the container only" "default via 10\.88\.0\.1 dev eth0" "$plog"
check_match "probe: /etc/hosts names the workload" "${probe_ip//./\\.}[[:space:]]+probe" "$plog"
check_eq "the rootfs' own /etc/hosts is untouched" "" "$(cat "$IT_ROOTFS/etc/hosts")"

# published port answers from the namespace's own address
check "published 8080 answers on 10.254.1.1 (the namespace's own address)" \
        wait_for 10 bash -c "nsenter --net=/run/netns/$NS -- curl -s -m 2 http://10.254.1.1:8080/ | grep -q hello-from-srv"
check "published 8080 answers on the bridge address too" \
        bash -c "nsenter --net=/run/netns/$NS -- curl -s -m 2 http://10.88.0.1:8080/ | grep -q hello-from-srv"
check_match "nft map holds the published port" "tcp \. 8080 : ${srv_ip//./\\.} \. 80" "$(nsx nft list map ip berth ports)"

# a port conflict is refused at create, naming the holder
dup_doc=$(doc dup /bin/sleep 100 | jq -c '.spec.network = {ports: ["8080:81/tcp"]}')
check_eq "second 8080/tcp is refused with 409" "409" "$(post_doc "$dup_doc")"
check_match "the error names srv" 'srv' "$(body)"
check_eq "the refused workload holds no address" "false" "$(jq 'any(.allocations[]; .owner == "dup")' "${D_ROOT[a]}/net/ipam.json")"

# network none keeps only loopback
check "run none probe" run_d lonely --network none -- /bin/sh -c 'ip -o link; sleep 1000'
check "lonely output" wait_for 10 bash -c '"$0" --socket "$1" logs lonely | grep -q "lo:"' "$BERTHCTL" "$(sock)"
check "network none: no eth0" bash -c '! "$0" --socket "$1" logs lonely | grep -q eth0' "$BERTHCTL" "$(sock)"
check_eq "network none: no address in status" "null" "$(status_of lonely .status.network.ip)"

# rm releases the address and the port
check "rm -f srv" ctl rm -f srv
check_eq "srv's address released in ipam.json" "false" "$(jq 'any(.allocations[]; .owner == "srv")' "${D_ROOT[a]}/net/ipam.json")"
check "8080 no longer answers" bash -c "! nsenter --net=/run/netns/$NS -- curl -s -m 1 http://10.254.1.1:8080/ >/dev/null"
check "srv's host veth is gone (with its netns)" wait_for 10 bash -c "! ip -n $NS -o link | grep -q \"bv$(printf '%02x' ${srv_ip//./ })\""

# a published port that outlives a berthd restart
web2_doc=$(doc web2 /bin/sh -c 'mkdir -p /tmp/www-$HOSTNAME && echo hello-from-web2 >/tmp/www-$HOSTNAME/index.html && exec httpd -f -p 80 -h /tmp/www-$HOSTNAME' |
        jq -c '.spec.network = {mode: "bridge", ports: ["8081:80"]}')
check_eq "create web2 with 8081:80" 201 "$(post_doc "$web2_doc")"
check "web2 answers on 8081" wait_for 10 bash -c "nsenter --net=/run/netns/$NS -- curl -s -m 2 http://10.254.1.1:8081/ | grep -q hello-from-web2"

# never duplicated across a berthd restart
check "SIGTERM berthd" daemon_stop a TERM
daemon_start a
check "web2 still answers on 8081 after the restart (table rebuilt from ipam.json)" \
        wait_for 10 bash -c "nsenter --net=/run/netns/$NS -- curl -s -m 2 http://10.254.1.1:8081/ | grep -q hello-from-web2"
check_eq "cli keeps its address after the restart" "$cli_ip" "$(status_of cli .status.network.ip)"
check "run -d after1" run_d after1 -- /bin/sleep 1000
check "run -d after2" run_d after2 -- /bin/sleep 1000
a1=$(status_of after1 .status.network.ip)
a2=$(status_of after2 .status.network.ip)
all=$(printf '%s\n' "$cli_ip" "$probe_ip" "$(status_of web2 .status.network.ip)" "$(status_of lonely .status.network.ip)" "$a1" "$a2" | grep -v null)
check_eq "all live addresses distinct after restart" "$(sort <<<"$all" | wc -l)" "$(sort -u <<<"$all" | wc -l)"
check "after1 does not reuse srv's released address at once" test "$a1" != "$srv_ip"
check_eq "ipam.json: one entry per live bridged workload" "5" "$(jq '.allocations | length' "${D_ROOT[a]}/net/ipam.json")"
check "cli still reaches nothing outside (no route toward the uplink)" \
        bash -c "! ip -n $NS route get 1.1.1.1 >/dev/null 2>&1"

check "rm -f all" ctl rm -f cli probe web2 lonely after1 after2
check_eq "nft map empty after rm" "" "$(nsx nft list map ip berth ports | grep -o 'elements.*' || true)"
check_eq "ipam.json empty after rm" "0" "$(jq '.allocations | length' "${D_ROOT[a]}/net/ipam.json")"
check "no berth veth left" wait_for 10 bash -c "! ip -n $NS -o link | grep -q 'bv[0-9a-f]'"
finish
