#!/bin/bash
# cluster_journal.sh - journal before acknowledge in the real daemon, with the journal behind
# the fault-injecting store (--store fault:sqlite:DIR?...):
#   1. commits on the worker thread that take 300 ms: no acknowledgement comes sooner, the
#      controller answers other requests meanwhile, and what was acknowledged survives kill -9;
#   2. commits that fail three times: the submission is acknowledged once a retry wrote it,
#      and the failures are logged with their cause;
#   3. a journal that never works: nothing is acknowledged, the controller stops with exit 70
#      after --journal-give-up, and a controller on a working journal knows nothing of it.
# timeout: 120
. "$(dirname "$0")/cluster_lib.bash"
ms() { date +%s%3N; }
cd "$T"

log "1. slow commits on the worker thread"
start_controller --commit thread --store "fault:sqlite:$T/j1?delay_ms=300"
t0=$(ms)
J=$("$B" submit --gpus-per-node 1 -- true) || fail "submit"
t1=$(ms)
[ $((t1 - t0)) -ge 300 ] || fail "acknowledged after $((t1 - t0)) ms, before its 300 ms commit"
# A read waits for the writes before it, so it takes a commit too, but the loop is not
# blocked meanwhile: four requests at once take about one or two commits, not four.
t0=$(ms)
pids=()
for i in 1 2 3 4; do "$B" show "$J" >/dev/null & pids+=($!); done
for p in "${pids[@]}"; do wait "$p" || fail "show $i"; done
t1=$(ms)
[ $((t1 - t0)) -lt 1100 ] || fail "4 concurrent requests took $((t1 - t0)) ms (serialised?)"
kill -9 "$CTL_PID"; wait "$CTL_PID" 2>/dev/null
CTL_ADDR=$(cat "$T/addr") start_controller --store "sqlite:$T/j1"
[ "$(job_field "$J" 'd["state"]')" = pending ] || fail "acknowledged job $J lost by kill -9"
stop_all

log "2. commits that fail three times are retried"
rm -f "$T/controller.log"
start_controller --store "fault:sqlite:$T/j2?fail_at=2&fail_count=3" # 1: the start's probe
J=$("$B" submit --gpus-per-node 1 -- true) || fail "submit not acknowledged after the retries"
grep -q "journal: commit of batch .* failed: store: injected fault.*nothing of it was acknowledged; retrying" \
    "$T/controller.log" || fail "the failure was not logged with its cause"
grep -q "committed after 3 failed attempts" "$T/controller.log" || fail "no recovery line"
[ "$(grep -c 'retrying in' "$T/controller.log")" -le 3 ] || fail "a line per attempt"
[ "$(job_field "$J" 'd["state"]')" = pending ] || fail "job $J"
stop_all

log "3. a journal that never works: nothing acknowledged, exit 70"
rm -f "$T/controller.log"
start_controller --store "fault:sqlite:$T/j3?fail_at=2" --journal-give-up 2
"$B" submit --gpus-per-node 1 -- true >out.txt 2>err.txt && fail "acknowledged without a journal: $(cat out.txt)"
wait "$CTL_PID"
rc=$?
[ $rc = 70 ] || fail "controller exit status $rc, not 70"
CTL_PID=
grep -q "stopping without acknowledging any of it" "$T/controller.log" || fail "no stop line"
grep -q "the journal cannot be written: exiting" "$T/controller.log" || fail "no exit line"
CTL_ADDR=$(cat "$T/addr") start_controller --store "sqlite:$T/j3"
"$B" show 1 2>err.txt && fail "a job that was never acknowledged exists after the restart"
grep -q "no job 1" err.txt || fail "show: $(cat err.txt)"
log PASS
