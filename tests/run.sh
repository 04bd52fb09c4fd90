#!/bin/bash
# run.sh - run every test as its own process with a time limit and print one summary line.
# Unit tests: build/tests/test_* (plain) and build/tests-asan/test_* (ASan+UBSan).
# Integration tests: tests/integration/*.sh; a script may set its limit with a line
# "# timeout: SECONDS". Logs of failures go to build/test-logs/.
# A test that cannot do its work here (a GPU, CUDA, PyTorch, clang... is missing) exits 77
# (automake's convention) with its last output line saying what is missing; it is reported
# as SKIP with that line, never as PASS. So is a cmocka binary that exits 0 with tests
# skipped (skip()): SKIP means "what ran passed, and something did not run".
# The closing line: "N passed, N failed, N skipped"; exit status 0 when nothing failed and
# something passed.
# Usage: tests/run.sh [PATTERN]   (only tests whose name contains PATTERN)
set -u
cd "$(dirname "$0")/.."
pat=${1:-}
logs=build/test-logs
mkdir -p "$logs"
pass=0 fail=0 skip=0 failed=()
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export COLOSSUS_BIN=${COLOSSUS_BIN:-$PWD/bin/colossus}
export CMOCKA_MESSAGE_OUTPUT=STDOUT # the format cmocka_skipped reads

# cmocka_skipped LOG: why a cmocka binary that exited 0 skipped tests, or nothing when it
# skipped none. Its summary has "[  SKIPPED ] N test(s), listed below:" then a line per test;
# a test says why with a line "skip: WHY" before skip() (the last such line is taken).
cmocka_skipped() {
    local n why
    n=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test(s), listed below:.*/\1/p' "$1" | tail -n 1)
    [ -n "$n" ] && [ "$n" -gt 0 ] || return 0
    why=$(sed -n 's/^skip: //p' "$1" | tail -n 1)
    printf '%s of %s tests skipped: %s' "$n" \
        "$(sed -n 's/^\[==========\] \([0-9]*\) test(s) run\..*/\1/p' "$1" | tail -n 1)" \
        "${why:-$(sed -n 's/^\[  SKIPPED \] \([^ ]*\)$/\1/p' "$1" | paste -sd ' ')}"
}

run_one() { # name limit cmd...
    local name=$1 limit=$2; shift 2
    [ -n "$pat" ] && [[ $name != *"$pat"* ]] && return
    local log="$logs/${name//\//_}.log" t0=$SECONDS rc why
    timeout -k 10 "$limit" "$@" >"$log" 2>&1 </dev/null
    rc=$?
    why=
    if [ $rc -eq 77 ]; then
        why=$(grep -v '^[[:space:]]*$' "$log" | tail -n 1)
        why=${why:-exit 77, no reason given}
    elif [ $rc -eq 0 ]; then
        why=$(cmocka_skipped "$log")
    fi
    if [ -n "$why" ]; then
        skip=$((skip + 1)); printf 'SKIP %-48s %3ss (%s)\n' "$name" $((SECONDS - t0)) "$why"
    elif [ $rc -eq 0 ]; then
        pass=$((pass + 1)); printf 'PASS %-48s %3ss\n' "$name" $((SECONDS - t0))
    else
        fail=$((fail + 1)); failed+=("$name")
        printf 'FAIL %-48s %3ss (exit %d%s)\n' "$name" $((SECONDS - t0)) $rc \
            "$([ $rc -eq 124 ] && echo ', timed out')"
        tail -n 30 "$log" | sed 's/^/    | /'
    fi
}

# *_pg tests need the PostgreSQL server of the pass below.
for t in build/tests/test_*; do
    [ -x "$t" ] && [[ $t != *_pg ]] && run_one "unit/${t##*/}" 300 "$t"
done
for t in build/tests-asan/test_*; do
    [ -x "$t" ] && [[ $t != *_pg ]] && run_one "asan/${t##*/}" 600 "$t"
done

# The store conformance suite again on PostgreSQL, plain and ASan+UBSan, with the
# PostgreSQL backend's own tests: one throwaway server (tests/pg_server.bash) for all of
# them, stopped on the way out. Without postgresql-15 each is a SKIP saying so.
pg_tests=(test_store test_store_acct test_store_audit test_store_pg)
pg_names=()
for t in "${pg_tests[@]}"; do
    for k in unit-pg:build/tests asan-pg:build/tests-asan; do
        [ -x "${k#*:}/$t" ] || continue
        n="${k%%:*}/$t"
        [ -n "$pat" ] && [[ $n != *"$pat"* ]] && continue
        pg_names+=("$n:${k#*:}/$t")
    done
done
if [ ${#pg_names[@]} -gt 0 ]; then
    . tests/pg_server.bash
    trap pg_stop EXIT
    pg_start >"$logs/pg_server.log" 2>&1
    pg_rc=$?
    pg_why=$(grep -v '^[[:space:]]*$' "$logs/pg_server.log" | tail -n 1)
    [ $pg_rc -eq 77 ] || pg_rc=$((pg_rc ? 1 : 0))
    for e in "${pg_names[@]}"; do
        if [ $pg_rc -eq 0 ]; then
            run_one "${e%%:*}" 600 env COLOSSUS_TEST_PG_SOCK="$PG_SOCK" "${e#*:}"
        else # what is missing (77: SKIP), or why the server did not start (FAIL)
            run_one "${e%%:*}" 60 bash -c 'echo "$1"; exit "$2"' _ "$pg_why" "$pg_rc"
        fi
    done
    pg_stop
fi
for t in tests/integration/*.sh; do
    [ -f "$t" ] || continue
    limit=$(sed -n 's/^# timeout: *\([0-9]*\).*/\1/p' "$t" | head -n 1)
    run_one "integration/$(basename "$t" .sh)" "${limit:-300}" bash "$t"
done

[ $fail -gt 0 ] && printf 'failed: %s\n' "${failed[*]}"
echo "$pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ] && [ $pass -gt 0 ]
