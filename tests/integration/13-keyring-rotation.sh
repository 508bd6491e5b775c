#!/bin/bash
# 13-keyring-rotation: the local ticket keyring rotates under load.  With
# tickets.rotate = 4 and refresh = 1, four loops of TLS 1.3 and TLS 1.2
# ticket resumption chains run across three epoch boundaries (so every
# worker refreshes its keyring copy while handshakes are in flight) and
# every reconnection must resume.  A TLS 1.2 ticket saved by s_client before
# the load still resumes after it (an older epoch's key still decrypts), and
# comes back renewed (design.md: renew a ticket under an older key).
# subset: tsan
# shellcheck source=tests/integration/lib.sh disable=SC2034,SC2119
. "$(dirname "$0")/lib.sh"

ROTATE=4
LOOPS=4
CHAIN=20

# epoch: the current epoch number, as tessera computes it (Unix time / rotate).
epoch() {
    echo $(($(date +%s) / ROTATE))
}

epoch_after() {
    [ "$(epoch)" -gt "$1" ]
}

# ticket_of FILE: the hex dump of the session ticket s_client printed.
ticket_of() {
    sed -n '/^    TLS session ticket:/,/^$/p' "$1" | grep -E '^    [0-9a-f]{4} - ' | tr -d '\n'
}

make_certs
start_backend banner
P=$(free_port)
cfg_frontend web "$P" "$BACKEND_PORT" "$(cert_entry ec)"
CFG_TICKETS="rotate = $ROTATE; keep = 15; refresh = 1;"
CFG_SESSIONS='lifetime = 60;'
write_config "$TEST_DIR/rotation.conf"
start_tessera "$TEST_DIR/rotation.conf"

# --- a TLS 1.2 ticket from the first epoch, kept for the end ---
sclient_exchange "" "220 backend ready" "$P" -tls1_2 -sess_out t12.pem ||
    fail "s_client -tls1_2 -sess_out: $(tail -n 20 "$SCLIENT_OUT")"
SAVED_EPOCH=$(epoch)
assert_contains "$SCLIENT_OUT" "^New, "
assert_contains "$SCLIENT_OUT" "TLS session ticket:"
SAVED_OUT=$SCLIENT_OUT
SAVED_TICKET=$(ticket_of "$SAVED_OUT")
[ -n "$SAVED_TICKET" ] || fail "no ticket in the s_client output"
log "TLS 1.2 ticket saved in epoch $SAVED_EPOCH"

# --- resumption chains across three epoch boundaries ---
# load_loop N END: resumption chains until Unix time END, alternating TLS 1.3
# and TLS 1.2 tickets; a failed chain is recorded in load.failed.
load_loop() {
    local n=$1 end=$2 i=0 v
    while [ "$(date +%s)" -lt "$end" ]; do
        if [ $(((n + i) % 2)) -eq 0 ]; then v=1.3; else v=1.2; fi
        echo "== chain $i TLS $v" >>"load-$n.out"
        if ! timeout 60 "$TCLIENT" resume-chain --port "$P" --tls "$v" --mode ticket \
            --count "$CHAIN" --timeout 20 >>"load-$n.out" 2>&1; then
            echo "loop $n: chain $i (TLS $v) failed" >>load.failed
        fi
        i=$((i + 1))
    done
    echo "$i" >"load-$n.chains"
}

E0=$(epoch)
END=$(((E0 + 3) * ROTATE + 1)) # one second into the third epoch after E0
log "load from epoch $E0 until $END (Unix time; now $(date +%s))"
LOAD_PIDS=()
for n in $(seq 1 $LOOPS); do
    load_loop "$n" "$END" &
    LOAD_PIDS+=($!)
done
for pid in "${LOAD_PIDS[@]}"; do
    wait_exit "$pid" 90 || fail "a load loop still runs 90 s later"
done
tessera_running || fail "tessera died under load"
E1=$(epoch)
[ "$E1" -ge $((E0 + 3)) ] || fail "the load ended in epoch $E1, before three boundaries after $E0"

chains=0
for n in $(seq 1 $LOOPS); do
    [ -f "load-$n.chains" ] || fail "load loop $n did not finish"
    chains=$((chains + $(cat "load-$n.chains")))
done
if [ -f load.failed ]; then
    for f in load-*.out; do
        echo "---- $f (failing lines) ----"
        grep -Ev "reused=1|^conn 0 reused=0|^resumed $CHAIN of|^== " "$f" | head -n 20
    done
    fail "$(wc -l <load.failed) of $chains chains failed: $(head -n 5 load.failed)"
fi
# Every reconnection of every chain resumed (resume-chain checks each one).
resumed=$(cat load-*.out | grep -c "^resumed $CHAIN of $CHAIN")
assert_eq "$resumed" "$chains" "chains whose $CHAIN reconnections all resumed"
[ "$chains" -ge $LOOPS ] || fail "only $chains chains ran"
tls12=$(cat load-*.out | grep -c '^conn [1-9].* reused=1 version=TLSv1.2')
tls13=$(cat load-*.out | grep -c '^conn [1-9].* reused=1 version=TLSv1.3')
if [ "$tls12" -eq 0 ] || [ "$tls13" -eq 0 ]; then
    fail "resumptions: TLS 1.2 $tls12, TLS 1.3 $tls13"
fi
log "$chains chains over epochs $E0..$E1: $tls12 TLS 1.2 and $tls13 TLS 1.3 resumptions"

# --- the ticket from the first epoch still resumes, and is renewed ---
WAIT_FOR_LIMIT=10 wait_for epoch_after $((SAVED_EPOCH + 1)) ||
    fail "the clock did not pass epoch $((SAVED_EPOCH + 1))"
sclient_exchange "" "220 backend ready" "$P" -tls1_2 -sess_in t12.pem ||
    fail "s_client -tls1_2 -sess_in: $(tail -n 20 "$SCLIENT_OUT")"
assert_contains "$SCLIENT_OUT" "^Reused, "
NEW_TICKET=$(ticket_of "$SCLIENT_OUT")
[ -n "$NEW_TICKET" ] || fail "no ticket after the resumption"
[ "$NEW_TICKET" != "$SAVED_TICKET" ] ||
    fail "a ticket of epoch $SAVED_EPOCH resumed in epoch $(epoch) was not renewed"
log "ticket of epoch $SAVED_EPOCH resumed in epoch $(epoch) (Reused, renewed)"

stop_tessera || fail "tessera exited with $?"
log "ok"
