#!/usr/bin/env bash
# bench-vm-snapshot.sh [RUNS] [BUILD_DIR]: VM snapshot/restore/clone figures
# (docs/VM.md "Snapshots"). Prints figures and ratios; asserts nothing.
#   cold     API create -> the guest answers (the init's HELLO, vm-hello) and
#            -> the command's first output line, for the VM that is snapshotted
#   snapshot POST /v1/workloads/NAME/snapshot -> 201 (complete and durable)
#   restore  POST /v1/vm-snapshots/ID/restore -> the guest answers (PONG to
#            the shim's PING, vm-hello) and -> the command's next output line;
#            target: restore <= 1/5 of the cold boot
#   clone    `berthctl vm clone ID --count 10` -> all 10 answer: VMs per second
# The accelerator is berth's choice (TCG here: kvm_pvm; BENCH_ACCEL=kvm|tcg
# forces it). Not part of the test suite. Needs root; berthd runs in a netns
# of its own with a temp root; everything is removed on exit.
# shellcheck disable=SC2016
set -euo pipefail

RUNS=${1:-5}
CLONES=${BENCH_CLONES:-10}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=$(cd "${2:-$repo/build}" && pwd)
guest=${BERTH_GUEST_DIR:-/var/lib/berth/guest}
accel=${BENCH_ACCEL:-auto}
MEM_MI=256

[[ $(id -u) -eq 0 ]] || { echo "bench-vm-snapshot.sh: needs root" >&2; exit 1; }
for t in "$build/berthd" "$build/berth-shim" "$build/berthctl" qemu-system-x86_64 qemu-img mkfs.ext4 curl jq nsenter ip bc; do
        command -v "$t" >/dev/null || { echo "bench-vm-snapshot.sh: $t missing (deploy/install-deps.sh)" >&2; exit 1; }
done
[[ -e $guest/vmlinuz ]] || "$repo/deploy/fetch-guest-kernel.sh" "$guest"

id=$$
tmp=$(mktemp -d "/tmp/berth-bench-vmsnap-$id.XXXXXX")
ns=berth-bench-vmsnap-$id
cg=berth-bench-vmsnap-$id
sock=$tmp/run/berthd.sock
bpid=
cleanup() {
        set +e
        if [[ -n $bpid ]] && kill -0 "$bpid" 2>/dev/null; then
                for n in $(curl -s --max-time 5 --unix-socket "$sock" http://localhost/v1/workloads | jq -r '.items[].metadata.name'); do
                        "$build/berthctl" --socket "$sock" rm -f "$n" >/dev/null 2>&1
                done
                kill "$bpid" 2>/dev/null
                wait "$bpid" 2>/dev/null
        fi
        # shellcheck disable=SC2038
        find /sys/fs/cgroup -mindepth 1 -maxdepth 8 -name cgroup.procs -path "*/$cg/*" -exec cat {} + 2>/dev/null |
                xargs -r kill -9 2>/dev/null
        grep -ls "${tmp//./[.]}" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3 | xargs -r kill -9 2>/dev/null
        sleep 0.5
        ip netns del "$ns" 2>/dev/null
        find /sys/fs/cgroup -mindepth 1 -maxdepth 8 -type d \( -path "*/$cg" -o -path "*/$cg/*" \) 2>/dev/null |
                awk '{ print length($0) " " $0 }' | sort -rn | cut -d' ' -f2- | xargs -r rmdir 2>/dev/null
        rm -rf --one-file-system "$tmp"
}
trap cleanup EXIT

median() { sort -n | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
now_us() { date +%s%6N; }
ms() { echo "scale=1; $1 / 1000" | bc -l; }

mkdir -p "$tmp/root" "$tmp/run"
printf 'vm:\n  guestDir: %s\n  accelerator: %s\n' "$guest" "$accel" >"$tmp/berthd.yaml"
"$repo/deploy/make-busybox-rootfs.sh" "$tmp/rootfs" >/dev/null
ip netns add "$ns"
ip -n "$ns" link set lo up
nsenter --net="/run/netns/$ns" -- "$build/berthd" --root "$tmp/root" --run-dir "$tmp/run" --cgroup-parent "$cg" \
        --shim "$build/berth-shim" --config "$tmp/berthd.yaml" >"$tmp/berthd.log" 2>&1 &
bpid=$!
for _ in $(seq 200); do
        [[ $(curl -s --unix-socket "$sock" http://localhost/readyz 2>/dev/null) == ok ]] && break
        sleep 0.1
done
ctl() { timeout 180 "$build/berthctl" --socket "$sock" "$@"; }
api() { # api METHOD PATH [BODY]: prints the status
        curl -s -o "$tmp/body" -w '%{http_code}' --unix-socket "$sock" -X "$1" "http://localhost$2" \
                -H 'Content-Type: application/json' ${3:+--data-binary "$3"}
}
# A counter that prints every 100 ms: "answering" with output is then at most
# 100 ms behind the guest running again.
COUNTER='["/bin/sh","-c","i=0; while :; do i=$((i+1)); echo $i; usleep 100000; done"]'
post() { # post NAME CMD-JSON
        api POST /v1/workloads "{\"apiVersion\":\"berth/v1\",\"kind\":\"Workload\",\"metadata\":{\"name\":\"$1\"},\"spec\":{\"isolation\":\"vm\",\"rootfs\":\"$tmp/rootfs\",\"command\":$2,\"vm\":{\"memory\":\"${MEM_MI}Mi\"}}}"
}
wait_file() { # wait_file PATH SECONDS
        local deadline=$((SECONDS + $2))
        while [[ ! -s $1 ]]; do
                [[ $SECONDS -ge $deadline ]] && { echo "bench-vm-snapshot.sh: timed out waiting for $1" >&2; exit 1; }
                sleep 0.005
        done
}
wait_log() { # wait_log NAME SECONDS: until the workload's log has a line
        local deadline=$((SECONDS + $2))
        while [[ ! -s $tmp/root/workloads/$1/log ]]; do
                [[ $SECONDS -ge $deadline ]] && { echo "bench-vm-snapshot.sh: no output from $1" >&2; exit 1; }
                sleep 0.005
        done
}

# warm-up: the initramfs and the ext4 export are cached afterwards
[[ $(post warm '["/bin/true"]') == 201 ]] || { echo "bench-vm-snapshot.sh: create refused" >&2; exit 1; }
ctl wait warm >/dev/null || true
used_accel=$(jq -r .accel "$tmp/root/workloads/warm/vm.json")
ctl rm -f warm >/dev/null
echo "bench-vm-snapshot: $RUNS runs, accelerator $used_accel, ${MEM_MI}Mi, busybox counter printing every 100 ms"

# cold boots of the counter VM
: >"$tmp/cold.txt"
: >"$tmp/cold-out.txt"
for i in $(seq "$RUNS"); do
        t0=$(now_us)
        [[ $(post "c$i" "$COUNTER") == 201 ]] || { echo "bench-vm-snapshot.sh: create c$i refused" >&2; exit 1; }
        wait_file "$tmp/root/workloads/c$i/vm-hello" 120
        echo $(($(cat "$tmp/root/workloads/c$i/vm-hello") - t0)) >>"$tmp/cold.txt"
        wait_log "c$i" 120
        echo $(($(now_us) - t0)) >>"$tmp/cold-out.txt"
        [[ $i -lt $RUNS ]] && ctl rm -f "c$i" >/dev/null
done
src=c$RUNS
sleep 2

# snapshots of the running counter VM
: >"$tmp/snap.txt"
for i in $(seq "$RUNS"); do
        t0=$(now_us)
        [[ $(api POST "/v1/workloads/$src/snapshot" "{\"id\":\"s$i\"}") == 201 ]] ||
                { echo "bench-vm-snapshot.sh: snapshot refused: $(cat "$tmp/body")" >&2; exit 1; }
        echo $(($(now_us) - t0)) >>"$tmp/snap.txt"
        sleep 0.5
done
state_bytes=$(jq -r .memoryBytes "$tmp/body")
disk_bytes=$(jq -r .diskBytes "$tmp/body")

# restores of the last snapshot
: >"$tmp/restore.txt"
: >"$tmp/restore-split.txt"
: >"$tmp/restore-out.txt"
for i in $(seq "$RUNS"); do
        t0=$(now_us)
        [[ $(api POST "/v1/vm-snapshots/s$RUNS/restore" "{\"name\":\"r$i\"}") == 201 ]] ||
                { echo "bench-vm-snapshot.sh: restore refused: $(cat "$tmp/body")" >&2; exit 1; }
        wait_file "$tmp/root/workloads/r$i/vm-hello" 120
        echo $(($(cat "$tmp/root/workloads/r$i/vm-hello") - t0)) >>"$tmp/restore.txt"
        wait_log "r$i" 120
        echo $(($(now_us) - t0)) >>"$tmp/restore-out.txt"
        # berth-shim's own split: QEMU start -> QMP greeting, then migrate-incoming -> running
        sed -n 's/.*restored: QEMU up in \([0-9]*\) ms, state loaded and running after \([0-9]*\) ms more/\1 \2/p' \
                "$tmp/root/workloads/r$i/shim.log" >>"$tmp/restore-split.txt"
        ctl rm -f "r$i" >/dev/null
done

# clone rate: 10 restores through berthctl, until all answer
t0=$(now_us)
ctl vm clone "s$RUNS" --count "$CLONES" --prefix k >/dev/null
for i in $(seq "$CLONES"); do wait_file "$tmp/root/workloads/k-$i/vm-hello" 300; done
t1=$(now_us)
clone_us=$((t1 - t0))

c=$(median <"$tmp/cold.txt")
co=$(median <"$tmp/cold-out.txt")
s=$(median <"$tmp/snap.txt")
r=$(median <"$tmp/restore.txt")
ro=$(median <"$tmp/restore-out.txt")
printf 'cold     create  -> guest answers (HELLO)        median %8.1f ms   runs (ms): %s\n' "$(ms "$c")" "$(awk '{ printf "%.0f ", $1 / 1000 }' "$tmp/cold.txt")"
printf 'cold     create  -> first output line            median %8.1f ms   runs (ms): %s\n' "$(ms "$co")" "$(awk '{ printf "%.0f ", $1 / 1000 }' "$tmp/cold-out.txt")"
printf 'snapshot POST snapshot -> 201 (durable)          median %8.1f ms   runs (ms): %s   state %s MiB, disk layer %s KiB\n' \
        "$(ms "$s")" "$(awk '{ printf "%.0f ", $1 / 1000 }' "$tmp/snap.txt")" "$((state_bytes >> 20))" "$((disk_bytes >> 10))"
printf 'restore  POST restore -> guest answers (PONG)    median %8.1f ms   runs (ms): %s\n' "$(ms "$r")" "$(awk '{ printf "%.0f ", $1 / 1000 }' "$tmp/restore.txt")"
printf 'restore  POST restore -> first output line       median %8.1f ms   runs (ms): %s\n' "$(ms "$ro")" "$(awk '{ printf "%.0f ", $1 / 1000 }' "$tmp/restore-out.txt")"
printf 'restore  in berth-shim: QEMU start -> QMP greeting median %s ms, migrate-incoming -> running median %s ms\n' \
        "$(cut -d' ' -f1 "$tmp/restore-split.txt" | median)" "$(cut -d' ' -f2 "$tmp/restore-split.txt" | median)"
printf 'ratio    restore/cold, answering %.3f   first output %.3f   (target <= 0.200)\n' \
        "$(echo "$r / $c" | bc -l)" "$(echo "$ro / $co" | bc -l)"
printf 'clone    %d clones -> all answer in %.1f ms: %.2f VMs/s\n' "$CLONES" "$(ms "$clone_us")" \
        "$(echo "$CLONES * 1000000 / $clone_us" | bc -l)"
