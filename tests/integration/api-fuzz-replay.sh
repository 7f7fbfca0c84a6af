#!/usr/bin/env bash
# Bad input: 10,000 random and mutated API requests and specs
# (tests/integration/api_fuzz.py, fixed seed: mutations of the spec corpus in
# tests/fuzz/corpus/spec/, random methods, paths, query strings and headers,
# truncated and oversize bodies, invalid UTF-8, deep nesting) against a live
# berthd over its unix socket. Afterwards berthd is still healthy: the same
# pid, /healthz and /readyz answer, a normal create/wait/rm works, its RSS did
# not balloon, and once the few workloads the fuzzer created for real are
# removed no cgroup or workload directory is left. BERTH_FUZZ_COUNT and
# BERTH_FUZZ_SEED override the count and the seed.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2016
source "$(dirname "$0")/lib.sh"

[[ -x /usr/bin/python3 ]] || skip "/usr/bin/python3 is missing"
COUNT=${BERTH_FUZZ_COUNT:-10000}
SEED=${BERTH_FUZZ_SEED:-8}

daemon_start a
pid=${D_PID[a]}
# berthd itself is the child of nsenter
bpid=$(pgrep -P "$pid" -x berthd || echo "$pid")
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$bpid/status"; }
# warm up (first allocations, thread pools) before taking the RSS baseline
/usr/bin/python3 "$BERTH_SOURCE_ROOT/tests/integration/api_fuzz.py" --socket "$(sock)" --rootfs "$IT_ROOTFS" \
        --corpus "$BERTH_SOURCE_ROOT/tests/fuzz/corpus/spec" --count 300 --seed 1 --real-fraction 0 \
        --created-out "$IT_TMP/created0" >/dev/null
rss0=$(rss)
t0=$SECONDS
out=$(/usr/bin/python3 "$BERTH_SOURCE_ROOT/tests/integration/api_fuzz.py" --socket "$(sock)" --rootfs "$IT_ROOTFS" \
        --corpus "$BERTH_SOURCE_ROOT/tests/fuzz/corpus/spec" --count "$COUNT" --seed "$SEED" \
        --created-out "$IT_TMP/created" --show-500 2>&1)
rc=$?
diag "$out"
check_eq "the fuzzer ran to the end ($COUNT requests in $((SECONDS - t0)) s)" "0" "$rc"
check "berthd is alive (same pid)" kill -0 "$bpid"
rss1=$(rss)
diag "berthd RSS: $rss0 KiB before, $rss1 KiB after"
# Under AddressSanitizer freed memory sits in a quarantine (256 MiB by
# default) before it is reused, so RSS growth is bounded by that instead. ldd's
# output is read in full: under pipefail `ldd | grep -q` fails whenever grep
# stops at the match while ldd is still writing (SIGPIPE), which is how the
# ASan build once got the plain build's bound.
rss_bound=65536
if [[ $(ldd "$BERTHD" 2>/dev/null) == *libasan* ]]; then
        rss_bound=$(( 65536 + 262144 ))
fi
check "RSS did not balloon (+$(( ${rss1:-0} - ${rss0:-0} )) KiB, bound $rss_bound)" test "$(( ${rss1:-0} - ${rss0:-0} ))" -lt "$rss_bound"
check_eq "/healthz" "200" "$(api GET /healthz)"
check_eq "/readyz" "200" "$(api GET /readyz)"
check_eq "no 500 Internal Server Error" "" "$(grep -o ' 500:[0-9]*' <<<"$out")"
check_eq "no request timed out" "" "$(grep -o 'timeout:[0-9]*' <<<"$out" | grep -v 'timeout:0')"

# the few workloads the fuzzer created for real are real and removable
mapfile -t created <"$IT_TMP/created"
diag "created for real: ${#created[@]}"
for n in "${created[@]}"; do
        CTL_TIMEOUT=20 ctl rm -f "$n" >/dev/null 2>&1 || not_ok "rm -f $n"
done
check_eq "no workloads left" "0" "$(api_json GET /v1/workloads | jq '.items | length')"
check_eq "no workload directories left" "" "$(ls -A "${D_ROOT[a]}/workloads" 2>/dev/null)"
check_eq "no cgroups left from rejected or removed specs" "" \
        "$(cgroup_dirs | grep -v -x -e "/sys/fs/cgroup/[a-z_,]*/berth-it-$IT_ID" -e "/sys/fs/cgroup/berth-it-$IT_ID")"

# a normal create/wait/rm works
check "run after the fuzz" run_d after -- /bin/sh -c 'echo still-fine; exit 3'
check_rc "wait after -> 3" 3 ctl wait after
check_match "logs after" "still-fine" "$(ctl logs after 2>&1)"
check "rm after" ctl rm after
check "berthd still alive at the end" kill -0 "$bpid"
check "berthd log has no sanitizer report" bash -c '! grep -q -e "ERROR: AddressSanitizer" -e "runtime error:" "$0"' "${D_LOG[a]}"
finish
