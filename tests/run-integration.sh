#!/bin/bash
# run-integration.sh - run tessera's integration tests.
#
# Runs every tests/integration/[0-9][0-9]-*.sh (only those marked
# "# subset: tsan" when TESSERA_TEST_SUBSET=tsan; only those named as
# arguments when some are given), each in its own fresh temporary folder and
# under a time limit of TESSERA_TEST_TIMEOUT seconds (240; a test that
# needs more, e.g. because it waits for epochs to pass, says so in a header
# line "# timeout: N", which raises its own limit to N).  Prints "PASS
# name (Ns)" or "FAIL name (Ns)" per test, N its wall time in seconds (with
# the test's output and the last 50 lines of each log for a failure), then
# the five slowest tests and the total, and ends with "N passed, N failed".
# Exits 0 iff nothing failed.
#
# Environment:
#   TESSERA_BIN           the tessera binary (default build/release/tessera)
#   TESSERA_TOOLS         folder with testbackend and tclient
#                         (default build/release/tests/tools)
#   TESSERA_TEST_WORKERS  if set, the `workers` of every test configuration
#   TESSERA_TEST_SUBSET   "tsan": only the tests marked for the TSan pass

set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
export TESSERA_BIN=${TESSERA_BIN:-$root/build/release/tessera}
export TESSERA_TOOLS=${TESSERA_TOOLS:-$root/build/release/tests/tools}
case "$TESSERA_BIN" in /*) ;; *) TESSERA_BIN=$PWD/$TESSERA_BIN ;; esac
case "$TESSERA_TOOLS" in /*) ;; *) TESSERA_TOOLS=$PWD/$TESSERA_TOOLS ;; esac
limit=${TESSERA_TEST_TIMEOUT:-240}
subset=${TESSERA_TEST_SUBSET:-}

passed=0
failed=0
failed_names=()
timings=()

tests=()
if [ $# -gt 0 ]; then
    for t in "$@"; do
        case "$t" in
        */*) tests+=("$t") ;;
        *.sh) tests+=("$here/integration/$t") ;;
        *) tests+=("$here/integration/$t.sh") ;;
        esac
    done
else
    for t in "$here"/integration/[0-9][0-9]-*.sh; do
        [ -f "$t" ] || continue
        if [ "$subset" = tsan ] && ! grep -q '^# subset: tsan' "$t"; then
            continue
        fi
        tests+=("$t")
    done
fi

for t in "${tests[@]}"; do
    name=$(basename "$t" .sh)
    dir=$(mktemp -d "/tmp/tessera-it.$name.XXXXXX")
    own=$(sed -n 's/^# timeout: \([0-9][0-9]*\)$/\1/p' "$t" | head -n 1)
    tlimit=$limit
    if [ -n "$own" ] && [ "$own" -gt "$tlimit" ]; then
        tlimit=$own
    fi
    start=$SECONDS
    # timeout(1) signals the test's whole process group, so the processes it
    # started go too; -k forces the matter if the test's trap hangs.
    TESSERA_TEST_DIR=$dir timeout -k 10 "$tlimit" bash "$t" >"$dir/test-output.txt" 2>&1 </dev/null
    rc=$?
    took=$((SECONDS - start))
    timings+=("$took $name")
    if [ $rc -eq 0 ]; then
        echo "PASS $name (${took}s)"
        passed=$((passed + 1))
    else
        echo "FAIL $name (${took}s)"
        if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
            echo "---- $name: timed out after ${tlimit}s ----"
        else
            echo "---- $name: exit status $rc after ${took}s ----"
        fi
        failed=$((failed + 1))
        failed_names+=("$name")
        echo "---- $name: test output (last 50 lines) ----"
        tail -n 50 "$dir/test-output.txt"
        for f in "$dir"/tessera*.log "$dir"/backend*.log "$dir"/run-*.log; do
            [ -f "$f" ] || continue
            echo "---- $name: $(basename "$f") (last 50 lines) ----"
            tail -n 50 "$f"
        done
        echo "---- end of $name ----"
    fi
    rm -rf "$dir"
done

if [ ${#timings[@]} -gt 0 ]; then
    printf '%s\n' "${timings[@]}" | sort -rn | head -n 5 |
        awk '{ s = s sep $2 " " $1 "s"; sep = ", " } END { print "slowest: " s }'
    printf '%s\n' "${timings[@]}" | awk '{ t += $1 } END { print "total: " t "s in " NR " tests" }'
fi
if [ $failed -gt 0 ]; then
    echo "failed: ${failed_names[*]}"
fi
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
