#!/usr/bin/env python3
"""hostile-memcached.py - a server on 127.0.0.1:PORT that speaks memcached's
text protocol correctly for every key except one kind: session entries
("...sess:...", the default) or, with --hostile stek, the cluster keyring's
entries ("...stek:..."), whose reads (and, for stek, writes too) it answers
in broken ways, one way after another:

  garbage    random bytes with no line end
  wrongkey   a well-formed VALUE for another key
  huge       a VALUE header announcing more than any entry can be
  longline   a 2000-byte line
  truncated  half a VALUE, then the connection closes
  silent     no answer at all (the connection stays open)
  stray      a reply to a command nobody sent, then a proper END

Everything else (the prober's get, the other kind of entry) gets proper
answers from an in-memory table, so that the client sees a server that is
up and whose answers about one kind of entry are hostile.  Writes "ready" to --ready-file once listening,
counts each broken answer on stdout ("broken MODE"), and stops after
--lifetime seconds.  For tests only; loopback only.
"""
import argparse
import os
import socket
import socketserver
import sys
import threading
import time

MODES = ["garbage", "wrongkey", "huge", "longline", "truncated", "silent", "stray"]
HOSTILE = b"sess:"
lock = threading.Lock()
state = {"next": 0}
table = {}


def next_mode():
    with lock:
        m = MODES[state["next"] % len(MODES)]
        state["next"] += 1
    print("broken", m, flush=True)
    return m


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        sock = self.request
        buf = b""
        while True:
            while b"\r\n" not in buf:
                data = sock.recv(65536)
                if not data:
                    return
                buf += data
            line, buf = buf.split(b"\r\n", 1)
            words = line.split()
            if not words:
                continue
            cmd, key = words[0], words[1] if len(words) > 1 else b""
            if cmd in (b"set", b"add", b"cas", b"replace"):
                n = int(words[4])
                while len(buf) < n + 2:
                    data = sock.recv(65536)
                    if not data:
                        return
                    buf += data
                value, buf = buf[:n], buf[n + 2:]
                if HOSTILE in key:
                    if HOSTILE == b"sess:":
                        sock.sendall(b"STORED\r\n")
                        continue
                    if self.broken(sock, key) == "close":
                        return
                    continue
                with lock:
                    exists = key in table
                    if cmd == b"add" and exists:
                        sock.sendall(b"NOT_STORED\r\n")
                        continue
                    if cmd == b"cas" and not exists:
                        sock.sendall(b"NOT_FOUND\r\n")
                        continue
                    table[key] = value
                sock.sendall(b"STORED\r\n")
            elif cmd in (b"get", b"gets"):
                if HOSTILE in key:
                    if self.broken(sock, key) == "close":
                        return
                    continue
                out = b""
                with lock:
                    for k in words[1:]:
                        if k in table:
                            v = table[k]
                            cas = b" 1" if cmd == b"gets" else b""
                            out += b"VALUE %s 0 %d%s\r\n%s\r\n" % (k, len(v), cas, v)
                sock.sendall(out + b"END\r\n")
            elif cmd == b"delete":
                with lock:
                    found = table.pop(key, None) is not None
                sock.sendall(b"DELETED\r\n" if found else b"NOT_FOUND\r\n")
            elif cmd == b"version":
                sock.sendall(b"VERSION 1.6.18-hostile\r\n")
            else:
                sock.sendall(b"ERROR\r\n")

    def broken(self, sock, key):
        m = next_mode()
        if m == "garbage":
            sock.sendall(os.urandom(300).replace(b"\n", b"x"))
        elif m == "wrongkey":
            sock.sendall(b"VALUE %s:other 0 4\r\nabcd\r\nEND\r\n" % key)
        elif m == "huge":
            sock.sendall(b"VALUE %s 0 99999999\r\n" % key + b"z" * 1000)
        elif m == "longline":
            sock.sendall(b"VALUE " + b"k" * 2000 + b"\r\n")
        elif m == "truncated":
            sock.sendall(b"VALUE %s 0 100\r\nabc" % key)
            return "close"
        elif m == "silent":
            pass
        elif m == "stray":
            sock.sendall(b"DELETED\r\nEND\r\n")
        return "kept"


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ready-file", required=True)
    ap.add_argument("--lifetime", type=float, default=120)
    ap.add_argument("--hostile", choices=["sess", "stek"], default="sess")
    a = ap.parse_args()
    global HOSTILE
    HOSTILE = a.hostile.encode() + b":"
    srv = Server(("127.0.0.1", a.port), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    with open(a.ready_file, "w") as f:
        f.write("ready\n")
    time.sleep(a.lifetime)
    srv.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
