#!/bin/bash
# bench/relay.bash - what a relay tier saves the controller (issue 16): AGENTS hollow agents
# of PER nodes each heartbeat once a second, connected straight to the controller, then through
# RELAYS relays (agent i through relay i mod RELAYS). Prints one JSON object per layout: the
# connections the controller reads, the seconds until every node registered, and the
# controller's CPU (% of a core) over 10 s of steady heartbeats.
# Usage: bench/relay.bash [AGENTS [PER [RELAYS]]]     (default 500 agents x 20 nodes, 10 relays)
set -u
exec 3>&1 2>/dev/null # the killed daemons' job notices are noise; JSON goes to fd 3
AGENTS=${1:-500} PER=${2:-20} RELAYS=${3:-10}
B=${COLOSSUS_BIN:-$(cd "$(dirname "$0")/.." && pwd)/bin/colossus}
T=$(mktemp -d "${TMPDIR:-/tmp}/cl-bench-relay.XXXXXX")
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done; rm -rf "$T"' EXIT
"$B" keygen >"$T/key"
chmod 600 "$T/key"
N=$((AGENTS * PER))
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

run() { # LAYOUT RELAYS
    local layout=$1 nr=$2 i ctl t0 t1 c0 c1 ra=()
    rm -rf "$T/s" "$T/addr"
    "$B" controller --state-dir "$T/s" --listen 127.0.0.1:0 --key "$T/key" --address-file "$T/addr" \
        --nodes "$N" --gpus-per-node 2 --heartbeat-ms 1000 --dead-after-ms 10000 >"$T/ctl-$layout.log" 2>&1 &
    ctl=$!
    PIDS+=($ctl)
    for _ in $(seq 100); do [ -s "$T/addr" ] && break; sleep 0.1; done
    local addr
    addr=$(cat "$T/addr")
    for i in $(seq 0 $((nr - 1))); do
        rm -f "$T/r$i"
        "$B" relay --controller "$addr" --listen 127.0.0.1:0 --key "$T/key" --name "r$i" \
            --address-file "$T/r$i" >"$T/relay$i-$layout.log" 2>&1 &
        PIDS+=($!)
        for _ in $(seq 100); do [ -s "$T/r$i" ] && break; sleep 0.1; done
        ra+=("$(cat "$T/r$i")")
    done
    t0=$(date +%s.%N)
    for i in $(seq 0 $((AGENTS - 1))); do
        local to=$addr
        [ "$nr" -gt 0 ] && to="${ra[$((i % nr))]},$addr"
        "$B" agent --controller "$to" --key "$T/key" --name "a$i" --work-dir "$T/w/a$i" \
            --fake-gpus 2 --hollow "$PER" >"$T/agent$i.log" 2>&1 &
        PIDS+=($!)
    done
    while :; do
        local up
        up=$(COLOSSUS_CONTROLLER=$addr COLOSSUS_KEY=$T/key "$B" nodes --json 2>/dev/null |
            python3 -c 'import json,sys; print(sum(1 for n in json.load(sys.stdin) if n["state"]=="up"))' 2>/dev/null)
        [ "${up:-0}" -ge "$N" ] && break
        sleep 0.2
    done
    t1=$(date +%s.%N)
    sleep 3
    c0=$(ticks "$ctl")
    sleep 10
    c1=$(ticks "$ctl")
    local conns down
    conns=$(grep -c "agent connection from" "$T/ctl-$layout.log")
    down=$(grep -c "declared down" "$T/ctl-$layout.log")
    python3 -c "import json; print(json.dumps({'layout': '$layout', 'nodes': $N, 'agents': $AGENTS, 'relays': $nr, 'controller_connections': $conns, 'registered_s': round($t1 - $t0, 2), 'controller_cpu_pct': round(($c1 - $c0) / $(getconf CLK_TCK) / 10 * 100, 2), 'declared_down': $down}))" >&3
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
    PIDS=()
    rm -rf "$T/w"
}
run direct 0
run relays "$RELAYS"
