#!/bin/bash
# health_nvlink.sh - NVLink domains from NVML fabric info: agents whose GPUs report the same
# fabric clique are bound into one NVLink domain of the controller's topology (nvl72 preset:
# domains of 18 nodes), another clique into another domain; nodes without a fabric take any
# slot; `nodes --json` shows each node's domain key. Without the grouping the five nodes would
# take ids 0-4, all in domain 0.
# timeout: 90
. "$(dirname "$0")/health_lib.bash"

start_controller --preset nvl72 --nodes 36
cd "$T" # scratch files stay in the test directory
healthy_script p1 4 1
healthy_script q1 4 2
healthy_script p2 4 1
healthy_script q2 4 2
healthy_script solo 4
for n in p1 q1 p2 q2 solo; do
    start_nvml_agent $n
    wait_node $n 'n["connected"]' || fail "$n did not register"
done
"$B" nodes --json >nodes.json
python3 - <<'PY' || fail "domains: $(cat nodes.json)"
import json
nodes = {n["name"]: n for n in json.load(open("nodes.json"))}
dom = lambda name: nodes[name]["id"] // 18        # nvl72: node ids 0-17 domain 0, 18-35 domain 1
k1 = "01234567-89ab-cdef-0123-456789abcdef/1"
k2 = "01234567-89ab-cdef-0123-456789abcdef/2"
assert nodes["p1"]["nvlink_domain"] == k1 and nodes["p2"]["nvlink_domain"] == k1, nodes
assert nodes["q1"]["nvlink_domain"] == k2 and nodes["q2"]["nvlink_domain"] == k2, nodes
assert nodes["solo"]["nvlink_domain"] is None, nodes["solo"]
assert dom("p1") == dom("p2"), (nodes["p1"]["id"], nodes["p2"]["id"])
assert dom("q1") == dom("q2"), (nodes["q1"]["id"], nodes["q2"]["id"])
assert dom("p1") != dom("q1"), (nodes["p1"]["id"], nodes["q1"]["id"])
PY
grep -q "node p1: NVLink domain 01234567-89ab-cdef-0123-456789abcdef/1" "$T/controller.log" || fail "not logged"

log "health_nvlink: ok"
