#!/bin/bash
# 74-proxy-client-certs: the client-certificate verdict reaches the backend
# in the PROXY v2 SSL TLV, read back by Varnish (vmod_proxy), also for a
# resumed session, on this instance and on another through memcached.
# Two instances A and B (frontend "web", client_verify = "optional" with
# the test CA and CRL, proxy_protocol = "v2", sessions in memcached, tickets
# off) in front of one varnishd whose VCL echoes what it learnt:
#  - a full handshake with a good certificate (curl, TLS 1.2 and 1.3):
#    client_has_cert_conn and _sess true, verify 0, the CN;
#  - no certificate: both false;
#  - a session made on A with the certificate, resumed on B without one
#    (s_client -sess_out / -sess_in, TLS 1.2 session ID and TLS 1.3 stateful
#    ticket): Reused, client_has_cert_sess true, client_has_cert_conn false,
#    verify 0 and the CN, all from A's sealed entry.
# shellcheck source=tests/integration/lib.sh disable=SC2034,SC2119,SC2153
. "$(dirname "$0")/lib.sh"

make_certs
make_client_certs
CC=$CERTS/clients
start_varnish
start_memcached
MC=127.0.0.1:$MC_PORT

# start_instance VAR: frontend "web" in front of Varnish; sets VAR_PORT,
# VAR_ADMIN.
start_instance() {
    local var=$1 port
    port=$(free_port)
    cfg_reset
    cfg_frontend web "$port" "$VARNISH_PORT" "$(cert_entry ec)" '"http/1.1"' \
        "proxy_protocol = \"v2\"; client_verify = \"optional\"; client_ca = \"$CC/ca.pem\"; client_crl = \"$CC/crl.pem\";"
    cfg_admin
    CFG_SESSIONS='tickets = false;'
    cfg_memcached "$MC"
    write_config "$TEST_DIR/$var.conf"
    start_tessera "$TEST_DIR/$var.conf"
    printf -v "${var}_PORT" '%s' "$port"
    printf -v "${var}_ADMIN" '%s' "$ADMIN_PORT"
}
start_instance A
start_instance B
for a in "$A_ADMIN" "$B_ADMIN"; do
    wait_for metric_is "$a" 1 tessera_memcached_up server="$MC" ||
        fail "memcached is not up on admin port $a"
done


# curl_get PORT CURLARGS...: GET / through tessera; headers in $HDRS.
curl_get() {
    local port=$1
    shift
    SEQ=$((SEQ + 1))
    HDRS=$TEST_DIR/curl-$SEQ.hdrs
    curl -sS --max-time 20 -k -o /dev/null -D "$HDRS" \
        --resolve "www.example.test:$port:127.0.0.1" "https://www.example.test:$port/" "$@" \
        2>"$TEST_DIR/curl-$SEQ.err" ||
        fail "curl $* through port $port: $(cat "$TEST_DIR/curl-$SEQ.err")"
}

for tls in 1.2 1.3; do
    what="TLS $tls, good certificate"
    curl_get "$A_PORT" --tlsv$tls --tls-max $tls --cert "$CC/good.pem" --key "$CC/good.key"
    assert_eq "$(resp_header "$HDRS" x-is-ssl)" true "$what: SSL"
    assert_eq "$(resp_header "$HDRS" x-cert-conn)" true "$what: certificate on the connection"
    assert_eq "$(resp_header "$HDRS" x-cert-sess)" true "$what: certificate in the session"
    assert_eq "$(resp_header "$HDRS" x-verify)" 0 "$what: verify result"
    assert_eq "$(resp_header "$HDRS" x-cn)" good-client "$what: CN"
    what="TLS $tls, no certificate"
    curl_get "$A_PORT" --tlsv$tls --tls-max $tls
    assert_eq "$(resp_header "$HDRS" x-cert-conn)" false "$what: certificate on the connection"
    assert_eq "$(resp_header "$HDRS" x-cert-sess)" false "$what: certificate in the session"
    log "TLS $tls: the verdict of a full handshake reaches Varnish"
done

# http_sclient PORT ARGS...: one GET through s_client (the connection
# closes after it); output in $SCLIENT_OUT, HS = New or Reused.
http_sclient() {
    local port=$1
    shift
    SEQ=$((SEQ + 1))
    SCLIENT_OUT=$TEST_DIR/sclient-$SEQ.out
    printf 'GET / HTTP/1.1\r\nHost: www.example.test\r\nConnection: close\r\n\r\n' |
        timeout 20 openssl s_client -connect "127.0.0.1:$port" -servername www.example.test \
            -ign_eof "$@" >"$SCLIENT_OUT" 2>&1 ||
        fail "s_client $* on port $port: $(tail -n 20 "$SCLIENT_OUT")"
    HS=$(sed -n 's/^\(Reused\|New\), .*/\1/p' "$SCLIENT_OUT" | head -n 1)
}

stored() { m "$1" tessera_session_cache_ops_total op=set result=stored; }
for v in -tls1_2 -tls1_3; do
    s=$(stored "$A_ADMIN")
    rm -f "$TEST_DIR/sess.pem"
    http_sclient "$A_PORT" "$v" -cert "$CC/good.pem" -key "$CC/good.key" \
        -sess_out "$TEST_DIR/sess.pem"
    assert_eq "$HS" New "$v: first handshake on A"
    assert_eq "$(resp_header "$SCLIENT_OUT" x-cert-conn)" true "$v on A: certificate on the connection"
    wait_for metric_at_least "$A_ADMIN" $((s + 1)) tessera_session_cache_ops_total op=set \
        result=stored || fail "$v: A stored no session"
    http_sclient "$B_PORT" "$v" -sess_in "$TEST_DIR/sess.pem"
    assert_eq "$HS" Reused "$v: A's session on B"
    assert_eq "$(resp_header "$SCLIENT_OUT" x-cert-conn)" false "$v on B: certificate on the connection"
    assert_eq "$(resp_header "$SCLIENT_OUT" x-cert-sess)" true "$v on B: certificate in the session"
    assert_eq "$(resp_header "$SCLIENT_OUT" x-verify)" 0 "$v on B: verify result"
    assert_eq "$(resp_header "$SCLIENT_OUT" x-cn)" good-client "$v on B: CN"
    log "$v: B resumed A's session; Varnish sees the certificate of the session"
done
assert_eq "$(m "$B_ADMIN" tessera_client_certs_total result=ok)" 2 "B's ok count"
log "ok"
