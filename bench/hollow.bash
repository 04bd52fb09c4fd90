#!/bin/bash
# hollow.bash - the real controller at Colossus 2 size: the colossus2 topology (550,000
# nodes x 2 GPUs), 8 hollow agents carrying 68,750 nodes each on one connection apiece
# (`colossus agent --hollow`: the real agent and protocol, simulated launches), heartbeat
# 1,000 ms, dead-after 3,000 ms. Measures: time until every node is registered, the
# controller's RSS and CPU while 550,000 nodes heartbeat, false "declared down" events,
# `colossus nodes --json` over all of them, and gangs of 1, 512 and 65,536 nodes (131,072
# GPUs): submit -> placed -> every rank running -> ended. Prints one JSON object.
# Run: make && bash bench/hollow.bash [AGENTS NODES_PER_AGENT]   (about 2 minutes, ~3 GB)
# HOLLOW_SUBMIT_ARGS: more options of the gangs' submit (e.g. --export=NONE: docs/benchmarks.md).
. "$(dirname "$0")/../tests/integration/cluster_lib.bash"
A=${1:-8} PER=${2:-68750}
say() { echo "$*" >&2; }
HB_MS=1000 DEAD_MS=3000
start_controller --preset colossus2 ${CONTROLLER_ARGS:-}
rss() { awk '/VmRSS/ {print int($2 / 1024)}' /proc/$CTL_PID/status; }
ticks() { awk '{print $14 + $15}' /proc/$CTL_PID/stat; }
rss0=$(rss)
t0=$(date +%s.%N)
start_hollow "$A" "$PER" 0 300
t1=$(date +%s.%N)
say "all $((A * PER)) nodes registered; measuring heartbeats for 10 s"
c0=$(ticks); sleep 10; c1=$(ticks)
rss1=$(rss)
t2=$(date +%s.%N)
"$B" nodes --json > "$T/nodes.json" || fail "nodes --json"
t3=$(date +%s.%N)
up=$(python3 -c "import json; print(sum(1 for n in json.load(open('$T/nodes.json')) if n['state'] != 'down' and n['connected']))")
gangs=""
for N in 1 512 65536; do
    [ "$N" -le $((A * PER)) ] || continue
    say "gang of $N nodes"
    J=$("$B" submit ${HOLLOW_SUBMIT_ARGS:-} -N "$N" --gpus-per-node 2 -- true) || fail "submit $N"
    "$B" wait "$J" >/dev/null || fail "gang of $N nodes: $("$B" show "$J" | grep -E 'state|reason')"
    gangs="$gangs $("$B" show --json "$J" | python3 -c "
import json, sys
d = json.load(sys.stdin)
s = d['submit_time']
print('%d,%.1f,%.1f,%.1f' % ($N, (d['start_time'] - s) * 1e3, (d['running_time'] - s) * 1e3, (d['end_time'] - s) * 1e3))")"
done
down=$(grep -c "declared down" "$T/controller.log")
python3 - "$A" "$PER" "$t0" "$t1" "$t2" "$t3" "$c0" "$c1" "$rss0" "$rss1" "$(rss)" "$up" "$down" $gangs <<'PY'
import json, sys
a, per = int(sys.argv[1]), int(sys.argv[2])
t0, t1, t2, t3 = map(float, sys.argv[3:7])
c0, c1, rss0, rss1, rss2, up, down = map(int, sys.argv[7:14])
g = [x.split(',') for x in sys.argv[14:]]
print(json.dumps({
    "bench": "hollow", "topology": "colossus2", "agents": a, "nodes": a * per,
    "heartbeat_ms": 1000, "dead_after_ms": 3000,
    "register_all_s": round(t1 - t0, 1),
    "controller_rss_mb": {"empty": rss0, "all_registered": rss1, "after_gangs": rss2},
    "controller_cpu_heartbeats_pct_of_core": round((c1 - c0) / 10.0, 1),
    "nodes_json_s": round(t3 - t2, 1), "nodes_up_connected": up,
    "false_declared_down": down,
    "gangs": [{"nodes": int(n), "placed_ms": float(p), "running_ms": float(r), "ended_ms": float(e)}
              for n, p, r, e in g],
}, indent=1))
PY
