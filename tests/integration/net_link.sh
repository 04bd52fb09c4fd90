#!/bin/bash
# net_link.sh - a lost network link takes its node out in seconds (issue 16): agents with the
# fake NVML watch their links in a sysfs tree of the test's (--sysfs-root; --links auto: the
# physical interfaces, those with a `device` entry, and the InfiniBand ports, each once seen
# up). A job runs on one node; its interface loses carrier: the agent latches drain-now
# ("network link eth9 down (no carrier)"), the controller restarts the job on the other node
# (a node failure, one restart), the node stays drained with the reason. Then an InfiniBand
# port going to DOWN on the other node does the same. And, where this machine lets the test
# make a veth pair, the same from the kernel's own carrier (--links NAME on /sys).
# timeout: 90
. "$(dirname "$0")/health_lib.bash"

start_controller --nodes 3 --gpus-per-node 2
cd "$T"
for n in a b c; do
    healthy_script $n 2
    mkdir -p "sys-$n/class/net/eth9/device" "sys-$n/class/infiniband/mlx5_0/ports/1"
    echo 1 >"sys-$n/class/net/eth9/carrier"
    echo "4: ACTIVE" >"sys-$n/class/infiniband/mlx5_0/ports/1/state"
    start_nvml_agent $n --check-at-start off --links auto --sysfs-root "$T/sys-$n"
done
wait_nodes_up 3
grep -q "watching 2 network links" agent-a.log || fail "agent a: $(cat agent-a.log)"
"$B" drain c --reason "kept for the veth part" >/dev/null || fail "drain c"

log "eth9 loses carrier under a running job: drain-now, the job restarts on the other node"
J=$("$B" submit -N 1 --gpus-per-node 2 --max-restarts 3 -- sleep 600) || fail "submit"
wait_state "$J" running 20 || fail "job $J not running"
N=$(job_field "$J" 'd["nodes"][0]')
O=$([ "$N" = a ] && echo b || echo a)
link_lost "$N"
wait_for 10 bash -c "[ \"\$(\"$B\" show --json $J | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d[\"state\"], d[\"restarts\"], d[\"nodes\"])')\" = \"running 1 ['$O']\" ]" ||
    fail "job $J not restarted on $O: $("$B" show --json "$J")"
log "link lost -> node out: $LINK_OUT s; -> job running on $O: $(since "$LINK_T0") s"
node_json "$N" 'n["state"] + "|" + n["reason"]' | grep -q "^drained|drain-now: network link eth9 down" ||
    fail "$N: $(node_json "$N" 'n["state"], n["reason"]')"

log "an InfiniBand port DOWN on $O: the same"
echo "1: DOWN" >"sys-$O/class/infiniband/mlx5_0/ports/1/state"
wait_for 10 grep -q "node $O GPU health drain-now: network link mlx5_0/1 down (1: DOWN)" controller.log ||
    fail "the controller did not hear of the IB port"
"$B" cancel "$J" >/dev/null

log "a veth pair's kernel carrier (where the test may make one)"
VA=clt$$a VB=clt$$b
if ip link add "$VA" type veth peer name "$VB" 2>/dev/null; then
    trap 'ip link del "$VA" 2>/dev/null; cleanup' EXIT
    ip link set "$VA" up && ip link set "$VB" up || fail "veth up"
    wait_for 5 bash -c "[ \"\$(cat /sys/class/net/$VA/carrier 2>/dev/null)\" = 1 ]" || fail "veth carrier"
    kill "${AGENT_PID[c]}"
    wait "${AGENT_PID[c]}" 2>/dev/null
    start_nvml_agent c --check-at-start off --links "$VA"
    wait_for 10 grep -q "watching 1 network link" agent-c.log || fail "agent c: $(tail -5 agent-c.log)"
    ip link set "$VB" down # the peer's end: $VA loses carrier
    wait_for 10 grep -q "node c GPU health drain-now: network link $VA down (no carrier)" controller.log ||
        fail "the controller did not hear of $VA: $(tail -5 agent-c.log)"
else
    log "skip: cannot make a veth pair here (no CAP_NET_ADMIN?): the sysfs tree part stands"
fi
log "bad --links: the agent says which and stops"
for bad in 'bad/x/y' eth7 'mlx5_9/1'; do
    COLOSSUS_FAKE_NVML=$T/nvml-a "$B" agent --links "$bad" --sysfs-root "$T/sys-a" --controller "$CTL_ADDR" \
        --key key --name z --work-dir z --check-at-start off 2>err.txt && fail "--links $bad accepted"
    grep -q -- "--links: .*$bad" err.txt || fail "--links $bad: $(cat err.txt)"
done
log "PASS"
