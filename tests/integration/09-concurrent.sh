#!/bin/bash
# 09-concurrent: 2000 TLS connections open at the same time, each echoing a
# line, all succeed; tessera keeps working afterwards.
# subset: tsan
# shellcheck source=tests/integration/lib.sh disable=SC2034
. "$(dirname "$0")/lib.sh"

# 2000 client sockets + 2000 backend sockets in tessera, and as many in
# the tools: make sure the soft limit allows it (as LimitNOFILE would).
ulimit -n "$(ulimit -Hn)" 2>/dev/null
[ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -ge 8192 ] ||
    fail "RLIMIT_NOFILE is $(ulimit -n); this test needs 8192"

make_certs
start_backend echo
P=$(free_port)
cfg_frontend web "$P" "$BACKEND_PORT" "$(cert_entry ec)"
write_config "$TEST_DIR/tessera.conf"
start_tessera "$TEST_DIR/tessera.conf"

tclient concurrent --port "$P" --conns 2000 --parallel 200 --timeout 90 ||
    fail "not all 2000 connections succeeded"
tessera_running || fail "tessera died"
# Everything was closed: a new connection works.
check_echo "$P"
stop_tessera || fail "tessera exited with $? after SIGTERM"
log "ok"
