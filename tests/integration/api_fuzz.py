#!/usr/bin/python3
"""Replays random and mutated API requests against a live berthd.

Used by tests/integration/api-fuzz-replay.sh. Standard library only (Debian's
/usr/bin/python3), deterministic for a given --seed. Every request goes over a
new connection to the unix socket, so one malformed request cannot poison the
next. Request kinds:
  - spec mutations: documents of tests/fuzz/corpus/spec/ with byte flips,
    inserts, deletions, duplications, splices, dictionary tokens, invalid
    UTF-8 and truncation, POSTed with ?dryRun=1 or with every rootfs moved to
    a path that does not exist (so nothing from the corpus ever runs);
  - structured specs: valid JSON documents with one field replaced by a random
    value, created for real on the test's busybox rootfs as containers
    (command /bin/true), so admission, prepare and start see odd values;
  - random methods, paths (routes, unknown, traversal, %-escapes, NUL, long),
    query strings and headers (huge, many, bad Content-Length, bad chunking);
  - truncated bodies (Content-Length larger than what is sent), oversize
    bodies (up to 4 MiB), deep nesting (JSON and YAML).
Prints a summary line: requests sent, status histogram, transport errors.
Exit status 0 unless the daemon stopped accepting connections.
"""
import argparse
import collections
import json
import os
import random
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

ROUTES = ["/healthz", "/readyz", "/metrics", "/v1/node", "/v1/events", "/v1/workloads", "/v1/images",
          "/v1/system/df"]
SUBROUTES = ["", "/start", "/stop", "/kill", "/wait", "/logs", "/pause", "/resume", "/exec", "/commit"]
METHODS = ["GET", "POST", "DELETE", "PATCH", "PUT", "HEAD", "OPTIONS", "TRACE", "CONNECT", "get", "G\x00ET",
           "XYZZY", "POST /x", ""]
QUERY_KEYS = ["dryRun", "force", "timeout", "signal", "tail", "follow", "timestamps", "format", "since",
              "workload", "x", "", "%00", "a" * 300]
QUERY_VALS = ["1", "0", "true", "false", "-1", "99999999999999999999", "1e309", "NaN", "", "%ff%fe",
              "SIGKILL", "9", "0x10", "' OR 1=1 --", "\u00e9", "a" * 5000]
CTYPES = ["application/json", "application/yaml", "text/plain", "application/x-yaml", "", "multipart/form-data",
          "application/json; charset=utf-16"]
TOKENS = [b"{", b"}", b"[", b"]", b":", b",", b'"', b"null", b"true", b"-0", b"1e999", b"\xff\xfe", b"\x00",
          b"&a", b"*a", b"<<:", b"!!binary", b"---", b"...", b"\\u0000", b"\\ud800", b"%YAML 1.1", b"\n  ",
          b"\t", b"'", b"~", b"apiVersion", b"kind", b"spec", b"metadata", b"rootfs", b"command",
          b"resources", b"memory", b"cpu", b"pids", b"isolation", b"vm", b"network", b"bridge", b"image"]


def load_corpus(d):
    out = []
    for n in sorted(os.listdir(d)):
        with open(os.path.join(d, n), "rb") as f:
            out.append(f.read())
    return out


class Fuzzer:
    def __init__(self, args):
        self.a = args
        self.rng = random.Random(args.seed)
        self.corpus = [c.replace(b"/srv", b"/nonexistent-berth-fuzz/srv") for c in load_corpus(args.corpus)]
        self.hist = collections.Counter()
        self.errors = collections.Counter()
        self.created = []
        self.serial = 0
        self.lock = threading.Lock()

    # ---- transport ----
    def send(self, raw, timeout=2.0, incomplete=False):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect(self.a.socket)
        except OSError as e:
            with self.lock:
                self.errors["connect:" + type(e).__name__] += 1
            s.close()
            return None
        data = b""
        try:
            s.sendall(raw)
            if incomplete:
                # a body that never comes: the server must give up on EOF
                s.shutdown(socket.SHUT_WR)
            if True:
                while len(data) < 65536:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                    if b"\r\n\r\n" in data and (b"Content-Length" not in data or
                                                 self.body_complete(data)):
                        break
        except socket.timeout:
            with self.lock:
                self.errors["stream-or-incomplete" if incomplete or timeout < 1 else "timeout"] += 1
        except OSError as e:
            with self.lock:
                self.errors[type(e).__name__] += 1
        finally:
            s.close()
        status = None
        if data.startswith(b"HTTP/1."):
            try:
                status = int(data.split(b" ", 2)[1])
            except (ValueError, IndexError):
                pass
        with self.lock:
            self.hist[status if status else "none"] += 1
        if status == 500 and self.a.show_500:
            print("api_fuzz: 500 for %r -> %r" % (raw[:300], data[-300:]), file=sys.stderr)
        return status, data

    @staticmethod
    def body_complete(data):
        head, _, body = data.partition(b"\r\n\r\n")
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                try:
                    return len(body) >= int(line.split(b":", 1)[1])
                except ValueError:
                    return True
        return True

    @staticmethod
    def request(method, path, headers=(), body=b"", content_length=None):
        h = [f"{method} {path} HTTP/1.1".encode("utf-8", "surrogateescape"), b"Host: localhost",
             b"Connection: close"]
        for k, v in headers:
            h.append(k + b": " + v)
        if body or content_length is not None:
            h.append(b"Content-Length: " + str(len(body) if content_length is None else content_length).encode())
        return b"\r\n".join(h) + b"\r\n\r\n" + body

    # ---- generators ----
    def mutate(self, b):
        r = self.rng
        b = bytearray(b)
        for _ in range(r.randint(1, 4)):
            op = r.randrange(8)
            pos = r.randrange(len(b) + 1) if b else 0
            if op == 0 and b:
                b[min(pos, len(b) - 1)] ^= 1 << r.randrange(8)
            elif op == 1:
                b[pos:pos] = bytes(r.randrange(256) for _ in range(r.randint(1, 8)))
            elif op == 2 and b:
                del b[pos:pos + r.randint(1, 32)]
            elif op == 3 and b:
                end = min(len(b), pos + r.randint(1, 64))
                b[pos:pos] = b[pos:end] * r.randint(1, 4)
            elif op == 4:
                other = r.choice(self.corpus)
                cut = r.randrange(len(other) + 1)
                b = b[:pos] + bytearray(other[cut:])
            elif op == 5:
                b[pos:pos] = r.choice(TOKENS)
            elif op == 6:
                b[pos:pos] = r.choice([b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\xff", b"\xc0\xaf"])
            elif op == 7:
                b = b[:pos]
        return bytes(b)

    def spec_mutation(self):
        body = self.mutate(self.rng.choice(self.corpus))
        q = "?dryRun=1" if self.rng.random() < 0.5 else ""
        ct = self.rng.choice(CTYPES[:4])
        return self.request("POST", "/v1/workloads" + q, [(b"Content-Type", ct.encode())], body)

    def random_value(self):
        r = self.rng
        return r.choice([None, True, False, 0, -1, 2 ** 63, -(2 ** 63) - 1, 1.5, 1e308, "", "x" * r.randint(1, 5000),
                         "\u0000", "\U0001f600", "../../etc", "/", [], {}, [1, [2, [3]]], {"a": {"b": None}},
                         "1Gi", "0", "999999999999Ti", "-5m", "Always", "vm", "bridge", "host", "none",
                         ["/bin/true"] * r.randint(0, 3), {"K": "v" * 100}])

    def structured(self):
        r = self.rng
        self.serial += 1
        name = f"fz-{self.serial}"
        doc = {"apiVersion": "berth/v1", "kind": "Workload", "metadata": {"name": name},
               "spec": {"rootfs": self.a.rootfs, "command": ["/bin/true"], "isolation": "container",
                        "restartPolicy": "Never", "network": {"mode": "none"},
                        "resources": {"memory": "64Mi", "pids": 16}}}
        where = r.choice(["metadata", "spec", "resources", "top"])
        key = r.choice(["labels", "cpu", "memory", "pids", "env", "workingDir", "command", "name", "restartPolicy",
                        "stopSignal", "user", "x-unknown", "network", "annotations"])
        val = self.random_value()
        if where == "metadata" and key != "name":
            doc["metadata"][key] = val
        elif where == "resources":
            doc["spec"]["resources"][key] = val
        elif where == "top":
            doc[key] = val
        elif key not in ("rootfs", "isolation", "name"):
            doc["spec"][key] = val
        # Never anything but a container on the test rootfs running /bin/true:
        doc["spec"]["rootfs"] = self.a.rootfs
        doc["spec"]["isolation"] = "container"
        doc["spec"]["command"] = ["/bin/true"]
        doc["metadata"]["name"] = name
        body = json.dumps(doc).encode()
        return self.request("POST", "/v1/workloads", [(b"Content-Type", b"application/json")], body), name

    def rand_path(self):
        r = self.rng
        k = r.randrange(10)
        names = [f"fz-{r.randint(1, max(1, self.serial))}" for _ in range(3)] + ["nope", "a" * 300, "..", "%2e%2e", "x%00y", "\u00e9t\u00e9", "-", "A_B"]
        if k < 4:
            p = "/v1/workloads/" + r.choice(names) + r.choice(SUBROUTES)
        elif k < 6:
            p = r.choice(ROUTES)
        elif k == 6:
            p = "/" + "/".join(r.choice(["v1", "..", ".", "", "workloads", "%2f", "%ff"]) for _ in range(r.randint(1, 12)))
        elif k == 7:
            p = "/v1/" + "a" * r.randint(100, 20000)
        elif k == 8:
            p = r.choice(["*", "http://localhost/healthz", "healthz", "//v1//workloads", "/v1/workloads?",
                          "/v1/workloads#frag", "/v1/images/" + "x" * 600, "/v1/images/sha256:" + "0" * 64])
        else:
            p = r.choice(ROUTES) + "/" + "".join(chr(r.randrange(0x20, 0x7f)) for _ in range(r.randint(1, 40)))
        if r.random() < 0.4:
            p += "?" + "&".join(f"{r.choice(QUERY_KEYS)}={r.choice(QUERY_VALS)}" for _ in range(r.randint(1, 6)))
        return p.replace(" ", "%20")

    def random_request(self):
        r = self.rng
        method = r.choice(METHODS)
        headers = []
        for _ in range(r.randint(0, 4)):
            headers.append(r.choice([(b"Content-Type", r.choice(CTYPES).encode()),
                                     (b"X-" + b"h" * r.randint(1, 50), b"v" * r.randint(0, 9000)),
                                     (b"Transfer-Encoding", b"chunked"), (b"Expect", b"100-continue"),
                                     (b"Authorization", b"Bearer \xff\xfe"), (b"Content-Length", b"-1"),
                                     (b"Content-Length", b"18446744073709551616"), (b"Host", b""),
                                     (b"Bad Header", b"x"), (b"X-Nul", b"a\x00b")]))
        if r.random() < 0.05:
            headers += [(b"X-Many-%d" % i, b"v") for i in range(r.randint(100, 400))]
        body = b""
        if r.random() < 0.5:
            body = self.mutate(r.choice(self.corpus)) if r.random() < 0.5 else os.urandom(r.randint(0, 2000))
        # follow streams would stay open: a short timeout ends them
        path = self.rand_path()
        incomplete = any(k in (b"Transfer-Encoding", b"Expect", b"Content-Length") for k, _ in headers)
        return self.request(method, path, headers, body), \
            (0.3 if incomplete or "follow" in path or "/wait" in path else 2.0), incomplete

    def special(self):
        r = self.rng
        k = r.randrange(7)
        ct = [(b"Content-Type", b"application/json")]
        if k == 0:  # truncated: promises more than it sends
            body = r.choice(self.corpus)
            return self.request("POST", "/v1/workloads", ct, body[:len(body) // 2], content_length=len(body)), 0.3, True
        if k == 1:  # oversize
            n = r.choice([1 << 20, (1 << 20) + 1, 4 << 20])
            return self.request("POST", "/v1/workloads?dryRun=1", ct, b"[" + b"1," * (n // 2) + b"1]"), 5.0, False
        if k == 2:  # deep JSON
            d = r.choice([64, 1000, 100000])
            return self.request("POST", "/v1/workloads?dryRun=1", ct, b"[" * d + b"]" * d), 2.0, False
        if k == 3:  # deep JSON objects inside a valid document
            d = r.choice([100, 5000])
            inner = '{"a":' * d + "1" + "}" * d
            body = ('{"apiVersion":"berth/v1","kind":"Workload","metadata":{"name":"deep","labels":%s},'
                    '"spec":{"rootfs":"/nonexistent","command":["x"]}}' % inner).encode()
            return self.request("POST", "/v1/workloads?dryRun=1", ct, body), 2.0, False
        if k == 4:  # deep YAML (flow and block)
            d = r.choice([100, 10000])
            body = (b"a: " + b"[" * d + b"]" * d) if r.random() < 0.5 else \
                b"".join(b"  " * i + b"k:\n" for i in range(min(d, 2000)))
            return self.request("POST", "/v1/workloads?dryRun=1", [(b"Content-Type", b"application/yaml")], body), 2.0, False
        if k == 5:  # bad chunked encoding
            body = b"5\r\nhello\r\nzz\r\n" if r.random() < 0.5 else b"ffffffffffffffff\r\nx"
            return self.request("POST", "/v1/workloads", ct + [(b"Transfer-Encoding", b"chunked")]) + body, 0.3, True
        # invalid UTF-8 name in a PATCH
        name = f"fz-{r.randint(1, max(1, self.serial))}"
        body = b'{"metadata":{"labels":{"\xff":"\xc3\x28"}},"spec":{"resources":{"memory":"\xed\xa0\x80"}}}'
        return self.request("PATCH", "/v1/workloads/" + name, ct, body), 2.0, False

    def generate(self):
        """All requests, in order, from the seed alone."""
        out = []
        for _ in range(self.a.count):
            k = self.rng.random()
            if k < 0.45:
                out.append((self.spec_mutation(), 2.0, False, None))
            elif k < 0.45 + self.a.real_fraction:
                raw, name = self.structured()
                out.append((raw, 5.0, False, name))
            elif k < 0.90:
                raw, t, inc = self.random_request()
                out.append((raw, t, inc, None))
            else:
                raw, t, inc = self.special()
                out.append((raw, t, inc, None))
        return out

    def one(self, item):
        raw, timeout, incomplete, name = item
        st = self.send(raw, timeout=timeout, incomplete=incomplete)
        if name and st and st[0] in (200, 201):
            with self.lock:
                self.created.append(name)

    def run(self):
        reqs = self.generate()
        t0 = time.monotonic()
        with ThreadPoolExecutor(max_workers=self.a.jobs) as ex:
            for _ in ex.map(self.one, reqs):
                pass
        self.summary(t0)
        dead = self.errors.get("connect:ConnectionRefusedError", 0) + self.errors.get("connect:FileNotFoundError", 0)
        if dead:
            print(f"api_fuzz: {dead} connections refused: the daemon stopped accepting", file=sys.stderr)
            return 1
        return 0

    def summary(self, t0):
        total = sum(self.hist.values())
        hist = " ".join(f"{k}:{v}" for k, v in sorted(self.hist.items(), key=lambda kv: str(kv[0])))
        errs = " ".join(f"{k}:{v}" for k, v in sorted(self.errors.items())) or "none"
        print(f"api_fuzz: seed {self.a.seed}, {total} requests in {time.monotonic() - t0:.1f} s; "
              f"status {hist}; transport {errs}; created {len(self.created)}")
        with open(self.a.created_out, "w") as f:
            f.write("\n".join(self.created) + ("\n" if self.created else ""))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--socket", required=True)
    p.add_argument("--rootfs", required=True)
    p.add_argument("--corpus", required=True)
    p.add_argument("--count", type=int, default=10000)
    p.add_argument("--seed", type=int, default=8)
    p.add_argument("--real-fraction", type=float, default=0.01)
    p.add_argument("--created-out", required=True)
    p.add_argument("--show-500", action="store_true")
    p.add_argument("--jobs", type=int, default=8)
    return Fuzzer(p.parse_args()).run()


if __name__ == "__main__":
    sys.exit(main())
