#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""A real gRPC client for berth's integration tests: Debian's python3-grpcio
with stubs generated at run time (grpc_tools.protoc) from berth's own
proto/berth/v1/berth.proto. Run with /usr/bin/python3 (Debian's packages).

Subcommands print one JSON document on stdout; the shell tests check it.
  certs DIR                        make CAs and certificates for the mTLS tests
  call METHOD JSON                 unary call -> {"code","details","response"}
  stream METHOD JSON [--max N]     server streaming -> {"code","details","messages"}
  raw METHOD HEX                   unary call with a raw (possibly malformed) body
  sequence ROOTFS NAME             create, stream logs, watch events, wait, delete
  exec NAME [--stdin S] [--tty] [--rows R --cols C] -- CMD...
                                   bidirectional Exec -> {"code","details","stdout","stderr","exit_code"}
  rotate CMD                       event stream over TLS; CMD rotates certs mid-stream
Common options: --target unix:PATH | HOST:PORT, --tls CA,CERT,KEY, --timeout S
"""
import argparse
import atexit
import base64
import datetime
import json
import os
import subprocess
import sys
import shutil
import tempfile
import threading
import time

import grpc
from grpc_tools import protoc
from google.protobuf import json_format

SRC = os.environ.get("BERTH_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
PROTO = os.path.join(SRC, "proto")


def load_stubs():
    out = tempfile.mkdtemp(prefix="berth-grpc-stubs-")
    atexit.register(shutil.rmtree, out, ignore_errors=True)  # imported modules stay loaded
    inc = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    # berth.v1 keeps its package path; health is generated flat (its "grpc."
    # package would shadow the grpc module itself).
    for base, f in [(PROTO, "berth/v1/berth.proto"), (os.path.join(PROTO, "grpc/health/v1"), "health.proto")]:
        rc = protoc.main(["protoc", "-I" + base, "-I" + inc, "--python_out=" + out, "--grpc_python_out=" + out, f])
        if rc != 0:
            sys.exit("protoc failed for " + f)
    for d in ["berth", "berth/v1"]:
        open(os.path.join(out, d, "__init__.py"), "a").close()
    sys.path.insert(0, out)
    import importlib
    pb = importlib.import_module("berth.v1.berth_pb2")
    pbg = importlib.import_module("berth.v1.berth_pb2_grpc")
    return pb, pbg, out


def load_health(out):
    import importlib
    return importlib.import_module("health_pb2"), importlib.import_module("health_pb2_grpc")


def channel(args):
    opts = [("grpc.max_receive_message_length", 64 << 20), ("grpc.enable_retries", 0)]
    if args.tls:
        ca, cert, key = args.tls.split(",")
        rd = lambda p: open(p, "rb").read() if p else None
        creds = grpc.ssl_channel_credentials(rd(ca), rd(key), rd(cert))
        opts.append(("grpc.ssl_target_name_override", "berthd"))
        return grpc.secure_channel(args.target, creds, options=opts)
    return grpc.insecure_channel(args.target, options=opts)


SERVICES = {
    "CreateWorkload": "Workloads", "GetWorkload": "Workloads", "ListWorkloads": "Workloads",
    "UpdateWorkload": "Workloads", "StartWorkload": "Workloads", "StopWorkload": "Workloads",
    "KillWorkload": "Workloads", "DeleteWorkload": "Workloads", "WaitWorkload": "Workloads",
    "StreamLogs": "Logs", "StreamEvents": "Events", "Exec": "Exec",
    "Info": "Node", "GetCapacity": "Node", "GetPlacements": "Node",
    "ListImages": "Images", "InspectImage": "Images", "RemoveImage": "Images", "PullImage": "Images",
    "ImportImage": "Images", "CommitWorkload": "Images", "SystemDf": "Images",
}
REQUESTS = {
    "CreateWorkload": "CreateWorkloadRequest", "GetWorkload": "GetWorkloadRequest",
    "ListWorkloads": "ListWorkloadsRequest", "UpdateWorkload": "UpdateWorkloadRequest",
    "StartWorkload": "StartWorkloadRequest", "StopWorkload": "StopWorkloadRequest",
    "KillWorkload": "KillWorkloadRequest", "DeleteWorkload": "DeleteWorkloadRequest",
    "WaitWorkload": "WaitWorkloadRequest", "StreamLogs": "LogsRequest", "StreamEvents": "EventsRequest",
    "Info": "NodeInfoRequest", "GetCapacity": "CapacityRequest", "GetPlacements": "PlacementsRequest",
    "ListImages": "ListImagesRequest", "InspectImage": "InspectImageRequest", "RemoveImage": "RemoveImageRequest",
    "PullImage": "PullImageRequest", "ImportImage": "ImportImageRequest", "CommitWorkload": "CommitWorkloadRequest",
    "SystemDf": "SystemDfRequest",
}


def stub_for(pb, pbg, ch, method):
    if method in ("Check", "Watch"):
        hpb, hpbg = HEALTH
        return getattr(hpbg.HealthStub(ch), method), hpb.HealthCheckRequest
    svc = SERVICES[method]
    return getattr(getattr(pbg, svc + "Stub")(ch), method), getattr(pb, REQUESTS[method])


def err_doc(e):
    return {"code": e.code().name, "details": e.details()}


def to_dict(m):
    return json_format.MessageToDict(m, preserving_proto_field_name=True)


def read_json(a):
    """A JSON argument, or @FILE for one too large for the command line."""
    if a.startswith("@"):
        return open(a[1:]).read()
    return a


def cmd_call(args, pb, pbg):
    args.json = read_json(args.json)
    fn, req_t = stub_for(pb, pbg, channel(args), args.method)
    req = json_format.Parse(args.json, req_t())
    t0 = time.monotonic()
    try:
        resp = fn(req, timeout=args.timeout)
        doc = {"code": "OK", "details": "", "response": to_dict(resp)}
    except grpc.RpcError as e:
        doc = err_doc(e)
    doc["elapsed"] = round(time.monotonic() - t0, 3)
    print(json.dumps(doc))


def cmd_stream(args, pb, pbg):
    fn, req_t = stub_for(pb, pbg, channel(args), args.method)
    req = json_format.Parse(args.json, req_t())
    msgs = []
    t0 = time.monotonic()
    try:
        for m in fn(req, timeout=args.timeout):
            msgs.append(to_dict(m))
            if args.max and len(msgs) >= args.max:
                break
        doc = {"code": "OK", "details": ""}
    except grpc.RpcError as e:
        doc = err_doc(e)
    doc["messages"] = msgs
    doc["elapsed"] = round(time.monotonic() - t0, 3)
    print(json.dumps(doc))


def cmd_raw(args, pb, pbg):
    ch = channel(args)
    svc = SERVICES.get(args.method, "Workloads")
    fn = ch.unary_unary("/berth.v1.%s/%s" % (svc, args.method),
                        request_serializer=lambda b: b, response_deserializer=lambda b: b)
    try:
        resp = fn(bytes.fromhex(args.hex), timeout=args.timeout)
        doc = {"code": "OK", "details": "", "len": len(resp)}
    except grpc.RpcError as e:
        doc = err_doc(e)
    print(json.dumps(doc))


def cmd_hammer(args, pb, pbg):
    """N calls in a row on one channel: counts by status code."""
    fn, req_t = stub_for(pb, pbg, channel(args), args.method)
    req = json_format.Parse(args.json, req_t())
    codes = {}
    for _ in range(args.n):
        try:
            fn(req, timeout=args.timeout)
            c = "OK"
        except grpc.RpcError as e:
            c = e.code().name
        codes[c] = codes.get(c, 0) + 1
    print(json.dumps(codes))


def cmd_sequence(args, pb, pbg):
    """create -> stream the logs -> watch the events -> wait -> delete."""
    ch = channel(args)
    wl, logs, events = pbg.WorkloadsStub(ch), pbg.LogsStub(ch), pbg.EventsStub(ch)
    out = {}
    last_id = 0
    for ev in events.StreamEvents(pb.EventsRequest(follow=False), timeout=10):
        last_id = ev.id
    document = json.dumps({"apiVersion": "berth/v1", "kind": "Workload",
                           "metadata": {"name": args.name, "labels": {"via": "grpc"}},
                           "spec": {"rootfs": args.rootfs,
                                    "command": ["/bin/sh", "-c", "echo one; sleep 1; echo two; exit 3"]}})
    # Watch the events from before the create, in a thread.
    seen = []
    ev_stream = events.StreamEvents(pb.EventsRequest(since=last_id, workload=args.name, follow=True), timeout=30)

    def watch():
        try:
            for ev in ev_stream:
                seen.append({"id": ev.id, "type": ev.type, "workload": ev.workload, "message": ev.message,
                             "caller": ev.caller})
                if ev.type == "removed":
                    break
        except grpc.RpcError as e:
            seen.append({"error": e.code().name})
    th = threading.Thread(target=watch)
    th.start()
    w = wl.CreateWorkload(pb.CreateWorkloadRequest(document=document), timeout=10)
    out["created"] = to_dict(w)
    chunks = b"".join(c.data for c in logs.StreamLogs(pb.LogsRequest(name=args.name, follow=True), timeout=20))
    out["logs"] = chunks.decode()
    res = wl.WaitWorkload(pb.WaitWorkloadRequest(name=args.name), timeout=20)
    out["wait"] = to_dict(res)
    out["get"] = to_dict(wl.GetWorkload(pb.GetWorkloadRequest(name=args.name), timeout=5))
    out["list"] = [i.name for i in wl.ListWorkloads(pb.ListWorkloadsRequest(), timeout=5).items]
    if args.keep:
        ev_stream.cancel()
    else:
        out["delete"] = to_dict(wl.DeleteWorkload(pb.DeleteWorkloadRequest(name=args.name), timeout=20))
    th.join(15)
    out["events"] = seen
    print(json.dumps(out))


def cmd_exec(args, pb, pbg):
    """Exec: the first message names the workload and command (and the
    terminal size), then stdin in small pieces, then end of input by
    half-closing the request stream."""
    ex = pbg.ExecStub(channel(args))
    cmd = args.command

    def requests():
        yield pb.ExecInput(name=args.name, command=cmd, tty=args.tty,
                           resize_rows=args.rows, resize_cols=args.cols)
        data = args.stdin.encode()
        for i in range(0, len(data), 3):  # several messages: stdin is a stream
            yield pb.ExecInput(stdin=data[i:i + 3])
        if args.hold:
            time.sleep(args.hold)  # keep the request stream open a while
    out = {"stdout": "", "stderr": "", "exit_code": None, "messages": 0}
    t0 = time.monotonic()
    try:
        for m in ex.Exec(requests(), timeout=args.timeout):
            out["messages"] += 1
            if m.exited:
                out["exit_code"] = m.exit_code
            elif m.stream == 2:
                out["stderr"] += m.data.decode(errors="replace")
            else:
                out["stdout"] += m.data.decode(errors="replace")
        out.update({"code": "OK", "details": ""})
    except grpc.RpcError as e:
        out.update(err_doc(e))
    out["elapsed"] = round(time.monotonic() - t0, 3)
    print(json.dumps(out))


def cmd_rotate(args, pb, pbg):
    """An event stream stays up across a certificate rotation (SIGHUP)."""
    ch = channel(args)
    events = pbg.EventsStub(ch)
    last = 0
    for ev in events.StreamEvents(pb.EventsRequest(), timeout=10):
        last = ev.id
    got = []
    stream = events.StreamEvents(pb.EventsRequest(since=last, follow=True), timeout=60)

    def watch():
        try:
            for ev in stream:
                got.append(ev.type + ":" + ev.workload)
        except grpc.RpcError as e:
            got.append("error:" + e.code().name)
    th = threading.Thread(target=watch, daemon=True)
    th.start()
    time.sleep(0.5)
    rc = subprocess.call(args.cmd, shell=True)
    # A workload created after the rotation, over the same connection.
    wl = pbg.WorkloadsStub(ch)
    doc = json.dumps({"apiVersion": "berth/v1", "kind": "Workload", "metadata": {"name": args.name},
                      "spec": {"rootfs": args.rootfs, "command": ["/bin/true"]}})
    same = "OK"
    try:
        wl.CreateWorkload(pb.CreateWorkloadRequest(document=doc), timeout=10)
        wl.WaitWorkload(pb.WaitWorkloadRequest(name=args.name), timeout=10)
    except grpc.RpcError as e:
        same = e.code().name
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not any(g.startswith("exited:" + args.name) for g in got):
        time.sleep(0.1)
    stream.cancel()
    print(json.dumps({"cmd_rc": rc, "same_connection": same, "events": got}))


def cmd_certs(args):
    """CA, wrong CA, server cert, client certs (cp, op, rd, nobody, expired)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID, ExtendedKeyUsageOID
    import ipaddress

    d = args.dir
    os.makedirs(d, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)

    def key():
        return ec.generate_private_key(ec.SECP256R1())

    def save(name, k, c):
        with open(os.path.join(d, name + ".key"), "wb") as f:
            f.write(k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))
        with open(os.path.join(d, name + ".crt"), "wb") as f:
            f.write(c.public_bytes(serialization.Encoding.PEM))

    def ca(name):
        k = key()
        n = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        c = (x509.CertificateBuilder().subject_name(n).issuer_name(n).public_key(k.public_key())
             .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
             .not_valid_after(now + datetime.timedelta(days=30))
             .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
             .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                          content_commitment=False, key_encipherment=False,
                                          data_encipherment=False, key_agreement=False,
                                          encipher_only=False, decipher_only=False), critical=True)
             .sign(k, hashes.SHA256()))
        save(name, k, c)
        return k, c

    def leaf(name, cn, ca_k, ca_c, server=False, expired=False, org=None):
        k = key()
        # Encoded O then CN, as CAs do: the RFC 2253 string reads "CN=cp,O=berth-test".
        attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
        if org:
            attrs.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
        b = (x509.CertificateBuilder().subject_name(x509.Name(attrs)).issuer_name(ca_c.subject)
             .public_key(k.public_key()).serial_number(x509.random_serial_number()))
        if expired:
            b = b.not_valid_before(now - datetime.timedelta(days=10)).not_valid_after(now - datetime.timedelta(days=1))
        else:
            b = b.not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
        b = b.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        if server:
            b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName("berthd"), x509.DNSName("localhost"),
                                                             x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                critical=False)
            b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        else:
            b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        save(name, k, b.sign(ca_k, hashes.SHA256()))

    ca_k, ca_c = ca("ca")
    bad_k, bad_c = ca("wrongca")
    leaf("server", "berthd", ca_k, ca_c, server=True)
    leaf("server2", "berthd", ca_k, ca_c, server=True)  # for the rotation
    leaf("cp", "cp", ca_k, ca_c, org="berth-test")
    leaf("op", "op", ca_k, ca_c)
    leaf("rd", "rd", ca_k, ca_c)
    leaf("nobody", "nobody", ca_k, ca_c)
    leaf("expired", "cp", ca_k, ca_c, expired=True)
    leaf("foreign", "cp", bad_k, bad_c)
    print(json.dumps({"dir": d}))


def main():
    global HEALTH
    p = argparse.ArgumentParser()
    p.add_argument("--target", default="")
    p.add_argument("--tls", default="")
    p.add_argument("--timeout", type=float, default=30)
    sub = p.add_subparsers(dest="cmd_name", required=True)
    s = sub.add_parser("certs"); s.add_argument("dir")
    s = sub.add_parser("call"); s.add_argument("method"); s.add_argument("json", nargs="?", default="{}")
    s = sub.add_parser("stream"); s.add_argument("method"); s.add_argument("json", nargs="?", default="{}")
    s.add_argument("--max", type=int, default=0)
    s = sub.add_parser("raw"); s.add_argument("method"); s.add_argument("hex")
    s = sub.add_parser("hammer"); s.add_argument("method"); s.add_argument("json"); s.add_argument("n", type=int)
    s = sub.add_parser("sequence"); s.add_argument("rootfs"); s.add_argument("name")
    s.add_argument("--keep", action="store_true")
    s = sub.add_parser("rotate"); s.add_argument("rootfs"); s.add_argument("name"); s.add_argument("cmd")
    s = sub.add_parser("exec"); s.add_argument("name"); s.add_argument("--stdin", default="")
    s.add_argument("--tty", action="store_true"); s.add_argument("--rows", type=int, default=0)
    s.add_argument("--cols", type=int, default=0); s.add_argument("--hold", type=float, default=0)
    # exec ... -- CMD ARGS: everything after "--" is the command, flags included
    argv = sys.argv[1:]
    command = []
    if "--" in argv:
        i = argv.index("--")
        argv, command = argv[:i], argv[i + 1:]
    args = p.parse_args(argv)
    args.command = command
    if args.cmd_name == "certs":
        return cmd_certs(args)
    pb, pbg, out = load_stubs()
    HEALTH = load_health(out)
    {"call": cmd_call, "stream": cmd_stream, "raw": cmd_raw, "sequence": cmd_sequence,
     "rotate": cmd_rotate, "hammer": cmd_hammer, "exec": cmd_exec}[args.cmd_name](args, pb, pbg)


if __name__ == "__main__":
    main()
