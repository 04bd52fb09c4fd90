#!/bin/bash
# power_floor.bash - the floor between runs at scale (issue 13): A hollow agents of PER nodes
# x 2 GPUs (`colossus agent --hollow`; a hollow node takes PowerLimit and ignores PowerHold, as
# an agent without NVML does), `power ramp set RATE`, A gangs of PER nodes ramped up to full
# power, then all of them cancelled at once: the controller holds their GPUs and brings them
# down to idle at RATE, sending PowerHold every 0.5 s. Measures the hold's wall time against
# (W - idle) x GPUs / RATE, the controller's slowest step, `power show`'s latency during the
# holds, and the floor's energy. Prints one JSON object.
# Run: make && bash bench/power_floor.bash [AGENTS NODES_PER_AGENT [RATE]]  (default 8 8192 3.85MW/s)
. "$(dirname "$0")/../tests/integration/cluster_lib.bash"
A=${1:-8} PER=${2:-8192} RATE=${3:-3.85MW/s}
N=$((A * PER))
say() { echo "$*" >&2; }
HB_MS=1000 DEAD_MS=3000
start_controller --nodes "$N" --gpus-per-node 2
start_hollow "$A" "$PER" 86400000 600
"$B" power ramp set "$RATE" >/dev/null || fail "ramp"
JOBS=()
for i in $(seq "$A"); do
    JOBS+=("$("$B" submit -N "$PER" --gpus-per-node 2 -- true)") || fail "submit"
done
pw() { "$B" power show --json | python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
wait_for 600 bash -c "[ \"\$(\"$B\" power show --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d[\"jobs_ramping\"], len(d[\"caps\"]))')\" = '0 0' ]" ||
    fail "the gangs did not ramp to full power: $(pw 'd["jobs_ramping"]')"
say "$N nodes at full power; cancelling the $A gangs"
t0=$(date +%s.%N)
for J in "${JOBS[@]}"; do "$B" cancel "$J" >/dev/null || fail "cancel"; done
lat=()
while [ "$(pw 'd["runs_held"]')" != 0 ]; do
    s=$(date +%s.%N)
    "$B" power show --json >/dev/null
    lat+=("$(python3 -c "print(round(($(date +%s.%N) - $s) * 1000, 1))")")
    python3 -c "import sys; sys.exit(0 if $(date +%s.%N) - $t0 < 900 else 1)" || fail "holds never ended"
    sleep 0.5
done
t1=$(date +%s.%N)
line=$(grep "the floor's holds ended" "$T/controller.log" | tail -n 1)
python3 - "$N" "$RATE" "$t0" "$t1" "$(pw 'd["floor_energy_j"]')" "$line" "${lat[*]}" <<'PY'
import json, re, sys
n, rate = int(sys.argv[1]), sys.argv[2]
t0, t1, e = float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
m = re.search(r"(\d+) steps, the slowest ([\d.]+) ms", sys.argv[6])
lat = sorted(float(x) for x in sys.argv[7].split()) or [0]
w = float(re.match(r"[\d.]+", rate)[0]) * {"W": 1, "kW": 1e3, "MW": 1e6, "GW": 1e9}[re.search(r"[kMG]?W", rate)[0]]
print(json.dumps({
    "bench": "power_floor", "nodes": n, "gpus": 2 * n, "ramp_w_per_s": w,
    "hold_s": round(t1 - t0, 2), "hold_planned_s": round((700 - 70) * 2 * n / w, 2),
    "steps": int(m[1]) if m else None, "slowest_step_ms": float(m[2]) if m else None,
    "power_show_p50_ms": lat[len(lat) // 2], "power_show_max_ms": lat[-1],
    "floor_energy_kwh": round(e / 3.6e6, 3),
}, indent=1))
PY
