#!/bin/bash
# attack_submit.sh - submissions and orders built by hand, past the CLI's own checks
# (issue 10, items 5, 6 and 7; tests/tools/attack.c):
#   1. a poison pill: a command line of 3.9 MB (its Launch would be over the frame limit) is
#      refused with the limit named, and the job already running on the node never notices;
#      an argument of 200,000 bytes (exec would refuse it) is refused; one of 100,000 runs;
#   2. a job name or tenant that is not UTF-8 is refused;
#   3. a time limit under 1 s, an environment entry without '=', a relative working
#      directory, a drain reason longer than the node's reason field: refused, each with
#      its limit, and nothing changed.
# timeout: 90
. "$(dirname "$0")/cluster_lib.bash"
ATTACK=$(dirname "$(dirname "$B")")/build/tools/attack
[ -x "$ATTACK" ] || fail "$ATTACK is missing (make check builds it)"
jget() { python3 -c "import json,sys; d=json.loads(sys.argv[1]); print($2)" "$1"; }
refused() { # OUT WHAT
    [ "$(jget "$1" 'd["ok"]')" = False ] || fail "$2 was accepted: $1"
    log "refused: $(jget "$1" 'd["error"]')"
}

start_controller
start_agent n1 2
wait_nodes_up 1
cd "$T"

log "1. a poison pill"
V=$("$B" submit --gpus-per-node 1 -- sleep 600) || fail "submit"
wait_state "$V" running 20 || fail "victim not running"
out=$("$ATTACK" submit "$CTL_ADDR" "$T/key" argv_bytes=3900000)
refused "$out" "a 3.9 MB command"
jget "$out" 'd["error"]' | grep -q "take 39000[0-9]* bytes; the limit is 1048576 (1 MiB)" ||
    fail "the limit is not named: $out"
out=$("$ATTACK" submit "$CTL_ADDR" "$T/key" argv_bytes=200000)
refused "$out" "an argument of 200,000 bytes"
jget "$out" 'd["error"]' | grep -q "argument 2 is 200000 bytes; the limit is 131071" ||
    fail "the limit is not named: $out"
out=$("$ATTACK" submit "$CTL_ADDR" "$T/key" argv_bytes=100000)
[ "$(jget "$out" 'd["ok"]')" = True ] || fail "a 100 KB argument was refused: $out"
P=$(jget "$out" 'd["job"]')
wait_state "$P" succeeded 30 || fail "the 100 KB job did not run: $(job_field "$P" 'd["state"], d["reason"]')"
[ "$(job_field "$V" 'd["state"], d["incarnation"]')" = "running 1" ] ||
    fail "the victim noticed: $(job_field "$V" 'd')"
grep -q "connection lost\|superseded" controller.log && fail "the agent's connection went down"
"$B" jobs --all >/dev/null || fail "jobs --all"

log "2. names that are not UTF-8"
refused "$("$ATTACK" submit "$CTL_ADDR" "$T/key" 'name=\xff\xfe')" "a name of \\xff\\xfe"
refused "$("$ATTACK" submit "$CTL_ADDR" "$T/key" 'tenant=\xc0\xaf')" "an overlong tenant"
"$B" jobs --all --json | python3 -c 'import json,sys; json.load(sys.stdin)' || fail "jobs --json"

log "3. what does not fit is refused, not cut"
out=$("$ATTACK" submit "$CTL_ADDR" "$T/key" minutes=1e-9)
refused "$out" "a time limit of 1e-9 min"
jget "$out" 'd["error"]' | grep -q "at least 1 s" || fail "message: $out"
refused "$("$ATTACK" submit "$CTL_ADDR" "$T/key" env=NOEQUALS)" "an environment entry without ="
out=$("$ATTACK" drain "$CTL_ADDR" "$T/key" n1 200)
refused "$out" "a 200-byte drain reason"
jget "$out" 'd["error"]' | grep -q "at most 127 bytes" || fail "message: $out"
[ "$("$B" nodes --json | jfield 'd[0]["state"]')" = up ] || fail "the node was drained"
out=$("$ATTACK" drain "$CTL_ADDR" "$T/key" n1 127)
[ "$(jget "$out" 'd["ok"]')" = True ] || fail "a 127-byte reason was refused: $out"
log PASS
