#!/usr/bin/env python3
"""analyze.py - the soak's verdict (scripts/soak runs it last).

    analyze.py --dir OUT
    analyze.py --dir OUT --table 0,1,2,5,10

The second form prints only a table of RSS and descriptors per instance at
those minutes of the load (RSS: the sample nearest the mark; fds: the
largest of the samples within 5 s of it, so that a quiet moment does not
stand for the minute; the last mark may be the end of the load).

Reads what scripts/soak left in OUT (meta.txt, soak.csv, quiet.csv,
windows.csv, chunks.csv, chunks/NNN/*) and prints the summary: per instance
RSS / fds / threads at the start, after warm-up and at the end with min and
max; handshakes per kind; errors inside and outside the fault windows; the
checks; then "1 passed, 0 failed" or "0 passed, 1 failed" and, last,
"soak: PASS" or "soak: FAIL: <reason>".  Status 0 iff PASS.  The rules are
stated in scripts/soak's header; this file applies them.
"""
import argparse
import csv
import json
import os
import sys

INSTANCES = ("A", "B")
LOAD_KINDS = [  # (file stem, what it is)
    ("full12", "full TLS 1.2"),
    ("full13", "full TLS 1.3"),
    ("id12", "resumed TLS 1.2 session ID, cross-instance"),
    ("tkt12", "resumed TLS 1.2 ticket, cross-instance"),
    ("tkt13", "resumed TLS 1.3 ticket, cross-instance"),
    ("tkt13l", "resumed TLS 1.3 ticket, chain on one instance"),
    ("bulk", "bulk 256 KiB echoed, TLS 1.3"),
]
RSS_ALLOW_KB = 4096
RSS_ALLOW_FRAC = 0.10
# tessera's first-level session cache frees expired entries only when it
# meets them, so it fills up to its capacity (20480 sessions) whatever the
# lifetime: bounded growth, allowed for at this much RSS per entry (about
# 1.4 KB measured).
RSS_PER_CACHE_ENTRY_KB = 2
# The admin endpoint must answer: a longer gap between two answered samples
# of an instance during the load fails the run (and would blind rule 2).
MAX_SAMPLE_GAP_S = 30


def read_meta(d):
    meta, fails = {}, []
    try:
        with open(os.path.join(d, "meta.txt")) as f:
            for line in f:
                k, _, v = line.rstrip("\n").partition("=")
                if k == "fail":
                    fails.append(v)
                else:
                    meta[k] = v
    except OSError:
        pass
    return meta, fails


def read_csv(path):
    try:
        with open(path, newline="") as f:
            return list(csv.DictReader(f))
    except OSError:
        return []


def num(v, default=None):
    try:
        return float(v)
    except (TypeError, ValueError):
        return default


SUMMED = ("handshakes", "resumed", "errors", "prime_errors", "primed", "bytes", "pool_reused")


def parse_kv(path):
    """The result lines (key=value ...) of the tessera-bench runs in PATH,
    their counts summed (a cross-instance load appends one line per run);
    None when there is none."""
    try:
        with open(path) as f:
            lines = [l for l in f.read().splitlines() if l.startswith("mode=")]
    except OSError:
        return None
    if not lines:
        return None
    out = {k: 0 for k in SUMMED}
    out["runs"] = len(lines)
    for line in lines:
        for tok in line.split():
            k, _, v = tok.partition("=")
            if k in SUMMED:
                out[k] += num(v, 0)
    return out


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def overlaps(a0, a1, windows):
    return any(a0 <= w1 and a1 >= w0 for w0, w1 in windows)


def table(d, marks):
    meta, _ = read_meta(d)
    samples = read_csv(os.path.join(d, "soak.csv"))
    t0 = num(meta.get("load_start"))
    t1 = num(meta.get("load_stop"))
    if t0 is None or not samples:
        print("no samples")
        return 1
    if t1 is None:
        t1 = num(samples[-1]["time"])
    head = "%-9s" % "minute" + "".join(" %8s" % ("%g" % m) for m in marks)
    print(head)
    for x in INSTANCES:
        rows = [r for r in samples if r["instance"] == x and r["alive"] == "1" and
                t0 - 5 <= num(r["time"]) <= t1 + 1]
        rss, fds = [], []
        for m in marks:
            at = min(t0 + 60 * m, t1)
            near = min(rows, key=lambda r: abs(num(r["time"]) - at)) if rows else None
            around = [int(r["fds"]) for r in rows if abs(num(r["time"]) - at) <= 5 and r["fds"]]
            rss.append(near["rss_kb"] if near else "-")
            fds.append(max(around) if around else "-")
        print("%-9s" % ("%s RSS kB" % x) + "".join(" %8s" % v for v in rss))
        print("%-9s" % ("%s fds" % x) + "".join(" %8s" % v for v in fds))
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--table", help="minutes, comma-separated: print the RSS/fds table only")
    a = ap.parse_args()
    d = a.dir
    if a.table:
        return table(d, [float(m) for m in a.table.split(",")])
    meta, fails = read_meta(d)
    out = []

    def p(s=""):
        out.append(s)

    samples = read_csv(os.path.join(d, "soak.csv"))
    quiet = read_csv(os.path.join(d, "quiet.csv"))
    wrows = read_csv(os.path.join(d, "windows.csv"))
    chunks = read_csv(os.path.join(d, "chunks.csv"))
    t0 = num(meta.get("load_start"))
    t1 = num(meta.get("load_stop"))
    if t1 is None and samples:
        t1 = num(samples[-1]["time"])
    C = int(meta.get("churn_conns", "0"))
    hs_timeout = num(meta.get("hs_timeout"), 5)

    # ---- windows: from windows.csv; a window left open (the run ended in
    # it) lasts from its chunk's start to the end.
    windows = []
    closed = set()
    for w in wrows:
        windows.append((num(w["open"]), num(w["close"])))
        closed.add(w["window"])
    for c in chunks:
        if c["class"].startswith("window:") and c["class"][7:] not in closed:
            windows.append((num(c["start"]) - 30, float("inf")))

    p("== tessera soak: %s minute(s), %d fault window(s), output %s" % (
        meta.get("minutes", "?"), len(wrows), d))
    if wrows:
        kinds_n = {}
        for w in wrows:
            kinds_n[w["fault"]] = kinds_n.get(w["fault"], 0) + 1
        rec = [num(w["recovered_s"]) for w in wrows if w["recovered_s"]]
        p("faults: " + ", ".join("%s %d" % kv for kv in sorted(kinds_n.items())) +
          "; windows %.0f-%.0f s long; both instances healthy again at most %.1f s after a "
          "fault's 5 s%s" % (
              min(num(w["close"]) - num(w["open"]) for w in wrows),
              max(num(w["close"]) - num(w["open"]) for w in wrows), max(rec) if rec else 0,
              "" if len(rec) == len(wrows) else " (%d never)" % (len(wrows) - len(rec))))
        said = ["%s at +%.0f s (window %.0f-%.0f s)" % (
            w["fault"], num(w["fault_start"]) - t0, num(w["open"]) - t0, num(w["close"]) - t0)
            for w in wrows]
        if len(said) > 6:
            said = said[:3] + ["..."] + said[-2:]
        p("  " + ", ".join(said) + " (all in windows.csv)")

    # ---- per instance series
    by = {x: [r for r in samples if r["instance"] == x] for x in INSTANCES}
    for x in INSTANCES:
        by[x].sort(key=lambda r: num(r["time"]))

    L = (t1 - t0) if (t0 is not None and t1 is not None) else 0
    third1 = t0 + L / 3 if L else None
    third2 = t0 + 2 * L / 3 if L else None

    def in_range(r, lo, hi):
        t = num(r["time"])
        return r["alive"] == "1" and lo <= t <= hi

    # ---- resources table
    p()
    p("resources (start = last sample before the load; warm = first sample after the")
    p("first third; end = last sample of the load; min/max over the load):")
    p("  %-3s %-8s %9s %9s %9s %9s %9s" % ("", "", "start", "warm", "end", "min", "max"))
    growth = []
    for x in INSTANCES:
        rows = by[x]
        if not rows or t0 is None:
            continue
        before = [r for r in rows if num(r["time"]) < t0 and r["alive"] == "1"]
        load = [r for r in rows if in_range(r, t0, t1)]
        warm = [r for r in load if num(r["time"]) >= third1]
        start = before[-1] if before else (load[0] if load else None)
        if not load:
            continue
        for col, label in (("rss_kb", "RSS kB"), ("fds", "fds"), ("threads", "threads")):
            vals = [num(r[col]) for r in load if r[col] != ""]
            if not vals:
                continue
            p("  %-3s %-8s %9s %9s %9s %9d %9d" % (
                x, label, start[col] if start else "-", warm[0][col] if warm else "-",
                load[-1][col], min(vals), max(vals)))
        mid = [r for r in load if third1 <= num(r["time"]) < third2]
        last = [r for r in load if num(r["time"]) >= third2]
        if mid and last:
            mr = max(num(r["rss_kb"]) for r in mid)
            lr = max(num(r["rss_kb"]) for r in last)
            me = max(num(r["session_cache_entries"], 0) for r in mid)
            le = max(num(r["session_cache_entries"], 0) for r in last)
            cache = max(0.0, le - me) * RSS_PER_CACHE_ENTRY_KB
            allow = max(RSS_ALLOW_KB, RSS_ALLOW_FRAC * mr) + cache
            ok = lr <= mr + allow
            growth.append(("%s RSS: max last third %d kB <= max middle third %d kB + max(4 MiB, "
                           "10%%) + session cache %d -> %d entries x %d kB = %d kB" % (
                               x, lr, mr, me, le, RSS_PER_CACHE_ENTRY_KB, mr + allow), ok))
            mt = max(num(r["threads"]) for r in mid)
            lt = max(num(r["threads"]) for r in last)
            growth.append(("%s threads: max last third %d <= max middle third %d" % (
                x, lt, mt), lt <= mt))
            mf = max(num(r["fds"], 0) for r in mid)
            lf = max(num(r["fds"], 0) for r in last)
            growth.append(("%s fds under load: max last third %d <= max middle third %d + 2 x %d "
                           "(the connections the load opens and closes) = %d" % (
                               x, lf, mf, C, mf + 2 * C), lf <= mf + 2 * C))

    # ---- quiet points
    qby = {x: [q for q in quiet if q["instance"] == x] for x in INSTANCES}
    if quiet:
        p()
        p("quiet points (no connection open; fds by kind: fixed = epoll, eventfd, files,")
        p("listening sockets; mc = memcached connections; admin = the soak's requests):")
    for x in INSTANCES:
        qs = qby[x]
        if not qs:
            continue
        ref = next((q for q in qs if q["label"] == "start"), None)

        def rng(col):
            v = [int(q[col]) for q in qs if q[col] != ""]
            return ("%d" % v[0] if min(v) == max(v) else "%d-%d" % (min(v), max(v))) if v else "-"

        odd = [q for q in qs if ref is not None and (q["fixed"] != ref["fixed"] or
                                                      q["memcached"] != ref["memcached"])]
        p("  %s: %d quiet points: fixed %s, memcached %s, admin %s, client %s, backend %s%s" % (
            x, len(qs), rng("fixed"), rng("memcached"), rng("admin"), rng("client"),
            rng("backend"), "" if not odd else "; unlike the start at " + ", ".join(
                "%s (%s/%s)" % (q["label"], q["fixed"], q["memcached"]) for q in odd[:8])))
        if ref is None or ref["fixed"] == "":
            continue
        fixed0 = int(ref["fixed"])
        mc0 = int(ref["memcached"])
        after = [q for q in qs if q["label"] != "start" and q["fixed"] != "" and
                 num(q["time"]) >= third1]
        bad = [q for q in after if int(q["fixed"]) != fixed0 or int(q["memcached"]) > mc0 or
               int(q["client"]) or int(q["backend"])]
        growth.append(("%s fds at the quiet points after warm-up (%d): fixed == %d, memcached "
                       "<= %d, client == backend == 0" % (x, len(after), fixed0, mc0) +
                       ("" if not bad else "; differ at " + ", ".join(
                           "%s (fixed %s, mc %s, client %s, backend %s)" % (
                               q["label"], q["fixed"], q["memcached"], q["client"],
                               q["backend"]) for q in bad[:5])), not bad))

    # ---- tessera's counters, inside / outside windows
    p()
    p("tessera's counters over the load (frontends web+bulk):")
    p("  %-3s %9s %9s %9s %9s %8s %8s %8s %8s" % (
        "", "full", "res_sess", "res_tkt", "remote", "renewed", "unk_key", "sess_get", "get_fail"))
    terr = {}
    for x in INSTANCES:
        rows = [r for r in by[x] if r["metrics_ok"] == "1"]
        if not rows or t0 is None:
            continue
        first = ([r for r in rows if num(r["time"]) < t0] or rows[:1])[-1]
        lastr = ([r for r in rows if num(r["time_end"]) <= t1] or rows[-1:])[-1]

        def dl(col):
            return int(num(lastr[col], 0) - num(first[col], 0))

        p("  %-3s %9d %9d %9d %9d %8d %8d %8d %8d" % (
            x, dl("hs_full"), dl("hs_resumed_session"), dl("hs_resumed_ticket"),
            dl("resumed_remote"), dl("tickets_renewed"), dl("tickets_unknown_key"),
            dl("sess_get_hit") + dl("sess_get_miss"), dl("sess_get_failed")))
        e = dict(hs_in=0, hs_out=0, be_in=0, be_out=0, host=0, stop=0, out_at=[],
                 down_out=0, degraded_out=0, getfail_in=0, getfail_out=0, setfail_out=0)
        for r in rows:
            t = num(r["time"])
            if t0 <= t <= t1 and not overlaps(t, num(r["time_end"]), windows):
                e["down_out"] += r["memcached_up"] == "0"
                e["degraded_out"] += r["keyring_degraded"] == "1"
        for prev, cur in zip(rows, rows[1:]):
            a0, a1 = num(prev["time"]), num(cur["time_end"])
            dh = int(num(cur["hs_errors"], 0) - num(prev["hs_errors"], 0))
            db = int(num(cur["backend_connect_errors"], 0) -
                     num(prev["backend_connect_errors"], 0))
            e["host"] += int(num(cur["hs_errors_hostile"], 0) - num(prev["hs_errors_hostile"], 0))
            if a1 <= t1 and a0 >= t0:
                gf = int(num(cur["sess_get_failed"], 0) - num(prev["sess_get_failed"], 0))
                sf = int(num(cur["sess_set_failed"], 0) - num(prev["sess_set_failed"], 0))
                if overlaps(a0, a1, windows):
                    e["getfail_in"] += gf
                else:
                    e["getfail_out"] += gf
                    e["setfail_out"] += sf
            if dh == 0 and db == 0:
                continue
            if t1 is not None and a1 > t1:
                e["stop"] += dh + db  # reaches past the load's end: the final stop's aborts
            elif overlaps(a0, a1, windows):
                e["hs_in"] += dh
                e["be_in"] += db
            else:
                e["hs_out"] += dh
                e["be_out"] += db
                why = ", ".join("%s %d" % (k, v) for k, v in (
                    (c, int(num(cur["hs_err_" + c], 0) - num(prev["hs_err_" + c], 0)))
                    for c in ("timeout", "protocol", "other")) if v)
                if db:
                    why += (", " if why else "") + "backend %d" % db
                e["out_at"].append("+%.0f-%.0f s: %s" % (a0 - t0, a1 - t0, why))
        terr[x] = e

    # ---- the load clients, per chunk
    kinds = {k: dict(hs=0, resumed=0, primed=0, err_in=0, err_out=0, noreport=0, bytes=0,
                     res_out=0, hs_out=0, runs=0, pool_reused=0) for k, _ in LOAD_KINDS}
    idle = dict(opened=0, err_in=0, err_out=0, dropped_in=0, dropped_out=0, final_ok=0,
                final_failed_in=0, final_failed_out=0, noreport=0)
    host = {}
    host_bad_out = 0
    host_noreport = 0
    longest = 0.0
    for c in chunks:
        inside = c["class"] != "clean"
        cdir = os.path.join(d, "chunks", "%03d" % int(c["chunk"]))
        for k, _ in LOAD_KINDS:
            for x in INSTANCES:
                r = parse_kv(os.path.join(cdir, "%s-%s.out" % (k, x)))
                if r is None:
                    kinds[k]["noreport"] += 1
                    kinds[k]["err_in" if inside else "err_out"] += 1
                    continue
                n = int(num(r.get("errors"), 0) + num(r.get("prime_errors"), 0))
                kinds[k]["err_in" if inside else "err_out"] += n
                hs = int(num(r.get("handshakes"), 0))
                res = int(num(r.get("resumed"), 0))
                kinds[k]["hs"] += hs
                kinds[k]["resumed"] += res
                kinds[k]["primed"] += int(num(r.get("primed"), 0))
                kinds[k]["bytes"] += int(num(r.get("bytes"), 0))
                kinds[k]["runs"] += r["runs"]
                kinds[k]["pool_reused"] += int(r["pool_reused"])
                if not inside:
                    kinds[k]["hs_out"] += hs
                    kinds[k]["res_out"] += res
        for x in INSTANCES:
            j = read_json(os.path.join(cdir, "idle-%s.json" % x))
            if j is None:
                idle["noreport"] += 1
                idle["err_in" if inside else "err_out"] += 1
            else:
                idle["opened"] += j.get("opened", 0)
                idle["final_ok"] += j.get("final_ok", 0)
                idle["err_in" if inside else "err_out"] += j.get("errors", 0)
                idle["dropped_in" if inside else "dropped_out"] += j.get("dropped", 0)
                idle["final_failed_in" if inside else "final_failed_out"] += j.get(
                    "final_failed", 0)
            j = read_json(os.path.join(cdir, "hostile-%s.json" % x))
            if j is None:
                host_noreport += 1
                continue
            longest = max(longest, j.get("longest_halfhello_close_s", 0))
            for kind, cnt in j.get("counts", {}).items():
                hk = host.setdefault(kind, {})
                for o, n in cnt.items():
                    hk[o] = hk.get(o, 0) + n
                if not inside:
                    host_bad_out += cnt.get("stuck", 0) + cnt.get("connect_failed", 0)

    p()
    p("handshakes by the load clients (completed exchanges; primed = full handshakes made")
    p("on the other instance for the cross-instance pools; errors in/out of the windows):")
    p("  %-44s %8s %8s %7s %7s %7s" % ("kind", "done", "resumed", "primed", "err in", "err out"))
    for k, what in LOAD_KINDS:
        s = kinds[k]
        p("  %-44s %8d %8s %7s %7d %7d" % (
            what, s["hs"], s["resumed"] if k.startswith(("id", "tkt")) else "-",
            s["primed"] if k.startswith(("id", "tkt")) else "-", s["err_in"], s["err_out"]))
    p("  %-44s %8d %8s %7s %7d %7d" % (
        "idle held connections (opened)", idle["opened"], "-", "-",
        idle["err_in"] + idle["dropped_in"] + idle["final_failed_in"],
        idle["err_out"] + idle["dropped_out"] + idle["final_failed_out"]))
    p("  idle: %d dropped by the server (in %d / out %d), final exchange ok %d, failed %d/%d"
      % (idle["dropped_in"] + idle["dropped_out"], idle["dropped_in"], idle["dropped_out"],
         idle["final_ok"], idle["final_failed_in"], idle["final_failed_out"]))
    ratios = []
    for k, what in LOAD_KINDS:
        s = kinds[k]
        if k.startswith(("id", "tkt")) and s["hs_out"]:
            ratios.append("%s %.3f" % (k, s["res_out"] / s["hs_out"]))
    if ratios:
        p("  resumed ratio outside the windows: " + ", ".join(ratios))
    p("  cross-instance runs (each a fresh pool of sessions made on the other instance, each "
      "offered once): " + ", ".join("%s %d" % (k, kinds[k]["runs"]) for k in ("id12", "tkt12",
                                                                         "tkt13")) +
      "; pool entries offered twice: %d" % sum(kinds[k]["pool_reused"] for k in kinds))
    if kinds["bulk"]["bytes"]:
        p("  bulk: %.1f MB echoed" % (kinds["bulk"]["bytes"] / 1e6))
    p("hostile clients (frontend hostile; failing is their job): " + "; ".join(
        "%s %s" % (k, ", ".join("%s %d" % (o, n) for o, n in sorted(v.items())))
        for k, v in sorted(host.items())) + "; longest half-ClientHello close %.1f s" % longest)

    p()
    p("tessera's handshake errors (web+bulk) and backend connect errors:")
    for x in INSTANCES:
        e = terr.get(x)
        if e is None:
            continue
        p("  %s: handshake errors in windows %d, outside %d%s; backend connect errors in %d, "
          "outside %d; after the load's stop %d (aborted by the stop); hostile frontend's "
          "handshake errors %d (expected)" % (
              x, e["hs_in"], e["hs_out"],
              " (at " + ", ".join(e["out_at"][:8]) + ")" if e["out_at"] else "",
              e["be_in"], e["be_out"], e["stop"], e["host"]))
        p("     memcached outside the windows (not a failure): marked down in %d sample(s), "
          "keyring degraded in %d; session gets failed (error, timeout, dropped) in %d / out %d, "
          "sets failed out %d" % (e["down_out"], e["degraded_out"], e["getfail_in"],
                                  e["getfail_out"], e["setfail_out"]))

    # ---- verdict
    checks = []
    for x in INSTANCES:
        e = terr.get(x)
        if e is not None:
            checks.append(("%s: no tessera handshake/backend error outside the windows (%d)" % (
                x, e["hs_out"] + e["be_out"]), e["hs_out"] + e["be_out"] == 0))
    cl_out = sum(s["err_out"] for s in kinds.values())
    id_out = idle["err_out"] + idle["dropped_out"] + idle["final_failed_out"]
    checks.append(("no load client error outside the windows (%d: %s)" % (
        cl_out + id_out, ", ".join("%s %d" % (k, s["err_out"]) for k, s in kinds.items()) +
        ", idle %d" % id_out), cl_out + id_out == 0))
    checks.append(("hostile connections all accepted and closed by tessera within %g + 10 s "
                   "outside the windows (%d not)" % (hs_timeout, host_bad_out),
                   host_bad_out == 0))
    checks.extend(growth)
    if not samples:
        checks.append(("samples were taken", False))
    for x in INSTANCES:
        ok_t = [num(r["time"]) for r in by[x] if r["metrics_ok"] == "1" and t0 is not None and
                t0 <= num(r["time"]) <= t1]
        if t0 is None:
            continue
        edges = [t0] + ok_t + [t1]
        gap = max(b - a for a, b in zip(edges, edges[1:]))
        checks.append(("%s sampled: %d samples with /metrics over %.0f s, largest gap %.1f s "
                       "<= %d s" % (x, len(ok_t), L, gap, MAX_SAMPLE_GAP_S),
                       gap <= MAX_SAMPLE_GAP_S))
    p()
    p("checks:")
    for what, ok in checks:
        p("  %s %s" % ("ok  " if ok else "FAIL", what))
    for f in fails:
        p("  FAIL %s" % f)
    reasons = list(fails) + [w for w, ok in checks if not ok]
    p()
    p("CSV: %s" % os.path.join(d, "soak.csv"))
    if reasons:
        p("0 passed, 1 failed")
        more = " (and %d more, see above)" % (len(reasons) - 1) if len(reasons) > 1 else ""
        p("soak: FAIL: %s%s" % (reasons[0], more))
    else:
        p("1 passed, 0 failed")
        p("soak: PASS")
    print("\n".join(out))
    return 1 if reasons else 0


if __name__ == "__main__":
    sys.exit(main())
