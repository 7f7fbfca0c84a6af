#!/usr/bin/env bash
# gRPC on <run-dir>/grpc.sock driven by a real client (Debian's python3-grpcio,
# stubs generated from proto/berth/v1): create, stream the logs, watch the
# events, wait, delete, and HTTP sees the same state. Deadlines, oversize and
# malformed messages, status codes, health, GOAWAY on shutdown.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

PY=/usr/bin/python3
$PY -c 'import grpc, grpc_tools, google.protobuf' 2>/dev/null ||
        skip "needs python3-grpcio, python3-grpc-tools, python3-protobuf (deploy/install-deps.sh)"
CLIENT="$(dirname "$0")/grpc_client.py"

daemon_start a
GSOCK="${D_RUN[a]}/grpc.sock"
g() { timeout 90 "$PY" "$CLIENT" --target "unix:$GSOCK" "$@"; }
jqr() { jq -r "$1" <<<"$2"; }

check "grpc.sock exists" test -S "$GSOCK"
check_eq "grpc.sock mode 0660" "660" "$(stat -c %a "$GSOCK")"

out=$(g call Check '{}')
check_eq "grpc.health.v1 Check: SERVING" "SERVING" "$(jqr .response.status "$out")"
out=$(g call Check '{"service":"berth.v1.Workloads"}')
check_eq "Check(berth.v1.Workloads): SERVING" "SERVING" "$(jqr .response.status "$out")"
out=$(g call Check '{"service":"nope"}')
check_eq "Check(unknown service): NOT_FOUND" "NOT_FOUND" "$(jqr .code "$out")"

# ---- the sequence ----
seq=$(g sequence "$IT_ROOTFS" viagrpc --keep)
check_eq "CreateWorkload returned the workload" "viagrpc" "$(jqr .created.name "$seq")"
check_eq "CreateWorkload carries labels" "grpc" "$(jqr .created.labels.via "$seq")"
check_eq "StreamLogs (follow) streamed both lines" "one two" "$(jqr .logs "$seq" | paste -sd' ' | sed 's/ *$//')"
check_eq "WaitWorkload: exit code 3" "3" "$(jqr .wait.exit_code "$seq")"
check_eq "WaitWorkload: state exited" "exited" "$(jqr .wait.state "$seq")"
check_match "StreamEvents saw created, started, exited" "created.*started.*exited" \
        "$(jqr '[.events[].type] | join(" ")' "$seq")"
check_eq "ListWorkloads lists it" "true" "$(jqr '.list | index("viagrpc") != null' "$seq")"
# HTTP sees the same state
http=$(api_json GET /v1/workloads/viagrpc)
check_eq "HTTP: same state" "$(jqr .get.status.state_name "$seq")" "$(jqr .status.state "$http")"
check_eq "HTTP: same exit code" "$(jqr .get.status.exit_code "$seq")" "$(jqr .status.exitCode "$http")"
check_eq "HTTP: same spec" "$(jqr .get.spec_json "$seq" | jq -cS .)" "$(jqr .spec "$http" | jq -cS .)"
check_eq "HTTP: same logs" "$(jqr .logs "$seq")" "$(api_json GET /v1/workloads/viagrpc/logs)"
grpc_ids=$(jqr '[.events[] | select(.id) | .id] | map(tostring) | join(",")' "$seq")
http_ids=$(api_json GET '/v1/events?workload=viagrpc' | jq -rs '[.[].id] | map(tostring) | join(",")')
check_eq "HTTP: same events (ids)" "$http_ids" "$grpc_ids"
out=$(g call DeleteWorkload '{"name":"viagrpc"}')
check_eq "DeleteWorkload" "viagrpc" "$(jqr .response.name "$out")"
check_eq "HTTP: gone after the gRPC delete" "404" "$(api GET /v1/workloads/viagrpc)"

# ---- status codes mapped like HTTP ----
out=$(g call GetWorkload '{"name":"nosuch"}')
check_eq "GetWorkload(absent): NOT_FOUND" "NOT_FOUND" "$(jqr .code "$out")"
out=$(g call GetWorkload '{"name":"Bad_Name"}')
check_eq "GetWorkload(bad name): INVALID_ARGUMENT" "INVALID_ARGUMENT" "$(jqr .code "$out")"
bad=$(jq -cn --arg r "$IT_ROOTFS" '{apiVersion:"berth/v1",kind:"Workload",metadata:{name:"m"},spec:{rootfs:$r,command:["/bin/true"],resources:{memory:"12Xi"}}}')
out=$(g call CreateWorkload "$(jq -cn --arg d "$bad" '{document:$d}')")
check_eq "CreateWorkload(bad memory): INVALID_ARGUMENT" "INVALID_ARGUMENT" "$(jqr .code "$out")"
check_match "... naming the field like HTTP does" "spec.resources.memory" "$(jqr .details "$out")"
hcode=$(post_doc "$bad")
check_eq "HTTP: the same document is a 400" "400" "$hcode"
check_match "HTTP: the same message" "$(body | jq -r .message | head -c 20)" "$(jqr .details "$out")"
check "run -d dup" run_d dup -- /bin/sleep 30
dupdoc=$(doc dup /bin/true)
out=$(g call CreateWorkload "$(jq -cn --arg d "$dupdoc" '{document:$d}')")
check_eq "CreateWorkload(name in use): ALREADY_EXISTS" "ALREADY_EXISTS" "$(jqr .code "$out")"
out=$(g call DeleteWorkload '{"name":"dup"}')
check_eq "DeleteWorkload(running, no force): FAILED_PRECONDITION" "FAILED_PRECONDITION" "$(jqr .code "$out")"
out=$(g call StartWorkload '{"name":"dup"}')
check_eq "StartWorkload(running): FAILED_PRECONDITION" "FAILED_PRECONDITION" "$(jqr .code "$out")"
out=$(g call KillWorkload '{"name":"dup","signal":"NOPE"}')
check_eq "KillWorkload(bad signal): INVALID_ARGUMENT" "INVALID_ARGUMENT" "$(jqr .code "$out")"
out=$(g call UpdateWorkload '{"name":"dup"}')
check_eq "UpdateWorkload: UNIMPLEMENTED (no core operation yet)" "UNIMPLEMENTED" "$(jqr .code "$out")"
out=$(g call Info '{}')
check_eq "Node.Info: ready" "true" "$(jqr .response.ready "$out")"
check_eq "Node.Info: running count" "1" "$(jqr .response.workloads.running "$out")"
out=$(g call GetPlacements '{}')
check_eq "Node.GetPlacements" "dup=running" "$(jqr '.response.items | map(.name + "=" + .state) | join(",")' "$out")"

# ---- deadlines ----
out=$(g --timeout 1 call WaitWorkload '{"name":"dup"}')
check_eq "WaitWorkload with a 1 s deadline: DEADLINE_EXCEEDED" "DEADLINE_EXCEEDED" "$(jqr .code "$out")"
check "... after about 1 s ($(jqr .elapsed "$out") s)" \
        awk -v e="$(jqr .elapsed "$out")" 'BEGIN { exit !(e >= 0.9 && e < 3) }'
out=$(g --timeout 1.5 stream StreamLogs '{"name":"dup","follow":true}')
check_eq "StreamLogs follow with a deadline: DEADLINE_EXCEEDED" "DEADLINE_EXCEEDED" "$(jqr .code "$out")"
out=$(g --timeout 5 call GetWorkload '{"name":"dup"}')
check_eq "a call within its deadline succeeds" "OK" "$(jqr .code "$out")"
check "the daemon is still serving HTTP" test "$(api GET /v1/workloads/dup)" = 200
out=$(g call KillWorkload '{"name":"dup"}')
check_eq "KillWorkload (default SIGKILL)" "OK" "$(jqr .code "$out")"
out=$(g --timeout 10 call WaitWorkload '{"name":"dup"}')
check_eq "WaitWorkload after kill: SIGKILL" "SIGKILL" "$(jqr .response.signal "$out")"

# ---- oversize and malformed ----
head -c $((5 * 1024 * 1024)) /dev/zero | tr '\0' 'a' | jq -Rc '{document: .}' >"$IT_TMP/big.json"
out=$(g call CreateWorkload "@$IT_TMP/big.json")
check_eq "5 MiB message (over grpc.maxMessage 4 MiB): RESOURCE_EXHAUSTED" "RESOURCE_EXHAUSTED" "$(jqr .code "$out")"
head -c $((2 * 1024 * 1024)) /dev/zero | tr '\0' 'a' | jq -Rc '{document: .}' >"$IT_TMP/big.json"
out=$(g call CreateWorkload "@$IT_TMP/big.json")
check_eq "2 MiB document (over the 1 MiB body cap): RESOURCE_EXHAUSTED" "RESOURCE_EXHAUSTED" "$(jqr .code "$out")"
out=$(g raw GetWorkload 0a05616263)
check_eq "truncated protobuf: INVALID_ARGUMENT" "INVALID_ARGUMENT" "$(jqr .code "$out")"
out=$(g raw GetWorkload ffffffffffffffffffff01)
check_eq "garbage protobuf: INVALID_ARGUMENT" "INVALID_ARGUMENT" "$(jqr .code "$out")"
out=$(g raw GetWorkload 0a03ff0061)
check_eq "invalid UTF-8 string: INVALID_ARGUMENT" "INVALID_ARGUMENT" "$(jqr .code "$out")"
out=$(g raw Nope 00)
check_eq "unknown method: UNIMPLEMENTED" "UNIMPLEMENTED" "$(jqr .code "$out")"
check "berthd survived all of it" kill -0 "${D_PID[a]}"

# ---- caller identity (SO_PEERCRED) ----
check "the gRPC caller is named from SO_PEERCRED" grep -q "created through gRPC by uid=0" "${D_LOG[a]}"

# ---- GOAWAY on shutdown: a following stream ends with UNAVAILABLE, not a hang ----
g --timeout 60 stream StreamEvents '{"follow":true}' >"$IT_TMP/goaway.out" 2>&1 &
spid=$!
sleep 1
check "berthd stops with a stream open" daemon_stop a TERM
wait "$spid"
check_eq "the open stream ended UNAVAILABLE on shutdown" "UNAVAILABLE" "$(jq -r .code "$IT_TMP/goaway.out")"
check "grpc.sock removed on shutdown" test ! -e "$GSOCK"

finish
