#!/bin/bash
# 44-keyring-mainloop: the cluster keyring on the main thread's event loop
# (issue "the memcached layer": failures 1, 2, 6, 7 and 9).
#
#   (a) memcached paused (SIGSTOP) for 0.4 s while instance B starts: at
#       every sample B's /keyring, /healthz and the key its tickets are
#       actually made with agree (a local key <=> degraded, said at once),
#       and B ends up with A's cluster keys, tickets crossing both ways.
#   (b) the next epoch's key exists within 2 s of an epoch boundary (rotate
#       = 20, refresh = 5: a boundary refresh that ran for the old epoch
#       would leave it to the next refresh, 5 s later).
#   (c) SIGTERM while memcached hangs: the process exits at once (bounded
#       by timeouts.shutdown and the prober's probe in flight), never after
#       the keyring's memcached round trips.
#   (d) a memcached that answers the keyring's operations with garbage, out
#       of turn, oversized, truncated or not at all: the instance keeps
#       serving (tickets on local keys, reported degraded), counts every
#       failed operation in tessera_keyring_ops_total, and never aborts.
# subset: tsan
# shellcheck source=tests/integration/lib.sh disable=SC2034,SC2015,SC2016,SC2119,SC2153
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib-keyring.sh
. "$LIB_DIR/lib-keyring.sh"

ROTATE=30
PREFIX="kr44:"
BANNER_RE="220 backend ready"

# ---- helpers (see lib-keyring.sh for the shared ones) ----

# sample_agrees ADMIN PORT: one sample of failure 9's property.  A ticket
# made now names the key in use; /keyring (read before and after it, the
# sample only counts when both reads agree) and /healthz must say degraded
# exactly when that key is a local one.  Sets SAMPLE to what was seen, and
# returns 2 when the state moved during the sample (not counted).
sample_agrees() {
    local admin=$1 port=$2 before after fp src deg hz
    SAMPLE="(none: /keyring unreadable or the state moved)"
    before=$(keyring "$admin") || return 1
    new_session "$port" sample.pem -tls1_3
    fp=$(name_fingerprint "$(ticket_hex sample.pem)")
    hz=$(healthz "$admin")
    after=$(keyring "$admin") || return 1
    [ "$(head -n 1 <<<"$before")" = "$(head -n 1 <<<"$after")" ] || return 2
    deg=$(awk 'NR == 1 { print $2 }' <<<"$after")
    src=$(awk -v fp="$fp" '$4 == fp { print $3 }' <<<"$after")
    SAMPLE="key $fp ($src), degraded $deg, /healthz '$hz'"
    case "$src" in
    local) [ "$deg" = true ] && [[ "$hz" == degraded:* ]] ;;
    cluster) [ "$deg" = false ] ;;
    *) return 1 ;;
    esac
}

# ---- set-up ----

make_certs
start_backend banner
BANNER=$BACKEND_PORT
start_memcached
MC=$MC_PORT
MC_PID0=$MC_PID
start_instance A
WAIT_FOR_LIMIT=15 wait_for eval '[ -n "$(current_fp "$A_ADMIN")" ]' ||
    fail "A has no current cluster key: $(keyring "$A_ADMIN")"

# ---- (a) memcached paused for 0.4 s while B starts ----

kill -STOP "$MC_PID0"
# The fault: a 0.4 s pause from B's launch on (a duration, not a wait).
(
    sleep 0.4
    kill -CONT "$MC_PID0"
) &
t0=$(now_ms)
start_instance B
log "B listening $(($(now_ms) - t0)) ms after its launch (memcached paused for the first 0.4 s)"
samples=0
locals=0
skipped=0
deadline=$((SECONDS + 20))
while :; do
    rc=0
    sample_agrees "$B_ADMIN" "$B_PORT" || rc=$?
    case $rc in
    0) samples=$((samples + 1)) ;;
    2) skipped=$((skipped + 1)) ;;
    *) fail "B's status contradicts the key in use: $SAMPLE; /keyring: $(keyring "$B_ADMIN")" ;;
    esac
    [ "$rc" = 0 ] && [[ "$SAMPLE" == *"(local)"* ]] && locals=$((locals + 1))
    if [ "$rc" = 0 ] && same_current; then
        break
    fi
    [ $SECONDS -lt $deadline ] || fail "B does not share A's keys 20 s after its start:" \
        "A $(keyring "$A_ADMIN"); B $(keyring "$B_ADMIN")"
done
log "(a) $samples samples agreed ($locals on a local key, $skipped taken while the state" \
    "moved); B now encrypts with A's key $(current_fp "$A_ADMIN")"
# The log agrees: a local key in use was logged, and so was the way back.
if [ "$locals" -gt 0 ]; then
    assert_contains "$B_LOG" "encrypting tickets with a local key"
    assert_contains "$B_LOG" "encrypting tickets with the cluster's key"
fi
if grep -q "encrypting tickets with a local key" "$B_LOG"; then
    assert_contains "$B_LOG" "encrypting tickets with the cluster's key"
fi
for v in -tls1_3 -tls1_2; do
    new_session "$B_PORT" b.pem "$v"
    offer "$A_PORT" b.pem "$v"
    assert_eq "$R" Reused "ticket made on B offered to A ($v)"
    new_session "$A_PORT" a.pem "$v"
    offer "$B_PORT" a.pem "$v"
    assert_eq "$R" Reused "ticket made on A offered to B ($v)"
done
log "(a) tickets cross between A and B both ways"
stop_instances B

# ---- (b) the next epoch's key at the boundary ----

ROTATE=20
PREFIX="kr44b:"
REFRESH=5 start_instance C
# next_listed E: C's /keyring lists a key of epoch E (curl only: cheap).
next_listed() {
    curl -sS --max-time 5 "http://127.0.0.1:$C_ADMIN/keyring" | grep -q "\"epoch\": $1,"
}
E=$(epoch)
boundary_ms=$(((E + 1) * ROTATE * 1000))
WAIT_FOR_LIMIT=$((ROTATE + 5)) wait_for epoch_at_least $((E + 1)) ||
    fail "epoch $((E + 1)) did not come"
WAIT_FOR_LIMIT=15 wait_for next_listed $((E + 2)) ||
    fail "C lists no key for epoch $((E + 2)) in epoch $(epoch): $(keyring "$C_ADMIN")"
late=$(($(now_ms) - boundary_ms))
# A boundary refresh that ran for the old epoch leaves the new next key to
# the following refresh, 5 s later.  2 s is room for a busy machine to run
# the refresh and this shell's polling.
[ "$late" -le 2000 ] || fail "the key of epoch $((E + 2)) was listed $late ms after its" \
    "epoch's boundary (refresh = 5 s)"
log "(b) the key of epoch $((E + 2)) was listed $late ms after the boundary into $((E + 1))"
stop_instances C

# ---- (c) SIGTERM while memcached hangs ----

ROTATE=30
PREFIX="kr44:"
SHUTDOWN=1 MC_TIMEOUT_MS=2000 start_instance D
WAIT_FOR_LIMIT=15 wait_for eval '[ -n "$(current_fp "$D_ADMIN")" ]' ||
    fail "D has no current cluster key: $(keyring "$D_ADMIN")"
kill -STOP "$MC_PID0"
# A refresh (every second) is under way against the hung server once the
# prober, whose own probe waits timeout_ms, has seen it down.
WAIT_FOR_LIMIT=15 wait_for metric_is "$D_ADMIN" 0 tessera_memcached_up ||
    fail "D still sees the stopped memcached up"
t0=$(now_ms)
kill -TERM "$D_PID"
wait_exit "$D_PID" 30 || fail "D still runs 30 s after SIGTERM with memcached hung"
took=$(($(now_ms) - t0))
kill -CONT "$MC_PID0"
assert_eq "$EXIT_STATUS" 0 "D's exit status"
# timeouts.shutdown (1 s, no connection open: nothing to wait for), plus the
# prober's probe in flight (timeout_ms = 2 s; the prober still runs on
# libmemcached), plus 1.5 s for a busy machine.  The keyring's round trips
# (three phases of timeout_ms each when it blocked) are not on that path.
[ "$took" -le 4500 ] || fail "D took $took ms to exit after SIGTERM with memcached hung"
log "(c) SIGTERM with memcached hung: D exited 0 after $took ms"

# ---- (d) a memcached that answers the keyring's operations badly ----

HPORT=$(free_port)
python3 "$LIB_DIR/../tools/hostile-memcached.py" --port "$HPORT" --hostile stek \
    --ready-file hostile.ready --lifetime 200 >hostile.out 2>&1 &
track_pid $!
wait_for test -f hostile.ready || fail "the hostile server did not start: $(cat hostile.out)"
# failed_ops: keyring operations that ended in error or timeout.
failed_ops() {
    echo $(($(m "$E_ADMIN" tessera_keyring_ops_total result=error) + \
        $(m "$E_ADMIN" tessera_keyring_ops_total result=timeout)))
}
MC_PORT=$HPORT PREFIX="kr44d:" MC_TIMEOUT_MS=200 start_instance E
# Every one of the seven broken answers, at least once.
broken() {
    [ "$(grep -c '^broken' hostile.out)" -ge 14 ]
}
WAIT_FOR_LIMIT=60 wait_for broken || fail "the hostile server answered only" \
    "$(grep -c '^broken' hostile.out) keyring operations badly"
kill -0 "$E_PID" || fail "E died: $(tail -n 20 "$E_LOG")"
n=$(failed_ops)
[ "$n" -ge 7 ] || fail "only $n failed keyring operations counted"
kr_has "$E_ADMIN" "^degraded true " || fail "/keyring of E: $(keyring "$E_ADMIN")"
healthz_matches "$E_ADMIN" '^degraded: ' || fail "/healthz of E: $(healthz "$E_ADMIN")"
for v in -tls1_3 -tls1_2; do
    new_session "$E_PORT" e.pem "$v"
    offer "$E_PORT" e.pem "$v"
    assert_eq "$R" Reused "ticket made on E offered to E ($v)"
done
log "(d) $(grep -c '^broken' hostile.out) broken keyring answers: E serves on local keys," \
    "degraded, $n failed operations counted"
stop_instances E A
log "ok"
