#!/bin/bash
# 04-alpn: a frontend with alpn ["h2", "http/1.1"] negotiates what the
# client offers, and a client without ALPN still works.
# shellcheck source=tests/integration/lib.sh disable=SC2034
. "$(dirname "$0")/lib.sh"

make_certs
start_backend echo
P=$(free_port)
cfg_frontend web "$P" "$BACKEND_PORT" "$(cert_entry ec)" '"h2", "http/1.1"'
write_config "$TEST_DIR/tessera.conf"
start_tessera "$TEST_DIR/tessera.conf"

for v in -tls1_2 -tls1_3; do
    sclient "$P" $v -alpn h2 || fail "alpn h2: $(tail -n 20 "$SCLIENT_OUT")"
    assert_contains "$SCLIENT_OUT" "^ALPN protocol: h2$"
    sclient "$P" $v -alpn http/1.1 || fail "alpn http/1.1: $(tail -n 20 "$SCLIENT_OUT")"
    assert_contains "$SCLIENT_OUT" "^ALPN protocol: http/1.1$"
    # The server's preference order decides when the client offers both.
    sclient "$P" $v -alpn http/1.1,h2 || fail "alpn both: $(tail -n 20 "$SCLIENT_OUT")"
    assert_contains "$SCLIENT_OUT" "^ALPN protocol: (h2|http/1.1)$"
    sclient "$P" $v || fail "no alpn: $(tail -n 20 "$SCLIENT_OUT")"
    assert_contains "$SCLIENT_OUT" "No ALPN negotiated"
    log "$v: h2, http/1.1 and no ALPN ok"
done
check_echo "$P" -alpn h2
check_echo "$P"
tessera_running || fail "tessera died"
stop_tessera || fail "tessera exited with $?"

# An HTTP/1.1 client (curl) through an http/1.1-only frontend: two requests
# on one kept-alive connection.
start_backend http
cfg_reset
P=$(free_port)
cfg_frontend web "$P" "$BACKEND_PORT" "$(cert_entry ec)" '"http/1.1"'
write_config "$TEST_DIR/http.conf"
start_tessera "$TEST_DIR/http.conf"
if command -v curl >/dev/null; then
    timeout 20 curl -sS -v --http1.1 --cacert "$CERTS/ca.pem" \
        --resolve "example.test:$P:127.0.0.1" \
        "https://example.test:$P/one" "https://example.test:$P/two" >curl.out 2>curl.err ||
        fail "curl failed: $(tail -n 20 curl.err)"
    assert_eq "$(grep -c '^hello from backend$' curl.out)" 2 "answers through tessera"
    assert_contains curl.err "ALPN.*accepted.*http/1.1"
    assert_contains curl.err "Re-using existing connection"
    log "curl: two requests on one connection, ALPN http/1.1"
else
    log "curl not installed: HTTP check skipped"
fi
log "ok"
