#!/bin/bash
# 07-backend-refused: a frontend whose backend refuses connections closes
# its clients cleanly and promptly, other frontends keep working; a backend
# that dies mid-connection closes that connection.
# shellcheck source=tests/integration/lib.sh disable=SC2034
. "$(dirname "$0")/lib.sh"

make_certs
start_backend echo
LIVE_BACKEND=$BACKEND_PORT
DEAD_BACKEND=$(free_port)
PD=$(free_port)
PL=$(free_port)
cfg_frontend dead "$PD" "$DEAD_BACKEND" "$(cert_entry ec)"
cfg_frontend live "$PL" "$LIVE_BACKEND" "$(cert_entry ec)"
write_config "$TEST_DIR/tessera.conf"
start_tessera "$TEST_DIR/tessera.conf"

# sclient_held PORT ARGS...: s_client with stdin held open (so only the
# server can end the session), one line sent; sets HELD_PID, HELD_FD.
sclient_held() {
    local port=$1
    shift
    SEQ=$((SEQ + 1))
    SCLIENT_OUT=$TEST_DIR/sclient-$SEQ.out
    local fifo=$TEST_DIR/sclient-$SEQ.in
    mkfifo "$fifo"
    openssl s_client -connect "127.0.0.1:$port" "$@" <"$fifo" >"$SCLIENT_OUT" 2>&1 &
    HELD_PID=$!
    track_pid $HELD_PID
    exec {HELD_FD}>"$fifo"
    printf 'ping held\n' >&$HELD_FD
}

for v in -tls1_2 -tls1_3; do
    start=$(now_ms)
    sclient_held "$PD" $v
    wait_exit $HELD_PID 10 || fail "$v: s_client still connected 10 s after the backend refused:
$(tail -n 20 "$SCLIENT_OUT")"
    took=$(($(now_ms) - start))
    exec {HELD_FD}>&-
    assert_not_contains "$SCLIENT_OUT" "^ping held"
    log "$v: refused backend: client closed after $took ms (s_client status $EXIT_STATUS)"
    check_echo "$PL" $v
done
tessera_running || fail "tessera died"

# Many at once, then the live frontend still works.
pids=()
for i in $(seq 1 20); do
    timeout 20 openssl s_client -connect "127.0.0.1:$PD" </dev/null >"burst-$i.out" 2>&1 &
    pids+=($!)
done
for pid in "${pids[@]}"; do
    wait "$pid"
    [ $? -ne 124 ] || fail "a client to the refused backend hung"
done
check_echo "$PL"

# The backend dies while a client is connected: the client is closed.
start_backend echo
DYING=$BACKEND_PORT
DYING_PID=$BACKEND_PID
stop_tessera || fail "tessera exited with $?"
cfg_reset
PX=$(free_port)
cfg_frontend dying "$PX" "$DYING" "$(cert_entry ec)"
write_config "$TEST_DIR/dying.conf"
start_tessera "$TEST_DIR/dying.conf"
sclient_held "$PX"
wait_for grep -q '^ping held' "$SCLIENT_OUT" || fail "no echo: $(tail -n 20 "$SCLIENT_OUT")"
kill -KILL "$DYING_PID"
wait_exit $HELD_PID 10 || fail "client still connected 10 s after its backend died"
exec {HELD_FD}>&-
tessera_running || fail "tessera died"
stop_tessera || fail "tessera exited with $?"
log "ok"
