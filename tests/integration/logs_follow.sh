#!/bin/bash
# logs_follow.sh - `colossus logs -f JOB`: follows a running job's rank log as it is written
# (what the rank printed before is shown first, then each new line as it comes) and exits by
# itself when the job ends; the bytes are those `logs` prints afterwards. With several ranks
# each one's new output comes under a "==> rank N <==" header; a job that has not started is
# waited for; a rank the job does not have and an unknown job are errors (exit 1).
# timeout: 120
. "$(dirname "$0")/cluster_lib.bash"
start_controller
start_agent n1 2
start_agent n2 2
wait_nodes_up 2
cd "$T"

log "1. one rank, followed while it runs"
J=$("$B" submit --gpus-per-node 1 -- sh -c "echo first; while [ ! -e '$T/go' ]; do sleep 0.05; done; for i in 2 3 4; do echo line \$i; done; echo last")
"$B" logs -f "$J" >f1.out 2>f1.err &
F=$!
PIDS+=("$F")
wait_for 20 grep -q '^first$' f1.out || fail "logs -f did not show the first line: $(cat f1.out f1.err)"
kill -0 "$F" || fail "logs -f ended while the job runs: $(cat f1.err)"
grep -q "line 2" f1.out && fail "the job printed line 2 before it was let go"
touch "$T/go"
wait_for 20 sh -c "! kill -0 $F 2>/dev/null" || fail "logs -f did not end with the job"
wait "$F" || fail "logs -f exited $?: $(cat f1.err)"
[ "$(job_state "$J")" = succeeded ] || fail "job $J: $(job_state "$J")"
printf 'first\nline 2\nline 3\nline 4\nlast\n' >want1
"$B" logs "$J" --rank 0 >after1.out || fail "logs after the job"
cmp -s f1.out after1.out || fail "logs -f and logs differ: $(diff f1.out after1.out)"
grep -vx -e first -e 'line [234]' -e last f1.out | grep -q . && fail "unexpected lines: $(cat f1.out)"
diff <(grep -x -e first -e 'line [234]' -e last f1.out) want1 >/dev/null || fail "lines: $(cat f1.out)"

log "2. two ranks, under headers, followed from before the job starts"
"$B" submit --gpus-per-node 2 -N 2 -- sh -c "while [ ! -e '$T/go2' ]; do sleep 0.05; done" >blocker
B1=$(cat blocker)
wait_state "$B1" running 20 || fail "blocker did not start"
J2=$("$B" submit -N 2 --gpus-per-node 1 -- sh -c 'echo "hello from rank $RANK"')
[ "$(job_state "$J2")" = pending ] || fail "job $J2 should wait for the blocker: $(job_state "$J2")"
"$B" logs -f "$J2" >f2.out 2>f2.err &
F2=$!
PIDS+=("$F2")
wait_for 20 grep -q "has not started: waiting" f2.err || fail "no word of waiting: $(cat f2.err)"
touch "$T/go2"
wait_for 30 sh -c "! kill -0 $F2 2>/dev/null" || fail "logs -f of job $J2 did not end"
wait "$F2" || fail "logs -f of job $J2 exited $?: $(cat f2.err)"
for r in 0 1; do
    grep -qx "==> rank $r <==" f2.out || fail "no header of rank $r: $(cat f2.out)"
    grep -qx "hello from rank $r" f2.out || fail "no line of rank $r: $(cat f2.out)"
done
[ "$(grep -c '^==> rank' f2.out)" = 2 ] || fail "headers: $(cat f2.out)"

log "3. bad uses"
rc=0
"$B" logs -f --rank 5 "$J" >/dev/null 2>bad.err || rc=$?
[ $rc = 1 ] && grep -q "has ranks 0..0, not 5" bad.err || fail "--rank 5 of a 1-rank job: $rc $(cat bad.err)"
rc=0
"$B" logs -f 99999 >/dev/null 2>bad.err || rc=$?
[ $rc = 1 ] || fail "logs -f of no job: exit $rc $(cat bad.err)"
rc=0
"$B" logs --follow=yes "$J" >/dev/null 2>bad.err || rc=$?
[ $rc = 2 ] || fail "--follow=yes: exit $rc"
log "ok"
