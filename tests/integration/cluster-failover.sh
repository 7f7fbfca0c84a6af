#!/usr/bin/env bash
# A 3-member etcd cluster on loopback; berthd talks to the leader first.
# Kill the leader mid-run (while assignments and local changes are in
# flight): berthd fails over to another member with no lost status and no
# duplicate workload.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster-lib.sh"

N=node-$IT_ID
P=/berth

cl_netns a
etcd_cluster 3

leader_member() {
        local m id
        for m in "${E_MEMBERS[@]}"; do
                [[ -n ${E_PID[$m]:-} ]] || continue
                id=$(ETCDCTL_API=3 in_ns timeout 5 etcdctl --endpoints="http://127.0.0.1:${E_CPORT[$m]}" endpoint status -w json 2>/dev/null |
                        jq -r '.[0].Status | select(.leader == .header.member_id) | .leader')
                [[ -n $id ]] && { echo "$m"; return 0; }
        done
        return 1
}
L=$(leader_member)
check_match "found the leader" '^e[123]$' "$L"
# The leader's endpoint first, so the kill forces a failover.
ORDER=("$L")
for m in "${E_MEMBERS[@]}"; do [[ $m != "$L" ]] && ORDER+=("$m"); done
{
        echo "cluster:"
        echo "  endpoints:"
        for m in "${ORDER[@]}"; do echo "    - http://127.0.0.1:${E_CPORT[$m]}"; done
        echo "  node: $N"
        echo "  leaseTTL: 3s"
        echo "  interval: 1s"
} >"$IT_TMP/berthd.yaml"
daemon_start a -c "$IT_TMP/berthd.yaml"
check "registered" wait_for 10 kv_present "$P/nodes/$N"

for i in 1 2 3 4; do
        etcdctl_ put "$P/assignments/$N/f$i" "$(doc "f$i" sleep 1000)" >/dev/null
done
for i in 1 2 3 4; do
        check "f$i runs" wait_for 15 state_is "f$i" running
done
check "status of f4 published" wait_for 5 kv_field "$P/status/$N/f4" .state running

# Mid-run: kill the leader, and at once change things on both sides.
etcd_kill "$L" KILL
diag "killed the leader $L"
# etcdctl itself may see "leader changed" during the election: retry it.
check "put f5 during the election" wait_for 15 etcdctl_ put "$P/assignments/$N/f5" "$(doc f5 sleep 1000)"
check "delete f1 during the election" wait_for 15 etcdctl_ del "$P/assignments/$N/f1"
ctl stop -t 1 f2 >/dev/null
run_d local1 -- sleep 1000 >/dev/null

check "f5 (written during the failover) runs" wait_for 20 state_is f5 running
check "f1 (deleted during the failover) is gone" wait_for 20 bash -c \
        "[[ \$(curl -s -o /dev/null -w '%{http_code}' --unix-socket '$(sock)' http://localhost/v1/workloads/f1) == 404 ]]"
check "no lost status: f2's stop is published" wait_for 10 kv_field "$P/status/$N/f2" .state exited
check "no lost status: local1 is published" wait_for 10 kv_field "$P/status/$N/local1" .state running
check "no lost status: f5 is published" wait_for 10 kv_field "$P/status/$N/f5" .state running
check "f1's status key is gone" wait_for 10 kv_absent "$P/status/$N/f1"
check "still registered after the failover" kv_present "$P/nodes/$N"
check "readyz connected" wait_for 10 bash -c \
        "curl -s --unix-socket '$(sock)' http://localhost/readyz | grep -qx 'cluster: connected'"

names=$(api_json GET /v1/workloads | jq -r '[.items[].metadata.name] | sort | join(" ")')
check_eq "exactly the expected workloads (no duplicates)" "f2 f3 f4 f5 local1" "$names"
for i in 2 3 4 5; do
        n=$(api_json GET "/v1/events?workload=f$i" | jq -s '[.[] | select(.type == "created")] | length' 2>/dev/null)
        check_eq "f$i created exactly once" 1 "$n"
done
keys=$(etcdctl_ get --prefix --keys-only "$P/status/$N/" | grep -v '^$' | sort | tr '\n' ' ')
check_eq "status keys match the workloads" "$P/status/$N/f2 $P/status/$N/f3 $P/status/$N/f4 $P/status/$N/f5 $P/status/$N/local1 " "$keys"
check_match "a reconnect happened" '^[1-9]' "$(metric berth_cluster_reconnects_total)"
check "the log names the lost connection" grep -q "lost the connection" "${D_LOG[a]}"
finish
