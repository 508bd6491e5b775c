#!/bin/bash
# 01-cli: the command line (design.md "Command line"): -V, -h, --gen-secret,
# -t on good and bad configurations with FILE:LINE errors, and a bad
# configuration refusing to start.
# shellcheck source=tests/integration/lib.sh disable=SC2034
. "$(dirname "$0")/lib.sh"

[ -x "$TESSERA_BIN" ] || fail "tessera binary not found at $TESSERA_BIN"
make_certs

# -V / --version: names tessera and the OpenSSL it runs on.
ossl_ver=$(openssl version | awk '{print $2}')
for flag in -V --version; do
    out=$("$TESSERA_BIN" $flag 2>&1) || fail "$flag exited with $?: $out"
    assert_contains "$out" "tessera"
    assert_contains "$out" "OpenSSL"
    assert_contains "$out" "${ossl_ver//./\\.}"
done

# -h / --help: usage, exit 0.
for flag in -h --help; do
    out=$("$TESSERA_BIN" $flag 2>&1) || fail "$flag exited with $?: $out"
    assert_contains "$out" "[Uu]sage"
    assert_contains "$out" "-c"
done

# --gen-secret: 64 hex digits and a newline, different each time.
"$TESSERA_BIN" --gen-secret >secret1 2>gen.err || fail "--gen-secret failed: $(cat gen.err)"
"$TESSERA_BIN" --gen-secret >secret2 2>>gen.err || fail "--gen-secret failed: $(cat gen.err)"
for f in secret1 secret2; do
    assert_eq "$(wc -c <$f | tr -d ' ')" 65 "size of --gen-secret output"
    assert_eq "$(wc -l <$f | tr -d ' ')" 1 "lines of --gen-secret output"
    grep -Eqx '[0-9a-fA-F]{64}' $f || fail "--gen-secret printed: $(cat $f)"
done
[ "$(cat secret1)" != "$(cat secret2)" ] || fail "--gen-secret printed the same secret twice"

# A good configuration passes -t (short and long forms).
P=$(free_port)
B=$(free_port)
cfg_frontend web "$P" "$B" "$(cert_entry ec), $(cert_entry rsa)" '"h2", "http/1.1"'
write_config "$TEST_DIR/good.conf"
out=$("$TESSERA_BIN" -t -c "$TEST_DIR/good.conf" 2>&1) || fail "-t on good.conf exited $?: $out"
assert_contains "$out" "configuration OK"
out=$("$TESSERA_BIN" --test --config "$TEST_DIR/good.conf" 2>&1) ||
    fail "--test --config exited $?: $out"
assert_contains "$out" "configuration OK"

# check_bad NAME PATTERN: -t on NAME.conf exits 1 and names the line that
# matches PATTERN (the offending setting) as FILE:LINE:.
check_bad() {
    local name=$1 pat=$2 line out rc
    line=$(grep -n -- "$pat" "$TEST_DIR/$name.conf" | head -n 1 | cut -d: -f1)
    [ -n "$line" ] || fail "test bug: /$pat/ not in $name.conf"
    out=$("$TESSERA_BIN" -t -c "$TEST_DIR/$name.conf" 2>&1)
    rc=$?
    assert_eq "$rc" 1 "exit status of -t on $name.conf (output: $out)"
    assert_contains "$out" "$name\.conf:$line:"
    assert_not_contains "$out" "configuration OK"
    log "$name: $(printf '%s' "$out" | grep -E "$name\.conf:$line:" | head -n 1)"
}

# (a) an unknown key at the top level and inside a frontend.
cp good.conf bad-a.conf
echo 'colour = "blue";' >>bad-a.conf
check_bad bad-a 'colour'
sed 's/^    backend = \(.*\)$/    backend = \1\n    colour = "blue";/' good.conf >bad-a2.conf
check_bad bad-a2 'colour'

# (b) a certificate file that does not exist.
cfg_reset
cfg_frontend web "$P" "$B" "{ cert = \"$TEST_DIR/missing.pem\"; key = \"$CERTS/ec.key\"; }"
write_config "$TEST_DIR/bad-b.conf"
check_bad bad-b 'missing\.pem'

# (c) a certificate and a key that do not belong together.
cfg_reset
cfg_frontend web "$P" "$B" "{ cert = \"$CERTS/ec.pem\"; key = \"$CERTS/other.key\"; }"
write_config "$TEST_DIR/bad-c.conf"
check_bad bad-c 'other\.key'

# (d) a value out of range.
cfg_reset
cfg_frontend web "$P" "$B" "$(cert_entry ec)"
CFG_TIMEOUTS='handshake = -5;'
write_config "$TEST_DIR/bad-d.conf"
check_bad bad-d 'handshake = -5'

# Running (not -t) with a bad configuration: exit 1, never listening.
for name in bad-a bad-b bad-c; do
    "$TESSERA_BIN" -c "$TEST_DIR/$name.conf" >"run-$name.log" 2>&1 &
    pid=$!
    track_pid $pid
    wait_exit $pid "$WAIT_LIMIT" || fail "tessera -c $name.conf is still running"
    assert_eq "$EXIT_STATUS" 1 "exit status of tessera -c $name.conf"
    port_closed "$P" || fail "something listens on $P after tessera -c $name.conf"
done

# A missing configuration file is an error too.
out=$("$TESSERA_BIN" -t -c "$TEST_DIR/nonexistent.conf" 2>&1)
assert_eq "$?" 1 "exit status of -t on a missing file (output: $out)"

log "ok"
