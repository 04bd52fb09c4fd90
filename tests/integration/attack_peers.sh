#!/bin/bash
# attack_peers.sh - hostile peers (issue 10, items 3 and 4; tests/tools/attack.c):
#   1. a peer name with a newline (sent before the proof is checked) cannot forge a log line;
#   2. a job name, tenant or node name with a control character is refused;
#   3. an authenticated peer that sends a frame a byte at a time is closed once the frame has
#      taken --frame-timeout-ms, with a Refused saying so;
#   4. an authenticated client that sends nothing is closed after --idle-timeout-ms, while a
#      client waiting for a job (`colossus wait`) is not.
# timeout: 90
. "$(dirname "$0")/cluster_lib.bash"
ATTACK=$(dirname "$(dirname "$B")")/build/tools/attack
[ -x "$ATTACK" ] || fail "$ATTACK is missing (make check builds it)"
jget() { python3 -c "import json,sys; d=json.loads(sys.argv[1]); print($2)" "$1"; }

start_controller --frame-timeout-ms 1500 --idle-timeout-ms 2500
start_agent n1 2
wait_nodes_up 1
cd "$T"

log "1. a forged log line in the peer name"
"$B" keygen > other.key
"$ATTACK" peer "$CTL_ADDR" other.key 'x\n2026-01-01T00:00:00.000Z controller: FORGED' >/dev/null 2>&1
wait_for 5 grep -q "wrong cluster key" controller.log || fail "the refusal was not logged"
grep -q "^2026-01-01T00:00:00.000Z controller: FORGED" controller.log && fail "a log line was forged"
grep -q 'x\\x0a2026-01-01T00:00:00.000Z controller: FORGED' controller.log ||
    fail "the peer name is not in the log, escaped"

log "2. control characters in names are refused"
out=$("$ATTACK" submit "$CTL_ADDR" "$T/key" 'name=a\nb')
[ "$(jget "$out" 'd["ok"]')" = False ] || fail "a job name with a newline was accepted"
jget "$out" 'd["error"]' | grep -q "job name contains a control character" || fail "message: $out"
out=$("$ATTACK" submit "$CTL_ADDR" "$T/key" 'tenant=t\x1b[31m')
jget "$out" 'd["error"]' | grep -q "tenant contains a control character" || fail "message: $out"
"$B" jobs --all | grep -q attack && fail "a refused job is listed"

log "3. a frame sent a byte at a time"
out=$("$ATTACK" slow "$CTL_ADDR" "$T/key" 200)
log "slow peer: $out"
[ "$(jget "$out" 'd["refused"]')" = TIMEOUT ] || fail "not refused for a timeout: $out"
jget "$out" 'd["reason"]' | grep -q "a frame took more than 1.5 s" || fail "reason: $out"
[ "$(jget "$out" 'd["closed_after_s"] < 5')" = True ] || fail "closed too late: $out"
grep -q "closing connection .*(slow)@.*: a frame took more than 1.5 s" controller.log ||
    fail "not logged"

log "4. an idle client, and a waiting one"
J=$("$B" submit --gpus-per-node 1 -- sleep 30) || fail "submit"
"$B" wait "$J" > wait.out 2>&1 &
W=$!
out=$("$ATTACK" quiet "$CTL_ADDR" "$T/key")
log "quiet client: $out"
[ "$(jget "$out" 'd["refused"]')" = TIMEOUT ] || fail "an idle client not refused: $out"
jget "$out" 'd["reason"]' | grep -q "idle for 2.5 s" || fail "reason: $out"
kill -0 $W 2>/dev/null || fail "the waiting client was closed: $(cat wait.out)"
"$B" cancel "$J" || fail "cancel"
wait $W
grep -q "cancelled" wait.out || fail "wait: $(cat wait.out)"
log PASS
