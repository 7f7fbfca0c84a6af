#!/usr/bin/env bash
# fleet-sim.sh: a simulated fleet (docs/CLUSTER.md, issue 7). FLEET_NODES
# berthd instances (default 50), each with its own root, socket, cgroup parent
# and node name, each running FLEET_WORKLOADS busybox workloads, report to one
# 3-member etcd cluster on loopback (inside a network namespace made here) for
# FLEET_SECONDS (default 300). Prints:
#   - etcd writes per node per minute at steady state (etcd revisions, plus
#     the txns berthd counted), and lease keepalives per node per minute;
#   - bytes per write (txn request bodies);
#   - berthd CPU per node;
#   - the time for a node's death (SIGKILL) to become visible (its
#     registration key gone), against TTL + 1 s;
# and the same writes and bytes for a kubelet-style full node status every
# 10 s (every key of the node rewritten each interval), measured on the same
# keys in the same run.
#
# Usage: sudo tests/bench/fleet-sim.sh [BUILD_DIR]   (default: build)
# Environment: FLEET_NODES, FLEET_WORKLOADS, FLEET_SECONDS, FLEET_WARMUP,
# FLEET_TTL (10), FLEET_INTERVAL (10). Not part of the suite.
set -uo pipefail

SRC=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$SRC/build}
NODES=${FLEET_NODES:-50}
WL=${FLEET_WORKLOADS:-1}
SECS=${FLEET_SECONDS:-300}
WARMUP=${FLEET_WARMUP:-40}
TTL=${FLEET_TTL:-10}
INTERVAL=${FLEET_INTERVAL:-10}

[[ $(id -u) -eq 0 ]] || { echo "fleet-sim: needs root" >&2; exit 77; }
for t in etcd etcdctl jq curl nsenter bc; do
        command -v $t >/dev/null || { echo "fleet-sim: $t missing (deploy/install-deps.sh)" >&2; exit 77; }
done
for b in berthd berthctl berth-shim; do
        [[ -x $BUILD/$b ]] || { echo "fleet-sim: $BUILD/$b not built" >&2; exit 77; }
done

ID=$$
TMP=$(mktemp -d "/tmp/berth-fleet-$ID.XXXXXX")
NS=berth-fleet-$ID
declare -a BPID EPID

cleanup() {
        set +e
        local i pid d
        for ((i = 1; i <= NODES; i++)); do
                [[ -n ${BPID[$i]:-} ]] || continue
                for n in $(curl -s --unix-socket "$TMP/run-$i/berthd.sock" http://localhost/v1/workloads 2>/dev/null | jq -r '.items[]?.metadata.name'); do
                        timeout 20 "$BUILD/berthctl" --socket "$TMP/run-$i/berthd.sock" rm -f "$n" >/dev/null 2>&1
                done
                kill -TERM "${BPID[$i]}" 2>/dev/null
        done
        sleep 1
        for pid in "${BPID[@]}" "${EPID[@]}"; do [[ -n $pid ]] && kill -KILL "$pid" 2>/dev/null; done
        for pid in $(grep -ls "${TMP//./[.]}" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3); do
                [[ $pid != "$$" ]] && kill -KILL "$pid" 2>/dev/null
        done
        for d in $(find /sys/fs/cgroup -mindepth 1 -maxdepth 8 -type d -path "*/berth-fleet-$ID-*" 2>/dev/null); do
                while read -r pid; do kill -KILL "$pid" 2>/dev/null; done <"$d/cgroup.procs"
        done
        sleep 0.5
        for d in $(find /sys/fs/cgroup -mindepth 1 -maxdepth 8 -type d -path "*/berth-fleet-$ID-*" 2>/dev/null |
                awk '{ print length($0) " " $0 }' | sort -rn | cut -d' ' -f2-); do
                rmdir "$d" 2>/dev/null
        done
        ip netns del "$NS" 2>/dev/null
        awk -v p="$TMP" 'index($2, p) == 1 { print $2 }' /proc/self/mounts | sort -r | while read -r m; do umount -l "$m"; done
        rm -rf --one-file-system "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$NS" && ip -n "$NS" link set lo up || exit 1
in_ns() { nsenter --net="/run/netns/$NS" -- "$@"; }
EP="http://127.0.0.1:23801,http://127.0.0.1:23802,http://127.0.0.1:23803"
ctl_etcd() { ETCDCTL_API=3 in_ns timeout 20 etcdctl --endpoints="$EP" "$@"; }

IC="m1=http://127.0.0.1:23901,m2=http://127.0.0.1:23902,m3=http://127.0.0.1:23903"
for i in 1 2 3; do
        nsenter --net="/run/netns/$NS" -- etcd --name "m$i" --data-dir "$TMP/etcd-m$i" \
                --listen-client-urls "http://127.0.0.1:2380$i" --advertise-client-urls "http://127.0.0.1:2380$i" \
                --listen-peer-urls "http://127.0.0.1:2390$i" --initial-advertise-peer-urls "http://127.0.0.1:2390$i" \
                --initial-cluster "$IC" --initial-cluster-state new >"$TMP/etcd-m$i.log" 2>&1 &
        EPID[$i]=$!
        disown
done
for ((t = 0; t < 300; t++)); do ctl_etcd endpoint health --cluster >/dev/null 2>&1 && break; sleep 0.1; done
echo "fleet-sim: etcd 3.4 cluster of 3 up; starting $NODES berthd (TTL ${TTL}s, interval ${INTERVAL}s, $WL workload(s) each)"

"$SRC/deploy/make-busybox-rootfs.sh" "$TMP/rootfs" >/dev/null || exit 77
for ((i = 1; i <= NODES; i++)); do
        mkdir -p "$TMP/root-$i"
        cat >"$TMP/berthd-$i.yaml" <<EOF
cluster:
  endpoints: [http://127.0.0.1:23801, http://127.0.0.1:23802, http://127.0.0.1:23803]
  node: fleet-$i
  leaseTTL: ${TTL}s
  interval: ${INTERVAL}s
  labels: "zone=z$((i % 3)),rack=r$((i % 7))"
EOF
        nsenter --net="/run/netns/$NS" -- "$BUILD/berthd" -c "$TMP/berthd-$i.yaml" --root "$TMP/root-$i" \
                --run-dir "$TMP/run-$i" --cgroup-parent "berth-fleet-$ID-$i" --shim "$BUILD/berth-shim" \
                --log-level notice >"$TMP/berthd-$i.log" 2>&1 &
        BPID[$i]=$!
        disown
done
for ((i = 1; i <= NODES; i++)); do
        for ((t = 0; t < 200; t++)); do
                curl -sf -o /dev/null --unix-socket "$TMP/run-$i/berthd.sock" http://localhost/readyz && break
                sleep 0.1
        done
        for ((w = 1; w <= WL; w++)); do
                "$BUILD/berthctl" --socket "$TMP/run-$i/berthd.sock" run -d --name "w$w" --rootfs "$TMP/rootfs" -- sleep 100000 >/dev/null ||
                        echo "fleet-sim: node $i: workload w$w did not start" >&2
        done
done
for ((t = 0; t < 300; t++)); do
        n=$(ctl_etcd get --prefix --keys-only /berth/nodes/ 2>/dev/null | grep -c .)
        [[ $n -ge $NODES ]] && break
        sleep 0.2
done
echo "fleet-sim: $n nodes registered; warm-up ${WARMUP}s, then measuring for ${SECS}s"
sleep "$WARMUP"

metric_sum() {
        local i s=0 v
        for ((i = 1; i <= NODES; i++)); do
                v=$(curl -s --unix-socket "$TMP/run-$i/berthd.sock" http://localhost/metrics | awk -v n="$1" '$1 == n { print $2 }')
                s=$((s + ${v:-0}))
        done
        echo "$s"
}
cpu_ticks() {
        local i s=0 f
        for ((i = 1; i <= NODES; i++)); do
                read -ra f <"/proc/${BPID[$i]}/stat"
                s=$((s + f[13] + f[14]))
        done
        echo "$s"
}
rev() { ctl_etcd endpoint status -w json | jq -r '[.[].Status.header.revision] | max'; }

r0=$(rev); t0=$(metric_sum berth_cluster_txns_total); b0=$(metric_sum berth_cluster_txn_bytes_total)
k0=$(metric_sum berth_cluster_keepalives_total); c0=$(cpu_ticks); s0=$(date +%s.%N)
sleep "$SECS"
r1=$(rev); t1=$(metric_sum berth_cluster_txns_total); b1=$(metric_sum berth_cluster_txn_bytes_total)
k1=$(metric_sum berth_cluster_keepalives_total); c1=$(cpu_ticks); s1=$(date +%s.%N)

el=$(echo "$s1 - $s0" | bc -l)
min=$(echo "$el / 60" | bc -l)
hz=$(getconf CLK_TCK)
wpm=$(echo "($r1 - $r0) / $NODES / $min" | bc -l)
tpm=$(echo "($t1 - $t0) / $NODES / $min" | bc -l)
kpm=$(echo "($k1 - $k0) / $NODES / $min" | bc -l)
bpw=$(if [[ $((t1 - t0)) -gt 0 ]]; then echo "($b1 - $b0) / ($t1 - $t0)" | bc -l; else echo 0; fi)
cpu=$(echo "($c1 - $c0) / $hz / $el / $NODES * 100" | bc -l)

# kubelet-style: every key of a node (registration, statuses, metrics)
# rewritten as one txn every 10 s, whether it changed or not. Its size is
# what cluster_txn_build would send for all of them: measured here from the
# node's actual keys and values (base64, plus the per-op JSON).
full=0
for ((i = 1; i <= NODES; i++)); do
        s=$(ctl_etcd get --prefix "/berth/" -w json 2>/dev/null | jq --arg n "fleet-$i" '
                [.kvs[] | select((.key | @base64d) as $k | ($k | endswith("/" + $n)) or ($k | contains("/status/" + $n + "/")))
                 | (.key | length) * 2 + (.value | length) + 160] | add // 0')
        full=$((full + s + 30))
done
full_bytes=$(echo "$full / $NODES" | bc -l)
kube_wpm=$(echo "60 / 10" | bc -l)

printf '\nfleet-sim: %d nodes, %d workload(s) each, %.0f s measured, TTL %ss, interval %ss\n' "$NODES" "$WL" "$el" "$TTL" "$INTERVAL"
printf '  etcd writes per node per minute (revisions):  %6.2f   (target <= 6)\n' "$wpm"
printf '  status txns per node per minute (berthd):      %6.2f\n' "$tpm"
printf '  lease keepalives per node per minute:          %6.2f   (not revisions: etcd does not bump the revision)\n' "$kpm"
printf '  bytes per write (txn body):                    %6.0f   (target <= 1024)\n' "$bpw"
printf '  berthd CPU per node:                           %6.3f %% of one CPU\n' "$cpu"
printf '  kubelet-style full status every 10 s:          %6.2f writes/node/min, %6.0f bytes/write\n' "$kube_wpm" "$full_bytes"
if (($(echo "$wpm > 0" | bc))); then
        printf '  ratio writes kubelet-style / berth:            %6.1fx\n' "$(echo "$kube_wpm / $wpm" | bc -l)"
fi
if (($(echo "$bpw > 0" | bc))); then
        printf '  ratio bytes/min kubelet-style / berth:         %6.1fx\n' "$(echo "($kube_wpm * $full_bytes) / ($tpm * $bpw)" | bc -l)"
fi

# Node death: SIGKILL node 1, time until its registration is gone.
victim=1
# count KEY: 1 when present, 0 when gone, "err" when etcd did not answer.
count() { ctl_etcd get --keys-only "$1" -w json 2>/dev/null | jq -r '.count // 0' 2>/dev/null || echo err; }
[[ $(count "/berth/nodes/fleet-$victim") == 1 ]] || echo "fleet-sim: node $victim not registered before the kill" >&2
kill -KILL "${BPID[$victim]}"
td0=$(date +%s.%N)
while [[ $(count "/berth/nodes/fleet-$victim") != 0 ]]; do
        sleep 0.05
        [[ $(echo "$(date +%s.%N) - $td0 > $TTL * 3" | bc) == 1 ]] && break
done
td1=$(date +%s.%N)
BPID[$victim]=
printf '  node death visible after:                      %6.2f s   (target <= TTL + 1 = %d s)\n' \
        "$(echo "$td1 - $td0" | bc -l)" "$((TTL + 1))"
