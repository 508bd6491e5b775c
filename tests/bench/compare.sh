#!/usr/bin/env bash
# compare.sh - tessera against hitch and HAProxy on one machine, one worker each.
#
# Each server runs alone with ONE worker/thread pinned to core 0 (BENCH_SERVER_CPU),
# the load generator (tessera-bench) and the plaintext backend share core 1
# (BENCH_CLIENT_CPU).  All three get the same certificate, the same backend, the
# same protocol versions, TLS 1.2 ciphers, TLS 1.3 cipher suites and groups.
# For every cell the server is started afresh, measured over a fixed number of
# exchanges, and stopped; cells are repeated R times with the servers interleaved
# (A B C A B C ...) so that drift shows up as spread, not as a bias.
#
# Server CPU is utime+stime of the server's processes from /proc/PID/stat,
# sampled by tessera-bench at the start and the end of its measured window.
#
# Cells 9-11 (--memcached) measure tessera's shared session cache instead of comparing servers:
# the measured instance B runs alone on core 0 with one worker; memcached, the instance A that
# makes the sessions, the client and the backend share core 1.
#   9, 10  cross-instance resumption (TLS 1.2 session ID; TLS 1.3 stateful ticket): sessions made
#          on A and resumed on B through memcached ("memcached"), against sessions made and
#          resumed on one instance with sessions.store = "local" ("local").
#   11     full handshakes while other clients offer session IDs that B must look up, with
#          memcached running ("healthy") or SIGSTOPped for the measured window ("stopped").
# Cells 16-17 (--memory, with cell 7) measure memory, all three servers: 16 connections that only
# connect and send nothing (a scanner, a slow opener); 17 a surge of SURGE_N connections (half
# idle TLS 1.3, half silent) opened and closed, and the server's RSS 10 s after the last one
# closed, against its RSS before the surge (after a 300-handshake warm-up).
# Cells 12-13 (--tickets) measure stateless-ticket resumption across instances, with the same
# layout (B measured on core 0; A, memcached, client and backend on core 1):
#   12, 13 TLS 1.2 ticket; TLS 1.3 ticket (psk_dhe_ke, X25519).  Tickets made on one tessera and
#          resumed on it ("local"), made on A and resumed on B where A and B share the ticket
#          keyring through memcached ("memcached"), and made on one HAProxy and resumed on
#          another where both load one tls-ticket-keys file ("haproxy").
# Cell 14 (--reload) compares the three servers again, each under a closed-loop load of full
# TLS 1.3 handshakes for RELOAD_SECS (60 s; 15 s with --quick), once without reloads and once
# reloaded every second with a certificate swapped each time ("storm"); see compare-reload.sh.
# Cells 18-19 (--proxy) compare the three servers sending the PROXY protocol v2 to the backend
# ("v2": hitch write-proxy-v2 = on, HAProxy send-proxy-v2 with the TLVs tessera sends, tessera
# proxy_protocol = "v2") against not sending it ("off"), each server on and off in turn:
#   18     full TLS 1.3 handshakes (cell 1's client, with SNI) and one small exchange each;
#   19     TLS 1.2 ticket resumptions (cell 4's client, with SNI) and one small exchange each.
#   The backend is `tessera-bench backend http --proxy required|absent`, started afresh for each
#   run: with v2 it parses and skips the header (tessera's own parser) and the run fails
#   (status noheader) unless every connection that sent a byte carried a valid v2 header, at
#   least one per measured exchange; with off a connection that starts with one fails it
#   (status header).  The table gives CPU per exchange on and off, their ratio, and tessera
#   against hitch and HAProxy with v2 on.
#
# Usage: tests/bench/compare.sh [--quick] [--reps R] [--servers "hitch haproxy tessera"]
#                               [--cells "1 2 3 4 5 6 7 8"] [--memcached] [--tickets] [--memory]
#                               [--reload] [--proxy] [--out FILE] [--keep]
#                               [--report-from RESULTS]   (tables from an earlier run)
#   --memcached is short for --cells "9 10 11", --tickets for --cells "12 13", --memory for
#   --cells "7 16 17", --reload for --cells 14, --proxy for --cells "18 19"; given together they
#   add up (the servers list does not apply to cells 9-13).  R is 3 (5 for cells 12 and 13)
#   unless --reps or --quick (R=1) says otherwise.
# Environment: TESSERA_BIN (build/release/tessera), TESSERA_TOOLS
# (build/release/tests/tools), TESSERA_BENCH (build/release/tests/bench/tessera-bench;
# compiled from tests/bench/*.c into the work folder when missing),
# BENCH_SERVER_CPU (0), BENCH_CLIENT_CPU (1).
#
# Only loopback addresses are used; ports are picked free.  Every process the
# script starts is killed on exit.

set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TESSERA_BIN=${TESSERA_BIN:-$ROOT/build/release/tessera}
TOOLS=${TESSERA_TOOLS:-$ROOT/build/release/tests/tools}
BENCH=${TESSERA_BENCH:-$ROOT/build/release/tests/bench/tessera-bench}
SERVER_CPU=${BENCH_SERVER_CPU:-0}
CLIENT_CPU=${BENCH_CLIENT_CPU:-1}

REPS=3
TK_REPS=5   # cells 12 and 13 (their differences are small; --reps and --quick set both)
QUICK=0
SERVERS="hitch haproxy tessera"
CELLS="1 2 3 4 5 6 7 8"
CELLS_GIVEN=0
OUT=""
KEEP=0
REPORT_FROM=""

# The one TLS profile every server gets (cells pick a version on the client side).
CIPHERS12="ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256"
SUITES13="TLS_AES_128_GCM_SHA256"
TLS_GROUPS="X25519:P-256"

usage() {
    sed -n '2,/^$/s/^# \{0,1\}//p' "$0"
}

while [ $# -gt 0 ]; do
    case "$1" in
    --quick) QUICK=1; REPS=1; TK_REPS=1 ;;
    --reps) REPS=$2; TK_REPS=$2; shift ;;
    --servers) SERVERS=$2; shift ;;
    --cells) CELLS=$2; CELLS_GIVEN=1; shift ;;
    --memcached) CELLS="$([ "$CELLS_GIVEN" = 1 ] && echo "$CELLS ")9 10 11"; CELLS_GIVEN=1 ;;
    --tickets) CELLS="$([ "$CELLS_GIVEN" = 1 ] && echo "$CELLS ")12 13"; CELLS_GIVEN=1 ;;
    --memory) CELLS="$([ "$CELLS_GIVEN" = 1 ] && echo "$CELLS ")7 16 17"; CELLS_GIVEN=1 ;;
    --reload) CELLS="$([ "$CELLS_GIVEN" = 1 ] && echo "$CELLS ")14"; CELLS_GIVEN=1 ;;
    --proxy) CELLS="$([ "$CELLS_GIVEN" = 1 ] && echo "$CELLS ")18 19"; CELLS_GIVEN=1 ;;
    --out) OUT=$2; shift ;;
    --keep) KEEP=1 ;;
    --report-from) REPORT_FROM=$2; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "compare.sh: unknown option $1" >&2; usage >&2; exit 64 ;;
    esac
    shift
done

if [ "$QUICK" = 1 ]; then
    N_FULL=1000; N_RESUME=2000; BULK_CONNS=16; IDLE_N=500; WARMUP=0.3; SURGE_N=2000
    N_MC_RESUME=1500; N_MC_FULL=1000; N_TK_RESUME=2000; RELOAD_SECS=15
else
    N_FULL=8000; N_RESUME=15000; BULK_CONNS=64; IDLE_N=2000; WARMUP=1; SURGE_N=10000
    N_MC_RESUME=10000; N_MC_FULL=6000; N_TK_RESUME=15000; RELOAD_SECS=60
fi
# Cells 9 and 10: sessions made beforehand, each offered once.  The pool covers the measured
# exchanges plus those of a short warm-up (MC_WARMUP s at up to ~8000 resumptions/s).
MC_WARMUP=0.25
MC_PRIME=$((N_MC_RESUME + 3000))
# Cells 12 and 13: the same, with more exchanges (a resumption from a ticket is cheap, so the run
# needs more of them to last long enough for the 10 ms CPU ticks).
TK_PRIME=$((N_TK_RESUME + 3000))
# Cell 11: connections of the session-ID load in flight, and the size of its pool of session IDs
# (offered round-robin: B never learns them, so each offer is a lookup).
MC_LOOKUP_CONC=4
MC_LOOKUP_POOL=2000
BULK_BYTES=$((4 * 1024 * 1024))

WORK=$(mktemp -d /tmp/tessera-compare.XXXXXX)
[ -n "$OUT" ] || OUT=$WORK/report.md
PIDS=()
KIDS=""
MC_PID=""
SERVER_PIDS=""
SERVER_PID=""

log() { echo "[compare $(date +%H:%M:%S)] $*" >&2; }

# run_status NAME LINE WHAT: the status of a run of server NAME whose tessera-bench line is LINE:
# ok, crashed (the server died; its log's tail goes to stderr), nooutput, timeout or aborted.
run_status() {
    local name=$1 line=$2 what=$3 status=ok
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        status=crashed
        log "$name DIED during $what"
        tail -n 30 "$WORK/$name.log" >&2
    fi
    [ -n "$line" ] || status=nooutput
    case " $line " in *" timeout=1 "*) status=timeout ;; *" aborted=1 "*) status=aborted ;; esac
    echo "$status"
}

# Stop one process: SIGTERM, up to 5 s of grace, then SIGKILL.
stop_pid() {
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || return 0
    for i in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 0
}

# Drop a PID from the exit trap's list once its process is stopped, so that the trap never
# signals a reused PID.
forget_pid() {
    local i
    for i in "${!PIDS[@]}"; do
        [ "${PIDS[$i]}" = "$1" ] && unset 'PIDS[i]'
    done
    PIDS=("${PIDS[@]}")
}

cleanup() {
    local i
    # A SIGSTOPped memcached would hold SIGTERM pending: let it run again first.
    [ -n "$MC_PID" ] && kill -CONT "$MC_PID" 2>/dev/null
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        stop_pid "${PIDS[$i]}"
    done
    if [ "$KEEP" = 1 ]; then
        log "work folder kept: $WORK"
    else
        case "$OUT" in "$WORK"/*) cp "$OUT" "/tmp/tessera-compare-last.md" 2>/dev/null
                                   log "report copied to /tmp/tessera-compare-last.md" ;; esac
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A free loopback TCP port (bind to port 0 and give it back).
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null && return
    local p
    while :; do
        p=$((20000 + RANDOM % 20000))
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
    done
}

# Wait (at most $3 seconds) until 127.0.0.1:$1 accepts, while process $2 lives.
wait_port() {
    local port=$1 pid=$2 limit=${3:-10} t0=$SECONDS
    while [ $((SECONDS - t0)) -lt "$limit" ]; do
        kill -0 "$pid" 2>/dev/null || return 1
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}

# Wait (at most 10 s) for "PORT n" on the first line of file $1; prints n.
wait_port_line() {
    local file=$1 t0=$SECONDS line
    while [ $((SECONDS - t0)) -lt 10 ]; do
        line=$(head -n 1 "$file" 2>/dev/null)
        case "$line" in PORT\ *) echo "${line#PORT }"; return 0 ;; esac
        sleep 0.05
    done
    return 1
}

# A process and its children (hitch forks its workers), comma-separated.
pid_tree() {
    local pid=$1 kids
    kids=$(cat /proc/"$pid"/task/*/children 2>/dev/null | tr -s ' \n' ' ')
    echo "$pid${kids:+,$(echo $kids | tr ' ' ',')}"
}

# ---- the load generator --------------------------------------------------------------------

# With --report-from, nothing is started: the tables are made from an earlier raw results file.
if [ -z "$REPORT_FROM" ]; then

# Cells 9-13 need --prime-port, which a load generator built before it was added lacks.
NEED_PRIME=0
case " $CELLS " in *" 9 "*|*" 10 "*|*" 11 "*|*" 12 "*|*" 13 "*) NEED_PRIME=1 ;; esac
if [ -x "$BENCH" ] && [ "$NEED_PRIME" = 1 ] && ! "$BENCH" --help 2>/dev/null | grep -q -- --prime-port; then
    log "$BENCH has no --prime-port (built from an older source)"
    BENCH=$WORK/missing
fi
# Cells 18-19 need the backend's --proxy, which a load generator built before it was added lacks.
case " $CELLS " in *" 18 "*|*" 19 "*)
    if [ -x "$BENCH" ] && ! "$BENCH" --help 2>&1 | grep -q -- '--proxy required'; then
        log "$BENCH has no backend --proxy (built from an older source)"
        BENCH=$WORK/missing
    fi ;;
esac
if [ ! -x "$BENCH" ]; then
    log "no $BENCH; compiling tests/bench/*.c"
    BENCH=$WORK/tessera-bench
    gcc -std=gnu11 -O2 -Wall -Wextra -D_GNU_SOURCE -DOPENSSL_API_COMPAT=30000 -DOPENSSL_NO_DEPRECATED \
        -pthread -I"$ROOT/src" -o "$BENCH" "$ROOT"/tests/bench/*.c "$ROOT/src/proxy_proto.c" \
        "$ROOT/src/check.c" -lssl -lcrypto || exit 1
fi

ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

# ---- certificates --------------------------------------------------------------------------

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj /CN=localhost \
    -keyout "$WORK/ec.key" -out "$WORK/ec.crt" 2>/dev/null || exit 1
openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=localhost \
    -keyout "$WORK/rsa.key" -out "$WORK/rsa.crt" 2>/dev/null || exit 1
cat "$WORK/ec.crt" "$WORK/ec.key" >"$WORK/ec.pem"
cat "$WORK/rsa.crt" "$WORK/rsa.key" >"$WORK/rsa.pem"
mkdir -p "$WORK/ocsp"

# ---- backends (on the client's core) -------------------------------------------------------

# start_backend KIND: sets BACKEND_PORT.
start_backend() {
    local kind=$1 out=$WORK/backend-$1.out
    if [ -x "$TOOLS/testbackend" ]; then
        taskset -c "$CLIENT_CPU" "$TOOLS/testbackend" "$kind" 127.0.0.1:0 >"$out" 2>&1 &
        BACKEND_DESC="tests/tools/testbackend $kind"
    else
        taskset -c "$CLIENT_CPU" "$BENCH" backend "$kind" --listen 127.0.0.1:0 >"$out" 2>&1 &
        BACKEND_DESC="tessera-bench backend $kind"
    fi
    PIDS+=($!)
    BACKEND_PORT=$(wait_port_line "$out") || { log "backend $kind did not start"; cat "$out" >&2; exit 1; }
}
start_backend http
HTTP_PORT=$BACKEND_PORT
HTTP_DESC=$BACKEND_DESC
start_backend echo
ECHO_PORT=$BACKEND_PORT
ECHO_DESC=$BACKEND_DESC

else
    HTTP_DESC="(see the raw results)"
    ECHO_DESC="(see the raw results)"
fi

# ---- servers -------------------------------------------------------------------------------

# Each start_* writes its configuration, starts the server on core 0 and sets
# SERVER_PID (the process to signal) and SERVER_PORT.  $1 = certificate stem, $2 = backend port.
# With PROXY_V2 set (cells 18-19), the server sends a PROXY protocol v2 header to the backend.

start_hitch() {
    local cert=$1 bport=$2 conf=$WORK/hitch.conf user
    SERVER_PORT=$(free_port)
    # hitch refuses to run its workers as root.
    for user in _hitch hitch nobody; do getent passwd "$user" >/dev/null && break; done
    cat >"$conf" <<EOF
# hitch 1.7 (Debian): one worker; no shared session cache (Debian builds hitch
# without --enable-sessioncache, so "session-cache" is refused) - OpenSSL's own
# in-process cache and tickets with OpenSSL's default (random, per-process) key.
frontend = "[127.0.0.1]:$SERVER_PORT"
backend = "[127.0.0.1]:$bport"
pem-file = "$WORK/$cert.pem"
workers = 1
user = "$user"
daemon = off
log-level = 1
backlog = 1024
tls-protos = TLSv1.2 TLSv1.3
ciphers = "$CIPHERS12"
ciphersuites = "$SUITES13"
ecdh-curve = "$TLS_GROUPS"
prefer-server-ciphers = on
ocsp-dir = "$WORK/ocsp"
${PROXY_V2:+write-proxy-v2 = on}
EOF
    taskset -c "$SERVER_CPU" hitch --config="$conf" >>"$WORK/hitch.log" 2>&1 &
    SERVER_PID=$!
}

# With HAPROXY_MASTER_WORKER set (cell 14), HAProxy runs as Debian's haproxy.service starts it:
# master-worker mode (-Ws) with a master CLI socket (-S); SERVER_PID is then the master.
start_haproxy() {
    local cert=$1 bport=$2 conf=$WORK/haproxy.cfg mode=(-db)
    [ -n "${HAPROXY_MASTER_WORKER:-}" ] && mode=(-Ws -S "$WORK/haproxy-master.sock")
    SERVER_PORT=$(free_port)
    cat >"$conf" <<EOF
# HAProxy 2.6, TCP mode, one thread; tune.ssl.cachesize left at its default.
global
    nbthread 1
    maxconn 8000
defaults
    mode tcp
    timeout connect 5s
    timeout client 300s
    timeout server 300s
frontend fe
    bind 127.0.0.1:$SERVER_PORT ssl crt $WORK/$cert.pem ssl-min-ver TLSv1.2 ssl-max-ver TLSv1.3 ciphers $CIPHERS12 ciphersuites $SUITES13 curves $TLS_GROUPS
    default_backend be
backend be
    server s1 127.0.0.1:$bport${PROXY_V2:+ send-proxy-v2 proxy-v2-options ssl,ssl-cipher,cert-sig,cert-key,authority}
EOF
    taskset -c "$SERVER_CPU" haproxy "${mode[@]}" -f "$conf" >>"$WORK/haproxy.log" 2>&1 &
    SERVER_PID=$!
}

start_tessera() {
    local cert=$1 bport=$2 conf=$WORK/tessera.conf admin=${ADMIN_LISTEN:-}
    SERVER_PORT=$(free_port)
    cat >"$conf" <<EOF
# tessera: one worker, local session store, tickets on, admin endpoint off
# (on, and scraped every second, for the "tessera-admin" variant).
workers = 1;
log = { level = "${TESSERA_LOG_LEVEL:-warn}"; syslog = false; };
tls = {
  min_version  = "TLSv1.2";
  ciphers      = "$CIPHERS12";
  ciphersuites = "$SUITES13";
  groups       = "$TLS_GROUPS";
};
frontends = (
  { name    = "bench";
    listen  = "127.0.0.1:$SERVER_PORT";
    backend = "127.0.0.1:$bport";
    certs   = ( { cert = "$WORK/$cert.pem"; } );
    ${PROXY_V2:+proxy_protocol = \"v2\";}
  }
);
sessions = { store = "local"; tickets = true; };
admin = { listen = "$admin"; };
timeouts = { idle = 300; shutdown = 2; };
EOF
    taskset -c "$SERVER_CPU" "$TESSERA_BIN" -c "$conf" >>"$WORK/tessera.log" 2>&1 &
    SERVER_PID=$!
}

# tessera with the admin endpoint on and a Prometheus-like scraper fetching
# /metrics every second (on the client core) for as long as the server lives.
start_tessera-admin() {
    local aport
    aport=$(free_port)
    ADMIN_LISTEN="127.0.0.1:$aport" start_tessera "$@"
    (
        while kill -0 "$SERVER_PID" 2>/dev/null; do
            curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$aport/metrics"
            sleep 1
        done
    ) &
    PIDS+=("$!")
    taskset -pc "$CLIENT_CPU" "$!" >/dev/null 2>&1
}

# start_server NAME CERT BACKEND_PORT: start and wait until it accepts; sets SERVER_PIDS
# (every process whose CPU and memory count).  Returns 1 if it did not come up.
start_server() {
    local name=$1 t0
    "start_$name" "$2" "$3"
    PIDS+=("$SERVER_PID")
    if ! wait_port "$SERVER_PORT" "$SERVER_PID" 10; then
        log "$name did not start; its log:"
        tail -n 20 "$WORK/$name.log" >&2
        return 1
    fi
    # hitch, and HAProxy in master-worker mode, accept in a forked worker: wait (bounded) until
    # the worker exists.
    t0=$SECONDS
    SERVER_PIDS=$(pid_tree "$SERVER_PID")
    if [ "$name" = hitch ] || { [ "$name" = haproxy ] && [ -n "${HAPROXY_MASTER_WORKER:-}" ]; }; then
        while [ "$SERVER_PIDS" = "$SERVER_PID" ] && [ $((SECONDS - t0)) -lt 5 ]; do
            sleep 0.05
            SERVER_PIDS=$(pid_tree "$SERVER_PID")
        done
    fi
    return 0
}

stop_server() {
    local pid
    for pid in $(echo "$SERVER_PIDS" | tr ',' ' '); do
        [ "$pid" = "$SERVER_PID" ] || KIDS="$KIDS $pid"
    done
    stop_pid "$SERVER_PID"
    for pid in ${KIDS:-}; do stop_pid "$pid"; done
    KIDS=""
    forget_pid "$SERVER_PID"
}

# ---- the memcached cells (9-11) -------------------------------------------------------------

# start_memcached: memcached on the client's core and a free port; sets MC_PORT and MC_PID.
start_memcached() {
    local user=()
    [ "$(id -u)" -eq 0 ] && user=(-u root)
    MC_PORT=$(free_port)
    taskset -c "$CLIENT_CPU" memcached -l 127.0.0.1 -p "$MC_PORT" -U 0 -t 1 -m 256 "${user[@]}" \
        >>"$WORK/memcached.log" 2>&1 &
    MC_PID=$!
    PIDS+=("$MC_PID")
    wait_port "$MC_PORT" "$MC_PID" 10
}

# start_mc_tessera NAME STORE CPU [ADMIN_PORT]: one tessera instance for the memcached cells, one
# worker, tickets off (TLS 1.2 session IDs and TLS 1.3 stateful tickets live in the session
# cache) unless MC_TICKETS=true (cells 12 and 13: stateless tickets, and with the memcached store
# the ticket keyring is the cluster's), the same frontend name, certificate and cluster secret as
# its peer; sets its PID in ${NAME}_PID and its port in ${NAME}_PORT.  Returns 1 if it did not
# come up.
start_mc_tessera() {
    local name=$1 store=$2 cpu=$3 admin=${4:+127.0.0.1:$4} conf=$WORK/mc-$1.conf port pid
    port=$(free_port)
    cat >"$conf" <<EOF
# tessera instance $name of the memcached cells: one worker, store "$store", tickets ${MC_TICKETS:-false}.
workers = 1;
log = { level = "warn"; syslog = false; };
tls = {
  min_version  = "TLSv1.2";
  ciphers      = "$CIPHERS12";
  ciphersuites = "$SUITES13";
  groups       = "$TLS_GROUPS";
};
frontends = (
  { name    = "bench";
    listen  = "127.0.0.1:$port";
    backend = "127.0.0.1:$HTTP_PORT";
    certs   = ( { cert = "$WORK/ec.pem"; } );
  }
);
sessions = { store = "$store"; tickets = ${MC_TICKETS:-false}; };
memcached = {
  servers     = [ "127.0.0.1:${MC_PORT:-11211}" ];
  secret_file = "$WORK/cluster.key";
};
admin = { listen = "$admin"; };
timeouts = { idle = 300; shutdown = 2; };
EOF
    taskset -c "$cpu" "$TESSERA_BIN" -c "$conf" >>"$WORK/tessera-mc.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    printf -v "${name}_PID" '%s' "$pid"
    printf -v "${name}_PORT" '%s' "$port"
    if ! wait_port "$port" "$pid" 10; then
        log "tessera $name ($store) did not start; its log:"
        tail -n 20 "$WORK/tessera-mc.log" >&2
        return 1
    fi
}

# stop_mc_all: stop what a memcached cell started (the instances first, then memcached).
stop_mc_all() {
    local pid
    [ -n "$MC_PID" ] && kill -CONT "$MC_PID" 2>/dev/null
    for pid in ${B_PID:-} ${A_PID:-} ${MC_PID:-}; do
        stop_pid "$pid"
        forget_pid "$pid"
    done
    A_PID=""
    B_PID=""
    MC_PID=""
    MC_PORT=""
}

# mc_metric ADMIN_PORT OP RESULT: tessera_session_cache_ops_total{op,result} of an instance.
mc_metric() {
    curl -s --max-time 5 "http://127.0.0.1:$1/metrics" |
        awk -v want="op=\"$2\",result=\"$3\"" 'index($0, "tessera_session_cache_ops_total{") == 1 &&
            index($0, want) { v += $2 } END { printf "%d", v }'
}

# run_mc_resume CELL VARIANT REP: cells 9 and 10.  "local": one instance B with the local store;
# the client makes its sessions on B, then resumes each once on B.  "memcached": A and B share
# memcached; the client makes its sessions on A, then resumes each once on B.
run_mc_resume() {
    local cell=$1 v=$2 rep=$3 args line status=ok prime
    if [ "$v" = memcached ]; then
        start_memcached && start_mc_tessera A memcached "$CLIENT_CPU" &&
            start_mc_tessera B memcached "$SERVER_CPU" || status=nostart
        prime=${A_PORT:-0}
    else
        start_mc_tessera B local "$SERVER_CPU" || status=nostart
        prime=${B_PORT:-0}
    fi
    if [ "$status" = ok ]; then
        args="$(cell_args "$cell") --port $B_PORT --prime-port $prime --server-pid $B_PID --conn-timeout 10"
        line=$(taskset -c "$CLIENT_CPU" "$BENCH" $args 2>>"$WORK/bench.err" | grep '^mode=')
        kill -0 "$B_PID" 2>/dev/null || { status=crashed; log "tessera B DIED in cell $cell ($v): $BENCH $args"; }
        [ -n "$line" ] || status=nooutput
        case " $line " in *" timeout=1 "*) status=timeout ;; *" aborted=1 "*) status=aborted ;;
                          *" pool_reused=0 "*) ;; *" pool_reused="*) status=pool_reused ;; esac
    fi
    echo "cell=$cell server=$v rep=$rep status=$status $line" >>"$RESULTS"
    log "cell $cell $v rep $rep: $status $line"
    stop_mc_all
}

# run_mc_outage CELL VARIANT REP: cell 11.  B (memcached store, admin on) on core 0; A (local
# store) only makes the TLS 1.2 sessions whose IDs the lookup load offers: B has never seen them,
# so every offer is a memcached GET (a miss while memcached runs; a timeout, or a drop by the
# circuit breaker, while it is stopped) followed by a full handshake.  The lookup load runs until
# the full-handshake load has finished; "stopped" SIGSTOPs memcached for that whole time.
run_mc_outage() {
    local cell=$1 v=$2 rep=$3 status=ok line="" lk="" lkpid="" aport t0 m args i
    aport=$(free_port)
    start_memcached && start_mc_tessera A local "$CLIENT_CPU" &&
        start_mc_tessera B memcached "$SERVER_CPU" "$aport" || status=nostart
    if [ "$status" = ok ]; then
        : >"$WORK/lookup.err"
        taskset -c "$CLIENT_CPU" "$BENCH" resume --resume id $TLS12 --port "$B_PORT" \
            --prime-port "$A_PORT" --prime-count "$MC_LOOKUP_POOL" --conc "$MC_LOOKUP_CONC" \
            --duration 3600 --warmup 0 --max-errors 0 --conn-timeout 10 \
            >"$WORK/lookup.out" 2>>"$WORK/lookup.err" &
        lkpid=$!
        PIDS+=("$lkpid")
        # The lookup load first makes its sessions on A; wait (bounded) for it to say so.
        t0=$SECONDS
        until grep -q 'primed' "$WORK/lookup.err"; do
            if [ $((SECONDS - t0)) -ge 120 ] || ! kill -0 "$lkpid" 2>/dev/null; then
                status=noprime
                break
            fi
            sleep 0.05
        done
    fi
    if [ "$status" = ok ]; then
        [ "$v" = stopped ] && kill -STOP "$MC_PID"
        args="$(cell_args "$cell") --port $B_PORT --server-pid $B_PID --conn-timeout 10"
        line=$(taskset -c "$CLIENT_CPU" "$BENCH" $args 2>>"$WORK/bench.err" | grep '^mode=')
        kill -TERM "$lkpid" 2>/dev/null
        wait "$lkpid" 2>/dev/null
        [ "$v" = stopped ] && kill -CONT "$MC_PID"
        lk=$(grep '^mode=' "$WORK/lookup.out" | sed 's/\([a-z_0-9]*\)=/lk_\1=/g')
        kill -0 "$B_PID" 2>/dev/null || { status=crashed; log "tessera B DIED in cell $cell ($v)"; }
        [ -n "$line" ] && [ -n "$lk" ] || status=nooutput
        case " $line " in *" timeout=1 "*) status=timeout ;; *" aborted=1 "*) status=aborted ;; esac
        m="get_hit=$(mc_metric "$aport" get hit) get_miss=$(mc_metric "$aport" get miss)"
        m="$m get_timeout=$(mc_metric "$aport" get timeout) get_dropped=$(mc_metric "$aport" get dropped)"
        m="$m get_error=$(mc_metric "$aport" get error)"
        line="$line $m $lk"
    fi
    if [ -n "$lkpid" ]; then
        stop_pid "$lkpid"
        forget_pid "$lkpid"
    fi
    echo "cell=$cell server=$v rep=$rep status=$status $line" >>"$RESULTS"
    log "cell $cell $v rep $rep: $status $line"
    stop_mc_all
}

# ---- the ticket cells (12, 13) --------------------------------------------------------------

# start_tk_haproxy NAME CPU: one HAProxy 2.6 (one thread) for cells 12 and 13, with the TLS
# profile of the other cells and the ticket keys of $WORK/tickets.keys, which both instances
# load; sets ${NAME}_PID and ${NAME}_PORT.  Returns 1 if it did not come up.
start_tk_haproxy() {
    local name=$1 cpu=$2 conf=$WORK/haproxy-tk-$1.cfg port pid
    port=$(free_port)
    cat >"$conf" <<EOF
# HAProxy 2.6 instance $name of the ticket cells: TCP mode, one thread; the session tickets are
# encrypted with keys from a file that every instance loads (tls-ticket-keys).
global
    nbthread 1
    maxconn 8000
defaults
    mode tcp
    timeout connect 5s
    timeout client 300s
    timeout server 300s
frontend fe
    bind 127.0.0.1:$port ssl crt $WORK/ec.pem tls-ticket-keys $WORK/tickets.keys ssl-min-ver TLSv1.2 ssl-max-ver TLSv1.3 ciphers $CIPHERS12 ciphersuites $SUITES13 curves $TLS_GROUPS
    default_backend be
backend be
    server s1 127.0.0.1:$HTTP_PORT
EOF
    taskset -c "$cpu" haproxy -db -f "$conf" >>"$WORK/haproxy-tk.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    printf -v "${name}_PID" '%s' "$pid"
    printf -v "${name}_PORT" '%s' "$port"
    if ! wait_port "$port" "$pid" 10; then
        log "haproxy $name did not start; its log:"
        tail -n 20 "$WORK/haproxy-tk.log" >&2
        return 1
    fi
}

# keyring_current ADMIN_PORT: the fingerprint(s) of the keys an instance encrypts with now
# (role "current", source "cluster"), from GET /keyring; empty while the instance is degraded,
# does not answer, or encrypts with a local key.
keyring_current() {
    local json
    json=$(curl -s --max-time 2 "http://127.0.0.1:$1/keyring") || return 0
    case "$json" in *'"degraded": false'*) ;; *) return 0 ;; esac
    echo "$json" | grep -o '{[^{}]*"role": "current"[^{}]*}' | grep '"source": "cluster"' |
        sed -n 's/.*"fingerprint": "\([0-9a-f]*\)".*/\1/p' | sort -u | tr '\n' ' ' | sed 's/ $//'
}

# wait_keyring_agree ADMIN_PORT_A ADMIN_PORT_B LIMIT: poll both instances' /keyring (at most
# LIMIT seconds) until both encrypt with the same cluster key; prints its fingerprint.
wait_keyring_agree() {
    local t0=$SECONDS a b
    while [ $((SECONDS - t0)) -lt "$3" ]; do
        a=$(keyring_current "$1")
        b=$(keyring_current "$2")
        if [ -n "$a" ] && [ "$a" = "$b" ]; then
            echo "$a"
            return 0
        fi
        sleep 0.1
    done
    log "the keyrings did not agree within $3 s: A current '$a', B current '$b'"
    return 1
}

# tk_counters ADMIN_PORT: B's handshake and ticket counters, as key=value pairs.
tk_counters() {
    curl -s --max-time 5 "http://127.0.0.1:$1/metrics" | awk '
        index($0, "tessera_handshakes_total{") == 1 {
            if (index($0, "type=\"full\"")) f += $2
            else if (index($0, "type=\"resumed_ticket\"")) t += $2
            else if (index($0, "type=\"resumed_session\"")) s += $2 }
        index($0, "tessera_resumptions_total{") == 1 && index($0, "origin=\"remote\"") { r += $2 }
        index($0, "tessera_tickets_total{") == 1 && index($0, "op=\"unknown_key\"") { u += $2 }
        index($0, "tessera_tickets_total{") == 1 && index($0, "op=\"issued\"") { i += $2 }
        END { printf "full=%d rticket=%d rsession=%d remote=%d unknown_key=%d issued=%d", f, t, s, r, u, i }'
}

# tk_delta BEFORE AFTER: AFTER minus BEFORE for each key (both from tk_counters), prefixed b_.
tk_delta() {
    awk -v a="$1" -v b="$2" 'BEGIN {
        n = split(a, x, " "); for (i = 1; i <= n; i++) { split(x[i], kv, "="); v[kv[1]] = kv[2] }
        n = split(b, y, " ")
        for (i = 1; i <= n; i++) { split(y[i], kv, "="); printf "%sb_%s=%d", (i > 1 ? " " : ""), kv[1], kv[2] - v[kv[1]] } }'
}

# run_tk_resume CELL VARIANT REP: cells 12 and 13, one measurement of instance B.
#   local      one tessera B, sessions.store = "local", tickets on; the client makes its tickets
#              on B, then offers each once to B.
#   memcached  tessera A and B, sessions.store = "memcached", tickets on, one cluster secret; the
#              run starts once both /keyring endpoints name the same current cluster key; the
#              client makes its tickets on A, then offers each once to B.
#   haproxy    HAProxy A and B loading one tls-ticket-keys file; tickets made on A, offered to B.
# For tessera, B's counters (/metrics) are read once the tickets are made and after the run, so
# the line also says how B handled the offered tickets (b_full should be 0).
run_tk_resume() {
    local cell=$1 v=$2 rep=$3 status=ok line="" prime=0 aadm="" badm="" fp="" before="" t0 args
    local out=$WORK/tk-bench.out err=$WORK/tk-bench.err bpid i
    case $v in
    local)
        badm=$(free_port)
        MC_TICKETS=true start_mc_tessera B local "$SERVER_CPU" "$badm" || status=nostart
        prime=${B_PORT:-0}
        ;;
    memcached)
        aadm=$(free_port)
        badm=$(free_port)
        start_memcached && MC_TICKETS=true start_mc_tessera A memcached "$CLIENT_CPU" "$aadm" &&
            MC_TICKETS=true start_mc_tessera B memcached "$SERVER_CPU" "$badm" || status=nostart
        prime=${A_PORT:-0}
        if [ "$status" = ok ]; then
            fp=$(wait_keyring_agree "$aadm" "$badm" 20) || status=nokeyring
        fi
        ;;
    haproxy)
        start_tk_haproxy A "$CLIENT_CPU" && start_tk_haproxy B "$SERVER_CPU" || status=nostart
        prime=${A_PORT:-0}
        ;;
    esac
    if [ "$status" = ok ]; then
        args="$(cell_args "$cell") --port $B_PORT --prime-port $prime --server-pid $B_PID --conn-timeout 10"
        : >"$out"
        : >"$err"
        taskset -c "$CLIENT_CPU" "$BENCH" $args >"$out" 2>"$err" &
        bpid=$!
        PIDS+=("$bpid")
        # Read B's counters between priming and the run (bounded wait for the "primed" line).
        if [ -n "$badm" ]; then
            t0=$SECONDS
            until grep -q 'primed' "$err"; do
                if [ $((SECONDS - t0)) -ge 180 ] || ! kill -0 "$bpid" 2>/dev/null; then
                    break
                fi
                sleep 0.02
            done
            before=$(tk_counters "$badm")
        fi
        wait "$bpid" 2>/dev/null
        forget_pid "$bpid"
        cat "$err" >>"$WORK/bench.err"
        line=$(grep '^mode=' "$out")
        kill -0 "$B_PID" 2>/dev/null || { status=crashed; log "$v B DIED in cell $cell: $BENCH $args"; }
        [ -n "$line" ] || status=nooutput
        case " $line " in *" timeout=1 "*) status=timeout ;; *" aborted=1 "*) status=aborted ;; esac
        if [ -n "$badm" ] && [ -n "$before" ]; then
            line="$line $(tk_delta "$before" "$(tk_counters "$badm")")"
        fi
        if [ "$v" = memcached ]; then
            # The keyring may only change at an epoch boundary; say so if it did during the run.
            line="$line keyring=$fp keyring_after=$(keyring_current "$badm" | tr ' ' '+')"
        fi
    fi
    echo "cell=$cell server=$v rep=$rep status=$status $line" >>"$RESULTS"
    log "cell $cell $v rep $rep: $status $line"
    stop_mc_all
}

cell_variants() {
    case $1 in
    9|10) echo "local memcached" ;;
    11) echo "healthy stopped" ;;
    12|13) echo "local memcached${TK_HAPROXY:+ haproxy}" ;;
    esac
}

# ---- cells ---------------------------------------------------------------------------------

TLS13="--tls 1.3 --groups X25519 --ciphersuites $SUITES13"
# TLS 1.2 clients must list P-256 too: an ECDSA P-256 certificate is only usable with a client
# that offers its curve (RFC 8422 5.1); X25519 comes first and is the one negotiated.
TLS12="--tls 1.2 --groups X25519:P-256 --cipher ECDHE-ECDSA-AES128-GCM-SHA256"

cell_name() {
    case $1 in
    1) echo "full TLS 1.3, ECDSA P-256, X25519" ;;
    2) echo "full TLS 1.2, ECDSA P-256, ECDHE-ECDSA-AES128-GCM-SHA256" ;;
    3) echo "resumed TLS 1.2, session ID" ;;
    4) echo "resumed TLS 1.2, ticket" ;;
    5) echo "resumed TLS 1.3, ticket (psk_dhe_ke, X25519)" ;;
    6) echo "bulk: $BULK_CONNS connections x 4 MiB echoed, TLS 1.3" ;;
    7) echo "idle memory: $IDLE_N idle TLS 1.3 connections" ;;
    16) echo "silent memory: $IDLE_N connections that send nothing" ;;
    17) echo "after a surge: RSS 10 s after $SURGE_N connections ($((SURGE_N / 2)) idle TLS 1.3, $((SURGE_N / 2)) silent) closed" ;;
    8) echo "full TLS 1.3, RSA-2048 (rsa_pss_rsae_sha256), X25519" ;;
    9) echo "cross-instance resumption, TLS 1.2 session ID (memcached vs in-process)" ;;
    10) echo "cross-instance resumption, TLS 1.3 stateful ticket (memcached vs in-process)" ;;
    11) echo "full TLS 1.2 handshakes beside session-ID lookups, memcached healthy vs SIGSTOPped" ;;
    12) echo "cross-instance resumption, TLS 1.2 ticket (cluster keyring vs one instance vs HAProxy ticket-key file)" ;;
    13) echo "cross-instance resumption, TLS 1.3 ticket, psk_dhe_ke X25519 (cluster keyring vs one instance vs HAProxy ticket-key file)" ;;
    14) echo "full TLS 1.3 handshakes for $RELOAD_SECS s, no reloads vs one reload per second with a new certificate each time" ;;
    18) echo "PROXY protocol v2 to the backend vs off: full TLS 1.3, ECDSA P-256, X25519, one small exchange" ;;
    19) echo "PROXY protocol v2 to the backend vs off: resumed TLS 1.2 ticket, one small exchange" ;;
    esac
}

cell_cert() { [ "$1" = 8 ] && echo rsa || echo ec; }
cell_backend() { [ "$1" = 6 ] && echo "$ECHO_PORT" || echo "$HTTP_PORT"; }

# The bench arguments of cell $1 (without --port and --server-pid).
cell_args() {
    case $1 in
    1) echo "full $TLS13 --sigalgs ECDSA+SHA256 --count $N_FULL --warmup $WARMUP" ;;
    2) echo "full $TLS12 --count $N_FULL --warmup $WARMUP" ;;
    3) echo "resume --resume id $TLS12 --count $N_RESUME --warmup $WARMUP" ;;
    4) echo "resume --resume ticket $TLS12 --count $N_RESUME --warmup $WARMUP" ;;
    5) echo "resume --resume ticket $TLS13 --count $N_RESUME --warmup $WARMUP" ;;
    6) echo "bulk $TLS13 --conc $BULK_CONNS --count $BULK_CONNS --bytes $BULK_BYTES" ;;
    7) echo "idle $TLS13 --count $IDLE_N --conc 64 --hold 0 --settle 1" ;;
    16) echo "idle --silent --count $IDLE_N --conc 64 --hold 0 --settle 1" ;;
    17) echo "idle $TLS13 --count $((SURGE_N / 2)) --conc 64 --hold 0 --settle 1 (beside: idle --silent, the same count)" ;;
    8) echo "full $TLS13 --sigalgs rsa_pss_rsae_sha256 --count $N_FULL --warmup $WARMUP" ;;
    9) echo "resume --resume id $TLS12 --count $N_MC_RESUME --warmup $MC_WARMUP --prime-count $MC_PRIME" ;;
    10) echo "resume --resume ticket $TLS13 --count $N_MC_RESUME --warmup $MC_WARMUP --prime-count $MC_PRIME" ;;
    11) echo "full $TLS12 --count $N_MC_FULL --warmup $WARMUP" ;;
    12) echo "resume --resume ticket $TLS12 --count $N_TK_RESUME --warmup $MC_WARMUP --prime-count $TK_PRIME" ;;
    13) echo "resume --resume ticket $TLS13 --count $N_TK_RESUME --warmup $MC_WARMUP --prime-count $TK_PRIME" ;;
    14) echo "full $TLS13 --sigalgs ECDSA+SHA256 --duration $RELOAD_SECS --warmup 0 --max-errors 0" ;;
    18) echo "full $TLS13 --sigalgs ECDSA+SHA256 --sni localhost --count $N_FULL --warmup $WARMUP" ;;
    19) echo "resume --resume ticket $TLS12 --sni localhost --count $N_RESUME --warmup $WARMUP" ;;
    esac
}

# Cell 14, the reload storm.
. "$ROOT/tests/bench/compare-reload.sh"

RESULTS=$WORK/results.txt
if [ -n "$REPORT_FROM" ]; then
    cp "$REPORT_FROM" "$RESULTS" || exit 1
else
    : >"$RESULTS"
fi

# run_one CELL SERVER REP: one measurement, appended to $RESULTS as key=value pairs.
run_one() {
    local cell=$1 name=$2 rep=$3 args line status=ok
    if ! start_server "$name" "$(cell_cert "$cell")" "$(cell_backend "$cell")"; then
        echo "cell=$cell server=$name rep=$rep status=nostart" >>"$RESULTS"
        stop_server
        return
    fi
    args="$(cell_args "$cell") --port $SERVER_PORT --server-pid $SERVER_PIDS --conn-timeout 10"
    if [ "$cell" = 17 ]; then
        run_surge "$name" "$rep"
        return
    fi
    if [ "$cell" = 7 ] || [ "$cell" = 16 ]; then
        # Warm the server first so that one-time allocations do not count as per-connection.
        taskset -c "$CLIENT_CPU" "$BENCH" full $TLS13 --count 300 --warmup 0 --port "$SERVER_PORT" \
            >/dev/null 2>&1
    fi
    line=$(taskset -c "$CLIENT_CPU" "$BENCH" $args 2>>"$WORK/bench.err" | grep '^mode=')
    status=$(run_status "$name" "$line" "cell $cell; command: $BENCH $args")
    echo "cell=$cell server=$name rep=$rep status=$status $line" >>"$RESULTS"
    log "cell $cell $name rep $rep: $status $line"
    stop_server
}

# kv LINE KEY: the value of KEY in a line of key=value pairs (empty when absent).
kv() {
    echo " $1 " | grep -o " $2=[^ ]*" | head -n 1 | cut -d= -f2
}

# run_proxy CELL SERVER off|v2 REP (cells 18-19): one measurement of SERVER with the PROXY v2
# header to the backend off or on, recorded as server "SERVER-off" or "SERVER-v2".  The backend
# (on the client's core) is started afresh for the run; its counts of what the connections
# started with (be_* keys) decide, beside the usual checks, whether the run is ok:
#   v2   every connection that sent a byte began with a valid v2 header, and there were at least
#        as many headers as measured exchanges; else status noheader;
#   off  no connection began with a header; else status header.
run_proxy() {
    local cell=$1 name=$2 pp=$3 rep=$4 out=$WORK/backend-proxy.out mode=absent v2="" bpid bport
    local args line="" status=ok be hs
    if [ "$pp" = v2 ]; then
        mode=required
        v2=1
    fi
    : >"$out"
    taskset -c "$CLIENT_CPU" "$BENCH" backend http --listen 127.0.0.1:0 --proxy "$mode" >"$out" 2>&1 &
    bpid=$!
    PIDS+=("$bpid")
    if ! bport=$(wait_port_line "$out"); then
        log "the PROXY backend did not start:"
        cat "$out" >&2
        status=nobackend
    elif ! PROXY_V2=$v2 start_server "$name" ec "$bport"; then
        status=nostart
    else
        args="$(cell_args "$cell") --port $SERVER_PORT --server-pid $SERVER_PIDS --conn-timeout 10"
        line=$(taskset -c "$CLIENT_CPU" "$BENCH" $args 2>>"$WORK/bench.err" | grep '^mode=')
        status=$(run_status "$name" "$line" "cell $cell ($pp); command: $BENCH $args")
    fi
    [ "$status" = nobackend ] || stop_server
    # The backend prints its counts when it stops, after the server has closed every connection.
    stop_pid "$bpid"
    forget_pid "$bpid"
    be=$(grep '^PROXY ' "$out" | sed 's/^PROXY //; s/\([a-z_0-9]*\)=/be_\1=/g')
    # A wrong header is the cause of whatever else failed (the backend closes such a connection,
    # so the client counts errors and may abort): it is checked whenever the server ran.
    if [ -n "$line" ]; then
        hs=$(kv "$line" handshakes)
        if [ -z "$be" ]; then
            [ "$status" = ok ] && status=nocounts
        elif [ "$pp" = v2 ]; then
            if [ "$(kv "$be" be_missing)" != 0 ] || [ "$(kv "$be" be_bad)" != 0 ] ||
                [ "$(kv "$be" be_v1)" != 0 ] || [ "$(kv "$be" be_headers)" -lt "${hs:-0}" ]; then
                be="$be bench_result=$status"
                status=noheader
                log "cell $cell $name-$pp: the backend did not see a v2 header on every connection: $be"
            fi
        elif [ "$(kv "$be" be_unexpected)" != 0 ]; then
            be="$be bench_result=$status"
            status=header
            log "cell $cell $name-$pp: the backend saw a PROXY header with proxy off: $be"
        fi
    fi
    if [ "$status" = ok ]; then
        be="$be $(awk -v b="$(kv "$be" be_header_bytes)" -v h="$(kv "$be" be_headers)" 'BEGIN {
            printf "header_avg_b=%.1f", (h > 0) ? b / h : 0 }')"
    fi
    echo "cell=$cell server=$name-$pp rep=$rep status=$status $line $be" >>"$RESULTS"
    log "cell $cell $name-$pp rep $rep: $status $line $be"
}

# server_rss_kb: the RSS of the server's processes now (kB).
server_rss_kb() {
    local p total=0 kb
    for p in ${SERVER_PIDS//,/ }; do
        kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2>/dev/null)
        total=$((total + ${kb:-0}))
    done
    echo "$total"
}

# run_surge SERVER REP (cell 17, the server started): warm up; RSS before; hold SURGE_N/2 silent
# connections and open SURGE_N/2 idle TLS ones beside them (its line has the peak RSS); close
# them all; RSS 10 s later.
run_surge() {
    local name=$1 rep=$2 half=$((SURGE_N / 2)) before after line status=ok fifo=$WORK/surge.in spid fd
    taskset -c "$CLIENT_CPU" "$BENCH" full $TLS13 --count 300 --warmup 0 --port "$SERVER_PORT" \
        >/dev/null 2>&1
    sleep 1 # let the warm-up's connections close before the baseline
    before=$(server_rss_kb)
    rm -f "$fifo"
    mkfifo "$fifo"
    taskset -c "$CLIENT_CPU" "$BENCH" idle --silent --count "$half" --conc 64 --port "$SERVER_PORT" \
        --conn-timeout 10 <"$fifo" >"$WORK/surge-silent.out" 2>>"$WORK/bench.err" &
    spid=$!
    exec {fd}>"$fifo"
    for _ in $(seq 600); do
        grep -q '^READY' "$WORK/surge-silent.out" 2>/dev/null && break
        sleep 0.1
    done
    line=$(taskset -c "$CLIENT_CPU" "$BENCH" idle $TLS13 --count "$half" --conc 64 --hold 0 \
        --settle 1 --port "$SERVER_PORT" --server-pid "$SERVER_PIDS" --conn-timeout 10 \
        2>>"$WORK/bench.err" | grep '^mode=')
    exec {fd}>&-
    wait "$spid"
    sleep 10 # the figure is the RSS 10 s after the surge closed (issue 13)
    after=$(server_rss_kb)
    rm -f "$fifo"
    status=$(run_status "$name" "$line" "cell 17 (surge)")
    local sheld
    sheld=$(grep -o 'held=[0-9]*' "$WORK/surge-silent.out" | head -n 1 | cut -d= -f2)
    local peak
    peak=$(echo "$line" | grep -o 'rss_after_kb=[0-9]*' | cut -d= -f2)
    line="$line silent_held=${sheld:-0} $(awk -v b="$before" -v p="${peak:-0}" -v a="$after" 'BEGIN {
        printf "rss_base_mb=%.1f rss_peak_mb=%.1f rss_10s_mb=%.1f rss_left_mb=%.1f", b / 1024, p / 1024, a / 1024, (a - b) / 1024 }')"
    echo "cell=17 server=$name rep=$rep status=$status $line" >>"$RESULTS"
    log "cell 17 $name rep $rep: $status $line"
    stop_server
}

AVAILABLE=""
for s in $SERVERS; do
    case $s in
    hitch) command -v hitch >/dev/null && AVAILABLE="$AVAILABLE hitch" ;;
    haproxy) command -v haproxy >/dev/null && AVAILABLE="$AVAILABLE haproxy" ;;
    tessera) [ -x "$TESSERA_BIN" ] && AVAILABLE="$AVAILABLE tessera" ;;
    tessera-admin) [ -x "$TESSERA_BIN" ] && AVAILABLE="$AVAILABLE tessera-admin" ;;
    esac
done
for s in $SERVERS; do
    case " $AVAILABLE " in *" $s "*) ;; *) log "skipping $s: not found" ;; esac
done
[ -n "$AVAILABLE" ] || { log "no server to measure"; exit 1; }

if [ -z "$REPORT_FROM" ]; then
    for cell in $CELLS; do
        log "cell $cell: $(cell_name "$cell")"
        case $cell in
        9|10|11)
            if ! command -v memcached >/dev/null || [ ! -x "$TESSERA_BIN" ]; then
                log "skipping cell $cell: needs memcached and $TESSERA_BIN"
                continue
            fi
            [ -f "$WORK/cluster.key" ] || { (umask 077 && "$TESSERA_BIN" --gen-secret >"$WORK/cluster.key") || exit 1; }
            for rep in $(seq "$REPS"); do
                for v in $(cell_variants "$cell"); do
                    if [ "$cell" = 11 ]; then
                        run_mc_outage "$cell" "$v" "$rep"
                    else
                        run_mc_resume "$cell" "$v" "$rep"
                    fi
                done
            done
            ;;
        12|13)
            if ! command -v memcached >/dev/null || [ ! -x "$TESSERA_BIN" ]; then
                log "skipping cell $cell: needs memcached and $TESSERA_BIN"
                continue
            fi
            [ -f "$WORK/cluster.key" ] || { (umask 077 && "$TESSERA_BIN" --gen-secret >"$WORK/cluster.key") || exit 1; }
            # HAProxy's shared ticket keys: three 80-byte keys (AES-256 + HMAC), base64, one a line.
            TK_HAPROXY=""
            if command -v haproxy >/dev/null; then
                TK_HAPROXY=1
                [ -f "$WORK/tickets.keys" ] || (umask 077 && for i in 1 2 3; do
                    openssl rand -base64 80 | tr -d '\n'; echo; done >"$WORK/tickets.keys") || exit 1
            else
                log "cell $cell: no haproxy, the haproxy variant is skipped"
            fi
            for rep in $(seq "$TK_REPS"); do
                for v in $(cell_variants "$cell"); do
                    run_tk_resume "$cell" "$v" "$rep"
                done
            done
            ;;
        18|19)
            # Each server off and on in turn; which goes first alternates from rep to rep, so
            # that a drift within a rep does not always favour the same one.
            for rep in $(seq "$REPS"); do
                for s in $AVAILABLE; do
                    if [ $((rep % 2)) = 1 ]; then pps="off v2"; else pps="v2 off"; fi
                    for pp in $pps; do
                        run_proxy "$cell" "$s" "$pp" "$rep"
                    done
                done
            done
            ;;
        14)
            reload_setup || exit 1
            for rep in $(seq "$REPS"); do
                for s in $AVAILABLE; do
                    for c in noreload storm; do
                        run_reload "$cell" "$s" "$c" "$rep"
                    done
                done
            done
            ;;
        *)
            for rep in $(seq "$REPS"); do
                for s in $AVAILABLE; do
                    run_one "$cell" "$s" "$rep"
                done
            done
            ;;
        esac
    done
fi

# ---- report --------------------------------------------------------------------------------

# vals CELL SERVER KEY: the values of KEY over the reps with status=ok.
vals() {
    grep "^cell=$1 server=$2 rep=[0-9]* status=ok " "$RESULTS" |
        tr ' ' '\n' | sed -n "s/^$3=//p"
}

# med CELL SERVER KEY: median of the values, or "-".
med() {
    vals "$@" | sort -g | awk '{v[NR]=$1} END {
        if (NR == 0) { print "-"; exit }
        if (NR % 2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2 }'
}

# mmr CELL SERVER KEY DIGITS: "median (min-max)" formatted, or the failure.
mmr() {
    local fails
    fails=$(grep "^cell=$1 server=$2 " "$RESULTS" | grep -v 'status=ok' | sed 's/.*status=\([a-z]*\).*/\1/' | sort -u | tr '\n' ' ')
    vals "$1" "$2" "$3" | sort -g | awk -v d="$4" -v f="$fails" '{v[NR]=$1} END {
        if (NR == 0) { printf "n/a %s", f; exit }
        m = (NR % 2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2
        if (NR == 1) printf "%.*f", d, m; else printf "%.*f (%.*f-%.*f)", d, m, d, v[1], d, v[NR]
        if (f != "") printf " [%s]", f }'
}

# total CELL SERVER KEY: the sum over the reps that ran, and the failures if any.
total() {
    local fails
    fails=$(grep "^cell=$1 server=$2 " "$RESULTS" | grep -v 'status=ok' | sed 's/.*status=\([a-z]*\).*/\1/' | sort -u | tr '\n' ' ')
    vals "$1" "$2" "$3" | awk -v f="$fails" '{t += $1} END { printf "%d", t; if (f != "") printf " [%s]", f }'
}

# total_all CELL SERVER KEY: the sum over every rep, whatever its status.
total_all() {
    grep "^cell=$1 server=$2 rep=[0-9]* " "$RESULTS" | tr ' ' '\n' | sed -n "s/^$3=//p" |
        awk '{t += $1} END { printf "%d", t }'
}

# ratio A B: A/B to two decimals, or "-".
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2f", a / b }'
}

# versus CELL A B KEY DIGITS UNIT: "A - B = d UNIT (p %); spread A s, B s: within|outside", where
# the spread of a variant is max - min of its runs: a difference of the medians that is no larger
# than the bigger spread is not a measurable difference.
versus() {
    local ma mb
    ma=$(med "$1" "$2" "$4")
    mb=$(med "$1" "$3" "$4")
    { vals "$1" "$2" "$4" | sort -g | awk '{v[NR] = $1} END { print (NR ? v[NR] - v[1] : "-") }'
      vals "$1" "$3" "$4" | sort -g | awk '{v[NR] = $1} END { print (NR ? v[NR] - v[1] : "-") }'; } |
        tr '\n' ' ' | awk -v a="$ma" -v b="$mb" -v d="$5" -v u="$6" -v na="$2" -v nb="$3" '{
            if (a == "-" || b == "-" || b == 0 || $1 == "-" || $2 == "-") { print "-"; exit }
            diff = a - b; sp = ($1 > $2) ? $1 : $2
            printf "%s - %s = %+.*f %s (%+.1f %%)", na, nb, d, diff, u, 100 * diff / b
            if (sp == 0) { printf " (too few runs for a spread)"; exit }
            printf "; run-to-run spread %s %.*f, %s %.*f: %s the spread", na, d, $1, nb, d, $2,
                ((diff < 0 ? -diff : diff) <= sp) ? "within" : "OUTSIDE" }'
}

# A resume cell whose median ratio is below 0.95 did not really resume.
resume_note() {
    local r
    r=$(med "$1" "$2" resumed_ratio)
    awk -v r="$r" 'BEGIN { if (r != "-" && r < 0.95) printf " NOT RESUMING (ratio %.2f)", r }'
}

has() { case " $AVAILABLE " in *" $1 "*) return 0 ;; esac; return 1; }

# rep_ratios CELL A B KEY: A/B of KEY for each rep where both ran ok, in rep order ("r1 r2 ...").
rep_ratios() {
    local r a b out=""
    for r in $(grep "^cell=$1 server=$2 rep=[0-9]* status=ok " "$RESULTS" | sed 's/.* rep=\([0-9]*\) .*/\1/'); do
        a=$(grep "^cell=$1 server=$2 rep=$r status=ok " "$RESULTS" | tr ' ' '\n' | sed -n "s/^$4=//p")
        b=$(grep "^cell=$1 server=$3 rep=$r status=ok " "$RESULTS" | tr ' ' '\n' | sed -n "s/^$4=//p")
        [ -n "$a" ] && [ -n "$b" ] && out="$out $(ratio "$a" "$b")"
    done
    echo "${out# }"
}

# report_proxy CELL: cells 18-19, each server with the PROXY v2 header off and on.
report_proxy() {
    local cell=$1 s pp resumed hdr
    echo "| server | PROXY v2 | server CPU us/exchange | handshakes/s | p50 ms | p99 ms | resumed ratio | header bytes | headers / conns (all reps) | client CPU % | errors (all reps) |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|"
    for s in $AVAILABLE; do
        for pp in off v2; do
            resumed="-"
            [ "$cell" = 19 ] && resumed="$(mmr "$cell" "$s-$pp" resumed_ratio 3)$(resume_note "$cell" "$s-$pp")"
            hdr="-"
            [ "$pp" = v2 ] && hdr=$(mmr "$cell" "$s-$pp" header_avg_b 0)
            echo "| $s | $pp | $(mmr "$cell" "$s-$pp" server_us_per_hs 1) | $(mmr "$cell" "$s-$pp" hs_per_s 0) | $(mmr "$cell" "$s-$pp" p50_ms 2) | $(mmr "$cell" "$s-$pp" p99_ms 2) | $resumed | $hdr | $(total "$cell" "$s-$pp" be_headers) / $(total "$cell" "$s-$pp" be_conns) | $(mmr "$cell" "$s-$pp" client_cpu_pct 0) | $(total "$cell" "$s-$pp" errors) |"
        done
    done
    echo
    echo "| server | CPU us/exchange, off | CPU us/exchange, v2 | v2 - off (us) | v2/off (medians) | v2/off per rep |"
    echo "|---|---|---|---|---|---|"
    for s in $AVAILABLE; do
        local off on
        off=$(med "$cell" "$s-off" server_us_per_hs)
        on=$(med "$cell" "$s-v2" server_us_per_hs)
        echo "| $s | $(mmr "$cell" "$s-off" server_us_per_hs 1) | $(mmr "$cell" "$s-v2" server_us_per_hs 1) | $(awk -v a="$on" -v b="$off" 'BEGIN { if (a == "-" || b == "-") print "-"; else printf "%+.1f", a - b }') | $(ratio "$on" "$off") | $(rep_ratios "$cell" "$s-v2" "$s-off" server_us_per_hs) |"
    done
    echo
    for s in hitch haproxy; do
        has tessera && has "$s" || continue
        echo "- tessera/$s, CPU per exchange: v2 $(ratio "$(med "$cell" tessera-v2 server_us_per_hs)" "$(med "$cell" "$s-v2" server_us_per_hs)")x (per rep: $(rep_ratios "$cell" tessera-v2 "$s-v2" server_us_per_hs)), off $(ratio "$(med "$cell" tessera-off server_us_per_hs)" "$(med "$cell" "$s-off" server_us_per_hs)")x; handshakes/s with v2 $(ratio "$(med "$cell" tessera-v2 hs_per_s)" "$(med "$cell" "$s-v2" hs_per_s)")x"
    done
    echo "- header bytes: the v2 header's mean length as the backend parsed it (addresses and TLVs); headers / conns: connections that carried a valid header / connections the backend accepted (the rest sent nothing: a readiness probe, or hitch's backend connection for one)"
    echo "- connections without a valid v2 header with v2 on (missing / bad) and with a header with it off (unexpected), all reps, failed ones included: $(for s in $AVAILABLE; do printf '%s %s / %s / %s; ' "$s" "$(total_all "$cell" "$s-v2" be_missing)" "$(total_all "$cell" "$s-v2" be_bad)" "$(total_all "$cell" "$s-off" be_unexpected)"; done | sed 's/; $//')"
}

report() {
    echo "# tessera vs hitch vs HAProxy"
    echo
    echo "- date: $(date -u +%Y-%m-%dT%H:%MZ); host: $(nproc) cores, $(uname -r); $(openssl version)"
    echo "- servers: hitch $(hitch --version 2>&1 | awk '{print $2}'), $(haproxy -v | head -n 1 | awk '{print "HAProxy", $3}'), tessera $("$TESSERA_BIN" -V 2>/dev/null | head -n 1 || echo '(absent)')"
    echo "- each server: one worker/thread, pinned to core $SERVER_CPU; client and backend on core $CLIENT_CPU"
    echo "- repetitions: $REPS (cells 12-13: $TK_REPS), servers interleaved; values are median (min-max)"
    echo "- backends: $HTTP_DESC (cells 1-5, 7-13), $ECHO_DESC (cell 6)"
    case " $CELLS " in *" 9 "*|*" 10 "*|*" 11 "*)
        echo "- cells 9-11: $(memcached -V 2>/dev/null) on core $CLIENT_CPU (-t 1); instance B measured on core $SERVER_CPU, one worker; A, memcached, client and backend on core $CLIENT_CPU; counts: $N_MC_RESUME resumptions (9, 10), $N_MC_FULL full handshakes (11)" ;;
    esac
    case " $CELLS " in *" 18 "*|*" 19 "*)
        echo "- cells 18-19: each server as in cells 1-8, with the PROXY protocol v2 to the backend on (hitch \`write-proxy-v2 = on\`; HAProxy \`send-proxy-v2 proxy-v2-options ssl,ssl-cipher,cert-sig,cert-key,authority\`, the TLVs tessera sends; tessera \`proxy_protocol = \"v2\"\`) or off; backend \`tessera-bench backend http --proxy required|absent\`, one per run, which checks every connection; the client sends SNI (localhost) and no ALPN" ;;
    esac
    case " $CELLS " in *" 14 "*)
        echo "- cell 14: each server as in cells 1-8 (HAProxy in master-worker mode), $RELOAD_SECS s of closed-loop load per run, server CPU of the whole process tree" ;;
    esac
    case " $CELLS " in *" 12 "*|*" 13 "*)
        echo "- cells 12-13: instance B measured on core $SERVER_CPU (one worker / one thread); A, $(memcached -V 2>/dev/null) (-t 1), client and backend on core $CLIENT_CPU; $N_TK_RESUME resumptions per run, each of a ticket B has never seen" ;;
    esac
    echo "- TLS profile for all servers: TLSv1.2+TLSv1.3, ciphers $CIPHERS12, ciphersuites $SUITES13, groups $TLS_GROUPS"
    echo "- counts: full $N_FULL, resumed $N_RESUME exchanges per run (connect, handshake, 1 request, reply, close), conc 16"
    echo "- server CPU = utime+stime of the server's processes (/proc/PID/stat, 10 ms ticks) over the measured window"
    echo "- hs/s is the closed-loop rate with 16 connections in flight; when client CPU is near 100 % the client"
    echo "  limited it, and server us/handshake is the figure to compare"
    echo
    local cell s
    for cell in $CELLS; do
        echo "## $cell. $(cell_name "$cell")"
        echo
        case $cell in
        6)
            echo "| server | MB/s | server CPU % | server CPU us per MB | errors (all reps) |"
            echo "|---|---|---|---|---|"
            for s in $AVAILABLE; do
                # us per MB = server_cpu_us / (bytes / 1e6), computed per rep.
                local permb
                permb=$(grep "^cell=6 server=$s rep=[0-9]* status=ok " "$RESULTS" | awk '{
                    for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
                    if (v["bytes"] > 0) printf "%.1f\n", v["server_cpu_us"] / (v["bytes"] / 1e6) }' | sort -g |
                    awk '{x[NR]=$1} END { if (NR==0) print "n/a"; else if (NR==1) print x[1]; else printf "%s (%s-%s)\n", x[int((NR+1)/2)], x[1], x[NR] }')
                echo "| $s | $(mmr 6 "$s" mb_per_s 1) | $(mmr 6 "$s" server_cpu_pct 1) | $permb | $(total 6 "$s" errors) |"
            done
            echo
            for s in hitch haproxy; do
                has tessera && has "$s" && echo "- tessera/$s: MB/s $(ratio "$(med 6 tessera mb_per_s)" "$(med 6 "$s" mb_per_s)")x"
            done
            ;;
        7|16)
            echo "| server | bytes per $([ "$cell" = 7 ] && echo idle || echo silent) connection (RSS delta / N) | held | errors (all reps) | dropped (all reps) |"
            echo "|---|---|---|---|---|"
            for s in $AVAILABLE; do
                echo "| $s | $(mmr "$cell" "$s" rss_per_conn_b 0) | $(mmr "$cell" "$s" held 0) | $(total "$cell" "$s" errors) | $(total "$cell" "$s" dropped) |"
            done
            echo
            for s in hitch haproxy; do
                has tessera && has "$s" && echo "- tessera/$s: memory per connection $(ratio "$(med "$cell" tessera rss_per_conn_b)" "$(med "$cell" "$s" rss_per_conn_b)")x"
            done
            ;;
        17)
            echo "| server | RSS before (MB) | RSS at the peak (MB) | RSS 10 s after (MB) | left over (MB) | held TLS + silent | errors (all reps) |"
            echo "|---|---|---|---|---|---|---|"
            for s in $AVAILABLE; do
                echo "| $s | $(mmr 17 "$s" rss_base_mb 1) | $(mmr 17 "$s" rss_peak_mb 1) | $(mmr 17 "$s" rss_10s_mb 1) | $(mmr 17 "$s" rss_left_mb 1) | $(med 17 "$s" held) + $(med 17 "$s" silent_held) | $(total 17 "$s" errors) |"
            done
            echo
            echo "- left over = RSS 10 s after the surge closed minus RSS before it (goal for tessera: <= 20 MB)"
            ;;
        9|10)
            echo "| variant | B: server CPU us/resumed handshake | resumed handshakes/s | p50 ms | p99 ms | resumed ratio | client CPU % | errors (all reps) |"
            echo "|---|---|---|---|---|---|---|---|"
            for s in local memcached; do
                echo "| $s | $(mmr "$cell" "$s" server_us_per_hs 1) | $(mmr "$cell" "$s" hs_per_s 0) | $(mmr "$cell" "$s" p50_ms 2) | $(mmr "$cell" "$s" p99_ms 2) | $(mmr "$cell" "$s" resumed_ratio 3)$(resume_note "$cell" "$s") | $(mmr "$cell" "$s" client_cpu_pct 0) | $(total "$cell" "$s" errors) |"
            done
            echo
            echo "- memcached/local: resumed handshakes/s $(ratio "$(med "$cell" memcached hs_per_s)" "$(med "$cell" local hs_per_s)")x (goal >= 0.80), B's CPU per resumed handshake $(ratio "$(med "$cell" memcached server_us_per_hs)" "$(med "$cell" local server_us_per_hs)")x"
            echo "- local: one instance, sessions.store = \"local\"; the client makes its sessions on it, then offers each once"
            echo "- memcached: A and B share memcached; the client makes its sessions on A (before the window), then offers each once to B"
            echo "- sessions made before the run: $(mmr "$cell" memcached primed 0) (memcached), $(mmr "$cell" local primed 0) (local); offered twice: $(total "$cell" memcached pool_reused) / $(total "$cell" local pool_reused)"
            ;;
        12|13)
            echo "| variant | B: server CPU us/resumed handshake | resumed handshakes/s | p50 ms | p99 ms | resumed ratio | B: full / ticket / session resumptions, from A (median) | client CPU % | errors (all reps) |"
            echo "|---|---|---|---|---|---|---|---|---|"
            for s in local memcached haproxy; do
                grep -q "^cell=$cell server=$s " "$RESULTS" || continue
                local counts="-"
                [ "$s" = haproxy ] || counts="$(med "$cell" "$s" b_full) / $(med "$cell" "$s" b_rticket) / $(med "$cell" "$s" b_rsession), $(med "$cell" "$s" b_remote)"
                echo "| $s | $(mmr "$cell" "$s" server_us_per_hs 1) | $(mmr "$cell" "$s" hs_per_s 0) | $(mmr "$cell" "$s" p50_ms 2) | $(mmr "$cell" "$s" p99_ms 2) | $(mmr "$cell" "$s" resumed_ratio 3)$(resume_note "$cell" "$s") | $counts | $(mmr "$cell" "$s" client_cpu_pct 0) | $(total "$cell" "$s" errors) |"
            done
            echo
            echo "- memcached vs local, B's CPU per resumed handshake: $(versus "$cell" memcached local server_us_per_hs 1 us); resumed handshakes/s: $(versus "$cell" memcached local hs_per_s 0 /s) (goal: no measurable difference)"
            if grep -q "^cell=$cell server=haproxy " "$RESULTS"; then
                echo "- memcached/haproxy: B's CPU per resumed handshake $(ratio "$(med "$cell" memcached server_us_per_hs)" "$(med "$cell" haproxy server_us_per_hs)")x, resumed handshakes/s $(ratio "$(med "$cell" memcached hs_per_s)" "$(med "$cell" haproxy hs_per_s)")x (goal: CPU <= 1, rate >= 1 within the spread)"
            fi
            echo "- local: one tessera, sessions.store = \"local\", tickets = true; the client makes its tickets on it, then offers each once"
            echo "- memcached: tessera A and B, sessions.store = \"memcached\", tickets = true, one secret file (mode 600), frontend \"bench\", one certificate; the run starts when both /keyring endpoints name the same current cluster key (fingerprints per run: $(vals "$cell" memcached keyring | sort | uniq -c | awk '{printf "%s%s x%d", (NR > 1 ? ", " : ""), $2, $1}'); changed during a run: $(grep "^cell=$cell server=memcached rep=[0-9]* status=ok " "$RESULTS" | awk '{k = ""; a = ""; for (i = 1; i <= NF; i++) { if ($i ~ /^keyring=/) k = substr($i, 9); if ($i ~ /^keyring_after=/) a = substr($i, 15) } if (k != a) n++ } END { printf "%d", n }'))"
            echo "- haproxy: two HAProxy 2.6, one thread each, loading one tls-ticket-keys file of 3 base64 80-byte keys; tickets made on A, offered once to B"
            echo "- B's counters are /metrics deltas from the end of priming to the end of the run (warm-up included): full handshakes, resumptions from a ticket, from the session cache, and (memcached) resumptions of a ticket another instance made; tickets B could not decrypt (unknown key, all reps): $(total "$cell" memcached b_unknown_key) (memcached), $(total "$cell" local b_unknown_key) (local)"
            echo "- tickets made before each run: $(mmr "$cell" memcached primed 0) (memcached), $(mmr "$cell" local primed 0) (local), $(mmr "$cell" haproxy primed 0) (haproxy); offered twice (all reps): $(total "$cell" memcached pool_reused) / $(total "$cell" local pool_reused) / $(total "$cell" haproxy pool_reused)"
            ;;
        14)
            report_reload "$cell"
            ;;
        18|19)
            report_proxy "$cell"
            ;;
        11)
            echo "| memcached | full hs/s | full p50 ms | full p99 ms | B CPU % | B CPU us per full hs | lookup-load hs/s | lookup p99 ms | GETs hit/miss/timeout/dropped/error (median) | errors (all reps) |"
            echo "|---|---|---|---|---|---|---|---|---|---|"
            for s in healthy stopped; do
                echo "| $s | $(mmr 11 "$s" hs_per_s 0) | $(mmr 11 "$s" p50_ms 2) | $(mmr 11 "$s" p99_ms 2) | $(mmr 11 "$s" server_cpu_pct 0) | $(mmr 11 "$s" server_us_per_hs 0) | $(mmr 11 "$s" lk_hs_per_s 0) | $(mmr 11 "$s" lk_p99_ms 1) | $(med 11 "$s" get_hit)/$(med 11 "$s" get_miss)/$(med 11 "$s" get_timeout)/$(med 11 "$s" get_dropped)/$(med 11 "$s" get_error) | $(total 11 "$s" errors) + lookup $(total 11 "$s" lk_errors) |"
            done
            echo
            echo "- stopped/healthy: full hs/s $(ratio "$(med 11 stopped hs_per_s)" "$(med 11 healthy hs_per_s)")x, full p99 $(ratio "$(med 11 stopped p99_ms)" "$(med 11 healthy p99_ms)")x (goal: within 10 %)"
            echo "- B: sessions.store = \"memcached\", tickets off, memcached.timeout_ms 50 (default); the full load and its figures are those of the client below (16 in flight)"
            echo "- lookup load, beside it: $MC_LOOKUP_CONC connections in flight offering TLS 1.2 session IDs made on a separate instance A (local store), $MC_LOOKUP_POOL IDs round-robin; B never has them, so each is a GET, then a full handshake"
            echo "- B CPU us per full hs divides all of B's CPU (both loads) by the full load's handshakes; GET counts are B's whole run"
            ;;
        *)
            echo "| server | server CPU us/handshake | handshakes/s | p50 ms | p99 ms | resumed ratio | client CPU % | errors (all reps) |"
            echo "|---|---|---|---|---|---|---|---|"
            for s in $AVAILABLE; do
                local note=""
                case $cell in 3|4|5) note=$(resume_note "$cell" "$s") ;; esac
                local resumed="-"
                case $cell in 3|4|5) resumed="$(mmr "$cell" "$s" resumed_ratio 3)$note" ;; esac
                echo "| $s | $(mmr "$cell" "$s" server_us_per_hs 1) | $(mmr "$cell" "$s" hs_per_s 0) | $(mmr "$cell" "$s" p50_ms 2) | $(mmr "$cell" "$s" p99_ms 2) | $resumed | $(mmr "$cell" "$s" client_cpu_pct 0) | $(total "$cell" "$s" errors) |"
            done
            echo
            for s in hitch haproxy; do
                has tessera && has "$s" && echo "- tessera/$s: CPU per handshake $(ratio "$(med "$cell" tessera server_us_per_hs)" "$(med "$cell" "$s" server_us_per_hs)")x, handshakes/s $(ratio "$(med "$cell" tessera hs_per_s)" "$(med "$cell" "$s" hs_per_s)")x, p99 $(ratio "$(med "$cell" tessera p99_ms)" "$(med "$cell" "$s" p99_ms)")x"
            done
            ;;
        esac
        local params
        params=$(grep "^cell=$cell " "$RESULTS" | grep -o 'proto=[^ ]* cipher=[^ ]* group=[^ ]* peer_sig=[^ ]*' | sort | uniq -c | sed 's/^ *//' | tr '\n' ';')
        echo
        echo "- negotiated (first handshake of each run, count): ${params:-none}"
        echo "- client: tessera-bench $(cell_args "$cell")"
        echo
    done
    echo "## Raw results"
    echo
    echo '```'
    cat "$RESULTS"
    echo '```'
}

report >"$OUT"
cat "$OUT"
log "report: $OUT"
