#!/bin/bash
# 60-reload: SIGHUP reloads the configuration.
#  - certificates swapped on disk: new handshakes get the new one (its
#    serial), a connection established before keeps relaying;
#  - an unchanged reload keeps the session context: a TLS 1.2 session and a
#    TLS 1.3 ticket made before resume after, on the memcached store;
#  - a frontend added by a reload listens, one removed stops listening;
#  - a bad configuration (syntax error, missing key file, key that does not
#    match its certificate, a broken secret file) changes nothing: the old
#    generation serves on, the log names FILE:LINE, reloads_total{failed}
#    moves, the generation does not;
#  - a setting that needs a restart (max_connections) is named in the log
#    and the rest applies;
#  - /metrics and /stats show the generation.
# subset: tsan
# shellcheck source=tests/integration/lib.sh disable=SC2034
. "$(dirname "$0")/lib.sh"

make_certs
start_backend echo
ECHO=$BACKEND_PORT
start_memcached

# The frontend's certificate lives in site.pem/site.key, swapped on disk.
use_cert() {
    cp "$CERTS/$1.pem" "$TEST_DIR/site.pem"
    cp "$CERTS/$1.key" "$TEST_DIR/site.key"
}
serial_of() {
    openssl x509 -in "$CERTS/$1.pem" -noout -serial | sed 's/^serial=//'
}
# The serial of the certificate the last s_client saw.
served_serial() {
    sed -n '/BEGIN CERTIFICATE/,/END CERTIFICATE/p' "$SCLIENT_OUT" |
        openssl x509 -noout -serial 2>/dev/null | sed 's/^serial=//'
}

P=$(free_port)
P2=$(free_port)
cfg_admin
write_conf() { # write_conf [EXTRA FRONTEND PORT]
    CFG_FRONTENDS=()
    TESSERA_PORTS=()
    cfg_frontend web "$P" "$ECHO" "{ cert = \"site.pem\"; key = \"site.key\"; }"
    [ -n "${1:-}" ] && cfg_frontend extra "$1" "$ECHO" "$(cert_entry ec)"
    cfg_memcached "$MC_PORT"
    write_config "$TEST_DIR/tessera.conf"
}
use_cert ec
write_conf
start_tessera "$TEST_DIR/tessera.conf"

generation() { m "$ADMIN_PORT" tessera_config_generation; }
reloads() { m "$ADMIN_PORT" tessera_reloads_total result="$1"; }
# reload_to N: SIGHUP, then wait until generation N serves.
reload_to() {
    kill -HUP "$TESSERA_PID"
    wait_for metric_is "$ADMIN_PORT" "$1" tessera_config_generation ||
        fail "generation $1 not reached: $(grep -E 'reload|error' "$TESSERA_LOG" | tail -n 5)"
    log "generation $1 serves"
}
# reload_fails WHAT PATTERN: SIGHUP with a broken configuration; the failure
# is counted, the log matches PATTERN, nothing else changes.
reload_fails() {
    local what=$1 pat=$2 before gen
    before=$(reloads failed)
    gen=$(generation)
    kill -HUP "$TESSERA_PID"
    wait_for metric_is "$ADMIN_PORT" $((before + 1)) tessera_reloads_total result=failed ||
        fail "$what: reloads_total{failed} did not move"
    assert_eq "$(generation)" "$gen" "$what: generation"
    assert_contains "$TESSERA_LOG" "reload failed, generation $gen serves on: $pat"
    hs "$P" -tls1_3
    log "$what: refused, generation $gen still serves"
}

assert_eq "$(generation)" 1 "generation at start"
assert_eq "$(reloads ok)" 0 "reloads ok at start"
hs "$P" -tls1_3
assert_eq "$(served_serial)" "$(serial_of ec)" "serial before"

# A connection established before the reloads; it must relay after them.
tclient hold --port "$P" --ready-file held.ready --go-file held.go --timeout 200 \
    >held.out 2>&1 &
HELD=$!
track_pid "$HELD"
wait_for test -f held.ready || fail "held connection: $(cat held.out)"

# --- an unchanged reload: sessions and tickets made before resume after ---
sclient_exchange "a-$SEQ" "^a-" "$P" -tls1_2 -no_ticket -sess_out sess12.pem ||
    fail "TLS 1.2 session: $(tail -n 5 "$SCLIENT_OUT")"
sclient_exchange "b-$SEQ" "^b-" "$P" -tls1_3 -sess_out sess13.pem ||
    fail "TLS 1.3 ticket: $(tail -n 5 "$SCLIENT_OUT")"
reload_to 2
hs "$P" -tls1_2 -no_ticket -sess_in sess12.pem
assert_eq "$HS" Reused "TLS 1.2 session made in generation 1, offered in 2"
hs "$P" -tls1_3 -sess_in sess13.pem
assert_eq "$HS" Reused "TLS 1.3 ticket made in generation 1, offered in 2"

# --- certificates swapped on disk ---
use_cert rsa
reload_to 3
hs "$P" -tls1_3
assert_eq "$(served_serial)" "$(serial_of rsa)" "serial after the swap"
hs "$P" -tls1_2 -no_ticket -sess_in sess12.pem
assert_eq "$HS" New "a session of the old certificate (a new session context)"

# --- a frontend added, then removed ---
write_conf "$P2"
reload_to 4
wait_for port_open "$P2" || fail "the added frontend does not listen"
hs "$P2" -tls1_3
write_conf
reload_to 5
wait_for port_closed "$P2" || fail "the removed frontend still listens"
hs "$P"

# --- broken configurations change nothing ---
cp "$TEST_DIR/tessera.conf" good.conf
{ cat good.conf; echo "frontends = oops"; } >"$TEST_DIR/tessera.conf"
reload_fails "syntax error" "$TEST_DIR/tessera.conf:[0-9]*: "
cp good.conf "$TEST_DIR/tessera.conf"

mv "$TEST_DIR/site.key" site.key.away
reload_fails "missing key file" "$TEST_DIR/tessera.conf:[0-9]*: .*site.key"
mv site.key.away "$TEST_DIR/site.key"

cp "$CERTS/other.key" "$TEST_DIR/site.key"
reload_fails "key that does not match" "$TEST_DIR/tessera.conf:[0-9]*: "
cp "$CERTS/rsa.key" "$TEST_DIR/site.key"

cp "$TEST_DIR/cluster.key" cluster.key.good
echo "not a secret" >"$TEST_DIR/cluster.key"
reload_fails "broken secret file" "$TEST_DIR/tessera.conf:[0-9]*: .*cluster.key"
cp cluster.key.good "$TEST_DIR/cluster.key"
chmod 600 "$TEST_DIR/cluster.key"

# --- a restart-only setting is named; the rest applies ---
use_cert ec
CFG_EXTRA='max_connections = 1000;' write_conf
reload_to 6
assert_contains "$TESSERA_LOG" "reload: max_connections changed in .*needs a restart"
hs "$P" -tls1_3
assert_eq "$(served_serial)" "$(serial_of ec)" "serial after swapping back"

# --- the connection from before still relays ---
touch held.go
wait "$HELD" || fail "held connection after 6 reloads: $(cat held.out)"
assert_contains held.out "second echo ok"

assert_eq "$(reloads ok)" 5 "reloads ok"
assert_eq "$(reloads failed)" 4 "reloads failed"
curl -sS --max-time 10 "http://127.0.0.1:$ADMIN_PORT/stats" >stats.json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["generation"] == 6 and d["reloads"] == {"ok": 5, "failed": 4} else 1)' stats.json ||
    fail "/stats: $(head -c 300 stats.json)"
m "$ADMIN_PORT" tessera_config_last_reload_success_timestamp_seconds >/dev/null
stop_tessera || fail "exit status $? after the reloads"
log "ok"
