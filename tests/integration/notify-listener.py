#!/usr/bin/python3
# A stand-in for systemd's notification and journal sockets, for the tests:
# binds a unix datagram socket at a filesystem path (never abstract) and
# appends every datagram to a file, followed by a line "--". Runs until killed.
import socket
import sys

path, out = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
with open(out, "ab", buffering=0) as f:
    while True:
        data = s.recv(1 << 17)
        f.write(data.rstrip(b"\n") + b"\n--\n")
