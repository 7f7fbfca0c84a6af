#!/usr/bin/env bash
# Soak: N workloads (default 100) of `sleep`, berthd restarted R times
# (default 20; SIGKILL and SIGTERM alternately) while a client keeps creating
# and deleting workloads. The client records every create acknowledged with
# 201 and every delete it attempted; afterwards no workload is lost (the N
# long ones are running with the same pids), and every acknowledged create
# is present unless the client itself tried to delete it. Prints figures:
# restarts, time from start to ready (mean / max), creates acknowledged,
# creates refused or unanswered while berthd was down, deletes.
# Not in the suite (minutes). Usage: tests/bench/soak.sh [N [R]]  (root)
# shellcheck source-path=SCRIPTDIR source=../integration/lib.sh disable=SC2016
N=${1:-100}
R=${2:-20}
source "$(dirname "$0")/../integration/lib.sh"
daemon_start a >/dev/null
t0=$SECONDS
for ((i = 0; i < N; i++)); do
        st=$(post_doc "$(doc "soak-$i" /bin/sleep 100000)")
        [[ $st == 201 ]] || not_ok "create soak-$i ($st)"
done
wait_for 120 bash -c '[[ $(curl -s --unix-socket "$0" http://localhost/v1/workloads | jq "[.items[] | select(.status.state == \"running\")] | length") -ge "$1" ]]' "$(sock)" "$N" ||
        not_ok "all $N running"
echo "created and started $N workloads in $((SECONDS - t0)) s"
pids_before=$(api_json GET /v1/workloads | jq -c '[.items[] | select(.metadata.name | startswith("soak-")) | [.metadata.name, .status.pid, .status.startedAt]] | sort')

ACKED=$IT_TMP/acked DELETED=$IT_TMP/delete-attempted UNANSWERED=$IT_TMP/unanswered
: >"$ACKED"; : >"$DELETED"; : >"$UNANSWERED"
STOP=$IT_TMP/stop-client
client() {
        local i=0 st body
        body=$(doc PLACEHOLDER /bin/true)
        while [[ ! -e $STOP ]]; do
                i=$((i + 1))
                st=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 --unix-socket "$(sock)" \
                        -X POST -H 'Content-Type: application/json' http://localhost/v1/workloads \
                        --data-binary "${body//PLACEHOLDER/c-$i}" 2>/dev/null)
                case $st in
                201) echo "c-$i" >>"$ACKED" ;;
                000) echo "c-$i" >>"$UNANSWERED"; sleep 0.05 ;;
                esac
                if ((i % 2 == 0)); then
                        local victim="c-$((i - 1))"
                        echo "$victim" >>"$DELETED"
                        curl -s -o /dev/null --max-time 10 --unix-socket "$(sock)" -X DELETE \
                                "http://localhost/v1/workloads/$victim?force=1" 2>/dev/null
                fi
        done
}
client &
CLIENT=$!

ready_ms=()
for ((r = 1; r <= R; r++)); do
        sleep 1.5
        if ((r % 2)); then sig=KILL; else sig=TERM; fi
        daemon_stop a "$sig" >/dev/null 2>&1
        s=$(date +%s%N)
        daemon_start a >/dev/null
        ready_ms+=($((($(date +%s%N) - s) / 1000000)))
done
sleep 1.5
touch "$STOP"
wait "$CLIENT"

pids_after=$(api_json GET /v1/workloads | jq -c '[.items[] | select(.metadata.name | startswith("soak-")) | [.metadata.name, .status.pid, .status.startedAt]] | sort')
check_eq "no long workload lost: same names, pids and start times after $R restarts" "$pids_before" "$pids_after"
running=$(api_json GET /v1/workloads | jq '[.items[] | select((.metadata.name | startswith("soak-")) and .status.state == "running")] | length')
check_eq "all $N long workloads running" "$N" "$running"
names=$(api_json GET /v1/workloads | jq -r '.items[].metadata.name' | sort)
forgotten=$(comm -23 <(sort -u "$ACKED") <(sort -u "$DELETED") | comm -23 - <(echo "$names"))
check_eq "no acknowledged create forgotten" "" "$forgotten"
dups=$(uniq -d <<<"$names")
check_eq "no duplicate workloads" "" "$dups"

sum=0 max=0
for v in "${ready_ms[@]}"; do sum=$((sum + v)); ((v > max)) && max=$v; done
echo "restarts:                        $R (SIGKILL and SIGTERM alternately)"
echo "start to ready, mean / max:      $((sum / R)) ms / $max ms  (with $N+ workloads re-adopted)"
echo "creates acknowledged (201):      $(wc -l <"$ACKED")"
echo "creates unanswered (berthd down): $(wc -l <"$UNANSWERED")"
echo "deletes attempted:               $(wc -l <"$DELETED")"
echo "workloads at the end:            $(wc -l <<<"$names")"
finish
