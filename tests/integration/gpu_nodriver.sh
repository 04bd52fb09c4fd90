#!/bin/bash
# gpu_nodriver.sh - no NVIDIA driver (NVML missing, or present but not loaded), or no CUDA
# burn-in library: `gpu list` and `gpu check` say so in one line and exit 2, never crash.
# timeout: 60
set -uo pipefail
cd "$(dirname "$0")/../.."
BIN=${COLOSSUS_BIN:-$PWD/bin/colossus}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# expect_one_line RC PATTERN CMD...: exit status RC, nothing on stdout, exactly one line on
# stderr matching PATTERN.
expect_one_line() {
    local want=$1 pat=$2; shift 2
    "$@" >"$tmp/out" 2>"$tmp/err"
    local rc=$?
    [ $rc -eq "$want" ] || fail "$* exited $rc, wanted $want: $(cat "$tmp/err")"
    [ ! -s "$tmp/out" ] || fail "$* printed on stdout: $(cat "$tmp/out")"
    [ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "$* printed $(wc -l <"$tmp/err") lines: $(cat "$tmp/err")"
    grep -q -- "$pat" "$tmp/err" || fail "$*: '$(cat "$tmp/err")' lacks '$pat'"
    echo "ok: $* -> $(cat "$tmp/err")"
}

# 1. No libnvidia-ml.so.1 at all: every subcommand says so.
export COLOSSUS_NVML_LIB=$tmp/nonexistent/libnvidia-ml.so.1
for args in "list" "list --json" "stat" "stat --json" "check" "check --quick --json" "check --full"; do
    # shellcheck disable=SC2086
    expect_one_line 2 "no NVIDIA driver" "$BIN" gpu $args
done

# 2. The library is there but the kernel driver is not (nvmlInit: driver not loaded).
export COLOSSUS_NVML_LIB=$PWD/build/fakenvml/libnvidia-ml.so.1
export COLOSSUS_FAKE_NVML=$tmp/nvml
printf 'init 9\ngpus 2\n' >"$COLOSSUS_FAKE_NVML"
expect_one_line 2 "driver not loaded" "$BIN" gpu list
expect_one_line 2 "driver not loaded" "$BIN" gpu check --json

# 3. A driver, GPUs, but no burn-in library (nvcc was missing at build time).
printf 'gpus 2\n' >"$COLOSSUS_FAKE_NVML"
COLOSSUS_CUDA_LIB=$tmp/libcolossus-cuda.so expect_one_line 2 "cannot be loaded" "$BIN" gpu check
# ... or a file that is not one.
echo "not a library" >"$tmp/bogus.so"
COLOSSUS_CUDA_LIB=$tmp/bogus.so expect_one_line 2 "cannot be loaded" "$BIN" gpu check
# ... or a library of another kind.
COLOSSUS_CUDA_LIB=$COLOSSUS_NVML_LIB expect_one_line 2 "not a burn-in library" "$BIN" gpu check

# 4. The real burn-in library (built where nvcc was) when CUDA finds no device: CUDA says why,
#    in one line. CUDA_VISIBLE_DEVICES=-1 hides the GPUs of a machine that has some, so that
#    this runs on GPU machines as on driverless ones. Without the library it cannot run: the
#    test ends as skipped (exit 77) once the rest has passed.
missing=
if [ -f bin/libcolossus-cuda.so ]; then
    unset COLOSSUS_CUDA_LIB
    CUDA_VISIBLE_DEVICES=-1 expect_one_line 2 "no usable CUDA device" "$BIN" gpu check
else
    missing="bin/libcolossus-cuda.so not built (no nvcc): the real burn-in library is untested"
fi

# 5. No GPU at all (driver loaded, zero devices).
printf 'gpus 0\n' >"$COLOSSUS_FAKE_NVML"
expect_one_line 2 "lists no GPU" "$BIN" gpu check
[ -z "$missing" ] || { echo "$missing"; exit 77; }
echo "gpu_nodriver: ok"
