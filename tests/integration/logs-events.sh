#!/usr/bin/env bash
# logs (--tail, -f, raw format), events (since=ID resume, follow), node, metrics.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2016
source "$(dirname "$0")/lib.sh"

daemon_start a

check "run -d five lines" run_d lines -- /bin/sh -c 'for i in 1 2 3 4 5; do echo line$i; done; echo oops >&2'
ctl wait lines >/dev/null
check_eq "logs --tail 2" "line5 oops" "$(ctl logs --tail 2 lines 2>&1 | tr '\n' ' ' | sed 's/ $//')"
check_eq "logs: all 6 lines" "6" "$(ctl logs lines 2>&1 | wc -l)"
check_eq "GET logs?tail=3" "line4 line5 oops" "$(api_json GET '/v1/workloads/lines/logs?tail=3' | tr '\n' ' ' | sed 's/ $//')"
raw=$(api_json GET '/v1/workloads/lines/logs?format=raw')
check_match "raw format marks stderr" "stderr F oops" "$raw"
check_match "raw format marks stdout" "stdout F line1" "$raw"
check_eq "logs with a bad query parameter -> 400" "400" "$(api GET '/v1/workloads/lines/logs?nope=1')"

# logs -f streams until the workload exits
check "run -d slow" run_d slow -- /bin/sh -c 'echo first; sleep 2; echo second'
t0=$SECONDS
out=$(CTL_TIMEOUT=30 ctl logs -f slow)
rc=$?
check_eq "logs -f exits 0" "0" "$rc"
check_eq "logs -f got both lines" "first second" "$(echo "$out" | tr '\n' ' ' | sed 's/ $//')"
check "logs -f returned when the workload exited ($((SECONDS - t0)) s)" test $((SECONDS - t0)) -lt 20

# events: since=ID resumes after ID
all=$(api_json GET /v1/events)
check_match "events are ndjson with ids" '"id"' "$all"
n=$(echo "$all" | jq -s 'length')
check "several events recorded ($n)" test "$n" -ge 4
ids_sorted=$(echo "$all" | jq -s '[.[].id] == ([.[].id] | sort) and ([.[].id] | unique | length) == length')
check_eq "event ids strictly increase" "true" "$ids_sorted"
mid=$(echo "$all" | jq -s '.[(length / 2 | floor)].id')
after=$(api_json GET "/v1/events?since=$mid")
check_eq "since=ID returns only ids > ID" "true" "$(echo "$after" | jq -s --argjson m "$mid" 'all(.[]; .id > $m)')"
check_eq "since=ID returns all of them" "$(echo "$all" | jq -s --argjson m "$mid" '[.[] | select(.id > $m)] | length')" \
        "$(echo "$after" | jq -s 'length')"
check_eq "events?workload= filters" "true" "$(api_json GET '/v1/events?workload=slow' | jq -s 'length > 0 and all(.[]; .workload == "slow")')"
check_match "events has daemon-started" "daemon-started" "$(echo "$all" | jq -r .type)"
check_match "berthctl events shows workloads" "lines" "$(ctl events)"
last=$(echo "$all" | jq -s '.[-1].id')
check_eq "berthctl events --since LAST prints nothing old" "" "$(ctl events --since "$last" | grep -F slow)"

# events -f sees a new workload live
CTL_TIMEOUT=20 ctl events -f --since "$last" >"$IT_TMP/follow.out" 2>&1 &
fpid=$!
sleep 0.5
check "run -d live" run_d live -- /bin/true
ctl wait live >/dev/null
check "events -f shows the live workload's exit" wait_for 10 grep -q "live" "$IT_TMP/follow.out"
check "events -f still running (follows)" kill -0 "$fpid"
kill "$fpid" 2>/dev/null
wait "$fpid" 2>/dev/null
curl -sN --max-time 5 --unix-socket "$(sock)" "http://localhost/v1/events?follow=1&since=$last" >"$IT_TMP/follow2.out" &
cpid=$!
sleep 0.5
run_d live2 -- /bin/true >/dev/null
ctl wait live2 >/dev/null
check "HTTP follow=1 streams live events" wait_for 10 grep -q '"live2"' "$IT_TMP/follow2.out"
kill "$cpid" 2>/dev/null
wait "$cpid" 2>/dev/null
# A run's "started" is committed without an fsync of its own and held from
# watchers until it is durable (agent/manager-sync.c): with nothing else
# written after it, the sync timer must still let it through.
CTL_TIMEOUT=20 ctl events -f --since "$(api_json GET /v1/events | jq -s '.[-1].id')" >"$IT_TMP/follow3.out" 2>&1 &
fpid=$!
sleep 0.5
check "run -d held (runs on)" run_d held -- /bin/sleep 1000
check "events -f shows held's start while nothing else is written" \
        wait_for 5 grep -qE 'started.*held|held.*started' "$IT_TMP/follow3.out"
kill "$fpid" 2>/dev/null
wait "$fpid" 2>/dev/null
check "rm -f held" ctl rm -f held

# node
check "berthctl node" ctl node
node=$(api_json GET /v1/node)
check_eq "node cpus" "$(nproc)" "$(echo "$node" | jq .cpus)"
check_match "node cgroupVersion" '^[12]$' "$(echo "$node" | jq .cgroupVersion)"
check_eq "node kernel" "$(uname -r)" "$(echo "$node" | jq -r .kernel)"
check_eq "node workloads.total" "4" "$(echo "$node" | jq .workloads.total)"
check_eq "node workloads.exited" "4" "$(echo "$node" | jq .workloads.exited)"
check "node memory" test "$(echo "$node" | jq .memory.totalBytes)" -gt 0
check_eq "healthz" "200" "$(api GET /healthz)"

# metrics
check "run -d metered" run_d metered --memory 64Mi -- /bin/sleep 1000
check "metered running" wait_for 10 state_is metered running
m=$(api_json GET /metrics)
check_match "metrics build_info" 'berth_build_info\{version="[^"]+"\} 1' "$m"
check_match "metrics node cpus" "berth_node_cpus $(nproc)" "$m"
check_match "metrics workload state" 'berth_workload_state\{workload="metered",state="running"\} 1' "$m"
check_match "metrics workload cpu" 'berth_workload_cpu_usage_seconds_total\{workload="metered"\} [0-9.e+-]+' "$m"
check_match "metrics workload memory" 'berth_workload_memory_bytes\{workload="metered"\} [0-9]+' "$m"
check_match "metrics workload memory limit" 'berth_workload_memory_limit_bytes\{workload="metered"\} 67108864' "$m"
check_match "metrics workload pids" 'berth_workload_pids\{workload="metered"\} [1-9]' "$m"
check_match "metrics workload restarts" 'berth_workload_restarts_total\{workload="metered"\} 0' "$m"
check_match "metrics exited workload" 'berth_workload_state\{workload="lines",state="exited"\} 1' "$m"
check "rm -f metered" ctl rm -f metered
check "metrics forget removed workloads" test -z "$(api_json GET /metrics | grep 'workload="metered"')"

finish
