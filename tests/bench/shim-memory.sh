#!/usr/bin/env bash
# Supervisor footprint: private memory (Private_Clean + Private_Dirty from
# /proc/PID/smaps_rollup) and PSS of each berth-shim, for N workloads
# (default 20) of `sleep`, against the issue's target of 256 KiB, and next
# to a baseline measured in the same run: busybox `sleep` (a static binary
# doing nothing), which is the floor for any process.
# Usage: tests/bench/shim-memory.sh [N]   (root; uses tests/integration/lib.sh)
# shellcheck source-path=SCRIPTDIR source=../integration/lib.sh
N=${1:-20}
source "$(dirname "$0")/../integration/lib.sh"
daemon_start a >/dev/null
for ((i = 0; i < N; i++)); do run_d "m$i" -- /bin/sleep 1000 >/dev/null || not_ok "run m$i"; done
wait_for 30 bash -c '[[ $(curl -s --unix-socket "$0" http://localhost/v1/workloads | jq "[.items[] | select(.status.state == \"running\")] | length") == "$1" ]]' "$(sock)" "$N" ||
        not_ok "all $N running"
sleep 1
priv() { awk '/^Private_(Clean|Dirty):/ { s += $2 } END { print s }' "/proc/$1/smaps_rollup"; }
pss() { awk '/^Pss:/ { print $2 }' "/proc/$1/smaps_rollup"; }
tot_priv=0 tot_pss=0 max=0 n=0 wl_priv=0
for ((i = 0; i < N; i++)); do
        spid=$(jq -r .shimPid "${D_ROOT[a]}/workloads/m$i/state.json" 2>/dev/null)
        [[ $spid =~ ^[0-9]+$ && -r /proc/$spid/smaps_rollup ]] || continue
        p=$(priv "$spid")
        tot_priv=$((tot_priv + p)); tot_pss=$((tot_pss + $(pss "$spid"))); n=$((n + 1))
        ((p > max)) && max=$p
        wpid=$(status_of "m$i" .status.pid)
        wl_priv=$((wl_priv + $(priv "$wpid")))
done
[[ $n -gt 0 ]] || { not_ok "found shim pids"; finish; }
avg=$((tot_priv / n))
echo "shims measured:                  $n"
echo "berth-shim private memory (avg): ${avg} KiB   (max ${max} KiB, target <= 256 KiB)"
echo "berth-shim PSS (avg):            $((tot_pss / n)) KiB"
echo "baseline: busybox sleep private: $((wl_priv / n)) KiB   ratio shim/baseline: $(awk -v a=$avg -v b=$((wl_priv / n)) 'BEGIN { printf "%.2f", (b ? a / b : 0) }')"
if ((max <= 256)); then ok "every shim <= 256 KiB private"; else not_ok "every shim <= 256 KiB private" "max ${max} KiB"; fi
for ((i = 0; i < N; i++)); do ctl rm -f "m$i" >/dev/null; done
finish
