#!/usr/bin/env bash
# The libvirt backend of the VM driver (docs/VM.md) through an embedded
# libvirt QEMU driver (qemu:///embed, no libvirtd): the busybox rootfs booted
# as a q35 libvirt domain under TCG; stdout, exit codes 0 and non-zero, env,
# the domain visible while it runs, pause/resume through libvirt, a berthd
# restart that keeps the VM and its logs, stop, kill, and nothing left after
# rm (no domain, QEMU, socket or embedded root). Prints the boot time against
# the microvm backend.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2016,SC2317
source "$(dirname "$0")/lib.sh"

vm_require
compgen -G "/usr/lib/*/libvirt/connection-driver/libvirt_driver_qemu.so" >/dev/null ||
        skip "libvirt's QEMU driver is missing (apt-get install libvirt-daemon-driver-qemu)"
getent passwd libvirt-qemu >/dev/null ||
        skip "no libvirt-qemu user, which libvirt's QEMU driver needs (deploy/install-deps.sh creates it)"
printf '  backend: libvirt\n' >>"$IT_TMP/berthd.yaml"

daemon_start a --config "$IT_TMP/berthd.yaml"
ROOT=${D_ROOT[a]}

vm_d() {
        local name=$1
        shift
        ctl run -d --vm --network none --name "$name" --rootfs "$IT_ROOTFS" "$@"
}
# QEMU processes of this test (their -initrd lies under $IT_TMP)
qemu_pids() { pgrep -f "qemu-system-x86_64 .*${IT_TMP//./[.]}" || true; }
no_qemu() { [[ -z $(qemu_pids) ]]; }
# grep -c reads everything: grep -q could SIGPIPE berthctl and fail the pipeline
embed_root() { jq -r .libvirt_embed_root "$ROOT/workloads/$1/vm.json"; }
ms() { date +%s%3N; }
hello_ms() { echo $(($(cat "$ROOT/workloads/$1/vm-hello" 2>/dev/null || echo 0) / 1000)); }

# 1. foreground, backend named on the command line: stdout, env, exit 0
# (the first VM also fills the shared capabilities cache: QEMU is probed once)
t0=$(ms)
out=$(ctl run --vm-backend libvirt --network none --name vhello --rootfs "$IT_ROOTFS" --env GREETING="hi libvirt" -- \
        /bin/sh -c 'echo hello from libvirt; echo greeting=$GREETING' 2>&1)
check_eq "run --vm-backend libvirt exits 0" "0" "$?"
check_match "the guest's stdout reaches berthctl" "hello from libvirt" "$out"
check_eq "logs vhello (stdout and env)" "hello from libvirt
greeting=hi libvirt" "$(ctl logs vhello)"
check_eq "inspect vhello exitCode 0" "0" "$(status_of vhello .status.exitCode)"
check_eq "spec.vm.backend is libvirt" "libvirt" "$(status_of vhello .spec.vm.backend)"
check_eq "inspect shows status.vm.backend" "libvirt" "$(status_of vhello .status.vm.backend)"
check_eq "vm.json names the libvirt backend" "libvirt" "$(jq -r .backend "$ROOT/workloads/vhello/vm.json")"
check "the domain is q35 with direct kernel boot" grep -q "machine=.q35.*<kernel>" <(jq -r .domain_xml "$ROOT/workloads/vhello/vm.json" | tr -d '\n')
check_match "the URI is an embedded driver under berth's root" "^qemu:///embed\?root=$ROOT/lv/" "$(jq -r .libvirt_uri "$ROOT/workloads/vhello/vm.json")"
cold_boot=$(($(hello_ms vhello) - t0))
check "console log written" test -s "$ROOT/workloads/vhello/console.log"
check "libvirt's QEMU log kept" test -s "$ROOT/workloads/vhello/qemu.log"
check_match "QEMU ran q35 under the same -sandbox as microvm" "-machine pc-q35.*-sandbox on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny" \
        "$(tr '\n' ' ' <"$ROOT/workloads/vhello/qemu.log" | tr -d '\134')"
check "the embedded root is gone after the run" test ! -e "$(embed_root vhello)"

# 2. non-zero exit, stdout and stderr (backend from berthd's vm.backend)
check "run libvirt VM exit 7" vm_d vseven -- /bin/sh -c 'echo out; echo err >&2; exit 7'
check_rc "wait vseven exits 7" 7 ctl wait vseven
check_eq "stdout of vseven" "out" "$(ctl logs vseven 2>/dev/null)"
check_eq "stderr of vseven" "err" "$(ctl logs vseven 2>&1 >/dev/null)"
check_eq "vseven ran on libvirt (config default)" "libvirt" "$(jq -r .backend "$ROOT/workloads/vseven/vm.json")"

# 3. a long runner: visible as a domain, pause/resume, berthd restart, stop
t0=$(ms)
check "run libvirt long runner" vm_d vlong -- /bin/sh -c 'echo booted-ok; i=0; while :; do i=$((i+1)); echo tick $i; sleep 1; done'
check "vlong boots" wait_for 120 logs_have vlong booted-ok
lv_boot=$(($(hello_ms vlong) - t0))
er=$(embed_root vlong)
check_eq "libvirt.json names the domain" "berth-vlong" "$(jq -r .domain "$ROOT/workloads/vlong/libvirt.json")"
check "libvirt keeps the live domain's status XML" grep -q "<name>berth-vlong</name>" "$er/run/qemu/berth-vlong.xml"
qpid=$(status_of vlong .status.pid)
check_eq "state.json's pid is the domain's QEMU" "$qpid" "$(jq -r .qemu_pid "$ROOT/workloads/vlong/libvirt.json")"
check_match "QEMU runs the domain berth-vlong" "guest=berth-vlong" "$(tr '\0' ' ' </proc/"$qpid"/cmdline)"
check "QEMU is in the workload's cgroup" grep -q "/${D_CG[a]}/vlong\$" /proc/"$qpid"/cgroup
# berth-shim execs berth-shim-libvirt for libvirt VMs only (docs/VM.md): the
# supervisor holding this run is that binary, and it alone maps libvirt
spid=$(jq -r .shimPid "$ROOT/workloads/vlong/state.json")
check_match "vlong's supervisor is berth-shim-libvirt" "/berth-shim-libvirt\$" "$(readlink "/proc/$spid/exe")"
check "berth-shim-libvirt maps libvirt" grep -q libvirt "/proc/$spid/maps"
check "berth-shim itself does not link libvirt" bash -c '! ldd "$0" | grep -q libvirt' "$BERTH_SHIM"
# virsh cannot attach to an embedded root another process holds: it must say so
vout=$(timeout 30 virsh -c "qemu:///embed?root=$er" list --name 2>&1)
diag "virsh on the live embedded root: $(echo "$vout" | grep -v '^$' | tail -n 1)"
ticks() { ctl logs vlong 2>/dev/null | grep -c tick; }
run_state_is() { [[ $(cat "$ROOT/workloads/vlong/vm-run-state" 2>/dev/null) == "$1" ]]; }
check "vlong ticks" wait_for 60 logs_have vlong "tick 2"
check "pause vlong" ctl pause vlong
check "libvirt reported SUSPENDED" wait_for 30 run_state_is paused
sleep 1.5
t1=$(ticks)
sleep 3
check_eq "a paused domain does not run (no ticks in 3 s)" "$t1" "$(ticks)"
check "resume vlong" ctl resume vlong
check "libvirt reported RESUMED" wait_for 30 run_state_is running
check "vlong ticks again after resume" wait_for 60 logs_have vlong "tick $((t1 + 2))"
daemon_stop a
check "QEMU survives a berthd stop" kill -0 "${qpid:-0}"
daemon_start a --config "$IT_TMP/berthd.yaml"
check_eq "vlong re-adopted as running" "running" "$(status_of vlong .status.state)"
check_eq "vlong re-adopted with QEMU's pid" "${qpid:-none}" "$(status_of vlong .status.pid)"
check_eq "vlong's backend after re-adoption" "libvirt" "$(status_of vlong .status.vm.backend)"
check_eq "logs vhello after a berthd restart" "hello from libvirt" "$(ctl logs vhello | head -n 1)"
check "vlong keeps logging after the restart" wait_for 60 logs_have vlong "tick $(($(ctl logs vlong | grep -c tick) + 2))"
check "stop vlong" ctl stop vlong
check_eq "vlong ended by SIGTERM in the guest" "143" "$(status_of vlong .status.exitCode)"
check "no QEMU left after stop" wait_for 30 no_qemu
check "vlong's embedded root is gone" test ! -e "$er"
check "vlong's sockets are gone" test ! -e "$ROOT/workloads/vlong/chan.sock" -a ! -e "$ROOT/workloads/vlong/con.sock"

# 4. bridge network (a tap libvirt opens by name), then kill: SIGKILL to the domain's QEMU
NS=${D_NS[a]}
taps() { ip -n "$NS" -o link show 2>/dev/null | awk -F': ' '{ print $2 }' | grep '^bt' || true; }
no_tap() { [[ -z $(taps) ]]; }
if grep -q "bridge networking on berth0" "${D_LOG[a]}"; then
        gw=$(ip -n "$NS" -4 -o addr show berth0 | awk '{ print $4 }' | cut -d/ -f1)
        check "run bridged libvirt VM" ctl run -d --vm --name vkill --rootfs "$IT_ROOTFS" --network bridge -- /bin/sh -c \
                "ip -4 addr show eth0; if ping -c 2 -W 2 $gw; then echo ping-gw-ok; fi; echo booted-ok; exec sleep 1000"
        check "vkill boots" wait_for 120 logs_have vkill booted-ok
        vip=$(status_of vkill .status.network.ip)
        check_match "the guest's eth0 has the VM's address" "inet $vip/" "$(ctl logs vkill 2>&1)"
        check "the guest pings the bridge ($gw)" logs_have vkill ping-gw-ok
        check_match "the VM's tap is on the bridge" "master berth0" "$(ip -n "$NS" -o link show "$(taps | head -n 1)")"
else
        diag "berthd has no bridge here: vkill runs without a network"
        check "run libvirt VM to kill" vm_d vkill -- /bin/sh -c 'echo booted-ok; exec sleep 1000'
        check "vkill boots" wait_for 120 logs_have vkill booted-ok
fi
check "kill vkill" ctl kill vkill
ctl wait vkill >/dev/null 2>&1 || true
check_eq "vkill exit 137" "137" "$(status_of vkill .status.exitCode)"
check "no QEMU left after kill" wait_for 30 no_qemu
check "no tap left after kill" wait_for 10 no_tap

# 5. the same long runner on the microvm backend, for the boot time
t0=$(ms)
check "run microvm for comparison" vm_d vmicro --vm-backend microvm -- /bin/sh -c 'echo booted-ok; exec sleep 1000'
check "vmicro boots" wait_for 120 logs_have vmicro booted-ok
mv_boot=$(($(hello_ms vmicro) - t0))
check_eq "vmicro's status.vm.backend" "microvm" "$(status_of vmicro .status.vm.backend)"
diag "create -> guest init HELLO: libvirt (q35) ${lv_boot} ms (first VM, capabilities probe: ${cold_boot} ms), microvm ${mv_boot} ms (TCG)"
check "kill vmicro" ctl kill vmicro
ctl wait vmicro >/dev/null 2>&1 || true

# bad input
st=$(api POST /v1/workloads -H 'Content-Type: application/json' -d "{\"apiVersion\":\"berth/v1\",\"kind\":\"Workload\",\"metadata\":{\"name\":\"vbad\"},\"spec\":{\"isolation\":\"vm\",\"rootfs\":\"$IT_ROOTFS\",\"command\":[\"/bin/true\"],\"vm\":{\"backend\":\"xen\"}}}")
check_eq "an unknown backend is refused with 400" "400" "$st"
check_match "the error names spec.vm.backend" "spec.vm.backend" "$(body)"
check_rc "berthctl refuses --vm-backend xen" 2 ctl run --vm-backend xen --rootfs "$IT_ROOTFS" -- /bin/true

for name in vhello vseven vlong vkill vmicro; do
        check "rm -f $name" ctl rm -f "$name"
done
check "no qemu-system process of this test is left" wait_for 30 no_qemu
check_eq "no embedded libvirt root is left (only the shared cache)" "cache" "$(find "$ROOT/lv" -mindepth 1 -maxdepth 1 -printf '%f ' 2>/dev/null | sed 's/ $//')"
check_eq "no socket is left under berth's root" "" "$(find "$ROOT" -type s 2>/dev/null)"
check "no workload directory is left" test -z "$(ls "$ROOT/workloads")"

finish
