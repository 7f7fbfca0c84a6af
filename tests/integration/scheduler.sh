#!/usr/bin/env bash
# The node resource scheduler end to end (docs/SCHEDULER.md): the ledger in
# GET /v1/node, admission with a reason naming the resource and the numbers,
# dryRun, exclusive cpusets written to the real cgroups with the shared pool
# updated live, preemption by priority with events, the ledger rebuilt at
# daemon start, PATCH through the same admission, and eviction under memory
# pressure with hysteresis. The topology and the pressure files come from a
# copy of the host-2cpu fixture (4Gi, 2 CPUs) so the numbers are exact; the
# cpusets are real (this build machine has CPUs 0 and 1).
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2016
source "$(dirname "$0")/lib.sh"

command -v jq >/dev/null || skip "jq missing"
[[ $(nproc) -ge 2 ]] || skip "needs 2 CPUs for an exclusive cpuset next to the shared pool"

FIX=$IT_TMP/topology
cp -r "$BERTH_SOURCE_ROOT/tests/fixtures/topology/host-2cpu" "$FIX"
mkdir -p "$FIX/proc/pressure"
psi() { printf 'some avg10=%s avg60=0.00 avg300=0.00 total=1\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=1\n' "$1" >"$FIX/proc/pressure/memory.new" && mv "$FIX/proc/pressure/memory.new" "$FIX/proc/pressure/memory"; }
psi 0.00
cat >"$IT_TMP/berthd.yaml" <<YAML
scheduler:
  topologyRoot: $FIX
  reserved:
    system: {cpu: "0", memory: 512Mi}
    berth: {cpu: 100m, memory: "0"}
  eviction:
    psiHigh: "20%"
    psiLow: "5%"
    interval: 200ms
YAML

daemon_start a --config "$IT_TMP/berthd.yaml"

node() { api_json GET /v1/node; }
check_eq "memory capacity 4Gi" "4294967296" "$(node | jq .resources.memory.capacity)"
check_eq "memory allocatable 3.5Gi (512Mi reserved)" "3758096384" "$(node | jq .resources.memory.allocatable)"
check_eq "cpu allocatable 1900m" "1900" "$(node | jq .resources.cpu.allocatable)"
check_eq "shared pool is every CPU" "0-1" "$(node | jq -r .sharedPool)"

cpuset_of() {
        local d
        for d in $(cgroup_dirs "$1"); do
                [[ -f $d/cpuset.cpus ]] && { cat "$d/cpuset.cpus"; return; }
        done
}
place() { node | jq -r --arg n "$1" ".placements[] | select(.workload == \$n) | $2"; }

# guaranteed, one whole CPU: exclusive
check "run guaranteed g1 (1 CPU, 2Gi)" run_d g1 --cpu 1 --memory 2Gi -- /bin/sleep 1000
check "g1 running" wait_for 10 state_is g1 running
check_eq "g1 is guaranteed" "guaranteed" "$(place g1 .qos)"
check_eq "g1 has CPU 1 to itself" "1 true" "$(place g1 '"\(.cpuset) \(.exclusive)"')"
check_eq "shared pool shrank to CPU 0" "0" "$(node | jq -r .sharedPool)"
check "g1's cgroup cpuset.cpus is 1" wait_for 5 bash -c "[[ \$(find /sys/fs/cgroup -path '*berth-it-$IT_ID*/g1/cpuset.cpus' -exec cat {} + | head -n1) == 1 ]]"
check_eq "memory allocated 2Gi" "2147483648" "$(node | jq .resources.memory.allocated)"

# best-effort on the shared pool
check "run best-effort be1" run_d be1 -- /bin/sleep 1000
check "be1 running" wait_for 10 state_is be1 running
check_eq "be1 is best-effort on the pool" "best-effort 0" "$(place be1 '"\(.qos) \(.cpuset)"')"
check_eq "be1's cgroup cpuset.cpus is the pool" "0" "$(cpuset_of be1)"

# admission: rejected with the resource and the numbers, dry run and for real
big=$(doc big /bin/sleep 1000 | jq -c '.spec.resources = {memory: "2Gi"}')
check_eq "dryRun answers 200" "200" "$(api POST '/v1/workloads?dryRun=1' --data-binary "$big")"
check_eq "dryRun: not admitted" "false" "$(body | jq .admitted)"
check_eq "dryRun: reason" "insufficient memory: requested 2Gi, free 1.5Gi on node" "$(body | jq -r .reason)"
check_eq "dryRun created nothing" "404" "$(api GET /v1/workloads/big)"
check_eq "create refused: 503" "503" "$(post_doc "$big")"
check_eq "create refused: ResourceExhausted" "ResourceExhausted" "$(body | jq -r .code)"
check_eq "create refused: message" "insufficient memory: requested 2Gi, free 1.5Gi on node" "$(body | jq -r .message)"
check_eq "nothing recorded" "404" "$(api GET /v1/workloads/big)"
check_rc "berthctl run exits 125 when refused" 125 ctl run -d --name big --memory 2Gi --rootfs "$IT_ROOTFS" -- /bin/true
out=$(ctl run --dry-run --name small --memory 64Mi --rootfs "$IT_ROOTFS" -- /bin/true)
check_eq "berthctl run --dry-run asks the daemon" "true burstable" "$(jq -r '"\(.admission.admitted) \(.admission.placement.qos)"' <<<"$out")"

# preemption: priority 10 needs g1's memory (be1 books none: it is not a useful victim)
hi=$(doc hi /bin/sleep 1000 | jq -c '.spec.resources = {memory: "2Gi", cpu: "500m"} | .spec.priority = 10')
check_eq "dryRun with priority: admitted" "true" "$(api_json POST '/v1/workloads?dryRun=1' --data-binary "$hi" | jq .admitted)"
check_eq "dryRun names the victim" '["g1"]' "$(body | jq -c .preempts)"
check_eq "g1 untouched by the dry run" "running" "$(status_of g1 .status.state)"
check_eq "create hi: 201" "201" "$(post_doc "$hi")"
check "g1 killed" wait_for 10 state_is g1 exited
check "hi running" wait_for 10 state_is hi running
check_match "event preempted names hi and the reason" "preempted by hi \(priority 10\): insufficient memory" \
        "$(api_json GET '/v1/events?workload=g1' | jq -r 'select(.type == "preempted") | .message')"
check_eq "g1 left the ledger" "" "$(place g1 .qos)"
check_eq "pool is whole again" "0-1" "$(node | jq -r .sharedPool)"
check "be1's cpuset widened live" wait_for 5 bash -c "[[ \$(find /sys/fs/cgroup -path '*berth-it-$IT_ID*/be1/cpuset.cpus' -exec cat {} + | head -n1) == 0-1 ]]"
check "g1 does not restart into the shortage" bash -c "sleep 1; [[ \$(curl -s --unix-socket '$(sock)' http://localhost/v1/workloads/g1 | jq -r .status.state) == exited ]]"

# the shared pool follows exclusive sets live on a running shared workload: it shrinks
# when one comes and widens when it goes
check "run guaranteed g2 (1 CPU, 256Mi) next to be1" run_d g2 --cpu 1 --memory 256Mi -- /bin/sleep 1000
check "g2 running" wait_for 10 state_is g2 running
check_eq "g2 has CPU 1 to itself" "1 true" "$(place g2 '"\(.cpuset) \(.exclusive)"')"
check "be1's cpuset shrank live to 0" wait_for 5 bash -c "[[ \$(find /sys/fs/cgroup -path '*berth-it-$IT_ID*/be1/cpuset.cpus' -exec cat {} + | head -n1) == 0 ]]"
check "rm -f g2" ctl rm -f g2
check "be1's cpuset widened live to 0-1 again" wait_for 5 bash -c "[[ \$(find /sys/fs/cgroup -path '*berth-it-$IT_ID*/be1/cpuset.cpus' -exec cat {} + | head -n1) == 0-1 ]]"

# resize through the same admission
check_eq "PATCH hi to 4Gi refused" "503" "$(api PATCH /v1/workloads/hi --data-binary '{"resources": {"memory": "4Gi"}}')"
check_match "PATCH reason names memory" "insufficient memory" "$(body | jq -r .message)"

# the ledger is rebuilt at start and matches what runs
before=$(node | jq -c '{r: .resources, p: [.placements[] | {workload, qos, cpuset}], s: .sharedPool}')
daemon_stop a
daemon_start a --config "$IT_TMP/berthd.yaml"
after=$(node | jq -c '{r: .resources, p: [.placements[] | {workload, qos, cpuset}], s: .sharedPool}')
check_eq "ledger after restart equals before" "$before" "$after"

# eviction: PSI 30% evicts the best-effort workload first; guaranteed stays
psi 30.00
check "pressure-started event" wait_for 10 bash -c "curl -s --unix-socket '$(sock)' 'http://localhost/v1/events' | jq -s -e 'any(.[]; .type == \"pressure-started\")'"
check "be1 evicted" wait_for 10 bash -c "curl -s --unix-socket '$(sock)' 'http://localhost/v1/events?workload=be1' | jq -s -e 'any(.[]; .type == \"evicted\")'"
check "be1 exited" wait_for 10 state_is be1 exited
check_eq "hi (guaranteed) stays" "running" "$(status_of hi .status.state)"
psi 10.00
sleep 1
check_eq "PSI 10% is inside the band: still under pressure" "true" "$(node | jq .underPressure)"
psi 1.00
check "PSI 1% ends it" wait_for 5 bash -c "[[ \$(curl -s --unix-socket '$(sock)' http://localhost/v1/node | jq .underPressure) == false ]]"
check_eq "one pressure-ended event" "1" "$(api_json GET /v1/events | jq -s '[.[] | select(.type == "pressure-ended")] | length')"

check "rm -f hi be1 g1" ctl rm -f hi be1 g1
check_eq "ledger empty" "0" "$(node | jq '.placements | length')"
finish
