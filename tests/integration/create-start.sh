#!/usr/bin/env bash
# Create without start: POST /v1/workloads?start=false and berthctl create
# (flags and -f FILE) record the workload, book it with the scheduler and
# leave it in state "created" (no pid, no start time, no run); ls/inspect show
# it; start starts it; stop is a no-op and kill is refused while created; rm
# removes it (cgroup, directory and booking gone); a SIGKILLed and restarted
# berthd keeps it created and booked. Bad values of ?start are 400 naming it.
# The booking it holds keeps out what does not fit beside it; a higher
# priority can preempt it (it stays created, its start is refused, and a
# restart does not book it past the node). With crash points, berthd dies
# inside such a create: before the record it is gone, after it it is created.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2016
source "$(dirname "$0")/lib.sh"

daemon_start a
placement() { api_json GET /v1/node | jq -c --arg n "$1" '[.placements[]? | select(.workload == $n) | .charged]'; }
events_of() { api_json GET "/v1/events?workload=$1" | jq -r .type | tr '\n' ' '; }
wdir() { echo "${D_ROOT[a]}/workloads/$1"; }
post_doc_q() { api POST "/v1/workloads$1" -H 'Content-Type: application/json' --data-binary "$2"; }
has_sched=$(api_json GET /v1/node | jq 'has("placements")')

# ---- the API ----
d=$(doc apic /bin/sh -c 'echo from-apic; exit 5' | jq -c '.spec.resources = {memory: "64Mi"}')
check_eq "POST ?start=false -> 201" "201" "$(post_doc_q '?start=false' "$d")"
check_eq "the answer: created, no pid, no start time" "created|null|null" \
        "$(body | jq -r '[.status.state, (.status.pid|tostring), (.status.startedAt|tostring)] | join("|")')"
check_eq "GET: created, no pid, no start time" "created|null|null|null" \
        "$(status_of apic '[.status.state, (.status.pid|tostring), (.status.startedAt|tostring), (.status.finishedAt|tostring)] | join("|")')"
check_match "createdAt is set" '^20[0-9-]+T' "$(status_of apic .status.createdAt)"
check "the workload directory was prepared" test -d "$(wdir apic)"
check "its cgroup was prepared" test -n "$(cgroup_dirs apic)"
check_eq "no shim, no state.json" "" "$(ls "$(wdir apic)" | grep -E '^(state|exit)\.json$')"
sleep 0.5
check_eq "events: created only" "created " "$(events_of apic)"
if [[ $has_sched == true ]]; then
        check_eq "booked at create (GET /v1/node placements)" '[{"cpuMillis":0,"memoryBytes":67108864}]' "$(placement apic)"
else
        diag "berthd runs without its scheduler: booking checks skipped"
fi
check_eq "POST ?start=maybe -> 400" "400" "$(post_doc_q '?start=maybe' "$(doc bad /bin/true)")"
check_eq "400 names the field start" "start" "$(body | jq -r .field)"
check_eq "nothing recorded for the 400" "404" "$(api GET /v1/workloads/bad)"
check_eq "POST ?start=0&dryRun=1 -> 200 admission, nothing created" "200 true" \
        "$(post_doc_q '?start=0&dryRun=1' "$(doc dry /bin/true)") $(body | jq -r .dryRun)"
check_eq "dry run recorded nothing" "404" "$(api GET /v1/workloads/dry)"
check_eq "POST ?start=false with a taken name -> 409" "409" "$(post_doc_q '?start=false' "$d")"
check_eq "POST ?start=1 creates and starts" "201" "$(post_doc_q '?start=1' "$(doc apis /bin/sleep 1000)")"
check "apis runs" wait_for 10 state_is apis running

# stop is a no-op on a created workload, kill and pause are refused
check_eq "stop of a created workload -> 200 (no-op)" "200" "$(api POST /v1/workloads/apic/stop)"
check_eq "still created after stop" "created" "$(status_of apic .status.state)"
check_eq "kill of a created workload -> 409" "409" "$(api POST /v1/workloads/apic/kill)"
check_eq "pause of a created workload -> 409" "409" "$(api POST /v1/workloads/apic/pause)"
check_eq "logs of a created workload: empty" "200 " "$(api GET /v1/workloads/apic/logs) $(body)"

check_eq "POST start -> 200" "200" "$(api POST /v1/workloads/apic/start)"
check_rc "apic exits 5" 5 ctl wait apic
check_eq "events: created started exited" "created started exited " "$(events_of apic)"
check_match "apic's output" "from-apic" "$(ctl logs apic)"
check_eq "the run's booking went back" "[]" "$(placement apic)"

# ---- a created workload holds its booking: a second one that does not fit
# beside it is refused (503, nothing recorded) until the first is removed ----
if [[ $has_sched == true ]]; then
        free=$(api_json GET /v1/node | jq '.resources.memory.free')
        big=$(((free * 6 / 10) >> 20))Mi
        diag "memory free on the node: $free bytes; each big workload books $big"
        check_eq "create-only big1 ($big) -> 201" "201" \
                "$(post_doc_q '?start=false' "$(doc big1 /bin/true | jq -c --arg m "$big" '.spec.resources = {memory: $m}')")"
        check_eq "create-only big2 ($big) beside it -> 503" "503 ResourceExhausted" \
                "$(post_doc_q '?start=false' "$(doc big2 /bin/true | jq -c --arg m "$big" '.spec.resources = {memory: $m}')") $(body | jq -r .code)"
        check_match "the refusal names memory" "memory" "$(body | jq -r '.field + " " + .message')"
        check_eq "big2 not recorded" "404" "$(api GET /v1/workloads/big2)"
        check "rm big1" ctl rm big1
        check_eq "big2 fits once big1 is gone -> 201" "201" \
                "$(post_doc_q '?start=false' "$(doc big2 /bin/true | jq -c --arg m "$big" '.spec.resources = {memory: $m}')")"
        # a higher priority takes the booking of a created one (preemption: nothing
        # is killed, it stays created); its start is then refused and it stays
        # created, also after a restart (not booked again: it does not fit)
        check_eq "hi (priority 10, $big) preempts the created big2 -> 201" "201" \
                "$(post_doc_q '' "$(doc hi /bin/sleep 1000 | jq -c --arg m "$big" '.spec.resources = {memory: $m} | .spec.priority = 10')")"
        check "hi runs" wait_for 10 state_is hi running
        check_match "big2: preempted event" "preempted" "$(events_of big2)"
        check_eq "big2 stays created, its booking gone" "created []" "$(status_of big2 .status.state) $(placement big2)"
        check_eq "start of big2 refused (503)" "503" "$(api POST /v1/workloads/big2/start)"
        check_eq "big2 still created" "created" "$(status_of big2 .status.state)"
        check "SIGKILL berthd (hi running, big2 created without a booking)" daemon_stop a KILL
        daemon_start a
        check_eq "after the restart: big2 created, not booked; hi booked" "created [] 1" \
                "$(status_of big2 .status.state) $(placement big2) $(placement hi | jq length)"
        check "berthd says why big2 is not booked" grep -q "workload=big2: created workload not booked again" "${D_LOG[a]}"
        check "rm -f hi" ctl rm -f hi
        check "start big2 once hi is gone" ctl start big2
        check_rc "big2 runs to its end" 0 ctl wait big2
        check "rm big2" ctl rm big2
fi

# ---- berthctl create: flags ----
check_eq "create (flags) prints the name" "c1" \
        "$(ctl create --name c1 --memory 32Mi --rootfs "$IT_ROOTFS" -- /bin/sh -c 'echo hello-c1; sleep 1000')"
check_match "ls shows c1 created" "^c1 +created +- +- " "$(ctl ls | grep '^c1 ')"
check_eq "inspect: created" "created" "$(ctl inspect c1 | jq -r .status.state)"
check_eq "inspect -o yaml: created" "  state: created" "$(ctl inspect -o yaml c1 | grep '^  state:')"
check_eq "node counts it as created" "1" "$(api_json GET /v1/node | jq .workloads.created)"
check_rc "create --rm: usage (2)" 2 ctl create --rm --name x --rootfs "$IT_ROOTFS" -- /bin/true
check_rc "create -d: usage (2)" 2 ctl create -d --name x --rootfs "$IT_ROOTFS" -- /bin/true
check_rc "create without --rootfs/--image: usage (2)" 2 ctl create --name x -- /bin/true
check_rc "create of a taken name: 1" 1 ctl create --name c1 --rootfs "$IT_ROOTFS" -- /bin/true
check_match "create --help" "Usage: berthctl create" "$(ctl create --help)"

# ---- berthctl create -f FILE ----
cat >"$IT_TMP/c2.yaml" <<EOF
apiVersion: berth/v1
kind: Workload
metadata:
  name: c2
spec:
  rootfs: $IT_ROOTFS
  command: ["/bin/sh", "-c", "echo hello-c2; exit 0"]
  resources:
    memory: 48Mi
EOF
check_eq "create -f FILE prints the name" "c2" "$(ctl create -f "$IT_TMP/c2.yaml")"
check_eq "c2 created" "created" "$(status_of c2 .status.state)"
check_rc "create -f with --name: usage (2)" 2 ctl create -f "$IT_TMP/c2.yaml" --name c3
check_rc "create -f with a COMMAND: usage (2)" 2 ctl create -f "$IT_TMP/c2.yaml" -- /bin/true
sed 's/48Mi/48Xi/; s/name: c2/name: c4/' "$IT_TMP/c2.yaml" >"$IT_TMP/c4.yaml"
check_rc "create -f of an invalid document: 1" 1 ctl create -f "$IT_TMP/c4.yaml"
check_match "the error names the field" "spec.resources.memory" "$(ctl create -f "$IT_TMP/c4.yaml" 2>&1)"
check_eq "c4 not created" "404" "$(api GET /v1/workloads/c4)"
check_match "run has no -f" "unknown flag" "$(ctl run -f "$IT_TMP/c2.yaml" 2>&1)"

# ---- SIGKILL berthd: created stays created (not started, not lost), booked ----
snap() {
        api_json GET /v1/workloads | jq -c '[.items[] | select(.metadata.name == "c1" or .metadata.name == "c2")
                | {n: .metadata.name, s: .status.state, pid: .status.pid, st: .status.startedAt, cr: .status.createdAt}]'
}
before=$(snap)
book_before=$(placement c1)$(placement c2)
[[ $has_sched == true ]] && check_eq "c1 and c2 booked their memory" \
        '[{"cpuMillis":0,"memoryBytes":33554432}][{"cpuMillis":0,"memoryBytes":50331648}]' "$book_before"
check "SIGKILL berthd" daemon_stop a KILL
daemon_start a
check_eq "after the restart: c1, c2 still created, same times, no pid" "$before" "$(snap)"
check_eq "c1's events: created only (not started, not lost)" "created " "$(events_of c1)"
[[ $has_sched == true ]] && check_eq "still booked after the restart" "$book_before" "$(placement c1)$(placement c2)"
check_eq "c1 has no shim" "" "$(ls "$(wdir c1)" | grep -E '^(state|exit)\.json$')"

# ---- start and rm after the restart ----
check_eq "berthctl start c1 prints the name" "c1" "$(ctl start c1)"
check "c1 runs" wait_for 10 state_is c1 running
check "c1's output" wait_for 10 bash -c "'$BERTHCTL' --socket '$(sock)' logs c1 | grep -q hello-c1"
check_rc "start of the running c1: 1" 1 ctl start c1
check_eq "PATCH of a created workload -> 200" "200" \
        "$(api PATCH /v1/workloads/c2 -H 'Content-Type: application/json' --data-binary '{"resources": {"memory": "40Mi"}}')"
check_eq "stored for the start, still created" "40Mi created" "$(status_of c2 '.spec.resources.memory + " " + .status.state')"
[[ $has_sched == true ]] && check_eq "the booking follows the PATCH" '[{"cpuMillis":0,"memoryBytes":41943040}]' "$(placement c2)"
check "rm c2 (created, no -f needed)" ctl rm c2
check_eq "c2 gone" "404" "$(api GET /v1/workloads/c2)"
check_eq "c2's directory gone" "" "$(ls -d "$(wdir c2)" 2>/dev/null)"
check_eq "c2's cgroup gone" "" "$(cgroup_dirs c2)"
[[ $has_sched == true ]] && check_eq "c2's booking gone" "[]" "$(placement c2)"
check_match "events of c2: created updated removed" "^created updated removed $" "$(events_of c2)"
check "rm -f c1 apic apis" ctl rm -f c1 apic apis
check_eq "no workloads left" "0" "$(api_json GET /v1/workloads | jq '.items | length')"
check_eq "no cgroups left" "" "$(cgroup_dirs c1)$(cgroup_dirs apic)$(cgroup_dirs apis)"

# ---- berthd killed inside a create without start (crash points) ----
if [[ $("$BERTHD" --version) == *crash-points* ]]; then
        for point in create.after-prepare create.after-insert; do
                name=cc-${point//./-}
                daemon_stop a TERM
                export BERTH_CRASH_AT=$point
                daemon_start a >/dev/null
                unset BERTH_CRASH_AT
                dpid=${D_PID[a]}
                code=$(post_doc_q '?start=false' "$(doc "$name" /bin/true)")
                check "$point: berthd died there (no answer: $code)" wait_for 10 bash -c "! kill -0 $dpid 2>/dev/null"
                wait "$dpid" 2>/dev/null
                D_PID[a]=
                check "$point: crash point reached" grep -q "crash point $point reached" "${D_LOG[a]}"
                daemon_start a
                if [[ $point == create.after-prepare ]]; then
                        check_eq "$point: not recorded, so not there" "404" "$(api GET "/v1/workloads/$name")"
                        check_eq "$point: its leftovers are removed" "" "$(ls -d "$(wdir "$name")" 2>/dev/null)$(cgroup_dirs "$name")"
                else
                        check_eq "$point: recorded, so there and still created" "created null" \
                                "$(status_of "$name" .status.state) $(status_of "$name" .status.pid)"
                        check_eq "$point: no shim" "" "$(ls "$(wdir "$name")" | grep -E '^(state|exit)\.json$')"
                        check "$point: start works" ctl start "$name"
                        check_rc "$point: it runs to its end" 0 ctl wait "$name"
                        check "$point: rm works" ctl rm "$name"
                fi
        done
else
        diag "berthd has no crash points: the crash part is skipped"
fi
finish
