#!/bin/bash
# 32-memcached-outages: memcached failing in three ways, two instances.
#  (a) nothing listens on the configured port at start: tessera starts and
#      serves full handshakes, /healthz says "degraded: memcached ...
#      unreachable", tessera_memcached_up is 0; once memcached starts on
#      that port, /healthz says ok, up is 1 and sessions cross instances;
#  (b) memcached stopped (SIGSTOP) while serving: each resumption attempt is
#      a full handshake whose lookup gave up after timeout_ms (libmemcached
#      alone would wait 5 s), the lookups are counted as timeouts or drops,
#      and 20 full handshakes run alongside, none slowed down; after
#      SIGCONT resumption comes back within seconds;
#  (c) memcached killed and restarted empty: no crash, sessions made before
#      are full handshakes, new ones resume across instances again.
# subset: tsan
# shellcheck source=tests/integration/lib.sh disable=SC2034,SC2119,SC2153,SC2154
. "$(dirname "$0")/lib.sh"

# Durations are read from tessera's own histograms, never from the wall
# clock around s_client (a busy machine stretches a client's start-up at
# will).  timeout_ms is the default, 50 ms:
#   WAIT_LE   no lookup waits on memcached longer than this bucket: 50 ms
#             plus 200 ms for a saturated machine to run the worker's timer;
#   HS_LE     no handshake takes longer than this bucket: what the test
#             guards against is libmemcached's 5 s poll timeout, so half of
#             that still catches it and leaves the clients 2.5 s of
#             scheduling delay on a busy machine.
WAIT_LE=0.25
HS_LE=2.5
STALLED=8     # resumption attempts while memcached is stopped
PARALLEL=20   # full handshakes alongside them

make_certs
start_backend echo
ECHO=$BACKEND_PORT
MCP=$(free_port) # memcached's port; nothing listens there yet
MC=127.0.0.1:$MCP

# new_session PORT FILE: a TLS 1.2 full handshake that saves its session.
new_session() {
    rm -f "$2"
    hs "$1" -tls1_2 -sess_out "$2"
    assert_eq "$HS" New "full handshake on port $1"
    [ -s "$2" ] || fail "s_client on port $1 saved no session"
}

# stored_session ADMIN PORT FILE: new_session, then wait until it is stored.
stored_session() {
    local before
    before=$(m "$1" tessera_session_cache_ops_total op=set result=stored)
    new_session "$2" "$3"
    wait_for metric_at_least "$1" $((before + 1)) tessera_session_cache_ops_total op=set \
        result=stored || fail "the session made on port $2 was not stored"
}

# crosses: a session made on A now resumes on B (for wait_for).
crosses() {
    new_session "$A_PORT" cross.pem
    hs "$B_PORT" -tls1_2 -sess_in cross.pem
    [ "$HS" = Reused ]
}

# crosses_in_a_row N: N sessions in a row made on A resume on B.
crosses_in_a_row() {
    local i
    for i in $(seq 1 "$1"); do
        crosses || return 1
    done
}

# --- (a) memcached down at start ---
start_mc_instance A "$ECHO" --tickets 'refresh = 1;' "$MC"
start_mc_instance B "$ECHO" --tickets 'refresh = 1;' "$MC"
for a in "$A_ADMIN" "$B_ADMIN"; do
    wait_for healthz_matches "$a" "^degraded: memcached $MC unreachable" ||
        fail "/healthz on $a with memcached down: $(healthz "$a")"
    wait_for metric_is "$a" 0 tessera_memcached_up server="$MC" ||
        fail "tessera_memcached_up on $a with memcached down: $(m "$a" tessera_memcached_up)"
done
for i in 1 2 3; do
    hs "$A_PORT" -tls1_2
    assert_eq "$HS" New "full handshake with memcached down"
    hs "$B_PORT" -tls1_3
    assert_eq "$HS" New "full TLS 1.3 handshake with memcached down"
done
new_session "$A_PORT" down.pem
hs "$B_PORT" -tls1_2 -sess_in down.pem
assert_eq "$HS" New "a session made while memcached is down, on the other instance"
no_slow "$A_ADMIN" "$WAIT_LE" "$HS_LE" "memcached down"
no_slow "$B_ADMIN" "$WAIT_LE" "$HS_LE" "memcached down"
log "(a) memcached down: serving full handshakes; /healthz degraded, memcached_up 0"

start_memcached "$MCP"
MC_PID1=$MC_PID
for a in "$A_ADMIN" "$B_ADMIN"; do
    WAIT_FOR_LIMIT=10 wait_for healthz_matches "$a" '^ok$' ||
        fail "/healthz on $a 10 s after memcached started: $(healthz "$a")"
    WAIT_FOR_LIMIT=10 wait_for metric_is "$a" 1 tessera_memcached_up server="$MC" ||
        fail "tessera_memcached_up on $a 10 s after memcached started"
done
WAIT_FOR_LIMIT=10 wait_for crosses || fail "no cross-instance resumption 10 s after memcached started"
log "(a) memcached started: /healthz ok, memcached_up 1, A's session Reused on B"

# --- (b) memcached stopped while serving ---
for i in $(seq 1 "$STALLED"); do
    stored_session "$A_ADMIN" "$A_PORT" "stall-$i.pem"
done
g0=$(m "$B_ADMIN" tessera_session_cache_ops_total op=get result=timeout)
d0=$(m "$B_ADMIN" tessera_session_cache_ops_total op=get result=dropped)
kill -STOP "$MC_PID"
# Full handshakes on B alongside the stalled lookups.
for i in $(seq 1 "$PARALLEL"); do
    (
        "$TCLIENT" echo --port "$B_PORT" --tls 1.2 --bytes 100 --timeout 10 >"par-$i.out" 2>&1
        echo "$?" >"par-$i.res"
    ) &
done
for i in $(seq 1 "$STALLED"); do
    hs "$B_PORT" -tls1_2 -sess_in "stall-$i.pem"
    assert_eq "$HS" New "resumption attempt $i with memcached stopped"
done
# all_done: every parallel handshake wrote its result.
all_done() {
    local f n=0
    for f in par-*.res; do
        [ -f "$f" ] && n=$((n + 1))
    done
    [ "$n" -eq "$PARALLEL" ]
}
wait_for all_done ||
    fail "the parallel full handshakes did not finish"
for i in $(seq 1 "$PARALLEL"); do
    read -r rc <"par-$i.res"
    assert_eq "$rc" 0 "parallel full handshake $i: $(cat "par-$i.out")"
done
no_slow "$B_ADMIN" "$WAIT_LE" "$HS_LE" "memcached stopped"
g1=$(m "$B_ADMIN" tessera_session_cache_ops_total op=get result=timeout)
d1=$(m "$B_ADMIN" tessera_session_cache_ops_total op=get result=dropped)
[ $((g1 - g0 + d1 - d0)) -ge "$STALLED" ] ||
    fail "get timeouts + drops moved by $((g1 - g0)) + $((d1 - d0)), expected >= $STALLED"
wait_for metric_is "$B_ADMIN" 0 tessera_memcached_up server="$MC" ||
    fail "tessera_memcached_up on B stays 1 while memcached is stopped"
wait_for healthz_matches "$B_ADMIN" "^degraded: memcached $MC unreachable" ||
    fail "/healthz on B while memcached is stopped: $(healthz "$B_ADMIN")"
log "(b) memcached stopped: $STALLED resumption attempts, full handshakes;" \
    "get timeouts +$((g1 - g0)), drops +$((d1 - d0)); $PARALLEL parallel full handshakes;" \
    "no memcached wait over $WAIT_LE s, no handshake over $HS_LE s"
kill -CONT "$MC_PID"
WAIT_FOR_LIMIT=10 wait_for crosses || fail "no cross-instance resumption 10 s after SIGCONT"
for a in "$A_ADMIN" "$B_ADMIN"; do
    WAIT_FOR_LIMIT=10 wait_for healthz_matches "$a" '^ok$' ||
        fail "/healthz on $a 10 s after SIGCONT: $(healthz "$a")"
done
log "(b) SIGCONT: resumption across instances works again, /healthz ok"

# --- (c) memcached killed and restarted empty ---
for i in 1 2 3; do
    stored_session "$A_ADMIN" "$A_PORT" "old-$i.pem"
done
stop_memcached "$MC_PID"
# Serving goes on meanwhile.
hs "$A_PORT" -tls1_2
assert_eq "$HS" New "full handshake with memcached killed"
start_memcached "$MCP"
WAIT_FOR_LIMIT=10 wait_for crosses || fail "no cross-instance resumption 10 s after the restart"
# Each lookup is answered, but not with a hit: a miss, or an error when it
# is the first request on a helper's connection to the old process.
get0=$(m "$B_ADMIN" tessera_session_cache_ops_total op=get)
hit0=$(m "$B_ADMIN" tessera_session_cache_ops_total op=get result=hit)
miss0=$(m "$B_ADMIN" tessera_session_cache_ops_total op=get result=miss)
for i in 1 2 3; do
    hs "$B_PORT" -tls1_2 -sess_in "old-$i.pem"
    assert_eq "$HS" New "session made before the restart, offered to B"
done
wait_for metric_is "$B_ADMIN" $((get0 + 3)) tessera_session_cache_ops_total op=get ||
    fail "B's get results moved by $(($(m "$B_ADMIN" tessera_session_cache_ops_total op=get) - \
get0)), expected 3"
assert_eq "$(m "$B_ADMIN" tessera_session_cache_ops_total op=get result=hit)" "$hit0" \
    "B's get hits for the 3 sessions lost with memcached"
misses=$(($(m "$B_ADMIN" tessera_session_cache_ops_total op=get result=miss) - miss0))
# Each helper thread's connection to the old process fails once; then
# every new session crosses: poll for 5 in a row.
WAIT_FOR_LIMIT=15 wait_for crosses_in_a_row 5 ||
    fail "new sessions do not cross instances 15 s after the restart"
kill -0 "$A_PID" || fail "instance A died"
kill -0 "$B_PID" || fail "instance B died"
log "(c) memcached restarted empty: old sessions New ($misses of 3 lookups misses, the" \
    "others errors), 5 new ones in a row Reused on B"

TESSERA_PID=$A_PID
stop_tessera || fail "tessera A exited with $?"
TESSERA_PID=$B_PID
stop_tessera || fail "tessera B exited with $?"
log "ok"
