#!/bin/bash
# 71-ocsp: OCSP stapling.
#  - a test CA (openssl ca, with an index) whose leaves name a responder in
#    their authorityInfoAccess; `openssl ocsp` answers on loopback;
#  - ocsp = "FILE": s_client -status shows the staple ("good");
#  - tessera -t refuses a FILE for another certificate, "auto" without a
#    responder URL or without ocsp.cache, each naming FILE:LINE;
#  - an expired FILE is not stapled and is reported (log, metric);
#  - ocsp = "auto": fetched and stapled; refreshed before nextUpdate (the
#    expiry metric moves forward); written to the cache;
#  - a responder that answers for another certificate, and one that never
#    answers (ocsp.timeout), are not stapled and are counted;
#  - an ECDSA and an RSA certificate of one frontend each get their own;
#  - a restart with the responder down staples from the disk cache at once;
#  - a reload keeps the fetched staple; a revocation drops it.
# subset: tsan
# shellcheck source=tests/integration/lib.sh disable=SC2034
. "$(dirname "$0")/lib.sh"

command -v faketime >/dev/null || fail "faketime not found (scripts/deps installs it)"

OCSP_PORT=$(free_port) # openssl ocsp
HANG_PORT=$(free_port) # accepts, never answers
WRONG_PORT=$(free_port) # answers with another certificate's response
CA=$TEST_DIR/ca
mkdir -p "$CA/newcerts" "$TEST_DIR/cache"

# ---- the CA and its leaves ----
(
    cd "$CA" || exit 1
    set -e
    : >index.txt
    echo 1000 >serial
    cat >ca.cnf <<EOF
[ ca ]
default_ca = tca
[ tca ]
dir = .
database = index.txt
new_certs_dir = newcerts
serial = serial
default_md = sha256
policy = pol
default_days = 30
unique_subject = no
[ pol ]
commonName = supplied
[ base ]
basicConstraints = CA:FALSE
extendedKeyUsage = serverAuth
[ file_ext ]
basicConstraints = CA:FALSE
subjectAltName = DNS:file.test
authorityInfoAccess = OCSP;URI:http://127.0.0.1:$OCSP_PORT
[ stale_ext ]
basicConstraints = CA:FALSE
subjectAltName = DNS:stale.test
authorityInfoAccess = OCSP;URI:http://127.0.0.1:$OCSP_PORT
[ auto_ext ]
basicConstraints = CA:FALSE
subjectAltName = DNS:auto.test
authorityInfoAccess = OCSP;URI:http://127.0.0.1:$OCSP_PORT
[ hang_ext ]
basicConstraints = CA:FALSE
subjectAltName = DNS:hang.test
authorityInfoAccess = OCSP;URI:http://127.0.0.1:$HANG_PORT
[ wrong_ext ]
basicConstraints = CA:FALSE
subjectAltName = DNS:wrong.test
authorityInfoAccess = OCSP;URI:http://127.0.0.1:$WRONG_PORT
[ noaia_ext ]
basicConstraints = CA:FALSE
subjectAltName = DNS:noaia.test
[ duo_ext ]
basicConstraints = CA:FALSE
subjectAltName = DNS:duo.test
EOF
    openssl ecparam -name prime256v1 -genkey -noout -out ca.key 2>/dev/null
    openssl req -x509 -new -key ca.key -sha256 -days 30 -subj "/CN=Tessera OCSP Test CA" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" -out ca.pem 2>/dev/null
    for n in file stale auto hang wrong noaia duo-ec duo-rsa; do
        if [ "$n" = duo-rsa ]; then
            openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$n.key" 2>/dev/null
        else
            openssl ecparam -name prime256v1 -genkey -noout -out "$n.key.tmp" 2>/dev/null
            openssl pkey -in "$n.key.tmp" -out "$n.key"
            rm -f "$n.key.tmp"
        fi
        openssl req -new -key "$n.key" -subj "/CN=$n.test" -out "$n.csr" 2>/dev/null
        openssl ca -batch -config ca.cnf -extensions "${n%-*}_ext" -cert ca.pem -keyfile ca.key \
            -in "$n.csr" -out "$n.leaf" -notext 2>/dev/null
        cat "$n.leaf" ca.pem >"$n.pem" # leaf, then its issuer
    done
) || fail "could not make the test CA"

# resp NAME OUT [OCSP ARGS...]: a response for NAME.leaf made offline.
resp() {
    local name=$1 out=$2
    shift 2
    openssl ocsp -issuer "$CA/ca.pem" -cert "$CA/$name.leaf" -no_nonce -reqout "$TEST_DIR/$name.req" \
        >/dev/null 2>&1 || fail "ocsp request for $name"
    "$@" openssl ocsp -index "$CA/index.txt" -CA "$CA/ca.pem" -rsigner "$CA/ca.pem" \
        -rkey "$CA/ca.key" -reqin "$TEST_DIR/$name.req" -respout "$out" -ndays 1 \
        >/dev/null 2>&1 || fail "ocsp response for $name"
}
resp file "$TEST_DIR/file.ocsp"
resp duo-ec "$TEST_DIR/duo-ec.ocsp"
resp duo-rsa "$TEST_DIR/duo-rsa.ocsp"
resp stale "$TEST_DIR/stale.ocsp" faketime -f -3d
resp wrong "$TEST_DIR/other.ocsp" # for wrong.test: another certificate's, for file.test

# ---- responders ----
start_responder() {
    SEQ=$((SEQ + 1))
    openssl ocsp -index "$CA/index.txt" -port "$OCSP_PORT" -CA "$CA/ca.pem" \
        -rsigner "$CA/ca.pem" -rkey "$CA/ca.key" -nmin 1 -ignore_err \
        >"$TEST_DIR/responder-$SEQ.log" 2>&1 &
    RESPONDER_PID=$!
    track_pid "$RESPONDER_PID"
    # Not port_open: the responder serves one connection at a time and
    # would wait for a request on the probe's.
    wait_for grep -q "waiting for OCSP client connections" "$TEST_DIR/responder-$SEQ.log" ||
        fail "openssl ocsp did not start: $(cat "$TEST_DIR/responder-$SEQ.log")"
}
start_responder

# A listener that accepts and never answers, and an HTTP server that
# answers every POST with $TEST_DIR/file.ocsp (a good response, but for
# file.test, not for the certificate that asks).
python3 - "$HANG_PORT" "$WRONG_PORT" "$TEST_DIR/file.ocsp" >"$TEST_DIR/fake-responders.log" 2>&1 <<'PYEOF' &
import socket, sys, threading
hang_port, wrong_port, body = int(sys.argv[1]), int(sys.argv[2]), open(sys.argv[3], "rb").read()
held = []
def hang():
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", hang_port)); s.listen(16)
    while True:
        c, _ = s.accept(); held.append(c)
def wrong():
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", wrong_port)); s.listen(16)
    while True:
        c, _ = s.accept()
        c.settimeout(5)
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                more = c.recv(4096)
                if not more:
                    raise OSError("closed")
                data += more
            head, rest = data.split(b"\r\n\r\n", 1)
            n = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    n = int(line.split(b":")[1])
            while len(rest) < n:
                more = c.recv(4096)
                if not more:
                    raise OSError("closed")
                rest += more
            c.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: application/ocsp-response\r\n"
                      b"Content-Length: %d\r\n\r\n" % len(body) + body)
        except OSError:
            pass
        c.close()
threading.Thread(target=hang, daemon=True).start()
wrong()
PYEOF
track_pid $!
wait_for port_open "$HANG_PORT" || fail "hanging listener did not start"
wait_for port_open "$WRONG_PORT" || fail "fake responder did not start"

# ---- tessera -t ----
start_backend echo
entry() { # NAME OCSP
    printf '{ cert = "%s"; key = "%s"; ocsp = "%s"; }' "$CA/$1.pem" "$CA/$1.key" "$2"
}
check_refused() { # WANT_PATTERN: tessera -t on $TEST_DIR/t.conf fails with it
    local out
    if out=$("$TESSERA_BIN" -t -c "$TEST_DIR/t.conf" 2>&1); then
        fail "tessera -t accepted: $(cat "$TEST_DIR/t.conf")"
    fi
    assert_contains "$out" "$1"
    log "-t refuses: $out"
}
T=$(free_port)
cfg_reset
cfg_frontend web "$T" "$BACKEND_PORT" "$(entry file "$TEST_DIR/other.ocsp")"
write_config "$TEST_DIR/t.conf"
check_refused "t.conf:[0-9]+: .*other.ocsp' has no status for"

cfg_reset
cfg_frontend web "$T" "$BACKEND_PORT" "$(entry noaia auto)"
CFG_EXTRA="ocsp = { cache = \"$TEST_DIR/cache\"; };"
write_config "$TEST_DIR/t.conf"
check_refused "t.conf:[0-9]+: .*names no http\(s\) OCSP responder"

cfg_reset
cfg_frontend web "$T" "$BACKEND_PORT" "$(entry auto auto)"
write_config "$TEST_DIR/t.conf"
check_refused "t.conf:[0-9]+: .*needs 'ocsp.cache'"

cfg_reset
cfg_frontend web "$T" "$BACKEND_PORT" \
    "$(printf '{ cert = "%s"; key = "%s"; ocsp = "%s"; }' "$CA/file.leaf" "$CA/file.key" \
        "$TEST_DIR/file.ocsp")"
write_config "$TEST_DIR/t.conf"
check_refused "t.conf:[0-9]+: .*needs the issuer's certificate"

# ---- serving ----
cfg_reset
cfg_admin
PF=$(free_port)
PS=$(free_port)
PA=$(free_port)
PH=$(free_port)
PW=$(free_port)
PD=$(free_port)
cfg_frontend file "$PF" "$BACKEND_PORT" "$(entry file "$TEST_DIR/file.ocsp")"
cfg_frontend stale "$PS" "$BACKEND_PORT" "$(entry stale "$TEST_DIR/stale.ocsp")"
cfg_frontend auto "$PA" "$BACKEND_PORT" "$(entry auto auto)"
cfg_frontend hang "$PH" "$BACKEND_PORT" "$(entry hang auto)"
cfg_frontend wrong "$PW" "$BACKEND_PORT" "$(entry wrong auto)"
# An ECDSA and an RSA certificate for the same name: one context, a staple each.
cfg_frontend duo "$PD" "$BACKEND_PORT" \
    "$(entry duo-ec "$TEST_DIR/duo-ec.ocsp"), $(entry duo-rsa "$TEST_DIR/duo-rsa.ocsp")"
CFG_EXTRA="ocsp = { cache = \"$TEST_DIR/cache\"; timeout = 1; };"
write_config "$TEST_DIR/tessera.conf"
"$TESSERA_BIN" -t -c "$TEST_DIR/tessera.conf" >"$TEST_DIR/t.out" 2>&1 ||
    fail "tessera -t: $(cat "$TEST_DIR/t.out")"
start_tessera "$TEST_DIR/tessera.conf"

# stapled PORT: s_client -status sees a "good" staple.
stapled() {
    sclient "$1" -status -servername x.test >/dev/null 2>&1
    grep -q "OCSP Response Status: successful" "$SCLIENT_OUT" &&
        grep -q "Cert Status: good" "$SCLIENT_OUT"
}
not_stapled() {
    sclient "$1" -status -servername x.test || fail "s_client to $1: $(tail -n 20 "$SCLIENT_OUT")"
    assert_contains "$SCLIENT_OUT" "OCSP response: no response sent"
}
expiry() { # CERT_NAME: the staple expiry metric of $CA/NAME.pem
    metric "$ADMIN_PORT" tessera_ocsp_staple_expiry_timestamp_seconds cert="$CA/$1.pem"
}

for v in -tls1_2 -tls1_3; do
    stapled "$PF" $v || fail "no staple for the file frontend ($v): $(tail -n 40 "$SCLIENT_OUT")"
done
log "file: stapled (TLS 1.2 and 1.3)"

# duo SIGALGS: the staple sent is the one of the certificate served.
duo() {
    local served stapled_serial
    sclient "$PD" -status -tls1_2 -servername duo.test -sigalgs "$1" ||
        fail "s_client duo $1: $(tail -n 20 "$SCLIENT_OUT")"
    # (the response carries its signer's certificate too: start at the server's)
    served=$(sed -n '/^Server certificate/,/END CERTIFICATE/p' "$SCLIENT_OUT" | sed 1d |
        openssl x509 -noout -serial | sed 's/^serial=//')
    stapled_serial=$(sed -n 's/^ *Serial Number: *//p' "$SCLIENT_OUT" | head -n 1)
    [ -n "$served" ] && [ "$served" = "$stapled_serial" ] ||
        fail "duo $1: served serial '$served', stapled '$stapled_serial'"
    assert_contains "$SCLIENT_OUT" "Cert Status: good"
    log "duo $1: certificate $served, its own staple"
}
duo ECDSA+SHA256
duo RSA-PSS+SHA256:RSA+SHA256
[ "$(openssl x509 -in "$CA/duo-ec.leaf" -noout -serial)" != \
    "$(openssl x509 -in "$CA/duo-rsa.leaf" -noout -serial)" ] || fail "duo: same serials"

not_stapled "$PS"
assert_contains "$TESSERA_LOG" "stale.pem: response from .*stale.ocsp not stapled: expired"
metric_at_least "$ADMIN_PORT" 1 tessera_ocsp_responses_rejected_total reason=expired ||
    fail "an expired file was not counted"
assert_eq "$(expiry stale)" 0 "expiry metric of the expired file"
log "expired file: not stapled, reported"

wait_for stapled "$PA" || fail "auto: never stapled: $(tail -n 30 "$TESSERA_LOG")"
wait_for metric_at_least "$ADMIN_PORT" 1 tessera_ocsp_fetches_total result=ok ||
    fail "no fetch counted ok"
FIRST=$(expiry auto)
[ "$FIRST" -gt "$(date +%s)" ] || fail "auto: expiry $FIRST is not in the future"
ls "$TEST_DIR"/cache/*.der >/dev/null 2>&1 || fail "auto: nothing in the cache"
log "auto: stapled, expiry $FIRST, cached"

WAIT_FOR_LIMIT=20 wait_for metric_at_least "$ADMIN_PORT" 1 tessera_ocsp_fetches_total \
    result=timeout || fail "the hanging responder was not counted as a timeout"
not_stapled "$PH"
assert_contains "$TESSERA_LOG" "hang.pem: fetch from .* failed: no answer within 1000 ms"
log "hanging responder: timeout, not stapled"

wait_for metric_at_least "$ADMIN_PORT" 1 tessera_ocsp_fetches_total result=invalid ||
    fail "the wrong response was not counted invalid"
metric_at_least "$ADMIN_PORT" 1 tessera_ocsp_responses_rejected_total reason=mismatch ||
    fail "the wrong response was not counted as a mismatch"
not_stapled "$PW"
log "another certificate's response: invalid, not stapled"

# -nmin 1: nextUpdate is a minute after each answer; tessera fetches again
# halfway, so the expiry moves within about 30 s.
expiry_moved() {
    local e
    e=$(expiry auto) || return 1
    [ "$e" -gt "$FIRST" ]
}
WAIT_FOR_LIMIT=75 wait_for expiry_moved || fail "auto: the staple was not refreshed (still $FIRST)"
stapled "$PA" || fail "auto: no staple after the refresh"
log "auto: refreshed before nextUpdate ($FIRST -> $(expiry auto))"

# A restart with the responder down staples from the cache at once.
stop_tessera || fail "tessera did not stop cleanly"
kill "$RESPONDER_PID" 2>/dev/null
wait "$RESPONDER_PID" 2>/dev/null
wait_for port_closed "$OCSP_PORT" || fail "the responder is still up"
start_tessera "$TEST_DIR/tessera.conf"
stapled "$PA" || fail "auto: no staple from the cache after a restart: $(tail -n 30 "$TESSERA_LOG")"
assert_contains "$TESSERA_LOG" "auto.pem: stapling a response from the cache"
stapled "$PF" || fail "file: no staple after a restart"
log "restart: stapled from the cache with the responder down"

# A reload keeps the fetched staple of an unchanged certificate.
kill -HUP "$TESSERA_PID"
wait_for grep -q "generation 2 serves" "$TESSERA_LOG" || fail "reload did not happen"
stapled "$PA" || fail "auto: no staple after a reload"
log "reload: staple kept"

# The issuer revokes the certificate: the next fetch drops the staple.
start_responder
(cd "$CA" && openssl ca -config ca.cnf -cert ca.pem -keyfile ca.key -revoke auto.leaf \
    >/dev/null 2>&1) || fail "openssl ca -revoke"
WAIT_FOR_LIMIT=75 wait_for metric_at_least "$ADMIN_PORT" 1 tessera_ocsp_responses_rejected_total \
    reason=revoked || fail "auto: the revocation was not seen: $(tail -n 20 "$TESSERA_LOG")"
not_stapled "$PA"
assert_eq "$(expiry auto)" 0 "expiry metric of a revoked certificate"
log "revoked: the staple is dropped"

stop_tessera || fail "tessera did not stop cleanly"
log "ok"
