#!/bin/bash
# 35-memcached-health: one health model per memcached server (issue "the
# memcached layer", failures 3, 4 and 5; doc/architecture.md "Health").
# Two instances, sessions through memcached (tickets off).
#
#   (a) a probe answered late once (memcached paused for 1.2 s: one or two
#       probes of the once-a-second prober miss their deadline) never marks
#       the server down: three failures in a row do.
#   (b) memcached paused long enough to be marked down, then continued: up
#       again (tessera_memcached_up 1) within one probe interval.
#   (c) memcached killed and restarted empty: after the first seconds, every
#       session made on A resumes on B, for 25 s (no later failure window
#       from stale connections).
#   (d) both instances freshly started: a session made on A is offered to B
#       100 ms later and resumes, 10 times out of 10 (connections are opened
#       ahead of need: neither the store nor the lookup pays a connect).
# subset: tsan
# shellcheck source=tests/integration/lib.sh disable=SC2034,SC2119,SC2153,SC2154
. "$(dirname "$0")/lib.sh"

make_certs
start_backend echo
ECHO=$BACKEND_PORT
start_memcached
MCP=$MC_PORT
MC=127.0.0.1:$MCP

# cross: a TLS 1.2 session made on A resumes on B; sets HS.
cross() {
    rm -f cross.pem
    hs "$A_PORT" -tls1_2 -sess_out cross.pem
    hs "$B_PORT" -tls1_2 -sess_in cross.pem
}

start_both() {
    start_mc_instance A "$ECHO" "$MC"
    A_LOG=$TESSERA_LOG
    start_mc_instance B "$ECHO" "$MC"
    B_LOG=$TESSERA_LOG
}

stop_both() {
    TESSERA_PID=$A_PID
    stop_tessera || fail "tessera A exited with $?"
    TESSERA_PID=$B_PID
    stop_tessera || fail "tessera B exited with $?"
}

start_both
for a in "$A_ADMIN" "$B_ADMIN"; do
    wait_for metric_is "$a" 1 tessera_memcached_up server="$MC" || fail "memcached not up on $a"
done

# ---- (a) one late probe is not an outage ----

kill -STOP "$MC_PID"
sleep 1.2 # the fault: a 1.2 s pause (a duration, not a wait)
kill -CONT "$MC_PID"
# Give the prober its next round, then read what it made of the pause.
WAIT_FOR_LIMIT=15 wait_for grep -q "probe: no answer in time" "$A_LOG" ||
    fail "A's prober never saw the pause (no late probe in its log)"
wait_for metric_is "$A_ADMIN" 1 tessera_memcached_up server="$MC" || fail "memcached not up on A"
assert_not_contains "$A_LOG" "memcached $MC is down"
assert_not_contains "$B_LOG" "memcached $MC is down"
log "(a) a 1.2 s pause: late probes logged, memcached never marked down"

# ---- (b) down, then up within one probe interval ----

kill -STOP "$MC_PID"
WAIT_FOR_LIMIT=15 wait_for metric_is "$A_ADMIN" 0 tessera_memcached_up server="$MC" ||
    fail "A does not mark the paused memcached down"
assert_contains "$A_LOG" "memcached $MC is down: probe: .*third failure in a row"
t0=$(now_ms)
kill -CONT "$MC_PID"
WAIT_FOR_LIMIT=15 wait_for metric_is "$A_ADMIN" 1 tessera_memcached_up server="$MC" ||
    fail "A does not see memcached up again"
seen=$(($(now_ms) - t0))
# When A marked it up is read from A's own log line (the transition is logged
# once), not from this shell's polling, which a busy machine slows: under
# four busy loops the gauge was read 0.7-2 s after the line.
up_ms=$(log_ms "$A_LOG" "memcached $MC is up\$")
[ -n "$up_ms" ] || fail "A's gauge says up, but its log has no \"memcached $MC is up\""
took=$((up_ms - t0))
[ "$took" -ge 0 ] || fail "A's last \"memcached $MC is up\" is from before SIGCONT ($took ms)"
# One probe interval (1 s) plus the probe's round trip, plus 1.5 s for a
# busy machine to run the prober.
[ "$took" -le 2500 ] || fail "memcached up again on A only $took ms after SIGCONT (its log)"
log "(b) paused: marked down after three late probes; continued: up after $took ms" \
    "(A's log; this shell saw the gauge after $seen ms)"

# ---- (c) memcached restarted empty ----

stop_memcached "$MC_PID"
start_memcached "$MCP"
t0=$SECONDS
attempts=0
late=0
early=0
while [ $((SECONDS - t0)) -lt 25 ]; do
    cross
    attempts=$((attempts + 1))
    if [ "$HS" != Reused ]; then
        # The first seconds: the prober must see the new process (one
        # interval), plus 2 s for a busy machine.  Later: no failure at all.
        if [ $((SECONDS - t0)) -le 3 ]; then
            early=$((early + 1))
        else
            late=$((late + 1))
            log "(c) a session did not resume $((SECONDS - t0)) s after the restart"
        fi
    fi
done
assert_eq "$late" 0 "sessions that did not resume after the first 3 s (of $attempts)"
log "(c) memcached restarted empty: $attempts sessions over 25 s, $early not resumed in the" \
    "first 3 s, none after"
stop_both

# ---- (d) freshly started instances ----

ok=0
for i in $(seq 1 10); do
    start_both
    rm -f fresh.pem
    hs "$A_PORT" -tls1_2 -sess_out fresh.pem
    sleep 0.1 # the scenario: offered 100 ms later
    hs "$B_PORT" -tls1_2 -sess_in fresh.pem
    [ "$HS" = Reused ] && ok=$((ok + 1))
    stop_both
done
assert_eq "$ok" 10 "sessions made on a fresh A that resumed on a fresh B 100 ms later"
log "(d) 10 of 10 sessions made on a fresh instance resumed on another fresh one"
log "ok"
