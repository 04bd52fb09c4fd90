#!/bin/bash
# agent_rank_logs.sh - a rank that writes 67 MB under the agent's default limit (16 MiB a rank):
# while it still runs its log takes at most the limit on disk (the middle punched out, the
# apparent size is all it wrote), and `colossus logs` says what it cut and where: a first line,
# the head, a line where the middle was left out, the tail. --rank-log-max is checked.
# timeout: 90
. "$(dirname "$0")/cluster_lib.bash"

out=$("$B" agent --help) || fail "agent --help"
grep -q -- "--rank-log-max MIB" <<<"$out" || fail "--help does not name --rank-log-max: $out"
rc=0
err=$("$B" agent --controller 127.0.0.1:1 --key "$T/key" --name x --work-dir "$T/x" \
    --fake-gpus 1 --rank-log-max lots 2>&1) || rc=$?
[ $rc = 2 ] || fail "--rank-log-max lots: exit $rc, not 2"
grep -q "colossus agent: --rank-log-max must be a number in 0..1048576, not 'lots'" <<<"$err" ||
    fail "--rank-log-max lots: $err"

start_controller --nodes 2 --gpus-per-node 1
start_agent n1 1
wait_nodes_up 1
cd "$T"

LINES=8400000 # "%07d\n": 67,200,000 bytes
J=$("$B" submit --gpus-per-node 1 --name chatty -- \
    sh -c "seq -w 0 $((LINES - 1)); touch wrote; while [ ! -e go ]; do sleep 0.1; done") ||
    fail "submit"
LOG=$T/agents/n1/logs/job$J.rank-0.log
wait_for 60 test -e wrote || fail "the rank did not finish writing"
log "the rank wrote $(stat -c %s "$LOG") bytes; waiting for the agent to bound its log"
on_disk() { echo $(($(stat -c '%b * %B' "$LOG"))); }
LIMIT=$((16 << 20))
wait_for 20 bash -c "[ \$((\$(stat -c '%b * %B' '$LOG'))) -le $((LIMIT + (64 << 10))) ]" ||
    fail "the log of a running rank holds $(on_disk) bytes on disk (limit $LIMIT)"
[ "$(stat -c %s "$LOG")" = $((8 * LINES)) ] || fail "apparent size $(stat -c %s "$LOG")"
[ "$(job_state "$J")" = running ] || fail "the job is $(job_state "$J"), not running"
log "on disk: $(on_disk) bytes ($(du -k "$LOG" | cut -f1) KiB by du)"

"$B" logs "$J" > logs.out || fail "logs"
head -n 1 logs.out | grep -qx "\[colossus: showing the first 786,432 and the last 2,359,296 of the 67,200,000 bytes this rank wrote\]" ||
    fail "first line: $(head -n 1 logs.out)"
sed -n 2p logs.out | grep -qx 0000000 || fail "the head is not the start of the output"
grep -qx "\[colossus: [0-9,]* bytes of this rank's output are left out here: [0-9,]* cut from the log, which keeps its first 1,048,576 and last [0-9,]* bytes, and [0-9,]* to fit this reply of 3,145,728\]" logs.out ||
    fail "no line where the middle was left out: $(grep colossus logs.out)"
tail -n 1 logs.out | grep -qx $((LINES - 1)) || fail "the tail is not the end of the output"
# Between the notes, the rank's own lines, in order, without a gap but the one announced.
python3 - "$LINES" <<'PY' || fail "the logs reply is not head + note + tail"
import sys
lines = open("logs.out").read().split("\n")
assert lines[-1] == ""
lines = lines[1:-1]
mid = [i for i, l in enumerate(lines) if l.startswith("[colossus:")]
assert len(mid) == 1, mid
head, tail = lines[:mid[0]], lines[mid[0] + 1:]
assert [int(x) for x in head] == list(range(len(head))), "head"
n = int(sys.argv[1])
assert [int(x) for x in tail] == list(range(n - len(tail), n)), "tail"
print("head %d lines, tail %d lines" % (len(head), len(tail)))
PY

touch go
"$B" wait "$J" --timeout 30 || fail "the job did not succeed"
log "PASS"
