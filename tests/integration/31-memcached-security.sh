#!/bin/bash
# 31-memcached-security: what memcached holds is sealed.
#  (a) a dump of memcached (every key, every value) holds no session master
#      secret, in binary or hex, TLS 1.2 and TLS 1.3 (the secret is read on
#      the client side: s_client -sess_out, openssl sess_id -text), while the
#      entry "tessera:sess:<hex session id>" exists;
#  (b) forged entries are rejected and counted: random bytes written over a
#      valid entry, a valid entry copied under another session's key, an
#      entry sealed under a secret this instance does not have;
#  (c) secret rollover across two instances: A has S1; B has S2 and the old
#      S1: A's sessions resume on B, B's do not resume on A until A is
#      restarted with S2 and the old S1;
#  (d) tessera -t rejects a secret file readable by others, naming FILE:LINE.
# subset: tsan
# shellcheck source=tests/integration/lib.sh disable=SC2034,SC2119,SC2153,SC2154
. "$(dirname "$0")/lib.sh"

BANNER_RE="220 backend ready"
PREFIX="tessera:"

make_certs
start_backend banner
BANNER=$BACKEND_PORT
start_memcached
MC=127.0.0.1:$MC_PORT
gen_secret "$TEST_DIR/s1.key"
gen_secret "$TEST_DIR/s2.key"
gen_secret "$TEST_DIR/s3.key"

stop_instance() {
    TESSERA_PID=$1
    stop_tessera || fail "tessera (pid $1) exited with $?"
}

rejected() {
    m "$1" tessera_session_entries_rejected_total
}

stored() {
    m "$1" tessera_session_cache_ops_total op=set result=stored
}

# new_session PORT FILE TLSFLAG...: a full handshake that saves its session;
# waits (on ADMIN_OF_PORT's instance, given as $ADMIN) until it is stored.
new_session() {
    local port=$1 file=$2 admin=$3 before
    shift 3
    before=$(stored "$admin")
    rm -f "$file"
    sclient_exchange "" "$BANNER_RE" "$port" "$@" -sess_out "$file" ||
        fail "s_client $* -sess_out on port $port: $(tail -n 20 "$SCLIENT_OUT")"
    assert_contains "$SCLIENT_OUT" "^New, "
    [ -s "$file" ] || fail "s_client $* on port $port saved no session"
    wait_for metric_at_least "$admin" $((before + 1)) tessera_session_cache_ops_total op=set \
        result=stored || fail "the session made on port $port was not stored in memcached"
}

# offer PORT FILE TLSFLAG...: offer the saved session; prints Reused or New.
offer() {
    local port=$1 file=$2
    shift 2
    sclient_exchange "" "$BANNER_RE" "$port" "$@" -sess_in "$file" ||
        fail "s_client $* -sess_in on port $port: $(tail -n 20 "$SCLIENT_OUT")"
    sed -n 's/^\(Reused\|New\), .*/\1/p' "$SCLIENT_OUT" | head -n 1
}

# ticket_hex FILE: the ticket of a saved session in hex (for a TLS 1.3
# stateful ticket: the server's session ID, the entry's key).
ticket_hex() {
    openssl sess_id -in "$1" -noout -text |
        sed -n '/TLS session ticket:/,/^$/s/^ *[0-9a-f]\{4\} - \(.\{48\}\).*/\1/p' | tr -d ' \n-'
}

entry_key() {
    sess_key "$1" "$PREFIX"
}

start_mc_instance A "$BANNER" --secret "$TEST_DIR/s1.key" "$MC"
start_mc_instance B "$BANNER" --secret "$TEST_DIR/s1.key" "$MC"

# --- (a) no master secret in a dump of memcached ---
# The search must work: a value holding the bytes is found.
probe_hex=$(openssl rand -hex 48)
mc_tool set "$MC_PORT" probe-of-the-search "00${probe_hex}00" || fail "mc_tool set"
mc_tool search "$MC_PORT" "$probe_hex" >/dev/null || fail "mc_tool search misses a planted value"
mc_tool delete "$MC_PORT" probe-of-the-search || fail "mc_tool delete"

new_session "$A_PORT" d12.pem "$A_ADMIN" -tls1_2
mk12=$(sess_field d12.pem Master-Key)
[ ${#mk12} -eq 96 ] || fail "TLS 1.2 Master-Key from sess_id: '$mk12'"
key12=$(entry_key d12.pem)
mc_tool get "$MC_PORT" "$key12" >/dev/null || fail "no memcached entry $key12"
new_session "$A_PORT" d13.pem "$A_ADMIN" -tls1_3
mk13=$(sess_field d13.pem "Resumption PSK")
[ ${#mk13} -ge 64 ] || fail "TLS 1.3 resumption PSK from sess_id: '$mk13'"
t13=$(ticket_hex d13.pem)
[ ${#t13} -eq 64 ] || fail "TLS 1.3 stateful ticket from sess_id: '$t13'"
mc_tool get "$MC_PORT" "${PREFIX}sess:$t13" >/dev/null || fail "no memcached entry for $t13"
mc_tool keys "$MC_PORT" >dump-keys.txt || fail "lru_crawler metadump failed"
nsess=$(grep -c "^${PREFIX}sess:" dump-keys.txt)
[ "$nsess" -ge 3 ] || fail "expected at least 3 session entries, found $nsess:
$(cat dump-keys.txt)"
for mk in "$mk12" "$mk13"; do
    out=$(mc_tool search "$MC_PORT" "$mk") && fail "a master secret is in memcached: $out"
    assert_contains "$out" "^scanned [0-9]+ keys"
    # Its first and last 16 bytes on their own are not there either.
    out=$(mc_tool search "$MC_PORT" "${mk:0:32}") && fail "master secret prefix in memcached: $out"
    out=$(mc_tool search "$MC_PORT" "${mk: -32}") && fail "master secret suffix in memcached: $out"
done
log "(a) $nsess session entries in memcached (e.g. $key12), no master secret in any key or value"

# --- (b) forged entries ---
# B has no first-level copy of A's sessions: B's lookups go to memcached.
new_session "$A_PORT" x.pem "$A_ADMIN" -tls1_2
new_session "$A_PORT" y.pem "$A_ADMIN" -tls1_2
new_session "$A_PORT" z.pem "$A_ADMIN" -tls1_2
kx=$(entry_key x.pem)
ky=$(entry_key y.pem)
kz=$(entry_key z.pem)
vx=$(mc_tool get "$MC_PORT" "$kx") || fail "no entry $kx"
vz=$(mc_tool get "$MC_PORT" "$kz") || fail "no entry $kz"

# Random bytes over Z's entry (same length).
r0=$(rejected "$B_ADMIN")
mc_tool set "$MC_PORT" "$kz" "$(openssl rand -hex $((${#vz} / 2)))" || fail "mc_tool set"
assert_eq "$(offer "$B_PORT" z.pem -tls1_2)" New "session with a random entry"
wait_for metric_is "$B_ADMIN" $((r0 + 1)) tessera_session_entries_rejected_total ||
    fail "random entry: rejected moved from $r0 to $(rejected "$B_ADMIN"), expected +1"
log "(b) random bytes as an entry: full handshake, rejected +1"

# X's valid entry copied under Y's key.
r0=$(rejected "$B_ADMIN")
mc_tool set "$MC_PORT" "$ky" "$vx" || fail "mc_tool set"
assert_eq "$(offer "$B_PORT" y.pem -tls1_2)" New "session Y with X's entry"
wait_for metric_is "$B_ADMIN" $((r0 + 1)) tessera_session_entries_rejected_total ||
    fail "swapped entry: rejected moved from $r0 to $(rejected "$B_ADMIN"), expected +1"
# X's own entry is still good where it belongs.
assert_eq "$(offer "$B_PORT" x.pem -tls1_2)" Reused "session X with its own entry"
assert_eq "$(rejected "$B_ADMIN")" $((r0 + 1)) "rejected after X resumed"
log "(b) X's entry under Y's key: full handshake, rejected +1; X itself still resumes"

# An entry sealed under a secret B does not have: made by instance C with S3.
start_mc_instance C "$BANNER" --secret "$TEST_DIR/s3.key" "$MC"
new_session "$C_PORT" c.pem "$C_ADMIN" -tls1_2
stop_instance "$C_PID"
r0=$(rejected "$B_ADMIN")
assert_eq "$(offer "$B_PORT" c.pem -tls1_2)" New "session sealed under an unknown secret"
wait_for metric_is "$B_ADMIN" $((r0 + 1)) tessera_session_entries_rejected_total ||
    fail "foreign secret: rejected moved from $r0 to $(rejected "$B_ADMIN"), expected +1"
log "(b) entry sealed under another secret: full handshake, rejected +1"

# --- (c) secret rollover: S1 -> S2 ---
stop_instance "$B_PID"
start_mc_instance B "$BANNER" --port "$B_PORT" --secret "$TEST_DIR/s2.key" --old "$TEST_DIR/s1.key" "$MC"
new_session "$A_PORT" ra.pem "$A_ADMIN" -tls1_2
assert_eq "$(offer "$B_PORT" ra.pem -tls1_2)" Reused "session of A (S1) on B (S2, old S1)"
new_session "$B_PORT" rb.pem "$B_ADMIN" -tls1_2
r0=$(rejected "$A_ADMIN")
assert_eq "$(offer "$A_PORT" rb.pem -tls1_2)" New "session of B (S2) on A (S1 only)"
wait_for metric_is "$A_ADMIN" $((r0 + 1)) tessera_session_entries_rejected_total ||
    fail "rollover: A's rejected moved from $r0 to $(rejected "$A_ADMIN"), expected +1"
log "(c) A (S1) -> B (S2 + old S1): Reused; B -> A: New, rejected +1"
stop_instance "$A_PID"
start_mc_instance A "$BANNER" --port "$A_PORT" --secret "$TEST_DIR/s2.key" --old "$TEST_DIR/s1.key" "$MC"
assert_eq "$(offer "$A_PORT" rb.pem -tls1_2)" Reused "session of B (S2) on A restarted with S2"
# Sessions A made under S1 before its restart still open (old secret).
assert_eq "$(offer "$A_PORT" ra.pem -tls1_2)" Reused "session of A (S1) on A restarted with S2"
assert_eq "$(rejected "$A_ADMIN")" 0 "rejected on the restarted A"
log "(c) A restarted with S2 + old S1: B's session and its own old one Reused"
stop_instance "$A_PID"
stop_instance "$B_PID"

# --- (d) tessera -t: a secret file readable by others ---
cp "$TEST_DIR/s1.key" "$TEST_DIR/open.key"
chmod 644 "$TEST_DIR/open.key"
cfg_reset
cfg_frontend web "$(free_port)" "$BANNER" "$(cert_entry ec)"
cfg_memcached --secret "$TEST_DIR/open.key" "$MC"
write_config "$TEST_DIR/open.conf"
line=$(grep -n 'secret_file' "$TEST_DIR/open.conf" | cut -d: -f1)
out=$("$TESSERA_BIN" -t -c "$TEST_DIR/open.conf" 2>&1)
rc=$?
assert_eq "$rc" 1 "tessera -t with a 0644 secret file: exit status"
assert_contains "$out" "^$TEST_DIR/open.conf:$line: "
assert_not_contains "$out" "configuration OK"
log "(d) tessera -t: $out"
chmod 600 "$TEST_DIR/open.key"
out=$("$TESSERA_BIN" -t -c "$TEST_DIR/open.conf" 2>&1) ||
    fail "tessera -t with the secret file at 0600: $out"
assert_contains "$out" "configuration OK"
log "ok"
