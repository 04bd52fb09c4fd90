#!/bin/bash
# attack_journal.sh - the journal's files taken away under a running controller, and a state
# directory it cannot write (issue 10, items 11 and 13):
#   1. the -wal file deleted mid-run: the next submission is not acknowledged, the controller
#      stops at once (exit 70) saying which file went, and what the WAL held is checkpointed
#      into the database: a restart finds every acknowledged job and ids go on counting;
#   2. the database file deleted mid-run: the controller stops the same way and leaves a copy
#      of the whole journal beside it (colossus.db.rescued-PID), which restarts cleanly;
#   3. a read-only state directory (a read-only tmpfs in a private mount namespace): the
#      controller refuses to start, before it listens, naming the journal.
# timeout: 90
. "$(dirname "$0")/cluster_lib.bash"
cd "$T"

log "1. the WAL deleted under the controller"
start_controller
for i in 1 2 3; do "$B" submit --gpus-per-node 1 -- true >/dev/null || fail "submit $i"; done
rm "$T/state/colossus.db-wal"
"$B" submit --gpus-per-node 1 -- true >out.txt 2>err.txt && fail "acknowledged after the WAL went: $(cat out.txt)"
wait "$CTL_PID"
rc=$?
CTL_PID=
[ $rc = 70 ] || fail "controller exit $rc, not 70"
grep -q "store: fatal: .*colossus.db-wal was deleted under the controller: nothing more is acknowledged; its [0-9]* pages were checkpointed into colossus.db" \
    controller.log || fail "the loss was not said: $(grep -i journal controller.log | tail -3)"
grep -q "stopping at once" controller.log || fail "no stop line"
CTL_ADDR=$(cat "$T/addr") start_controller
for j in 1 2 3; do [ "$(job_field "$j" 'd["state"]')" = pending ] || fail "acknowledged job $j lost"; done
K=$("$B" submit --gpus-per-node 1 -- true) || fail "submit after the restart"
[ "$K" -gt 3 ] || fail "job id $K reused"
stop_all

log "2. the database deleted under the controller"
rm -f controller.log
STATE_DIR=$T/state2 start_controller
for i in 1 2; do "$B" submit --gpus-per-node 1 -- true >/dev/null || fail "submit $i"; done
rm "$T/state2/colossus.db"
"$B" submit --gpus-per-node 1 -- true >/dev/null 2>&1 && fail "acknowledged after the database went"
wait "$CTL_PID"
rc=$?
CTL_PID=
[ $rc = 70 ] || fail "controller exit $rc, not 70"
grep -q "colossus.db was deleted under the controller: nothing more is acknowledged; the journal was copied to colossus.db.rescued-[0-9]*" \
    controller.log || fail "no rescue: $(grep fatal controller.log)"
rescued=$(ls "$T"/state2/colossus.db.rescued-*) || fail "no rescued copy"
rm -f "$T"/state2/colossus.db-wal "$T"/state2/colossus.db-shm
mv "$rescued" "$T/state2/colossus.db"
CTL_ADDR=$(cat "$T/addr") STATE_DIR=$T/state2 start_controller
for j in 1 2; do [ "$(job_field "$j" 'd["state"]')" = pending ] || fail "job $j not in the rescued copy"; done
stop_all

log "3. a read-only state directory"
mkdir -p ro
if ! unshare -m --propagation private true 2>/dev/null; then
    log "cannot make a private mount namespace here"
    echo "needs unshare -m (root, or user namespaces) for a read-only file system"
    exit 77
fi
unshare -m --propagation private bash -c "
    mount -t tmpfs tmpfs '$T/ro' && mkdir '$T/ro/state' && mount -o remount,ro '$T/ro' &&
    exec '$B' controller --state-dir '$T/ro/state' --listen 127.0.0.1:0 --key '$T/key' \
        --address-file '$T/ro-addr'" >ro.out 2>ro.err
rc=$?
[ $rc = 1 ] || fail "exit $rc on a read-only state directory: $(cat ro.err)"
[ -e "$T/ro-addr" ] && fail "it listened first"
grep -q "the journal sqlite:$T/ro/state cannot be written" ro.err || fail "message: $(cat ro.err)"
log PASS
