#!/bin/bash
# 14-connection-limit: max_connections and running out of descriptors.
#  1. max_connections = 4, workers = 1: with 4 connections held open a 5th
#     is left in the kernel's backlog (TCP connects, no ServerHello for a
#     second); when one of the 4 closes, the 5th completes and echoes.  The
#     log says "accept paused".
#  2. Descriptors run out, max_connections = 0: tessera started with a low
#     hard limit raises its soft limit to it; more idle clients than the
#     descriptors allow, then (with the limit lowered under the running
#     process) accept() failing with EMFILE.  Neither makes tessera spin
#     (CPU time over 2 s of saturation stays low), and once the clients go
#     it serves again.
# shellcheck source=tests/integration/lib.sh disable=SC2034,SC2119
. "$(dirname "$0")/lib.sh"

# This test is about one worker's accept loop, whatever the runner asks for.
TESSERA_TEST_WORKERS=1
CLK_TCK=$(getconf CLK_TCK)

# start_hold NAME: one established connection that echoed once and waits for
# NAME.go before echoing again and closing.  Sets HOLD_PID.
start_hold() {
    rm -f "$1.ready" "$1.go"
    "$TCLIENT" hold --port "$P" --ready-file "$1.ready" --go-file "$1.go" --timeout 90 \
        >"$1.out" 2>&1 &
    HOLD_PID=$!
    track_pid $HOLD_PID
    wait_for test -f "$1.ready" || fail "hold client $1 did not get through: $(cat "$1.out")"
}

# cpu_ms PID: user + system CPU time the process used so far, in milliseconds.
cpu_ms() {
    local ticks
    # Fields 14 and 15 of /proc/PID/stat; the command name in field 2 may
    # hold spaces, so count from the closing parenthesis.
    ticks=$(sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}')
    echo $((ticks * 1000 / CLK_TCK))
}

# start_idle NAME COUNT: COUNT TCP connections to $P that send nothing, kept
# open until NAME.release exists.  Sets IDLE_PID; NAME.ready appears once
# every connect() was issued.
start_idle() {
    rm -f "$1.ready" "$1.release"
    python3 - "$P" "$2" "$1.ready" "$1.release" >"$1.out" 2>&1 <<'PYEOF' &
import os, socket, sys, time
port, count, ready, release = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
socks = []
for _ in range(count):
    s = socket.socket()
    s.setblocking(False)
    try:
        s.connect(("127.0.0.1", port))
    except BlockingIOError:
        pass
    socks.append(s)
with open(ready, "w") as f:
    f.write("%d\n" % len(socks))
deadline = time.monotonic() + 90
while not os.path.exists(release) and time.monotonic() < deadline:
    time.sleep(0.05)
for s in socks:
    s.close()
print("closed %d" % len(socks))
PYEOF
    IDLE_PID=$!
    track_pid $IDLE_PID
    wait_for test -f "$1.ready" || fail "idle clients $1 did not start: $(cat "$1.out")"
}

stop_idle() {
    touch "$1.release"
    wait_exit "$IDLE_PID" 20 || fail "idle clients $1 did not exit"
}

# assert_no_spin WHAT: tessera uses little CPU over the next 2 seconds.
assert_no_spin() {
    local before after used
    before=$(cpu_ms "$TESSERA_PID")
    sleep 2 # a measuring window, not a synchronisation
    after=$(cpu_ms "$TESSERA_PID")
    used=$((after - before))
    [ "$used" -lt 500 ] || fail "$1: tessera used $used ms of CPU in 2 s (spinning?)"
    log "$1: $used ms of CPU in 2 s"
}

count_paused() {
    grep -c "accept paused" "$TESSERA_LOG"
}

make_certs
start_backend echo

# ---- 1. max_connections = 4 ----
P=$(free_port)
cfg_frontend web "$P" "$BACKEND_PORT" "$(cert_entry ec)"
CFG_EXTRA='max_connections = 4;'
CFG_TIMEOUTS='handshake = 30;'
write_config "$TEST_DIR/limit.conf"
start_tessera "$TEST_DIR/limit.conf"

HOLDS=()
for i in 1 2 3 4; do
    start_hold "h$i"
    HOLDS+=("$HOLD_PID")
done
log "4 connections held"

# The 5th: s_client with its stdin on a fifo that stays open, and unbuffered
# output so that "CONNECTED" shows as soon as the TCP connection is made.
FIFTH_OUT=$TEST_DIR/fifth.out
mkfifo fifth.in
timeout 60 stdbuf -o0 -e0 openssl s_client -connect "127.0.0.1:$P" -tls1_3 \
    <fifth.in >"$FIFTH_OUT" 2>&1 &
FIFTH_PID=$!
track_pid $FIFTH_PID
exec {FIFTH_FD}>fifth.in
wait_for grep -q '^CONNECTED' "$FIFTH_OUT" ||
    fail "5th client: no TCP connection: $(cat "$FIFTH_OUT")"
# Absence of a handshake is checked over a window of one second.
sleep 1
assert_not_contains "$FIFTH_OUT" '^(New|Reused), |Cipher is'
kill -0 $FIFTH_PID 2>/dev/null || fail "5th client gave up: $(cat "$FIFTH_OUT")"
WAIT_FOR_LIMIT=15 wait_for grep -q "accept paused" "$TESSERA_LOG" ||
    fail "no \"accept paused\" in the log at the connection limit"
log "5th client connected (TCP) but got no ServerHello in 1 s"

# One of the four goes: the 5th completes and its connection works.
touch h1.go
wait_exit "${HOLDS[0]}" 20 || fail "hold client h1 hangs"
assert_eq "$EXIT_STATUS" 0 "hold client h1 (output: $(cat h1.out))"
start=$(now_ms)
WAIT_FOR_LIMIT=10 wait_for grep -Eq '^(New|Reused), ' "$FIFTH_OUT" ||
    fail "5th client still not served 10 s after a slot freed: $(tail -n 20 "$FIFTH_OUT")"
log "5th client served $(($(now_ms) - start)) ms after a slot freed"
printf 'ping fifth\n' >&"$FIFTH_FD"
WAIT_FOR_LIMIT=10 wait_for grep -q '^ping fifth' "$FIFTH_OUT" ||
    fail "no echo on the 5th connection: $(tail -n 20 "$FIFTH_OUT")"
exec {FIFTH_FD}>&-
wait_exit $FIFTH_PID 20 || fail "5th client hangs after its stdin closed"

# The other three still work and end cleanly.
for i in 2 3 4; do
    touch "h$i.go"
    wait_exit "${HOLDS[$((i - 1))]}" 20 || fail "hold client h$i hangs"
    assert_eq "$EXIT_STATUS" 0 "hold client h$i (output: $(cat "h$i.out"))"
done
paused=$(count_paused)
if [ "$paused" -lt 1 ] || [ "$paused" -gt 3 ]; then
    fail "\"accept paused\" logged $paused times (expected once, a few at most)"
fi
log "\"accept paused\" logged $paused time(s)"
check_echo "$P"
stop_tessera || fail "tessera exited with $?"

# ---- 2a. a low hard limit at start-up, max_connections = 0 ----
cfg_reset
P=$(free_port)
cfg_frontend web "$P" "$BACKEND_PORT" "$(cert_entry ec)"
CFG_EXTRA='max_connections = 0;'
CFG_TIMEOUTS='handshake = 30;'
write_config "$TEST_DIR/nofile.conf"
# A wrapper that sets the limits and execs tessera (same pid).
REAL_BIN=$TESSERA_BIN
cat >lowfd.sh <<EOF
#!/bin/bash
ulimit -Sn 40 && ulimit -Hn 150 || exit 99
exec "$REAL_BIN" "\$@"
EOF
chmod +x lowfd.sh
TESSERA_BIN=$TEST_DIR/lowfd.sh start_tessera "$TEST_DIR/nofile.conf"
limits=$(grep '^Max open files' "/proc/$TESSERA_PID/limits")
assert_contains "$limits" '^Max open files +150 +150 '
log "soft descriptor limit raised to the hard one: $limits"
check_echo "$P"

start_idle a 300
WAIT_FOR_LIMIT=10 wait_for grep -q "accept paused" "$TESSERA_LOG" ||
    fail "300 idle clients under 150 descriptors and no \"accept paused\""
assert_no_spin "300 idle clients, 150 descriptors"
tessera_running || fail "tessera died"
stop_idle a
check_echo "$P"
log "serves again after the idle clients left"
stop_tessera || fail "tessera exited with $?"

# ---- 2b. EMFILE: the limit drops under a running tessera ----
start_tessera "$TEST_DIR/nofile.conf"
check_echo "$P"
# Room for 32 more descriptors than tessera has open now; far more clients.
NFD=$(($(find "/proc/$TESSERA_PID/fd" -mindepth 1 | wc -l) + 32))
prlimit --pid "$TESSERA_PID" --nofile=$NFD:$NFD || fail "prlimit failed"
start_idle b $((NFD + 80))
WAIT_FOR_LIMIT=10 wait_for grep -q "accept paused: Too many open files" "$TESSERA_LOG" ||
    fail "$((NFD + 80)) idle clients, $NFD descriptors, no \"accept paused: Too many open files\""
assert_no_spin "accept() failing with EMFILE"
pauses_before=$(count_paused)
sleep 1 # a measuring window for the log rate, not a synchronisation
pauses=$(($(count_paused) - pauses_before))
log "EMFILE: \"accept paused\" logged $pauses time(s) in 1 s"
tessera_running || fail "tessera died"
stop_idle b
check_echo "$P"
log "serves again after the idle clients left (limit still $NFD)"
stop_tessera || fail "tessera exited with $?"
log "ok"
