# compare-reload.sh - cell 14 of compare.sh (--reload): full TLS 1.3 handshakes while the
# server reloads once a second, against the same load without reloads.  Sourced by compare.sh,
# whose helpers (start_server, stop_server, free_port, pid_tree, the report's med/mmr/total/ratio)
# and settings (WORK, SERVER_CPU, CLIENT_CPU, BENCH, TLS13, HTTP_PORT) it uses; not run alone.
#
# Each run: the server starts afresh on core 0 with the certificate file $WORK/storm.pem, gets
# 300 warm-up handshakes, then one closed-loop load of RELOAD_SECS seconds (tessera-bench,
# --max-errors 0, so failures are counted and never end the run).  In the "storm" condition a
# loop on the client's core, from the load's start to its end, once a second:
#   1. puts the other of two ECDSA P-256 certificates (same name, same key type, new key) into
#      storm.pem by copy and rename, so every reload loads a different certificate and key;
#   2. signals the server the way its operators reload it:
#      - tessera: SIGHUP to the process (conf/tessera.service's ExecReload);
#      - HAProxy: master-worker mode, started as Debian's haproxy.service does
#        (haproxy -Ws -f CFG -S MASTER_SOCKET), SIGUSR2 to the master (its ExecReload).  The
#        master re-executes itself, and its new worker takes the listening sockets over the
#        master's socket pair, which HAProxy 2.6 does by itself in this mode (configuration.txt,
#        "expose-fd listeners": "In master-worker mode, this is not required anymore");
#      - hitch: SIGHUP to the master process, which reads the configuration again and replaces
#        its worker (each hitch worker binds its own SO_REUSEPORT listening socket, and an old
#        one closes it when it retires).
#
# Server CPU is the whole process tree's: the root process (tessera; HAProxy's master; hitch's
# master) and every child alive at the sample, utime+stime from /proc/PID/stat, plus the root's
# cutime+cstime, which holds the CPU of the children it has reaped.  Workers that a reload starts
# and that exit before the end are so counted too.  Samples: after the warm-up, and after the
# load ended and the tree has settled (no storm signal for 1 s, the same children for 1 s, at most
# 10 s).  The window is a little longer than the load's; the difference holds no load.

RELOAD_CERTS="ec ec2"

# reload_setup: the second certificate of the storm (the first is compare.sh's ec.pem).
reload_setup() {
    [ -f "$WORK/ec2.pem" ] && return 0
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj /CN=localhost \
        -keyout "$WORK/ec2.key" -out "$WORK/ec2.crt" 2>/dev/null || return 1
    cat "$WORK/ec2.crt" "$WORK/ec2.key" >"$WORK/ec2.pem"
}

# reload_put_cert STEM: make $WORK/storm.pem a copy of $WORK/STEM.pem, atomically (a reload that
# reads it meanwhile sees the old file or the new one, never half of one).
reload_put_cert() {
    cp "$WORK/$1.pem" "$WORK/storm.pem.tmp" && mv -f "$WORK/storm.pem.tmp" "$WORK/storm.pem"
}

# tree_cpu_ticks PID: CPU ticks of PID and its children (see the head of this file).
tree_cpu_ticks() {
    local p
    # The root first: a child it reaps between the two reads is then missed, never counted twice.
    for p in "$1" $(cat /proc/"$1"/task/*/children 2>/dev/null); do
        sed 's/^.*) //' /proc/"$p"/stat 2>/dev/null
    done | awk '{ t += $12 + $13 } NR == 1 { t += $14 + $15 } END { printf "%d", t }'
}

children_of() { cat /proc/"$1"/task/*/children 2>/dev/null | tr -s ' \n' ' ' | sed 's/ $//'; }

# reload_signal NAME: the signal that reloads server NAME.
reload_signal() {
    case $1 in haproxy) echo USR2 ;; *) echo HUP ;; esac
}

# reload_storm PID SIGNAL LOG: forever, once a second (on a fixed schedule, so the loop's own
# time does not drift it), swap the certificate and send SIGNAL to PID; one line per reload in
# LOG, written between the swap and the signal: the number, the time (ms) and the certificate.
reload_storm() {
    local pid=$1 sig=$2 log=$3 n=0 t0 now wait_ms cert
    t0=$(date +%s%3N)
    while :; do
        n=$((n + 1))
        now=$(date +%s%3N)
        wait_ms=$((t0 + n * 1000 - now))
        [ "$wait_ms" -gt 0 ] && sleep "$(awk -v m="$wait_ms" 'BEGIN { printf "%.3f", m / 1000 }')"
        set -- $RELOAD_CERTS
        cert=$( [ $((n % 2)) = 1 ] && echo "$2" || echo "$1")
        reload_put_cert "$cert"
        echo "$n $(date +%s%3N) $cert" >>"$log"
        kill -"$sig" "$pid" 2>/dev/null || return 0
    done
}

# reload_settle PID LOG: wait (at most 10 s) until the last storm signal is 1 s old and PID's
# children have stayed the same for 1 s.
reload_settle() {
    local pid=$1 log=$2 t0=$SECONDS last kids prev="" since
    since=$(date +%s%3N)
    while [ $((SECONDS - t0)) -lt 10 ]; do
        kids=$(children_of "$pid")
        [ "$kids" = "$prev" ] || { prev=$kids; since=$(date +%s%3N); }
        last=$(tail -n 1 "$log" 2>/dev/null | awk '{ print $2 }')
        if [ $(($(date +%s%3N) - since)) -ge 1000 ] &&
            [ $(($(date +%s%3N) - ${last:-0})) -ge 1000 ]; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# tessera_reloads ADMIN_PORT RESULT: tessera_reloads_total{result=RESULT}.
tessera_reloads() {
    curl -s --max-time 5 "http://127.0.0.1:$1/metrics" |
        awk -v want="result=\"$2\"" 'index($0, "tessera_reloads_total{") == 1 && index($0, want) { v += $2 }
            END { printf "%d", v }'
}

# served_fingerprint PORT: the SHA-256 fingerprint of the certificate the server sends now.
served_fingerprint() {
    openssl s_client -connect "127.0.0.1:$1" -servername localhost </dev/null 2>/dev/null |
        openssl x509 -noout -fingerprint -sha256 2>/dev/null
}

# reload_log_counts NAME LOGSLICE: what the server's own log says of the run's reloads, as
# reloads_applied=N old_worker_crashes=N.  HAProxy's master logs "Loading success." for each
# reload that started a new worker and "Former worker (PID) exited with code N" for each old one;
# hitch's master "Config reloaded in ..." and "Child PID exited with status N" (hitch also
# starts its OCSP helper process again on each reload).
reload_log_counts() {
    local ok crash
    case $1 in
    haproxy)
        ok=$(grep -c 'Loading success' "$2")
        crash=$(grep -c 'Former worker .* exited with code [1-9]' "$2") ;;
    hitch)
        ok=$(grep -c 'Config reloaded' "$2")
        crash=$(grep -Ec 'Child [0-9]+ (exited with status [1-9]|.*signal)' "$2") ;;
    esac
    echo "reloads_applied=$ok old_worker_crashes=$crash"
}

# run_reload CELL SERVER CONDITION REP: one run of cell 14 (CONDITION: noreload or storm),
# appended to $RESULTS as server=SERVER/CONDITION.
run_reload() {
    local cell=$1 name=$2 cond=$3 rep=$4 key="$2/$3" status=ok line="" args stormpid="" aport=""
    local log=$WORK/storm-$name-$cond-$rep.log s0 s1 hs sent=0 applied logoff cert last
    : >"$log"
    set -- $RELOAD_CERTS
    reload_put_cert "$1"
    [ "$name" = tessera ] && aport=$(free_port)
    if ! ADMIN_LISTEN=${aport:+127.0.0.1:$aport} HAPROXY_MASTER_WORKER=1 start_server "$name" storm "$HTTP_PORT"; then
        echo "cell=$cell server=$key rep=$rep status=nostart" >>"$RESULTS"
        stop_server
        return
    fi
    taskset -c "$CLIENT_CPU" "$BENCH" full $TLS13 --count 300 --warmup 0 --port "$SERVER_PORT" \
        >/dev/null 2>&1
    logoff=$(wc -c <"$WORK/$name.log")
    args="$(cell_args "$cell") --port $SERVER_PORT --conn-timeout 10"
    s0=$(tree_cpu_ticks "$SERVER_PID")
    taskset -c "$CLIENT_CPU" "$BENCH" $args >"$WORK/reload-bench.out" 2>>"$WORK/bench.err" &
    local bpid=$!
    PIDS+=("$bpid")
    if [ "$cond" = storm ]; then
        reload_storm "$SERVER_PID" "$(reload_signal "$name")" "$log" &
        stormpid=$!
        PIDS+=("$stormpid")
        taskset -pc "$CLIENT_CPU" "$stormpid" >/dev/null 2>&1
    fi
    wait "$bpid"
    if [ -n "$stormpid" ]; then
        stop_pid "$stormpid"
    fi
    forget_pid "$bpid"
    [ -n "$stormpid" ] && forget_pid "$stormpid"
    reload_settle "$SERVER_PID" "$log" || log "cell $cell $key: the process tree did not settle in 10 s"
    s1=$(tree_cpu_ticks "$SERVER_PID")
    line=$(grep '^mode=' "$WORK/reload-bench.out")
    status=$(run_status "$name" "$line" "cell $cell ($cond); command: $BENCH $args")
    hs=$(echo " $line " | sed -n 's/.* handshakes=\([0-9]*\) .*/\1/p')
    sent=$(wc -l <"$log")
    # Reloads that took effect: tessera counts them in its metrics, HAProxy and hitch log them.
    if [ "$name" = tessera ]; then
        applied="reloads_applied=$(tessera_reloads "$aport" ok) reloads_failed=$(tessera_reloads "$aport" failed)"
    else
        tail -c +$((logoff + 1)) "$WORK/$name.log" >"$WORK/reload-slice.log"
        applied=$(reload_log_counts "$name" "$WORK/reload-slice.log")
    fi
    # The certificate served now must be the one of the last reload signalled (storm.pem may be
    # one swap ahead if the loop was stopped between its swap and its signal).
    last=$(tail -n 1 "$log" | awk '{ print $3 }')
    set -- $RELOAD_CERTS
    cert=stale
    [ "$(served_fingerprint "$SERVER_PORT")" = "$(openssl x509 -in "$WORK/${last:-$1}.pem" -noout -fingerprint -sha256)" ] &&
        cert=ok
    line="$line $(awk -v a="$s0" -v b="$s1" -v hs="${hs:-0}" -v tck="$(getconf CLK_TCK)" 'BEGIN {
        us = (b - a) * 1e6 / tck
        printf "tree_cpu_us=%.0f tree_us_per_hs=%.1f", us, (hs > 0 ? us / hs : 0) }')"
    line="$line reloads_sent=$sent $applied cert_now=$cert"
    echo "cell=$cell server=$key rep=$rep status=$status $line" >>"$RESULTS"
    log "cell $cell $key rep $rep: $status $line"
    SERVER_PIDS=$(pid_tree "$SERVER_PID")
    stop_server
}

# report_reload CELL: the table of cell 14.
report_reload() {
    local cell=$1 s c k
    echo "| server | reloads | server CPU us/handshake (whole tree) | handshakes/s | p50 ms | p99 ms | p99.9 ms | max ms | failed connections, all reps (connect / handshake / exchange; timeouts) | reloads sent / applied (median) | old workers that crashed (all reps) | certificate served at the end | client CPU % |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    for s in $AVAILABLE; do
        for c in noreload storm; do
            k="$s/$c"
            grep -q "^cell=$cell server=$k " "$RESULTS" || continue
            echo "| $s | $([ "$c" = storm ] && echo "1/s" || echo none) | $(mmr "$cell" "$k" tree_us_per_hs 1) | $(mmr "$cell" "$k" hs_per_s 0) | $(mmr "$cell" "$k" p50_ms 2) | $(mmr "$cell" "$k" p99_ms 2) | $(mmr "$cell" "$k" p999_ms 1) | $(mmr "$cell" "$k" max_ms 0) | $(total "$cell" "$k" errors) ($(total "$cell" "$k" err_connect) / $(total "$cell" "$k" err_handshake) / $(total "$cell" "$k" err_exchange); $(total "$cell" "$k" err_timeout)) | $(med "$cell" "$k" reloads_sent) / $(med "$cell" "$k" reloads_applied) | $([ "$s" = tessera ] && echo "-" || total "$cell" "$k" old_worker_crashes) | $(vals "$cell" "$k" cert_now | sort | uniq -c | awk '{ printf "%s%s x%d", (NR > 1 ? ", " : ""), $2, $1 }') | $(mmr "$cell" "$k" client_cpu_pct 0) |"
        done
    done
    echo
    for s in $AVAILABLE; do
        grep -q "^cell=$cell server=$s/storm " "$RESULTS" || continue
        echo "- $s, storm/no reloads: handshakes/s $(ratio "$(med "$cell" "$s/storm" hs_per_s)" "$(med "$cell" "$s/noreload" hs_per_s)")x, p99 $(ratio "$(med "$cell" "$s/storm" p99_ms)" "$(med "$cell" "$s/noreload" p99_ms)")x, p99.9 $(ratio "$(med "$cell" "$s/storm" p999_ms)" "$(med "$cell" "$s/noreload" p999_ms)")x, server CPU per handshake $(ratio "$(med "$cell" "$s/storm" tree_us_per_hs)" "$(med "$cell" "$s/noreload" tree_us_per_hs)")x; failed connections $(total "$cell" "$s/storm" errors) vs $(total "$cell" "$s/noreload" errors)"
    done
    echo "- reloads: once a second for the whole load, each with the other of two ECDSA P-256 certificates copied and renamed into the one file the server loads. tessera: SIGHUP. HAProxy $(haproxy -v | head -n 1 | awk '{print $3}'): master-worker mode as Debian's haproxy.service starts it (-Ws -S master socket), SIGUSR2 to the master; the listeners pass to the new worker over the master's socket pair (built in in this mode). hitch: SIGHUP to the master."
    echo "- server CPU: the whole process tree (the root, its children alive at each sample, and the root's cutime+cstime for the children it reaped, such as workers a reload replaced), from 300 warm-up handshakes after the start to 1 s after the last reload; divided by the handshakes measured"
    echo "- reloads applied: tessera_reloads_total{result=\"ok\"} for tessera; HAProxy's master's \"Loading success.\" and hitch's \"Config reloaded\" log lines; old workers that crashed: HAProxy's \"Former worker (PID) exited with code N\" with N > 0, hitch's \"Child PID exited with status N\" with N > 0 or killed by a signal; the certificate served at the end: the one of the last reload (checked with openssl s_client once the tree has settled)"
    echo "- failed connections: as tessera-bench counts them, by the stage the connection was in (connect: refused or reset before the TCP handshake completed; handshake: TLS; exchange: request and reply), all reps; --max-errors 0, so no run stopped early"
}
