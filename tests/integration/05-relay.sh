#!/bin/bash
# 05-relay: 1 MiB byte-exact both ways: echoed back through an echo backend,
# and client -> backend into a sink that reports the count it received.
# subset: tsan
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

MiB=1048576
for v in 1.2 1.3; do
    tclient echo --port "$PE" --tls $v --bytes $MiB --timeout 60 ||
        fail "TLS $v: 1 MiB echo failed"
    tclient sink --port "$PS" --tls $v --bytes $MiB --timeout 60 ||
        fail "TLS $v: 1 MiB into the sink failed"
done

# Several at once, so that relays interleave on the workers.
pids=()
for i in 1 2 3 4; do
    "$TCLIENT" echo --port "$PE" --bytes $MiB --timeout 90 >"par-echo-$i.out" 2>&1 &
    pids+=($!)
    "$TCLIENT" sink --port "$PS" --bytes $((MiB / 2 + i)) --timeout 90 >"par-sink-$i.out" 2>&1 &
    pids+=($!)
done
for pid in "${pids[@]}"; do
    wait "$pid" || fail "a parallel transfer failed: $(cat par-*.out)"
done
tessera_running || fail "tessera died"
stop_tessera || fail "tessera exited with $? after SIGTERM"
log "ok"
