#!/bin/bash
# 61-reload-load: 20 reloads while clients keep making TLS 1.2 and 1.3
# handshakes, full and resumed (tessera-bench, four loads at once); half of
# the reloads change the certificate, one adds a frontend.  No handshake
# fails and no connection is refused; 50 connections opened before the
# first reload still relay after the last; a TLS 1.2 session and a TLS 1.3
# ticket made before resume after (the certificate is the one they were
# made under again by then).
# timeout: 400
# shellcheck source=tests/integration/lib.sh disable=SC2034
. "$(dirname "$0")/lib.sh"

BENCH=${TESSERA_BENCH:-$(dirname "$TESSERA_TOOLS")/bench/tessera-bench}
[ -x "$BENCH" ] || fail "tessera-bench not found at $BENCH (set TESSERA_BENCH)"
RELOADS=20
HELD=50

make_certs
start_backend http
HTTP=$BACKEND_PORT
start_backend echo
ECHO=$BACKEND_PORT

use_cert() {
    cp "$CERTS/$1.pem" "$TEST_DIR/site.pem"
    cp "$CERTS/$1.key" "$TEST_DIR/site.key"
}
P=$(free_port)
PE=$(free_port)
PX=$(free_port)
cfg_admin
write_conf() { # write_conf [with-extra]
    CFG_FRONTENDS=()
    TESSERA_PORTS=()
    cfg_frontend web "$P" "$HTTP" "{ cert = \"site.pem\"; key = \"site.key\"; }"
    cfg_frontend echo "$PE" "$ECHO" "{ cert = \"site.pem\"; key = \"site.key\"; }"
    [ -n "${1:-}" ] && cfg_frontend extra "$PX" "$ECHO" "$(cert_entry ec)"
    write_config "$TEST_DIR/tessera.conf"
}
use_cert ec
write_conf
start_tessera "$TEST_DIR/tessera.conf"

# Sessions made before the reloads.
sclient_exchange "a-$SEQ" "^a-" "$PE" -tls1_2 -no_ticket -sess_out sess12.pem ||
    fail "TLS 1.2 session: $(tail -n 5 "$SCLIENT_OUT")"
sclient_exchange "b-$SEQ" "^b-" "$PE" -tls1_3 -sess_out sess13.pem ||
    fail "TLS 1.3 ticket: $(tail -n 5 "$SCLIENT_OUT")"

# Connections established before the reloads.
held_pids=()
for i in $(seq 1 $HELD); do
    "$TCLIENT" hold --port "$PE" --ready-file "held-$i.ready" --go-file held.go --timeout 300 \
        >"held-$i.out" 2>&1 &
    held_pids+=($!)
    track_pid $!
done
all_ready() {
    local i
    for i in $(seq 1 $HELD); do
        [ -f "held-$i.ready" ] || return 1
    done
}
wait_for all_ready || fail "not every held connection is up"
log "$HELD connections held"

# Four loads, each a series of 2-second runs until stop.load exists.
load() { # load NAME ARGS...
    local name=$1
    shift
    while [ ! -f stop.load ]; do
        "$BENCH" "$@" --port "$P" --conc 2 --duration 2 --warmup 0 --max-errors 0 \
            --conn-timeout 20 >>"load-$name.out" 2>&1 || echo "exit $?" >>"load-$name.out"
    done
}
load full12 full --tls 1.2 --groups X25519:P-256 &
track_pid $!
load full13 full --tls 1.3 &
track_pid $!
load resume12 resume --resume id --tls 1.2 --groups X25519:P-256 &
track_pid $!
load resume13 resume --resume ticket --tls 1.3 &
track_pid $!
loads_running() {
    local f
    for f in full12 full13 resume12 resume13; do
        grep -q "hs_per_s=" "load-$f.out" 2>/dev/null || return 1
    done
}
wait_for loads_running || fail "the loads did not start: $(tail -n 3 load-*.out)"
log "loads running"

gen=1
for i in $(seq 1 $RELOADS); do
    if [ $((i % 2)) -eq 1 ]; then
        if [ $((i / 2 % 2)) -eq 0 ]; then use_cert rsa; else use_cert ec; fi
    fi
    [ "$i" -eq 7 ] && write_conf extra
    kill -HUP "$TESSERA_PID"
    gen=$((gen + 1))
    wait_for metric_is "$ADMIN_PORT" "$gen" tessera_config_generation ||
        fail "reload $i: generation $gen not reached: $(grep -E 'reload' "$TESSERA_LOG" | tail -n 3)"
    # Let the loads run under this generation for a moment (a pacing, not a
    # bound: the test holds however long it takes).
    sleep 0.3
done
log "$RELOADS reloads done"
cmp -s "$TEST_DIR/site.pem" "$CERTS/ec.pem" || fail "the test should end on the first certificate"
touch stop.load

# The loads finish their current run; every run ended without a failed
# connection.
loads_done() {
    ! pgrep -f "$BENCH.*--port $P" >/dev/null
}
wait_for loads_done || fail "the loads did not stop"
for f in full12 full13 resume12 resume13; do
    runs=$(grep -c "hs_per_s=" "load-$f.out")
    bad=$(grep -Ec "errors=[1-9]|^exit " "load-$f.out")
    handshakes=$(sed -n 's/.* handshakes=\([0-9]*\) .*/\1/p' "load-$f.out" |
        awk '{ n += $1 } END { print n + 0 }')
    log "load $f: $runs runs, $handshakes handshakes, $bad runs with errors"
    [ "$bad" -eq 0 ] || fail "load $f: $(grep -E "errors=[1-9]|^exit " "load-$f.out" | head -n 3)"
    [ "$runs" -ge 2 ] || fail "load $f ran only $runs times"
done

# The connections from before.
touch held.go
for i in $(seq 1 $HELD); do
    wait "${held_pids[$((i - 1))]}" || fail "held connection $i: $(cat "held-$i.out")"
    assert_contains "held-$i.out" "second echo ok"
done
log "$HELD held connections relayed after $RELOADS reloads"

# Sessions from before, and the added frontend.
hs "$PE" -tls1_2 -no_ticket -sess_in sess12.pem
assert_eq "$HS" Reused "TLS 1.2 session made before the reloads"
hs "$PE" -tls1_3 -sess_in sess13.pem
assert_eq "$HS" Reused "TLS 1.3 ticket made before the reloads"
hs "$PX" -tls1_3

assert_eq "$(m "$ADMIN_PORT" tessera_reloads_total result=ok)" $RELOADS "reloads ok"
assert_eq "$(m "$ADMIN_PORT" tessera_reloads_total result=failed)" 0 "reloads failed"
# reason="other" is left out: it counts clients that hang up mid-handshake,
# which every load does as its 2-second run ends, and the port probes.
for reason in protocol no_shared_cipher timeout; do
    errors=$(m "$ADMIN_PORT" tessera_handshake_errors_total reason=$reason)
    assert_eq "$errors" 0 "handshake errors ($reason) counted by tessera"
done
stop_tessera || fail "exit status $? after the reloads"
log "ok"
