#!/usr/bin/env bash
# bench-scheduler.sh [BUILD_DIR] [N]: the scheduler's admission decision on one
# core (bench-scheduler: 128-CPU 2-socket SMT-2 fixture, 1,000 running
# workloads), then the round trip of one POST /v1/workloads?dryRun=1 to a real
# berthd whose ledger reads the same fixture (keep-alive HTTP over the unix
# socket, N requests, default 2000). Prints p50/p99 of both and the ratio: the
# decision is a sliver of the round trip. Not part of the suite. Needs root.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$repo/build}" && pwd)
N=${2:-2000}
[[ $(id -u) -eq 0 ]] || { echo "bench-scheduler.sh: needs root" >&2; exit 1; }
for t in "$build/berthd" "$build/berth-shim" "$build/tests/bench/bench-scheduler" python3 nsenter ip; do
        command -v "$t" >/dev/null || { echo "bench-scheduler.sh: $t missing" >&2; exit 1; }
done

echo "== decision core (one core, in process)"
core=$("$build/tests/bench/bench-scheduler" "$repo/tests/fixtures/topology")
echo "$core"
p50=$(sed -n 's/.*SCHED_P50_US=\([0-9.]*\).*/\1/p' <<<"$core")
p99=$(sed -n 's/.*SCHED_P99_US=\([0-9.]*\).*/\1/p' <<<"$core")

id=$$
tmp=$(mktemp -d "/tmp/berth-bench-sched-$id.XXXXXX")
ns=berth-bench-sched-$id
cg=berth-bench-sched-$id
bpid=
cleanup() {
        set +e
        [[ -n $bpid ]] && { kill "$bpid" 2>/dev/null; wait "$bpid" 2>/dev/null; }
        ip netns del "$ns" 2>/dev/null
        find /sys/fs/cgroup -mindepth 1 -maxdepth 8 -type d \( -path "*/$cg" -o -path "*/$cg/*" \) 2>/dev/null |
                awk '{ print length($0) " " $0 }' | sort -rn | cut -d' ' -f2- | xargs -r rmdir 2>/dev/null
        rm -rf --one-file-system "$tmp"
}
trap cleanup EXIT

printf 'scheduler:\n  topologyRoot: %s\n' "$repo/tests/fixtures/topology/host-128cpu-2socket-smt2" >"$tmp/berthd.yaml"
mkdir -p "$tmp/rootfs"
ip netns add "$ns"
ip -n "$ns" link set lo up
nsenter --net="/run/netns/$ns" -- "$build/berthd" --config "$tmp/berthd.yaml" --root "$tmp/root" \
        --run-dir "$tmp/run" --cgroup-parent "$cg" --shim "$build/berth-shim" >"$tmp/berthd.log" 2>&1 &
bpid=$!
for _ in $(seq 100); do
        [[ $(curl -s --unix-socket "$tmp/run/berthd.sock" http://localhost/readyz 2>/dev/null) == ok ]] && break
        sleep 0.1
done

echo "== POST /v1/workloads?dryRun=1 round trip (keep-alive, $N requests)"
python3 - "$tmp/run/berthd.sock" "$N" "$tmp/rootfs" "$p50" "$p99" <<'PY'
import http.client, json, socket, sys, time
path, n, rootfs, p50c, p99c = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4]), float(sys.argv[5])
class C(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); self.sock.connect(path)
doc = json.dumps({"apiVersion": "berth/v1", "kind": "Workload", "metadata": {"name": "probe"},
                  "spec": {"rootfs": rootfs, "command": ["/bin/true"], "priority": 5,
                           "resources": {"cpu": "2", "memory": "4Gi"}}})
c = C("localhost"); lat = []
for i in range(n + 50):
    t = time.perf_counter()
    c.request("POST", "/v1/workloads?dryRun=1", body=doc, headers={"Content-Type": "application/json"})
    r = c.getresponse(); body = r.read()
    if i >= 50: lat.append((time.perf_counter() - t) * 1e6)
    if r.status != 200: sys.exit("dryRun answered %d: %s" % (r.status, body))
lat.sort()
p50, p99 = lat[len(lat) // 2], lat[min(len(lat) - 1, int(len(lat) * 0.99))]
print("round trip: p50 %.1f us, p99 %.1f us (%s)" % (p50, p99, json.loads(body)["placement"]["cpuset"] and "admitted, exclusive set chosen"))
print("decision share of the round trip: p50 %.2f%% (%.0fx), p99 %.2f%% (%.0fx)" % (
    100 * p50c / p50, p50 / max(p50c, 0.001), 100 * p99c / p99, p99 / max(p99c, 0.001)))
PY
