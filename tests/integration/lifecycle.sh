#!/usr/bin/env bash
# stop (SIGTERM then SIGKILL), kill -s, start, rm and rm -f (cgroups gone).
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2016
source "$(dirname "$0")/lib.sh"

daemon_start a

# stop: sh as PID 1 has no TERM handler, so SIGTERM is ignored -> SIGKILL after 1 s
check "run -d loop" run_d loop -- /bin/sh -c 'while :; do sleep 1; done'
check "loop running" wait_for 10 state_is loop running
pid=$(status_of loop .status.pid)
check_match "running workload has a host pid" '^[0-9]+$' "$pid"
t0=$(date +%s%N)
check "stop -t 1 loop" ctl stop -t 1 loop
CTL_TIMEOUT=30 ctl wait loop >/dev/null
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check "stop took >= 1 s (SIGTERM ignored) and < 8 s ($ms ms)" test "$ms" -ge 900 -a "$ms" -lt 8000
check_eq "stopped by SIGKILL" "SIGKILL" "$(status_of loop .status.signal)"
check_eq "stopped: exitCode 137" "137" "$(status_of loop .status.exitCode)"
check "host pid $pid is gone" wait_for 5 test ! -e "/proc/$pid"
ev=$(api_json GET '/v1/events?workload=loop' | jq -r .type | tr '\n' ' ')
check_match "events: created started stopping exited" "created.*started.*stopping.*exited" "$ev"
check_rc "stop of an exited workload is a no-op" 0 ctl stop loop

# stop of a workload that handles TERM: exits quickly with its own code
check "run -d termer" run_d termer -- /bin/sh -c 'trap "exit 4" TERM; while :; do sleep 0.2; done'
check "termer running" wait_for 10 state_is termer running
t0=$(date +%s%N)
check "stop -t 10 termer" ctl stop -t 10 termer
rc=0; CTL_TIMEOUT=30 ctl wait termer >/dev/null || rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check_eq "TERM handler exit code" "4" "$rc"
check "TERM handled well before the timeout ($ms ms)" test "$ms" -lt 5000

# start again after exit
check "start termer" ctl start termer
check "termer running again" wait_for 10 state_is termer running
check_rc "start of a running workload -> daemon error (1)" 1 ctl start termer

# kill -s
check "run -d usr1" run_d usr1 -- /bin/sh -c 'trap "exit 3" USR1; while :; do sleep 0.2; done'
check "usr1 running" wait_for 10 state_is usr1 running
check "kill -s USR1" ctl kill -s USR1 usr1
check_rc "USR1 handler exits 3" 3 ctl wait usr1
check "run -d victim" run_d victim -- /bin/sleep 1000
check "victim running" wait_for 10 state_is victim running
check "kill victim (default KILL)" ctl kill victim
check_rc "killed victim exits 137" 137 ctl wait victim
check_eq "victim signal SIGKILL" "SIGKILL" "$(status_of victim .status.signal)"
check_rc "kill of an exited workload -> daemon error (1)" 1 ctl kill victim
check_match "events: killed" "killed" "$(api_json GET '/v1/events?workload=victim' | jq -r .type | tr '\n' ' ')"

# rm and rm -f
check "termer cgroup exists while running" test -n "$(cgroup_dirs termer)"
check_rc "rm of a running workload without -f -> 1" 1 ctl rm termer
check_eq "DELETE running without force -> 409" "409" "$(api DELETE /v1/workloads/termer)"
check_eq "409 code FailedPrecondition" "FailedPrecondition" "$(body | jq -r .code)"
tpid=$(status_of termer .status.pid)
check "rm -f termer" ctl rm -f termer
check_eq "termer gone (404)" "404" "$(api GET /v1/workloads/termer)"
check "termer process gone" wait_for 5 test ! -e "/proc/$tpid"
check_eq "termer cgroups gone" "" "$(cgroup_dirs termer)"
check "rm exited workloads (several names)" ctl rm loop usr1 victim
check_eq "nothing left" "0" "$(api_json GET /v1/workloads | jq '.items | length')"
check_eq "their cgroups are gone" "" "$(cgroup_dirs loop)$(cgroup_dirs usr1)$(cgroup_dirs victim)"
check_eq "their directories are gone" "" "$(ls "${D_ROOT[a]}/workloads" 2>/dev/null)"
check_rc "rm of an unknown workload -> 1" 1 ctl rm nosuch
check_match "events: removed" "removed" "$(api_json GET '/v1/events?workload=termer' | jq -r .type | tr '\n' ' ')"

# The shim pool (docs/CONTAINER.md): after the starts above one shim waits,
# started ahead as `berth-shim --pooled` once their runs ended; the next start
# is handed to it; while that run goes on the next shim is started 10 ms after
# it came up; the pooled shim goes when berthd stops, and so does the cgroup
# parent once no workload is in it.
pooled_pids() { pgrep -P "${D_PID[a]}" -f -- 'berth-shim --pooled' || true; }
check "a shim waits in the pool" wait_for 5 bash -c '[[ -n $(pgrep -P "$0" -f -- "berth-shim --pooled") ]]' "${D_PID[a]}"
idle=$(pooled_pids)
check_eq "one pooled shim waits" "1" "$(grep -c . <<<"$idle")"
check "run -d pooled" run_d pooled -- /bin/sleep 1000
check "pooled running" wait_for 10 state_is pooled running
check_eq "the start was handed to the waiting shim" "$idle" "$(jq -r .shimPid "${D_ROOT[a]}/workloads/pooled/state.json")"
check_match "berthd logs the hand-over" "pooled: spawned berth-shim as pid $idle \\(from the pool\\)" "$(cat "${D_LOG[a]}")"
check_eq "ps shows the handed-over shim with its workload directory" \
        "$BERTH_SHIM ${D_ROOT[a]}/workloads/pooled" "$(tr '\0' ' ' <"/proc/$idle/cmdline" | sed 's/ *$//')"
check "the next shim waits while pooled runs" \
        wait_for 5 bash -c '[[ -n $(pgrep -P "$0" -f -- "berth-shim --pooled") ]]' "${D_PID[a]}"
check_eq "still one pooled shim" "1" "$(pooled_pids | grep -c .)"
# While it waits, the pooled shim makes the next run's network namespace (lo
# up) and stays in berthd's; the next start's init runs in it (one for each
# run: this one is not the previous run's). It also compiles the default
# capabilities' seccomp filter into a memfd (harden-security.sh checks that the
# filter works).
idle=$(pooled_pids)
fds=$(for f in "/proc/$idle/fd/"*; do readlink "$f"; done 2>/dev/null || true)
ahead=$(grep '^net:' <<<"$fds" || true)
check_match "the pooled shim holds a network namespace made ahead" '^net:\[[0-9]+\]$' "$ahead"
check_match "and the default seccomp filter, compiled ahead" '/memfd:seccomp' "$fds"
check_eq "the pooled shim stays in berthd's network namespace" \
        "$(readlink "/proc/${D_PID[a]}/ns/net")" "$(readlink "/proc/$idle/ns/net")"
check "run -d ahead" run_d ahead -- /bin/sleep 1000
check "ahead running" wait_for 10 state_is ahead running
apid=$(status_of ahead .status.pid)
check_eq "its init runs in the namespace made ahead" "$ahead" "$(readlink "/proc/$apid/ns/net")"
check_match "where lo is up" 'LOOPBACK,UP' "$(nsenter -t "$apid" -n ip -o link show lo)"
check "not the namespace of the run before" \
        test "$ahead" != "$(readlink "/proc/$(status_of pooled .status.pid)/ns/net")"
check "rm -f ahead" ctl rm -f ahead
check "rm -f pooled" ctl rm -f pooled
check "a new shim waits" wait_for 5 bash -c '[[ -n $(pgrep -P "$0" -f -- "berth-shim --pooled") ]]' "${D_PID[a]}"
idle=$(pooled_pids)
check "berthd stops" daemon_stop a
check "the pooled shim went with berthd" wait_for 5 bash -c '! kill -0 "$0" 2>/dev/null' "$idle"
check_eq "the cgroup parent went with berthd" "" "$(find /sys/fs/cgroup -maxdepth 2 -name "${D_CG[a]}")"

finish
