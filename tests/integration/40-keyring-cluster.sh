#!/bin/bash
# 40-keyring-cluster: two instances (A and B: same frontend name, certificate,
# cluster secret and memcached; different ports) share the session-ticket
# keyring (sessions.tickets = true, tickets = { rotate = 4; keep = 15;
# refresh = 1; }, so epoch = floor(unix time / 4)).
#
#   - Both /keyring agree on the fingerprints of the current and the next
#     epoch's cluster keys, and a ticket's key name (its first 16 bytes)
#     hashes to that fingerprint.
#   - TLS 1.2 and TLS 1.3 tickets hop A -> B -> A ... (s_client -sess_in /
#     -sess_out, 10 cross resumptions per version), every one "Reused"; B's
#     tessera_resumptions_total{type="ticket",origin="remote"} moves by
#     exactly the resumptions B served of tickets another instance issued.
#     Then tclient resume-chains whose every reconnection crosses over.
#   - A TLS 1.2 ticket made in epoch k resumes in epoch k+1 (on B) and comes
#     back renewed (other ticket bytes, under the current cluster key;
#     tickets_total{op="renewed"} +1).
#   - Instance C (keep = 1, rotate = 4, lifetime = 4, its own prefix): a TLS
#     1.2 ticket of epoch k is still held in epoch k+1 (decrypt-only) and is
#     refused from epoch k+2 on: "New", tickets_total{op="unknown_key"} +1.
# subset: tsan
# shellcheck source=tests/integration/lib.sh disable=SC2034,SC2015,SC2016,SC2119,SC2153
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib-keyring.sh
. "$LIB_DIR/lib-keyring.sh"

ROTATE=4
PREFIX="kr40:"
HOPS=10
CHAIN=20
BANNER_RE="220 backend ready"

# ---- helpers (see lib-keyring.sh for the shared ones) ----

# wait_epoch E: poll the clock until epoch E has begun (at most 3 epochs).
wait_epoch() {
    WAIT_FOR_LIMIT=$((3 * ROTATE + 2)) wait_for epoch_at_least "$1" ||
        fail "epoch $1 did not come (now $(epoch))"
}

# kr_epoch READING: the epoch an instance reported in a keyring() reading.
kr_epoch() {
    awk 'NR == 1 { print $3 }' <<<"$1"
}

# role_keys ADMIN: "EPOCH:FINGERPRINT" of the cluster's current and next keys.
role_keys() {
    keyring "$1" | awk '$3 == "cluster" && $2 == "current" { c = $1 ":" $4 }
                        $3 == "cluster" && $2 == "next" { n = $1 ":" $4 }
                        END { print c, n }'
}

# printed_ticket FILE: the ticket of the session s_client printed after its
# handshake (hex, no spaces).  For a resumed TLS 1.2 session s_client does
# not write -sess_out, even when the server renewed the ticket; it prints it.
printed_ticket() {
    sed -n '/^    TLS session ticket:/,/^$/p' "$1" | grep -E '^    [0-9a-f]{4} - ' |
        sed -E 's/^ +[0-9a-f]{4} - //; s/   .*$//; s/[ -]//g' | tr -d '\n'
}

# ---- set-up ----

make_certs
start_backend banner
BANNER=$BACKEND_PORT
start_memcached
start_instance A
start_instance B
PREFIX="kr40c:" KEEP=1 LIFETIME=4 start_instance C

# --- C: a TLS 1.2 ticket of epoch K, refused from epoch K+2 on (checked last) ---
k0=$(epoch)
new_session "$C_PORT" c12.pem -tls1_2
C_FP=$(name_fingerprint "$(ticket_hex c12.pem)")
K=$(key_epoch "$C_ADMIN" "$C_FP")
[ -n "$K" ] && [ "$K" -ge "$k0" ] && [ "$K" -le "$(epoch)" ] ||
    fail "C's ticket (made in epoch $k0 or after) is not under a cluster key of C: key $C_FP:
$(keyring "$C_ADMIN")"
log "C: TLS 1.2 ticket saved in epoch $K (key $C_FP)"

# --- A: a TLS 1.2 ticket of epoch K2, resumed in a later epoch (checked below) ---
k0=$(epoch)
new_session "$A_PORT" old12.pem -tls1_2
OLD_TICKET=$(ticket_hex old12.pem)
K2=$(key_epoch "$A_ADMIN" "$(name_fingerprint "$OLD_TICKET")")
[ -n "$K2" ] && [ "$K2" -ge "$k0" ] && [ "$K2" -le "$(epoch)" ] ||
    fail "A's ticket (made in epoch $k0 or after) is not under a cluster key of A:
$(keyring "$A_ADMIN")"

# --- A and B agree on the current and the next key ---
wait_agree "the current and next keys" '^[0-9]+:[0-9a-f]{8} [0-9]+:[0-9a-f]{8}$' role_keys
log "A and B agree on current and next: $(role_keys "$A_ADMIN")"
for a in "$A_ADMIN" "$B_ADMIN"; do
    wait_for metric_is "$a" 0 tessera_keyring_degraded ||
        fail "tessera_keyring_degraded is $(m "$a" tessera_keyring_degraded) on $a"
    kr_has "$a" "^degraded false " || fail "/keyring on $a: $(keyring "$a")"
done

# A's ticket names A's current key, and B holds it under the same fingerprint.
fp=$(name_fingerprint "$OLD_TICKET")
kr_has "$A_ADMIN" "^$K2 [a-z-]* cluster $fp\$" ||
    fail "the ticket's key $fp is not A's cluster key of epoch $K2: $(keyring "$A_ADMIN")"
kr_has "$B_ADMIN" "^$K2 [a-z-]* cluster $fp\$" ||
    fail "B does not hold A's key $fp of epoch $K2: $(keyring "$B_ADMIN")"
log "a ticket of A names the cluster key $fp of epoch $K2, held by A and B"

# C, in epoch K+1: the key of epoch K is still held, for decryption only.
# One reading of C's /keyring, judged by the epoch C itself reports in it (a
# boundary may pass between the test's clock and the reading).
wait_epoch $((K + 1))
kr=$(keyring "$C_ADMIN")
if [ "$(kr_epoch "$kr")" -eq $((K + 1)) ]; then # (not if this test was descheduled)
    grep -Eq "^$K decrypt-only cluster $C_FP\$" <<<"$kr" ||
        fail "in epoch $((K + 1)), C does not keep the key $C_FP of epoch $K: $kr"
    log "epoch $((K + 1)): C still holds the key of epoch $K (decrypt-only)"
fi

# ---- tickets hop between the instances ----

# hops TLSFLAG: a full handshake on A, then HOPS resumptions alternating
# B, A, B, ... each offering the session the previous one left.  Tracks who
# issued the ticket in hand (a new ticket bytes = the server just renewed
# it) and checks B's origin="remote" counter against that.
hops() {
    local v=$1 i port who issuer=A cur=hop.pem next=hop-next.pem t0 t1
    local b_remote0 b_remote1 a_remote0 a_remote1 exp_b=0 exp_a=0
    b_remote0=$(m "$B_ADMIN" tessera_resumptions_total type=ticket origin=remote)
    a_remote0=$(m "$A_ADMIN" tessera_resumptions_total type=ticket origin=remote)
    new_session "$A_PORT" "$cur" "$v"
    for i in $(seq 1 "$HOPS"); do
        if [ $((i % 2)) -eq 1 ]; then port=$B_PORT who=B; else port=$A_PORT who=A; fi
        t0=$(ticket_hex "$cur")
        offer "$port" "$cur" "$next" "$v"
        [ "$R" = Reused ] || fail "$v hop $i: a ticket issued by $issuer was $R on $who"
        if [ "$issuer" != "$who" ]; then
            if [ "$who" = B ]; then exp_b=$((exp_b + 1)); else exp_a=$((exp_a + 1)); fi
        fi
        t1=$(ticket_hex "$next")
        if [ -n "$t1" ] && [ "$t1" != "$t0" ]; then
            issuer=$who
        else
            cp "$cur" "$next" # s_client may keep the old session
        fi
        mv "$next" "$cur"
    done
    b_remote1=$(m "$B_ADMIN" tessera_resumptions_total type=ticket origin=remote)
    a_remote1=$(m "$A_ADMIN" tessera_resumptions_total type=ticket origin=remote)
    [ $((b_remote1 - b_remote0)) -eq "$exp_b" ] ||
        fail "$v: B's resumptions{ticket,remote} moved by $((b_remote1 - b_remote0))," \
            "expected $exp_b"
    [ $((a_remote1 - a_remote0)) -eq "$exp_a" ] ||
        fail "$v: A's resumptions{ticket,remote} moved by $((a_remote1 - a_remote0))," \
            "expected $exp_a"
    log "$v: $HOPS hops A<->B all Reused; remote resumptions B +$exp_b, A +$exp_a"
}

b_res0=$(m "$B_ADMIN" tessera_handshakes_total type=resumed_ticket)
hops -tls1_3
# TLS 1.3: every resumption renews, so each of the hops is a cross one.
b_mid=$(m "$B_ADMIN" tessera_handshakes_total type=resumed_ticket)
assert_eq $((b_mid - b_res0)) $((HOPS / 2)) "B: handshakes{resumed_ticket} after the TLS 1.3 hops"
hops -tls1_2
b_res1=$(m "$B_ADMIN" tessera_handshakes_total type=resumed_ticket)
assert_eq $((b_res1 - b_mid)) $((HOPS / 2)) "B: handshakes{resumed_ticket} after the TLS 1.2 hops"

# Chains of reconnections, each to the other instance (tclient --alt-port).
for v in 1.3 1.2; do
    b0=$(m "$B_ADMIN" tessera_handshakes_total type=resumed_ticket)
    a0=$(m "$A_ADMIN" tessera_handshakes_total type=resumed_ticket)
    tclient resume-chain --port "$A_PORT" --alt-port "$B_PORT" --tls "$v" --mode ticket \
        --count "$CHAIN" >/dev/null || fail "TLS $v ticket resume-chain alternating A/B"
    b1=$(m "$B_ADMIN" tessera_handshakes_total type=resumed_ticket)
    a1=$(m "$A_ADMIN" tessera_handshakes_total type=resumed_ticket)
    onb=$((CHAIN / 2 + CHAIN % 2))
    assert_eq $((b1 - b0)) "$onb" "B: handshakes{resumed_ticket} in the TLS $v chain"
    assert_eq $((a1 - a0)) $((CHAIN - onb)) "A: handshakes{resumed_ticket} in the TLS $v chain"
    log "TLS $v chain: $CHAIN resumptions alternating A/B"
done

# ---- a TLS 1.2 ticket of an older epoch resumes and is renewed ----

wait_epoch $((K2 + 1))
b_ren0=$(m "$B_ADMIN" tessera_tickets_total op=renewed)
b_dec0=$(m "$B_ADMIN" tessera_tickets_total op=decrypted)
E0=$(epoch)
offer "$B_PORT" old12.pem renewed12.pem -tls1_2
E=$(epoch)
assert_eq "$R" Reused "TLS 1.2 ticket of epoch $K2 offered to B in epoch $E"
NEW_TICKET=$(printed_ticket "$SCLIENT_OUT")
[ -n "$NEW_TICKET" ] && [ "$NEW_TICKET" != "$OLD_TICKET" ] ||
    fail "TLS 1.2 ticket of epoch $K2 resumed in epoch $E without a new ticket"
b_ren1=$(m "$B_ADMIN" tessera_tickets_total op=renewed)
b_dec1=$(m "$B_ADMIN" tessera_tickets_total op=decrypted)
assert_eq $((b_ren1 - b_ren0)) 1 "B: tickets{renewed} for the epoch-$K2 ticket"
assert_eq $((b_dec1 - b_dec0)) 1 "B: tickets{decrypted} for the epoch-$K2 ticket"
# The new ticket is under today's cluster key, which A holds too.  When an
# epoch boundary passes during the handshake or before an instance's
# /keyring is read (slow machines, sanitizers), the key is the cluster key of
# the epoch before or after it, and no longer necessarily the current one:
# each reading is judged by the epoch the instance reports in it.
fp=$(name_fingerprint "$NEW_TICKET")
for a in "$A_ADMIN" "$B_ADMIN"; do
    kr=$(keyring "$a")
    want="^$E current cluster $fp\$"
    if [ "$E0" != "$E" ] || [ "$(kr_epoch "$kr")" != "$E" ]; then
        want="^($E0|$E) [a-z-]+ cluster $fp\$"
    fi
    grep -Eq "$want" <<<"$kr" ||
        fail "the renewed ticket's key $fp is not the current key of epoch $E on $a: $kr"
done
log "TLS 1.2 ticket of epoch $K2 Reused on B in epoch $E and renewed under key $fp"

# ---- C: the epoch-K ticket is refused from epoch K+2 on ----

wait_epoch $((K + 2))
# C drops the key at its boundary refresh; give it a moment to publish.
WAIT_FOR_LIMIT=15 wait_for eval '! kr_has "$C_ADMIN" " $C_FP\$"' ||
    fail "C still holds the key $C_FP of epoch $K in epoch $(epoch): $(keyring "$C_ADMIN")"
c_unk0=$(m "$C_ADMIN" tessera_tickets_total op=unknown_key)
c_res0=$(m "$C_ADMIN" tessera_handshakes_total type=resumed_ticket)
offer "$C_PORT" c12.pem c12-after.pem -tls1_2
E=$(epoch)
assert_eq "$R" New "TLS 1.2 ticket of epoch $K offered to C in epoch $E (keep = 1)"
c_unk1=$(m "$C_ADMIN" tessera_tickets_total op=unknown_key)
c_res1=$(m "$C_ADMIN" tessera_handshakes_total type=resumed_ticket)
assert_eq $((c_unk1 - c_unk0)) 1 "C: tickets{unknown_key} for the epoch-$K ticket in epoch $E"
assert_eq $((c_res1 - c_res0)) 0 "C: handshakes{resumed_ticket} for the epoch-$K ticket"
log "TLS 1.2 ticket of epoch $K refused by C in epoch $E; unknown_key +1"

# ---- end: nothing rejected, clean exits ----
for a in "$A_ADMIN" "$B_ADMIN" "$C_ADMIN"; do
    assert_eq "$(m "$a" tessera_keyring_rejected_total)" 0 "tessera_keyring_rejected_total on $a"
done
stop_instances A B C
log "ok"
