#!/bin/bash
# 10-resume: session resumption on one instance with 2 workers (the
# reconnection lands on any worker): TLS 1.2 session IDs, TLS 1.2 tickets,
# TLS 1.3 tickets (every resumption hands out the next ticket), TLS 1.3
# stateful (sessions.tickets = false); s_client -sess_out/-sess_in;
# a session never resumes on another frontend.
# subset: tsan
# shellcheck source=tests/integration/lib.sh disable=SC2034
. "$(dirname "$0")/lib.sh"

CFG_WORKERS=2
make_certs
start_backend banner
BANNER=$BACKEND_PORT

# resume_sclient PORT TLSFLAG [ARGS...]: -sess_out then -sess_in -> Reused.
resume_sclient() {
    local port=$1 v=$2
    shift 2
    rm -f sess.pem
    sclient_exchange "" "220 backend ready" "$port" $v -sess_out sess.pem "$@" ||
        fail "s_client $v -sess_out: $(tail -n 20 "$SCLIENT_OUT")"
    assert_contains "$SCLIENT_OUT" "^New, "
    [ -s sess.pem ] || fail "s_client $v wrote no session"
    sclient_exchange "" "220 backend ready" "$port" $v -sess_in sess.pem "$@" ||
        fail "s_client $v -sess_in: $(tail -n 20 "$SCLIENT_OUT")"
    assert_contains "$SCLIENT_OUT" "^Reused, "
    log "s_client $v $*: Reused"
}

# --- tickets on (the default) ---
P=$(free_port)
P2=$(free_port)
cfg_frontend one "$P" "$BANNER" "$(cert_entry ec)"
cfg_frontend two "$P2" "$BANNER" "$(cert_entry ec)"
write_config "$TEST_DIR/tickets.conf"
start_tessera "$TEST_DIR/tickets.conf"

tclient resume-chain --port "$P" --tls 1.2 --mode id --count 30 ||
    fail "TLS 1.2 session-ID resumption"
tclient resume-chain --port "$P" --tls 1.2 --mode ticket --count 30 ||
    fail "TLS 1.2 ticket resumption"
tclient resume-chain --port "$P" --tls 1.3 --mode ticket --count 30 ||
    fail "TLS 1.3 ticket resumption"
resume_sclient "$P" -tls1_2
resume_sclient "$P" -tls1_2 -no_ticket
resume_sclient "$P" -tls1_3

# A session from frontend "one" does not resume on frontend "two"
# (same certificate, different name: CVE-2014-3616).
for v in "-tls1_2" "-tls1_2 -no_ticket" "-tls1_3"; do
    rm -f sess.pem
    sclient_exchange "" "220 backend ready" "$P" $v -sess_out sess.pem ||
        fail "s_client $v -sess_out: $(tail -n 20 "$SCLIENT_OUT")"
    sclient_exchange "" "220 backend ready" "$P2" $v -sess_in sess.pem ||
        fail "s_client $v -sess_in on the other frontend: $(tail -n 20 "$SCLIENT_OUT")"
    assert_contains "$SCLIENT_OUT" "^New, "
    log "$v: a session of frontend one is not resumed on frontend two"
done
stop_tessera || fail "tessera exited with $?"

# --- tickets off: TLS 1.2 session IDs, TLS 1.3 stateful tickets ---
cfg_reset
P=$(free_port)
cfg_frontend one "$P" "$BANNER" "$(cert_entry ec)"
CFG_SESSIONS='tickets = false;'
write_config "$TEST_DIR/stateful.conf"
start_tessera "$TEST_DIR/stateful.conf"

tclient resume-chain --port "$P" --tls 1.3 --mode ticket --count 30 ||
    fail "TLS 1.3 stateful resumption"
tclient resume-chain --port "$P" --tls 1.2 --mode id --count 30 ||
    fail "TLS 1.2 session-ID resumption with tickets off"
# A TLS 1.2 client that offers tickets gets none, but resumes by session ID.
resume_sclient "$P" -tls1_2
assert_not_contains "$SCLIENT_OUT" "TLS session ticket:"
resume_sclient "$P" -tls1_3
stop_tessera || fail "tessera exited with $?"
log "ok"
