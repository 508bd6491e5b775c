#!/bin/bash
# 06-halfclose: the client's close_notify becomes a FIN to the backend while
# the other direction stays open, and the backend's FIN comes back as a
# close_notify after all of its data.
# shellcheck source=tests/integration/lib.sh disable=SC2034
. "$(dirname "$0")/lib.sh"

make_certs
start_backend echo
ECHO_PORT=$BACKEND_PORT
start_backend sink
SINK_PORT=$BACKEND_PORT
PE=$(free_port)
PS=$(free_port)
cfg_frontend echo "$PE" "$ECHO_PORT" "$(cert_entry ec)"
cfg_frontend sink "$PS" "$SINK_PORT" "$(cert_entry ec)"
write_config "$TEST_DIR/tessera.conf"
start_tessera "$TEST_DIR/tessera.conf"

for v in 1.2 1.3; do
    # Small and large: the echo must be complete before the close_notify.
    tclient halfclose --port "$PE" --tls $v --bytes 100 || fail "TLS $v: half-close (100 B)"
    tclient halfclose --port "$PE" --tls $v --bytes 262144 --timeout 60 ||
        fail "TLS $v: half-close (256 KiB)"
    # The sink answers only once it sees EOF: close_notify -> FIN.
    tclient sink --port "$PS" --tls $v --bytes 10 || fail "TLS $v: sink after close_notify"
done
# No data at all: close_notify straight after the handshake.
tclient halfclose --port "$PE" --bytes 0 || fail "half-close without data"
tessera_running || fail "tessera died"
check_echo "$PE"
log "ok"
