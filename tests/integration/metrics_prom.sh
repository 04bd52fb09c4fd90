#!/bin/bash
# metrics_prom.sh - the controller's /metrics (docs/metrics.md) scraped by a real Prometheus
# server: 401 without a token, 403 for a tenant's user, 405 for a POST; an operator's read
# token gets the Prometheus text format (its Content-Type), which `promtool check metrics`
# accepts; and Prometheus, scraping every second, reports what the cluster does: GPUs
# allocated while a job runs and free after it is cancelled, jobs succeeded, cancelled and
# submitted, a tenant's running GPUs, a node declared down after its agent is killed.
# timeout: 180
. "$(dirname "$0")/cluster_lib.bash"

command -v curl >/dev/null || fail "curl is missing (scripts/install-deps.sh installs it)"
command -v promtool >/dev/null ||
    fail "promtool is missing (Debian: prometheus; make check installs it through scripts/install-deps.sh)"
start_controller --http 127.0.0.1:0 --http-address-file "$T/http-address"
H=$(cat "$T/http-address")
start_agent n1 2
start_agent n2 2
wait_nodes_up 2

"$B" tenant add A >/dev/null || fail "tenant A"
"$B" user add alice --tenant A --uid 61001 --gid 61001 >/dev/null || fail "alice"
"$B" user add oscar --tenant A --uid 61003 --gid 61003 >/dev/null || fail "oscar"
"$B" user set oscar --role operator >/dev/null || fail "oscar operator"
"$B" token create --user alice >"$T/alice.tok" || fail "alice's token"
"$B" token create --user oscar --scope read >"$T/oscar.tok" || fail "oscar's token"

# scrape TOKEN-FILE|"" [CURL-ARGS]: the status in ST, the body in $T/metrics
scrape() {
    local tok=$1 a=(-s -o "$T/metrics" -D "$T/headers" -w '%{http_code}' --max-time 10)
    shift
    [ -n "$tok" ] && a+=(-H "Authorization: Bearer $(cat "$tok")")
    ST=$(curl "${a[@]}" "$@" "$H/metrics")
}

log "who may read /metrics"
scrape ""
[ "$ST" = 401 ] || fail "no token: $ST $(cat "$T/metrics")"
scrape "$T/alice.tok"
[ "$ST" = 403 ] && grep -q "admin or an operator" "$T/metrics" || fail "alice: $ST $(cat "$T/metrics")"
scrape "$T/oscar.tok" -X POST
[ "$ST" = 405 ] || fail "POST: $ST"
scrape "$T/oscar.tok"
[ "$ST" = 200 ] || fail "oscar: $ST $(cat "$T/metrics")"
tr -d '\r' <"$T/headers" | grep -qi '^content-type: text/plain; version=0.0.4' ||
    fail "content type: $(cat "$T/headers")"
promtool check metrics <"$T/metrics" || fail "promtool check metrics: $(head -50 "$T/metrics")"
grep -q '^colossus_nodes{state="up"} 2$' "$T/metrics" || fail "nodes up: $(grep nodes "$T/metrics")"
grep -q '^colossus_gpus_capacity ' "$T/metrics" || fail "no colossus_gpus_capacity"

log "a real Prometheus scrapes it"
start_prometheus "${H#http://}" "$T/oscar.tok"
wait_prom 30 'up{job="colossus"}' 1
wait_prom 10 'colossus_gpus{state="allocated"}' 0

log "a job running: its GPUs allocated, its tenant's running GPUs"
J=$(COLOSSUS_TOKEN=$(cat "$T/alice.tok") "$B" submit --nodes 1 --gpus-per-node 2 -- sleep 600) || fail "submit"
wait_state "$J" running 30 || fail "job $J did not run"
wait_prom 10 'colossus_gpus{state="allocated"}' 2
wait_prom 10 'colossus_jobs{state="running"}' 1
wait_prom 10 'colossus_tenant_gpus_running{tenant="A"}' 2
wait_for 10 bash -c "[ -n \"\$(prom_value 'colossus_running_gpu_seconds > 0')\" ]" ||
    fail "running GPU-seconds: $(prom_value colossus_running_gpu_seconds)"

log "jobs that succeed, one cancelled"
for i in 1 2 3; do "$B" submit --gpus-per-node 1 -- true >/dev/null || fail "submit true"; done
wait_prom 30 'colossus_jobs_ended_total{state="succeeded"}' 3
"$B" cancel "$J" >/dev/null || fail "cancel"
wait_prom 10 'colossus_jobs_ended_total{state="cancelled"}' 1
wait_prom 10 'colossus_gpus{state="allocated"}' 0
wait_prom 10 'colossus_jobs_submitted_total' 4
wait_prom 10 'colossus_scheduler_decisions_total{action="start"}' 4
log "goodput's floor: the runs' GPU-seconds by how they ended, as their usage records say"
wait_for 20 bash -c "[ \"\$(\"$B\" history --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')\" -ge 4 ]" ||
    fail "4 usage records: $("$B" history)"
read -r good lost < <("$B" history --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(sum(r["gpu_seconds"] for r in d if r["ended"] == "succeeded"),
      sum(r["gpu_seconds"] for r in d if r["ended"] != "succeeded"))')
python3 -c "import sys; sys.exit(not (float('$good') > 0 and float('$lost') > 0))" ||
    fail "GPU-seconds: $good succeeded, $lost otherwise"
# prom_near EXPR VALUE: until Prometheus's latest scrape gives EXPR within 1e-6 of VALUE
prom_near() {
    wait_for 10 bash -c "[ -n \"\$(prom_value 'abs(($1) - $2) < 1e-6 * ($2 + 1)')\" ]" ||
        fail "Prometheus: $1 = '$(prom_value "$1")', not $2"
}
prom_near 'colossus_run_gpu_seconds_total{ended="succeeded"}' "$good"
prom_near 'colossus_run_gpu_seconds_total{ended="cancelled"}' "$lost"
prom_near 'colossus_running_gpu_seconds' 0
prom_near 'colossus_goodput_floor_ratio' "$(python3 -c "print($good / ($good + $lost))")"
[ "$(prom_value 'colossus_scheduler_pass_seconds_count > 0')" != "" ] || fail "no scheduling pass counted"
[ "$(prom_value 'colossus_journal_commit_seconds_count > 0')" != "" ] || fail "no commit counted"

log "out of service, by why: an operator's drain, then a node down"
"$B" drain n1 --reason "fan noise" >/dev/null || fail "drain n1"
wait_prom 10 'colossus_nodes_unavailable{reason="admin"}' 1
wait_prom 10 'colossus_nodes_unavailable{reason="gpu_health"}' 0
"$B" resume n1 >/dev/null || fail "resume n1"
wait_prom 10 'colossus_nodes_unavailable{reason="admin"}' 0

log "a node killed: declared down, counted by heartbeat"
kill_node n2
wait_prom 20 'colossus_nodes{state="down"}' 1
wait_prom 10 'colossus_nodes_unavailable{reason="down"}' 1
wait_prom 10 'colossus_node_failures_total{detected_by="heartbeat"}' 1
wait_prom 10 'colossus_nodes_heartbeating' 1
log "ok"
