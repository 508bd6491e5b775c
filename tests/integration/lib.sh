# shellcheck shell=bash
# lib.sh - helpers shared by tessera's integration tests (sourced, bash).
#
# Each test sources this file first.  It gets a private temporary folder
# ($TEST_DIR, the working directory), and a trap that on exit kills every
# process the test started and (when the folder is ours) removes it.  The
# runner (tests/run-integration.sh) makes the folder itself and passes it in
# TESSERA_TEST_DIR so that it can show the logs of a failed test.
#
# Environment: TESSERA_BIN, TESSERA_TOOLS, TESSERA_TEST_WORKERS (see the runner).
# Logs: tessera-N.log, backend-N.log, sclient-N.out in $TEST_DIR.

set -u

LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$LIB_DIR/../.." && pwd)
TESSERA_BIN=${TESSERA_BIN:-$REPO_ROOT/build/release/tessera}
TESSERA_TOOLS=${TESSERA_TOOLS:-$REPO_ROOT/build/release/tests/tools}
TESTBACKEND=$TESSERA_TOOLS/testbackend
TCLIENT=$TESSERA_TOOLS/tclient
TEST_NAME=$(basename "$0" .sh)

# How long the helpers wait for something to happen (seconds).  Sanitizer
# builds are slow, so be generous: a passing test never waits this long.
WAIT_LIMIT=${TESSERA_TEST_WAIT:-30}

if [ -n "${TESSERA_TEST_DIR:-}" ]; then
    TEST_DIR=$TESSERA_TEST_DIR
    OWN_TEST_DIR=0
else
    TEST_DIR=$(mktemp -d "/tmp/tessera-test.${TEST_NAME}.XXXXXX")
    OWN_TEST_DIR=1
fi
cd "$TEST_DIR" || exit 1

CERTS=$TEST_DIR/certs
STARTED_PIDS=()
TESSERA_PID=
TESSERA_LOG=
TESSERA_PORTS=()
BACKEND_PORT=
BACKEND_PID=
SEQ=0

# ---- reporting ----

log() {
    printf '%s: %s\n' "$TEST_NAME" "$*"
}

# Stop the test: print MSG, and when run standalone the logs too.
fail() {
    printf '%s: FAIL: %s\n' "$TEST_NAME" "$*" >&2
    exit 1
}

dump_logs() {
    local f
    for f in "$TEST_DIR"/*.log "$TEST_DIR"/*.out; do
        [ -f "$f" ] || continue
        echo "---- $(basename "$f") (last 50 lines) ----"
        tail -n 50 "$f"
    done
}

# assert_contains FILE_OR_TEXT PATTERN: PATTERN (extended regexp) occurs.
# The first argument is read as a file when it names one.
assert_contains() {
    local src=$1 pat=$2
    if [ -f "$src" ]; then
        grep -Eq -- "$pat" "$src" || fail "expected /$pat/ in $(basename "$src"):
$(tail -n 30 "$src")"
    else
        printf '%s\n' "$src" | grep -Eq -- "$pat" || fail "expected /$pat/ in:
$src"
    fi
}

assert_not_contains() {
    local src=$1 pat=$2
    if [ -f "$src" ]; then
        ! grep -Eq -- "$pat" "$src" || fail "did not expect /$pat/ in $(basename "$src"):
$(grep -E -- "$pat" "$src" | head -n 5)"
    else
        ! printf '%s\n' "$src" | grep -Eq -- "$pat" || fail "did not expect /$pat/ in:
$src"
    fi
}

assert_eq() {
    [ "$1" = "$2" ] || fail "${3:-values differ}: got '$1', expected '$2'"
}

# ---- processes and cleanup ----

cleanup() {
    local rc=$? pid f
    trap - EXIT
    # TERM everything; tessera gets time to exit on its own, so that a
    # sanitizer build writes its leak report into the log.  Untracked
    # background jobs go too.
    # shellcheck disable=SC2207
    STARTED_PIDS+=($(jobs -p))
    for pid in "${STARTED_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null
        kill -CONT "$pid" 2>/dev/null # a test may have stopped it (SIGSTOP)
    done
    for pid in "${STARTED_PIDS[@]}"; do
        local i=0
        while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do
            sleep 0.1
            i=$((i + 1))
        done
        kill -KILL "$pid" 2>/dev/null
    done
    wait 2>/dev/null
    # A sanitizer report in any log fails an otherwise passing test.
    for f in "$TEST_DIR"/tessera-*.log "$TEST_DIR"/backend-*.log "$TEST_DIR"/run-*.log; do
        [ -f "$f" ] || continue
        if grep -Eq 'ERROR: (Address|Leak|Thread|Memory)Sanitizer|WARNING: ThreadSanitizer|runtime error:' "$f"; then
            printf '%s: FAIL: sanitizer report in %s:\n' "$TEST_NAME" "$(basename "$f")" >&2
            grep -E -A 30 'ERROR: (Address|Leak|Thread|Memory)Sanitizer|WARNING: ThreadSanitizer|runtime error:' "$f" |
                head -n 60 >&2
            [ $rc -eq 0 ] && rc=1
        fi
    done
    if [ "$OWN_TEST_DIR" = 1 ]; then
        [ $rc -ne 0 ] && dump_logs >&2
        cd /
        rm -rf "$TEST_DIR"
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

track_pid() {
    STARTED_PIDS+=("$1")
}

# wait_for CMD...: run CMD every 0.1 s until it succeeds, for at most
# $WAIT_LIMIT seconds (or WAIT_FOR_LIMIT when set).  Returns 1 on timeout.
wait_for() {
    local limit=${WAIT_FOR_LIMIT:-$WAIT_LIMIT}
    local deadline=$((SECONDS + limit))
    while ! "$@"; do
        if [ $SECONDS -ge $deadline ]; then
            return 1
        fi
        sleep 0.1
    done
    return 0
}

# Milliseconds since the epoch (for measuring how long something took).
now_ms() {
    date +%s%3N
}

# log_ms FILE REGEX: the time, in milliseconds since the epoch, of the last
# line of tessera's log FILE that matches REGEX (grep -E); empty if none.  A
# bound on how long tessera took is read from its own timestamps, so the
# time this shell needs to notice the change is not part of it.
log_ms() {
    local ts
    ts=$(grep -E -- "$2" "$1" | tail -n 1 | cut -d' ' -f1)
    [ -n "$ts" ] && date -d "$ts" +%s%3N
}

# True while a TCP connection to 127.0.0.1:PORT succeeds.
port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

port_closed() {
    ! port_open "$1"
}

# free_port: print a loopback TCP port that nothing uses.  It is chosen at
# random below the kernel's ephemeral range (ip_local_port_range), so that
# no outgoing connection of this or another program can take it as its
# source port (or connect to itself through it), and checked by binding it
# and by connecting to it; a port is never handed out twice in one test.
free_port() {
    local p i
    for i in $(seq 1 100); do
        p=$(python3 - <<'PYEOF' 2>/dev/null
import random, socket
try:
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        lo = int(f.read().split()[0])
except (OSError, ValueError, IndexError):
    lo = 32768
if lo > 11000:
    port = random.randint(10000, lo - 1)
else:
    port = 0
s = socket.socket()
s.bind(("127.0.0.1", port))
print(s.getsockname()[1])
s.close()
PYEOF
) || continue
        [ -n "$p" ] || continue
        # Callers run this in $(...): remember the ports in a file.
        if grep -qx "$p" "$TEST_DIR/.ports" 2>/dev/null; then
            continue
        fi
        if port_open "$p"; then
            continue
        fi
        echo "$p" >>"$TEST_DIR/.ports"
        echo "$p"
        return 0
    done
    fail "free_port: no free port found"
}

# ---- certificates ----

# make_certs: in $CERTS, an ECDSA P-256 CA (ca.pem) and leaves signed by it:
#   ec.pem/ec.key         ECDSA, CN example.test, SAN example.test, www.example.test
#   rsa.pem/rsa.key       RSA-2048, same names
#   wild.pem/wild.key     ECDSA, CN *.wild.test
#   other.pem/other.key   ECDSA, CN other.test
#   ec-chain.pem          ec.pem followed by ca.pem
#   ec-combined.pem       ec.pem followed by its key
make_certs() {
    [ -f "$CERTS/ca.pem" ] && return 0
    mkdir -p "$CERTS"
    (
        cd "$CERTS" || exit 1
        set -e
        openssl ecparam -name prime256v1 -genkey -noout -out ca.key 2>/dev/null
        openssl req -x509 -new -key ca.key -sha256 -days 30 -subj "/CN=Tessera Test CA" \
            -addext "basicConstraints=critical,CA:TRUE" \
            -addext "keyUsage=critical,keyCertSign,cRLSign" -out ca.pem 2>/dev/null
        leaf() { # name keytype cn san
            local name=$1 kt=$2 cn=$3 san=$4
            if [ "$kt" = rsa ]; then
                openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$name.key" \
                    2>/dev/null
            else
                openssl ecparam -name prime256v1 -genkey -noout -out "$name.key.tmp" 2>/dev/null
                openssl pkey -in "$name.key.tmp" -out "$name.key"
                rm -f "$name.key.tmp"
            fi
            openssl req -new -key "$name.key" -subj "/CN=$cn" -out "$name.csr" 2>/dev/null
            printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' \
                "$san" >"$name.ext"
            openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial \
                -days 30 -sha256 -extfile "$name.ext" -out "$name.pem" 2>/dev/null
            rm -f "$name.csr" "$name.ext"
        }
        leaf ec ec example.test "DNS:example.test,DNS:www.example.test"
        leaf rsa rsa example.test "DNS:example.test,DNS:www.example.test"
        leaf wild ec "*.wild.test" "DNS:*.wild.test"
        leaf other ec other.test "DNS:other.test"
        cat ec.pem ca.pem >ec-chain.pem
        cat ec.pem ec.key >ec-combined.pem
    ) || fail "make_certs: openssl failed"
}

# cert_entry NAME [CERTFILE]: a libconfig certs entry for $CERTS/NAME.{pem,key}.
cert_entry() {
    local name=$1 certfile=${2:-$1.pem}
    printf '{ cert = "%s"; key = "%s"; }' "$CERTS/$certfile" "$CERTS/$name.key"
}

# make_client_certs: in $CERTS/clients, two client-certificate CAs and
# ECDSA client certificates (extendedKeyUsage clientAuth, made with
# `openssl ca`):
#   ca.pem                the client CA ("Tessera Client CA")
#   crl.pem               its CRL, listing revoked.pem
#   good.pem/.key         CN good-client, valid
#   expired.pem/.key      CN expired-client, valid only in January 2020
#   revoked.pem/.key      CN revoked-client, valid but revoked
#   other-ca.pem          a second CA ("Tessera Other CA")
#   stranger.pem/.key     CN good-client, issued by the other CA
#   both-ca.pem           ca.pem followed by other-ca.pem
make_client_certs() {
    local d=$CERTS/clients
    [ -f "$d/crl.pem" ] && return 0
    mkdir -p "$d"
    (
        cd "$d" || exit 1
        set -e
        ckey() {
            openssl ecparam -name prime256v1 -genkey -noout -out "$1.tmp" 2>/dev/null
            openssl pkey -in "$1.tmp" -out "$1"
            rm -f "$1.tmp"
        }
        cca() { # folder CN
            mkdir -p "$1/newcerts"
            : >"$1/index.txt"
            echo 1000 >"$1/serial"
            echo 1000 >"$1/crlnumber"
            ckey "$1/ca.key"
            openssl req -x509 -new -key "$1/ca.key" -sha256 -days 30 -subj "/CN=$2" \
                -addext "basicConstraints=critical,CA:TRUE" \
                -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$1/ca.pem" 2>/dev/null
            printf '%s\n' "[ ca ]" "default_ca = tessera_ca" "[ tessera_ca ]" \
                "database = $d/$1/index.txt" "new_certs_dir = $d/$1/newcerts" \
                "serial = $d/$1/serial" "crlnumber = $d/$1/crlnumber" \
                "certificate = $d/$1/ca.pem" "private_key = $d/$1/ca.key" \
                "default_md = sha256" "default_days = 30" "default_crl_days = 30" \
                "policy = tessera_policy" "unique_subject = no" \
                "x509_extensions = tessera_client" \
                "[ tessera_policy ]" "commonName = supplied" \
                "[ tessera_client ]" "basicConstraints = CA:FALSE" \
                "keyUsage = critical, digitalSignature" "extendedKeyUsage = clientAuth" \
                >"$1/ca.cnf"
        }
        ccert() { # ca-folder name CN [openssl ca options]
            local ca=$1 name=$2 cn=$3
            shift 3
            ckey "$name.key"
            openssl req -new -key "$name.key" -subj "/CN=$cn" -out "$name.csr" 2>/dev/null
            openssl ca -batch -notext -config "$ca/ca.cnf" -in "$name.csr" -out "$name.pem" \
                "$@" 2>/dev/null
            rm -f "$name.csr"
        }
        cca main "Tessera Client CA"
        cca other "Tessera Other CA"
        ccert main good good-client
        ccert main expired expired-client -startdate 20200101000000Z -enddate 20200201000000Z
        ccert main revoked revoked-client
        ccert other stranger good-client
        openssl ca -config main/ca.cnf -revoke revoked.pem 2>/dev/null
        openssl ca -config main/ca.cnf -gencrl -out crl.pem 2>/dev/null
        cp main/ca.pem ca.pem
        cp other/ca.pem other-ca.pem
        cat ca.pem other-ca.pem >both-ca.pem
    ) || fail "make_client_certs: openssl failed"
}

# ---- backend ----

# start_backend MODE: start testbackend on a free loopback port; sets
# BACKEND_PORT and BACKEND_PID (also returned through the echo of the port).
start_backend() {
    local mode=$1 n
    SEQ=$((SEQ + 1))
    n=$SEQ
    [ -x "$TESTBACKEND" ] || fail "testbackend not found at $TESTBACKEND (set TESSERA_TOOLS)"
    "$TESTBACKEND" "$mode" 127.0.0.1:0 >"backend-$n.port" 2>"backend-$n.log" &
    BACKEND_PID=$!
    track_pid "$BACKEND_PID"
    wait_for grep -q '^PORT ' "backend-$n.port" || fail "backend $mode did not start"
    BACKEND_PORT=$(sed -n 's/^PORT //p' "backend-$n.port")
    log "backend $mode on port $BACKEND_PORT"
}

# ---- configuration ----

# Frontends are collected with cfg_frontend, then written by write_config.
# Optional settings come from variables, each the body of a libconfig group:
#   CFG_TLS       e.g. 'min_version = "TLSv1.2";'
#   CFG_SESSIONS  e.g. 'tickets = false;'
#   CFG_TIMEOUTS  e.g. 'handshake = 1;'
#   CFG_TICKETS   e.g. 'rotate = 3600;'
#   CFG_EXTRA     raw top-level settings
#   CFG_WORKERS   workers (TESSERA_TEST_WORKERS overrides it; default 2)
#   CFG_ADMIN     body of the admin group, e.g. 'listen = "127.0.0.1:9090";'
#                 (default: the endpoint is off); cfg_admin fills it in
#   CFG_MEMCACHED body of the memcached group; when set, sessions.store is
#                 "memcached" (cfg_memcached fills it in)
CFG_FRONTENDS=()
TESSERA_PORTS=()

cfg_reset() {
    CFG_FRONTENDS=()
    TESSERA_PORTS=()
    CFG_TLS=
    CFG_SESSIONS=
    CFG_TIMEOUTS=
    CFG_TICKETS=
    CFG_EXTRA=
    CFG_ADMIN=
    CFG_MEMCACHED=
    ADMIN_PORT=
}
cfg_reset

# cfg_admin [PORT]: turn the admin endpoint on, on 127.0.0.1:PORT (a free
# port by default); sets ADMIN_PORT, which start_tessera then waits for.
cfg_admin() {
    ADMIN_PORT=${1:-$(free_port)}
    [ -n "$ADMIN_PORT" ] || fail "cfg_admin: no port"
    CFG_ADMIN="listen = \"127.0.0.1:$ADMIN_PORT\";"
}

# cfg_frontend NAME LISTEN_PORT BACKEND_PORT CERTS [ALPN [EXTRA]]
#   CERTS: libconfig list body, e.g. "$(cert_entry ec), $(cert_entry rsa)"
#   ALPN:  libconfig array body, e.g. '"h2", "http/1.1"'
#   EXTRA: more settings of the frontend, e.g. 'proxy_protocol = "v2";'
cfg_frontend() {
    local name=$1 port=$2 bport=$3 certs=$4 alpn=${5:-} extra=${6:-}
    local fe
    [ -n "$port" ] && [ -n "$bport" ] || fail "cfg_frontend $name: no port (free_port failed?)"
    fe="  { name = \"$name\";
    listen = \"127.0.0.1:$port\";
    backend = \"127.0.0.1:$bport\";
    certs = ( $certs );"
    if [ -n "$alpn" ]; then
        fe="$fe
    alpn = [ $alpn ];"
    fi
    if [ -n "$extra" ]; then
        fe="$fe
    $extra"
    fi
    fe="$fe
  }"
    CFG_FRONTENDS+=("$fe")
    TESSERA_PORTS+=("$port")
}

# write_config FILE: write the configuration built so far.
write_config() {
    local file=$1 i sep=""
    {
        echo "# written by $TEST_NAME"
        echo "workers = ${TESSERA_TEST_WORKERS:-${CFG_WORKERS:-2}};"
        echo 'log = { level = "debug"; syslog = false; };'
        [ -n "$CFG_TLS" ] && echo "tls = { $CFG_TLS };"
        echo "frontends = ("
        for i in "${!CFG_FRONTENDS[@]}"; do
            printf '%s%s\n' "$sep" "${CFG_FRONTENDS[$i]}"
            sep=","
        done
        echo ");"
        if [ -n "$CFG_MEMCACHED" ]; then
            echo "sessions = { store = \"memcached\"; $CFG_SESSIONS };"
            echo "memcached = { $CFG_MEMCACHED };"
        elif [ -n "$CFG_SESSIONS" ]; then
            echo "sessions = { $CFG_SESSIONS };"
        fi
        [ -n "$CFG_TICKETS" ] && echo "tickets = { $CFG_TICKETS };"
        if [ -n "$CFG_ADMIN" ]; then
            echo "admin = { $CFG_ADMIN };"
        else
            echo 'admin = { listen = ""; };'
        fi
        [ -n "$CFG_TIMEOUTS" ] && echo "timeouts = { $CFG_TIMEOUTS };"
        [ -n "$CFG_EXTRA" ] && echo "$CFG_EXTRA"
        true
    } >"$file"
}

# ---- tessera ----

# start_tessera CONF [ARGS...]: start tessera -c CONF in the background with
# stderr/stdout in tessera-N.log; wait until every frontend port in
# TESSERA_PORTS accepts TCP.  Fails (with the log) if tessera exits first.
start_tessera() {
    local conf=$1 p
    shift
    [ -x "$TESSERA_BIN" ] || fail "tessera binary not found at $TESSERA_BIN (set TESSERA_BIN)"
    SEQ=$((SEQ + 1))
    TESSERA_LOG=$TEST_DIR/tessera-$SEQ.log
    "$TESSERA_BIN" -c "$conf" "$@" >"$TESSERA_LOG" 2>&1 &
    TESSERA_PID=$!
    track_pid "$TESSERA_PID"
    for p in "${TESSERA_PORTS[@]}" ${ADMIN_PORT:+"$ADMIN_PORT"}; do
        wait_for tessera_ready "$p" || fail "tessera is not listening on port $p after \
${WAIT_LIMIT}s:
$(tail -n 30 "$TESSERA_LOG")"
    done
    log "tessera (pid $TESSERA_PID) listening on ${TESSERA_PORTS[*]}"
}

# The port accepts TCP; fail at once if tessera died.
tessera_ready() {
    if ! kill -0 "$TESSERA_PID" 2>/dev/null; then
        wait "$TESSERA_PID"
        fail "tessera exited (status $?) during start-up:
$(tail -n 30 "$TESSERA_LOG")"
    fi
    port_open "$1"
}

tessera_running() {
    kill -0 "$TESSERA_PID" 2>/dev/null
}

# wait_exit PID LIMIT: wait up to LIMIT seconds for PID (a child of this
# shell) to exit; sets EXIT_STATUS to its status; returns 1 if it is still
# running at the limit.
wait_exit() {
    local pid=$1 limit=$2
    local deadline=$((SECONDS + limit))
    EXIT_STATUS=
    while kill -0 "$pid" 2>/dev/null; do
        if [ $SECONDS -ge $deadline ]; then
            return 1
        fi
        sleep 0.05
    done
    wait "$pid"
    EXIT_STATUS=$?
    return 0
}

# stop_tessera [SIGNAL]: signal tessera (TERM by default), wait up to
# $WAIT_LIMIT seconds, and return its exit status (fails if it hangs).
stop_tessera() {
    local sig=${1:-TERM}
    kill -"$sig" "$TESSERA_PID" 2>/dev/null
    wait_exit "$TESSERA_PID" "$WAIT_LIMIT" ||
        fail "tessera did not exit within ${WAIT_LIMIT}s after SIG$sig"
    return "$EXIT_STATUS"
}

# ---- clients ----

# sclient PORT ARGS...: openssl s_client to 127.0.0.1:PORT with stdin closed;
# output (stdout+stderr) in $SCLIENT_OUT; returns s_client's status.
sclient() {
    local port=$1
    shift
    SEQ=$((SEQ + 1))
    SCLIENT_OUT=$TEST_DIR/sclient-$SEQ.out
    echo "openssl s_client -connect 127.0.0.1:$port $*" >"$SCLIENT_OUT"
    timeout 20 openssl s_client -connect "127.0.0.1:$port" "$@" </dev/null >>"$SCLIENT_OUT" 2>&1
}

# sclient_exchange INPUT PATTERN PORT ARGS...: run s_client with INPUT on its
# stdin, keep stdin open until PATTERN (extended regexp) shows in its output
# (or the wait limit), then close stdin.  Output in $SCLIENT_OUT.  Returns 0
# iff PATTERN was seen.  INPUT must not start with Q, R, k or K (s_client
# commands); an empty INPUT sends nothing.
sclient_exchange() {
    local input=$1 pat=$2 port=$3 fd pid rc=0
    shift 3
    SEQ=$((SEQ + 1))
    SCLIENT_OUT=$TEST_DIR/sclient-$SEQ.out
    local fifo=$TEST_DIR/sclient-$SEQ.in
    mkfifo "$fifo"
    echo "openssl s_client -connect 127.0.0.1:$port $*" >"$SCLIENT_OUT"
    timeout 30 openssl s_client -connect "127.0.0.1:$port" "$@" <"$fifo" >>"$SCLIENT_OUT" 2>&1 &
    pid=$!
    exec {fd}>"$fifo"
    if [ -n "$input" ]; then
        printf '%s\n' "$input" >&"$fd"
    fi
    wait_for grep -Eq -- "$pat" "$SCLIENT_OUT" || rc=1
    exec {fd}>&-
    wait "$pid"
    rm -f "$fifo"
    return $rc
}

# hs PORT TLSFLAG...: one s_client handshake and a round trip through the
# echo backend behind PORT; sets HS to Reused or New.
hs() {
    local port=$1
    shift
    sclient_exchange "echo-$SEQ" "^echo-" "$port" "$@" ||
        fail "s_client $* on port $port: $(tail -n 20 "$SCLIENT_OUT")"
    HS=$(sed -n 's/^\(Reused\|New\), .*/\1/p' "$SCLIENT_OUT" | head -n 1)
}

# tclient SUBCOMMAND ARGS...: run the test client with a time limit; its
# output goes to stdout and to tclient-N.out.
tclient() {
    [ -x "$TCLIENT" ] || fail "tclient not found at $TCLIENT (set TESSERA_TOOLS)"
    SEQ=$((SEQ + 1))
    timeout 100 "$TCLIENT" "$@" 2>&1 | tee "$TEST_DIR/tclient-$SEQ.out"
    return "${PIPESTATUS[0]}"
}

# served_cn: the CN of the certificate in the last s_client output.
served_cn() {
    sed -n 's/^subject=.*CN *= *\([^,/]*\).*/\1/p' "$SCLIENT_OUT" | head -n 1
}

# A small round trip through the echo backend that must work.
check_echo() {
    local port=$1
    shift
    sclient_exchange "ping $$ $SEQ" "ping $$ " "$port" "$@" ||
        fail "echo through port $port failed: $(tail -n 20 "$SCLIENT_OUT")"
}

# ---- Varnish (the PROXY protocol's consumer) ----

VARNISH_PORT=

# start_varnish [VCLFILE]: varnishd in the foreground (of a background job),
# listening for PROXY connections on a free loopback port (VARNISH_PORT),
# with HTTP/2 on, no privilege jail and a small footprint; waits until the
# port accepts.  Log in varnish-N.log.  Without VCLFILE, Varnish answers
# every request itself and echoes what it learnt in response headers:
# x-client-ip, x-proto (the HTTP version it spoke) and every vmod_proxy
# value (x-alpn, x-authority, x-is-ssl, x-ssl-version, x-ssl-cipher,
# x-cert-sess, x-cert-conn, x-verify, x-cn, x-cert-sign, x-cert-key).
start_varnish() {
    local vcl=${1:-$TEST_DIR/varnish-echo.vcl} n pid
    if [ $# -eq 0 ]; then
        cat >"$vcl" <<'VCL'
vcl 4.1;
import proxy;
backend default none;
sub vcl_recv { return (synth(200)); }
sub vcl_synth {
    set resp.http.x-client-ip = client.ip;
    set resp.http.x-proto = req.proto;
    set resp.http.x-alpn = proxy.alpn();
    set resp.http.x-authority = proxy.authority();
    set resp.http.x-is-ssl = proxy.is_ssl();
    set resp.http.x-ssl-version = proxy.ssl_version();
    set resp.http.x-ssl-cipher = proxy.ssl_cipher();
    set resp.http.x-cert-sess = proxy.client_has_cert_sess();
    set resp.http.x-cert-conn = proxy.client_has_cert_conn();
    set resp.http.x-verify = proxy.ssl_verify_result();
    set resp.http.x-cn = proxy.client_cert_cn();
    set resp.http.x-cert-sign = proxy.cert_sign();
    set resp.http.x-cert-key = proxy.cert_key();
    return (deliver);
}
VCL
    fi
    command -v varnishd >/dev/null || fail "varnishd is not installed (scripts/deps)"
    SEQ=$((SEQ + 1))
    n=$SEQ
    VARNISH_PORT=$(free_port)
    mkdir -p "$TEST_DIR/varnish-$n"
    varnishd -F -j none -n "$TEST_DIR/varnish-$n" -f "$vcl" \
        -a "127.0.0.1:$VARNISH_PORT,PROXY" -T none -s malloc,16m \
        -p feature=+http2 -p thread_pools=1 -p thread_pool_min=5 -p thread_pool_max=50 \
        >"varnish-$n.log" 2>&1 &
    pid=$!
    track_pid "$pid"
    WAIT_FOR_LIMIT=$((WAIT_LIMIT * 2)) wait_for port_open "$VARNISH_PORT" ||
        fail "varnishd did not listen on $VARNISH_PORT: $(tail -n 20 "varnish-$n.log")"
    log "varnishd (pid $pid) on port $VARNISH_PORT"
}

# resp_header FILE NAME: the value of header NAME (case-insensitive) in the
# response headers FILE (curl -D), or in s_client's output of an HTTP
# exchange; empty when there is none.
resp_header() {
    sed -n "s/^$2: *//Ip" "$1" | tr -d '\r' | head -n 1
}

# ---- memcached (the shared session cache) ----

MEMCACHED_BIN=${MEMCACHED_BIN:-memcached}
MC_PORT=
MC_PID=

# start_memcached [PORT]: start memcached in the foreground (in the
# background of the test) on 127.0.0.1:PORT (a free port by default; give
# the old one to restart a server in place); sets MC_PORT and MC_PID and
# waits until it answers "version".  Log in memcached-N.log.
start_memcached() {
    local port=${1:-} n
    local args=(-l 127.0.0.1 -U 0 -t 1 -m 64)
    command -v "$MEMCACHED_BIN" >/dev/null || fail "memcached not found (set MEMCACHED_BIN)"
    [ -n "$port" ] || port=$(free_port)
    [ -n "$port" ] || fail "start_memcached: no port"
    [ "$(id -u)" = 0 ] && args+=(-u root)
    SEQ=$((SEQ + 1))
    n=$SEQ
    "$MEMCACHED_BIN" "${args[@]}" -p "$port" >"$TEST_DIR/memcached-$n.log" 2>&1 &
    MC_PID=$!
    # shellcheck disable=SC2034 # for the tests
    MC_PORT=$port
    track_pid "$MC_PID"
    wait_for memcached_ready "$MC_PID" "$port" ||
        fail "memcached does not answer on port $port: $(tail -n 5 "$TEST_DIR/memcached-$n.log")"
    log "memcached (pid $MC_PID) on port $port"
}

# memcached_ready PID PORT: PID lives and PORT answers "version" (fails the
# test at once if PID died, e.g. because the port was taken).
memcached_ready() {
    kill -0 "$1" 2>/dev/null || fail "memcached (pid $1) exited during start-up"
    mc_tool version "$2" >/dev/null 2>&1
}

# stop_memcached PID: kill it (SIGKILL: no goodbye to the clients) and reap it.
stop_memcached() {
    kill -CONT "$1" 2>/dev/null
    kill -KILL "$1" 2>/dev/null
    wait "$1" 2>/dev/null
    true
}

# gen_secret FILE: a new cluster secret from `tessera --gen-secret`, mode 0600.
gen_secret() {
    (umask 077 && "$TESSERA_BIN" --gen-secret >"$1") || fail "tessera --gen-secret failed"
    chmod 600 "$1"
}

# cfg_memcached [--secret FILE] [--old FILE]... [--timeout-ms N]
#               [--options TEXT] SERVER...
# Use the memcached store with SERVER ("PORT" or "HOST:PORT") listed in
# order.  The secret is FILE, or the test's own $TEST_DIR/cluster.key
# (made with gen_secret on first use, so that every instance of a test
# shares it); --old adds an old_secret_files entry.  Fills CFG_MEMCACHED.
cfg_memcached() {
    local secret=$TEST_DIR/cluster.key timeout='' options='' servers='' olds='' sep='' s
    while [ $# -gt 0 ]; do
        case "$1" in
        --secret) secret=$2; shift 2 ;;
        --old) olds="${olds:+$olds, }\"$2\""; shift 2 ;;
        --timeout-ms) timeout=$2; shift 2 ;;
        --options) options=$2; shift 2 ;;
        *) break ;;
        esac
    done
    [ $# -gt 0 ] || fail "cfg_memcached: no server"
    for s in "$@"; do
        case "$s" in *:*) ;; *) s=127.0.0.1:$s ;; esac
        servers="$servers$sep\"$s\""
        sep=", "
    done
    if [ "$secret" = "$TEST_DIR/cluster.key" ] && [ ! -f "$secret" ]; then
        gen_secret "$secret"
    fi
    CFG_MEMCACHED="servers = [ $servers ]; secret_file = \"$secret\";"
    [ -n "$olds" ] && CFG_MEMCACHED="$CFG_MEMCACHED old_secret_files = [ $olds ];"
    [ -n "$timeout" ] && CFG_MEMCACHED="$CFG_MEMCACHED timeout_ms = $timeout;"
    [ -n "$options" ] && CFG_MEMCACHED="$CFG_MEMCACHED options = \"$options\";"
    true
}

# start_mc_instance VAR BACKEND [--port P] [--tickets TEXT] CFG_MEMCACHED_ARGS...:
# one tessera of a memcached cluster: frontend "web" on P (a free port unless
# given) with the ec certificate in front of BACKEND, an admin endpoint,
# sessions.tickets = false, the tickets section TEXT, and cfg_memcached with
# the remaining arguments.  Sets VAR_PORT, VAR_ADMIN and VAR_PID.
start_mc_instance() {
    local var=$1 backend=$2 port='' tickets=''
    shift 2
    while [ $# -gt 0 ]; do
        case "$1" in
        --port) port=$2; shift 2 ;;
        --tickets) tickets=$2; shift 2 ;;
        *) break ;;
        esac
    done
    [ -n "$port" ] || port=$(free_port)
    cfg_reset
    cfg_frontend web "$port" "$backend" "$(cert_entry ec)"
    cfg_admin
    CFG_SESSIONS='tickets = false;'
    CFG_TICKETS=$tickets
    cfg_memcached "$@"
    write_config "$TEST_DIR/$var.conf"
    start_tessera "$TEST_DIR/$var.conf"
    printf -v "${var}_PORT" '%s' "$port"
    printf -v "${var}_ADMIN" '%s' "$ADMIN_PORT"
    printf -v "${var}_PID" '%s' "$TESSERA_PID"
}

# mc_tool COMMAND PORT [ARGS...]: memcached's text protocol on
# 127.0.0.1:PORT, binary-safe (values travel as hex):
#   version PORT           print the server's version
#   keys PORT              print every key (lru_crawler metadump all)
#   get PORT KEY           print the value in hex; status 1 if absent
#   set PORT KEY HEX [TTL] store the bytes HEX under KEY
#   delete PORT KEY        status 1 if absent
#   search PORT HEX        look for the bytes HEX, and for HEX as text in
#                          either case, in every key and value; prints
#                          "scanned N keys" and each "found ... in KEY";
#                          status 0 iff found
mc_tool() {
    python3 - "$@" <<'PYEOF'
import socket, sys, time, urllib.parse

cmd, port = sys.argv[1], int(sys.argv[2])
args = sys.argv[3:]
s = socket.create_connection(("127.0.0.1", port), timeout=5)
buf = b""

def line():
    global buf
    # metadump ends its lines with a bare LF, everything else with CRLF.
    while b"\n" not in buf:
        d = s.recv(65536)
        if not d:
            raise SystemExit("memcached closed the connection")
        buf += d
    l, buf = buf.split(b"\n", 1)
    return l.rstrip(b"\r")

def exact(n):
    global buf
    while len(buf) < n + 2:
        d = s.recv(65536)
        if not d:
            raise SystemExit("memcached closed the connection")
        buf += d
    v, buf = buf[:n], buf[n + 2:]
    return v

def get(key):
    s.sendall(b"get " + key + b"\r\n")
    value = None
    while True:
        l = line()
        if l == b"END":
            return value
        parts = l.split()
        if parts[0] != b"VALUE":
            raise SystemExit("get %r: %r" % (key, l))
        value = exact(int(parts[3]))

def keys():
    # memcached answers BUSY while its own LRU crawler runs: ask again, for
    # up to 10 s (a pause between tries, not a bound on anything tested).
    for _ in range(100):
        s.sendall(b"lru_crawler metadump all\r\n")
        out = []
        while True:
            l = line()
            if l == b"END":
                return out
            if l.startswith(b"key="):
                out.append(urllib.parse.unquote_to_bytes(l.split()[0][4:]))
            elif l.startswith(b"BUSY"):
                break
            elif l.startswith(b"ERROR") or l.startswith(b"CLIENT_ERROR"):
                raise SystemExit("metadump: %r" % l)
        time.sleep(0.1)
    raise SystemExit("metadump: BUSY for 10 s")

if cmd == "version":
    s.sendall(b"version\r\n")
    print(line().decode())
elif cmd == "keys":
    for k in keys():
        print(k.decode("latin-1"))
elif cmd == "get":
    v = get(args[0].encode())
    if v is None:
        sys.exit(1)
    print(v.hex())
elif cmd == "set":
    v = bytes.fromhex(args[1])
    ttl = args[2] if len(args) > 2 else "0"
    s.sendall(b"set %s 0 %s %d\r\n" % (args[0].encode(), ttl.encode(), len(v)) + v + b"\r\n")
    l = line()
    if l != b"STORED":
        raise SystemExit("set: %r" % l)
elif cmd == "delete":
    s.sendall(b"delete " + args[0].encode() + b"\r\n")
    sys.exit(0 if line() == b"DELETED" else 1)
elif cmd == "search":
    raw = bytes.fromhex(args[0])
    needles = [raw, args[0].lower().encode(), args[0].upper().encode()]
    ks = keys()
    print("scanned %d keys" % len(ks))
    found = False
    for k in ks:
        v = get(k) or b""
        for n in needles:
            if n in k or n in v:
                print("found %r in %s" % (n[:8], k.decode("latin-1")))
                found = True
    sys.exit(0 if found else 1)
else:
    raise SystemExit("mc_tool: unknown command " + cmd)
PYEOF
}

# sess_field FILE FIELD: a field of `openssl sess_id -text` for a session
# saved by s_client -sess_out (Session-ID, Master-Key; a TLS 1.3 session
# shows "Resumption PSK" instead of Master-Key).
sess_field() {
    openssl sess_id -in "$1" -noout -text | sed -n "s/^ *$2: *//p" | head -n 1
}

# sess_key FILE [PREFIX]: the memcached key of a saved TLS 1.2 session,
# PREFIX ("tessera:") + "sess:" + its session ID in lower-case hex.
sess_key() {
    local id
    id=$(sess_field "$1" Session-ID | tr 'A-F' 'a-f')
    [ -n "$id" ] || fail "no Session-ID in $1"
    echo "${2:-tessera:}sess:$id"
}

# ---- admin endpoint readings ----

# m ADMIN_PORT NAME [LABEL=VALUE...]: metric, and the test fails without a sample.
m() {
    metric "$@" || fail "no sample $* on admin port $1"
}

# metric ADMIN_PORT NAME [LABEL=VALUE...]: print the value of a sample of
# /metrics (summed over the labels not given); status 1 if there is none.
metric() {
    local port=$1 f
    shift
    f=$TEST_DIR/.metrics.$$
    curl -sS --max-time 10 -o "$f" "http://127.0.0.1:$port/metrics" || return 1
    python3 "$LIB_DIR/../tools/promcheck.py" value "$f" "$@"
}

# metric_is ADMIN_PORT VALUE NAME [LABEL=VALUE...]: the sample has VALUE
# (compared as numbers), for wait_for.
metric_is() {
    local port=$1 want=$2 v
    shift 2
    v=$(metric "$port" "$@") || return 1
    python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) == float(sys.argv[2]) else 1)' \
        "$v" "$want"
}

# metric_at_least ADMIN_PORT MIN NAME [LABEL=VALUE...]: for wait_for.
metric_at_least() {
    local port=$1 min=$2 v
    shift 2
    v=$(metric "$port" "$@") || return 1
    python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) >= float(sys.argv[2]) else 1)' \
        "$v" "$min"
}

# hist_over ADMIN_PORT FAMILY LE: how many observations of the histogram
# FAMILY (summed over its frontends) exceeded LE seconds.  LE must be one of
# its bucket bounds as /metrics writes them ("0.25", "1", "2.5").  Tests
# bound durations with tessera's own histograms rather than with the wall
# clock around a client, which a busy machine stretches at will.
hist_over() {
    local total below
    total=$(m "$1" "${2}_count") || return 1
    below=$(m "$1" "${2}_bucket" le="$3") || return 1
    echo $((total - below))
}

# no_slow ADMIN_PORT WAIT_LE HS_LE WHAT: since tessera started, no memcached
# operation of the session cache (a lookup a handshake waited for, a store)
# lasted longer than WAIT_LE seconds and no handshake took longer than HS_LE
# (each a bucket bound of its histogram); otherwise the test fails, naming
# WHAT.
no_slow() {
    local waits hss
    waits=$(hist_over "$1" tessera_memcached_duration_seconds "$2") || fail "no histogram on $1"
    hss=$(hist_over "$1" tessera_handshake_duration_seconds "$3") || fail "no histogram on $1"
    assert_eq "$waits" 0 "$4: memcached operations on $1 over $2 s"
    assert_eq "$hss" 0 "$4: handshakes on $1 that took over $3 s"
}

# healthz ADMIN_PORT: print the body of GET /healthz.
healthz() {
    curl -sS --max-time 10 "http://127.0.0.1:$1/healthz"
}

# healthz_matches ADMIN_PORT REGEXP: for wait_for.
healthz_matches() {
    healthz "$1" 2>/dev/null | grep -Eq -- "$2"
}
