#!/bin/bash
# 52-pidfile: the optional top-level `pidfile` (design.md "Configuration").
#
#   1. A relative pidfile resolves against the configuration file's folder
#      (not the working directory).  A stale one (a previous run killed) is
#      replaced.  When READY=1 reaches a test-owned NOTIFY_SOCKET the file
#      holds exactly "PID\n", mode 0644, and its folder holds nothing else
#      (the temporary file it was renamed from is gone).  SIGTERM: exit 0
#      and the file is removed.
#   2. A pidfile that another process rewrote meanwhile (a second instance)
#      is left alone at exit, and the log says so.
#   3. A pidfile whose folder does not exist: `tessera -t` and a start both
#      exit 1 with FILE:LINE naming the folder.
# shellcheck source=tests/integration/lib.sh disable=SC2034
. "$(dirname "$0")/lib.sh"

make_certs
start_backend echo

CONF_DIR=$TEST_DIR/etc
mkdir -p "$CONF_DIR/run"
PIDFILE=$CONF_DIR/run/tessera.pid

# config NAME PIDFILE_TEXT: $CONF_DIR/NAME.conf with one frontend on $P.
config() {
    cfg_reset
    P=$(free_port)
    cfg_frontend web "$P" "$BACKEND_PORT" "$(cert_entry ec)"
    CFG_EXTRA="pidfile = \"$2\";"
    write_config "$CONF_DIR/$1.conf"
}

# ---- 1. written by start-up, relative to the configuration, removed at exit ----

config a run/tessera.pid
printf '99999\n' >"$PIDFILE" # left behind by a run that was killed
NOTES=$TEST_DIR/a.notes
python3 "$LIB_DIR/../tools/notify-listen.py" "$TEST_DIR/notify.sock" "$NOTES" \
    2>"$TEST_DIR/listen.log" &
track_pid $!
wait_for grep -q '^# listening' "$NOTES" 2>/dev/null || fail "notify listener did not start"
export NOTIFY_SOCKET=$TEST_DIR/notify.sock
start_tessera "$CONF_DIR/a.conf"
unset NOTIFY_SOCKET
wait_for grep -q ' READY=1$' "$NOTES" || fail "no READY=1: $(cat "$NOTES")"
# Written before READY=1: it must be complete now, without waiting.
assert_eq "$(cat "$PIDFILE")" "$TESSERA_PID" "pidfile content when READY=1 arrived"
assert_eq "$(od -An -c "$PIDFILE" | tr -d ' ')" "${TESSERA_PID}\\n" "pidfile bytes"
assert_eq "$(stat -c %a "$PIDFILE")" 644 "pidfile mode"
assert_eq "$(ls -A "$CONF_DIR/run")" tessera.pid "files in the pidfile's folder"
[ -e "$TEST_DIR/run/tessera.pid" ] && fail "pidfile resolved against the working directory"
log "pidfile $PIDFILE holds $TESSERA_PID when READY=1 arrives"
check_echo "$P"

stop_tessera TERM || fail "exit status $? after SIGTERM"
[ -e "$PIDFILE" ] && fail "pidfile still there after exit: $(cat "$PIDFILE")"
assert_eq "$(ls -A "$CONF_DIR/run")" "" "files in the pidfile's folder after exit"
log "pidfile removed at exit"

# ---- 2. another process's pidfile is left alone ----

config b "$PIDFILE" # the absolute form
start_tessera "$CONF_DIR/b.conf"
wait_for test -s "$PIDFILE" || fail "no pidfile $PIDFILE"
assert_eq "$(cat "$PIDFILE")" "$TESSERA_PID" "pidfile content"
printf '1\n' >"$PIDFILE.new" && mv "$PIDFILE.new" "$PIDFILE"
stop_tessera TERM || fail "exit status $? after SIGTERM"
assert_eq "$(cat "$PIDFILE")" 1 "a pidfile rewritten by another process, after exit"
assert_contains "$TESSERA_LOG" "pidfile .* no longer holds pid $TESSERA_PID"
rm -f "$PIDFILE"
log "a pidfile another process rewrote is left in place"

# ---- 3. a folder that does not exist ----

config c nodir/tessera.pid
want="^$CONF_DIR/c.conf:[0-9]+: pidfile '$CONF_DIR/nodir/tessera.pid': folder '$CONF_DIR/nodir': No such file or directory\$"
out=$("$TESSERA_BIN" -t -c "$CONF_DIR/c.conf" 2>&1) && fail "-t accepted a pidfile without a folder"
assert_contains "$out" "$want"
timeout 20 "$TESSERA_BIN" -c "$CONF_DIR/c.conf" >"$TEST_DIR/c.out" 2>&1
assert_eq "$?" 1 "exit status of a start with a pidfile without a folder"
assert_contains "$TEST_DIR/c.out" "$want"
log "a missing folder: -t and start exit 1 with FILE:LINE"
