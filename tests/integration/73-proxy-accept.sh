#!/bin/bash
# 73-proxy-accept: PROXY headers from a balancer in front.  HAProxy (Debian's,
# mode tcp) sends v2 (send-proxy-v2) or v1 (send-proxy) to a frontend with
# accept_proxy; the client's address it names reaches Varnish behind tessera
# (proxy_protocol v2) and tessera's log.  A client straight from an address
# outside proxy_from is refused; hostile headers (wrong signature, truncated,
# oversized, a bad v2 family, a malformed v1 line, one byte per second) are
# each closed and counted under their reason while other clients are served.
# shellcheck source=tests/integration/lib.sh disable=SC2034
. "$(dirname "$0")/lib.sh"

command -v haproxy >/dev/null || fail "haproxy is not installed (scripts/deps)"
make_certs
start_varnish

PT=$(free_port)
cfg_admin
# A short handshake deadline bounds the slow header below; 4 s is still
# ample for a TLS handshake on a saturated machine (they take < 0.5 s).
CFG_TIMEOUTS='handshake = 4;'
cfg_frontend in "$PT" "$VARNISH_PORT" "$(cert_entry ec)" '"http/1.1"' \
    'proxy_protocol = "v2"; accept_proxy = true; proxy_from = [ "127.0.0.1/32", "::1" ];'
write_config "$TEST_DIR/tessera.conf"
start_tessera "$TEST_DIR/tessera.conf"

HA2=$(free_port)
HA1=$(free_port)
cat >haproxy.cfg <<CFG
global
    maxconn 200
defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s
listen v2
    bind 127.0.0.1:$HA2
    server tessera 127.0.0.1:$PT send-proxy-v2
listen v1
    bind 127.0.0.1:$HA1
    server tessera 127.0.0.1:$PT send-proxy
CFG
haproxy -db -f haproxy.cfg >haproxy.log 2>&1 &
track_pid $!
wait_for port_open "$HA2" || fail "haproxy did not start: $(cat haproxy.log)"
wait_for port_open "$HA1" || fail "haproxy did not start: $(cat haproxy.log)"

# get PORT FROM: GET / to 127.0.0.1:PORT from address FROM; headers in $HDRS.
get() {
    local port=$1 from=$2
    SEQ=$((SEQ + 1))
    HDRS=$TEST_DIR/curl-$SEQ.hdrs
    curl -sS --max-time 20 -k -o /dev/null -D "$HDRS" --interface "$from" \
        --resolve "www.example.test:$port:127.0.0.1" "https://www.example.test:$port/" \
        2>"$TEST_DIR/curl-$SEQ.err"
}
hdr() {
    resp_header "$HDRS" "$1"
}
errors() {
    m "$ADMIN_PORT" tessera_proxy_header_errors_total reason="$1"
}
# Readiness probes (ours, and HAProxy's connection to tessera for each probe
# of its port) count too: the checks below compare with a count taken before.
accepted=$(m "$ADMIN_PORT" tessera_proxy_headers_total)

get "$HA2" 127.0.0.9 || fail "through HAProxy (v2): $(cat "$TEST_DIR/curl-$SEQ.err")"
assert_eq "$(hdr x-client-ip)" 127.0.0.9 "HAProxy send-proxy-v2: client address at the backend"
assert_eq "$(hdr x-authority)" www.example.test "HAProxy send-proxy-v2: SNI at the backend"
get "$HA1" 127.0.0.10 || fail "through HAProxy (v1): $(cat "$TEST_DIR/curl-$SEQ.err")"
assert_eq "$(hdr x-client-ip)" 127.0.0.10 "HAProxy send-proxy: client address at the backend"
assert_eq "$(m "$ADMIN_PORT" tessera_proxy_headers_total)" $((accepted + 2)) "headers accepted"
# The client's address, not the balancer's, is the connection's in the log.
wait_for grep -q "conn 127.0.0.9:[0-9]* fd=[0-9]*: PROXY v2 header from 127.0.0.1:" \
    "$TESSERA_LOG" || fail "no log line names the client behind the balancer"

# Straight from an address outside proxy_from: refused before a byte is read.
before=$(errors source)
get "$PT" 127.0.0.11 && fail "a client outside proxy_from was served"
assert_eq "$(errors source)" $((before + 1)) "refused sources"

# Hostile headers from an allowed source.  hostile.py KIND: send it, then
# report whether tessera closed the connection (within the wait limit).
cat >hostile.py <<'PY'
import socket, struct, sys, time
kind, port, limit = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
SIG = b"\r\n\r\n\x00\r\nQUIT\n"
s = socket.create_connection(("127.0.0.1", port))
if kind == "signature":
    s.sendall(b"GET / HTTP/1.0\r\n\r\n")
elif kind == "truncated":
    s.sendall(SIG[:10])
    time.sleep(0.2)
    s.shutdown(socket.SHUT_WR)
elif kind == "oversized":
    s.sendall(SIG + b"\x21\x11" + struct.pack("!H", 0xFFFF))
elif kind == "family":
    s.sendall(SIG + b"\x21\x41" + struct.pack("!H", 12) + bytes(12))
elif kind == "malformed":
    s.sendall(b"PROXY TCP4 1.2.3.4 nonsense\r\n")
elif kind == "slow":
    # A valid v1 line, one byte per second: never whole in time.
    line = b"PROXY TCP4 192.0.2.1 192.0.2.2 1234 443\r\n"
    s.settimeout(1.0)
    for b in line:
        try:
            s.sendall(bytes([b]))
            if s.recv(1) == b"":
                print("closed")
                sys.exit(0)
        except socket.timeout:
            continue
        except OSError:
            print("closed")
            sys.exit(0)
    print("whole header sent")
    sys.exit(1)
s.settimeout(limit)
try:
    data = s.recv(100)
    print("closed" if data == b"" else "answered %r" % data)
except ConnectionResetError:
    print("closed")
except socket.timeout:
    print("still open")
    sys.exit(1)
PY
for kind in signature truncated oversized family malformed; do
    before=$(errors $kind)
    out=$(python3 hostile.py $kind "$PT" "$WAIT_LIMIT") || fail "$kind: $out"
    assert_eq "$out" closed "$kind header"
    wait_for metric_is "$ADMIN_PORT" $((before + 1)) tessera_proxy_header_errors_total \
        reason=$kind || fail "$kind: not counted: $(errors $kind), $before before"
done

# One byte per second: closed at the handshake deadline, while other
# clients keep being served (one request through HAProxy every second).
before=$(errors timeout)
python3 hostile.py slow "$PT" "$WAIT_LIMIT" >slow.out 2>&1 &
slow=$!
served=0
while kill -0 $slow 2>/dev/null || [ $served -lt 2 ]; do
    get "$HA2" 127.0.0.12 || fail "a client was not served during the slow header"
    served=$((served + 1))
    sleep 0.5
done
wait $slow || fail "slow header: $(cat slow.out)"
wait_for metric_is "$ADMIN_PORT" $((before + 1)) tessera_proxy_header_errors_total \
    reason=timeout ||
    fail "slow header not counted as a timeout"

# v2 LOCAL (a balancer's own health check): the connection keeps its own
# address, and TLS follows the header.
cat >local.py <<'PY'
import socket, ssl, struct, sys
port = int(sys.argv[1])
s = socket.create_connection(("127.0.0.1", port))
s.sendall(b"\r\n\r\n\x00\r\nQUIT\n" + b"\x20\x00" + struct.pack("!H", 0))
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
t = ctx.wrap_socket(s, server_hostname="www.example.test")
t.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
data = b""
while True:
    d = t.recv(4096)
    if not d:
        break
    data += d
for line in data.decode().split("\r\n"):
    if line.lower().startswith("x-client-ip:"):
        print(line.split(":", 1)[1].strip())
PY
out=$(timeout 30 python3 local.py "$PT") || fail "v2 LOCAL then TLS failed"
assert_eq "$out" 127.0.0.1 "v2 LOCAL: the connection's own address"

tessera_running || fail "tessera died"
stop_tessera || fail "tessera exited with $? after SIGTERM"
