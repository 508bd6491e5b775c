#!/usr/bin/env python3
"""notify-listen.py - a test-owned NOTIFY_SOCKET: what systemd's side of
sd_notify(3) sees, written down for a test to read.

    notify-listen.py SOCKET OUT [--tls-check PORT]

SOCKET is a path, or an abstract name written with a leading '@' (as in
NOTIFY_SOCKET).  Each datagram received is written to OUT as one line per
field, flushed at once:

    SEQ MONO_US PID FIELD=VALUE

SEQ numbers the datagrams from 1 (fields of one datagram share it),
MONO_US is CLOCK_MONOTONIC in microseconds when it was received (the clock
of MONOTONIC_USEC), and PID the sender's process id from the kernel's
SCM_CREDENTIALS (what systemd's NotifyAccess=main checks).

With --tls-check PORT, every datagram that holds READY=1 is followed, before
anything else is read, by a TLS handshake with 127.0.0.1:PORT and one round
trip through the echo backend behind it, written as

    SEQ MONO_US PID tls-check=ok          or
    SEQ MONO_US PID tls-check=failed: WHY

so a READY=1 sent before the listener serves TLS shows as a failed check.
The first line of OUT is "# listening" once the socket is bound.  Runs until
killed (SIGTERM) or --lifetime seconds (600).  For tests only; loopback only.
"""
import argparse
import os
import socket
import ssl
import struct
import sys
import time


def bind(name):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    if name.startswith("@"):
        s.bind("\0" + name[1:])
    else:
        try:
            os.unlink(name)
        except FileNotFoundError:
            pass
        s.bind(name)
    return s


def tls_check(port):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="example.test") as tls:
                probe = b"notify-check %d\n" % os.getpid()
                tls.sendall(probe)
                got = b""
                while not got.endswith(b"\n"):
                    data = tls.recv(4096)
                    if not data:
                        break
                    got += data
                if got != probe:
                    return "failed: echoed %r" % got
                return "ok"
    except (OSError, ssl.SSLError) as e:
        return "failed: %s" % e


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("socket")
    ap.add_argument("out")
    ap.add_argument("--tls-check", type=int, default=0)
    ap.add_argument("--lifetime", type=float, default=600)
    args = ap.parse_args()

    s = bind(args.socket)
    out = open(args.out, "a", buffering=1)
    out.write("# listening\n")
    deadline = time.monotonic() + args.lifetime
    ucred = struct.calcsize("3i")
    seq = 0
    while time.monotonic() < deadline:
        s.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            data, anc, _flags, _addr = s.recvmsg(65536, socket.CMSG_SPACE(ucred))
        except socket.timeout:
            continue
        now = time.monotonic_ns() // 1000
        pid = 0
        for level, kind, body in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack("3i", body[:ucred])[0]
        seq += 1
        fields = data.decode("utf-8", "replace").split("\n")
        for f in fields:
            if f:
                out.write("%d %d %d %s\n" % (seq, now, pid, f))
        if args.tls_check and "READY=1" in fields:
            result = tls_check(args.tls_check)
            out.write("%d %d %d tls-check=%s\n" % (seq, time.monotonic_ns() // 1000, pid, result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
