# shellcheck shell=bash
# lib-keyring.sh - helpers shared by the cluster keyring tests (40-43),
# sourced right after lib.sh, whose functions they use (metric, fail,
# sclient_exchange, cfg_*, start_tessera, mc_tool, wait_for, ...).
#
# The sourcing test sets, before it calls these helpers:
#   ROTATE     tickets.rotate of every instance (epoch = unix time / ROTATE)
#   BANNER_RE  what the banner backend says first (s_client waits for it)
#   BANNER     the banner backend's port (start_instance)
#   MC_PORT    memcached's port (start_instance, stek_entry)
#   PREFIX     memcached.prefix of the instances (start_instance, stek_entry)
# and, for the two-instance helpers (agree, wait_agree), A_ADMIN and B_ADMIN.
#
# Not a test itself: the runner only runs files named [0-9][0-9]-*.sh.

# ---- epochs ----

# epoch: the current epoch as tessera computes it, floor(unix time / ROTATE).
epoch() {
    echo $(($(date +%s) / ROTATE))
}

# epoch_at_least E: the current epoch is E or later.
epoch_at_least() {
    [ "$(epoch)" -ge "$1" ]
}

# ---- metrics ----

# ---- /keyring ----

# keyring ADMIN: /keyring as lines: "degraded true|false EPOCH", then one
# "EPOCH ROLE SOURCE FINGERPRINT" per key.
keyring() {
    curl -sS --max-time 10 "http://127.0.0.1:$1/keyring" | python3 -c '
import json, sys
d = json.load(sys.stdin)
print("degraded", "true" if d["degraded"] else "false", d.get("epoch"))
for k in d["keys"]:
    print(k["epoch"], k["role"], k["source"], k["fingerprint"])
'
}

# kr_has ADMIN REGEXP: a line of `keyring ADMIN` matches REGEXP.
kr_has() {
    local k
    k=$(keyring "$1") || return 1
    grep -Eq -- "$2" <<<"$k"
}

# key_epoch ADMIN FINGERPRINT [SOURCE]: the epoch of the key with FINGERPRINT
# from SOURCE ("cluster" unless given, or "local"); empty if there is none.
key_epoch() {
    local k
    k=$(keyring "$1") || return 1
    awk -v fp="$2" -v s="${3:-cluster}" '$3 == s && $4 == fp { print $1 }' <<<"$k"
}

# agree SHAPE FUNC [ARG...]: `FUNC A_ADMIN ARG...` and `FUNC B_ADMIN ARG...`
# both succeed and print the same text, and that text matches the extended
# regexp SHAPE (so two empty answers, or two odd ones, are no agreement).
agree() {
    local shape=$1 fn=$2 a b
    shift 2
    a=$("$fn" "$A_ADMIN" "$@") || return 1
    b=$("$fn" "$B_ADMIN" "$@") || return 1
    [ "$a" = "$b" ] && [[ "$a" =~ $shape ]]
}

# wait_agree WHAT SHAPE FUNC [ARG...]: poll (for up to 15 s) until `agree
# SHAPE FUNC ARG...`; otherwise fail, showing WHAT and both answers.
wait_agree() {
    local what=$1 fn=$3
    shift
    WAIT_FOR_LIMIT=15 wait_for agree "$@" ||
        fail "A and B disagree on $what: A $("$fn" "$A_ADMIN" "${@:3}"), B" \
            "$("$fn" "$B_ADMIN" "${@:3}")"
}

# current_fp ADMIN: the fingerprint of the instance's current cluster key.
current_fp() {
    keyring "$1" | awk '$2 == "current" && $3 == "cluster" { print $4 }'
}

# same_current: A and B encrypt with the same cluster key, neither degraded.
same_current() {
    local a b
    a=$(current_fp "$A_ADMIN") && b=$(current_fp "$B_ADMIN") || return 1
    [ -n "$a" ] && [ "$a" = "$b" ] && kr_has "$A_ADMIN" "^degraded false " &&
        kr_has "$B_ADMIN" "^degraded false "
}

# ---- tickets ----

# ticket_hex FILE: the session ticket in a saved session (hex, no spaces).
ticket_hex() {
    openssl sess_id -in "$1" -noout -text 2>/dev/null |
        sed -n '/TLS session ticket:/,/^$/p' | grep -E '^ +[0-9a-f]{4} - ' |
        sed -E 's/^ +[0-9a-f]{4} - //; s/   .*$//; s/[ -]//g' | tr -d '\n'
}

# name_fingerprint TICKET_HEX: the fingerprint /keyring shows for the key a
# ticket was made with (first 4 bytes of SHA-256 of the 16-byte key name the
# ticket starts with).
name_fingerprint() {
    python3 -c 'import hashlib, sys
print(hashlib.sha256(bytes.fromhex(sys.argv[1][:32])).hexdigest()[:8])' "$1"
}

# new_session PORT FILE TLSFLAG...: a full handshake ("New") that saves its
# session in FILE; the server must have sent a ticket (s_client shows one and
# FILE holds it).
new_session() {
    local port=$1 file=$2
    shift 2
    rm -f "$file"
    sclient_exchange "" "$BANNER_RE" "$port" "$@" -sess_out "$file" ||
        fail "s_client $* -sess_out on port $port: $(tail -n 20 "$SCLIENT_OUT")"
    assert_contains "$SCLIENT_OUT" "^New, "
    assert_contains "$SCLIENT_OUT" "TLS session ticket"
    [ -n "$(ticket_hex "$file")" ] || fail "s_client $* on port $port: no ticket in the session"
}

# offer PORT IN [OUT] TLSFLAG...: offer the session saved in IN; sets R to
# Reused or New.  With OUT (any third argument not starting with "-"), also
# save the session the server leaves us with in OUT (removed first): for TLS
# 1.3 the new ticket; for a resumed TLS 1.2 session s_client writes nothing
# there, even when the server renewed the ticket (it only prints it).
offer() {
    local port=$1 in=$2 out=()
    shift 2
    if [ $# -gt 0 ] && [[ "$1" != -* ]]; then
        rm -f "$1"
        out=(-sess_out "$1")
        shift
    fi
    sclient_exchange "" "$BANNER_RE" "$port" "$@" -sess_in "$in" "${out[@]}" ||
        fail "s_client $* -sess_in on port $port: $(tail -n 20 "$SCLIENT_OUT")"
    # shellcheck disable=SC2034 # for the tests
    R=$(sed -n 's/^\(Reused\|New\), .*/\1/p' "$SCLIENT_OUT" | head -n 1)
}

# ---- memcached ----

# stek_entry EPOCH: the hex of the stek entry of EPOCH in memcached (status 1
# if absent).
stek_entry() {
    mc_tool get "$MC_PORT" "${PREFIX}stek:$1"
}

# entries_exist EPOCH...: memcached holds the stek entry of every EPOCH.
entries_exist() {
    local e
    for e in "$@"; do
        stek_entry "$e" >/dev/null || return 1
    done
}

# ---- instances ----

# [KEEP=N] [LIFETIME=S] [REFRESH=S] [MC_TIMEOUT_MS=MS] [SHUTDOWN=S] [ADMIN_EXTRA=TEXT]
# start_instance VAR [FAKETIME]: one tessera of the cluster: frontend "web"
# on a free port relaying to BANNER, the EC certificate, an admin port,
# sessions = { lifetime = LIFETIME (60); tickets = true; }, tickets = {
# rotate = ROTATE; keep = KEEP (15); refresh = REFRESH (1); }, memcached on
# MC_PORT (or the servers MC_SERVERS, a space-separated list of ports) with
# prefix PREFIX (and timeout_ms = MC_TIMEOUT_MS when set), timeouts.shutdown
# = SHUTDOWN when set.  Under libfaketime
# (FAKETIME_LIB) with FAKETIME when given, through a wrapper that execs
# tessera so that the tracked pid is tessera's.  Sets VAR_PORT, VAR_ADMIN,
# VAR_PID and VAR_LOG.
start_instance() {
    local var=$1 fake=${2:-} port bin=$TESSERA_BIN wrapper
    cfg_reset
    port=$(free_port)
    cfg_frontend web "$port" "$BANNER" "$(cert_entry ec)"
    cfg_admin
    # More of the admin group (47: allow, token_file), when set.
    [ -n "${ADMIN_EXTRA:-}" ] && CFG_ADMIN="$CFG_ADMIN $ADMIN_EXTRA"
    # shellcheck disable=SC2034 # read by write_config (lib.sh)
    CFG_SESSIONS="lifetime = ${LIFETIME:-60}; tickets = true;"
    # shellcheck disable=SC2034 # read by write_config (lib.sh)
    CFG_TICKETS="rotate = $ROTATE; keep = ${KEEP:-15}; refresh = ${REFRESH:-1};"
    # shellcheck disable=SC2034 # read by write_config (lib.sh)
    [ -n "${SHUTDOWN:-}" ] && CFG_TIMEOUTS="shutdown = $SHUTDOWN;"
    # shellcheck disable=SC2086 # MC_SERVERS is a list
    cfg_memcached ${MC_TIMEOUT_MS:+--timeout-ms "$MC_TIMEOUT_MS"} ${MC_SERVERS:-"$MC_PORT"}
    CFG_MEMCACHED="$CFG_MEMCACHED prefix = \"$PREFIX\";"
    write_config "$TEST_DIR/$var.conf"
    if [ -n "$fake" ]; then
        wrapper=$TEST_DIR/tessera-faketime-$var.sh
        printf '#!/bin/sh\nFAKETIME=%s LD_PRELOAD=%s exec %s "$@"\n' "'$fake'" \
            "'$FAKETIME_LIB'" "'$bin'" >"$wrapper"
        chmod +x "$wrapper"
        TESSERA_BIN=$wrapper
    fi
    start_tessera "$TEST_DIR/$var.conf"
    TESSERA_BIN=$bin
    printf -v "${var}_PORT" '%s' "$port"
    printf -v "${var}_ADMIN" '%s' "$ADMIN_PORT"
    printf -v "${var}_PID" '%s' "$TESSERA_PID"
    printf -v "${var}_LOG" '%s' "$TESSERA_LOG"
}

# stop_instances VAR...: stop each instance started as VAR (by VAR_PID); the
# test fails unless each exits with status 0.
stop_instances() {
    local v pid_var
    for v in "$@"; do
        pid_var=${v}_PID
        TESSERA_PID=${!pid_var}
        stop_tessera || fail "tessera $v exited with $?"
    done
}
