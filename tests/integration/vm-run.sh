#!/usr/bin/env bash
# microVMs (isolation: vm) under TCG: the busybox rootfs booted as a VM,
# stdout, stderr and exit codes (0, non-zero), env and workingDir, stop, kill,
# re-adoption and logs across a berthd restart, no QEMU left behind, and bad
# input (docs/VM.md).
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2016,SC2317
source "$(dirname "$0")/lib.sh"

vm_require

daemon_start a --config "$IT_TMP/berthd.yaml"

vm_d() {
        local name=$1
        shift
        ctl run -d --vm --name "$name" --rootfs "$IT_ROOTFS" "$@"
}
# qemu_pids: QEMU processes of this test (their -initrd lies under $IT_TMP).
qemu_pids() { pgrep -f "qemu-system-x86_64 .*${IT_TMP//./[.]}" || true; }
no_qemu() { [[ -z $(qemu_pids) ]]; }

# Four boots in all (CI has 2 CPUs and TCG is slow): exit 0 with env and
# workingDir; exit 7 with stdout and stderr; stop; a long runner that lives
# through a berthd restart and is then killed.

# 1. foreground run: output, exit code 0, env, workingDir
out=$(ctl run --vm --name vhello --rootfs "$IT_ROOTFS" --env GREETING="hi vm" --workdir /tmp -- \
        /bin/sh -c 'echo hello from a vm; echo greeting=$GREETING; echo pwd=$(pwd)' 2>&1)
check_eq "run --vm exits 0" "0" "$?"
check_match "run --vm prints the guest's stdout" "hello from a vm" "$out"
check_eq "logs vhello" "hello from a vm
greeting=hi vm
pwd=/tmp" "$(ctl logs vhello)"
check_eq "inspect vhello exitCode 0" "0" "$(status_of vhello .status.exitCode)"
check_eq "inspect shows the accelerator" "tcg" "$(status_of vhello .status.vm.accelerator)"
check "QEMU ran with -M microvm and the sandbox" grep -q '"microvm.*"on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"' "${D_ROOT[a]}/workloads/vhello/vm.json"
check "console log written" test -s "${D_ROOT[a]}/workloads/vhello/console.log"

# 2. non-zero exit, stdout and stderr
check "run --vm exit 7" vm_d vseven -- /bin/sh -c 'echo out; echo err >&2; exit 7'
check_rc "wait vseven exits 7" 7 ctl wait vseven
out=$(ctl logs vseven 2>/dev/null)
check_eq "stdout of vseven" "out" "$out"
out=$(ctl logs vseven 2>&1 >/dev/null)
check_eq "stderr of vseven" "err" "$out"

# 3. stop: SIGTERM travels over the channel to the guest command
check "run --vm sleeper" vm_d vstop -- /bin/sh -c 'echo up; exec sleep 1000'
check "vstop prints up" wait_for 120 logs_have vstop up
check "stop vstop" ctl stop vstop
check_eq "vstop ended by SIGTERM in the guest" "143" "$(status_of vstop .status.exitCode)"
check "no QEMU left after stop" wait_for 30 no_qemu

# 4. a running VM is re-adopted by a restarted berthd, then killed
check "run --vm long runner" vm_d vlong -- /bin/sh -c 'echo up; i=0; while :; do i=$((i+1)); echo tick $i; sleep 1; done'
check "vlong prints up" wait_for 120 logs_have vlong up
# pause/resume: QMP stop/cont (the shim records QMP's STOP/RESUME events)
ticks() { ctl logs vlong 2>/dev/null | grep -c tick; }
run_state_is() { [[ $(cat "${D_ROOT[a]}/workloads/vlong/vm-run-state" 2>/dev/null) == "$1" ]]; }
check "vlong ticks" wait_for 60 logs_have vlong "tick 2"
metrics=$(curl -s --unix-socket "$(sock)" http://localhost/metrics)
check_match "/metrics has vlong's vCPU time" 'berth_vm_vcpu_seconds_total\{workload="vlong"\} [0-9.]+' "$metrics"
check_match "/metrics has vlong's QEMU RSS" 'berth_vm_qemu_rss_bytes\{workload="vlong"\} [1-9][0-9]{6,}' "$metrics"
check "pause vlong" ctl pause vlong
check_eq "vlong is paused" "paused" "$(status_of vlong .status.state)"
check "QMP reported STOP" wait_for 30 run_state_is paused
sleep 1.5 # output already on its way drains
t1=$(ticks)
sleep 3
check_eq "a paused VM does not run (no ticks in 3 s)" "$t1" "$(ticks)"
check "resume vlong" ctl resume vlong
check "QMP reported RESUME" wait_for 30 run_state_is running
check "vlong ticks again after resume" wait_for 60 logs_have vlong "tick $((t1 + 2))"
qpid=$(qemu_pids)
# QEMU's user (docs/VM.md "QEMU's user"): berth-qemu by default where it exists
qemu_uid() { awk '/^Uid:/ { print $2 " " $3 " " $4 " " $5; exit }' "/proc/$1/status" 2>/dev/null; }
if qu=$(id -u berth-qemu 2>/dev/null); then
        check_eq "QEMU runs as berth-qemu (real, effective, saved, fs uid $qu)" "$qu $qu $qu $qu" "$(qemu_uid "${qpid:-0}")"
        check_eq "<root>/vm is root:berth-qemu 0710" "710 root:berth-qemu" "$(stat -c '%a %U:%G' "${D_ROOT[a]}/vm")"
        check_eq "<root>/vm/images stays 0700" "700" "$(stat -c %a "${D_ROOT[a]}/vm/images")"
        check "berthd said QEMU runs as berth-qemu" grep -q "QEMU runs as user berth-qemu" "${D_LOG[a]}"
else
        echo "# SKIP: no user berth-qemu on this host (deploy/install-deps.sh creates it): QEMU's uid not checked" |
                tee /dev/stderr
fi
daemon_stop a
check "QEMU survives a berthd stop" kill -0 "${qpid:-0}"
daemon_start a --config "$IT_TMP/berthd.yaml"
check_eq "vlong re-adopted as running" "running" "$(status_of vlong .status.state)"
check_eq "vlong re-adopted with QEMU's pid" "${qpid:-none}" "$(status_of vlong .status.pid)"
check_eq "vlong's accelerator after re-adoption" "tcg" "$(status_of vlong .status.vm.accelerator)"
check_eq "logs vhello after a berthd restart" "hello from a vm" "$(ctl logs vhello | head -n 1)"
check "vlong keeps logging after the restart" wait_for 60 logs_have vlong "tick $(($(ctl logs vlong | grep -c tick) + 2))"
check "kill vlong" ctl kill vlong
ctl wait vlong >/dev/null 2>&1 || true
check_eq "vlong exit 137" "137" "$(status_of vlong .status.exitCode)"
check "no QEMU left after kill" wait_for 30 no_qemu

# bad input
bad() { # bad NAME FIELD-REGEX JSON-VM [STATUS-REGEX]
        local st
        st=$(api POST /v1/workloads -H 'Content-Type: application/json' -d "{\"apiVersion\":\"berth/v1\",\"kind\":\"Workload\",\"metadata\":{\"name\":\"$1\"},\"spec\":{\"isolation\":\"vm\",\"rootfs\":\"$IT_ROOTFS\",\"command\":[\"/bin/true\"],\"vm\":$3}}")
        check_match "$1 is refused with ${4:-400}" "^(${4:-400})$" "$st"
        check_match "$1 names $2" "$2" "$(body)"
}
bad vbadcpu 'spec.vm.vcpus' '{"vcpus":200}'
# the scheduler's admission may see it first (503 ResourceExhausted)
bad vbadmem 'spec\.(vm|resources)\.memory' '{"memory":"900Ti"}' '400|503'
bad vbadkernel 'spec.vm.kernel' '{"kernel":"/no/such/vmlinuz"}'
truncate -s 65M "$IT_TMP/big.initrd"
bad vbiginitrd 'spec.vm.initrd' "{\"initrd\":\"$IT_TMP/big.initrd\"}" 413
qemu-img create -q -f raw "$IT_TMP/base.raw" 16M
qemu-img create -q -f qcow2 -F raw -b "$IT_TMP/base.raw" "$IT_TMP/backed.qcow2"
bad vbacking 'backing file' "{\"disk\":\"$IT_TMP/backed.qcow2\"}"

for name in vhello vseven vstop vlong; do
        check "rm -f $name" ctl rm -f "$name"
done
check "no qemu-system process of this test is left" no_qemu

# 5. vm.user: root forces root
daemon_stop a
printf 'vm:\n  guestDir: %s\n  accelerator: tcg\n  user: root\n' "$GUEST_DIR" >"$IT_TMP/berthd-root.yaml"
daemon_start a --config "$IT_TMP/berthd-root.yaml"
check "run --vm as root" vm_d vroot -- /bin/sh -c 'echo up; exec sleep 1000'
check "vroot prints up" wait_for 120 logs_have vroot up
check_eq "vm.user: root runs QEMU as uid 0" "0 0 0 0" "$(qemu_uid "$(status_of vroot .status.pid)")"
check "rm -f vroot" ctl rm -f vroot
check "no QEMU left after vroot" wait_for 30 no_qemu

finish
