#!/bin/bash
# gpu_check.sh - `colossus gpu check` end to end with the fake NVML and the fake burn-in
# library: healthy GPUs pass; memory errors, wrong or slow GEMMs, slow copies, hardware XIDs and
# uncorrected ECC errors during the check, and lost GPUs fail, each with its reason.
# timeout: 120
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${COLOSSUS_BIN:-$PWD/bin/colossus}
PY=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export COLOSSUS_NVML_LIB=$PWD/build/fakenvml/libnvidia-ml.so.1
export COLOSSUS_CUDA_LIB=$PWD/build/fakenvml/libfakeburn.so
export COLOSSUS_FAKE_NVML=$tmp/nvml COLOSSUS_FAKE_BURN=$tmp/burn
for f in "$COLOSSUS_NVML_LIB" "$COLOSSUS_CUDA_LIB"; do
    [ -f "$f" ] || { echo "not built: $f"; exit 1; }
done
U0=GPU-00000000-1111-2222-3333-444444444444
U1=GPU-11111111-1111-2222-3333-444444444444

two_h100() {
    cat >"$COLOSSUS_FAKE_NVML" <<S
gpus 2
gpu 0 name NVIDIA H100 80GB HBM3
gpu 0 uuid $U0
gpu 0 ecc_corr 5
gpu 0 ecc_unc 0
gpu 1 name NVIDIA H100 80GB HBM3
gpu 1 uuid $U1
gpu 1 ecc_corr 0
gpu 1 ecc_unc 0
S
    : >"$COLOSSUS_FAKE_BURN"
}

# run_check WANT_RC ARGS...: the JSON lands in $tmp/out.json
run_check() {
    local want=$1; shift
    set +e
    "$BIN" gpu check "$@" >"$tmp/out.json" 2>"$tmp/err"
    local rc=$?
    set -e
    if [ $rc -ne "$want" ]; then
        echo "gpu check $* exited $rc, wanted $want"; cat "$tmp/out.json" "$tmp/err"; exit 1
    fi
}

# query PYTHON-EXPRESSION: evaluated with j = the JSON output; must be true.
query() {
    $PY - "$tmp/out.json" "$1" <<'P' || { cat "$tmp/out.json"; exit 1; }
import json, sys
j = json.load(open(sys.argv[1]))
g = {x["index"]: x for x in j["gpus"]}
ok = eval(sys.argv[2])
if not ok:
    print("not true:", sys.argv[2]); sys.exit(1)
P
}

# 1. Healthy: both pass, the figures and the H100 expectations are in the JSON.
two_h100
run_check 0 --json
query 'j["passed"] and j["failed"] == 0 and j["mode"] == "quick" and len(j["gpus"]) == 2'
query 'all(x["passed"] and x["reason"] == "" for x in j["gpus"])'
query 'g[0]["gemm"]["tflops"] == 780 and g[0]["gemm"]["cublas_tflops"] == 790 and g[0]["copy"]["gbps"] == 2950'
query 'g[0]["expect"]["model"] == "H100 SXM" and g[0]["expect"]["gemm_tflops_min"] == 700 and g[0]["expect"]["copy_gbps_min"] == 2700'
query 'g[0]["ecc"]["corrected_before"] == 5 and g[0]["memory"]["passes"] == 4'
run_check 0 --full --json
query 'j["mode"] == "full" and g[1]["memory"]["passes"] == 64'
echo "ok: healthy"

# 2. Memory errors on GPU 1 only.
two_h100
echo "$U1 mem_errors 3" >"$COLOSSUS_FAKE_BURN"
echo "$U1 mem_first_bad 0x1000" >>"$COLOSSUS_FAKE_BURN"
run_check 1 --json
query 'not j["passed"] and j["failed"] == 1 and g[0]["passed"] and not g[1]["passed"]'
query '"memory test: 3 bad word(s), first at offset 0x1000" in g[1]["reason"]'
echo "ok: memory errors"

# 3. GEMM slower than 90% of cuBLAS and than an H100's 700 TFLOP/s; copy below 2,700 GB/s.
two_h100
printf '%s\n' "$U0 gemm_tflops 600" "$U0 copy_gbps 2500" >"$COLOSSUS_FAKE_BURN"
run_check 1 --json
query '"below 90% of cuBLAS" in g[0]["reason"] and "below 700 expected of an H100 SXM" in g[0]["reason"]'
query '"copy 2500 GB/s below 2700" in g[0]["reason"] and g[1]["passed"]'
echo "ok: slow"

# 4. Wrong or unrepeatable products, a corrupting copy, a burn-in that stopped.
two_h100
printf '%s\n' "$U0 gemm_mismatches 2" "$U0 repeatable 0" "$U1 copy_mismatches 7" >"$COLOSSUS_FAKE_BURN"
run_check 1 --json
query '"GEMM gave 2 wrong element(s)" in g[0]["reason"] and "not repeatable" in g[0]["reason"]'
query '"copy kernel corrupted 7 word(s)" in g[1]["reason"]'
printf '%s\n' "$U1 ok 0" "$U1 error cudaMalloc A: out of memory" >"$COLOSSUS_FAKE_BURN"
run_check 1 --json
query '"burn-in did not finish: cudaMalloc A: out of memory" in g[1]["reason"] and g[1]["error"].startswith("cudaMalloc")'
echo "ok: wrong results"

# 5. A fatal XID during the burn-in fails that GPU; an application XID does not.
two_h100
printf '%s\n' "$U1 nvml event 1 79" "$U0 nvml event 0 13" >"$COLOSSUS_FAKE_BURN"
run_check 1 --json
query 'g[1]["xids"] == [79] and "1 XID error(s) during the burn-in" in g[1]["reason"]'
query 'g[0]["xids"] == [13] and g[0]["passed"]'
echo "ok: XIDs"

# 6. Uncorrected ECC errors appearing during the burn-in; a remap left pending.
two_h100
printf '%s\n' "$U0 nvml gpu 0 ecc_unc 2" "$U1 nvml gpu 1 remap_pending 1" >"$COLOSSUS_FAKE_BURN"
run_check 1 --json
query '"2 uncorrected ECC error(s) during the burn-in" in g[0]["reason"] and g[0]["ecc"]["uncorrected_after"] == 2'
query '"row remap pending" in g[1]["reason"]'
echo "ok: ECC"

# 7. A GPU NVML lists but cannot open fails without a burn-in; all lost: exit 1 too.
two_h100
echo "gpu 1 lost 1" >>"$COLOSSUS_FAKE_NVML"
run_check 1 --json
query 'g[0]["passed"] and not g[1]["passed"] and "cannot open it" in g[1]["reason"]'
echo "gpu 0 lost 1" >>"$COLOSSUS_FAKE_NVML"
run_check 1
grep -q "none of the 2 GPU(s) NVML lists can be opened" "$tmp/err"
echo "ok: lost GPUs"

# 8. A model without expectations is judged on correctness and the ratio to cuBLAS only; a
#    UUID no CUDA device has fails.
printf 'gpus 2\ngpu 0 name Fake GPU\ngpu 0 uuid GPU-x\ngpu 1 name Fake GPU\ngpu 1 uuid GPU-y\n' >"$COLOSSUS_FAKE_NVML"
printf '%s\n' "* gemm_tflops 100" "* gemm_ref_tflops 105" "* copy_gbps 50" >"$COLOSSUS_FAKE_BURN"
run_check 0 --json
query 'g[0]["passed"] and g[0]["expect"] is None'
echo "* gemm_tflops 90" >>"$COLOSSUS_FAKE_BURN"
run_check 1 --json
query '"below 90% of cuBLAS" in g[0]["reason"]'
echo "ok: unknown model"

# 9. The table: a line per GPU and a summary.
two_h100
echo "$U1 mem_errors 1" >"$COLOSSUS_FAKE_BURN"
run_check 1
grep -q "quick check: 1 of 2 GPU(s) passed" "$tmp/out.json"
grep -E "^1 .*FAIL.*memory test" "$tmp/out.json" >/dev/null

# 10. CUDA sees no device: one line, exit 2.
echo "devices -1" >"$COLOSSUS_FAKE_BURN"
run_check 2 --json
[ ! -s "$tmp/out.json" ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q "no usable CUDA device" "$tmp/err"
echo "gpu_check: ok"
