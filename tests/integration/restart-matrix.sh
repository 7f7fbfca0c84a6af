#!/usr/bin/env bash
# Restart matrix: workloads in each state (created, running, paused, exited
# with a code, stopped, exiting while berthd is down), SIGKILL berthd, restart
# it, three times over. States, pids, start/finish times and exit codes are
# unchanged; the one that ended while berthd was down reports its real code;
# stop and rm still work. A paused workload stays paused (frozen, same pid)
# and resumes after the restarts. A created one (berthctl create: recorded,
# never started) stays created with no pid and no shim, then starts and is
# removed. (crash-create.sh and crash-start.sh catch a started container in
# "created"; VMs are in restart-matrix-vm.sh.)
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2016
source "$(dirname "$0")/lib.sh"

daemon_start a
check "run running" run_d running -- /bin/sleep 1000
check "run exited3" run_d exited3 -- /bin/sh -c 'exit 3'
check "run stopped" run_d stopped -- /bin/sleep 1000
check "run later7" run_d later7 -- /bin/sh -c 'sleep 3; exit 7'
check "run paused" run_d paused -- /bin/sh -c 'while :; do date +%s >/tmp/beat; sleep 0.2; done'
check "create created" ctl create --name created --rootfs "$IT_ROOTFS" -- /bin/sh -c 'echo created-runs; sleep 1000'
check "running is running" wait_for 10 state_is running running
check "exited3 exited" wait_for 10 state_is exited3 exited
check "stopped running" wait_for 10 state_is stopped running
check "stop stopped" ctl stop -t 1 stopped
check "stopped exited" wait_for 10 state_is stopped exited
check "paused running" wait_for 10 state_is paused running
check "pause paused" ctl pause paused
check "paused is paused" wait_for 10 state_is paused paused
check_eq "created is created, no pid" "created null" "$(status_of created .status.state) $(status_of created .status.pid)"

snap() {
        api_json GET /v1/workloads | jq -c '[.items[] | select(.metadata.name != "later7")
                | {n: .metadata.name, s: .status.state, pid: .status.pid, st: .status.startedAt,
                   ft: .status.finishedAt, ec: .status.exitCode, cr: .status.createdAt}] | sort_by(.n)'
}
before=$(snap)
diag "before: $before"
rpid=$(status_of running .status.pid)

for round in 1 2 3; do
        check "round $round: SIGKILL berthd" daemon_stop a KILL
        check "round $round: running's pid survives" kill -0 "$rpid"
        [[ $round == 1 ]] && sleep 3.5 # later7 exits while berthd is down
        daemon_start a
        check_eq "round $round: states, pids, times and exit codes unchanged" "$before" "$(snap)"
        check_eq "round $round: later7 exited while down, real code 7" "exited 7" \
                "$(status_of later7 .status.state) $(status_of later7 .status.exitCode)"
done
check_eq "exited3 exit code 3" "3" "$(status_of exited3 .status.exitCode)"
check_eq "created is still created: no pid, never started" "created null null" \
        "$(status_of created .status.state) $(status_of created .status.pid) $(status_of created .status.startedAt)"
check_eq "created has no shim (no state.json)" "" "$(ls "${D_ROOT[a]}/workloads/created" | grep -E '^(state|exit)\.json$')"
check_eq "created's events: created only (not started, not lost)" "created" \
        "$(api_json GET '/v1/events?workload=created' | jq -r .type | tr '\n' ' ' | sed 's/ $//')"
check "start created after the restarts" ctl start created
check "created runs" wait_for 10 state_is created running
check "created's output" wait_for 10 bash -c "'$BERTHCTL' --socket '$(sock)' logs created | grep -q created-runs"
check "resume paused after the restarts" ctl resume paused
check "paused runs again" wait_for 10 state_is paused running
check "stop running after the restarts" ctl stop -t 1 running
# sleep is the init of its container and ignores SIGTERM: SIGKILL after 1 s.
check_rc "wait running -> 137" 137 ctl wait running
check "start stopped again" ctl start stopped
check "stopped runs again" wait_for 10 state_is stopped running
check "rm -f all" ctl rm -f running exited3 stopped later7 paused created
check_eq "no workloads left" "0" "$(api_json GET /v1/workloads | jq '.items | length')"
check_eq "no cgroups left" "" "$(cgroup_dirs running)$(cgroup_dirs stopped)$(cgroup_dirs paused)$(cgroup_dirs created)"
finish
