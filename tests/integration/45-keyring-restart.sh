#!/bin/bash
# 45-keyring-restart: memcached restarted empty, with an instance restarted
# beside it (issue "the memcached layer", failure 8; design.md "Hold" and
# "Heal").  tickets = { rotate = 30; keep = 15; refresh = 2; }.
#
#   1. memcached and B restarted at the same moment: B (empty) may create
#      the epoch's keys before A heals memcached with the ones it holds.
#      Either way A keeps the keys it held: every ticket made before the
#      restart, on A or on B, still resumes on A; A and B then agree on the
#      current key, and new tickets cross both ways.
#   2. memcached restarted empty again, A restarted once the survivor (B)
#      has written its keys back: tickets made on A and on B before resume on
#      B and on the new A.
# subset: tsan
# shellcheck source=tests/integration/lib.sh disable=SC2034,SC2015,SC2016,SC2119,SC2153
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib-keyring.sh
. "$LIB_DIR/lib-keyring.sh"

ROTATE=30
PREFIX="kr45:"
BANNER_RE="220 backend ready"
export REFRESH=2

# tickets PREFIX: TLS 1.3 and 1.2 tickets made on A and on B, saved as
# PREFIX-a13.pem, PREFIX-a12.pem, PREFIX-b13.pem, PREFIX-b12.pem.
tickets() {
    local v
    for v in 1_3 1_2; do
        new_session "$A_PORT" "$1-a${v/_/}.pem" "-tls$v"
        new_session "$B_PORT" "$1-b${v/_/}.pem" "-tls$v"
    done
}

# all_resume PORT WHAT PREFIX: the four tickets PREFIX-*.pem resume on PORT.
all_resume() {
    local f v
    for f in "$3"-a13 "$3"-b13 "$3"-a12 "$3"-b12; do
        v=-tls1_3
        [[ "$f" == *12 ]] && v=-tls1_2
        offer "$1" "$f.pem" "$v"
        assert_eq "$R" Reused "$f ($v) offered to $2"
    done
}

# crosses: a new ticket made on A resumes on B, and one made on B on A.
crosses() {
    new_session "$A_PORT" x.pem -tls1_3
    offer "$B_PORT" x.pem -tls1_3
    [ "$R" = Reused ] || return 1
    new_session "$B_PORT" y.pem -tls1_3
    offer "$A_PORT" y.pem -tls1_3
    [ "$R" = Reused ]
}

# healed ADMIN: memcached holds an entry for every epoch whose cluster key
# the instance holds.
healed() {
    local e
    for e in $(keyring "$1" | awk '$3 == "cluster" { print $1 }'); do
        entries_exist "$e" || return 1
    done
}

make_certs
start_backend banner
BANNER=$BACKEND_PORT
start_memcached
MCP=$MC_PORT
start_instance A
start_instance B
WAIT_FOR_LIMIT=15 wait_for same_current || fail "A and B do not agree: A $(keyring "$A_ADMIN");" \
    "B $(keyring "$B_ADMIN")"
tickets pre
log "A and B share the key $(current_fp "$A_ADMIN"); 4 tickets made"

# ---- 1. memcached and B restarted together ----

stop_memcached "$MC_PID"
stop_instances B
start_memcached "$MCP"
start_instance B
all_resume "$A_PORT" "A just after the restart" pre
# "Within 6 s" (three refreshes) of the restart, plus 6 s for a busy
# machine: the wait's limit is the bound.
t0=$(now_ms)
WAIT_FOR_LIMIT=12 wait_for same_current ||
    fail "A and B do not agree after the restart: A $(keyring "$A_ADMIN"); B $(keyring "$B_ADMIN")"
WAIT_FOR_LIMIT=12 wait_for crosses || fail "new tickets do not cross between A and B"
log "1. A and B agree on $(current_fp "$A_ADMIN") and new tickets cross," \
    "$(($(now_ms) - t0)) ms after the restart"
# A refreshed since: whatever key won, A still holds the old ones.
all_resume "$A_PORT" "A once it agrees with the new B" pre
kill -0 "$A_PID" || fail "A died"
log "1. the 4 tickets made before the restart resume on A"

# ---- 2. memcached restarted empty, A restarted once B healed it ----

tickets mid
stop_memcached "$MC_PID"
start_memcached "$MCP"
WAIT_FOR_LIMIT=15 wait_for healed "$B_ADMIN" ||
    fail "B did not write its keys back: $(keyring "$B_ADMIN"); $(mc_tool keys "$MCP")"
log "2. B wrote its keys back to the empty memcached"
stop_instances A
start_instance A
WAIT_FOR_LIMIT=12 wait_for same_current ||
    fail "the new A does not agree with B: A $(keyring "$A_ADMIN"); B $(keyring "$B_ADMIN")"
all_resume "$B_PORT" "B (the survivor)" mid
all_resume "$A_PORT" "the new A" mid
WAIT_FOR_LIMIT=12 wait_for crosses || fail "new tickets do not cross between A and B"
log "2. the 4 tickets made before resume on B and on the new A; new ones cross"

for a in "$A_ADMIN" "$B_ADMIN"; do
    assert_eq "$(m "$a" tessera_keyring_rejected_total)" 0 "tessera_keyring_rejected_total on $a"
done
stop_instances A B
log "ok"
