#!/usr/bin/env bash
# bench-api.sh [DURATION_S] [BUILD_DIR]: API request rate and tail latency on a
# node with 100 workloads, over TCP loopback with mutual TLS (the only way
# berthd serves TCP). Neither h2load nor wrk can present a client
# certificate, so each talks plain TCP to a local stunnel client that holds
# the control-plane certificate and speaks mTLS to berthd; both paths pay the
# same relay. Figures:
#   gRPC  unary berth.v1.Workloads/GetWorkload, h2load (nghttp2-client)
#   HTTP  GET /v1/workloads/{name}, wrk --latency
#   and, as a reference without TLS or relay, gRPC on grpc.sock (h2load -B unix:)
# Prints req/s and p99 of each and the ratio gRPC/HTTP. Targets (issue 6):
# >= 20,000 req/s and p99 <= 2 ms each; gRPC within 20% of HTTP.
# Not part of the test suite. Needs root; berthd runs in a network namespace of
# its own with a temp root; everything is removed on exit.
# BENCH_RUNS=N repeats the rounds (the machine is shared: report the spread);
# BENCH_PERF=FILE profiles berthd (perf, cpu-clock) and BENCH_STRACE=FILE counts
# its system calls during the HTTP run; BENCH_DEBUG=1 prints wrk's distribution.
set -euo pipefail

DUR=${1:-10}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=$(cd "${2:-$repo/build}" && pwd)
CONC=${BENCH_CONCURRENCY:-16} # requests in flight, both tools
py=/usr/bin/python3

[[ $(id -u) -eq 0 ]] || { echo "bench-api.sh: needs root" >&2; exit 1; }
for t in "$build/berthd" "$build/berth-shim" curl nsenter ip h2load wrk stunnel4 jq; do
        command -v "$t" >/dev/null || { echo "bench-api.sh: $t missing (deploy/install-deps.sh)" >&2; exit 1; }
done

id=$$
tmp=$(mktemp -d "/tmp/berth-bench-api-$id.XXXXXX")
ns=berth-bench-api-$id
cg=berth-bench-api-$id
bpid=
spid=
cleanup() {
        set +e
        if [[ -n $bpid ]] && kill -0 "$bpid" 2>/dev/null; then
                local dels=()
                for n in $(curl -s --max-time 5 --unix-socket "$tmp/run/berthd.sock" http://localhost/v1/workloads |
                        jq -r '.items[].metadata.name'); do
                        curl -s --max-time 20 -o /dev/null -X DELETE --unix-socket "$tmp/run/berthd.sock" \
                                "http://localhost/v1/workloads/$n?force=1" &
                        dels+=($!)
                done
                # only the deletes: a bare wait would also wait for berthd and stunnel
                [[ ${#dels[@]} -eq 0 ]] || wait "${dels[@]}"
                # $bpid is the backgrounded shell function; berthd itself is its child
                # (nsenter), which a kill of the shell would leave running.
                daemon_pid() { pgrep -f "^$1 " | head -n 1; }
                bd=$(daemon_pid "$build/berthd --config $tmp/berthd.yaml")
                [[ -n $bd ]] && kill "$bd" 2>/dev/null
                for _ in $(seq 100); do
                        if [[ -z $bd ]] || ! kill -0 "$bd" 2>/dev/null; then break; fi
                        sleep 0.1
                done
                kill "$bpid" 2>/dev/null
                wait "$bpid" 2>/dev/null
        fi
        # whatever still runs in our cgroups (workloads the deletes missed)
        # shellcheck disable=SC2038 # pids, not file names, go through xargs
        find /sys/fs/cgroup -mindepth 1 -maxdepth 8 -name cgroup.procs -path "*/$cg/*" -exec cat {} + 2>/dev/null |
                xargs -r kill -9 2>/dev/null
        sleep 0.5
        if [[ -n $spid ]]; then
                st=$(pgrep -f "^stunnel4 $tmp/stunnel.conf" | head -n 1)
                [[ -n $st ]] && kill "$st" 2>/dev/null
                kill "$spid" 2>/dev/null
                wait "$spid" 2>/dev/null
        fi
        ip netns del "$ns" 2>/dev/null
        find /sys/fs/cgroup -mindepth 1 -maxdepth 8 -type d \( -path "*/$cg" -o -path "*/$cg/*" \) 2>/dev/null |
                awk '{ print length($0) " " $0 }' | sort -rn | cut -d' ' -f2- | xargs -r rmdir 2>/dev/null
        awk -v p="$tmp" 'index($2, p) == 1 { print $2 }' /proc/self/mounts | sort -r |
                while read -r m; do umount -l "$m" 2>/dev/null; done
        rm -rf --one-file-system "$tmp"
}
trap cleanup EXIT
in_ns() { nsenter --net="/run/netns/$ns" -- "$@"; }

"$repo/deploy/make-busybox-rootfs.sh" "$tmp/rootfs" >/dev/null
BERTH_SOURCE_ROOT=$repo $py "$repo/tests/integration/grpc_client.py" certs "$tmp/certs" >/dev/null
C=$tmp/certs
cat >"$tmp/berthd.yaml" <<YAML
api:
  tcp: "127.0.0.1:9444"
grpc:
  tcp: "127.0.0.1:9443"
tls:
  cert: $C/server.crt
  key: $C/server.key
  ca: $C/ca.crt
  roles:
    controlPlane: "CN=cp,O=berth-test"
limits:
  rate: 0
YAML
ip netns add "$ns"
ip -n "$ns" link set lo up
in_ns "$build/berthd" --config "$tmp/berthd.yaml" --root "$tmp/root" --run-dir "$tmp/run" \
        --cgroup-parent "$cg" --shim "$build/berth-shim" --log-level warning >"$tmp/berthd.log" 2>&1 &
bpid=$!
for _ in $(seq 100); do
        [[ $(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$tmp/run/berthd.sock" http://localhost/readyz) == 200 ]] && break
        sleep 0.1
done

echo "# creating 100 workloads (busybox sleep, network none)"
for i in $(seq -w 1 100); do
        jq -cn --arg r "$tmp/rootfs" --arg n "w$i" \
                '{apiVersion:"berth/v1",kind:"Workload",metadata:{name:$n},spec:{rootfs:$r,command:["/bin/sleep","3600"],network:{mode:"none"}}}' |
                curl -s -o /dev/null -w '%{http_code}\n' --unix-socket "$tmp/run/berthd.sock" \
                        -H 'Content-Type: application/json' --data-binary @- http://localhost/v1/workloads
done | sort | uniq -c | sed 's/^/#   HTTP /'
running=$(curl -s --unix-socket "$tmp/run/berthd.sock" http://localhost/v1/node | jq .workloads.running)
echo "# node: $running workloads running"

cat >"$tmp/stunnel.conf" <<CONF
foreground = yes
pid =
debug = 3
output = $tmp/stunnel.log
[grpc]
client = yes
accept = 127.0.0.1:19443
connect = 127.0.0.1:9443
cert = $C/cp.crt
key = $C/cp.key
CAfile = $C/ca.crt
verifyChain = yes
[http]
client = yes
accept = 127.0.0.1:19444
connect = 127.0.0.1:9444
cert = $C/cp.crt
key = $C/cp.key
CAfile = $C/ca.crt
verifyChain = yes
CONF
in_ns stunnel4 "$tmp/stunnel.conf" &
spid=$!
sleep 0.5

# GetWorkloadRequest{name: "w050"}, gRPC-framed
printf '\x00\x00\x00\x00\x06\x0a\x04w050' >"$tmp/get.bin"
h2args=(-d "$tmp/get.bin" -H 'content-type: application/grpc' -H 'te: trailers')

# correctness first: grpc-status 0 and a 200 with the workload
g=$(in_ns env BERTH_SOURCE_ROOT="$repo" $py "$repo/tests/integration/grpc_client.py" --target 127.0.0.1:9443 \
        --tls "$C/ca.crt,$C/cp.crt,$C/cp.key" call GetWorkload '{"name":"w050"}' | jq -r .response.name)
[[ $g == w050 ]] || { echo "bench-api.sh: GetWorkload over mTLS failed" >&2; exit 1; }
[[ $(in_ns h2load -n 10 -c 1 "${h2args[@]}" http://127.0.0.1:19443/berth.v1.Workloads/GetWorkload 2>&1) == *"10 succeeded"* ]] ||
        { echo "bench-api.sh: h2load through stunnel failed" >&2; exit 1; }
[[ $(in_ns curl -s http://127.0.0.1:19444/v1/workloads/w050 | jq -r .metadata.name) == w050 ]] ||
        { echo "bench-api.sh: GET /v1/workloads/w050 over mTLS failed" >&2; exit 1; }

# h2load prints no percentiles: its --log-file has one line per request
# (start, status, duration in microseconds).
h2_run() { # URL|unix LABEL
        local log=$tmp/h2.log out rps p99 fails
        rm -f "$log"
        if [[ $1 == unix ]]; then
                out=$(in_ns h2load -B "unix:$tmp/run/grpc.sock" -D "$DUR" -c 4 -m $((CONC / 4)) -t 1 --warm-up-time=1 \
                        --log-file="$log" "${h2args[@]}" http://localhost/berth.v1.Workloads/GetWorkload 2>&1)
        else
                out=$(in_ns h2load -D "$DUR" -c 4 -m $((CONC / 4)) -t 1 --warm-up-time=1 --log-file="$log" "${h2args[@]}" \
                        "$1" 2>&1)
        fi
        rps=$(echo "$out" | awk '/^finished in/ { for (i = 1; i <= NF; i++) if ($i == "req/s,") print $(i - 1) }')
        fails=$(echo "$out" | awk '/^requests:/ { print $10 }')
        p99=$(sort -n -k3 "$log" | awk '{ a[NR] = $3 } END { i = int(NR * 0.99); if (i < 1) i = 1; printf "%.3f", a[i] / 1000 }')
        echo "$rps $p99 $fails"
}
wrk_run() {
        local out rps p99 perf_pid=
        # BENCH_PERF=FILE: perf profile of berthd during the HTTP run (perf report -i FILE)
        if [[ -n ${BENCH_PERF:-} ]]; then
                perf record -e cpu-clock -F 4000 -g -o "$BENCH_PERF" \
                        -p "$(pgrep -f "^$build/berthd --config $tmp/berthd.yaml" | head -n 1)" -- sleep "$DUR" >/dev/null 2>&1 &
                perf_pid=$!
        fi
        # BENCH_STRACE=FILE: syscall counts of berthd during the HTTP run (slows it down)
        if [[ -n ${BENCH_STRACE:-} ]]; then
                timeout -s INT "$DUR" strace -c -f -o "$BENCH_STRACE" \
                        -p "$(pgrep -f "^$build/berthd --config $tmp/berthd.yaml" | head -n 1)" &
                perf_pid=$!
        fi
        out=$(in_ns wrk -t 1 -c "$CONC" -d "${DUR}s" --latency http://127.0.0.1:19444/v1/workloads/w050 2>&1)
        [[ -z $perf_pid ]] || wait "$perf_pid" || true
        [[ -n ${BENCH_DEBUG:-} ]] && echo "$out" >&2
        rps=$(echo "$out" | awk '/^Requests\/sec:/ { print $2 }')
        p99=$(echo "$out" | awk '$1 == "99%" { v = $2; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v) } else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 } printf "%.3f", v }')
        echo "$rps $p99 $(echo "$out" | awk '/Non-2xx/ { print $NF }')"
}

echo "# $DUR s per run, $CONC requests in flight, on $(nproc) CPUs shared by berthd, stunnel and the load tool"
# BENCH_RUNS=N: N rounds on the same node (the machine is shared: report the spread); the summary is the last.
for ((round = 1; round <= ${BENCH_RUNS:-1}; round++)); do
read -r g_rps g_p99 g_fail < <(h2_run http://127.0.0.1:19443/berth.v1.Workloads/GetWorkload)
read -r h_rps h_p99 h_fail < <(wrk_run)
read -r u_rps u_p99 u_fail < <(h2_run unix)
[[ ${BENCH_RUNS:-1} -gt 1 ]] && echo "# round $round"
printf '%-44s %10s req/s  p99 %7s ms  (failed: %s)\n' \
        "gRPC GetWorkload, TCP loopback mTLS (h2load)" "$g_rps" "$g_p99" "${g_fail:-0}" \
        "HTTP GET /v1/workloads/{name}, mTLS (wrk)" "$h_rps" "$h_p99" "${h_fail:-0}" \
        "gRPC GetWorkload, grpc.sock (h2load)" "$u_rps" "$u_p99" "${u_fail:-0}"
done
awk -v g="$g_rps" -v h="$h_rps" 'BEGIN { printf "ratio gRPC/HTTP (TCP mTLS): %.2f\n", g / h }'
awk -v g="$g_rps" -v h="$h_rps" -v gp="$g_p99" -v hp="$h_p99" 'BEGIN {
        printf "targets: gRPC >= 20000 req/s %s, p99 <= 2 ms %s; HTTP >= 20000 req/s %s, p99 <= 2 ms %s; gRPC within 20%% of HTTP %s\n",
                (g >= 20000) ? "met" : "NOT met", (gp <= 2) ? "met" : "NOT met", (h >= 20000) ? "met" : "NOT met",
                (hp <= 2) ? "met" : "NOT met", (g >= 0.8 * h) ? "met" : "NOT met" }'
