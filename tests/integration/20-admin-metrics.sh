#!/bin/bash
# 20-admin-metrics: /metrics counts exactly what happened.  Each phase makes
# a known number of connections of one kind and checks that the counters
# moved by exactly the derived amounts and that no other counter moved:
# full TLS 1.3 handshakes relaying a known number of bytes, TLS 1.2
# session-ID resumptions, TLS 1.3 and TLS 1.2 ticket resumptions, a
# handshake timeout, garbage, a refused backend (on a second frontend, so
# the frontend label must keep them apart).  Every scrape must pass
# promcheck.py (Prometheus text format 0.0.4), and promcheck.py itself must
# reject broken expositions.
# subset: tsan
# shellcheck source=tests/integration/lib.sh disable=SC2034
. "$(dirname "$0")/lib.sh"

PROMCHECK=$LIB_DIR/../tools/promcheck.py
ADMIN_CT=

make_certs
start_backend echo
PW=$(free_port)
PD=$(free_port)
DEAD_BACKEND=$(free_port)
cfg_frontend web "$PW" "$BACKEND_PORT" "$(cert_entry ec)"
cfg_frontend dead "$PD" "$DEAD_BACKEND" "$(cert_entry ec)"
cfg_admin
CFG_WORKERS=2
CFG_TIMEOUTS='handshake = 1;'
write_config "$TEST_DIR/tessera.conf"
start_tessera "$TEST_DIR/tessera.conf"

# scrape FILE: GET /metrics into FILE; it must be a 200 with the 0.0.4
# Content-Type and pass promcheck.
scrape() {
    local file=$1 status out
    status=$(curl -sS --max-time 10 -D "$file.hdr" -o "$file" -w '%{http_code}' \
        "http://127.0.0.1:$ADMIN_PORT/metrics") || fail "GET /metrics failed"
    assert_eq "$status" 200 "GET /metrics status"
    ADMIN_CT=$(sed -n 's/^[Cc]ontent-[Tt]ype: *//p' "$file.hdr" | tr -d '\r')
    out=$(python3 "$PROMCHECK" check "$file" --content-type "$ADMIN_CT") ||
        fail "/metrics ($file) fails promcheck:
$out"
}

# value FILE NAME [LABEL=VALUE...]: a sample's value summed over the rest.
value() {
    python3 "$PROMCHECK" value "$@" || fail "no sample $* in $1"
}

# expect_moves NAME BEFORE EXPECTED [--sum-over LABEL]: scrape until the
# counters that moved since BEFORE are exactly EXPECTED (lines
# `series delta`, any order); fail with the difference at the time limit.
# Counters are plain per-worker stores read without a lock, so a value may
# show up a moment late; it may never show up wrong.
expect_moves() {
    local name=$1 before=$2 expected=$3
    shift 3
    local want got deadline=$((SECONDS + WAIT_LIMIT))
    want=$(printf '%s\n' "$expected" | sed '/^[[:space:]]*$/d; s/^[[:space:]]*//' | sort)
    while :; do
        scrape "$TEST_DIR/after-$name.txt"
        got=$(python3 "$PROMCHECK" diff "$before" "$TEST_DIR/after-$name.txt" "$@" | sort)
        [ "$got" = "$want" ] && break
        if [ $SECONDS -ge $deadline ]; then
            fail "$name: counters moved by
$got
expected
$want"
        fi
        sleep 0.2
    done
    log "$name: counters moved exactly as expected ($(printf '%s\n' "$want" | wc -l) series)"
}

# ping_bytes COUNT: bytes of "ping 0\n" .. "ping COUNT\n", the lines a
# resume-chain of COUNT resumptions sends (and gets back) on COUNT+1
# connections.
ping_bytes() {
    local i n=0
    for i in $(seq 0 "$1"); do
        n=$((n + ${#i} + 6))
    done
    echo "$n"
}

scrape "$TEST_DIR/m0.txt"
log "/metrics passes promcheck (Content-Type: $ADMIN_CT)"

# --- 5 full TLS 1.3 handshakes relaying known byte counts ---
# No session offered, so each is a full handshake; OpenSSL sends its
# default of 2 tickets after a full TLS 1.3 handshake, each one encrypted
# by tessera's ticket callback.
sizes="1 100 16385 65536 200000"
total=0
for n in $sizes; do
    tclient echo --port "$PW" --tls 1.3 --bytes "$n" >/dev/null || fail "echo of $n bytes failed"
    total=$((total + n))
done
expect_moves full13 m0.txt "
    tessera_connections_total 5
    tessera_handshakes_total{type=\"full\"} 5
    tessera_bytes_total{direction=\"in\"} $total
    tessera_bytes_total{direction=\"out\"} $total
    tessera_tickets_total{op=\"issued\"} 10
    tessera_handshake_duration_seconds_count 5
" --sum-over frontend
cp after-full13.txt m1.txt

# --- 7 TLS 1.2 session-ID resumptions (1 full + 7 resumed) ---
# The client offers no ticket extension: no ticket is issued, the full
# handshake's session is stored once, and each resumption is a cache hit.
tclient resume-chain --port "$PW" --tls 1.2 --mode id --count 7 >/dev/null ||
    fail "TLS 1.2 session-ID resumption chain failed"
b=$(ping_bytes 7)
expect_moves id12 m1.txt "
    tessera_connections_total 8
    tessera_handshakes_total{type=\"full\"} 1
    tessera_handshakes_total{type=\"resumed_session\"} 7
    tessera_bytes_total{direction=\"in\"} $b
    tessera_bytes_total{direction=\"out\"} $b
    tessera_session_cache_ops_total{op=\"get\",result=\"hit\"} 7
    tessera_session_cache_ops_total{op=\"set\",result=\"stored\"} 1
    tessera_resumptions_total{type=\"session\",origin=\"local\"} 7
    tessera_handshake_duration_seconds_count 8
" --sum-over frontend
cp after-id12.txt m2.txt

# --- 6 TLS 1.3 ticket resumptions (1 full + 6 resumed) ---
# Each resumption decrypts one ticket and renews it (callback returns 2):
# OpenSSL then sends one new ticket; the full handshake sent 2.
tclient resume-chain --port "$PW" --tls 1.3 --mode ticket --count 6 >/dev/null ||
    fail "TLS 1.3 ticket resumption chain failed"
b=$(ping_bytes 6)
expect_moves ticket13 m2.txt "
    tessera_connections_total 7
    tessera_handshakes_total{type=\"full\"} 1
    tessera_handshakes_total{type=\"resumed_ticket\"} 6
    tessera_bytes_total{direction=\"in\"} $b
    tessera_bytes_total{direction=\"out\"} $b
    tessera_tickets_total{op=\"issued\"} 8
    tessera_tickets_total{op=\"decrypted\"} 6
    tessera_tickets_total{op=\"renewed\"} 6
    tessera_resumptions_total{type=\"ticket\",origin=\"local\"} 6
    tessera_handshake_duration_seconds_count 7
" --sum-over frontend
cp after-ticket13.txt m3.txt

# --- 4 TLS 1.2 ticket resumptions (1 full + 4 resumed) ---
# One ticket from the full handshake; it was made with the current key, so
# it is accepted without renewal and no new ticket is issued.  A TLS 1.2
# session that travels in a ticket is not stored in the cache.
tclient resume-chain --port "$PW" --tls 1.2 --mode ticket --count 4 >/dev/null ||
    fail "TLS 1.2 ticket resumption chain failed"
b=$(ping_bytes 4)
expect_moves ticket12 m3.txt "
    tessera_connections_total 5
    tessera_handshakes_total{type=\"full\"} 1
    tessera_handshakes_total{type=\"resumed_ticket\"} 4
    tessera_bytes_total{direction=\"in\"} $b
    tessera_bytes_total{direction=\"out\"} $b
    tessera_tickets_total{op=\"issued\"} 1
    tessera_tickets_total{op=\"decrypted\"} 4
    tessera_resumptions_total{type=\"ticket\",origin=\"local\"} 4
    tessera_handshake_duration_seconds_count 5
" --sum-over frontend
cp after-ticket12.txt m4.txt

# --- handshake errors: a client that stalls, a client that sends garbage ---
out=$("$TCLIENT" raw --port "$PW" --nothing --timeout 15 2>&1) ||
    fail "stalled client not closed by the 1 s handshake timeout: $out"
expect_moves timeout m4.txt "
    tessera_connections_total{frontend=\"web\"} 1
    tessera_handshake_errors_total{frontend=\"web\",reason=\"timeout\"} 1
"
cp after-timeout.txt m5.txt
out=$("$TCLIENT" raw --port "$PW" --data 'GET / HTTP/1.1\r\nHost: example.test\r\n\r\n' \
    --timeout 15 2>&1) || fail "garbage not closed: $out"
out=$("$TCLIENT" raw --port "$PW" --data '\x16\x03\x01\xff\xff\x01\x00\xff\xfb\x03\x03' \
    --timeout 15 2>&1) || fail "oversized record not closed: $out"
expect_moves protocol m5.txt "
    tessera_connections_total{frontend=\"web\"} 2
    tessera_handshake_errors_total{frontend=\"web\",reason=\"protocol\"} 2
"
cp after-protocol.txt m6.txt

# --- a refused backend on the second frontend, one echo on the first ---
# The handshake completes (and sends its 2 tickets) before the backend
# connect fails; the per-frontend label keeps the two frontends apart.
out=$("$TCLIENT" echo --port "$PD" --tls 1.3 --bytes 10 2>&1) &&
    fail "echo through a frontend with a dead backend succeeded: $out"
tclient echo --port "$PW" --tls 1.3 --bytes 300 >/dev/null || fail "echo on web failed"
expect_moves refused m6.txt "
    tessera_connections_total{frontend=\"web\"} 1
    tessera_connections_total{frontend=\"dead\"} 1
    tessera_handshakes_total{frontend=\"web\",type=\"full\"} 1
    tessera_handshakes_total{frontend=\"dead\",type=\"full\"} 1
    tessera_bytes_total{frontend=\"web\",direction=\"in\"} 300
    tessera_bytes_total{frontend=\"web\",direction=\"out\"} 300
    tessera_backend_connect_errors_total{frontend=\"dead\"} 1
    tessera_tickets_total{frontend=\"web\",op=\"issued\"} 2
    tessera_tickets_total{frontend=\"dead\",op=\"issued\"} 2
    tessera_handshake_duration_seconds_count{frontend=\"web\"} 1
    tessera_handshake_duration_seconds_count{frontend=\"dead\"} 1
"
cp after-refused.txt m7.txt

# --- totals since start ---
# The histogram counts completed handshakes only: its _count is the sum of
# tessera_handshakes_total (the readiness probes completed none).
hs=$(value m7.txt tessera_handshakes_total)
hc=$(value m7.txt tessera_handshake_duration_seconds_count)
assert_eq "$hc" "$hs" "histogram _count vs handshakes_total"
assert_eq "$hs" 27 "handshakes completed in all"
assert_eq "$(value m7.txt tessera_handshake_duration_seconds_bucket le=+Inf)" "$hs" \
    "le=+Inf bucket vs handshakes"
# Every connection of ours is closed: the gauge comes back to 0.
active_zero() {
    scrape "$TEST_DIR/active.txt"
    [ "$(value active.txt tessera_connections_active)" = 0 ]
}
wait_for active_zero || fail "tessera_connections_active stays at \
$(value active.txt tessera_connections_active) with no client connected"
# /stats agrees with /metrics.
curl -sS --max-time 10 -o stats.json "http://127.0.0.1:$ADMIN_PORT/stats" || fail "GET /stats"
python3 - "$hs" <<'PYEOF' || fail "/stats disagrees with /metrics: $(head -c 2000 stats.json)"
import json, sys
s = json.load(open("stats.json"))
h = s["totals"]["handshakes_total"]
assert sum(h.values()) == int(sys.argv[1]), h
assert h == {"full": 10, "resumed_session": 7, "resumed_ticket": 10}, h
assert s["totals"]["tickets_total"]["renewed"] == 6, s["totals"]["tickets_total"]
assert s["frontends"]["dead"]["backend_connect_errors_total"] == 1
assert s["frontends"]["web"]["backend_connect_errors_total"] == 0
assert sum(w["handshakes_total"]["full"] for w in s["workers"]) == 10
PYEOF
log "totals: $hs handshakes, histogram and /stats agree"

# --- promcheck must reject what the format forbids ---
# must_reject NAME SED_SCRIPT [CONTENT_TYPE]: m7.txt edited by SED_SCRIPT fails.
must_reject() {
    local name=$1 script=$2 ct=${3:-$ADMIN_CT}
    sed -e "$script" m7.txt >"bad-$name.txt"
    cmp -s m7.txt "bad-$name.txt" && [ "$ct" = "$ADMIN_CT" ] &&
        fail "promcheck self-test $name: the edit changed nothing"
    if python3 "$PROMCHECK" check "bad-$name.txt" --content-type "$ct" >"bad-$name.out" 2>&1; then
        fail "promcheck accepted a broken exposition ($name)"
    fi
}
must_reject no-help '/^# HELP tessera_bytes_total /d'
must_reject no-type '/^# TYPE tessera_workers /d'
must_reject type-after-samples '/^# TYPE tessera_draining/{h;d};/^tessera_draining /G'
# shellcheck disable=SC2016 # a sed script
must_reject interleaved '/^tessera_connections_total{frontend="web"}/{h;d};$G'
must_reject counter-name 's/^tessera_accept_pauses_total/tessera_accept_pauses/;
    s/ tessera_accept_pauses_total / tessera_accept_pauses /'
must_reject bad-escape 's/frontend="dead"/frontend="de\\ad"/'
must_reject bad-label-name 's/{frontend="web"}/{1frontend="web"}/'
must_reject bad-value 's/^\(tessera_workers\) .*/\1 two/'
must_reject not-cumulative 's/^\(tessera_handshake_duration_seconds_bucket{frontend="web",le="10"}\) .*/\1 0/'
must_reject inf-vs-count 's/^\(tessera_handshake_duration_seconds_count{frontend="web"}\) .*/\1 999/'
must_reject duplicate '/^tessera_workers /p'
must_reject content-type 's/x/x/' 'text/plain; charset=utf-8'
log "promcheck rejects 12 kinds of broken exposition"

tessera_running || fail "tessera died"
stop_tessera || fail "tessera exited with status $?"
log "ok"
