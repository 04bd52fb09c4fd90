#!/bin/bash
# submit_place.sh - issue 15's placement constraints on 2 agents x 2 fake GPUs: -w/--nodelist
# and -x/--exclude with Slurm hostlists and --exclusive, on the command line and as #SBATCH,
# honoured by placement (a job off its list waits with a reason that says so; no job joins an
# exclusive one's node), shown by show and --json, kept across a controller restart; bad input
# refused with exit 2 (a malformed hostlist, a node that does not exist), nothing queued.
# timeout: 60
. "$(dirname "$0")/cluster_lib.bash"

start_controller --nodes 4 --gpus-per-node 2
start_agent n1 2
start_agent n2 2
wait_nodes_up 2
cd "$T"
gate() { echo "until [ -f $T/$1 ]; do sleep 0.05; done"; }
nodes_of() { job_field "$1" '",".join(d["nodes"])'; }
pending_has() { job_field "$1" "d['pending_reason'] or ''" | grep -qF -- "$2"; }
njobs() { "$B" jobs --all --json | jfield 'len(d)'; }

log "--nodelist and --exclude: the nodes come from the list, never the excluded ones"
A=$("$B" submit -w n2 --gpus-per-node 1 -- sh -c "$(gate go.a)") || fail "submit -w"
wait_state "$A" running 20 || fail "A: $("$B" show "$A")"
[ "$(nodes_of "$A")" = n2 ] || fail "A on $(nodes_of "$A"), not its nodelist n2"
[ "$(job_field "$A" 'd["nodelist"]')" = n2 ] || fail "nodelist field"
X=$("$B" submit --exclude 'n[2]' --gpus-per-node 1 -- sh -c "$(gate go.a)") || fail "submit -x"
wait_state "$X" running 20 || fail "X: $("$B" show "$X")"
[ "$(nodes_of "$X")" = n1 ] || fail "X on $(nodes_of "$X"), excluded"
"$B" show "$X" | grep -q "^exclude: *n\[2\]$" || fail "show: $("$B" show "$X")"
touch go.a
wait_state "$A" succeeded 20 || fail "A did not end"
wait_state "$X" succeeded 20 || fail "X did not end"

log "Slurm's -w without -N: one node a name"
W=$("$B" submit --nodelist 'n[1-2]' --gpus-per-node 1 -- true) || fail "submit -w n[1-2]"
wait_state "$W" succeeded 20 || fail "W: $("$B" show "$W")"
[ "$(job_field "$W" 'd["num_nodes"]')" = 2 ] || fail "W has $(job_field "$W" 'd["num_nodes"]') nodes"

log "--exclusive: alone on a node without jobs; a job for its node waits and says why"
B1=$("$B" submit -w n1 --gpus-per-node 1 -- sh -c "$(gate go.b)") || fail "submit B1"
wait_state "$B1" running 20 || fail "B1"
printf '#!/bin/sh\n#SBATCH --exclusive\n#SBATCH --gpus-per-node=1\n#SBATCH -N 1\n%s\n' \
    "$(gate go.b)" >excl.sh
chmod +x excl.sh
E=$("$B" submit ./excl.sh) || fail "submit excl.sh"
wait_state "$E" running 20 || fail "E: $("$B" show "$E")"
[ "$(nodes_of "$E")" = n2 ] || fail "exclusive E on $(nodes_of "$E"), where B1 runs"
[ "$(job_field "$E" 'd["exclusive"]')" = True ] || fail "exclusive field"
R=$("$B" submit -w n2 --gpus-per-node 1 -- true) || fail "submit R" # the first: EASY's
S=$("$B" submit -w n2 --gpus-per-node 1 -- true) || fail "submit S"
wait_for 10 pending_has "$R" "next to start: nodes are reserved for it" ||
    fail "R: $("$B" show "$R" --json)"
wait_for 10 pending_has "$S" "free GPUs are not on nodes its --nodelist allows" ||
    fail "S: $("$B" show "$S" --json)"
"$B" show "$S" | grep -q "^why pending: *free GPUs are not on nodes its --nodelist" ||
    fail "show S: $("$B" show "$S")"

log "a restart keeps them"
kill "$CTL_PID"; wait "$CTL_PID" 2>/dev/null
start_controller --nodes 4 --gpus-per-node 2
wait_nodes_up 2
wait_for 20 pending_has "$S" "its --nodelist" || fail "S after restart: $("$B" show "$S" --json)"
[ "$(job_field "$E" 'd["exclusive"]')" = True ] || fail "exclusive after restart"
[ "$(job_field "$X" 'd["exclude"]')" = 'n[2]' ] || fail "exclude after restart"
touch go.b
wait_state "$S" succeeded 30 || fail "S never ran: $("$B" show "$S")"

log "bad input: exit 2, named, nothing queued"
before=$(njobs)
bad 2 "--nodelist: no node 'n9'" -w 'n[1,9]' -- true
bad 2 "--exclude: no node 'zz'" -x zz -- true
bad 2 "--nodelist: 'n[1-' at byte" -w 'n[1-' -- true
bad 2 "the range 5-1 runs backwards" -x 'n[5-1]' -- true
printf '#!/bin/sh\n#SBATCH -w n[1-\n' >badw.sh
bad 2 "./badw.sh:2: #SBATCH -w n[1-: the value above is refused" ./badw.sh
bad 1 "can never run: needs 3 nodes, its nodelist and exclude list allow 2" -N 3 -w 'n[1-2]' -- true
[ "$(njobs)" = "$before" ] || fail "bad submissions queued jobs: $before -> $(njobs)"
stop_controller_clean
log "PASS"
