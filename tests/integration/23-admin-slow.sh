#!/bin/bash
# 23-admin-slow: slow admin clients cannot keep /healthz from a load
# balancer (design.md, "Admin endpoint").  Six client addresses
# (127.0.0.2 .. 127.0.0.7) each keep 8 admin connections open that send one
# header byte a second and never finish their request, and open a new one
# as soon as tessera closes one.  Meanwhile GET /healthz from a seventh
# address (127.0.0.8) answers 200 "ok" within 1 s, 10 times out of 10; the
# slow connections are closed after the 2 s request deadline
# (tessera_admin_connections_closed_total{reason="slow"}) or, at the limit
# of 32, to make room (reason="evicted"); TLS is served throughout.
# subset: tsan
# shellcheck source=tests/integration/lib.sh disable=SC2034
. "$(dirname "$0")/lib.sh"

make_certs
start_backend echo
P=$(free_port)
cfg_frontend web "$P" "$BACKEND_PORT" "$(cert_entry ec)"
cfg_admin
write_config "$TEST_DIR/tessera.conf"
start_tessera "$TEST_DIR/tessera.conf"
ADMIN=http://127.0.0.1:$ADMIN_PORT

# closed REASON: tessera_admin_connections_closed_total{reason=REASON},
# asked from 127.0.0.9 (an address of its own).
closed() {
    curl -s --max-time 10 --interface 127.0.0.9 "$ADMIN/metrics" |
        python3 "$LIB_DIR/../tools/promcheck.py" value - \
            tessera_admin_connections_closed_total reason="$1"
}
closed_at_least() {
    local v
    v=$(closed "$1") || return 1
    [ "${v%.*}" -ge "$2" ]
}

# --- the deadline: one slow client alone is closed 2 s after it connects ---
# Not sooner: a lower bound holds on any machine.  The upper bound, 5 s,
# gives 3 s to a busy machine; a client that keeps sending a byte a second
# is never closed by libmicrohttpd's inactivity timeout, so only the
# deadline can close it before the client stops on its own at 20 s.
python3 - "$ADMIN_PORT" >deadline.out 2>&1 <<'PYEOF' || fail "slow client: $(cat deadline.out)"
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.10", 0))
s.connect(("127.0.0.1", int(sys.argv[1])))
t0 = time.monotonic()
s.settimeout(1)
for ch in b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaa":
    try:
        s.send(bytes([ch]))
        data = s.recv(4096)
    except socket.timeout:
        continue
    except OSError:
        data = b""
    if not data:
        break
took = time.monotonic() - t0
print("slow client closed by the server after %.2f s" % took)
assert 1.9 <= took < 5, took
PYEOF
log "$(cat deadline.out)"
assert_eq "$(closed slow)" 1 "tessera_admin_connections_closed_total{reason=\"slow\"}"

# --- 48 slow clients from 6 addresses ---
# The slow clients, until the file "stop" exists (or 120 s).  Every second
# each connection sends the next byte of a request whose headers never
# end; a connection the server closed is opened again at once (checked
# every 0.1 s).  Counts go to slow.out.
python3 - "$ADMIN_PORT" >slow.out 2>&1 <<'PYEOF' &
import os, select, socket, sys, time
port = int(sys.argv[1])
HEAD = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100000

class Slow:
    def __init__(self, src):
        self.src = src
        self.sock = None
        self.sent = 0
        self.opened = 0
        self.open()

    def open(self):
        if self.sock is not None:
            self.sock.close()
        self.sock = None
        s = socket.socket()
        s.bind((self.src, 0))
        s.settimeout(5)
        try:
            s.connect(("127.0.0.1", port))
        except OSError:
            s.close()
            return
        s.setblocking(False)
        self.sock = s
        self.sent = 0
        self.opened += 1

    def tick(self):
        if self.sock is None:
            self.open()
            return
        try:
            self.sock.send(HEAD[self.sent:self.sent + 1])
            self.sent += 1
        except OSError:
            self.open()

conns = [Slow("127.0.0.%d" % (2 + i // 8)) for i in range(48)]
print("slow: %d of 48 connected" % sum(c.sock is not None for c in conns), flush=True)
open("slow.ready", "w").close()
end = time.monotonic() + 120
next_byte = time.monotonic() + 1
closed = 0
while time.monotonic() < end and not os.path.exists("stop"):
    live = [c for c in conns if c.sock is not None]
    r, _, _ = select.select([c.sock for c in live], [], [], 0.1)
    for c in live:
        if c.sock in r:
            try:
                data = c.sock.recv(4096)
            except OSError:
                data = b""
            if not data:
                closed += 1
                c.open()
    for c in conns:
        if c.sock is None:
            c.open()
    if time.monotonic() >= next_byte:
        next_byte += 1
        for c in conns:
            c.tick()
print("slow: %d connections opened, %d closed by the server, %d bytes sent on the live ones"
      % (sum(c.opened for c in conns), closed, sum(c.sent for c in conns)), flush=True)
PYEOF
SLOW_PID=$!
track_pid $SLOW_PID
wait_for test -f slow.ready || fail "slow clients did not start: $(cat slow.out)"
log "$(head -n 1 slow.out)"

# The slow clients are at work: the endpoint is at its limit and pushes
# the oldest incomplete requests out to make room for new connections.
wait_for closed_at_least evicted 1 || fail "no connection evicted at the limit: $(cat slow.out)"

# /healthz from 127.0.0.8, ten times, each within 1 s.  The 1 s is curl's
# own time_total (connect to last byte), not the wall clock around the
# process.  What the endpoint does for it is an accept, one pass of its
# loop and a 3-byte answer: on an idle machine a few ms.  The rest of the
# second is the allowance for a machine whose cores are saturated by other
# work (the scheduler's latency there is tens of ms) and for the backlog of
# the slow clients' own reconnections ahead of it in the accept queue
# (libmicrohttpd accepts 10 per pass).  Without the deadline and the
# eviction, this request waits until a slow client gives up: forever here
# (curl's --max-time 5 ends it).
times=()
for i in $(seq 1 10); do
    out=$(curl -s --max-time 5 --interface 127.0.0.8 -o "healthz-$i.body" \
        -w "%{http_code} %{time_total}" "$ADMIN/healthz") || true
    code=${out%% *}
    t=${out#* }
    times+=("$t")
    assert_eq "$code" 200 "GET /healthz #$i status (took ${t}s)"
    assert_eq "$(cat "healthz-$i.body")" ok "GET /healthz #$i body"
    python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) < 1.0 else 1)' "$t" ||
        fail "GET /healthz #$i took ${t}s (limit 1 s); so far: ${times[*]}"
done
log "10 of 10 /healthz answered under 1 s while slow clients held the endpoint: ${times[*]} s"

# TLS is served meanwhile.
check_echo "$P"

# How much the endpoint closed, as /metrics tells it.
slow=$(closed slow) || fail "no closed{reason=slow} sample"
evicted=$(closed evicted) || fail "no closed{reason=evicted} sample"
touch stop
wait_exit $SLOW_PID 30 || fail "slow clients hang"
log "$(tail -n 1 slow.out)"
log "tessera closed $slow slow and evicted $evicted admin connections"

# Once they are gone, the endpoint is as before.
assert_eq "$(healthz "$ADMIN_PORT")" ok "GET /healthz afterwards"
tessera_running || fail "tessera died"
stop_tessera || fail "tessera exited with status $?"
log "endpoint answers after the slow clients left"
