#!/bin/bash
# submit_array.sh - issue 15's job arrays on 2 agents x 2 fake GPUs: --array with a range
# and a limit (%N: never more running at once), steps and lists, #SBATCH --array; one id for
# the array (its first task's) and one job per task; COLOSSUS_ARRAY_* and SLURM_ARRAY_* in
# the ranks' environment, %A/%a in --output; show/cancel of one task (ID_T) and cancel of
# the whole array (ID); the tasks' command and the limit survive a controller restart (the
# journal holds them in the first task's record only); bad input refused with exit 2.
# timeout: 60
. "$(dirname "$0")/cluster_lib.bash"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)

start_controller --nodes 4 --gpus-per-node 2
start_agent n1 2
start_agent n2 2
wait_nodes_up 2
cd "$T"
njobs() { "$B" jobs --all --json | jfield 'len(d)'; }
gate() { echo "until [ -f $T/$1 ]; do sleep 0.05; done"; }
running_of() { "$B" jobs --json | jfield "sum(1 for j in d if j['array_job_id'] == $1 and j['state'] == 'running')"; }
running_is() { [ "$(running_of "$1")" = "$2" ]; }
pending_has() { job_field "$1" "d['pending_reason'] or ''" | grep -qF -- "$2"; }

log "--array 0-5%2: six tasks, at most two running, each with its variables and %A_%a"
# shellcheck disable=SC2016 # expanded by the ranks
cmd='echo "$COLOSSUS_ARRAY_JOB_ID $COLOSSUS_ARRAY_TASK_ID $SLURM_ARRAY_JOB_ID $SLURM_ARRAY_TASK_ID $COLOSSUS_JOB_ID"; '
A=$("$B" submit --array '0-5%2' --gpus-per-node 1 -o 'out.%A_%a' -- sh -c "$cmd$(gate go.a)") ||
    fail "submit --array"
wait_for 10 running_is "$A" 2 || fail "not 2 running: $("$B" jobs)"
"$B" jobs --json > jobs.json
python3 - "$A" <<'PY' || fail "jobs --json: $(cat jobs.json)"
import json, sys
a = int(sys.argv[1])
d = [j for j in json.load(open("jobs.json")) if j["array_job_id"] == a]
assert [j["id"] for j in d] == list(range(a, a + 6)), d
assert [j["array_task_id"] for j in d] == list(range(6)), d
assert all(j["array"] == "0-5%2" for j in d), d
pend = [j for j in d if j["state"] == "pending"]
assert len(pend) == 4 and all("JobArrayTaskLimit" in j["pending_reason"] for j in pend), pend
PY
"$B" jobs | grep -q "^${A}_3 " || fail "jobs shows no ${A}_3: $("$B" jobs)"
[ "$(job_field "${A}_3" 'd["id"]')" = $((A + 3)) ] || fail "show ${A}_3"
"$B" show "${A}_4" | grep -q "^array task: *${A}_4 (of --array 0-5%2)" || fail "show text"
"$B" show "$A" | grep -q "^array: *6 tasks: 4 pending, 2 running, 0 ended" || fail "show $A: $("$B" show "$A")"
[ "$(job_field "$A" 'd["array_tasks"]')" = "{'pending': 4, 'running': 2, 'ended': 0}" ] ||
    fail "show $A --json: $("$B" show "$A" --json)"
[ "$(job_field "${A}_1" 'd["array_tasks"]')" = None ] || fail "a task's array_tasks"
[ "$("$B" jobs -j "$A" --json | jfield 'len(d)')" = 6 ] || fail "jobs -j $A"
[ "$("$B" jobs --jobs "${A}_5" --json | jfield '[j["id"] for j in d]')" = "[$((A + 5))]" ] ||
    fail "jobs -j ${A}_5"
rc=0; "$B" jobs -j "x_1" 2>/dev/null || rc=$?
[ $rc = 2 ] || fail "jobs -j x_1: $rc"
touch go.a
for i in 0 1 2 3 4 5; do
    "$B" wait $((A + i)) --timeout 20 >/dev/null || fail "task $i: $("$B" show $((A + i)))"
    grep -qx "$A $i $A $i $((A + i))" "out.${A}_$i" || fail "out.${A}_$i: $(cat "out.${A}_$i" 2>&1)"
done
# the limit held throughout: no two tasks' runs overlap beyond two (starts and ends)
"$B" jobs --all --json | python3 -c "
import json, sys
d = [j for j in json.load(sys.stdin) if j['array_job_id'] == $A]
ev = sorted([(j['start_time'], 1) for j in d] + [(j['end_time'], -1) for j in d])
n = m = 0
for _, e in ev:
    n += e
    m = max(m, n)
assert m <= 2, m
" || fail "more than 2 tasks ran at once"

log "steps and lists; #SBATCH --array; a task that is not there"
S=$("$B" submit --array '1,3,8-12:2' --gpus-per-node 1 -- true) || fail "submit list"
[ "$(job_field "${S}_10" 'd["id"]')" = $((S + 3)) ] || fail "${S}_10 is not the 4th task"
rc=0; "$B" show "${S}_2" 2>no.err >/dev/null || rc=$?
[ $rc = 1 ] && grep -q "job $S is an array without task 2" no.err || fail "${S}_2: $rc $(cat no.err)"
rc=0; "$B" show "${A}x_2" 2>no.err >/dev/null || rc=$?
[ $rc = 2 ] || fail "${A}x_2: $rc"
printf '#!/bin/sh\n#SBATCH --array=0-2\n#SBATCH --gpus-per-node=1\necho $SLURM_ARRAY_TASK_ID\n' > arr.sh
chmod +x arr.sh
P=$("$B" submit -o 'p.%a' ./arr.sh) || fail "submit arr.sh"
for i in 0 1 2; do "$B" wait $((P + i)) --timeout 20 >/dev/null || fail "arr.sh task $i"; done
grep -qx 2 p.2 || fail "p.2: $(cat p.2)"

log "an array with a dependency: every task waits for it"
G=$("$B" submit --gpus-per-node 1 -- sh -c "$(gate go.g)") || fail "submit G"
DA=$("$B" submit --array 0-2 --gpus-per-node 1 -d "afterok:$G" -- true) || fail "submit DA"
for i in 0 1 2; do
    wait_for 10 pending_has $((DA + i)) "Dependency: waiting for afterok:$G" || fail "DA task $i"
done
touch go.g
for i in 0 1 2; do "$B" wait $((DA + i)) --timeout 20 >/dev/null || fail "DA task $i"; done

log "examples/slurm/sweep.sh, unchanged"
W=$("$B" submit "$ROOT/examples/slurm/sweep.sh") || fail "submit sweep.sh"
for i in 0 1 2 3 4 5 6 7; do "$B" wait $((W + i)) --timeout 30 >/dev/null || fail "sweep task $i"; done
grep -qx "task 3 of array $W: lr=0.01" "sweep_${W}_3.out" || fail "sweep: $(cat "sweep_${W}_3.out")"

log "cancel one task (ID_T), then the whole array (ID)"
C=$("$B" submit --array 0-3 --gpus-per-node 1 -- sh -c "$(gate never)") || fail "submit C"
"$B" cancel "${C}_1" || fail "cancel ${C}_1"
[ "$(job_state $((C + 1)))" = cancelled ] && [ "$(job_state "$C")" != cancelled ] ||
    fail "cancel ${C}_1 cancelled more or less"
"$B" cancel "${C}_0" || fail "cancel ${C}_0 (the first task alone)"
[ "$(job_state $((C + 2)))" != cancelled ] || fail "cancel ${C}_0 cancelled the array"
"$B" cancel "$C" || fail "cancel the array"
for i in 2 3; do [ "$(job_state $((C + i)))" = cancelled ] || fail "task $i not cancelled"; done
rc=0; "$B" cancel "$C" 2>c.err || rc=$?
[ $rc = 1 ] && grep -q "already" c.err || fail "cancel again: $rc $(cat c.err)"

log "a controller restart: the tasks keep their command and the limit"
R=$("$B" submit --array '0-2%1' --gpus-per-node 1 -o 'r.%a' -- sh -c "echo task \$SLURM_ARRAY_TASK_ID; $(gate go.r)") ||
    fail "submit R"
wait_state "$R" running 10 || fail "R's first task"
kill "$CTL_PID"; wait "$CTL_PID" 2>/dev/null
start_controller --nodes 4 --gpus-per-node 2
wait_nodes_up 2
wait_for 20 pending_has $((R + 2)) "JobArrayTaskLimit" || fail "R+2 after restart: $("$B" show $((R + 2)))"
[ "$(running_of "$R")" = 1 ] || fail "limit after restart: $("$B" jobs)"
touch go.r
for i in 0 1 2; do
    "$B" wait $((R + i)) --timeout 20 >/dev/null || fail "R task $i: $("$B" show $((R + i)))"
    grep -qx "task $i" "r.$i" || fail "r.$i: $(cat "r.$i" 2>&1)"
done

log "bad input: exit 2, named, nothing queued"
before=$(njobs)
bad 2 "--array 5-1: the range 5-1 ends below its start" --array 5-1 -- true
bad 2 "the limit after '%' must be" --array '0-9%0' -- true
bad 2 "more than 1000000 tasks" -a 0-1999999 -- true
[ "$(njobs)" = "$before" ] || fail "bad submissions queued jobs"
stop_controller_clean
log "PASS"
