#!/bin/bash
# 24-privileges: with user = "nobody"; group = "nogroup", tessera started
# as root binds a frontend on a port below 1024, reads a key only root can
# read, and then runs as nobody:nogroup: every thread's real, effective,
# saved and filesystem ids are nobody's and nogroup's, and its only
# capability (permitted, effective and bounding set) is
# CAP_NET_BIND_SERVICE (0x400), nothing inheritable or ambient.  It serves
# TLS there, and its admin endpoint, opened after the drop, binds a second
# port below 1024 (what a reload adding a listener needs).  `tessera -t`
# names FILE:LINE of the files nobody could not read (and only those) and
# still says "configuration OK"; an unknown user or group is an error with
# FILE:LINE; running as root without `user` logs a warning.
# Needs root (skipped otherwise) and the users nobody and nogroup.
# subset: tsan
# shellcheck source=tests/integration/lib.sh disable=SC2034
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" != 0 ]; then
    log "skipped: needs root (it starts tessera as root and checks that it drops to nobody)"
    exit 0
fi
if ! getent passwd nobody >/dev/null || ! getent group nogroup >/dev/null; then
    log "skipped: no user nobody or group nogroup on this machine"
    exit 0
fi

# low_port: a free loopback port below 1024, probed by binding it (the
# test runs as root, so the bind itself is allowed).
low_port() {
    python3 - "$TEST_DIR/.ports" <<'PYEOF'
import random, socket, sys
try:
    taken = set(open(sys.argv[1]).read().split())
except OSError:
    taken = set()
ports = list(range(600, 1024))
random.shuffle(ports)
for p in ports:
    if str(p) in taken:
        continue
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        continue
    finally:
        s.close()
    with open(sys.argv[1], "a") as f:
        f.write("%d\n" % p)
    print(p)
    break
PYEOF
}

make_certs
start_backend echo
P=$(low_port)
A=$(low_port)
[ -n "$P" ] && [ -n "$A" ] || fail "no free port below 1024"
log "frontend on port $P, admin on port $A"

# Files: the test folder is private to root (mktemp -d), so everything that
# nobody must be able to read lives in a folder of its own.
PUB=$TEST_DIR/pub
mkdir -p "$PUB"
chmod 755 "$TEST_DIR" "$PUB"
cp "$CERTS/ec.pem" "$PUB/ec.pem"
cp "$CERTS/ec.key" "$PUB/group.key"
cp "$CERTS/ec.key" "$PUB/root-only.key"
chmod 644 "$PUB/ec.pem"
chown root:nogroup "$PUB/group.key"
chmod 640 "$PUB/group.key" # readable by nobody through its group nogroup
chown root:root "$PUB/root-only.key"
chmod 600 "$PUB/root-only.key" # readable by root only

cfg_frontend web "$P" "$BACKEND_PORT" "{ cert = \"$PUB/ec.pem\"; key = \"$PUB/root-only.key\"; }"
CFG_ADMIN="listen = \"127.0.0.1:$A\";"
ADMIN_PORT=$A
CFG_EXTRA='user = "nobody";
group = "nogroup";'
write_config "$PUB/tessera.conf"
chmod 644 "$PUB/tessera.conf"
start_tessera "$PUB/tessera.conf"
assert_contains "$TESSERA_LOG" 'running as user nobody \(uid [0-9]+\), group nogroup \(gid [0-9]+\), with CAP_NET_BIND_SERVICE only'
NOBODY=$(id -u nobody)
NOGROUP=$(getent group nogroup | cut -d: -f3)

# check_task STATUS_FILE: ids and capabilities of one thread.
check_task() {
    local f=$1 name
    name=$(sed -n 's/^Name:\t//p' "$f")
    assert_eq "$(sed -n 's/^Uid:\t//p' "$f" | tr -s '\t ' ' ')" \
        "$NOBODY $NOBODY $NOBODY $NOBODY" "Uid of thread $name"
    assert_eq "$(sed -n 's/^Gid:\t//p' "$f" | tr -s '\t ' ' ')" \
        "$NOGROUP $NOGROUP $NOGROUP $NOGROUP" "Gid of thread $name"
    # Supplementary groups: nobody's own (initgroups), never root's.
    if sed -n 's/^Groups:\t//p' "$f" | tr ' ' '\n' | grep -qx 0; then
        fail "thread $name is still in group 0: $(grep '^Groups' "$f")"
    fi
    assert_eq "$(sed -n 's/^CapEff:\t//p' "$f")" 0000000000000400 "CapEff of thread $name"
    assert_eq "$(sed -n 's/^CapPrm:\t//p' "$f")" 0000000000000400 "CapPrm of thread $name"
    assert_eq "$(sed -n 's/^CapInh:\t//p' "$f")" 0000000000000000 "CapInh of thread $name"
    assert_eq "$(sed -n 's/^CapAmb:\t//p' "$f")" 0000000000000000 "CapAmb of thread $name"
    # The bounding set is limited too, unless the machine withholds
    # CAP_SETPCAP (a container may; tessera then says so and goes on).
    if ! grep -q 'cannot limit the capability bounding set' "$TESSERA_LOG"; then
        assert_eq "$(sed -n 's/^CapBnd:\t//p' "$f")" 0000000000000400 "CapBnd of thread $name"
    fi
}
check_task "/proc/$TESSERA_PID/status"
ntasks=0
names=()
for t in /proc/"$TESSERA_PID"/task/*; do
    cp "$t/status" task.status 2>/dev/null || continue # a thread that just ended
    check_task task.status
    names+=("$(sed -n 's/^Name:\t//p' task.status)")
    ntasks=$((ntasks + 1))
done
# The main thread, the admin thread and the workers at least.
workers=${TESSERA_TEST_WORKERS:-2}
[ "$ntasks" -ge $((workers + 2)) ] || fail "only $ntasks threads checked: ${names[*]}"
log "all $ntasks threads (${names[*]}) run as $NOBODY:$NOGROUP with CapEff/CapPrm/CapBnd 0x400"

# It serves TLS on the low port with the key it read as root, and the
# admin endpoint bound its low port after the drop.
check_echo "$P"
assert_eq "$(healthz "$A")" ok "GET /healthz on port $A"
tessera_running || fail "tessera died"
log "served TLS on port $P and /healthz on port $A as nobody"

# --- reloads after the drop ---
# The files a reload reads again are read as nobody: the root-only key
# fails it (the running generation serves on) ...
kill -HUP "$TESSERA_PID"
wait_for grep -q "reload failed, generation 1 serves on: $PUB/tessera.conf:[0-9]*: .*root-only.key.*Permission denied" "$TESSERA_LOG" ||
    fail "a reload reading a key nobody cannot read: $(grep reload "$TESSERA_LOG" | tail -n 3)"
check_echo "$P"
# ... and with the key nobody reads through its group, a reload adds a
# frontend on another port below 1024 (CAP_NET_BIND_SERVICE kept).
P3=$(low_port)
[ -n "$P3" ] || fail "no third free port below 1024"
cp "$PUB/tessera.conf" "$PUB/first.conf"
cfg_frontend low "$P3" "$BACKEND_PORT" "{ cert = \"$PUB/ec.pem\"; key = \"$PUB/group.key\"; }"
CFG_FRONTENDS[0]=${CFG_FRONTENDS[0]//root-only.key/group.key}
write_config "$PUB/tessera.conf"
kill -HUP "$TESSERA_PID"
wait_for metric_is "$A" 2 tessera_config_generation ||
    fail "reload as nobody: $(grep -E 'reload' "$TESSERA_LOG" | tail -n 3)"
check_echo "$P3"
check_echo "$P"
check_task "/proc/$TESSERA_PID/status"
log "as nobody: a reload added a frontend on port $P3"
stop_tessera || fail "tessera exited with status $?"
cp "$PUB/first.conf" "$PUB/tessera.conf"

# --- tessera -t: the files nobody could not read, with FILE:LINE ---
"$TESSERA_BIN" -t -c "$PUB/tessera.conf" >check.out 2>&1
rc=$?
cat check.out
assert_eq "$rc" 0 "tessera -t status (unreadable files are warnings)"
assert_contains check.out '^configuration OK$'
line=$(grep -n 'root-only.key' "$PUB/tessera.conf" | cut -d: -f1)
assert_contains check.out "^$PUB/tessera.conf:$line: warning: key file '$PUB/root-only.key' is not readable by user nobody \(group nogroup\): Permission denied"
assert_not_contains check.out "ec.pem"
assert_eq "$(grep -c 'warning:' check.out)" 1 "warnings of tessera -t"
# The same file with the key nobody reads through its group: no warning.
sed -e "s#root-only.key#group.key#" "$PUB/tessera.conf" >"$PUB/group.conf"
chmod 644 "$PUB/group.conf"
"$TESSERA_BIN" -t -c "$PUB/group.conf" >check2.out 2>&1 || fail "tessera -t: $(cat check2.out)"
assert_not_contains check2.out 'warning'
# A configuration file nobody cannot read is named too.
chmod 600 "$PUB/group.conf"
"$TESSERA_BIN" -t -c "$PUB/group.conf" >check3.out 2>&1 || fail "tessera -t: $(cat check3.out)"
assert_contains check3.out "^$PUB/group.conf: warning: configuration file '$PUB/group.conf' is not readable by user nobody"
log "tessera -t names the unreadable key ($PUB/tessera.conf:$line) and the unreadable configuration file"

# --- unknown user or group: an error naming FILE:LINE ---
sed -e 's/^user = "nobody";/user = "no-such-user-tessera";/' "$PUB/tessera.conf" >bad-user.conf
line=$(grep -n '^user = ' bad-user.conf | cut -d: -f1)
"$TESSERA_BIN" -t -c "$TEST_DIR/bad-user.conf" >bad.out 2>&1 && fail "unknown user accepted: $(cat bad.out)"
assert_contains bad.out "^$TEST_DIR/bad-user.conf:$line: 'user' = \"no-such-user-tessera\": no such user"
sed -e 's/^group = "nogroup";/group = "no-such-group-tessera";/' "$PUB/tessera.conf" >bad-group.conf
line=$(grep -n '^group = ' bad-group.conf | cut -d: -f1)
"$TESSERA_BIN" -t -c "$TEST_DIR/bad-group.conf" >bad.out 2>&1 && fail "unknown group accepted: $(cat bad.out)"
assert_contains bad.out "^$TEST_DIR/bad-group.conf:$line: 'group' = \"no-such-group-tessera\": no such group"
log "unknown user and group: errors with FILE:LINE"

# --- root without user: a warning, and root it stays ---
cfg_reset
P2=$(free_port)
cfg_frontend web "$P2" "$BACKEND_PORT" "$(cert_entry ec)"
write_config "$TEST_DIR/root.conf"
start_tessera "$TEST_DIR/root.conf"
assert_contains "$TESSERA_LOG" "warn .*running as root: set 'user' \(and 'group'\)"
assert_eq "$(sed -n 's/^Uid:\t//p' "/proc/$TESSERA_PID/status" | tr -s '\t ' ' ')" "0 0 0 0" "Uid without user"
stop_tessera || fail "tessera exited with status $?"
log "as root without 'user': warned, and stays root"
