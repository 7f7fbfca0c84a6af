#!/usr/bin/env bash
# The cluster store against one real etcd (docs/CLUSTER.md): registration
# under a lease and its keepalive, status within one interval, assignments
# written with etcdctl run and their deletion stops them, invalid ones get a
# reasoned status, etcd down for twice the TTL touches nothing and recovers,
# a compaction past the watch revision triggers a relist, and the keys of a
# SIGKILLed berthd vanish within one TTL.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster-lib.sh"

TTL=3
# shellcheck disable=SC2034 # read by cl_config in cluster-lib.sh
CL_TTL=${TTL}s CL_INTERVAL=1s
N=node-$IT_ID
P=/berth

cl_netns a
etcd_cluster 1
cl_config "$IT_TMP/berthd.yaml" "$N"
daemon_start a -c "$IT_TMP/berthd.yaml"

# ---- registration and heartbeat ----
check "registration appears" wait_for 10 kv_present "$P/nodes/$N"
check_match "registration holds capacity, version and the API" \
        '"capacity":\{"cpu":[0-9]+,"memory":[0-9]+\}.*"api":\["unix://' "$(kv "$P/nodes/$N")"
check "readyz shows the connection state" wait_for 5 bash -c \
        "curl -s --unix-socket '$(sock)' http://localhost/readyz | grep -qx 'cluster: connected'"
check_eq "metrics: berth_cluster_connected 1" 1 "$(metric berth_cluster_connected)"
lease=$(etcdctl_ get "$P/nodes/$N" -w json | jq -r '.kvs[0].lease')
check_match "registration is attached to a lease" '^[0-9]+$' "$lease"
sleep $((TTL * 2))
check "registration survives 2 TTLs (keepalive)" kv_present "$P/nodes/$N"
check_match "keepalives were sent" '^[1-9]' "$(metric berth_cluster_keepalives_total)"
check "metrics snapshot published" kv_present "$P/metrics/$N"

# ---- status within one interval ----
# A watch started beforehand stamps the moment the running status arrives in etcd.
etcdctl_ watch "$P/status/$N/w1" | while read -r l; do
        [[ $l == *'"state":"running"'* ]] && date +%s.%N >>"$IT_TMP/w1-running"
done &
sleep 1
run_d w1 -- sleep 1000 >/dev/null
t0=$(date +%s.%N)
check "status of w1 appears" wait_for 5 kv_field "$P/status/$N/w1" .state running
check "the watch saw it" wait_for 3 test -s "$IT_TMP/w1-running"
lat=$(echo "$(head -1 "$IT_TMP/w1-running") - $t0" | bc)
# At most one interval (1 s) after the change, plus the txn round trip and the
# watch's delivery, which take 0.1-0.25 s under ASan on a loaded 2-CPU machine
# (1.21 s was seen against the former 0.2 s slack): 1 s of slack. A change that
# is not written in the next round but one or more rounds later fails this.
check "status of w1 reached etcd within one interval (+1 s slack): ${lat} s" \
        test "$(echo "$lat <= 2.0" | bc)" = 1
ctl stop -t 1 w1 >/dev/null
check "stopped status published" wait_for 4 kv_field "$P/status/$N/w1" .state exited
ctl rm w1 >/dev/null
check "removed workload's status key deleted" wait_for 4 kv_absent "$P/status/$N/w1"

# ---- assignments ----
doc a1 sleep 1000 >"$IT_TMP/a1.json"
etcdctl_ put "$P/assignments/$N/a1" "$(cat "$IT_TMP/a1.json")" >/dev/null
check "assignment written with etcdctl runs" wait_for 10 state_is a1 running
check "assignment status published with its revision" wait_for 4 kv_jq "$P/status/$N/a1" '.state == "running" and .rev > 0'
etcdctl_ del "$P/assignments/$N/a1" >/dev/null
check "assignment deletion stops and removes it" wait_for 15 bash -c "[[ \$(curl -s -o /dev/null -w '%{http_code}' --unix-socket '$(sock)' http://localhost/v1/workloads/a1) == 404 ]]"
check "its status key goes away" wait_for 4 kv_absent "$P/status/$N/a1"

# ---- invalid assignments ----
etcdctl_ put "$P/assignments/$N/bad1" '{"apiVersion":"berth/v1","kind":"Workload","metadata":{"name":"bad1"},"spec":{"rootfs":"relative/path","command":["true"]}}' >/dev/null
etcdctl_ put "$P/assignments/$N/bad2" 'this is not json' >/dev/null
etcdctl_ put "$P/assignments/$N/bad3" "$(doc other sleep 1)" >/dev/null
check "invalid spec gets a reasoned status" wait_for 5 kv_field "$P/status/$N/bad1" .reason InvalidArgument
check_match "the reason names the field" 'spec.rootfs' "$(kv "$P/status/$N/bad1" | jq -r .message)"
check "non-JSON assignment gets a reasoned status" wait_for 5 kv_field "$P/status/$N/bad2" .state rejected
check "name mismatch gets a reasoned status" wait_for 5 kv_field "$P/status/$N/bad3" .message \
        "metadata.name: \"other\" differs from the assignment key's name \"bad3\""
check_eq "nothing was created for them" "" "$(api_json GET /v1/workloads | jq -r '.items[].metadata.name' | grep -E '^(bad[123]|other)$')"
refused=$(metric berth_cluster_assignments_refused_total)
sleep 3
check_eq "no retry storm (refusals counted once)" "$refused" "$(metric berth_cluster_assignments_refused_total)"
etcdctl_ del --prefix "$P/assignments/$N/bad" >/dev/null
check "deleting refused assignments clears their status" wait_for 5 kv_absent "$P/status/$N/bad1"

# ---- etcd down for twice the TTL ----
run_d keep -- sleep 1000 >/dev/null
etcdctl_ put "$P/assignments/$N/a2" "$(doc a2 sleep 1000)" >/dev/null
check "a2 runs" wait_for 10 state_is a2 running
pid_a2=$(status_of a2 .status.pid)
check "status of keep and a2 published" wait_for 4 kv_field "$P/status/$N/keep" .state running
etcd_kill e1 KILL
check "readyz shows the lost connection" wait_for 10 bash -c \
        "curl -s --unix-socket '$(sock)' http://localhost/readyz | grep -qx 'cluster: disconnected'"
check_eq "metrics: berth_cluster_connected 0" 0 "$(metric berth_cluster_connected)"
run_d during -- sleep 1000 >/dev/null
check "the local API keeps serving while etcd is down" wait_for 5 state_is during running
ctl stop -t 1 keep >/dev/null
ctl start keep >/dev/null
sleep $((TTL * 2))
check_eq "a2 untouched (same pid)" "$pid_a2" "$(status_of a2 .status.pid)"
check "keep still running" state_is keep running
etcd_start e1
check "reconnects and re-registers" wait_for 20 kv_present "$P/nodes/$N"
check "readyz connected again" wait_for 10 bash -c \
        "curl -s --unix-socket '$(sock)' http://localhost/readyz | grep -qx 'cluster: connected'"
check "status made during the outage is published" wait_for 5 kv_field "$P/status/$N/during" .state running
check_eq "keep's latest status (restart during the outage) published" "$(status_of keep .status.startedAt | cut -c1-19)" \
        "$(kv "$P/status/$N/keep" | jq -r '.startedAt | todate' | cut -c1-19)"
check_eq "a2 still the same process after recovery" "$pid_a2" "$(status_of a2 .status.pid)"
check_match "reconnects back off (counted)" '^[1-9]' "$(metric berth_cluster_reconnects_total)"

# ---- compaction past the watch revision ----
relists=$(metric berth_cluster_relists_total)
# Stop berthd, change assignments and compact past its revision, start it again.
daemon_stop a TERM
etcdctl_ put "$P/assignments/$N/a3" "$(doc a3 sleep 1000)" >/dev/null
etcdctl_ del "$P/assignments/$N/a2" >/dev/null
rev=$(etcdctl_ get / -w json | jq -r .header.revision)
etcdctl_ compact "$rev" >/dev/null
daemon_start a -c "$IT_TMP/berthd.yaml"
check "after the compaction a3 (created while away) runs" wait_for 15 state_is a3 running
check "and a2 (deleted while away) is gone" wait_for 15 bash -c "[[ \$(curl -s -o /dev/null -w '%{http_code}' --unix-socket '$(sock)' http://localhost/v1/workloads/a2) == 404 ]]"
check_match "a relist happened" '^[1-9]' "$(metric berth_cluster_relists_total)"
check "the log names the compaction" grep -q "relisting" "${D_LOG[a]}"
diag "relists before $relists"

# ---- node death: keys vanish within one TTL ----
check "registration present before the kill" wait_for 5 kv_present "$P/nodes/$N"
kill -KILL "${D_PID[a]}"
wait "${D_PID[a]}" 2>/dev/null
D_PID[a]=
t0=$(date +%s.%N)
check "registration vanishes within TTL + 1 s" wait_for $((TTL + 1)) kv_absent "$P/nodes/$N"
t1=$(date +%s.%N)
diag "death visible after $(echo "$t1 - $t0" | bc) s (TTL $TTL s)"
check "status keys vanish with it" kv_absent "$P/status/$N/keep"
# Back up so the cleanup removes the workloads through the API.
daemon_start a -c "$IT_TMP/berthd.yaml"
finish
