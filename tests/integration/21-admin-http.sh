#!/bin/bash
# 21-admin-http: the admin endpoint's HTTP surface.  /stats and /keyring are
# JSON of the documented shape and /keyring shows no key material; unknown
# paths get 404 and other methods 405.  Hostile admin clients (garbage,
# requests without a version, a 100 KB URL, a client sending one byte a
# second, 40 idle connections, more than the endpoint's limit of 32) do not
# disturb TLS serving running meanwhile, and the endpoint answers again
# afterwards.  Configuration: a non-loopback admin.listen without
# admin.allow is rejected with FILE:LINE, admin.listen = "" listens on
# nothing, and an admin.allow that excludes loopback refuses loopback.
# shellcheck source=tests/integration/lib.sh disable=SC2034
. "$(dirname "$0")/lib.sh"

BENCH=${TESSERA_BENCH:-$TESSERA_TOOLS/../bench/tessera-bench}
[ -x "$BENCH" ] || fail "tessera-bench not found at $BENCH (set TESSERA_BENCH)"

make_certs
start_backend http
HTTP_BACKEND=$BACKEND_PORT
start_backend echo
PL=$(free_port)
PW=$(free_port)
cfg_frontend load "$PL" "$HTTP_BACKEND" "$(cert_entry ec)"
cfg_frontend web "$PW" "$BACKEND_PORT" "$(cert_entry ec)"
cfg_admin
write_config "$TEST_DIR/tessera.conf"
start_tessera "$TEST_DIR/tessera.conf"
ADMIN=http://127.0.0.1:$ADMIN_PORT

# http_status METHOD PATH: the status code of one request ("000": none).
http_status() {
    curl -s --max-time 10 -o /dev/null -w '%{http_code}' -X "$1" "$ADMIN$2"
}

# listening_ports PID: the TCP ports PID listens on, sorted, one per line.
listening_ports() {
    ss -Hltnp | grep "pid=$1," | awk '{ n = split($4, a, ":"); print a[n] }' | sort -nu
}

# --- JSON documents ---
tclient resume-chain --port "$PW" --tls 1.3 --mode ticket --count 2 >/dev/null ||
    fail "resumption chain failed"
curl -sS --max-time 10 -D stats.hdr -o stats.json "$ADMIN/stats" || fail "GET /stats"
curl -sS --max-time 10 -D keyring.hdr -o keyring.json "$ADMIN/keyring" || fail "GET /keyring"
assert_contains stats.hdr '^HTTP/1\.[01] 200'
assert_contains stats.hdr '^[Cc]ontent-[Tt]ype: application/json'
assert_contains keyring.hdr '^HTTP/1\.[01] 200'
assert_contains keyring.hdr '^[Cc]ontent-[Tt]ype: application/json'
python3 -m json.tool stats.json >/dev/null || fail "/stats is not JSON: $(head -c 500 stats.json)"
python3 -m json.tool keyring.json >/dev/null || fail "/keyring is not JSON: $(cat keyring.json)"
python3 - "${TESSERA_TEST_WORKERS:-2}" <<'PYEOF' || fail "/stats has the wrong shape: $(head -c 3000 stats.json)"
import json, sys
s = json.load(open("stats.json"))
for k in ("version", "openssl", "start_time", "draining", "healthy", "totals", "frontends",
          "workers", "keyring"):
    assert k in s, "no %r" % k
assert isinstance(s["version"], str) and s["version"], s["version"]
assert s["openssl"].startswith("OpenSSL "), s["openssl"]
assert s["draining"] is False and s["healthy"] is True
t = s["totals"]
assert t["handshakes_total"] == {"full": 1, "resumed_session": 0, "resumed_ticket": 2}, t
assert set(t["bytes_total"]) == {"in", "out"}
assert set(s["frontends"]) == {"load", "web"}, list(s["frontends"])
assert s["frontends"]["web"]["handshakes_total"]["resumed_ticket"] == 2
assert s["frontends"]["load"]["handshakes_total"]["full"] == 0
assert s["frontends"]["web"]["handshake_duration_seconds"]["count"] == 3
assert len(s["workers"]) == int(sys.argv[1]), len(s["workers"])
assert sum(w["handshakes_total"]["resumed_ticket"] for w in s["workers"]) == 2
assert s["keyring"]["degraded"] is False
PYEOF
python3 - <<'PYEOF' || fail "/keyring has the wrong shape: $(cat keyring.json)"
import json, re
raw = open("keyring.json").read()
k = json.loads(raw)
assert k["degraded"] is False, k
keys = k["keys"]
assert isinstance(keys, list) and keys, keys
for key in keys:
    assert set(key) == {"epoch", "role", "source", "fingerprint"}, key
    assert isinstance(key["epoch"], int) and key["epoch"] > 0, key
    assert key["role"] in ("current", "next", "decrypt-only"), key
    assert key["source"] in ("cluster", "local"), key
    assert re.fullmatch(r"[0-9a-f]{8}", key["fingerprint"]), key
roles = [key["role"] for key in keys]
assert roles.count("current") == 1 and roles.count("next") == 1, roles
cur = [key["epoch"] for key in keys if key["role"] == "current"][0]
nxt = [key["epoch"] for key in keys if key["role"] == "next"][0]
assert nxt == cur + 1, (cur, nxt)
assert len({key["fingerprint"] for key in keys}) == len(keys), "fingerprints repeat"
# Nothing that could be key material: no run of more than 8 hex digits
# that is not a plain decimal number, no long string anywhere.
for run in re.findall(r"[0-9A-Fa-f]{9,}", raw):
    assert run.isdigit() and len(run) <= 12, "hex run %r" % run
def strings(v):
    if isinstance(v, str):
        yield v
    elif isinstance(v, dict):
        for x in v.values():
            yield from strings(x)
    elif isinstance(v, list):
        for x in v:
            yield from strings(x)
for text in strings(k):
    assert len(text) <= 12, "long string %r" % text
PYEOF
# /stats embeds the keyring: no key material there either.
python3 - <<'PYEOF' || fail "/stats shows something like key material"
import re
raw = open("stats.json").read()
for run in re.findall(r"[0-9A-Fa-f]{9,}", raw):
    assert run.isdigit() and len(run) <= 12, "hex run %r" % run
PYEOF
log "/stats and /keyring: JSON of the documented shape, no key material"

# --- status codes ---
assert_eq "$(http_status GET /nope)" 404 "GET /nope"
assert_eq "$(http_status GET /metrics/x)" 404 "GET /metrics/x"
for m in POST PUT DELETE; do
    assert_eq "$(http_status $m /metrics)" 405 "$m /metrics"
done
assert_eq "$(http_status POST /healthz)" 405 "POST /healthz"
curl -s --max-time 10 -D post.hdr -o /dev/null -X POST -d 'x=1' "$ADMIN/metrics"
assert_contains post.hdr '^[Aa]llow: GET'
for p in /metrics /stats /keyring /healthz; do
    assert_eq "$(http_status GET $p)" 200 "GET $p"
done
log "404 for unknown paths, 405 (Allow: GET) for POST/PUT/DELETE"

# --- hostile admin clients while TLS is being served ---
# Background TLS load on one frontend for a fixed time; it must end with
# no error at all.
"$BENCH" full --port "$PL" --duration 8 --warmup 0 --conc 4 --conn-timeout 5 \
    >bench.out 2>bench.log &
BENCH_PID=$!
track_pid $BENCH_PID
bench_started() {
    [ "$(curl -s --max-time 5 "$ADMIN/metrics" |
        python3 "$LIB_DIR/../tools/promcheck.py" value - tessera_handshakes_total \
            frontend=load 2>/dev/null || echo 0)" -gt 0 ]
}
wait_for bench_started || fail "background TLS load did not start: $(cat bench.log)"

# Hostile clients, each from its own loopback address (127.0.0.2 ...) so
# that libmicrohttpd's per-address limit (8) does not hide the global one.
python3 - "$ADMIN_PORT" >abuse.out 2>&1 <<'PYEOF' || fail "hostile admin clients: $(cat abuse.out)"
import socket, sys, time
port = int(sys.argv[1])

def conn(src):
    s = socket.socket()
    s.bind((src, 0))
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    return s

def answer(s):
    """Read until the server closes; the status line or "(closed)"."""
    data = b""
    while True:
        try:
            b = s.recv(65536)
        except ConnectionResetError:
            break
        if not b:
            break
        data += b
    s.close()
    return data.split(b"\r\n", 1)[0].decode("latin-1") if data else "(closed)"

def one(name, payload, src="127.0.0.2", ok=("(closed)", "HTTP/1.1 400", "HTTP/1.0 400")):
    t = time.monotonic()
    s = conn(src)
    try:
        s.sendall(payload)
    except (BrokenPipeError, ConnectionResetError):
        pass
    status = answer(s)
    took = time.monotonic() - t
    print("%s: %s after %.2f s" % (name, status, took))
    assert any(status.startswith(x) for x in ok), (name, status)
    assert took < 7, (name, took)

one("garbage", b"\x16\x03\x01\x00\xff\x01\x00\x00\xfb\x03\x03\x00garbage\r\n\r\n")
one("binary", bytes(range(256)) * 4 + b"\r\n\r\n")
one("GET-only", b"GET\r\n\r\n")
one("no-version", b"GET /metrics\r\n\r\n", src="127.0.0.3")
one("bad-version", b"GET /metrics HTTP/9.9\r\n\r\n", src="127.0.0.3",
    ok=("(closed)", "HTTP/1.1 400", "HTTP/1.1 505"))
one("long-url", b"GET /" + b"a" * 100000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", src="127.0.0.3",
    ok=("(closed)", "HTTP/1.1 400", "HTTP/1.1 414", "HTTP/1.1 431"))
one("long-header", b"GET /metrics HTTP/1.1\r\nX: " + b"b" * 100000 + b"\r\n\r\n",
    src="127.0.0.3", ok=("(closed)", "HTTP/1.1 400", "HTTP/1.1 413", "HTTP/1.1 431"))
PYEOF
cat abuse.out
log "malformed requests answered 4xx or closed"

# A client that sends one header byte a second for 10 s, and 40 idle
# connections (8 per address, from 5 addresses) watched for 20 s.
python3 - "$ADMIN_PORT" >slow.out 2>&1 <<'PYEOF' &
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.7", 0))
s.connect(("127.0.0.1", int(sys.argv[1])))
for ch in b"GET /metr":
    try:
        s.send(bytes([ch]))
    except OSError as e:
        print("slow: closed by the server (%s)" % e)
        break
    time.sleep(1)
else:
    print("slow: sent 9 bytes, one a second")
s.close()
PYEOF
SLOW_PID=$!
track_pid $SLOW_PID
python3 - "$ADMIN_PORT" >idle.out 2>&1 <<'PYEOF' &
import select, socket, sys, time
socks = []
for i in range(40):
    s = socket.socket()
    s.bind(("127.0.0.%d" % (10 + i // 8), 0))
    s.settimeout(5)
    try:
        s.connect(("127.0.0.1", int(sys.argv[1])))
        socks.append(s)
    except OSError as e:
        print("idle %d: %s" % (i, e))
print("idle: %d of 40 connected" % len(socks), flush=True)
open("idle.ready", "w").close()
deadline = time.monotonic() + 20
closed = 0
while socks and time.monotonic() < deadline:
    r, _, _ = select.select(socks, [], [], 0.5)
    for s in r:
        try:
            data = s.recv(4096)
        except OSError:
            data = b""
        if not data:
            closed += 1
            socks.remove(s)
            s.close()
print("idle: %d closed by the server, %d still open after 20 s" % (closed, len(socks)))
PYEOF
IDLE_PID=$!
track_pid $IDLE_PID
wait_for test -f idle.ready || fail "idle admin clients did not start: $(cat idle.out)"

# Meanwhile a normal TLS handshake (and echo) completes.  How long the
# handshakes took is read from tessera's histogram once the abuse is over
# (below), not from the wall clock around a client process.
for i in 1 2 3; do
    tclient echo --port "$PW" --bytes 100 >/dev/null || fail "TLS echo failed during admin abuse"
done
log "3 TLS handshakes + echoes during admin abuse"

# The background load ends on its own, without errors.
wait_exit $BENCH_PID 60 || fail "background TLS load still running after 60 s"
assert_eq "$EXIT_STATUS" 0 "tessera-bench status ($(cat bench.out bench.log))"
assert_contains bench.out ' errors=0 '
assert_contains bench.out ' timeout=0 '
hs=$(sed -n 's/.* handshakes=\([0-9]*\) .*/\1/p' bench.out)
[ "${hs:-0}" -gt 0 ] || fail "background TLS load made no handshake: $(cat bench.out)"
log "background TLS load: $hs handshakes, 0 errors"

# The endpoint answers again while the idle clients are still connected
# (the 2 s request deadline frees their slots, and a new connection pushes
# the oldest incomplete one out) and after they are gone.
wait_for test "$(http_status GET /healthz)" = 200 ||
    fail "admin endpoint does not answer with hostile clients connected"
log "admin endpoint answers with the idle clients connected: $(cat idle.out)"
wait_exit $IDLE_PID 40 || fail "idle admin clients hang"
cat idle.out slow.out
# Idle clients are dropped by the endpoint's 2 s request deadline or at
# once beyond its connection limit: none is left open.
assert_contains idle.out ', 0 still open after 20 s'
wait_exit $SLOW_PID 30 || fail "slow admin client hangs"
assert_eq "$(http_status GET /healthz)" 200 "GET /healthz afterwards"
scrape_ok=$(curl -s --max-time 10 "$ADMIN/metrics" |
    python3 "$LIB_DIR/../tools/promcheck.py" check -) || fail "/metrics afterwards: $scrape_ok"
check_echo "$PW"
# The admin endpoint has its own thread: its abuse must not hold up a
# worker.  A worker held by a stuck admin client would stall handshakes for
# the endpoint's 2-5 s timeouts; none took over 1 s (the rest of that
# second is room for the clients' scheduling on a busy machine).
slow=$(hist_over "$ADMIN_PORT" tessera_handshake_duration_seconds 1) ||
    fail "no handshake histogram"
assert_eq "$slow" 0 "handshakes that took over 1 s during the admin abuse"
tessera_running || fail "tessera died"
stop_tessera || fail "tessera exited with status $?"
log "admin endpoint answers after the abuse; TLS unaffected (no handshake over 1 s)"

# --- configuration ---
# A non-loopback admin.listen without admin.allow: rejected, FILE:LINE.
cfg_reset
P=$(free_port)
cfg_frontend web "$P" "$BACKEND_PORT" "$(cert_entry ec)"
CFG_ADMIN="listen = \"0.0.0.0:$(free_port)\";"
write_config "$TEST_DIR/open.conf"
line=$(grep -n '^admin = ' open.conf | cut -d: -f1)
out=$("$TESSERA_BIN" -t -c "$TEST_DIR/open.conf" 2>&1) && fail "non-loopback admin.listen without \
admin.allow accepted: $out"
assert_contains "$out" "open\.conf:$line: "
assert_contains "$out" 'admin'
log "non-loopback admin.listen without allow rejected: $out"
# ... and accepted with an admin.allow.
CFG_ADMIN="listen = \"0.0.0.0:$(free_port)\"; allow = [ \"127.0.0.0/8\" ];"
write_config "$TEST_DIR/allowed.conf"
out=$("$TESSERA_BIN" -t -c "$TEST_DIR/allowed.conf" 2>&1) ||
    fail "non-loopback admin.listen with allow rejected: $out"
assert_contains "$out" 'configuration OK'

# admin.listen = "": tessera listens on its frontend port only.
cfg_reset
P=$(free_port)
cfg_frontend web "$P" "$BACKEND_PORT" "$(cert_entry ec)"
CFG_ADMIN='listen = "";'
write_config "$TEST_DIR/off.conf"
start_tessera "$TEST_DIR/off.conf"
check_echo "$P"
assert_eq "$(listening_ports "$TESSERA_PID" | tr '\n' ' ')" "$P " "ports tessera listens on"
stop_tessera || fail "tessera exited with status $?"
# (With the endpoint on, the same check sees its port: the check works.)
cfg_reset
P=$(free_port)
cfg_frontend web "$P" "$BACKEND_PORT" "$(cert_entry ec)"
cfg_admin
write_config "$TEST_DIR/on.conf"
start_tessera "$TEST_DIR/on.conf"
assert_eq "$(listening_ports "$TESSERA_PID" | tr '\n' ' ')" \
    "$(printf '%s\n' "$P" "$ADMIN_PORT" | sort -n | tr '\n' ' ')" "ports tessera listens on"
stop_tessera || fail "tessera exited with status $?"
log "admin.listen = \"\" listens on nothing"

# admin.allow without loopback: a loopback client gets no answer.
cfg_reset
P=$(free_port)
cfg_frontend web "$P" "$BACKEND_PORT" "$(cert_entry ec)"
cfg_admin
CFG_ADMIN="$CFG_ADMIN allow = [ \"10.0.0.0/8\" ];"
write_config "$TEST_DIR/allow.conf"
start_tessera "$TEST_DIR/allow.conf"
for p in /healthz /metrics; do
    code=$(http_status GET $p)
    assert_eq "$code" 000 "GET $p from loopback with admin.allow = 10.0.0.0/8"
done
check_echo "$P"
tessera_running || fail "tessera died"
stop_tessera || fail "tessera exited with status $?"
log "admin.allow = 10.0.0.0/8 refuses loopback clients"
log "ok"
