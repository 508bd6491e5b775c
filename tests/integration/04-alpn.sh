#!/bin/bash
# 04-alpn: a frontend with alpn ["h2", "http/1.1"] negotiates what the
# client offers, and a client without ALPN still works.
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
log "ok"
