#!/bin/bash
# 48-early-data: TLS 1.3 early data (0-RTT) accepted at most once across a
# cluster, fail closed.  Instances A, B and D (tls.early_data on, window
# 60 s, proxy_protocol v2) share memcached and the ticket keyring; C has a 1 s
# window and max_early_data = 1024.  The backend records every byte it
# receives (testbackend record), so what reached it is counted, not guessed.
#  (a) a ticket from A, early data to B (openssl s_client, then tclient
#      both ways): accepted, Reused, the bytes reach the backend behind a
#      PROXY v2 header with tessera's early-data TLV (0xE0 = 1); accepted
#      counted on B;
#  (b) one fresh ticket, the same early data sent 20 times, alternating
#      A/B/D, in concurrent bursts of 5: accepted at most once, and at the
#      backend exactly as often as accepted; the rest replayed (or
#      unavailable when memcached was slow); every attempt resumed;
#  (c) memcached stopped (SIGSTOP): early data rejected (unavailable),
#      resumption still succeeds, no record wait over 1 s (timeout_ms is
#      200) and no handshake over 2.5 s in B's histograms;
#  (d) a ticket older than C's window: rejected as stale, still Reused;
#  (e) 4,000 bytes of early data to C (max 1,024): the connection is
#      refused and counted as too_large, none of it at the backend;
#  (f) (run before d) TLS 1.2 and TLS 1.3 without early data on the same
#      frontends: relayed, and resumed across instances;
#  (g) (run before d) a HelloRetryRequest: early data rejected, Reused,
#      nothing at the backend, not counted as stale;
#  (h) (last) memcached killed (SIGKILL): early data rejected
#      (unavailable), resumption still succeeds, nothing at the backend,
#      nothing slow, as in (c).
# subset: tsan
# shellcheck source=tests/integration/lib.sh disable=SC2034,SC2119,SC2153,SC2154
. "$(dirname "$0")/lib.sh"

REPLAYS=20
BURST=5
# memcached.timeout_ms: the record's add gives up after it (the early data
# is then rejected: fail closed).  200 ms rather than the default 50, so
# that a machine busy with other tests does not turn the accepted cases
# into rejections; what (c) checks is that nothing waits for libmemcached's
# 5 s: no record wait over WAIT_LE, no handshake over HS_LE (bucket bounds
# of tessera's own histograms, never the wall clock around a client).
MC_TIMEOUT_MS=200
WAIT_LE=1
HS_LE=2.5
PREFIX="ed$$:"

make_certs
start_backend record
REC=$BACKEND_PORT
REC_OUT=$TEST_DIR/backend-$SEQ.port # "PORT n", then every byte received
start_memcached

# start_ed VAR WINDOW MAX: an instance with early data on.
start_ed() {
    local var=$1 window=$2 max=$3 port
    cfg_reset
    port=$(free_port)
    cfg_frontend web "$port" "$REC" "$(cert_entry ec)" "" 'proxy_protocol = "v2";'
    cfg_admin
    CFG_TLS="early_data = true; early_data_window = $window; max_early_data = $max;"
    CFG_SESSIONS="tickets = true;"
    CFG_TICKETS="rotate = 3600; keep = 18; refresh = 1;"
    cfg_memcached --timeout-ms "$MC_TIMEOUT_MS" "$MC_PORT"
    CFG_MEMCACHED="$CFG_MEMCACHED prefix = \"$PREFIX\";"
    write_config "$TEST_DIR/$var.conf"
    start_tessera "$TEST_DIR/$var.conf"
    printf -v "${var}_PORT" '%s' "$port"
    printf -v "${var}_ADMIN" '%s' "$ADMIN_PORT"
    printf -v "${var}_PID" '%s' "$TESSERA_PID"
}

# ed ADMIN RESULT: tessera_early_data_total{result=RESULT} on ADMIN.
ed() {
    m "$1" tessera_early_data_total result="$2"
}

# ed_all RESULT: the same, summed over A, B and D.
ed_all() {
    echo $(($(ed "$A_ADMIN" "$1") + $(ed "$B_ADMIN" "$1") + $(ed "$D_ADMIN" "$1")))
}

# ticket PORT FILE: a full TLS 1.3 handshake that saves its session (with a
# ticket that allows early data) in FILE.
ticket() {
    rm -f "$2"
    sclient_exchange "full-$SEQ" "full-" "$1" -tls1_3 -sess_out "$2" ||
        fail "s_client -sess_out on port $1: $(tail -n 20 "$SCLIENT_OUT")"
    assert_contains "$SCLIENT_OUT" "^New, "
    assert_contains "$SCLIENT_OUT" "Max Early Data: [1-9]"
}

# early PORT SESSION DATAFILE: resume SESSION with DATAFILE as early data;
# sets ED to accepted, rejected or "not sent", and R to Reused or New.
early() {
    sclient_exchange "" "Early data was" "$1" -tls1_3 -sess_in "$2" -early_data "$3" ||
        fail "s_client -early_data on port $1: $(tail -n 20 "$SCLIENT_OUT")"
    ED=$(sed -n 's/^Early data was \(.*\)$/\1/p' "$SCLIENT_OUT" | head -n 1)
    R=$(sed -n 's/^\(Reused\|New\), .*/\1/p' "$SCLIENT_OUT" | head -n 1)
}

# rejected_5 PORT SESSION DATAFILE WHEN: five attempts, each with its early
# data rejected and SESSION resumed (the memcached fault cases, (c) and (h)).
rejected_5() {
    local i
    for i in 1 2 3 4 5; do
        early "$1" "$2" "$3"
        assert_eq "$ED" rejected "early data $4 (attempt $i)"
        assert_eq "$R" Reused "resumption $4 (attempt $i)"
    done
}

# recorded TEXT: how many times TEXT reached the backend.
recorded() {
    grep -c -- "$1" "$REC_OUT" || true
}

# decided_is N: the early-data results (but too_large), over A, B and D, add up to N.
decided_is() {
    [ $(($(ed_all accepted) + $(ed_all replayed) + $(ed_all unavailable) + $(ed_all stale))) \
        -eq "$1" ]
}

# clock_past T: the wall clock (unix s) has reached T.
clock_past() {
    [ "$(date +%s)" -ge "$1" ]
}

recorded_is() {
    [ "$(recorded "$1")" -eq "$2" ]
}

start_ed A 60 16384
start_ed B 60 16384
start_ed D 60 16384
for a in "$A_ADMIN" "$B_ADMIN" "$D_ADMIN"; do
    wait_for metric_is "$a" 1 tessera_memcached_up server="127.0.0.1:$MC_PORT" ||
        fail "memcached not up on admin port $a"
done

# --- (a) a ticket from A, early data accepted on B ---
ticket "$A_PORT" a.pem
printf 'EARLY-CROSS-%s\n' $$ >cross.txt
early "$B_PORT" a.pem cross.txt
assert_eq "$ED" accepted "early data of a ticket from A, on B"
assert_eq "$R" Reused "resumption of a ticket from A, on B"
wait_for recorded_is "EARLY-CROSS-$$" 1 || fail "the early data did not reach the backend once"
assert_eq "$(ed "$B_ADMIN" accepted)" 1 "accepted on B"
# The PROXY v2 header in front of it carries the early-data TLV: type 0xE0,
# length 1, value 1 (the record file is binary; look for the bytes).
python3 - "$REC_OUT" <<'EOF' || fail "no early-data TLV (e0 00 01 01) reached the backend"
import sys
data = open(sys.argv[1], "rb").read()
sys.exit(0 if b"\xe0\x00\x01\x01" in data else 1)
EOF
log "(a) ticket from A: early data accepted on B, relayed once behind the TLV"
# The same with the tests' own client (SSL_write_early_data), both ways.
out=$(tclient early --port "$A_PORT" --alt-port "$B_PORT" --data $'TCLIENT-EARLY-AB\n') ||
    fail "tclient early A -> B: $out"
out=$(tclient early --port "$B_PORT" --alt-port "$A_PORT" --data $'TCLIENT-EARLY-BA\n') ||
    fail "tclient early B -> A: $out"
wait_for recorded_is TCLIENT-EARLY-AB 1 || fail "tclient's early data (A -> B) not at the backend"
wait_for recorded_is TCLIENT-EARLY-BA 1 || fail "tclient's early data (B -> A) not at the backend"
log "(a) tclient: early data accepted on the other instance, both ways"

# --- (b) the same early data with the same ticket, 20 times ---
ticket "$A_PORT" r.pem
printf 'EARLY-REPLAY-%s\n' $$ >replay.txt
acc0=$(ed_all accepted)
rep0=$(ed_all replayed)
una0=$(ed_all unavailable)
sta0=$(ed_all stale)
for ((i = 0; i < REPLAYS; i += BURST)); do
    pids=()
    for ((j = i; j < i + BURST && j < REPLAYS; j++)); do
        case $((j % 3)) in
        0) port=$A_PORT ;;
        1) port=$B_PORT ;;
        *) port=$D_PORT ;;
        esac
        timeout 30 openssl s_client -connect "127.0.0.1:$port" -tls1_3 -sess_in r.pem \
            -early_data replay.txt </dev/null >"replay-$j.out" 2>&1 &
        pids+=($!)
    done
    for p in "${pids[@]}"; do
        wait "$p"
    done
done
reused=$(grep -l '^Reused, ' replay-*.out | wc -l)
assert_eq "$reused" "$REPLAYS" "attempts that resumed"
# Every attempt is counted once (stale: OpenSSL's own age check; the
# record's free callback counts it when the connection closes).
wait_for decided_is "$((acc0 + rep0 + una0 + sta0 + REPLAYS))" ||
    fail "early data results did not move by $REPLAYS"
acc=$(($(ed_all accepted) - acc0))
rep=$(($(ed_all replayed) - rep0))
una=$(($(ed_all unavailable) - una0))
sta=$(($(ed_all stale) - sta0))
log "(b) $REPLAYS attempts: accepted $acc, replayed $rep, unavailable $una, stale $sta"
# At most once is the contract; exactly once unless memcached was too slow
# for the first one (then it is unavailable, fail closed).
[ "$acc" -le 1 ] || fail "the same early data was accepted $acc times"
[ "$rep" -ge $((REPLAYS - 1 - una - sta)) ] || fail "replays not counted as replayed"
assert_eq "$(recorded "EARLY-REPLAY-$$")" "$acc" "copies of the replayed early data at the backend"
log "(b) $REPLAYS replays across A, B and D: accepted at most once, at the backend as often"

# --- (c) memcached stopped: rejected, resumption still fine, nothing slow ---
ticket "$A_PORT" s.pem
printf 'EARLY-STOPPED-%s\n' $$ >stopped.txt
un0=$(ed "$B_ADMIN" unavailable)
kill -STOP "$MC_PID"
rejected_5 "$B_PORT" s.pem stopped.txt "while memcached is stopped"
kill -CONT "$MC_PID"
assert_eq "$(($(ed "$B_ADMIN" unavailable) - un0))" 5 "unavailable on B"
assert_eq "$(recorded "EARLY-STOPPED-$$")" 0 "early data at the backend while memcached stopped"
no_slow "$B_ADMIN" "$WAIT_LE" "$HS_LE" "memcached stopped"
log "(c) memcached stopped: early data rejected 5 times, every resumption Reused, none slow"

# --- (f) the rest of an early-data frontend is unchanged ---
# TLS 1.2 (full, then resumed by ticket on the other instance) and TLS 1.3
# resumption without early data go through SSL_read_early_data too.
for v in -tls1_2 -tls1_3; do
    rm -f plain.pem
    sclient_exchange "plain$v" "plain$v" "$A_PORT" "$v" -sess_out plain.pem ||
        fail "s_client $v on A: $(tail -n 20 "$SCLIENT_OUT")"
    sclient_exchange "again$v" "again$v" "$B_PORT" "$v" -sess_in plain.pem ||
        fail "s_client $v -sess_in on B: $(tail -n 20 "$SCLIENT_OUT")"
    assert_contains "$SCLIENT_OUT" "^Reused, "
done
log "(f) TLS 1.2 and TLS 1.3 without early data: relayed and resumed across instances"

# --- (g) a HelloRetryRequest rejects early data (RFC 8446 4.2.10) ---
# The client's only key share (ffdhe2048) is not among tessera's groups: the
# server asks again, for X25519; the second ClientHello has no early data.
ticket "$A_PORT" hrr.pem
printf 'EARLY-HRR-%s\n' $$ >hrr.txt
sta0=$(ed "$B_ADMIN" stale)
acc0=$(ed "$B_ADMIN" accepted)
sclient_exchange "" "Early data was" "$B_PORT" -tls1_3 -groups ffdhe2048:X25519 -sess_in hrr.pem \
    -early_data hrr.txt || fail "s_client with a HelloRetryRequest: $(tail -n 20 "$SCLIENT_OUT")"
assert_contains "$SCLIENT_OUT" "^Early data was rejected"
assert_contains "$SCLIENT_OUT" "^Reused, "
assert_contains "$SCLIENT_OUT" "Server Temp Key: X25519" # the group asked for in the retry
# Counted when the connection is freed: wait for it to close.
wait_for metric_is "$B_ADMIN" 0 tessera_connections_active || fail "B kept a connection open"
assert_eq "$(recorded "EARLY-HRR-$$")" 0 "early data at the backend after a HelloRetryRequest"
assert_eq "$(ed "$B_ADMIN" accepted)" "$acc0" "accepted on B after a HelloRetryRequest"
assert_eq "$(ed "$B_ADMIN" stale)" "$sta0" "stale on B after a HelloRetryRequest"
log "(g) HelloRetryRequest: early data rejected, Reused, not counted as stale"

# --- (d) and (e): C, window 1 s, max_early_data 1024 ---
start_ed C 1 1024
ticket "$A_PORT" old.pem
start=$(openssl sess_id -in old.pem -noout -text | sed -n 's/^ *Start Time: //p')
# The ticket must be older than C's window (1 s) by a whole second.
wait_for clock_past $((start + 2)) || fail "the clock did not move"
printf 'EARLY-STALE-%s\n' $$ >stale.txt
early "$C_PORT" old.pem stale.txt
assert_eq "$ED" rejected "early data of a ticket older than the window"
assert_eq "$R" Reused "resumption of a ticket older than the window"
wait_for metric_is "$C_ADMIN" 1 tessera_early_data_total result=stale ||
    fail "stale not counted on C"
assert_eq "$(recorded "EARLY-STALE-$$")" 0 "stale early data at the backend"
log "(d) ticket older than the window: early data rejected as stale, Reused"

ticket "$A_PORT" big.pem
python3 -c 'import sys; sys.stdout.write("B" * 4000)' >big.txt
sclient "$C_PORT" -tls1_3 -sess_in big.pem -early_data big.txt || true
wait_for metric_is "$C_ADMIN" 1 tessera_early_data_total result=too_large ||
    fail "too_large not counted on C: $(tail -n 5 "$SCLIENT_OUT")"
# The server may have said it accepts early data (EncryptedExtensions) before
# the record that is too large arrived: what matters is that none of it
# reached the backend and the connection ended.
assert_eq "$(recorded BBBBBBBB)" 0 "oversized early data at the backend"
log "(e) 4000 bytes of early data over max_early_data 1024: refused, too_large"

# --- (h) memcached killed: no record can be written, rejected, still fast ---
# Unlike (c), the server is gone (SIGKILL: connections reset, reconnects
# refused), so the add fails on a dead socket or is never sent while the
# breaker is open; either way the early data is unavailable, fail closed.
ticket "$A_PORT" k.pem
printf 'EARLY-KILLED-%s\n' $$ >killed.txt
un0=$(ed "$B_ADMIN" unavailable)
acc0=$(ed "$B_ADMIN" accepted)
stop_memcached "$MC_PID"
rejected_5 "$B_PORT" k.pem killed.txt "with memcached killed"
wait_for metric_is "$B_ADMIN" $((un0 + 5)) tessera_early_data_total result=unavailable ||
    fail "unavailable on B did not move by 5 (now $(ed "$B_ADMIN" unavailable), was $un0)"
assert_eq "$(ed "$B_ADMIN" accepted)" "$acc0" "accepted on B with memcached killed"
assert_eq "$(recorded "EARLY-KILLED-$$")" 0 "early data at the backend with memcached killed"
no_slow "$B_ADMIN" "$WAIT_LE" "$HS_LE" "memcached killed"
log "(h) memcached killed: early data rejected 5 times, every resumption Reused, none slow"

TESSERA_PID=$C_PID
stop_tessera || fail "tessera C exited with $?"
TESSERA_PID=$B_PID
stop_tessera || fail "tessera B exited with $?"
TESSERA_PID=$A_PID
stop_tessera || fail "tessera A exited with $?"
log "ok"
