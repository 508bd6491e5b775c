#!/bin/bash
# 33-memcached-cluster: three memcached servers, three instances (A, B, C)
# with the same servers list.  30 TLS 1.2 sessions made on A spread over the
# three servers (ketama) and all resume on B.  One server is killed: on C
# (which holds no first-level copy) the sessions whose entries lived there
# are full handshakes and the others still resume, none takes long;
# tessera_memcached_up for the killed server drops to 0 and stays 1 for the
# others; sessions made after the kill resume on B.  "None takes long" is
# read from tessera's histograms (see WAIT_LE and HS_LE), not from the wall
# clock around s_client.
# subset: tsan
# shellcheck source=tests/integration/lib.sh disable=SC2034,SC2119,SC2153,SC2154
. "$(dirname "$0")/lib.sh"

N=30
NEW=12
# timeout_ms is 50 ms: no memcached operation lasts longer than the 0.25 s
# bucket (50 ms plus 200 ms for a saturated machine to run the worker's
# timer), and no handshake longer than 2.5 s (half libmemcached's 5 s poll
# timeout, the stall this guards against; the rest is the clients'
# scheduling on a busy machine).
WAIT_LE=0.25
HS_LE=2.5

make_certs
start_backend echo
ECHO=$BACKEND_PORT
MCPORTS=()
MCPIDS=()
for i in 0 1 2; do
    start_memcached
    MCPORTS+=("$MC_PORT")
    MCPIDS+=("$MC_PID")
done
SERVERS=("127.0.0.1:${MCPORTS[0]}" "127.0.0.1:${MCPORTS[1]}" "127.0.0.1:${MCPORTS[2]}")

# make_sessions ADMIN PORT NAME COUNT [nowait]: COUNT TLS 1.2 sessions
# NAME-i.pem, then (unless nowait) wait until all are stored.
make_sessions() {
    local admin=$1 port=$2 name=$3 count=$4 nowait=${5:-} before i
    before=$(m "$admin" tessera_session_cache_ops_total op=set result=stored)
    for i in $(seq 1 "$count"); do
        rm -f "$name-$i.pem"
        hs "$port" -tls1_2 -sess_out "$name-$i.pem"
        assert_eq "$HS" New "full handshake $name-$i"
        [ -s "$name-$i.pem" ] || fail "s_client saved no session $name-$i"
    done
    [ -z "$nowait" ] || return 0
    wait_for metric_is "$admin" $((before + count)) tessera_session_cache_ops_total op=set \
        result=stored || fail "$count sessions $name: stored moved from $before to \
$(m "$admin" tessera_session_cache_ops_total op=set result=stored)"
}

# server_of FILE: the index (0-2) of the memcached server holding the session's
# entry (in keys-0..2.txt, the servers' key lists); fails unless exactly one does.
server_of() {
    local key found='' i
    key=$(sess_key "$1")
    for i in 0 1 2; do
        if grep -qxF "$key" "keys-$i.txt"; then
            [ -z "$found" ] || fail "$key is on servers $found and $i"
            found=$i
        fi
    done
    [ -n "$found" ] || fail "$key is on no server"
    echo "$found"
}

for v in A B C; do
    start_mc_instance "$v" "$ECHO" "${SERVERS[@]}"
done
for a in "$A_ADMIN" "$B_ADMIN" "$C_ADMIN"; do
    for s in "${SERVERS[@]}"; do
        wait_for metric_is "$a" 1 tessera_memcached_up server="$s" ||
            fail "tessera_memcached_up{server=\"$s\"} on $a is not 1"
    done
done

# --- N sessions made on A spread over the servers, all resume on B ---
make_sessions "$A_ADMIN" "$A_PORT" s "$N"
ON=()
count=(0 0 0)
for i in 0 1 2; do
    mc_tool keys "${MCPORTS[$i]}" >"keys-$i.txt" || fail "metadump of server $i"
done
for i in $(seq 1 "$N"); do
    ON[i]=$(server_of "s-$i.pem") || exit 1
    k=${ON[$i]}
    count[k]=$((count[k] + 1))
done
for i in 0 1 2; do
    [ "${count[$i]}" -gt 0 ] || fail "server $i holds none of the $N sessions (${count[*]})"
done
log "$N sessions made on A, spread over the servers: ${count[*]}"
r0=$(m "$B_ADMIN" tessera_resumptions_total type=session origin=remote)
for i in $(seq 1 "$N"); do
    hs "$B_PORT" -tls1_2 -sess_in "s-$i.pem"
    assert_eq "$HS" Reused "session s-$i (on server ${ON[$i]}) offered to B"
done
assert_eq $(($(m "$B_ADMIN" tessera_resumptions_total type=session origin=remote) - r0)) "$N" \
    "B's remote resumptions"
no_slow "$B_ADMIN" "$WAIT_LE" "$HS_LE" "sessions made on A offered to B"
log "all $N Reused on B"

# --- kill the server holding the most sessions ---
dead=0
for i in 1 2; do
    [ "${count[$i]}" -gt "${count[$dead]}" ] && dead=$i
done
stop_memcached "${MCPIDS[$dead]}"
DEAD=${SERVERS[$dead]}
log "killed memcached $DEAD (${count[$dead]} of the $N entries)"
for a in "$A_ADMIN" "$B_ADMIN" "$C_ADMIN"; do
    wait_for metric_is "$a" 0 tessera_memcached_up server="$DEAD" ||
        fail "tessera_memcached_up{server=\"$DEAD\"} on $a stays 1"
    for s in "${SERVERS[@]}"; do
        [ "$s" = "$DEAD" ] && continue
        assert_eq "$(m "$a" tessera_memcached_up server="$s")" 1 "memcached_up{$s} on $a"
    done
done
log "memcached_up is 0 for $DEAD and 1 for the others, on A, B and C"

# C has never seen these sessions: its lookups all go to memcached.
lost=0
for i in $(seq 1 "$N"); do
    hs "$C_PORT" -tls1_2 -sess_in "s-$i.pem"
    if [ "${ON[$i]}" = "$dead" ]; then
        assert_eq "$HS" New "session s-$i (its entry on the dead server) offered to C"
        lost=$((lost + 1))
    else
        assert_eq "$HS" Reused "session s-$i (on live server ${ON[$i]}) offered to C"
    fi
done
no_slow "$C_ADMIN" "$WAIT_LE" "$HS_LE" "one server killed, sessions offered to C"
log "on C: $lost full handshakes (entries on the dead server), $((N - lost)) Reused;" \
    "no memcached operation over $WAIT_LE s, no handshake over $HS_LE s"

# --- sessions made after the kill still cross instances ---
# Every one of them, not only those whose key maps to a live server.
cp0=$(curl -sS "http://127.0.0.1:$A_ADMIN/metrics")
t0=$(m "$A_ADMIN" tessera_session_cache_ops_total op=set)
make_sessions "$A_ADMIN" "$A_PORT" after "$NEW" nowait
# Wait until each set has an answer, stored or not.
WAIT_FOR_LIMIT=15 wait_for metric_at_least "$A_ADMIN" $((t0 + NEW)) \
    tessera_session_cache_ops_total op=set
curl -sS "http://127.0.0.1:$A_ADMIN/metrics" >after-kill-A.txt
printf '%s\n' "$cp0" >before-kill-A.txt
sets=$(python3 "$LIB_DIR/../tools/promcheck.py" diff before-kill-A.txt after-kill-A.txt \
    --sum-over frontend | grep 'op="set"' | tr '\n' ' ')
reused=0
for i in $(seq 1 "$NEW"); do
    hs "$B_PORT" -tls1_2 -sess_in "after-$i.pem"
    [ "$HS" = Reused ] && reused=$((reused + 1))
done
[ "$reused" -eq "$NEW" ] || fail "only $reused of the $NEW sessions made on A after the kill \
resumed on B (A's sets: $sets); the others' keys still map to the dead \
server $DEAD"
log "$NEW sessions made on A after the kill: all Reused on B"

for p in "$A_PID" "$B_PID" "$C_PID"; do
    TESSERA_PID=$p
    stop_tessera || fail "tessera (pid $p) exited with $?"
done
log "ok"
