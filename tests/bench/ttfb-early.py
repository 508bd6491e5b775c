#!/usr/bin/env python3
"""ttfb-early.py - the helpers of ttfb-early.sh (issue 14): not run alone.

  ttfb-early.py backend PORTFILE LOG
      A plaintext backend on 127.0.0.1:0 ("PORT n" in PORTFILE).  For each
      connection, one line in LOG: "<monotonic ns of the first byte> <first
      request line>", then a small HTTP 200 reply and close.
  ttfb-early.py delay PORTFILE LOG TARGET_PORT DELAY_MS
      A TCP relay on 127.0.0.1:0 to 127.0.0.1:TARGET_PORT that holds every
      chunk DELAY_MS before forwarding it, in each direction, in order (so a
      round trip through it costs 2 * DELAY_MS).  One line per connection in
      LOG: "<monotonic ns of the accept>".
  ttfb-early.py run WORK A_PORT PROXY_PORT B_PID N BACKEND_LOG DELAY_LOG MC_PID
      The clients: for each of N returning clients, per arm (0rtt, 1rtt;
      the order alternates), a fresh ticket from A directly, then a
      resumption of it on B through the relay, with the request as early
      data (0rtt) or after the handshake (1rtt).  Writes WORK/samples.tsv.

All clocks are CLOCK_MONOTONIC of this machine (time.monotonic_ns).
"""
import asyncio
import os
import subprocess
import sys
import time

REPLY = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"


def serve(handle, portfile):
    """Serve `handle` on a free loopback port, written as "PORT n" to portfile."""

    async def main():
        srv = await asyncio.start_server(handle, "127.0.0.1", 0)
        with open(portfile, "w") as f:
            f.write("PORT %d\n" % srv.sockets[0].getsockname()[1])
        async with srv:
            await srv.serve_forever()

    asyncio.run(main())


def backend(portfile, logpath):
    log = open(logpath, "a", buffering=1)

    async def handle(reader, writer):
        try:
            first = await reader.read(65536)
            t = time.monotonic_ns()
            if not first:
                return
            data = first
            while b"\r\n\r\n" not in data and b"\n\n" not in data and len(data) < 65536:
                more = await reader.read(65536)
                if not more:
                    break
                data += more
            line = data.split(b"\n", 1)[0].strip().decode("latin-1").replace(" ", "_")
            log.write("%d %s\n" % (t, line))
            writer.write(REPLY)
            await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    serve(handle, portfile)


def delay(portfile, logpath, target, delay_ms):
    log = open(logpath, "a", buffering=1)
    d = delay_ms / 1000.0

    async def pipe(reader, writer):
        # The reader stamps each chunk; the sender forwards it at stamp + d.
        q = asyncio.Queue()

        async def sender():
            loop = asyncio.get_running_loop()
            while True:
                due, chunk = await q.get()
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if chunk is None:
                    try:
                        writer.write_eof()
                    except (OSError, RuntimeError):
                        pass
                    return
                writer.write(chunk)
                await writer.drain()

        task = asyncio.create_task(sender())
        loop = asyncio.get_running_loop()
        try:
            while True:
                chunk = await reader.read(65536)
                q.put_nowait((loop.time() + d, chunk if chunk else None))
                if not chunk:
                    break
            await task
        except (ConnectionError, OSError):
            task.cancel()

    async def handle(creader, cwriter):
        log.write("%d\n" % time.monotonic_ns())
        try:
            sreader, swriter = await asyncio.open_connection("127.0.0.1", target)
        except OSError:
            cwriter.close()
            return
        await asyncio.gather(pipe(creader, swriter), pipe(sreader, cwriter),
                             return_exceptions=True)
        cwriter.close()
        swriter.close()

    serve(handle, portfile)


def cpu_ns(pid):
    """(sum_exec_runtime ns over PID's threads, utime+stime ticks, ns of the
    worker threads, ns of the memcached helper threads)."""
    ns = worker = mc = 0
    base = "/proc/%d/task" % pid
    for tid in os.listdir(base):
        try:
            with open("%s/%s/schedstat" % (base, tid)) as f:
                t = int(f.read().split()[0])
            with open("%s/%s/comm" % (base, tid)) as f:
                comm = f.read().strip()
        except (OSError, ValueError):
            continue
        ns += t
        if comm.startswith("worker"):
            worker += t
        elif comm.startswith("memcached"):
            mc += t
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return ns, int(fields[11]) + int(fields[12]), worker, mc


def s_client(port, args, request, pattern, timeout=20):
    """openssl s_client to 127.0.0.1:PORT with ARGS; REQUEST written to its
    stdin at once (None: none), stdin closed once PATTERN shows in the output.
    Returns (output, monotonic ns just before the spawn)."""
    cmd = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-tls1_3",
           "-servername", "example.test"] + args
    t0 = time.monotonic_ns()
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    if request is not None:
        p.stdin.write(request)
        p.stdin.flush()
    out = b""
    deadline = time.monotonic() + timeout
    os.set_blocking(p.stdout.fileno(), False)
    while pattern not in out and time.monotonic() < deadline:
        try:
            chunk = p.stdout.read()
        except BlockingIOError:
            chunk = None
        if chunk:
            out += chunk
            continue
        if p.poll() is not None:
            break
        time.sleep(0.002)
    try:
        p.stdin.close()
    except OSError:
        pass
    try:
        p.wait(timeout=5)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    os.set_blocking(p.stdout.fileno(), True)
    out += p.stdout.read() or b""
    return out.decode("latin-1"), t0


def wait_line(path, needle, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(path) as f:
            for line in f:
                if needle in line:
                    return line.split()
        time.sleep(0.005)
    return None


def run(work, a_port, proxy_port, b_pid, n, backend_log, delay_log, mc_pid):
    out = open(os.path.join(work, "samples.tsv"), "w", buffering=1)
    out.write("arm\ti\tok\tttfb_connect_ms\tttfb_spawn_ms\tb_cpu_us\tb_ticks\tdetail"
              "\tb_worker_us\tb_mc_us\tmemcached_us\n")
    tag = "%d" % os.getpid()
    # B's and memcached's background CPU with no traffic, over 1 s.
    c0, m0 = cpu_ns(b_pid), cpu_ns(mc_pid)[0]
    time.sleep(1)
    c1, m1 = cpu_ns(b_pid), cpu_ns(mc_pid)[0]
    with open(os.path.join(work, "idle.txt"), "w") as f:
        f.write("%.1f %.1f %.1f %.1f\n" % ((c1[0] - c0[0]) / 1e3, (c1[2] - c0[2]) / 1e3, (c1[3] - c0[3]) / 1e3,
                (m1 - m0) / 1e3))
    for i in range(n):
        arms = ("0rtt", "1rtt") if i % 2 == 0 else ("1rtt", "0rtt")
        for arm in arms:
            sess = os.path.join(work, "sess.pem")
            if os.path.exists(sess):
                os.unlink(sess)
            # A fresh ticket from A, directly: a full handshake, a request and
            # its reply (the ticket arrives after the handshake).
            o, _ = s_client(a_port, ["-sess_out", sess],
                            b"GET /ticket/%s/%s/%d HTTP/1.1\r\nHost: example.test\r\n\r\n"
                            % (tag.encode(), arm.encode(), i), b"HTTP/1.1 200")
            if "HTTP/1.1 200" not in o or not os.path.exists(sess):
                out.write("%s\t%d\t0\t\t\t\t\tno ticket from A\n" % (arm, i))
                continue
            rid = "/ttfb/%s/%s/%d" % (tag, arm, i)
            req = b"GET " + rid.encode() + b" HTTP/1.1\r\nHost: example.test\r\n\r\n"
            with open(delay_log) as f:
                accepts0 = sum(1 for _ in f)
            c0 = cpu_ns(b_pid)
            m0 = cpu_ns(mc_pid)[0]
            if arm == "0rtt":
                edf = os.path.join(work, "early.txt")
                with open(edf, "wb") as f:
                    f.write(req)
                o, t_spawn = s_client(proxy_port, ["-sess_in", sess, "-early_data", edf],
                                      None, b"HTTP/1.1 200")
                want_ed = "Early data was accepted"
            else:
                o, t_spawn = s_client(proxy_port, ["-sess_in", sess], req, b"HTTP/1.1 200")
                want_ed = "Early data was not sent"
            got = wait_line(backend_log, rid)
            # Let B finish the connection (close, reply relayed) before the
            # second CPU sample.
            time.sleep(0.05)
            c1 = cpu_ns(b_pid)
            m1 = cpu_ns(mc_pid)[0]
            with open(delay_log) as f:
                accepts = [int(x) for x in f.read().split()]
            detail = []
            if "Reused," not in o:
                detail.append("not reused")
            if want_ed not in o:
                detail.append("want '%s'" % want_ed)
            if got is None:
                detail.append("request not at the backend")
            if len(accepts) != accepts0 + 1:
                detail.append("%d relay accepts" % (len(accepts) - accepts0))
            if detail:
                out.write("%s\t%d\t0\t\t\t\t\t%s\n" % (arm, i, "; ".join(detail)))
                continue
            t_first = int(got[0])
            out.write("%s\t%d\t1\t%.3f\t%.3f\t%.1f\t%d\t\t%.1f\t%.1f\t%.1f\n" % (
                arm, i, (t_first - accepts[-1]) / 1e6, (t_first - t_spawn) / 1e6,
                (c1[0] - c0[0]) / 1e3, c1[1] - c0[1], (c1[2] - c0[2]) / 1e3, (c1[3] - c0[3]) / 1e3,
                (m1 - m0) / 1e3))


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "backend":
        backend(sys.argv[2], sys.argv[3])
    elif cmd == "delay":
        delay(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]))
    elif cmd == "run":
        run(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]),
            int(sys.argv[6]), sys.argv[7], sys.argv[8], int(sys.argv[9]))
    else:
        sys.exit("usage: see the head of this file")
