#!/bin/bash
# relay.sh - `colossus relay` (issue 16): three agents behind two tiers of relays (r2 under r1)
# run a job whose ranks keep ticking (so their leases are renewed through the tree: a lapsed
# lease freezes them); the controller sees one connection and knows each node's path (via);
# the first-tier relay is killed -9 under the job: its agents and r2 re-parent to the
# controller without a restart or a node declared down; the controller restarts: every node
# registers again, r2's through r2; bad input to a relay (a stray byte stream, a wrong key, a
# loop in the tree) drops that peer only.
# timeout: 90
. "$(dirname "$0")/cluster_lib.bash"

start_controller --nodes 8 --gpus-per-node 2
CTL=$CTL_ADDR
cd "$T"

# agent_via NAME LIST: an agent whose controller address list is LIST
agent_via() { CTL_ADDR=$2 start_agent "$1" 2; }
# lease_ok NAME: the node's lease (WORK/keep/lease: boot ns, docs/standby.md) is in force and
# runs at least 0.1 s more: acks of the controller reach the agent.
lease_ok() {
    python3 -c "import struct,sys,time; u=struct.unpack('<Q', open('$T/agents/$1/keep/lease','rb').read(8))[0]
sys.exit(0 if u > time.clock_gettime_ns(time.CLOCK_BOOTTIME) + 100e6 else 1)"
}
via_of() { "$B" nodes --json | jfield "{n['name']: n['via'] for n in d}.get('$1')"; }

start_relay r1
start_relay r2 --parent "$R_r1"
agent_via a1 "$R_r1,$CTL"
agent_via a2 "$R_r1,$CTL"
agent_via a3 "$R_r2,$R_r1,$CTL"
wait_nodes_up 3 20
[ "$(via_of a1)" = r1 ] && [ "$(via_of a2)" = r1 ] || fail "a1, a2 not via r1: $(via_of a1) $(via_of a2)"
[ "$(via_of a3)" = r2,r1 ] || fail "a3 not via r2,r1: $(via_of a3)"
[ "$(grep -c 'agent connection from' controller.log)" = 1 ] ||
    fail "the controller should see one connection (r1's)"
log "3 nodes up through the tree: a1, a2 via r1; a3 via r2,r1; one connection at the controller"

log "a 3-node job whose ranks tick every 0.1 s until told to stop"
J=$("$B" submit -N 3 --gpus-per-node 2 --ntasks-per-node 1 -- bash -c \
    "while [ ! -e $T/stop ]; do echo . >> $T/ticks.\$RANK; sleep 0.1; done") || fail "submit"
wait_state "$J" running 20 || fail "the job did not start"
wait_for 10 bash -c "[ -s $T/ticks.0 ] && [ -s $T/ticks.1 ] && [ -s $T/ticks.2 ]" ||
    fail "not every rank ticks"
ticks() { cat "$T"/ticks.* | wc -l; }
t0=$(ticks)
sleep 2 # the ticks' own pace; a lease that is not renewed freezes them within 0.75 s
t1=$(ticks)
[ $((t1 - t0)) -ge 30 ] || fail "ranks ticked $((t1 - t0)) times in 2 s: frozen (lease not renewed through the relays?)"
for a in a1 a2 a3; do lease_ok $a || fail "$a's lease is not renewed through the relays"; done
log "ranks run through the tree: $((t1 - t0)) ticks in 2 s (3 ranks), every lease renewed"

log "r1 is killed -9 under the job"
kill -9 "$RPID_r1"
s0=$(date +%s.%N)
wait_for 10 bash -c "[ \"\$(\"$B\" nodes --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(sum(1 for n in d if n[\"connected\"] and \"r1\" not in (n[\"via\"] or \"\").split(\",\")))')\" = 3 ]" ||
    fail "the nodes did not re-parent"
s1=$(date +%s.%N)
reparent=$(python3 -c "print(f'{$s1 - $s0:.2f}')")
log "every node re-parented in $reparent s: a1 $(via_of a1), a2 $(via_of a2), a3 $(via_of a3)"
python3 -c "import sys; sys.exit(0 if $reparent <= 2.0 else 1)" || fail "re-parenting took $reparent s (> 2 s)"
[ "$(via_of a3)" = r2 ] || fail "a3 should stay behind r2 (r2 now under the controller)"
t0=$(ticks)
sleep 1.5
t1=$(ticks)
[ $((t1 - t0)) -ge 20 ] || fail "ranks ticked $((t1 - t0)) times in 1.5 s after the relay's death"
for a in a1 a2 a3; do lease_ok $a || fail "$a's lease lapsed after the relay's death"; done
! grep -q "declared down" controller.log || fail "a node was declared down: $(grep 'declared down' controller.log)"
[ "$(job_field "$J" 'd["restarts"]')" = 0 ] || fail "the job restarted"
[ "$(job_state "$J")" = running ] || fail "the job is $(job_state "$J")"

log "the controller restarts: every node registers again, a3 through r2"
kill "$CTL_PID"
wait "$CTL_PID"
CTL_ADDR=$CTL start_controller --nodes 8 --gpus-per-node 2
c0=$(date +%s.%N)
wait_nodes_up 3 10
c1=$(date +%s.%N)
log "all 3 nodes registered again in $(python3 -c "print(f'{$c1 - $c0:.2f}')") s"
[ "$(via_of a3)" = r2 ] || fail "a3 not back through r2: $(via_of a3)"
[ "$(job_field "$J" 'd["restarts"]')" = 0 ] || fail "the job restarted after the controller's restart"

log "bad input to r2: a stray byte stream, a wrong key, a loop in the tree"
port=${R_r2##*:}
exec 3<>"/dev/tcp/127.0.0.1/$port"
printf 'GET / HTTP/1.0\r\n\r\n' >&3
exec 3>&-
"$B" keygen >"$T/otherkey"
"$B" agent --controller "$R_r2" --key "$T/otherkey" --name bad1 --work-dir "$T/agents/bad1" \
    --fake-gpus 1 >>"$T/agent-bad1.log" 2>&1 &
AGENT_PID[bad1]=$!
wait_for 10 grep -q "wrong cluster key" "$T/agent-bad1.log" || fail "wrong key not refused by r2"
# a relay named r2 under r2: what it carries would go through r2 twice
start_relay r2b --parent "$R_r2" --name r2
agent_via a4 "$R_r2b"
wait_for 10 grep -q "a loop in the relay tree" "$T/agent-a4.log" || fail "the loop was not refused"
kill -0 "$RPID_r2" || fail "r2 died"
[ "$(via_of a3)" = r2 ] && [ "$(nodes_up_count)" = 3 ] || fail "r2's agent lost"
[ "$(via_of a4)" = None ] || fail "a4 registered through a loop"

touch "$T/stop"
"$B" wait "$J" --timeout 20 || fail "the job did not succeed: $(job_state "$J")"
[ "$(job_field "$J" 'd["restarts"]')" = 0 ] || fail "the job restarted"
log "the job succeeded through the tree, 0 restarts"

# r2's frames say only what changed (Heartbeat.vouch): a node it stops hearing is named
# once, and the controller's deadline for it runs from then; one whose relay goes silent
# (a hung host: no FIN) is down with the relay's connection, one line for all its nodes.
log "a3 (behind r2) stops: r2 tells the controller it no longer hears it"
t0=$(date +%s.%N)
kill -STOP "${AGENT_PID[a3]}"
wait_for 10 grep -q "node a3 declared down" controller.log || fail "a3 not declared down"
t1=$(date +%s.%N)
[ "$(nodes_up_count)" = 2 ] || fail "a1, a2 should stay up: $("$B" nodes)"
kill -CONT "${AGENT_PID[a3]}"
wait_nodes_up 3 20
log "a3 declared down $(python3 -c "print(f'{$t1 - $t0:.2f}')") s after it stopped (heartbeat 0.2 s, dead-after 1 s), up again after SIGCONT (via '$(via_of a3)')"
log "r2 and a5 (its only path r2) stop, a hung relay host: r2's connection is judged, not each node"
agent_via a5 "$R_r2"
wait_nodes_up 4 20
[ "$(via_of a5)" = r2 ] || fail "a5 not via r2: $(via_of a5)"
n0=$(grep -c "declared down" controller.log)
kill -STOP "$RPID_r2" "${AGENT_PID[a5]}"
wait_for 10 grep -q "relay connection .*: no heartbeat for .* ms: the 1 nodes it vouched for are down" controller.log ||
    fail "r2's connection was not judged: $(tail -5 controller.log)"
[ "$(grep -c "declared down" controller.log)" = $((n0 + 1)) ] || fail "more than a5 declared down"
kill -CONT "$RPID_r2" "${AGENT_PID[a5]}"
wait_nodes_up 4 20
log "r2's silence took a5 down with one line; both resumed, a5 is up again via '$(via_of a5)'"
log "PASS"
