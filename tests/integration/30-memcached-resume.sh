#!/bin/bash
# 30-memcached-resume: two instances (A and B: same frontend name,
# certificate and secret, different ports) share one memcached with
# sessions.tickets = false.  A TLS 1.2 session ID made on one instance
# resumes on the other, both ways; a TLS 1.3 stateful ticket made on A
# resumes on B once and is then spent on both (single use).  B's counters
# move by exactly the cross resumptions (resumed_session, origin="remote",
# get hits), the stores show up as set/stored (asynchronous: polled), and
# tessera_memcached_up is 1.  Then resume-chains whose every reconnection
# crosses to the other instance (tclient --alt-port), TLS 1.2 and TLS 1.3.
# Last, an instance with memcached.options = "--BINARY-PROTOCOL" (no worker
# connections: libmemcached on the helpers does everything) shares sessions
# with A both ways.
# subset: tsan
# shellcheck source=tests/integration/lib.sh disable=SC2034,SC2119,SC2153,SC2154
. "$(dirname "$0")/lib.sh"

CHAIN=20
BANNER_RE="220 backend ready"

make_certs
start_backend banner
BANNER=$BACKEND_PORT
start_memcached
MC=127.0.0.1:$MC_PORT

start_mc_instance A "$BANNER" "$MC"
start_mc_instance B "$BANNER" "$MC"

# new_session PORT FILE TLSFLAG...: a full handshake that saves its session.
new_session() {
    local port=$1 file=$2
    shift 2
    rm -f "$file"
    sclient_exchange "" "$BANNER_RE" "$port" "$@" -sess_out "$file" ||
        fail "s_client $* -sess_out on port $port: $(tail -n 20 "$SCLIENT_OUT")"
    assert_contains "$SCLIENT_OUT" "^New, "
    [ -s "$file" ] || fail "s_client $* on port $port saved no session"
}

# offer PORT FILE TLSFLAG...: offer the saved session; prints Reused or New.
offer() {
    local port=$1 file=$2
    shift 2
    sclient_exchange "" "$BANNER_RE" "$port" "$@" -sess_in "$file" ||
        fail "s_client $* -sess_in on port $port: $(tail -n 20 "$SCLIENT_OUT")"
    sed -n 's/^\(Reused\|New\), .*/\1/p' "$SCLIENT_OUT" | head -n 1
}

# wait_stores ADMIN BEFORE N: wait until (at least) N more sets were stored.
wait_stores() {
    wait_for metric_at_least "$1" $(($2 + $3)) tessera_session_cache_ops_total op=set \
        result=stored ||
        fail "set/stored on admin port $1 did not reach $(($2 + $3)) (now $(m "$1" \
            tessera_session_cache_ops_total op=set result=stored))"
}

# snapshot VAR ADMIN: remember B-side counters as VAR_full, VAR_res, ...
snapshot() {
    local v=$1 a=$2
    printf -v "${v}_full" '%s' "$(m "$a" tessera_handshakes_total type=full)"
    printf -v "${v}_res" '%s' "$(m "$a" tessera_handshakes_total type=resumed_session)"
    printf -v "${v}_remote" '%s' "$(m "$a" tessera_resumptions_total type=session origin=remote)"
    printf -v "${v}_local" '%s' "$(m "$a" tessera_resumptions_total type=session origin=local)"
    printf -v "${v}_hit" '%s' "$(m "$a" tessera_session_cache_ops_total op=get result=hit)"
    printf -v "${v}_miss" '%s' "$(m "$a" tessera_session_cache_ops_total op=get result=miss)"
    printf -v "${v}_set" '%s' "$(m "$a" tessera_session_cache_ops_total op=set result=stored)"
    printf -v "${v}_rej" '%s' "$(m "$a" tessera_session_entries_rejected_total)"
}

# expect_moved WHAT BEFORE NOW DELTA
expect_moved() {
    [ $(($3 - $2)) -eq "$4" ] || fail "$1 moved by $(($3 - $2)), expected $4"
}

# --- both instances see memcached ---
for a in "$A_ADMIN" "$B_ADMIN"; do
    wait_for metric_is "$a" 1 tessera_memcached_up server="$MC" ||
        fail "tessera_memcached_up{server=\"$MC\"} is not 1 on admin port $a"
    wait_for healthz_matches "$a" '^ok$' || fail "/healthz on $a: $(healthz "$a")"
done
log "memcached_up{server=\"$MC\"} 1 and /healthz ok on both instances"

# --- TLS 1.2 session ID: A -> B ---
snapshot A0 "$A_ADMIN"
snapshot B0 "$B_ADMIN"
new_session "$A_PORT" s12a.pem -tls1_2
wait_stores "$A_ADMIN" "$A0_set" 1
r=$(offer "$B_PORT" s12a.pem -tls1_2)
assert_eq "$r" Reused "TLS 1.2 session made on A, offered to B"
# A second time on B: now from B's own first level, still Reused.
r=$(offer "$B_PORT" s12a.pem -tls1_2)
assert_eq "$r" Reused "TLS 1.2 session made on A, offered to B again"
snapshot B1 "$B_ADMIN"
expect_moved "B: handshakes{resumed_session}" "$B0_res" "$B1_res" 2
expect_moved "B: handshakes{full}" "$B0_full" "$B1_full" 0
expect_moved "B: get/hit" "$B0_hit" "$B1_hit" 2
expect_moved "B: get/miss" "$B0_miss" "$B1_miss" 0
expect_moved "B: set/stored" "$B0_set" "$B1_set" 0
expect_moved "B: resumptions{session,remote}" "$B0_remote" "$B1_remote" 2
expect_moved "B: rejected" "$B0_rej" "$B1_rej" 0
log "TLS 1.2: session of A Reused on B (2 remote resumptions counted on B)"

# --- TLS 1.2 session ID: B -> A ---
snapshot A1 "$A_ADMIN"
new_session "$B_PORT" s12b.pem -tls1_2
wait_stores "$B_ADMIN" "$B1_set" 1
r=$(offer "$A_PORT" s12b.pem -tls1_2)
assert_eq "$r" Reused "TLS 1.2 session made on B, offered to A"
snapshot A2 "$A_ADMIN"
expect_moved "A: handshakes{resumed_session}" "$A1_res" "$A2_res" 1
expect_moved "A: resumptions{session,remote}" "$A1_remote" "$A2_remote" 1
expect_moved "A: get/hit" "$A1_hit" "$A2_hit" 1
log "TLS 1.2: session of B Reused on A"

# --- TLS 1.3 stateful ticket: A -> B once, then spent everywhere ---
snapshot A3 "$A_ADMIN"
snapshot B3 "$B_ADMIN"
new_session "$A_PORT" s13.pem -tls1_3
# Each ticket of the full handshake (OpenSSL sends 2) is a session of its
# own, stored on its own.
wait_stores "$A_ADMIN" "$A3_set" 2
snapshot A4 "$A_ADMIN"
expect_moved "A: set/stored (TLS 1.3 full handshake)" "$A3_set" "$A4_set" 2
r=$(offer "$B_PORT" s13.pem -tls1_3)
assert_eq "$r" Reused "TLS 1.3 stateful ticket made on A, offered to B"
# The lookup deletes the entry (single use): wait for B's delete to land.
wait_for metric_at_least "$B_ADMIN" 1 tessera_session_cache_ops_total op=delete result=hit ||
    fail "B did not delete the spent TLS 1.3 ticket"
r=$(offer "$B_PORT" s13.pem -tls1_3)
assert_eq "$r" New "TLS 1.3 stateful ticket offered to B a second time"
r=$(offer "$A_PORT" s13.pem -tls1_3)
assert_eq "$r" New "TLS 1.3 stateful ticket offered to A after B used it"
snapshot B4 "$B_ADMIN"
expect_moved "B: handshakes{resumed_session} (TLS 1.3)" "$B3_res" "$B4_res" 1
expect_moved "B: resumptions{session,remote} (TLS 1.3)" "$B3_remote" "$B4_remote" 1
expect_moved "B: handshakes{full} (TLS 1.3)" "$B3_full" "$B4_full" 1
expect_moved "B: get/hit (TLS 1.3)" "$B3_hit" "$B4_hit" 1
expect_moved "B: get/miss (TLS 1.3)" "$B3_miss" "$B4_miss" 1
log "TLS 1.3: stateful ticket of A Reused once on B, then New on B and on A"

# --- chains whose every reconnection crosses to the other instance ---
# TLS 1.3: every resumption spends a ticket and is handed a new one by the
# instance it resumed on, so each of the CHAIN resumptions is a cross-instance
# fetch from memcached.
snapshot A5 "$A_ADMIN"
snapshot B5 "$B_ADMIN"
out=$(tclient resume-chain --port "$A_PORT" --alt-port "$B_PORT" --tls 1.3 --mode ticket \
    --count "$CHAIN") || fail "TLS 1.3 stateful resume-chain alternating A/B:
$(printf '%s\n' "$out" | grep -v 'reused=1' | tail -n 5)"
snapshot A6 "$A_ADMIN"
snapshot B6 "$B_ADMIN"
onb=$((CHAIN / 2 + CHAIN % 2)) # connections 1, 3, 5... go to B
expect_moved "B: resumptions{session,remote} (TLS 1.3 chain)" "$B5_remote" "$B6_remote" "$onb"
expect_moved "A: resumptions{session,remote} (TLS 1.3 chain)" "$A5_remote" "$A6_remote" \
    $((CHAIN - onb))
expect_moved "B: resumptions{session,local} (TLS 1.3 chain)" "$B5_local" "$B6_local" 0
log "TLS 1.3 chain: $CHAIN resumptions, each on the other instance"

# TLS 1.2: one session ID for the whole chain.  Each instance fetches it
# from memcached once (the first level keeps it afterwards); a session made
# by A is still A's when B resumes it from its own first level.
snapshot A7 "$A_ADMIN"
snapshot B7 "$B_ADMIN"
out=$(tclient resume-chain --port "$A_PORT" --alt-port "$B_PORT" --tls 1.2 --mode id \
    --count "$CHAIN") || fail "TLS 1.2 session-ID resume-chain alternating A/B:
$(printf '%s\n' "$out" | grep -v 'reused=1' | tail -n 5)"
snapshot A8 "$A_ADMIN"
snapshot B8 "$B_ADMIN"
expect_moved "B: handshakes{resumed_session} (TLS 1.2 chain)" "$B7_res" "$B8_res" "$onb"
expect_moved "B: handshakes{full} (TLS 1.2 chain)" "$B7_full" "$B8_full" 0
expect_moved "B: resumptions{session,remote} (TLS 1.2 chain)" "$B7_remote" "$B8_remote" "$onb"
expect_moved "A: resumptions{session,remote} (TLS 1.2 chain)" "$A7_remote" "$A8_remote" 0
log "TLS 1.2 chain: $CHAIN resumptions alternating A/B, all remote on B"

# --- nothing was rejected, both still up ---
for a in "$A_ADMIN" "$B_ADMIN"; do
    assert_eq "$(m "$a" tessera_session_entries_rejected_total)" 0 "rejected entries on $a"
    assert_eq "$(m "$a" tessera_memcached_up server="$MC")" 1 "memcached_up on $a"
done
# --- an instance whose options rule out the workers' own connections ---
# With --BINARY-PROTOCOL every session operation goes through libmemcached on
# the helper threads; it shares sessions with A (workers' text-protocol
# connections) both ways.
start_mc_instance C "$BANNER" --options "--BINARY-PROTOCOL" "$MC"
assert_contains "$TESSERA_LOG" "BINARY-PROTOCOL: session operations go through helper threads"
for pair in "$A_ADMIN $A_PORT $C_PORT" "$C_ADMIN $C_PORT $A_PORT"; do
    read -r admin from to <<<"$pair"
    before=$(m "$admin" tessera_session_cache_ops_total op=set result=stored)
    new_session "$from" bin.pem -tls1_2
    wait_stores "$admin" "$before" 1
    assert_eq "$(offer "$to" bin.pem -tls1_2)" Reused "a session made on port $from, offered to $to"
done
log "binary-protocol instance (helpers only) and text-protocol workers share sessions both ways"

TESSERA_PID=$C_PID
stop_tessera || fail "tessera C exited with $?"
TESSERA_PID=$A_PID
stop_tessera || fail "tessera A exited with $?"
TESSERA_PID=$B_PID
stop_tessera || fail "tessera B exited with $?"
log "ok"
