#!/usr/bin/env python3
"""Start-to-exit latency of /bin/true: berthd's API vs runc and crun.

Usage:
  bench_start.py berth SOCKET SOURCE N [NETWORK]  POST /v1/workloads then GET .../wait
                                           (SOURCE: a rootfs directory, or image:REF for
                                           spec.image; NETWORK: none|host|bridge; default:
                                           berthd's)
  bench_start.py oci RUNTIME STATE BUNDLE N run RUNTIME --root STATE run -b BUNDLE
Prints one duration in milliseconds per line (the caller summarises).
Only the standard library; no third-party modules."""
import http.client
import json
import os
import socket
import subprocess
import sys
import time


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=60):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


def request(sock, method, path, body=None):
    c = UnixHTTPConnection(sock)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    c.request(method, path, body=body, headers=headers)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


def bench_berth(sock, source, n, network=None):
    prefix = "bench-%d-%d" % (int(time.time()), os.getpid())
    for i in range(n + 1):  # run 0 warms up and is not counted
        name = "%s-%d" % (prefix, i)
        if source.startswith("image:"):
            spec = {"image": source[len("image:"):], "command": ["/bin/true"]}
        else:
            spec = {"rootfs": source, "command": ["/bin/true"]}
        if network:
            spec["network"] = {"mode": network}
        doc = json.dumps({"apiVersion": "berth/v1", "kind": "Workload",
                          "metadata": {"name": name}, "spec": spec})
        t0 = time.perf_counter()
        st, data = request(sock, "POST", "/v1/workloads", doc)
        if st != 201:
            sys.exit("create %s: HTTP %d %s" % (name, st, data[:300]))
        st, data = request(sock, "GET", "/v1/workloads/%s/wait" % name)
        t1 = time.perf_counter()
        if st != 200 or json.loads(data).get("exitCode") != 0:
            sys.exit("wait %s: HTTP %d %s" % (name, st, data[:300]))
        request(sock, "DELETE", "/v1/workloads/%s?force=1" % name)
        if i:
            print("%.3f" % ((t1 - t0) * 1000), flush=True)


def bench_oci(runtime, state, bundle, n):
    for i in range(n + 1):
        cid = "berth-bench-%d-%d-%d" % (int(time.time()), os.getpid(), i)
        t0 = time.perf_counter()
        r = subprocess.run([runtime, "--root", state, "run", "-b", bundle, cid],
                           stdin=subprocess.DEVNULL, capture_output=True)
        t1 = time.perf_counter()
        if r.returncode != 0:
            subprocess.run([runtime, "--root", state, "delete", "-f", cid], capture_output=True)
            sys.exit("%s run: exit %d: %s" % (runtime, r.returncode, r.stderr.decode()[:500]))
        if i:
            print("%.3f" % ((t1 - t0) * 1000), flush=True)


if __name__ == "__main__":
    if len(sys.argv) in (5, 6) and sys.argv[1] == "berth":
        bench_berth(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5] if len(sys.argv) == 6 else None)
    elif len(sys.argv) == 6 and sys.argv[1] == "oci":
        bench_oci(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
    else:
        sys.exit(__doc__)
