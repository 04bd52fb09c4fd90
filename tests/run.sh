#!/bin/bash
# run.sh - run every test as its own process with a time limit and print one summary line.
# Unit tests: build/tests/test_* (plain) and build/tests-asan/test_* (ASan+UBSan).
# Integration tests: tests/integration/*.sh; a script may set its limit with a line
# "# timeout: SECONDS". Logs of failures go to build/test-logs/.
# Usage: tests/run.sh [PATTERN]   (only tests whose name contains PATTERN)
set -u
cd "$(dirname "$0")/.."
pat=${1:-}
logs=build/test-logs
mkdir -p "$logs"
pass=0 fail=0 failed=()
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export COLOSSUS_BIN=${COLOSSUS_BIN:-$PWD/bin/colossus}

run_one() { # name limit cmd...
    local name=$1 limit=$2; shift 2
    [ -n "$pat" ] && [[ $name != *"$pat"* ]] && return
    local log="$logs/${name//\//_}.log" t0=$SECONDS rc
    timeout -k 10 "$limit" "$@" >"$log" 2>&1 </dev/null
    rc=$?
    if [ $rc -eq 0 ]; then
        pass=$((pass + 1)); printf 'PASS %-48s %3ss\n' "$name" $((SECONDS - t0))
    else
        fail=$((fail + 1)); failed+=("$name")
        printf 'FAIL %-48s %3ss (exit %d%s)\n' "$name" $((SECONDS - t0)) $rc \
            "$([ $rc -eq 124 ] && echo ', timed out')"
        tail -n 30 "$log" | sed 's/^/    | /'
    fi
}

for t in build/tests/test_*; do
    [ -x "$t" ] && run_one "unit/${t##*/}" 300 "$t"
done
for t in build/tests-asan/test_*; do
    [ -x "$t" ] && run_one "asan/${t##*/}" 600 "$t"
done
for t in tests/integration/*.sh; do
    [ -f "$t" ] || continue
    limit=$(sed -n 's/^# timeout: *\([0-9]*\).*/\1/p' "$t" | head -n 1)
    run_one "integration/$(basename "$t" .sh)" "${limit:-300}" bash "$t"
done

[ $fail -gt 0 ] && printf 'failed: %s\n' "${failed[*]}"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ] && [ $pass -gt 0 ]
