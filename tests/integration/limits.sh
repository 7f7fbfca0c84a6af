#!/usr/bin/env bash
# Resource limits: memory (OOM kill), pids, cpu quota written to the cgroup.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2016
source "$(dirname "$0")/lib.sh"

daemon_start a

# memory: a shell that doubles a string until the 16 MiB limit kills it
check "run -d --memory 16Mi hog" run_d hog --memory 16Mi -- /bin/sh -c 'a=xxxxxxxxxxxxxxxx; while :; do a="$a$a"; done'
CTL_TIMEOUT=120 ctl wait hog >/dev/null
check_eq "OOM: state exited" "exited" "$(status_of hog .status.state)"
check_eq "OOM: oomKilled true" "true" "$(status_of hog .status.oomKilled)"
check_eq "OOM: exitCode 137" "137" "$(status_of hog .status.exitCode)"
check_eq "OOM: reason OOMKilled" "OOMKilled" "$(status_of hog .status.reason)"
check_eq "OOM: event oom-killed" "1" \
        "$(api_json GET '/v1/events?workload=hog' | jq -s '[.[] | select(.type == "oom-killed")] | length')"
check_match "OOM: spec memory canonical" "^(16Mi|16777216)$" "$(status_of hog .spec.resources.memory)"
check_match "OOM: metrics count the kill" 'berth_workload_oom_kills_total\{workload="hog"\} 1' "$(api_json GET /metrics)"

# pids: at most 4 processes; forking 10 sleepers must fail
check "run -d --pids 4" run_d pidcap --pids 4 -- /bin/sh -c 'for i in 1 2 3 4 5 6 7 8 9 10; do sleep 30 & done; echo spawned; sleep 1000'
# a shell that cannot fork may give up at once: wait for the error, not for "running"
check "pids limit stops fork" wait_for 10 bash -c '"$0" --socket "$1" logs pidcap 2>&1 | grep -Eq "can.t fork|Resource temporarily unavailable|Try again"' "$BERTHCTL" "$(sock)"
diag "pidcap: $(status_of pidcap '"\(.status.state) exit=\(.status.exitCode)"'), logs: $(ctl logs pidcap 2>&1 | head -n 3 | tr '\n' '|')"
d=$(cgroup_dirs pidcap | while read -r x; do [[ -f $x/pids.max ]] && echo "$x"; done | head -n1)
if [[ -n $d ]]; then
        check_eq "pids.max is 4" "4" "$(cat "$d/pids.max")"
        cur=$(cat "$d/pids.current" 2>/dev/null || echo 0)
        check "pids.current <= 4 ($cur)" test "$cur" -le 4
else
        not_ok "pids cgroup of pidcap found under berth-it-$IT_ID" "$(cgroup_dirs)"
fi
check "rm -f pidcap" ctl rm -f pidcap

# cpu: 500m -> quota/period = 0.5
check "run -d --cpu 500m" run_d cpuq --cpu 500m -- /bin/sleep 1000
check "cpuq running" wait_for 10 state_is cpuq running
check_match "cpu canonical in spec" "^(500m|500)$" "$(status_of cpuq .spec.resources.cpu)"
quota=
for x in $(cgroup_dirs cpuq); do
        if [[ -f $x/cpu.cfs_quota_us ]]; then
                quota="$(cat "$x/cpu.cfs_quota_us") $(cat "$x/cpu.cfs_period_us")"
        elif [[ -f $x/cpu.max ]]; then
                quota=$(cat "$x/cpu.max")
        fi
        [[ -n $quota ]] && break
done
if [[ -n $quota ]]; then
        read -r q p <<<"$quota"
        check_eq "cpu quota is half the period ($quota)" "500" "$(( q * 1000 / p ))"
else
        not_ok "cpu cgroup of cpuq found" "$(cgroup_dirs)"
fi
check "rm -f cpuq" ctl rm -f cpuq
check "rm hog" ctl rm hog
check_eq "cgroups of hog gone" "" "$(cgroup_dirs hog)"
check_eq "cgroups of cpuq and pidcap gone" "" "$(cgroup_dirs cpuq)$(cgroup_dirs pidcap)"

finish
