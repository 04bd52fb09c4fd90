#!/bin/bash
# h100-run.sh - the prepared device run of issue 5 on a real GPU machine: builds, then records
# `gpu list --json`, `gpu stat --json` next to nvidia-smi's view of the same counters, and
# `gpu check --quick/--full --json` with their wall times, into $OUT (default ./gpu-run).
# Read-only on the GPU: it never changes clocks, power limits or modes and never resets.
# Usage (repository root): OUT=/some/dir src/gpu/h100-run.sh     (about 2 minutes)
set -u
out=${OUT:-gpu-run}
mkdir -p "$out"
make -j"$(nproc)" all >"$out/build.log" 2>&1 || { tail -20 "$out/build.log"; exit 1; }
[ -f bin/libcolossus-cuda.so ] || { echo "bin/libcolossus-cuda.so not built (no nvcc?)"; exit 1; }
{ nvidia-smi -L; nvidia-smi --query-gpu=driver_version --format=csv,noheader | head -1; } \
    >"$out/nvidia-smi-L.txt" 2>&1
smi() {
    nvidia-smi --format=csv --query-gpu=index,name,uuid,pci.bus_id,memory.total,memory.used,\
power.limit,power.draw,temperature.gpu,utilization.gpu,clocks.sm,clocks.mem,ecc.mode.current,\
ecc.errors.corrected.volatile.total,ecc.errors.uncorrected.volatile.total,\
remapped_rows.correctable,remapped_rows.uncorrectable,remapped_rows.pending,remapped_rows.failure
}
bin/colossus gpu list --json >"$out/list.json" 2>&1
smi >"$out/smi-before.csv" 2>&1
bin/colossus gpu stat --json >"$out/stat-before.json" 2>&1
t0=$(date +%s.%N)
timeout 60 bin/colossus gpu check --quick --json >"$out/check-quick.json" 2>"$out/check-quick.err"
rc=$?
echo "quick rc=$rc wall=$(awk "BEGIN{print $(date +%s.%N) - $t0}") s" >"$out/times.txt"
t0=$(date +%s.%N)
timeout 120 bin/colossus gpu check --full --json >"$out/check-full.json" 2>"$out/check-full.err"
rc=$?
echo "full rc=$rc wall=$(awk "BEGIN{print $(date +%s.%N) - $t0}") s" >>"$out/times.txt"
smi >"$out/smi-after.csv" 2>&1
bin/colossus gpu stat --json >"$out/stat-after.json" 2>&1
cat "$out/times.txt"
