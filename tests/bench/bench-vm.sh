#!/usr/bin/env bash
# bench-vm.sh [RUNS] [BUILD_DIR]: microVM figures (issue 4, docs/VM.md).
#   boot    API create (POST /v1/workloads) -> the guest init's HELLO frame
#           (workloads/<name>/vm-hello, written by berth-shim), against a plain
#           `qemu-system-x86_64 -M microvm` launched by hand with the same
#           kernel, initramfs, kernel command line, accelerator, memory and
#           devices -> the HELLO frame on its virtio-serial port. Medians and
#           the ratio; target: berth adds at most 10%.
#   memory  PSS of the QEMU process minus the guest RAM touched (the PSS of
#           the guest RAM mapping), berth's VM against the plain one.
# The accelerator is berth's choice (TCG here: kvm_pvm; BENCH_ACCEL=kvm|tcg
# forces it). Not part of the test suite. Needs root; berthd runs in a netns
# of its own with a temp root; everything is removed on exit.
set -euo pipefail

RUNS=${1:-5}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=$(cd "${2:-$repo/build}" && pwd)
guest=${BERTH_GUEST_DIR:-/var/lib/berth/guest}
accel=${BENCH_ACCEL:-auto}
MEM_MI=256

[[ $(id -u) -eq 0 ]] || { echo "bench-vm.sh: needs root" >&2; exit 1; }
for t in "$build/berthd" "$build/berth-shim" "$build/berthctl" qemu-system-x86_64 qemu-img mkfs.ext4 curl jq nsenter ip; do
        command -v "$t" >/dev/null || { echo "bench-vm.sh: $t missing (deploy/install-deps.sh)" >&2; exit 1; }
done
[[ -e $guest/vmlinuz ]] || "$repo/deploy/fetch-guest-kernel.sh" "$guest"

id=$$
tmp=$(mktemp -d "/tmp/berth-bench-vm-$id.XXXXXX")
ns=berth-bench-vm-$id
cg=berth-bench-vm-$id
sock=$tmp/run/berthd.sock
bpid=
qpid=
cleanup() {
        set +e
        [[ -n $qpid ]] && kill -9 "$qpid" 2>/dev/null && wait "$qpid" 2>/dev/null
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
# pss_overhead PID: PSS of the process minus the PSS of its guest RAM mapping
# (the anonymous mapping of exactly MEM_MI MiB), in KiB.
pss_overhead() {
        awk -v want=$((MEM_MI * 1024)) '
                /^[0-9a-f]+-[0-9a-f]+ / { inmap = 1; size = -1; next }
                /^Size:/ { size = $2 }
                /^Pss:/ { total += $2; if (size == want && !guest) { guest = $2 } }
                END { printf "%d %d\n", total - guest, guest }' "/proc/$1/smaps"
}

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
post() { # post NAME CMD-JSON
        curl -s -o /dev/null -w '%{http_code}' --unix-socket "$sock" -X POST http://localhost/v1/workloads \
                -H 'Content-Type: application/json' --data-binary \
                "{\"apiVersion\":\"berth/v1\",\"kind\":\"Workload\",\"metadata\":{\"name\":\"$1\"},\"spec\":{\"isolation\":\"vm\",\"rootfs\":\"$tmp/rootfs\",\"command\":$2,\"vm\":{\"memory\":\"${MEM_MI}Mi\"}}}"
}
wait_file() { # wait_file PATH SECONDS
        local deadline=$((SECONDS + $2))
        while [[ ! -s $1 ]]; do
                [[ $SECONDS -ge $deadline ]] && { echo "bench-vm.sh: timed out waiting for $1" >&2; exit 1; }
                sleep 0.005
        done
}

# warm-up: builds the initramfs and the ext4 export (cached afterwards)
[[ $(post warm '["/bin/true"]') == 201 ]] || { echo "bench-vm.sh: create refused" >&2; tail "$tmp/berthd.log" >&2; exit 1; }
ctl wait warm >/dev/null || true
vmjson=$tmp/root/workloads/warm/vm.json
used_accel=$(jq -r .accel "$vmjson")
kernel=$(jq -r .kernel "$vmjson")
initrd=$(jq -r .initrd "$vmjson")
append=$(jq -r '.argv as $a | ($a | index("-append")) as $i | $a[$i + 1]' "$vmjson")
image=$(find "$tmp/root/vm/images" -name '*.ext4' | head -n1)
ctl rm -f warm >/dev/null

echo "bench-vm: $RUNS runs, accelerator $used_accel, ${MEM_MI}Mi, kernel $(readlink -f "$kernel" | xargs basename)"
: >"$tmp/berth.txt"
for i in $(seq "$RUNS"); do
        t0=$(now_us)
        [[ $(post "b$i" '["/bin/true"]') == 201 ]] || { echo "bench-vm.sh: create b$i refused" >&2; exit 1; }
        wait_file "$tmp/root/workloads/b$i/vm-hello" 120
        echo $(($(cat "$tmp/root/workloads/b$i/vm-hello") - t0)) >>"$tmp/berth.txt"
        ctl wait "b$i" >/dev/null || true
        ctl rm -f "b$i" >/dev/null
done

plain() { # plain CHAN-FILE: the same machine by hand, HELLO lands in CHAN-FILE
        local cpu=()
        [[ $used_accel == kvm ]] && cpu=(-cpu host)
        qemu-system-x86_64 -M microvm,x-option-roms=off,isa-serial=on -accel "$used_accel" \
                "${cpu[@]}" -nodefaults -no-user-config -display none \
                -sandbox on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny \
                -smp 1 -m "${MEM_MI}M" -kernel "$kernel" -initrd "$initrd" -append "$append" -no-reboot \
                -chardev "file,id=chan,path=$1" -device virtio-serial-device,max_ports=2 \
                -device virtserialport,chardev=chan,name=berth.0,nr=1 -serial "file:$1.console" \
                -drive "file=$image,format=raw,if=none,id=root,snapshot=on" -device virtio-blk-device,drive=root \
                </dev/null >/dev/null 2>&1 &
        qpid=$!
}
: >"$tmp/plain.txt"
for i in $(seq "$RUNS"); do
        t0=$(now_us)
        plain "$tmp/chan$i"
        wait_file "$tmp/chan$i" 120
        echo $(($(now_us) - t0)) >>"$tmp/plain.txt"
        kill -9 "$qpid"
        wait "$qpid" 2>/dev/null || true
        qpid=
done

b=$(median <"$tmp/berth.txt")
p=$(median <"$tmp/plain.txt")
printf 'boot  create -> guest init HELLO   berth median %7.1f ms   plain qemu median %7.1f ms   ratio %.3f (target <= 1.10)\n' \
        "$(echo "$b / 1000" | bc -l)" "$(echo "$p / 1000" | bc -l)" "$(echo "$b / $p" | bc -l)"
echo "      berth runs (ms): $(awk '{ printf "%.0f ", $1 / 1000 }' "$tmp/berth.txt")"
echo "      plain runs (ms): $(awk '{ printf "%.0f ", $1 / 1000 }' "$tmp/plain.txt")"

# memory: one VM each, 3 s after HELLO (berth's runs a sleeping command)
[[ $(post mem '["/bin/sleep","1000"]') == 201 ]] || exit 1
wait_file "$tmp/root/workloads/mem/vm-hello" 120
sleep 3
bq=$(curl -s --unix-socket "$sock" http://localhost/v1/workloads/mem | jq -r .status.pid)
read -r bo bg < <(pss_overhead "$bq")
plain "$tmp/chanm"
wait_file "$tmp/chanm" 120
sleep 3
read -r po pg < <(pss_overhead "$qpid")
printf 'memory  QEMU PSS minus guest RAM touched   berth %6.1f MiB (guest %5.1f MiB)   plain %6.1f MiB (guest %5.1f MiB)   ratio %.3f\n' \
        "$(echo "$bo / 1024" | bc -l)" "$(echo "$bg / 1024" | bc -l)" "$(echo "$po / 1024" | bc -l)" \
        "$(echo "$pg / 1024" | bc -l)" "$(echo "$bo / $po" | bc -l)"
