#!/usr/bin/env python3
"""probe.py - one-shot checks and actions for scripts/soak.  Each polls with
a limit and never waits longer.

  probe.py quiet --label L --out FILE.csv --limit S --mc-port M
                 --backend-ports B1,B2 --instance NAME:PID:ADMIN:P1,P2,P3 ...
      Wait until every instance reports connections_active 0 on every
      frontend, then count its descriptors by kind (soaklib.classify_fds)
      and append one row per instance to FILE.csv (columns QUIET_COLUMNS).
      Status 0 when every instance reached 0 within S seconds; otherwise
      the rows are written anyway (reached=0) and the status is 1.

  probe.py healthy --limit S --instance NAME:PID:ADMIN[:...] ...
      Wait until every instance says memcached is up and its keyring is
      not degraded; print the seconds it took.  Status 1 at the limit
      (with what each instance said last), 2 at once if an instance is gone.

  probe.py mc-flush --port M        memcached flush_all; status 0 on "OK"
  probe.py mc-ready --port M        memcached answers "version"
"""
import argparse
import csv
import os
import socket
import sys
import time

import soaklib as sl

QUIET_COLUMNS = ["time", "label", "instance", "pid", "reached", "waited_s", "rss_kb", "threads",
                 "total", "nonsock", "listen", "admin", "memcached", "client", "backend",
                 "othersock", "fixed"]


def parse_instances(specs):
    out = []
    for s in specs:
        p = s.split(":")
        ports = [int(x) for x in p[3].split(",")] if len(p) > 3 and p[3] else []
        out.append((p[0], int(p[1]), int(p[2]), ports))
    return out


def active_all(admin):
    m = sl.fetch_metrics(admin, timeout=3)
    if m is None:
        return None
    return int(sl.msum(m, "tessera_connections_active"))


def cmd_quiet(a):
    insts = parse_instances(a.instance)
    start = time.monotonic()
    deadline = start + a.limit
    reached = {}
    for name, pid, admin, _ in insts:
        while True:
            n = active_all(admin)
            if n == 0:
                reached[name] = (1, time.monotonic() - start)
                break
            if time.monotonic() >= deadline or not sl.alive(pid):
                reached[name] = (0, time.monotonic() - start)
                print("probe: %s still has %s connection(s) open after %.1f s" %
                      (name, n, time.monotonic() - start), file=sys.stderr)
                break
            time.sleep(0.1)
    backends = {int(x) for x in a.backend_ports.split(",") if x}
    rows = []
    for name, pid, admin, ports in insts:
        # A socket between socket() and connect() (a memcached connection
        # re-opened after a fault) or one closing as the fds are read shows
        # as "othersock" for a moment: read again for up to 1 s while there
        # is one.  A socket that stays is still counted.
        for _ in range(6):
            c = sl.classify_fds(pid, admin, a.mc_port, set(ports), backends)
            if c is None or c["othersock"] == 0:
                break
            time.sleep(0.2)
        st = sl.proc_status(pid)
        row = {k: "" for k in QUIET_COLUMNS}
        row.update(time="%.3f" % time.time(), label=a.label, instance=name, pid=pid,
                   reached=reached[name][0], waited_s="%.1f" % reached[name][1])
        if st is not None:
            row.update(rss_kb=st[0], threads=st[1])
        if c is not None:
            row.update(c)
            # What must not change from one quiet point to the next: every
            # descriptor but the soak's own admin requests, the memcached
            # connections (re-opened after each fault, reported apart) and
            # client/backend ones (none at a quiet point).
            row["fixed"] = c["nonsock"] + c["listen"] + c["othersock"]
        rows.append(row)
    new = not os.path.exists(a.out) or os.path.getsize(a.out) == 0
    with open(a.out, "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=QUIET_COLUMNS)
        if new:
            w.writeheader()
        w.writerows(rows)
    return 0 if all(r[0] for r in reached.values()) else 1


def health(admin):
    m = sl.fetch_metrics(admin, timeout=3)
    if m is None:
        return None, "admin endpoint does not answer"
    servers = [v for (n, _), v in m.items() if n == "tessera_memcached_up"]
    up = bool(servers) and all(v == 1 for v in servers)
    degraded = sl.msum(m, "tessera_keyring_degraded") != 0
    return up and not degraded, "memcached_up=%s keyring_degraded=%d" % (
        ",".join("%g" % v for v in servers), int(degraded))


def cmd_healthy(a):
    insts = parse_instances(a.instance)
    start = time.monotonic()
    deadline = start + a.limit
    while True:
        said = {}
        ok = True
        for name, pid, admin, _ in insts:
            if not sl.alive(pid):
                print("%s (pid %d) is gone" % (name, pid))
                return 2
            good, what = health(admin)
            said[name] = what
            ok = ok and bool(good)
        if ok:
            print("%.1f" % (time.monotonic() - start))
            return 0
        if time.monotonic() >= deadline:
            print("not healthy after %.0f s: %s" % (a.limit, "; ".join(
                "%s %s" % (k, v) for k, v in said.items())))
            return 1
        time.sleep(0.2)


def mc_command(port, line, timeout=5.0):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(line)
        buf = b""
        while b"\r\n" not in buf:
            d = s.recv(4096)
            if not d:
                break
            buf += d
        return buf.split(b"\r\n", 1)[0]


def cmd_mc_flush(a):
    try:
        return 0 if mc_command(a.port, b"flush_all\r\n") == b"OK" else 1
    except OSError:
        return 1


def cmd_mc_ready(a):
    try:
        return 0 if mc_command(a.port, b"version\r\n", 2.0).startswith(b"VERSION ") else 1
    except OSError:
        return 1


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    q = sub.add_parser("quiet")
    q.add_argument("--label", required=True)
    q.add_argument("--out", required=True)
    q.add_argument("--limit", type=float, default=20)
    q.add_argument("--mc-port", type=int, required=True)
    q.add_argument("--backend-ports", default="")
    q.add_argument("--instance", action="append", required=True)
    h = sub.add_parser("healthy")
    h.add_argument("--limit", type=float, default=20)
    h.add_argument("--instance", action="append", required=True)
    for n in ("mc-flush", "mc-ready"):
        p = sub.add_parser(n)
        p.add_argument("--port", type=int, required=True)
    a = ap.parse_args()
    return {"quiet": cmd_quiet, "healthy": cmd_healthy, "mc-flush": cmd_mc_flush,
            "mc-ready": cmd_mc_ready}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
