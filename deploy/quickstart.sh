#!/usr/bin/env bash
# quickstart.sh: on a fresh Debian 12 machine, as root, from the repository:
# installs the packages, builds build/, starts berthd in the background
# (embedded default config, state in /var/lib/berth, socket
# /run/berth/berthd.sock, log /var/log/berth/berthd.log), builds a busybox
# rootfs, runs an example workload, then the same rootfs as a microVM
# (fetching the guest kernel), and shows them. Safe to run again: a running
# berthd is reused and the example workload is replaced.
set -euo pipefail

cd "$(dirname "$(readlink -f "$0")")/.."
repo=$(pwd)

[[ $(id -u) -eq 0 ]] || { echo "quickstart.sh: run as root" >&2; exit 1; }

root=/var/lib/berth
run=/run/berth
logdir=/var/log/berth
sock=$run/berthd.sock
pidfile=$run/berthd.pid
rootfs=$root/rootfs/busybox

echo "==> installing packages"
./deploy/install-deps.sh

echo "==> building"
if [[ ! -f build/meson-private/coredata.dat ]]; then
        meson setup build
fi
ninja -C build
berthd=$repo/build/berthd
berthctl=$repo/build/berthctl
# So that `berthctl ...` works from any shell afterwards.
ln -sfn "$berthctl" /usr/local/bin/berthctl

mkdir -p "$root" "$run" "$logdir"
chmod 0750 "$run"

running=0
if [[ -f $pidfile ]] && pid=$(cat "$pidfile") && [[ $(cat "/proc/$pid/comm" 2>/dev/null) == berthd ]]; then
        running=1
        echo "==> berthd already running (pid $pid)"
fi
if [[ $running == 0 ]]; then
        echo "==> starting berthd"
        setsid "$berthd" --root "$root" --run-dir "$run" --shim "$repo/build/berth-shim" \
                </dev/null >>"$logdir/berthd.log" 2>&1 &
        echo $! >"$pidfile"
fi
for _ in $(seq 100); do
        [[ $(curl -s --unix-socket "$sock" http://localhost/readyz 2>/dev/null) == ok ]] && break
        if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
                echo "quickstart.sh: berthd exited; see $logdir/berthd.log:" >&2
                tail -n 20 "$logdir/berthd.log" >&2
                exit 1
        fi
        sleep 0.1
done

echo "==> building the busybox rootfs in $rootfs"
./deploy/make-busybox-rootfs.sh "$rootfs" >/dev/null

echo "==> running the example workload 'hello'"
export BERTH_SOCKET=$sock
"$berthctl" rm -f hello >/dev/null 2>&1 || true
"$berthctl" run -d --name hello --rootfs "$rootfs" -- /bin/sh -c 'echo hello from berth; uname -a' >/dev/null
echo "exit code: $("$berthctl" wait hello || true)"

# The same rootfs as a microVM (isolation: vm; docs/VM.md). The guest kernel
# is Debian's linux-image-cloud-amd64, unpacked into $root/guest (not
# installed on the host). Where KVM cannot run a standard guest, QEMU uses
# TCG and the boot takes a few seconds.
echo "==> fetching the guest kernel into $root/guest"
./deploy/fetch-guest-kernel.sh "$root/guest"
echo "==> running the example microVM 'hello-vm'"
"$berthctl" rm -f hello-vm >/dev/null 2>&1 || true
"$berthctl" run -d --vm --name hello-vm --rootfs "$rootfs" -- /bin/sh -c 'echo hello from a berth microVM; uname -r' >/dev/null
echo "exit code: $("$berthctl" wait hello-vm || true)"
echo "==> berthctl logs hello-vm"
"$berthctl" logs hello-vm

echo "==> berthctl ls"
"$berthctl" ls
echo "==> berthctl logs hello"
"$berthctl" logs hello
echo
echo "berthd is running (pid $(cat "$pidfile")); stop it with: kill \$(cat $pidfile)"
