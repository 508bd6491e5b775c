#!/bin/bash
# 02-tls-versions: TLS 1.2 and 1.3 with an ECDSA and an RSA certificate for
# the same name in one frontend (ECDSA to clients that accept it, RSA to
# those offering only RSA), TLS 1.0/1.1 refused, data relayed every time;
# tls.min_version = "TLSv1.3" refuses TLS 1.2.
# subset: tsan
# shellcheck source=tests/integration/lib.sh disable=SC2034
. "$(dirname "$0")/lib.sh"

make_certs
start_backend echo
P=$(free_port)
cfg_frontend web "$P" "$BACKEND_PORT" "$(cert_entry ec), $(cert_entry rsa)"
write_config "$TEST_DIR/tessera.conf"
start_tessera "$TEST_DIR/tessera.conf"

# hs NAME WANT_VERSION WANT_KEYBITS S_CLIENT_ARGS...: handshake, echo a line,
# check the protocol and the size of the served key (256: ECDSA, 2048: RSA).
hs() {
    local name=$1 ver=$2 bits=$3
    shift 3
    sclient_exchange "ping $name" "^ping $name" "$P" -servername example.test "$@" ||
        fail "$name: no echo through tessera: $(tail -n 20 "$SCLIENT_OUT")"
    assert_contains "$SCLIENT_OUT" "^New, $ver, Cipher is"
    assert_contains "$SCLIENT_OUT" "Server public key is $bits bit"
    log "$name: $ver, $bits-bit key, data relayed"
}

hs tls12-default TLSv1.2 256 -tls1_2
hs tls12-ecdsa-cipher TLSv1.2 256 -tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256
hs tls12-rsa-cipher TLSv1.2 2048 -tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256
hs tls12-rsa-sigalgs TLSv1.2 2048 -tls1_2 -sigalgs RSA-PSS+SHA256:RSA+SHA256
hs tls13-default TLSv1.3 256 -tls1_3
hs tls13-ecdsa-sigalgs TLSv1.3 256 -tls1_3 -sigalgs ecdsa_secp256r1_sha256
hs tls13-rsa-sigalgs TLSv1.3 2048 -tls1_3 -sigalgs rsa_pss_rsae_sha256:rsa_pss_pss_sha256
assert_contains "$SCLIENT_OUT" "Peer signature type: RSA-PSS"

# TLS 1.1 and 1.0 are refused (the client has to lower its own security
# level to even offer them).
for v in tls1_1 tls1; do
    sclient "$P" -servername example.test -$v -cipher 'DEFAULT:@SECLEVEL=0'
    rc=$?
    [ $rc -ne 0 ] || fail "-$v: s_client succeeded: $(tail -n 20 "$SCLIENT_OUT")"
    assert_not_contains "$SCLIENT_OUT" "Cipher is [A-Z]"
    # Refused by the server (not by the client's own settings).
    assert_contains "$SCLIENT_OUT" "alert protocol version"
    log "-$v refused"
done
tessera_running || fail "tessera died"
hs after-refusals TLSv1.3 256

# min_version = TLSv1.3 refuses TLS 1.2.
stop_tessera || fail "tessera exited with $?"
cfg_reset
P=$(free_port)
cfg_frontend web "$P" "$BACKEND_PORT" "$(cert_entry ec), $(cert_entry rsa)"
CFG_TLS='min_version = "TLSv1.3";'
write_config "$TEST_DIR/tls13.conf"
start_tessera "$TEST_DIR/tls13.conf"
sclient "$P" -servername example.test -tls1_2
[ $? -ne 0 ] || fail "TLS 1.2 accepted with min_version TLSv1.3"
assert_not_contains "$SCLIENT_OUT" "Cipher is [A-Z]"
hs min13-tls13 TLSv1.3 256 -tls1_3
stop_tessera || fail "tessera exited with $?"
log "ok"
