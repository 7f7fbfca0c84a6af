#!/usr/bin/env bash
# Restart policies: OnFailure restarts with backoff, Never and a clean exit do not.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2016,SC2317
source "$(dirname "$0")/lib.sh"

daemon_start a

check "run -d --restart OnFailure failing" run_d flaky --restart OnFailure -- /bin/sh -c 'echo try; exit 1'
check_eq "spec restartPolicy" "OnFailure" "$(status_of flaky .spec.restartPolicy)"
# shellcheck disable=SC2317
reaches() { [[ $(status_of "$1" .status.restartCount) -ge $2 ]]; }
check "restartCount reaches 2" wait_for 30 reaches flaky 2
diag "flaky: $(status_of flaky ".status | tostring")"
t2=$SECONDS
check "restartCount reaches 3" wait_for 30 reaches flaky 3
sleep 3
rc=$(status_of flaky .status.restartCount)
check "backoff: restarts do not spin (restartCount $rc after ~$((SECONDS - t2 + 3)) s)" test "$rc" -le 8
ev=$(api_json GET '/v1/events?workload=flaky')
check "events: restarting" test "$(echo "$ev" | jq -s '[.[] | select(.type == "restarting")] | length')" -ge 2
# Backoff grows: the gap before the third start is at least the gap before the second.
gaps=$(echo "$ev" | jq -rs '[.[] | select(.type == "started") | .time | sub("\\.[0-9]+Z$"; "Z") | fromdate] |
        if length >= 3 then "\(.[1] - .[0]) \(.[2] - .[1])" else "" end')
if [[ -n $gaps ]]; then
        read -r g1 g2 <<<"$gaps"
        check "backoff does not shrink (gaps ${g1}s ${g2}s)" test "$g2" -ge "$g1"
else
        not_ok "three started events for flaky" "$ev"
fi
check_match "logs keep output of the runs" "try" "$(ctl logs flaky)"
check_match "metrics restarts_total" 'berth_workload_restarts_total\{workload="flaky"\} [1-9]' "$(api_json GET /metrics)"
check "rm -f flaky (while in backoff or running)" ctl rm -f flaky
check_eq "flaky gone" "404" "$(api GET /v1/workloads/flaky)"
check_eq "flaky cgroups gone" "" "$(cgroup_dirs flaky)"

check "run -d --restart OnFailure clean exit" run_d clean --restart OnFailure -- /bin/true
check_rc "clean exits 0" 0 ctl wait clean
sleep 2
check_eq "OnFailure: no restart after exit 0" "0" "$(status_of clean .status.restartCount)"
check_eq "OnFailure: stays exited" "exited" "$(status_of clean .status.state)"

check "run -d --restart Never failing" run_d never -- /bin/sh -c 'exit 1'
check_rc "never exits 1" 1 ctl wait never
sleep 2
check_eq "Never: no restart" "0" "$(status_of never .status.restartCount)"

check "run -d --restart Always" run_d always --restart Always -- /bin/true
check "Always restarts after exit 0" wait_for 30 reaches always 1
check "stop always" ctl stop -t 1 always
sleep 3
st=$(status_of always .status.state)
check_eq "stop ends restarting (state exited)" "exited" "$st"
rc1=$(status_of always .status.restartCount)
sleep 2
check_eq "no restart after an explicit stop" "$rc1" "$(status_of always .status.restartCount)"

finish
