#!/bin/bash
# 72-proxy-varnish: the PROXY protocol to the backend, read back by Varnish
# (Debian's varnishd, a PROXY listener, vmod_proxy).  A VCL echoes what
# Varnish learnt into response headers; curl, from its own loopback address
# 127.0.0.7, checks them through tessera:
#   v2  the client's address, ALPN, SNI (AUTHORITY), and the SSL TLV (TLS,
#       version, cipher, the server certificate's signature and key) for
#       TLS 1.2 and 1.3, over h2 and http/1.1;
#   v1  the client's address (the text line carries nothing else).
# shellcheck source=tests/integration/lib.sh disable=SC2034
. "$(dirname "$0")/lib.sh"

make_certs
start_varnish

P2=$(free_port)
P1=$(free_port)
cfg_frontend v2 "$P2" "$VARNISH_PORT" "$(cert_entry rsa)" '"h2", "http/1.1"' \
    'proxy_protocol = "v2";'
cfg_frontend v1 "$P1" "$VARNISH_PORT" "$(cert_entry ec)" '"http/1.1"' 'proxy_protocol = "v1";'
write_config "$TEST_DIR/tessera.conf"
start_tessera "$TEST_DIR/tessera.conf"

# get PORT CURLARGS...: GET / through tessera from 127.0.0.7, with SNI
# www.example.test; response headers in $HDRS.
get() {
    local port=$1
    shift
    SEQ=$((SEQ + 1))
    HDRS=$TEST_DIR/curl-$SEQ.hdrs
    curl -sS --max-time 20 -k -o /dev/null -D "$HDRS" --interface 127.0.0.7 \
        --resolve "www.example.test:$port:127.0.0.1" "https://www.example.test:$port/" "$@" \
        2>"$TEST_DIR/curl-$SEQ.err" ||
        fail "curl $* through port $port: $(cat "$TEST_DIR/curl-$SEQ.err")"
}

# hdr NAME: the value of response header NAME (case-insensitive).
hdr() {
    resp_header "$HDRS" "$1"
}

for tls in 1.2 1.3; do
    for http in http1.1 http2; do
        what="v2, TLS $tls, $http"
        get "$P2" --tlsv$tls --tls-max $tls --$http
        assert_eq "$(hdr x-client-ip)" 127.0.0.7 "$what: client address"
        if [ $http = http2 ]; then
            assert_eq "$(hdr x-alpn)" h2 "$what: ALPN"
            assert_eq "$(hdr x-proto)" HTTP/2.0 "$what: protocol Varnish spoke"
        else
            assert_eq "$(hdr x-alpn)" http/1.1 "$what: ALPN"
        fi
        assert_eq "$(hdr x-authority)" www.example.test "$what: AUTHORITY (SNI)"
        assert_eq "$(hdr x-is-ssl)" true "$what: SSL flag"
        assert_eq "$(hdr x-ssl-version)" "TLSv$tls" "$what: version"
        cipher=$(hdr x-ssl-cipher)
        if [ $tls = 1.3 ]; then
            assert_contains "$cipher" TLS_ "$what: cipher"
        else
            assert_contains "$cipher" ECDHE-RSA- "$what: cipher"
        fi
        # The RSA leaf is signed by the test's ECDSA CA.
        assert_eq "$(hdr x-cert-sign)" ecdsa-with-SHA256 "$what: certificate signature"
        assert_eq "$(hdr x-cert-key)" RSA2048 "$what: certificate key"
        assert_eq "$(hdr x-cert-conn)" false "$what: no client certificate (connection)"
        assert_eq "$(hdr x-cert-sess)" false "$what: no client certificate (session)"
    done
done

# No SNI: no AUTHORITY TLV.
SEQ=$((SEQ + 1))
HDRS=$TEST_DIR/curl-$SEQ.hdrs
curl -sS --max-time 20 -k -o /dev/null -D "$HDRS" --interface 127.0.0.7 \
    "https://127.0.0.1:$P2/" || fail "curl without SNI failed"
assert_eq "$(hdr x-authority)" "" "v2 without SNI: AUTHORITY"
assert_eq "$(hdr x-client-ip)" 127.0.0.7 "v2 without SNI: client address"

for tls in 1.2 1.3; do
    get "$P1" --tlsv$tls --tls-max $tls
    assert_eq "$(hdr x-client-ip)" 127.0.0.7 "v1, TLS $tls: client address"
    assert_eq "$(hdr x-is-ssl)" false "v1, TLS $tls: the line carries no TLVs"
done

tessera_running || fail "tessera died"
stop_tessera || fail "tessera exited with $? after SIGTERM"
