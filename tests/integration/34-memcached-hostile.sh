#!/bin/bash
# 34-memcached-hostile: a server that speaks memcached's protocol properly
# except for session entries, which it answers with garbage, a VALUE for
# another key, a VALUE too large for any entry, an endless line, half a
# VALUE and a closed connection, silence, or a reply to a command never
# sent (tests/tools/hostile-memcached.py, one after another).  Two instances
# share it; every session made on A and offered to B must end as a full
# handshake that waited no longer than timeout_ms for memcached (read from
# tessera's histograms), every lookup is counted exactly once and
# none resumes, the hostility shows up as errors or timeouts, and both
# instances go on serving.
# subset: tsan
# shellcheck source=tests/integration/lib.sh disable=SC2034,SC2119,SC2153,SC2154
. "$(dirname "$0")/lib.sh"

# timeout_ms is 200 ms: no memcached operation lasts longer than the 1 s
# bucket (the next above 200 ms; the rest is room for a saturated machine),
# and no handshake longer than 2.5 s (half libmemcached's 5 s poll timeout,
# the stall this guards against).
WAIT_LE=1
HS_LE=2.5
ROUNDS=21 # three times through the seven broken answers

make_certs
start_backend echo
ECHO=$BACKEND_PORT

HPORT=$(free_port)
python3 "$LIB_DIR/../tools/hostile-memcached.py" --port "$HPORT" --ready-file hostile.ready \
    --lifetime 300 >hostile.out 2>&1 &
track_pid $!
wait_for test -f hostile.ready || fail "the hostile server did not start: $(cat hostile.out)"

start_mc_instance A "$ECHO" --timeout-ms 200 "$HPORT"
start_mc_instance B "$ECHO" --timeout-ms 200 "$HPORT"
wait_for metric_is "$B_ADMIN" 1 tessera_memcached_up || fail "B does not see the server up"

get0=$(m "$B_ADMIN" tessera_session_cache_ops_total op=get)
bad0=$(($(m "$B_ADMIN" tessera_session_cache_ops_total op=get result=error) +
    $(m "$B_ADMIN" tessera_session_cache_ops_total op=get result=timeout)))
for i in $(seq 1 "$ROUNDS"); do
    rm -f s.pem
    sclient_exchange "echo-$i" "^echo-" "$A_PORT" -tls1_2 -sess_out s.pem ||
        fail "full handshake $i on A: $(tail -n 20 "$SCLIENT_OUT")"
    [ -s s.pem ] || fail "s_client saved no session on A (round $i)"
    sclient_exchange "echo-$i" "^echo-" "$B_PORT" -tls1_2 -sess_in s.pem ||
        fail "handshake $i on B: $(tail -n 20 "$SCLIENT_OUT")"
    grep -q '^New, ' "$SCLIENT_OUT" || fail "round $i on B: not a full handshake"
done
no_slow "$B_ADMIN" "$WAIT_LE" "$HS_LE" "$ROUNDS hostile lookups"
tessera_running "$A_PID" || fail "A died"
tessera_running "$B_PID" || fail "B died"
get1=$(m "$B_ADMIN" tessera_session_cache_ops_total op=get)
bad1=$(($(m "$B_ADMIN" tessera_session_cache_ops_total op=get result=error) +
    $(m "$B_ADMIN" tessera_session_cache_ops_total op=get result=timeout)))
assert_eq "$((get1 - get0))" "$ROUNDS" "lookups counted on B"
[ $((bad1 - bad0)) -ge 7 ] || fail "only $((bad1 - bad0)) lookups ended as errors or timeouts"
assert_eq "$(m "$B_ADMIN" tessera_resumptions_total)" 0 "resumptions on B"
broken=$(grep -c '^broken' hostile.out)
[ "$broken" -ge 7 ] || fail "the hostile server answered only $broken lookups badly"
# Still serving, and still answering the admin endpoint.
hs_ok=0
for i in 1 2 3; do
    "$TCLIENT" echo --port "$B_PORT" --tls 1.3 --bytes 1000 --timeout 10 >/dev/null 2>&1 &&
        hs_ok=$((hs_ok + 1))
done
assert_eq "$hs_ok" 3 "full TLS 1.3 exchanges on B afterwards"
log "$ROUNDS hostile lookups on B: each a full handshake, none waited over $WAIT_LE s;" \
    "errors+timeouts +$((bad1 - bad0)); $broken broken answers sent"
