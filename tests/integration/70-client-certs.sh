#!/bin/bash
# 70-client-certs: client certificates (client_verify, client_ca,
# client_crl).
#  - required / optional / none x good / another CA's / expired / revoked /
#    no certificate, TLS 1.2 and TLS 1.3: the handshake and a round trip
#    through the echo backend succeed or fail as they must, and
#    tessera_client_certs_total{result=ok|none|failed} moves by exactly that;
#  - resumption keeps the verdict: a session made with a good certificate
#    resumes without one (TLS 1.2 session ID and ticket, TLS 1.3 ticket) and
#    counts "ok", and the log shows the subject taken from the session;
#  - a session never crosses a change of client verification on the same
#    frontend name and certificate (a reload changes only client_verify or
#    client_ca): none -> required, optional -> required, CA -> other CA
#    bundle; a reload with a broken CA file fails with FILE:LINE and the
#    running generation serves on; a reload that drops the CRL lets the
#    revoked certificate in;
#  - 16 concurrent handshakes (good and revoked) verify through the store
#    the workers share (the reason it is in the TSan subset);
#  - through memcached (tickets off): a session made on instance A with a
#    good certificate resumes on B without one and counts "ok" there; a
#    session made on C (same name, certificate and secret, no client
#    verification) does not resume on A.
# subset: tsan
# shellcheck source=tests/integration/lib.sh disable=SC2034,SC2119,SC2153
. "$(dirname "$0")/lib.sh"

make_certs
make_client_certs
CC=$CERTS/clients
start_backend echo
ECHO=$BACKEND_PORT

# cfg_client KEYS: add the libconfig settings KEYS to the frontend that
# cfg_frontend added last.
cfg_client() {
    local i=$((${#CFG_FRONTENDS[@]} - 1))
    CFG_FRONTENDS[i]="${CFG_FRONTENDS[i]%\}}  $1
  }"
}

# The s_client options that present each client certificate.
GOOD=(-cert "$CC/good.pem" -key "$CC/good.key")
STRANGER=(-cert "$CC/stranger.pem" -key "$CC/stranger.key")
EXPIRED=(-cert "$CC/expired.pem" -key "$CC/expired.key")
REVOKED=(-cert "$CC/revoked.pem" -key "$CC/revoked.key")

# attempt PORT ARGS...: s_client to PORT sends a line and waits until the
# echo comes back or s_client ends (a refused handshake ends it).  Sets ECHOED
# (1 or 0) and HS (New, Reused or empty); output in $SCLIENT_OUT.
attempt() {
    local port=$1 fd pid tag fifo
    shift
    SEQ=$((SEQ + 1))
    SCLIENT_OUT=$TEST_DIR/sclient-$SEQ.out
    fifo=$TEST_DIR/sclient-$SEQ.in
    tag="echo-$$-$SEQ"
    mkfifo "$fifo"
    echo "openssl s_client -connect 127.0.0.1:$port $*" >"$SCLIENT_OUT"
    timeout 30 openssl s_client -connect "127.0.0.1:$port" "$@" <"$fifo" >>"$SCLIENT_OUT" 2>&1 &
    pid=$!
    exec {fd}>"$fifo"
    printf '%s\n' "$tag" >&"$fd"
    wait_for echoed_or_gone "$pid" "$tag" || fail "s_client $* on $port: no echo, still running"
    exec {fd}>&-
    wait "$pid"
    rm -f "$fifo"
    if tail -n +2 "$SCLIENT_OUT" | grep -q -- "$tag"; then ECHOED=1; else ECHOED=0; fi
    HS=$(sed -n 's/^\(Reused\|New\), .*/\1/p' "$SCLIENT_OUT" | head -n 1)
}

echoed_or_gone() {
    tail -n +2 "$SCLIENT_OUT" | grep -q -- "$2" || ! kill -0 "$1" 2>/dev/null
}

# expect PORT pass|refuse ARGS...: one attempt with the outcome it must have.
expect() {
    local port=$1 want=$2
    shift 2
    attempt "$port" "$@"
    case "$want" in
    pass) [ "$ECHOED" = 1 ] || fail "port $port, $*: refused, expected to pass:
$(tail -n 8 "$SCLIENT_OUT")" ;;
    refuse) [ "$ECHOED" = 0 ] || fail "port $port, $*: passed, expected to be refused" ;;
    esac
}

# certs ADMIN FRONTEND: "ok none failed" of tessera_client_certs_total.
certs() {
    echo "$(m "$1" tessera_client_certs_total frontend="$2" result=ok)" \
        "$(m "$1" tessera_client_certs_total frontend="$2" result=none)" \
        "$(m "$1" tessera_client_certs_total frontend="$2" result=failed)"
}

# certs_are ADMIN FRONTEND "OK NONE FAILED": for wait_for.
certs_are() {
    [ "$(certs "$1" "$2")" = "$3" ]
}

# expect_certs ADMIN FRONTEND "OK NONE FAILED" WHAT
expect_certs() {
    wait_for certs_are "$1" "$2" "$3" ||
        fail "$4: tessera_client_certs_total{frontend=$2} ok/none/failed is $(certs "$1" "$2"), expected $3"
}

VERIFY_REQ="client_verify = \"required\"; client_ca = \"$CC/ca.pem\"; client_crl = \"$CC/crl.pem\";"
VERIFY_OPT="client_verify = \"optional\"; client_ca = \"$CC/ca.pem\"; client_crl = \"$CC/crl.pem\";"

# --- the matrix ---
PR=$(free_port)
PO=$(free_port)
PN=$(free_port)
cfg_frontend req "$PR" "$ECHO" "$(cert_entry ec)"
cfg_client "$VERIFY_REQ"
cfg_frontend opt "$PO" "$ECHO" "$(cert_entry ec)"
cfg_client "$VERIFY_OPT"
cfg_frontend none "$PN" "$ECHO" "$(cert_entry ec)"
cfg_admin
write_config "$TEST_DIR/matrix.conf"
"$TESSERA_BIN" -t -c "$TEST_DIR/matrix.conf" >"$TEST_DIR/check.out" 2>&1 ||
    fail "tessera -t: $(cat "$TEST_DIR/check.out")"
start_tessera "$TEST_DIR/matrix.conf"
A=$ADMIN_PORT

for v in -tls1_2 -tls1_3; do
    {
        expect "$PR" pass "$v" "${GOOD[@]}"
        expect "$PR" refuse "$v" "${STRANGER[@]}"
        expect "$PR" refuse "$v" "${EXPIRED[@]}"
        expect "$PR" refuse "$v" "${REVOKED[@]}"
        expect "$PR" refuse "$v"
        expect "$PO" pass "$v" "${GOOD[@]}"
        expect "$PO" refuse "$v" "${STRANGER[@]}"
        expect "$PO" refuse "$v" "${EXPIRED[@]}"
        expect "$PO" refuse "$v" "${REVOKED[@]}"
        expect "$PO" pass "$v"
        expect "$PN" pass "$v" "${GOOD[@]}"
        expect "$PN" pass "$v" "${STRANGER[@]}"
        expect "$PN" pass "$v" "${EXPIRED[@]}"
        expect "$PN" pass "$v" "${REVOKED[@]}"
        expect "$PN" pass "$v"
    }
    log "$v: the matrix holds"
done
expect_certs "$A" req "2 0 8" "matrix"
expect_certs "$A" opt "2 2 6" "matrix"
expect_certs "$A" none "0 0 0" "matrix"
# The reasons, as the log words them (debug level).
assert_contains "$TESSERA_LOG" "handshake failed: .*certificate verify failed"
assert_contains "$TESSERA_LOG" "handshake failed: .*peer did not return a certificate"
assert_contains "$TESSERA_LOG" 'client certificate: sent on this connection, verify 0, CN "good-client"'
# The CertificateRequest names the client CA.
attempt "$PR" -tls1_3 "${GOOD[@]}"
assert_contains "$SCLIENT_OUT" "Acceptable client certificate CA names"
assert_contains "$SCLIENT_OUT" "CN ?= ?Tessera Client CA"
expect_certs "$A" req "3 0 8" "CA names"
# /stats carries the same counters.
curl -sS --max-time 10 "http://127.0.0.1:$A/stats" >"$TEST_DIR/stats.json" || fail "GET /stats"
python3 - "$TEST_DIR/stats.json" <<'PYEOF' || fail "/stats: $(head -c 600 "$TEST_DIR/stats.json")"
import json, sys
s = json.load(open(sys.argv[1]))
got = s["frontends"]["req"]["client_certs_total"]
assert got == {"ok": 3, "none": 0, "failed": 8}, got
assert s["frontends"]["opt"]["client_certs_total"] == {"ok": 2, "none": 2, "failed": 6}
PYEOF

# --- resumption keeps the verdict ---
n=3
for v in "-tls1_2" "-tls1_2 -no_ticket" "-tls1_3"; do
    rm -f "$TEST_DIR/sess.pem"
    # shellcheck disable=SC2086
    expect "$PR" pass $v "${GOOD[@]}" -sess_out "$TEST_DIR/sess.pem"
    assert_eq "$HS" New "$v: first handshake"
    # shellcheck disable=SC2086
    expect "$PR" pass $v -sess_in "$TEST_DIR/sess.pem"
    assert_eq "$HS" Reused "$v: resumed without presenting the certificate again"
    n=$((n + 2))
    expect_certs "$A" req "$n 0 8" "$v resumption"
    log "$v: resumed without a certificate, counted ok"
done
assert_contains "$TESSERA_LOG" \
    'client certificate: from the session resumed, verify 0, CN "good-client"'

# --- many at once: the workers verify through one shared store ---
# burst_one ID CERT: a TLS 1.3 round trip presenting CERT; its stdin stays
# open until the echo or a refusal shows.  Writes pass or refuse to
# burst-ID.result.
burst_one() {
    local out=$TEST_DIR/burst-$1.out tag="burst-$$-$1"
    # shellcheck disable=SC2094 # reading s_client's output is how stdin knows to end
    { printf '%s\n' "$tag"; wait_for grep -Eq -- "$tag|alert|:error:" "$out"; } |
        timeout 30 openssl s_client -connect "127.0.0.1:$PR" -tls1_3 -cert "$CC/$2.pem" \
            -key "$CC/$2.key" >"$out" 2>&1
    if grep -q -- "$tag" "$out"; then echo pass; else echo refuse; fi >"$TEST_DIR/burst-$1.result"
}
pids=()
for i in $(seq 1 8); do
    burst_one "good-$i" good &
    pids+=($!)
    burst_one "revoked-$i" revoked &
    pids+=($!)
done
wait "${pids[@]}"
for i in $(seq 1 8); do
    assert_eq "$(cat "$TEST_DIR/burst-good-$i.result")" pass "concurrent good certificate $i"
    assert_eq "$(cat "$TEST_DIR/burst-revoked-$i.result")" refuse "concurrent revoked certificate $i"
done
expect_certs "$A" req "$((n + 8)) 0 16" "16 concurrent handshakes"
log "16 concurrent handshakes: 8 verified, 8 revoked"
stop_tessera || fail "tessera exited with $?"

# --- reloads: a session never crosses a change of client verification ---
cfg_reset
P=$(free_port)
# conf_web KEYS: frontend "web" on P with client settings KEYS, to web.conf.
conf_web() {
    CFG_FRONTENDS=()
    TESSERA_PORTS=()
    cfg_frontend web "$P" "$ECHO" "$(cert_entry ec)"
    [ -n "$1" ] && cfg_client "$1"
    write_config "$TEST_DIR/web.conf"
}
cfg_admin
conf_web ""
start_tessera "$TEST_DIR/web.conf"
A=$ADMIN_PORT
generation() { m "$A" tessera_config_generation; }
reload_to() {
    kill -HUP "$TESSERA_PID"
    wait_for metric_is "$A" "$1" tessera_config_generation ||
        fail "generation $1 not reached: $(grep -E 'reload' "$TESSERA_LOG" | tail -n 5)"
}
VARIANTS=("-tls1_2" "-tls1_2 -no_ticket" "-tls1_3")
# save_sessions [ARGS...]: one session per variant, sess-0.pem .. sess-2.pem.
save_sessions() {
    local i
    for i in "${!VARIANTS[@]}"; do
        rm -f "$TEST_DIR/sess-$i.pem"
        # shellcheck disable=SC2086
        expect "$P" pass ${VARIANTS[i]} "$@" -sess_out "$TEST_DIR/sess-$i.pem"
    done
}
# offer_sessions pass|refuse WANT_HS [ARGS...]: offer each saved session.
offer_sessions() {
    local want=$1 hs=$2 i
    shift 2
    for i in "${!VARIANTS[@]}"; do
        # shellcheck disable=SC2086
        expect "$P" "$want" ${VARIANTS[i]} "$@" -sess_in "$TEST_DIR/sess-$i.pem"
        if [ -n "$hs" ]; then
            assert_eq "$HS" "$hs" "${VARIANTS[i]}: session offered"
        else
            [ "$HS" != Reused ] || fail "${VARIANTS[i]}: the session resumed"
        fi
    done
}

save_sessions # client_verify none
conf_web "$VERIFY_REQ"
reload_to 2
offer_sessions refuse ""                  # no certificate: not resumed, refused
offer_sessions pass New "${GOOD[@]}"    # a full handshake
log "none -> required: sessions made without client certificates do not resume"

conf_web "$VERIFY_OPT"
reload_to 3
save_sessions # optional, no certificate
offer_sessions pass Reused                # same generation: they do resume
conf_web "$VERIFY_REQ"
reload_to 4
offer_sessions refuse ""
log "optional -> required: sessions made without a certificate do not resume"

save_sessions "${GOOD[@]}"              # required, good certificate
offer_sessions pass Reused
conf_web "client_verify = \"required\"; client_ca = \"$CC/both-ca.pem\";"
reload_to 5
offer_sessions refuse ""
expect "$P" pass -tls1_3 "${STRANGER[@]}" # the other CA is trusted now
log "another CA file: sessions made under the old one do not resume"

# A broken CA file: the reload fails with FILE:LINE, generation 5 serves on.
before=$(m "$A" tessera_reloads_total result=failed)
conf_web "client_verify = \"required\"; client_ca = \"$CERTS/ec.key\";"
kill -HUP "$TESSERA_PID"
wait_for metric_is "$A" $((before + 1)) tessera_reloads_total result=failed ||
    fail "a reload with a broken client_ca did not fail"
assert_eq "$(generation)" 5 "generation after the failed reload"
assert_contains "$TESSERA_LOG" \
    "reload failed, generation 5 serves on: $TEST_DIR/web.conf:[0-9]+: 'frontends\[0\].client_ca': .*ec.key' contains no PEM certificate"
expect "$P" pass -tls1_2 "${STRANGER[@]}"
log "a broken client_ca fails the reload with FILE:LINE"

# Dropping the CRL (reload) lets the revoked certificate in; putting it back
# keeps it out.
conf_web "client_verify = \"required\"; client_ca = \"$CC/ca.pem\";"
reload_to 6
expect "$P" pass -tls1_2 "${REVOKED[@]}"
conf_web "$VERIFY_REQ"
reload_to 7
expect "$P" refuse -tls1_2 "${REVOKED[@]}"
log "the CRL follows reloads"
stop_tessera || fail "tessera exited with $?"

# --- memcached: two instances with client certificates, one without ---
start_memcached
MC=127.0.0.1:$MC_PORT
# start_cc VAR KEYS: instance VAR (frontend "web", tickets off, memcached).
start_cc() {
    local var=$1 port
    port=$(free_port)
    cfg_reset
    cfg_frontend web "$port" "$ECHO" "$(cert_entry ec)"
    [ -n "$2" ] && cfg_client "$2"
    cfg_admin
    CFG_SESSIONS='tickets = false;'
    cfg_memcached "$MC"
    write_config "$TEST_DIR/$var.conf"
    start_tessera "$TEST_DIR/$var.conf"
    printf -v "${var}_PORT" '%s' "$port"
    printf -v "${var}_ADMIN" '%s' "$ADMIN_PORT"
    printf -v "${var}_LOG" '%s' "$TESSERA_LOG"
}
start_cc A "$VERIFY_REQ"
start_cc B "$VERIFY_REQ"
start_cc C ""
for a in "$A_ADMIN" "$B_ADMIN" "$C_ADMIN"; do
    wait_for metric_is "$a" 1 tessera_memcached_up server="$MC" ||
        fail "memcached is not up on admin port $a"
done

stored() { m "$1" tessera_session_cache_ops_total op=set result=stored; }
b_ok=0
for v in "-tls1_2" "-tls1_3"; do
    s=$(stored "$A_ADMIN")
    rm -f "$TEST_DIR/mc.pem"
    # shellcheck disable=SC2086
    expect "$A_PORT" pass $v "${GOOD[@]}" -sess_out "$TEST_DIR/mc.pem"
    wait_for metric_at_least "$A_ADMIN" $((s + 1)) tessera_session_cache_ops_total op=set \
        result=stored || fail "$v: A stored no session"
    # shellcheck disable=SC2086
    expect "$B_PORT" pass $v -sess_in "$TEST_DIR/mc.pem"
    assert_eq "$HS" Reused "$v: A's session on B, without a certificate"
    b_ok=$((b_ok + 1))
    expect_certs "$B_ADMIN" web "$b_ok 0 0" "$v: B resumed A's session"
    log "$v: A's client-certificate session resumes on B, counted ok"
done
# B never saw the certificate: what it logs came out of A's sealed entry.
assert_contains "$B_LOG" 'client certificate: from the session resumed, verify 0, CN "good-client"'
assert_not_contains "$B_LOG" 'client certificate: sent on this connection'

for v in "-tls1_2" "-tls1_3"; do
    s=$(stored "$C_ADMIN")
    rm -f "$TEST_DIR/mc.pem"
    # shellcheck disable=SC2086
    expect "$C_PORT" pass $v -sess_out "$TEST_DIR/mc.pem"
    wait_for metric_at_least "$C_ADMIN" $((s + 1)) tessera_session_cache_ops_total op=set \
        result=stored || fail "$v: C stored no session"
    # shellcheck disable=SC2086
    expect "$A_PORT" refuse $v -sess_in "$TEST_DIR/mc.pem"
    [ "$HS" != Reused ] || fail "$v: C's session resumed on A"
    log "$v: a session from C (no client verification) does not resume on A"
done
log "ok"
