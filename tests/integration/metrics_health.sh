#!/bin/bash
# metrics_health.sh - /metrics' aggregates by pod and XID counters (docs/metrics.md, "By
# pod") from real agents reading the fake NVML, scraped by a real Prometheus server: the
# pods' summed power, hottest and mean temperature and mean utilisation match the GPUs'
# scripted telemetry and follow a change of it; XIDs are counted by code and by pod as they
# arrive (two of one code are 2, not a gauge of the last); a node killed leaves the pods'
# sums; `promtool check metrics` accepts the text with the new series; a node its GPU health
# drained is counted out of service by gpu_health.
# timeout: 180
. "$(dirname "$0")/health_lib.bash"

command -v curl >/dev/null || fail "curl is missing (scripts/install-deps.sh installs it)"
command -v promtool >/dev/null ||
    fail "promtool is missing (Debian: prometheus; make check installs it through scripts/install-deps.sh)"
start_controller --nodes 8 --gpus-per-node 2 --http 127.0.0.1:0 \
    --http-address-file "$T/http-address"
H=$(cat "$T/http-address")
healthy_script x 2 # power 350 + 351 W, temperatures 40 and 41, utilisation 90 and 91 %
healthy_script y 2
start_nvml_agent x
start_nvml_agent y
wait_nodes_up 2
"$B" user add oscar --tenant default --uid 61003 --gid 61003 >/dev/null || fail "oscar"
"$B" user set oscar --role operator >/dev/null || fail "oscar operator"
"$B" token create --user oscar --scope read >"$T/oscar.tok" || fail "oscar's token"
start_prometheus "${H#http://}" "$T/oscar.tok"
wait_prom 30 'up{job="colossus"}' 1

log "the pods' telemetry: sums, maximum and means of both nodes' GPUs"
wait_prom 20 'sum(colossus_pod_gpus_reporting)' 4
wait_prom 10 'sum(colossus_pod_power_watts)' 1402
wait_prom 10 'max(colossus_pod_gpu_temperature_max_celsius)' 41
wait_prom 10 'max(colossus_pod_gpu_temperature_mean_celsius)' 40.5
wait_prom 10 'max(colossus_pod_gpu_utilization_ratio)' 0.905
log "a GPU draws more and runs hotter: the next reports show it"
set_gpu x 0 power 500000
set_gpu x 0 temp 83
wait_prom 20 'sum(colossus_pod_power_watts)' 1552
wait_prom 10 'max(colossus_pod_gpu_temperature_max_celsius)' 83

log "XIDs counted as they arrive, by code and by pod"
xid x 0 13
wait_prom 20 'colossus_gpu_xid_total{code="13"}' 1
xid y 1 13
xid y 0 43
wait_prom 20 'colossus_gpu_xid_total{code="13"}' 2
wait_prom 10 'colossus_gpu_xid_total{code="43"}' 1
wait_prom 10 'sum(colossus_pod_xid_total)' 3
curl -s -o "$T/metrics" --max-time 10 -H "Authorization: Bearer $(cat "$T/oscar.tok")" \
    "$H/metrics" || fail "scrape"
promtool check metrics <"$T/metrics" || fail "promtool check metrics: $(grep -i pod "$T/metrics")"
grep -q '^colossus_pod_power_watts{pod="' "$T/metrics" ||
    fail "no pod label: $(grep pod_power "$T/metrics")"

log "an XID that drains its node: out of service by gpu_health, not admin"
xid x 1 79
wait_prom 20 'colossus_nodes_unavailable{reason="gpu_health"}' 1
wait_prom 10 'colossus_nodes_unavailable{reason="admin"}' 0

log "a node killed: its stale telemetry leaves the sums, the XID counts stay"
kill_node y
wait_prom 20 'sum(colossus_pod_gpus_reporting)' 2
wait_prom 10 'sum(colossus_pod_power_watts)' 851
wait_prom 10 'colossus_gpu_xid_total{code="13"}' 2
log "ok"
