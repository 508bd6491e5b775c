"""soaklib.py - what the soak's Python helpers share (scripts/soak, tests/soak/).

Reading a tessera process from the outside: its /metrics (Prometheus text,
parsed into a small table), its /proc entries (RSS, threads, descriptors),
and, for the quiet points, which of its sockets are what (listening, admin,
memcached, client, backend), from /proc/net/tcp.

Standard library only; loopback only; every network call has a timeout.
"""
import http.client
import os

# The frontends the soak gives each instance (scripts/soak writes them).
LOAD_FRONTENDS = ("web", "bulk")
HOSTILE_FRONTEND = "hostile"


def started(out):
    """Say that a load client, writing its report to OUT, now handles SIGTERM:
    creates OUT's ".started" sibling, which scripts/soak waits for before it
    stops a chunk (a client stopped before this point dies without a report)."""
    open(os.path.splitext(out)[0] + ".started", "w").close()


def fetch_metrics(port, timeout=5.0):
    """GET /metrics from 127.0.0.1:PORT; returns the parsed samples
    ({(name, ((label, value), ...)): float}) or None when the endpoint does
    not answer in time."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", "/metrics", headers={"Connection": "close"})
        resp = conn.getresponse()
        if resp.status != 200:
            return None
        body = resp.read().decode("utf-8", "replace")
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()
    return parse_metrics(body)


def parse_metrics(text):
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        try:
            head, value = line.rsplit(" ", 1)
            v = float(value)
        except ValueError:
            continue
        labels = ()
        if "{" in head:
            name, rest = head.split("{", 1)
            rest = rest.rstrip("}")
            pairs = []
            for part in rest.split(","):
                if "=" in part:
                    k, val = part.split("=", 1)
                    pairs.append((k.strip(), val.strip().strip('"')))
            labels = tuple(sorted(pairs))
        else:
            name = head
        out[(name, labels)] = v
    return out


def msum(samples, name, **want):
    """Sum of the samples of family NAME whose labels include WANT; a value
    of WANT may be a tuple (any of them)."""
    total = 0.0
    for (n, labels), v in samples.items():
        if n != name:
            continue
        d = dict(labels)
        ok = True
        for k, val in want.items():
            if isinstance(val, tuple):
                if d.get(k) not in val:
                    ok = False
                    break
            elif d.get(k) != val:
                ok = False
                break
        if ok:
            total += v
    return total


def proc_status(pid):
    """(rss_kb, threads) of PID, or None when it is gone."""
    rss = threads = None
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("Threads:"):
                    threads = int(line.split()[1])
    except OSError:
        return None
    if rss is None or threads is None:
        return None
    return rss, threads


def proc_fds(pid):
    """{fd: link target} of PID (links that vanish while read are left out),
    or None when it is gone."""
    d = "/proc/%d/fd" % pid
    try:
        names = os.listdir(d)
    except OSError:
        return None
    out = {}
    for n in names:
        try:
            out[int(n)] = os.readlink(os.path.join(d, n))
        except OSError:
            pass
    return out


def alive(pid):
    """PID exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
    except OSError:
        return False
    return st[st.rfind(")") + 2:][:1] not in ("Z", "X", "")


def tcp_sockets():
    """{inode: (local_port, remote_port, state)} from /proc/net/tcp and tcp6
    (state is the kernel's hex code: 0A = LISTEN, 01 = ESTABLISHED)."""
    out = {}
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                next(f, None)
                for line in f:
                    p = line.split()
                    if len(p) < 10:
                        continue
                    inode = p[9]
                    if inode == "0":
                        continue
                    lport = int(p[1].rsplit(":", 1)[1], 16)
                    rport = int(p[2].rsplit(":", 1)[1], 16)
                    out[inode] = (lport, rport, p[3])
        except OSError:
            pass
    return out


def classify_fds(pid, admin_port, mc_port, frontend_ports, backend_ports):
    """Count PID's descriptors by kind: nonsock (epoll, eventfd, signalfd,
    files, pipes), listen, admin (connections to its admin endpoint: the
    soak's own requests), memcached, client, backend, othersock.  None when
    PID is gone."""
    fds = proc_fds(pid)
    if fds is None:
        return None
    socks = tcp_sockets()
    c = dict(total=len(fds), nonsock=0, listen=0, admin=0, memcached=0, client=0, backend=0,
             othersock=0)
    for target in fds.values():
        if not target.startswith("socket:["):
            c["nonsock"] += 1
            continue
        s = socks.get(target[8:-1])
        if s is None:
            c["othersock"] += 1  # not TCP (unix, netlink) or closed meanwhile
            continue
        lport, rport, state = s
        if state == "0A":
            c["listen"] += 1
        elif lport == admin_port:
            c["admin"] += 1
        elif rport == mc_port:
            c["memcached"] += 1
        elif lport in frontend_ports:
            c["client"] += 1
        elif rport in backend_ports:
            c["backend"] += 1
        else:
            c["othersock"] += 1
    return c
