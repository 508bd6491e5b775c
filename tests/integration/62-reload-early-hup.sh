#!/bin/bash
# 62-reload-early-hup: a SIGHUP at any moment of start-up is never fatal.
# tessera is started 100 times and sent SIGHUP 0, 5, 10, 20 and 50 ms after
# its first instruction (20 times each): every time it comes up, completes a
# TLS handshake through to the backend, and exits 0 on SIGTERM.  (Before the
# signals were blocked from the start, a SIGHUP within about 20 ms of start
# killed the process with status 129.)
#
# "Its first instruction": tessera blocks the signals in a .preinit_array
# function, before any library initialiser or main, and the test starts
# counting when that mask shows in /proc/PID/status.  Between exec and that
# moment the dynamic loader maps the libraries (4.5-7.7 ms measured on the
# CI machine); no program can run code there, so a signal in that window
# keeps its default action whatever the program does.  A service manager
# does not send one there: systemd queues `reload` until READY=1.
# timeout: 400
# shellcheck source=tests/integration/lib.sh disable=SC2034
. "$(dirname "$0")/lib.sh"

make_certs
start_backend banner
P=$(free_port)
cfg_frontend web "$P" "$BACKEND_PORT" "$(cert_entry ec)"
write_config "$TEST_DIR/tessera.conf"

python3 - "$TESSERA_BIN" "$TEST_DIR/tessera.conf" "$P" "$WAIT_LIMIT" <<'PYEOF' ||
import signal, socket, ssl, subprocess, sys, time

binary, conf, port, limit = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE

def serves(p):
    """A handshake and the backend's banner, retried until the limit."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and p.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
                with ctx.wrap_socket(raw) as tls:
                    if b"backend ready" in tls.recv(100):
                        return True
        except OSError:
            pass
        time.sleep(0.02)
    return False

def mask_set(p):
    """Wait until the process has blocked SIGHUP (bit 1 of SigBlk)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and p.poll() is None:
        try:
            with open(f"/proc/{p.pid}/status") as f:
                for line in f:
                    if line.startswith("SigBlk:") and int(line.split()[1], 16) & (1 << 0):
                        return True
        except OSError:
            pass
    print(f"pid {p.pid}: SIGHUP never blocked (exit {p.poll()})")
    return False

failures = 0
for delay_ms in (0, 5, 10, 20, 50):
    for rep in range(20):
        with open(f"tessera-hup-{delay_ms}-{rep}.log", "w") as log:
            p = subprocess.Popen([binary, "-c", conf], stdout=log, stderr=log)
            masked = mask_set(p)
            time.sleep(delay_ms / 1000)
            p.send_signal(signal.SIGHUP)
            ok = masked and serves(p)
            alive = p.poll() is None
            p.send_signal(signal.SIGTERM)
            try:
                status = p.wait(timeout=limit)
            except subprocess.TimeoutExpired:
                p.kill()
                status = "hung"
        if not (ok and alive and status == 0):
            failures += 1
            print(f"SIGHUP {delay_ms} ms after spawn, run {rep}: served={ok} alive={alive} "
                  f"exit={status}")
    print(f"SIGHUP {delay_ms} ms after spawn: done")
sys.exit(1 if failures else 0)
PYEOF
    fail "tessera did not survive every early SIGHUP"
grep -l "SIGHUP during start-up" tessera-hup-*.log | wc -l | sed 's/^/runs where the SIGHUP came during start-up: /'
log "ok"
