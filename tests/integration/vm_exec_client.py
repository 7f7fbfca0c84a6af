#!/usr/bin/env python3
"""A direct client of berth-shim's exec socket (docs/VM.md "exec"): frames of
uint32 type, uint32 length (little-endian) and a payload; START carries
key\\0value\\0 pairs (arg, env, cwd). Used by vm-exec.sh to check the socket
protocol itself: an env and a working directory of the client's choice, a
large stdin frame, the exit code. Prints {"stdout", "stderr", "exit"} as JSON.

usage: vm_exec_client.py SOCKET [--env K=V]... [--cwd DIR] [--stdin-bytes N] -- ARGV...
"""
import json
import socket
import struct
import sys

START, STDIN, STDOUT, STDERR, EXIT = 11, 12, 13, 14, 15


def frame(t, payload=b""):
    return struct.pack("<II", t, len(payload)) + payload


def main():
    args = sys.argv[1:]
    path = args.pop(0)
    env, cwd, nstdin = [], None, 0
    while args and args[0] != "--":
        opt = args.pop(0)
        if opt == "--env":
            env.append(args.pop(0))
        elif opt == "--cwd":
            cwd = args.pop(0)
        elif opt == "--stdin-bytes":
            nstdin = int(args.pop(0))
    argv = args[1:]
    kv = b""
    for a in argv:
        kv += b"arg\0" + a.encode() + b"\0"
    for e in env:
        kv += b"env\0" + e.encode() + b"\0"
    if cwd:
        kv += b"cwd\0" + cwd.encode() + b"\0"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(60)
    s.connect(path)
    data = bytes(i % 251 for i in range(nstdin))
    try:
        s.sendall(frame(START, kv))
        for off in range(0, len(data), 65536):  # frames of up to 64 KiB
            s.sendall(frame(STDIN, data[off:off + 65536]))
        s.sendall(frame(STDIN))  # EOF
    except (BrokenPipeError, ConnectionResetError):
        pass  # a session that ended at once (e.g. a bad cwd): its EXIT is still to be read
    buf, out, err, code = b"", b"", b"", None
    while code is None:
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
        while len(buf) >= 8:
            t, n = struct.unpack("<II", buf[:8])
            if len(buf) < 8 + n:
                break
            p, buf = buf[8:8 + n], buf[8 + n:]
            if t == STDOUT:
                out += p
            elif t == STDERR:
                err += p
            elif t == EXIT:
                code = struct.unpack("<i", p[:4])[0]
    print(json.dumps({"stdout": out.decode(errors="replace"), "stderr": err.decode(errors="replace"),
                      "exit": code}))


if __name__ == "__main__":
    main()
