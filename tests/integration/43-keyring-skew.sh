#!/bin/bash
# 43-keyring-skew: clocks that differ by half an epoch never produce a
# ticket another instance cannot read (design.md "Encrypt": the key of e+1
# is known a whole epoch before anyone encrypts with it).  tickets = {
# rotate = 10; keep = 15; refresh = 1; }: epoch = floor(unix time / 10), so
# half an epoch is 5 s.
#
# A runs on the real clock; B runs under libfaketime with FAKETIME="+5s",
# then (restarted) with "-5s".  For each offset: B's /keyring epoch is seen
# ahead of (behind) the real one at least once, and for three epoch
# boundaries, TLS 1.3 and TLS 1.2 tickets made on A resume on B and tickets
# made on B resume on A, every time, and resume-chains alternating A/B
# resume every connection.
#
# The telling resumptions are the ones where the ticket was issued by the
# instance whose clock runs ahead while the clocks were in different epochs,
# and resumed by the other while they were in different epochs too (the
# same stretch or a later one).  Each round first waits for such a stretch
# (at most an epoch) and counts itself only if the clocks differed around
# the issuing handshake and around the resuming one: on a busy machine a
# handshake can outlast the 5 s stretch, and then it proves nothing either
# way, but it must still resume.
# timeout: 300
#
# Release build only: under a sanitizer runtime LD_PRELOADing libfaketime is
# not sound, so the test skips itself (exit 0) when TESSERA_BIN links
# libasan or libtsan.  Not in the TSan subset.
# shellcheck source=tests/integration/lib.sh disable=SC2034,SC2015,SC2016,SC2119,SC2153
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib-keyring.sh
. "$LIB_DIR/lib-keyring.sh"

ROTATE=10
PREFIX="kr43:"
EPOCHS=3
CHAIN=10
BANNER_RE="220 backend ready"
FAKETIME_LIB=${FAKETIME_LIB:-/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1}

if ldd "$TESSERA_BIN" 2>/dev/null | grep -Eq 'lib(asan|tsan)'; then
    log "skipped: $TESSERA_BIN is a sanitizer build (libfaketime needs the release build)"
    exit 0
fi
[ -f "$FAKETIME_LIB" ] || fail "libfaketime not found at $FAKETIME_LIB (apt-get install faketime)"

# ---- helpers (see lib-keyring.sh for the shared ones) ----

# kr_epoch ADMIN: the epoch the instance is in, from /keyring (curl and sed
# only: this runs twice per handshake, and must be quick on a busy machine).
kr_epoch() {
    curl -sS --max-time 10 "http://127.0.0.1:$1/keyring" |
        sed -n 's/^{"degraded": [a-z]*, "epoch": \([0-9]*\),.*/\1/p'
}

# b_off DIR: B's /keyring epoch is strictly ahead of (DIR = +1) or behind
# (DIR = -1) the real epoch, read before and after the query.
b_off() {
    local before after b
    before=$(epoch)
    b=$(kr_epoch "$B_ADMIN") || return 1
    after=$(epoch)
    B_SEEN="B's epoch $b, real $before..$after"
    if [ "$1" -gt 0 ]; then
        [ "$b" -gt "$after" ]
    else
        [ "$b" -lt "$before" ]
    fi
}

# cross TLSFLAG FROM_PORT TO_PORT WHAT...: a ticket made on FROM resumes on TO.
cross() {
    local v=$1 from=$2 to=$3
    shift 3
    new_session "$from" cross.pem "$v"
    offer "$to" cross.pem "$v"
    [ "$R" = Reused ] || fail "$* ($v, real epoch $(epoch), B's $(kr_epoch "$B_ADMIN")): $R"
}

# ---- the cluster ----

make_certs
start_backend banner
BANNER=$BACKEND_PORT
start_memcached
start_instance A

for off in +5s -5s; do
    start_instance B "$off"
    if [ "$off" = +5s ]; then
        dir=1 AHEAD=$B_PORT AHEAD_NAME=B BEHIND=$A_PORT BEHIND_NAME=A
    else
        dir=-1 AHEAD=$A_PORT AHEAD_NAME=A BEHIND=$B_PORT BEHIND_NAME=B
    fi
    # libfaketime really moves B's clock: B's epoch leads (lags) at times.
    WAIT_FOR_LIMIT=$((ROTATE + 2)) wait_for b_off "$dir" ||
        fail "B under FAKETIME=$off never showed an epoch $([ $dir -gt 0 ] && echo ahead of ||
            echo behind) the real one (B: $(kr_epoch "$B_ADMIN"), real: $(epoch))"
    log "FAKETIME=$off: B's clock is off: $B_SEEN"

    start=$(epoch)
    end=$((start + EPOCHS))
    rounds=0
    seen_off=0
    a_res0=$(m "$A_ADMIN" tessera_handshakes_total type=resumed_ticket)
    b_res0=$(m "$B_ADMIN" tessera_handshakes_total type=resumed_ticket)
    b_unk0=$(m "$B_ADMIN" tessera_tickets_total op=unknown_key)
    a_unk0=$(m "$A_ADMIN" tessera_tickets_total op=unknown_key)
    chains=0
    while ! epoch_at_least "$end"; do
        # The telling direction: from the instance whose clock runs ahead
        # (its epoch's key is the other's next) to the other.  Count the
        # rounds where the clocks were in different epochs throughout.
        WAIT_FOR_LIMIT=$((ROTATE + 2)) wait_for b_off "$dir"
        for v in -tls1_3 -tls1_2; do
            told=0
            b_off "$dir" && told=1
            new_session "$AHEAD" cross.pem "$v"
            b_off "$dir" || told=0
            b_off "$dir" || told=0
            offer "$BEHIND" cross.pem "$v"
            b_off "$dir" || told=0
            [ "$R" = Reused ] || fail "ticket made on $AHEAD_NAME offered to $BEHIND_NAME" \
                "(FAKETIME=$off, $v, real epoch $(epoch), B's $(kr_epoch "$B_ADMIN")): $R"
            seen_off=$((seen_off + told))
        done
        for v in -tls1_3 -tls1_2; do
            cross "$v" "$BEHIND" "$AHEAD" "ticket made on $BEHIND_NAME offered to $AHEAD_NAME" \
                "(FAKETIME=$off)"
        done
        tv=1.3
        [ $((rounds % 2)) -eq 1 ] && tv=1.2
        tclient resume-chain --port "$A_PORT" --alt-port "$B_PORT" --tls "$tv" --mode ticket \
            --count "$CHAIN" >/dev/null ||
            fail "TLS $tv resume-chain alternating A/B (FAKETIME=$off, real epoch $(epoch))"
        chains=$((chains + 1))
        rounds=$((rounds + 1))
    done
    a_res1=$(m "$A_ADMIN" tessera_handshakes_total type=resumed_ticket)
    b_res1=$(m "$B_ADMIN" tessera_handshakes_total type=resumed_ticket)
    # Per round: 2 cross resumptions on each side (s_client), and a chain
    # of CHAIN resumptions, CHAIN/2 on each side.
    assert_eq $((a_res1 - a_res0 + b_res1 - b_res0)) $((rounds * (4 + CHAIN))) \
        "resumed_ticket handshakes on A and B (FAKETIME=$off)"
    assert_eq $(($(m "$A_ADMIN" tessera_tickets_total op=unknown_key) - a_unk0)) 0 \
        "A: tickets{unknown_key} (FAKETIME=$off)"
    assert_eq $(($(m "$B_ADMIN" tessera_tickets_total op=unknown_key) - b_unk0)) 0 \
        "B: tickets{unknown_key} (FAKETIME=$off)"
    [ "$seen_off" -ge 1 ] ||
        fail "FAKETIME=$off: no $AHEAD_NAME -> $BEHIND_NAME resumption had A and B in" \
            "different epochs around both its handshakes"
    log "FAKETIME=$off: epochs $start..$end, $rounds rounds ($seen_off $AHEAD_NAME ->" \
        "$BEHIND_NAME resumptions with A and B in different epochs around both handshakes):" \
        "$((rounds * 4)) cross s_client resumptions and $chains chains of $CHAIN, all resumed"

    TESSERA_PID=$B_PID
    stop_tessera || fail "tessera B (FAKETIME=$off) exited with $?"
done

TESSERA_PID=$A_PID
stop_tessera || fail "tessera A exited with $?"
log "ok"
