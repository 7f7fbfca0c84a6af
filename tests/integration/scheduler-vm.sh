#!/usr/bin/env bash
# The scheduler and microVMs (docs/SCHEDULER.md): a guaranteed VM asking for
# one whole CPU gets an exclusive cpuset on its cgroup and its vCPU thread
# pinned to that CPU (QEMU's other threads stay on the set); a shared
# container's cgroup follows the shared pool live as the exclusive set comes
# and goes; the pinning holds across a berthd SIGKILL and restart; a VM on
# the shared pool is not pinned and follows the pool too. The topology comes
# from the host-2cpu fixture (so the numbers are exact); the cpusets and the
# thread affinities are real (this machine has CPUs 0 and 1). TCG boots.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2016,SC2317
source "$(dirname "$0")/lib.sh"

[[ $(nproc) -ge 2 ]] || skip "needs 2 CPUs for an exclusive cpuset next to the shared pool"
vm_require

FIX=$IT_TMP/topology
cp -r "$BERTH_SOURCE_ROOT/tests/fixtures/topology/host-2cpu" "$FIX"
cat >"$IT_TMP/berthd.yaml" <<YAML
vm:
  guestDir: $GUEST_DIR
  accelerator: tcg
scheduler:
  topologyRoot: $FIX
  reserved:
    system: {cpu: "0", memory: 512Mi}
    berth: {cpu: 100m, memory: "0"}
YAML
daemon_start a --config "$IT_TMP/berthd.yaml"

node() { api_json GET /v1/node; }
place() { node | jq -r --arg n "$1" ".placements[] | select(.workload == \$n) | $2"; }
cpuset_of() {
        local d
        for d in $(cgroup_dirs "$1"); do
                [[ -f $d/cpuset.cpus ]] && { cat "$d/cpuset.cpus"; return; }
        done
}
cpuset_is() { [[ $(cpuset_of "$1") == "$2" ]]; }
# vcpu_tids PID: "tid n" of QEMU's "CPU n/TCG|KVM" threads
vcpu_tids() {
        local t c
        for t in /proc/"$1"/task/*; do
                c=$(cat "$t/comm" 2>/dev/null) || continue
                [[ $c =~ ^CPU\ ([0-9]+)/(TCG|KVM)$ ]] && echo "${t##*/} ${BASH_REMATCH[1]}"
        done
}
allowed() { sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' "/proc/$1/task/$2/status" 2>/dev/null; }
# other_allowed PID: the distinct affinities of QEMU's non-vCPU threads
other_allowed() {
        local t c
        for t in /proc/"$1"/task/*; do
                c=$(cat "$t/comm" 2>/dev/null) || continue
                [[ $c =~ ^CPU\ [0-9]+/ ]] && continue
                sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' "$t/status"
        done | sort -u | paste -sd' '
}
vcpu_allowed_is() { # PID WANT: every vCPU thread has affinity WANT
        local tid n ok=0
        while read -r tid n; do
                ok=1
                [[ $(allowed "$1" "$tid") == "$2" ]] || return 1
        done < <(vcpu_tids "$1")
        [[ $ok == 1 ]]
}

# a shared container first: the pool is both CPUs
check "run shared container sh1" run_d sh1 -- /bin/sleep 1000
check "sh1 running" wait_for 10 state_is sh1 running
check "sh1's cpuset is the whole pool 0-1" wait_for 5 cpuset_is sh1 0-1

# a guaranteed VM with one whole CPU: exclusive CPU 1
check "run guaranteed VM gvm (cpu 1, 256Mi)" ctl run -d --vm --name gvm --rootfs "$IT_ROOTFS" --cpu 1 --memory 256Mi -- \
        /bin/sh -c 'echo up; while :; do sleep 1; done'
check "gvm running" wait_for 20 state_is gvm running
check_eq "gvm is guaranteed with CPU 1 to itself" "guaranteed 1 true" "$(place gvm '"\(.qos) \(.cpuset) \(.exclusive)"')"
check_eq "the shared pool shrank to CPU 0" "0" "$(node | jq -r .sharedPool)"
check "gvm's cgroup cpuset.cpus is 1" wait_for 5 cpuset_is gvm 1
check "sh1's cpuset shrank live to the pool (0)" wait_for 5 cpuset_is sh1 0
qpid=$(status_of gvm .status.pid)
check "gvm's QEMU has its vCPU thread (CPU 0/TCG)" wait_for 30 bash -c "[[ -n \$(grep -lx 'CPU 0/[TK][CV][GM]' /proc/$qpid/task/*/comm 2>/dev/null) ]]"
check "the vCPU thread is pinned to CPU 1" wait_for 10 vcpu_allowed_is "$qpid" 1
check_eq "QEMU's other threads stay on the whole set" "1" "$(other_allowed "$qpid")"
check_eq "GET /v1/node shows the pinning (vCPU=CPU)" "0=1" "$(place gvm .vcpuPins)"
check_match "berthctl node shows it" "vCPU=CPU 0=1" "$(ctl node)"
check "gvm boots on its CPU" wait_for 120 logs_have gvm up
diag "gvm vCPU threads: $(vcpu_tids "$qpid" | tr '\n' ' ')"

# berthd SIGKILL + restart: the VM is re-adopted and the pinning holds
check "SIGKILL berthd" daemon_stop a KILL
daemon_start a --config "$IT_TMP/berthd.yaml"
check_eq "gvm re-adopted with the same QEMU" "running $qpid" "$(status_of gvm .status.state) $(status_of gvm .status.pid)"
check_eq "gvm still has CPU 1 to itself" "1 true" "$(place gvm '"\(.cpuset) \(.exclusive)"')"
check "the vCPU thread is still pinned to CPU 1" vcpu_allowed_is "$qpid" 1
check_eq "the pinning is shown again after the restart" "0=1" "$(place gvm .vcpuPins)"
check_eq "sh1 still on the pool (0)" "0" "$(cpuset_of sh1)"

# a VM on the shared pool: not pinned, follows the pool
check "run shared VM svm (no CPU request)" ctl run -d --vm --name svm --rootfs "$IT_ROOTFS" --memory 256Mi -- \
        /bin/sh -c 'echo up; while :; do sleep 1; done'
check "svm running" wait_for 20 state_is svm running
check_eq "svm is on the shared pool" "burstable 0 false" "$(place svm '"\(.qos) \(.cpuset) \(.exclusive)"')"
check_eq "svm has no vCPU pinning" "null" "$(place svm .vcpuPins)"
spid=$(status_of svm .status.pid)
check "svm's cgroup cpuset.cpus is the pool (0)" wait_for 5 cpuset_is svm 0
check "svm's vCPU thread runs on the pool (0)" wait_for 30 vcpu_allowed_is "$spid" 0
check "svm boots" wait_for 120 logs_have svm up

# the exclusive set goes back: every shared workload widens live
check "stop gvm" ctl stop -t 2 gvm
check "gvm exited" wait_for 30 state_is gvm exited
check_eq "the pool is whole again" "0-1" "$(node | jq -r .sharedPool)"
check "sh1's cpuset widened live to 0-1" wait_for 5 cpuset_is sh1 0-1
check "svm's cpuset widened live to 0-1" wait_for 5 cpuset_is svm 0-1
check "svm's vCPU thread may use both CPUs (not pinned)" wait_for 5 vcpu_allowed_is "$spid" 0-1

check "rm -f sh1 gvm svm" ctl rm -f sh1 gvm svm
check_eq "ledger empty" "0" "$(node | jq '.placements | length')"
check "no QEMU of this test left" wait_for 30 bash -c "! pgrep -f 'qemu-system-x86_64 .*${IT_TMP//./[.]}'"
finish
