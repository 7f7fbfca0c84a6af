#!/usr/bin/env bash
# berthd restart: workloads outlive the daemon, are re-adopted with the same
# pid, and exits that happen while berthd is down are recorded with their
# real code.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2016
source "$(dirname "$0")/lib.sh"

daemon_start a

check "run -d sleep 3" run_d short -- /bin/sleep 3
check "run -d sleep 1000" run_d long -- /bin/sleep 1000
check "run -d exit 5 later" run_d five -- /bin/sh -c 'sleep 2; exit 5'
check "all running" wait_for 10 bash -c '[[ $("$0" --socket "$1" ls -o json | jq "[(.items? // .)[] | select(.status.state == \"running\")] | length") == 3 ]]' "$BERTHCTL" "$(sock)"
lpid=$(status_of long .status.pid)
check_match "long has a pid" '^[0-9]+$' "$lpid"
last=$(api_json GET /v1/events | jq -s '.[-1].id')

check "SIGTERM berthd exits cleanly" daemon_stop a TERM
check "long outlives berthd" kill -0 "$lpid"
sleep 4
check "long still alive after 4 s" kill -0 "$lpid"

daemon_start a
check_eq "long still running" "running" "$(status_of long .status.state)"
check_eq "long has the same pid" "$lpid" "$(status_of long .status.pid)"
check_eq "short exited" "exited" "$(status_of short .status.state)"
check_eq "short exitCode 0 (recorded while berthd was down)" "0" "$(status_of short .status.exitCode)"
check_eq "five exitCode 5 (recorded while berthd was down)" "5" "$(status_of five .status.exitCode)"
check_rc "wait five exits 5" 5 ctl wait five
check_rc "wait short exits 0" 0 ctl wait short
check_match "ls shows long running" "long" "$(ctl ls)"
check "ls -o json: long running" test "$(ctl ls -o json | jq -r '(.items? // .)[] | select(.metadata.name == "long") | .status.state')" = running
ev=$(api_json GET "/v1/events?since=$last" | jq -r '"\(.type) \(.workload)"')
check_match "events: adopted long" "adopted long" "$ev"
check_match "events: exited five" "exited five" "$ev"
check_eq "event ids continue after restart" "true" "$(api_json GET "/v1/events?since=$last" | jq -s --argjson l "$last" 'length > 0 and all(.[]; .id > $l)')"

# the adopted workload is still controllable
check "stop -t 1 long after adoption" ctl stop -t 1 long
check_rc "wait long after stop -> 137" 137 ctl wait long
check "long's process gone" wait_for 5 test ! -e "/proc/$lpid"

# a second restart with nothing running keeps the records
check "SIGTERM berthd again" daemon_stop a TERM
daemon_start a
check_eq "records survive: five still 5" "5" "$(status_of five .status.exitCode)"
check_eq "records survive: 3 workloads" "3" "$(api_json GET /v1/workloads | jq '.items | length')"
check "rm -f all" ctl rm -f short long five
check_eq "cgroups gone" "" "$(cgroup_dirs long)$(cgroup_dirs short)$(cgroup_dirs five)"

finish
