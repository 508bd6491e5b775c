#!/bin/bash
# 15-sessions-many-workers: the process-wide session store with 4 workers
# and sessions.tickets = false.  SO_REUSEPORT spreads reconnections over the
# workers, so a resumption usually lands on another worker than the one
# that made the session: 8 parallel chains of TLS 1.2 session-ID resumption
# and 8 of TLS 1.3 stateful tickets, 50 reconnections each, must all resume.
# A TLS 1.3 stateful ticket is single-use (the second -sess_in of the same
# file gets a new session); a TLS 1.2 session ID can be resumed again.
# subset: tsan
# shellcheck source=tests/integration/lib.sh disable=SC2034,SC2119
. "$(dirname "$0")/lib.sh"

CFG_WORKERS=4
CHAINS=8
COUNT=50

make_certs
start_backend banner
P=$(free_port)
cfg_frontend web "$P" "$BACKEND_PORT" "$(cert_entry ec)"
CFG_SESSIONS='tickets = false;'
write_config "$TEST_DIR/stateful.conf"
start_tessera "$TEST_DIR/stateful.conf"
WORKERS=$(sed -n 's/^workers = \([0-9]*\);/\1/p' "$TEST_DIR/stateful.conf")

# worker_cpu: "name ticks" for each worker thread of tessera (CPU so far).
worker_cpu() {
    local t
    for t in /proc/"$TESSERA_PID"/task/*; do
        case "$(cat "$t/comm" 2>/dev/null)" in
        worker-*) echo "$(cat "$t/comm") $(sed 's/.*) //' "$t/stat" | awk '{print $12 + $13}')" ;;
        esac
    done
}

# --- single use of TLS 1.3 stateful tickets ---
sclient_exchange "" "220 backend ready" "$P" -tls1_3 -sess_out s13.pem ||
    fail "s_client -tls1_3 -sess_out: $(tail -n 20 "$SCLIENT_OUT")"
assert_contains "$SCLIENT_OUT" "^New, TLSv1.3"
[ -s s13.pem ] || fail "s_client -tls1_3 wrote no session (no ticket arrived)"
sclient_exchange "" "220 backend ready" "$P" -tls1_3 -sess_in s13.pem ||
    fail "s_client -tls1_3 -sess_in (1st): $(tail -n 20 "$SCLIENT_OUT")"
assert_contains "$SCLIENT_OUT" "^Reused, TLSv1.3"
sclient_exchange "" "220 backend ready" "$P" -tls1_3 -sess_in s13.pem ||
    fail "s_client -tls1_3 -sess_in (2nd): $(tail -n 20 "$SCLIENT_OUT")"
assert_contains "$SCLIENT_OUT" "^New, TLSv1.3"
log "TLS 1.3 stateful ticket: Reused once, then New"

# --- a TLS 1.2 session ID is not single-use ---
sclient_exchange "" "220 backend ready" "$P" -tls1_2 -sess_out s12.pem ||
    fail "s_client -tls1_2 -sess_out: $(tail -n 20 "$SCLIENT_OUT")"
assert_contains "$SCLIENT_OUT" "^New, TLSv1.2"
assert_not_contains "$SCLIENT_OUT" "TLS session ticket:"
for i in 1 2 3; do
    sclient_exchange "" "220 backend ready" "$P" -tls1_2 -sess_in s12.pem ||
        fail "s_client -tls1_2 -sess_in ($i): $(tail -n 20 "$SCLIENT_OUT")"
    assert_contains "$SCLIENT_OUT" "^Reused, TLSv1.2"
done
log "TLS 1.2 session ID: Reused three times"

# --- parallel chains across the workers ---
cpu_before=$(worker_cpu)
PIDS=()
for n in $(seq 1 $CHAINS); do
    timeout 100 "$TCLIENT" resume-chain --port "$P" --tls 1.2 --mode id --count $COUNT \
        --timeout 30 >"chain-id-$n.out" 2>&1 &
    PIDS+=($!)
    timeout 100 "$TCLIENT" resume-chain --port "$P" --tls 1.3 --mode ticket --count $COUNT \
        --timeout 30 >"chain-t13-$n.out" 2>&1 &
    PIDS+=($!)
done
failed=0
for pid in "${PIDS[@]}"; do
    wait_exit "$pid" 110 || fail "a resume chain still runs after 110 s"
    [ "$EXIT_STATUS" = 0 ] || failed=$((failed + 1))
done
tessera_running || fail "tessera died under the chains"
if [ $failed -gt 0 ]; then
    for f in chain-*.out; do
        grep -q "^resumed $COUNT of $COUNT" "$f" && continue
        echo "---- $f ----"
        grep -Ev 'reused=1' "$f" | head -n 10
    done
    fail "$failed of $((2 * CHAINS)) resume chains failed"
fi
n12=$(cat chain-id-*.out | grep -c "^resumed $COUNT of $COUNT")
n13=$(cat chain-t13-*.out | grep -c "^resumed $COUNT of $COUNT")
assert_eq "$n12" "$CHAINS" "TLS 1.2 session-ID chains fully resumed"
assert_eq "$n13" "$CHAINS" "TLS 1.3 stateful chains fully resumed"
v12=$(cat chain-id-*.out | grep -c '^conn [1-9].* reused=1 version=TLSv1.2 ticket=0')
v13=$(cat chain-t13-*.out | grep -c '^conn [1-9].* reused=1 version=TLSv1.3')
assert_eq "$v12" $((CHAINS * COUNT)) "TLS 1.2 resumptions without a ticket"
assert_eq "$v13" $((CHAINS * COUNT)) "TLS 1.3 resumptions"
log "$((2 * CHAINS)) chains: $v12 TLS 1.2 session-ID and $v13 TLS 1.3 stateful resumptions"

# The reconnections were spread over the workers: each worker thread that did
# any of this work used CPU time.  (With 800 reconnections hashed over the
# workers by SO_REUSEPORT, all of them should.)
cpu_after=$(worker_cpu)
busy=0
spread=""
while read -r name ticks; do
    before=$(printf '%s\n' "$cpu_before" | awk -v n="$name" '$1 == n {print $2}')
    used=$((ticks - ${before:-0}))
    spread="$spread $name=$used"
    [ "$used" -gt 0 ] && busy=$((busy + 1))
done <<<"$cpu_after"
log "CPU ticks per worker during the chains:$spread"
if [ "$WORKERS" -gt 1 ]; then
    [ "$busy" -ge 2 ] || fail "only $busy of $WORKERS workers served the chains:$spread"
fi

stop_tessera || fail "tessera exited with $?"
log "ok"
