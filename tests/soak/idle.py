#!/usr/bin/env python3
"""idle.py - the soak's idle connections, held against one frontend until SIGTERM.

    idle.py --port P --count N --out FILE.json

Opens N TLS connections (TLS 1.2 and 1.3 in turn) to an HTTP backend behind
tessera; each does one request and reads the whole reply, then is held open
and silent.  A held connection that the server closes (or that receives
anything) is counted as "dropped" and replaced.  On SIGTERM each held
connection makes one more request and must get its reply ("final_ok", else
"final_failed": the connection no longer relays), then everything is closed
and the counts go to FILE.json.  "errors" counts connections that could not
be opened (connect, handshake or first reply, 10 s each).
"""
import argparse
import json
import select
import signal
import socket
import ssl
import sys
import time

from soaklib import started

REQUEST = b"GET / HTTP/1.1\r\nHost: soak\r\n\r\n"
stop = False


def on_signal(signum, frame):
    global stop
    stop = True


def contexts():
    out = []
    for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        c.check_hostname = False
        c.verify_mode = ssl.CERT_NONE
        c.minimum_version = v
        c.maximum_version = v
        out.append(c)
    return out


def exchange(s, limit):
    """Send one request on S and read one reply (head and Content-Length
    body) within LIMIT seconds; True when it came."""
    s.settimeout(limit)
    s.sendall(REQUEST)
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(4096)
        if not d:
            return False
        buf += d
    head, body = buf.split(b"\r\n\r\n", 1)
    if not head.startswith(b"HTTP/1.1 200"):
        return False
    n = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            n = int(line.split(b":", 1)[1])
    while len(body) < n:
        d = s.recv(4096)
        if not d:
            return False
        body += d
    return len(body) == n


def open_one(port, ctx):
    raw = None
    try:
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        s = ctx.wrap_socket(raw, server_hostname="example.test")
        if not exchange(s, 10):
            s.close()
            return None
        s.setblocking(False)
        return s
    except (OSError, ssl.SSLError, ValueError):
        if raw is not None:
            raw.close()
        return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    started(a.out)
    ctxs = contexts()
    c = dict(opened=0, errors=0, dropped=0, final_ok=0, final_failed=0)
    held = []
    n = 0
    while not stop:
        while not stop and len(held) < a.count:
            s = open_one(a.port, ctxs[n % 2])
            n += 1
            if s is None:
                c["errors"] += 1
                time.sleep(0.5)
                continue
            c["opened"] += 1
            held.append(s)
        if stop:
            break
        r, _, _ = select.select(held, [], [], 0.5)
        for s in r:
            # A held connection has nothing to read: whatever comes (a close,
            # a reset, bytes) means the server let it go.
            try:
                s.recv(4096)
            except ssl.SSLWantReadError:
                continue
            except (OSError, ssl.SSLError):
                pass
            c["dropped"] += 1
            held.remove(s)
            s.close()
    c["held_at_stop"] = len(held)
    deadline = time.monotonic() + 8  # the whole final check, so that a stop stays quick
    for s in held:
        left = deadline - time.monotonic()
        try:
            s.setblocking(True)
            ok = left > 0 and exchange(s, min(5.0, left))
        except (OSError, ssl.SSLError, ValueError):
            ok = False
        c["final_ok" if ok else "final_failed"] += 1
        s.close()
    with open(a.out, "w") as f:
        json.dump(c, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
