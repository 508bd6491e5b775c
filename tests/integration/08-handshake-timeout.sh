#!/bin/bash
# 08-handshake-timeout: with timeouts.handshake = 1, a client that sends
# nothing, or half a ClientHello, is closed within a few seconds; other
# connections (including an established one idle for longer than the
# handshake timeout) are not affected.
# shellcheck source=tests/integration/lib.sh disable=SC2034
. "$(dirname "$0")/lib.sh"

make_certs
start_backend echo
P=$(free_port)
cfg_frontend web "$P" "$BACKEND_PORT" "$(cert_entry ec)"
CFG_TIMEOUTS='handshake = 1;'
write_config "$TEST_DIR/tessera.conf"
start_tessera "$TEST_DIR/tessera.conf"

# An established connection that stays idle past the handshake timeout.
"$TCLIENT" hold --port "$P" --ready-file hold.ready --go-file hold.go --timeout 60 \
    >hold.out 2>&1 &
HOLD_PID=$!
track_pid $HOLD_PID
wait_for test -f hold.ready || fail "hold client did not connect: $(cat hold.out)"

# closed_within NAME MAX_MS TCLIENT_RAW_ARGS...: the server closes the
# connection, no sooner than 0.5 s (it is the timeout that acts) and no
# later than MAX_MS.
closed_within() {
    local name=$1 max=$2 out ms
    shift 2
    out=$("$TCLIENT" raw --port "$P" --timeout 15 "$@" 2>&1) ||
        fail "$name: not closed by the server: $out"
    ms=$(printf '%s\n' "$out" | sed -n 's/.*closed.* after \([0-9]*\) ms.*/\1/p')
    [ -n "$ms" ] || fail "$name: unexpected output: $out"
    [ "$ms" -ge 500 ] || fail "$name: closed after only $ms ms (expected the 1 s timeout)"
    [ "$ms" -le "$max" ] || fail "$name: closed after $ms ms (limit $max)"
    log "$name: closed after $ms ms"
}

# Several at once, in the background, while normal handshakes go on.
"$TCLIENT" raw --port "$P" --nothing --timeout 15 >bg-nothing.out 2>&1 &
bg1=$!
"$TCLIENT" raw --port "$P" --hello 50 --timeout 15 >bg-half.out 2>&1 &
bg2=$!
for i in 1 2 3; do
    check_echo "$P"
done
closed_within silent 5000 --nothing
closed_within half-hello 5000 --hello 50
closed_within almost-whole-hello 5000 --hello 95
wait $bg1 || fail "background silent client not closed: $(cat bg-nothing.out)"
wait $bg2 || fail "background half-hello client not closed: $(cat bg-half.out)"

# The established connection is still alive and echoes.
touch hold.go
wait_exit $HOLD_PID 20 || fail "hold client hangs"
assert_eq "$EXIT_STATUS" 0 "idle established connection (output: $(cat hold.out))"
tessera_running || fail "tessera died"
check_echo "$P"
log "ok"
