#!/bin/bash
# metrics.bash - /metrics of the real controller at Colossus 2 size (docs/metrics.md): the
# colossus2 topology (550,000 nodes x 2 GPUs), 8 hollow agents of 68,750 nodes each
# heartbeating every 1,000 ms (dead-after 3,000 ms), scraped every second for 30 s with an
# operator's read token, as Prometheus would. Measures: each scrape's time (curl's, token
# check and transfer included), the render's CPU time on the controller's loop (its
# colossus_metrics_render_seconds), the text's size and series count, `promtool check
# metrics` on it, the controller's CPU without and with the scrapes, false "declared down"
# events in the controller's log; and, since hollow nodes report no GPU telemetry, the
# aggregates' pass with every node reporting (build/bench/metrics_agg: 1,100,000 GPUs summed
# per pod). Prints one JSON object, with the machine's load average before and after (other
# work on it shows).
# Run: make bench-metrics, or bash bench/metrics.bash [AGENTS NODES_PER_AGENT [SCRAPES]]
# (about 3 minutes and ~3 GB at full size; `bash bench/metrics.bash 2 10000` for a quick one)
. "$(dirname "$0")/../tests/integration/cluster_lib.bash"
A=${1:-8} PER=${2:-68750} N=${3:-30}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
AGG=$ROOT/build/bench/metrics_agg
[ -x "$AGG" ] || fail "not built: $AGG (make bench-metrics builds it)"
command -v curl >/dev/null || fail "curl is missing (scripts/install-deps.sh installs it)"
say() { echo "$*" >&2; }
HB_MS=1000 DEAD_MS=3000
load0=$(cut -d' ' -f1-3 /proc/loadavg)
start_controller --preset colossus2 --http 127.0.0.1:0 --http-address-file "$T/http-address" \
    ${CONTROLLER_ARGS:-}
H=$(cat "$T/http-address")
"$B" user add prom --tenant default --uid 61009 --gid 61009 >/dev/null || fail "user prom"
"$B" user set prom --role operator >/dev/null || fail "prom operator"
"$B" token create --user prom --scope read >"$T/prom.tok" || fail "prom's token"
ticks() { awk '{print $14 + $15}' /proc/$CTL_PID/stat; }
rss() { awk '/VmRSS/ {print int($2 / 1024)}' /proc/$CTL_PID/status; }
start_hollow "$A" "$PER" 0 300
say "all $((A * PER)) nodes registered; 10 s of heartbeats alone, then $N scrapes, one a second"
c0=$(ticks); sleep 10; c1=$(ticks)
: >"$T/scrapes"
for i in $(seq 1 "$N"); do
    s=$(date +%s.%N)
    curl -s -o "$T/metrics" --max-time 10 -H "Authorization: Bearer $(cat "$T/prom.tok")" \
        -w '%{http_code} %{time_total} %{size_download}\n' "$H/metrics" >>"$T/scrapes" ||
        echo "000 10 0" >>"$T/scrapes"
    sleep "$(awk -v s="$s" -v e="$(date +%s.%N)" 'BEGIN { d = s + 1 - e; print (d > 0 ? d : 0) }')"
done
c2=$(ticks)
down=$(grep -c "declared down" "$T/controller.log")
series=$(grep -vc '^#' "$T/metrics")
beating=$(awk '$1 == "colossus_nodes_heartbeating" {print $2}' "$T/metrics")
# the controller's own account of its renders (the loop thread's CPU time), all but the last
render_ms=$(awk '$1 == "colossus_metrics_render_seconds_sum" {s = $2}
    $1 == "colossus_metrics_render_seconds_count" {n = $2}
    END {printf "%.1f", n ? s / n * 1e3 : -1}' "$T/metrics")
promtool=skipped
if command -v promtool >/dev/null; then
    promtool check metrics <"$T/metrics" >"$T/promtool.out" 2>&1 && promtool=ok ||
        promtool="failed: $(head -3 "$T/promtool.out" | tr '\n' ' ')"
fi
say "aggregates' pass with every node reporting telemetry"
agg=$("$AGG" $((A * PER)) 20) || fail "metrics_agg"
load1=$(cut -d' ' -f1-3 /proc/loadavg)
python3 - "$A" "$PER" "$T/scrapes" "$c0" "$c1" "$c2" "$N" "$down" "$series" "$beating" \
    "$promtool" "$agg" "$load0" "$load1" "$(nproc)" "$(rss)" "$render_ms" <<'PY'
import json, sys
a, per, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
c0, c1, c2, n, down, series = (int(x) for x in sys.argv[4:10])
beating, promtool, agg = sys.argv[10], sys.argv[11], json.loads(sys.argv[12])
rows = [l.split() for l in open(path)]
ok = [float(t) for code, t, size in rows if code == "200"]
ok.sort()
pct = lambda q: round(ok[min(len(ok) - 1, int(q * len(ok)))] * 1e3, 1) if ok else None
print(json.dumps({
    "bench": "metrics", "topology": "colossus2", "agents": a, "nodes": a * per,
    "heartbeat_ms": 1000, "dead_after_ms": 3000,
    "scrapes": len(rows), "scrapes_ok": len(ok),
    "scrape_ms": {"min": pct(0), "p50": pct(0.5), "p90": pct(0.9), "max": pct(1.0)},
    "render_cpu_ms_mean": float(sys.argv[17]),
    "scrape_bytes": int(rows[-1][2]) if rows else 0, "series": series,
    "nodes_heartbeating": float(beating or 0), "promtool_check_metrics": promtool,
    "controller_cpu_pct_of_core": {"heartbeats": round((c1 - c0) / 10.0, 1),
                                   "heartbeats_and_scrapes": round((c2 - c1) / float(n), 1)},
    "controller_rss_mb": int(sys.argv[16]),
    "false_declared_down": down,
    "aggregates_all_reporting": agg,
    "machine": {"cpus": int(sys.argv[15]), "loadavg_before": sys.argv[13],
                "loadavg_after": sys.argv[14]},
}, indent=1))
PY
