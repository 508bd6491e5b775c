#!/bin/bash
# 03-sni: certificate selection by SNI: exact name, wildcard, unknown name
# and no SNI fall back to the default (first) certificate; a configured
# chain is sent.
# shellcheck source=tests/integration/lib.sh disable=SC2034
. "$(dirname "$0")/lib.sh"

make_certs
start_backend echo
P=$(free_port)
# The first entry (the default) is a chain file: leaf + CA.
cfg_frontend web "$P" "$BACKEND_PORT" \
    "$(cert_entry ec ec-chain.pem), $(cert_entry wild), $(cert_entry other)"
write_config "$TEST_DIR/tessera.conf"
start_tessera "$TEST_DIR/tessera.conf"

# expect_cn WANT_CN S_CLIENT_ARGS...
expect_cn() {
    local want=$1
    shift
    sclient "$P" "$@" || fail "s_client $* failed: $(tail -n 20 "$SCLIENT_OUT")"
    assert_eq "$(served_cn)" "$want" "certificate served for '$*'"
    log "$* -> $want"
}

for v in -tls1_2 -tls1_3; do
    expect_cn example.test $v -servername example.test
    expect_cn example.test $v -servername www.example.test
    expect_cn other.test $v -servername other.test
    expect_cn '*.wild.test' $v -servername foo.wild.test
    expect_cn '*.wild.test' $v -servername bar.wild.test
    expect_cn example.test $v -servername unknown.test
    # A wildcard covers one label only.
    expect_cn example.test $v -servername a.b.wild.test
    expect_cn example.test $v -servername wild.test
    expect_cn example.test $v -noservername
done

# Names are case-insensitive (RFC 6066: host names are compared as DNS names).
expect_cn other.test -servername OTHER.test

# The chain is sent with the leaf: 2 certificates for the chain file, 1 for
# a single certificate.
sclient "$P" -servername example.test -showcerts
assert_eq "$(grep -c 'BEGIN CERTIFICATE' "$SCLIENT_OUT")" 2 "certificates sent for example.test"
assert_contains "$SCLIENT_OUT" "^ 1 s:.*CN *= *Tessera Test CA"
sclient "$P" -servername other.test -showcerts
assert_eq "$(grep -c 'BEGIN CERTIFICATE' "$SCLIENT_OUT")" 1 "certificates sent for other.test"

# With the CA as trust anchor the chain verifies.
sclient "$P" -servername example.test -CAfile "$CERTS/ca.pem" -verify_return_error \
    -verify_hostname example.test || fail "verification failed: $(tail -n 20 "$SCLIENT_OUT")"
assert_contains "$SCLIENT_OUT" "Verify return code: 0 \(ok\)"

# The test client's own verification agrees (chain and host name).
tclient echo --port "$P" --bytes 1000 --verify "$CERTS/ca.pem" --servername www.example.test ||
    fail "tclient --verify for www.example.test"
tclient echo --port "$P" --bytes 1000 --verify "$CERTS/ca.pem" --servername x.wild.test ||
    fail "tclient --verify for x.wild.test"
if tclient echo --port "$P" --bytes 1000 --verify "$CERTS/ca.pem" --servername nothere.test; then
    fail "the default certificate verified for nothere.test"
fi

check_echo "$P" -servername foo.wild.test
tessera_running || fail "tessera died"
log "ok"
