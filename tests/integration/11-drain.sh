#!/bin/bash
# 11-drain: SIGTERM stops accepting at once, lets an open connection finish
# (it still echoes), and tessera exits 0 when it closes; with
# timeouts.shutdown = 1 a connection that stays open does not hold the exit
# back; SIGINT does the same as SIGTERM.
# subset: tsan
# shellcheck source=tests/integration/lib.sh disable=SC2034
. "$(dirname "$0")/lib.sh"

make_certs
start_backend echo

start_with_shutdown() {
    cfg_reset
    P=$(free_port)
    cfg_frontend web "$P" "$BACKEND_PORT" "$(cert_entry ec)"
    CFG_TIMEOUTS="shutdown = $1;"
    write_config "$TEST_DIR/drain-$1.conf"
    start_tessera "$TEST_DIR/drain-$1.conf"
}

# start_hold NAME: one established connection that echoed once and waits
# for NAME.go before echoing again and closing.
start_hold() {
    rm -f "$1.ready" "$1.go"
    "$TCLIENT" hold --port "$P" --ready-file "$1.ready" --go-file "$1.go" --timeout 90 \
        >"$1.out" 2>&1 &
    HOLD_PID=$!
    track_pid $HOLD_PID
    wait_for test -f "$1.ready" || fail "hold client $1 did not connect: $(cat "$1.out")"
}

# --- case 1: the open connection finishes its work ---
start_with_shutdown 30
start_hold h1
check_echo "$P"
kill -TERM "$TESSERA_PID"
WAIT_FOR_LIMIT=10 wait_for port_closed "$P" || fail "still accepting 10 s after SIGTERM"
log "listener closed after SIGTERM"
tessera_running || fail "tessera exited with a connection still open"
# New connections are refused, not accepted and dropped.
out=$("$TCLIENT" raw --port "$P" --nothing --timeout 5 2>&1) &&
    fail "a new connection was accepted while draining: $out"
# The old connection still works; once it closes tessera exits 0.
touch h1.go
wait_exit $HOLD_PID 20 || fail "hold client hangs"
assert_eq "$EXIT_STATUS" 0 "old connection during drain (output: $(cat h1.out))"
wait_exit "$TESSERA_PID" 15 || fail "tessera still running 15 s after its last connection closed"
assert_eq "$EXIT_STATUS" 0 "tessera exit status after drain"
log "drained and exited 0"

# --- case 2: shutdown = 1 and a connection that stays open ---
start_with_shutdown 1
start_hold h2
start=$(now_ms)
kill -TERM "$TESSERA_PID"
wait_exit "$TESSERA_PID" 10 || fail "tessera still running 10 s after SIGTERM with shutdown = 1"
took=$(($(now_ms) - start))
assert_eq "$EXIT_STATUS" 0 "tessera exit status after the shutdown timeout"
# The 1 s of timeouts.shutdown, plus 3 s for a saturated machine to run the
# exit (joining the workers) and for this shell to notice it (it polls).
[ "$took" -le 4000 ] || fail "tessera took $took ms to exit with timeouts.shutdown = 1"
log "exited 0 after $took ms with a connection open"
kill "$HOLD_PID" 2>/dev/null

# --- case 3: SIGINT, idle ---
start_with_shutdown 30
check_echo "$P"
kill -INT "$TESSERA_PID"
wait_exit "$TESSERA_PID" 15 || fail "tessera still running 15 s after SIGINT"
assert_eq "$EXIT_STATUS" 0 "tessera exit status after SIGINT"
log "ok"
