#!/bin/bash
# tree.bash - Colossus 2's nodes behind two tiers of relays (issue 16): the colossus2 topology
# (550,000 nodes x 2 GPUs), T1 first-tier relays under the controller, T2 second-tier relays
# (relay j under first-tier j mod T1), and A hollow agents of PER nodes each (agent i through
# second-tier relay i mod T2, then its parent, then the controller). Heartbeat 1,000 ms,
# dead-after 3,000 ms; the hollow ranks run until stopped. Measures, as one JSON object:
#   - the seconds until every node registered through the tree;
#   - the controller's CPU (% of a core) over 10 s of steady heartbeats, the relays' beside it;
#   - a gang of GANG nodes: submit -> placed -> every rank running; cancel -> every rank ended;
#   - a first-tier relay killed -9 under a running 65,536-node gang: the seconds until every
#     agent behind it registered again, the gang's restarts, nodes declared down;
#   - the controller restarted: the seconds until every node registered again (and the
#     controller's CPU seconds meanwhile: on one machine the relays and agents share its cores);
#   - false "declared down" over the whole run.
# Run: make && bash bench/tree.bash [T1 T2 A PER [GANG]]   (default 8 40 80 6875: 550,000
# nodes; GANG default 98% of them, 539,000). TREE_TOPO: the controller's topology options
# (default --preset colossus2); KILL_GANG: the gang under the relay's death (65536).
. "$(dirname "$0")/../tests/integration/cluster_lib.bash"
T1=${1:-8} T2=${2:-40} A=${3:-80} PER=${4:-6875}
N=$((A * PER))
GANG=${5:-$((N * 98 / 100))} KG=${KILL_GANG:-65536}
say() { echo "[$(date +%T.%3N)] $*" >&2; }
HB_MS=1000 DEAD_MS=3000
TOPO=${TREE_TOPO:---preset colossus2}
STATE_DIR=$T/state
start_controller $TOPO
CTL=$CTL_ADDR
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
declare -A RPID RADDR
start_relay() { # NAME PARENT-LIST
    rm -f "$T/$1.addr"
    "$B" relay --controller "$CTL" ${2:+--parent "$2"} --listen 127.0.0.1:0 --key "$T/key" \
        --name "$1" --address-file "$T/$1.addr" >>"$T/relay-$1.log" 2>&1 &
    RPID[$1]=$!
    wait_for 10 test -s "$T/$1.addr" || fail "relay $1 did not start"
    RADDR[$1]=$(cat "$T/$1.addr")
}
for i in $(seq 0 $((T1 - 1))); do start_relay "t$i" ""; done
for j in $(seq 0 $((T2 - 1))); do start_relay "u$j" "${RADDR[t$((j % T1))]}"; done
# registered K: every agent logged its last node's registration at least K times
registered() {
    local k=$1 f c
    for f in "$T"/agent-h*.log; do
        c=$(grep -c "registered h[0-9]*-$((PER - 1)) " "$f")
        [ "$c" -ge "$k" ] || return 1
    done
}
t0=$(date +%s.%N)
q0=$(ticks "$CTL_PID")
for i in $(seq 0 $((A - 1))); do
    j=$((i % T2))
    "$B" agent --controller "${RADDR[u$j]},${RADDR[t$((j % T1))]},$CTL" --key "$T/key" \
        --name "h$i" --work-dir "$T/h$i" --fake-gpus 2 --hollow "$PER" \
        --hollow-run-ms 86400000 >>"$T/agent-h$i.log" 2>&1 &
    AGENT_PID[h$i]=$!
done
wait_for 300 registered 1 || fail "not every node registered"
t1=$(date +%s.%N)
q1=$(ticks "$CTL_PID")
conns=$(grep -c "agent connection from" "$T/controller.log")
say "all $N nodes registered through $T1 x $T2 relays in $(python3 -c "print(round($t1 - $t0, 1))") s"
sleep 3
r0=0 r1=0 u0=0 u1=0
c0=$(ticks "$CTL_PID")
for i in $(seq 0 $((T1 - 1))); do r0=$((r0 + $(ticks "${RPID[t$i]}"))); done
for j in $(seq 0 $((T2 - 1))); do u0=$((u0 + $(ticks "${RPID[u$j]}"))); done
sleep 10
c1=$(ticks "$CTL_PID")
for i in $(seq 0 $((T1 - 1))); do r1=$((r1 + $(ticks "${RPID[t$i]}"))); done
for j in $(seq 0 $((T2 - 1))); do u1=$((u1 + $(ticks "${RPID[u$j]}"))); done
HZ=$(getconf CLK_TCK)
say "controller CPU over 10 s: $(python3 -c "print(round(($c1 - $c0) / $HZ / 10 * 100, 2))")%"
downs() { grep -c "declared down" "$T/controller.log"; }
d_reg=$(downs)

# gang RUN-AT-LEAST: submit a gang of $1 nodes, print "placed_ms running_ms" once every rank
# runs (sets J)
gang() {
    J=$("$B" submit -N "$1" --gpus-per-node 2 -- true) || fail "submit $1"
    wait_for 120 bash -c "[ \"\$(\"$B\" show --json $J | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"state\"])')\" = running ]" ||
        fail "gang of $1 nodes: $("$B" show "$J" | grep -E 'state|reason')"
}
say "gang of $GANG nodes"
g0=$(ticks "$CTL_PID")
gang "$GANG"
g1=$(ticks "$CTL_PID")
G1=$("$B" show --json "$J" | python3 -c "
import json, sys
d = json.load(sys.stdin); s = d['submit_time']
print('%.1f %.1f' % ((d['start_time'] - s) * 1e3, (d['running_time'] - s) * 1e3))")
x0=$(python3 -c 'import time; print(time.time())')
"$B" cancel "$J" >/dev/null || fail "cancel"
"$B" wait "$J" >/dev/null 2>&1
G2=$("$B" show --json "$J" | python3 -c "
import json, sys
d = json.load(sys.stdin)
print('%.1f %s' % ((d['end_time'] - $x0) * 1e3, d['state']))")
say "gang: placed/running ms $G1; cancel -> ended ms, state: $G2"
d_gang=$(downs)

say "a first-tier relay killed -9 under a running $KG-node gang"
gang "$KG"
GJ=$J
k0=$(date +%s.%N)
kill -9 "${RPID[t0]}"
wait "${RPID[t0]}" 2>/dev/null
# the agents behind t0's children: second-tier relays j with j % T1 == 0
behind=()
for i in $(seq 0 $((A - 1))); do [ $(((i % T2) % T1)) = 0 ] && behind+=("$T/agent-h$i.log"); done
again() {
    local f
    for f in "${behind[@]}"; do
        [ "$(grep -c "registered h[0-9]*-$((PER - 1)) " "$f")" -ge 2 ] || return 1
    done
}
wait_for 120 again || fail "the agents behind t0 did not register again"
k1=$(date +%s.%N)
sleep 4 # past dead-after: a node that did not come back would be declared down by now
R=$("$B" show --json "$GJ" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["state"], d["restarts"])')
say "re-parented in $(python3 -c "print(round($k1 - $k0, 2))") s; the gang: $R"
d_kill=$(downs)

say "the controller restarts"
kill "$CTL_PID"
wait "$CTL_PID"
m0=$(date +%s.%N)
CTL_ADDR=$CTL start_controller $TOPO
p0=$(ticks "$CTL_PID")
again_all() {
    local f
    for f in "$T"/agent-h*.log; do
        # those behind t0 registered once more already
        local want=2
        [[ " ${behind[*]} " == *" $f "* ]] && want=3
        [ "$(grep -c "registered h[0-9]*-$((PER - 1)) " "$f")" -ge $want ] || return 1
    done
}
wait_for 120 again_all || fail "not every node registered again after the restart"
m1=$(date +%s.%N)
p1=$(ticks "$CTL_PID")
sleep 4
R2=$("$B" show --json "$GJ" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["state"], d["restarts"])')
say "all registered again in $(python3 -c "print(round($m1 - $m0, 2))") s; the gang: $R2"
down=$(grep -c "declared down" "$T/controller.log")
python3 - <<PY
import json
g1, g2, r, r2 = "$G1".split(), "$G2".split(), "$R".split(), "$R2".split()
print(json.dumps({
    "bench": "tree", "topology": "$TOPO", "nodes": $N, "agents": $A, "nodes_per_agent": $PER,
    "relays_tier1": $T1, "relays_tier2": $T2, "heartbeat_ms": $HB_MS, "dead_after_ms": $DEAD_MS,
    "controller_connections": $conns,
    "register_all_s": round($t1 - $t0, 2),
    "register_all_controller_cpu_s": round(($q1 - $q0) / $HZ, 2),
    "controller_cpu_heartbeats_pct_of_core": round(($c1 - $c0) / $HZ / 10 * 100, 2),
    "tier1_relay_cpu_pct_of_core_each": round(($r1 - $r0) / $HZ / 10 * 100 / $T1, 2),
    "tier2_relay_cpu_pct_of_core_each": round(($u1 - $u0) / $HZ / 10 * 100 / $T2, 2),
    "gang": {"nodes": $GANG, "placed_ms": float(g1[0]), "running_ms": float(g1[1]),
             "cancel_to_ended_ms": float(g2[0]), "state": g2[1],
             "controller_cpu_s_until_running_seen": round(($g1 - $g0) / $HZ, 2)},
    "tier1_killed": {"gang_nodes": $KG, "agents_behind": ${#behind[@]},
                     "registered_again_s": round($k1 - $k0, 2), "gang_state": r[0],
                     "gang_restarts": int(r[1])},
    "controller_restart": {"registered_again_s": round($m1 - $m0, 2),
                           "controller_cpu_s": round(($p1 - $p0) / $HZ, 2),
                           "gang_state": r2[0],
                           "gang_restarts": int(r2[1])},
    "false_declared_down": $down,
    "false_declared_down_by_phase": {"registration": $d_reg, "gang": $d_gang - $d_reg,
                                     "relay_killed": $d_kill - $d_gang,
                                     "controller_restart": $down - $d_kill},
}, indent=1))
PY
