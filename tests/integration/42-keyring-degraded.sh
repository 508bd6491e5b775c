#!/bin/bash
# 42-keyring-degraded: an instance whose memcached is down keeps issuing and
# accepting tickets with local keys, reports itself degraded, and rejoins the
# cluster when memcached comes (design.md "Degrade").  tickets = { rotate = 4;
# keep = 15; refresh = 1; } (epoch = floor(unix time / 4)), prefix "kr42:".
#
#   1. A starts while nothing listens on its memcached port: it serves;
#      /keyring says degraded with "local" keys for the current and the next
#      epoch; /healthz says "degraded: ..."; tessera_keyring_degraded is 1.
#      TLS 1.2 and TLS 1.3 tickets made on A resume on A.
#   2. memcached starts on that port: within a few refreshes A is no longer
#      degraded (/keyring, /healthz, the gauge), its current key is a
#      "cluster" one, the entries kr42:stek:<e> and <e+1> exist, and the
#      local keys it had were written back (the key of the degraded tickets
#      is now listed as a cluster key of its epoch).  The tickets made while
#      degraded still resume on A.
#   3. B starts: it agrees with A on the current key; a ticket made on A
#      after the recovery resumes on B, and so do the tickets made on A while
#      it was degraded (their key is in memcached now).
# subset: tsan
# shellcheck source=tests/integration/lib.sh disable=SC2034,SC2015,SC2016,SC2119,SC2153
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib-keyring.sh
. "$LIB_DIR/lib-keyring.sh"

ROTATE=4
PREFIX="kr42:"
BANNER_RE="220 backend ready"

# ---- helpers (see lib-keyring.sh for the shared ones) ----

# role_fp ADMIN ROLE SOURCE: "EPOCH:FINGERPRINT" of the key with ROLE from SOURCE.
role_fp() {
    local k
    k=$(keyring "$1") || return 1
    awk -v r="$2" -v s="$3" '$2 == r && $3 == s { print $1 ":" $4 }' <<<"$k"
}

# expect_reused PORT FILE TLSFLAG WHAT
expect_reused() {
    offer "$1" "$2" "$3"
    assert_eq "$R" Reused "$4"
}

entries_current_exist() {
    local e
    e=$(epoch)
    entries_exist "$e" $((e + 1))
}

# recovered ADMIN: not degraded by any of the three signs, and the current
# key is a cluster key.
recovered() {
    metric_is "$1" 0 tessera_keyring_degraded &&
        kr_has "$1" "^degraded false " &&
        kr_has "$1" "^[0-9]+ current cluster " &&
        healthz_matches "$1" '^ok$'
}

# ---- 1. A without memcached ----

make_certs
start_backend banner
BANNER=$BACKEND_PORT
MC_PORT=$(free_port) # nothing listens there yet
port_closed "$MC_PORT" || fail "port $MC_PORT is taken"
start_instance A
log "A started; memcached port $MC_PORT is closed"

WAIT_FOR_LIMIT=10 wait_for metric_is "$A_ADMIN" 1 tessera_keyring_degraded ||
    fail "tessera_keyring_degraded on A: $(m "$A_ADMIN" tessera_keyring_degraded)"
kr_has "$A_ADMIN" "^degraded true " || fail "/keyring of A: $(keyring "$A_ADMIN")"
WAIT_FOR_LIMIT=15 wait_for kr_has "$A_ADMIN" "^[0-9]+ next local " ||
    fail "A has no local key for the next epoch: $(keyring "$A_ADMIN")"
kr_has "$A_ADMIN" "^[0-9]+ current local " ||
    fail "A has no local key for the current epoch: $(keyring "$A_ADMIN")"
kr_has "$A_ADMIN" " cluster " &&
    fail "A holds cluster keys without memcached: $(keyring "$A_ADMIN")"
WAIT_FOR_LIMIT=15 wait_for healthz_matches "$A_ADMIN" '^degraded: ' ||
    fail "/healthz of A: $(healthz "$A_ADMIN")"
log "A degraded: /keyring local keys, /healthz '$(healthz "$A_ADMIN")'"

for v in 1_2 1_3; do
    new_session "$A_PORT" "deg$v.pem" "-tls$v"
    expect_reused "$A_PORT" "deg$v.pem" "-tls$v" "TLS ${v/_/.} ticket of degraded A offered to A"
done
DEG_FP=$(name_fingerprint "$(ticket_hex deg1_2.pem)")
DEG_EPOCH=$(key_epoch "$A_ADMIN" "$DEG_FP" local)
[ -n "$DEG_EPOCH" ] || fail "the degraded ticket's key $DEG_FP is not a local key of A: \
$(keyring "$A_ADMIN")"
assert_eq "$(m "$A_ADMIN" tessera_keyring_degraded)" 1 "tessera_keyring_degraded on A"
log "degraded A: TLS 1.2 and 1.3 tickets resume on A (key $DEG_FP of epoch $DEG_EPOCH)"

# ---- 2. memcached comes ----

start_memcached "$MC_PORT"
t0=$(now_ms)
WAIT_FOR_LIMIT=15 wait_for recovered "$A_ADMIN" ||
    fail "A did not recover: gauge $(m "$A_ADMIN" tessera_keyring_degraded), /healthz \
'$(healthz "$A_ADMIN")', /keyring: $(keyring "$A_ADMIN")"
log "A recovered $(($(now_ms) - t0)) ms after memcached started: current $(role_fp "$A_ADMIN" \
current cluster)"
WAIT_FOR_LIMIT=15 wait_for entries_current_exist ||
    fail "no entries for the current and next epochs in memcached: $(mc_tool keys "$MC_PORT")"
# The key of the degraded tickets was written back: it is a cluster key now
# and its entry exists (its epoch is in the window: keep = 15).
WAIT_FOR_LIMIT=15 wait_for kr_has "$A_ADMIN" "^$DEG_EPOCH [a-z-]+ cluster $DEG_FP\$" ||
    fail "A's local key $DEG_FP of epoch $DEG_EPOCH was not adopted as the cluster's: \
$(keyring "$A_ADMIN")"
entries_exist "$DEG_EPOCH" || fail "no entry for epoch $DEG_EPOCH in memcached"
log "the local key $DEG_FP of epoch $DEG_EPOCH was written back"
for v in 1_2 1_3; do
    expect_reused "$A_PORT" "deg$v.pem" "-tls$v" \
        "TLS ${v/_/.} ticket made on degraded A offered to A after the recovery"
done
log "tickets made while degraded still resume on A"

# ---- 3. B joins ----

start_instance B
# (any non-empty answer, the same on both)
wait_agree "the current key" . role_fp current cluster
WAIT_FOR_LIMIT=15 wait_for recovered "$B_ADMIN" || fail "B is degraded: $(keyring "$B_ADMIN")"
log "B agrees with A on the current key $(role_fp "$B_ADMIN" current cluster)"
for v in 1_2 1_3; do
    new_session "$A_PORT" "post$v.pem" "-tls$v"
    expect_reused "$B_PORT" "post$v.pem" "-tls$v" \
        "TLS ${v/_/.} ticket made on A after the recovery, offered to B"
    expect_reused "$B_PORT" "deg$v.pem" "-tls$v" \
        "TLS ${v/_/.} ticket made on A while degraded, offered to B"
done
log "tickets made on A after the recovery, and while degraded, resume on B"

for a in "$A_ADMIN" "$B_ADMIN"; do
    assert_eq "$(m "$a" tessera_keyring_rejected_total)" 0 "tessera_keyring_rejected_total on $a"
done
stop_instances A B
log "ok"
