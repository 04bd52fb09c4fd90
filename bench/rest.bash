#!/bin/bash
# rest.bash - the REST API's figures (issue 12; docs/benchmarks.md, "REST API: make bench-rest"):
# the real controller with --http (its per-user rate limit off: --http-rate 0) while NODES
# hollow nodes heartbeat (AGENTS `colossus agent --hollow` processes, heartbeat 1,000 ms,
# dead-after 3,000 ms) of 1 GPU each in a topology of 2 GPUs a node, so that the jobs, of 2
# GPUs, stay pending (nodes too small); a user of tenant A and its token; 64 keep-alive
# HTTP/1.1 clients (bench/rest_client.c): POST /api/v1/jobs for 5 s (acknowledged
# submissions per second), GET /api/v1/jobs/{id} over those jobs for 10 s, GET
# a page of 1,000 jobs for 10 s; then the node list paged through (limit 10,000) 3 times on one
# connection, and `colossus nodes --json` once for comparison; false "declared down" events.
# Prints one JSON object.
# Run: make bench-rest, or bash bench/rest.bash [NODES [AGENTS]] (default 100000 4; 550000
# uses the colossus2 preset). COLOSSUS_BIN measures another build's controller with this
# client; SECONDS_LOAD (default 10) is each GET run's length.
. "$(dirname "$0")/../tests/integration/cluster_lib.bash"
root=$(cd "$(dirname "$0")/.." && pwd)
CLIENT=${REST_CLIENT:-$root/build/bench/rest_client}
[ -x "$CLIENT" ] || fail "$CLIENT is missing: run make bench-rest"
N=${1:-100000} A=${2:-4} SECS=${SECONDS_LOAD:-10} CONNS=64
[ $((N % A)) = 0 ] || fail "NODES ($N) must be a multiple of AGENTS ($A)"
PER=$((N / A))
say() { echo "rest: $*" >&2; }
HB_MS=1000 DEAD_MS=3000
if [ "$N" = 550000 ]; then topo=(--preset colossus2); else topo=(--nodes "$N" --gpus-per-node 2); fi
start_controller "${topo[@]}" --http 127.0.0.1:0 --http-address-file "$T/http-address" \
    --http-rate 0
H=$(cat "$T/http-address")
HP=${H#http://}
start_hollow "$A" "$PER" 0 300 1
say "$N hollow nodes registered"
"$B" tenant add A >/dev/null || fail "tenant A"
"$B" user add bench --tenant A --uid 61001 --gid 61001 >/dev/null || fail "user bench"
"$B" token create --user bench >"$T/bench.tok" || fail "bench's token"
ticks() { awk '{print $14 + $15}' /proc/$CTL_PID/stat; }
# run NAME CLIENT-ARGS...: the client's JSON with the controller's CPU (% of a core) added
run() {
    local name=$1 c0 t0 out
    shift
    say "$name"
    c0=$(ticks) t0=$(date +%s.%N)
    out=$("$CLIENT" "$@") || fail "$name: rest_client $*"
    python3 -c "import json,sys; d=json.loads(sys.argv[1]); d['controller_cpu_pct'] = round((int(sys.argv[2]) - int(sys.argv[3])) / (float(sys.argv[4]) - float(sys.argv[5])), 0); print(json.dumps(d))" \
        "$out" "$(ticks)" "$c0" "$(date +%s.%N)" "$t0"
}
submit=$(run "POST /api/v1/jobs, $CONNS clients, 5 s" post "$HP" "$T/bench.tok" /api/v1/jobs \
    "$CONNS" 5 '{"argv": ["true"], "gpus_per_node": 2}')
jobs=$("$B" jobs --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
[ "$jobs" -ge 1000 ] || fail "only $jobs jobs pending"
one=$(run "GET /api/v1/jobs/{id}, $CONNS clients, $SECS s" get "$HP" "$T/bench.tok" \
    /api/v1/jobs/%u "$CONNS" "$SECS" "$jobs")
page=$(run "GET /api/v1/jobs?limit=1000, $CONNS clients, $SECS s" get "$HP" "$T/bench.tok" \
    "/api/v1/jobs?limit=1000" "$CONNS" "$SECS")
walks=""
for i in 1 2 3; do
    walks="$walks$(run "the node list, 10,000 a page ($i)" walk "$HP" "$T/bench.tok" \
        "/api/v1/nodes?limit=10000"),"
done
say "colossus nodes --json"
t0=$(date +%s.%N)
"$B" nodes --json >"$T/nodes.json" || fail "nodes --json"
t1=$(date +%s.%N)
down=$(grep -c "declared down" "$T/controller.log")
python3 - "$N" "$A" "$submit" "$one" "$page" "[${walks%,}]" "$t0" "$t1" "$jobs" "$down" <<'PY'
import json, os, sys
n, a = int(sys.argv[1]), int(sys.argv[2])
walks = json.loads(sys.argv[6])
print(json.dumps({
    "bench": "rest", "hollow_nodes": n, "hollow_agents": a, "heartbeat_ms": 1000,
    "clients": 64, "http_rate": 0, "cores": os.cpu_count(),
    "submit": json.loads(sys.argv[3]), "jobs_pending": int(sys.argv[9]),
    "get_job": json.loads(sys.argv[4]), "get_jobs_page_1000": json.loads(sys.argv[5]),
    "node_walks": walks, "node_walk_best_s": min(w["seconds"] for w in walks),
    "cli_nodes_json_s": round(float(sys.argv[8]) - float(sys.argv[7]), 2),
    "false_declared_down": int(sys.argv[10]),
}, indent=1))
PY
