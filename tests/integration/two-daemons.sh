#!/usr/bin/env bash
# Two daemons side by side with separate roots do not see each other's workloads.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2016
source "$(dirname "$0")/lib.sh"

daemon_start a
daemon_start b

CUR=a
check "a: run only-a" run_d only-a -- /bin/sleep 1000
check "a: run same" run_d same -- /bin/sh -c 'echo from-a'
CUR=b
check "b: run only-b" run_d only-b -- /bin/sleep 1000
check "b: run same (name reused)" run_d same -- /bin/sh -c 'echo from-b'

CUR=a
ctl wait same >/dev/null
check_eq "a: ls" "only-a same" "$(ctl ls -q | sort | tr '\n' ' ' | sed 's/ $//')"
check_eq "a: logs of same" "from-a" "$(ctl logs same)"
check_eq "a: only-b unknown" "404" "$(api GET /v1/workloads/only-b)"
CUR=b
ctl wait same >/dev/null
check_eq "b: ls" "only-b same" "$(ctl ls -q | sort | tr '\n' ' ' | sed 's/ $//')"
check_eq "b: logs of same" "from-b" "$(ctl logs same)"
check_eq "b: only-a unknown" "404" "$(api GET /v1/workloads/only-a)"
check_eq "b: no events of only-a" "0" "$(api_json GET /v1/events | grep -c '"only-a"')"

CUR=a
check "a: rm -f same" ctl rm -f same
CUR=b
check_eq "b: same untouched by a's rm" "exited" "$(status_of same .status.state)"
CUR=a
check "a: rm -f only-a" ctl rm -f only-a
CUR=b
check_eq "b: only-b still running" "running" "$(status_of only-b .status.state)"
check "b: rm -f only-b same" ctl rm -f only-b same

finish
