#!/bin/bash
# ack_cpu.bash - CPU time per pipelined submission, of the client library and of the
# controller: a controller with no agents (the jobs stay pending), one connection keeping
# 1,000 submissions outstanding, 100,000 of them (bench/ack_client.c), after 5,000 to warm up.
# The client's time from `perf stat -e task-clock`, the controller's from /proc (ticks of
# 10 ms over the run). Prints one JSON object. Run from a built tree:
#   bash bench/ack_cpu.bash [CLIENT]     (CLIENT: another tree's ack_client, to compare)
. "$(dirname "$0")/../tests/integration/cluster_lib.bash"
root=$(cd "$(dirname "$0")/.." && pwd)
CLIENT=${1:-$root/build/bench/ack_client}
N=100000
command -v perf >/dev/null || fail "perf is missing (linux-perf)"
start_controller --nodes 8 --gpus-per-node 8
"$CLIENT" "$CTL_ADDR" "$T/key" 1 5000 1000 >/dev/null || fail "warm-up"
c0=$(awk '{print $14 + $15}' /proc/$CTL_PID/stat)
perf stat -x, -e task-clock -o "$T/perf.txt" "$CLIENT" "$CTL_ADDR" "$T/key" 1 $N 1000 \
    >"$T/ack.json" || fail "ack_client"
c1=$(awk '{print $14 + $15}' /proc/$CTL_PID/stat)
cli_ms=$(awk -F, '/task-clock/ {print $1}' "$T/perf.txt")
/usr/bin/python3 - "$cli_ms" "$c0" "$c1" "$N" "$T/ack.json" <<'PY'
import json, os, sys
cli_ms, c0, c1, n = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
tick = os.sysconf("SC_CLK_TCK")
a = json.load(open(sys.argv[5]))
print(json.dumps({"bench": "ack_cpu", "submissions": n, "outstanding": 1000,
                  "client_us_per_submission": round(cli_ms * 1000 / n, 2),
                  "controller_us_per_submission": round((c1 - c0) / tick * 1e6 / n, 2),
                  "acked_per_s": a["acked_per_s"]}))
PY
