#!/bin/bash
# submit_deps.sh - issue 15's dependencies, holds and requeue on 2 agents x 2 fake GPUs:
# --dependency afterok/afterany/afternotok (several, all must hold) and singleton, on the
# command line and as #SBATCH; a job whose dependency can never be satisfied is cancelled
# with DependencyNeverSatisfied, not left pending; pending dependencies and holds survive a
# controller restart; submit --hold, hold, release; requeue of a running job (its ranks
# stopped, run again, no failure restart counted) and of a finished one (also one the core
# no longer holds after a restart); who may (the owner, an operator; not another tenant's
# user); bad input refused with exit 2 (a malformed --dependency, a job that does not exist
# or is another tenant's), nothing queued.
# timeout: 60
. "$(dirname "$0")/cluster_lib.bash"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)

start_controller --nodes 4 --gpus-per-node 2
agents_pub
api_people
as() { local u=$1; shift; COLOSSUS_TOKEN=$(cat "$T/$u.tok") "$B" "$@"; }
njobs() { "$B" jobs --all --json | jfield 'len(d)'; }
# gate NAME [CODE]: a job command that waits for file NAME here, then exits CODE
gate() { echo "until [ -f $PWD/$1 ]; do sleep 0.05; done; exit ${2:-0}"; }
reason_has() { job_field "$1" "d['reason'] or ''" | grep -qF -- "$2"; }
pending_has() { job_field "$1" "d['pending_reason'] or ''" | grep -qF -- "$2"; }
runs_are() { [ "$(wc -l < runs)" = "$1" ]; }

log "afterok, afterany, afternotok: waiting, with the reason"
A=$(as alice submit --gpus-per-node 1 -- sh -c "$(gate go.a)") || fail "submit A"
F=$(as alice submit --gpus-per-node 1 -- sh -c "$(gate go.f 3)") || fail "submit F"
X=$(as alice submit --gpus-per-node 1 -d "afterok:$A" -- true) || fail "submit X"
Y=$(as alice submit --gpus-per-node 1 --dependency "afterok:$F" -- true) || fail "submit Y"
Z=$(as alice submit --gpus-per-node 1 --dependency="afternotok:$F" -- true) || fail "submit Z"
W=$(as alice submit --gpus-per-node 1 -d "afterany:$A:$F,afterok:$A" -- true) || fail "submit W"
printf '#!/bin/sh\n#SBATCH --dependency=afterok:%s\n#SBATCH --gpus-per-node=1\ntrue\n' "$A" > dep.sh
chmod +x dep.sh
S=$(as alice submit ./dep.sh) || fail "submit dep.sh"
for j in "$A" "$F"; do wait_state "$j" running 20 || fail "job $j not running"; done
for j in "$X" "$Y" "$Z" "$W" "$S"; do
    wait_for 10 pending_has "$j" "Dependency: waiting for" ||
        fail "job $j: $("$B" show "$j" --json)"
done
[ "$(job_field "$S" 'd["dependency"]')" = "afterok:$A" ] || fail "#SBATCH --dependency"
"$B" show "$W" | grep -q "^dependency: *afterany:$A:$F,afterok:$A$" || fail "show: $("$B" show "$W")"

log "hold at submit, and a pending job held: both survive a controller restart"
H=$(as alice submit --gpus-per-node 1 --hold -- true) || fail "submit --hold"
P=$(as alice submit -N 2 --gpus-per-node 2 -d "afterok:$A" -- true) || fail "submit P"
as oscar hold "$P" || fail "an operator may hold alice's job"
wait_for 10 pending_has "$H" "held: 'colossus release $H'" || fail "held: $("$B" show "$H")"
[ "$(job_field "$P" 'd["held"]')" = True ] || fail "P not held"

kill "$CTL_PID"; wait "$CTL_PID" 2>/dev/null
start_controller --nodes 4 --gpus-per-node 2
wait_nodes_up 2
wait_for 20 pending_has "$X" "Dependency: waiting for afterok:$A" || fail "X after restart"
wait_for 10 pending_has "$H" "held:" || fail "H after restart: $("$B" show "$H")"
[ "$(job_field "$P" 'd["held"]')" = True ] || fail "P's hold after restart"
rc=0; as bob release "$H" 2>rel.err || rc=$?
[ $rc = 1 ] && grep -q "no job $H" rel.err || fail "bob released alice's job: $rc $(cat rel.err)"
as alice release "$H" || fail "release"
as alice wait "$H" --timeout 20 >/dev/null || fail "released job $H did not succeed"
rc=0; as alice release "$H" 2>rel.err || rc=$?
[ $rc = 1 ] && grep -q "job $H already succeeded" rel.err || fail "release again: $(cat rel.err)"

log "the dependencies end: satisfied ones start, one never satisfied is cancelled"
touch go.a go.f
for j in "$X" "$Z" "$W" "$S"; do
    as alice wait "$j" --timeout 20 >/dev/null || fail "job $j: $("$B" show "$j")"
done
wait_state "$Y" cancelled 10 || fail "Y: $("$B" show "$Y")"
reason_has "$Y" "DependencyNeverSatisfied: job $F failed" || fail "Y's reason: $("$B" show "$Y")"
[ "$(job_state "$P")" = pending ] || fail "a held job started"
as alice release "$P" || fail "release P"
as alice wait "$P" --timeout 20 >/dev/null || fail "P"

log "singleton: one running job of a name per user"
S1=$(as alice submit --gpus-per-node 1 -J solo -d singleton -- sh -c "$(gate go.s)") || fail "S1"
wait_state "$S1" running 10 || fail "S1 not running"
S2=$(as alice submit --gpus-per-node 1 -J solo --dependency singleton -- true) || fail "S2"
O=$(as oscar submit --gpus-per-node 1 -J solo -d singleton -- true) || fail "oscar's solo"
as oscar wait "$O" --timeout 20 >/dev/null || fail "another user's singleton waited"
wait_for 10 pending_has "$S2" "Dependency: waiting for singleton" || fail "S2: $("$B" show "$S2")"
touch go.s
as alice wait "$S2" --timeout 20 >/dev/null || fail "S2 after S1"

log "requeue: a running job runs again (no failure restart); a finished one too"
R=$(as alice submit --gpus-per-node 1 -- sh -c "echo run >> $PWD/runs; $(gate go.r)") || fail "R"
wait_for 10 grep -q run runs || fail "R did not run"
as alice requeue "$R" || fail "requeue running"
wait_for 10 runs_are 2 || fail "R did not run again: $(cat runs)"
[ "$(job_field "$R" 'd["restarts"]')" = 0 ] || fail "a requeue counted as a restart"
rc=0; as bob requeue "$R" 2>rq.err || rc=$?
[ $rc = 1 ] && grep -q "no job $R" rq.err || fail "bob requeued: $(cat rq.err)"
touch go.r
as alice wait "$R" --timeout 20 >/dev/null || fail "R"
as alice requeue "$R" || fail "requeue finished"
wait_for 10 runs_are 3 || fail "finished R did not run again"
as alice wait "$R" --timeout 20 >/dev/null || fail "R (3rd)"
# after a restart the core holds no finished job: the controller enters it again
kill "$CTL_PID"; wait "$CTL_PID" 2>/dev/null
start_controller --nodes 4 --gpus-per-node 2
wait_nodes_up 2
as oscar requeue "$R" || fail "requeue after restart"
wait_for 20 runs_are 4 || fail "R after restart: $(cat runs)"
as alice wait "$R" --timeout 20 >/dev/null || fail "R (4th): $("$B" show "$R")"
[ "$(job_field "$R" 'd["incarnation"]')" -ge 4 ] || fail "incarnation went back"
rc=0; as alice hold "$R" 2>h.err || rc=$?
[ $rc = 1 ] && grep -q "job $R already succeeded" h.err || fail "hold finished: $(cat h.err)"

log "examples/slurm/pipeline.sh, unchanged: afterok steps, an afternotok clean-up"
read -r p1 p2 p3 p4 < <(SUBMIT="$B submit" COLOSSUS_TOKEN=$(cat "$T/alice.tok") "$ROOT/examples/slurm/pipeline.sh") ||
    fail "pipeline.sh"
as alice wait "$p3" --timeout 30 >/dev/null || fail "evaluate: $("$B" show "$p3")"
grep -qx "step evaluate" "pipeline_$p3.out" || fail "pipeline_$p3.out"
[ "$(job_field "$p1" 'd["end_time"] < '"$(job_field "$p2" 'd["start_time"]')")" = True ] ||
    fail "train started before prepare ended"
wait_state "$p4" cancelled 10 || fail "clean-up: $("$B" show "$p4")"
reason_has "$p4" "DependencyNeverSatisfied: job $p2 succeeded" || fail "clean-up's reason"

log "bad input: exit 2 (also for a job that does not exist, or is another tenant's), named, nothing queued"
BJ=$(as bob submit --gpus-per-node 1 -- true) || fail "bob's job"
before=$(njobs)
export COLOSSUS_TOKEN; COLOSSUS_TOKEN=$(cat "$T/alice.tok") # bad submits as alice
bad 2 "--dependency: no job 99999 (of your tenants)" -d afterok:99999 -- true
bad 2 "--dependency: no job $BJ (of your tenants)" -d "afterok:$BJ" -- true
bad 2 "'after' is not a dependency type" -d after:1 -- true
bad 2 "afterok: 'x' is not a job id" -d afterok:x -- true
bad 2 "afterok needs job ids" -d afterok -- true
bad 2 "'?' (any one of) is not supported" -d "afterok:1?afterok:2" -- true
bad 2 "an empty entry" -d "afterok:1,,singleton" -- true
printf '#!/bin/sh\n#SBATCH --hold=yes\n' > holdv.sh
bad 2 "holdv.sh:2: #SBATCH --hold=yes: option '--hold' takes no value" ./holdv.sh
unset COLOSSUS_TOKEN
[ "$(njobs)" = "$before" ] || fail "bad submissions queued jobs: $before -> $(njobs)"
stop_controller_clean
log "PASS"
