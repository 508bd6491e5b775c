#!/bin/bash
# 22-admin-health: /healthz answers 200 "ok" while serving; after SIGTERM,
# with one connection still open, it answers 503 "draining" and /metrics
# shows tessera_draining 1 (and the open connection); once that connection
# closes, tessera exits 0.
# shellcheck source=tests/integration/lib.sh disable=SC2034
. "$(dirname "$0")/lib.sh"

PROMCHECK=$LIB_DIR/../tools/promcheck.py

make_certs
start_backend echo
P=$(free_port)
cfg_frontend web "$P" "$BACKEND_PORT" "$(cert_entry ec)"
cfg_admin
CFG_TIMEOUTS='shutdown = 60;'
write_config "$TEST_DIR/tessera.conf"
start_tessera "$TEST_DIR/tessera.conf"
ADMIN=http://127.0.0.1:$ADMIN_PORT

# get PATH NAME: GET PATH; body in NAME.body, status in NAME.status.
get() {
    curl -s --max-time 10 -o "$2.body" -w '%{http_code}' "$ADMIN$1" >"$2.status"
    [ -s "$2.status" ] || echo 000 >"$2.status"
}

# metric FILE NAME [LABEL=VALUE...]: a sample's value.
metric() {
    python3 "$PROMCHECK" value "$@"
}

# --- serving ---
check_echo "$P"
get /healthz h1
assert_eq "$(cat h1.status)" 200 "/healthz status while serving"
assert_eq "$(tr -d '\r\n' <h1.body)" ok "/healthz body while serving"
get /metrics m1
assert_eq "$(cat m1.status)" 200 "/metrics status"
python3 "$PROMCHECK" check m1.body >/dev/null || fail "/metrics fails promcheck"
assert_eq "$(metric m1.body tessera_draining)" 0 "tessera_draining while serving"
log "serving: /healthz 200 ok, tessera_draining 0"

# --- one long-lived connection, then SIGTERM ---
"$TCLIENT" hold --port "$P" --ready-file hold.ready --go-file hold.go --timeout 90 \
    >hold.out 2>&1 &
HOLD_PID=$!
track_pid $HOLD_PID
wait_for test -f hold.ready || fail "hold client did not connect: $(cat hold.out)"
kill -TERM "$TESSERA_PID"

draining() {
    get /healthz h2
    [ "$(cat h2.status)" = 503 ]
}
wait_for draining || fail "/healthz is not 503 after SIGTERM (status $(cat h2.status), \
body $(cat h2.body))"
assert_eq "$(tr -d '\r\n' <h2.body)" draining "/healthz body while draining"
tessera_running || fail "tessera exited with a connection still open"
get /metrics m2
assert_eq "$(cat m2.status)" 200 "/metrics status while draining"
out=$(python3 "$PROMCHECK" check m2.body) || fail "/metrics while draining fails promcheck: $out"
assert_eq "$(metric m2.body tessera_draining)" 1 "tessera_draining after SIGTERM"
assert_eq "$(metric m2.body tessera_connections_active)" 1 \
    "tessera_connections_active with the held connection"
get /stats s2
python3 -c 'import json, sys; s = json.load(open("s2.body")); sys.exit(0 if s["draining"] is True else 1)' ||
    fail "/stats does not say draining: $(head -c 300 s2.body)"
WAIT_FOR_LIMIT=10 wait_for port_closed "$P" || fail "still accepting TLS 10 s after SIGTERM"
get /healthz h3
assert_eq "$(cat h3.status)" 503 "/healthz still 503 while the connection stays open"
log "draining: /healthz 503 draining, tessera_draining 1, one connection open"

# --- the connection finishes; tessera exits 0 ---
touch hold.go
wait_exit $HOLD_PID 20 || fail "hold client hangs"
assert_eq "$EXIT_STATUS" 0 "held connection during drain (output: $(cat hold.out))"
wait_exit "$TESSERA_PID" 20 || fail "tessera still running 20 s after its last connection closed"
assert_eq "$EXIT_STATUS" 0 "tessera exit status after drain"
WAIT_FOR_LIMIT=15 wait_for port_closed "$ADMIN_PORT" || fail "admin port open after exit"
log "ok"
