#!/bin/bash
# ttfb-early.sh - issue 14's measurement: time to first backend byte (TTFB) for a returning
# client with TLS 1.3 early data (0-RTT) against a 1-RTT resumption, across a 20 ms round trip,
# and tessera's CPU per resumption in each case (the difference is the cost of the anti-replay
# `add` path).  Loopback only; every process it starts is killed on exit, by its PID.
#
#   tests/bench/ttfb-early.sh [--clients N] [--delay-ms D] [--keep]
#
# Set-up (all on 127.0.0.1, free ports):
#   - memcached (one thread);
#   - two tessera instances, A and B, workers = 1, sharing it: sessions.store = "memcached", one
#     secret file, tls.early_data = true (window 10 s), frontend backend_idempotent = true (no
#     PROXY header, so the backend's first byte is the request's);
#   - a plaintext backend (ttfb-early.py backend) that stamps the first byte of each connection
#     with CLOCK_MONOTONIC and logs it with the request line;
#   - a delay relay (ttfb-early.py delay) in front of B that holds every chunk D ms (default 10)
#     before forwarding it, in each direction: a 2*D ms round trip between client and B.  tc netem
#     is not used: this kernel has no sch_netem (tc: "Specified qdisc kind is unknown").
#
# For each of N returning clients (default 30) and for each arm, in alternating order:
#   1. a fresh ticket from A, directly (openssl s_client -sess_out: a full handshake, a request
#      and its reply);
#   2. the same client returns to B through the relay with that ticket (openssl s_client
#      -sess_in): in the 0rtt arm with the request as early data (-early_data FILE), in the 1rtt
#      arm with the request on stdin, written after the handshake (s_client sends no early data
#      without -early_data, so it is an ordinary 1-RTT resumption).
# A sample counts only if the resumption was Reused, the early data was accepted (0rtt) or not
# sent (1rtt), and the request reached the backend.
#
# TTFB is the backend's first-byte stamp minus the relay's accept stamp (CLOCK_MONOTONIC in both
# processes): the client's connect() to the relay completes at once on loopback, so this is
# "from connect() to the first byte at the backend".  It leaves out the TCP handshake's own round
# trip, which a real path (or netem) adds to both arms alike.  The wrapper's time (from s_client's
# spawn, including its start-up) is reported too.
#
# CPU: B's threads' sum_exec_runtime (/proc/PID/task/*/schedstat, ns) and utime+stime
# (/proc/PID/stat, ticks) read just before each resumption and 50 ms after the client is done, so
# each sample holds that one connection (handshake, relay, close) plus whatever B's background
# threads did meanwhile; medians are robust to the latter.

set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$ROOT/tests/bench
TESSERA_BIN=${TESSERA_BIN:-$ROOT/build/release/tessera}
N=30
DELAY_MS=10
KEEP=0
while [ $# -gt 0 ]; do
    case $1 in
    --clients) N=$2; shift 2 ;;
    --delay-ms) DELAY_MS=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    *) echo "usage: $0 [--clients N] [--delay-ms D] [--keep]" >&2; exit 2 ;;
    esac
done

WORK=$(mktemp -d /tmp/tessera-ttfb.XXXXXX)
PIDS=()
log() { echo "ttfb-early: $*" >&2; }

cleanup() {
    local p
    for p in "${PIDS[@]}"; do
        kill "$p" 2>/dev/null
    done
    for p in "${PIDS[@]}"; do
        wait "$p" 2>/dev/null
    done
    if [ "$KEEP" = 1 ]; then
        log "work folder kept: $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() {
    log "$*"
    exit 1
}

# wait_for SECONDS CMD...: poll CMD every 0.1 s.
wait_for() {
    local limit=$1 t0=$SECONDS
    shift
    while ! "$@"; do
        [ $((SECONDS - t0)) -ge "$limit" ] && return 1
        sleep 0.1
    done
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_port: a port nobody listens on, not handed out before by this run.
free_port() {
    local p
    while :; do
        p=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
        grep -qx "$p" "$WORK/.ports" 2>/dev/null && continue
        port_open "$p" && continue
        echo "$p" >>"$WORK/.ports"
        echo "$p"
        return 0
    done
}

port_of() { sed -n 's/^PORT //p' "$1" 2>/dev/null; }
has_port() { [ -n "$(port_of "$1")" ]; }

[ -x "$TESSERA_BIN" ] || die "tessera not found at $TESSERA_BIN (set TESSERA_BIN)"
command -v memcached >/dev/null || die "memcached not found"
cd "$WORK" || exit 1

# Certificate (ECDSA P-256, self-signed) and the cluster secret.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -subj /CN=example.test -addext subjectAltName=DNS:example.test \
    -keyout ec.key -out ec.pem 2>/dev/null || die "openssl req failed"
(umask 077 && "$TESSERA_BIN" --gen-secret >cluster.key) || die "tessera --gen-secret failed"

# The backend and memcached.
python3 "$HERE/ttfb-early.py" backend backend.port backend.log 2>backend.err &
PIDS+=($!)
: >backend.log
wait_for 10 has_port backend.port || die "backend did not start: $(cat backend.err)"
BPORT=$(port_of backend.port)
MC_PORT=$(free_port)
mc_args=(-l 127.0.0.1 -U 0 -t 1 -m 64 -p "$MC_PORT")
[ "$(id -u)" = 0 ] && mc_args+=(-u root)
memcached "${mc_args[@]}" >memcached.log 2>&1 &
MC_PID=$!
PIDS+=("$MC_PID")
wait_for 10 port_open "$MC_PORT" || die "memcached did not start"

# start_instance NAME: tessera with early data on; sets NAME_PORT, NAME_ADMIN, NAME_PID.
start_instance() {
    local name=$1 port admin pid
    port=$(free_port)
    admin=$(free_port)
    cat >"$name.conf" <<EOF
workers = 1;
log = { level = "info"; syslog = false; };
tls = { early_data = true; early_data_window = 10; max_early_data = 16384; };
frontends = (
  { name = "web";
    listen = "127.0.0.1:$port";
    backend = "127.0.0.1:$BPORT";
    certs = ( { cert = "$WORK/ec.pem"; key = "$WORK/ec.key"; } );
    backend_idempotent = true;
  }
);
sessions = { store = "memcached"; tickets = true; };
memcached = { servers = [ "127.0.0.1:$MC_PORT" ]; secret_file = "$WORK/cluster.key"; timeout_ms = 200; prefix = "ttfb$$:"; };
admin = { listen = "127.0.0.1:$admin"; };
EOF
    "$TESSERA_BIN" -c "$name.conf" >"$name.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    wait_for 15 port_open "$port" || die "tessera $name did not start: $(tail -n 20 "$name.log")"
    wait_for 15 port_open "$admin" || die "tessera $name: no admin endpoint"
    printf -v "${name}_PORT" '%s' "$port"
    printf -v "${name}_ADMIN" '%s' "$admin"
    printf -v "${name}_PID" '%s' "$pid"
}

# metric ADMIN NAME LABEL: the sum of NAME{...LABEL...} on ADMIN's /metrics.
metric() {
    curl -s --max-time 5 "http://127.0.0.1:$1/metrics" |
        awk -v n="$2{" -v l="$3" 'index($0, n) == 1 && index($0, l) { v += $2 } END { printf "%d", v }'
}

mc_up() { [ "$(metric "$1" tessera_memcached_up "127.0.0.1:$MC_PORT")" = 1 ]; }

start_instance A
start_instance B
for a in "$A_ADMIN" "$B_ADMIN"; do
    wait_for 15 mc_up "$a" || die "memcached not up on admin port $a"
done

# The relay in front of B (B_PORT is set by start_instance).
# shellcheck disable=SC2153
python3 "$HERE/ttfb-early.py" delay delay.port delay.log "$B_PORT" "$DELAY_MS" 2>delay.err &
PIDS+=($!)
: >delay.log
wait_for 10 has_port delay.port || die "delay relay did not start: $(cat delay.err)"
PPORT=$(port_of delay.port)

log "memcached :$MC_PORT, A :$A_PORT (pid $A_PID), B :$B_PORT (pid $B_PID) behind the ${DELAY_MS} ms relay :$PPORT, backend :$BPORT; $N clients per arm"
acc0=$(metric "$B_ADMIN" tessera_early_data_total 'result="accepted"')
# Bounded: a client step is limited to 20 s, and the whole run to 60 s + 10 s per client.
# (In the background and waited for, so that a signal to this script stops it at once.)
timeout $((60 + 10 * N)) python3 "$HERE/ttfb-early.py" run "$WORK" "$A_PORT" "$PPORT" "$B_PID" "$N" \
    "$WORK/backend.log" "$WORK/delay.log" "$MC_PID" &
RUN_PID=$!
PIDS+=("$RUN_PID")
wait "$RUN_PID" || die "the client run failed or timed out"
acc1=$(metric "$B_ADMIN" tessera_early_data_total 'result="accepted"')
rej=0
for r in replayed stale unavailable too_large; do
    rej=$((rej + $(metric "$B_ADMIN" tessera_early_data_total "result=\"$r\"")))
done

# The report.
python3 - "$WORK/samples.tsv" "$((acc1 - acc0))" "$rej" "$DELAY_MS" "$(getconf CLK_TCK)" "$WORK/idle.txt" <<'EOF'
import statistics, sys
path, accepted, rejected, delay, tck = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
idle = [float(x) for x in open(sys.argv[6]).read().split()]
rows = [l.rstrip("\n").split("\t") for l in open(path)][1:]
def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]
res = {}
for arm in ("0rtt", "1rtt"):
    ok = [r for r in rows if r[0] == arm and r[2] == "1"]
    bad = [r for r in rows if r[0] == arm and r[2] != "1"]
    c = [float(r[3]) for r in ok]
    s = [float(r[4]) for r in ok]
    u = [float(r[5]) for r in ok]
    t = [int(r[6]) for r in ok]
    w = [float(r[8]) for r in ok]
    m = [float(r[9]) for r in ok]
    ms = [float(r[10]) for r in ok]
    res[arm] = dict(n=len(ok), bad=bad, c50=statistics.median(c) if c else 0, c90=pct(c, 90) if c else 0,
                    s50=statistics.median(s) if s else 0, s90=pct(s, 90) if s else 0,
                    u50=statistics.median(u) if u else 0, umean=statistics.mean(u) if u else 0,
                    tick_us=(sum(t) * 1e6 / tck / len(t)) if t else 0,
                    w50=statistics.median(w) if w else 0, m50=statistics.median(m) if m else 0,
                    ms50=statistics.median(ms) if ms else 0)
print("| arm | samples (failed) | TTFB from connect() p50 ms | p90 ms | from s_client spawn p50 ms | p90 ms | B CPU us/resumption, median | mean | of which worker thread, median | memcached helpers, median | utime+stime us/resumption | memcached server CPU us, median |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for arm, name in (("0rtt", "0-RTT (early data accepted)"), ("1rtt", "1-RTT resumption")):
    r = res[arm]
    print("| %s | %d (%d) | %.1f | %.1f | %.1f | %.1f | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f |" % (
        name, r["n"], len(r["bad"]), r["c50"], r["c90"], r["s50"], r["s90"], r["u50"], r["umean"],
        r["w50"], r["m50"], r["tick_us"], r["ms50"]))
a, b = res["0rtt"], res["1rtt"]
def ratio(x, y):
    return "%.2f" % (x / y) if y else "-"
print()
print("- 0-RTT / 1-RTT TTFB from connect(): p50 %s, p90 %s; saved at p50: %.1f ms (one round trip is %d ms)" % (
    ratio(a["c50"], b["c50"]), ratio(a["c90"], b["c90"]), b["c50"] - a["c50"], 2 * float(delay)))
print("- with the TCP handshake's round trip a real path adds (+%d ms to both): p50 %s" % (
    2 * float(delay), ratio(a["c50"] + 2 * float(delay), b["c50"] + 2 * float(delay))))
print("- B CPU per resumption, 0-RTT minus 1-RTT (the early-data path: the `add`, the early read): median %+.0f us, mean %+.0f us" % (
    a["u50"] - b["u50"], a["umean"] - b["umean"]))
print("- of which the worker thread %+.0f us, the memcached helper threads (the `add` is sent on the worker's own memcached connection) %+.0f us (medians)" % (
    a["w50"] - b["w50"], a["m50"] - b["m50"]))
# Paired: the two arms of one client are adjacent connections; the median of their differences,
# with a 90% bootstrap interval (2,000 resamples, fixed seed).
import random
rnd = random.Random(14)
byi = {}
for r in rows:
    if r[2] == "1":
        byi.setdefault(r[1], {})[r[0]] = r
pairs = [v for v in byi.values() if len(v) == 2]
def paired(col):
    d = [float(v["0rtt"][col]) - float(v["1rtt"][col]) for v in pairs]
    if not d:
        return "-"
    meds = sorted(statistics.median(rnd.choices(d, k=len(d))) for _ in range(2000))
    return "%+.0f us [%+.0f, %+.0f]" % (statistics.median(d), meds[100], meds[1899])
print("- paired per client (%d pairs), 0-RTT minus 1-RTT, median [90%% bootstrap interval]: B %s, B's worker thread %s, memcached %s" % (
    len(pairs), paired(5), paired(8), paired(10)))
print("- memcached's own CPU per resumption, 0-RTT minus 1-RTT (the server side of the `add`): median %+.0f us" % (
    a["ms50"] - b["ms50"]))
print("- background CPU with no traffic: B %.0f us/s (worker %.0f, memcached helpers %.0f), memcached %.0f us/s; a sample's window is about 0.1 s" % tuple(idle))
print("- B's tessera_early_data_total: accepted %d (0-RTT samples %d), rejected %d" % (accepted, a["n"], rejected))
for r in a["bad"] + b["bad"]:
    print("- failed: %s client %s: %s" % (r[0], r[1], r[7]))
EOF
