#!/bin/bash
# cluster_failover.sh - node death: an agent (and its ranks) killed with -9 is declared down
# within dead-after + 1 s and its job restarts by itself with COLOSSUS_RESTART incremented:
# in place on a hot spare when the pod has one, else requeued onto other nodes; up to
# --max-restarts, after which the job fails.
# timeout: 120
. "$(dirname "$0")/cluster_lib.bash"

# 3 nodes, one held as a hot spare (spare fraction of the pod).
start_controller --nodes 3 --gpus-per-node 2 --spare-fraction 0.34
for i in 1 2 3; do start_agent "n$i" 2; done
wait_nodes_up 3
cd "$T"

# A job that records each start and runs until told to stop by a file.
cat > job.sh <<'SH'
echo "start rank=$RANK restart=$COLOSSUS_RESTART node=$NODE_RANK ck=$COLOSSUS_CHECKPOINT_DIR" >> "starts.$COLOSSUS_RESTART"
echo "hello restart=$COLOSSUS_RESTART"
while [ ! -e stop ]; do sleep 0.1; done
SH
J=$("$B" submit -N 2 --gpus-per-node 2 --max-restarts 2 -- sh "$T/job.sh")
wait_state "$J" running 20 || fail "job not running"
wait_for 10 bash -c '[ "$(cat starts.0 2>/dev/null | wc -l)" = 4 ]' || fail "4 ranks did not start"
# logs -f of rank 0 (on the node that stays): the restart's output follows the first's, once
"$B" logs -f --rank 0 "$J" >follow.out 2>follow.err &
FOLLOW=$!
PIDS+=("$FOLLOW")
wait_for 10 grep -q "hello restart=0" follow.out || fail "logs -f: $(cat follow.out follow.err)"
victim=$(job_field "$J" 'd["nodes"][1]')
log "killing node $victim (agent and ranks) with -9"
t_kill=$(date +%s.%N)
kill_node "$victim"
wait_for 10 grep -q "node $victim declared down" controller.log || fail "node death not detected"
t_det=$(date -d "$(grep "node $victim declared down" controller.log | head -1 | cut -c1-23)" +%s.%N)
det_ms=$(python3 -c "print(int(($t_det - $t_kill) * 1000))")
log "detected after $det_ms ms (dead-after $DEAD_MS ms)"
[ "$det_ms" -le $((DEAD_MS + 1000)) ] || fail "detection took $det_ms ms > dead-after + 1 s"
wait_for 15 bash -c '[ "$(cat starts.1 2>/dev/null | wc -l)" = 4 ]' || fail "job not restarted with COLOSSUS_RESTART=1"
t_re=$(date +%s.%N)
log "all ranks of incarnation 2 running $(python3 -c "print(int(($t_re - $t_kill) * 1000))") ms after the kill"
grep -q "job $J: restarting in place, node $victim replaced by hot spare" controller.log ||
    fail "expected an in-place restart on the hot spare"
[ "$(job_field "$J" 'd["restarts"]')" = 1 ] || fail "restarts != 1"
[ "$(job_field "$J" 'd["incarnation"]')" = 2 ] || fail "incarnation != 2"
job_field "$J" 'd["nodes"]' | grep -q "$victim" && fail "restarted on the dead node"
# show lists the runs: the first ended by the node failure, the second running.
show_runs() { "$B" show "$J" | sed -n '/^runs:/,$p'; }
wait_for 10 bash -c "\"$B\" show $J | grep -Eq '^  1 +.* node_fail +.*$victim'" ||
    fail "show: no first run ended by node_fail on $victim: $(show_runs)"
show_runs | grep -Eq '^  2 +.* running ' || fail "show: the second run is not running: $(show_runs)"
"$B" show "$J" | grep -q '^first start:.*(incarnation 1)' || fail "show: no first start: $("$B" show "$J")"
log "show: $(show_runs)"

touch stop
"$B" wait "$J" --timeout 30 || fail "job did not succeed after its restart"
wait_for 10 sh -c "! kill -0 $FOLLOW 2>/dev/null" || fail "logs -f did not end with the job"
[ "$(grep -c '^hello restart=0$' follow.out)" = 1 ] && [ "$(grep -c '^hello restart=1$' follow.out)" = 1 ] ||
    fail "logs -f across the restart: $(cat follow.out)"
grep -q "restarted (incarnation 2)" follow.err || fail "logs -f said nothing of the restart: $(cat follow.err)"
[ "$(job_field "$J" 'd["restarts"]')" = 1 ] || fail "restarts changed at the end"

log "without hot spares: requeue onto other nodes"
stop_all
rm -f stop starts.*
STATE_DIR=$T/state2 start_controller --nodes 8 --gpus-per-node 2 --checkpoint-dir "$T/shared-ckpt"
for i in 1 2 3; do start_agent "m$i" 2; done
wait_nodes_up 3
J=$("$B" submit -N 2 --gpus-per-node 2 --max-restarts 1 -- sh "$T/job.sh")
wait_for 10 bash -c '[ "$(cat starts.0 2>/dev/null | wc -l)" = 4 ]' || fail "job did not start"
[ "$(grep -c "ck=$T/shared-ckpt/$J\$" starts.0)" = 4 ] || fail "--checkpoint-dir not used: $(cat starts.0)"
victim=$(job_field "$J" 'd["nodes"][0]')
kill_node "$victim"
wait_for 15 bash -c '[ "$(cat starts.1 2>/dev/null | wc -l)" = 4 ]' || fail "not restarted after requeue"
grep -q "job $J requeued after a node failure" controller.log || fail "expected a requeue"
job_field "$J" 'd["nodes"]' | grep -q "$victim" && fail "restarted on the dead node"
[ "$(job_field "$J" 'd["restarts"]')" = 1 ] || fail "restarts != 1"

log "max restarts reached: a node death fails the job"
kill_node "$(job_field "$J" 'd["nodes"][1]')"
wait_state "$J" failed 15 || fail "job not failed after its last allowed restart"
job_field "$J" 'd["reason"]' | grep -q "max restarts" || fail "reason: $(job_field "$J" 'd["reason"]')"
[ "$(job_field "$J" 'd["ended"]')" = node_fail ] || fail "ended: $(job_field "$J" 'd["ended"]')"
"$B" wait "$J" && fail "wait exited 0 for a failed job"

log "ranks that fail because a peer node died: a node failure (restart), not a user error"
for i in 4 5; do start_agent "m$i" 2; done
wait_nodes_up 3
rm -f stop
# Like gloo: every rank of node rank 0 exits 1 as soon as a rank of node rank 1 is gone.
cat > peer.sh <<'SH'
echo $$ > "tmp.$COLOSSUS_RESTART.$RANK" && mv "tmp.$COLOSSUS_RESTART.$RANK" "peer.$COLOSSUS_RESTART.$RANK"   # atomic
alive() { s=$(ps -o stat= -p "$1" 2>/dev/null); [ -n "$s" ] && [ "${s#Z}" = "$s" ]; }   # not a zombie
while [ ! -e stop ]; do
    if [ "$NODE_RANK" = 0 ] && [ -e "peer.$COLOSSUS_RESTART.2" ] && ! alive "$(cat "peer.$COLOSSUS_RESTART.2")"; then
        [ -e stop ] && break   # the peer ended because the test said stop
        echo "peer lost"; exit 1
    fi
    sleep 0.05
done
SH
P=$("$B" submit -N 2 --gpus-per-node 2 --max-restarts 2 -- sh "$T/peer.sh")
wait_for 10 bash -c 'ls peer.0.* 2>/dev/null | wc -l | grep -qx 4' || fail "job P did not start"
kill_node "$(job_field "$P" 'd["nodes"][1]')"
wait_for 10 bash -c 'ls peer.1.* 2>/dev/null | wc -l | grep -qx 4' || fail "job P was not restarted: $(job_state "$P") $(job_field "$P" 'd["reason"]')"
grep -q "job $P: its rank failure came with a node failure" controller.log || fail "peer failure not attributed to the node"
[ "$(job_field "$P" 'd["restarts"]')" = 1 ] || fail "restarts != 1"

log "an agent that restarts at once (its ranks gone) gets its jobs restarted without waiting"
victim=$(job_field "$P" 'd["nodes"][0]')
kill_node "$victim"
start_agent "$victim" 2
wait_for 10 bash -c 'ls peer.2.* 2>/dev/null | wc -l | grep -qx 4' || fail "job P not restarted after its agent restarted"
grep -q "node $victim no longer runs job $P" controller.log || fail "lost ranks not noticed"
grep -q "node $victim declared down" controller.log && fail "waited for dead-after instead"
[ "$(job_field "$P" 'd["restarts"]')" = 2 ] || fail "restarts != 2"
touch stop
"$B" wait "$P" --timeout 20 || fail "job P did not succeed after its restart"
log "PASS"
