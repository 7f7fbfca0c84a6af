#!/usr/bin/env bash
# gRPC and HTTP over TCP with mutual TLS (docs/SECURITY.md): no certificate, a
# certificate from the wrong CA, an expired one -> UNAUTHENTICATED; roles
# reader/operator/control-plane -> PERMISSION_DENIED where they may not;
# the per-client rate limit; certificate rotation by SIGHUP while a stream
# stays open. The client is Debian's python3-grpcio, inside berthd's netns.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

PY=/usr/bin/python3
$PY -c 'import grpc, grpc_tools, google.protobuf, cryptography' 2>/dev/null ||
        skip "needs python3-grpcio, python3-grpc-tools, python3-protobuf, python3-cryptography"
CLIENT="$(dirname "$0")/grpc_client.py"
C=$IT_TMP/certs
$PY "$CLIENT" certs "$C" >/dev/null || { not_ok "make test certificates"; finish; }
PORT=9443
HPORT=9444
cat >"$IT_TMP/berthd.yaml" <<YAML
api:
  tcp: "127.0.0.1:$HPORT"
grpc:
  tcp: "127.0.0.1:$PORT"
tls:
  cert: $C/server.crt
  key: $C/server.key
  ca: $C/ca.crt
  roles:
    controlPlane: "CN=cp,O=berth-test"
    operator: "CN=op"
    reader: "CN=rd"
limits:
  rate: 20
  burst: 40
YAML
daemon_start a --config "$IT_TMP/berthd.yaml"
NS=/run/netns/${D_NS[a]}
# gt ROLE ARGS...: the client over TLS with ROLE's certificate ("none": no certificate)
gt() {
        local who=$1 tls
        shift
        if [[ $who == none ]]; then tls="$C/ca.crt,,"; else tls="$C/ca.crt,$C/$who.crt,$C/$who.key"; fi
        timeout 90 nsenter --net="$NS" -- "$PY" "$CLIENT" --target "127.0.0.1:$PORT" --tls "$tls" "$@"
}
jqr() { jq -r "$1" <<<"$2"; }

check "run -d base (unix socket)" run_d base -- /bin/sleep 60

out=$(gt cp call GetWorkload '{"name":"base"}')
check_eq "control-plane: GetWorkload over mTLS" "base" "$(jqr .response.name "$out")"
out=$(gt none call GetWorkload '{"name":"base"}')
check_eq "no client certificate: UNAUTHENTICATED" "UNAUTHENTICATED" "$(jqr .code "$out")"
out=$(gt foreign call GetWorkload '{"name":"base"}')
check_eq "certificate from the wrong CA: UNAUTHENTICATED" "UNAUTHENTICATED" "$(jqr .code "$out")"
check_match "... saying why" "certificate" "$(jqr .details "$out")"
out=$(gt expired call GetWorkload '{"name":"base"}')
check_eq "expired certificate: UNAUTHENTICATED" "UNAUTHENTICATED" "$(jqr .code "$out")"
check_match "... saying it expired" "expired" "$(jqr .details "$out")"
out=$(gt nobody call GetWorkload '{"name":"base"}')
check_eq "valid certificate without a role: PERMISSION_DENIED" "PERMISSION_DENIED" "$(jqr .code "$out")"

# reader: get, list, logs, events only
out=$(gt rd call GetWorkload '{"name":"base"}')
check_eq "reader: GetWorkload" "OK" "$(jqr .code "$out")"
out=$(gt rd call ListWorkloads '{}')
check_eq "reader: ListWorkloads" "OK" "$(jqr .code "$out")"
out=$(gt rd stream StreamEvents '{}')
check_eq "reader: StreamEvents" "OK" "$(jqr .code "$out")"
out=$(gt rd stream StreamLogs '{"name":"base"}')
check_eq "reader: StreamLogs" "OK" "$(jqr .code "$out")"
d=$(doc viard /bin/true)
out=$(gt rd call CreateWorkload "$(jq -cn --arg d "$d" '{document:$d}')")
check_eq "reader: CreateWorkload -> PERMISSION_DENIED" "PERMISSION_DENIED" "$(jqr .code "$out")"
out=$(gt rd call KillWorkload '{"name":"base"}')
check_eq "reader: KillWorkload -> PERMISSION_DENIED" "PERMISSION_DENIED" "$(jqr .code "$out")"
check_eq "reader's kill did nothing" "running" "$(status_of base .status.state)"

# operator: everything but host-level privileges
d=$(doc viaop /bin/true)
out=$(gt op call CreateWorkload "$(jq -cn --arg d "$d" '{document:$d}')")
check_eq "operator: CreateWorkload" "OK" "$(jqr .code "$out")"
hd=$(doc hostnet /bin/true | jq -c '.spec.network = {mode: "host"}')
out=$(gt op call CreateWorkload "$(jq -cn --arg d "$hd" '{document:$d}')")
check_eq "operator: network host -> PERMISSION_DENIED" "PERMISSION_DENIED" "$(jqr .code "$out")"
check_match "... naming the privilege" "network.mode host" "$(jqr .details "$out")"
check_eq "... and nothing was created" "404" "$(api GET /v1/workloads/hostnet)"
out=$(gt cp call CreateWorkload "$(jq -cn --arg d "$hd" '{document:$d}')")
check_eq "control-plane: network host allowed" "OK" "$(jqr .code "$out")"
check_eq "event created over gRPC mTLS names the certificate subject" "cert:CN=op" \
        "$(api_json GET '/v1/events?workload=viaop' | jq -rs '[.[] | select(.type == "created")][0].caller')"
check_eq "... the control-plane one too" "cert:CN=cp,O=berth-test" \
        "$(api_json GET '/v1/events?workload=hostnet' | jq -rs '[.[] | select(.type == "created")][0].caller')"

# per-client rate limit (limits.rate 20/s, burst 40)
out=$(gt rd hammer GetWorkload '{"name":"base"}' 120)
check "rate limit: some of 120 rapid calls refused ($out)" test "$(jqr '.RESOURCE_EXHAUSTED // 0' "$out")" -gt 0
check "rate limit: the burst went through ($out)" test "$(jqr '.OK // 0' "$out")" -ge 40
out=$(gt op call GetWorkload '{"name":"base"}')
check_eq "rate limit is per client: operator unaffected" "OK" "$(jqr .code "$out")"

# ---- HTTP/JSON on api.tcp: the same policy ----
# hc ROLE METHOD PATH [curl args]: prints the status; body in $IT_TMP/hbody
hc() {
        local who=$1 m=$2 p=$3
        shift 3
        local certargs=()
        [[ $who != none ]] && certargs=(--cert "$C/$who.crt" --key "$C/$who.key")
        nsenter --net="$NS" -- timeout 30 curl -s -o "$IT_TMP/hbody" -w '%{http_code}' -X "$m" \
                --cacert "$C/ca.crt" "${certargs[@]}" "https://127.0.0.1:$HPORT$p" "$@"
}
check_eq "HTTP: /healthz open without a certificate" "200" "$(hc none GET /healthz)"
check_eq "HTTP: no certificate -> 401" "401" "$(hc none GET /v1/workloads)"
check_eq "HTTP: 401 body code Unauthenticated" "Unauthenticated" "$(jq -r .code "$IT_TMP/hbody")"
check_eq "HTTP: /readyz needs credentials too" "401" "$(hc none GET /readyz)"
check_eq "HTTP: wrong CA -> 401" "401" "$(hc foreign GET /v1/workloads)"
check_eq "HTTP: expired certificate -> 401" "401" "$(hc expired GET /v1/workloads)"
check_match "HTTP: ... saying it expired" "expired" "$(jq -r .message "$IT_TMP/hbody")"
check_eq "HTTP: unmapped certificate -> 403" "403" "$(hc nobody GET /v1/workloads)"
check_eq "HTTP: reader GET workload" "200" "$(hc rd GET /v1/workloads/base)"
check_eq "HTTP: reader GET metrics" "200" "$(hc rd GET /metrics)"
check_eq "HTTP: reader POST kill -> 403" "403" "$(hc rd POST /v1/workloads/base/kill)"
check_eq "HTTP: 403 body code PermissionDenied" "PermissionDenied" "$(jq -r .code "$IT_TMP/hbody")"
hd2=$(doc hostnet2 /bin/true | jq -c '.spec.network = {mode: "host"}')
check_eq "HTTP: operator network host -> 403" "403" "$(hc op POST /v1/workloads -H 'Content-Type: application/json' --data-binary "$hd2")"
check_eq "HTTP: operator create -> 201" "201" "$(hc op POST /v1/workloads -H 'Content-Type: application/json' --data-binary "$(doc viahttp /bin/true)")"
check_eq "HTTP mTLS: event created names the certificate subject" "cert:CN=op" \
        "$(api_json GET '/v1/events?workload=viahttp' | jq -rs '[.[] | select(.type == "created")][0].caller')"
check_eq "HTTP: image routes need a certificate too" "401" "$(hc none GET /v1/images)"
check_eq "HTTP: control-plane network host -> 201" "201" "$(hc cp POST /v1/workloads -H 'Content-Type: application/json' --data-binary "$hd2")"
urls=()
for _ in $(seq 100); do urls+=(-o /dev/null "https://127.0.0.1:$HPORT/v1/workloads/base"); done
codes=$(nsenter --net="$NS" -- timeout 60 curl -s -w '%{http_code}\n' --cacert "$C/ca.crt" \
        --cert "$C/rd.crt" --key "$C/rd.key" "${urls[@]}" | sort | uniq -c | tr -s ' \n' ' ')
check_match "HTTP: the rate limit answers 429 past the burst ($codes)" "429" "$codes"

# rotation: a new server certificate by SIGHUP; open streams (gRPC and HTTP) carry on
sleep 2.5 # refill the reader's bucket
nsenter --net="$NS" -- timeout 60 curl -sN --cacert "$C/ca.crt" --cert "$C/cp.crt" --key "$C/cp.key" \
        "https://127.0.0.1:$HPORT/v1/events?follow=1&since=$(api_json GET /v1/events | jq -s '.[-1].id')" \
        >"$IT_TMP/https-follow.out" 2>&1 &
hpid=$!
sleep 0.5
rot="cp $C/server2.crt $C/server.crt && cp $C/server2.key $C/server.key && kill -HUP ${D_PID[a]} && sleep 0.5"
out=$(gt cp --timeout 60 rotate "$IT_ROOTFS" afterrot "$rot")
check_eq "rotation command ran" "0" "$(jqr .cmd_rc "$out")"
check_eq "the connection open across the rotation still works" "OK" "$(jqr .same_connection "$out")"
check_match "the open event stream saw the workload made after the rotation" "exited:afterrot" \
        "$(jqr '.events | join(" ")' "$out")"
check "berthd logged the reload" grep -q "reloaded the TLS certificate" "${D_LOG[a]}"
out=$(gt cp call GetWorkload '{"name":"afterrot"}')
check_eq "a new connection after the rotation" "OK" "$(jqr .code "$out")"
srv_serial=$(nsenter --net="$NS" -- timeout 10 openssl s_client -connect "127.0.0.1:$PORT" -alpn h2 \
        -cert "$C/cp.crt" -key "$C/cp.key" -CAfile "$C/ca.crt" </dev/null 2>/dev/null |
        openssl x509 -noout -serial 2>/dev/null)
check_eq "new connections get the new certificate" "$(openssl x509 -noout -serial -in "$C/server2.crt")" "$srv_serial"
check "HTTP: the HTTPS event stream open across the rotation saw afterrot" \
        wait_for 10 grep -q '"afterrot"' "$IT_TMP/https-follow.out"
check "HTTP: ... and is still open" kill -0 "$hpid"
kill "$hpid" 2>/dev/null
wait "$hpid" 2>/dev/null
hsrv=$(nsenter --net="$NS" -- timeout 10 openssl s_client -connect "127.0.0.1:$HPORT" \
        -cert "$C/cp.crt" -key "$C/cp.key" -CAfile "$C/ca.crt" </dev/null 2>/dev/null |
        openssl x509 -noout -serial 2>/dev/null)
check_eq "HTTP: new connections get the new certificate" "$(openssl x509 -noout -serial -in "$C/server2.crt")" "$hsrv"
check_eq "HTTP: a request on a new connection after the rotation" "200" "$(hc cp GET /v1/workloads/afterrot)"

finish
