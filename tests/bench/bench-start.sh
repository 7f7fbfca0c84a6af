#!/usr/bin/env bash
# bench-start.sh [N] [BUILD_DIR]: container start-to-exit latency of /bin/true
# from a busybox rootfs, N runs each (default 30):
#   berth-MODE-SOURCE
#               POST /v1/workloads + GET /v1/workloads/NAME/wait on berthd's
#               socket, for each network mode in BENCH_NETWORKS (default
#               "none": a new netns with loopback only, the isolation of the
#               runc spec's bundle; bench-start-net.sh adds "bridge") and each
#               source in BENCH_SOURCES (default "image rootfs": spec.image of
#               the busybox rootfs imported as an OCI image, which adds the
#               snapshot prepare and its removal; spec.rootfs of the directory)
#   runc        runc run of an OCI bundle with the same rootfs and command
#   crun        crun run of the same bundle (inside unshare -m with the hybrid
#               cgroup2 mount /sys/fs/cgroup/unified unmounted: crun refuses
#               hybrid mode)
# Runs in BENCH_ROUNDS (5) interleaved rounds. Prints median and p99 per
# runtime and the ratios against crun and runc (issue 2's target: berth-none
# median <= 1.0x crun; issue 3's, from an imported image: <= 0.5x with network
# none, <= 1.0x in bridge mode). The image is built with umoci (skipped
# without it). Not part of the suite. Needs root. berthd runs in a
# network namespace and a temp root of its own (its bridge and nft table live
# and die there); everything is removed on exit.
set -euo pipefail

N=${1:-30}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=$(cd "${2:-$repo/build}" && pwd)
py=/usr/bin/python3
[[ -x $py ]] || py=python3

[[ $(id -u) -eq 0 ]] || { echo "bench-start.sh: needs root" >&2; exit 1; }
for t in "$build/berthd" "$build/berthctl" "$build/berth-shim" curl nsenter ip jq; do
        command -v "$t" >/dev/null || { echo "bench-start.sh: $t missing" >&2; exit 1; }
done

id=$$
tmp=$(mktemp -d "/tmp/berth-bench-$id.XXXXXX")
ns=berth-bench-$id
cg=berth-bench-$id
bpid=
cleanup() {
        set +e
        if [[ -n $bpid ]]; then
                kill "$bpid" 2>/dev/null
                wait "$bpid" 2>/dev/null
        fi
        ip netns del "$ns" 2>/dev/null
        find /sys/fs/cgroup -mindepth 1 -maxdepth 8 -type d \( -path "*/$cg" -o -path "*/$cg/*" \) 2>/dev/null |
                awk '{ print length($0) " " $0 }' | sort -rn | cut -d' ' -f2- | xargs -r rmdir 2>/dev/null
        rm -rf --one-file-system "$tmp"
}
trap cleanup EXIT

"$repo/deploy/make-busybox-rootfs.sh" "$tmp/bundle/rootfs" >/dev/null
rootfs=$tmp/bundle/rootfs
if command -v runc >/dev/null; then
        (cd "$tmp/bundle" && runc spec)
        jq --arg root "$rootfs" '.process.args = ["/bin/true"] | .process.terminal = false | .root.path = $root' \
                "$tmp/bundle/config.json" >"$tmp/bundle/config.json.new"
        mv "$tmp/bundle/config.json.new" "$tmp/bundle/config.json"
fi

ip netns add "$ns"
ip -n "$ns" link set lo up
nsenter --net="/run/netns/$ns" -- "$build/berthd" --root "$tmp/root" --run-dir "$tmp/run" \
        --cgroup-parent "$cg" --shim "$build/berth-shim" >"$tmp/berthd.log" 2>&1 &
bpid=$!
for _ in $(seq 100); do
        [[ $(curl -s --unix-socket "$tmp/run/berthd.sock" http://localhost/readyz 2>/dev/null) == ok ]] && break
        kill -0 "$bpid" 2>/dev/null || { tail -n 20 "$tmp/berthd.log" >&2; exit 1; }
        sleep 0.1
done

read -r -a sources <<<"${BENCH_SOURCES:-image rootfs}"
if [[ " ${sources[*]} " == *" image "* ]]; then
        if command -v umoci >/dev/null; then
                umoci init --layout "$tmp/layout" >/dev/null
                umoci new --image "$tmp/layout:1" >/dev/null
                umoci unpack --image "$tmp/layout:1" "$tmp/ubundle" >/dev/null
                cp -a "$rootfs/." "$tmp/ubundle/rootfs/"
                umoci repack --image "$tmp/layout:1" "$tmp/ubundle" >/dev/null
                rm -rf "$tmp/ubundle"
                "$build/berthctl" --socket "$tmp/run/berthd.sock" image import --name bench:1 "$tmp/layout" >/dev/null
        else
                echo "bench-start: umoci missing: no image rows (apt-get install umoci)" >&2
                read -r -a sources <<<"${sources[*]/image/}"
        fi
fi
# source_arg SOURCE: bench_start.py's SOURCE argument
source_arg() { if [[ $1 == image ]]; then echo image:bench:1; else echo "$rootfs"; fi; }

stats() {
        sort -n "$1" | awk '{ v[NR] = $1 } END {
                if (NR == 0) { print "- -"; exit }
                m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
                i = int(NR * 0.99 + 0.999999); if (i < 1) i = 1; if (i > NR) i = NR
                printf "%.2f %.2f\n", m, v[i] }'
}

# In rounds, each runtime in turn, so that load drift on a shared machine
# weighs on all of them alike (BENCH_ROUNDS, default 5).
rounds=${BENCH_ROUNDS:-5}
read -r -a networks <<<"${BENCH_NETWORKS:-none}"
per=$(((N + rounds - 1) / rounds))
echo "bench-start: $((per * rounds)) runs each of /bin/true start-to-exit, $rounds interleaved rounds ($(nproc) CPUs, $(uname -r))"
for ((round = 0; round < rounds; round++)); do
        for mode in "${networks[@]}"; do
                for src in "${sources[@]}"; do
                        "$py" "$here/bench_start.py" berth "$tmp/run/berthd.sock" "$(source_arg "$src")" "$per" "$mode" \
                                >>"$tmp/berth-$mode-$src.ms" ||
                                { echo "berth ($mode, $src) failed; berthd log:" >&2; tail -n 20 "$tmp/berthd.log" >&2; }
                done
        done
        if command -v runc >/dev/null; then
                "$py" "$here/bench_start.py" oci runc "$tmp/runc-state" "$tmp/bundle" "$per" >>"$tmp/runc.ms" || true
        fi
        if command -v crun >/dev/null && command -v runc >/dev/null; then
                unshare -m -- sh -c 'if mountpoint -q /sys/fs/cgroup/unified; then umount /sys/fs/cgroup/unified; fi; exec "$@"' _ \
                        "$py" "$here/bench_start.py" oci crun "$tmp/crun-state" "$tmp/bundle" "$per" >>"$tmp/crun.ms" || true
        fi
done

declare -A med p99
printf '%-20s %5s %10s %10s\n' runtime runs "median ms" "p99 ms"
rows=()
for mode in "${networks[@]}"; do for src in "${sources[@]}"; do rows+=("berth-$mode-$src"); done; done
for r in "${rows[@]}" runc crun; do
        f=$tmp/$r.ms
        [[ -f $f ]] || touch "$f"
        read -r med[$r] p99[$r] < <(stats "$f")
        printf '%-20s %5s %10s %10s\n' "$r" "$(wc -l <"$f")" "${med[$r]}" "${p99[$r]}"
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2f", a / b }'; }
for r in "${rows[@]}"; do
        echo "$r/crun median $(ratio "${med[$r]}" "${med[crun]}"), p99 $(ratio "${p99[$r]}" "${p99[crun]}");" \
                "$r/runc median $(ratio "${med[$r]}" "${med[runc]}"), p99 $(ratio "${p99[$r]}" "${p99[runc]}")"
done
diff_ms() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-") print "-"; else printf "%.2f ms", a - b }'; }
for src in "${sources[@]}"; do
        if [[ -n ${med[berth-bridge-$src]:-} && -n ${med[berth-none-$src]:-} ]]; then
                echo "bridge cost ($src): berth-bridge - berth-none median $(diff_ms "${med[berth-bridge-$src]}" "${med[berth-none-$src]}")"
        fi
done
for mode in "${networks[@]}"; do
        if [[ -n ${med[berth-$mode-image]:-} && -n ${med[berth-$mode-rootfs]:-} ]]; then
                echo "image cost ($mode): berth-$mode-image - berth-$mode-rootfs median $(diff_ms "${med[berth-$mode-image]}" "${med[berth-$mode-rootfs]}")"
        fi
done
