#!/bin/bash
# 50-systemd-notify: the service manager's view (design.md "Signals": READY=1,
# RELOADING=1, STOPPING=1 and STATUS= over $NOTIFY_SOCKET), through a
# test-owned NOTIFY_SOCKET (tests/tools/notify-listen.py: each datagram, the
# sender's pid from SCM_CREDENTIALS, CLOCK_MONOTONIC at receipt, and a TLS
# round trip made the moment READY=1 arrives).
#
#   1. A socket named by a path; sessions in memcached, which is stopped
#      (SIGSTOP), so start-up waits 2 s for the cluster's ticket keys before
#      any listener opens: a "starting" STATUS comes first; READY=1 only
#      after that wait, from tessera's own pid, and a TLS handshake and echo
#      made the moment it arrives succeed (a READY=1 sent before the
#      listeners serve would fail it).  The STATUS beside READY says it
#      serves 1 frontend with tickets under a local key; once memcached runs
#      again a new STATUS drops that.
#   2. SIGHUP: RELOADING=1 with MONOTONIC_USEC (between the moment the
#      signal was sent and the moment the message arrived), then READY=1,
#      and TLS still served.
#   3. SIGTERM: STOPPING=1 and a "draining" STATUS; exit 0.
#   4. An abstract socket ("@name"), the local store: READY=1 (TLS check
#      passes), STOPPING=1 on SIGTERM.
# That nothing is sent without NOTIFY_SOCKET is tests/unit/test_notify.c's.
# shellcheck source=tests/integration/lib.sh disable=SC2034
. "$(dirname "$0")/lib.sh"

LISTEN_TOOL=$LIB_DIR/../tools/notify-listen.py

# ---- helpers ----

# start_listener NAME SOCKET [--tls-check PORT]: a notify-listen.py on
# SOCKET; its notes go to $NOTES.
start_listener() {
    local name=$1 sock=$2
    shift 2
    NOTES=$TEST_DIR/$name.notes
    python3 "$LISTEN_TOOL" "$sock" "$NOTES" "$@" 2>"$TEST_DIR/$name-listen.log" &
    track_pid $!
    wait_for grep -q '^# listening' "$NOTES" 2>/dev/null ||
        fail "notify listener $name did not start: $(cat "$TEST_DIR/$name-listen.log")"
}

# seq_of REGEXP [AFTER]: the number of the first datagram after datagram
# AFTER (0) that has a field matching ^REGEXP$; prints nothing if none.
seq_of() {
    awk -v re="^($1)\$" -v after="${2:-0}" '
        /^#/ { next }
        { f = $0; sub(/^[0-9]+ [0-9]+ -?[0-9]+ /, "", f)
          if ($1 + 0 > after + 0 && f ~ re) { print $1; exit } }' "$NOTES"
}

# has REGEXP [AFTER]: for wait_for.
has() {
    [ -n "$(seq_of "$@")" ]
}

# field SEQ NAME: the value of field NAME in datagram SEQ.
field() {
    awk -v s="$1" -v name="$2" '
        /^#/ { next }
        $1 == s { f = $0; sub(/^[0-9]+ [0-9]+ -?[0-9]+ /, "", f)
                  if (index(f, name "=") == 1) { print substr(f, length(name) + 2); exit } }' "$NOTES"
}

# sender SEQ / received SEQ: the sender's pid, CLOCK_MONOTONIC µs at receipt.
sender() {
    awk -v s="$1" '$1 == s { print $3; exit }' "$NOTES"
}
received() {
    awk -v s="$1" '$1 == s { print $2; exit }' "$NOTES"
}

mono_us() {
    python3 -c 'import time; print(time.monotonic_ns() // 1000)'
}

# expect_ready_tls SEQ: the TLS check made on READY=1 of datagram SEQ passed.
expect_ready_tls() {
    wait_for has 'tls-check=.*' $(($1 - 1)) || fail "no TLS check after READY=1: $(cat "$NOTES")"
    local r
    r=$(field "$1" tls-check)
    assert_eq "$r" ok "TLS handshake and echo made when READY=1 (datagram $1) arrived"
}

# notes_so_far: for messages.
notes_so_far() {
    grep -v '^#' "$NOTES"
}

make_certs
start_backend echo
log "sd_notify sender: $("$TESSERA_BIN" -V | sed -n 's/^sd_notify: //p')"

# ---- 1. start-up: READY=1 only once TLS is served ----

start_memcached
kill -STOP "$MC_PID"
log "memcached (pid $MC_PID) stopped: start-up waits for the cluster's keys"
P=$(free_port)
cfg_frontend web "$P" "$BACKEND_PORT" "$(cert_entry ec)"
# Longer than start-up's 2 s wait for the keys, so the wait is the whole 2 s.
cfg_memcached --timeout-ms 3000 "$MC_PORT"
write_config "$TEST_DIR/a.conf"
start_listener a "$TEST_DIR/notify.sock" --tls-check "$P"
export NOTIFY_SOCKET=$TEST_DIR/notify.sock
start_tessera "$TEST_DIR/a.conf"
unset NOTIFY_SOCKET

wait_for has 'READY=1' || fail "no READY=1: $(notes_so_far)"
R=$(seq_of 'READY=1')
assert_eq "$(sender "$R")" "$TESSERA_PID" "pid of the READY=1 sender (NotifyAccess=main)"
expect_ready_tls "$R"
log "READY=1 (datagram $R) from pid $TESSERA_PID; TLS served when it arrived"

S=$(seq_of 'STATUS=starting.*')
[ -n "$S" ] && [ "$S" -lt "$R" ] || fail "no 'starting' STATUS before READY=1: $(notes_so_far)"
# The test's premise: start-up did wait (about 2 s) between the two, so a
# READY=1 sent before the listeners opened would have met a closed port.
# A lower bound: a busy machine only makes the wait longer.
waited=$(($(received "$R") - $(received "$S")))
[ "$waited" -ge 1500000 ] || fail "start-up waited only ${waited} µs for the keys: no window"
log "start-up waited $((waited / 1000)) ms between STATUS=starting and READY=1"

# Exactly one READY=1 so far, and a STATUS that says what is served.
assert_eq "$(grep -c ' READY=1$' "$NOTES")" 1 "READY=1 messages after start-up"
has 'STATUS=serving 1 frontend with [0-9]+ workers?; tickets under a local key.*' ||
    fail "no 'serving ... local key' STATUS: $(notes_so_far)"

# memcached back: the keyring adopts the cluster's keys and the STATUS says so.
kill -CONT "$MC_PID"
wait_for has 'STATUS=serving 1 frontend with [0-9]+ workers?' "$R" ||
    fail "no STATUS without 'local key' after memcached came back: $(notes_so_far)"
LAST=$(awk '!/^#/ { n = $1 } END { print n }' "$NOTES")
log "STATUS after memcached came back: $(field "$(seq_of 'STATUS=serving.*workers?' "$R")" STATUS)"

# ---- 2. SIGHUP: RELOADING=1 ... READY=1 ----

t0=$(mono_us)
kill -HUP "$TESSERA_PID"
wait_for has 'RELOADING=1' "$LAST" || fail "SIGHUP: no RELOADING=1: $(notes_so_far)"
H=$(seq_of 'RELOADING=1' "$LAST")
{
    usec=$(field "$H" MONOTONIC_USEC)
    [ -n "$usec" ] || fail "RELOADING=1 without MONOTONIC_USEC in the same message: $(notes_so_far)"
    [ "$usec" -ge "$t0" ] && [ "$usec" -le "$(received "$H")" ] ||
        fail "MONOTONIC_USEC=$usec is not between SIGHUP ($t0) and receipt ($(received "$H"))"
    assert_eq "$(sender "$H")" "$TESSERA_PID" "pid of the RELOADING=1 sender"
    wait_for has 'READY=1' "$H" || fail "no READY=1 after RELOADING=1: $(notes_so_far)"
    R2=$(seq_of 'READY=1' "$H")
    expect_ready_tls "$R2"
    log "SIGHUP: RELOADING=1 (MONOTONIC_USEC=$usec) then READY=1 (datagram $R2)"
    check_echo "$P"
}
LAST=$(awk '!/^#/ { n = $1 } END { print n }' "$NOTES")

# ---- 3. SIGTERM: STOPPING=1 ----

kill -TERM "$TESSERA_PID"
wait_exit "$TESSERA_PID" "$WAIT_LIMIT" || fail "tessera did not exit after SIGTERM"
assert_eq "$EXIT_STATUS" 0 "exit status after SIGTERM"
wait_for has 'STOPPING=1' "$LAST" || fail "no STOPPING=1 after SIGTERM: $(notes_so_far)"
T=$(seq_of 'STOPPING=1' "$LAST")
assert_eq "$(sender "$T")" "$TESSERA_PID" "pid of the STOPPING=1 sender"
has 'STATUS=draining.*' "$LAST" || fail "no 'draining' STATUS after SIGTERM: $(notes_so_far)"
has 'READY=1' "$T" && fail "READY=1 after STOPPING=1: $(notes_so_far)"
log "SIGTERM: STOPPING=1 (datagram $T) and STATUS=$(field "$(seq_of 'STATUS=draining.*' "$LAST")" STATUS)"

# ---- 4. an abstract socket, the local store ----

cfg_reset
P2=$(free_port)
cfg_frontend web "$P2" "$BACKEND_PORT" "$(cert_entry ec)"
write_config "$TEST_DIR/b.conf"
ABSTRACT="@tessera-test-50-$$-$RANDOM"
start_listener b "$ABSTRACT" --tls-check "$P2"
export NOTIFY_SOCKET=$ABSTRACT
start_tessera "$TEST_DIR/b.conf"
unset NOTIFY_SOCKET
wait_for has 'READY=1' || fail "no READY=1 on $ABSTRACT: $(notes_so_far)"
R=$(seq_of 'READY=1')
assert_eq "$(sender "$R")" "$TESSERA_PID" "pid of the READY=1 sender ($ABSTRACT)"
expect_ready_tls "$R"
has 'STATUS=serving 1 frontend with [0-9]+ workers?' || fail "no plain 'serving' STATUS: $(notes_so_far)"
kill -TERM "$TESSERA_PID"
wait_exit "$TESSERA_PID" "$WAIT_LIMIT" || fail "tessera did not exit after SIGTERM"
assert_eq "$EXIT_STATUS" 0 "exit status after SIGTERM"
wait_for has 'STOPPING=1' "$R" || fail "no STOPPING=1 on $ABSTRACT: $(notes_so_far)"
log "abstract socket $ABSTRACT: READY=1, TLS served, STOPPING=1"
