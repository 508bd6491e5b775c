#!/bin/bash
# 12-bad-input: plaintext HTTP, garbage, an oversized or truncated record,
# clients that vanish mid-handshake: each such connection is closed, and
# tessera keeps serving.
# shellcheck source=tests/integration/lib.sh disable=SC2034
. "$(dirname "$0")/lib.sh"

make_certs
start_backend echo
P=$(free_port)
cfg_frontend web "$P" "$BACKEND_PORT" "$(cert_entry ec)"
CFG_TIMEOUTS='handshake = 5;'
write_config "$TEST_DIR/tessera.conf"
start_tessera "$TEST_DIR/tessera.conf"

# closed_fast NAME TCLIENT_RAW_ARGS...: the server closes the connection
# well before the 5 s handshake timeout (it is the bad input that ends it).
closed_fast() {
    local name=$1 out ms
    shift
    out=$("$TCLIENT" raw --port "$P" --timeout 15 "$@" 2>&1) ||
        fail "$name: connection not closed: $out"
    ms=$(printf '%s\n' "$out" | sed -n 's/.*closed.* after \([0-9]*\) ms.*/\1/p')
    [ -n "$ms" ] || fail "$name: unexpected output: $out"
    [ "$ms" -lt 3000 ] || fail "$name: closed only after $ms ms"
    log "$name: closed after $ms ms"
}

closed_fast plaintext-http --data 'GET / HTTP/1.1\r\nHost: example.test\r\n\r\n'
closed_fast garbage --random 4096
closed_fast zeros --data '\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00'
# A handshake record that claims 65535 bytes (more than TLS allows).
closed_fast oversized-record --data '\x16\x03\x01\xff\xff\x01\x00\xff\xfb\x03\x03'
# A record that announces 512 bytes, brings 9, then the client's FIN.
closed_fast truncated-record --data '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03abcd' \
    --then shutwr
# Half a ClientHello, then FIN.
closed_fast half-hello-fin --hello 50 --then shutwr
# A complete SSLv2-format ClientHello offering TLS 1.0 (below min_version).
closed_fast sslv2-hello --data '\x80\x1c\x01\x03\x01\x00\x03\x00\x00\x00\x10\x00\x00\x2f0123456789abcdef'
# A truncated record and then silence: the handshake timeout ends it.
out=$("$TCLIENT" raw --port "$P" --timeout 15 --data '\x16\x03\x01\x02\x00\x01\x00' 2>&1) ||
    fail "truncated record + silence: not closed: $out"
log "truncated record + silence: $out"

# Clients that vanish: a reset after half or all of a ClientHello, and
# plain closes, many at once.
pids=()
for i in $(seq 1 20); do
    "$TCLIENT" raw --port "$P" --hello 60 --then reset >/dev/null 2>&1 &
    pids+=($!)
    "$TCLIENT" raw --port "$P" --hello 100 --then reset >/dev/null 2>&1 &
    pids+=($!)
    "$TCLIENT" raw --port "$P" --random 300 --then reset >/dev/null 2>&1 &
    pids+=($!)
    (exec 3<>"/dev/tcp/127.0.0.1/$P") 2>/dev/null &
    pids+=($!)
done
# Clients that complete the handshake and leave at once.
for i in $(seq 1 10); do
    timeout 10 openssl s_client -connect "127.0.0.1:$P" </dev/null >/dev/null 2>&1 &
    pids+=($!)
done
for pid in "${pids[@]}"; do
    wait "$pid"
done

tessera_running || fail "tessera died"
check_echo "$P" -tls1_2
check_echo "$P" -tls1_3
tclient echo --port "$P" --bytes 65536 || fail "echo after bad input"
tessera_running || fail "tessera died"
stop_tessera || fail "tessera exited with $? after SIGTERM"
log "ok"
