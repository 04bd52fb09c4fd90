#!/bin/bash
# power.bash - a grid cut on the real controller at Colossus 2 size (issue 13): the colossus2
# topology (550,000 nodes x 2 GPUs), A hollow agents of PER nodes each (`colossus agent
# --hollow`: the real agent and protocol; a hollow node acknowledges a PowerLimit at once, as
# an agent does once NVML has taken it), every node running a job (A gangs of PER nodes);
# then `power budget set` to the site's projected draw now (770 MW at full size: every GPU at
# 700 W) and `power cut PCT` (30%): every node gets its GPUs' new limit. Measures, on the
# controller, the time from the cut's request to each node's report that it applied it
# (PowerApplied): p50, p99, max over the nodes, and the client's wall time of the cut
# command. Prints one JSON object.
# Run: make && bash bench/power.bash [AGENTS NODES_PER_AGENT [PCT]]   (550,000 nodes: 8 68750)
. "$(dirname "$0")/../tests/integration/cluster_lib.bash"
A=${1:-8} PER=${2:-68750} PCT=${3:-30}
N=$((A * PER))
say() { echo "$*" >&2; }
HB_MS=1000 DEAD_MS=3000
# The core refuses a budget below every GPU of the topology at its minimum limit (200 W), so
# a run on fewer nodes than Colossus 2's has a topology of just those nodes.
if [ "$N" = 550000 ]; then TOPO=(--preset colossus2); else TOPO=(--nodes "$N" --gpus-per-node 2); fi
start_controller "${TOPO[@]}" ${CONTROLLER_ARGS:-}
start_hollow "$A" "$PER" 86400000 600
say "all $N nodes registered; $A gangs of $PER nodes"
# Gangs of PER nodes rather than one of N: a job's record names its nodes, and one of
# 550,000 does not fit a frame (`show` of it is refused).
JOBS=()
for i in $(seq "$A"); do
    JOBS+=("$("$B" submit -N "$PER" --gpus-per-node 2 -- true)") || fail "submit"
done
for J in "${JOBS[@]}"; do
    wait_for 600 bash -c "[ \"\$(\"$B\" show $J --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d[\"state\"], d[\"running_time\"] is not None)')\" = 'running True' ]" ||
        fail "gang $J did not run: $("$B" show "$J" | grep -E 'state|reason')"
done
pw() { "$B" power show --json | python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
W=$(pw 'int(d["draw_w"])')
"$B" power budget set "${W}W" >/dev/null || fail "budget"
say "budget ${W} W; cut $PCT%"
t0=$(date +%s.%N)
"$B" power cut "$PCT%" >/dev/null || fail "cut"
t1=$(date +%s.%N)
wait_for 120 bash -c "[ \"\$(\"$B\" power show --json | python3 -c 'import json,sys; a=json.load(sys.stdin)[\"apply\"]; print(a is not None and a[\"acked\"] == a[\"nodes\"] == $N)')\" = True ]" ||
    fail "not every node applied the cut: $(pw 'd["apply"]')"
"$B" power show --json >"$T/power.json"
python3 - "$A" "$PER" "$t0" "$t1" "$T/power.json" "$(grep -c 'applied on all' "$T/controller.log")" <<'PY'
import json, sys
a, per = int(sys.argv[1]), int(sys.argv[2])
t0, t1 = float(sys.argv[3]), float(sys.argv[4])
d = json.load(open(sys.argv[5]))
ap = d["apply"]
print(json.dumps({
    "bench": "power_cut", "topology": "colossus2" if a * per == 550000 else "flat", "agents": a, "nodes": a * per,
    "budget_w": d["budget_w"], "cut_pct": d["cut_pct"], "gpus_capped": d["gpus_capped"],
    "limit_w": d["caps"][0]["limit_w"],
    "nodes_sent": ap["nodes"], "nodes_applied": ap["acked"], "nodes_failed": ap["failed"],
    "apply_p50_ms": ap["p50_ms"], "apply_p99_ms": ap["p99_ms"], "apply_max_ms": ap["max_ms"],
    "cut_command_s": round(t1 - t0, 3),
}, indent=1))
PY
