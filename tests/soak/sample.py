#!/usr/bin/env python3
"""sample.py - the soak's sampler (scripts/soak starts it, SIGTERM ends it).

    sample.py --out FILE.csv --instance NAME:PID:ADMIN_PORT [--instance ...]
              [--interval S]

Every S seconds (1) and for each instance: VmRSS and Threads from
/proc/PID/status, the number of entries of /proc/PID/fd (and how many of
them are not sockets), and GET /metrics on 127.0.0.1:ADMIN_PORT, written as
one CSV row (columns: COLUMNS below).  "time" is when the sample began and
"time_end" when /metrics had answered, so a counter's rise between two rows
happened between the first row's time and the second's time_end.  Counters
are tessera's running totals; "load" = the frontends web and bulk,
"hostile" = the hostile clients' frontend.  A process that has gone is
written with alive=0 and empty figures; an admin endpoint that does not
answer within 5 s with metrics_ok=0.  Rows are flushed as they are written,
so the file is readable while the soak runs.  Standard library only.
"""
import argparse
import csv
import signal
import sys
import time

import soaklib as sl

COLUMNS = [
    "time", "time_end", "instance", "pid", "alive", "rss_kb", "fds", "fds_nonsock", "threads",
    "metrics_ok", "handshakes", "hs_full", "hs_resumed_session", "hs_resumed_ticket",
    "hs_errors", "hs_err_timeout", "hs_err_protocol", "hs_err_other", "hs_errors_hostile",
    "connections_active", "connections_active_hostile",
    "connections_total", "backend_connect_errors", "memcached_up", "keyring_degraded",
    "keyring_epoch", "keyring_keys", "session_cache_entries", "sess_get_hit", "sess_get_miss",
    "sess_get_failed", "sess_set_failed", "tickets_renewed", "tickets_unknown_key",
    "resumed_remote", "entries_rejected", "keyring_rejected", "accept_pauses",
]

stop = False


def on_signal(signum, frame):
    global stop
    stop = True


def metric_columns(m):
    load = sl.LOAD_FRONTENDS
    failed = ("error", "timeout", "dropped")
    full = sl.msum(m, "tessera_handshakes_total", frontend=load, type="full")
    rs = sl.msum(m, "tessera_handshakes_total", frontend=load, type="resumed_session")
    rt = sl.msum(m, "tessera_handshakes_total", frontend=load, type="resumed_ticket")
    return {
        "metrics_ok": 1,
        "handshakes": int(full + rs + rt),
        "hs_full": int(full),
        "hs_resumed_session": int(rs),
        "hs_resumed_ticket": int(rt),
        "hs_errors": int(sl.msum(m, "tessera_handshake_errors_total", frontend=load)),
        "hs_err_timeout": int(sl.msum(m, "tessera_handshake_errors_total", frontend=load,
                                      reason="timeout")),
        "hs_err_protocol": int(sl.msum(m, "tessera_handshake_errors_total", frontend=load,
                                       reason=("protocol", "no_shared_cipher"))),
        "hs_err_other": int(sl.msum(m, "tessera_handshake_errors_total", frontend=load,
                                    reason="other")),
        "hs_errors_hostile": int(sl.msum(m, "tessera_handshake_errors_total",
                                         frontend=sl.HOSTILE_FRONTEND)),
        "connections_active": int(sl.msum(m, "tessera_connections_active", frontend=load)),
        "connections_active_hostile": int(sl.msum(m, "tessera_connections_active",
                                                  frontend=sl.HOSTILE_FRONTEND)),
        "connections_total": int(sl.msum(m, "tessera_connections_total")),
        "backend_connect_errors": int(sl.msum(m, "tessera_backend_connect_errors_total",
                                              frontend=load)),
        "memcached_up": int(sl.msum(m, "tessera_memcached_up")),
        "keyring_degraded": int(sl.msum(m, "tessera_keyring_degraded")),
        "keyring_epoch": int(sl.msum(m, "tessera_keyring_epoch")),
        "keyring_keys": int(sl.msum(m, "tessera_keyring_keys")),
        "session_cache_entries": int(sl.msum(m, "tessera_session_cache_entries")),
        "sess_get_hit": int(sl.msum(m, "tessera_session_cache_ops_total", op="get",
                                    result="hit")),
        "sess_get_miss": int(sl.msum(m, "tessera_session_cache_ops_total", op="get",
                                     result="miss")),
        "sess_get_failed": int(sl.msum(m, "tessera_session_cache_ops_total", op="get",
                                       result=failed)),
        "sess_set_failed": int(sl.msum(m, "tessera_session_cache_ops_total", op="set",
                                       result=failed)),
        "tickets_renewed": int(sl.msum(m, "tessera_tickets_total", op="renewed")),
        "tickets_unknown_key": int(sl.msum(m, "tessera_tickets_total", op="unknown_key")),
        "resumed_remote": int(sl.msum(m, "tessera_resumptions_total", origin="remote")),
        "entries_rejected": int(sl.msum(m, "tessera_session_entries_rejected_total")),
        "keyring_rejected": int(sl.msum(m, "tessera_keyring_rejected_total")),
        "accept_pauses": int(sl.msum(m, "tessera_accept_pauses_total")),
    }


def sample_one(name, pid, admin):
    row = {c: "" for c in COLUMNS}
    row.update(time="%.3f" % time.time(), instance=name, pid=pid, alive=0, metrics_ok=0)
    st = sl.proc_status(pid) if sl.alive(pid) else None
    if st is None:
        return row
    fds = sl.proc_fds(pid)
    row.update(alive=1, rss_kb=st[0], threads=st[1])
    if fds is not None:
        row["fds"] = len(fds)
        row["fds_nonsock"] = sum(1 for t in fds.values() if not t.startswith("socket:["))
    m = sl.fetch_metrics(admin)
    if m is not None:
        row.update(metric_columns(m))
    row["time_end"] = "%.3f" % time.time()
    return row


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--instance", action="append", required=True, help="NAME:PID:ADMIN_PORT")
    ap.add_argument("--interval", type=float, default=1.0)
    a = ap.parse_args()
    insts = []
    for spec in a.instance:
        name, pid, port = spec.split(":")
        insts.append((name, int(pid), int(port)))
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with open(a.out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        f.flush()
        nxt = time.monotonic()
        while not stop:
            for name, pid, port in insts:
                w.writerow(sample_one(name, pid, port))
            f.flush()
            nxt += a.interval
            now = time.monotonic()
            if nxt < now:
                nxt = now  # a slow sample (busy machine): go on from now, never catch up
            while not stop and time.monotonic() < nxt:
                time.sleep(min(0.1, max(0.0, nxt - time.monotonic())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
