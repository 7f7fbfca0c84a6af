#!/usr/bin/env bash
# microVM networking under TCG (docs/VM.md "Network"), all inside the test's
# own network namespace: a VM in bridge mode gets a tap on berthd's bridge and
# an address from the same IPAM as containers; a container and the VM ping
# each other by address (both directions), the namespace reaches the VM, the
# guest has eth0 with its address, a default route via the bridge, hostname,
# /etc/hosts and /etc/resolv.conf; inspect shows the VM's IP; the tap lives
# through a berthd restart and goes away with QEMU (kill) and rm; network
# none means no NIC; network host is refused naming the field.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2016
source "$(dirname "$0")/lib.sh"

vm_require
[[ -c /dev/net/tun ]] || skip "no /dev/net/tun"
# The list first: grep -q in a pipeline could SIGPIPE busybox (pipefail).
applets=$("$IT_ROOTFS/bin/busybox" --list)
for applet in ping ip hostname httpd; do
        grep -qx "$applet" <<<"$applets" || skip "busybox without $applet"
done

daemon_start a --config "$IT_TMP/berthd.yaml"
NS=${D_NS[a]}
nsx() { nsenter --net="/run/netns/$NS" -- "$@"; }
if ! grep -q "bridge networking on berth0" "${D_LOG[a]}"; then
        grep -i "bridge" "${D_LOG[a]}" | sed 's/^/# /'
        skip "berthd could not set up its bridge here (nf_tables or veth missing?)"
fi

qemu_pids() { pgrep -f "qemu-system-x86_64 .*${IT_TMP//./[.]}" || true; }
no_qemu() { [[ -z $(qemu_pids) ]]; }
taps() { ip -n "$NS" -o link show 2>/dev/null | awk -F': ' '{ print $2 }' | grep '^bt' || true; }
tap_of() { printf 'bt%02x%02x%02x%02x' ${1//./ }; }
no_tap() { [[ -z $(taps) ]]; }

# a container on the bridge
check "run container c1 (bridge)" run_d c1 --network bridge -- /bin/sh -c 'sleep 1000'
check "c1 running" wait_for 10 state_is c1 running
c1_ip=$(status_of c1 .status.network.ip)
check_match "c1 has an address" '^10\.88\.[0-9]+\.[0-9]+$' "$c1_ip"

# a VM on the same bridge: shows its network as the guest sees it, pings the
# container, then stays up
t0=$(date +%s.%N)
check "run VM v1 (bridge, publishes 8081:80)" ctl run -d --vm --name v1 --rootfs "$IT_ROOTFS" --network bridge -p 8081:80 -- /bin/sh -c \
        "ip -4 addr show eth0; ip link show eth0; ip route; hostname; echo hosts:; cat /etc/hosts; echo resolv:; cat /etc/resolv.conf; echo net-shown; \
         if ping -c 3 -W 2 $c1_ip; then echo ping-c1-ok; else echo ping-c1-failed; fi; \
         mkdir -p /tmp/www; echo hello-from-vm >/tmp/www/index.html; httpd -p 80 -h /tmp/www; exec sleep 1000"
v1_ip=$(status_of v1 .status.network.ip)
check_match "inspect shows the VM's IP (status.network.ip)" '^10\.88\.[0-9]+\.[0-9]+$' "$v1_ip"
check "v1 and c1 have different addresses" test "$v1_ip" != "$c1_ip"
check_eq "the stored spec names bridge" "bridge" "$(status_of v1 .spec.network.mode)"
check_eq "berthctl inspect shows the same IP" "$v1_ip" "$(ctl inspect v1 -o json 2>/dev/null | jq -r .status.network.ip)"
tap=$(tap_of "$v1_ip")
check "a tap $tap sits on the bridge berth0" bash -c "ip -n $NS -o link show $tap | grep -q 'master berth0'"
check_match "the tap is a tun/tap device" "tun" "$(ip -n "$NS" -d link show "$tap" 2>&1)"
check "v1 shows its network" wait_for 120 logs_have v1 net-shown
t1=$(date +%s.%N)
diag "VM create -> network shown in the guest: $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') s"
vlog=$(ctl logs v1)
check_match "guest eth0 has the VM's address /16" "inet ${v1_ip//./\\.}/16" "$vlog"
mac=$(printf '02:b7:%02x:%02x:%02x:%02x' ${v1_ip//./ })
check_match "guest eth0 has the MAC derived from the address ($mac)" "link/ether $mac" "$vlog"
check_match "guest default route via the bridge" "default via 10\.88\.0\.1 dev eth0" "$vlog"
check_match "guest hostname is the workload name" $'\nv1\n' "$vlog"
check_match "guest /etc/hosts names the workload" "${v1_ip//./\\.}[[:space:]]+v1" "$vlog"
check_match "guest /etc/resolv.conf written (the container's one)" "resolv:" "$vlog"
check "VM -> container: ping c1 by address" wait_for 60 logs_have v1 ping-c1-ok
check "container -> VM: ping v1 by address (exec in c1)" ctl exec c1 -- ping -c 3 -W 2 "$v1_ip"
check "VM -> container again, from an exec in the VM" ctl exec v1 -- ping -c 2 -W 2 "$c1_ip"
check "namespace (bridge address) -> VM: ping" nsx "$IT_ROOTFS/bin/busybox" ping -c 2 -W 2 "$v1_ip"
check "a published port of the VM answers on the bridge address (nft DNAT to the VM)" \
        wait_for 30 bash -c "nsenter --net=/run/netns/$NS -- curl -s -m 2 http://10.88.0.1:8081/ | grep -q hello-from-vm"
command -v nft >/dev/null && check_match "nft map holds the VM's port" "tcp \. 8081 : ${v1_ip//./\\.} \. 80" "$(nsx nft list map ip berth ports 2>&1)"
check_eq "no default route in berthd's namespace" "" "$(ip -n "$NS" route show default)"

# re-adoption keeps the tap (QEMU holds it)
qpid=$(qemu_pids)
daemon_stop a
check "QEMU survives a berthd stop" kill -0 "${qpid:-0}"
check "the tap survives a berthd stop" bash -c "ip -n $NS link show $tap >/dev/null"
daemon_start a --config "$IT_TMP/berthd.yaml"
check_eq "v1 re-adopted as running" "running" "$(status_of v1 .status.state)"
check_eq "v1 keeps its IP after re-adoption" "$v1_ip" "$(status_of v1 .status.network.ip)"
check "container -> VM after the restart" ctl exec c1 -- ping -c 2 -W 2 "$v1_ip"
check_eq "exec into the re-adopted VM" "v1" "$(ctl exec v1 -- hostname 2>&1)"

# QEMU killed: the tap goes with it (no orphan), the address stays until rm
check "kill v1 (SIGKILL ends QEMU)" ctl kill v1
ctl wait v1 >/dev/null 2>&1 || true
check "no tap left once QEMU is gone" wait_for 10 no_tap
check_eq "the address is kept until rm" "true" "$(jq --arg ip "$v1_ip" 'any(.allocations[]; .owner == "v1" and .address == $ip)' "${D_ROOT[a]}/net/ipam.json")"
check "start v1 again" ctl start v1
check "v1 running again" wait_for 30 state_is v1 running
check "the tap is back with the same name" wait_for 10 bash -c "ip -n $NS link show $tap >/dev/null"
check "v1 pings c1 again" wait_for 120 bash -c '[[ $("$0" --socket "$1" logs v1 | grep -c ping-c1-ok) -ge 2 ]]' "$BERTHCTL" "$(sock)"
check "rm -f v1" ctl rm -f v1
check "no tap left after rm" wait_for 10 no_tap
check_eq "rm released v1's address" "false" "$(jq 'any(.allocations[]; .owner == "v1")' "${D_ROOT[a]}/net/ipam.json")"
check "no QEMU left after rm" wait_for 30 no_qemu

# network none: no NIC at all; no address
out=$(ctl run --vm --name vnone --rootfs "$IT_ROOTFS" --network none -- /bin/sh -c 'ls /sys/class/net' 2>&1)
check_eq "network none: the guest has only lo" "lo" "$out"
check_eq "network none: no address in status" "null" "$(status_of vnone .status.network.ip)"
check "network none: no -netdev in QEMU's command line" bash -c "! grep -q netdev '${D_ROOT[a]}/workloads/vnone/vm.json'"
check "rm vnone" ctl rm -f vnone

# network host is refused for a VM, naming the field
hdoc=$(doc vhost /bin/true | jq -c '.spec.isolation = "vm" | .spec.network = {mode: "host"}')
check_eq "network host for a VM is refused with 400" "400" "$(post_doc "$hdoc")"
check_match "the error names spec.network.mode" 'spec\.network\.mode' "$(body)"
check_eq "the refused VM holds no address" "false" "$(jq 'any(.allocations[]; .owner == "vhost")' "${D_ROOT[a]}/net/ipam.json")"

check "rm -f c1" ctl rm -f c1
check "no tap of this test is left" no_tap
check "no qemu-system process of this test is left" no_qemu

finish
