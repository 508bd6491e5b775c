#!/bin/bash
# 47-keyring-ops: key operations on the admin endpoint (admin.token_file),
# across two instances (A and B) sharing memcached and the cluster keyring
# (tickets = { rotate = 3600; keep = 1; refresh = 1; }: one epoch for the
# whole test, refreshes every second).  Both admin endpoints have
# allow = [ "127.0.0.1/32" ] and the same token file.
#
#   - Refused, logged and counted, and nothing changes: no token and a wrong
#     token (401 with WWW-Authenticate: Bearer), a client from 127.0.0.2
#     (403, GET too), an unknown fingerprint (404).  The token never
#     appears in a log.
#   - POST /keyring/retire of the current cluster key, on A: TLS 1.3 and TLS
#     1.2 tickets issued under it before are refused on both instances
#     within a few refreshes (full handshake, tickets_total{unknown_key}
#     rises); both agree on a replacement cluster key for the epoch, which
#     new tickets carry; the key is in neither /keyring; memcached holds the
#     sealed retirement list (the key's name does not appear in it).
#   - POST /keyring/rotate, on B: both move to a new cluster key; tickets
#     issued before still resume on both (decrypt-only), new ones carry the
#     new key.
#   - SIGHUP on A after the token file changed: the old token gets 401, the
#     new one works.
#   - A forged retirement list is counted (keyring_rejected_total) and
#     replaced, a deleted one written back; the key stays retired.
#   - tessera_keyring_operations_total counts every outcome.
#   - With sessions.store = "local" (instance C): rotate and retire act on
#     the instance's own keys.
# That the retired key's bytes are wiped is shown by test_keyring's
# test_remove_name_wipes (process memory is not inspected here).
# subset: tsan
# shellcheck source=tests/integration/lib.sh disable=SC2034,SC2015,SC2016,SC2119,SC2153
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib-keyring.sh
. "$LIB_DIR/lib-keyring.sh"

ROTATE=3600
PREFIX="kr47:"
BANNER_RE="220 backend ready"
TOKEN="t47-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
# A retirement or rotation reaches the other instance at its next refresh
# (every second) and takes effect when that refresh ends (three memcached
# round trips on loopback): 10 s is ten refreshes' worth, for slow
# (sanitizer) builds.
SPREAD_LIMIT=10

# ---- helpers ----

# epoch_left_at_least S: at least S seconds remain in the current epoch.
epoch_left_at_least() {
    [ $((ROTATE - $(date +%s) % ROTATE)) -ge "$1" ]
}

# post ADMIN PATH [CURL_ARGS...]: POST to the admin endpoint; prints the
# status code; the body is in post.body, the headers in post.hdr.
post() {
    local port=$1 path=$2
    shift 2
    curl -s --max-time 10 -o post.body -D post.hdr -w '%{http_code}' -X POST "$@" \
        "http://127.0.0.1:$port$path"
}

# The curl arguments that send the right token.
BEARER=(-H "Authorization: Bearer $TOKEN")

# json_field FILE KEY: one field of the JSON object in FILE.
json_field() {
    python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"
}

# holds ADMIN FP: the instance's /keyring lists a key with fingerprint FP.
holds() {
    kr_has "$1" " $2\$"
}

# gone_everywhere FP: neither A nor B holds FP, and both encrypt with the
# same cluster key, which is not FP.
gone_everywhere() {
    ! holds "$A_ADMIN" "$1" && ! holds "$B_ADMIN" "$1" && same_current &&
        [ "$(current_fp "$A_ADMIN")" != "$1" ]
}

# moved_from FP: both encrypt with the same cluster key, which is not FP.
moved_from() {
    same_current && [ "$(current_fp "$A_ADMIN")" != "$1" ]
}

ops() {
    m "$1" tessera_keyring_operations_total "op=$2" "result=$3"
}

# ---- set-up ----

# One epoch for the whole test (it takes well under a minute).
WAIT_FOR_LIMIT=$((ROTATE / 2)) wait_for epoch_left_at_least 60 || fail "no epoch with 60 s left"
make_certs
start_backend banner
BANNER=$BACKEND_PORT
start_memcached
(umask 077 && printf '%s\n' "$TOKEN" >"$TEST_DIR/admin.token")
ADMIN_EXTRA="allow = [ \"127.0.0.1/32\" ]; token_file = \"$TEST_DIR/admin.token\";"
KEEP=1 start_instance A
KEEP=1 start_instance B
wait_agree "the current key" '^[0-9a-f]{8}$' current_fp
E=$(epoch)
FP=$(current_fp "$A_ADMIN")
log "A and B encrypt with cluster key $FP (epoch $E)"

# Tickets under FP, and they cross over before anything happens.
new_session "$A_PORT" t13.pem -tls1_3
new_session "$A_PORT" t12.pem -tls1_2
for f in t13.pem t12.pem; do
    assert_eq "$(name_fingerprint "$(ticket_hex "$f")")" "$FP" "the key of $f"
done
offer "$B_PORT" t13.pem -tls1_3
assert_eq "$R" Reused "TLS 1.3 ticket of A on B, before"
offer "$B_PORT" t12.pem -tls1_2
assert_eq "$R" Reused "TLS 1.2 ticket of A on B, before"

# ---- refused: no token, wrong token, other source, unknown fingerprint ----

code=$(post "$A_ADMIN" "/keyring/retire?fingerprint=$FP")
assert_eq "$code" 401 "retire without a token"
grep -qi '^WWW-Authenticate: Bearer' post.hdr || fail "401 without WWW-Authenticate: $(cat post.hdr)"
code=$(post "$A_ADMIN" "/keyring/retire?fingerprint=$FP" -H "Authorization: Bearer ${TOKEN}x")
assert_eq "$code" 401 "retire with a wrong token"
code=$(post "$A_ADMIN" "/keyring/rotate" -H "Authorization: Basic $TOKEN")
assert_eq "$code" 401 "rotate with another scheme"
code=$(post "$A_ADMIN" "/keyring/retire?fingerprint=$FP" --interface 127.0.0.2 "${BEARER[@]}")
assert_eq "$code" 403 "retire from 127.0.0.2 (admin.allow = 127.0.0.1/32), right token"
code=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' --interface 127.0.0.2 \
    "http://127.0.0.1:$A_ADMIN/keyring")
assert_eq "$code" 403 "GET /keyring from 127.0.0.2"
unknown=00000000
while holds "$A_ADMIN" "$unknown"; do unknown=ffffffff; done
code=$(post "$A_ADMIN" "/keyring/retire?fingerprint=$unknown" "${BEARER[@]}")
assert_eq "$code" 404 "retire of an unknown fingerprint"
assert_eq "$(json_field post.body result)" not_found "retire of an unknown fingerprint: result"

assert_eq "$(ops "$A_ADMIN" retire unauthorized)" 2 "A: operations{retire,unauthorized}"
assert_eq "$(ops "$A_ADMIN" rotate unauthorized)" 1 "A: operations{rotate,unauthorized}"
assert_eq "$(ops "$A_ADMIN" retire forbidden)" 1 "A: operations{retire,forbidden}"
assert_eq "$(ops "$A_ADMIN" retire not_found)" 1 "A: operations{retire,not_found}"
assert_contains "$A_LOG" "POST /keyring/retire from 127.0.0.1: unauthorized"
assert_contains "$A_LOG" "POST /keyring/rotate from 127.0.0.1: unauthorized"
assert_contains "$A_LOG" "POST /keyring/retire from 127.0.0.2: forbidden"
assert_contains "$A_LOG" "GET /keyring from 127.0.0.2: forbidden"
assert_eq "$(current_fp "$A_ADMIN")" "$FP" "A's current key after the refused requests"
holds "$B_ADMIN" "$FP" || fail "B lost $FP after refused requests: $(keyring "$B_ADMIN")"
log "no token, a wrong token, 127.0.0.2 and an unknown fingerprint refused (401/403/404), logged"

# ---- retire the current key on A ----

b_unknown0=$(m "$B_ADMIN" tessera_tickets_total op=unknown_key)
a_unknown0=$(m "$A_ADMIN" tessera_tickets_total op=unknown_key)
code=$(post "$A_ADMIN" "/keyring/retire?fingerprint=$FP" "${BEARER[@]}")
assert_eq "$code" 200 "retire $FP: $(cat post.body)"
assert_eq "$(json_field post.body result)" ok "retire $FP: result"
assert_eq "$(json_field post.body fingerprint)" "$FP" "retire $FP: fingerprint"
assert_eq "$(json_field post.body epoch)" "$E" "retire $FP: epoch"
assert_contains "$A_LOG" "POST /keyring/retire $FP from 127.0.0.1: ok"
WAIT_FOR_LIMIT=$SPREAD_LIMIT wait_for gone_everywhere "$FP" ||
    fail "$FP still held or no common replacement: A $(keyring "$A_ADMIN"), B $(keyring "$B_ADMIN")"
NEW=$(current_fp "$A_ADMIN")
log "retired $FP: A and B encrypt with the replacement $NEW"

for port in "$A_PORT" "$B_PORT"; do
    offer "$port" t13.pem -tls1_3
    assert_eq "$R" New "TLS 1.3 ticket under the retired key, port $port"
    offer "$port" t12.pem -tls1_2
    assert_eq "$R" New "TLS 1.2 ticket under the retired key, port $port"
done
a_unknown1=$(m "$A_ADMIN" tessera_tickets_total op=unknown_key)
b_unknown1=$(m "$B_ADMIN" tessera_tickets_total op=unknown_key)
[ $((a_unknown1 - a_unknown0)) -ge 2 ] && [ $((b_unknown1 - b_unknown0)) -ge 2 ] ||
    fail "tickets{unknown_key}: A +$((a_unknown1 - a_unknown0)), B +$((b_unknown1 - b_unknown0))"
new_session "$B_PORT" n13.pem -tls1_3
assert_eq "$(name_fingerprint "$(ticket_hex n13.pem)")" "$NEW" "a new ticket's key on B"
offer "$A_PORT" n13.pem -tls1_3
assert_eq "$R" Reused "a ticket under the replacement, from B on A"
log "old tickets refused on A and B (unknown_key A +$((a_unknown1 - a_unknown0))," \
    "B +$((b_unknown1 - b_unknown0))); new ones carry $NEW and cross over"

# The retirement list is in memcached, sealed: the key's name is not in it.
list=$(mc_tool get "$MC_PORT" "${PREFIX}stek-retired") || fail "no ${PREFIX}stek-retired entry"
name=$(ticket_hex t13.pem | cut -c1-32)
[[ "$list" != *"$name"* ]] || fail "the retirement list shows the key's name in clear"
log "memcached holds the sealed retirement list (${#list} hex digits)"

# A forged list is counted and replaced (the retirement survives it), and a
# list memcached lost is written back.
rej0=$(($(m "$A_ADMIN" tessera_keyring_rejected_total) + $(m "$B_ADMIN" tessera_keyring_rejected_total)))
forged=$(python3 -c 'import sys; h = sys.argv[1]; i = len(h) // 2
print(h[:i] + "%02x" % (int(h[i:i + 2], 16) ^ 1) + h[i + 2:])' "$list")
mc_tool set "$MC_PORT" "${PREFIX}stek-retired" "$forged" 600 || fail "mc set failed"
list_replaced() {
    local now
    now=$(mc_tool get "$MC_PORT" "${PREFIX}stek-retired") && [ "$now" != "$forged" ] &&
        [ $(($(m "$A_ADMIN" tessera_keyring_rejected_total) +
            $(m "$B_ADMIN" tessera_keyring_rejected_total))) -gt "$rej0" ]
}
WAIT_FOR_LIMIT=$SPREAD_LIMIT wait_for list_replaced ||
    fail "the forged retirement list was not counted and replaced"
mc_tool delete "$MC_PORT" "${PREFIX}stek-retired" || fail "mc delete failed"
WAIT_FOR_LIMIT=$SPREAD_LIMIT wait_for mc_tool get "$MC_PORT" "${PREFIX}stek-retired" >/dev/null ||
    fail "the retirement list was not written back after it went missing"
! holds "$A_ADMIN" "$FP" && ! holds "$B_ADMIN" "$FP" ||
    fail "$FP came back: A $(keyring "$A_ADMIN"), B $(keyring "$B_ADMIN")"
offer "$B_PORT" t12.pem -tls1_2
assert_eq "$R" New "TLS 1.2 ticket under the retired key, after the list was forged and lost"
log "a forged retirement list is counted and replaced, a lost one written back; $FP stays retired"

# ---- rotate on B ----

new_session "$A_PORT" r13.pem -tls1_3
new_session "$A_PORT" r12.pem -tls1_2
code=$(post "$B_ADMIN" "/keyring/rotate" "${BEARER[@]}")
assert_eq "$code" 200 "rotate: $(cat post.body)"
assert_eq "$(json_field post.body result)" ok "rotate: result"
assert_eq "$(json_field post.body epoch)" "$E" "rotate: epoch"
WAIT_FOR_LIMIT=$SPREAD_LIMIT wait_for moved_from "$NEW" ||
    fail "no common new key after rotate: A $(keyring "$A_ADMIN"), B $(keyring "$B_ADMIN")"
ROT=$(current_fp "$A_ADMIN")
for a in "$A_ADMIN" "$B_ADMIN"; do
    holds "$a" "$NEW" || fail "the rotated-away key $NEW is gone on $a: $(keyring "$a")"
done
kr_has "$B_ADMIN" "^$E decrypt-only local $NEW\$" ||
    fail "B does not keep $NEW decrypt-only: $(keyring "$B_ADMIN")"
for port in "$A_PORT" "$B_PORT"; do
    offer "$port" r13.pem -tls1_3
    assert_eq "$R" Reused "TLS 1.3 ticket under the rotated-away key, port $port"
    offer "$port" r12.pem -tls1_2
    assert_eq "$R" Reused "TLS 1.2 ticket under the rotated-away key, port $port"
done
new_session "$A_PORT" m13.pem -tls1_3
assert_eq "$(name_fingerprint "$(ticket_hex m13.pem)")" "$ROT" "a new ticket's key after rotate"
log "rotated $NEW -> $ROT: old tickets still resume on A and B, new ones carry $ROT"

# ---- a reload applies a new token ----

OLD_BEARER=("${BEARER[@]}")
TOKEN2="t47b-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
(umask 077 && printf '%s\n' "$TOKEN2" >"$TEST_DIR/admin.token")
kill -HUP "$A_PID"
WAIT_FOR_LIMIT=$SPREAD_LIMIT wait_for grep -q "key operations use the new token" "$A_LOG" ||
    fail "A did not take the new token on SIGHUP: $(tail -n 5 "$A_LOG")"
code=$(post "$A_ADMIN" "/keyring/retire?fingerprint=$unknown" "${OLD_BEARER[@]}")
assert_eq "$code" 401 "the old token after the reload"
code=$(post "$A_ADMIN" "/keyring/retire?fingerprint=$unknown" -H "Authorization: Bearer $TOKEN2")
assert_eq "$code" 404 "the new token after the reload (unknown fingerprint)"
log "SIGHUP: the new token works at once, the old one is refused"

assert_eq "$(ops "$A_ADMIN" retire ok)" 1 "A: operations{retire,ok}"
assert_eq "$(ops "$B_ADMIN" rotate ok)" 1 "B: operations{rotate,ok}"
assert_contains "$B_LOG" "POST /keyring/rotate from 127.0.0.1: ok"
for f in "$A_LOG" "$B_LOG"; do
    ! grep -qF -e "$TOKEN" -e "$TOKEN2" "$f" || fail "a token appears in $f"
done
stop_instances A B
log "the token never appears in a log"

# ---- local keys (sessions.store = "local"): this instance only ----

local_current() {
    keyring "$1" | awk '$2 == "current" && $3 == "local" { print $4 }'
}
cfg_reset
C_PORT=$(free_port)
cfg_frontend web "$C_PORT" "$BANNER" "$(cert_entry ec)"
cfg_admin
CFG_ADMIN="$CFG_ADMIN token_file = \"$TEST_DIR/admin.token\";"
CFG_SESSIONS="lifetime = 60; tickets = true;"
CFG_TICKETS="rotate = $ROTATE; keep = 1; refresh = 1;"
write_config "$TEST_DIR/C.conf"
start_tessera "$TEST_DIR/C.conf"
C_ADMIN=$ADMIN_PORT
C_BEARER=(-H "Authorization: Bearer $TOKEN2")
L0=$(local_current "$C_ADMIN")
new_session "$C_PORT" c0.pem -tls1_3
code=$(post "$C_ADMIN" /keyring/rotate "${C_BEARER[@]}")
assert_eq "$code" 200 "local rotate: $(cat post.body)"
L1=$(local_current "$C_ADMIN")
[ -n "$L1" ] && [ "$L1" != "$L0" ] || fail "local rotate: current $L0 -> $L1"
kr_has "$C_ADMIN" "^$E decrypt-only local $L0\$" || fail "local rotate: $(keyring "$C_ADMIN")"
offer "$C_PORT" c0.pem -tls1_3
assert_eq "$R" Reused "local: a ticket under the rotated-away key"
new_session "$C_PORT" c1.pem -tls1_3
code=$(post "$C_ADMIN" "/keyring/retire?fingerprint=$L1" "${C_BEARER[@]}")
assert_eq "$code" 200 "local retire: $(cat post.body)"
L2=$(local_current "$C_ADMIN")
[ -n "$L2" ] && [ "$L2" != "$L1" ] && ! holds "$C_ADMIN" "$L1" ||
    fail "local retire of $L1: $(keyring "$C_ADMIN")"
offer "$C_PORT" c1.pem -tls1_3
assert_eq "$R" New "local: a ticket under the retired key"
stop_tessera || fail "tessera C exited with $?"
log "local keys: rotate $L0 -> $L1 (old tickets resume), retire $L1 -> $L2 (its tickets refused)"
