#!/bin/bash
# 41-keyring-heal: the cluster keyring heals what happens to its memcached
# entries (design.md "Heal"), and memcached never sees a ticket key unsealed.
# Two instances A and B share one memcached (prefix "kr41:"; tickets =
# { rotate = 30; keep = 15; refresh = 1; }: epoch = floor(unix time / 30)).
#
# Nothing here needs an epoch to pass, and nothing may depend on one not
# passing: on a busy machine a phase can take longer than an epoch.  Each
# phase works on epochs of the window e-keep .. e+1 that every refresh reads
# and heals, so an epoch boundary in the middle of a phase changes nothing
# it checks (the window is 15 epochs, 7.5 minutes, longer than the whole
# test under load).  The long epoch only makes boundaries rare.
#
#   (a) flush_all: within about two refreshes the entries kr41:stek:<e> and
#       kr41:stek:<e+1> exist again and hold the same keys as before (A and
#       B agree on their fingerprints); tickets made on A before the flush
#       resume on B after it (TLS 1.2 and TLS 1.3).
#   (b) a forged entry (random bytes with a plausible seal header) for epoch
#       e+1, then a swapped one (the sealed entry of epoch e copied under
#       e+1's key): each time tessera_keyring_rejected_total moves, the entry
#       is replaced by a valid one (other bytes), and A and B still agree on
#       e+1's key, the one they held before.
#   (c) every stek entry is 18 + 92 + 16 = 126 bytes of sealed data (seal
#       version 1 first, no plaintext entry layout, nonces all different);
#       the key names carried by real tickets occur nowhere in memcached;
#       /keyring, /stats and /metrics show no string of 32+ hex digits.
# subset: tsan
# shellcheck source=tests/integration/lib.sh disable=SC2034,SC2015,SC2016,SC2119,SC2153
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib-keyring.sh
. "$LIB_DIR/lib-keyring.sh"

ROTATE=30
PREFIX="kr41:"
BANNER_RE="220 backend ready"
# "Within about two refreshes", timed by tessera itself: from just before
# flush_all to the time stamp of the first "wrote ... held keys to
# memcached" log line of A or B (so the test's own polling, slow on a busy
# machine, does not count).  Two refresh intervals (2 s), plus a refresh's
# own phases (2 x (timeout_ms + 100 ms)), plus 1.5 s for a saturated machine
# to run the main loop; sanitizer builds run tessera 3-10 times slower and
# get 10 s.
HEAL_LIMIT_MS=4000
if ldd "$TESSERA_BIN" 2>/dev/null | grep -Eq 'lib(asan|tsan)'; then
    HEAL_LIMIT_MS=10000
fi

# ---- helpers (see lib-keyring.sh for the shared ones) ----

# healed_at_ms LOG...: the time stamp (ms since the epoch) of the first
# "wrote N held keys to memcached" line in the logs, or nothing.
healed_at_ms() {
    local ts
    ts=$(grep -h "held keys to memcached" "$@" | sed -n 's/^\([0-9T:.-]*\)Z .*/\1/p' | sort |
        head -n 1)
    [ -n "$ts" ] || return 1
    date -u -d "$ts" +%s%3N
}

# fp_of ADMIN EPOCH: the fingerprint of the cluster key the instance holds
# for EPOCH (empty if none).
fp_of() {
    local k
    k=$(keyring "$1") || return 1
    awk -v e="$2" '$1 == e && $3 == "cluster" { print $4 }' <<<"$k"
}

# same_key EPOCH FP: A and B both hold FP as the cluster key of EPOCH.
same_key() {
    [ -n "$2" ] && [ "$(fp_of "$A_ADMIN" "$1")" = "$2" ] && [ "$(fp_of "$B_ADMIN" "$1")" = "$2" ]
}

rejected_sum() {
    echo $(($(m "$A_ADMIN" tessera_keyring_rejected_total) + \
        $(m "$B_ADMIN" tessera_keyring_rejected_total)))
}

rejected_above() {
    [ "$(rejected_sum)" -gt "$1" ]
}

# mc_text COMMAND: one memcached text-protocol command over bash's
# /dev/tcp; prints the first line of the answer.
mc_text() {
    local fd line
    exec {fd}<>"/dev/tcp/127.0.0.1/$MC_PORT" || fail "cannot connect to memcached"
    printf '%s\r\n' "$1" >&"$fd"
    read -r -t 5 line <&"$fd" || line="(no answer)"
    exec {fd}>&-
    printf '%s\n' "${line%$'\r'}"
}

# entry_is_not EPOCH HEX: the entry of EPOCH exists and is not HEX.
entry_is_not() {
    local v
    v=$(stek_entry "$1") || return 1
    [ "$v" != "$2" ]
}

# ---- set-up ----

make_certs
start_backend banner
BANNER=$BACKEND_PORT
start_memcached

start_instance A
start_instance B

E=$(epoch)
wait_agree "the key of epoch $((E + 1))" '^[0-9a-f]{8}$' fp_of $((E + 1))

# Tickets made on A before anything happens to memcached.
new_session "$A_PORT" pre12.pem -tls1_2
new_session "$A_PORT" pre13.pem -tls1_3
NAMES=("$(ticket_hex pre12.pem | cut -c1-32)" "$(ticket_hex pre13.pem | cut -c1-32)")

# ---- (a) flush_all ----

E0=$(epoch)
# Right at an epoch boundary A may not have refreshed yet: wait until it
# lists cluster keys for E0 and E0+1 (an empty fingerprint proves nothing).
WAIT_FOR_LIMIT=15 wait_for eval '[ -n "$(fp_of "$A_ADMIN" "$E0")" ] && [ -n "$(fp_of "$A_ADMIN" $((E0 + 1)))" ]' ||
    fail "A lists no cluster keys for epochs $E0 and $((E0 + 1)): $(keyring "$A_ADMIN")"
FP0=$(fp_of "$A_ADMIN" "$E0")
FP1=$(fp_of "$A_ADMIN" $((E0 + 1)))
same_key "$E0" "$FP0" && same_key $((E0 + 1)) "$FP1" ||
    fail "A and B disagree before the flush: $(keyring "$A_ADMIN") / $(keyring "$B_ADMIN")"
entries_exist "$E0" $((E0 + 1)) || fail "no entries for epochs $E0 and $((E0 + 1)) before the flush"
# A canary shows that the flush happened (tessera may heal the stek entries
# before we can look).
mc_tool set "$MC_PORT" "${PREFIX}canary" 00 || fail "mc set failed"
# Only write-backs after the flush count.
for f in "$A_LOG" "$B_LOG"; do
    grep -q "held keys to memcached" "$f" && fail "a write-back before the flush in $f"
done
t0=$(now_ms)
answer=$(mc_text flush_all)
assert_eq "$answer" OK "memcached's answer to flush_all"
mc_tool get "$MC_PORT" "${PREFIX}canary" >/dev/null && fail "flush_all left the canary"
WAIT_FOR_LIMIT=30 wait_for entries_exist "$E0" $((E0 + 1)) ||
    fail "the entries of epochs $E0 and $((E0 + 1)) were not written back after flush_all"
t1=$(healed_at_ms "$A_LOG" "$B_LOG") || fail "no write-back in the logs of A and B"
took=$((t1 - t0))
[ "$took" -le "$HEAL_LIMIT_MS" ] ||
    fail "the keys were written back ${took} ms after flush_all (limit $HEAL_LIMIT_MS ms)"
log "flush_all: entries of epochs $E0 and $((E0 + 1)) written back after $took ms (tessera's log)"
# What came back is the keys everybody held before (written back, not new).
WAIT_FOR_LIMIT=15 wait_for same_key "$E0" "$FP0" ||
    fail "epoch $E0: A $(fp_of "$A_ADMIN" "$E0"), B $(fp_of "$B_ADMIN" "$E0"), before $FP0"
WAIT_FOR_LIMIT=15 wait_for same_key $((E0 + 1)) "$FP1" ||
    fail "epoch $((E0 + 1)): A $(fp_of "$A_ADMIN" $((E0 + 1))), B $(fp_of "$B_ADMIN" \
$((E0 + 1))), before $FP1"
log "A and B still hold $FP0 (epoch $E0) and $FP1 (epoch $((E0 + 1)))"
offer "$B_PORT" pre12.pem -tls1_2
assert_eq "$R" Reused "TLS 1.2 ticket made on A before the flush, offered to B after it"
offer "$B_PORT" pre13.pem -tls1_3
assert_eq "$R" Reused "TLS 1.3 ticket made on A before the flush, offered to B after it"
log "tickets made on A before the flush resume on B after it"

# ---- (b) forged and swapped entries ----

# forge_check WHAT EPOCH HEX: HEX was just stored as EPOCH's entry.
forge_check() {
    local what=$1 ep=$2 hex=$3 fp=$4 rej0=$5 v
    WAIT_FOR_LIMIT=15 wait_for rejected_above "$rej0" ||
        fail "$what: tessera_keyring_rejected_total did not move (A+B: $(rejected_sum))"
    WAIT_FOR_LIMIT=15 wait_for entry_is_not "$ep" "$hex" ||
        fail "$what: the entry of epoch $ep was not replaced"
    v=$(stek_entry "$ep") || fail "$what: the entry of epoch $ep is gone"
    [ ${#v} -eq 252 ] && [ "${v:0:2}" = 01 ] ||
        fail "$what: the replacement of epoch $ep is not a sealed entry: $v"
    WAIT_FOR_LIMIT=15 wait_for same_key "$ep" "$fp" ||
        fail "$what: epoch $ep: A $(fp_of "$A_ADMIN" "$ep"), B $(fp_of "$B_ADMIN" "$ep")," \
            "before $fp"
    log "$what (epoch $ep): rejected (A+B now $(rejected_sum)), replaced, A and B still hold $fp"
}

# has_key ADMIN EPOCH: the instance holds a cluster key for EPOCH.  (Just
# after a boundary it may not hold the new e+1 yet: the boundary refresh
# comes up to a second late.)
has_key() {
    [[ "$(fp_of "$1" "$2")" =~ ^[0-9a-f]{8}$ ]]
}

E1=$(epoch)
WAIT_FOR_LIMIT=15 wait_for has_key "$A_ADMIN" $((E1 + 1)) ||
    fail "A holds no key for epoch $((E1 + 1)): $(keyring "$A_ADMIN")"
FPN=$(fp_of "$A_ADMIN" $((E1 + 1)))
WAIT_FOR_LIMIT=15 wait_for same_key $((E1 + 1)) "$FPN" || fail "B does not hold $FPN"
entries_exist $((E1 + 1)) || fail "no entry for epoch $((E1 + 1))"
rej0=$(rejected_sum)
FORGED=0100$(openssl rand -hex 124)
mc_tool set "$MC_PORT" "${PREFIX}stek:$((E1 + 1))" "$FORGED" 120 || fail "mc set failed"
forge_check "forged entry" $((E1 + 1)) "$FORGED" "$FPN" "$rej0"

E2=$(epoch)
SRC=$(stek_entry "$E2") || fail "no entry for epoch $E2"
TARGET=$((E2 + 1))
WAIT_FOR_LIMIT=15 wait_for has_key "$A_ADMIN" "$TARGET" ||
    fail "A holds no key for epoch $TARGET: $(keyring "$A_ADMIN")"
FPT=$(fp_of "$A_ADMIN" "$TARGET")
WAIT_FOR_LIMIT=15 wait_for same_key "$TARGET" "$FPT" || fail "B does not hold $FPT"
[ "$(fp_of "$A_ADMIN" "$E2")" != "$FPT" ] || fail "epochs $E2 and $TARGET have the same key"
rej0=$(rejected_sum)
mc_tool set "$MC_PORT" "${PREFIX}stek:$TARGET" "$SRC" 120 || fail "mc set failed"
forge_check "entry of epoch $E2 swapped in" "$TARGET" "$SRC" "$FPT" "$rej0"

# ---- (c) what memcached holds ----

# memcached's lru_crawler metadump sometimes misses items that exist (a get
# finds them), so list until the crawl shows the current and next entries.
list_stek() {
    mc_tool keys "$MC_PORT" >keys.txt || return 1
    grep "^${PREFIX}stek:" keys.txt | sort >stek-keys.txt
    [ "$(wc -l <stek-keys.txt)" -ge 2 ]
}
WAIT_FOR_LIMIT=15 wait_for list_stek ||
    fail "only $(wc -l <stek-keys.txt) stek entries in memcached: $(cat keys.txt)"
n=$(wc -l <stek-keys.txt)
: >nonces.txt
while read -r key; do
    ep=${key#"${PREFIX}"stek:}
    v=$(mc_tool get "$MC_PORT" "$key") || continue # expired meanwhile
    [ ${#v} -eq 252 ] || fail "$key: ${#v} hex digits, expected 252 (126 bytes)"
    [ "${v:0:2}" = 01 ] || fail "$key: does not start with seal version 01: ${v:0:8}"
    [ "${v:2:2}" != 02 ] || fail "$key: byte 1 is 02, the kind of a plaintext entry"
    epoch_be=$(printf '%016x' "$ep")
    case "$v" in *"$epoch_be"*) fail "$key: the epoch $ep shows in clear in the entry" ;; esac
    echo "${v:12:24}" >>nonces.txt
done <stek-keys.txt
dups=$(sort nonces.txt | uniq -d)
[ -z "$dups" ] || fail "stek entries share a nonce: $dups"
log "$n stek entries, each 126 bytes of sealed data with its own nonce"
new_session "$A_PORT" post13.pem -tls1_3
NAMES+=("$(ticket_hex post13.pem | cut -c1-32)")
for name in "${NAMES[@]}"; do
    [ ${#name} -eq 32 ] || fail "bad key name '$name'"
    if mc_tool search "$MC_PORT" "$name" >search.out; then
        fail "the ticket key name $name shows in memcached: $(cat search.out)"
    fi
    assert_contains search.out "^scanned [0-9]+ keys"
done
log "the key names of ${#NAMES[@]} tickets show nowhere in memcached"
for a in "$A_ADMIN" "$B_ADMIN"; do
    for page in keyring stats metrics; do
        curl -sS --max-time 10 -o "$page.txt" "http://127.0.0.1:$a/$page" ||
            fail "GET /$page on $a failed"
        [ -s "$page.txt" ] || fail "/$page on $a is empty"
        assert_not_contains "$page.txt" '[0-9a-fA-F]{32}'
    done
done
log "/keyring, /stats and /metrics show no 32+ hex digit string"

stop_instances A B
log "ok"
