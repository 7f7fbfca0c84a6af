#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""berthctl's I/O edge against a scripted API server on a unix socket.

The server answers like docs/API.md says berthd does (status codes, error
bodies, chunked streams cut in the middle of records); the test checks what
berthctl prints and its exit codes. The end-to-end tests against a real
berthd live in tests/integration. Usage: test-client.py PATH/TO/berthctl
"""
import http.server
import json
import os
import socketserver
import subprocess
import sys
import tempfile
import threading
import time

BERTHCTL = sys.argv[1]
REQUESTS = []

WORKLOAD = {
    "apiVersion": "berth/v1", "kind": "Workload",
    "metadata": {"name": "web", "labels": {"app": "web"}},
    "spec": {"isolation": "container", "rootfs": "/srv/rootfs", "command": ["/bin/sh"],
             "workingDir": "/", "restartPolicy": "Never", "network": {"mode": "none"}},
    "status": {"state": "running", "exitCode": None, "signal": None, "oomKilled": False, "pid": 4242,
               "createdAt": "2026-11-24T06:40:12.000001Z", "startedAt": "2026-11-24T06:40:12.003000Z",
               "finishedAt": None, "restartCount": 0, "reason": None, "message": None},
}

RAW_LOG = (b"2026-11-24T06:40:12.000001Z stdout F hello\n"
           b"2026-11-24T06:40:12.000002Z stderr F warn: low\n"
           b"2026-11-24T06:40:12.000003Z stdout P no-newline-\n"
           b"2026-11-24T06:40:12.000004Z stdout F continued\n")

EVENTS = (b'{"id":1,"time":"2026-11-24T06:40:12.000001Z","type":"created","workload":"web","message":null,'
          b'"caller":"uid=0 gid=0 pid=42"}\n'
          b'{"id":2,"time":"2026-11-24T06:40:12.000002Z","type":"exited","workload":"web","message":"exit code 3"}\n'
          b'{"id":3,"time":"2026-11-24T06:40:13.000000Z","type":"daemon-stopping","workload":null,"message":null}\n')


def error(code, message, field=None):
    status = {"InvalidArgument": 400, "NotFound": 404, "AlreadyExists": 409, "FailedPrecondition": 409}[code]
    return status, {"code": code, "message": message, "field": field}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def address_string(self):
        return "unix"

    def send_json(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def send_chunked(self, pieces, ctype):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for p in pieces:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(p), p))
            self.wfile.flush()
            time.sleep(0.02)
        self.wfile.write(b"0\r\n\r\n")

    def handle_any(self, method):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        REQUESTS.append((method, self.path, body))
        path, _, query = self.path.partition("?")
        parts = path.strip("/").split("/")
        if method == "POST" and path == "/v1/workloads":
            doc = json.loads(body)
            name = doc["metadata"]["name"]
            if name == "dup":
                return self.send_json(*error("AlreadyExists", 'workload "dup" already exists', "metadata.name"))
            if name == "bad":
                return self.send_json(*error("InvalidArgument", '"12Xi" is not a size', "spec.resources.memory"))
            w = json.loads(json.dumps(WORKLOAD))
            w["metadata"]["name"] = name
            return self.send_json(201, w)
        if method == "GET" and path == "/v1/workloads":
            w2 = json.loads(json.dumps(WORKLOAD))
            w2["metadata"]["name"] = "zz-job"
            w2["spec"]["isolation"] = "vm"
            w2["status"].update(state="exited", exitCode=137, signal="SIGKILL", pid=None)
            return self.send_json(200, {"items": [WORKLOAD, w2]})
        if method == "GET" and path == "/v1/node":
            return self.send_json(200, {"name": "host1", "version": "0.1.0", "kernel": "6.1.0", "cgroupVersion": 2,
                                        "cpus": 2, "memory": {"totalBytes": 25769803776, "availableBytes": 1073741824},
                                        "startedAt": "2026-11-24T06:40:12.000001Z",
                                        "workloads": {"total": 2, "created": 0, "running": 1, "paused": 0,
                                                      "exited": 1, "unknown": 0}})
        if method == "GET" and path == "/v1/events":
            # Cut inside a line on purpose.
            return self.send_chunked([EVENTS[:50], EVENTS[50:130], EVENTS[130:]], "application/x-ndjson")
        if len(parts) >= 3 and parts[:2] == ["v1", "workloads"]:
            name = parts[2]
            if name == "missing":
                return self.send_json(*error("NotFound", 'no workload "missing"'))
            sub = parts[3] if len(parts) > 3 else ""
            if method == "GET" and sub == "":
                return self.send_json(200, WORKLOAD)
            if method == "GET" and sub == "logs":
                if "format=raw" not in query:
                    return self.send_json(*error("InvalidArgument", "expected format=raw", "format"))
                # Chunks that cut records in the middle, including inside the prefix.
                cuts = [0, 7, 30, 41, 60, 95, 120, len(RAW_LOG)]
                return self.send_chunked([RAW_LOG[a:b] for a, b in zip(cuts, cuts[1:])], "text/plain")
            if method == "GET" and sub == "wait":
                code = 3 if name != "ok" else 0
                return self.send_json(200, {"name": name, "state": "exited", "exitCode": code, "signal": None,
                                            "oomKilled": False, "reason": "Error"})
            if method == "POST" and sub in ("stop", "kill", "start"):
                if sub == "start" and name == "web":
                    return self.send_json(*error("FailedPrecondition", 'workload "web" is running'))
                return self.send_json(202 if sub != "start" else 200, WORKLOAD)
            if method == "DELETE" and sub == "":
                if name == "web" and "force=1" not in query:
                    return self.send_json(*error("FailedPrecondition", 'workload "web" is running; use force'))
                return self.send_json(200, {"name": name})
        self.send_json(404, {"code": "NotFound", "message": "unknown route", "field": None})

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def do_DELETE(self):
        self.handle_any("DELETE")


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


failed = 0
count = 0


def check(cond, what, detail=""):
    global failed, count
    count += 1
    if cond:
        print(f"ok {count} - {what}")
    else:
        failed += 1
        print(f"not ok {count} - {what}")
        for line in str(detail).splitlines():
            print(f"#   {line}")


def ctl(sock, *args, stdin=None, env=None):
    p = subprocess.run([BERTHCTL, "--socket", sock, *args], input=stdin, capture_output=True, timeout=30, env=env)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def main():
    tmp = tempfile.mkdtemp(prefix="berth-test-cli-")
    sock = os.path.join(tmp, "berthd.sock")
    srv = Server(sock, Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        run_checks(sock, tmp)
    finally:
        srv.shutdown()
        srv.server_close()
        os.unlink(sock)
        for f in os.listdir(tmp):
            os.unlink(os.path.join(tmp, f))
        os.rmdir(tmp)
    print(f"1..{count}")
    print(f"# {count - failed} passed, {failed} failed")
    return 1 if failed else 0


def run_checks(sock, tmp):
    rc, out, err = ctl(sock, "logs", "web")
    check(rc == 0, "logs: exit 0", err)
    check(out == "hello\nno-newline-continued\n", "logs: stdout records on stdout, partial joined", repr(out))
    check(err == "warn: low\n", "logs: stderr records on stderr", repr(err))

    rc, out, err = ctl(sock, "logs", "--timestamps", "-f", "--tail", "5", "web")
    check(out.startswith("2026-11-24T06:40:12.000001Z hello\n2026-11-24T06:40:12.000003Z no-newline-continued\n"),
          "logs --timestamps: one timestamp per line", repr(out))
    check(REQUESTS[-1][1] == "/v1/workloads/web/logs?format=raw&follow=1&tail=5", "logs: query", REQUESTS[-1][1])

    rc, out, err = ctl(sock, "run", "--rootfs", "/srv/rootfs", "--name", "job", "--", "/bin/sh", "-c", "exit 3")
    check(rc == 3, "run: exits with the workload's exit code", f"rc={rc} {err}")
    check(out == "hello\nno-newline-continued\n" and err == "warn: low\n", "run: streams logs", repr((out, err)))
    methods = [(m, p) for m, p, _ in REQUESTS[-3:]]
    check(methods == [("POST", "/v1/workloads"), ("GET", "/v1/workloads/job/logs?follow=1&format=raw"),
                      ("GET", "/v1/workloads/job/wait")], "run: create, follow logs, wait", methods)

    rc, out, err = ctl(sock, "run", "--rm", "--rootfs", "/srv/rootfs", "--name", "ok", "--", "/bin/true")
    check(rc == 0 and REQUESTS[-1][:2] == ("DELETE", "/v1/workloads/ok?force=1"), "run --rm: removes after exit",
          f"rc={rc} {REQUESTS[-1]}")

    rc, out, err = ctl(sock, "run", "-d", "--rootfs", "/srv/rootfs", "--name", "web2", "--", "/bin/true")
    check(rc == 0 and out == "web2\n", "run -d: prints the name", repr((rc, out, err)))

    rc, out, err = ctl(sock, "run", "--rootfs", "/srv/rootfs", "--name", "bad", "--", "/bin/true")
    check(rc == 125, "run: creation refused -> 125", f"rc={rc}")
    check(err == 'berthctl: spec.resources.memory: "12Xi" is not a size\n', "run: error body printed", repr(err))

    rc, out, err = ctl(sock, "run", "-d", "--rootfs", "/srv/rootfs", "--name", "bad", "--", "/bin/true")
    check(rc == 125, "run -d: creation refused -> 125", f"rc={rc}")

    doc = os.path.join(tmp, "w.yaml")
    with open(doc, "w") as f:
        f.write("apiVersion: berth/v1\nkind: Workload\nmetadata:\n  name: fromyaml\nspec:\n"
                "  rootfs: /srv/rootfs\n  command: [/bin/echo, hi]\n  resources:\n    memory: 64Mi\n")
    rc, out, err = ctl(sock, "apply", "-f", doc)
    check(rc == 0 and out == "fromyaml created\n", "apply yaml: created", repr((rc, out, err)))
    sent = json.loads(REQUESTS[-1][2])
    check(sent["spec"]["command"] == ["/bin/echo", "hi"] and sent["metadata"]["name"] == "fromyaml",
          "apply: YAML sent as JSON", sent)

    n = len(REQUESTS)
    rc, out, err = ctl(sock, "apply", "-f", "-",
                       stdin=b'{"apiVersion":"berth/v1","kind":"Workload","metadata":{"name":"x"},'
                             b'"spec":{"rootfs":"/r","command":["/bin/true"],"resources":{"memory":"12Xi"}}}')
    check(rc == 1 and err.startswith("berthctl: spec.resources.memory: ") and len(REQUESTS) == n,
          "apply: local validation names the field, nothing sent", repr((rc, err)))

    rc, out, err = ctl(sock, "apply", "-f", "-",
                       stdin=b"apiVersion: berth/v1\nkind: Workload\nmetadata: {name: dup}\n"
                             b"spec: {rootfs: /r, command: [/bin/true]}\n")
    check(rc == 1 and "already exists" in err and "metadata.name" in err, "apply: existing name reported",
          repr((rc, err)))

    rc, out, err = ctl(sock, "ls")
    lines = out.splitlines()
    check(rc == 0 and len(lines) == 3 and lines[0].split() == ["NAME", "STATE", "EXIT", "PID", "CREATED", "STARTED",
                                                              "ISOLATION"], "ls: header", out)
    check(lines[1].split()[:4] == ["web", "running", "-", "4242"] and lines[1].endswith("container") and
          "ago" in lines[1], "ls: running row", out)
    check(lines[2].split()[:5] == ["zz-job", "exited", "137", "(SIGKILL)", "-"] and lines[2].endswith("vm"),
          "ls: exited row", out)
    check(lines[0].index("STATE") == lines[1].index("running") == lines[2].index("exited"), "ls: aligned", out)
    rc, out, err = ctl(sock, "ls", "-q")
    check(out == "web\nzz-job\n", "ls -q", out)
    rc, out, err = ctl(sock, "ls", "-o", "json")
    check(rc == 0 and len(json.loads(out)["items"]) == 2, "ls -o json", out)

    rc, out, err = ctl(sock, "inspect", "web")
    check(rc == 0 and json.loads(out) == WORKLOAD and out.startswith("{\n  "), "inspect: pretty JSON", out)
    rc, out, err = ctl(sock, "inspect", "web", "-o", "yaml")
    check(rc == 0 and "metadata:\n  name: web\n" in out and "  pid: 4242\n" in out and
          '  createdAt: "2026-11-24T06:40:12.000001Z"\n' in out, "inspect -o yaml", out)
    rc, out, err = ctl(sock, "inspect", "missing")
    check(rc == 1 and err == 'berthctl: no workload "missing"\n', "inspect missing: exit 1, message", repr((rc, err)))

    rc, out, err = ctl(sock, "wait", "web")
    check(rc == 3 and out == "3\n", "wait: prints and exits with the code", repr((rc, out)))

    rc, out, err = ctl(sock, "stop", "-t", "5", "web")
    check(rc == 0 and out == "web\n", "stop: prints the name", repr((rc, out, err)))
    check([r[:2] for r in REQUESTS[-2:]] == [("POST", "/v1/workloads/web/stop?timeout=5"),
                                             ("GET", "/v1/workloads/web/wait")], "stop: stop then wait",
          REQUESTS[-2:])

    rc, out, err = ctl(sock, "kill", "-s", "HUP", "web")
    check(rc == 0 and REQUESTS[-1][1] == "/v1/workloads/web/kill?signal=HUP", "kill -s HUP", REQUESTS[-1])
    rc, out, err = ctl(sock, "kill", "web")
    check(rc == 0 and REQUESTS[-1][1] == "/v1/workloads/web/kill", "kill: default signal left to berthd",
          REQUESTS[-1])

    rc, out, err = ctl(sock, "start", "web")
    check(rc == 1 and err == 'berthctl: workload "web" is running\n', "start running: 409 -> exit 1", repr(err))
    rc, out, err = ctl(sock, "start", "job")
    check(rc == 0 and out == "job\n", "start", repr((rc, out)))

    rc, out, err = ctl(sock, "rm", "job", "web", "other")
    check(rc == 1 and out == "job\nother\n" and "use force" in err, "rm: tries every name, exit 1 on a failure",
          repr((rc, out, err)))
    rc, out, err = ctl(sock, "rm", "-f", "web")
    check(rc == 0 and REQUESTS[-1][:2] == ("DELETE", "/v1/workloads/web?force=1"), "rm -f", REQUESTS[-1])

    rc, out, err = ctl(sock, "events", "--since", "0", "--workload", "web", "-f")
    lines = out.splitlines()
    check(rc == 0 and len(lines) == 3, "events: 3 lines from chunks cut mid-line", out)
    check(lines[0].split() == ["2026-11-24T06:40:12.000001Z", "created", "web", "-", "(by", "uid=0", "gid=0",
                               "pid=42)"], "events: the caller", lines)
    check(lines[1].split() == ["2026-11-24T06:40:12.000002Z", "exited", "web", "exit", "code", "3"],
          "events: human line", lines)
    check(lines[2].split() == ["2026-11-24T06:40:13.000000Z", "daemon-stopping", "-", "-"], "events: node event",
          lines)
    check(REQUESTS[-1][1] == "/v1/events?follow=1&since=0&workload=web", "events: query", REQUESTS[-1][1])
    rc, out, err = ctl(sock, "events", "-o", "json")
    check(out.encode() == EVENTS, "events -o json: raw ndjson", out)

    rc, out, err = ctl(sock, "node")
    check(rc == 0 and "Name:       host1\n" in out and "Cgroup:     v2\n" in out and
          "Memory:     24.0 GiB total, 1.0 GiB available\n" in out and
          "Workloads:  2 total, 1 running, 1 exited" in out, "node: summary", out)
    rc, out, err = ctl(sock, "node", "-o", "json")
    check(rc == 0 and json.loads(out)["cpus"] == 2, "node -o json", out)

    env = dict(os.environ, BERTH_SOCKET=sock)
    p = subprocess.run([BERTHCTL, "ls", "-q"], capture_output=True, env=env, timeout=30)
    check(p.returncode == 0 and p.stdout == b"web\nzz-job\n", "BERTH_SOCKET is used", p.stderr)

    nosock = os.path.join(tmp, "absent.sock")
    rc, out, err = ctl(nosock, "ls")
    check(rc == 3 and err.startswith(f"berthctl: cannot reach berthd at {nosock}: No such file or directory"),
          "unreachable: exit 3 naming the socket and why", repr((rc, err)))
    rc, out, err = ctl(nosock, "run", "--rootfs", "/r", "--", "/bin/true")
    check(rc == 3, "run unreachable: exit 3", rc)


if __name__ == "__main__":
    sys.exit(main())
