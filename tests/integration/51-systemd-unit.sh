#!/bin/bash
# 51-systemd-unit: conf/tessera.service.in, filled in as make fills it in
# (@sbindir@: the folder of the tessera under test, @sysconfdir@: a folder
# of the test's), passes `systemd-analyze verify` with no complaint about it
# (its commands exist and are executable, every directive and value is
# known, Documentation= finds tessera(8) and tessera.conf(5) from doc/), and
# its commands are the right ones for tessera's command line: ExecStartPre
# checks the configuration (-t), ExecStart runs it in the foreground with
# READY=1 (Type=notify), ExecReload sends SIGHUP, and the capabilities left
# are the ones the privilege drop needs.
# shellcheck source=tests/integration/lib.sh disable=SC2034
. "$(dirname "$0")/lib.sh"

command -v systemd-analyze >/dev/null || fail "systemd-analyze not found (scripts/deps installs systemd)"
TEMPLATE=$REPO_ROOT/conf/tessera.service.in
[ -f "$TEMPLATE" ] || fail "no $TEMPLATE"

SBIN=$(cd "$(dirname "$TESSERA_BIN")" && pwd)
[ "$(basename "$TESSERA_BIN")" = tessera ] || fail "the binary under test must be named tessera"
ETC=$TEST_DIR/etc
mkdir -p "$ETC/tessera" "$TEST_DIR/man/man8" "$TEST_DIR/man/man5"
cp "$REPO_ROOT/doc/tessera.8" "$TEST_DIR/man/man8/"
cp "$REPO_ROOT/doc/tessera.conf.5" "$TEST_DIR/man/man5/"

# As Makefile.am makes conf/tessera.service.
UNIT=$TEST_DIR/tessera.service
sed -e "s|@sbindir[@]|$SBIN|g" -e "s|@sysconfdir[@]|$ETC|g" "$TEMPLATE" >"$UNIT"
grep -q '@[a-z]*@' "$UNIT" && fail "placeholders left: $(grep '@[a-z]*@' "$UNIT")"

# ---- systemd-analyze verify ----

rc=0
MANPATH=$TEST_DIR/man systemd-analyze verify "$UNIT" >verify.out 2>&1 || rc=$?
if [ $rc -ne 0 ] || grep -q 'tessera' verify.out; then
    fail "systemd-analyze verify (exit $rc):
$(cat verify.out)"
fi
log "systemd-analyze verify: no complaint"

# ---- the commands fit tessera's command line ----

# directive NAME: the value(s) of NAME= in the unit, one per line.
directive() {
    sed -n "s/^$1=//p" "$UNIT"
}
assert_eq "$(directive Type)" notify "Type="
assert_eq "$(directive ExecStartPre)" "$SBIN/tessera -t -c $ETC/tessera/tessera.conf" "ExecStartPre="
assert_eq "$(directive ExecStart)" "$SBIN/tessera -c $ETC/tessera/tessera.conf" "ExecStart="
assert_eq "$(directive ExecReload)" "/bin/kill -HUP \$MAINPID" "ExecReload="
caps=$(directive CapabilityBoundingSet | tr ' ' '\n' | sort | tr '\n' ' ')
assert_eq "$caps" "CAP_NET_BIND_SERVICE CAP_SETGID CAP_SETUID " "CapabilityBoundingSet="
assert_eq "$(directive NoNewPrivileges)" yes "NoNewPrivileges="
assert_eq "$(directive ProtectSystem)" strict "ProtectSystem="

# ExecStartPre and ExecStart as written, on a configuration at that path.
make_certs
start_backend echo
P=$(free_port)
cfg_frontend web "$P" "$BACKEND_PORT" "$(cert_entry ec)"
write_config "$ETC/tessera/tessera.conf"
read -r -a pre <<<"$(directive ExecStartPre)"
out=$("${pre[@]}" 2>&1) || fail "ExecStartPre failed: $out"
assert_eq "$out" "configuration OK" "ExecStartPre output"
read -r -a start <<<"$(directive ExecStart)"
[ "${start[0]}" = "$TESSERA_BIN" ] || [ "${start[0]}" -ef "$TESSERA_BIN" ] ||
    fail "ExecStart runs ${start[0]}, not $TESSERA_BIN"
start_tessera "${start[2]}"
check_echo "$P"
# ExecReload's signal leaves it serving (a reload, or logged and ignored);
# a process that died of it would not exit 0 on the SIGTERM below.
kill -HUP "$TESSERA_PID"
check_echo "$P"
stop_tessera TERM || fail "exit status $? after SIGHUP, then SIGTERM (systemctl stop)"
log "ExecStartPre, ExecStart and ExecReload work as written"
