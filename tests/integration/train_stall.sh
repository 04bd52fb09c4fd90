#!/bin/bash
# train_stall.sh - the documented stall signal (issue 13, docs/power.md): with
# COLOSSUS_POWER_STALL=burn every rank of examples/train.py runs a dummy matrix product while
# it waits on a checkpoint (here slowed to 0.3 s by TRAIN_CKPT_SLEEP), and says how many it
# ran; the training is bit-for-bit the run without it; without the variable nothing changes
# (no product, not a line more of output); a bad intensity is refused.
# timeout: 150
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/integration/train_lib.bash train-stall

# run TAG [VAR=VALUE...]: 2 ranks, 40 steps, a checkpoint every 10; exit status of the worst
run() {
    local tag=$1 p r rc=0
    shift
    p=$(free_port)
    pids=()
    for r in 0 1; do
        env "$@" COLOSSUS_CHECKPOINT_DIR="$dir/ckpt-$tag" RANK=$r WORLD_SIZE=2 LOCAL_RANK=$r \
            MASTER_ADDR=127.0.0.1 MASTER_PORT="$p" TRAIN_STEPS=40 TRAIN_CKPT_EVERY=10 \
            TRAIN_TIMEOUT=60 TRAIN_CKPT_SLEEP=0.3 \
            setsid "$PY" examples/train.py >"$dir/$tag-rank$r.log" 2>&1 &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p" || rc=$?; done
    pids=()
    return $rc
}
params() { "$PY" -c 'import json, sys; print(json.dumps(json.load(open(sys.argv[1]))["params"], sort_keys=True))' "$1"; }

run ref || die "the run without the signal failed"
! grep -q "power stall" "$dir"/ref-rank*.log || die "a stall line without the signal"
run burn COLOSSUS_POWER_STALL=burn || die "the run with the signal failed"
[ "$(params "$dir/ckpt-ref/final.json")" = "$(params "$dir/ckpt-burn/final.json")" ] ||
    die "the dummy product changed the training"
for r in 0 1; do
    line=$(grep "power stall floor:" "$dir/burn-rank$r.log") || die "rank $r: no stall floor line"
    echo "rank $r: $line"
    "$PY" - "$line" <<'PY' || die "rank $r: $line"
import re, sys
m = re.search(r"floor: (\d+) dummy products on (\w+) over ([\d.]+) s in (\d+) checkpoint stalls", sys.argv[1])
n, dev, s, k = int(m[1]), m[2], float(m[3]), int(m[4])
assert k == 4, "4 checkpoints, not %d" % k
assert s >= 4 * 0.3, "the stalls last the checkpoints' 0.3 s each: %s s" % s
assert n >= 10 * k, "burning during the stalls: %d products" % n
PY
done
# the output is the reference's but for the floor's line
diff <(grep -v "power stall floor" "$dir/burn-rank0.log" | sed 's/checkpoints in .*//') \
    <(sed 's/checkpoints in .*//' "$dir/ref-rank0.log") >/dev/null || die "other output changed"
COLOSSUS_POWER_STALL=burn COLOSSUS_POWER_STALL_INTENSITY=2 RANK=0 WORLD_SIZE=1 MASTER_ADDR=127.0.0.1 \
    MASTER_PORT=1 "$PY" examples/train.py >"$dir/bad.log" 2>&1 && die "intensity 2 accepted"
grep -q "COLOSSUS_POWER_STALL_INTENSITY=2.0 is not in (0, 1\]" "$dir/bad.log" || die "bad intensity: $(cat "$dir/bad.log")"
echo PASS
