#!/usr/bin/env bash
# Lifecycle hardening against a real berthd: live update (PATCH and
# berthctl update change the cgroup's memory limit of a running workload),
# pause/resume through the freezer (state, freezer file, events, a paused
# workload can still be killed), health checks (exec and tcp probes turning
# healthy and unhealthy, shown in ls and inspect, recorded as events).
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2016
source "$(dirname "$0")/lib.sh"

daemon_start a

# These tests are about isolation, not networking: network mode none, so
# they hold whether or not the host can set up the berth bridge.
doc() {
        local name=$1 arg cmd
        shift
        cmd=$(for arg in "$@"; do jq -n --arg a "$arg" '$a'; done | jq -cs .)
        jq -cn --arg name "$name" --arg rootfs "$IT_ROOTFS" --argjson cmd "$cmd" '
                {apiVersion: "berth/v1", kind: "Workload", metadata: {name: $name},
                 spec: {rootfs: $rootfs, command: $cmd, network: {mode: "none"}}}'
}
run_d() {
        local name=$1
        shift
        ctl run -d --name "$name" --rootfs "$IT_ROOTFS" --network none "$@"
}

# mem_limit NAME: the memory limit of NAME's cgroup as the kernel shows it.
mem_limit() {
        local d
        for d in $(cgroup_dirs "$1"); do
                if [[ -f $d/memory.limit_in_bytes ]]; then cat "$d/memory.limit_in_bytes"; return; fi
                if [[ -f $d/memory.max ]]; then cat "$d/memory.max"; return; fi
        done
}
freezer_of() {
        local d
        for d in $(cgroup_dirs "$1"); do
                if [[ -f $d/freezer.state ]]; then cat "$d/freezer.state"; return; fi
                if [[ -f $d/cgroup.freeze ]]; then cat "$d/cgroup.freeze"; return; fi
        done
}
events_of() { api_json GET "/v1/events?workload=$1" | jq -r '.type' | tr '\n' ' '; }

# ---- live update ----
check "run -d --memory 64Mi upd" run_d upd --memory 64Mi -- /bin/sleep 1000
check "upd running" wait_for 10 state_is upd running
check_eq "memory limit 64Mi" "67108864" "$(mem_limit upd)"
code=$(api PATCH /v1/workloads/upd -H 'Content-Type: application/json' --data-binary '{"resources":{"memory":"96Mi","pids":50}}')
check_eq "PATCH: 200" "200" "$code"
check_eq "PATCH: spec shows 96Mi" "96Mi" "$(body | jq -r .spec.resources.memory)"
check_eq "PATCH: cgroup limit changed live" "100663296" "$(mem_limit upd)"
check_eq "PATCH: still the same process" "running" "$(status_of upd .status.state)"
check "berthctl update --memory 128Mi --cpu-weight 300" ctl update upd --memory 128Mi --cpu-weight 300
check_eq "update: cgroup limit 128Mi" "134217728" "$(mem_limit upd)"
check_eq "update: cpuWeight stored" "300" "$(status_of upd .spec.resources.cpuWeight)"
code=$(api PATCH /v1/workloads/upd -H 'Content-Type: application/json' --data-binary '{"resources":{"memory":"1Ki"}}')
check_eq "PATCH below the minimum: 400" "400" "$code"
check_match "PATCH error names the field" "spec.resources.memory" "$(body)"
code=$(api PATCH /v1/workloads/upd -H 'Content-Type: application/json' --data-binary '{"command":["/bin/true"]}')
check_eq "PATCH of a non-resource field: 400" "400" "$code"
check_match "updated event" "updated" "$(events_of upd)"

# ---- pause / resume ----
check "pause upd" ctl pause upd
check_eq "state paused" "paused" "$(status_of upd .status.state)"
check_match "freezer frozen" "^(FROZEN|1)$" "$(freezer_of upd)"
pid=$(status_of upd .status.pid)
check_match "init is stopped in the freezer ($pid)" "^[DT]|^S" "$(awk '{print $3}' /proc/"$pid"/stat 2>/dev/null)"
check_eq "pause again: 409" "409" "$(api POST /v1/workloads/upd/pause)"
check "resume upd" ctl resume upd
check_eq "state running" "running" "$(status_of upd .status.state)"
check_match "freezer thawed" "^(THAWED|0)$" "$(freezer_of upd)"
check_match "paused and resumed events" "paused resumed" "$(events_of upd)"
check "pause before kill" ctl pause upd
check "kill a paused workload" ctl kill upd
check "paused workload dies" bash -c "CTL_TIMEOUT=20; timeout 20 '$BERTHCTL' --socket '$(sock)' wait upd >/dev/null; true"
check_eq "exited after kill" "exited" "$(status_of upd .status.state)"
check "rm upd" ctl rm -f upd

# ---- health checks ----
hc_doc() {
        local name=$1 hc=$2
        shift 2
        doc "$name" "$@" | jq -c --argjson hc "$hc" '.spec.healthCheck = $hc'
}
# exec probe: healthy while /tmp/ok exists
post_doc "$(hc_doc hexec '{"exec":["/bin/sh","-c","test -e /tmp/ok"],"interval":"300ms","timeout":"2s","retries":2}' \
        /bin/sh -c 'touch /tmp/ok; sleep 1000')" >/dev/null
check "hexec running" wait_for 10 state_is hexec running
check "exec probe turns healthy" wait_for 15 field_is hexec .status.health healthy
check_match "ls shows health" "running \(healthy\)" "$(ctl ls)"
check_eq "inspect shows health" "healthy" "$(ctl inspect hexec -o json | jq -r .status.health)"
check "exec into hexec removes the marker" bash -c "ls /proc/$(status_of hexec .status.pid)/root/tmp/ok >/dev/null && rm /proc/$(status_of hexec .status.pid)/root/tmp/ok"
check "exec probe turns unhealthy" wait_for 15 field_is hexec .status.health unhealthy
check_match "health-status events" "health-status" "$(events_of hexec)"
check_match "unhealthy event says why" "unhealthy: probe exited with 1" \
        "$(api_json GET '/v1/events?workload=hexec' | jq -r 'select(.type == "health-status") | .message' | tr '\n' '|')"

# tcp probe: nc listens on 8080 in the workload's own network namespace
post_doc "$(hc_doc htcp '{"tcp":8080,"interval":"300ms","timeout":"1s","retries":1}' \
        /bin/sh -c 'nc -lk -p 8080 -e /bin/true 2>/dev/null || nc -l -p 8080; sleep 1000')" >/dev/null
check "htcp running" wait_for 10 state_is htcp running
check "tcp probe turns healthy" wait_for 15 field_is htcp .status.health healthy
post_doc "$(hc_doc htcp2 '{"tcp":8081,"interval":"300ms","timeout":"1s","retries":2}' /bin/sleep 1000)" >/dev/null
check "tcp probe on a closed port turns unhealthy" wait_for 15 field_is htcp2 .status.health unhealthy

for n in hexec htcp htcp2; do
        ctl rm -f "$n" >/dev/null 2>&1
done
finish
