#!/usr/bin/env bash
# gRPC on <run-dir>/grpc.sock driven by a real client (Debian's python3-grpcio,
# stubs generated from proto/berth/v1): create, stream the logs, watch the
# events, wait, delete, and HTTP sees the same state. Deadlines, oversize and
# malformed messages, status codes, health, GOAWAY on shutdown. UpdateWorkload
# (accepted, and refused by the scheduler's admission), bidirectional Exec,
# the Images service, and the caller (SO_PEERCRED uid) recorded in events for
# unix-socket calls over both gRPC and HTTP.
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
# the caller: gRPC over grpc.sock is named by SO_PEERCRED in the event records
check_match "StreamEvents: created carries the caller uid (gRPC, SO_PEERCRED)" "^uid=0 gid=0 pid=[0-9]+$" \
        "$(jqr '[.events[] | select(.type == "created")][0].caller' "$seq")"
check_eq "StreamEvents: exited (raised by the daemon) has no caller" "" \
        "$(jqr '[.events[] | select(.type == "exited")][0].caller' "$seq")"
check_match "HTTP /v1/events: the same caller on created" "^uid=0 gid=0 pid=[0-9]+$" \
        "$(api_json GET '/v1/events?workload=viagrpc' | jq -rs '[.[] | select(.type == "created")][0].caller')"
check_eq "HTTP /v1/events: exited has caller null" "null" \
        "$(api_json GET '/v1/events?workload=viagrpc' | jq -rs '[.[] | select(.type == "exited")][0].caller')"
out=$(g call DeleteWorkload '{"name":"viagrpc"}')
check_eq "DeleteWorkload" "viagrpc" "$(jqr .response.name "$out")"
check_eq "HTTP: gone after the gRPC delete" "404" "$(api GET /v1/workloads/viagrpc)"
check_match "removed (completed later) names the gRPC caller" "^uid=0 gid=0 pid=[0-9]+$" \
        "$(api_json GET '/v1/events?workload=viagrpc' | jq -rs '[.[] | select(.type == "removed")][0].caller')"

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
check "run -d dup" run_d dup -- /bin/sleep 300
# HTTP over berthd.sock (berthctl) names the caller too, in the state DB and in berthctl events
check_match "HTTP create: event created carries the caller uid" "^uid=0 gid=0 pid=[0-9]+$" \
        "$(api_json GET '/v1/events?workload=dup' | jq -rs '[.[] | select(.type == "created")][0].caller')"
check_match "state DB: events.caller column holds it" "^uid=0 gid=0 pid=[0-9]+$" \
        "$($PY -c 'import sqlite3, sys; db = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
print(db.execute("SELECT caller FROM events WHERE type = ? AND workload = ?", ("created", "dup")).fetchone()[0])' \
                "${D_ROOT[a]}/state.db")"
check_match "berthctl events shows it" "created +dup +- +\(by uid=0 gid=0 pid=[0-9]+\)" "$(ctl events --workload dup)"
dupdoc=$(doc dup /bin/true)
out=$(g call CreateWorkload "$(jq -cn --arg d "$dupdoc" '{document:$d}')")
check_eq "CreateWorkload(name in use): ALREADY_EXISTS" "ALREADY_EXISTS" "$(jqr .code "$out")"
out=$(g call DeleteWorkload '{"name":"dup"}')
check_eq "DeleteWorkload(running, no force): FAILED_PRECONDITION" "FAILED_PRECONDITION" "$(jqr .code "$out")"
out=$(g call StartWorkload '{"name":"dup"}')
check_eq "StartWorkload(running): FAILED_PRECONDITION" "FAILED_PRECONDITION" "$(jqr .code "$out")"
out=$(g call KillWorkload '{"name":"dup","signal":"NOPE"}')
check_eq "KillWorkload(bad signal): INVALID_ARGUMENT" "INVALID_ARGUMENT" "$(jqr .code "$out")"

# ---- UpdateWorkload: the core of PATCH /v1/workloads/{name}, admission included ----
upd() { jq -cn --arg n "$1" --arg p "$2" '{name: $n, patch: $p}'; }
out=$(g call UpdateWorkload "$(upd dup '{"resources":{"memory":"96Mi"}}')")
check_eq "UpdateWorkload (memory 96Mi): OK" "OK" "$(jqr .code "$out")"
check_eq "... the answer carries the new spec" "96Mi" "$(jqr .response.spec_json "$out" | jq -r .resources.memory)"
check_eq "... HTTP sees it" "96Mi" "$(status_of dup .spec.resources.memory)"
check_match "... event updated (applied live) names the caller" "resources applied live.*uid=0 gid=0" \
        "$(api_json GET '/v1/events?workload=dup' | jq -rs '[.[] | select(.type == "updated")][-1] | .message + " " + .caller')"
out=$(g call UpdateWorkload "$(upd dup '{"resources":{"memory":"1000Gi"}}')")
check_eq "UpdateWorkload beyond the node: RESOURCE_EXHAUSTED (admission)" "RESOURCE_EXHAUSTED" "$(jqr .code "$out")"
check_match "... the reason names the resource" "insufficient memory: requested 1000Gi" "$(jqr .details "$out")"
check_eq "... nothing changed" "96Mi" "$(status_of dup .spec.resources.memory)"
out=$(g call UpdateWorkload "$(upd dup '{"resources":{"memory":"12Xi"}}')")
check_eq "UpdateWorkload with a bad size: INVALID_ARGUMENT" "INVALID_ARGUMENT" "$(jqr .code "$out")"
check_match "... naming spec.resources.memory" "spec.resources.memory" "$(jqr .details "$out")"
out=$(g call UpdateWorkload "$(upd dup '{"command":["/bin/true"]}')")
check_eq "UpdateWorkload of something else than resources: INVALID_ARGUMENT" "INVALID_ARGUMENT" "$(jqr .code "$out")"
out=$(g call UpdateWorkload "$(upd nosuch '{"resources":{}}')")
check_eq "UpdateWorkload(absent): NOT_FOUND" "NOT_FOUND" "$(jqr .code "$out")"

# ---- Exec: bidirectional streaming over the same core as POST .../exec ----
out=$(g exec dup --stdin $'hello\ngrpc\n' -- /bin/cat)
check_eq "Exec: stdin in (several messages), stdout out" $'hello\ngrpc' "$(jqr .stdout "$out")"
check_eq "Exec: exit code 0, call OK" "0 OK" "$(jqr '"\(.exit_code) \(.code)"' "$out")"
out=$(g exec dup -- /bin/sh -c 'echo out; echo err >&2; exit 7')
check_eq "Exec: stdout" "out" "$(jqr .stdout "$out")"
check_eq "Exec: stderr apart" "err" "$(jqr .stderr "$out")"
check_eq "Exec: non-zero exit code" "7" "$(jqr .exit_code "$out")"
out=$(g exec dup -- /bin/sh -c 'kill -9 $$')
check_eq "Exec: killed by SIGKILL -> 137" "137" "$(jqr .exit_code "$out")"
out=$(g exec dup -- /nonexistent)
check_eq "Exec: command not found -> 127" "127" "$(jqr .exit_code "$out")"
out=$(g exec dup --tty --rows 33 --cols 101 -- /bin/sh -c 'sleep 0.3; stty size; test -t 0 && echo tty')
check_match "Exec with a tty: the size set by the first message" "33 101" "$(jqr .stdout "$out")"
check_match "Exec with a tty: stdin is a terminal" "tty" "$(jqr .stdout "$out")"
out=$(g --timeout 2 exec dup --hold 10 -- /bin/sleep 6123)
check_eq "Exec: a deadline ends the call" "DEADLINE_EXCEEDED" "$(jqr .code "$out")"
check "... and berthd keeps serving" test "$(api GET /v1/workloads/dup)" = 200
# Not checked: that the command dies with the call. berthd SIGKILLs the exec
# helper (ApiExecIo.pidfd), as HTTP does, but the container driver's helper
# does not pass that on to the command it forked (drivers/container/container-exec.c).
out=$(g exec nosuch -- /bin/true)
check_eq "Exec in an absent workload: NOT_FOUND" "NOT_FOUND" "$(jqr .code "$out")"
out=$(g exec dup)
check_eq "Exec without a command: INVALID_ARGUMENT" "INVALID_ARGUMENT" "$(jqr .code "$out")"
check_match "... naming the field like HTTP" "command" "$(jqr .details "$out")"
check_match "event exec names the gRPC caller" "^/bin/sh uid=0 gid=0 pid=[0-9]+$" \
        "$(api_json GET '/v1/events?workload=dup' | jq -rs '[.[] | select(.type == "exec" and .message == "/bin/sh")][0] | .message + " " + .caller')"

# ---- Images: the same core as /v1/images* ----
out=$(g call ListImages '{}')
check_eq "ListImages: OK" "OK" "$(jqr .code "$out")"
out=$(g call SystemDf '{}')
check_eq "SystemDf: OK" "OK" "$(jqr .code "$out")"
out=$(g stream ImportImage '{"path":"relative/dir"}')
check_eq "ImportImage(relative path): INVALID_ARGUMENT" "INVALID_ARGUMENT" "$(jqr .code "$out")"
check_match "... naming the field like HTTP" "path: must be an absolute path" "$(jqr .details "$out")"
check_eq "HTTP: the same path is a 400" "400" "$(api POST '/v1/images/import?path=relative/dir')"
out=$(g call InspectImage '{"ref":"no/such:image"}')
check_eq "InspectImage(absent): NOT_FOUND" "NOT_FOUND" "$(jqr .code "$out")"
if command -v umoci >/dev/null && command -v skopeo >/dev/null; then
        # shellcheck source=image-lib.sh
        source "$(dirname "$0")/image-lib.sh"
        make_oci_image "$IT_TMP/oci" v1 >/dev/null 2>&1
        out=$(g stream ImportImage "$(jq -cn --arg p "$IT_TMP/oci" '{path: $p, name: "grpc/busybox:v1"}')")
        check_eq "ImportImage (OCI layout): OK" "OK" "$(jqr .code "$out")"
        check_match "... streamed progress then done" "importing.*done" "$(jqr '[.messages[].status] | join(" ")' "$out")"
        check_eq "... done names the image" "grpc/busybox:v1" "$(jqr '.messages[-1].images[0]' "$out")"
        out=$(g call ListImages '{}')
        check_eq "ListImages lists it" "true" "$(jqr '[.response.items[].name] | index("grpc/busybox:v1") != null' "$out")"
        out=$(g call InspectImage '{"ref":"grpc/busybox:v1"}')
        check_eq "InspectImage: the image config travels" "/srv" "$(jqr .response.image_config_json "$out" | jq -r .WorkingDir)"
        digest=$(jqr .response.digest "$out")
        check_eq "HTTP inspect: the same digest" "$digest" "$(api_json GET "/v1/images/$digest" | jq -r .digest)"
        out=$(g call SystemDf '{}')
        check "SystemDf counts the image and its committed snapshot" \
                test "$(jqr '.response.images' "$out")" -ge 1 -a "$(jqr '.response.snapshots_committed' "$out")" -ge 1
        out=$(g call RemoveImage '{"ref":"grpc/busybox:v1"}')
        check_eq "RemoveImage" "grpc/busybox:v1 $digest" "$(jqr '.response.removed + " " + .response.digest' "$out")"
        check_match "event image-removed names the gRPC caller" "^uid=0 gid=0 pid=[0-9]+$" \
                "$(api_json GET /v1/events | jq -rs '[.[] | select(.type == "image-removed")][-1].caller')"
        check_eq "HTTP: gone" "404" "$(api GET "/v1/images/$digest")"
else
        diag "umoci/skopeo missing: the import/inspect/remove round trip over gRPC is not run"
fi
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
