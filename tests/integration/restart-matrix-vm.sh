#!/usr/bin/env bash
# Restart matrix for microVMs (issue 8; restart-matrix.sh does containers):
# VMs created (berthctl create --vm: recorded, never started), running,
# paused, exited with a code, stopped, and one whose guest exits while berthd
# is down; SIGKILL berthd and restart it, twice. States, QEMU pids,
# start/finish times, exit codes and status.vm.accelerator (exited VMs
# included: it is in the state DB) are unchanged; QEMU lives through it; the
# VM that ended while berthd was down reports its real code; a paused VM
# stays paused (its guest makes no progress) and resumes; the created VM has
# no QEMU until it is started, then boots; stop and rm still work and no QEMU
# is left. With crash points, a created VM being started is also caught in
# "created" by killing berthd between the record and the spawn, and after the
# spawn but before "running" is recorded (docs/OPERATIONS.md). (A create that
# starts at once hands its start to the shim gated, before its own commit:
# crash-create.sh checks that a crash there leaves nothing.) TCG boots.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2016,SC2317
source "$(dirname "$0")/lib.sh"

vm_require

daemon_start a --config "$IT_TMP/berthd.yaml"
vm_d() {
        local name=$1
        shift
        ctl run -d --vm --name "$name" --rootfs "$IT_ROOTFS" "$@"
}
ticks() { ctl logs "$1" 2>/dev/null | grep -c tick; }
qemu_pids() { pgrep -f "qemu-system-x86_64 .*${IT_TMP//./[.]}" || true; }

loop='echo up; i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.5; done'
check "run vrun" vm_d vrun -- /bin/sh -c "$loop"
check "run vpause" vm_d vpause -- /bin/sh -c "$loop"
check "run vexit3" vm_d vexit3 -- /bin/sh -c 'echo bye; exit 3'
check "run vstopped" vm_d vstopped -- /bin/sh -c 'echo up; exec sleep 100000'
check "vrun boots" wait_for 120 logs_have vrun up
check "vpause boots" wait_for 120 logs_have vpause "tick 2"
check_rc "vexit3 exits 3" 3 ctl wait vexit3
check "vstopped boots" wait_for 120 logs_have vstopped up
check "stop vstopped" ctl stop vstopped
check_eq "vstopped exited by SIGTERM in the guest" "exited 143" "$(status_of vstopped .status.state) $(status_of vstopped .status.exitCode)"
check "pause vpause" ctl pause vpause
check_eq "vpause is paused" "paused" "$(status_of vpause .status.state)"
# the last VM: its guest ends 6 s after it is up, while berthd is down
check "run vlater" vm_d vlater -- /bin/sh -c 'echo up; sleep 6; exit 7'
check "vlater boots" wait_for 120 logs_have vlater up
check_eq "create vcreated (no start)" "vcreated" \
        "$(ctl create --vm --name vcreated --rootfs "$IT_ROOTFS" -- /bin/sh -c "$loop")"
check_eq "vcreated is created: no pid, no status.vm" "created null null" \
        "$(status_of vcreated '[.status.state, (.status.pid|tostring), (.status.vm|tostring)] | join(" ")')"
check_eq "vexit3 keeps status.vm.accelerator once exited" "exited tcg" \
        "$(status_of vexit3 .status.state) $(status_of vexit3 .status.vm.accelerator)"

snap() {
        api_json GET /v1/workloads | jq -c '[.items[] | select(.metadata.name != "vlater")
                | {n: .metadata.name, s: .status.state, pid: .status.pid, st: .status.startedAt,
                   ft: .status.finishedAt, ec: .status.exitCode, cr: .status.createdAt,
                   acc: .status.vm.accelerator, be: .status.vm.backend}] | sort_by(.n)'
}
vcreated_qemu() { pgrep -f "qemu-system-x86_64 -name berth-vcreated,.*${IT_TMP//./[.]}" || true; }
sleep 1.5 # output already on its way drains
before=$(snap)
diag "before: $before"
rpid=$(status_of vrun .status.pid)
ppid=$(status_of vpause .status.pid)
p1=$(ticks vpause)

for round in 1 2; do
        check "round $round: SIGKILL berthd" daemon_stop a KILL
        check "round $round: vrun's QEMU survives" kill -0 "$rpid"
        check "round $round: vpause's QEMU survives" kill -0 "$ppid"
        [[ $round == 1 ]] && sleep 7 # vlater's guest exits while berthd is down
        daemon_start a --config "$IT_TMP/berthd.yaml"
        check_eq "round $round: states, pids, times and exit codes unchanged" "$before" "$(snap)"
        check_eq "round $round: vlater exited while down, real code 7" "exited 7" \
                "$(status_of vlater .status.state) $(status_of vlater .status.exitCode)"
        check_eq "round $round: vlater's accelerator kept" "tcg" "$(status_of vlater .status.vm.accelerator)"
        check_eq "round $round: vcreated has no QEMU" "" "$(vcreated_qemu)"
done
check_eq "vcreated's events: created only (not started, not lost)" "created" \
        "$(api_json GET '/v1/events?workload=vcreated' | jq -r .type | tr '\n' ' ' | sed 's/ $//')"
check_eq "vcreated has no shim (no state.json)" "" "$(ls "${D_ROOT[a]}/workloads/vcreated" | grep -E '^(state|exit)\.json$')"
check "start vcreated after the restarts" ctl start vcreated
check "vcreated boots" wait_for 120 logs_have vcreated "tick 2"
check_eq "vcreated runs with its QEMU" "running $(vcreated_qemu)" \
        "$(status_of vcreated .status.state) $(status_of vcreated .status.pid)"
check_eq "vcreated: status.vm once started" "tcg" "$(status_of vcreated .status.vm.accelerator)"
check_eq "the paused VM made no progress across the restarts" "$p1" "$(ticks vpause)"
check "vrun keeps running after the restarts" wait_for 30 logs_have vrun "tick $(($(ticks vrun) + 2))"
check "resume vpause" ctl resume vpause
check "vpause runs again" wait_for 10 state_is vpause running
check "vpause ticks again" wait_for 60 logs_have vpause "tick $((p1 + 2))"
check "stop vrun after the restarts" ctl stop vrun
check_eq "vrun exited by SIGTERM in the guest" "exited 143" "$(status_of vrun .status.state) $(status_of vrun .status.exitCode)"
check "start vstopped again" ctl start vstopped
check "vstopped runs again" wait_for 120 logs_have vstopped up
check "rm -f all" ctl rm -f vrun vpause vexit3 vstopped vlater vcreated
check_eq "no workloads left" "0" "$(api_json GET /v1/workloads | jq '.items | length')"
check "no QEMU of this test left" wait_for 30 bash -c "[[ -z \$(pgrep -f 'qemu-system-x86_64 .*${IT_TMP//./[.]}') ]]"
check_eq "no cgroups left" "" "$(cgroup_dirs vrun)$(cgroup_dirs vpause)$(cgroup_dirs vstopped)$(cgroup_dirs vcreated)"

# "created": a created VM whose start is recorded but whose QEMU is not
# spawned yet (start.before-spawn), or spawned but not recorded running
# (start.after-spawn), when berthd dies. Needs a berthd with crash points
# (-Dcrash_points=true).
if [[ $("$BERTHD" --version) == *crash-points* ]]; then
        for point in start.before-spawn start.after-spawn; do
                name=vc-${point//./-}
                daemon_stop a TERM
                export BERTH_CRASH_AT=$point
                daemon_start a --config "$IT_TMP/berthd.yaml" >/dev/null
                unset BERTH_CRASH_AT
                dpid=${D_PID[a]}
                ctl create --vm --name "$name" --rootfs "$IT_ROOTFS" -- /bin/sh -c "$loop" >/dev/null 2>&1
                ctl start "$name" >/dev/null 2>&1
                check "$point: berthd died there" wait_for 10 bash -c "! kill -0 $dpid 2>/dev/null"
                wait "$dpid" 2>/dev/null
                D_PID[a]=
                check "$point: crash point reached" grep -q "crash point $point reached" "${D_LOG[a]}"
                # the shim spawned before the crash goes on and starts QEMU
                [[ $point == start.after-spawn ]] && wait_for 30 bash -c "pgrep -f 'qemu-system-x86_64 .*${IT_TMP//./[.]}'"
                qpid=$(qemu_pids)
                daemon_start a --config "$IT_TMP/berthd.yaml"
                check "$point: $name runs after the restart" wait_for 30 state_is "$name" running
                if [[ $point == start.after-spawn ]]; then
                        check_eq "$point: the spawned QEMU is re-adopted (same pid)" "${qpid:-none}" "$(status_of "$name" .status.pid)"
                else
                        check_eq "$point: no QEMU was spawned before the crash" "" "$qpid"
                fi
                check "$point: $name boots" wait_for 120 logs_have "$name" "tick 2"
                check_eq "$point: one QEMU for $name" "1" "$(qemu_pids | wc -l)"
                check_eq "$point: one shim spawned for $name" "1" "$(grep -c "workload=$name: spawned berth-shim" "${D_LOG[a]}")"
                check "$point: rm -f $name" ctl rm -f "$name"
                check "$point: no QEMU left" wait_for 30 bash -c "[[ -z \$(pgrep -f 'qemu-system-x86_64 .*${IT_TMP//./[.]}') ]]"
        done
else
        diag "berthd has no crash points: the created-state part is skipped"
fi
finish
