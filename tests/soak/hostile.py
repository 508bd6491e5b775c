#!/usr/bin/env python3
"""hostile.py - the soak's hostile clients, against one frontend until SIGTERM.

    hostile.py --port P --handshake-timeout S --out FILE.json [--pause S]

Three kinds of client, each in its own thread, one connection after another:

  garbage    connects, sends bytes that are not TLS (random bytes, or an HTTP
             request line), and waits for the server to close
  halfhello  connects, sends the first half of a real ClientHello, then says
             nothing and waits for the server to close (tessera's handshake
             timeout, S seconds)
  connclose  connects and closes at once (a FIN, or every other time a RST)

Every one of these connections fails by design; what is counted is how they
end: "closed" by the server (expected), "connect_failed" (the server did
not accept within 5 s), "stuck" (still open S + 10 s after the last byte
was sent, when SIGTERM comes, or S + 20 s: the server never closed it),
"abandoned" (SIGTERM came before that).
On SIGTERM the counts go to FILE.json and the process exits 0.
"""
import argparse
import json
import os
import random
import select
import signal
import socket
import ssl
import sys
import threading
import time

from soaklib import started

stop = threading.Event()
lock = threading.Lock()
counts = {}
longest_close = {"halfhello": 0.0}


def count(kind, outcome, n=1):
    with lock:
        d = counts.setdefault(kind, {})
        d[outcome] = d.get(outcome, 0) + n


def client_hello():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="example.test")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def connect(port):
    try:
        return socket.create_connection(("127.0.0.1", port), timeout=5)
    except OSError:
        return None


def wait_closed(sock, kind, limit):
    """Read until the server closes (True) or LIMIT seconds pass or SIGTERM
    comes (False, with the reason)."""
    start = time.monotonic()
    deadline = start + limit
    sock.setblocking(False)
    while True:
        if stop.is_set():
            # Cut short by SIGTERM: still "stuck" if it already outlived the
            # server's handshake timeout by 10 s.
            return False, "stuck" if time.monotonic() - start > limit - 10 else "abandoned"
        left = deadline - time.monotonic()
        if left <= 0:
            return False, "stuck"
        r, _, _ = select.select([sock], [], [], min(0.2, left))
        if not r:
            continue
        try:
            d = sock.recv(65536)
        except BlockingIOError:
            continue
        except OSError:
            return True, "closed"  # reset
        if not d:
            return True, "closed"
        count(kind, "answered_bytes", len(d))


def one_garbage(port, hs_timeout, n):
    s = connect(port)
    if s is None:
        count("garbage", "connect_failed")
        return
    try:
        if n % 2:
            data = b"GET / HTTP/1.1\r\nHost: soak\r\n\r\n"
        else:
            data = bytearray(os.urandom(random.randint(1, 2048)))
            data[0] = random.choice((0x00, 0x47, 0x80, 0xff))  # never a TLS record type
            data = bytes(data)
        try:
            s.sendall(data)
        except OSError:
            count("garbage", "closed")
            return
        ok, why = wait_closed(s, "garbage", hs_timeout + 20)
        count("garbage", why)
    finally:
        s.close()


def one_halfhello(port, hs_timeout, n):
    hello = client_hello()
    s = connect(port)
    if s is None:
        count("halfhello", "connect_failed")
        return
    try:
        try:
            s.sendall(hello[: len(hello) // 2])
        except OSError:
            count("halfhello", "closed")
            return
        t = time.monotonic()
        ok, why = wait_closed(s, "halfhello", hs_timeout + 20)
        count("halfhello", why)
        if ok:
            with lock:
                longest_close["halfhello"] = max(longest_close["halfhello"],
                                                 time.monotonic() - t)
    finally:
        s.close()


def one_connclose(port, hs_timeout, n):
    s = connect(port)
    if s is None:
        count("connclose", "connect_failed")
        return
    if n % 2:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    s.close()
    count("connclose", "closed")


def loop(fn, port, hs_timeout, pause):
    n = 0
    while not stop.is_set():
        fn(port, hs_timeout, n)
        n += 1
        stop.wait(pause)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--handshake-timeout", type=float, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--pause", type=float, default=0.1)
    a = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    started(a.out)
    threads = []
    for fn in (one_garbage, one_halfhello, one_halfhello, one_connclose):
        t = threading.Thread(target=loop, args=(fn, a.port, a.handshake_timeout, a.pause),
                             daemon=True)
        t.start()
        threads.append(t)
    while not stop.is_set():
        stop.wait(0.5)
    for t in threads:
        t.join(10)
    with lock:
        out = {"counts": counts, "longest_halfhello_close_s": round(longest_close["halfhello"], 2)}
    with open(a.out, "w") as f:
        json.dump(out, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
